//! A panic in the application's incoming-call decision: the caller gets 500 at once instead
//! of ringing until it gives up, and the engine goes on answering the next call. The real
//! engine and SIPp callers on 127.0.0.1; one test function (PJSUA is process-global).

mod support;

use std::sync::Arc;
use std::time::Duration;

use microsip::engine::{Engine, IncomingAction};
use support::Sipp;

const T: Duration = Duration::from_secs(20);

#[test]
fn a_panicking_decision_refuses_the_call_with_500_and_the_next_call_is_answered() {
    let (engine, _events) = Engine::start(support::loopback_engine(
        0,
        Arc::new(|call| {
            if call.from.contains("sip:boom@") {
                panic!("the decision failed (on purpose, for the test)");
            }
            IncomingAction::Answer
        }),
    ))
    .expect("engine start");
    let addr = engine.info().sip_addr.to_string();

    Sipp::caller_as(&addr, "boom")
        .run(T)
        .assert_refused_with(500, "the call whose decision panicked");

    let mut answered = Sipp::caller_as(&addr, "100").spawn();
    answered.wait_answered(T);
    engine.hangup_all();
    answered.wait(T).assert_success();
}
