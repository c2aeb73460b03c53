#!/usr/bin/env bash
# Crash safety: writers create accounts and users at full speed while the server is SIGKILLed
# at random moments, ROUNDS times (default 20); after each restart every acknowledged write is
# present and every invariant holds (stress/crash.py lists them). Loopback only, bounded.
#
#   stress/crash.sh [sqlite|postgres|both] [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/env.sh"
backends=${1:-both}
rounds=${2:-20}
[ "$backends" = both ] && backends="sqlite postgres"
for backend in $backends; do
  echo "== crash safety on $backend: $rounds SIGKILLs"
  "$PY" stress/crash.py "$backend" "$rounds"
done
