#!/usr/bin/env bash
# Each third-party library is confined to the module that needs it (ARCHITECTURE.md).
# Fails, naming the file, when a header is included outside its module.
set -u
root=${1:-.}
cd "$root/src" || exit 1
status=0
check() {  # check <include regex> <allowed path regex> <library>
  local hits
  hits=$(grep -rlE "#include <($1)" hsmctl cli vcard 2>/dev/null | grep -vE "^($2)" || true)
  if [ -n "$hits" ]; then
    echo "layering: $3 included outside $2:"; echo "$hits" | sed 's/^/  /'
    status=1
  fi
}
check 'yaml-cpp/' 'hsmctl/manifest/' yaml-cpp
check 'valijson/' 'hsmctl/manifest/' valijson
check 'winscard\.h|PCSC/' 'hsmctl/device/pcsc/' PCSC-lite
check 'openssl/' 'hsmctl/store/|hsmctl/device/sim/|hsmctl/secrets/' OpenSSL
check 'boost/' 'cli/|vcard/' Boost
check 'libconfig' 'hsmctl/families/primus/' libconfig++
# plan/ is pure: no I/O headers.
hits=$(grep -rlE '#include <(fstream|cstdio|unistd\.h|sys/)' hsmctl/plan 2>/dev/null || true)
if [ -n "$hits" ]; then echo "layering: plan/ must not do I/O:"; echo "$hits"; status=1; fi
# family/ and reconcile/ loop over units and never name a family (families/ holds the adapters);
# manifest/ sits below the families.
hits=$(grep -rlE '#include "hsmctl/(device|families)/' hsmctl/family hsmctl/reconcile 2>/dev/null || true)
if [ -n "$hits" ]; then echo "layering: family/ and reconcile/ must not name a family:"; echo "$hits"; status=1; fi
hits=$(grep -rlE '#include "hsmctl/(family|families|reconcile)/' hsmctl/manifest 2>/dev/null || true)
if [ -n "$hits" ]; then echo "layering: manifest/ must not depend on the families:"; echo "$hits"; status=1; fi
[ $status -eq 0 ] && echo "layering: ok"
exit $status
