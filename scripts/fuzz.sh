#!/usr/bin/env bash
# Fuzzes orgplane with cargo-fuzz (libFuzzer): every target in fuzz/ (SCIM filters and PATCH,
# policy documents, SAML responses and IdP metadata, requests against the real router) runs
# for a bounded time, SECONDS per target (default 30), starting from its seed corpus
# fuzz/corpus/TARGET. New inputs go to a scratch corpus outside the tree, so the committed seeds
# stay few; a crash leaves its input in fuzz/artifacts/TARGET/ and fails the script. The
# targets run in a private network namespace with loopback only: whatever URL a fuzzed request
# names, nothing outside this machine is reached.
#
#   scripts/fuzz.sh [SECONDS]
#
# ORGPLANE_FUZZ_TARGETS="a b" picks targets (default: all). request_body links the whole server
# (typst, the AWS SDK, sqlx, …): it is built with coverage instrumentation but without
# AddressSanitizer (the server is safe Rust; ASan over its whole dependency tree made a cold
# build take well over an hour), in a target directory of its own so that later builds are
# incremental. Its cold build still takes about half an hour on two cores.
#
# Installs cargo-fuzz (and a C++ compiler for libFuzzer) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
# A target directory of its own (ORGPLANE_FUZZ_TARGET_DIR), never the main build's: the
# sanitizer and coverage flags would rebuild everything there.
export CARGO_TARGET_DIR=${ORGPLANE_FUZZ_TARGET_DIR:-/var/tmp/orgplane-target-fuzz}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# cargo-fuzz passes -Z flags (sanitizer, coverage instrumentation); the pinned stable toolchain
# accepts them this way.
export RUSTC_BOOTSTRAP=1

if ! command -v c++ >/dev/null 2>&1; then
  echo "== installing a C++ compiler (libFuzzer is built from source)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  CARGO_TARGET_DIR=/var/tmp/cargo-fuzz-install cargo install cargo-fuzz --locked --version 0.13.2
fi

# Two cargo-fuzz packages: the parsers in fuzz/, the whole server in fuzz/server/ (named with
# --fuzz-dir: from inside fuzz/server, cargo-fuzz would find fuzz/ instead).
dir_of() {
  if cargo fuzz list --fuzz-dir fuzz/server | grep -qx "$1"; then echo fuzz/server; else echo fuzz; fi
}
# The sanitizer and target directory of a target (see above).
sanitizer_of() {
  if [ "$1" = request_body ]; then echo none; else echo address; fi
}
target_dir_of() {
  if [ "$1" = request_body ]; then echo "$CARGO_TARGET_DIR-server"; else echo "$CARGO_TARGET_DIR"; fi
}
targets=${ORGPLANE_FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz; cargo fuzz list --fuzz-dir fuzz/server)}
status=0
for target in $targets; do
  echo "== build $target"
  CARGO_TARGET_DIR=$(target_dir_of "$target") \
    cargo fuzz build --fuzz-dir "$(dir_of "$target")" -s "$(sanitizer_of "$target")" "$target"
done
for target in $targets; do
  dir=$(dir_of "$target")
  work=$(mktemp -d "/var/tmp/orgplane-fuzz-$target.XXXXXX")
  log="$work.log"
  mkdir -p "$dir/corpus/$target"
  echo "== $target: ${SECONDS_PER_TARGET}s from $(find "$dir/corpus/$target" -type f | wc -l) seeds"
  if CARGO_TARGET_DIR=$(target_dir_of "$target") unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
    cargo fuzz run --fuzz-dir "$dir" -s "$(sanitizer_of "$target")" "$target" "$work" \
    "$dir/corpus/$target" -- -max_total_time="$SECONDS_PER_TARGET" -max_len=4200 -print_final_stats=1 \
    >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 5 "$log"
  else
    status=1
    tail -n 80 "$log"
    echo "!! $target failed; the input is in $dir/artifacts/$target/ (full log: $log)"
  fi
  rm -rf "$work"
  if [ "$status" -eq 0 ]; then rm -f "$log"; fi
done
exit "$status"
