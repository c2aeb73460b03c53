#!/usr/bin/env bash
# Soak: mixed load for SECONDS (default 600) with CLIENTS clients (default 4); 0 errors and the
# server's RSS flat within 10 % after a warm-up (stress/soak.py). Loopback only, bounded.
#
#   stress/soak.sh [sqlite|postgres] [SECONDS] [CLIENTS]
set -euo pipefail
source "$(dirname "$0")/env.sh"
echo "== soak on ${1:-sqlite}: ${2:-600}s, ${3:-4} clients"
"$PY" stress/soak.py "${1:-sqlite}" "${2:-600}" "${3:-4}"
