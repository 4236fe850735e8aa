//! When MicroSIP's sounds play (issue 6, reference §5.3, §10): the ringtone on
//! `audioRingDevice` while an incoming call rings, the ringback on `audioOutputDevice` while an
//! outgoing call rings without early media, and with `localDTMF=1` the hang-up sound when a
//! connected call ends, the beep (`ringing2.wav`) before an auto-answer and instead of the
//! ringtone when a call comes in during another one. All at `volumeRing`. Driven by the
//! engine's events and the auto-answer timer on the main thread.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::audio::sounds::{sounds_key, sounds_problem, Kind, Player, Sound};
use crate::engine::{CallId, CallState, Event, IncomingAction, MediaState, Role};

/// One of the sounds, read from its file (or the built-in one) when it first plays: an
/// intercom that answers at once never decodes a ringtone, and starts sooner for it.
struct LazySound {
    kind: Kind,
    setting: String,
    dir: Option<PathBuf>,
    sound: std::cell::OnceCell<Sound>,
}

impl LazySound {
    fn new(kind: Kind, setting: &str, dir: Option<&std::path::Path>) -> LazySound {
        LazySound {
            kind,
            setting: setting.to_string(),
            dir: dir.map(PathBuf::from),
            sound: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> &Sound {
        self.sound
            .get_or_init(|| Sound::load(self.kind, &self.setting, self.dir.as_deref()))
    }
}

pub struct CallSounds {
    ring_device: String,
    output_device: String,
    volume: u32,
    local_dtmf: bool,
    ringtone: LazySound,
    ringback: LazySound,
    beep: LazySound,
    hangup: LazySound,
    ringing_in: BTreeSet<CallId>,
    ringing_out: BTreeSet<CallId>,
    confirmed: BTreeSet<CallId>,
    ring: Option<Player>,
    ringback_player: Option<Player>,
    /// A sound played once, and when to close its stream.
    once: Option<(Player, Instant)>,
    /// The auto-answer beep, and when to stop waiting for its end.
    beep_player: Option<(Player, Instant)>,
}

impl CallSounds {
    pub fn new(s: &crate::config::Settings) -> CallSounds {
        let exe_dir: Option<PathBuf> = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from));
        let dir = exe_dir.as_deref();
        CallSounds {
            ring_device: s.audio_ring_device.clone(),
            output_device: s.audio_output_device.clone(),
            volume: s.volume_ring.min(100),
            local_dtmf: s.local_dtmf,
            ringtone: LazySound::new(Kind::Ringtone, &s.ringing_sound, dir),
            ringback: LazySound::new(Kind::Ringback, "", dir),
            beep: LazySound::new(Kind::Beep, "", dir),
            hangup: LazySound::new(Kind::Hangup, "", dir),
            ringing_in: BTreeSet::new(),
            ringing_out: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            ring: None,
            ringback_player: None,
            once: None,
            beep_player: None,
        }
    }

    /// The auto-answer beep (MicroSIP's `AutoAnswer` with `localDTMF=1`): plays `ringing2.wav`
    /// once on the output device; false when it does not play (`localDTMF=0`, no device), and
    /// the call is then answered at once.
    pub fn start_beep(&mut self) -> bool {
        if !self.local_dtmf {
            return false;
        }
        // Not cut short by the ringtone's update: it has a player of its own.
        let beep = self.beep.get();
        let end = Instant::now() + Duration::from_secs_f64(beep.seconds() + 2.0);
        self.beep_player = start(
            "auto-answer beep",
            &self.output_device,
            beep,
            self.volume,
            false,
        )
        .map(|p| (p, end));
        self.beep_player.is_some()
    }

    /// Whether the auto-answer beep has played to its end (or never started). A device that
    /// stalls does not hold the answer up for more than two seconds past the beep's length.
    pub fn beep_finished(&mut self) -> bool {
        let done = self
            .beep_player
            .as_ref()
            .is_none_or(|(p, end)| p.finished() || Instant::now() >= *end);
        if done {
            self.beep_player = None;
        }
        done
    }

