//! The media port side: what clocks PJSUA's conference bridge.
//!
//! PJSUA runs with no sound device (`pjsua_set_no_snd_dev`), so nothing ticks the conference
//! bridge on its own. A `pjmedia_master_port` joins a device port to the bridge's master port
//! (slot 0) and carries one frame each way per tick, the microphone's first. The device port
//! is our [`BridgePort`] when a sound device opens (its rings lead to the cpal streams), else
//! a null port (silence in, discard out). The supervisor thread runs the clock, and the device's
//! streams, only while some call has audio (or local DTMF tones play), so an idle phone has
//! no media thread ticking. It also owns the tone generators (local and in-band DTMF) and,
//! with `EC=1`, the echo canceller handed to our port for each run of the device.

use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use crossbeam_channel::{after, bounded, never, select, unbounded, Receiver, Sender};

use super::device::{self, ActiveAudio, AudioCounters, AudioDevice, AudioStats, BridgeFormat};
use super::pjsua::PjThread;
use super::port::{BridgePort, EchoPath};
use super::types::{CallState, Error, MediaState, Result};
use crate::ffi;

const PJ_OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;

/// The master port and the ports it joins, owned by the supervisor thread.
struct MediaClock {
    pool: *mut ffi::pj_pool_t,
    null_port: *mut ffi::pjmedia_port,
    master: *mut ffi::pjmedia_master_port,
    running: bool,
    format: BridgeFormat,
    /// Our port; joined to the master port instead of the null port while `active` is open.
    port: BridgePort,
    counters: Arc<AudioCounters>,
    /// Where call audio goes, if anywhere (`Engine::set_audio_device`).
    device: Option<Box<dyn AudioDevice>>,
    /// The device's open streams while the clock runs on it.
    active: Option<Box<dyn ActiveAudio>>,
    /// Counters when the current run started, for the per-run summary.
    run_start: AudioStats,
    /// The local DTMF tone generator, joined to the bridge the first time it is needed.
    tones: Option<ToneGenerator>,
    /// The in-band DTMF tone generator (`DTMFMethod=1`), and the call slot it feeds.
    inband: Option<(ToneGenerator, ffi::pjsua_conf_port_id)>,
    /// MicroSIP's `EC`: cancel the speaker's echo in the microphone while a device is open.
    echo_wanted: bool,
    /// The echo canceller of the open device, the pool it lives in, and its delay estimator.
    echo: Option<(
        *mut ffi::pjmedia_echo_state,
        *mut ffi::pj_pool_t,
        super::echo_delay::Estimator,
    )>,
}

/// MicroSIP's echo canceller tail (reference §10: `ec_tail_len` 20 ms).
const EC_TAIL_MS: u32 = 20;

/// A `pjmedia_tonegen` port in the conference bridge: connected to slot 0 (the sound device)
/// for MicroSIP's local DTMF tones, heard here and not sent to the caller, or to a call's slot
/// for in-band DTMF.
struct ToneGenerator {
    port: *mut ffi::pjmedia_port,
    slot: ffi::pjsua_conf_port_id,
}

/// Where DTMF tones go.
#[derive(Debug, Clone, Copy)]
pub(super) enum ToneTarget {
    /// The sound device (MicroSIP's local tones), at this level (1.0: unchanged).
    Local(f32),
    /// Into a call's audio (in-band DTMF): the call's conference slot.
    Call(ffi::pjsua_conf_port_id),
}

/// What MicroSIP plays for a digit: 160 ms of tone, 50 ms of silence (reference §10).
const TONE_ON_MS: i16 = 160;
const TONE_OFF_MS: i16 = 50;

/// The digits a tone generator has tones for, in pjmedia's default digit map.
fn is_tone_digit(c: char) -> bool {
    c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), 'A'..='D' | '*' | '#')
}

