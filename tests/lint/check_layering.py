#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The layering of src/ (ARCHITECTURE.md "Modules"), checked against the build's own declarations.

Reads the hsmctl_module() and hsmctl_program() calls of src/CMakeLists.txt and of every
src/hsmctl/families/<f>/family.cmake (a family folder without one gets
HSMCTL_FAMILY_DEFAULT_DEPS), then checks every #include under src/:
  - every C++ file belongs to a declared module or program;
  - "hsmctl/<dir>/x.hpp" only of the module itself, the modules it declares and, through them,
    their PUBLIC modules (what the header staging of cmake/HsmctlModule.cmake lets it see);
    "hsmctl/<dir>/detail/..." only inside <dir>'s module;
  - a third-party header only where its library is declared (or PUBLIC through a declared
    module): yaml-cpp, valijson, nlohmann-json, fmt, OpenSSL, PC/SC, libconfig++, Boost;
  - no third-party header in a src/hsmctl header (tl/expected excepted: util's PUBLIC library),
    and no detail/ header in a public one, so a PRIVATE library never leaks to a module's users;
  - no I/O header in plan/ nor in families/*/plan*.cpp (pure planners).
Prints each violation with file:line and exits 1; exits 0 with "layering: ok".
    check_layering.py [SOURCE_DIR]
    check_layering.py --self-test SOURCE_DIR   a copy of src/ with one wrong include per rule
                                               must fail, naming each (lint.layering.selftest)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Third-party library (as named in the CMake calls) -> include prefixes ("x/" or a file name).
LIBRARIES = {
    "tl::expected": ("tl/",),
    "yaml-cpp": ("yaml-cpp/",),
    "valijson": ("valijson/",),
    "nlohmann_json::nlohmann_json": ("nlohmann/",),
    "fmt::fmt": ("fmt/",),
    "OpenSSL::Crypto": ("openssl/",),
    "PkgConfig::PCSC": ("winscard.h", "PCSC/", "pcsclite.h", "wintypes.h", "reader.h"),
    "PkgConfig::LIBCONFIGXX": ("libconfig.h++", "libconfig.h"),
    "Boost::program_options": ("boost/",),
}
HEADER_OK = ("tl/expected.hpp",)  # util's PUBLIC library, part of every interface (Result<T>)
IO_HEADERS = re.compile(r"^(fstream|cstdio|stdio\.h|iostream|filesystem|unistd\.h|fcntl\.h|sys/)")
# Known violations, each with the work package that ends it. Only shrinks.
ALLOWED = {
    # (file, included header)
    ("src/hsmctl/manifest/semantic.hpp", "hsmctl/manifest/detail/yaml_loader.hpp"):
        "WP-E3b deletes semantic.hpp (conversion moves to families/*/convert.cpp over DocView)",
}

CALL = re.compile(r"\bhsmctl_(module|program)\s*\(([^)]*)\)", re.S)
DEFAULT = re.compile(r"\bset\s*\(\s*HSMCTL_FAMILY_DEFAULT_DEPS\b([^)]*)\)", re.S)
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def words(text):
    text = re.sub(r"#[^\n]*", "", text)
    return text.split()


class Module:
    def __init__(self, kind, name, directory, public, private):
        self.kind, self.name, self.dir = kind, name, directory
        self.public, self.private = public, private


def parse_call(kind, args):
    w = words(args)
    name, rest = w[0], w[1:]
    fields = {"DIR": [], "SOURCES": [], "PUBLIC": [], "PRIVATE": []}
    key = None
    for x in rest:
        if x in fields:
            key = x
        elif key:
            fields[key].append(x)
    if len(fields["DIR"]) != 1:
        sys.exit(f"layering: cannot read the DIR of hsmctl_{kind}({name} ...)")
    return Module(kind, name, fields["DIR"][0], fields["PUBLIC"], fields["PRIVATE"])


