//! Alert calls (`microsip --alert`) against scripted callees on 127.0.0.1: pjsua from our
//! pjproject tree (it answers, sends RFC 2833 digits from its menu, plays a file and records
//! what it hears) and SIPp scenarios (SIP INFO digits, silence, busy, no answer). Each case
//! checks the exit code and the JSON report.

mod support;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::audio::{self, real_time_command};
use support::{Phone, Sipp, TempDir, LOCALHOST};

const T: Duration = Duration::from_secs(60);

/// A pjsua callee: answers at once, records what it hears, plays `play` when given.
struct Callee {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: TempDir,
    port: u16,
}

impl Callee {
    fn start(play: Option<&Path>) -> Callee {
        let dir = TempDir::new("callee");
        let port = support::free_udp_port();
        let rtp = support::free_udp_port_block(4);
        let out = File::create(dir.path().join("pjsua.out")).unwrap();
        let mut cmd = real_time_command(&audio::pjsua_binary());
        cmd.args(["--null-audio", "--no-tcp", "--no-vad", "--max-calls=1"])
            .arg("--auto-answer=200")
            .arg(format!("--ip-addr={LOCALHOST}"))
            .arg(format!("--bound-addr={LOCALHOST}"))
            .arg(format!("--local-port={port}"))
            .arg(format!("--rtp-port={rtp}"))
            .arg("--auto-rec")
            .arg(format!(
                "--rec-file={}",
                dir.path().join("rec.wav").display()
            ))
            .args(["--log-level=4", "--app-log-level=3"])
            .arg(format!(
                "--log-file={}",
                dir.path().join("pjsua.log").display()
            ));
        if let Some(p) = play {
            cmd.arg(format!("--play-file={}", p.display()))
                .arg("--auto-play");
        }
        let mut child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn pjsua");
        let callee = Callee {
            stdin: child.stdin.take(),
            child,
            dir,
            port,
        };
        callee.wait_log("Ready: Success");
        callee
    }

    fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{LOCALHOST}:{}", self.port)
    }

    /// Its console output and log file (either may hold a line first).
    fn log(&self) -> String {
        ["pjsua.out", "pjsua.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn wait_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + T;
        while !self.log().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "pjsua logged no {needle:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `digits` as RFC 2833 events (pjsua's `#` menu command).
    fn press(&mut self, digits: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        write!(stdin, "#\n{digits}\n").unwrap();
        stdin.flush().unwrap();
    }

    /// What it recorded (quits pjsua first so the file is complete).
    fn recording(&mut self) -> (u32, Vec<i16>) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"q\n");
        }
        let _ = self.child.wait();
        audio::read_wav(&self.dir.path().join("rec.wav"))
    }
}

