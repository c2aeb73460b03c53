#!/usr/bin/env bash
# Issue #4's benchmark on loopback: password logins per second (Argon2id m=19 MiB, t=2, p=1, hashed
# on blocking threads), and `GET /setup/account` p99 idle versus while 20 logins/s run.
# Bounded: DURATION seconds per phase (default 10). Release build, embedded SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
DURATION=${DURATION:-10}
PORT=${PORT:-18520}
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --locked --release -p orgplane-cli
BIN="$CARGO_TARGET_DIR/release/orgplane"
DATA=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
ORGPLANE_RATE_LIMIT_PER_MINUTE=1000000000 ORGPLANE_LOG_LEVEL=warn "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/auth/register" -H 'content-type: application/json' -d '{"user":{"firstName":"B","lastName":"Ench","email":"bench@example.com","password":"Sup3r$ecret"},"organization":{"name":"Bench"}}' >/dev/null
TOKEN=$(curl -sf "http://127.0.0.1:$PORT/oauth/token" -d 'grant_type=password&username=bench@example.com&password=Sup3r$ecret' | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')

p99() { wrk -t2 -c64 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/setup/account" | awk '$1 == "99%" {print $2}'; }

# Logins per second with 4 concurrent clients (each login verifies an Argon2id hash).
RATE=$(python3 - "$PORT" "$DURATION" <<'PY'
import sys, threading, time, urllib.request
port, duration = int(sys.argv[1]), float(sys.argv[2])
body = b"grant_type=password&username=bench%40example.com&password=Sup3r%24ecret"
count, stop = [0], time.time() + duration
def run():
    while time.time() < stop:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/oauth/token", data=body)).read()
        count[0] += 1
threads = [threading.Thread(target=run) for _ in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print(f"{count[0] / duration:.1f}")
PY
)
IDLE=$(p99)
# 20 logins per second in the background, bounded by DURATION.
python3 - "$PORT" "$DURATION" <<'PY' &
import sys, time, urllib.request
port, duration = int(sys.argv[1]), float(sys.argv[2])
body = b"grant_type=password&username=bench%40example.com&password=Sup3r%24ecret"
start = time.time()
n = 0
while time.time() - start < duration + 1:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/oauth/token", data=body)).read()
    n += 1
    time.sleep(max(0, start + n / 20 - time.time()))
PY
LOGINS=$!
sleep 0.5
BUSY=$(p99)
wait "$LOGINS"
echo "cores=$(nproc) argon2id m=19456 KiB t=2 p=1, release, SQLite, wrk 64 connections"
echo "password logins/s (4 clients): $RATE  (per core: $(awk -v r="$RATE" -v c="$(nproc)" 'BEGIN{printf "%.1f", r/c}'))"
echo "GET /setup/account p99 idle: $IDLE; with 20 logins/s: $BUSY (target ≤ 2x idle)"
