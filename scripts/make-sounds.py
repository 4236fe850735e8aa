#!/usr/bin/env python3
"""Synthesises microsip's default sounds into sounds/ (8 kHz, 16-bit, mono WAV).

MicroSIP ships ringtone.wav, ringing.wav, ringing2.wav and hangup.wav next to its executable;
these are our own, made from sine tones (no recordings), small enough to be built into the
binary. Run it again after changing a sound: python3 scripts/make-sounds.py
"""
import math
import os
import struct
import wave

RATE = 8000
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "sounds")


def tone(freqs, seconds, amp=0.35, fade=0.01):
    """A sum of sines with short fades at both ends (no clicks)."""
    n = int(RATE * seconds)
    f = max(1, int(RATE * fade))
    out = []
    for i in range(n):
        env = min(1.0, i / f, (n - 1 - i) / f)
        v = sum(math.sin(2 * math.pi * hz * i / RATE) for hz in freqs) / len(freqs)
        out.append(amp * env * v)
    return out


def silence(seconds):
    return [0.0] * int(RATE * seconds)


def write(name, samples):
    path = os.path.join(OUT, name)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(round(s * 32767))) for s in samples))
    print(f"{path}: {len(samples) / RATE:.2f} s")


os.makedirs(OUT, exist_ok=True)
# Ringtone (played in a loop while a call rings): a double ring of 400 + 450 Hz.
write("ringtone.wav", tone([400, 450], 0.4) + silence(0.2) + tone([400, 450], 0.4) + silence(2.0))
# Ringback (in a loop while an outgoing call rings): 425 Hz, 1 s on, 4 s off.
write("ringing.wav", tone([425], 1.0) + silence(4.0))
# Auto-answer / call-waiting beep: two short 880 Hz beeps.
write("ringing2.wav", tone([880], 0.12) + silence(0.08) + tone([880], 0.12))
# Hang-up: three falling beeps.
write("hangup.wav", tone([660], 0.12) + silence(0.05) + tone([550], 0.12) + silence(0.05)
      + tone([440], 0.2))
