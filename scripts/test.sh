#!/usr/bin/env bash
# The test command: builds once, runs every Rust test on SQLite and PostgreSQL, then drives the
# built server with the real Spot Python SDK and the web console with headless Chromium.
# Installs what it needs (PostgreSQL, python3 and the pinned Python peers, poppler-utils,
# chromium, Node.js with the pinned playwright-core, and the SAML build dependencies:
# libclang-dev, libxmlsec1-dev, libxml2-dev, libssl-dev, pkg-config).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if [ -z "${ORGPLANE_TEST_POSTGRES_URL:-}" ]; then
  ORGPLANE_TEST_POSTGRES_URL=$(scripts/ensure-postgres.sh)
  export ORGPLANE_TEST_POSTGRES_URL
fi
echo "== PostgreSQL leg: $ORGPLANE_TEST_POSTGRES_URL"

echo "== Python test peers (pinned): Spot SDK, moto STS emulator, aiosmtpd SMTP server"
VENV=$(scripts/python-env.sh)
export ORGPLANE_MOTO_SERVER="$VENV/bin/moto_server" ORGPLANE_PYTHON="$VENV/bin/python"

if ! command -v pdftotext >/dev/null || ! command -v pdfinfo >/dev/null; then
  echo "== poppler-utils (pdftotext, pdfinfo: the PDF bill tests read what they render)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi

if ! command -v xmlsec1 >/dev/null; then
  echo "== xmlsec1 (the pysaml2 identity provider of tests/sdk/test_saml_idp.py signs with it)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xmlsec1 >/dev/null
fi

SAML_BUILD_DEPS="libclang-dev libxmlsec1-dev libxml2-dev libssl-dev pkg-config"
missing=$(for p in $SAML_BUILD_DEPS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
  echo "== SAML build dependencies (orgplane-saml: samael's build script runs bindgen against libxmlsec1):" $missing
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v chromium >/dev/null; then
  echo "== chromium (the console's browser test drives Debian's headless Chromium)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== Node.js and npm (they run playwright-core, the browser test's driver)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "== playwright-core (pinned in tests/e2e/package-lock.json)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "== build"
cargo build --locked --workspace --all-targets

echo "== Rust tests (SQLite and PostgreSQL)"
cargo test --locked --workspace

echo "== Spot Python SDK against the built server"
ORGPLANE_BIN="$CARGO_TARGET_DIR/debug/orgplane" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk

echo "== The web console in headless Chromium (a screenshot per step in target/e2e-screenshots)"
ORGPLANE_BIN="$CARGO_TARGET_DIR/debug/orgplane" ORGPLANE_PYTHON="$VENV/bin/python" \
  node --test --test-concurrency=1 tests/e2e/console.test.mjs
