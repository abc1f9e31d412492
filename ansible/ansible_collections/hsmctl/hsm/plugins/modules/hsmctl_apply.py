#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
# Runs hsmctl on the managed host: `hsmctl plan -o json --detailed-exitcode` decides, and
# `hsmctl apply --auto-approve` runs only when the plan has changes (never in check mode).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hsmctl_apply
short_description: Make HSMs match hsmctl manifests (hsmctl plan / apply)
description:
  - Runs C(hsmctl plan -o json --detailed-exitcode) on the managed host for the given manifests
    and devices. When the plan has changes and the task is not in check mode, runs
    C(hsmctl apply --auto-approve) with the same manifests and devices.
  - Check mode runs only C(hsmctl plan); C(changed) tells whether apply would change a device.
  - With C(--diff) the plan is shown (rendered from the plan's JSON, the same document that
    decided C(changed)); it never contains secret values.
  - A plan with a blocked action (hsmctl exit code 3) or a device in error is a failure, in check
    mode too, never C(ok). hsmctl's own error lines and exit code are in the failure.
  - Secrets never go on argv. C(secrets) become environment variables of the hsmctl process (for
    C(env:NAME) references in the manifests); the store key or passphrase is written to a 0600
    file in a private temporary directory that is removed when the module ends.
version_added: "0.1.0"
author: hsmctl contributors
options:
  files:
    description: Manifest files or directories on the managed host (C(hsmctl -f), repeatable).
    type: list
    elements: path
    required: true
    aliases: [file]
  device:
    description: Device URI for every manifest (C(--device URI)), e.g. C(pcsc:) or C(sim:PATH).
    type: str
  devices:
    description: Device URI per manifest name (C(--device NAME=URI) for each item).
    type: dict
  binary:
    description: The hsmctl program (a path, or a name looked up on PATH).
    type: str
    default: hsmctl
  store:
    description: Credential store path (C(--store)); C(none) keeps nothing.
    type: str
  store_key_file:
    description: Key file that unlocks the store, a path on the managed host
      (C(HSMCTL_STORE_KEY_FILE)).
    type: path
  store_key:
    description:
      - The store key itself, base64 of 32 bytes. Written to a private 0600 temporary file that
        hsmctl reads as C(HSMCTL_STORE_KEY_FILE).
    type: str
  store_passphrase:
    description:
      - The store passphrase. Written to a private 0600 temporary file that hsmctl reads as
        C(HSMCTL_STORE_PASSPHRASE_FILE).
      - When the store does not exist yet, the module creates it in passphrase mode first
        (C(hsmctl store init --mode passphrase)), in check mode too, as C(hsmctl plan) itself
        creates a missing store (in key-file mode, which is not what a passphrase asks for).
    type: str
  secrets:
    description:
      - Environment variables for the hsmctl process, NAME to value, for the manifests'
        C(env:NAME) secret references. Never on argv, never logged.
    type: dict
  allow_reinit:
    description: Pass C(--allow-reinit) to apply.
    type: bool
    default: false
  allow_key_loss:
    description: Pass C(--allow-key-loss) to apply (with C(allow_reinit)).
    type: bool
    default: false
  allow_destructive:
    description: Pass C(--allow-destructive) to apply (Primus).
    type: bool
    default: false
  ppin:
    description: The Securosys ppin program (C(--ppin)).
    type: path
notes:
  - hsmctl exit codes (docs/exit-codes.md), plan with C(--detailed-exitcode) 0 in sync (ok),
    2 changes (changed; apply in normal mode), 3 blocked (failed), anything else failed.
    apply 0 changed, anything else failed.
"""

EXAMPLES = r"""
- name: Pico HSM matches its manifest
  hsmctl.hsm.hsmctl_apply:
    files: [/etc/hsmctl/root-ca.yaml]
    devices: {root-ca: "pcsc:"}
    store: /var/lib/hsmctl/store.hsmctl
    store_passphrase: "{{ vault_hsmctl_store_passphrase }}"
    secrets:
      ROOT_CA_PIN: "{{ vault_root_ca_pin }}"
      ROOT_CA_SO_PIN: "{{ vault_root_ca_so_pin }}"
"""

RETURN = r"""
exit_code:
  description:
    - Exit code of the last hsmctl command (plan, or apply when it ran); 2 is the plan's
      "changes pending". Not named C(rc), which Ansible reads as failed when not 0.
  returned: always
  type: int
rc:
  description: The exit code of the hsmctl command that failed.
  returned: failed
  type: int
plan:
  description: The plan (hsmctl plan -o json, schemas/plan.v1alpha1.schema.json); no secrets.
  returned: when hsmctl printed one
  type: dict
summary:
  description: The plan's per-status device counts.
  returned: when hsmctl printed a plan
  type: dict
