#!/usr/bin/env bash
# Runs the test suite N times in a row and prints how often each test passed; with --load, two
# CPU hogs (stress-ng --cpu 2) keep both cores busy the whole time.
# Usage: scripts/stress-tests.sh N [--load] [-- ARGS FOR EACH TEST BINARY]
# Exit code: 0 when every run passed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:?usage: scripts/stress-tests.sh N [--load]}
shift
load=0
if [ "${1:-}" = "--load" ]; then load=1; shift; fi
[ "${1:-}" = "--" ] && shift
source "$repo/scripts/setup.sh" --test
cd "$repo"
out=$(mktemp -d /tmp/microsip-stress.XXXXXX)
hog=""
if [ $load = 1 ]; then
  if ! command -v stress-ng >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends stress-ng >&2
  fi
  stress-ng --cpu 2 --quiet &
  hog=$!
  trap 'kill $hog 2>/dev/null || true' EXIT
  echo "stress: stress-ng --cpu 2 running (pid $hog)" >&2
fi
passed=0
for i in $(seq "$runs"); do
  echo "stress: run $i of $runs" >&2
  if python3 scripts/run-tests.py --results "$out/run-$i.json" -- "$@" >"$out/run-$i.log" 2>&1; then
    passed=$((passed + 1))
    echo "stress: run $i passed" >&2
  else
    echo "stress: run $i FAILED (log: $out/run-$i.log)" >&2
    sed -n '/^=== failures/,$p' "$out/run-$i.log" >&2
  fi
done
python3 - "$out" "$runs" <<'PY'
import glob, json, sys
out, runs = sys.argv[1], int(sys.argv[2])
counts, seconds = {}, {}
for path in sorted(glob.glob(f"{out}/run-*.json")):
    r = json.load(open(path))
    for t, s in r["tests"].items():
        c = counts.setdefault(t, [0, 0])
        c[0] += s == "ok"
        c[1] += s in ("ok", "FAILED", "unfinished")
    for b, v in r["binaries"].items():
        seconds.setdefault(b, []).append(v["seconds"])
print(f"\n=== passes per test ({runs} runs)")
for t in sorted(counts):
    ok, ran = counts[t]
    if ran:
        mark = "" if ok == ran else "   <-- failed"
        print(f"  {ok:3d}/{ran:<3d} {t}{mark}")
print("\n=== seconds per binary (min / max)")
for b, v in seconds.items():
    print(f"  {b}: {min(v):.1f} / {max(v):.1f}")
PY
echo "stress: $passed of $runs runs passed (logs in $out)" >&2
[ "$passed" = "$runs" ]
