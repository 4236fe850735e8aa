//! The checks behind the fuzz targets: one function per target, each taking the fuzzer's
//! bytes, calling one of our parsers and asserting what it promises (a panic is a finding).
//!
//! `fuzz_targets/*.rs` are one line each around these functions, and `tests/fuzz_corpus.rs`
//! includes this file to run every seed of `fuzz/corpus/<target>/` through the same code on
//! the stable toolchain, so the checks keep compiling and the seeds keep passing.
//!
//! Inputs made of several texts separate them with NUL bytes (`printf 'a\0b'`); missing
//! fields are empty.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;

use microsip::app::alert::AlertSpec;
use microsip::app::alerting::{self, AlertingSettings, Route};
use microsip::app::{cli, hooks, status};
use microsip::config::{self, AutoAnswerCalls, DenyIncoming};
use microsip::control::grammar::{self, Command, NoInstance, WithInstance};
use microsip::control::wire::{self, RequestDecoder, WireError};
use microsip::dial::{self, AccountChoice, DialInput, LocalAccount, MainAccount};
use microsip::engine::{self, IncomingCall, OtherCall};
use microsip::logging;
use microsip::policy::{self, AccountIdentity, AutoAnswerMode, Forwarding, Policy};
use serde_json::Value;

/// A target's check: it panics on a finding.
pub type Check = fn(&[u8]);

/// Every target: its name (the `[[bin]]` in fuzz/Cargo.toml and the corpus directory) and
/// its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("ini_parse", ini_parse),
    ("grammar_parse", grammar_parse),
    ("wire_decode", wire_decode),
    ("dial_pipeline", dial_pipeline),
    ("json_inputs", json_inputs),
    ("sip_text", sip_text),
    ("cli_args", cli_args),
];

/// The input as text, cut at NUL bytes into fields.
fn fields(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\0')
        .map(str::to_string)
        .collect()
}

fn field(fields: &[String], i: usize) -> &str {
    fields.get(i).map_or("", String::as_str)
}

/// MicroSIP.ini on arbitrary bytes: no panic; an unchanged document serialises to exactly
/// the input; a written key reads back with the same typed view.
pub fn ini_parse(data: &[u8]) {
    let path = Path::new("fuzz/MicroSIP.ini");
    let Ok(mut loaded) = config::parse_bytes(path, data) else {
        return;
    };
    assert!(!loaded.effective_lines().is_empty());
    for diagnostic in &loaded.diagnostics {
        let _ = diagnostic.to_string();
    }
    assert_eq!(
        loaded.to_bytes(),
        data,
        "an unchanged document must serialise to the input bytes"
    );
    if loaded.try_set_setting("DND", "1").is_ok() {
        let written = loaded.to_bytes();
        let reread = config::parse_bytes(path, &written).expect("a written file parses");
        assert!(reread.settings.dnd);
        assert_eq!(reread.settings, loaded.settings);
        assert_eq!(reread.accounts, loaded.accounts);
    }
}

/// MicroSIP's command-line grammar on arbitrary text: no panic, the process decisions agree
/// with the parse, what is dialled is trimmed and non-empty, and every dial target goes
/// through the dial pipeline without a panic.
pub fn grammar_parse(data: &[u8]) {
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = grammar::parse(tail);
    let _ = parsed.alias_message();
    check_command(&parsed.command);
    match grammar::without_running_instance(tail) {
        NoInstance::Start(start) => assert_eq!(start, parsed),
        NoInstance::ExitAtOnce => assert!(matches!(
            parsed.command,
            Command::Answer | Command::HangupAll
        )),
        NoInstance::NothingToStop => {
            assert!(matches!(parsed.command, Command::Exit | Command::Status))
        }
        NoInstance::Reset { ask } => assert_eq!(parsed.command, Command::Reset { ask }),
    }
    if grammar::with_running_instance(tail) == WithInstance::StopRunning {
        assert_eq!(parsed.command, Command::Exit);
    }
    let _ = grammar::decode_number(tail);
}

