//! Tests of the config module: every key, encodings, write-back, MicroSIP's rules, errors.

use std::fs;
use std::path::Path;

use super::keys::{ACCOUNT_KEYS, SETTINGS_KEYS};
use super::*;

const PATH: &str = "/cfg/MicroSIP.ini";

fn parse(text: &str) -> Config {
    parse_bytes(Path::new(PATH), text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

fn effective(config: &Config, name: &str) -> String {
    let prefix = format!("{name}=");
    let lines = config.effective_lines();
    let line = lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no effective line {name}"));
    line[prefix.len()..].to_string()
}

fn warnings(config: &Config) -> Vec<&Diagnostic> {
    config
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Warning)
        .collect()
}

fn infos(config: &Config) -> Vec<&Diagnostic> {
    config
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Info)
        .collect()
}

/// `[Account7]` exists in every table test so that `accountId=7` is a valid example.
const ACCOUNT7: &str = "[Account7]\r\ndomain=seven.example\r\n";

#[test]
fn every_settings_key_default_valid_invalid() {
    let defaults = parse(&format!("[Settings]\r\n{ACCOUNT7}"));
    assert!(
        defaults.diagnostics.is_empty(),
        "{:?}",
        defaults.diagnostics
    );
    let default_settings = Settings::default();
    for def in SETTINGS_KEYS {
        let name = format!("Settings.{}", def.name);
        assert_eq!(
            effective(&defaults, &name),
            (def.show)(&default_settings),
            "default of {name}"
        );
        let examples = (def.examples)();
        let (valid, shown) = &examples.valid;
        let config = parse(&format!("[Settings]\r\n{}={valid}\r\n{ACCOUNT7}", def.name));
        assert_eq!(&effective(&config, &name), shown, "{name}={valid}");
        assert!(
            warnings(&config).is_empty(),
            "{name}={valid}: {:?}",
            config.diagnostics
        );

        let (invalid, shown) = &examples.invalid;
        let config = parse(&format!(
            "[Settings]\r\n{}={invalid}\r\n{ACCOUNT7}",
            def.name
        ));
        assert_eq!(&effective(&config, &name), shown, "{name}={invalid}");
        let warned = warnings(&config);
        assert!(
            warned.iter().any(|d| d.key == def.name && d.line == 2),
            "{name}={invalid} must warn: {:?}",
            config.diagnostics
        );
        let text = warned[0].to_string();
        assert!(
            text.starts_with(&format!("{PATH}:2: [Settings] {}=", def.name)),
            "{text}"
        );
    }
}

#[test]
fn every_account_key_default_valid_invalid() {
    let defaults = parse("[Account1]\r\ndomain=example.com\r\n");
    let default_account = Account::default();
    for def in ACCOUNT_KEYS {
        let name = format!("Account1.{}", def.name);
        if def.name != "domain" {
            assert_eq!(
                effective(&defaults, &name),
                rules::shown_value(def.name, &(def.show)(&default_account)),
                "default of {name}"
            );
        }
        let domain = if def.name == "domain" {
            ""
        } else {
            "domain=example.com\r\n"
        };
        let examples = (def.examples)();
        for (raw, shown, warns) in [
            (&examples.valid.0, &examples.valid.1, false),
            (&examples.invalid.0, &examples.invalid.1, true),
        ] {
            let config = parse(&format!("[Account1]\r\n{domain}{}={raw}\r\n", def.name));
            let shown = rules::shown_value(def.name, shown);
            assert_eq!(effective(&config, &name), shown, "{name}={raw}");
            let warned = warnings(&config).iter().any(|d| d.key == def.name);
            assert_eq!(warned, warns, "{name}={raw}: {:?}", config.diagnostics);
        }
    }
}

