//! Call audio through cpal on a sound card made of files (tier 1, no sound card needed): the
//! ALSA `file` plugin chosen with ALSA_CONFIG_PATH, its files being FIFOs that the harness
//! drains and fills at real-time pace (see tests/support/audio.rs). The caller is pjsua,
//! built from our own pjproject tree, playing and recording WAV files.
//!
//! What a user would notice: the caller's voice comes out of the speaker intact, the
//! microphone reaches the caller, the devices named in MicroSIP.ini are the ones used, and a
//! box with no sound device still answers calls and says why it is silent.

mod support;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use support::audio::{self, PacedMic, PacedSpeaker, PjsuaCaller, SPEAKER_RATE};
use support::{Phone, Sipp, TempDir};

const T: Duration = Duration::from_secs(20);

/// The calls of these tests run one at a time: each one keeps a real-time media clock, two
/// SIP stacks and the harness's paced FIFOs busy, on a machine of two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
/// The caller's tone and the microphone's: -6 dBFS.
const AMP: f64 = 0.5;

/// A MicroSIP.ini for the local account (calls by IP), answering every call at once, with
/// PCMA only (an 8 kHz bridge), no hang-up sound (localDTMF=0), and the `key=value` lines of
/// `extra` replacing or adding [Settings] keys (MicroSIP reads the first of repeated keys).
fn ini(extra: &str) -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    let mut keys: Vec<(String, String)> = [
        ("accountId", "0".to_string()),
        ("sourcePort", sip.to_string()),
        ("rtpPortMin", rtp.to_string()),
        ("rtpPortMax", (rtp + 7).to_string()),
        ("autoAnswer", "all".into()),
        ("autoAnswerDelay", "0".into()),
        ("audioCodecs", "PCMA/8000/1".into()),
        ("localDTMF", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').expect("key=value");
        match keys.iter_mut().find(|(key, _)| key == k) {
            Some(entry) => entry.1 = v.to_string(),
            None => keys.push((k.to_string(), v.to_string())),
        }
    }
    let mut text = String::from("[Settings]\n");
    for (k, v) in keys {
        text += &format!("{k}={v}\n");
    }
    text
}

/// The phone on the ALSA file plugin: its default speaker writes into `speaker`, its default
/// microphone reads `mic` (none: a path that does not exist).
fn phone_on_files(ini_text: &str, speaker: &Path, mic: Option<&Path>) -> Phone {
    let mic = mic.map_or("/nonexistent/in.raw".to_string(), |m| {
        m.display().to_string()
    });
    Phone::start_with_env(
        ini_text,
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", speaker.to_str().unwrap()),
            ("AUDIO_IN", &mic),
        ],
    )
}

/// Whether alsa-lib (libasound) is mapped into the phone's process.
fn maps_alsa_lib(phone: &Phone) -> bool {
    std::fs::read_to_string(format!("/proc/{}/maps", phone.pid()))
        .expect("the phone's maps")
        .contains("/libasound.so")
}

fn phone_uri(phone: &Phone) -> String {
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim();
    format!("sip:intercom@{addr}")
}

fn tone_wav(dir: &Path, hz: f64) -> std::path::PathBuf {
    let path = dir.join(format!("tone{hz}.wav"));
    audio::write_wav(&path, 8000, &audio::tone(8000, hz, AMP, 0, 8000 * 2));
    path
}

/// The phone's "audio: stopped ..." line: the run's glitch counts, for the test's output.
fn glitches(phone: &Phone) -> String {
    phone.wait_line("audio: stopped after", T)
}

