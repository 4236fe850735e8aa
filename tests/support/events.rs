//! `microsip --events` as a test reads it: a subscription to a running [`Phone`]'s event
//! stream, each line parsed as JSON and kept, with waits for the objects a test expects.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Phone;

/// What `--events` printed: the objects (stdout) and its other lines (stderr).
type Seen = Arc<(Mutex<(Vec<Value>, Vec<String>)>, Condvar)>;

/// A `microsip --events` process and the objects it printed. Dropping it stops it.
pub struct Events {
    child: Child,
    seen: Seen,
}

impl Events {
    /// Subscribes to `phone`'s events; returns once the subscription is confirmed.
    pub fn subscribe(phone: &Phone) -> Events {
        let mut child = Command::new(Phone::binary())
            .arg("--ini")
            .arg(phone.ini_path())
            .arg("--events")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn microsip --events");
        let seen: Seen = Arc::new((Mutex::new((Vec::new(), Vec::new())), Condvar::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        for (pipe, is_out) in [
            (Box::new(out) as Box<dyn std::io::Read + Send>, true),
            (Box::new(err), false),
        ] {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let (lock, cv) = &*seen;
                    let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if is_out {
                        let v: Value = serde_json::from_str(&line)
                            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                        s.0.push(v);
                    } else {
                        s.1.push(line);
                    }
                    cv.notify_all();
                }
            });
        }
        let events = Events { child, seen };
        events.wait_stderr("subscribed to events", Duration::from_secs(20));
        events
    }

    fn wait_stderr(&self, needle: &str, timeout: Duration) {
        let (lock, cv) = &*self.seen;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !s.1.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {needle:?} from --events: {:?}", s.1);
            s = cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// How many objects arrived so far: pass it to [`wait_after`](Self::wait_after).
    pub fn mark(&self) -> usize {
        self.seen
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .len()
    }

    /// The first object from index `mark` on satisfying `pred`, waiting up to `timeout`.
    /// Panics with every object seen when none comes.
    pub fn wait_after(
        &self,
        mark: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let (lock, cv) = &*self.seen;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(v) = s.0.iter().skip(mark).find(|v| pred(v)) {
                return v.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} event within {timeout:?}; got:\n{}",
                s.0.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            s = cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The first object satisfying `pred` (from the start), waiting up to 20 s.
    pub fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_after(0, what, Duration::from_secs(20), pred)
    }

    /// The first object of type `kind`, waiting up to 20 s.
    pub fn of_type(&self, kind: &str) -> Value {
        self.wait(kind, |v| v["type"] == kind)
    }

    /// Waits for `--events` to end by itself (its phone gone); its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for microsip --events")
    }

    /// Every object so far.
    pub fn all(&self) -> Vec<Value> {
        self.seen
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
