//! An alert call with microsip's engine, in about 30 lines: call a target, speak a prompt in
//! a loop until the callee presses 1 (RFC 2833, SIP INFO or a tone in the audio), hang up.
//! Exit 0 when acknowledged, 1 when not, 3 for a usage error.
//!
//!     cargo run --example alerter -- sip:oncall@127.0.0.1:5070 "The disk is full"

use std::process::ExitCode;
use std::time::{Duration, Instant};

use microsip::engine::{speech, CallState, Engine, EngineSettings, Event, MediaState};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(text)) = (args.next(), args.next()) else {
        eprintln!("usage: alerter SIP-URI TEXT");
        return ExitCode::from(3);
    };
    let Ok((prompt, rate)) = speech::synthesize(&text) else {
        eprintln!("the text cannot be spoken");
        return ExitCode::from(3);
    };
    let settings = EngineSettings::local("127.0.0.1".parse().expect("an address"));
    let (engine, events) = Engine::start(settings).expect("the SIP engine starts");
    let account = engine.info().local_account.expect("the local account runs");
    let call = engine
        .make_call(account, &target)
        .expect("the call is placed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acknowledged = false;
    while let Ok(event) = events.recv_deadline(deadline) {
        match event {
            Event::Media { call: c, state, .. } if c == call && state == MediaState::Active => {
                engine
                    .play_prompt(call, &prompt, rate)
                    .expect("the prompt plays");
                engine.listen_dtmf(call).expect("tones are listened to");
            }
            Event::Dtmf { call: c, digit, .. } if c == call && digit == '1' => {
                acknowledged = true;
                let _ = engine.hangup(call, 0, None);
            }
            Event::CallState { info }
                if info.call == call && info.state == CallState::Disconnected =>
            {
                break
            }
            _ => {}
        }
    }
    println!(
        "{}",
        if acknowledged {
            "acknowledged"
        } else {
            "not acknowledged"
        }
    );
    engine.shutdown();
    ExitCode::from(if acknowledged { 0 } else { 1 })
}
