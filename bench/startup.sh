#!/usr/bin/env bash
# Start-up cost of the hsmctl binary (issue 13: `hsmctl version` and `--help` in <= 2 ms):
#   bench/startup.sh [BUILD_DIR] [RUNS]      (defaults: build, 500)
# Over RUNS runs each, the median and minimum wall time of fork + exec + exit and the median CPU
# time (user + system) of the child, in ms. A small C runner, compiled into a temporary
# directory, times posix_spawn..wait4 with CLOCK_MONOTONIC, so no shell start-up is counted; CPU
# time is the steadier figure on a busy machine (it does not count waiting for a core). Rows:
#   - /bin/true                          the floor: process creation and exec of a tiny C program
#   - an empty C++ main, libstdc++ only  what the C++ runtime alone costs
#   - an empty C++ main linked against hsmctl's shared libraries (same DT_NEEDED list)
#                                        what loading and relocating those libraries costs
#   - hsmctl version, hsmctl --help      and a stripped copy (what the Debian package ships)
#   - hsmctl version with LD_BIND_NOW=1  every symbol resolved up front (upper bound of binding)
# then the dynamic loader's own statistics (LD_DEBUG=statistics) and the static initialisers.
# Figures: docs/benchmarks.md, "Start-up".
set -euo pipefail
build=${1:-build}
runs=${2:-500}
hsmctl=$build/src/hsmctl
[[ -x $hsmctl ]] || { echo "startup.sh: no $hsmctl (build first)" >&2; exit 1; }
for tool in cc c++ readelf strip nm bc; do
  command -v "$tool" >/dev/null || { echo "startup.sh: $tool is needed" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/runner.c" <<'RUNNER'
/* runner RUNS PROGRAM [ARGS...]: median and minimum wall time, median CPU time, microseconds. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
extern char** environ;
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
int main(int argc, char** argv) {
  if (argc < 3) return 64;
  int runs = atoi(argv[1]);
  double* wall = malloc(sizeof(double) * (size_t)runs);
  double* cpu = malloc(sizeof(double) * (size_t)runs);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  for (int i = -5; i < runs; ++i) { /* 5 warm-up runs: page cache, not disk */
    struct timespec a, b;
    struct rusage ru;
    pid_t pid;
    int status;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (posix_spawn(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0) return 1;
    wait4(pid, &status, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 2;
    if (i < 0) continue;
    wall[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
             ru.ru_stime.tv_usec;
  }
  qsort(wall, (size_t)runs, sizeof(double), cmp);
  qsort(cpu, (size_t)runs, sizeof(double), cmp);
  printf("%.0f %.0f %.0f\n", wall[runs / 2], wall[0], cpu[runs / 2]);
  return 0;
}
RUNNER
cc -O2 -o "$tmp/runner" "$tmp/runner.c"

# The empty programs: one with libstdc++ only, one with exactly hsmctl's DT_NEEDED libraries.
echo 'int main() { return 0; }' >"$tmp/empty.cpp"
c++ -O2 -o "$tmp/empty-cxx" "$tmp/empty.cpp"
mapfile -t needed < <(readelf -d "$hsmctl" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
libs=()
for l in "${needed[@]}"; do libs+=("-l:$l"); done
c++ -O2 -o "$tmp/empty-same-libs" "$tmp/empty.cpp" -Wl,--no-as-needed "${libs[@]}"
cp "$hsmctl" "$tmp/hsmctl-stripped"
strip "$tmp/hsmctl-stripped"

ms() { bc <<<"scale=2; $1/1000"; }
row() {  # label, program, args...
  local label=$1 median min cpu
  shift
  read -r median min cpu < <("$tmp/runner" "$runs" "$@")
  printf '%-46s %8.2f %8.2f %8.2f\n' "$label" "$(ms "$median")" "$(ms "$min")" "$(ms "$cpu")"
}
echo "== $runs runs each, ms (wall median, wall minimum, CPU median)"
printf '%-46s %8s %8s %8s\n' "program" "wall" "min" "cpu"
row "/bin/true" /bin/true
row "empty C++ main (libstdc++ only)" "$tmp/empty-cxx"
row "empty C++ main + hsmctl's ${#needed[@]} libraries" "$tmp/empty-same-libs"
row "hsmctl version" "$hsmctl" version
row "hsmctl --help" "$hsmctl" --help
row "hsmctl version (stripped, as packaged)" "$tmp/hsmctl-stripped" version
row "hsmctl --help (stripped, as packaged)" "$tmp/hsmctl-stripped" --help
LD_BIND_NOW=1 row "hsmctl version, LD_BIND_NOW=1" "$hsmctl" version

echo
# Relocations are deterministic where times are not: the loader applies each library's
# relative ones and looks up the symbol of every other one (PLT slots lazily, unless BIND_NOW).
echo "== shared libraries: ${#needed[@]} DT_NEEDED, $(ldd "$hsmctl" | grep -c '=>') loaded"
printf '  %-36s %8s %10s %10s\n' "library" "KiB" "relative" "symbolic"
relocs() {  # file -> "relative symbolic"
  readelf -rW "$1" | awk '/R_X86_64_RELATIVE/ {r++; next} /R_X86_64_/ {s++} END {print r + 0, s + 0}'
}
for f in "$hsmctl" $(ldd "$hsmctl" | sed -n 's|.* => \([^ ]*\) .*|\1|p'); do
  read -r rel sym < <(relocs "$f")
  printf '  %-36s %8s %10s %10s\n' "$(basename "$f")" "$(($(stat -L -c %s "$f") / 1024))" "$rel" "$sym"
done
echo
echo "== dynamic loader (LD_DEBUG=statistics)"
stats() {
  LD_DEBUG=statistics "$@" 2>&1 >/dev/null | sed -n 's/^ *[0-9]*:[[:space:]]*/    /p' |
    grep -E 'total startup|needed for relocation|number of relocations:|relative relocations' |
    head -4
}
echo "  hsmctl version:"
stats "$hsmctl" version
echo "  empty C++ main with the same libraries:"
stats "$tmp/empty-same-libs"
echo
echo "== static initialisers in hsmctl"
echo "  translation units with one: $(nm "$hsmctl" | grep -c '_GLOBAL__sub_I_' || true)"
init_size=$(readelf -SW "$hsmctl" |
  sed -n 's/.* \.init_array *INIT_ARRAY *[0-9a-f]* [0-9a-f]* \([0-9a-f]*\) .*/\1/p')
echo "  .init_array entries: $((16#${init_size:-0} / 8))"
