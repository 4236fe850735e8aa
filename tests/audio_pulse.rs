//! Call audio through cpal on PulseAudio null sinks (tier 2): a real-time sound server, as on
//! a desktop. The phone reaches it as most Linux programs do, through ALSA's `default` device
//! and the pulse plugin (/etc/alsa/conf.d/99-pulse.conf from libasound2-plugins). The caller
//! is pjsua playing a 1 kHz tone; `parec` records the speaker sink, `pacat` plays 440 Hz into
//! the microphone sink.
//!
//! Needs: pulseaudio, pulseaudio-utils, libasound2-plugins (scripts/setup.sh --test).

mod support;

use std::time::Duration;

use support::audio::{self, PjsuaCaller, PulseServer};
use support::{Phone, TempDir};

const T: Duration = Duration::from_secs(20);
const AMP: f64 = 0.5;
/// The bridge's rate with PCMA, and the null sinks' (so nothing resamples or spins).
const RATE: u32 = 8000;

#[test]
fn a_call_through_pulseaudio_is_heard_both_ways_in_real_time() {
    let dir = TempDir::new("pulse-call");
    let mut pulse = PulseServer::start(RATE);
    let recording = dir.path().join("speaker.raw");
    pulse.record("spk.monitor", RATE, &recording);
    pulse.play(
        "mic",
        RATE,
        &audio::tone(RATE, 440.0, AMP, 0, RATE as usize * 30),
    );

    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    let ini = format!(
        "[Settings]\naccountId=0\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\nlocalDTMF=0\n",
        rtp + 7
    );
    let env = pulse.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let phone = Phone::start_with_env(&ini, &[], &env);
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 1000.0, AMP, 0, 16000));
    let mut caller = PjsuaCaller::call(&format!("sip:intercom@127.0.0.1:{sip}"), &play, 8);

    let line = phone.wait_line("audio: speaker ", T);
    assert!(line.contains("microphone"), "both directions open: {line}");
    phone.wait_line(": DISCONNECTED", T);
    let stats = phone.wait_line("audio: stopped after", T);
    eprintln!("{stats}");
    let (rate, received) = caller.quit_and_recording();
    let played = audio::s16le(&std::fs::read(&recording).unwrap());

    // ALSA's pulse plugin starts a new playback stream with a stall of 1-2 s and a hiccup as
    // it catches up (see audio-testing.md): the speaker is judged from 1.5 s after its first
    // sound on.
    let onset = played
        .iter()
        .position(|v| v.unsigned_abs() > 3000)
        .unwrap_or(played.len());
    let steady = &played[(onset + RATE as usize * 3 / 2).min(played.len())..];
    for (what, x, r, hz, min_s) in [
        ("speaker (spk.monitor)", steady, RATE, 1000.0, 3.0),
        ("caller's recording", &received[..], rate, 440.0, 4.5),
    ] {
        let rep = audio::analyse(x, r, hz, AMP);
        let (median, off) = rep.level_db(AMP, 1.0);
        eprintln!(
            "{what}: {:.2} s of {hz} Hz, level {median:+.2} dB ({:.1}% of blocks off by over \
             1 dB), longest gap {} ms, purity {:.3}, impure blocks {:.1}%",
            rep.seconds,
            off * 100.0,
            rep.longest_gap_ms,
            rep.purity,
            rep.impure_blocks * 100.0
        );
        assert!(
            rep.seconds >= min_s,
            "{what}: only {:.2} s of tone",
            rep.seconds
        );
        assert!(
            median.abs() < 1.0 && off <= 0.05,
            "{what}: level {median:+.2} dB, {:.1}% of blocks off by over 1 dB",
            off * 100.0
        );
        assert!(
            rep.longest_gap_ms <= 20.0,
            "{what}: a gap of {} ms",
            rep.longest_gap_ms
        );
        assert!(
            rep.purity > 0.98 && rep.impure_blocks <= 0.10,
            "{what}: purity {:.3}, {:.1}% impure blocks",
            rep.purity,
            rep.impure_blocks * 100.0
        );
    }
}
