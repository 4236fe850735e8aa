//! The event stream's fan-out. The main loop publishes each event's JSON text once; every
//! subscribed connection gets it through a bounded queue of its own, which a thread of that
//! connection drains onto the socket. A reader that falls behind loses events, counted and
//! reported to it, and never slows the phone: publishing never blocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// The version of the event objects (`"v"` in each).
pub const EVENTS_VERSION: u32 = 1;

/// The event that tells a reader how many events it missed (its queue was full).
pub fn dropped_event(count: u64) -> String {
    serde_json::json!({
        "v": EVENTS_VERSION,
        "ts": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "type": "dropped",
        "call": null,
        "count": count,
    })
    .to_string()
}

/// How many events wait for one slow reader before newer ones are dropped for it.
pub const QUEUE: usize = 1024;

struct Subscriber {
    tx: Sender<Arc<str>>,
    dropped: Arc<AtomicU64>,
}

/// The subscribers of one phone. Cheap to clone: every clone is the same hub.
#[derive(Clone, Default)]
pub struct EventHub {
    subscribers: Arc<Mutex<Vec<Subscriber>>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventHub({} subscribers)", self.subscribers())
    }
}

/// One reader's end of the stream.
#[derive(Debug)]
pub struct Subscription {
    /// The events, as JSON text, oldest first.
    pub events: Receiver<Arc<str>>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// How many events were dropped for this reader since the last call (its queue was full).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::AcqRel)
    }
}

impl EventHub {
    /// A new reader, with a queue of [`QUEUE`] events.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_with(QUEUE)
    }

    fn subscribe_with(&self, queue: usize) -> Subscription {
        let (tx, rx) = bounded(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber {
            tx,
            dropped: Arc::clone(&dropped),
        });
        Subscription {
            events: rx,
            dropped,
        }
    }

    /// How many readers are subscribed.
    pub fn subscribers(&self) -> usize {
        self.lock().len()
    }

    /// Hands `event` to every reader; never blocks. A reader whose queue is full misses it
    /// (counted); a reader that is gone is forgotten.
    pub fn publish(&self, event: &str) {
        let mut subscribers = self.lock();
        if subscribers.is_empty() {
            return;
        }
        let event: Arc<str> = Arc::from(event);
        subscribers.retain(|s| match s.tx.try_send(Arc::clone(&event)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.dropped.fetch_add(1, Ordering::AcqRel);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_gets_every_event_in_order() {
        let hub = EventHub::default();
        hub.publish("nobody listens");
        let a = hub.subscribe();
        let b = hub.subscribe();
        hub.publish("one");
        hub.publish("two");
        for s in [&a, &b] {
            let got: Vec<String> = s.events.try_iter().map(|e| e.to_string()).collect();
            assert_eq!(got, ["one", "two"]);
            assert_eq!(s.take_dropped(), 0);
        }
    }

    #[test]
    fn a_slow_reader_loses_events_counted_and_others_do_not() {
        let hub = EventHub::default();
        let slow = hub.subscribe_with(4);
        let fast = hub.subscribe_with(64);
        for i in 0..10 {
            hub.publish(&i.to_string());
            let _ = fast.events.try_recv();
        }
        assert_eq!(slow.events.try_iter().count(), 4);
        assert_eq!(slow.take_dropped(), 6);
        assert_eq!(slow.take_dropped(), 0, "the counter restarts");
        assert_eq!(fast.take_dropped(), 0);
    }

    #[test]
    fn the_dropped_event_has_the_common_fields_and_the_count() {
        let v: serde_json::Value = serde_json::from_str(&dropped_event(17)).unwrap();
        assert_eq!(v["v"], EVENTS_VERSION);
        assert_eq!(v["type"], "dropped");
        assert_eq!(v["count"], 17);
        assert!(v["call"].is_null());
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_reader_that_is_gone_is_forgotten() {
        let hub = EventHub::default();
        let s = hub.subscribe();
        assert_eq!(hub.subscribers(), 1);
        drop(s);
        hub.publish("x");
        assert_eq!(hub.subscribers(), 0);
    }
}
