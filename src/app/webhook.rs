//! The outgoing webhook (`webhookUrl=`, our own key): every event of the stream is POSTed
//! as its JSON object to an HTTP(S) endpoint, in order, by a thread of its own. A call never
//! waits for it: events wait in a bounded queue (dropped and counted when it is full), each
//! POST has a timeout, and a failed one is tried again a bounded number of times.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Events waiting for the endpoint before newer ones are dropped.
pub const QUEUE: usize = 1000;
/// How long one POST may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How many times one event is sent at most.
pub const ATTEMPTS: u32 = 4;
/// The wait before the second attempt; it doubles for each next one (0.5, 1, 2 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Checks a `webhookUrl` value: an `http://` or `https://` URL with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("webhookUrl {url:?}: give an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("webhookUrl {url:?}: the URL has no host"));
    }
    url.parse::<ureq::http::Uri>()
        .map(|_| ())
        .map_err(|e| format!("webhookUrl {url:?}: {e}"))
}

/// The running webhook: hand it events with [`Webhook::post`].
pub struct Webhook {
    queue: Option<Sender<String>>,
    dropped: Arc<AtomicU64>,
    worker: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Starts the thread that POSTs to `url` (checked with [`check_url`]).
    pub fn start(url: &str) -> std::io::Result<Webhook> {
        let (tx, rx) = bounded::<String>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let url = url.to_string();
        let counter = Arc::clone(&dropped);
        let worker = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || deliver(&url, &rx, &counter))?;
        Ok(Webhook {
            queue: Some(tx),
            dropped,
            worker: Some(worker),
        })
    }

    /// Queues one event (a JSON object); never blocks. When the queue is full the event is
    /// dropped and counted (the next delivered event is preceded by a `dropped` event).
    pub fn post(&self, event: String) {
        if let Some(q) = &self.queue {
            if let Err(TrySendError::Full(_)) = q.try_send(event) {
                self.dropped.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Stops taking events and waits (at most `patience`) for the queued ones to go out.
    pub fn finish(mut self, patience: Duration) {
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let deadline = std::time::Instant::now() + patience;
            while !worker.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if worker.is_finished() {
                let _ = worker.join();
            } else {
                log::warn!(
                    "webhook: events still queued after {} s; not sent",
                    patience.as_secs()
                );
            }
        }
    }
}

/// The worker: one event at a time, in order, with bounded retries.
fn deliver(url: &str, events: &Receiver<String>, dropped: &AtomicU64) {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .new_agent();
    while let Ok(event) = events.recv() {
        let lost = dropped.swap(0, Ordering::AcqRel);
        if lost > 0 {
            send(&agent, url, &crate::control::hub::dropped_event(lost));
        }
        send(&agent, url, &event);
    }
}

/// POSTs one event, trying again after a 5xx or a network error; logs the final failure.
fn send(agent: &ureq::Agent, url: &str, body: &str) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body);
        let retry = match result {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                format!("HTTP {}", r.status())
            }
            Ok(r) => {
                log::warn!(
                    "webhook: {url} refused an event: HTTP {}; not sent again",
                    r.status()
                );
                return;
            }
            Err(e) => e.to_string(),
        };
        if attempt == ATTEMPTS {
            log::warn!("webhook: {url}: {retry}; an event is lost after {ATTEMPTS} attempts");
            return;
        }
        log::debug!(
            "webhook: {url}: {retry}; trying again in {} ms",
            backoff.as_millis()
        );
        std::thread::sleep(backoff);
        backoff *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("https://alerts.example/microsip?x=1").is_ok());
        for bad in ["ftp://x", "127.0.0.1:80", "http://", "https:///path", ""] {
            let e = check_url(bad).unwrap_err();
            assert!(e.contains("webhookUrl"), "{e}");
        }
    }
}
