#!/usr/bin/env bash
# ITI-18 side by side in one run: two checkouts (each with its .venv), each on its own copy of the
# benchmark registry, alternating, ROUNDS rounds of bench/query_wrk.py (wrk, 8 clients).
#   bench/ab_query.sh BASE_CHECKOUT BASE_DB NEW_CHECKOUT NEW_DB [ROUNDS] [SCENARIOS] [extra env for NEW...]
# e.g. bench/ab_query.sh /tmp/base epd_bench_1m . epd_bench_1m_new 3 find-patient EPD_AUDIT=false
set -euo pipefail
base=$(cd "$1" && pwd); base_db=$2; new=$(cd "$3" && pwd); new_db=$4; rounds=${5:-3}; only=${6:-find-patient}
shift $(( $# < 6 ? $# : 6 )); extra=("$@")
run() {   # checkout db label env...
  local dir=$1 db=$2 label=$3; shift 3
  mkdir -p "/tmp/qb/$label"
  (cd "/tmp/qb/$label" && env "$@" "$dir/.venv/bin/python" "$dir/bench/query_wrk.py" \
     --database-url "postgresql+psycopg://postgres@127.0.0.1/$db" --data-dir "/tmp/qb/$label" \
     --patients 100000 --workers 2 --clients 8 --duration 20 --warmup 5 --only "$only" \
     --out "/tmp/qb/$label/bodies" --json "/tmp/qb/$label/r$r.json" 2>&1 | grep -E "c=8|machine" | sed "s/^/$label r$r: /")
}
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then run "$base" "$base_db" base; run "$new" "$new_db" new "${extra[@]}"
  else run "$new" "$new_db" new "${extra[@]}"; run "$base" "$base_db" base; fi
done
