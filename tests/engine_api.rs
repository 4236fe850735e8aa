//! The safe engine API against the real pjproject: version pin, one instance per process,
//! restart after shutdown, and a real call through the engine's own local account.
//! One test function: PJSUA is process-global, so this binary runs it alone.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use microsip::engine::{
    CallState, Engine, EngineSettings, Error, Event, IncomingAction, MediaState, Role,
};

fn settings(answer: IncomingAction) -> EngineSettings {
    support::loopback_engine(0, Arc::new(move |_| answer.clone()))
}

fn wait_for(rx: &Receiver<Event>, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while let Ok(ev) = rx.recv_deadline(deadline) {
        let done = pred(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
    panic!("timed out waiting for {what}; events seen: {seen:#?}");
}

#[test]
fn engine_lifecycle_and_self_call() {
    assert_eq!(
        microsip::engine::pjproject_version(),
        "2.17",
        "linked pjproject is not the pinned 2.17"
    );

    let (engine, rx) = Engine::start(settings(IncomingAction::Answer)).expect("first start");
    let err = Engine::start(settings(IncomingAction::Answer))
        .err()
        .expect("second start must fail");
    assert_eq!(err, Error::AlreadyRunning);

    // Call our own local account: the incoming side answers at once, both legs confirm.
    let addr = engine.info().sip_addr;
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let local = engine.info().local_account.expect("local account");
    let out = engine
        .make_call(local, &format!("sip:{addr}"))
        .expect("make_call");
    let seen = wait_for(&rx, "both legs CONFIRMED with audio", {
        let (mut confirmed, mut media) = (0, 0);
        move |e| {
            match e {
                Event::CallState { info } if info.state == CallState::Confirmed => confirmed += 1,
                Event::Media {
                    state: MediaState::Active,
                    ..
                } => media += 1,
                _ => {}
            }
            confirmed == 2 && media >= 2
        }
    });
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::Incoming {
            action: IncomingAction::Answer,
            ..
        }
    )));
    assert!(engine
        .calls()
        .iter()
        .any(|c| c.call == out && c.role == Role::Caller));

    engine.hangup(out, 0, None).expect("hangup");
    wait_for(
        &rx,
        "DISCONNECTED",
        |e| matches!(e, Event::CallState { info } if info.state == CallState::Disconnected),
    );
    // Once both legs are gone, commands on the ended call are refused with a typed error.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !engine.calls().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(engine.calls().is_empty(), "both legs must end");
    assert_eq!(engine.hangup(out, 0, None), Err(Error::NoSuchCall(out)));
    assert_eq!(engine.call(out).err(), Some(Error::NoSuchCall(out)));
    engine.shutdown();

    // A start after a shutdown works.
    let (engine, _rx) =
        Engine::start(settings(IncomingAction::RING)).expect("start after shutdown");
    assert!(engine.info().sip_addr.port() > 0);
    drop(engine);
}
