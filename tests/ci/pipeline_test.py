#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The review pipeline of examples/ci/, run as a CI runner would run it, on the simulator.

1. The two pipeline files are valid YAML and call only steps examples/ci/hsmctl-pipeline knows.
2. In a fresh directory (manifests/, policies/, a credential store, a simulated Pico HSM): the
   whole review flow through the script: validate, policy-test, plan (saved plan + Markdown),
   apply of the saved plan, drift check in sync; then a manifest change: drift exit 2, plan,
   a change on the device behind hsmctl's back (a failed VERIFY, as someone mistyping a PIN
   elsewhere) makes apply of that plan refuse naming the change; plan again, apply, in sync.
   An `enforce` policy that fails makes the plan step fail (exit 3) with the Markdown written.
3. No output, plan file or Markdown holds a secret value used in the run.

Usage: pipeline_test.py --source DIR --hsmctl PATH
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

USER_PIN = "73914025"
SO_PIN = "5A3C19E2B4F70811"
NEW_USER_PIN = "40938127"
SERIAL = "0102030405060708"

failures = []
transcript = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL: " + message)


def manifest(user_pin_env="USER_PIN", retries=3):
    return f"""apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata:
  name: hsm-a
  labels: {{env: test}}
spec:
  device: {{serial: "{SERIAL}"}}
  userPin: {{secret: "env:{user_pin_env}"}}
  soPin: {{secret: "env:SO_PIN"}}
  pinRetries: {retries}
"""


POLICY = """apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata:
  name: pin-retries-at-most-5
spec:
  severity: enforce
  message: pinRetries must be at most 5
  deny:
    required: [spec]
    properties:
      spec:
        required: [pinRetries]
        properties: {pinRetries: {type: integer, minimum: 6}}
"""

# Fails for every device of the test (no owner label): a warning in the plan, never a block; a
# saved plan with it must still apply.
WARN_POLICY = """apiVersion: hsmctl.dev/v1alpha1
kind: Policy
metadata:
  name: owner-label
spec:
  severity: warn
  message: every device should name its owner in metadata.labels.owner
  require:
    required: [metadata]
    properties:
      metadata:
        required: [labels]
        properties:
          labels: {required: [owner]}
"""

POLICY_TEST = """apiVersion: hsmctl.dev/v1alpha1
kind: PolicyTest
metadata: {name: three-retries-pass}
spec:
  input: {kind: PicoHSM, metadata: {name: a, labels: {owner: pki}}, spec: {pinRetries: 3}}
  expect: {pin-retries-at-most-5: pass, owner-label: pass}
---
apiVersion: hsmctl.dev/v1alpha1
kind: PolicyTest
metadata: {name: ten-retries-fail}
spec:
  input: {kind: PicoHSM, metadata: {name: b}, spec: {pinRetries: 10}}
  expect: {pin-retries-at-most-5: fail, owner-label: fail}
"""


