//! SRTP (MicroSIP's `SRTP` key) against pjsua built from our own pjproject tree: the SDP the
//! phone sends (`RTP/SAVP`, `a=crypto`, `UDP/TLS/RTP/SAVP`, `a=fingerprint`), the log line
//! that says how the audio travels, and the caller's tone arriving, decrypted, in the ALSA
//! file speaker. Offers the phone must refuse come from SIPp.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use support::audio::{self, PacedSpeaker, PjsuaCaller, SPEAKER_RATE};
use support::{Phone, Sipp, TempDir};

const T: Duration = Duration::from_secs(20);
const AMP: f64 = 0.5;

/// One call at a time: real-time media clocks, two SIP stacks and paced FIFOs on 2 cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// [Account1] `intercom` with no registrar (calls by address), `SRTP=srtp`, answering every
/// call at once, PCMA only; SIPp's offers come one after another from one address, more than
/// the admission guard lets through (`inviteBurst=0`).
fn ini(srtp: &str) -> String {
    support::settings(
        1,
        "autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\ninviteBurst=0\n",
    ) + &format!("[Account1]\ndomain=127.0.0.1\nusername=intercom\ntransport=udp\nSRTP={srtp}\n")
}

/// The phone on the ALSA file plugin, its speaker writing into `speaker`, PJSIP's messages in
/// its log.
fn phone_on_files(ini_text: &str, speaker: &Path) -> Phone {
    Phone::start_with_env(
        ini_text,
        &["--log-level", "debug"],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", speaker.to_str().unwrap()),
            ("AUDIO_IN", "/nonexistent/in.raw"),
        ],
    )
}

fn phone_uri(phone: &Phone) -> String {
    let line = phone.wait_line("started: SIP on udp ", T);
    format!("sip:intercom@{}", line.rsplit(' ').next().unwrap().trim())
}

fn tone_wav(dir: &Path) -> PathBuf {
    let path = dir.join("tone.wav");
    audio::write_wav(&path, 8000, &audio::tone(8000, 1000.0, AMP, 0, 8000 * 2));
    path
}

/// The SIP message the phone sent whose PJSIP log header contains `what` (e.g.
/// `Response msg 200/INVITE`, `Request msg INVITE`).
fn sent(phone: &Phone, what: &str) -> String {
    logged(phone, "TX ", what)
}

/// The first SIP message in the phone's log, `TX ` (sent) or `RX ` (received), whose PJSIP
/// log header contains `what`.
fn logged(phone: &Phone, direction: &str, what: &str) -> String {
    let log = phone.log();
    let start = log
        .match_indices(direction)
        .map(|(i, _)| i)
        .find(|&i| log[i..].lines().next().is_some_and(|l| l.contains(what)))
        .unwrap_or_else(|| panic!("the phone logged no {direction}{what}:\n{log}"));
    let msg = &log[start..];
    msg[..msg.find("--end msg--").unwrap_or(msg.len())].to_string()
}

/// Asserts the 1 kHz tone came out of the speaker: at least 1.5 s of it, clean.
fn assert_heard(speaker: &PacedSpeaker) {
    let r = audio::analyse(&speaker.samples(), SPEAKER_RATE, 1000.0, AMP);
    assert!(
        r.seconds >= 1.5 && r.purity > 0.9,
        "the caller's tone must be heard: {:.2} s, purity {:.3}",
        r.seconds,
        r.purity
    );
}

/// pjsua (`args`) calls the phone (`srtp`); returns the phone's 200 and its media line.
fn call_in(srtp: &str, args: &[&str]) -> (String, String) {
    let (answer, media, _) = call_in_with_crypto(srtp, args);
    (answer, media)
}

/// As `call_in`, and whether the call's media had an SRTP layer (PJSIP logs its creation).
fn call_in_with_crypto(srtp: &str, args: &[&str]) -> (String, String, bool) {
    let _serial = serial();
    let dir = TempDir::new("srtp");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(&ini(srtp), speaker.path());
    let play = tone_wav(dir.path());
    let mut caller = PjsuaCaller::call_with(args, &phone_uri(&phone), &play, 3);
    let media = phone.wait_line(": audio active, ", T);
    phone.wait_line(": DISCONNECTED", T);
    phone.wait_line("audio: stopped after", T);
    caller.quit_and_recording();
    assert_heard(&speaker);
    (
        sent(&phone, "Response msg 200/INVITE"),
        media,
        phone.log().contains("SRTP transport created"),
    )
}

