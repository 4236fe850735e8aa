//! MicroSIP's `WM_COPYDATA` semantics, independent of the transport that carried the message.
//!
//! This is the seam between transports and the phone. A transport (today the Unix control
//! socket in [`super::socket`]; a Windows `WM_COPYDATA` window would be another) decodes one
//! message into a [`wire::Request`] and calls [`Dispatcher::handle`], which applies
//! MicroSIP's rules (reference §3) and returns the `LRESULT` to send back:
//!
//! | `dwData` | stack running | what happens | result |
//! |---|---|---|---|
//! | 1 | yes | run on the main loop, wait for it | `0` (`FALSE`) and the main loop's text |
//! | 2 | yes | queued for the main loop, not waited for | `0` (`FALSE`), `queued` |
//! | 1 or 2 | no (starting or stopping) | dropped | `1` (`TRUE`) |
//! | other | – | ignored | `1` (`TRUE`) |
//!
//! The main loop receives [`ControlRequest`]s on a crossbeam channel and answers through the
//! request's own reply channel, so nothing here touches the SIP engine.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};

use super::hub::{EventHub, Subscription, EVENTS_VERSION};
use super::wire::{self, Reply, Request, DW_DATA_EVENTS, DW_DATA_POST, DW_DATA_RUN};

/// How long a `dwData=1` request waits for the main loop before the sender gets an error.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// One command for the main loop.
#[derive(Debug)]
pub struct ControlRequest {
    /// The command line, as MicroSIP's `CommandLine` receives it.
    pub text: String,
    /// Where to send the result (`dwData=1`); `None` when nobody waits (`dwData=2`).
    pub reply: Option<Sender<Outcome>>,
}

impl ControlRequest {
    /// Sends the result to whoever waits for it (nobody for a queued request).
    pub fn answer(self, outcome: Outcome) {
        if let Some(reply) = self.reply {
            let _ = reply.send(outcome);
        }
    }
}

/// What the main loop did with a [`ControlRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The command ran and did what it was asked (false: it ran into an error).
    pub ok: bool,
    /// What happened, for the sender (one line).
    pub text: String,
    /// The phone is exiting because of this command: the transport keeps the connection open
    /// until the process is gone, so the sender can wait for the end of the phone.
    pub exiting: bool,
}

impl Outcome {
    /// The command did what it was asked.
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            text: text.into(),
            exiting: false,
        }
    }

    /// The command failed; `text` says why and what to do.
    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            text: text.into(),
            exiting: false,
        }
    }

    /// The text as sent on the wire: `ok: ...` or `error: ...`.
    pub fn wire_text(&self) -> String {
        format!("{}: {}", if self.ok { "ok" } else { "error" }, self.text)
    }
}

/// Whether the SIP stack runs, shared by the main loop (which sets it) and the transports:
/// not yet (the phone is starting), running, or no more (the phone is stopping).
#[derive(Debug, Clone, Default)]
pub struct StackGate(Arc<AtomicU8>);

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;

/// The start of the reply text for a command dropped while the phone is starting: a client
/// may send it again shortly.
pub const DROPPED_STARTING: &str = "dropped: the SIP stack is not running yet";

impl StackGate {
    /// `true` once the stack runs (commands are accepted); `false` when the phone stops
    /// (commands are dropped from then on).
    pub fn set_running(&self, running: bool) {
        self.0
            .store(if running { RUNNING } else { STOPPING }, Ordering::Release);
    }

    /// Whether commands are accepted now.
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::Acquire) == RUNNING
    }

    fn is_starting(&self) -> bool {
        self.0.load(Ordering::Acquire) == STARTING
    }
}

/// Applies the `dwData` rules and hands commands to the main loop. Cheap to clone: every
/// connection of every transport gets one.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    to_main: Sender<ControlRequest>,
    gate: StackGate,
    timeout: Duration,
    hub: EventHub,
}

/// What a transport sends back for one request.
#[derive(Debug)]
pub struct Handled {
    /// The reply frame's content.
    pub reply: Reply,
    /// Keep the connection open until the process exits (see [`Outcome::exiting`]).
    pub linger: bool,
    /// A `dwData=3` subscription: after the reply, the connection carries these events.
    pub events: Option<Subscription>,
}

impl Dispatcher {
    /// A dispatcher feeding a new channel, and the main loop's end of that channel.
    pub fn new(gate: StackGate) -> (Dispatcher, Receiver<ControlRequest>) {
        let (tx, rx) = unbounded();
        (
            Dispatcher {
                to_main: tx,
                gate,
                timeout: RUN_TIMEOUT,
                hub: EventHub::default(),
            },
            rx,
        )
    }

    /// Where the main loop publishes the events this dispatcher's subscribers receive.
    pub fn hub(&self) -> EventHub {
        self.hub.clone()
    }

