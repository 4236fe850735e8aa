//! Our `pjmedia_port`: the conference bridge's window onto a sound device.
//!
//! The media clock (a `pjmedia_master_port`) calls `get_frame` (microphone samples for the
//! bridge) and `put_frame` (the bridge's mix for the speaker) once per tick, from its own
//! thread. Both callbacks only move samples through the lock-free rings of
//! [`BridgeSide`](super::device::BridgeSide) and, with `EC=1`, through pjmedia's echo
//! canceller (created without a lock: only this thread uses it) and its delay line: no
//! allocation, no lock, no logging, and no panic crosses into C. The rings and the canceller
//! are installed only while the clock is stopped, so the clock thread is the only one that
//! touches them while it runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use super::device::{BridgeFormat, BridgeSide};
use super::echo_delay::{EchoTap, MAX_DELAY_MS};
use super::types::{Error, Result};
use crate::ffi;

const PJ_OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;
/// pjlib's "invalid argument" status, returned when a frame cannot be used.
const PJ_EINVAL: ffi::pj_status_t = 70004;
/// pjlib's "bug" status, returned when a callback caught a panic.
const PJ_EBUG: ffi::pj_status_t = 70008;

/// The port as pjmedia sees it (`base` first, so a `*mut pjmedia_port` handed back to us is a
/// `*mut DevicePort`), plus the rings.
#[repr(C)]
struct DevicePort {
    base: ffi::pjmedia_port,
    rings: Option<BridgeSide>,
    spf: usize,
    /// MicroSIP's `EC=1`, or `None`.
    echo: Option<EchoPath>,
}

/// The echo canceller and what it needs: each speaker frame goes into a delay line as long
/// as the way from the speaker ring to the microphone ring (the devices' buffers, the air and
/// the rings' fill), so that the frame the canceller gets as reference with a microphone frame
/// is the one whose echo that microphone frame can hold (within the canceller's tail). The
/// line starts at an estimate and follows what [`echo_delay`](super::echo_delay) measures.
pub(super) struct EchoPath {
    /// A live pjmedia echo canceller for mono frames of `spf` samples, created without a lock
    /// (only the clock thread uses it, through this port).
    state: *mut ffi::pjmedia_echo_state,
    /// The delay line: `delay` samples of history plus the current frame (capacity reserved
    /// up front for the longest delay: it never reallocates in a callback).
    line: std::collections::VecDeque<i16>,
    delay: usize,
    /// Where the reference starts before the measured echo (the tail covers the rest).
    lead: usize,
    /// The canceller's tail: echoes from `delay` to `delay + tail` are cancelled.
    tail: usize,
    /// One reference frame taken out of the line.
    reference: Vec<i16>,
    /// Copies for the delay estimator, and what it found.
    tap: EchoTap,
}

impl EchoPath {
    /// A delay line of `delay` samples (`lead` ahead of the echo) for frames of `spf`
    /// samples at `rate`, around `state` (whose tail is `tail` samples), with the estimator's
    /// `tap`.
    pub(super) fn new(
        state: *mut ffi::pjmedia_echo_state,
        delay: usize,
        lead: usize,
        tail: usize,
        spf: usize,
        rate: u32,
        tap: EchoTap,
    ) -> Self {
        let max = MAX_DELAY_MS * rate as usize / 1000;
        let mut line = std::collections::VecDeque::with_capacity(max + 2 * spf);
        let delay = delay.min(max);
        line.resize(delay, 0);
        EchoPath {
            state,
            line,
            delay,
            lead,
            tail,
            reference: vec![0; spf],
            tap,
        }
    }

    /// A frame went to the speaker (`None`: silence).
    fn played(&mut self, frame: Option<&[i16]>, spf: usize) {
        self.follow_estimate(spf);
        // Never grows past its reserved room, even if the clock calls put twice in a row.
        if self.line.len() + spf > self.line.capacity() {
            self.line.drain(..spf);
        }
        match frame {
            Some(f) => {
                self.tap.played(f);
                self.line.extend(f.iter().copied());
            }
            None => {
                self.reference.fill(0);
                self.tap.played(&self.reference);
                self.line.extend(std::iter::repeat_n(0, spf));
            }
        }
    }

