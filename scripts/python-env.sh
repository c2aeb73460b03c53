#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv for the tests that drive orgplane with real
# third-party clients, with exactly the pinned versions. Prints the venv's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ORGPLANE_VENV:-/var/tmp/orgplane-venv}
REQS=tests/sdk/requirements.txt

if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python-env: installing python3 and venv from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
  echo "$want" > "$stamp"
fi
echo "$VENV"
