# Shared by the scripts in bench/: release build, a server per backend on loopback, wrk runs
# parsed into one line each. Source it; it sets `set -euo pipefail` and cleans up on exit.
# Every run is bounded: DURATION seconds per measurement, loopback only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
BIN="$CARGO_TARGET_DIR/release/orgplane"
BENCH_TMP=$(mktemp -d /var/tmp/orgplane-bench.XXXXXX)
BENCH_PIDS=()
BENCH_DBS=()
PG_ADMIN_URL=""

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  for db in "${BENCH_DBS[@]:-}"; do
    [ -n "$db" ] && psql -q "${PG_ADMIN_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT

need_wrk() {
  command -v wrk >/dev/null && return
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

build_release() {
  [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ] && return
  cargo build --locked --release -p orgplane-cli
}

# db_args BACKEND: sets DB_ARGS to the flags that point the binary at a fresh database of
# BACKEND (a new SQLite directory, or a new PostgreSQL database dropped at exit). Not in a
# subshell: it records what to clean up.
db_args() {
  case $1 in
    sqlite)
      DB_ARGS=(--data-dir "$(mktemp -d "$BENCH_TMP/sqlite.XXXXXX")")
      ;;
    postgres)
      [ -n "$PG_ADMIN_URL" ] || PG_ADMIN_URL=$(scripts/ensure-postgres.sh)
      local name="orgplane_bench_$$_$RANDOM"
      psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $name" >/dev/null
      BENCH_DBS+=("$name")
      DB_ARGS=(--database-url "${PG_ADMIN_URL%/*}/$name")
      ;;
    *) echo "unknown backend $1 (sqlite or postgres)" >&2; exit 2 ;;
  esac
}

# start_server PORT ARGS...: starts `orgplane ARGS serve` on 127.0.0.1:PORT with the rate limit
# out of the way (still counted; BENCH_RATE_LIMIT=0 turns it off, to see what counting costs);
# sets SERVER_PID once /readyz answers.
start_server() {
  local port=$1; shift
  ORGPLANE_RATE_LIMIT_PER_MINUTE=${BENCH_RATE_LIMIT:-1000000000} ORGPLANE_LOG_LEVEL=${ORGPLANE_LOG_LEVEL:-warn} \
    "$BIN" "$@" serve --listen "127.0.0.1:$port" 2>>"$BENCH_TMP/server-$port.log" &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return
    sleep 0.05
  done
  echo "server on port $port did not become ready:" >&2
  cat "$BENCH_TMP/server-$port.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# wrk_run NAME URL CONNECTIONS [wrk args...]: runs wrk for DURATION seconds and prints
# "req/s p50 p99" (latencies in ms). Fails on socket errors or non-2xx answers.
wrk_run() {
  local name=$1 url=$2 conns=$3; shift 3
  local out="$BENCH_TMP/$name.txt"
  # The URL before the extra arguments: a script's own arguments follow `--`. `|| exit`: errexit
  # does not reach into the command substitution this runs in.
  wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s --latency "$url" "$@" >"$out" || {
    echo "$name: wrk failed:" >&2
    cat "$out" >&2
    exit 1
  }
  if grep -qE 'Non-2xx|Socket errors' "$out"; then
    echo "$name: errors in the run:" >&2
    cat "$out" >&2
    exit 1
  fi
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.2f %.2f\n", rps, p50, p99 }
  ' "$out"
}

# lua_post FILE CONTENT_TYPE BODY: a wrk script that POSTs BODY.
lua_post() {
  local file=$1 ctype=$2 body=$3
  cat >"$file" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "$ctype"
wrk.body = [==[$body]==]
EOF
}

load_line() { printf 'load average %s (%s cores, %s)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"; }

# bench_org BASE EMAIL PASSWORD: the benches' organization — registered with its admin (this
# email and password), four more accounts and four more people; sets BENCH_TOKEN to the admin's
# access token.
bench_org() {
  local base=$1 email=$2 password=$3
  curl -sf "$base/auth/register" -H 'content-type: application/json' \
    -d "{\"user\":{\"firstName\":\"B\",\"lastName\":\"Ench\",\"email\":\"$email\",\"password\":\"$password\"},\"organization\":{\"name\":\"Bench\"}}" >/dev/null
  BENCH_TOKEN=$(curl -sf "$base/oauth/token" --data-urlencode grant_type=password --data-urlencode "username=$email" \
    --data-urlencode "password=$password" | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')
  local auth=(-H "Authorization: Bearer $BENCH_TOKEN") json=(-H 'content-type: application/json') n
  for n in 1 2 3 4; do
    curl -sf "$base/setup/account" "${auth[@]}" "${json[@]}" -d "{\"account\":{\"name\":\"Bench $n\"}}" >/dev/null
    curl -sf "$base/setup/user" "${auth[@]}" "${json[@]}" \
      -d "{\"firstName\":\"U\",\"lastName\":\"Ser$n\",\"email\":\"user$n@example.com\"}" >/dev/null
  done
}
