#!/usr/bin/env python3
"""microsip side by side with pjsua (built from our pjproject tree) and baresip (Debian).

Every phone registers as alice with the same Kamailio (digest auth) on 127.0.0.1 and answers
every call at once; each measure runs --runs times, the phones interleaved (run 1: microsip,
pjsua, baresip; run 2: ...), and the report gives each phone's median and microsip's ratio to
each peer (below 1: microsip is smaller or faster). Measures:

  idle_rss_kb, idle_pss_kb, threads   registered, no call (/proc: VmRSS, smaps_rollup Pss)
  idle_cpu_ms, idle_wakeups_per_s     over --idle seconds (utime+stime; context switches of
                                      every thread, the kernel's count of wake-ups)
  register_ms                         process start to the registrar's 200 to REGISTER, on
                                      the wire (tcpdump); the median of --register-starts
                                      starts (7) in each run
  invite_to_200_ms                    median over --calls calls from SIPp, one at a time, on
                                      the wire
  max_call_rate                       the highest SIPp call rate (steps of 5 s) with 0 failed
                                      calls; cpu_percent_at_max and rss_kb_after_rate with it;
                                      then 5 s more at that rate, and --settle seconds (60)
                                      after it rss_kb_settled_after_rate, rss_settled_to_idle
                                      its ratio to idle RSS (settle_load_failed: that load's
                                      failed calls)
  max_concurrent_rtp                  the most concurrent calls with RTP both ways (SIPp plays
                                      G.711 into each, the phone sends its own) with 0 failed
                                      calls; cpu_ms_per_call_per_s at that step
  cli_to_invite_ms                    a command to call someone (microsip: a second process,
                                      MicroSIP's command line; pjsua, baresip: their console)
                                      to the INVITE on the wire
  binary_kb                           the executable (stripped copies for microsip)

Usage: bench/sidebyside.py --microsip BIN --pjsua BIN [--baresip BIN] [--runs 3] [--idle 60]
       [--register-starts 7] [--calls 200] [--settle 60] [--out bench/results] [--skip MEASURE,...]
Writes OUT.md (the table) and OUT.json (every run's figures).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcap_latency import header, packets  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
G711_PCAP = "/usr/share/sip-tester/g711a.pcap"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, check, timeout=20.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = check()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


class Kamailio:
    def __init__(self, work):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kam-", dir=work)
        cfg = open(os.path.join(REPO, "tests/kamailio/kamailio.cfg.in")).read()
        cfg = (cfg.replace("@PORT@", str(self.port))
               .replace("@CTL_SOCKET@", os.path.join(self.dir, "ctl.sock"))
               .replace("@REALM@", "127.0.0.1"))
        path = os.path.join(self.dir, "kamailio.cfg")
        open(path, "w").write(cfg)
        # 256 MB of shared and 32 MB of private memory: with 32 and 8, the registrar itself
        # failed calls past 128 concurrent ones, for every phone.
        self.proc = subprocess.Popen(
            ["kamailio", "-f", path, "-DD", "-E", "-m", "256", "-M", "32", "-Y", self.dir,
             "-P", os.path.join(self.dir, "k.pid")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"),
            start_new_session=True)
        wait_for("kamailio", lambda: os.path.exists(os.path.join(self.dir, "ctl.sock")))

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()


class Capture:
    """tcpdump on lo for UDP `ports`, into a pcap file, until stop()."""

    def __init__(self, work, ports):
        fd, self.path = tempfile.mkstemp(suffix=".pcap", dir=work)
        os.close(fd)
        flt = " or ".join(f"udp port {p}" for p in ports)
        self.err = self.path + ".log"
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-s", "0", "-U", "-w", self.path, flt],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))
        wait_for("tcpdump", lambda: "listening on" in open(self.err).read())

    def stop(self):
        time.sleep(0.3)  # the last packets reach the file
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()
        return list(packets(self.path))


def messages(pkts):
    for ts, sport, payload in pkts:
        msg = payload.decode("utf-8", "replace")
        if msg.startswith(("SIP/2.0 ", "INVITE ", "REGISTER ", "ACK ", "BYE ", "OPTIONS ")):
            yield ts, sport, msg


def proc_stat(pid):
    """(cpu ticks, context switches of all threads, threads, rss kB, pss kB)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    switches = 0
    tasks = os.listdir(f"/proc/{pid}/task")
    for t in tasks:
        try:
            for line in open(f"/proc/{pid}/task/{t}/status"):
                if "ctxt_switches" in line:
                    switches += int(line.split()[1])
        except OSError:
            pass
    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
    pss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup")
               if l.startswith("Pss:"))
    return ticks, switches, len(tasks), rss, pss