/// Asserts that `x` holds the tone `hz` at `AMP` for at least `min_s` seconds, as a listener
/// would hear it: at the right level (the median 50 ms block within 1 dB of the source), in
/// nearly every block (at most 10% more than 3 dB off), and clean (no distortion, no other
/// sound). A glitch now and then on a busy machine is a quality figure, which the audio bench
/// reports (tests/audio_bench.rs); a systematic fault (a wrong rate or format, a lost period
/// in every few, a wrong gain) touches most blocks.
fn assert_tone(what: &str, x: &[i16], rate: u32, hz: f64, min_s: f64) {
    // Kept for a look when the test fails (the temp dir stays then).
    let keep = std::env::temp_dir().join(format!(
        "microsip-audio-{}-{}.wav",
        std::process::id(),
        what.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    audio::write_wav(&keep, rate, x);
    let r = audio::analyse(x, rate, hz, AMP);
    let (lo, hi) = r.level_range_db(AMP);
    let (median, off) = r.level_db(AMP, 3.0);
    eprintln!(
        "{what}: {:.2} s of {hz} Hz, level {median:+.2} dB ({lo:+.2}..{hi:+.2}, {:.1}% of \
         blocks off by over 3 dB), longest gap {} ms, purity {:.3}, impure blocks {:.1}%",
        r.seconds,
        off * 100.0,
        r.longest_gap_ms,
        r.purity,
        r.impure_blocks * 100.0
    );
    assert!(
        r.seconds >= min_s,
        "{what}: only {:.2} s of {hz} Hz (want {min_s} s)",
        r.seconds
    );
    assert!(
        median.abs() < 1.0 && off <= 0.10,
        "{what}: level {median:+.2} dB, {:.1}% of 50 ms blocks off by over 3 dB \
         ({lo:+.2}..{hi:+.2}); want the source's level in nearly every block",
        off * 100.0
    );
    assert!(
        r.purity > 0.95 && r.impure_blocks <= 0.20,
        "{what}: not a clean {hz} Hz tone: purity {:.3}, {:.1}% of 50 ms blocks impure",
        r.purity,
        r.impure_blocks * 100.0
    );
    let _ = std::fs::remove_file(keep);
}

/// The median over 50 ms blocks of `hz`'s amplitude in `x`: how loud the tone is for most of
/// the time (a level over the whole span would shrink with each phase jump a glitch makes).
fn median_level(x: &[i16], rate: u32, hz: f64) -> f64 {
    let mut levels: Vec<f64> = x
        .chunks_exact(rate as usize / 20)
        .map(|b| audio::goertzel(b, rate, hz))
        .collect();
    levels.sort_by(f64::total_cmp);
    levels.get(levels.len() / 2).copied().unwrap_or(0.0)
}

#[test]
fn caller_is_heard_on_the_speaker_and_the_microphone_reaches_the_caller() {
    let _serial = serial();
    let dir = TempDir::new("audio");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, AMP);
    let phone = phone_on_files(&ini(""), speaker.path(), Some(mic.path()));
    let play = tone_wav(dir.path(), 1000.0);
    let uri = phone_uri(&phone);
    // alsa-lib loads when a call opens the devices, not at start.
    assert!(!maps_alsa_lib(&phone), "an idle phone maps libasound");
    let mut caller = PjsuaCaller::call(&uri, &play, 5);
    let line = phone.wait_line("audio: speaker ", T);
    assert!(
        line.contains("8000 Hz i16 1 ch") && line.contains("microphone"),
        "the bridge's format opens directly, both ways: {line}"
    );
    assert!(maps_alsa_lib(&phone), "a call's audio runs on alsa-lib");
    phone.wait_line(": DISCONNECTED", T);
    // Streams and media clock stop with the call: the device is closed (the speaker hears
    // nothing more) and an idle phone uses no CPU (the file plugin's streams, were they left
    // open, would spin a core: 200 ticks in 2 s).
    let stats = glitches(&phone);
    eprintln!("{stats}");
    speaker.wait_closed(T);
    let before = audio::cpu_ticks(phone.pid());
    std::thread::sleep(Duration::from_secs(2));
    let idle = audio::cpu_ticks(phone.pid()) - before;
    let (rate, received) = caller.quit_and_recording();

    assert_tone("speaker", &speaker.samples(), SPEAKER_RATE, 1000.0, 3.5);
    assert_tone("caller's recording", &received, rate, 440.0, 3.5);
    assert!(
        idle <= 5,
        "the phone used {idle} ticks of CPU in 2 s after the call"
    );
}

#[test]
fn devices_are_chosen_by_name() {
    let _serial = serial();
    let dir = TempDir::new("audio-names");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker2"));
    let mic = PacedMic::start(&dir.path().join("mic2"), 8000, 440.0, AMP);
    let default_out = dir.path().join("default-out.raw");
    let phone = Phone::start_with_env(
        &ini("audioOutputDevice=speaker2\naudioInputDevice=mic2\n"),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", default_out.to_str().unwrap()),
            ("AUDIO_IN", "/nonexistent/in.raw"),
            ("AUDIO_OUT2", speaker.path().to_str().unwrap()),
            ("AUDIO_IN2", mic.path().to_str().unwrap()),
        ],
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 3);
    let line = phone.wait_line("audio: speaker ", T);
    assert!(
        line.contains("speaker 'speaker2'") && line.contains("microphone 'mic2'"),
        "{line}"
    );
    phone.wait_line(": DISCONNECTED", T);
    let (rate, received) = caller.quit_and_recording();
    assert_tone("speaker2", &speaker.samples(), SPEAKER_RATE, 1000.0, 1.5);
    assert_tone("caller's recording (mic2)", &received, rate, 440.0, 1.5);
    assert!(
        !default_out.exists(),
        "nothing may play on the default device"
    );
}

#[test]
fn an_unknown_device_name_falls_back_to_the_default_with_a_warning() {
    let _serial = serial();
    let dir = TempDir::new("audio-unknown");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(
        &ini("audioOutputDevice=Headset that was unplugged\n"),
        speaker.path(),
        None,
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 3);
    let warning = phone.wait_line("audioOutputDevice=", T);
    assert!(
        warning.contains("Headset that was unplugged")
            && warning.contains("speaker2")
            && warning.contains("using the default device"),
        "the warning names the setting, what exists and what is used: {warning}"
    );
    // No microphone here: said once, and the call still has its speaker.
    phone.wait_line("no usable microphone", T);
    phone.wait_line(": DISCONNECTED", T);
    caller.quit_and_recording();
    assert_tone(
        "default speaker",
        &speaker.samples(),
        SPEAKER_RATE,
        1000.0,
        1.5,
    );
}

#[test]
fn without_a_sound_device_calls_are_answered_and_the_phone_says_why_it_is_silent() {
    let _serial = serial();
    let dir = TempDir::new("audio-none");
    let empty = dir.path().join("empty.asoundrc");
    std::fs::write(&empty, "# no sound card\n").unwrap();
    let phone = Phone::start_with_env(
        &ini(""),
        &[],
        &[("ALSA_CONFIG_PATH", empty.to_str().unwrap())],
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 2);
    let warning = phone.wait_line("without local audio", T);
    assert!(
        warning.contains("no usable sound output"),
        "the warning says what is missing: {warning}"
    );
    phone.wait_line(": CONFIRMED", T);
    phone.wait_line(": DISCONNECTED", T);
    let (_, received) = caller.quit_and_recording();
    assert!(!received.is_empty(), "the call carried RTP to the caller");
    // A second call finds the same: still answered, and the phone does not say it again.
    let mark = phone.mark();
    let mut again = PjsuaCaller::call(&phone_uri(&phone), &play, 1);
    phone.wait_line_after(mark, ": CONFIRMED", T);
    phone.wait_line_after(mark, ": DISCONNECTED", T);
    again.quit_and_recording();
    let warnings = phone
        .lines()
        .iter()
        .filter(|l| l.contains("without local audio"))
        .count();
    assert_eq!(warnings, 1, "said once:\n{}", phone.log());
}

