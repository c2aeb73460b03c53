#!/usr/bin/env bash
# Scale (issue #9): one organization seeded with `orgplane admin seed` to SMALL_USERS users and
# SMALL_ACCOUNTS accounts, then to USERS and ACCOUNTS (default 1,000 → 1,000,000 users and
# 100 → 100,000 accounts). At each size the listings are walked page by page through the API
# (which checks that the walk sees every row once) and then loaded with wrk: each request asks
# for one page of PAGE items at a cursor picked at random along the list (first page included).
# Prints the seeding rates and the p99 of a page at both sizes; target: large ≤ 1.5× small.
#   BACKENDS="sqlite postgres" USERS=1000000 ACCOUNTS=100000 DURATION=10 bench/scale.sh
source "$(dirname "$0")/lib.sh"
SMALL_USERS=${SMALL_USERS:-1000}
SMALL_ACCOUNTS=${SMALL_ACCOUNTS:-100}
USERS=${USERS:-1000000}
ACCOUNTS=${ACCOUNTS:-100000}
PAGE=${PAGE:-100}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PORT=${PORT:-18550}
need_wrk
build_release

cat >"$BENCH_TMP/pages.lua" <<'EOF'
-- Each request: one page at a random position (a line of the file given after --).
local paths = {}
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(os.time() + #paths)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
EOF

# walk PATH KEY EXPECTED WALK_LIMIT OUT: pages through PATH, checks it sees EXPECTED distinct
# items, writes one request line per page start (PAGE items each) to OUT; prints pages/s.
walk() {
  python3 - "http://127.0.0.1:$PORT" "$TOKEN" "$@" "$PAGE" <<'PY'
import json, sys, time, urllib.parse, urllib.request
base, token, path, key, expected, walk_limit, out, page = sys.argv[1:9]
seen, cursors, cursor, pages = set(), [None], None, 0
start = time.perf_counter()
while True:
    q = {"limit": walk_limit, **({"cursor": cursor} if cursor else {})}
    req = urllib.request.Request(f"{base}{path}?{urllib.parse.urlencode(q)}", headers={"Authorization": f"Bearer {token}"})
    body = json.load(urllib.request.urlopen(req, timeout=120))["response"]
    pages += 1
    for item in body["items"]:
        if item[key] in seen:
            sys.exit(f"{path}: {item[key]} seen twice")
        seen.add(item[key])
    cursor = body.get("paginationInfo", {}).get("nextCursor")
    if not cursor:
        break
    cursors.append(cursor)
elapsed = time.perf_counter() - start
if len(seen) != int(expected):
    sys.exit(f"{path}: walked {len(seen)} items, expected {expected}")
with open(out, "w") as f:
    for c in cursors:
        f.write(f"{path}?limit={page}" + (f"&cursor={c}" if c else "") + "\n")
print(f"{pages / elapsed:.0f}")
PY
}

seed() { # USERS ACCOUNTS: adds that many; prints the command's own line (with rows/s)
  "$BIN" "${ARGS[@]}" admin seed --org "$ORG" --users "$1" --accounts "$2" | tail -n 1
}

measure() { # SIZE USERS ACCOUNTS: walks and loads both listings; appends rows to RESULTS
  local size=$1 users=$2 accounts=$3 walk_limit=$PAGE
  [ "$users" -gt 100000 ] && walk_limit=1000
  if [ "$BACKEND" = postgres ]; then psql -q "${ARGS[1]}" -c "ANALYZE" >/dev/null; fi
  start_server "$PORT" "${ARGS[@]}"
  local upps apps u a
  upps=$(walk /setup/organization/user userId "$users" "$walk_limit" "$BENCH_TMP/users-$size.txt")
  apps=$(walk /setup/account accountId "$accounts" "$(( accounts > 10000 ? 1000 : PAGE ))" "$BENCH_TMP/accounts-$size.txt")
  u=$(wrk_run "$BACKEND-users-$size" "http://127.0.0.1:$PORT/" "$CONNECTIONS" -H "Authorization: Bearer $TOKEN" \
    -s "$BENCH_TMP/pages.lua" -- "$BENCH_TMP/users-$size.txt")
  a=$(wrk_run "$BACKEND-accounts-$size" "http://127.0.0.1:$PORT/" "$CONNECTIONS" -H "Authorization: Bearer $TOKEN" \
    -s "$BENCH_TMP/pages.lua" -- "$BENCH_TMP/accounts-$size.txt")
  stop_server
  RESULTS+=("users $size $users $u $upps" "accounts $size $accounts $a $apps")
}

for BACKEND in $BACKENDS; do
  db_args "$BACKEND"; ARGS=("${DB_ARGS[@]}")
  created=$("$BIN" "${ARGS[@]}" admin create-org --name Scale --email scale@example.com --json)
  ORG=$(echo "$created" | sed -E 's/.*"organizationId":"([0-9]+)".*/\1/')
  TOKEN=$(echo "$created" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  RESULTS=()
  small_seed=$(seed $((SMALL_USERS - 1)) $((SMALL_ACCOUNTS - 1)))
  measure small "$SMALL_USERS" "$SMALL_ACCOUNTS"
  big_seed=$(seed $((USERS - SMALL_USERS)) $((ACCOUNTS - SMALL_ACCOUNTS)))
  measure large "$USERS" "$ACCOUNTS"
  echo
  echo "== $BACKEND: $(load_line); release; wrk -t2 -c$CONNECTIONS ${DURATION}s, pages of $PAGE at random cursors"
  echo "seeding to small: $small_seed"
  echo "seeding to large: $big_seed"
  printf '%-10s %-6s %10s %9s %9s %9s %14s\n' listing size rows req/s p50_ms p99_ms walk_pages/s
  for r in "${RESULTS[@]}"; do
    read -r listing size rows rps p50 p99 wps <<<"$r"
    printf '%-10s %-6s %10s %9s %9s %9s %14s\n' "$listing" "$size" "$rows" "$rps" "$p50" "$p99" "$wps"
  done
  for listing in users accounts; do
    small=$(printf '%s\n' "${RESULTS[@]}" | awk -v l="$listing" '$1 == l && $2 == "small" { print $6 }')
    large=$(printf '%s\n' "${RESULTS[@]}" | awk -v l="$listing" '$1 == l && $2 == "large" { print $6 }')
    echo "$listing: p99 large / small = $(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.2f", a / b }') (target ≤ 1.5)"
  done
done