/// A file as MicroSIP 3.22 writes it (UTF-16LE, CRLF), with a few additions.
fn realistic_text() -> String {
    let settings = [
        "accountId=2",
        "singleMode=1",
        "ringingSound=",
        "volumeRing=100",
        "audioRingDevice=\"Speakers (Realtek(R) Audio)\"",
        "audioOutputDevice=\"Speakers (Realtek(R) Audio)\"",
        "audioInputDevice=\"Microphone (Realtek(R) Audio)\"",
        "micAmplification=0",
        "swLevelAdjustment=0",
        "audioCodecs=opus/48000/2 G722/16000/1 PCMA/8000/1 PCMU/8000/1",
        "VAD=0",
        "EC=1",
        "forceCodec=0",
        "opusStereo=0",
        "disableMessaging=0",
        "rport=1",
        "sourcePort=5070",
        "rtpPortMin=10000",
        "rtpPortMax=10100",
        "dnsSrvNs=",
        "dnsSrv=0",
        "STUN=stun.example.com;stun2.example.com",
        "enableSTUN=0",
        "recordingPath=C:\\Users\\jürgen\\Desktop\\Recordings",
        "recordingFormat=mp3",
        "autoRecording=0",
        "recordingButton=1",
        "buttonAC=1",
        "buttonCONF=1",
        "DTMFMethod=0",
        "autoAnswer=header",
        "autoAnswerDelay=2",
        "autoAnswerNumber=",
        "autoAnswerCalls=",
        "forwarding=",
        "forwardingNumber=",
        "forwardingDelay=0",
        "featureCodeCP=**",
        "featureCodeBT=##",
        "featureCodeAT=*2",
        "enableFeatureCodeCP=1",
        "enableFeatureCodeBT=0",
        "enableFeatureCodeAT=0",
        "denyIncoming=button",
        "usersDirectory=",
        "defaultAction=",
        "enableMediaButtons=0",
        "headsetSupport=0",
        "localDTMF=1",
        "enableLog=0",
        "bringToFrontOnIncoming=1",
        "enableLocalAccount=1",
        "randomAnswerBox=0",
        "disableNameLookup=0",
        "callWaiting=1",
        "multiMonitor=0",
        "networkChanges=1",
        "updatesInterval=",
        "checkUpdatesTime=1718000000",
        "noResize=0",
        "userAgent=",
        "autoHangUpTime=0",
        "maxConcurrentCalls=0",
        "noIgnoreCall=0",
        "cmdOutgoingCall=\"\"",
        "cmdIncomingCall=\"C:\\hooks\\incoming.cmd\"",
        "cmdCallRing=\"\"",
        "cmdCallAnswer=\"\"",
        "cmdCallAnswerVideo=\"\"",
        "cmdCallBusy=\"\"",
        "cmdCallStart=\"\"",
        "cmdCallEnd=\"\"",
        "minimized=0",
        "portKnockerHost=",
        "portKnockerPorts=",
        "mainX=1220",
        "mainY=300",
        "mainW=338",
        "mainH=540",
        "messagesX=-1500",
        "messagesY=200",
        "messagesW=550",
        "messagesH=540",
        "ringinX=0",
        "ringinY=0",
        "callsWidth0=120",
        "callsWidth1=90",
        "callsWidth2=80",
        "callsWidth3=60",
        "callsWidth4=0",
        "callsWidth5=0",
        "contactsWidth0=150",
        "contactsWidth1=100",
        "contactsWidth2=0",
        "volumeOutput=100",
        "volumeInput=80",
        "activeTab=0",
        "FWD=0",
        "AA=0",
        "AC=0",
        "DND=0",
        "alwaysOnTop=0",
        "darkMode=0",
        "brandingState=DEFAULT",
        "enableShortcuts=1",
        "shortcutsBottom=0",
        "lastCallNumber=sip:200@pbx.example.com",
        "lastCallHasVideo=0",
        "version=3.22.3",
        "callsLastKey=2",
    ];
    let account1 = [
        "label=Office",
        "server=pbx.example.com",
        "proxy=",
        "domain=pbx.example.com",
        "username=100",
        "password=secret",
        "authID=",
        "displayName=Jürgen Müller",
        "dialingPrefix=",
        "dialPlan=",
        "hideCID=0",
        "voicemailNumber=*97",
        "transport=udp",
        "publicAddr=",
        "SRTP=",
        "registerRefresh=300",
        "keepAlive=15",
        "publish=0",
        "ICE=0",
        "allowRewrite=0",
        "disableSessionTimer=0",
    ];
    let account2 = [
        "label=Door intercom",
        "server=sip.provider.example:5061",
        "proxy=proxy1.provider.example proxy2.provider.example",
        "domain=provider.example",
        "username=door",
        "password=Pa55;word=x",
        "authID=door-auth",
        "displayName=Front door",
        "hideCID=1",
        "transport=tls",
        "SRTP=mandatory",
        "registerRefresh=120",
        "keepAlive=30",
        "allowRewrite=1",
    ];
    let mut text = String::from("[Settings]\r\n");
    for line in settings {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("[Account0]\r\nlabel=\r\ndomain=\r\n");
    text.push_str("[Account1]\r\n");
    for line in account1 {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("[Account2]\r\n");
    for line in account2 {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str(
        "[Shortcuts]\r\n0=Door;201;call;;1\r\n1=Gate;202;dtmf;;0\r\n\
         [Dialed]\r\n0=201\r\n\
         [Calls]\r\n0=200;Alice;0;1718000000;35;\r\n1=201;Door;1;1718000100;0;\r\n2=null\r\n",
    );
    text
}

#[test]
fn realistic_microsip_file() {
    let bytes = utf16(&realistic_text());
    let config = parse_bytes(Path::new(PATH), &bytes).unwrap();
    assert!(config.diagnostics.is_empty(), "{:#?}", config.diagnostics);
    assert_eq!(config.encoding(), FileEncoding::Utf16Le);
    let s = &config.settings;
    assert_eq!(s.audio_output_device, "Speakers (Realtek(R) Audio)");
    assert_eq!(s.audio_input_device, "Microphone (Realtek(R) Audio)");
    assert_eq!(
        s.audio_codecs,
        ["opus/48000/2", "G722/16000/1", "PCMA/8000/1", "PCMU/8000/1"]
    );
    assert_eq!(
        (s.source_port, s.rtp_port_min, s.rtp_port_max),
        (5070, 10000, 10100)
    );
    assert_eq!(s.stun, ["stun.example.com", "stun2.example.com"]);
    assert_eq!(s.recording_path, "C:\\Users\\jürgen\\Desktop\\Recordings");
    assert_eq!(s.auto_answer, AutoAnswer::Header);
    assert_eq!(s.auto_answer_delay, 2);
    assert_eq!(s.cmd_incoming_call, "C:\\hooks\\incoming.cmd");
    assert_eq!(s.cmd_outgoing_call, "");
    assert_eq!((s.main_x, s.messages_x, s.volume_input), (1220, -1500, 80));
    assert_eq!(s.calls_last_key, 2);
    assert_eq!(s.version, "3.22.3");

    let (id, active) = config.active_account().unwrap();
    assert_eq!(id, 2);
    assert_eq!(active.transport, Transport::Tls);
    assert_eq!(active.srtp, Srtp::Mandatory);
    assert_eq!(active.hide_cid, HideCid::Hard);
    assert_eq!(active.password, "Pa55;word=x");
    assert_eq!((active.register_refresh, active.keep_alive), (120, 30));
    assert!(active.allow_rewrite);
    assert_eq!(config.accounts[&1].display_name, "Jürgen Müller");
    assert_eq!(config.accounts[&1].password_state(), PasswordState::Plain);
    assert!(config.local_account_enabled());
    assert_eq!(config.local_account().label, "");
    assert_eq!(
        config.accounts.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2]
    );

    assert_eq!(config.to_bytes(), bytes);
    let lines = config.effective_lines();
    assert_eq!(lines.len(), SETTINGS_KEYS.len() + 3 * ACCOUNT_KEYS.len());
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "sorted");
    assert!(lines.contains(&"Account2.password=********".to_string()));
    assert!(lines.contains(&"Account0.password=".to_string()));
    assert!(lines.contains(&"Settings.audioOutputDevice=Speakers (Realtek(R) Audio)".into()));
    assert!(!lines
        .iter()
        .any(|l| l.contains("secret") || l.contains("Pa55")));
    let debug = format!("{config:?}");
    assert!(debug.contains("password: \"********\""), "{debug}");
    assert!(
        !debug.contains("secret") && !debug.contains("Pa55"),
        "{debug}"
    );
}

#[test]
fn unchanged_utf16_crlf_file_is_written_back_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("MicroSIP.ini");
    let bytes = utf16(&format!(
        "; kept comment\r\n{}\r\n[Unknown]\r\nx = y \r\n",
        realistic_text()
    ));
    fs::write(&path, &bytes).unwrap();
    let config = load(&path).unwrap();
    config.save().unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn unchanged_utf8_lf_file_is_written_back_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    for bom in ["", "\u{FEFF}"] {
        let path = dir.path().join("MicroSIP.ini");
        let text = format!(
            "{bom}# made by hand\n[settings]\nDND = 1 ; not a comment\nweird line\n\n[Account1]\n\
             domain=example.com\ndisplayName='Zoë'\n[Account1]\ndomain=ignored\nno newline=at end"
        );
        fs::write(&path, &text).unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.encoding(), FileEncoding::Utf8);
        assert_eq!(config.accounts[&1].display_name, "Zoë");
        config.save().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn changed_keys_are_rewritten_in_place_or_appended_and_nothing_else_changes() {
    let original = realistic_text().replace("maxConcurrentCalls=0\r\n", "");
    let mut config = parse_bytes(Path::new(PATH), &utf16(&original)).unwrap();
    config.set_setting("DND", "1");
    config.set_setting("maxconcurrentcalls", "2");
    config.set_setting("audioOutputDevice", "USB Headset");
    assert!(config.settings.dnd);
    assert_eq!(config.settings.max_concurrent_calls, 2);
    let expected = original
        .replace("DND=0\r\n", "DND=1\r\n")
        .replace(
            "callsLastKey=2\r\n",
            "callsLastKey=2\r\nmaxConcurrentCalls=2\r\n",
        )
        .replace(
            "audioOutputDevice=\"Speakers (Realtek(R) Audio)\"",
            "audioOutputDevice=USB Headset",
        );
    assert_eq!(config.to_bytes(), utf16(&expected));
}

#[test]
fn set_setting_in_utf8_lf_file_keeps_lf_and_adds_the_section_when_missing() {
    let mut config = parse("; just a comment\n[Account1]\ndomain=example.com\n");
    config.set_setting("AA", "1");
    assert!(config.settings.aa);
    assert_eq!(
        String::from_utf8(config.to_bytes()).unwrap(),
        "; just a comment\n[Account1]\ndomain=example.com\n[Settings]\nAA=1\n"
    );
    config.set_setting("ringingSound", " spaced.wav ");
    assert_eq!(config.settings.ringing_sound, " spaced.wav ");
    assert!(String::from_utf8(config.to_bytes())
        .unwrap()
        .ends_with("ringingSound=\" spaced.wav \"\n"));
}

#[test]
fn set_setting_refuses_what_would_break_the_file() {
    let mut config = parse("[Settings]\nsourcePort=5060\n");
    let before = config.to_bytes();
    let err = config.try_set_setting("sourcePort", "70000").unwrap_err();
    assert!(matches!(err, ConfigError::InvalidPort { .. }), "{err}");
    config.set_setting("sourcePort", "-1");
    assert_eq!(config.to_bytes(), before);
    assert_eq!(config.settings.source_port, 5060);
    for key in ["", " DND", "a=b", "[x", ";x", "a\nb"] {
        assert!(config.try_set_setting(key, "1").is_err(), "{key:?}");
    }
    config.set_setting("label", "a\r\nsourcePort=1");
    assert_eq!(config.settings.source_port, 5060, "no line injection");
}

#[test]
fn ansi_windows_1252_file() {
    let bytes = b"[Settings]\r\n[Account1]\r\ndomain=example.com\r\ndisplayName=J\xFCrgen\r\n";
    let mut config = parse_bytes(Path::new(PATH), bytes).unwrap();
    assert_eq!(config.encoding(), FileEncoding::Ansi);
    assert_eq!(config.accounts[&1].display_name, "Jürgen");
    assert_eq!(config.to_bytes(), bytes);
    config.set_setting("lastCallNumber", "Müller");
    assert_eq!(
        config.to_bytes(),
        b"[Settings]\r\nlastCallNumber=M\xFCller\r\n[Account1]\r\ndomain=example.com\r\ndisplayName=J\xFCrgen\r\n"
    );
    // Not representable in Windows-1252: the file becomes UTF-16LE, MicroSIP's own format.
    config.set_setting("lastCallNumber", "Ωmega");
    assert_eq!(config.encoding(), FileEncoding::Utf16Le);
    let reread = parse_bytes(Path::new(PATH), &config.to_bytes()).unwrap();
    assert_eq!(reread.settings.last_call_number, "Ωmega");
    assert_eq!(reread.accounts[&1].display_name, "Jürgen");
}

#[test]
fn empty_file_is_a_first_run_and_becomes_utf16() {
    let mut config = parse("");
    assert_eq!(config.settings, Settings::default());
    assert!(config.active_account().is_none());
    assert!(config.local_account_enabled());
    assert_eq!(config.local_account().label, LOCAL_ACCOUNT_LABEL);
    assert_eq!(config.to_bytes(), b"");
    config.set_setting("DND", "1");
    assert_eq!(config.to_bytes(), utf16("[Settings]\r\nDND=1\r\n"));
    assert_eq!(default_ini_bytes(), utf16("[Settings]\r\n"));
    assert!(parse_bytes(Path::new(PATH), &default_ini_bytes()).is_ok());
}

#[test]
fn names_are_case_insensitive_and_first_occurrence_wins() {
    let config = parse(
        "[SETTINGS]\nAUTOANSWER=all\nsourceport=5070\nSourcePort=5080\n[settings]\nDND=1\n\
         [account1]\nDOMAIN=example.com\nTransport=tcp\n",
    );
    assert_eq!(config.settings.auto_answer, AutoAnswer::All);
    assert_eq!(config.settings.source_port, 5070);
    assert!(!config.settings.dnd, "a repeated section is not read");
    assert_eq!(config.accounts[&1].transport, Transport::Tcp);
    let lines: Vec<usize> = warnings(&config).iter().map(|d| d.line).collect();
    assert_eq!(lines, [4, 5]);
}

#[test]
fn values_are_trimmed_and_unquoted_once() {
    let config = parse(
        "[Settings]\n  userAgent  =  \"  My Phone \"  \nringingSound='a.wav'\nforwardingNumber=\"\"x\"\"\n",
    );
    assert_eq!(config.settings.user_agent, "  My Phone ");
    assert_eq!(config.settings.ringing_sound, "a.wav");
    assert_eq!(config.settings.forwarding_number, "\"x\"");
}

#[test]
fn values_are_capped_at_microsip_buffers() {
    let long = "d".repeat(1100);
    let codecs = "PCMA/8000/1 ".repeat(50);
    let emoji = format!("{}😀", "a".repeat(254));
    let config = parse(&format!(
        "[Settings]\naudioCodecs={codecs}\nringingSound={}\nuserAgent={emoji}\n\
         [Account1]\ndomain={long}\npassword={long}\n",
        "r".repeat(300)
    ));
    assert_eq!(config.accounts[&1].domain.len(), 1039);
    assert_eq!(config.accounts[&1].password.len(), 1039);
    assert_eq!(config.settings.ringing_sound.len(), 255);
    assert_eq!(
        config.settings.user_agent,
        "a".repeat(254),
        "a surrogate pair is not split"
    );
    assert_eq!(config.settings.audio_codecs.len(), 43);
    assert_eq!(
        config.settings.audio_codecs[42], "PCMA/80",
        "cut at 511 characters"
    );
    let capped: Vec<&str> = warnings(&config).iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        capped,
        [
            "audioCodecs",
            "ringingSound",
            "userAgent",
            "domain",
            "password"
        ]
    );
    let password = warnings(&config)[4];
    assert_eq!(password.value, "********");
    let domain = warnings(&config)[3];
    assert_eq!(
        domain.value,
        format!("{}…", "d".repeat(80)),
        "long values are shortened"
    );
}