impl Drop for Callee {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A MicroSIP.ini for the local account, in `dir`.
fn ini(dir: &Path) -> PathBuf {
    let path = dir.join("MicroSIP.ini");
    std::fs::write(&path, support::settings(0, "")).unwrap();
    path
}

/// Runs `microsip --alert ARGS --json`; returns the exit code and the JSON lines.
fn alert(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let ini = ini(dir);
    let mut all = vec![
        "--ini",
        ini.to_str().unwrap(),
        "--bind",
        LOCALHOST,
        "--alert",
    ];
    all.extend_from_slice(args);
    all.push("--json");
    let (status, out) = Phone::run_to_exit(&all, T);
    let json = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (status.code().unwrap_or(-1), json, out)
}

fn outcomes(json: &[Value]) -> Vec<String> {
    json.iter()
        .filter(|v| v["type"] == "alert_attempt")
        .map(|v| {
            format!(
                "{}:{}",
                v["target"].as_str().unwrap(),
                v["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

/// A WAV of `hz` for `secs` at 8 kHz.
fn tone_file(dir: &Path, hz: f64, secs: f64) -> PathBuf {
    let path = dir.join(format!("tone{hz}.wav"));
    audio::write_wav(
        &path,
        8000,
        &audio::tone(8000, hz, 0.5, 0, (8000.0 * secs) as usize),
    );
    path
}

#[test]
fn rfc2833_acknowledges_and_the_prompt_reaches_the_callee() {
    let dir = TempDir::new("alert");
    let prompt = tone_file(dir.path(), 1000.0, 1.0);
    let mut callee = Callee::start(None);
    let uri = callee.uri("oncall");
    // The callee presses 1 once it hears the prompt's first second (its recording holds it).
    let d = dir.path().to_path_buf();
    let runner = std::thread::spawn(move || {
        alert(
            &d,
            &[&uri, "--play", prompt.to_str().unwrap(), "--repeat", "20"],
        )
    });
    callee.wait_log("CONFIRMED");
    let rec = callee.dir.path().join("rec.wav");
    let deadline = std::time::Instant::now() + T;
    while std::fs::metadata(&rec).map(|m| m.len()).unwrap_or(0) < 44 + 2 * 16000 * 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the callee recorded nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    callee.press("1");
    let (code, json, out) = runner.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        outcomes(&json),
        ["sip:oncall@127.0.0.1:".to_string() + &callee.port.to_string() + ":acknowledged"]
    );
    let result = json
        .iter()
        .find(|v| v["type"] == "alert_result")
        .expect("a result");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(json[0]["digit"], "1");
    let (rate, heard) = callee.recording();
    let level = audio::goertzel(&heard[..heard.len().min(rate as usize * 2)], rate, 1000.0);
    assert!(
        level > 0.05,
        "the 1 kHz prompt is not in what the callee heard: {level}"
    );
}

#[test]
fn sip_info_acknowledges() {
    let dir = TempDir::new("alert");
    let mut callee = Sipp::uas("uas_ack_info.xml").spawn();
    let target = format!("sip:oncall@{}", callee.addr());
    let (code, json, out) = alert(dir.path(), &[&target, "--repeat", "50"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json[0]["outcome"], "acknowledged");
    callee.wait(T).assert_success();
}

#[test]
fn an_in_band_tone_acknowledges() {
    let dir = TempDir::new("alert");
    // The callee plays DTMF 1 (697 + 1209 Hz) into the call, after a short silence.
    let path = dir.path().join("dtmf1.wav");
    let mut samples = vec![0i16; 8000];
    let a = audio::tone(8000, 697.0, 0.25, 0, 2400);
    let b = audio::tone(8000, 1209.0, 0.25, 0, 2400);
    samples.extend(a.iter().zip(&b).map(|(x, y)| x.saturating_add(*y)));
    samples.extend(vec![0i16; 4000]);
    audio::write_wav(&path, 8000, &samples);
    let callee = Callee::start(Some(&path));
    let (code, json, out) = alert(dir.path(), &[&callee.uri("oncall"), "--repeat", "50"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json[0]["outcome"], "acknowledged", "{out}");
    assert_eq!(json[0]["digit"], "1");
}

#[test]
fn answered_but_silent_is_exit_2_after_the_repeats() {
    let dir = TempDir::new("alert");
    let prompt = tone_file(dir.path(), 800.0, 0.5);
    let callee = Callee::start(None);
    let (code, json, out) = alert(
        dir.path(),
        &[
            &callee.uri("oncall"),
            "--play",
            prompt.to_str().unwrap(),
            "--repeat",
            "2",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(json[0]["outcome"], "not_acknowledged");
    assert_eq!(json[0]["prompt_plays"], 2);
}

#[test]
fn busy_and_no_answer_are_exit_1_and_targets_are_tried_in_order() {
    let dir = TempDir::new("alert");
    let mut busy = Sipp::uas("uas_busy.xml").spawn();
    let mut ringing = Sipp::uas("uas_ring_cancel.xml").spawn();
    let (code, json, out) = alert(
        dir.path(),
        &[
            &format!("sip:first@{}", busy.addr()),
            &format!("sip:second@{}", ringing.addr()),
            "--timeout",
            "2",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let got = outcomes(&json);
    assert_eq!(got.len(), 2, "{out}");
    assert!(
        got[0].starts_with("sip:first@") && got[0].ends_with(":busy"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("sip:second@") && got[1].ends_with(":no_answer"),
        "{got:?}"
    );
    assert_eq!(json[0]["code"], 486);
    busy.wait(T).assert_success();
    ringing.wait(T).assert_success();
}

#[test]
fn escalation_reaches_the_second_target_and_parallel_cancels_the_others() {
    let dir = TempDir::new("alert");
    // Escalation: busy first, then someone who acknowledges by SIP INFO.
    let mut busy = Sipp::uas("uas_busy.xml").spawn();
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let (code, json, out) = alert(
        dir.path(),
        &[
            &format!("sip:first@{}", busy.addr()),
            &format!("sip:second@{}", acker.addr()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let got = outcomes(&json);
    assert!(
        got[0].ends_with(":busy") && got[1].ends_with(":acknowledged"),
        "{got:?}"
    );
    let result = json.iter().find(|v| v["type"] == "alert_result").unwrap();
    assert!(result["acknowledged_by"]
        .as_str()
        .unwrap()
        .starts_with("sip:second@"));
    busy.wait(T).assert_success();
    acker.wait(T).assert_success();

    // Parallel: one rings on, the other acknowledges; the ringing one is cancelled.
    let mut ringing = Sipp::uas("uas_ring_cancel.xml").spawn();
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let (code, json, out) = alert(
        dir.path(),
        &[
            &format!("sip:ringing@{}", ringing.addr()),
            &format!("sip:acker@{}", acker.addr()),
            "--parallel",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let got = outcomes(&json);
    assert!(
        got.iter()
            .any(|o| o.starts_with("sip:acker@") && o.ends_with(":acknowledged")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|o| o.starts_with("sip:ringing@") && o.ends_with(":cancelled")),
        "{got:?}"
    );
    ringing.wait(T).assert_success();
    acker.wait(T).assert_success();
}

#[test]
fn usage_errors_are_exit_3() {
    let dir = TempDir::new("alert");
    for args in [
        &["--play", "/nonexistent.wav", "100"][..],
        &["--ack", "x", "100"],
        &[],
    ] {
        let (code, _, out) = alert(dir.path(), args);
        assert_eq!(code, 3, "{args:?}: {out}");
    }
}

#[test]
fn say_speaks_the_text_into_the_call() {
    let dir = TempDir::new("alert");
    let mut callee = Callee::start(None);
    let (code, json, out) = alert(
        dir.path(),
        &[
            &callee.uri("oncall"),
            "--say",
            "The temperature in the server room is above forty degrees.",
            "--repeat",
            "1",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(json[0]["prompt_plays"], 1);
    let (rate, heard) = callee.recording();
    let spoken = spoken_seconds(rate, &heard);
    assert!(
        (1.5..8.0).contains(&spoken),
        "{spoken:.2} s of speech in what the callee heard"
    );
}

/// Speech in a recording: its 50 ms blocks well above silence, in seconds.
fn spoken_seconds(rate: u32, heard: &[i16]) -> f64 {
    let block = rate as usize / 20;
    let loud = heard
        .chunks(block)
        .filter(|b| {
            let rms =
                (b.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / b.len() as f64).sqrt();
            rms > 300.0
        })
        .count();
    loud as f64 * 0.05
}

/// The file names of the shared libraries mapped into process `pid`.
fn mapped_libraries(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the phone's maps");
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|path| path.contains(".so"))
        .filter_map(|path| Path::new(path).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

#[test]
fn speech_is_loaded_only_when_an_alert_says_something() {
    // No sound card (ALSA's PulseAudio plugin, when installed, would map libpulse itself).
    let phone = Phone::start(
        &support::settings(
            0,
            "audioOutputDevice=null\naudioInputDevice=null\naudioRingDevice=null\n",
        ),
        &[],
    );
    phone.sip_addr();
    let idle = mapped_libraries(phone.pid());
    assert!(
        idle.iter().any(|l| l.starts_with("libopus.so")),
        "the phone's linked libraries are listed: {idle:?}"
    );
    for lib in [
        "libespeak-ng.so",
        "libpulse.so",
        "libX11.so",
        "libsndfile.so",
        // Loaded when a call or a sound opens a device (audio_file.rs checks it then is).
        "libasound.so",
        // Loaded by the first TLS, DTLS or SRTP use (transport_tls.rs checks they then are).
        "libssl.so",
        "libcrypto.so",
        "libsrtp2.so",
    ] {
        assert!(
            !idle.iter().any(|l| l.starts_with(lib)),
            "an idle phone maps {lib}: {idle:?}"
        );
    }
    // An alert with --say through the running phone: it speaks.
    let mut callee = Callee::start(None);
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let target = callee.uri("oncall");
    let args = [
        "--ini",
        &ini,
        "--alert",
        &target,
        "--say",
        "The temperature in the server room is above forty degrees.",
        "--repeat",
        "1",
        "--json",
    ];
    let (status, out) = Phone::run_to_exit(&args, T);
    assert_eq!(status.code(), Some(2), "{out}");
    let (rate, heard) = callee.recording();
    let spoken = spoken_seconds(rate, &heard);
    assert!(
        (1.5..8.0).contains(&spoken),
        "{spoken:.2} s of speech in what the callee heard"
    );
    let after = mapped_libraries(phone.pid());
    assert!(
        after.iter().any(|l| l.starts_with("libespeak-ng.so")),
        "the phone that spoke maps espeak-ng: {after:?}"
    );
}

#[test]
fn missing_speech_data_is_a_usage_error_not_an_exit_from_the_library() {
    // espeak-ng's own exit(1) (when its data is missing) would look like "not answered".
    let dir = TempDir::new("alert");
    let ini = ini(dir.path());
    let empty = dir.path().join("no-espeak-data");
    std::fs::create_dir(&empty).unwrap();
    let args = [
        "--ini",
        ini.to_str().unwrap(),
        "--bind",
        LOCALHOST,
        "--alert",
        "sip:oncall@127.0.0.1:9",
        "--say",
        "hello",
    ];
    let (status, out) =
        Phone::run_to_exit_with_env(&args, &[("ESPEAK_DATA_PATH", empty.to_str().unwrap())], T);
    assert_eq!(status.code(), Some(3), "{out}");
    assert!(
        out.contains("--say: espeak-ng cannot start (is espeak-ng-data installed?)"),
        "{out}"
    );
}

#[test]
fn an_alert_goes_through_the_running_phone() {
    let phone = Phone::start(&support::settings(0, ""), &[]);
    phone.sip_addr();
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let target = format!("sip:oncall@{}", acker.addr());
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--alert", &target, "--json"], T);
    assert_eq!(status.code(), Some(0), "{out}");
    let lines: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "alert_attempt", "{out}");
    assert_eq!(lines[0]["outcome"], "acknowledged");
    assert_eq!(lines.last().unwrap()["type"], "alert_result");
    // The running phone placed the call and says so.
    phone.wait_line("acknowledged by sip:oncall@", T);
    acker.wait(T).assert_success();
}

#[test]
fn an_alert_leaves_the_phones_own_call_connected() {
    // MicroSIP holds a connected call when the user starts another one; an alert's calls
    // are not the user's and must not (nor may the legs of a parallel alert hold each other).
    let phone = Phone::start(&support::settings(0, ""), &[]);
    phone.sip_addr();
    let mut own = Sipp::uas("uas_answer.xml").spawn();
    phone.send(&format!("sip:own@{}", own.addr()));
    phone.wait_for(0, "own call confirmed", T, |l| {
        l.contains("sip:own@") && l.contains(": CONFIRMED")
    });
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let target = format!("sip:oncall@{}", acker.addr());
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--alert", &target, "--json"], T);
    assert_eq!(status.code(), Some(0), "{out}");
    acker.wait(T).assert_success();
    phone.assert_no_line("on hold");
    // The own call is still connected and not held: its callee saw no re-INVITE (its
    // scenario fails on one) and gets the BYE.
    phone.send("/hangupall");
    own.wait(T).assert_success();
}

/// A phone with an `[Alerting]` receiver on a free port: (phone, base URL).
fn receiver(alerting: &str) -> (Phone, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ini = format!(
        "{}[Alerting]\nlisten=127.0.0.1:{port}\n{alerting}",
        support::settings(0, "")
    );
    let phone = Phone::start(&ini, &[]);
    phone.sip_addr();
    phone.wait_line("alerting: HTTP receiver", T);
    (phone, format!("http://127.0.0.1:{port}"))
}

fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.to_string()).expect("an answer");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn alertmanager_payload(status: &str) -> Value {
    serde_json::json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DiskFull\"}",
        "status": status,
        "receiver": "phone",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "team": "db"},
        "commonAnnotations": {"summary": "Disk full on db1"},
        "externalURL": "http://alertmanager",
        "alerts": [{"status": status, "labels": {"alertname": "DiskFull"},
                    "annotations": {"summary": "Disk full on db1"}}]
    })
}

#[test]
fn alertmanager_firing_places_the_call_and_it_is_acknowledged() {
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let (phone, base) = receiver(&format!(
        "targets=sip:nobody@127.0.0.1:9\nroute1=team=db sip:dba@{}\n",
        acker.addr()
    ));
    let (status, reply) = post(
        &format!("{base}/alertmanager"),
        None,
        &alertmanager_payload("firing"),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["calling"][0],
        format!("sip:dba@{}", acker.addr()),
        "routed by team=db"
    );
    phone.wait_line("acknowledged by sip:dba@", T);
    acker.wait(T).assert_success();
    // POST /call for other systems.
    let mut second = Sipp::uas("uas_ack_info.xml").spawn();
    let (status, reply) = post(
        &format!("{base}/call"),
        None,
        &serde_json::json!({"targets": [format!("sip:ops@{}", second.addr())], "say": "Backup failed", "ack": "1"}),
    );
    assert_eq!(status, 202, "{reply}");
    phone.wait_line("acknowledged by sip:ops@", T);
    second.wait(T).assert_success();
}

#[test]
fn a_resolved_notification_calls_the_alert_off() {
    let mut busy = Sipp::uas("uas_busy.xml").spawn();
    let (phone, base) = receiver(&format!(
        "targets=sip:dba@{}\nretries=5\nretryDelay=600\n",
        busy.addr()
    ));
    let (status, _) = post(
        &format!("{base}/alertmanager"),
        None,
        &alertmanager_payload("firing"),
    );
    assert_eq!(status, 200);
    // The first round ends busy; a retry would come in 600 s.
    phone.wait_line(": busy (486)", T);
    busy.wait(T).assert_success();
    let (status, reply) = post(
        &format!("{base}/alertmanager"),
        None,
        &alertmanager_payload("resolved"),
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["cancelled"], true);
    phone.wait_line("resolved; called off", T);
    phone.wait_line("over, not acknowledged", T);
}

#[test]
fn the_receiver_refuses_bad_payloads_and_wrong_tokens() {
    let (_phone, base) = receiver("targets=100\ntoken=s3cret\n");
    let url = format!("{base}/alertmanager");
    let (status, _) = post(&url, Some("wrong"), &alertmanager_payload("firing"));
    assert_eq!(status, 401);
    let (status, _) = post(&url, None, &alertmanager_payload("firing"));
    assert_eq!(status, 401);
    let (status, reply) = post(&url, Some("s3cret"), &serde_json::json!({"version": "3"}));
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("version"),
        "{reply}"
    );
    let (status, reply) = post(
        &format!("{base}/call"),
        Some("s3cret"),
        &serde_json::json!({"targets": "x"}),
    );
    assert_eq!(status, 400, "{reply}");
    // Not JSON at all.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = agent
        .post(&url)
        .header("Authorization", "Bearer s3cret")
        .send("{{{ not json")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[test]
fn the_alerter_example_places_an_alert_call_with_the_library() {
    // Built by `cargo test` with the test binaries: target/debug/examples/alerter.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples").join("alerter"))
        .unwrap();
    assert!(example.is_file(), "{} is not built", example.display());
    let mut acker = Sipp::uas("uas_ack_info.xml").spawn();
    let out = std::process::Command::new(&example)
        .arg(format!("sip:oncall@{}", acker.addr()))
        .arg("The disk is full.")
        .output()
        .expect("run the example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("acknowledged"), "{text}");
    acker.wait(T).assert_success();
}

#[test]
fn a_received_rfc2833_digit_is_logged_with_its_real_duration() {
    let mut callee = Callee::start(None);
    let phone = Phone::start(&support::settings(0, ""), &[]);
    phone.wait_line("started: SIP on udp", T);
    phone.send(&callee.uri("door"));
    callee.wait_log("CONFIRMED");
    phone.wait_line("audio active", T);
    callee.press("5");
    // pjsua sends each digit for 160 ms (PJSUA's default), its end packets included.
    let line = phone.wait_line("DTMF 5 (", T);
    let ms: u32 = line
        .rsplit_once("DTMF 5 (")
        .and_then(|(_, rest)| rest.strip_suffix(" ms)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line:?}"));
    assert!((100..=1000).contains(&ms), "{line}");
}