#[test]
fn a_microphone_that_stops_delivering_does_not_cost_the_next_call_its_audio() {
    let _serial = serial();
    let dir = TempDir::new("audio-stuck");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, AMP);
    let phone = phone_on_files(&ini(""), speaker.path(), Some(mic.path()));
    let play = tone_wav(dir.path(), 1000.0);
    let mut first = PjsuaCaller::call(&phone_uri(&phone), &play, 60);
    speaker.wait_for("the first caller", T, |p| {
        !blocks_with(p, 1000.0, 0.35).is_empty()
    });
    // The microphone's driver gets stuck: reads of it never return.
    mic.stall();
    send(&phone, "/hangupall");
    phone.wait_line(": DISCONNECTED", T);
    let warning = phone.wait_line("did not close within", T);
    assert!(warning.contains("sound device"), "{warning}");
    phone.wait_line("audio: stopped after", T);
    first.quit_and_recording();

    // The next call still plays on the speaker.
    let mark = speaker.len();
    let mut second = PjsuaCaller::call(&phone_uri(&phone), &play, 3);
    speaker.wait_for("the second caller", T, |p| {
        blocks_with(&p[mark.min(p.len())..], 1000.0, 0.35).len() >= 10
    });
    second.quit_and_recording();
}

#[test]
fn list_audio_devices_names_what_microsip_ini_can_use() {
    let dir = TempDir::new("audio-list");
    let (status, out) = support::Phone::run_to_exit_with_env(
        &["--list-audio-devices"],
        &[("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap())],
        T,
    );
    assert!(status.success(), "{out}");
    let out_section = out
        .split("output devices")
        .nth(1)
        .and_then(|s| s.split("input devices").next())
        .unwrap_or_else(|| panic!("no output section:\n{out}"));
    assert!(
        out_section.contains("speaker2") && out_section.contains("Second speaker (file)"),
        "{out}"
    );
    let in_section = out.split("input devices").nth(1).unwrap();
    assert!(in_section.contains("mic2"), "{out}");

    let empty = dir.path().join("empty.asoundrc");
    std::fs::write(&empty, "").unwrap();
    let (status, out) = support::Phone::run_to_exit_with_env(
        &["--list-audio-devices"],
        &[("ALSA_CONFIG_PATH", empty.to_str().unwrap())],
        T,
    );
    assert!(status.success(), "{out}");
    assert!(
        out.contains("default speaker: 'default' (Default Audio Device) cannot open"),
        "{out}"
    );
}

/// Sends a MicroSIP command to the running phone (`microsip --send`); returns the reply.
fn send(phone: &Phone, command: &str) -> String {
    let (ok, out) = try_send(phone, command);
    assert!(ok, "--send {command}: {out}");
    out
}

/// Sends a command that may be refused: (accepted, reply).
fn try_send(phone: &Phone, command: &str) -> (bool, String) {
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--send", command], T);
    (status.success(), out)
}

#[test]
fn speakmute_silences_the_speaker_and_micmute_what_the_caller_hears() {
    let _serial = serial();
    let dir = TempDir::new("audio-mute");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, AMP);
    let phone = phone_on_files(&ini(""), speaker.path(), Some(mic.path()));
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 60);
    phone.wait_line("audio: speaker ", T);
    // Each step lasts a span of the sound card's clock, not of the test's: a phone slowed
    // down by a busy machine gets its time.
    speaker.wait_for("3 s of the caller", T, |p| {
        blocks_with(p, 1000.0, 0.35).len() >= 60
    });
    let at_speakmute = speaker.len();
    send(&phone, "msip:speakmute");
    speaker.wait_played(at_speakmute, 3.5, T);
    send(&phone, "msip:micmute");
    let at_micmute = speaker.len();
    speaker.wait_played(at_micmute, 2.5, T);
    send(&phone, "/hangupall");
    phone.wait_line(": DISCONNECTED", T);
    phone.wait_line("audio: stopped after", T);
    let (rate, received) = caller.quit_and_recording();

    // The speaker: the caller's tone until the command, silence from 0.3 s after it.
    let played = speaker.samples();
    let cut = at_speakmute + SPEAKER_RATE as usize * 3 / 10;
    assert_tone(
        "speaker before speakmute",
        &played[..at_speakmute],
        SPEAKER_RATE,
        1000.0,
        1.5,
    );
    let after = &played[cut.min(played.len())..];
    assert!(
        after.len() > SPEAKER_RATE as usize * 3,
        "the speaker kept playing (silence) after speakmute"
    );
    let level = audio::goertzel(after, SPEAKER_RATE, 1000.0);
    assert!(level < 0.005, "speaker muted, yet 1 kHz at {level:.4}");

    // The caller: the microphone went on through speakmute (at least 5.5 s of 440 Hz), then
    // silence after micmute (the last 2.5 s of the call; its last 1.5 s are checked).
    let r = audio::analyse(&received, rate, 440.0, AMP);
    assert!(
        r.seconds + 0.6 > 5.0,
        "the caller heard only {:.2} s of the microphone: speakmute must not mute it",
        r.seconds + 0.6
    );
    let tail = &received[received.len().saturating_sub(rate as usize * 3 / 2)..];
    let level = audio::goertzel(tail, rate, 440.0);
    assert!(
        level < 0.005,
        "microphone muted, yet the caller got 440 Hz at {level:.4}"
    );
}