#[test]
fn wtoi_rules_and_messages() {
    let config = parse(
        "[Settings]\nautoAnswerDelay=10s\nforwardingDelay=abc\nsingleMode=\nvolumeRing=\n\
         volumeOutput=abc\nEC=off\nVAD=2\ndnsSrv=yes\nrport=no\nmainX= -40\n",
    );
    let s = &config.settings;
    assert_eq!(s.auto_answer_delay, 10);
    assert_eq!(s.forwarding_delay, 0);
    assert!(
        s.single_mode,
        "empty: default 1 (MicroSIP would read 0), with a warning"
    );
    assert_eq!(s.volume_ring, 100, "empty volume means 100 in MicroSIP");
    assert_eq!(s.volume_output, 100);
    assert!(s.ec, "not a number: default");
    assert!(s.vad, "any non-zero integer is on");
    assert!(!s.dns_srv && s.rport);
    assert_eq!(s.main_x, -40);
    let warned: Vec<&str> = warnings(&config).iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        warned,
        [
            "autoAnswerDelay",
            "forwardingDelay",
            "singleMode",
            "volumeOutput",
            "EC",
            "dnsSrv",
            "rport"
        ]
    );
    let ec = warnings(&config)[4].to_string();
    assert_eq!(
        ec,
        format!(
            "{PATH}:7: [Settings] EC=off: not a number (MicroSIP reads it as 0); using the \
             default 1; accepted: 0 (off) or 1 (on)"
        )
    );
}