#[test]
fn pjsua_mandatory_sdes_calls_our_mandatory_and_optional() {
    for ours in ["mandatory", "optional"] {
        let (answer, media, crypto) =
            call_in_with_crypto(ours, &["--use-srtp=2", "--srtp-secure=0"]);
        assert!(crypto, "{ours}: SRTP ran without an SRTP layer?");
        assert!(answer.contains("RTP/SAVP 8"), "{ours}: {answer}");
        assert!(answer.contains("a=crypto:"), "{ours}: {answer}");
        // The suite is the caller's first choice that we support.
        assert!(
            media.contains("encrypted (SRTP AES_") && media.ends_with("keys by SDES)"),
            "{ours}: {media}"
        );
    }
}

#[test]
fn pjsua_optional_sdes_calls_our_default_in_plain_rtp() {
    let (answer, media, crypto) = call_in_with_crypto("", &["--use-srtp=1", "--srtp-secure=0"]);
    assert!(answer.contains("RTP/AVP 8"), "{answer}");
    assert!(!answer.contains("a=crypto:"), "{answer}");
    assert!(media.ends_with("not encrypted (RTP)"), "{media}");
    // SRTP off: the call's media has no SRTP layer, so libsrtp (and NSS) never start: no
    // 27 ms on the first call, no 1.2 MB more after it.
    assert!(
        !crypto,
        "a phone with SRTP off started libsrtp for a plain call"
    );
}

#[test]
fn dtls_srtp_calls_in() {
    // pjsua multiplexes RTCP, as MicroSIP's DTLS modes do (the case without is below).
    let (answer, media) = call_in(
        "dtls",
        &[
            "--use-srtp=2",
            "--srtp-secure=0",
            "--srtp-keying=1",
            "--rtcp-mux",
        ],
    );
    assert!(answer.contains("UDP/TLS/RTP/SAVP 8"), "{answer}");
    assert!(answer.contains("a=fingerprint:"), "{answer}");
    assert!(!answer.contains("a=crypto:"), "{answer}");
    assert!(media.contains("keys by DTLS-SRTP"), "{media}");
}

/// The phone (`srtp`) calls pjsua (`args`, answering); returns the phone's INVITE and media
/// line.
fn call_out(srtp: &str, args: &[&str]) -> (String, String) {
    let _serial = serial();
    let dir = TempDir::new("srtp-out");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(&ini(srtp), speaker.path());
    phone_uri(&phone);
    let play = tone_wav(dir.path());
    let mut callee = PjsuaCaller::answer_with(args, &play, 3);
    callee.wait_listening(T);
    phone.send(&callee.uri());
    let media = phone.wait_line(": audio active, ", T);
    phone.wait_line(": DISCONNECTED", T);
    phone.wait_line("audio: stopped after", T);
    callee.quit_and_recording();
    assert_heard(&speaker);
    (sent(&phone, "Request msg INVITE"), media)
}

#[test]
fn dtls_srtp_calls_out() {
    let (offer, media) = call_out(
        "dtls",
        &[
            "--use-srtp=2",
            "--srtp-secure=0",
            "--srtp-keying=1",
            "--rtcp-mux",
        ],
    );
    assert!(offer.contains("UDP/TLS/RTP/SAVP 8"), "{offer}");
    assert!(offer.contains("a=fingerprint:"), "{offer}");
    assert!(offer.contains("a=rtcp-mux"), "{offer}");
    assert!(media.contains("keys by DTLS-SRTP"), "{media}");
}

