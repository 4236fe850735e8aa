//! Our `pjmedia_port`: the conference bridge's window onto a sound device.
//!
//! The media clock (a `pjmedia_master_port`) calls `get_frame` (microphone samples for the
//! bridge) and `put_frame` (the bridge's mix for the speaker) once per tick, from its own
//! thread. Both callbacks only move samples through the lock-free rings of
//! [`BridgeSide`](super::device::BridgeSide): no allocation, no lock, no logging, no pjlib
//! call, and no panic crosses into C. The rings are installed only while the clock is stopped,
//! so the clock thread is the only one that touches them while it runs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::device::{BridgeFormat, BridgeSide};
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
    /// Samples per frame and channel.
    spf: usize,
    /// The bridge's channels: 1, or 2 (mixed down for the speaker, the microphone on both).
    channels: usize,
    /// Room for one mono frame while a stereo frame is mixed down (allocated once).
    mono: Vec<i16>,
}

/// An owned `pjmedia_port` whose frames go to and come from a device's rings. Lives at a fixed
/// heap address for as long as the master port may call it.
pub(super) struct BridgePort {
    port: Box<DevicePort>,
}

impl BridgePort {
    /// A 16-bit port of the bridge's format with `channels` (1 or 2) channels; the rings are
    /// mono in any case.
    pub(super) fn new(format: BridgeFormat, channels: u32) -> Result<BridgePort> {
        let spf = format.samples_per_frame as usize;
        let mut port = Box::new(DevicePort {
            base: ffi::pjmedia_port::default(),
            rings: None,
            spf,
            channels: channels.clamp(1, 2) as usize,
            mono: vec![0; spf],
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
                channels.clamp(1, 2),
                16,
                format.samples_per_frame * channels.clamp(1, 2),
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
        let ch = port.channels;
        // SAFETY: `buf` is the master port's buffer of `size` bytes.
        let Some(out) = (unsafe { frame_samples(frame, port.spf * ch) }) else {
            frame.type_ = ffi::PJMEDIA_FRAME_TYPE_NONE;
            return PJ_EINVAL;
        };
        let n = out.len() / ch;
        match port.rings.as_mut() {
            Some(rings) => rings.read_mic(&mut out[..n]),
            None => out[..n].fill(0),
        }
        // Stereo: the microphone on both channels (from the end, in place).
        if ch == 2 {
            for i in (0..n).rev() {
                out[2 * i + 1] = out[i];
                out[2 * i] = out[i];
            }
        }
        frame.size = n * ch * 2;
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
            match unsafe { frame_samples(frame, port.spf * port.channels) } {
                Some(samples) if port.channels == 2 => {
                    // Stereo: the speaker gets the mean of both channels.
                    let n = (samples.len() / 2).min(port.mono.len());
                    for (m, lr) in port.mono[..n].iter_mut().zip(samples.chunks_exact(2)) {
                        *m = ((i32::from(lr[0]) + i32::from(lr[1])) / 2) as i16;
                    }
                    rings.write_speaker(Some(&port.mono[..n]));
                }
                Some(samples) => rings.write_speaker(Some(samples)),
                None => rings.write_speaker(None),
            }
        } else {
            rings.write_speaker(None);
        }
        PJ_OK
    }))
    .unwrap_or(PJ_EBUG)
}