def load_modules(src):
    modules = {}
    top = open(os.path.join(src, "CMakeLists.txt")).read()
    m = DEFAULT.search(top)
    default = words(m.group(1)) if m else []
    texts = [top]
    fam_root = os.path.join(src, "hsmctl", "families")
    family_names = []
    for f in sorted(os.listdir(fam_root)) if os.path.isdir(fam_root) else []:
        d = os.path.join(fam_root, f)
        if not os.path.isdir(d):
            continue
        family_names.append("fam_" + f)
        cm = os.path.join(d, "family.cmake")
        if os.path.exists(cm):
            texts.append(open(cm).read())
        else:
            texts.append(f"hsmctl_module(fam_{f} DIR families/{f} {' '.join(default)})")
    for text in texts:
        for kind, args in CALL.findall(text):
            args = args.replace("${HSMCTL_FAMILY_DEFAULT_DEPS}", " ".join(default))
            args = args.replace("${HSMCTL_FAMILY_MODULES}", " ".join(family_names))
            mod = parse_call(kind, args)
            if "${" in " ".join(mod.public + mod.private):
                sys.exit(f"layering: hsmctl_{kind}({mod.name}): a variable the lint cannot read")
            modules[mod.name] = mod
    return modules


def visible(modules, mod):
    """Modules whose headers `mod` sees: itself, what it declares, their PUBLIC closure."""
    seen = {mod.name}
    todo = [d for d in mod.public + mod.private if d in modules]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        todo.extend(x for x in modules[d].public if x in modules)
        if modules[d].kind == "module" and not has_sources(modules[d]):
            todo.extend(x for x in modules[d].private if x in modules)  # INTERFACE library
    return seen


def libraries(modules, mod, names):
    libs = {x for x in mod.public + mod.private if x not in modules}
    for n in names - {mod.name}:
        libs |= {x for x in modules[n].public if x not in modules}
    return libs


SRC_ROOT = None


def has_sources(mod):
    d = os.path.join(SRC_ROOT, "hsmctl", mod.dir)
    return any(f.endswith(".cpp") for f in os.listdir(d)) or (
        os.path.isdir(os.path.join(d, "detail"))
        and any(f.endswith(".cpp") for f in os.listdir(os.path.join(d, "detail"))))


# (file to edit, line to add, text the lint must print for it)
SELF_TEST = [
    ("src/hsmctl/model/pico_hsm.cpp", '#include "hsmctl/plan/plan.hpp"',
     "model includes hsmctl/plan/plan.hpp of module plan, which it does not declare"),
    ("src/hsmctl/model/pico_hsm.cpp", "#include <winscard.h>",
     "model includes <winscard.h> but does not declare PkgConfig::PCSC"),
    ("src/hsmctl/plan/plan.cpp", "#include <yaml-cpp/yaml.h>",
     "plan includes <yaml-cpp/yaml.h> but does not declare yaml-cpp"),
    ("src/hsmctl/plan/plan.hpp", "#include <fmt/format.h>",
     "<fmt/format.h> in a public header"),
    ("src/hsmctl/family/family.hpp", '#include "hsmctl/manifest/detail/yaml_loader.hpp"',
     "hsmctl/manifest/detail/yaml_loader.hpp is private to manifest"),
    ("src/hsmctl/plan/plan.cpp", "#include <fstream>", "<fstream>: plan/ and families/"),
    ("src/hsmctl/newmodule/x.cpp", "", "no hsmctl_module()/hsmctl_program() owns hsmctl/newmodule/"),
]


def self_test(root):
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(os.path.join(root, "src"), os.path.join(tmp, "src"), symlinks=True)
        for rel, line, _ in SELF_TEST:
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a") as fh:
                fh.write("\n" + line + "\n")
        r = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                           capture_output=True, text=True)
    missing = [want for _, _, want in SELF_TEST if want not in r.stdout]
    if r.returncode != 1 or missing:
        print(r.stdout + r.stderr)
        print(f"layering self-test: exit {r.returncode} (want 1); not reported: {missing}")
        return 1
    print(f"layering self-test: all {len(SELF_TEST)} wrong includes reported")
    return 0


