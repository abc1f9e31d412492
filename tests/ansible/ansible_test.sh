#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Ansible collection (ansible/ansible_collections/hsmctl/hsm) end to end: ansible-playbook runs
# the shipped example (ansible/examples/site.yml, inventory.yml) against three hosts on the local
# connection, each with its own simulated Pico HSM (sim:PATH), its own manifest and its own store.
#   1. --check --diff -vvv: every host changed, the plan is shown, the devices stay untouched;
#   2. --check again: still changed, every device still to be initialized, the files unchanged;
#   3. apply: changed on every host;  4. apply again: changed=0 everywhere (idempotent);
#   5. --check: changed=0;
#   6. a blocked device (wrong PINs, a store that knows nothing) fails with hsmctl's reason;
#   7. an invalid manifest fails with hsmctl's error and exit code.
# All output of every run is scanned for every secret value used: none may appear. The module's
# private temporary files must be gone afterwards. No ansible-playbook is a failure, never a skip
# (scripts/install-deps installs ansible-core).
# Usage: ansible_test.sh SOURCE_DIR HSMCTL_BINARY
set -euo pipefail
src=$(cd "$1" && pwd)
bin=$2

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

command -v ansible-playbook >/dev/null ||
  fail "ansible-playbook not found (install ansible-core: scripts/install-deps)"
[ -x "$bin" ] || fail "hsmctl binary $bin not found"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsmctl-ansible-test.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
cd "$tmp"
mkdir -m 700 home state ansible-home ansible-local ansible-remote
: >ansible.cfg
export HOME=$tmp/home
export ANSIBLE_CONFIG=$tmp/ansible.cfg
export ANSIBLE_HOME=$tmp/ansible-home
export ANSIBLE_LOCAL_TEMP=$tmp/ansible-local
export ANSIBLE_REMOTE_TEMP=$tmp/ansible-remote
export ANSIBLE_COLLECTIONS_PATH=$src/ansible
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_LOCALHOST_WARNING=0
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8
unset HSMCTL_STORE HSMCTL_STORE_KEY_FILE HSMCTL_STORE_PASSPHRASE_FILE HSMCTL_STORE_PASSPHRASE_FD \
  HSMCTL_DEVICE XDG_DATA_HOME XDG_CONFIG_HOME

inventory=$src/ansible/examples/inventory.yml
playbook=$src/ansible/examples/site.yml
hosts=(hsm-a hsm-b hsm-c)
cat >vars.yml <<EOF
hsmctl_state: $tmp/state
hsmctl_binary: $bin
EOF

# Every secret value of the inventory and of the failure runs below, one per line (a file in the
# temporary directory, never printed).
ansible-inventory -i "$inventory" --list >inventory.json 2>inventory.err ||
  { cat inventory.err; fail "ansible-inventory cannot read $inventory"; }
python3 - inventory.json >secrets.txt <<'EOF'
import json, sys
hostvars = json.load(open(sys.argv[1]))["_meta"]["hostvars"]
for host in hostvars.values():
    for key in ("hsmctl_store_passphrase", "hsmctl_store_key"):
        if key in host:
            print(host[key])
    for value in host.get("hsmctl_secrets", {}).values():
        print(value)
EOF
cat >blocked.yml <<EOF
hsmctl_state: $tmp/state
hsmctl_binary: $bin
hsmctl_store: $tmp/state/other.store
hsmctl_store_key_file: $tmp/state/other.key
hsmctl_secrets: {HSM_USER_PIN: "246813", HSM_SO_PIN: "0F1E2D3C4B5A6978"}
EOF
printf '%s\n' 246813 0F1E2D3C4B5A6978 >>secrets.txt
[ "$(grep -c . secrets.txt)" -ge 10 ] || fail "expected at least 10 secret values, got $(grep -c . secrets.txt)"

run=0
# play NAME EXPECTED_RC ARGS...: runs ansible-playbook, output in NAME.log
play() {
  local name=$1 want=$2 rc=0
  shift 2
  run=$((run + 1))
  echo "== run $run: $name: ansible-playbook $*"
  ansible-playbook -i "$inventory" "$playbook" -e @vars.yml "$@" >"$name.log" 2>&1 || rc=$?
  if [ "$want" = nonzero ]; then
    [ "$rc" -ne 0 ] || { cat "$name.log"; fail "$name: ansible-playbook succeeded, expected a failure"; }
  elif [ "$rc" -ne "$want" ]; then
    cat "$name.log"
    fail "$name: ansible-playbook exited $rc, expected $want"
  fi
}
# recap LOG HOST FIELD: the number PLAY RECAP shows for HOST
recap() {
  local v
  v=$(sed -n "s/^$2 *: .*\\b$3=\\([0-9]*\\).*/\\1/p" "$1")
  [ -n "$v" ] || { cat "$1"; fail "$1: no PLAY RECAP line for $2"; }
  echo "$v"
}
expect_recap() {  # LOG FIELD VALUE HOST...
  local log=$1 field=$2 want=$3 h got
  shift 3
  for h in "$@"; do
    got=$(recap "$log" "$h" "$field")
    [ "$got" = "$want" ] || { cat "$log"; fail "$log: $h $field=$got, expected $want"; }
  done
}
devices_digest() { (cd state && sha256sum hsm-?.json); }