#[test]
fn enum_values_with_microsip_defaults() {
    let config = parse(
        "[Settings]\nautoAnswer=sometimes\ndenyIncoming=\nforwarding=all\nDTMFMethod=3\n\
         recordingFormat=wav\nautoAnswerCalls=hold\n[Account1]\ndomain=x\ntransport=carrier-pigeon\n\
         SRTP=dtls-sdes\nhideCID=soft\n[Account2]\ndomain=y\ntransport=\nhideCID=hard\n",
    );
    let s = &config.settings;
    assert_eq!(s.auto_answer, AutoAnswer::Button);
    assert_eq!(s.deny_incoming, DenyIncoming::Off);
    assert_eq!(s.forwarding, Forwarding::All);
    assert_eq!(s.dtmf_method, DtmfMethod::SipInfo);
    assert_eq!(s.recording_format, RecordingFormat::Wav);
    assert_eq!(s.auto_answer_calls, AutoAnswerCalls::NoActiveCall);
    assert_eq!(config.accounts[&1].transport, Transport::Udp);
    assert_eq!(config.accounts[&1].srtp, Srtp::DtlsSdes);
    assert_eq!(config.accounts[&1].hide_cid, HideCid::Soft);
    assert_eq!(config.accounts[&2].transport, Transport::Auto);
    assert_eq!(config.accounts[&2].hide_cid, HideCid::Hard);
    let messages: Vec<String> = warnings(&config).iter().map(|d| d.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0].contains(
        "autoAnswer=sometimes: not understood; using the default \"button\"; accepted: \"\", \
         \"button\", \"header\", \"all\""
    ));
    assert!(messages[1].contains("[Account1] transport=carrier-pigeon"));
    assert!(messages[1].contains("\"udp\", \"tcp\", \"tls\", \"\""));
}