fn check_command(command: &Command) {
    match command {
        Command::Dial { target } => {
            assert!(!target.is_empty(), "an empty number is never dialled");
            assert_eq!(target.trim(), target, "targets are trimmed");
            grammar_targets(target);
        }
        Command::Message { to, text } => {
            assert!(!to.is_empty() && !text.is_empty());
            assert_eq!(to.trim(), to);
            grammar_targets(to);
        }
        Command::SetAccount { id, then } => {
            assert!(*id > 0);
            assert!(!matches!(**then, Command::SetAccount { .. }));
            check_command(then);
        }
        Command::AccountPassword { account, .. } => assert!(*account > 0),
        Command::Transfer(number) => assert!(!number.is_empty()),
        Command::Dtmf { digits, confirm } => assert!(!digits.is_empty() || *confirm),
        Command::Alert { id, args } => {
            assert!(!id.is_empty());
            let _ = AlertSpec::parse(args);
        }
        _ => {}
    }
}

/// What the grammar dials, through the pipeline. Without a dial plan: compiling one costs
/// more than the grammar itself, and `dial_pipeline` covers plans.
fn grammar_targets(target: &str) {
    for no_transform in [false, true] {
        let main = MainAccount {
            domain: "pbx.example",
            dialing_prefix: "0",
            dial_plan: "",
            transport: "tcp",
        };
        let local = LocalAccount {
            domain: "",
            transport: "udp",
        };
        check_dial(&DialInput {
            target,
            main: Some(main),
            local: Some(local),
            tcp_transport: true,
            tls_transport: false,
            no_transform,
        });
    }
}

