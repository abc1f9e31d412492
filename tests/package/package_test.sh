#!/usr/bin/env bash
# The Debian package test (label package; docs/packaging.md):
#   package_test.sh CPACK BUILD_DIR SOURCE_DIR
# builds the .deb from BUILD_DIR's binaries with `cpack -G DEB` into a temporary directory,
# unpacks it into a throw-away root (dpkg -x: the machine's /usr is never touched), checks its
# contents, runs the installed `hsmctl version`, `man -w hsmctl` (MANPATH into that root) and a
# bash completion smoke test, syntax-checks the zsh completion, and runs lintian, which must
# report no error. Every tool it needs is required: a missing one fails the test (CI installs
# them with scripts/install-deps), it never skips.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 CPACK BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
cpack=$1
build=$(cd "$2" && pwd)
source_dir=$(cd "$3" && pwd)

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}

for tool in "$cpack" dpkg dpkg-deb dpkg-shlibdeps lintian man bash zsh gzip readelf; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "'$tool' is not installed (scripts/install-deps installs lintian, dpkg-dev, man-db, zsh)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== cpack -G DEB"
"$cpack" --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
shopt -s nullglob
debs=("$tmp"/out/*.deb)
shopt -u nullglob
((${#debs[@]} == 1)) || fail "expected one .deb, got ${#debs[@]}"
deb=${debs[0]}
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

echo "== control fields"
dpkg-deb --field "$deb" Package Version Architecture Section Depends | tee "$tmp/control"
grep -qx 'Package: hsmctl' "$tmp/control" || fail "Package is not hsmctl"
grep -q '^Depends: .*libssl3' "$tmp/control" || fail "Depends lacks libssl3 (dpkg-shlibdeps)"

echo "== unpack into a throw-away root"
root=$tmp/root
dpkg -x "$deb" "$root"
for f in usr/bin/hsmctl usr/bin/hsmctl-vcard \
  usr/share/bash-completion/completions/hsmctl usr/share/zsh/vendor-completions/_hsmctl \
  usr/share/doc/hsmctl/copyright usr/share/doc/hsmctl/changelog.Debian.gz \
  usr/share/man/man1/hsmctl.1.gz usr/share/man/man1/hsmctl-vcard.1.gz; do
  [[ -e $root/$f ]] || fail "/$f is not in the package"
done
# The shared schemas and each family's own (src/hsmctl/families/<family>/*.schema.json).
for f in "$source_dir"/schemas/*.json "$source_dir"/src/hsmctl/families/*/*.schema.json; do
  [[ -e $f ]] || continue
  cmp -s "$f" "$root/usr/share/hsmctl/schemas/$(basename "$f")" ||
    fail "schema $(basename "$f") missing or different under /usr/share/hsmctl/schemas"
done
(cd "$source_dir/policies" && find . -type f) | while read -r f; do
  cmp -s "$source_dir/policies/$f" "$root/usr/share/hsmctl/policies/$f" ||
    fail "policy pack file $f missing or different under /usr/share/hsmctl/policies"
done
for b in hsmctl hsmctl-vcard; do
  if readelf -S "$root/usr/bin/$b" | grep -q '\.symtab\|\.debug_info'; then fail "$b is not stripped"; fi
done

echo "== the installed hsmctl"
hsmctl=$root/usr/bin/hsmctl
out=$("$hsmctl" version)
echo "$out"
[[ $out == "hsmctl $("$build/src/hsmctl" version | sed 's/^hsmctl //')" ]] ||
  fail "installed 'hsmctl version' differs from the build's"
"$root/usr/bin/hsmctl-vcard" --help >/dev/null || fail "hsmctl-vcard --help failed"

echo "== man pages"
export MANPATH=$root/usr/share/man
page=$(man -w hsmctl) || fail "man -w hsmctl found no page"
[[ $page == "$root/usr/share/man/man1/hsmctl.1.gz" ]] || fail "man -w hsmctl gave $page"
echo "man -w hsmctl: $page"
# One page per command of `hsmctl --help` (the pages are generated from it).
commands=$("$hsmctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  *.*/\1/p')
[[ -n $commands ]] || fail "no command table in hsmctl --help"
for c in $commands; do
  man -w "hsmctl-$c" >/dev/null || fail "no man page hsmctl-$c"
  # The page carries the command's options as --help prints them.
  first_flag=$("$hsmctl" "$c" --help | grep -o -m1 -- '--[a-z][a-z-]*' || true)
  if [[ -n $first_flag ]]; then
    MANWIDTH=200 man "hsmctl-$c" 2>/dev/null | grep -q -- "$first_flag" ||
      fail "man hsmctl-$c lacks $first_flag"
  fi
done
MANWIDTH=200 man hsmctl 2>/dev/null | grep -q 'Configuration as code for hardware security modules' ||
  fail "man hsmctl does not show the --help text"

echo "== bash completion"
cd "$tmp"
mkdir -p work/sub bin
touch work/a.yaml work/b.yml work/c.txt
# A stand-in for hsmctl that lists one reader for `devices -o json` (no pcscd here) and runs the
# installed binary for everything else.
cat >bin/hsmctl <<EOF
#!/usr/bin/env bash
if [[ \$1 == devices ]]; then
  printf '{\n  "readers": [\n    {\n      "reader": "Virtual PCD 00 00",\n      "serial": null\n    }\n  ]\n}\n'
  exit 0
fi
exec "$hsmctl" "\$@"
EOF
chmod +x bin/hsmctl
cat >complete.sh <<'EOF'
source "$1"
cd work
c() {
  COMP_LINE=$1 COMP_POINT=${#1} COMPREPLY=()
  _hsmctl
  printf '%s|' "${COMPREPLY[@]}"
  echo
}
echo "pl=$(c 'hsmctl pl')"
echo "plan--=$(c 'hsmctl plan --')"
echo "plan-f=$(c 'hsmctl plan -f ')"
echo "plan-d=$(c 'hsmctl plan -d ')"
echo "plan-dpcsc=$(c 'hsmctl plan --device pcsc:V')"
echo "plan-dname=$(c 'hsmctl apply -d root-ca=pcsc:')"
echo "store=$(c 'hsmctl store ')"
echo "dkek=$(c 'hsmctl dkek ')"
echo "complete=$(complete -p hsmctl)"
EOF
PATH=$tmp/bin:$PATH bash complete.sh "$root/usr/share/bash-completion/completions/hsmctl" \
  >completions.txt 2>completions.err || { cat completions.err >&2; fail "completion script failed"; }
cat completions.txt
[[ -s completions.err ]] && { cat completions.err >&2; fail "completion script wrote to stderr"; }
expect() {  # key, expected candidates (sorted, '|'-separated)
  local got
  got=$(sed -n "s/^$1=//p" completions.txt | tr '|' '\n' | sed '/^$/d' | sort | tr '\n' '|')
  [[ $got == "$2" ]] || fail "completion $1: expected '$2', got '$got'"
}
expect pl 'plan|'
plan_flags=$("$hsmctl" plan --help | grep -o -- '^  \(-[a-z] \[ \)\{0,1\}--[a-z-]*' |
  grep -o -- '--[a-z-]*' | sort | tr '\n' '|')
[[ $plan_flags == *--file\|* && $plan_flags == *--detailed-exitcode\|* ]] ||
  fail "unexpected plan --help: $plan_flags"
expect plan-- "$plan_flags"
expect plan-f 'a.yaml|b.yml|sub/|'
expect plan-d 'pcsc:|sim:|'
expect plan-dpcsc 'Virtual\ PCD\ 00\ 00|'
expect plan-dname 'Virtual\ PCD\ 00\ 00|'
expect store "$("$hsmctl" store --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\).*/\1/p' | sort |
  tr '\n' '|')"
expect dkek 'create|kcv|'
grep -qx 'complete=complete -F _hsmctl hsmctl' completions.txt || fail "complete -F not registered"

echo "== zsh completion (syntax)"
zsh -n "$root/usr/share/zsh/vendor-completions/_hsmctl" || fail "zsh -n _hsmctl"
head -1 "$root/usr/share/zsh/vendor-completions/_hsmctl" | grep -qx '#compdef hsmctl' ||
  fail "_hsmctl does not start with #compdef hsmctl"

echo "== lintian"
# Errors fail; warnings and informational tags are listed (docs/packaging.md explains them).
lintian_status=0
lintian --fail-on error --display-info "$deb" >"$tmp/lintian.txt" 2>&1 || lintian_status=$?
cat "$tmp/lintian.txt"
grep -q '^E: ' "$tmp/lintian.txt" && fail "lintian reported errors"
((lintian_status == 0)) || fail "lintian exited with $lintian_status"
echo "package_test: OK ($(grep -c '^W: ' "$tmp/lintian.txt" || true) lintian warnings)"