#[test]
fn register_refresh_and_keep_alive_rules() {
    for (raw, refresh, keep_alive) in [
        ("-5", 300, 15),
        ("0", 300, 15),
        ("1", 10, 2),
        ("2", 10, 2),
        ("10", 10, 10),
        ("11", 11, 11),
        ("abc", 300, 15),
        ("3600", 3600, 3600),
    ] {
        let config = parse(&format!(
            "[Account1]\ndomain=x\nregisterRefresh={raw}\nkeepAlive={raw}\n"
        ));
        let account = &config.accounts[&1];
        assert_eq!(account.register_refresh, refresh, "registerRefresh={raw}");
        assert_eq!(account.keep_alive, keep_alive, "keepAlive={raw}");
    }
    let config = parse("[Account1]\ndomain=x\n");
    assert_eq!(
        (
            config.accounts[&1].register_refresh,
            config.accounts[&1].keep_alive
        ),
        (300, 15)
    );
}

#[test]
fn account_id_rules() {
    let accounts = "[Account1]\ndomain=one\n[Account2]\ndomain=two\n[Account3]\nserver=three\n";
    let id = |settings: &str| {
        let config = parse(&format!("[Settings]\n{settings}\n{accounts}"));
        (
            config.settings.account_id,
            config.active_account().map(|(id, _)| id),
            config.local_account_enabled(),
            warnings(&config)
                .iter()
                .filter(|d| d.key == "accountId")
                .count(),
        )
    };
    assert_eq!(id("accountId=2"), (2, Some(2), false, 0));
    assert_eq!(id("accountId=0"), (1, Some(1), false, 0), "forced to 1");
    assert_eq!(id("accountId=0\nenableLocalAccount=1"), (0, None, true, 0));
    assert_eq!(
        id("accountId=2\nenableLocalAccount=1"),
        (2, Some(2), true, 0)
    );
    assert_eq!(
        id("accountId=3"),
        (0, None, true, 1),
        "no domain: does not load"
    );
    assert_eq!(id("accountId=9"), (0, None, true, 1));
    assert_eq!(id("accountId=-4"), (1, Some(1), false, 1));
    assert_eq!(
        id(""),
        (1, Some(1), false, 0),
        "missing: [Account1], see the Info"
    );

    let config = parse("[Settings]\naccountId=0\n");
    assert_eq!(
        config.settings.account_id, 0,
        "forced to 1, which does not load"
    );
    assert!(config.diagnostics.is_empty());
    let config = parse("[Settings]\naccountId=3\n[Account3]\n");
    assert_eq!(config.settings.account_id, 0);
    assert!(warnings(&config)[0].message.contains("no domain"));
}

