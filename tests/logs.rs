//! Logs a person can read: a box with no sound card hears about it once, at start, not at
//! every call; a port PJSIP retries is not an error; `--list-audio-devices` lists devices,
//! not ALSA's converter plugins (unless `--all`).

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::audio::{self, PjsuaCaller};
use support::{Phone, Sipp, TempDir};

const T: Duration = Duration::from_secs(20);

/// An ALSA configuration of its own: `text`, in a temp dir.
fn alsa_config(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("asoundrc");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn no_sound_card_is_said_once_at_start_and_a_port_retry_is_no_error() {
    let dir = TempDir::new("no-card");
    // An empty ALSA configuration: 'default' exists and cannot be opened, as on a server.
    let alsa = alsa_config(&dir, "");
    let sip = support::free_udp_port();
    // The first RTP port of the range is taken: PJSUA binds the next one. TCP 5060, which
    // MicroSIP's rule gives the local account, is taken too (by us, or by another phone of
    // the suite): the phone falls back to a random port. (A block found free can be taken
    // by another process before we bind it: then another block.)
    let (rtp, _taken) = (0..50)
        .find_map(|_| {
            let rtp = support::free_udp_port_block(8);
            UdpSocket::bind(("127.0.0.1", rtp)).ok().map(|s| (rtp, s))
        })
        .expect("a free block of RTP ports whose first port we can hold");
    let _tcp_5060 = std::net::TcpListener::bind(("127.0.0.1", 5060));
    // TLS 5061 likewise: the phone must not announce a port another program holds.
    let _tls_5061 = std::net::TcpListener::bind(("127.0.0.1", 5061));
    let ini = format!(
        "[Settings]\naccountId=0\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\n",
        rtp + 7
    );
    let phone = Phone::start_with_env(&ini, &[], &[("ALSA_CONFIG_PATH", &alsa)]);
    phone.wait_line("started: SIP on udp", T);
    // Said at start, before any call.
    phone.wait_line("no usable sound output", T);
    phone.wait_line("no usable microphone", T);
    phone.wait_line("sounds: cannot play", T);
    let target = format!("127.0.0.1:{sip}");
    for _ in 0..3 {
        Sipp::uac("uac_call_bye.xml", &target)
            .service("door")
            .run(T)
            .assert_success();
    }
    phone.wait_line("call 2 ", T);
    let log = phone.log();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("no usable sound output"), 1, "{log}");
    assert_eq!(count("no usable microphone"), 1, "{log}");
    assert_eq!(count("sounds: cannot play"), 1, "{log}");
    assert_eq!(
        count(" WARN "),
        3,
        "only the three start-up warnings:\n{log}"
    );
    assert_eq!(count("ERROR"), 0, "{log}");
    assert_eq!(count("port 5060 is not free"), 1, "{log}");
    assert_eq!(count("port 5061 is not free"), 1, "{log}");
    // The TLS port it announces is its own: another one, and it accepts connections.
    let tls_port: u16 = log
        .lines()
        .find_map(|l| l.split_once(", tls on 127.0.0.1:").map(|(_, p)| p.trim()))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no TLS port announced:\n{log}"));
    assert_ne!(tls_port, 5061, "{log}");
    std::net::TcpStream::connect(("127.0.0.1", tls_port))
        .unwrap_or_else(|e| panic!("announced TLS port {tls_port} refuses: {e}\n{log}"));
}

