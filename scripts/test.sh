#!/usr/bin/env bash
# Sets up and runs the whole test suite: formatting, lints, unit tests and the integration
# tests against real Kamailio, SIPp and pjproject on loopback.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/setup.sh" --test
cd "$repo"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads=2
