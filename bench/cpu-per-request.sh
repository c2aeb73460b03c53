#!/usr/bin/env bash
# Where a request's CPU goes: for `/healthz`, `GET /setup/account` and
# `GET /setup/organization/user` under `wrk -t2 -c64`, the CPU time per request of the server,
# of wrk and of PostgreSQL's processes (from /proc), and how idle the machine was. A ratio in
# bench/throughput.sh says how far a read is from `/healthz`; this says who spends the
# difference, and whether the machine waited (idle) instead of working.
#
#   BACKENDS="sqlite postgres" DURATION=5 bench/cpu-per-request.sh
# Bounded: DURATION seconds per endpoint (default 5), loopback only.
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=${PORT:-18530}
HZ=$(getconf CLK_TCK)
need_wrk
[ -x /usr/bin/time ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
build_release

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
postgres_ticks() {
  local total=0 pid
  for pid in $(pgrep -x postgres || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
idle_ticks() { awk '/^cpu / { print $5 }' /proc/stat; }

measure() {
  local backend=$1 base="http://127.0.0.1:$PORT"
  db_args "$backend"
  start_server "$PORT" "${DB_ARGS[@]}"
  # The organization of bench/throughput.sh: five accounts, five people.
  bench_org "$base" cpu@example.com 'Sup3r$ecret'
  local auth=(-H "Authorization: Bearer $BENCH_TOKEN")
  echo "== $backend: $(load_line); wrk -t2 -c64, ${DURATION}s each, release; CPU µs per request"
  printf '%-28s %9s %8s %8s %8s %7s\n' endpoint req/s server wrk postgres idle
  local path
  for path in /healthz /setup/account /setup/organization/user; do
    curl -sf "$base$path" "${auth[@]}" >/dev/null
    local s0 p0 i0 s1 p1 i1 out="$BENCH_TMP/cpu.txt" times="$BENCH_TMP/cpu-times.txt"
    s0=$(ticks "$SERVER_PID"); p0=$(postgres_ticks); i0=$(idle_ticks)
    /usr/bin/time -f '%U %S' -o "$times" wrk -t2 -c64 -d"${DURATION}s" "$base$path" "${auth[@]}" >"$out"
    s1=$(ticks "$SERVER_PID"); p1=$(postgres_ticks); i1=$(idle_ticks)
    if grep -qE 'Non-2xx|Socket errors' "$out"; then cat "$out" >&2; exit 1; fi
    awk -v n="$(awk '/requests in/ { print $1 }' "$out")" -v rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")" \
      -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v idle=$((i1 - i0)) -v hz="$HZ" -v cores="$(nproc)" \
      -v d="$DURATION" -v path="$path" -v w="$(awk '{ print $1 + $2 }' "$times")" \
      'BEGIN { printf "%-28s %9.0f %8.1f %8.1f %8.1f %6.1f%%\n", path, rps, s / hz * 1e6 / n, w * 1e6 / n, p / hz * 1e6 / n, idle / hz / cores / d * 100 }'
  done
  stop_server
}

for b in $BACKENDS; do measure "$b"; done
