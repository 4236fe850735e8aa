//! Running under systemd (`Type=notify`, microsip.service): the phone says when it is ready
//! (its account registered, or at once when nothing registers), pings the watchdog from its
//! main loop, and says when it reloads (SIGHUP) and stops. Without `$NOTIFY_SOCKET` all of
//! this does nothing.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The phone's side of systemd's notification protocol.
#[derive(Debug)]
pub struct Service {
    /// `WatchdogSec=`: how often the main loop must ping (half the unit's interval).
    watchdog: Option<Duration>,
    next_ping: Option<Instant>,
    /// `READY=1` was sent for the running stack.
    ready: bool,
}

impl Service {
    /// From this process's environment (`$NOTIFY_SOCKET`, `$WATCHDOG_USEC`).
    pub fn from_env() -> Service {
        let watchdog = sd_notify::watchdog_enabled().map(|interval| interval / 2);
        Service {
            watchdog,
            next_ping: watchdog.map(|w| Instant::now() + w),
            ready: false,
        }
    }

    fn send(states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states) {
            log::warn!("systemd notification failed: {e}");
        }
    }

    /// `STATUS=`: one line for `systemctl status`.
    pub fn status(&self, text: &str) {
        Self::send(&[NotifyState::Status(text)]);
    }

    /// The phone is ready (once per run of the SIP stack); `text` says why.
    pub fn ready(&mut self, text: &str) {
        if !self.ready {
            self.ready = true;
            log::debug!("ready: {text}");
            Self::send(&[NotifyState::Ready, NotifyState::Status(text)]);
        } else {
            self.status(text);
        }
    }

    /// SIGHUP: the stack restarts with the settings read again; ready again once it is up.
    pub fn reloading(&mut self) {
        self.ready = false;
        Self::send(&[
            NotifyState::Reloading,
            NotifyState::Status("reloading the settings"),
        ]);
    }

    /// The phone is stopping.
    pub fn stopping(&self) {
        Self::send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// When the main loop must ping the watchdog next.
    pub fn next_ping(&self) -> Option<Instant> {
        self.next_ping
    }

    /// `WATCHDOG=1`, sent by the main loop: it still turns.
    pub fn ping(&mut self) {
        if let Some(every) = self.watchdog {
            Self::send(&[NotifyState::Watchdog]);
            self.next_ping = Some(Instant::now() + every);
        }
    }
}
