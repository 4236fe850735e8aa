#!/usr/bin/env python3
"""Runs every test binary of the workspace, each to its end even when another fails, and ends
with the time each binary took and a list of every failure.

Usage: scripts/run-tests.py [--results FILE] [--timeout SECONDS] [-- ARGS FOR EACH BINARY]

- Builds the test binaries once (`cargo test --workspace --no-run`), then runs them one after
  the other with `--test-threads=2` (the integration tests start real peers; two at a time is
  what the machine's two cores carry), then the doc tests. The binaries in ALONGSIDE spend
  their time waiting (SIP's 32 s timeouts, a call a second for two minutes): they run beside
  the others from the start, their output shown when they end.
- A binary that runs longer than --timeout (default 300 s) is killed with its process group
  and counted as failed, naming the tests that had not finished.
- --results FILE writes one JSON object: {"binaries": {name: {"seconds", "status"}},
  "tests": {"binary::test": "ok" | "FAILED" | "ignored" | "unfinished"}} (used by
  scripts/stress-tests.sh to count passes per test).
Exit code: 0 when everything passed, 1 otherwise.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

# Test binaries that mostly wait, run beside the others (see the docstring).
ALONGSIDE = ("faults", "soak")

TEST_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b")
STARTED = re.compile(r"^test (\S+) has been running for over")
PANIC = re.compile(r"^thread '([^']+)'(?: \(\d+\))? panicked at (.*)$")
# Lines of a panic's message kept for the failure list (the whole output can be long, and
# what CI shows of it may be cut: the list at the end says why each test failed).
PANIC_LINES = 8


def build(repo):
    """Builds the test binaries; returns [(name, path)] in cargo's order."""
    cmd = ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, cwd=repo, stdout=subprocess.PIPE, check=False)
    if out.returncode != 0:
        print("run-tests: building the test binaries failed", file=sys.stderr)
        sys.exit(1)
    binaries = []
    for line in out.stdout.decode().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        target = msg["target"]
        kind = target["kind"][0]
        name = target["name"] if kind == "test" else f"{target['name']} ({kind})"
        binaries.append((name, exe))
    # Unit tests first (fast), then the integration binaries in name order.
    binaries.sort(key=lambda b: (not b[0].endswith(")"), b[0]))
    return binaries


def run_one(name, cmd, cwd, timeout, tests, out=None, panics=None):
    """Runs one test binary; records each test's result in `tests` and the first lines of each
    panic in `panics` ("binary::test" -> [lines]). Returns (status, seconds).
    Its output goes to stdout as it comes, or into `out` (a bytearray) when given."""
    if panics is None:
        panics = {}
    panic_of = None
    def show(data):
        if out is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            out.extend(data)

    show(f"\n=== {name}\n".encode())
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen = set()
    started = set()
    deadline = start + timeout
    timed_out = False
    os.set_blocking(proc.stdout.fileno(), False)
    pending = b""
    while True:
        chunk = None
        try:
            chunk = proc.stdout.read()
        except BlockingIOError:
            pass
        if chunk:
            show(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                m = PANIC.match(line)
                if m:
                    panic_of = f"{name}::{m.group(1)}"
                    panics.setdefault(panic_of, []).append(f"panicked at {m.group(2)}")
                    continue
                if panic_of is not None:
                    kept = panics[panic_of]
                    if not line.strip() or line.startswith("note: ") or len(kept) > PANIC_LINES:
                        panic_of = None
                    else:
                        kept.append(line[:300])
                m = TEST_LINE.match(line)
                if m:
                    tests[f"{name}::{m.group(1)}"] = m.group(2)
                    seen.add(m.group(1))
                m = STARTED.match(line)
                if m:
                    started.add(m.group(1))
        elif proc.poll() is not None:
            break
        else:
            if time.monotonic() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
    seconds = time.monotonic() - start
    if timed_out:
        for t in started - seen:
            tests[f"{name}::{t}"] = "unfinished"
        show(f"\nrun-tests: {name} killed after {timeout} s\n".encode())
        return f"timed out after {timeout} s", seconds
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode})", seconds
    return "ok", seconds


def main():
    args = sys.argv[1:]
    results_path = None
    timeout = 300.0
    extra = []
    while args:
        a = args.pop(0)
        if a == "--results":
            results_path = args.pop(0)
        elif a == "--timeout":
            timeout = float(args.pop(0))
        elif a == "--":
            extra = args
            break
        else:
            print(f"run-tests: unknown option {a}", file=sys.stderr)
            sys.exit(2)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    suite_start = time.monotonic()
    binaries = build(repo)
    tests = {}
    panics = {}
    report = {}
    beside = []
    for name, exe in [b for b in binaries if b[0] in ALONGSIDE]:
        out = bytearray()

        def work(name=name, exe=exe, out=out):
            status, seconds = run_one(
                name, [exe, "--test-threads=2", *extra], repo, timeout, tests, out, panics
            )
            report[name] = {"seconds": round(seconds, 1), "status": status}

        thread = threading.Thread(target=work)
        thread.start()
        beside.append((thread, out))
    for name, exe in [b for b in binaries if b[0] not in ALONGSIDE]:
        status, seconds = run_one(
            name, [exe, "--test-threads=2", *extra], repo, timeout, tests, panics=panics
        )
        report[name] = {"seconds": round(seconds, 1), "status": status}
    for thread, out in beside:
        thread.join()
        sys.stdout.buffer.write(bytes(out))
        sys.stdout.flush()
    status, seconds = run_one(
        "doc tests",
        ["cargo", "test", "--workspace", "--doc", "--", "--test-threads=2", *extra],
        repo,
        timeout,
        tests,
    )
    report["doc tests"] = {"seconds": round(seconds, 1), "status": status}

    total = time.monotonic() - suite_start
    print("\n=== summary: seconds per test binary")
    width = max(len(n) for n in report)
    for name, r in report.items():
        print(f"  {name:<{width}}  {r['seconds']:7.1f} s  {r['status']}")
    print(f"  {'all':<{width}}  {total:7.1f} s")
    failed_bins = [n for n, r in report.items() if r["status"] != "ok"]
    failed_tests = [t for t, s in tests.items() if s in ("FAILED", "unfinished")]
    if results_path:
        with open(results_path, "w", encoding="utf-8") as f:
            json.dump({"binaries": report, "tests": tests}, f, indent=1, sort_keys=True)
    if failed_bins:
        print("\n=== failures")
        for t in failed_tests:
            print(f"  {t}: {tests[t]}")
            for line in panics.get(t, []):
                print(f"      {line}")
        for n in failed_bins:
            print(f"  binary {n}: {report[n]['status']}")
        sys.exit(1)
    print(f"\n=== all {sum(1 for s in tests.values() if s == 'ok')} tests passed")


if __name__ == "__main__":
    main()