impl MediaClock {
    /// Creates the clock for the bridge's master port, stopped.
    fn new(counters: Arc<AudioCounters>, echo_wanted: bool) -> Result<MediaClock> {
        // SAFETY: PJSUA is initialised (the engine starts us after pjsua_init); the returned
        // port belongs to PJSUA and stays valid until pjsua_destroy, which happens after this
        // clock is destroyed.
        let conf = unsafe { ffi::pjsua_set_no_snd_dev() };
        if conf.is_null() {
            return Err(pj_error("pjsua_set_no_snd_dev", -1));
        }
        let mut info = ffi::pjsua_conf_port_info::default();
        // SAFETY: slot 0 exists once the no-sound-device mode is set; info is ours.
        let status = unsafe { ffi::pjsua_conf_get_port_info(0, &mut info) };
        if status != PJ_OK {
            return Err(pj_error("pjsua_conf_get_port_info", status));
        }
        // SAFETY: a PJSUA pool for our ports, released in Drop.
        let pool = unsafe { ffi::pjsua_pool_create(c"media-clock".as_ptr(), 1024, 1024) };
        if pool.is_null() {
            return Err(pj_error("pjsua_pool_create", -1));
        }
        let format = BridgeFormat {
            clock_rate: info.clock_rate,
            samples_per_frame: info.samples_per_frame / info.channel_count.max(1),
        };
        if info.channel_count != 1 || info.bits_per_sample != 16 {
            // SAFETY: the pool was created above and nothing uses it yet.
            unsafe { ffi::pj_pool_release(pool) };
            return Err(Error::Pj {
                op: "set up the audio bridge",
                status: -1,
                message: format!(
                    "the conference bridge is {} channel(s) of {} bits; only mono 16-bit is \
                     supported",
                    info.channel_count, info.bits_per_sample
                ),
            });
        }
        let port = match BridgePort::new(format) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: as above.
                unsafe { ffi::pj_pool_release(pool) };
                return Err(e);
            }
        };
        let mut clock = MediaClock {
            pool,
            null_port: std::ptr::null_mut(),
            master: std::ptr::null_mut(),
            running: false,
            format,
            port,
            counters,
            device: None,
            active: None,
            run_start: AudioStats::default(),
            tones: None,
            inband: None,
            echo_wanted,
            echo: None,
        };
        // SAFETY: pool is live; the port parameters come from the bridge itself.
        let status = unsafe {
            ffi::pjmedia_null_port_create(
                pool,
                info.clock_rate,
                info.channel_count,
                info.samples_per_frame,
                info.bits_per_sample,
                &mut clock.null_port,
            )
        };
        if status != PJ_OK {
            return Err(pj_error("pjmedia_null_port_create", status));
        }
        // The device side is the master port's *upstream* port: each tick first takes the
        // microphone's frame into the bridge, then takes the bridge's mix (which already holds
        // that frame) to the speaker. The other way round, the microphone would wait a tick.
        // SAFETY: both ports are live and share one format; master is written on success.
        let status = unsafe {
            ffi::pjmedia_master_port_create(pool, clock.null_port, conf, 0, &mut clock.master)
        };
        if status != PJ_OK {
            return Err(pj_error("pjmedia_master_port_create", status));
        }
        Ok(clock)
    }

    fn set_running(&mut self, on: bool) {
        if on == self.running {
            return;
        }
        if on {
            self.open_device();
        }
        // SAFETY: master is live until Drop; start/stop are called from this one thread.
        let status = unsafe {
            if on {
                ffi::pjmedia_master_port_start(self.master)
            } else {
                ffi::pjmedia_master_port_stop(self.master)
            }
        };
        if status == PJ_OK {
            self.running = on;
            log::debug!("media clock {}", if on { "started" } else { "stopped" });
        } else {
            log::warn!(
                "could not {} the media clock (PJSIP status {status})",
                if on { "start" } else { "stop" }
            );
        }
        if !self.running {
            self.close_device();
        }
    }

    /// Before the clock starts: opens the sound device and joins our port to the master
    /// port, or joins the null port when there is no device or it cannot be opened.
    fn open_device(&mut self) {
        let mut use_device = false;
        if let Some(dev) = self.device.as_mut().filter(|d| !d.is_null()) {
            let (bridge, ends) = device::rings(self.format, self.counters.clone());
            // The clock is stopped: its thread is not inside our port's callbacks.
            self.port.set_rings(Some(bridge));
            match dev.open(ends) {
                Ok(active) => {
                    device::report_call_audio(None);
                    log::info!("audio: {}", active.describe());
                    if let Some(device_ms) = active.echo_delay_ms().filter(|_| self.echo_wanted) {
                        self.start_echo_canceller(device_ms);
                    }
                    self.active = Some(active);
                    use_device = true;
                }
                Err(msg) => {
                    device::report_call_audio(Some(&msg));
                    self.port.set_rings(None);
                }
            }
        }
        let device_port = if use_device {
            self.port.as_port()
        } else {
            self.null_port
        };
        // SAFETY: master and both candidate ports are live; they share one format; the
        // clock is stopped.
        let status = unsafe { ffi::pjmedia_master_port_set_uport(self.master, device_port) };
        if status != PJ_OK {
            log::warn!("audio: cannot join the sound device to the bridge (PJSIP status {status})");
            self.active = None;
            self.port.set_rings(None);
            self.stop_echo_canceller();
            // SAFETY: as above; the null port always fits.
            unsafe { ffi::pjmedia_master_port_set_uport(self.master, self.null_port) };
        }
        self.run_start = self.counters.snapshot();
    }

    /// Queues DTMF tones for `digits`: on the sound device at `level` (1.0: unchanged) for
    /// [`ToneTarget::Local`], or into a call's audio for [`ToneTarget::Call`]. Returns how
    /// long they take to play, or `None` when no tone can play.
    fn play_tones(&mut self, target: ToneTarget, digits: &str) -> Option<Duration> {
        let tone_digits: Vec<ffi::pjmedia_tone_digit> = digits
            .chars()
            .filter(|&c| is_tone_digit(c))
            .map(|c| ffi::pjmedia_tone_digit {
                digit: c.to_ascii_uppercase() as u8 as std::os::raw::c_char,
                on_msec: TONE_ON_MS,
                off_msec: TONE_OFF_MS,
                volume: 0,
            })
            .collect();
        if tone_digits.is_empty() {
            return None;
        }
        let (what, port) = match target {
            ToneTarget::Local(level) => {
                let tones = match self.tones.as_ref() {
                    Some(t) => t,
                    None => match self.create_tones(0) {
                        Ok(t) => self.tones.insert(t),
                        Err(e) => {
                            log::warn!("local DTMF tones: {e}");
                            return None;
                        }
                    },
                };
                // SAFETY: the slot is ours and live; PJSUA checks it.
                unsafe { ffi::pjsua_conf_adjust_rx_level(tones.slot, level.max(0.0)) };
                ("local DTMF tones", tones.port)
            }
            ToneTarget::Call(call_slot) => {
                let (tones, fed) = match self.inband.take() {
                    Some(v) => v,
                    None => match self.create_tones(call_slot) {
                        Ok(t) => (t, call_slot),
                        Err(e) => {
                            log::warn!("in-band DTMF: {e}");
                            return None;
                        }
                    },
                };
                // Connected every time: a call that ended took its connections with it, and
                // a new call may have its slot number.
                // SAFETY: our slot and the calls' slots are checked by PJSUA.
                unsafe {
                    if fed != call_slot {
                        ffi::pjsua_conf_disconnect(tones.slot, fed);
                    }
                    ffi::pjsua_conf_connect(tones.slot, call_slot);
                }
                let port = tones.port;
                self.inband = Some((tones, call_slot));
                ("in-band DTMF", port)
            }
        };
        for chunk in tone_digits.chunks(ffi::PJMEDIA_TONEGEN_MAX_DIGITS as usize) {
            // SAFETY: the port is a live tone generator; `chunk` is valid for the call (pjmedia
            // copies the digits); the generator locks itself against the clock thread.
            let status = unsafe {
                ffi::pjmedia_tonegen_play_digits(port, chunk.len() as u32, chunk.as_ptr(), 0)
            };
            if status != PJ_OK {
                log::warn!(
                    "{what}: cannot queue {} digit(s) (PJSIP status {status})",
                    chunk.len()
                );
                break;
            }
        }
        let per_digit = u64::from((TONE_ON_MS + TONE_OFF_MS) as u16);
        Some(Duration::from_millis(per_digit * tone_digits.len() as u64))
    }

    /// A tone generator in the bridge, feeding slot `to` (0: the sound device).
    fn create_tones(&mut self, to: ffi::pjsua_conf_port_id) -> Result<ToneGenerator> {
        let mut port: *mut ffi::pjmedia_port = std::ptr::null_mut();
        // SAFETY: the pool lives until Drop, which destroys the port first; the format is the
        // bridge's own (mono, 16-bit).
        let status = unsafe {
            ffi::pjmedia_tonegen_create(
                self.pool,
                self.format.clock_rate,
                1,
                self.format.samples_per_frame,
                16,
                0,
                &mut port,
            )
        };
        if status != PJ_OK {
            return Err(pj_error("pjmedia_tonegen_create", status));
        }
        let mut slot: ffi::pjsua_conf_port_id = -1;
        // SAFETY: the port is live; PJSUA keeps the pointer until pjsua_conf_remove_port
        // (in Drop, before the port is destroyed).
        let status = unsafe { ffi::pjsua_conf_add_port(self.pool, port, &mut slot) };
        if status != PJ_OK {
            // SAFETY: the port was created above and is not in the bridge.
            unsafe { ffi::pjmedia_port_destroy(port) };
            return Err(pj_error("pjsua_conf_add_port", status));
        }
        // SAFETY: PJSUA checks both slots.
        let status = unsafe { ffi::pjsua_conf_connect(slot, to) };
        if status != PJ_OK {
            log::warn!("DTMF tones: cannot reach conference slot {to} (PJSIP status {status})");
        }
        Ok(ToneGenerator { port, slot })
    }

    /// Creates the speex echo canceller (20 ms tail) for this run of the device and hands it
    /// to our port. Its latency is the time between a frame going to the speaker ring and
    /// its echo coming out of the microphone ring: both rings' usual fill plus the device's
    /// buffers (`device_ms`).
    fn start_echo_canceller(&mut self, device_ms: u32) {
        // Where the echo should be: the devices' buffers, a frame and a period in the speaker
        // ring, a frame and a half in the microphone ring. Only a start: the estimator
        // measures where it really is within the first seconds.
        let delay_ms = device_ms + self.format.frame_ms() * 5 / 2;
        // SAFETY: a pool of its own, released with the canceller in stop_echo_canceller.
        let pool = unsafe { ffi::pjsua_pool_create(c"echo".as_ptr(), 4096, 4096) };
        if pool.is_null() {
            log::warn!("EC: no memory for the echo canceller; the call goes on without it");
            return;
        }
        let mut state: *mut ffi::pjmedia_echo_state = std::ptr::null_mut();
        // SAFETY: the pool is live; mono frames of the bridge's size, as our port passes. We
        // align the reference ourselves (latency 0) and call pjmedia_echo_cancel directly.
        let status = unsafe {
            ffi::pjmedia_echo_create2(
                pool,
                self.format.clock_rate,
                1,
                self.format.samples_per_frame,
                EC_TAIL_MS,
                0,
                ffi::PJMEDIA_ECHO_SPEEX | ffi::PJMEDIA_ECHO_NO_LOCK,
                &mut state,
            )
        };
        if status != PJ_OK || state.is_null() {
            // SAFETY: nothing uses the pool.
            unsafe { ffi::pj_pool_release(pool) };
            log::warn!(
                "EC: cannot create the echo canceller (PJSIP status {status}); the call goes \
                 on without it"
            );
            return;
        }
        let rate = self.format.clock_rate;
        let to_samples = |ms: u32| (ms * rate / 1000) as usize;
        let (tap, estimator) = match super::echo_delay::start(rate) {
            Ok(v) => v,
            Err(e) => {
                // SAFETY: nothing uses the canceller or its pool yet.
                unsafe {
                    ffi::pjmedia_echo_destroy(state);
                    ffi::pj_pool_release(pool);
                }
                log::warn!(
                    "EC: cannot start the echo delay estimator ({e}); the call goes on without EC"
                );
                return;
            }
        };
        log::debug!("EC: speex, tail {EC_TAIL_MS} ms, reference delayed {delay_ms} ms to start");
        let spf = self.port.samples_per_frame();
        let path = EchoPath::new(
            state,
            to_samples(delay_ms),
            to_samples(5),
            to_samples(EC_TAIL_MS),
            spf,
            rate,
            tap,
        );
        // The clock is stopped: its thread is not inside our port's callbacks.
        self.port.set_echo(Some(path));
        self.echo = Some((state, pool, estimator));
    }

    /// Takes the echo canceller out of the port and destroys it (the clock is stopped).
    fn stop_echo_canceller(&mut self) {
        if let Some((state, pool, estimator)) = self.echo.take() {
            self.port.set_echo(None);
            drop(estimator);
            // SAFETY: the port no longer refers to it and the clock is stopped; the pool held
            // only the canceller.
            unsafe {
                ffi::pjmedia_echo_destroy(state);
                ffi::pj_pool_release(pool);
            }
        }
    }

    /// Runs the bridge for a few ticks when it is stopped, on the null port: PJSUA queues
    /// conference changes (a recorder's removal, which finishes its file) and carries them
    /// out on the clock's next tick.
    fn flush(&mut self) {
        let tick = std::time::Duration::from_millis(60);
        if self.running {
            // Let three ticks happen before any stop that is queued behind this request.
            std::thread::sleep(tick);
            return;
        }
        // SAFETY: master and the null port are live, with one format; the clock is stopped
        // and only this thread starts and stops it.
        let started = unsafe {
            ffi::pjmedia_master_port_set_uport(self.master, self.null_port) == PJ_OK
                && ffi::pjmedia_master_port_start(self.master) == PJ_OK
        };
        if started {
            std::thread::sleep(tick);
            // SAFETY: as above; the clock was started just now by this thread.
            unsafe { ffi::pjmedia_master_port_stop(self.master) };
        }
    }

    /// After the clock stopped: closes the device's streams and reports the run's glitches.
    fn close_device(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        close_streams(active);
        // The clock is stopped: its thread is not inside our port's callbacks.
        self.port.set_rings(None);
        self.stop_echo_canceller();
        let now = self.counters.snapshot();
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let rate = f64::from(self.format.clock_rate);
        let mean_ms = |sum: u64, n: u64| sum as f64 / n.max(1) as f64 / rate * 1000.0;
        let s = &self.run_start;
        log::info!(
            "audio: stopped after {:.1} s; speaker underruns {}, overruns {}, dropped samples \
             {}; microphone underruns {} ({} more while it started), overruns {}, dropped \
             samples {}; device errors {}; \
             callbacks {} / {}, longest {} / {} samples; mean queue {:.1} / {:.1} ms; slack \
             added after underruns {:.0} / {:.0} ms",
            d(now.speaker_samples, s.speaker_samples) as f64 / f64::from(self.format.clock_rate),
            d(now.speaker_underruns, s.speaker_underruns),
            d(now.speaker_overruns, s.speaker_overruns),
            d(now.speaker_dropped, s.speaker_dropped),
            d(now.mic_underruns, s.mic_underruns),
            d(now.mic_startup_underruns, s.mic_startup_underruns),
            d(now.mic_overruns, s.mic_overruns),
            d(now.mic_dropped, s.mic_dropped),
            d(now.device_errors, s.device_errors),
            d(now.speaker_callbacks, s.speaker_callbacks),
            d(now.mic_callbacks, s.mic_callbacks),
            now.speaker_max_callback,
            now.mic_max_callback,
            mean_ms(
                d(now.speaker_queued, s.speaker_queued),
                d(now.speaker_callbacks, s.speaker_callbacks),
            ),
            mean_ms(
                d(now.mic_queued, s.mic_queued),
                d(now.mic_reads, s.mic_reads)
            ),
            mean_ms(now.speaker_slack, 1),
            mean_ms(now.mic_slack, 1),
        );
    }
}

