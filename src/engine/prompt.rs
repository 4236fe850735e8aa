//! Prompts played into a call, and the in-band DTMF heard in it: pjmedia memory ports in the
//! conference bridge. A prompt is a memory player that loops and reports each time it has
//! played through ([`Event::PromptPlayed`]); a listener is a memory capture of the call's
//! audio whose blocks go through [`crate::audio::dtmf::DtmfDetector`] on the clock thread
//! (digits come as [`Event::Dtmf`]).

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};

use super::callbacks;
use super::types::{CallId, Error, Event, Result};
use crate::audio::dtmf::DtmfDetector;
use crate::ffi;

const PJ_OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;

/// A prompt or listener in the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaTap(u32);

/// What a player's end-of-file callback knows.
struct PlayerState {
    call: CallId,
    plays: AtomicU32,
}

/// What a listener's callback works with (only the clock thread touches it).
struct ListenerState {
    call: CallId,
    buffer: *const i16,
    len: usize,
    detector: DtmfDetector,
}

/// What a tap's port reads or writes, and its callback's state: freed by the port's group
/// lock when the bridge has let go of the port (its removal is asynchronous).
enum Memory {
    Player {
        _samples: Box<[i16]>,
        _state: Box<PlayerState>,
    },
    Listener {
        _buffer: Box<[i16]>,
        _state: Box<ListenerState>,
    },
}

/// A port of ours in the bridge.
struct Tap {
    port: *mut ffi::pjmedia_port,
    slot: ffi::pjsua_conf_port_id,
}

unsafe extern "C" fn free_memory(member: *mut c_void) {
    if !member.is_null() {
        // SAFETY: `member` is the Box<Memory> leaked in `attach`; the group lock calls this
        // once, when the port is destroyed and nothing reads the memory any more.
        drop(unsafe { Box::from_raw(member as *mut Memory) });
    }
}

/// Puts `port` (created from `pool`, which is only its factory) in the bridge and ties
/// `memory` to its life. On failure everything is released.
fn attach(pool: *mut ffi::pj_pool_t, port: *mut ffi::pjmedia_port, memory: Memory) -> Result<Tap> {
    let mut slot: ffi::pjsua_conf_port_id = -1;
    // SAFETY: pool and port are live; PJSUA keeps the port until it is removed. The port
    // has its own pool: ours only lent it its factory.
    let status = unsafe { ffi::pjsua_conf_add_port(pool, port, &mut slot) };
    // SAFETY: nothing allocated from our pool stays in use.
    unsafe { ffi::pj_pool_release(pool) };
    if status != PJ_OK {
        // SAFETY: the port is ours and not in the bridge (no group lock: destroyed at once).
        unsafe { ffi::pjmedia_port_destroy(port) };
        drop(memory);
        return Err(pj_error("pjsua_conf_add_port", status));
    }
    let member = Box::into_raw(Box::new(memory));
    // SAFETY: the bridge gave the port a group lock when it added it; the handler frees
    // `member` when the lock (and the port) goes.
    let status = unsafe {
        let grp_lock = (*port).grp_lock;
        if grp_lock.is_null() {
            -1
        } else {
            ffi::pj_grp_lock_add_handler(
                grp_lock,
                std::ptr::null_mut(),
                member.cast(),
                Some(free_memory),
            )
        }
    };
    if status != PJ_OK {
        // Keeping the memory for ever is safe; freeing it while the port may read it is not.
        log::warn!("a prompt's memory cannot be tied to its port; it is kept");
    }
    Ok(Tap { port, slot })
}

/// The prompts and listeners of the running engine (owned by its thread).
#[derive(Default)]
pub(super) struct Taps {
    items: HashMap<MediaTap, Tap>,
    next: u32,
}