    /// Moves the delay line to the estimator's latest finding when the echo has left the
    /// part of the tail it was put in (`lead` from its start to `lead` from its end); the
    /// canceller starts learning afresh then. An echo that only wanders within the tail (the
    /// rings' fill moves by a few ms) keeps what the canceller has learnt.
    fn follow_estimate(&mut self, spf: usize) {
        let found = self.tap.found.load(Ordering::Relaxed);
        if found == 0 {
            return;
        }
        let inside =
            found >= self.delay + self.lead / 2 && found + self.lead / 2 <= self.delay + self.tail;
        if inside {
            return;
        }
        let max = self.line.capacity() - 2 * spf;
        let target = found.saturating_sub(self.lead).min(max);
        if target == self.delay {
            return;
        }
        if target > self.delay {
            for _ in self.delay..target {
                self.line.push_front(0);
            }
        } else {
            self.line
                .drain(..(self.delay - target).min(self.line.len()));
        }
        self.delay = target;
        // SAFETY: `state` is live and only this thread uses it.
        unsafe { ffi::pjmedia_echo_reset(self.state) };
    }

    /// The microphone captured `frame`; the reference frame that goes with it.
    fn captured(&mut self, frame: &[i16]) -> &mut [i16] {
        self.tap.captured(frame);
        let n = self.reference.len();
        let have = n.min(self.line.len());
        for (dst, src) in self.reference.iter_mut().zip(self.line.drain(..have)) {
            *dst = src;
        }
        self.reference[have..].fill(0);
        &mut self.reference
    }
}

/// An owned `pjmedia_port` whose frames go to and come from a device's rings. Lives at a fixed
/// heap address for as long as the master port may call it.
pub(super) struct BridgePort {
    port: Box<DevicePort>,
}

impl BridgePort {
    /// A mono 16-bit port of the bridge's format.
    pub(super) fn new(format: BridgeFormat) -> Result<BridgePort> {
        let mut port = Box::new(DevicePort {
            base: ffi::pjmedia_port::default(),
            rings: None,
            spf: format.samples_per_frame as usize,
            echo: None,
        });
        // pjmedia keeps this pointer, not a copy: the name must be static.
        let name = ffi::pj_str_t {
            ptr: c"cpal-bridge".as_ptr().cast_mut(),
            slen: "cpal-bridge".len() as ffi::pj_ssize_t,
        };
        let signature = u32::from_be_bytes(*b"MSCP");
        // SAFETY: `info` is a field of our boxed port; `name` points at a static string.
        let status = unsafe {
            ffi::pjmedia_port_info_init(
                &mut port.base.info,
                &name,
                signature,
                format.clock_rate,
                1,
                16,
                format.samples_per_frame,
            )
        };
        if status != PJ_OK {
            return Err(Error::Pj {
                op: "pjmedia_port_info_init",
                status,
                message: "cannot describe the audio device port".into(),
            });
        }
        port.base.get_frame = Some(get_frame);
        port.base.put_frame = Some(put_frame);
        Ok(BridgePort { port })
    }

    /// The port to join to the master port. Valid while `self` lives.
    pub(super) fn as_port(&mut self) -> *mut ffi::pjmedia_port {
        &mut self.port.base
    }

    /// Installs (or with `None` removes) the rings. Call only while the master port that
    /// drives this port is stopped (or joined to another port): the clock thread is then not
    /// inside a callback and will not enter one.
    pub(super) fn set_rings(&mut self, rings: Option<BridgeSide>) {
        self.port.rings = rings;
    }

    /// Installs (or with `None` removes) the echo canceller, under the same rule as
    /// [`set_rings`](Self::set_rings).
    pub(super) fn set_echo(&mut self, echo: Option<EchoPath>) {
        self.port.echo = echo;
    }

    /// The samples per frame (and channel) of this port.
    pub(super) fn samples_per_frame(&self) -> usize {
        self.port.spf
    }
}