    /// Follows the calls; starts and stops the sounds.
    pub fn on_event(&mut self, ev: &Event) {
        match ev {
            Event::Incoming {
                info,
                action: IncomingAction::Ring { .. },
            } => {
                // MicroSIP: while another call is connected, a new call is announced by a
                // beep (`ringing2.wav`, with localDTMF=1) instead of the ringtone.
                if !self.confirmed.is_empty() && self.local_dtmf {
                    self.play_once(Kind::Beep);
                } else if let Some(call) = info.call {
                    self.ringing_in.insert(call);
                }
            }
            Event::CallState { info } => {
                let call = info.call;
                match info.state {
                    CallState::Incoming => {}
                    CallState::Early if info.role == Role::Callee => {}
                    CallState::Early => {
                        if info.last_status == 180 {
                            self.ringing_out.insert(call);
                        }
                    }
                    CallState::Confirmed => {
                        self.ringing_in.remove(&call);
                        self.ringing_out.remove(&call);
                        self.confirmed.insert(call);
                    }
                    CallState::Disconnected => {
                        self.ringing_in.remove(&call);
                        self.ringing_out.remove(&call);
                        if self.confirmed.remove(&call) && self.local_dtmf {
                            self.play_once(Kind::Hangup);
                        }
                    }
                    _ => {
                        self.ringing_in.remove(&call);
                        self.ringing_out.remove(&call);
                    }
                }
            }
            // Early media: the network plays its own ringback.
            Event::Media {
                call,
                state: MediaState::Active,
                ..
            } => {
                self.ringing_out.remove(call);
            }
            _ => return,
        }
        self.update();
    }

    /// When [`on_timer`](Self::on_timer) wants to run.
    pub fn next_timer(&self) -> Option<Instant> {
        self.once.as_ref().map(|(_, at)| *at)
    }

    /// Closes a sound that was played once.
    pub fn on_timer(&mut self) {
        if self
            .once
            .as_ref()
            .is_some_and(|(p, at)| p.finished() || Instant::now() >= *at)
        {
            self.once = None;
        }
    }

    fn update(&mut self) {
        let want_ring = !self.ringing_in.is_empty();
        if want_ring != self.ring.is_some() {
            self.ring = if want_ring {
                start(
                    "ringtone",
                    &self.ring_device,
                    self.ringtone.get(),
                    self.volume,
                    true,
                )
            } else {
                log::debug!("ringtone stopped");
                None
            };
        }
        let want_ringback = !self.ringing_out.is_empty() && !want_ring;
        if want_ringback != self.ringback_player.is_some() {
            self.ringback_player = if want_ringback {
                start(
                    "ringback",
                    &self.output_device,
                    self.ringback.get(),
                    self.volume,
                    true,
                )
            } else {
                None
            };
        }
    }

    fn play_once(&mut self, kind: Kind) {
        let (what, sound) = match kind {
            Kind::Hangup => ("hang-up sound", self.hangup.get()),
            Kind::Beep => ("call-waiting beep", self.beep.get()),
            _ => return,
        };
        let end = Instant::now() + Duration::from_secs_f64(sound.seconds() + 0.3);
        self.once = start(what, &self.output_device, sound, self.volume, false).map(|p| (p, end));
    }
}

fn start(what: &str, device: &str, sound: &Sound, volume: u32, looped: bool) -> Option<Player> {
    if crate::audio::is_null_device(device) {
        log::debug!("{what}: not played on the null device");
        return None;
    }
    match Player::start(device, sound, volume, looped) {
        Ok(p) => {
            crate::logging::condition(&sounds_key(device), None);
            log::info!("{what}: playing on {}", p.describe());
            Some(p)
        }
        Err(e) => {
            // Said once for every sound (ringtone, ringback, hang-up...), not at every call.
            crate::logging::condition(&sounds_key(device), Some(&sounds_problem(&e)));
            log::debug!("{what}: not played");
            None
        }
    }
}
