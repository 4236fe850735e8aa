#!/usr/bin/env bash
# microsip benchmark (a script, not a test). Measures, with the release binary on 127.0.0.1:
#   1. start to REGISTER 200 (Kamailio with digest auth),
#   2. idle cost over 30 s while registered: RSS, CPU time, wakeups (context switches) per second,
#   3. INVITE-to-200 latency over 100 auto-answered SIPp calls, on the wire (tcpdump on lo).
# Needs: scripts/setup.sh --test, plus tcpdump (installed here if missing). Run as root (tcpdump).
# Usage: bench/run.sh [idle_seconds] [calls]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
idle=${1:-30}
calls=${2:-100}
source "$repo/scripts/setup.sh" --test
command -v tcpdump >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump >/dev/null
cd "$repo"
cargo build --release --bin microsip >&2
bin="$repo/target/release/microsip"

work=$(mktemp -d /tmp/microsip-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(port); pport=$(port); sport=$(port)

sed -e "s|@PORT@|$kport|g" -e "s|@CTL_SOCKET@|$work/ctl.sock|g" -e "s|@REALM@|127.0.0.1|g" \
  tests/kamailio/kamailio.cfg.in > "$work/kamailio.cfg"
kamailio -f "$work/kamailio.cfg" -DD -E -m 32 -M 8 -Y "$work" -P "$work/kamailio.pid" 2>"$work/kamailio.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/ctl.sock" ] && break; sleep 0.1; done

cat > "$work/MicroSIP.ini" <<INI
[Settings]
accountId=1
sourcePort=$pport
autoAnswer=all
autoAnswerDelay=0
[Account1]
server=127.0.0.1:$kport
domain=127.0.0.1
username=alice
password=alicepw
INI

start=$(date +%s.%N)
"$bin" --ini "$work/MicroSIP.ini" --bind 127.0.0.1 2>"$work/phone.log" &
ppid=$!; pids+=($ppid)
for _ in $(seq 200); do grep -q "registered: Account1: 200" "$work/phone.log" && break; sleep 0.005; done
end=$(date +%s.%N)
grep -q "registered: Account1: 200" "$work/phone.log" || { cat "$work/phone.log"; echo "bench: no registration" >&2; exit 1; }
echo "start_to_register_200_ms $(python3 -c "print(round(($end-$start)*1000,1))") (polled every 5 ms)"

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$ppid/stat"; }
switches() { cat /proc/$ppid/task/*/status | awk '/ctxt_switches/ {s+=$2} END {print s}'; }
sleep 2
c0=$(cpu); w0=$(switches)
sleep "$idle"
c1=$(cpu); w1=$(switches)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$ppid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ppid/status")
threads=$(ls /proc/$ppid/task | wc -l)
echo "idle_${idle}s rss_kb=$rss peak_rss_kb=$hwm threads=$threads cpu_ms=$(( (c1-c0)*1000/ticks )) wakeups_per_s=$(python3 -c "print(round(($w1-$w0)/$idle,2))")"

# INVITE-to-200 latency, SIPp calling the registered phone directly, one call at a time.
sed -e 's|<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>||' -e 's|<pause milliseconds="2000"/>|<pause milliseconds="20"/>|' \
  tests/sipp/uac_call_bye.xml > "$work/uac.xml"
tcpdump -i lo -n -s 0 -U -w "$work/sip.pcap" "udp port $pport" 2>"$work/tcpdump.log" &
tpid=$!; pids+=($tpid)
sleep 1
sipp -sf "$work/uac.xml" -s alice "127.0.0.1:$pport" -i 127.0.0.1 -p "$sport" -m "$calls" -l 1 -r 20 \
  -nostdin -trace_err -error_file "$work/sipp_err.log" >/dev/null 2>&1 || { echo "bench: SIPp failed" >&2; tail "$work/sipp_err.log" >&2; }
sleep 0.5
kill "$tpid"; wait "$tpid" 2>/dev/null || true
python3 bench/pcap_latency.py "$work/sip.pcap"
