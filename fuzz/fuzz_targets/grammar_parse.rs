//! MicroSIP's command-line grammar on arbitrary text: no panic, the process decisions agree
//! with the parse, what is dialled is trimmed and non-empty, and every dial target goes
//! through the dial pipeline without a panic.
//!
//! Run: `cargo +nightly fuzz run grammar_parse`
#![no_main]

use libfuzzer_sys::fuzz_target;
use microsip::control::grammar::{self, Command, NoInstance, WithInstance};
use microsip::dial::{self, DialInput, LocalAccount, MainAccount};

fn check(command: &Command) {
    match command {
        Command::Dial { target } => {
            assert!(!target.is_empty(), "an empty number is never dialled");
            assert_eq!(target.trim(), target, "targets are trimmed");
            pipeline(target);
        }
        Command::Message { to, text } => {
            assert!(!to.is_empty() && !text.is_empty());
            assert_eq!(to.trim(), to);
            pipeline(to);
        }
        Command::SetAccount { id, then } => {
            assert!(*id > 0);
            assert!(!matches!(**then, Command::SetAccount { .. }));
            check(then);
        }
        Command::AccountPassword { account, .. } => assert!(*account > 0),
        Command::Transfer(number) => assert!(!number.is_empty()),
        Command::Dtmf { digits, confirm } => assert!(!digits.is_empty() || *confirm),
        _ => {}
    }
}

fn pipeline(target: &str) {
    for plan in ["", "<0:+49>xx.|x.", "(<:9>xxx)"] {
        let input = DialInput {
            target,
            main: Some(MainAccount {
                domain: "pbx.example",
                dialing_prefix: "0",
                dial_plan: plan,
                transport: "tcp",
            }),
            local: Some(LocalAccount {
                domain: "",
                transport: "udp",
            }),
            tcp_transport: true,
            tls_transport: false,
            no_transform: false,
        };
        if let Ok(call) = dial::prepare_call(&input) {
            assert!(call.uri.len() <= dial::MAX_URI_BYTES);
            assert!(call.dtmf_groups.last().is_none_or(|g| !g.is_empty()));
            let _ = dial::dtmf_schedule(&call.dtmf_groups);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = grammar::parse(tail);
    let _ = parsed.alias_message();
    check(&parsed.command);
    match grammar::without_running_instance(tail) {
        NoInstance::Start(start) => assert_eq!(start, parsed),
        NoInstance::ExitAtOnce => assert!(matches!(
            parsed.command,
            Command::Answer | Command::HangupAll
        )),
        NoInstance::NothingToStop => assert_eq!(parsed.command, Command::Exit),
        NoInstance::Reset { ask } => assert_eq!(parsed.command, Command::Reset { ask }),
    }
    if grammar::with_running_instance(tail) == WithInstance::StopRunning {
        assert_eq!(parsed.command, Command::Exit);
    }
});
