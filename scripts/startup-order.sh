#!/usr/bin/env bash
# Writes link/startup.order: the functions the phone runs from exec to idle (first), then in
# one auto-answered call, in that order. build.rs hands the file to the linker (LLD's
# --symbol-ordering-file), which puts those functions side by side at the start of .text.
#
# Why: the kernel maps a program's code in blocks around each page it first touches. Spread
# over 5.4 MB of code, the start-up path (about 0.7 MB of functions) kept 3.2 MB of the
# binary resident for an idle phone; side by side, 0.8 MB.
#
# Run it after changes that add or rename much start-up or call code, and after any change
# of dependencies, their build (.cargo/config.toml) or the toolchain: Rust's names carry a
# hash of the build, so those changes rename every Rust function. A stale list still links;
# functions it no longer names are simply placed as the linker would (one such change left
# 549 of 1849 names stale and 1.5 MB more code resident at idle).
#   scripts/startup-order.sh
# Needs valgrind (callgrind) and sipp (scripts/setup.sh --test installs both). Loopback only.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
command -v valgrind >/dev/null || { echo "startup-order: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "startup-order: needs sipp (scripts/setup.sh --test)" >&2; exit 1; }
cargo build --release --bin microsip
bin="$repo/target/release/microsip"
work=$(mktemp -d /tmp/microsip-order.XXXXXX)
phone=""
cleanup() {
  [ -n "$phone" ] && kill "$phone" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# A registrar (SIPp) that challenges the first REGISTER and accepts the second.
cat > "$work/registrar.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="registrar with a challenge">
  <recv request="REGISTER"/>
  <send><![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="order", nonce="5b1d0e6a", algorithm=MD5, qop="auth"
      Content-Length: 0
  ]]></send>
  <recv request="REGISTER"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=300
      Content-Length: 0
  ]]></send>
</scenario>
XML
regport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sipp -sf "$work/registrar.xml" -i 127.0.0.1 -p "$regport" -m 1 -timeout 120 -timeout_error \
  -nostdin > "$work/registrar.log" 2>&1 &
registrar=$!

# The example settings (auto-answer) on a port of our own, registered, and no sound card.
sed -e 's/^sourcePort=.*/sourcePort=0/' -e 's/^accountId=.*/accountId=1/' \
  MicroSIP.ini.example > "$work/MicroSIP.ini"
printf '\n[Account1]\nserver=127.0.0.1:%s\ndomain=127.0.0.1\nusername=alice\npassword=alicepw\n' "$regport" \
  >> "$work/MicroSIP.ini"
: > "$work/asoundrc" # no ALSA devices: sounds are skipped

ALSA_CONFIG_PATH="$work/asoundrc" valgrind --tool=callgrind --demangle=no \
  --callgrind-out-file="$work/cg.%p" "$bin" --ini "$work/MicroSIP.ini" --bind 127.0.0.1 \
  --log-level info > "$work/phone.log" 2>&1 &
phone=$!
port=""
for _ in $(seq 600); do
  port=$(sed -n 's/.*started: SIP on udp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/phone.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/phone.log" >&2; echo "startup-order: the phone did not start" >&2; exit 1; }
wait "$registrar" || { cat "$work/registrar.log" >&2; echo "startup-order: no registration" >&2; exit 1; }
sleep 2 # idle for a moment: what an idle phone runs belongs with start-up
callgrind_control --dump=startup "$phone" >/dev/null
sipp -sf tests/sipp/uac_call_bye.xml -s 100 -i 127.0.0.1 -p 0 -m 1 -timeout 60 -timeout_error \
  -nostdin 127.0.0.1:"$port" > "$work/sipp.log" 2>&1 \
  || { cat "$work/sipp.log" >&2; echo "startup-order: the call failed" >&2; exit 1; }
kill -TERM "$phone"
wait "$phone" || true
phone=""

mkdir -p link
python3 - "$work" "$bin" > link/startup.order <<'EOF'
import glob, os, re, sys
work, binary = sys.argv[1], os.path.realpath(sys.argv[2])
def functions(path):
    obs, fns, cur, out = {}, {}, None, []
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, i, name = m.groups()
        table = obs if kind.endswith("ob") else fns
        if name:
            table[i] = name
        if kind == "ob":
            cur = obs.get(i)
        elif kind == "fn" and cur and os.path.realpath(cur) == binary:
            n = re.sub(r"'\d+$", "", fns[i])  # callgrind's recursion marker
            if re.match(r"^[A-Za-z_.$][\w.$]*$", n):
                out.append(n)
    return out
dumps = sorted(glob.glob(os.path.join(work, "cg.*")), key=lambda p: (not p.endswith(".1"), p))
seen, order = set(), []
for d in dumps:  # cg.PID.1 is the start-up dump, cg.PID the call and shutdown
    for n in functions(d):
        if n not in seen:
            seen.add(n)
            order.append(n)
print("# Written by scripts/startup-order.sh: start-up and idle, then one answered call.")
print("\n".join(order))
EOF
echo "startup-order: $(grep -vc '^#' link/startup.order) functions in link/startup.order" >&2