#[test]
fn list_audio_devices_hides_alsa_plugins_unless_all() {
    let dir = TempDir::new("alsa-plugins");
    let alsa = alsa_config(
        &dir,
        "pcm.!default { type null }\n\
         pcm.doorbell { type null hint { show on description \"Door speaker\" } }\n\
         pcm.upmix { type null hint { show on description \"Plugin for channel upmix (4,6,8)\" } }\n\
         pcm.lavrate { type null hint { show on description \"Rate Converter Plugin Using Libav\" } }\n",
    );
    let list = |args: &[&str]| {
        let (status, out) =
            Phone::run_to_exit_with_env(args, &[("ALSA_CONFIG_PATH", alsa.as_str())], T);
        assert!(status.success(), "{out}");
        out
    };
    let out = list(&["--list-audio-devices"]);
    assert!(
        out.contains("doorbell") && out.contains("Door speaker"),
        "{out}"
    );
    assert!(
        !out.contains("  upmix") && !out.contains("  lavrate"),
        "{out}"
    );
    assert!(
        out.contains("not listed: 2 ALSA plugin(s)") && out.contains("--all lists them"),
        "{out}"
    );
    let out = list(&["--list-audio-devices", "--all"]);
    assert!(
        out.contains("  upmix") && out.contains("  lavrate"),
        "{out}"
    );
    assert!(out.contains("doorbell"), "{out}");
    assert!(!out.contains("not listed"), "{out}");
    // --all alone means nothing.
    let (status, out) = Phone::run_to_exit(&["--all"], T);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(
        out.contains("--all goes with --list-audio-devices"),
        "{out}"
    );
}

#[test]
fn the_null_device_costs_what_a_silent_call_costs() {
    // `null` is what --list-audio-devices offers for "no sound card": ALSA's null device never
    // blocks, and a stream on it spun two cores. Now nothing is opened.
    let ini = support::settings(
        0,
        "autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\n\
         audioOutputDevice=null\naudioInputDevice=null\naudioRingDevice=null\n",
    );
    let phone = Phone::start(&ini, &[]);
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();
    phone.wait_line("audioOutputDevice=null", T);
    let dir = TempDir::new("null-device");
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 1000.0, 0.3, 0, 8000 * 2));
    let mut caller = PjsuaCaller::call(&format!("sip:door@{addr}"), &play, 4);
    phone.wait_line(": CONFIRMED", T);
    let (t0, ticks0) = (Instant::now(), audio::cpu_ticks(phone.pid()));
    phone.wait_line(": DISCONNECTED", Duration::from_secs(30));
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = (audio::cpu_ticks(phone.pid()) - ticks0) as f64 / 100.0;
    let (_, received) = caller.quit_and_recording();
    assert!(!received.is_empty(), "the call carried RTP to the caller");
    // A silent call takes well under 1% of a core; the busy loop took about 190%. The bound
    // is far from both, so a busy machine does not decide it.
    assert!(
        cpu < 0.25 * seconds,
        "{cpu:.2} s of CPU in a {seconds:.1} s call on the null device"
    );
    let log = phone.log();
    assert!(!log.contains(" WARN "), "no warning for a choice:\n{log}");
}

#[test]
fn sound_devices_are_checked_at_start_without_loading_alsa_plugins_into_the_phone() {
    let dir = TempDir::new("alsa-apart");
    // ALSA's PulseAudio hook, as Debian's libasound2-plugins installs it: whoever reads the
    // configuration loads it, and with it libpulse, which stays mapped.
    let alsa = alsa_config(
        &dir,
        "hook_func.pulse_load_if_running {\n\
         \x20 lib \"libasound_module_conf_pulse.so\"\n\
         \x20 func \"conf_pulse_hook_load_if_running\"\n}\n\
         @hooks [ { func pulse_load_if_running files [ \"/nonexistent/pulse-alsa.conf\" ] \
         errors false } ]\n",
    );
    let phone = Phone::start_with_env(
        &support::settings(0, ""),
        &[],
        &[
            ("ALSA_CONFIG_PATH", &alsa),
            ("PULSE_SERVER", "unix:/nonexistent/pulse"),
        ],
    );
    phone.wait_line("started: SIP on udp", T);
    // The check ran and said what it found, at start...
    phone.wait_line("no usable sound output", T);
    phone.wait_line("sounds: cannot play", T);
    // ...in a process of its own: the phone did not load ALSA's plugins.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", phone.pid())).unwrap();
    for lib in ["libasound_module_", "libpulse"] {
        assert!(!maps.contains(lib), "an idle phone maps {lib}:\n{maps}");
    }
    // The same check, asked for: exit 1, each problem said.
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit_with_env(
        &["--ini", &ini, "--check-audio-devices"],
        &[
            ("ALSA_CONFIG_PATH", &alsa),
            ("PULSE_SERVER", "unix:/nonexistent/pulse"),
        ],
        T,
    );
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("no usable sound output"), "{out}");
}
