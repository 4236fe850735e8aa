#!/usr/bin/env bash
# microsip side by side with pjsua (built from our pjproject tree, same configuration) and
# baresip (Debian), in one run: see bench/sidebyside.py for the measures. Each measure runs 3
# times with the phones interleaved; the table (medians, and microsip's ratio to each peer)
# goes to stdout and bench/results.md, every figure to bench/results.json.
# Needs root (tcpdump on lo). Installs what it needs (scripts/setup.sh --bench).
# Usage: bench/run.sh [sidebyside.py options, e.g. --runs 3 --idle 60]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/setup.sh" --bench
cd "$repo"
cargo build --release --bin microsip >&2
# pjsua from the pjproject tree pjsip-sys built for this release binary.
tree=$(ls -dt "$repo"/target/release/build/pjsip-sys-*/out/pjproject | head -1)
make -C "$tree/pjsip-apps/build" pjsua >/dev/null
pjsua=$(ls "$tree"/pjsip-apps/bin/pjsua-* | head -1)
exec python3 "$repo/bench/sidebyside.py" --microsip "$repo/target/release/microsip" \
  --pjsua "$pjsua" --baresip "$(command -v baresip)" --out "$repo/bench/results" "$@"
