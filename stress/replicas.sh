#!/usr/bin/env bash
# Two replicas on one PostgreSQL database, hammered by concurrent clients: same emails,
# last-admin removals, default-account deletes, token revocations, the SAML replay cache and
# the API rate limit (stress/replicas.py says what must hold). Loopback only, bounded.
#
#   stress/replicas.sh [ROUNDS]      (default 20)
set -euo pipefail
source "$(dirname "$0")/env.sh"
echo "== two replicas over one PostgreSQL database"
"$PY" stress/replicas.py "${1:-20}"