def run(cmd, env, cwd, expect=None):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    transcript.append(f"$ {' '.join(cmd)}  (exit {p.returncode})\n{out}")
    if expect is not None:
        check(p.returncode == expect,
              f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n{out}")
    return p.returncode, out


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def check_pipeline_files(source):
    script = read(os.path.join(source, "examples/ci/hsmctl-pipeline"))
    known = set(re.findall(r"^  ([a-z-]+)\)$", script, re.M))
    check({"validate", "policy-test", "plan", "show", "apply", "drift"} <= known,
          f"hsmctl-pipeline steps: {sorted(known)}")
    for name in ("gitlab-ci.yml", "github-workflow.yml"):
        text = read(os.path.join(source, "examples/ci", name))
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            check(False, f"{name}: not valid YAML: {e}")
            continue
        check(isinstance(doc, dict), f"{name}: not a mapping")
        used = set(re.findall(r"ci/hsmctl-pipeline ([a-z-]+)", text))
        check(used, f"{name}: calls no hsmctl-pipeline step")
        check(used <= known, f"{name}: calls unknown steps {sorted(used - known)}")
        for secret in (USER_PIN, SO_PIN):
            check(secret not in text, f"{name} holds a secret")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--hsmctl", required=True)
    args = ap.parse_args()
    source = os.path.abspath(args.source)
    hsmctl = os.path.abspath(args.hsmctl)
    pipeline = os.path.join(source, "examples/ci/hsmctl-pipeline")

    check_pipeline_files(source)

    with tempfile.TemporaryDirectory(prefix="hsmctl-pipeline-") as work:
        os.makedirs(os.path.join(work, "manifests"))
        os.makedirs(os.path.join(work, "policies/tests"))
        mpath = os.path.join(work, "manifests/hsm-a.yaml")
        with open(mpath, "w") as f:
            f.write(manifest())
        with open(os.path.join(work, "policies/pin-retries.yaml"), "w") as f:
            f.write(POLICY)
        with open(os.path.join(work, "policies/owner-label.yaml"), "w") as f:
            f.write(WARN_POLICY)
        with open(os.path.join(work, "policies/tests/pin-retries.yaml"), "w") as f:
            f.write(POLICY_TEST)
        sim = os.path.join(work, "pico.json")
        env = dict(os.environ)
        env.update({
            "HSMCTL": hsmctl,
            "HSMCTL_DEVICE": "sim:" + sim,
            "HSMCTL_STORE": os.path.join(work, "store.hsmctl"),
            "HSMCTL_STORE_KEY_FILE": os.path.join(work, "store.key"),
            "HSMCTL_LOCK_DIR": os.path.join(work, "locks"),
            "USER_PIN": USER_PIN,
            "SO_PIN": SO_PIN,
            "NO_COLOR": "1",
        })
        step = lambda name, expect: run([pipeline, name], env, work, expect)

        step("validate", 0)
        code, out = step("policy-test", 0)
        check("ten-retries-fail" in out, "policy-test names its cases\n" + out)

        # A first merge request: a factory-fresh device gets initialized.
        step("plan", 0)
        check(os.path.exists(os.path.join(work, "hsmctl.plan")), "plan step saved no plan")
        md = read(os.path.join(work, "plan.md"))
        check("### hsmctl plan" in md and "initialize" in md, "plan.md:\n" + md)
        check("owner-label" in md, "plan.md shows the warning policy:\n" + md)
        step("apply", 0)
        code, out = step("drift", 0)
        check("No changes" in read(os.path.join(work, "plan.md")), "drift after apply")

        # A change: new user PIN. Drift is reported until it is applied.
        env["USER_PIN"] = NEW_USER_PIN
        step("drift", 2)
        step("plan", 0)
        md = read(os.path.join(work, "plan.md"))
        check("change user PIN" in md, "plan.md names the change:\n" + md)
        # Behind hsmctl's back someone mistypes the user PIN on the device: its retry counter
        # moves (the simulator's state file, as tests/cli/saved_plan_test.cpp does it).
        with open(sim) as f:
            state = json.load(f)
        state["user_pin"]["retries"] -= 1
        with open(sim, "w") as f:
            json.dump(state, f)
        code, out = step("apply", None)
        check(code not in (0, 2), f"a stale plan was applied (exit {code})\n{out}")
        check("user PIN retry counter" in out, "the refusal names the change:\n" + out)
        # A policy edited after the plan makes the saved plan stale too.
        step("plan", 0)
        with open(os.path.join(work, "policies/owner-label.yaml"), "a") as f:
            f.write("# edited after the plan\n")
        code, out = step("apply", 1)
        check("policy file policies/owner-label.yaml changed since the plan" in out,
              "the refusal names the policy file:\n" + out)
        # Re-plan and apply: in sync.
        step("plan", 0)
        step("apply", 0)
        step("drift", 0)

        # An enforce policy that fails: the plan step fails with the Markdown written.
        with open(mpath, "w") as f:
            f.write(manifest(user_pin_env="USER_PIN", retries=10))
        code, out = step("plan", 3)
        md = read(os.path.join(work, "plan.md"))
        check("pin-retries-at-most-5" in md, "plan.md shows the failing policy:\n" + md)

        everything = "\n".join(transcript)
        for name in ("hsmctl.plan", "plan.md"):
            p = os.path.join(work, name)
            if os.path.exists(p):
                everything += read(p)
        for secret in (USER_PIN, SO_PIN, NEW_USER_PIN):
            check(secret not in everything, "a secret value appears in the output or files")

    if failures:
        print("\n--- transcript ---\n" + "\n".join(transcript))
        print(f"{len(failures)} check(s) failed")
        return 1
    print("pipeline test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