impl Drop for MediaClock {
    fn drop(&mut self) {
        self.set_running(false);
        self.close_device();
        for t in self
            .tones
            .take()
            .into_iter()
            .chain(self.inband.take().map(|(t, _)| t))
        {
            // SAFETY: the slot and port are ours; the port leaves the bridge before it is
            // destroyed (the clock is stopped, so no tick is using it).
            unsafe { ffi::pjsua_conf_remove_port(t.slot) };
            // The bridge removes the port on its next tick: let one happen.
            self.flush();
            // SAFETY: the port is out of the bridge now, and ours.
            unsafe { ffi::pjmedia_port_destroy(t.port) };
        }
        // SAFETY: each pointer is either null or owned by us; the master port does not destroy
        // the ports it joins (PJ_FALSE), the conference port belongs to PJSUA. Our BridgePort
        // is freed after this body, once the master port that could call it is gone.
        unsafe {
            if !self.master.is_null() {
                ffi::pjmedia_master_port_destroy(self.master, ffi::PJ_FALSE as i32);
            }
            if !self.null_port.is_null() {
                ffi::pjmedia_port_destroy(self.null_port);
            }
            ffi::pj_pool_release(self.pool);
        }
    }
}

/// How long the media thread waits for a sound device to close.
const CLOSE_PATIENCE: Duration = Duration::from_secs(2);

