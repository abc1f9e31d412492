#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Unit-test folders mirror the source tree (CONTRIBUTING.md "Tests", issue 14 WP-I).

Every folder tests/unit/<path>/ must have a counterpart src/hsmctl/<path>/: a test lives beside
the module (or family) whose code it mainly tests, e.g. tests/unit/device/schsm/ tests
src/hsmctl/device/schsm/. EXCEPTIONS below are folders with no source counterpart on purpose,
each with its reason. A test file directly in tests/unit/ (no module) fails too. Folders without
files (a stale empty folder left in a checkout) are not checked.
Prints each folder without a counterpart and exits 1; exits 0 with "test folders: ok".
    check_test_folders.py [SOURCE_DIR]
    check_test_folders.py --self-test SOURCE_DIR   a copy of the folder trees with wrong folders
                                                   added must fail, naming each
                                                   (lint.test_folders.selftest)
"""
import os
import shutil
import subprocess
import sys
import tempfile

# tests/unit/<folder> (and everything below it) -> why it has no src/hsmctl/<folder>.
EXCEPTIONS = {
    "testsupport": "self-test of tests/support/ (hsmctl_test_support), a test library, not src/",
}


def problems(root):
    unit = os.path.join(root, "tests", "unit")
    src = os.path.join(root, "src", "hsmctl")
    out = []
    for dirpath, dirnames, filenames in os.walk(unit):
        dirnames.sort()
        rel = os.path.relpath(dirpath, unit).replace(os.sep, "/")
        if rel == ".":
            for f in sorted(filenames):
                out.append(f"tests/unit/{f}: a test file outside any module folder")
            continue
        if not filenames or rel.split("/")[0] in EXCEPTIONS:
            continue
        if not os.path.isdir(os.path.join(src, rel)):
            out.append(f"tests/unit/{rel}/: no src/hsmctl/{rel}/ (move its tests beside the code"
                       " they test, or add a reasoned exception)")
    return out


# Folders the self-test adds to a copy of the trees; each must be reported.
SELF_TEST = ("apply", "device/schsm_typo", "families/primus/nested")


def self_test(root):
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("tests/unit", "src/hsmctl"):
            for dirpath, _, filenames in os.walk(os.path.join(root, sub)):
                rel = os.path.relpath(dirpath, root)
                os.makedirs(os.path.join(tmp, rel), exist_ok=True)
                for f in filenames:
                    open(os.path.join(tmp, rel, f), "w").close()
        for d in SELF_TEST:
            os.makedirs(os.path.join(tmp, "tests", "unit", d), exist_ok=True)
            open(os.path.join(tmp, "tests", "unit", d, "x_test.cpp"), "w").close()
        r = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                           capture_output=True, text=True, check=False)
        missing = [d for d in SELF_TEST if f"tests/unit/{d}/:" not in r.stdout]
        if r.returncode != 1 or missing:
            print(r.stdout + r.stderr)
            print(f"test folders self-test: exit {r.returncode} (want 1); not reported: {missing}")
            return 1
        # The exceptions are honoured: the same copy without the wrong folders passes.
        for d in SELF_TEST:
            shutil.rmtree(os.path.join(tmp, "tests", "unit", d))
        r = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            print("test folders self-test: the copy without the wrong folders fails")
            return 1
    print(f"test folders self-test: all {len(SELF_TEST)} wrong folders reported")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(os.path.abspath(sys.argv[2]))
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    if not os.path.isdir(os.path.join(root, "tests", "unit")):
        print(f"test folders: no tests/unit under {root}")
        return 2
    found = problems(root)
    for p in found:
        print(p)
    if found:
        return 1
    print("test folders: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
