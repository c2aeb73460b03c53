#!/usr/bin/env bash
# Instruction counts (issue #9): the policy engine (orgplane-domain, bench `policy_callgrind`) and
# the envelope encoder (orgplane-server, bench `envelope_callgrind`) run once each under
# valgrind's callgrind through gungraun. Counts do not depend on the machine's load, so a
# regression shows even on a busy machine; gungraun also prints the change since the previous
# run of the same bench on this machine.
# Installs valgrind (Debian) and the gungraun-runner of the version in Cargo.lock (cargo install,
# into its own target directory). Release profile; a few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/orgplane-target}
RUNNER_ROOT=${RUNNER_ROOT:-/var/tmp/orgplane-gungraun}

command -v valgrind >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
version=$(awk '/^name = "gungraun"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
[ -n "$version" ] || { echo "gungraun is not in Cargo.lock" >&2; exit 1; }
export GUNGRAUN_RUNNER="$RUNNER_ROOT/bin/gungraun-runner"
if [ "$("$GUNGRAUN_RUNNER" --version 2>/dev/null | awk '{ print $NF }')" != "$version" ]; then
  CARGO_TARGET_DIR="$RUNNER_ROOT/target" cargo install --quiet --locked --root "$RUNNER_ROOT" --version "$version" gungraun-runner
fi

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cargo bench --locked -p orgplane-domain --bench policy_callgrind 2>&1 | tee -a "$OUT"
cargo bench --locked -p orgplane-server --bench envelope_callgrind 2>&1 | tee -a "$OUT"

echo
echo "== instruction counts ($(date -u +%Y-%m-%d), valgrind $(valgrind --version | sed 's/valgrind-//'), gungraun $version)"
# Strip colours, then pair each benchmark's header line with its Instructions line.
sed 's/\x1b\[[0-9;]*m//g' "$OUT" | awk '
  /^[a-z_]+::[a-z_]+::[a-z_0-9]+/ { name = $1 " " $2 }
  /^ *Instructions:/ { split($2, v, "|"); printf "%-75s %14s\n", name, v[1] }
'