/// The control socket's framing on arbitrary bytes: no panic; the incremental decoder, fed
/// in chunks of any size, finds exactly what one-shot parsing finds; a decoded request
/// encodes back to a frame that decodes to the same request; replies likewise.
pub fn wire_decode(data: &[u8]) {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 17) + 1;

    // One-shot: successive frames from the start of the buffer.
    let mut expected = Vec::new();
    let mut rest = bytes;
    let expected_error = loop {
        match wire::parse_request(rest) {
            Ok(Some((request, used))) => {
                assert!(used >= wire::HEADER_LEN && used <= rest.len());
                expected.push(request);
                rest = &rest[used..];
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    // Incremental, in chunks.
    let mut decoder = RequestDecoder::new();
    let mut got = Vec::new();
    let mut error = None;
    for piece in bytes.chunks(chunk) {
        decoder.feed(piece);
        loop {
            match decoder.next_request() {
                Ok(Some(request)) => got.push(request),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if error.is_some() {
            break;
        }
    }
    assert_eq!(got, expected);
    // The same error; a bad magic is reported as soon as a byte proves it, so the
    // incremental decoder may have seen fewer of the first four bytes.
    match (&error, &expected_error) {
        (Some(WireError::BadMagic { found: seen }), Some(WireError::BadMagic { found })) => {
            assert!(found.starts_with(seen) && !seen.is_empty());
        }
        _ => assert_eq!(error, expected_error),
    }
    if let Some(e) = &error {
        let _ = wire::Reply::refused(e);
    }
    let _ = decoder.finish();

    // Round trips.
    for request in &expected {
        let frame = wire::encode_request(request.dw_data, &request.text, request.encoding)
            .expect("a decoded text encodes");
        assert_eq!(&wire::decode_request(&frame).expect("re-decodes"), request);
    }
    if let Ok(reply) = wire::decode_reply(bytes) {
        let frame = wire::encode_reply(&reply).expect("a decoded reply encodes");
        assert_eq!(frame, bytes, "a reply frame has one encoding");
    }
}

/// The dial pipeline with every account setting from the input. Fields: target, main
/// account domain, dialingPrefix, dialPlan, transport, local account domain, local
/// transport, flags (one character: bit 0 no main account, bit 1 no local account, bit 2
/// a TCP transport, bit 3 a TLS transport, bit 4 noTransform).
///
/// A URI that comes out is at most [`dial::MAX_URI_BYTES`], ends with `>`, passes
/// [`dial::validate_uri`] again, holds no control character and no white space inside
/// `<…>`; the DTMF groups hold no `,` and the last is not empty; the account chosen is one
/// that is active.
pub fn dial_pipeline(data: &[u8]) {
    let f = fields(data);
    let flags = field(&f, 7).chars().next().map_or(0, u32::from);
    let main = MainAccount {
        domain: field(&f, 1),
        dialing_prefix: field(&f, 2),
        dial_plan: field(&f, 3),
        transport: field(&f, 4),
    };
    let local = LocalAccount {
        domain: field(&f, 5),
        transport: field(&f, 6),
    };
    let target = field(&f, 0);
    check_dial(&DialInput {
        target,
        main: (flags & 1 == 0).then_some(main),
        local: (flags & 2 == 0).then_some(local),
        tcp_transport: flags & 4 != 0,
        tls_transport: flags & 8 != 0,
        no_transform: flags & 16 != 0,
    });

    // The pieces on their own.
    let _ = dial::check_dial_plan(main.dial_plan);
    if let Ok(rewritten) = dial::apply_dial_plan(target, main.dial_plan) {
        let _ = dial::format_sip_uri(&rewritten, Some(main.domain));
    }
    let normalized = dial::normalize_number(target, main.dialing_prefix);
    if !dial::is_pstn_number(target) {
        assert_eq!(normalized, target, "only phone numbers are normalised");
    }
    let _ = dial::uri_domain(target);
    let (_, host) = dial::uri_user_host(target);
    assert!(!host.contains([';', '?']), "a host ends before parameters");
    let _ = dial::display_name(target);
    let _ = dial::wild_match(main.domain, target);
    let _ = dial::add_transport(target, Some("tls"));
    let _ = dial::validate_uri(target);
}

fn check_dial(input: &DialInput<'_>) {
    match dial::prepare_call(input) {
        Ok(call) => {
            let uri = &call.uri;
            assert!(uri.len() <= dial::MAX_URI_BYTES, "{uri:?} is too long");
            assert!(uri.ends_with('>'), "{uri:?} is not wrapped in <>");
            assert_eq!(
                dial::validate_uri(uri),
                Ok(()),
                "{uri:?} is valid once made"
            );
            assert!(
                !uri.chars().any(char::is_control),
                "{uri:?} holds a control character"
            );
            let addr = uri.find('<').map_or(uri.as_str(), |lt| &uri[lt..]);
            assert!(
                !addr.chars().any(char::is_whitespace),
                "{uri:?} holds white space in its address"
            );
            assert!(call.dtmf_groups.iter().all(|g| !g.contains(',')));
            assert!(call.dtmf_groups.last().is_none_or(|g| !g.is_empty()));
            let schedule = dial::dtmf_schedule(&call.dtmf_groups);
            assert!(schedule.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
            assert!(schedule.iter().all(|s| !s.digits.is_empty()));
            match call.account {
                AccountChoice::Main => assert!(input.main.is_some()),
                AccountChoice::Local => assert!(input.local.is_some()),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The JSON we read: the alerting receiver's bodies (Alertmanager's webhook and `POST
/// /call`), the `msip:alert:` command, and the status object `--status` prints. The answers
/// are 200/202 with at least one target to call, or 400 with an error text; the printed
/// status holds no control character but its line ends and tabs (kept, as in the log).
pub fn json_inputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match grammar::parse(&format!("msip:alert:{text}")).command {
        Command::Alert { id, args } => {
            assert!(!id.is_empty());
            let _ = AlertSpec::parse(&args);
        }
        Command::Invalid(_) => {}
        other => panic!("msip:alert: parsed as {other:?}"),
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let settings = AlertingSettings {
        listen: (Ipv4Addr::LOCALHOST, 9095).into(),
        token: None,
        targets: vec!["100".into()],
        routes: vec![Route {
            label: "team".into(),
            value: "db".into(),
            targets: vec!["300".into(), "sip:301@pbx.example".into()],
        }],
        options: vec!["--retries".into(), "2".into()],
    };
    match alerting::alertmanager(&settings, &value) {
        Ok(((code, _), work)) => {
            assert_eq!(code, 200);
            assert!(work.id.starts_with("am:"));
            assert!(!work.start || !work.spec.targets.is_empty());
        }
        Err((code, body)) => {
            assert_eq!(code, 400);
            assert!(body["error"].is_string());
        }
    }
    match alerting::call(&settings, &value, "http:1".into()) {
        Ok(((code, _), spec)) => {
            assert_eq!(code, 202);
            assert!(!spec.targets.is_empty());
        }
        Err((code, body)) => {
            assert_eq!(code, 400);
            assert!(body["error"].is_string());
        }
    }
    let shown = status::render(&value);
    assert!(
        !shown
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "--status prints a control character: {shown:?}"
    );
}

/// SIP text we read ourselves. Fields: From, To, Call-Info, X-AUTOANSWER,
/// P-Asserted-Identity, a message-summary body, a log message. The incoming-call policy
/// decides without a panic in every auto-answer and deny mode; a hook's remote party has a
/// host without parameters; an escaped log entry holds no control character but tabs (and
/// indented line ends for PJSIP's multi-line messages).
pub fn sip_text(data: &[u8]) {
    let f = fields(data);
    let header = |i: usize| Some(field(&f, i).to_string()).filter(|v| !v.is_empty());
    let call = IncomingCall {
        from: field(&f, 0).to_string(),
        to: field(&f, 1).to_string(),
        call_info: header(2),
        x_autoanswer: header(3),
        asserted_identity: header(4),
        live_calls: 2,
        others: vec![OtherCall {
            remote: field(&f, 1).to_string(),
            active: true,
        }],
        ..Default::default()
    };
    let modes = [
        (AutoAnswerMode::Header, DenyIncoming::RemoteDomain),
        (AutoAnswerMode::All, DenyIncoming::UserDomain),
        (AutoAnswerMode::Button, DenyIncoming::User),
        (AutoAnswerMode::Off, DenyIncoming::Domain),
    ];
    for (auto_answer, deny_incoming) in modes {
        let policy = Policy {
            auto_answer,
            aa_button: true,
            auto_answer_numbers: vec!["1*".into(), "?00".into()],
            auto_answer_calls: AutoAnswerCalls::Always,
            deny_incoming,
            account: Some(AccountIdentity {
                username: "alice".into(),
                domain: "pbx.example".into(),
            }),
            forwarding: Some(Forwarding {
                target: "<sip:300@pbx.example>".into(),
                delay: 5,
            }),
            ..Default::default()
        };
        let _ = policy::decide(&policy, &call);
        if let Some(refusal) = policy::refusal(&policy, &call) {
            assert!((400..700).contains(&refusal.code()));
        }
    }

    for value in f.iter().take(5) {
        let remote = hooks::Remote::parse(value);
        if !remote.domain.starts_with('[') {
            assert!(!remote.domain.contains([';', '?']), "{remote:?}");
        }
        let masked = hooks::url_mask(
            "https://x.example/?n={number}&u={user}&d={domain}&c={callerid}&m={name}",
            &hooks::AccountFacts::default(),
            &remote,
        );
        assert!(
            !masked.chars().any(|c| c.is_control() || c.is_whitespace()),
            "placeholders are URL-encoded: {masked:?}"
        );
    }
    let _ = engine::parse_message_summary(field(&f, 5));
    let _ = engine::public_addr(
        field(&f, 0),
        &[Ipv4Addr::new(192, 168, 1, 20), Ipv4Addr::new(10, 1, 2, 3)],
    );

    let message = field(&f, 6);
    let single = logging::one_entry(message, false);
    assert!(
        !single.chars().any(|c| c.is_control() && c != '\t'),
        "{single:?}"
    );
    let multi = logging::one_entry(message, true);
    assert!(
        !multi
            .chars()
            .any(|c| c.is_control() && c != '\t' && c != '\n'),
        "{multi:?}"
    );
    assert!(multi
        .split('\n')
        .skip(1)
        .all(|line| line.starts_with("    ")));
    for level in 0..7 {
        let _ = logging::pjsip_record(level, message);
    }
}

/// Our command line: arguments cut at NUL bytes. `cli::parse` and the mode it gives do not
/// panic; MicroSIP's command line left over goes through the grammar, `--alert`'s arguments
/// through the alert's parser.
pub fn cli_args(data: &[u8]) {
    let words = fields(data);
    let _ = AlertSpec::parse(&words);
    let Ok(opts) = cli::parse(words.into_iter().map(OsString::from)) else {
        return;
    };
    let _ = opts.mode();
    check_command(&grammar::parse(&opts.command_line()).command);
    if let Some(args) = &opts.alert {
        let _ = AlertSpec::parse(args);
    }
}