class Phone:
    name = "?"

    def __init__(self, work, kam, binary):
        self.work = tempfile.mkdtemp(prefix=self.name + "-", dir=work)
        self.kam = kam
        self.binary = binary
        self.port = free_port()
        self.proc = None

    def command(self):
        raise NotImplementedError

    def start(self):
        self.log = open(os.path.join(self.work, "log"), "w")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.work, stdin=subprocess.PIPE, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True, env=self.env())
        return self.proc

    def env(self):
        return dict(os.environ)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def console(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def dial(self, uri):
        raise NotImplementedError


class Microsip(Phone):
    name = "microsip"

    def command(self):
        ini = os.path.join(self.work, "MicroSIP.ini")
        with open(ini, "w") as f:
            f.write(f"[Settings]\naccountId=1\nsourcePort={self.port}\nautoAnswer=all\n"
                    "autoAnswerDelay=0\nsingleMode=0\nAC=1\ncallWaiting=1\nmaxConcurrentCalls=0\n"
                    # inviteBurst=0: the call-rate steps come from one address (the registrar).
                    "localDTMF=0\nautoAnswerCalls=all\ninviteBurst=0\n"
                    f"[Account1]\nserver=127.0.0.1:{self.kam.port}\ndomain=127.0.0.1\n"
                    "username=alice\npassword=alicepw\nregisterRefresh=3600\n")
        self.ini = ini
        return [self.binary, "--ini", ini, "--bind", "127.0.0.1", "--log-level", "warn"]

    def env(self):
        # No sound card, as the peers run (pjsua --null-audio, baresip's file and sine
        # modules): an empty ALSA configuration, so calls get the null port.
        empty = os.path.join(self.work, "no-sound-card.asoundrc")
        open(empty, "w").close()
        return dict(os.environ, ALSA_CONFIG_PATH=empty)

    def dial(self, uri):
        subprocess.Popen([self.binary, "--ini", self.ini, uri], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)

    def hangup(self):
        subprocess.run([self.binary, "--ini", self.ini, "/hangupall"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Pjsua(Phone):
    name = "pjsua"

    def command(self):
        return [self.binary, "--null-audio", "--no-tcp", "--no-vad", "--max-calls=256",
                "--auto-answer=200", f"--local-port={self.port}", "--ip-addr=127.0.0.1",
                "--bound-addr=127.0.0.1", f"--rtp-port={free_port()}",
                "--id=sip:alice@127.0.0.1", f"--registrar=sip:127.0.0.1:{self.kam.port}",
                "--realm=*", "--username=alice", "--password=alicepw", "--reg-timeout=3600",
                "--log-level=1", "--app-log-level=1"]

    def dial(self, uri):
        self.console(f"m\n{uri}\n")

    def hangup(self):
        self.console("h\n")


class Baresip(Phone):
    name = "baresip"

    def command(self):
        conf = os.path.join(self.work, "conf")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "config"), "w") as f:
            f.write(f"sip_listen\t127.0.0.1:{self.port}\ncall_max_calls\t1024\n"
                    "audio_player\taufile,/dev/null\naudio_source\tausine,440\n"
                    "audio_alert\taufile,/dev/null\n"
                    # ausine makes 48 kHz stereo only; without it every call gets 486.
                    "ausrc_srate\t48000\nauplay_srate\t48000\nausrc_channels\t2\n"
                    "auplay_channels\t2\n"
                    "module_path\t/usr/lib/baresip/modules\n"
                    "module\tstdio.so\nmodule\tg711.so\nmodule\taufile.so\nmodule\tausine.so\n"
                    "module_tmp\taccount.so\nmodule_app\tmenu.so\n")
        with open(os.path.join(conf, "accounts"), "w") as f:
            f.write(f"<sip:alice@127.0.0.1>;auth_pass=alicepw;"
                    f"outbound=\"sip:127.0.0.1:{self.kam.port}\";answermode=auto;"
                    "regint=3600;audio_codecs=PCMA\n")
        open(os.path.join(conf, "contacts"), "w").close()
        return [self.binary, "-f", conf]

    def dial(self, uri):
        self.console(f"/dial {uri}\n")

    def hangup(self):
        self.console("/hangup\n")


def median(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return statistics.median(xs) if xs else None


def sipp(args, timeout):
    return subprocess.run(["sipp", "-nostdin", "-i", "127.0.0.1"] + args,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)


def scenario(work, pause_ms, media):
    text = open(os.path.join(REPO, "tests/sipp/uac_call_bye.xml")).read()
    if not media:
        text = re.sub(r'<exec play_pcap_audio="[^"]*"/>', "", text)
    text = re.sub(r'<pause milliseconds="\d+"/>', f'<pause milliseconds="{pause_ms}"/>', text)
    # A caller of its own for each call: MicroSIP refuses a second call from a caller already
    # in a call (486), which would make concurrent calls from one "sipp" fail.
    text = text.replace("<sip:sipp@[local_ip]", "<sip:sipp[call_number]@[local_ip]")
    path = os.path.join(work, f"uac_{pause_ms}_{int(media)}.xml")
    open(path, "w").write(text)
    return path


def sipp_counts(stat_csv):
    """(successful, failed) from SIPp's last statistics line."""
    with open(stat_csv) as f:
        rows = [l.rstrip("\n").split(";") for l in f if l.strip()]
    head, last = rows[0], rows[-1]
    get = lambda k: int(last[head.index(k)])
    return get("SuccessfulCall(C)"), get("FailedCall(C)")


def start_registered(phone, work):
    """Starts `phone` and waits for the registrar's 200 to its REGISTER on the wire; returns
    the time from the start to that 200, in ms (the phone keeps running)."""
    cap = Capture(work, [phone.kam.port])
    t0 = time.time()
    try:
        phone.start()

        def registered():
            for ts, sport, msg in messages(list(packets(cap.path))):
                if (sport == phone.kam.port and msg.startswith("SIP/2.0 200")
                        and (header(msg, "cseq") or "").endswith("REGISTER")):
                    return ts
            return None
        reg_ts = wait_for("the registration", registered, timeout=20, step=0.02)
    finally:
        cap.stop()
    return (reg_ts - t0) * 1000


def measure(phone, args, work):
    """Starts `phone`, measures it, stops it; returns {measure: value}."""
    r = {}
    skip = args.skip
    # Start to REGISTER is a few ms that one busy moment of the machine can double: the
    # median of --register-starts starts (the last one stays up for the other measures).
    starts = []
    for _ in range(args.register_starts - 1):
        try:
            starts.append(start_registered(phone, work))
        finally:
            phone.stop()
    try:
        starts.append(start_registered(phone, work))
        r["register_ms"] = round(median(starts), 1)
        r["register_ms_starts"] = [round(x, 1) for x in starts]
        pid = phone.proc.pid
        time.sleep(2)
        if "idle" not in skip:
            c0, w0, _, _, _ = proc_stat(pid)
            time.sleep(args.idle)
            c1, w1, threads, rss, pss = proc_stat(pid)
            r.update(idle_rss_kb=rss, idle_pss_kb=pss, threads=threads,
                     idle_cpu_ms=round((c1 - c0) * 1000 / CLK_TCK),
                     idle_wakeups_per_s=round((w1 - w0) / args.idle, 2))
        target = f"127.0.0.1:{phone.port}"
        if "invite" not in skip:
            cap = Capture(work, [phone.port])
            sipp(["-sf", scenario(work, 20, False), "-s", "alice", target, "-p", str(free_port()),
                  "-m", str(args.calls), "-l", "1", "-r", "10"], timeout=120)
            lat = {}
            sent = {}
            for ts, sport, msg in messages(cap.stop()):
                key = (header(msg, "call-id"), header(msg, "cseq"))
                if msg.startswith("INVITE "):
                    sent.setdefault(key, ts)
                elif msg.startswith("SIP/2.0 200") and key in sent and key not in lat:
                    lat[key] = (ts - sent[key]) * 1000
            r["invite_to_200_ms"] = round(median(list(lat.values())), 3) if lat else None
        if "cli" not in skip:
            # The INVITE as it leaves the phone (baresip sends it to its outbound proxy).
            callee = free_port()
            cap = Capture(work, [phone.port])
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", callee))
            t = time.time()
            phone.dial(f"sip:bob@127.0.0.1:{callee}")

            def invite():
                return next((ts for ts, sport, m in messages(list(packets(cap.path)))
                             if sport == phone.port and m.startswith("INVITE ")), None)
            try:
                r["cli_to_invite_ms"] = round((wait_for("the INVITE", invite, 10) - t) * 1000, 1)
            except RuntimeError:
                r["cli_to_invite_ms"] = None
            cap.stop()
            phone.hangup()
            sink.close()
            time.sleep(1)
        if "rate" not in skip:
            best, cpu_at, rss_after = 0, None, None
            for rate in args.rates:
                stat = os.path.join(work, f"rate_{phone.name}_{rate}.csv")
                c0 = proc_stat(pid)[0]
                t = time.monotonic()
                out = sipp(["-sf", scenario(work, 0, False), "-s", "alice", target,
                            "-p", str(free_port()), "-r", str(rate), "-m", str(rate * 5),
                            "-l", str(rate * 4), "-trace_stat", "-stf", stat, "-fd", "1",
                            "-timeout", "30s", "-recv_timeout", "5000"], timeout=90)
                wall = time.monotonic() - t
                if phone.proc.poll() is not None:
                    r["rate_stop"] = f"{rate}/s: the phone exited"
                    break
                try:
                    ok, failed = sipp_counts(stat)
                except (OSError, IndexError, ValueError) as e:
                    r["rate_stop"] = f"{rate}/s: no SIPp statistics ({e}): {out.stderr[-300:]!r}"
                    break
                if out.returncode != 0 or failed or ok < rate * 5:
                    r["rate_stop"] = f"{rate}/s: {ok} calls ok, {failed} failed"
                    break
                best = rate
                cpu_at = round((proc_stat(pid)[0] - c0) / CLK_TCK / wall * 100, 1)
                rss_after = proc_stat(pid)[3]
            r.update(max_call_rate=best, cpu_percent_at_max=cpu_at, rss_kb_after_rate=rss_after)
            # Memory a while after the load stops, against the idle figure (issue 15: within
            # 10 % a minute later). The step that stopped the stepping may have left calls the
            # caller gave up on, so the load measured is one more step at the best rate.
            if best:
                stat = os.path.join(work, f"settle_{phone.name}.csv")
                sipp(["-sf", scenario(work, 0, False), "-s", "alice", target,
                      "-p", str(free_port()), "-r", str(best), "-m", str(best * 5),
                      "-l", str(best * 4), "-trace_stat", "-stf", stat, "-fd", "1",
                      "-timeout", "30s", "-recv_timeout", "5000"], timeout=90)
                try:
                    r["settle_load_failed"] = sipp_counts(stat)[1]
                except (OSError, IndexError, ValueError):
                    r["settle_load_failed"] = None
            time.sleep(args.settle)
            settled = proc_stat(pid)[3]
            r["rss_kb_settled_after_rate"] = settled
            if r.get("idle_rss_kb"):
                r["rss_settled_to_idle"] = round(settled / r["idle_rss_kb"], 3)
            time.sleep(2)
        if "media" not in skip and os.path.exists(G711_PCAP):
            best, per_call = 0, None
            for n in args.concurrency:
                stat = os.path.join(work, f"media_{phone.name}_{n}.csv")
                proc = subprocess.Popen(
                    ["sipp", "-nostdin", "-i", "127.0.0.1", "-sf", scenario(work, 8000, True),
                     "-s", "alice", target, "-p", str(free_port()), "-mp", str(free_port()),
                     "-r", str(min(n, 100)), "-m", str(n), "-l", str(n), "-trace_stat",
                     "-stf", stat, "-fd", "1"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(n / min(n, 100) + 1.5)
                c0 = proc_stat(pid)[0]
                time.sleep(4)
                cpu_ms_per_s = (proc_stat(pid)[0] - c0) * 1000 / CLK_TCK / 4
                try:
                    proc.wait(60)
                    ok, failed = sipp_counts(stat)
                except (subprocess.TimeoutExpired, OSError, IndexError, ValueError) as e:
                    proc.kill()
                    r["media_stop"] = f"{n} calls: {e}"
                    break
                if failed or ok < n or phone.proc.poll() is not None:
                    r["media_stop"] = f"{n} calls: {ok} ok, {failed} failed"
                    break
                best, per_call = n, round(cpu_ms_per_s / n, 3)
            r.update(max_concurrent_rtp=best, cpu_ms_per_call_per_s=per_call)
    finally:
        phone.stop()
    return r


def binary_kb(path, work):
    if path.endswith("microsip"):
        stripped = os.path.join(work, "microsip.stripped")
        subprocess.run(["strip", "-o", stripped, path], check=True)
        path = stripped
    return round(os.path.getsize(path) / 1024)


LOWER_IS_BETTER = {"max_call_rate": False, "max_concurrent_rtp": False}


def report(results, sizes, out):
    names = list(results)
    measures = []
    for runs in results.values():
        for run in runs:
            for k in run:
                if (k not in measures and k != "error"
                        and not k.endswith(("_stop", "_starts"))):
                    measures.append(k)
    med = {n: {m: median([run.get(m) for run in results[n]]) for m in measures} for n in names}
    for n in names:
        med[n]["binary_kb"] = sizes[n]
    measures.append("binary_kb")
    lines = ["| measure | " + " | ".join(names) + " | " +
             " | ".join(f"microsip / {n}" for n in names if n != "microsip") + " |",
             "|---" * (1 + len(names) + len(names) - 1) + "|"]
    for m in measures:
        cells = [("-" if med[n].get(m) is None else f"{med[n][m]:g}") for n in names]
        ratios = []
        for n in names:
            if n == "microsip":
                continue
            a, b = med["microsip"].get(m), med[n].get(m)
            ratios.append(f"{a / b:.2f}" if a is not None and b else "-")
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    text = "\n".join(lines) + "\n"
    with open(out + ".md", "w") as f:
        f.write(text)
    with open(out + ".json", "w") as f:
        json.dump({"runs": results, "medians": med}, f, indent=1)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--microsip", required=True)
    ap.add_argument("--pjsua", required=True)
    ap.add_argument("--baresip", default=shutil.which("baresip"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--register-starts", type=int, default=7)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--settle", type=float, default=60,
                    help="seconds after the last call-rate step before the settled RSS")
    ap.add_argument("--rates", default="100,200,400,800,1000,1200,1600")
    ap.add_argument("--concurrency", default="32,64,128,256,384,512")
    ap.add_argument("--skip", default="")
    ap.add_argument("--out", default=os.path.join(REPO, "bench/results"))
    args = ap.parse_args()
    args.rates = [int(x) for x in args.rates.split(",")]
    args.concurrency = [int(x) for x in args.concurrency.split(",")]
    args.skip = set(filter(None, args.skip.split(",")))
    work = tempfile.mkdtemp(prefix="microsip-sidebyside-")
    kam = Kamailio(work)
    phones = [("microsip", Microsip, args.microsip), ("pjsua", Pjsua, args.pjsua)]
    if args.baresip:
        phones.append(("baresip", Baresip, args.baresip))
    results = {n: [] for n, _, _ in phones}
    try:
        for run in range(args.runs):
            for name, cls, binary in phones:
                print(f"run {run + 1}/{args.runs}: {name}", file=sys.stderr, flush=True)
                try:
                    r = measure(cls(work, kam, binary), args, work)
                except Exception as e:  # a phone that fails a run is reported, not fatal
                    print(f"  {name}: {e}", file=sys.stderr)
                    r = {"error": str(e)}
                print(f"  {json.dumps(r)}", file=sys.stderr, flush=True)
                results[name].append(r)
        sizes = {n: binary_kb(b, work) for n, _, b in phones}
        print(report(results, sizes, args.out))
    finally:
        kam.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