/// The samples of a frame's buffer, or `None` when it is not a usable 16-bit buffer.
///
/// # Safety
/// `frame` must be a valid frame whose `buf` holds `size` writable bytes, not otherwise
/// borrowed for the returned lifetime.
unsafe fn frame_samples<'a>(frame: &mut ffi::pjmedia_frame, max: usize) -> Option<&'a mut [i16]> {
    let buf = frame.buf.cast::<i16>();
    if buf.is_null() || !buf.is_aligned() {
        return None;
    }
    let n = (frame.size / 2).min(max);
    // SAFETY: per the contract `buf` holds `size` bytes, i.e. at least `n` aligned i16.
    Some(unsafe { std::slice::from_raw_parts_mut(buf, n) })
}

/// The master port asks for microphone samples.
unsafe extern "C" fn get_frame(
    this: *mut ffi::pjmedia_port,
    frame: *mut ffi::pjmedia_frame,
) -> ffi::pj_status_t {
    catch_unwind(AssertUnwindSafe(|| {
        if this.is_null() || frame.is_null() {
            return PJ_EINVAL;
        }
        // SAFETY: `this` is the `base` of a live DevicePort (repr(C), first field): only
        // BridgePort hands this port to pjmedia, and it outlives the master port's use of it.
        // The clock thread is the only caller while the rings are installed.
        let port = unsafe { &mut *this.cast::<DevicePort>() };
        // SAFETY: the master port passes its own frame, valid for this call.
        let frame = unsafe { &mut *frame };
        // SAFETY: `buf` is the master port's buffer of `size` bytes.
        let Some(out) = (unsafe { frame_samples(frame, port.spf) }) else {
            frame.type_ = ffi::PJMEDIA_FRAME_TYPE_NONE;
            return PJ_EINVAL;
        };
        match port.rings.as_mut() {
            Some(rings) => rings.read_mic(out),
            None => out.fill(0),
        }
        if let Some(echo) = port.echo.as_mut().filter(|_| out.len() == port.spf) {
            let state = echo.state;
            let reference = echo.captured(out);
            // SAFETY: `state` is a live canceller for frames of `spf` samples (EchoPath's
            // contract), used by this thread only; `out` and `reference` hold one frame each.
            // On failure the frame simply stays as captured.
            unsafe {
                ffi::pjmedia_echo_cancel(
                    state,
                    out.as_mut_ptr(),
                    reference.as_ptr(),
                    0,
                    std::ptr::null_mut(),
                )
            };
        }
        frame.size = out.len() * 2;
        frame.type_ = ffi::PJMEDIA_FRAME_TYPE_AUDIO;
        PJ_OK
    }))
    .unwrap_or(PJ_EBUG)
}

/// The master port hands over the bridge's mix for the speaker.
unsafe extern "C" fn put_frame(
    this: *mut ffi::pjmedia_port,
    frame: *mut ffi::pjmedia_frame,
) -> ffi::pj_status_t {
    catch_unwind(AssertUnwindSafe(|| {
        if this.is_null() || frame.is_null() {
            return PJ_EINVAL;
        }
        // SAFETY: as in get_frame: `this` is our live DevicePort, called from the clock thread.
        let port = unsafe { &mut *this.cast::<DevicePort>() };
        // SAFETY: the master port passes its own frame, valid for this call.
        let frame = unsafe { &mut *frame };
        let Some(rings) = port.rings.as_mut() else {
            return PJ_OK;
        };
        if frame.type_ == ffi::PJMEDIA_FRAME_TYPE_AUDIO {
            // SAFETY: `buf` holds the `size` bytes the bridge produced.
            match unsafe { frame_samples(frame, port.spf) } {
                Some(samples) => {
                    rings.write_speaker(Some(samples));
                    if let Some(echo) = port.echo.as_mut() {
                        let full = (samples.len() == port.spf).then_some(&*samples);
                        echo.played(full, port.spf);
                    }
                }
                None => {
                    rings.write_speaker(None);
                    if let Some(echo) = port.echo.as_mut() {
                        echo.played(None, port.spf);
                    }
                }
            }
        } else {
            rings.write_speaker(None);
            if let Some(echo) = port.echo.as_mut() {
                echo.played(None, port.spf);
            }
        }
        PJ_OK
    }))
    .unwrap_or(PJ_EBUG)
}
