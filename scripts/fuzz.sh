#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ at the same time, one process each, for N minutes
# (default 30), at the lowest CPU priority, and fails when any of them finds a crash.
#
#   scripts/fuzz.sh [--minutes N] [target...]      (default: every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The seeds in
# fuzz/corpus/<target>/ are read, never written: what a run learns goes to
# fuzz/target/corpus/<target>/ (kept between runs), logs to fuzz/target/logs/<target>.log,
# and a crashing input to fuzz/artifacts/<target>/ with the command that replays it in the
# log. The end prints, per target: executions, coverage (cov, ft), run time and crashes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
minutes=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
    --minutes=*) minutes=${1#--minutes=}; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$minutes" in
  ''|*[!0-9]*|0) echo "fuzz.sh: --minutes $minutes: give a whole number of minutes, 1 or more" >&2; exit 2 ;;
esac
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly) and" \
    "cargo-fuzz (cargo install cargo-fuzz)" >&2
  exit 2
fi

cd "$repo/fuzz"
known=$(cargo +nightly fuzz list)
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets <<<"$known"
fi
for t in "${targets[@]}"; do
  if ! grep -qx "$t" <<<"$known"; then
    echo "fuzz.sh: no target $t; the targets are:" $known >&2
    exit 2
  fi
done

# One build for all (AddressSanitizer, debug assertions on); the runs then start the
# binaries directly so that they do not contend for cargo's lock.
nice -n 19 cargo +nightly fuzz build
bin_dir="$repo/fuzz/target/x86_64-unknown-linux-gnu/release"
mkdir -p target/logs
seconds=$((minutes * 60))
declare -A started
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t"
  args=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="artifacts/$t/")
  [ -f "dict/$t.dict" ] && args+=(-dict="dict/$t.dict")
  echo "fuzz.sh: $t for $minutes min (log: fuzz/target/logs/$t.log)" >&2
  touch "target/logs/$t.start"
  rm -f "target/logs/$t.rc" "target/logs/$t.end"
  started[$t]=$(date +%s)
  (
    rc=0
    nice -n 19 "$bin_dir/$t" "${args[@]}" "target/corpus/$t" "corpus/$t" \
      >"target/logs/$t.log" 2>&1 || rc=$?
    date +%s >"target/logs/$t.end"
    echo "$rc" >"target/logs/$t.rc"
  ) &
done
wait

failed=()
printf '%-14s %14s %8s %8s %9s %8s\n' target executions cov ft "run (s)" crashes
for t in "${targets[@]}"; do
  log="target/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "artifacts/$t" -newer "target/logs/$t.start" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  rc=$(cat "target/logs/$t.rc")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed+=("$t")
    crashes=$((crashes > 0 ? crashes : 1))
  fi
  printf '%-14s %14s %8s %8s %9s %8s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$(($(cat "target/logs/$t.end") - ${started[$t]}))" "$crashes"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/target/logs/)" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${#targets[@]} targets, $minutes min each" >&2
