#!/usr/bin/env bash
# Benchmark: `hsmctl plan` of one initialized Pico HSM with no changes.
#   1. over the in-process simulator (--device sim:PATH)
#   2. over the real PC/SC stack: pcscd + vpcd + hsmctl-vcard (--device pcsc:)
#   3. the same status read done by OpenSC's `sc-hsm-tool` on the same virtual card
# Prints wall time per run and APDUs per run, and the ratios: hsmctl vs the protocol minimum,
# hsmctl vs sc-hsm-tool. APDUs over pcscd are counted by hsmctl-vcard (--debug logs one line per
# APDU: header and status word only). Over pcscd it also prints the median CPU time of each side
# (perf stat task-clock when perf works, else user + system), the steadier figure on a shared
# machine (it does not count waiting for a core, nor for pcscd), and the load average before and
# after. Use a RelWithDebInfo build (the default CMAKE_BUILD_TYPE).
# Usage: bench/plan_bench.sh [BUILD_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-20}
hsmctl="$build/src/hsmctl"
[ -x "$hsmctl" ] || { echo "build hsmctl first (ninja -C $build)" >&2; exit 1; }
export HSMCTL_VCARD="$build/src/hsmctl-vcard"

work=$(mktemp -d /tmp/hsmctl-bench-XXXXXX)
chmod 700 "$work"
sandbox_dir=""
cleanup() {
  [ -n "$sandbox_dir" ] && scripts/pcscd-sandbox stop --dir "$sandbox_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

serial=BE0C4B3E0C4B3E01
cat >"$work/m.yaml" <<YAML
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata: {name: bench}
spec:
  device: {serial: "$serial"}
  userPin: {secret: "env:BENCH_PIN"}
  soPin: {secret: "env:BENCH_SO"}
YAML
export BENCH_PIN=31415926 BENCH_SO=0011223344556677 NO_COLOR=1
export HSMCTL_STORE="$work/store.hsmctl" HSMCTL_STORE_KEY_FILE="$work/store.key"

now() { date +%s.%N; }
per_run_ms() { echo "scale=2; ($2 - $1) * 1000 / $runs" | bc; }

# --- 1. in-process simulator -----------------------------------------------------------------
"$hsmctl" apply -f "$work/m.yaml" --device "sim:$work/pico.json" --auto-approve >/dev/null
sim_apdus=$("$hsmctl" -v plan -f "$work/m.yaml" --device "sim:$work/pico.json" 2>&1 >/dev/null |
            sed -n 's/.*observation sent \([0-9]*\) APDUs.*/\1/p')
t0=$(now)
for _ in $(seq "$runs"); do
  "$hsmctl" plan -f "$work/m.yaml" --device "sim:$work/pico.json" --detailed-exitcode >/dev/null
done
t1=$(now)
sim_ms=$(per_run_ms "$t0" "$t1")

# --- 2./3. pcscd + vpcd + hsmctl-vcard, serving the same device state -------------------------
start_sandbox() {
  sandbox_dir="$work/sandbox-$1"
  mkdir -p "$sandbox_dir"
  scripts/pcscd-sandbox start --dir "$sandbox_dir" --state "$work/pico.json" $2 >/dev/null 2>&1 ||
    { echo "cannot start the pcscd sandbox (scripts/pcscd-sandbox start)" >&2; exit 1; }
  export PCSCLITE_CSOCK_NAME="$sandbox_dir/pcscd.comm"
}
stop_sandbox() { scripts/pcscd-sandbox stop --dir "$sandbox_dir" >/dev/null 2>&1 || true; sandbox_dir=""; }
# Every slot: the by-serial probe also asks the sandbox's second card (slot 1, not an HSM).
count_apdus() { grep -c 'slot [0-9]*: APDU' "$sandbox_dir/vcard.log" || true; }
count_slot0() { grep -c 'slot 0: APDU' "$sandbox_dir/vcard.log" || true; }

# Counting run (vcard logs APDU headers; pcscd debug logging on), then a clean timing run.
start_sandbox count --debug
"$hsmctl" plan -f "$work/m.yaml" --device pcsc: >/dev/null 2>&1 || true  # warm-up
c0=$(count_apdus); s0=$(count_slot0)
reported=$("$hsmctl" -v plan -f "$work/m.yaml" --device pcsc: 2>&1 >/dev/null |
           sed -n 's/.*observation sent \([0-9]*\) APDUs.*/\1/p')
c1=$(count_apdus); s1=$(count_slot0)
pcsc_apdus=$((c1 - c0))
pcsc_hsm_apdus=$((s1 - s0))
c0=$(count_apdus); sc-hsm-tool --reader 0 >/dev/null 2>&1; c1=$(count_apdus)
tool_apdus=$((c1 - c0))
stop_sandbox

start_sandbox time ""
"$hsmctl" plan -f "$work/m.yaml" --device pcsc: >/dev/null
# Interleaved (hsmctl, sc-hsm-tool, hsmctl, ...) and reported as medians, so a change in the
# machine's load during the run affects both sides alike.
ns() { date +%s%N; }
load_before=$(cut -d' ' -f1 /proc/loadavg)
: >"$work/t_hsmctl"
: >"$work/t_tool"
: >"$work/c_hsmctl"
: >"$work/c_tool"
# CPU time of each run in a second pass of the same interleaving, so the wall-time runs carry no
# extra process: perf stat's task-clock when perf can count (exact), else bash's `time` (user +
# system, which the kernel may account in whole ticks).
if command -v perf >/dev/null && perf stat -x, -e task-clock -o /dev/null true 2>/dev/null; then
  cpu_source="perf stat task-clock"
  cpu_ms() {
    local out=$1
    shift
    perf stat -x, -e task-clock -o "$work/perf.out" -- "$@" >/dev/null 2>&1 || true
    grep task-clock "$work/perf.out" | cut -d, -f1 >>"$out"
  }
else
  cpu_source="user + system (bash time)"
  TIMEFORMAT='%3U %3S'
  cpu_ms() {
    local out=$1
    shift
    { time "$@" >/dev/null 2>&1; } 2>"$work/time.out" || true
    awk '{printf "%.3f\n", ($1 + $2) * 1000}' "$work/time.out" >>"$out"
  }
fi
for _ in $(seq "$runs"); do
  t0=$(ns)
  "$hsmctl" plan -f "$work/m.yaml" --device pcsc: --detailed-exitcode >/dev/null
  t1=$(ns)
  sc-hsm-tool --reader 0 >/dev/null 2>&1
  t2=$(ns)
  echo $(((t1 - t0) / 1000)) >>"$work/t_hsmctl"
  echo $(((t2 - t1) / 1000)) >>"$work/t_tool"
done
for _ in $(seq "$runs"); do
  cpu_ms "$work/c_hsmctl" "$hsmctl" plan -f "$work/m.yaml" --device pcsc: --detailed-exitcode
  cpu_ms "$work/c_tool" sc-hsm-tool --reader 0
done
load_after=$(cut -d' ' -f1 /proc/loadavg)
median_ms() { sort -n "$1" | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f", m / 1000}'; }
cpu_median_ms() { awk '{printf "%d\n", $1 * 1000}' "$1" >"$1.us"; median_ms "$1.us"; }
pcsc_ms=$(median_ms "$work/t_hsmctl")
tool_ms=$(median_ms "$work/t_tool")
pcsc_cpu=$(cpu_median_ms "$work/c_hsmctl")
tool_cpu=$(cpu_median_ms "$work/c_tool")
# Instructions executed (valgrind callgrind, every thread, start-up included): the same on a
# loaded machine as on an idle one, so it shows where the work is when the clock cannot
# (valgrind is optional: apt-get install valgrind).
ir_hsmctl="-" ir_tool="-" ir_start="-"
if command -v valgrind >/dev/null; then
  instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | tail -1
  }
  ir_hsmctl=$(instructions "$hsmctl" plan -f "$work/m.yaml" --device pcsc: --detailed-exitcode)
  ir_tool=$(instructions sc-hsm-tool --reader 0)
  ir_start=$(instructions "$hsmctl" version)
fi
stop_sandbox

# The protocol minimum to read the state without credentials: SELECT, VERIFY status 81 and 88,
# TokenInfo (serial), key-domain status until 6A86 (2 for one domain), PKA status = 7.
# Deciding "no changes" also needs one VERIFY per PIN, the re-SELECT + status that reads the
# retry maximum, and the object list + device certificate for what a re-init would lose.
minimum=7
ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\nplan of one Pico HSM with no changes, %s runs each (pcscd rows: median of interleaved runs)\n\n' "$runs"
printf '%-40s %10s %8s\n' "what" "ms/run" "APDUs"
printf '%-40s %10s %8s\n' "hsmctl plan, in-process simulator" "$sim_ms" "$sim_apdus"
printf '%-40s %10s %8s\n' "hsmctl plan, pcscd + vpcd + vcard" "$pcsc_ms" "$pcsc_apdus"
printf '%-40s %10s %8s\n' "  of which to the Pico HSM (slot 0)" "-" "$pcsc_hsm_apdus"
printf '%-40s %10s %8s\n' "sc-hsm-tool status, same card" "$tool_ms" "$tool_apdus"
printf '%-40s %10s %8s\n' "protocol minimum (status only)" "-" "$minimum"
printf '\nCPU median ms/run over pcscd (%s): hsmctl %s, sc-hsm-tool %s (ratio %s)\n' \
  "$cpu_source" "$pcsc_cpu" "$tool_cpu" "$(ratio "$pcsc_cpu" "$tool_cpu")"
printf 'load average (1 min) before / after the pcscd runs: %s / %s (2 cores)\n' \
  "$load_before" "$load_after"
if [ "$ir_hsmctl" != "-" ]; then
  printf 'instructions (callgrind, all threads): hsmctl plan %s M (of which start-up, as `hsmctl version`, %s M), sc-hsm-tool %s M (ratio %s)\n' \
    "$(echo "scale=1; $ir_hsmctl / 1000000" | bc)" "$(echo "scale=1; $ir_start / 1000000" | bc)" \
    "$(echo "scale=1; $ir_tool / 1000000" | bc)" "$(echo "scale=2; $ir_hsmctl / $ir_tool" | bc)"
else
  echo "instructions: valgrind not installed, not counted"
fi
printf '\nhsmctl -v reported %s APDUs over pcscd; the cards counted %s (must be equal)\n' \
  "$reported" "$pcsc_apdus"
printf '\nratios: hsmctl/minimum APDUs %s; hsmctl/sc-hsm-tool APDUs to the HSM %s, time %s; pcsc/sim time %s\n' \
  "$(ratio "$pcsc_hsm_apdus" "$minimum")" "$(ratio "$pcsc_hsm_apdus" "$tool_apdus")" \
  "$(ratio "$pcsc_ms" "$tool_ms")" "$(ratio "$pcsc_ms" "$sim_ms")"
if [ "$reported" != "$pcsc_apdus" ]; then
  echo "hsmctl's own APDU count disagrees with the cards' count" >&2
  exit 1
fi