    /// Runs one request with MicroSIP's `WM_COPYDATA` rules (see the module docs). Blocks for
    /// `dwData=1` until the main loop has run the command (at most [`RUN_TIMEOUT`]).
    pub fn handle(&self, request: Request) -> Handled {
        let done = |result, text: String| Handled {
            reply: Reply::done(result, text),
            linger: false,
            events: None,
        };
        if request.dw_data == DW_DATA_EVENTS {
            if !self.gate.is_running() && !self.gate.is_starting() {
                return done(1, "dropped: the phone is stopping".to_string());
            }
            return Handled {
                reply: Reply::done(0, format!("ok: subscribed to events (v{})", EVENTS_VERSION)),
                linger: false,
                events: Some(self.hub.subscribe()),
            };
        }
        if request.dw_data != DW_DATA_RUN && request.dw_data != DW_DATA_POST {
            return done(
                1,
                format!(
                    "ignored: dwData {} is neither {DW_DATA_RUN} (run), {DW_DATA_POST} (queue) nor \
                     {DW_DATA_EVENTS} (events)",
                    request.dw_data
                ),
            );
        }
        if self.gate.is_starting() {
            return done(
                1,
                format!("{DROPPED_STARTING} (the phone is starting); send the command again"),
            );
        }
        if !self.gate.is_running() {
            return done(1, "dropped: the phone is stopping".to_string());
        }
        if request.dw_data == DW_DATA_POST {
            let queued = self.to_main.send(ControlRequest {
                text: request.text,
                reply: None,
            });
            return match queued {
                Ok(()) => done(0, "ok: queued".to_string()),
                Err(_) => done(1, "dropped: the phone is stopping".to_string()),
            };
        }
        let (tx, rx) = bounded(1);
        if self
            .to_main
            .send(ControlRequest {
                text: request.text,
                reply: Some(tx),
            })
            .is_err()
        {
            return done(1, "dropped: the phone is stopping".to_string());
        }
        match rx.recv_timeout(self.timeout) {
            Ok(outcome) => Handled {
                events: None,
                reply: Reply::done(0, outcome.wire_text()),
                linger: outcome.exiting,
            },
            Err(RecvTimeoutError::Timeout) => done(
                0,
                format!(
                    "error: the phone did not finish the command within {} s",
                    self.timeout.as_secs()
                ),
            ),
            Err(RecvTimeoutError::Disconnected) => done(
                1,
                "dropped: the phone stopped before running the command".to_string(),
            ),
        }
    }
}

/// A refusal that is not about the frame itself (wrong user, too many connections): a
/// [`wire::ReplyKind::Refused`] reply with `text`.
pub fn refusal(text: impl Into<String>) -> Reply {
    Reply {
        kind: wire::ReplyKind::Refused,
        result: 1,
        text: text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::wire::{Encoding, ReplyKind};

    fn request(dw_data: u32, text: &str) -> Request {
        Request {
            dw_data,
            encoding: Encoding::Utf8,
            text: text.to_string(),
        }
    }

    #[test]
    fn unknown_dw_data_is_ignored_with_true() {
        let gate = StackGate::default();
        gate.set_running(true);
        let (dispatcher, rx) = Dispatcher::new(gate);
        for dw in [0, 4, u32::MAX] {
            let handled = dispatcher.handle(request(dw, "/answer"));
            assert_eq!(handled.reply.kind, ReplyKind::Done);
            assert_eq!(handled.reply.result, 1, "TRUE for dwData {dw}");
            assert!(handled.reply.text.starts_with("ignored"));
        }
        assert!(rx.try_recv().is_err(), "nothing reaches the main loop");
    }

    #[test]
    fn dw_data_3_subscribes_to_the_events() {
        let gate = StackGate::default();
        gate.set_running(true);
        let (dispatcher, rx) = Dispatcher::new(gate.clone());
        let handled = dispatcher.handle(request(3, ""));
        assert_eq!(handled.reply.result, 0);
        assert!(handled.reply.text.starts_with("ok: subscribed"));
        let events = handled.events.expect("a subscription");
        dispatcher.hub().publish("{\"type\":\"x\"}");
        assert_eq!(&*events.events.try_recv().unwrap(), "{\"type\":\"x\"}");
        assert!(rx.try_recv().is_err(), "nothing reaches the main loop");
        gate.set_running(false);
        let late = dispatcher.handle(request(3, ""));
        assert_eq!(late.reply.result, 1);
        assert!(late.events.is_none());
    }

    #[test]
    fn commands_are_dropped_with_true_while_the_stack_is_not_running() {
        let gate = StackGate::default();
        let (dispatcher, rx) = Dispatcher::new(gate.clone());
        for dw in [1, 2] {
            let handled = dispatcher.handle(request(dw, "100"));
            assert_eq!(handled.reply.result, 1);
            assert!(handled.reply.text.starts_with(DROPPED_STARTING));
        }
        gate.set_running(true);
        gate.set_running(false);
        let handled = dispatcher.handle(request(1, "100"));
        assert_eq!(
            handled.reply,
            Reply::done(1, "dropped: the phone is stopping")
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn dw_data_2_replies_false_at_once_and_queues() {
        let gate = StackGate::default();
        gate.set_running(true);
        let (dispatcher, rx) = Dispatcher::new(gate);
        let handled = dispatcher.handle(request(2, "/hangupall"));
        assert_eq!(handled.reply, Reply::done(0, "ok: queued"));
        let queued = rx.try_recv().expect("queued for the main loop");
        assert_eq!(queued.text, "/hangupall");
        assert!(queued.reply.is_none());
    }

    #[test]
    fn dw_data_1_waits_for_the_main_loop() {
        let gate = StackGate::default();
        gate.set_running(true);
        let (dispatcher, rx) = Dispatcher::new(gate);
        let main = std::thread::spawn(move || {
            let req = rx.recv().unwrap();
            assert_eq!(req.text, "/exit");
            std::thread::sleep(Duration::from_millis(50));
            req.answer(Outcome {
                ok: true,
                text: "exiting".into(),
                exiting: true,
            });
        });
        let handled = dispatcher.handle(request(1, "/exit"));
        assert_eq!(handled.reply, Reply::done(0, "ok: exiting"));
        assert!(handled.linger);
        main.join().unwrap();
    }

    #[test]
    fn a_main_loop_that_is_gone_drops_the_command() {
        let gate = StackGate::default();
        gate.set_running(true);
        let (dispatcher, rx) = Dispatcher::new(gate);
        drop(rx);
        assert_eq!(dispatcher.handle(request(1, "100")).reply.result, 1);
        assert_eq!(dispatcher.handle(request(2, "100")).reply.result, 1);
    }
}
