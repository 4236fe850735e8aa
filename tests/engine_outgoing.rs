//! The Rust API places a call to a real SIPp callee: 180, then 200, then our BYE.
//! One test function: PJSUA is process-global.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use microsip::engine::{CallState, Engine, Event, IncomingAction, Role};
use support::Sipp;

#[test]
fn outgoing_call_rings_is_answered_and_we_hang_up() {
    let mut sipp = Sipp::uas("uas_answer.xml").spawn();
    let settings =
        support::loopback_engine(support::free_udp_port(), Arc::new(|_| IncomingAction::RING));
    let (engine, events) = Engine::start(settings).expect("engine");
    let acc = engine.info().local_account.unwrap();
    let call = engine
        .make_call(acc, &format!("sip:service@{}", sipp.addr()))
        .expect("make_call");

    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Ok(ev) = events.recv_deadline(deadline) {
        if let Event::CallState { info } = ev {
            assert_eq!(info.call, call);
            assert_eq!(info.role, Role::Caller);
            states.push((info.state, info.last_status));
            if info.state == CallState::Confirmed {
                break;
            }
        }
    }
    assert!(
        states.contains(&(CallState::Early, 180)),
        "a 180 first: {states:?}"
    );
    assert_eq!(
        states.last(),
        Some(&(CallState::Confirmed, 200)),
        "{states:?}"
    );
    let early = states.iter().position(|s| s.0 == CallState::Early).unwrap();
    assert!(early < states.len() - 1);

    std::thread::sleep(Duration::from_millis(300));
    engine.hangup(call, 0, None).expect("hangup sends BYE");
    let ended = loop {
        match events.recv_deadline(deadline) {
            Ok(Event::CallState { info }) if info.state == CallState::Disconnected => break info,
            Ok(_) => continue,
            Err(_) => panic!("no DISCONNECTED event"),
        }
    };
    assert_eq!(ended.call, call);
    let out = sipp.wait(Duration::from_secs(15));
    out.assert_success();
    assert!(
        out.messages.contains("BYE sip:"),
        "SIPp saw our BYE:\n{}",
        out.messages
    );
    engine.shutdown();
}
