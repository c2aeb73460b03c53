#!/usr/bin/env bash
# Issue #6's benchmark: the monthly bill (`GET /billing/bills`) over RECORDS usage records of one
# organization (default 10 million, 10 accounts × 5 products × 28 days), against the database's
# own aggregate query for the same month, on SQLite and on PostgreSQL, release build. Each is
# timed three times and the best kept. Prints seconds, the ratio (target ≤ 2×) and the server's
# peak memory. Seeding 10 million rows takes minutes per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
RECORDS=${RECORDS:-10000000}
MONTH=${MONTH:-2026-10}
PORT=${PORT:-18530}
BACKENDS=${BACKENDS:-"sqlite postgres"}
cargo build --locked --release -p orgplane-cli
BIN="$CARGO_TARGET_DIR/release/orgplane"
RAW="SELECT SUBSTR(day, 1, 7), account_id, product, SUM(vcpu_milli_hours), SUM(on_demand_cost_cents), SUM(actual_cost_cents) FROM usage_records WHERE organization_id = %s AND day >= '$MONTH-01' AND day < '$MONTH-32' GROUP BY 1, 2, 3"

bench() {
  local backend=$1 dir db_args=() pg_url="" db_name=""
  dir=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    local admin_url; admin_url=$(scripts/ensure-postgres.sh)
    db_name="orgplane_bench_$RANDOM$RANDOM"
    psql -q "$admin_url" -c "CREATE DATABASE $db_name" >/dev/null
    pg_url="${admin_url%/*}/$db_name"
    db_args=(--database-url "$pg_url")
  else
    db_args=(--data-dir "$dir")
  fi
  local org_json org token
  org_json=$("$BIN" "${db_args[@]}" admin create-org --name Bench --email bench@example.com --json)
  org=$(echo "$org_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["organizationId"])')
  token=$(echo "$org_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  ORGPLANE_LOG_LEVEL=warn "$BIN" "${db_args[@]}" serve --listen "127.0.0.1:$PORT" 2>"$dir/server.log" &
  local server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  for n in $(seq 2 10); do
    curl -sf "http://127.0.0.1:$PORT/setup/account" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"account\": {\"name\": \"Bench $n\"}}" >/dev/null
  done
  "$BIN" "${db_args[@]}" usage seed --org "$org" --month "$MONTH" --records "$RECORDS"
  local raw_best bill_best
  if [ "$backend" = postgres ]; then
    psql -q "$pg_url" -c "VACUUM ANALYZE usage_records" >/dev/null
    raw_best=$(for _ in 1 2 3; do psql -q "$pg_url" -c '\timing on' -c "$(printf "$RAW" "$org")" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'; done | sort -n | head -1)
    raw_best=$(python3 -c "print($raw_best / 1000)")
  else
    raw_best=$(python3 - "$dir/orgplane.db" "$(printf "$RAW" "$org")" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
best = min((lambda t: (db.execute(sys.argv[2]).fetchall(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(best)
PY
)
  fi
  bill_best=$(for _ in 1 2 3; do curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/billing/bills?month=$MONTH" -H "Authorization: Bearer $token"; done | sort -n | head -1)
  local lines rss
  lines=$(curl -sf "http://127.0.0.1:$PORT/billing/bills?month=$MONTH" -H "Authorization: Bearer $token" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["response"]["items"][0]["lines"]))')
  rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$server/status")
  kill "$server"; wait "$server" 2>/dev/null || true
  printf '%-9s records=%s bill lines=%s  raw query %.3f s  bill %.3f s  ratio %.2f (target ≤ 2)  server peak RSS %s\n' \
    "$backend" "$RECORDS" "$lines" "$raw_best" "$bill_best" "$(python3 -c "print($bill_best / $raw_best)")" "$rss"
  [ -n "$db_name" ] && psql -q "${pg_url%/*}/postgres" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null
  rm -rf "$dir"
}

for b in $BACKENDS; do bench "$b"; done