/// The bridge's clock rate and samples per frame (slot 0's format).
fn bridge_format() -> Result<(u32, u32)> {
    let mut info = ffi::pjsua_conf_port_info::default();
    // SAFETY: slot 0 exists while PJSUA runs; info is ours.
    let status = unsafe { ffi::pjsua_conf_get_port_info(0, &mut info) };
    if status != PJ_OK {
        return Err(pj_error("pjsua_conf_get_port_info", status));
    }
    Ok((
        info.clock_rate,
        info.samples_per_frame / info.channel_count.max(1),
    ))
}

fn pj_error(op: &'static str, status: ffi::pj_status_t) -> Error {
    Error::Pj {
        op,
        status,
        message: super::pjsua::status_text(status),
    }
}

/// The conference slot of `call`'s audio.
fn call_slot(call: CallId) -> Result<ffi::pjsua_conf_port_id> {
    // SAFETY: PJSUA checks the call id; it returns PJSUA_INVALID_ID without audio.
    let slot = unsafe { ffi::pjsua_call_get_conf_port(call.0) };
    if slot < 0 {
        return Err(Error::InvalidArgument {
            what: "call",
            reason: format!("call {call} has no audio yet"),
        });
    }
    Ok(slot)
}

/// A pool for one tap.
fn pool(name: &std::ffi::CStr) -> Result<*mut ffi::pj_pool_t> {
    // SAFETY: PJSUA is running; the pool is released when the tap goes.
    let pool = unsafe { ffi::pjsua_pool_create(name.as_ptr(), 512, 512) };
    if pool.is_null() {
        return Err(pj_error("pjsua_pool_create", -1));
    }
    Ok(pool)
}

unsafe extern "C" fn player_eof(_port: *mut ffi::pjmedia_port, user: *mut c_void) {
    if user.is_null() {
        return;
    }
    // SAFETY: user is the PlayerState boxed in the tap, which outlives the port.
    let state = unsafe { &*(user as *const PlayerState) };
    let times = state.plays.fetch_add(1, Ordering::AcqRel) + 1;
    callbacks::emit(Event::PromptPlayed {
        call: state.call,
        times,
    });
}

unsafe extern "C" fn capture_full(_port: *mut ffi::pjmedia_port, user: *mut c_void) {
    if user.is_null() {
        return;
    }
    // SAFETY: user is the ListenerState boxed in the tap, touched only by the clock thread
    // (this callback), and outliving the port.
    let state = unsafe { &mut *(user as *mut ListenerState) };
    // SAFETY: the capture has just filled this buffer, which the tap owns; it restarts
    // writing only after this callback returns.
    let samples = unsafe { std::slice::from_raw_parts(state.buffer, state.len) };
    let block_ms = state.detector.block_ms();
    for found in state.detector.feed(samples) {
        callbacks::emit(Event::Dtmf {
            call: state.call,
            digit: found.digit,
            duration_ms: Some(block_ms * 2),
        });
    }
}

impl Taps {
    fn id(&mut self) -> MediaTap {
        self.next += 1;
        MediaTap(self.next)
    }

    /// Plays `samples` (mono, `rate` Hz) into `call` in a loop.
    pub(super) fn play(&mut self, call: CallId, samples: &[i16], rate: u32) -> Result<MediaTap> {
        let target = call_slot(call)?;
        let (bridge_rate, spf) = bridge_format()?;
        let samples: Box<[i16]> =
            crate::audio::resample::convert(samples, rate, bridge_rate).into_boxed_slice();
        if samples.is_empty() {
            return Err(Error::InvalidArgument {
                what: "prompt",
                reason: "it has no audio".into(),
            });
        }
        let state = Box::new(PlayerState {
            call,
            plays: AtomicU32::new(0),
        });
        let pool = pool(c"prompt")?;
        let mut port: *mut ffi::pjmedia_port = std::ptr::null_mut();
        // SAFETY: the buffer is boxed in the tap and outlives the port (destroyed first);
        // mono 16-bit at the bridge's rate and frame size, looping.
        let status = unsafe {
            ffi::pjmedia_mem_player_create(
                pool,
                samples.as_ptr().cast(),
                samples.len() * 2,
                bridge_rate,
                1,
                spf,
                16,
                0,
                &mut port,
            )
        };
        if status != PJ_OK {
            // SAFETY: nothing uses the pool.
            unsafe { ffi::pj_pool_release(pool) };
            return Err(pj_error("pjmedia_mem_player_create", status));
        }
        // SAFETY: the state is boxed in the tap and outlives the port.
        unsafe {
            ffi::pjmedia_mem_player_set_eof_cb2(
                port,
                &*state as *const PlayerState as *mut c_void,
                Some(player_eof),
            )
        };
        let tap = attach(
            pool,
            port,
            Memory::Player {
                _samples: samples,
                _state: state,
            },
        )?;
        // SAFETY: both slots are live.
        let status = unsafe { ffi::pjsua_conf_connect(tap.slot, target) };
        let id = self.id();
        self.items.insert(id, tap);
        if status != PJ_OK {
            self.stop(id);
            return Err(pj_error("pjsua_conf_connect", status));
        }
        Ok(id)
    }

