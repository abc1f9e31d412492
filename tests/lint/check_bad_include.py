#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A wrong include fails the build (issue 14): compiles probes as a file of module model would be.

Takes the compile command of a src/hsmctl/model/ file from BUILD_DIR/compile_commands.json (its
include directories are model's staged headers: cmake/HsmctlModule.cmake), swaps the file for
each probe of tests/lint/probes/ and runs it with -fsyntax-only:
  model_includes_plan.cpp      must FAIL, naming hsmctl/plan/plan.hpp (model does not declare plan)
  model_includes_winscard.cpp  must FAIL, naming winscard.h (PC/SC is device_pcsc's only)
  model_includes_util.cpp      must COMPILE (model declares util), so this test can fail both ways
Exit 0 when every probe did what it must, 1 otherwise, 77 (skipped) without
compile_commands.json.
    check_bad_include.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import shlex
import subprocess
import sys

PROBES = [  # (probe, must compile, text the compiler's message must contain)
    ("model_includes_plan.cpp", False, "hsmctl/plan/plan.hpp"),
    ("model_includes_winscard.cpp", False, "winscard.h"),
    ("model_includes_util.cpp", True, None),
]
MODULE_DIR = "/src/hsmctl/model/"


def command_of(build_dir):
    path = os.path.join(build_dir, "compile_commands.json")
    if not os.path.exists(path):
        print(f"bad_include: no {path} (CMAKE_EXPORT_COMPILE_COMMANDS): skipped")
        sys.exit(77)
    with open(path) as fh:
        entries = json.load(fh)
    for e in entries:
        if MODULE_DIR in e["file"] and e["file"].endswith(".cpp"):
            args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
            return e["directory"], e["file"], args
    print(f"bad_include: no compile command of a file in {MODULE_DIR}")
    sys.exit(1)


def probe_command(args, source, probe):
    """The module's command with the source swapped for the probe, no output, no depfile."""
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a == source:
            continue
        out.append(a)
    if out and os.path.basename(out[0]) == "ccache":
        out = out[1:]
    return out + ["-fsyntax-only", probe]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 64
    build_dir, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    directory, source, args = command_of(build_dir)
    status = 0
    for name, must_compile, needle in PROBES:
        probe = os.path.join(source_dir, "tests", "lint", "probes", name)
        cmd = probe_command(args, source, probe)
        r = subprocess.run(cmd, cwd=directory, capture_output=True, text=True)
        message = (r.stdout + r.stderr).strip()
        if must_compile:
            ok = r.returncode == 0
            verdict = "compiles, as it must" if ok else "does NOT compile, but must"
        else:
            # GCC: "x.hpp: No such file or directory"; clang: "'x.hpp' file not found".
            not_found = f"{needle}: No such file" in message or f"'{needle}' file not found" in message
            ok = r.returncode != 0 and not_found
            if ok:
                verdict = f"fails, as it must: {needle} not found"
            elif r.returncode == 0:
                verdict = "COMPILES, but must fail"
            else:
                verdict = f"fails, but not because {needle} is not found"
        print(f"bad_include: {name}: {verdict}")
        if message and (not ok or not must_compile):
            print("  " + message.replace("\n", "\n  "))
        if not ok:
            print("  command: " + shlex.join(cmd))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