pending:
  description: Operator steps the devices still need (neither a change nor blocked).
  returned: always
  type: list
applied:
  description: Whether hsmctl apply ran.
  returned: always
  type: bool
stdout:
  description: Output of the last hsmctl command.
  returned: always
  type: str
stderr:
  description: Error output of the last hsmctl command.
  returned: always
  type: str
store_created:
  description: The module created the store in passphrase mode (see store_passphrase).
  returned: when it did
  type: bool
cmd:
  description: The last hsmctl command line (it never holds a secret).
  returned: always
  type: list
"""

import base64
import binascii
import json
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SYMBOL = {"create": "+", "update": "~", "reinitialize": "-/+", "destroy": "-", "blocked": "!"}


def write_private(directory, name, data):
    """A new file with mode 0600 in the module's private directory."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def render_plan(plan):
    """The plan as text, in hsmctl's own plan layout (for --diff)."""
    out = []
    for dev in plan.get("devices", []):
        name, status = dev.get("name", "?"), dev.get("status", "?")
        where = dev.get("transport", "")
        if status == "error":
            err = dev.get("error", {})
            out.append('x device "%s" via %s: error (%s): %s'
                       % (name, where, err.get("code", "?"), err.get("message", "")))
            continue
        if status == "ok":
            out.append('device "%s" (serial %s) via %s matches the manifest.'
                       % (name, dev.get("serial", ""), where))
        else:
            out.append('# device "%s" (serial %s) via %s%s:' % (
                name, dev.get("serial", ""), where, " (blocked)" if status == "blocked" else ""))
        for act in dev.get("actions", []):
            out.append("  %s %s" % (SYMBOL.get(act.get("class"), "?"), act.get("summary", "")))
            for ch in act.get("changes", []):
                out.append("      %s: %s -> %s%s" % (ch.get("path"), ch.get("before"),
                                                     ch.get("after"),
                                                     "   # forces re-initialization"
                                                     if ch.get("forces_reinit") else ""))
            for lost in act.get("would_lose", []):
                out.append("      would lose: %s" % lost)
            if act.get("reason"):
                label = "blocked" if act.get("class") == "blocked" else "why"
                out.append("      (%s: %s)" % (label, act["reason"]))
        for note in dev.get("notes", []):
            out.append("  note: %s" % note)
        for step in dev.get("pending", []):
            out.append("  pending: %s" % step)
        out.append("")
    s = plan.get("summary", {})
    out.append("Devices: %s ok, %s with changes, %s blocked, %s failed."
               % (s.get("ok", 0), s.get("changes", 0), s.get("blocked", 0), s.get("error", 0)))
    return "\n".join(out) + "\n"


def error_lines(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("hsmctl: error:")
             or l.startswith("hsmctl: apply")]
    return lines or [l for l in stderr.splitlines() if l.strip()][-3:]


def device_problems(plan):
    """One line per blocked action and per device in error."""
    lines = []
    for dev in (plan or {}).get("devices", []):
        if dev.get("status") == "error":
            err = dev.get("error", {})
            lines.append('device "%s": error (%s): %s'
                         % (dev.get("name"), err.get("code"), err.get("message")))
        for act in dev.get("actions", []):
            if act.get("class") == "blocked":
                lines.append('device "%s": blocked: %s: %s'
                             % (dev.get("name"), act.get("summary"), act.get("reason")))
    return lines


