#!/usr/bin/env bash
# The soak (bench/soak.py): a call every second to a release build of microsip for an hour
# (--minutes N), RSS, fds and threads sampled; exit 1 if anything grew or a call failed.
# Needs root (SIPp's RTP) and the test packages (scripts/setup.sh).
# Usage: bench/soak.sh [soak.py options, e.g. --minutes 60 --interval 10]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cargo build --release --bin microsip >&2
exec python3 "$repo/bench/soak.py" --microsip "$repo/target/release/microsip" "$@"