/// A peer that keeps RTCP on its own port runs two DTLS handshakes, and either may end first.
/// PJSIP 2.17 as released failed the call (488) when the RTCP one won the race; pjsip-sys
/// corrects that. Calls are repeated so that both orders occur.
#[test]
fn dtls_srtp_without_rtcp_mux_connects_every_time() {
    const CALLS: usize = 8;
    let _serial = serial();
    let dir = TempDir::new("srtp-nomux");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(&ini("dtls"), speaker.path());
    phone_uri(&phone);
    let play = tone_wav(dir.path());
    let callee = PjsuaCaller::answer_with(
        &["--use-srtp=2", "--srtp-secure=0", "--srtp-keying=1"],
        &play,
        1,
    );
    callee.wait_listening(T);
    for n in 1..=CALLS {
        let mark = phone.mark();
        phone.send(&callee.uri());
        let (i, line) = phone.wait_for(mark, "audio active or the call's end", T, |l| {
            l.contains(": audio active, ") || l.contains(": DISCONNECTED")
        });
        assert!(
            line.contains("keys by DTLS-SRTP"),
            "call {n} of {CALLS} must connect with DTLS-SRTP: {line}\n{}",
            phone.log()
        );
        phone.wait_line_after(i, ": DISCONNECTED", T);
        phone.wait_line_after(i, "audio: stopped after", T);
    }
    let offer = sent(&phone, "Request msg INVITE");
    assert!(offer.contains("a=rtcp-mux"), "{offer}");
    let answer = logged(&phone, "RX ", "Response msg 200/INVITE");
    assert!(
        !answer.contains("a=rtcp-mux"),
        "the peer must not multiplex: {answer}"
    );
}

#[test]
fn our_mandatory_offers_sdes_srtp() {
    let (offer, media) = call_out("mandatory", &["--use-srtp=1", "--srtp-secure=0"]);
    assert!(offer.contains("RTP/SAVP 8"), "{offer}");
    assert!(offer.contains("a=crypto:"), "{offer}");
    assert!(media.contains("keys by SDES"), "{media}");
}

/// SIPp offers `proto` with `crypto` lines to a phone with `SRTP=srtp`; returns the final
/// status it got (SIPp checks it is `code`).
fn offer(phone: &Phone, proto: &str, crypto: &[&str], code: u16) -> support::SippOutput {
    let template =
        std::fs::read_to_string(support::tests_dir().join("sipp/uac_srtp_offer.xml")).unwrap();
    let lines: Vec<String> = crypto.iter().map(|c| format!("      {c}")).collect();
    let text = template
        .replace("@PROTO@", proto)
        .replace(
            "@CRYPTO@\n",
            &lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .replace("@CODE@", &code.to_string());
    let dir = TempDir::new("srtp-offer");
    let path = dir.path().join("offer.xml");
    std::fs::write(&path, text).unwrap();
    Sipp::uac(path.to_str().unwrap(), &phone.sip_addr())
        .service("intercom")
        .run(T)
}

/// A 30-byte key and 14-byte salt, base64 (AES_CM_128's inline key).
const KEY: &str = "WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ";

#[test]
fn offers_the_phone_cannot_use_are_refused_as_pjmedia_says() {
    let phone = Phone::start(&ini("mandatory"), &[]);
    let good = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}");
    let cases: Vec<(&str, &str, Vec<String>, u16)> = vec![
        ("plain RTP to a mandatory phone", "RTP/AVP", vec![], 488),
        // pjmedia: SRTP required but no usable a=crypto (PJMEDIA_SRTP_ESDPREQCRYPTO) is 406.
        ("RTP/SAVP without a crypto line", "RTP/SAVP", vec![], 406),
        (
            "a crypto line without a key",
            "RTP/SAVP",
            vec!["a=crypto:1 AES_CM_128_HMAC_SHA1_80".into()],
            406,
        ),
        (
            "two crypto lines with the same tag",
            "RTP/SAVP",
            vec![good.clone(), good.replace("_80 ", "_32 ")],
            406,
        ),
        (
            "an unsupported suite",
            "RTP/SAVP",
            vec![format!("a=crypto:1 NO_SUCH_SUITE inline:{KEY}")],
            406,
        ),
        (
            "a key that is too long",
            "RTP/SAVP",
            vec![format!(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}{KEY}"
            )],
            406,
        ),
    ];
    for (what, proto, crypto, code) in cases {
        let refs: Vec<&str> = crypto.iter().map(String::as_str).collect();
        let out = offer(&phone, proto, &refs, code);
        assert!(out.success, "{what}: want {code}\n{}", out.report());
    }
    // And a phone with SRTP off refuses an offer that demands SRTP.
    let plain = Phone::start(&ini(""), &[]);
    let out = offer(&plain, "RTP/SAVP", &[good.as_str()], 488);
    assert!(
        out.success,
        "SRTP off, RTP/SAVP offered: want 488\n{}",
        out.report()
    );
    // Nothing crashed.
    for p in [phone, plain] {
        p.send("/hangupall");
    }
}
