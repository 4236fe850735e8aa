#!/usr/bin/env python3
"""INVITE-to-200 latency from a pcap (tcpdump -i lo -w), measured on the wire.

`packets()` is shared with answer_latency.sh. Reads a classic little-endian pcap of SIP over UDP (link type LINUX_SLL2, LINUX_SLL,
EN10MB or RAW), pairs each INVITE with the 200 OK to it (same Call-ID and CSeq INVITE) and
prints count, median, p90, p99 and max in milliseconds.
"""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic, _, _, _, _, _, link = struct.unpack("<IHHiIII", head)
        nano = magic == 0xA1B23C4D
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack("<IIII", rec)
            data = f.read(incl)
            ts = sec + frac / (1e9 if nano else 1e6)
            off = {1: 14, 113: 16, 276: 20, 101: 0, 12: 0}.get(link)
            if off is None:
                sys.exit(f"unsupported link type {link}")
            ip = data[off:]
            if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport = struct.unpack(">H", ip[ihl:ihl + 2])[0]
            yield ts, sport, ip[ihl + 8:]


def header(msg, name):
    for line in msg.split("\r\n")[1:]:
        if not line:
            break
        k, _, v = line.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def main(path):
    sent = {}
    lat = []
    for ts, _, payload in packets(path):
        try:
            msg = payload.decode("utf-8", "replace")
        except Exception:
            continue
        cseq = header(msg, "cseq") or ""
        if not cseq.endswith("INVITE"):
            continue
        key = (header(msg, "call-id"), cseq)
        if msg.startswith("INVITE "):
            sent.setdefault(key, ts)
        elif msg.startswith("SIP/2.0 200") and key in sent:
            lat.append((ts - sent.pop(key)) * 1000.0)
    if not lat:
        sys.exit("no INVITE/200 pairs found")
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"invite_to_200_ms count={len(lat)} median={pick(0.5):.3f} p90={pick(0.9):.3f} "
          f"p99={pick(0.99):.3f} max={lat[-1]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