#[test]
fn the_ringtone_plays_on_the_ring_device_while_a_call_rings() {
    let _serial = serial();
    let dir = TempDir::new("audio-ring");
    let ring = PacedSpeaker::start(&dir.path().join("ring"));
    let default_out = dir.path().join("default-out.raw");
    let phone = Phone::start_with_env(
        &ini("autoAnswer=\naudioRingDevice=speaker2\nvolumeRing=100\n"),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", default_out.to_str().unwrap()),
            ("AUDIO_OUT2", ring.path().to_str().unwrap()),
        ],
    );
    let uri = phone_uri(&phone);
    let target = uri.trim_start_matches("sip:intercom@").to_string();
    // SIPp calls, lets it ring about 3 s, then cancels.
    let out = Sipp::uac("uac_cancel.xml", &target)
        .service("intercom")
        .run(T);
    out.assert_success();
    let at_cancel = ring.len();
    let line = phone.wait_line("ringtone: playing on", T);
    assert!(line.contains("'speaker2'"), "{line}");
    // The ringtone stops with the call: its stream closes.
    let played = ring.wait_closed(T);

    // The built-in ringtone: 400 + 450 Hz bursts (0.4 s, 0.2 s pause, 0.4 s, 2 s pause).
    let ringing = blocks_with(&played[..at_cancel], 400.0, 0.1).len();
    assert!(
        ringing >= 12,
        "about 3 s of ringing hold at least 0.6 s of ring bursts; found {} ms",
        ringing * 50
    );
    let after = &played[(at_cancel + SPEAKER_RATE as usize / 2).min(played.len())..];
    let level = audio::goertzel(after, SPEAKER_RATE, 400.0);
    assert!(
        level < 0.01,
        "the ringtone goes on after the CANCEL ({level:.3})"
    );
    assert!(
        !default_out.exists(),
        "the ringtone must not play on the default device"
    );
}

#[test]
fn a_hang_up_sound_plays_when_a_call_ends() {
    let _serial = serial();
    let dir = TempDir::new("audio-hangup");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(&ini("localDTMF=1\n"), speaker.path(), None);
    // The caller sends silence: what the speaker plays after the call is the sound alone.
    let play = dir.path().join("silence.wav");
    audio::write_wav(&play, 8000, &vec![0i16; 8000]);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 2);
    phone.wait_line(": DISCONNECTED", T);
    let line = phone.wait_line("hang-up sound: playing on", T);
    assert!(line.contains("'default'"), "{line}");
    // The built-in hang-up sound: 660, 550 then 440 Hz beeps.
    let found = |p: &[i16], hz: f64| !blocks_with(p, hz, 0.15).is_empty();
    speaker.wait_for("the three beeps of the hang-up sound", T, |p| {
        found(p, 660.0) && found(p, 550.0) && found(p, 440.0)
    });
    caller.quit_and_recording();
}

#[test]
fn auto_recording_writes_both_sides_under_microsips_file_name() {
    let _serial = serial();
    let dir = TempDir::new("audio-rec");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, AMP);
    let phone = phone_on_files(
        &ini("autoRecording=1\nrecordingFormat=wav\nrecordingPath=calls\n"),
        speaker.path(),
        Some(mic.path()),
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 3);
    phone.wait_line(": DISCONNECTED", T);
    let line = phone.wait_line("call 0: recorded in", T);
    caller.quit_and_recording();

    let files: Vec<_> = std::fs::read_dir(phone.dir().join("calls"))
        .expect("recordingPath is created next to MicroSIP.ini")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0];
    let re =
        regex::Regex::new(r"^\d{8}-\d{6}-127_0_0_1-incoming-Local_\(call_by_IP_address\)\.wav$")
            .unwrap();
    assert!(re.is_match(name), "MicroSIP's file name rule: {name}");
    assert!(line.contains(name.as_str()), "{line}");

    let (rate, rec) = audio::read_wav(&phone.dir().join("calls").join(name));
    assert!(
        rec.len() as f64 / f64::from(rate) > 2.0,
        "about 3 s recorded, got {:.2} s",
        rec.len() as f64 / f64::from(rate)
    );
    // Both sides: the caller's 1 kHz and the microphone's 440 Hz, in the middle of the call.
    let mid = &rec[rec.len() / 4..rec.len() * 3 / 4];
    let (caller_level, mic_level) = (
        median_level(mid, rate, 1000.0),
        median_level(mid, rate, 440.0),
    );
    assert!(
        caller_level > 0.35 && mic_level > 0.35,
        "the recording holds the caller ({caller_level:.3}) and the microphone ({mic_level:.3})"
    );
}