/// Closes a device's streams without letting a stuck driver hang the media thread (and with
/// it the audio of every later call): the streams are dropped on a thread of their own, and
/// after [`CLOSE_PATIENCE`] the phone goes on, with a warning, while that thread waits for the
/// driver.
fn close_streams(active: Box<dyn ActiveAudio>) {
    let (done, closed) = bounded::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("audio-close".into())
        .spawn(move || {
            drop(active);
            let _ = done.send(());
        });
    // When no thread can be started, the streams were dropped (closed) here.
    if spawned.is_ok() && closed.recv_timeout(CLOSE_PATIENCE).is_err() {
        log::warn!(
            "audio: the sound device did not close within {} s (its driver is stuck); the \
             phone goes on without waiting for it",
            CLOSE_PATIENCE.as_secs()
        );
    }
}

fn pj_error(op: &'static str, status: ffi::pj_status_t) -> Error {
    Error::Pj {
        op,
        status,
        message: "media set-up failed".into(),
    }
}

/// Whether any call currently needs the media clock.
fn audio_needed() -> bool {
    super::pjsua::all_calls().iter().any(|c| {
        c.state != CallState::Disconnected
            && matches!(c.media, MediaState::Active | MediaState::RemoteHold)
    })
}

/// The thread that starts the media clock when a call gets audio and stops it when none has.
pub(super) struct MediaSupervisor {
    stop: Sender<()>,
    devices: Sender<Box<dyn AudioDevice>>,
    tones: Sender<(ToneTarget, String)>,
    flush: Sender<Sender<()>>,
    counters: Arc<AudioCounters>,
    handle: JoinHandle<()>,
}

