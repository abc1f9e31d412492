#!/usr/bin/env bash
# Every tracked path is printable ASCII (no control bytes, no bytes >= 0x7f). Catches files a test
# created by accident with a garbage name (e.g. from a dangling pointer) that then got committed.
# Exits 77 (ctest: skipped) outside a git checkout.
set -u
export LC_ALL=C
root=${1:-.}
if ! git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "paths: not a git checkout, skipped"; exit 77
fi
status=0
# NUL-separated: no byte of a name is quoted or lost. Printed with %q, so nothing raw is echoed.
while IFS= read -r -d '' name; do
  if [[ $name == *[^\ -~]* ]]; then
    [ $status -eq 0 ] && echo "paths: tracked paths with non-printable bytes:"
    printf '  %q\n' "$name"
    status=1
  fi
done < <(git -C "$root" ls-files -z)
[ $status -eq 0 ] && echo "paths: ok"
exit $status
