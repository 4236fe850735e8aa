#!/usr/bin/env bash
# Installs what microsip needs on Debian 12 and fetches pjproject 2.17's source.
# Usage: scripts/setup.sh [--test] [--bench]   (--test adds the peers the test suite runs:
# Kamailio, SIPp, PulseAudio; --bench what bench/run.sh adds: tcpdump, baresip)
# Idempotent: installed packages are skipped, a fetched pjproject is reused.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

# libespeak-ng1, espeak-ng-data: the speech of alert calls (--alert --say); the phone loads the
# library when it first speaks (it is not linked, so no -dev package).
build_pkgs=(build-essential pkg-config clang libclang-dev xz-utils dpkg-dev ca-certificates
  libsrtp2-dev libspeex-dev libspeexdsp-dev libgsm1-dev libopus-dev libssl-dev uuid-dev libasound2-dev
  libespeak-ng1 espeak-ng-data)
# pulseaudio*, libasound2-plugins: the real-time audio tests (tests/audio_pulse.rs).
# kamailio-tls-modules, openssl: the TLS tests (a Kamailio with TLS, certificates made by the test).
# iproute2, nftables, coturn: the NAT tests (network namespaces, a NAT made with nftables, a STUN
# server).
# man-db, systemd: tests/install.rs renders the man page and verifies the units
# (systemd-analyze).
# sipvicious: tests/hostile.rs scans the phone with svmap, svwar and svcrack.
test_pkgs=(kamailio kamailio-tls-modules openssl iproute2 nftables coturn sip-tester procps python3 pulseaudio
  pulseaudio-utils libasound2-plugins man-db systemd sipvicious)

# tcpdump, baresip-core: bench/run.sh times the phones on the wire, baresip among them.
bench_pkgs=(tcpdump baresip-core)

testing=0
pkgs=("${build_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) testing=1; pkgs+=("${test_pkgs[@]}") ;;
    --bench) testing=1; pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian's kamailio package starts a system service on install; the tests run their own.
if [ "$testing" = 1 ] && command -v systemctl >/dev/null && systemctl is-active -q kamailio 2>/dev/null; then
  systemctl stop kamailio || true
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi

PJPROJECT_DIR=$("$repo/scripts/fetch-pjproject.sh")
export PJPROJECT_DIR
echo "setup: pjproject source at $PJPROJECT_DIR" >&2
