#!/usr/bin/env bash
# Throughput and latency of the hot endpoints against `GET /healthz` in the same run (issue #9):
# authorised `GET /setup/account`, `GET /setup/organization/user`, `POST /setup/account`, the
# token grant (a programmatic user's token exchanged for a temporary token) and the password
# login (Argon2id, m=19 MiB), on each backend. `/healthz` is measured before and after the
# endpoints and their mean is the reference, so drift in a shared machine's load shows.
#
# Targets: authorised reads ≥ 0.6× /healthz; token grants ≥ 1,200/s per core; password logins
# ≥ 15/s per core. Bounded: DURATION seconds per endpoint (default 10), loopback only.
#   BACKENDS="sqlite postgres" DURATION=10 CONNECTIONS=64 LOGIN_CONNECTIONS=8 bench/throughput.sh
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-8}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=${PORT:-18510}
CORES=$(nproc)
need_wrk
build_release

EXCHANGE='urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange'
EMAIL=bench@example.com
PASSWORD='Sup3r$ecret'

bench() {
  local backend=$1 base="http://127.0.0.1:$PORT" args
  db_args "$backend"; args=("${DB_ARGS[@]}")
  start_server "$PORT" "${args[@]}"
  # An organization with its admin (a password, for the login), a few accounts and users, and a
  # programmatic user whose token is exchanged.
  bench_org "$base" "$EMAIL" "$PASSWORD"
  local token=$BENCH_TOKEN
  local auth=(-H "Authorization: Bearer $token") json=(-H 'content-type: application/json')
  local account programmatic
  account=$(curl -sf "$base/setup/account" "${auth[@]}" | sed -E 's/.*"accountId":"(act-[0-9a-f]+)".*/\1/')
  programmatic=$(curl -sf "$base/setup/user/programmatic" "${auth[@]}" "${json[@]}" \
    -d "{\"name\":\"bench-bot\",\"accounts\":[{\"id\":\"$account\",\"role\":\"viewer\"}]}" |
    sed -E 's/.*"token":"([^"]+)".*/\1/')
  lua_post "$BENCH_TMP/create.lua" application/json '{"account": {"name": "Load"}}'
  lua_post "$BENCH_TMP/grant.lua" application/x-www-form-urlencoded "grant_type=$EXCHANGE&subject_token=$programmatic"
  lua_post "$BENCH_TMP/login.lua" application/x-www-form-urlencoded \
    "grant_type=password&username=bench%40example.com&password=Sup3r%24ecret"
  # Each path answers before it is loaded (and warms the caches).
  curl -sf "$base/setup/organization/user" "${auth[@]}" >/dev/null
  curl -sf "$base/oauth/token" -d "grant_type=$EXCHANGE&subject_token=$programmatic" >/dev/null

  local rows=()
  rows+=("GET /healthz|$(wrk_run "$backend-health1" "$base/healthz" "$CONNECTIONS")")
  rows+=("GET /setup/account|$(wrk_run "$backend-accounts" "$base/setup/account" "$CONNECTIONS" "${auth[@]}")")
  rows+=("GET /setup/organization/user|$(wrk_run "$backend-users" "$base/setup/organization/user" "$CONNECTIONS" "${auth[@]}")")
  rows+=("POST /setup/account|$(wrk_run "$backend-create" "$base/setup/account" "$CONNECTIONS" "${auth[@]}" -s "$BENCH_TMP/create.lua")")
  rows+=("token grant (exchange)|$(wrk_run "$backend-grant" "$base/oauth/token" "$CONNECTIONS" -s "$BENCH_TMP/grant.lua")")
  rows+=("password login|$(wrk_run "$backend-login" "$base/oauth/token" "$LOGIN_CONNECTIONS" -s "$BENCH_TMP/login.lua")")
  rows+=("GET /healthz (again)|$(wrk_run "$backend-health2" "$base/healthz" "$CONNECTIONS")")
  stop_server

  local h1 h2 health
  h1=$(echo "${rows[0]#*|}" | cut -d' ' -f1)
  h2=$(echo "${rows[6]#*|}" | cut -d' ' -f1)
  health=$(( (h1 + h2) / 2 ))
  echo
  echo "== $backend: $(load_line); wrk -t2 -c$CONNECTIONS (logins -c$LOGIN_CONNECTIONS), ${DURATION}s each, release"
  printf '%-30s %10s %9s %9s %8s %10s\n' endpoint req/s p50_ms p99_ms ratio per_core
  for row in "${rows[@]}"; do
    local name=${row%%|*} rps p50 p99
    read -r rps p50 p99 <<<"${row#*|}"
    printf '%-30s %10s %9s %9s %8s %10s\n' "$name" "$rps" "$p50" "$p99" \
      "$(awk -v a="$rps" -v h="$health" 'BEGIN { printf "%.2f", a / h }')" \
      "$(awk -v a="$rps" -v c="$CORES" 'BEGIN { printf "%.0f", a / c }')"
  done
  echo "(ratio: against the mean /healthz of the run, $health req/s; targets: reads ≥ 0.60, token grants ≥ 1200/s per core, logins ≥ 15/s per core)"
}

for b in $BACKENDS; do bench "$b"; done
