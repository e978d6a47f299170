#!/usr/bin/env bash
# Runs the two-tenant example (a latency-sensitive filter query and a bulk
# sliding-window query on one engine) under each scheduler given, ROUNDS
# times in turn, and prints each run's final table line for both queries.
# Summaries go to OUT (default ./two-tenants-out) as SCHED-ROUND.json.
#
#   examples/two-tenants/compare.sh [SCHEDULER...]     (default: cameo fifo)
#   ROUNDS=3 DURATION=20s examples/two-tenants/compare.sh cameo fifo protoactor
set -euo pipefail
cd "$(dirname "$0")/../.."
scheds=("$@")
[ ${#scheds[@]} -gt 0 ] || scheds=(cameo fifo)
rounds=${ROUNDS:-3}
duration=${DURATION:-20s}
out=${OUT:-two-tenants-out}
mkdir -p "$out"
go build -o "$out/cameo" ./cmd/cameo
printf '%-10s %-5s %s\n' SCHEDULER ROUND "QUERY TENANT TARGET EVENTS RESULTS P50 P99 MAX MET LATE DROPPED STATE"
for r in $(seq 1 "$rounds"); do
  for s in "${scheds[@]}"; do
    "$out/cameo" run -q --scheduler "$s" --duration "$duration" --summary "$out/$s-$r.json" \
      examples/two-tenants/alerts.yaml examples/two-tenants/analytics.yaml 2> "$out/$s-$r.txt" >/dev/null
    grep -E '^(alerts|analytics) ' "$out/$s-$r.txt" | while read -r line; do
      printf '%-10s %-5s %s\n' "$s" "$r" "$line"
    done
  done
done
