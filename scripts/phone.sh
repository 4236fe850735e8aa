#!/usr/bin/env bash
# Sets up and runs the phone with MicroSIP.ini.example (the local "call by IP" account on
# UDP 5060, every call auto-answered; no PBX needed). Extra arguments go to microsip,
# e.g. scripts/phone.sh --bind 127.0.0.1
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/setup.sh"
cd "$repo"
cargo build --release --bin microsip
exec "$repo/target/release/microsip" --ini "$repo/MicroSIP.ini.example" "$@"