#[test]
fn local_account() {
    let config = parse("[Settings]\naccountId=0\nenableLocalAccount=1\n");
    assert!(config.active_account().is_none());
    assert_eq!(config.local_account().label, LOCAL_ACCOUNT_LABEL);
    assert!(!config.accounts.contains_key(&0));
    let config = parse("[Account0]\ndisplayName=Desk\n");
    assert_eq!(config.accounts[&0].label, LOCAL_ACCOUNT_LABEL);
    assert_eq!(config.local_account().display_name, "Desk");
    let config = parse("[Account0]\nlabel=Mine\n[Account01]\ndomain=x\n");
    assert_eq!(config.local_account().label, "Mine");
    assert!(!config.accounts.contains_key(&1));
    assert_eq!(infos(&config).len(), 1, "[Account01] is not read");
}

#[test]
fn old_single_account_keys_are_migrated() {
    let text = "[Settings]\nserver=pbx.old\ndomain=old.example\nusername=7\npassword=pw\n\
                transport=tcp\nSTUN=stun.old\nDND=0\n[Account1]\ndomain=overwritten\nlabel=keep\n";
    let mut config = parse(text);
    assert_eq!(config.settings.account_id, 1);
    let (_, account) = config.active_account().unwrap();
    assert_eq!(
        (
            account.domain.as_str(),
            account.username.as_str(),
            account.transport
        ),
        ("old.example", "7", Transport::Tcp)
    );
    assert_eq!(infos(&config).len(), 1);
    assert_eq!(
        config.to_bytes(),
        text.as_bytes(),
        "nothing moves until a write"
    );

    config.set_setting("DND", "1");
    let written = String::from_utf8(config.to_bytes()).unwrap();
    let settings = written.split("[Account1]").next().unwrap();
    assert_eq!(settings, "[Settings]\nSTUN=stun.old\nDND=1\naccountId=1\n");
    let reread = parse(&written);
    assert!(reread.diagnostics.is_empty(), "{:?}", reread.diagnostics);
    assert_eq!(reread.accounts[&1], config.accounts[&1]);
    assert_eq!(reread.accounts[&1].domain, "old.example");
    assert_eq!(
        reread.accounts[&1].label, "",
        "AccountSave writes every key"
    );
    assert_eq!(
        reread.settings.stun,
        ["stun.old"],
        "the global STUN key is kept"
    );

    // Without a domain nothing is migrated; with accountId set the old keys are ignored.
    let config = parse("[Settings]\nserver=pbx.old\ntransport=bogus\n");
    assert_eq!(config.settings.account_id, 0);
    assert!(config.diagnostics.is_empty(), "unused old keys: no remarks");
    let config = parse("[Settings]\naccountId=0\nenableLocalAccount=1\ndomain=old.example\n");
    assert_eq!(config.settings.account_id, 0);
    assert!(infos(&config)[0]
        .message
        .contains("ignored because accountId is set"));
}

