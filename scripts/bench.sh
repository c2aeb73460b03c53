#!/usr/bin/env bash
# Load benchmark on loopback (issue #2): `GET /setup/account` with a bearer token against
# `GET /healthz`, embedded SQLite, 64 connections, release build. Prints throughput, p99 and the
# throughput ratio. Bounded: DURATION seconds per endpoint (default 15), loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18181}

if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --locked --release -p orgplane-cli
BIN="$CARGO_TARGET_DIR/release/orgplane"

DATA=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
TOKEN=$("$BIN" --data-dir "$DATA" admin create-org --name Bench --email bench@example.com --json | sed -E 's/.*"token":"([^"]+)".*/\1/')
ORGPLANE_RATE_LIMIT_PER_MINUTE=1000000000 ORGPLANE_LOG_LEVEL=warn "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

run() { # name, path, extra wrk args...
  local name=$1 path=$2; shift 2
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "http://127.0.0.1:$PORT$path" > "$DATA/$name.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$DATA/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$DATA/$name.txt")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$DATA/$name.txt")
  [ -z "$non2xx" ] || { echo "$name: $non2xx non-2xx responses" >&2; cat "$DATA/$name.txt" >&2; exit 1; }
  echo "$name $rps $p99"
}

# Warm up both paths once.
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/setup/account" >/dev/null
read -r _ health_rps health_p99 < <(run healthz /healthz)
read -r _ acct_rps acct_p99 < <(run accounts /setup/account -H "Authorization: Bearer $TOKEN")

ratio=$(awk -v a="$acct_rps" -v h="$health_rps" 'BEGIN { printf "%.2f", a / h }')
echo "connections=$CONNECTIONS duration=${DURATION}s backend=sqlite build=release cores=$(nproc)"
printf '%-22s %12s %10s\n' endpoint req/s p99
printf '%-22s %12s %10s\n' "GET /healthz" "$health_rps" "$health_p99"
printf '%-22s %12s %10s\n' "GET /setup/account" "$acct_rps" "$acct_p99"
echo "throughput ratio (/setup/account ÷ /healthz): $ratio (target ≥ 0.6)"
echo "p99 /setup/account: $acct_p99 (target ≤ 5ms)"