impl MediaSupervisor {
    /// Starts the supervisor; `changed` is signalled by the callbacks on every media change.
    pub(super) fn start(changed: Receiver<()>, echo_canceller: bool) -> Result<MediaSupervisor> {
        let (stop, stop_rx) = bounded::<()>(1);
        let (devices, devices_rx) = unbounded::<Box<dyn AudioDevice>>();
        let (flush, flush_rx) = unbounded::<Sender<()>>();
        let (tones, tones_rx) = unbounded::<(ToneTarget, String)>();
        let counters = Arc::new(AudioCounters::default());
        let clock_counters = counters.clone();
        let (ready_tx, ready_rx) = bounded::<Option<Error>>(1);
        let handle = std::thread::Builder::new()
            .name("media-clock".into())
            .spawn(move || {
                let setup = PjThread::register(c"media-clock")
                    .and_then(|reg| Ok((reg, MediaClock::new(clock_counters, echo_canceller)?)));
                let (_reg, mut clock) = match setup {
                    Ok(v) => {
                        let _ = ready_tx.send(None);
                        v
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Some(e));
                        return;
                    }
                };
                // Local tones keep the clock (and the device) running until they have played.
                let mut tones_until: Option<Instant> = None;
                loop {
                    let tones_timer = match tones_until {
                        Some(t) => after(t.saturating_duration_since(Instant::now())),
                        None => never(),
                    };
                    select! {
                        recv(changed) -> msg => {
                            if msg.is_err() { break; }
                            // Coalesce a burst of notifications into one check.
                            while changed.try_recv().is_ok() {}
                        }
                        recv(tones_rx) -> msg => {
                            let Ok((target, digits)) = msg else { break };
                            if let Some(d) = clock.play_tones(target, &digits) {
                                let from = tones_until.map_or(Instant::now(), |t| t.max(Instant::now()));
                                // A little longer: the device plays what the bridge queued.
                                tones_until = Some(from + d + Duration::from_millis(300));
                            }
                        }
                        recv(tones_timer) -> _ => tones_until = None,
                        recv(flush_rx) -> msg => {
                            if let Ok(done) = msg {
                                clock.flush();
                                let _ = done.send(());
                            }
                            continue;
                        }
                        recv(devices_rx) -> dev => {
                            // Used from the next start of the clock (the next call) on.
                            if let Ok(dev) = dev { clock.device = Some(dev); }
                            continue;
                        }
                        recv(stop_rx) -> _ => break,
                    }
                    clock.set_running(audio_needed() || tones_until.is_some());
                }
                drop(clock);
            })
            .map_err(|e| Error::Pj {
                op: "spawn the media thread",
                status: -1,
                message: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(None) => Ok(MediaSupervisor {
                stop,
                devices,
                tones,
                flush,
                counters,
                handle,
            }),
            Ok(Some(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err(Error::Pj {
                op: "start the media thread",
                status: -1,
                message: "it exited".into(),
            }),
        }
    }

    /// Plays DTMF tones for `digits`: MicroSIP's local tones on the sound device (during a
    /// call or not), or in-band into a call's audio.
    pub(super) fn play_tones(&self, target: ToneTarget, digits: &str) {
        let _ = self.tones.send((target, digits.to_string()));
    }

    /// Plays call audio through `device` from the next start of the clock on.
    pub(super) fn set_device(&self, device: Box<dyn AudioDevice>) {
        let _ = self.devices.send(device);
    }

    /// Lets queued conference changes happen even when no call has audio (see
    /// `MediaClock::flush`); returns once they have (at most half a second).
    pub(super) fn flush(&self) {
        let (done, wait) = bounded(1);
        if self.flush.send(done).is_ok() {
            let _ = wait.recv_timeout(std::time::Duration::from_millis(500));
        }
    }

    /// Glitch and traffic counters since the engine started.
    pub(super) fn stats(&self) -> AudioStats {
        self.counters.snapshot()
    }

    /// Stops the clock and the thread (before PJSUA is destroyed).
    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}

/// Records a call (issue 6, MicroSIP's `msip_call_recording_start`): a PJSUA WAV writer at
/// `path`, fed with the call's audio and the microphone (slot 0). Returns the recorder.
pub(super) fn start_recording(
    call: ffi::pjsua_call_id,
    path: &str,
) -> Result<ffi::pjsua_recorder_id> {
    let mut ci = ffi::pjsua_call_info::default();
    // SAFETY: ci is ours; PJSUA checks the call id.
    let status = unsafe { ffi::pjsua_call_get_info(call, &mut ci) };
    if status != PJ_OK || ci.conf_slot < 0 {
        return Err(pj_error("record the call (it has no audio)", status));
    }
    let name = super::pjsua::pj_str_ref(path);
    let mut id: ffi::pjsua_recorder_id = -1;
    // SAFETY: `name` borrows `path` for the call (PJSUA copies the file name); default
    // encoding (WAV by the file's extension), no size limit.
    let status =
        unsafe { ffi::pjsua_recorder_create(&name, 0, std::ptr::null_mut(), 0, 0, &mut id) };
    if status != PJ_OK {
        return Err(Error::Pj {
            op: "pjsua_recorder_create",
            status,
            message: format!("cannot write {path}: {}", super::pjsua::status_text(status)),
        });
    }
    // SAFETY: the recorder was just created.
    let slot = unsafe { ffi::pjsua_recorder_get_conf_port(id) };
    // SAFETY: both slots exist; a failed connect only leaves the recording silent.
    unsafe {
        ffi::pjsua_conf_connect(ci.conf_slot, slot);
        ffi::pjsua_conf_connect(0, slot);
    }
    Ok(id)
}

/// Ends a recording started by [`start_recording`] and finishes its file.
pub(super) fn stop_recording(id: ffi::pjsua_recorder_id) {
    // SAFETY: PJSUA checks the id; destroying disconnects the port and closes the file.
    unsafe { ffi::pjsua_recorder_destroy(id) };
}