#[test]
fn aliases_from_popular_guides() {
    let config = parse("[Settings]\nAutoAnswer=1\n");
    assert_eq!(config.settings.auto_answer, AutoAnswer::All);
    assert_eq!(infos(&config).len(), 1);
    assert!(warnings(&config).is_empty());
    let config = parse("[Settings]\nAutoAnswer=0\n");
    assert_eq!(config.settings.auto_answer, AutoAnswer::Off);
    assert_eq!(config.diagnostics.len(), 1);

    let config = parse("[Settings]\nDoNotDisturb=1\n");
    assert!(config.settings.dnd);
    assert_eq!(config.settings.deny_incoming, DenyIncoming::Button);
    assert_eq!(infos(&config).len(), 1);
    assert_eq!(config.diagnostics.len(), 1);
    let config = parse("[Settings]\nDoNotDisturb=1\ndenyIncoming=all\n");
    assert!(config.settings.dnd);
    assert_eq!(config.settings.deny_incoming, DenyIncoming::All);
    let config = parse("[Settings]\nDoNotDisturb=1\nDND=0\n");
    assert!(!config.settings.dnd, "DND itself wins");

    let config = parse("[Settings]\nSilenceThreshold=5\nptime=30\n");
    let warned: Vec<&str> = warnings(&config).iter().map(|d| d.key.as_str()).collect();
    assert_eq!(warned, ["SilenceThreshold", "ptime"]);
    assert!(warnings(&config)[0].message.contains("ignored"));
}

#[test]
fn encrypted_passwords_are_detected() {
    let encrypted = "5f0b6a8e21c3d4b7a9e8f1029384756a";
    for (password, state) in [
        ("1234", PasswordState::Plain),
        ("deadbeefdeadbeef", PasswordState::Plain),
        ("12345678901234567890123456789012", PasswordState::Plain),
        ("abcdefabcdefabcdefabcdefabcdefab", PasswordState::Plain),
        ("5F0B6A8E21C3D4B7A9E8F1029384756A", PasswordState::Plain),
        (&encrypted[..31], PasswordState::Plain),
        (&format!("{encrypted}12345678"), PasswordState::Plain),
        (encrypted, PasswordState::EncryptedUnreadable),
        (
            &format!("{encrypted}0a1b2c3d4e5f6a7b"),
            PasswordState::EncryptedUnreadable,
        ),
    ] {
        let config = parse(&format!("[Account1]\ndomain=x\npassword={password}\n"));
        assert_eq!(config.accounts[&1].password_state(), state, "{password}");
        assert_eq!(
            warnings(&config).len(),
            usize::from(state == PasswordState::EncryptedUnreadable)
        );
    }
    let config = parse(&format!("[Account1]\ndomain=x\npassword={encrypted}\n"));
    let text = warnings(&config)[0].to_string();
    assert!(
        text.contains(
            "[Account1] password looks like MicroSIP's encrypted form, which cannot be \
             decrypted (its key is not published); enter the password in plain text"
        ),
        "{text}"
    );
    assert!(!text.contains(encrypted));
    assert!(text.starts_with(&format!("{PATH}:3: [Account1] password=********: ")));
}

#[test]
fn fatal_errors_name_the_file_and_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ini");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert!(err.to_string().contains(&missing.display().to_string()));
    assert!(err.to_string().contains("no such file"));

    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&dir.path().display().to_string()));
    assert!(std::error::Error::source(&err).is_some());

    for (bytes, reason) in [
        (&b"\x7fELF\x02\x01\x01\0\0\0\0"[..], "NUL"),
        (b"[Settings]\nDND=1\0\n", "NUL"),
        (b"hello world\nthis is not ini\n", "no [Section] header"),
        (b"\x89PNG\r\n\x1a\n\xff\xd8", "control character U+001A"),
        // Binary data without NUL bytes, even when a line looks like a key.
        (
            b"[Settings]\nDND=1\n\x8f\x02=\x9b\x1b[2J\n",
            "line 3 contains the control character",
        ),
        (b"\xEF\xBB\xBFjust text", "no [Section] header"),
        (&utf16("plain words")[..], "no [Section] header"),
        (
            &utf16("[Settings]\r\n")[2..],
            "UTF-16 without a byte-order mark",
        ),
    ] {
        let err = parse_bytes(Path::new(PATH), bytes).unwrap_err();
        assert!(
            matches!(err, ConfigError::NotIni { .. }),
            "{bytes:?}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{PATH}: not an INI file: ")),
            "{text}"
        );
        assert!(text.contains(reason), "{text}");
    }

    for (text, line, key) in [
        ("[Settings]\nDND=1\nsourcePort=70000\n", 3, "sourcePort"),
        ("[settings]\nrtpportmin=-5\n", 2, "rtpportmin"),
        (
            "[Settings]\n\n\n rtpPortMax = 99999999999 \n",
            4,
            "rtpPortMax",
        ),
    ] {
        let err = parse_bytes(Path::new(PATH), text.as_bytes()).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidPort { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{PATH}:{line}: ["))
                && message.contains(&format!("] {key}=")),
            "{message}"
        );
        assert!(message.contains("1 to 65535"), "{message}");
    }
}