#[test]
fn a_device_that_appears_later_is_used_from_the_next_call_on() {
    let _serial = serial();
    let dir = TempDir::new("audio-late");
    // ALSA's configuration has no sound card at first (like a headset not yet plugged in).
    let asoundrc = dir.path().join("asoundrc");
    std::fs::write(&asoundrc, "# nothing yet\n").unwrap();
    let speaker_path = dir.path().join("speaker");
    let phone = Phone::start_with_env(
        &ini(""),
        &[],
        &[
            ("ALSA_CONFIG_PATH", asoundrc.to_str().unwrap()),
            ("AUDIO_OUT", speaker_path.to_str().unwrap()),
            ("AUDIO_IN", "/nonexistent/in.raw"),
        ],
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut first = PjsuaCaller::call(&phone_uri(&phone), &play, 1);
    phone.wait_line("without local audio", T);
    phone.wait_line(": DISCONNECTED", T);
    first.quit_and_recording();

    // The card appears; the next call plays on it, with no restart.
    let speaker = PacedSpeaker::start(&speaker_path);
    std::fs::copy(audio::asoundrc(), &asoundrc).unwrap();
    let mark = phone.mark();
    let mut second = PjsuaCaller::call(&phone_uri(&phone), &play, 3);
    let line = phone.wait_line_after(mark, "audio: speaker ", T);
    assert!(line.contains("'default'"), "{line}");
    phone.wait_line_after(mark, ": DISCONNECTED", T);
    second.quit_and_recording();
    assert_tone(
        "speaker of the second call",
        &speaker.samples(),
        SPEAKER_RATE,
        1000.0,
        1.5,
    );
}

/// Decodes an MP3 file: (rate, mono samples of the first channel).
fn decode_mp3(path: &Path) -> (u32, Vec<i16>) {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("an MP3 stream");
    let mut format = probed.format;
    let track = format.default_track().expect("a track").clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("an MP3 decoder");
    let rate = track.codec_params.sample_rate.expect("a sample rate");
    let channels = track.codec_params.channels.map_or(1, |c| c.count());
    let mut out = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let Ok(decoded) = decoder.decode(&packet) else {
            continue;
        };
        let mut buf = SampleBuffer::<i16>::new(decoded.capacity() as u64, *decoded.spec());
        buf.copy_interleaved_ref(decoded);
        out.extend(buf.samples().iter().step_by(channels));
    }
    (rate, out)
}

