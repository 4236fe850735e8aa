//! `microsip --check`: what the phone understood of a MicroSIP.ini, as users and scripts see it.

mod support;

use std::time::Duration;

use support::{Phone, TempDir};

const T: Duration = Duration::from_secs(10);

/// MicroSIP's own format: UTF-16LE with BOM and CRLF.
fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.replace('\n', "\r\n").encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

fn check(bytes: &[u8]) -> (i32, String, String) {
    let dir = TempDir::new("check");
    let path = dir.path().join("MicroSIP.ini");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(Phone::binary())
        .args(["--check", "--ini"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_sorted_effective_settings_with_masked_passwords() {
    let ini = "[Settings]\naccountId=1\nautoAnswer=header\n[Account1]\nserver=pbx.example.com\n\
               domain=example.com\nusername=100\npassword=s3cret\nregisterRefresh=5\nkeepAlive=1\n\
               audioOutputDevice=\"Speakers (Realtek(R) Audio)\"\n";
    let (code, out, err) = check(&utf16(ini));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted output");
    for expected in [
        "Settings.accountId=1",
        "Settings.autoAnswer=header",
        "Account1.domain=example.com",
        "Account1.password=********",
        "Account1.registerRefresh=10",
        "Account1.keepAlive=2",
        "Settings.autoAnswerDelay=0",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{out}");
    }
    assert!(!out.contains("s3cret"), "the password must not be printed");
}

#[test]
fn invalid_values_are_reported_with_line_key_value_and_choices_and_defaults_used() {
    let ini = "[Settings]\nsourcePort=abc\nautoAnswer=sometimes\n[Account1]\ndomain=example.com\n\
               transport=carrier-pigeon\n";
    let (code, out, err) = check(ini.as_bytes());
    assert_eq!(code, 0, "the file is still usable: {err}");
    assert!(err.contains(":2: [Settings] sourcePort=abc"), "{err}");
    assert!(err.contains(":3: [Settings] autoAnswer=sometimes"), "{err}");
    assert!(
        err.contains(":6: [Account1] transport=carrier-pigeon"),
        "{err}"
    );
    assert!(
        err.contains("button") && err.contains("tcp"),
        "says what is accepted: {err}"
    );
    assert!(
        out.contains("Settings.autoAnswer=button\n"),
        "MicroSIP's default is used"
    );
    assert!(out.contains("Account1.transport=udp\n"));
}

#[test]
fn aliases_from_popular_guides_are_accepted_with_a_note() {
    let ini = "[Settings]\nAutoAnswer=1\nDoNotDisturb=1\nSilenceThreshold=20\n";
    let (code, out, err) = check(ini.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Settings.autoAnswer=all\n"), "{out}");
    assert!(out.contains("Settings.DND=1\n"), "{out}");
    assert!(out.contains("Settings.denyIncoming=button\n"), "{out}");
    assert!(
        err.contains("SilenceThreshold") && err.contains("ignored"),
        "{err}"
    );
}

#[test]
fn not_an_ini_file_exits_2() {
    let (code, _, err) = check(&[0u8, 159, 146, 150, 0, 1, 2, 3, 0, 0, 255]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("MicroSIP.ini"), "names the file: {err}");
}

#[test]
fn encrypted_password_is_reported_and_the_account_stays_unregistered() {
    let ini = format!(
        "[Settings]\naccountId=1\nsourcePort={}\n[Account1]\nserver=127.0.0.1:9\ndomain=example.com\n\
         username=100\npassword=9f1c2ab4e07d3c5a8b6e9d0f1a2b3c4d\n",
        support::free_udp_port()
    );
    let phone = Phone::start(&ini, &[]);
    let line = phone.wait_line("[Account1] password", T);
    assert!(line.contains("cannot be decrypted"), "{line}");
    phone.wait_line("started: SIP on udp", T);
    // Had it tried, the REGISTER to a closed port would fail within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    phone.assert_no_line("registered: Account1");
    phone.assert_no_line("registration failed");
}

#[test]
fn keys_that_are_set_but_not_applied_get_one_warning_naming_them() {
    let ini = "[Settings]\nsourcePort=0\nmainX=120\nvideoBitrate=512\nminimized=1\n\
               cmdCallEnd=notify.sh\nautoAnswer=all\nenableSTUN=1\n[Account1]\n\
               domain=example.com\npublish=1\nSRTP=mandatory\n";
    let (code, _, err) = check(ini.as_bytes());
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("not applied by this phone"))
        .collect();
    assert_eq!(lines.len(), 1, "one warning:\n{err}");
    for key in [
        "Settings.mainX",
        "Settings.videoBitrate",
        "Settings.minimized",
        "Account1.publish",
    ] {
        assert!(lines[0].contains(key), "{key} is named: {}", lines[0]);
    }
    assert!(
        !lines[0].contains("autoAnswer")
            && !lines[0].contains("sourcePort")
            && !lines[0].contains("cmdCallEnd")
            && !lines[0].contains("enableSTUN")
            && !lines[0].contains("SRTP"),
        "applied keys are not named: {}",
        lines[0]
    );
    // Keys at MicroSIP's defaults are not worth a warning.
    let (_, _, err) = check(b"[Settings]\nmainX=0\nvideoBitrate=0\nminimized=0\n");
    assert!(!err.contains("not applied by this phone"), "{err}");
}