#[test]
fn structure_problems_are_warned_but_kept() {
    let text = "sourcePort=5060\n[Settings]\nDND\n[Broken\n[Mine]\nx=1\n[Settings]\nAA=1\n";
    let config = parse(text);
    assert_eq!(config.settings.source_port, 0);
    assert!(!config.settings.aa);
    let lines: Vec<(Level, usize)> = config
        .diagnostics
        .iter()
        .map(|d| (d.level, d.line))
        .collect();
    assert_eq!(
        lines,
        [
            (Level::Warning, 1),
            (Level::Warning, 3),
            (Level::Warning, 4),
            (Level::Info, 5),
            (Level::Warning, 7)
        ]
    );
    assert_eq!(config.to_bytes(), text.as_bytes());
    let config =
        parse("[Settings]\naccountId=1\nfooBar=1\ndarkMode=1\n[Account1]\ndomain=x\nport=5\n");
    let unknown: Vec<&str> = infos(&config).iter().map(|d| d.key.as_str()).collect();
    assert_eq!(unknown, ["fooBar", "port"]);
}

#[cfg(unix)]
#[test]
fn save_is_atomic_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("MicroSIP.ini");
    fs::write(&path, utf16("[Settings]\r\nDND=0\r\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut config = load(&path).unwrap();
    config.set_setting("DND", "1");
    config.save().unwrap();
    assert_eq!(fs::read(&path).unwrap(), utf16("[Settings]\r\nDND=1\r\n"));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    assert!(load(&path).unwrap().settings.dnd);
}

#[test]
fn create_default_then_load() {
    let dir = tempfile::tempdir().unwrap();
    let located = locate(
        None,
        &dir.path().join("microsip"),
        None,
        Some(&dir.path().join("h")),
    );
    assert!(located.create_if_missing);
    create_default(&located.path).unwrap();
    let config = load(&located.path).unwrap();
    assert!(config.diagnostics.is_empty());
    assert_eq!(config.settings.auto_answer, AutoAnswer::Button);
}

/// A small deterministic generator (xorshift64*), so the property test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random ini-like inputs in every encoding: an unchanged write-back is byte-identical, and
/// a set key reads back with the same typed view.
#[test]
fn random_inputs_round_trip() {
    const PIECES: &[&str] = &[
        "[Settings]",
        "[settings]",
        "[Account1]",
        "[account0]",
        "[Account2",
        "[Calls]",
        "accountId=",
        "domain=",
        "password=",
        "sourcePort=",
        "rtpPortMax=",
        "autoAnswer=",
        "AutoAnswer=",
        "DoNotDisturb=",
        "enableLocalAccount=",
        "transport=",
        "registerRefresh=",
        "label=",
        "1",
        "0",
        "70000",
        "-5",
        "tls",
        "all",
        "abc",
        "=",
        ";",
        "#",
        "\"",
        "'",
        " ",
        "\t",
        "\r\n",
        "\n",
        "\r",
        "ü",
        "😀",
        "\u{FFFD}",
        "5f0b6a8e21c3d4b7a9e8f1029384756a",
        "[",
        "]",
    ];
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let path = Path::new(PATH);
    let mut parsed = 0;
    for _ in 0..4_000 {
        let mut text = String::new();
        for _ in 0..rng.below(40) {
            text.push_str(PIECES[rng.below(PIECES.len())]);
        }
        let mut bytes = match rng.below(4) {
            0 => utf16(&text),
            1 => format!("\u{FEFF}{text}").into_bytes(),
            2 => encoding_rs::WINDOWS_1252.encode(&text).0.into_owned(),
            _ => text.into_bytes(),
        };
        if rng.below(8) == 0 && !bytes.is_empty() {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
        }
        let Ok(mut config) = parse_bytes(path, &bytes) else {
            continue;
        };
        parsed += 1;
        assert_eq!(config.to_bytes(), bytes);
        assert!(!config.effective_lines().is_empty());
        let _ = config.diagnostics.iter().map(ToString::to_string).count();
        if config.try_set_setting("DND", "1").is_ok() {
            let reread = parse_bytes(path, &config.to_bytes()).expect("written file parses");
            assert!(reread.settings.dnd, "{bytes:?}");
            assert_eq!(reread.settings, config.settings, "{bytes:?}");
            assert_eq!(reread.accounts, config.accounts, "{bytes:?}");
        }
    }
    assert!(parsed > 1_000, "only {parsed} inputs parsed");
}