def main():
    global SRC_ROOT
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(os.path.abspath(sys.argv[2]))
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    src = os.path.join(root, "src")
    SRC_ROOT = src
    modules = load_modules(src)
    by_dir = {}  # "hsmctl/<dir>" or "<dir>" (programs) -> module
    for mod in modules.values():
        key = ("hsmctl/" + mod.dir) if mod.kind == "module" else mod.dir
        by_dir[key] = mod
    problems = []
    for unknown in (x for m in modules.values() for x in m.public + m.private
                    if x not in modules and x not in LIBRARIES):
        problems.append(f"CMake: '{unknown}' is neither a module nor a library this lint knows "
                        f"(add it to LIBRARIES in {os.path.relpath(__file__, root)})")

    def owner(rel_dir):
        """The module of a folder relative to src/ (detail/ belongs to its parent)."""
        d = rel_dir
        if d.endswith("/detail"):
            d = d[: -len("/detail")]
        if d in by_dir:
            return by_dir[d]
        for mod in modules.values():  # programs own their subfolders
            if mod.kind == "program" and (d + "/").startswith(mod.dir + "/"):
                return mod
        return None

    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            rel_dir = os.path.relpath(dirpath, src)
            mod = owner(rel_dir)
            if mod is None:
                problems.append(f"{rel}: no hsmctl_module()/hsmctl_program() owns {rel_dir}/")
                continue
            names = visible(modules, mod)
            libs = libraries(modules, mod, names)
            public_header = (f.endswith(".hpp") and mod.kind == "module"
                             and not rel_dir.endswith("/detail"))
            pure_planner = rel_dir == "hsmctl/plan" or (
                rel_dir.startswith("hsmctl/families/") and f.startswith("plan")
                and f.endswith(".cpp"))
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    quote, header = m.groups()
                    where = f"{rel}:{lineno}"
                    if (rel, header) in ALLOWED:
                        continue
                    if quote == '"' and header.startswith("hsmctl/"):
                        hdir = os.path.dirname(header)
                        target = owner(hdir)
                        if target is None:
                            problems.append(f"{where}: {header}: no module owns {hdir}/")
                        elif target.name not in names:
                            problems.append(
                                f"{where}: {mod.name} includes {header} of module {target.name}, "
                                f"which it does not declare (src/CMakeLists.txt or family.cmake)")
                        elif hdir.endswith("/detail") and target.name != mod.name:
                            problems.append(f"{where}: {header} is private to {target.name}")
                        elif hdir.endswith("/detail") and public_header:
                            problems.append(f"{where}: public header includes private {header}")
                        continue
                    if quote != "<":
                        continue
                    for lib, prefixes in LIBRARIES.items():
                        if not any(header == p or (p.endswith("/") and header.startswith(p))
                                   for p in prefixes):
                            continue
                        if lib not in libs:
                            problems.append(f"{where}: {mod.name} includes <{header}> but does "
                                            f"not declare {lib}")
                        elif public_header and header not in HEADER_OK:
                            problems.append(
                                f"{where}: <{header}> in a public header: {lib} would leak to "
                                f"the users of {mod.name} (include it in a .cpp or in detail/)")
                    if pure_planner and IO_HEADERS.match(header):
                        problems.append(f"{where}: <{header}>: plan/ and families/*/plan*.cpp "
                                        f"are pure (no I/O)")
    for p in problems:
        print("layering: " + p)
    if problems:
        print(f"layering: {len(problems)} problem(s); the declarations are in src/CMakeLists.txt "
              "and src/hsmctl/families/*/family.cmake (ARCHITECTURE.md \"Modules\")")
        return 1
    print(f"layering: ok ({len(modules)} modules and programs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