#[test]
fn record_commands_record_the_selected_call_into_an_mp3_file() {
    let _serial = serial();
    let dir = TempDir::new("audio-rec-cmd");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, AMP);
    // recordingFormat is not set: MicroSIP's default, MP3.
    let phone = phone_on_files(
        &ini("recordingPath=calls\n"),
        speaker.path(),
        Some(mic.path()),
    );
    let uri = phone_uri(&phone);
    let (ok, reply) = try_send(&phone, "msip:recordstart");
    assert!(!ok && reply.contains("no call"), "{reply}");
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&uri, &play, 60);
    phone.wait_line(": CONFIRMED", T);
    speaker.wait_for("the caller's voice", T, |p| {
        blocks_with(p, 1000.0, 0.35).len() >= 10
    });
    let asked_start = std::time::Instant::now();
    let reply = send(&phone, "msip:recordclick");
    let started = std::time::Instant::now();
    assert!(
        reply.contains("recording to") && reply.contains(".mp3"),
        "{reply}"
    );
    // Two seconds of the call, by the sound card's clock.
    let mark = speaker.len();
    speaker.wait_played(mark, 2.0, T);
    let asked_stop = std::time::Instant::now();
    let reply = send(&phone, "msip:recordstop");
    let stopped = std::time::Instant::now();
    assert!(reply.contains("recording stopped"), "{reply}");
    let (ok, reply) = try_send(&phone, "msip:recordstop");
    assert!(!ok && reply.contains("not being recorded"), "{reply}");
    let line = phone.wait_line("call 0: recorded in", T);
    send(&phone, "/hangupall");
    phone.wait_line(": DISCONNECTED", T);
    caller.quit_and_recording();

    let files: Vec<_> = std::fs::read_dir(phone.dir().join("calls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "one MP3 and no WAV left behind: {files:?}");
    let name = &files[0];
    let re =
        regex::Regex::new(r"^\d{8}-\d{6}-127_0_0_1-incoming-Local_\(call_by_IP_address\)\.mp3$")
            .unwrap();
    assert!(re.is_match(name), "MicroSIP's file name rule: {name}");
    assert!(line.contains(name.as_str()), "{line}");
    let (rate, rec) = decode_mp3(&phone.dir().join("calls").join(name));
    let seconds = rec.len() as f64 / f64::from(rate);
    // From the start command to the stop command: not the whole call. (The encoder's frames
    // add up to 0.1 s, the media clock's ticks a little more.)
    let least = (asked_stop - started).as_secs_f64() - 0.3;
    let most = (stopped - asked_start).as_secs_f64() + 0.3;
    assert!(
        (least..most).contains(&seconds),
        "the {least:.2} to {most:.2} s between start and stop were recorded, got {seconds:.2} s"
    );
    let mid = &rec[rec.len() / 4..rec.len() * 3 / 4];
    let (caller_level, mic_level) = (
        median_level(mid, rate, 1000.0),
        median_level(mid, rate, 440.0),
    );
    assert!(
        caller_level > 0.3 && mic_level > 0.3,
        "the recording holds the caller ({caller_level:.3}) and the microphone ({mic_level:.3})"
    );
}

/// 50 ms blocks of `x` (at the speaker's rate) holding `hz` above `level`: their indices.
fn blocks_with(x: &[i16], hz: f64, level: f64) -> Vec<usize> {
    blocks_at(x, SPEAKER_RATE, hz, level)
}

/// 50 ms blocks of `x`, sampled at `rate`, holding `hz` above `level`: their indices.
fn blocks_at(x: &[i16], rate: u32, hz: f64, level: f64) -> Vec<usize> {
    x.chunks_exact(rate as usize / 20)
        .enumerate()
        .filter(|(_, b)| audio::goertzel(b, rate, hz) > level)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn the_auto_answer_beep_plays_before_the_call_is_answered() {
    let _serial = serial();
    let dir = TempDir::new("audio-beep");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(
        &ini("autoAnswerDelay=1\nlocalDTMF=1\n"),
        speaker.path(),
        None,
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 2);
    let line = phone.wait_line("auto-answer beep: playing on", T);
    assert!(line.contains("'default'"), "{line}");
    phone.wait_line(": CONFIRMED", T);
    phone.wait_line(": DISCONNECTED", T);
    caller.quit_and_recording();

    // The built-in beep: two 120 ms beeps of 880 Hz; then the caller's 1 kHz.
    let played = speaker.samples();
    let beep = blocks_with(&played, 880.0, 0.1);
    let voice = blocks_with(&played, 1000.0, 0.3);
    assert!(
        beep.len() >= 3,
        "the beep reaches the speaker: {} ms of 880 Hz",
        beep.len() * 50
    );
    assert!(!voice.is_empty(), "the call is answered after the beep");
    assert!(
        beep.last() < voice.first(),
        "the call is answered when the beep has played (beep blocks {beep:?}, first caller \
         block {:?})",
        voice.first()
    );
}

#[test]
fn without_local_dtmf_the_auto_answer_has_no_beep() {
    let _serial = serial();
    let dir = TempDir::new("audio-nobeep");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(
        &ini("autoAnswerDelay=1\nlocalDTMF=0\n"),
        speaker.path(),
        None,
    );
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 2);
    phone.wait_line(": CONFIRMED", T);
    phone.wait_line(": DISCONNECTED", T);
    caller.quit_and_recording();
    let played = speaker.samples();
    assert!(
        !blocks_with(&played, 1000.0, 0.3).is_empty(),
        "the call was heard"
    );
    assert!(
        blocks_with(&played, 880.0, 0.1).is_empty(),
        "localDTMF=0: no beep"
    );
    assert!(
        !phone.log().contains("auto-answer beep"),
        "no beep was started"
    );
}

#[test]
fn a_call_during_another_is_announced_by_a_beep_instead_of_the_ringtone() {
    let _serial = serial();
    let dir = TempDir::new("audio-waiting");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let ring = PacedSpeaker::start(&dir.path().join("ring"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, 0.0);
    let phone = Phone::start_with_env(
        &ini("autoAnswer=\naudioRingDevice=speaker2\nlocalDTMF=1\n"),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", speaker.path().to_str().unwrap()),
            ("AUDIO_OUT2", ring.path().to_str().unwrap()),
            ("AUDIO_IN", mic.path().to_str().unwrap()),
        ],
    );
    let uri = phone_uri(&phone);
    let silence = dir.path().join("silence.wav");
    audio::write_wav(&silence, 8000, &vec![0i16; 8000]);
    let mut first = PjsuaCaller::call_from(Some("first"), &uri, &silence, 60);
    phone.wait_line("ringtone: playing on", T);
    ring.wait_for("the first call's ringtone", T, |p| {
        !blocks_with(p, 400.0, 0.05).is_empty()
    });
    send(&phone, "/answer");
    phone.wait_line(": CONFIRMED", T);
    // The first call's ringtone has stopped (its stream closed).
    ring.wait_closed(T);
    let ring_mark = ring.len();
    let speaker_mark = speaker.len();

    let mut second = PjsuaCaller::call_from(Some("second"), &uri, &silence, 60);
    let line = phone.wait_line("call-waiting beep: playing on", T);
    assert!(line.contains("'default'"), "{line}");
    let played = speaker.wait_for("the beep (880 Hz)", T, |p| {
        !blocks_with(&p[speaker_mark..], 880.0, 0.05).is_empty()
    });
    // A ringtone would have started with the beep: give it a second of the card's clock.
    speaker.wait_played(played.len(), 1.0, T);
    let rung = ring.samples()[ring_mark..].to_vec();
    second.quit_and_recording();
    first.quit_and_recording();

    assert!(
        blocks_with(&rung, 400.0, 0.05).is_empty(),
        "no ringtone on the ring device for a call during another"
    );
}

#[test]
fn dtmf_digits_are_played_locally_with_or_without_a_call() {
    let _serial = serial();
    let dir = TempDir::new("audio-dtmf");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, 0.0);
    let phone = phone_on_files(&ini("localDTMF=1\n"), speaker.path(), Some(mic.path()));
    let uri = phone_uri(&phone);

    // No call: MicroSIP's dialer only plays the tones, on the sound device.
    let reply = send(&phone, "/dtmf:5");
    assert!(reply.contains("only played here"), "{reply}");
    speaker.wait_for("digit 5", T, |p| !blocks_with(p, 1336.0, 0.05).is_empty());
    // The device closes once the tone has played.
    let idle = speaker.wait_closed(T);
    let five = tone_ms(&idle, 1336.0, 0.05);
    assert!(
        (100..=260).contains(&five) && !blocks_with(&idle, 770.0, 0.05).is_empty(),
        "digit 5 (770 + 1336 Hz, 160 ms) on the speaker with no call: {five} ms"
    );

    // In a call: the digits go to the caller (RFC 2833) and are heard here too.
    let silence = dir.path().join("silence.wav");
    audio::write_wav(&silence, 8000, &vec![0i16; 8000]);
    let mut caller = PjsuaCaller::call(&uri, &silence, 60);
    phone.wait_line(": CONFIRMED", T);
    let mark = speaker.len();
    let reply = send(&phone, "/dtmf:19");
    assert!(reply.contains("sent DTMF 19"), "{reply}");
    let heard = speaker.wait_for("the digits 1 and 9", T, |p| {
        let after = &p[mark.min(p.len())..];
        !blocks_with(after, 1209.0, 0.05).is_empty() && !blocks_with(after, 1477.0, 0.05).is_empty()
    });
    // The rest of the second tone.
    let played = speaker.wait_played(heard.len(), 0.5, T)[mark..].to_vec();
    send(&phone, "/hangupall");
    phone.wait_line(": DISCONNECTED", T);
    caller.quit_and_recording();
    // 1 = 697 + 1209 Hz, then 9 = 852 + 1477 Hz.
    let (one, nine) = (
        blocks_with(&played, 1209.0, 0.05),
        blocks_with(&played, 1477.0, 0.05),
    );
    assert!(
        !one.is_empty() && !nine.is_empty() && one[0] < nine[0],
        "digits 1 then 9 on the speaker during the call: {one:?} {nine:?}"
    );
    let one_ms = tone_ms(&played, 697.0, 0.05);
    assert!(
        (100..=260).contains(&one_ms),
        "each tone lasts MicroSIP's 160 ms: digit 1's 697 Hz for {one_ms} ms"
    );
}

