#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the command blocks of README.md and the marked walkthroughs in docs/ as a newcomer would.

A fresh copy of the source tree (the files git tracks, as they are in the working tree) goes into
a new temporary directory with its own HOME, XDG directories and TMPDIR; the blocks run there in
document order, README.md first, then docs/*.md in name order, each command in bash with the
environment and working directory the previous command left (so `eval "$(...)"`, `export` and
`cd` carry over, as in a terminal).

Every code block of README.md must be preceded by a marker comment (so a new block cannot be
forgotten); in docs/*.md only marked blocks are looked at:

    <!-- test: run -->            run the block
    <!-- test: skip: REASON -->   do not run it (an illustration, a synopsis, a full build)

Inside a block that is run:
  - if some lines start with `$ `, those are the commands and the lines after each one, up to the
    next command, are its expected output;
  - otherwise every line is a command, and full-line comments right after a command (`#   text`)
    are its expected output.
A command ends with `\\` to continue on the next line. Expected output lines are "key lines":
each must appear in the command's output (stdout and stderr together), in order, with runs of
blanks compared as one blank; `...` in an expected line matches anything. A trailing comment
`# exit N` on a command gives its expected exit code (default 0).

The quick start's build is replaced by the binaries the test suite built (HSMCTL_QUICKSTART_BIN_DIR,
see scripts/quickstart), and its install prefix is a directory in the temporary tree that is put
on PATH first, standing in for /usr/local.

Usage: run_docs.py --source DIR --bin-dir DIR [--keep] [--list]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^\s*<!--\s*test:\s*(run|skip)\b\s*:?\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
EXIT_NOTE = re.compile(r"#.*\bexit\s+(\d+)\b")
COMMAND_TIMEOUT = 240


class Block:
    def __init__(self, path, line, text, marker, reason):
        self.path = path
        self.line = line  # 1-based line of the first line of code
        self.text = text  # list of lines, dedented
        self.marker = marker  # "run", "skip" or None
        self.reason = reason

    def where(self):
        return f"{self.path}:{self.line}"


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return [l[cut:] if l.strip() else "" for l in lines]


def parse_blocks(path, rel):
    """All code blocks (fenced and indented) of a Markdown file, with the marker before each."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    prev_blank = True

    def marker_before(start):
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            m = MARKER.match(lines[j])
            if m:
                return m.group(1), m.group(2)
        return None, ""

    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            indent, ticks = fence.group(1), fence.group(2)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(ticks[:3]):
                j += 1
            body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:j]]
            marker, reason = marker_before(i)
            blocks.append(Block(rel, i + 2, body, marker, reason))
            i = j + 1
            prev_blank = False
            continue
        if prev_blank and line.startswith("    ") and line.strip():
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                if FENCE.match(lines[j]):
                    break
                j += 1
            body = lines[i:j]
            while body and not body[-1].strip():
                body.pop()
            marker, reason = marker_before(i)
            blocks.append(Block(rel, i + 1, dedent(body), marker, reason))
            i = i + len(body)
            prev_blank = False
            continue
        prev_blank = not line.strip()
        i += 1
    return blocks


class Step:
    def __init__(self, where, command, expected_exit, expected_lines):
        self.where = where
        self.command = command
        self.expected_exit = expected_exit
        self.expected_lines = expected_lines


def join_continuations(lines, start_line):
    """Yields (line_number, logical_line) with backslash continuations joined."""
    out = []
    buf, first = "", None
    for n, l in enumerate(lines, start_line):
        if first is None:
            first = n
        if l.rstrip().endswith("\\"):
            buf += l.rstrip()[:-1] + " "
            continue
        out.append((first, buf + l))
        buf, first = "", None
    if buf:
        out.append((first, buf))
    return out


def steps_of(block):
    steps = []
    logical = join_continuations(block.text, block.line)
    dollar = any(l.startswith("$ ") for _, l in logical)
    for n, l in logical:
        where = f"{block.path}:{n}"
        if dollar:
            if l.startswith("$ "):
                cmd = l[2:]
                steps.append(Step(where, cmd, expected_exit(cmd), []))
            elif l.strip() and steps:
                steps[-1].expected_lines.append(l.strip())
            continue
        stripped = l.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if steps and stripped.lstrip("#").strip():
                steps[-1].expected_lines.append(stripped.lstrip("#").strip())
            continue
        steps.append(Step(where, l, expected_exit(l), []))
    return steps


def expected_exit(cmd):
    m = EXIT_NOTE.search(cmd)
    return int(m.group(1)) if m else 0


def normalize(s):
    return " ".join(s.split())


def line_matches(expected, actual):
    parts = [normalize(p) for p in expected.split("...")]
    pos = 0
    a = normalize(actual)
    for p in parts:
        if not p:
            continue
        found = a.find(p, pos)
        if found < 0:
            return False
        pos = found + len(p)
    return True


def check_output(expected_lines, output):
    """Returns the first expected line not found (in order), or None."""
    actual = output.split("\n")
    pos = 0
    for e in expected_lines:
        while pos < len(actual) and not line_matches(e, actual[pos]):
            pos += 1
        if pos >= len(actual):
            return e
        pos += 1
    return None


def copy_tree(source, dest):
    """The files git tracks, as they are in the working tree (a fresh clone of what is checked out)."""
    try:
        listed = subprocess.run(["git", "-C", source, "ls-files", "-z"], check=True,
                                capture_output=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed is None:
        shutil.copytree(source, dest, symlinks=True,
                        ignore=shutil.ignore_patterns("build", ".git"))
        return
    src_b, dst_b = os.fsencode(source), os.fsencode(dest)
    for rel in listed:
        if not rel:
            continue
        s = os.path.join(src_b, rel)
        if not os.path.lexists(s):
            continue
        d = os.path.join(dst_b, rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        else:
            shutil.copy2(s, d)


def collect(source):
    files = [("README.md", True)]
    docs = os.path.join(source, "docs")
    if os.path.isdir(docs):
        files += [(os.path.join("docs", n), False) for n in sorted(os.listdir(docs)) if n.endswith(".md")]
    plan, problems = [], []
    for rel, every_block_marked in files:
        for b in parse_blocks(os.path.join(source, rel), rel):
            if b.marker is None:
                if every_block_marked:
                    problems.append(f"{b.where()}: code block without a `<!-- test: run -->` or "
                                    "`<!-- test: skip: REASON -->` marker before it")
                continue
            if b.marker == "skip":
                if not b.reason:
                    problems.append(f"{b.where()}: `test: skip` needs a reason")
                continue
            plan.append(b)
    return plan, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--bin-dir", required=True, help="directory with hsmctl and hsmctl-vcard")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--list", action="store_true", help="print the steps, run nothing")
    args = ap.parse_args()
    source = os.path.abspath(args.source)
    bin_dir = os.path.abspath(args.bin_dir)

    blocks, problems = collect(source)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    steps = [s for b in blocks for s in steps_of(b)]
    if not steps:
        print("FAIL no command blocks marked `<!-- test: run -->` found")
        return 1
    if args.list:
        for s in steps:
            print(f"{s.where}: {s.command}  [exit {s.expected_exit}; {len(s.expected_lines)} key line(s)]")
        return 0

    top = tempfile.mkdtemp(prefix="hsmctl-docs.")
    os.chmod(top, 0o700)
    repo = os.path.join(top, "hsmctl")
    home = os.path.join(top, "home")
    prefix = os.path.join(top, "prefix")
    runtime = os.path.join(top, "run")
    tmp = os.path.join(top, "tmp")
    state = os.path.join(top, "state")
    for d in (home, os.path.join(prefix, "bin"), runtime, tmp, state):
        os.makedirs(d, mode=0o700)
    copy_tree(source, repo)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HSMCTL_", "XDG_", "PCSCLITE_")) and k not in ("CDPATH",)}
    env.update({
        "HOME": home,
        "XDG_RUNTIME_DIR": runtime,
        "TMPDIR": tmp,
        # The quick start installs here; on a real machine it is /usr/local, already on PATH.
        "PATH": os.path.join(prefix, "bin") + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
        "HSMCTL_PREFIX": prefix,
        "HSMCTL_QUICKSTART_BIN_DIR": bin_dir,
        "LC_ALL": "C.UTF-8",
    })
    env_file = os.path.join(state, "env")
    cwd_file = os.path.join(state, "cwd")
    with open(env_file, "w") as f:
        f.write("")
    with open(cwd_file, "w") as f:
        f.write(repo + "\n")

    failed = None
    for n, s in enumerate(steps, 1):
        script = (f'. "{env_file}"\ncd "$(cat "{cwd_file}")" || exit 125\n'
                  f"{s.command}\n__rc=$?\n"
                  f'export -p >"{env_file}"\npwd >"{cwd_file}"\nexit $__rc\n')
        print(f"[{n}/{len(steps)}] {s.where}: {s.command}", flush=True)
        try:
            r = subprocess.run(["bash", "-c", script], env=env, cwd=repo, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=COMMAND_TIMEOUT)
            output, rc = r.stdout.decode("utf-8", "replace"), r.returncode
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode("utf-8", "replace")
            rc = None
        for l in output.rstrip("\n").split("\n"):
            print(f"    | {l}")
        if rc is None:
            failed = f"{s.where}: `{s.command}` did not finish within {COMMAND_TIMEOUT} s"
            break
        if rc != s.expected_exit:
            failed = (f"{s.where}: `{s.command}` exited {rc}, the document says {s.expected_exit}"
                      + ("" if s.expected_exit else " (mark another code with `# exit N`)"))
            break
        missing = check_output(s.expected_lines, output)
        if missing is not None:
            failed = f"{s.where}: `{s.command}`: the document shows the line\n    {missing}\n  which is not in the output (in order)"
            break

    # A sandbox left running by a failed walkthrough is stopped (it is private to this run).
    last = os.path.join(runtime, "hsmctl-pcscd-sandbox.last")
    if os.path.exists(last):
        subprocess.run([os.path.join(repo, "scripts", "pcscd-sandbox"), "stop"], env=env, cwd=repo,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    if args.keep:
        print(f"(temporary directory kept: {top})")
    else:
        shutil.rmtree(top, ignore_errors=True)
    if failed:
        print(f"FAIL {failed}")
        return 1
    print(f"OK {len(steps)} command(s) from {len(blocks)} block(s) ran as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
