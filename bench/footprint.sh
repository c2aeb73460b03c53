#!/usr/bin/env bash
# Footprint (issue #9): start to ready and idle memory of the release server, per backend.
# - start → ready: from exec to the first 200 of `/readyz` (a database round trip), on a fresh
#   database (every migration applied during the start) and on a restart (migrations already
#   applied); best and median of RUNS starts;
# - idle RSS: VmRSS IDLE seconds after ready, then again after a short burst of authorised
#   requests (BURST seconds of wrk), once the server is idle again.
# Targets: idle RSS ≤ 30 MB; start → ready ≤ 0.5 s with migrations applied.
#   BACKENDS="sqlite postgres" RUNS=5 IDLE=5 BURST=5 bench/footprint.sh
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
IDLE=${IDLE:-5}
BURST=${BURST:-5}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=${PORT:-18540}
need_wrk
build_release

# Prints the seconds from exec to a 200 from /readyz, leaving the server running (pid in $BENCH_TMP/pid).
time_to_ready() {
  python3 - "$BIN" "$PORT" "$BENCH_TMP/pid" "$BENCH_TMP/server-$PORT.log" "$@" <<'PY'
import http.client, os, subprocess, sys, time
bin, port, pidfile, log, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
env = dict(os.environ, ORGPLANE_LOG_LEVEL="warn", ORGPLANE_RATE_LIMIT_PER_MINUTE="1000000000")
start = time.perf_counter()
p = subprocess.Popen([bin, *args, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                     stdout=subprocess.DEVNULL, stderr=open(log, "a"), start_new_session=True)
open(pidfile, "w").write(str(p.pid))
while time.perf_counter() - start < 20:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            print(f"{time.perf_counter() - start:.3f}")
            sys.exit(0)
    except OSError:
        pass
    if p.poll() is not None:
        sys.exit(f"server exited with {p.returncode}")
    time.sleep(0.002)
sys.exit("not ready after 20 s")
PY
}

stop() {
  local pid; pid=$(cat "$BENCH_TMP/pid")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
}

trap '[ -f "$BENCH_TMP/pid" ] && stop; bench_cleanup' EXIT

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f %.3f\n", v[1], v[int((NR + 1) / 2)] }'; }

bench() {
  local backend=$1 args fresh=() restart=()
  for _ in $(seq 1 "$RUNS"); do
    db_args "$backend"; args=("${DB_ARGS[@]}")
    fresh+=("$(time_to_ready "${args[@]}")"); stop
    restart+=("$(time_to_ready "${args[@]}")"); stop
  done
  # Memory: a fresh start, idle; then a burst of authorised reads and writes; then idle again.
  local token pid idle_rss busy_rss peak
  db_args "$backend"; args=("${DB_ARGS[@]}")
  token=$("$BIN" "${args[@]}" admin create-org --name Bench --email bench@example.com --json |
    sed -E 's/.*"token":"([^"]+)".*/\1/')
  time_to_ready "${args[@]}" >/dev/null
  pid=$(cat "$BENCH_TMP/pid")
  sleep "$IDLE"
  idle_rss=$(rss_mb "$pid")
  DURATION=$BURST wrk_run "$backend-burst" "http://127.0.0.1:$PORT/setup/account" 64 -H "Authorization: Bearer $token" >/dev/null
  sleep "$IDLE"
  busy_rss=$(rss_mb "$pid")
  peak=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
  stop
  read -r fresh_best fresh_median < <(printf '%s\n' "${fresh[@]}" | stats)
  read -r restart_best restart_median < <(printf '%s\n' "${restart[@]}" | stats)
  echo
  echo "== $backend: $(load_line); release; $RUNS starts each"
  printf '%-44s %10s %10s\n' measure best median
  printf '%-44s %10s %10s\n' "start → ready, fresh database (migrating), s" "$fresh_best" "$fresh_median"
  printf '%-44s %10s %10s\n' "start → ready, migrated database, s" "$restart_best" "$restart_median"
  printf '%-44s %10s\n' "idle RSS after start, MB" "$idle_rss"
  printf '%-44s %10s\n' "idle RSS after ${BURST}s of load, MB" "$busy_rss"
  printf '%-44s %10s\n' "peak RSS (VmHWM), MB" "$peak"
  echo "(targets: idle RSS ≤ 30 MB; start → ready ≤ 0.5 s)"
}

for b in $BACKENDS; do bench "$b"; done
