#!/usr/bin/env bash
# Sets up and runs the whole test suite: formatting, lints, unit tests and the integration
# tests against real Kamailio, SIPp, pjproject and audio on loopback. Every step and every test
# binary runs even when an earlier one fails; the end lists each binary's time and every
# failure. Exit code 0 only when all passed.
# Extra arguments go to each test binary (e.g. a test name filter).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/setup.sh" --test
cd "$repo"
failed=()
cargo fmt --all -- --check || failed+=("cargo fmt --all -- --check")
cargo clippy --workspace --all-targets -- -D warnings || failed+=("cargo clippy -- -D warnings")
results=()
[ -n "${MICROSIP_TEST_RESULTS:-}" ] && results=(--results "$MICROSIP_TEST_RESULTS")
python3 "$repo/scripts/run-tests.py" "${results[@]}" -- "$@" || failed+=("tests (listed above)")
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "=== test.sh: everything passed" >&2
