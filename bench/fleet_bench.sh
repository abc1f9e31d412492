#!/usr/bin/env bash
# Benchmark: plan and apply at fleet size (issue 13). For each N, N simulated Pico HSMs
# (one manifest each, `--device NAME=sim:PATH`), one credential store:
#   apply from factory-fresh, then a no-change plan (the devices are converged).
# Prints seconds per command and the growth ratios (plan N / plan 1 device, and between the
# sizes). Usage: bench/fleet_bench.sh [BUILD_DIR] [N ...]   (default N: 1 10 100)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 10 100)
hsmctl="$build/src/hsmctl"
[ -x "$hsmctl" ] || { echo "build hsmctl first (ninja -C $build)" >&2; exit 1; }

work=$(mktemp -d /tmp/hsmctl-fleet-XXXXXX)
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
export FLEET_PIN=31415926 FLEET_SO=0011223344556677 NO_COLOR=1

now() { date +%s.%N; }
seconds() { echo "scale=3; ($2 - $1) / 1" | bc; }

printf '%8s %12s %12s %10s\n' devices "apply (s)" "plan (s)" "apply/plan"
prev_plan=""
prev_n=""
for n in "${sizes[@]}"; do
  dir="$work/n$n"
  mkdir -p "$dir/m"
  devices=()
  for i in $(seq 1 "$n"); do
    serial=$(printf 'FE%014X' "$i")
    cat >"$dir/m/d$i.yaml" <<YAML
apiVersion: hsmctl.dev/v1alpha1
kind: PicoHSM
metadata: {name: d$i}
spec:
  device: {serial: "$serial"}
  userPin: {secret: "env:FLEET_PIN"}
  soPin: {secret: "env:FLEET_SO"}
YAML
    devices+=(--device "d$i=sim:$dir/d$i.json")
  done
  export HSMCTL_STORE="$dir/store.hsmctl" HSMCTL_STORE_KEY_FILE="$dir/store.key"
  t0=$(now)
  "$hsmctl" apply -f "$dir/m" "${devices[@]}" --auto-approve >/dev/null 2>"$dir/apply.err" ||
    { echo "apply of $n devices failed:" >&2; cat "$dir/apply.err" >&2; exit 1; }
  t1=$(now)
  "$hsmctl" plan -f "$dir/m" "${devices[@]}" --detailed-exitcode >/dev/null 2>"$dir/plan.err" ||
    { echo "plan of $n converged devices did not say 'no changes' (exit $?):" >&2; cat "$dir/plan.err" >&2; exit 1; }
  t2=$(now)
  apply_s=$(seconds "$t0" "$t1")
  plan_s=$(seconds "$t1" "$t2")
  printf '%8d %12s %12s %10s\n' "$n" "$apply_s" "$plan_s" "$(echo "scale=2; $apply_s / $plan_s" | bc)"
  if [ -n "$prev_plan" ]; then
    echo "         plan growth $prev_n -> $n devices: $(echo "scale=2; $plan_s / $prev_plan" | bc)x (linear: $(echo "scale=1; $n / $prev_n" | bc)x)"
  fi
  prev_plan=$plan_s
  prev_n=$n
done
