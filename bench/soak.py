#!/usr/bin/env python3
"""The soak: a call every second to microsip for an hour, and whether anything grows.

microsip registers as alice with a Kamailio (digest auth) on 127.0.0.1 and answers every call
at once; SIPp (tests/sipp/uac_soak.xml) calls it directly once a second, one call at a time,
each with --hold-ms of G.711 from SIPp, then BYE. Every --interval seconds the phone's RSS
(VmRSS), open fds (/proc/PID/fd) and threads are sampled.

  start     registered, before the first call
  warm-up   after --warmup seconds of calls, once no call is left (microsip --status)
  end       after the last call, once no call is left

The run fails (exit 1) if any call failed, if the fd or thread count at the end differs from
the warm-up's, or if the RSS at the end is more than --rss-slack-kb above the warm-up's. The
summary also gives the RSS trend after the warm-up (least squares, kB per hour).

A failed run keeps its work directory (the phone's log, SIPp's statistics), as BENCH_KEEP=1
does for any run.

Usage: bench/soak.py [--microsip BIN] [--minutes 60] [--interval 10] [--warmup 120]
       [--hold-ms 500] [--rss-slack-kb 1024] [--json FILE]
Needs root (SIPp sends RTP through a raw socket), kamailio and sipp (scripts/setup.sh).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sidebyside import REPO, Kamailio, Microsip, sipp_counts, wait_for  # noqa: E402

SCENARIO = os.path.join(REPO, "tests/sipp/uac_soak.xml")


def sample(pid):
    """{rss_kb, fds, threads} of a running process."""
    status = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        status[key] = value.split()
    return {
        "rss_kb": int(status["VmRSS"][0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"][0]),
    }


def idle_sample(phone, settled=None, timeout=30, settle=10):
    """The phone's sample once it reports no call and its fd and thread counts are back to
    `settled`'s (the sound device and the media clock close after the last call's audio, on
    threads of their own), or after `settle` seconds of idling: a leak never comes back."""
    def idle():
        out = subprocess.run([phone.binary, "--ini", phone.ini, "--status"],
                             capture_output=True, text=True).stdout
        return "calls: none" in out
    wait_for("the last call to end", idle, timeout=timeout, step=0.2)
    deadline = time.monotonic() + settle
    while True:
        s = sample(phone.proc.pid)
        back = settled is None or (s["fds"], s["threads"]) == (settled["fds"], settled["threads"])
        if back or time.monotonic() >= deadline:
            return s
        time.sleep(0.2)


def start_calls(phone, calls, hold_ms, work, tag):
    """SIPp making `calls` calls at 1 per second, one at a time; returns (process, stat csv)."""
    stat = os.path.join(work, f"sipp-{tag}.csv")
    proc = subprocess.Popen(
        ["sipp", f"127.0.0.1:{phone.port}", "-sf", SCENARIO, "-s", "intercom",
         "-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", str(calls), "-r", "1", "-rp", "1000",
         "-l", "1", "-d", str(hold_ms), "-nostdin", "-trace_stat", "-stf", stat, "-fd", "5"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=open(stat + ".err", "w"),
        start_new_session=True)
    return proc, stat


def finish_calls(proc, stat, timeout):
    proc.wait(timeout)
    ok, failed = sipp_counts(stat)
    return {"exit": proc.returncode, "successful": ok, "failed": failed}


def slope_kb_per_hour(points):
    """Least-squares slope of (seconds, rss kB) points, in kB per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--microsip", default=os.path.join(REPO, "target/release/microsip"))
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=120, help="seconds")
    ap.add_argument("--hold-ms", type=int, default=500)
    ap.add_argument("--rss-slack-kb", type=int, default=1024)
    ap.add_argument("--json")
    args = ap.parse_args()
    args.microsip = os.path.abspath(args.microsip)
    total = int(args.minutes * 60)
    warm_calls = max(1, min(int(args.warmup), total // 2))
    soak_calls = max(1, total - warm_calls)

    work = tempfile.mkdtemp(prefix="microsip-soak-")
    kam = Kamailio(work)
    phone = Microsip(work, kam, args.microsip)
    result = {"minutes": args.minutes, "hold_ms": args.hold_ms, "samples": []}
    try:
        phone.start()
        def registered():
            out = subprocess.run([phone.binary, "--ini", phone.ini, "--status"],
                                 capture_output=True, text=True).stdout
            return ": registered (" in out
        wait_for("registration", registered, timeout=20, step=0.1)
        result["start"] = idle_sample(phone)
        print(f"start: {result['start']}", file=sys.stderr, flush=True)

        proc, stat = start_calls(phone, warm_calls, args.hold_ms, work, "warmup")
        result["warmup_calls"] = finish_calls(proc, stat, warm_calls * 3 + 60)
        result["warmup"] = idle_sample(phone, result["start"])
        print(f"warm-up ({warm_calls} calls): {result['warmup']} {result['warmup_calls']}",
              file=sys.stderr, flush=True)

        begin = time.monotonic()
        deadline = begin + soak_calls * 3 + 60
        proc, stat = start_calls(phone, soak_calls, args.hold_ms, work, "soak")
        next_at = begin + args.interval
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += args.interval
            if proc.poll() is not None:
                break
            s = dict(sample(phone.proc.pid), t=round(time.monotonic() - begin, 1))
            result["samples"].append(s)
            print(f"  t={s['t']:7.1f}s rss={s['rss_kb']} kB fds={s['fds']} "
                  f"threads={s['threads']}", file=sys.stderr, flush=True)
        if proc.poll() is None:
            proc.kill()
        result["soak_calls"] = finish_calls(proc, stat, 60)
        result["end"] = idle_sample(phone, result["warmup"])
    except BaseException:
        print(f"kept {work} (the phone's log is there)", file=sys.stderr)
        raise
    finally:
        phone.stop()
        kam.stop()

    warm, end = result["warmup"], result["end"]
    samples = result["samples"]
    result["rss_peak_kb"] = max([s["rss_kb"] for s in samples] + [end["rss_kb"]])
    result["rss_slope_kb_per_hour"] = round(
        slope_kb_per_hour([(s["t"], s["rss_kb"]) for s in samples]), 1)
    failures = []
    calls = (result["warmup_calls"], result["soak_calls"])
    failed = sum(c["failed"] for c in calls)
    if failed or any(c["exit"] != 0 for c in calls):
        failures.append(f"{failed} failed call(s) (SIPp exit {[c['exit'] for c in calls]})")
    for key in ("fds", "threads"):
        if end[key] != warm[key]:
            failures.append(f"{key}: {warm[key]} after the warm-up, {end[key]} at the end")
    if end["rss_kb"] > warm["rss_kb"] + args.rss_slack_kb:
        failures.append(f"RSS grew {end['rss_kb'] - warm['rss_kb']} kB after the warm-up "
                        f"(slack {args.rss_slack_kb} kB)")
    result["failures"] = failures
    ok_calls = sum(c["successful"] for c in calls)
    print(f"""
soak: {ok_calls} calls answered, {failed} failed, over {args.minutes:g} min
            RSS kB   fds  threads
start     {result['start']['rss_kb']:>8} {result['start']['fds']:>5} {result['start']['threads']:>8}
warm-up   {warm['rss_kb']:>8} {warm['fds']:>5} {warm['threads']:>8}
end       {end['rss_kb']:>8} {end['fds']:>5} {end['threads']:>8}
RSS peak {result['rss_peak_kb']} kB; trend after the warm-up {result['rss_slope_kb_per_hour']} kB/h
{'FAILED: ' + '; '.join(failures) if failures else 'ok: nothing grew, no call failed'}""")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if failures or os.environ.get("BENCH_KEEP"):
        print(f"kept {work} (the phone's log is there)", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
