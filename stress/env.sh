# Sourced by the stress scripts: the binary to drive and the pinned Python environment.
# ORGPLANE_BIN defaults to the debug build in CARGO_TARGET_DIR (build it first).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
export ORGPLANE_BIN=${ORGPLANE_BIN:-$CARGO_TARGET_DIR/debug/orgplane}
if [ ! -x "$ORGPLANE_BIN" ]; then
  echo "no binary at $ORGPLANE_BIN (cargo build first, or set ORGPLANE_BIN)" >&2
  exit 2
fi
ORGPLANE_VENV=$(scripts/python-env.sh)
export ORGPLANE_VENV
PY="$ORGPLANE_VENV/bin/python"
# PostgreSQL for the postgres legs: a server to create throw-away databases on.
export ORGPLANE_STRESS_POSTGRES_URL=${ORGPLANE_STRESS_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
