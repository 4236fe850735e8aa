#!/usr/bin/env bash
# How long `microsip /answer`, typed in a shell, takes to put the 200 OK on the wire: process
# start, finding the running phone, the control socket round trip and PJSIP's answer included.
# Target (issue 5): at most 10 ms.
#
# A release phone runs with the local account and no auto-answer; SIPp calls it N times, one
# call at a time. For each ringing call the script notes the time, runs `microsip /answer` (a
# second process that forwards the command, as a user's shell would), and finds the 200 OK to
# that INVITE in a tcpdump capture of lo. Then `microsip /hangupall` ends the call.
# Prints count, median, p90 and max in ms. Needs: scripts/setup.sh --test, tcpdump, root.
# Usage: bench/answer_latency.sh [calls]   (CARGO_TARGET_DIR is honoured)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
calls=${1:-50}
source "$repo/scripts/setup.sh" --test
command -v tcpdump >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >/dev/null
cd "$repo"
cargo build --release --bin microsip >&2
bin="${CARGO_TARGET_DIR:-$repo/target}/release/microsip"

work=$(mktemp -d /tmp/microsip-answer-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pport=$(port); sport=$(port)
cat > "$work/MicroSIP.ini" <<INI
[Settings]
accountId=0
sourcePort=$pport
autoAnswer=
audioCodecs=PCMA/8000/1
INI

tcpdump -i lo -w "$work/sip.pcap" -U -s 0 "udp port $pport" 2>"$work/tcpdump.log" &
pids+=($!)
sleep 1
XDG_RUNTIME_DIR="$work" "$bin" --ini "$work/MicroSIP.ini" --bind 127.0.0.1 2>"$work/phone.log" &
pids+=($!)
for _ in $(seq 200); do grep -q "started: SIP" "$work/phone.log" && break; sleep 0.01; done
sipp 127.0.0.1:"$pport" -sf tests/sipp/uac_wait_bye.xml -s intercom -i 127.0.0.1 -p "$sport" \
  -m "$calls" -l 1 -r 50 -nostdin -bg >/dev/null 2>&1 || true
sipp_pid=$(pgrep -n -f "sipp 127.0.0.1:$pport" || true)
[ -n "$sipp_pid" ] && pids+=("$sipp_pid")

BENCH_DIR="$repo/bench" XDG_RUNTIME_DIR="$work" python3 - "$bin" "$work" "$calls" "$pport" <<'PY'
import os, struct, subprocess, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
from pcap_latency import packets  # noqa: E402  (the pcap reader of bench/run.sh)
bin, work, calls, pport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ini = os.path.join(work, "MicroSIP.ini")
log = os.path.join(work, "phone.log")

def ringing():
    with open(log, errors="replace") as f:
        return f.read().count("ringing (180)")

starts = []
for i in range(calls):
    deadline = time.time() + 10
    while ringing() <= i:
        if time.time() > deadline:
            sys.exit(f"bench: call {i + 1} never rang; see {log}")
        time.sleep(0.002)
    time.sleep(0.05)  # let the 180 go out; the phone is idle again
    t0 = time.time()
    rc = subprocess.run([bin, "--ini", ini, "/answer"]).returncode
    if rc != 0:
        sys.exit(f"bench: microsip /answer failed ({rc})")
    starts.append(t0)
    time.sleep(0.05)
    subprocess.run([bin, "--ini", ini, "/hangupall"], check=True)
time.sleep(1)

oks = [ts for ts, sport, payload in packets(os.path.join(work, "sip.pcap"))
       if sport == pport and payload.startswith(b"SIP/2.0 200")
       and b"INVITE" in payload.split(b"CSeq:", 1)[-1].split(b"\r\n", 1)[0]]
# The first 200 to each INVITE (retransmissions come later and are skipped).
firsts = []
for start in starts:
    after = [ts for ts in oks if ts >= start]
    if not after:
        sys.exit("bench: a 200 OK is missing from the capture")
    firsts.append((after[0] - start) * 1000)
lat = sorted(firsts)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"answer_latency_ms count={len(lat)} median={pick(0.5):.2f} p90={pick(0.9):.2f} "
      f"max={lat[-1]:.2f} (shell to 200 OK on the wire; target <= 10)")
PY