def store_path(explicit):
    """The store hsmctl will open (store/unlock.cpp default_store_path); None for no store."""
    path = explicit or os.environ.get("HSMCTL_STORE") or ""
    if path == "none":
        return None
    if path:
        return path
    data = os.environ.get("XDG_DATA_HOME", "")
    if not data.startswith("/"):
        data = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "hsmctl", "store.hsmctl")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="path", required=True, aliases=["file"]),
            device=dict(type="str"),
            devices=dict(type="dict"),
            binary=dict(type="str", default="hsmctl"),
            store=dict(type="str"),
            store_key_file=dict(type="path"),
            store_key=dict(type="str", no_log=True),
            store_passphrase=dict(type="str", no_log=True),
            secrets=dict(type="dict", no_log=True),
            allow_reinit=dict(type="bool", default=False),
            allow_key_loss=dict(type="bool", default=False),
            allow_destructive=dict(type="bool", default=False),
            ppin=dict(type="path"),
        ),
        mutually_exclusive=[["store_key", "store_key_file", "store_passphrase"]],
        supports_check_mode=True,
    )
    p = module.params
    result = dict(changed=False, applied=False, exit_code=None, stdout="", stderr="", cmd=[],
                  pending=[])

    binary = p["binary"]
    if os.sep not in binary:
        found = module.get_bin_path(binary)
        if not found:
            module.fail_json(msg="hsmctl program %r not found on PATH" % binary, **result)
        binary = found

    common = []
    for f in p["files"]:
        common += ["-f", f]
    if p["device"]:
        common += ["--device", p["device"]]
    for name, uri in sorted((p["devices"] or {}).items()):
        common += ["--device", "%s=%s" % (name, uri)]
    if p["ppin"]:
        common += ["--ppin", p["ppin"]]
    glob = ["--no-color"]
    if p["store"]:
        glob += ["--store", p["store"]]

    env = {"NO_COLOR": "1"}
    for name, value in (p["secrets"] or {}).items():
        if not ENV_NAME.match(str(name)):
            module.fail_json(msg="secrets: %r is not an environment variable name" % name,
                             **result)
        env[str(name)] = "" if value is None else str(value)

    private = tempfile.mkdtemp(prefix="hsmctl-ansible-", dir=module.tmpdir)
    os.chmod(private, 0o700)
    try:
        if p["store_key"] is not None:
            try:
                key = base64.b64decode(p["store_key"], validate=True)
            except (binascii.Error, ValueError):
                module.fail_json(msg="store_key is not valid base64", **result)
            if len(key) != 32:
                module.fail_json(msg="store_key must be base64 of exactly 32 bytes", **result)
            env["HSMCTL_STORE_KEY_FILE"] = write_private(private, "store.key", key)
        elif p["store_key_file"]:
            env["HSMCTL_STORE_KEY_FILE"] = p["store_key_file"]
        if p["store_passphrase"] is not None:
            env["HSMCTL_STORE_PASSPHRASE_FILE"] = write_private(
                private, "store.passphrase", p["store_passphrase"].encode("utf-8"))

        def run(argv):
            result["cmd"] = argv
            rc, out, err = module.run_command(argv, environ_update=env, check_rc=False)
            result.update(exit_code=rc, stdout=out, stderr=err)
            return rc, out, err

        # 0. A missing store that a passphrase is to protect is created in passphrase mode first:
        # hsmctl itself would create it on first use (in plan too), but in key-file mode.
        if p["store_passphrase"] is not None:
            path = store_path(p["store"])
            if path is not None and not os.path.exists(path):
                rc, out, err = run([binary] + glob + ["store", "init", "--mode", "passphrase"])
                if rc != 0:
                    module.fail_json(msg="hsmctl store init failed (exit %d): %s"
                                     % (rc, "; ".join(error_lines(err))), rc=rc, **result)
                result["store_created"] = True

        # 1. plan: the JSON plan and --detailed-exitcode decide.
        rc, out, err = run([binary] + glob + ["plan"] + common
                           + ["-o", "json", "--detailed-exitcode"])
        plan = None
        try:
            plan = json.loads(out) if out.strip() else None
        except ValueError:
            plan = None
        if plan is not None:
            result["plan"] = plan
            result["summary"] = plan.get("summary", {})
            result["pending"] = [
                '%s: %s' % (d.get("name"), s) for d in plan.get("devices", [])
                for s in d.get("pending", [])]
            if module._diff:
                result["diff"] = dict(prepared=render_plan(plan))
        if rc not in (0, 2):
            what = "blocked: an action needs an operator" if rc == 3 else "failed"
            msg = "hsmctl plan %s (exit %d)" % (what, rc)
            details = device_problems(plan)
            messages = [d.get("error", {}).get("message", "") for d in (plan or {}).get(
                "devices", []) if d.get("status") == "error"]
            # hsmctl's stderr repeats each device error; keep the lines that add something
            details += [l for l in error_lines(err)
                        if not any(m and m.split(": ")[-1] in l for m in messages)]
            if details:
                msg += ": " + "; ".join(details)
            module.fail_json(msg=msg, rc=rc, **result)
        if plan is None:
            module.fail_json(msg="hsmctl plan exited %d without a JSON plan" % rc, **result)
        if rc == 0:
            module.exit_json(**result)

        # 2. changes pending: check mode stops here; otherwise apply.
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        argv = [binary] + glob + ["apply"] + common + ["--auto-approve"]
        if p["allow_reinit"]:
            argv.append("--allow-reinit")
        if p["allow_key_loss"]:
            argv.append("--allow-key-loss")
        if p["allow_destructive"]:
            argv.append("--allow-destructive")
        rc, out, err = run(argv)
        result["applied"] = True
        if rc != 0:
            what = "blocked: an action needs an operator" if rc == 3 else "failed"
            msg = "hsmctl apply %s (exit %d)" % (what, rc)
            details = error_lines(err)
            if details:
                msg += ": " + "; ".join(details)
            module.fail_json(msg=msg, rc=rc, **result)
        module.exit_json(**result)
    finally:
        shutil.rmtree(private, ignore_errors=True)


if __name__ == "__main__":
    main()