    /// Listens to what `call` receives for in-band DTMF.
    pub(super) fn listen(&mut self, call: CallId) -> Result<MediaTap> {
        let source = call_slot(call)?;
        let (bridge_rate, spf) = bridge_format()?;
        // One frame per callback: each frame is analysed as it arrives.
        let buffer: Box<[i16]> = vec![0i16; spf as usize].into_boxed_slice();
        let mut state = Box::new(ListenerState {
            call,
            buffer: buffer.as_ptr(),
            len: buffer.len(),
            detector: DtmfDetector::new(bridge_rate),
        });
        let pool = pool(c"dtmf-listener")?;
        let mut port: *mut ffi::pjmedia_port = std::ptr::null_mut();
        // SAFETY: the buffer is boxed in the tap and outlives the port; PJMEDIA writes into
        // it from the clock thread only. Mono 16-bit at the bridge's rate and frame size.
        let status = unsafe {
            ffi::pjmedia_mem_capture_create(
                pool,
                buffer.as_ptr() as *mut c_void,
                buffer.len() * 2,
                bridge_rate,
                1,
                spf,
                16,
                0,
                &mut port,
            )
        };
        if status != PJ_OK {
            // SAFETY: nothing uses the pool.
            unsafe { ffi::pj_pool_release(pool) };
            return Err(pj_error("pjmedia_mem_capture_create", status));
        }
        // SAFETY: the state is boxed in the tap and outlives the port.
        unsafe {
            ffi::pjmedia_mem_capture_set_eof_cb2(
                port,
                &mut *state as *mut ListenerState as *mut c_void,
                Some(capture_full),
            )
        };
        let tap = attach(
            pool,
            port,
            Memory::Listener {
                _buffer: buffer,
                _state: state,
            },
        )?;
        // SAFETY: both slots are live.
        let status = unsafe { ffi::pjsua_conf_connect(source, tap.slot) };
        let id = self.id();
        self.items.insert(id, tap);
        if status != PJ_OK {
            self.stop(id);
            return Err(pj_error("pjsua_conf_connect", status));
        }
        Ok(id)
    }

    /// Takes a prompt or listener out of the bridge; its memory goes with the port, once the
    /// bridge has let go of it.
    pub(super) fn stop(&mut self, id: MediaTap) {
        let Some(tap) = self.items.remove(&id) else {
            return;
        };
        // SAFETY: the slot and port are ours; the removal may finish on the clock thread,
        // and destroying drops our reference: the port (and our memory, by its group lock's
        // handler) goes when the bridge has let go too.
        unsafe {
            ffi::pjsua_conf_remove_port(tap.slot);
            ffi::pjmedia_port_destroy(tap.port);
        }
    }

    /// Stops everything (the engine is shutting down).
    pub(super) fn clear(&mut self) {
        let ids: Vec<MediaTap> = self.items.keys().copied().collect();
        for id in ids {
            self.stop(id);
        }
    }
}