/// For how many milliseconds `x` (at the speaker's rate) holds `hz` above `level`, in 20 ms
/// steps: a tone's length, whatever gaps a device's start puts into it.
fn tone_ms(x: &[i16], hz: f64, level: f64) -> usize {
    let block = SPEAKER_RATE as usize / 50;
    x.chunks_exact(block)
        .filter(|b| audio::goertzel(b, SPEAKER_RATE, hz) > level)
        .count()
        * 20
}

#[test]
fn mic_amplification_boosts_a_quiet_microphone_as_microsip_does() {
    let _serial = serial();
    let dir = TempDir::new("audio-micamp");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    // A quiet microphone: 440 Hz at 0.05 of full scale (-26 dBFS).
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, 0.05);
    let phone = phone_on_files(
        &ini("micAmplification=1\nvolumeInput=100\nEC=0\n"),
        speaker.path(),
        Some(mic.path()),
    );
    let silence = dir.path().join("silence.wav");
    audio::write_wav(&silence, 8000, &vec![0i16; 8000]);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &silence, 3);
    phone.wait_line(": DISCONNECTED", T);
    let (rate, received) = caller.quit_and_recording();
    let mid = &received[received.len() / 4..received.len() * 3 / 4];
    let level = median_level(mid, rate, 440.0);
    // MicroSIP's curve at 100 %: 50 + 50^1.7 = 823 %, so 0.05 becomes about 0.41.
    assert!(
        (0.33..0.50).contains(&level),
        "micAmplification=1 at volumeInput=100 gives the caller 440 Hz at {level:.3} (want ~0.41)"
    );
}