# 1. check mode with the plan shown
play check1 0 --check --diff -vvv
expect_recap check1.log changed 1 "${hosts[@]}"
expect_recap check1.log failed 0 "${hosts[@]}"
for h in "${hosts[@]}"; do
  grep -q "# device \"$h\" (serial [0-9A-F]*) via sim:$tmp/state/$h.json:" check1.log ||
    { cat check1.log; fail "check1: no plan shown for $h (--diff)"; }
done
grep -q '+ initialize the device' check1.log || fail "check1: the diff does not show the actions"
grep -q 'spec.userPin: (absent) -> (sensitive)' check1.log || fail "check1: no changes in the diff"
before=$(devices_digest)

# 2. check mode again: still changed, the devices untouched
play check2 0 --check --diff
expect_recap check2.log changed 1 "${hosts[@]}"
[ "$(grep -c '^  + initialize the device$' check2.log)" = 3 ] ||
  { cat check2.log; fail "check2: the devices are no longer uninitialized"; }
[ "$(devices_digest)" = "$before" ] || fail "check mode changed a device file"

# 3. apply, 4. apply again (idempotent), 5. check mode (in sync)
play apply1 0 --diff
expect_recap apply1.log changed 1 "${hosts[@]}"
expect_recap apply1.log failed 0 "${hosts[@]}"
[ "$(devices_digest)" != "$before" ] || fail "apply did not change the devices"
play apply2 0 -vvv
expect_recap apply2.log changed 0 "${hosts[@]}"
expect_recap apply2.log failed 0 "${hosts[@]}"
play check3 0 --check
expect_recap check3.log changed 0 "${hosts[@]}"
for h in hsm-a hsm-b hsm-c; do
  [ -f "state/$h.store" ] || fail "no store for $h"
done
[ -f state/hsm-c.key ] || fail "hsm-c: key file not created on the host"
[ ! -e "$HOME/.config/hsmctl" ] || fail "a store key landed in the default place"

# 6. blocked: other PINs and a store that knows nothing; a failure in check mode and in apply
play blocked-check nonzero --check -vvv -e @blocked.yml --limit hsm-c
expect_recap blocked-check.log failed 1 hsm-c
expect_recap blocked-check.log changed 0 hsm-c
grep -q 'hsmctl plan blocked: an action needs an operator (exit 3)' blocked-check.log ||
  { cat blocked-check.log; fail "blocked-check: no blocked message"; }
play blocked-apply nonzero -e @blocked.yml --limit hsm-c
expect_recap blocked-apply.log failed 1 hsm-c
grep -q 'hsmctl plan blocked: an action needs an operator (exit 3)' blocked-apply.log ||
  { cat blocked-apply.log; fail "blocked-apply: no blocked message"; }
grep -q '"applied": true' blocked-apply.log && fail "blocked-apply: apply ran on a blocked plan"

# 7. an invalid manifest: hsmctl's error and exit code
cat >bad.yaml <<'EOF'
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata: {name: hsm-a}
spec:
  device: {serial: "5049434F48534D41"}
  pinRetries: many
EOF
play invalid nonzero -e "{\"hsmctl_manifests\": [\"$tmp/bad.yaml\"]}" --limit hsm-a
expect_recap invalid.log failed 1 hsm-a
grep -q 'hsmctl plan failed (exit 65): hsmctl: error: .*bad.yaml:[0-9]*:[0-9]*: spec' invalid.log ||
  { cat invalid.log; fail "invalid: hsmctl's error is not in the failure"; }

# No secret value in any output; no private file left behind.
for log in *.log; do
  if grep -F -q -f secrets.txt "$log"; then
    fail "$log holds a secret value (lines: $(grep -F -n -f secrets.txt "$log" | cut -d: -f1 | tr '\n' ' '))"
  fi
done
grep -q 'no_log' check1.log || grep -q 'NOT_LOGGING_PARAMETER\|VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' check1.log ||
  fail "check1 (-vvv) shows no masked parameter: is the module's invocation logged at all?"
left=$(find ansible-remote ansible-local -name 'hsmctl-ansible-*' 2>/dev/null || true)
[ -z "$left" ] || fail "private files left behind: $left"
if grep -r -F -q -f secrets.txt ansible-remote ansible-local 2>/dev/null; then
  fail "a secret value is left in Ansible's temporary directories"
fi
echo "ansible: ${#hosts[@]} hosts, $run runs; check mode, diff, idempotence, blocked, invalid: OK"