/// Random datagrams, some shaped like RTP (version 2, payload types the call may use), some
/// not, at every port from `first` to `last` on 127.0.0.1, for `seconds`.
fn spray_garbage(first: u16, last: u16, seconds: f64) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs_f64() < seconds {
        for port in first..=last {
            for pt in [0u8, 8, 96, 99, 101, 120] {
                let len = 1 + (next() % 400) as usize;
                let mut packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if packet.len() >= 12 && pt != 120 {
                    packet[0] = 0x80 | (packet[0] & 0x3f);
                    packet[1] = pt | (packet[1] & 0x80);
                }
                let _ = sock.send_to(&packet, ("127.0.0.1", port));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn opus_stereo_calls_work_and_survive_garbage_rtp() {
    let _serial = serial();
    let dir = TempDir::new("audio-opus");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 24000, 440.0, AMP);
    let ini_text = ini("audioCodecs=opus/48000/2\nopusStereo=1\n");
    let rtp_min: u16 = ini_text
        .lines()
        .find_map(|l| l.strip_prefix("rtpPortMin="))
        .unwrap()
        .parse()
        .unwrap();
    let phone = phone_on_files(&ini_text, speaker.path(), Some(mic.path()));
    phone.wait_line("opusStereo=1: opus/48000/2 in stereo at 96 kbit/s", T);
    let play = tone_wav(dir.path(), 1000.0);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &play, 6);
    let line = phone.wait_line("audio: speaker ", T);
    // MicroSIP's clock-rate rule: opus counts as 24 kHz.
    assert!(line.contains("24000 Hz"), "{line}");
    // Once the call's audio flows, somebody sprays its RTP and RTCP ports with junk for 2 s
    // (PJSIP's stereo bridge corrupted its heap on this; the bridge is mono now).
    speaker.wait_for("1 s of the caller's 1 kHz", T, |p| {
        blocks_with(p, 1000.0, 0.35).len() >= 20
    });
    spray_garbage(rtp_min, rtp_min + 7, 2.0);
    phone.wait_line(": DISCONNECTED", T);
    phone.wait_line("audio: stopped after", T);
    let log = caller.log();
    let (rate, received) = caller.quit_and_recording();
    assert!(
        log.contains("opus/48000/2") && log.contains("stereo=1"),
        "our answer offers opus in stereo (stereo=1 in the SDP)"
    );
    // The phone lives on: it still answers commands.
    let reply = send(&phone, "msip:micmute");
    assert!(reply.contains("mic muted"), "{reply}");
    // Both ways before the junk came.
    let early_speaker = speaker.samples();
    let early_speaker = &early_speaker[..early_speaker.len().min(SPEAKER_RATE as usize * 3)];
    let heard = blocks_with(early_speaker, 1000.0, 0.35).len();
    assert!(
        heard >= 20,
        "the caller's 1 kHz on the speaker: {} ms",
        heard * 50
    );
    let first = &received[rate as usize / 2..(rate as usize * 3 / 2).min(received.len())];
    let level = median_level(first, rate, 440.0);
    assert!(
        level > 0.3,
        "the microphone reaches the caller over opus: {level:.3}"
    );
}

#[test]
fn the_echo_canceller_removes_the_speakers_echo_and_keeps_the_room() {
    let _serial = serial();
    let (off, voice_off) = audio::echo_and_voice(&ini("EC=0\n"));
    let (on, voice_on) = audio::echo_and_voice(&ini("EC=1\n"));
    eprintln!(
        "echo heard by the caller: EC=0 {off:.1} dBFS, EC=1 {on:.1} dBFS; the room's 440 Hz: \
         {voice_off:.3} / {voice_on:.3}"
    );
    assert!(
        off > -20.0,
        "without EC the caller hears its own voice back ({off:.1} dBFS)"
    );
    // Clearly less echo: at least 10 dB (a tenth of its power). How much the canceller
    // takes off is a quality figure: tests/audio_bench.rs `echo_attenuation` reports it.
    assert!(
        on < off - 10.0,
        "EC=1 takes at least 10 dB off the echo: {off:.1} -> {on:.1} dBFS"
    );
    assert!(
        (voice_on / voice_off - 1.0).abs() < 0.5,
        "the room is still heard with EC=1: 440 Hz at {voice_on:.3} (EC=0: {voice_off:.3})"
    );
}

#[test]
fn ringback_plays_while_an_outgoing_call_rings_without_early_media() {
    let _serial = serial();
    let dir = TempDir::new("audio-ringback");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = phone_on_files(&ini("volumeRing=100\n"), speaker.path(), None);
    phone_uri(&phone);
    // A callee that answers 180 (no SDP: no early media) and rings until cancelled.
    let mut sipp = Sipp::uas("uas_ring_cancel.xml").spawn();
    let reply = send(&phone, &format!("sip:ring@127.0.0.1:{}", sipp.port()));
    assert!(reply.starts_with("ok"), "{reply}");
    phone.wait_line(": EARLY", T);
    let line = phone.wait_line("ringback: playing on", T);
    assert!(line.contains("'default'"), "{line}");
    // The built-in ringback: 425 Hz, 1 s on, 4 s off.
    speaker.wait_for("the ringback (400 ms of 425 Hz)", T, |p| {
        blocks_with(p, 425.0, 0.1).len() >= 8
    });
    send(&phone, "/hangupcalling");
    sipp.wait(T).assert_success();
    let at_cancel = speaker.len();
    // The ringback stops with the call: its stream closes.
    let played = speaker.wait_closed(T);
    let after = &played[(at_cancel + SPEAKER_RATE as usize / 2).min(played.len())..];
    assert!(
        blocks_with(after, 425.0, 0.05).is_empty(),
        "the ringback stops when the call ends"
    );
}

#[test]
fn dtmf_method_in_band_puts_the_tones_into_the_call_audio() {
    let _serial = serial();
    let dir = TempDir::new("audio-inband");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let mic = PacedMic::start(&dir.path().join("mic"), 8000, 440.0, 0.0);
    let phone = phone_on_files(&ini("DTMFMethod=1\n"), speaker.path(), Some(mic.path()));
    let silence = dir.path().join("silence.wav");
    audio::write_wav(&silence, 8000, &vec![0i16; 8000]);
    let mut caller = PjsuaCaller::call(&phone_uri(&phone), &silence, 5);
    phone.wait_line(": CONFIRMED", T);
    phone.wait_line("audio: speaker ", T);
    let reply = send(&phone, "/dtmf:3#");
    assert!(reply.contains("sent DTMF 3#"), "{reply}");
    phone.wait_line(": DISCONNECTED", T);
    let (rate, received) = caller.quit_and_recording();
    // 3 = 697 + 1477 Hz, # = 941 + 1477 Hz; 160 ms each.
    let with = |hz: f64| blocks_at(&received, rate, hz, 0.05);
    let (low3, low_hash, high) = (with(697.0), with(941.0), with(1477.0));
    assert!(
        !low3.is_empty() && !low_hash.is_empty() && low3[0] < low_hash[0],
        "the caller hears 3 then #: 697 Hz in {low3:?}, 941 Hz in {low_hash:?}"
    );
    assert!(
        (4..=10).contains(&high.len()),
        "two tones of 160 ms share 1477 Hz: {} ms of it",
        high.len() * 50
    );
}

#[test]
fn volume_ring_sets_the_ringtones_level() {
    let _serial = serial();
    let dir = TempDir::new("audio-ringvol");
    let ring = PacedSpeaker::start(&dir.path().join("ring"));
    let phone = Phone::start_with_env(
        &ini("autoAnswer=\naudioRingDevice=speaker2\nvolumeRing=50\n"),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            (
                "AUDIO_OUT",
                dir.path().join("default-out.raw").to_str().unwrap(),
            ),
            ("AUDIO_OUT2", ring.path().to_str().unwrap()),
        ],
    );
    let uri = phone_uri(&phone);
    let target = uri.trim_start_matches("sip:intercom@").to_string();
    Sipp::uac("uac_cancel.xml", &target)
        .service("intercom")
        .run(T)
        .assert_success();
    let played = ring.samples();
    // The built-in ringtone's 400 Hz is at 0.175 of full scale: half of it at volumeRing=50.
    let block = SPEAKER_RATE as usize / 20;
    let peak = played
        .chunks_exact(block)
        .map(|b| audio::goertzel(b, SPEAKER_RATE, 400.0))
        .fold(0.0, f64::max);
    assert!(
        (0.075..0.1).contains(&peak),
        "volumeRing=50: the ringtone's 400 Hz at {peak:.4} (full level 0.175)"
    );
}
