//! The media port side: what clocks PJSUA's conference bridge.
//!
//! PJSUA runs with no sound device (`pjsua_set_no_snd_dev`), so nothing ticks the conference
//! bridge on its own. A `pjmedia_master_port` joins the bridge's master port (slot 0) to a
//! device port and carries one frame each way per tick. Today the device port is a null port
//! (silence in, discard out); the cpal bridge takes its place later. The supervisor thread runs
//! the clock only while some call has audio, so an idle phone has no media thread ticking.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::pjsua::PjThread;
use super::types::{Error, Result};
use crate::ffi;

const PJ_OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;

/// The master port and the ports it joins, owned by the supervisor thread.
struct MediaClock {
    pool: *mut ffi::pj_pool_t,
    device: *mut ffi::pjmedia_port,
    master: *mut ffi::pjmedia_master_port,
    running: bool,
}

impl MediaClock {
    /// Creates the clock for the bridge's master port, stopped.
    fn new() -> Result<MediaClock> {
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
        let mut clock = MediaClock {
            pool,
            device: std::ptr::null_mut(),
            master: std::ptr::null_mut(),
            running: false,
        };
        // SAFETY: pool is live; the port parameters come from the bridge itself.
        let status = unsafe {
            ffi::pjmedia_null_port_create(
                pool,
                info.clock_rate,
                info.channel_count,
                info.samples_per_frame,
                info.bits_per_sample,
                &mut clock.device,
            )
        };
        if status != PJ_OK {
            return Err(pj_error("pjmedia_null_port_create", status));
        }
        // SAFETY: both ports are live and share one format; master is written on success.
        let status = unsafe {
            ffi::pjmedia_master_port_create(pool, conf, clock.device, 0, &mut clock.master)
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
    }
}

impl Drop for MediaClock {
    fn drop(&mut self) {
        self.set_running(false);
        // SAFETY: each pointer is either null or owned by us; the master port does not destroy
        // the ports it joins (PJ_FALSE), the conference port belongs to PJSUA.
        unsafe {
            if !self.master.is_null() {
                ffi::pjmedia_master_port_destroy(self.master, ffi::PJ_FALSE as i32);
            }
            if !self.device.is_null() {
                ffi::pjmedia_port_destroy(self.device);
            }
            ffi::pj_pool_release(self.pool);
        }
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
    let mut ids = [0 as ffi::pjsua_call_id; ffi::PJSUA_MAX_CALLS as usize];
    let mut count = ids.len() as u32;
    // SAFETY: ids has room for `count` entries.
    if unsafe { ffi::pjsua_enum_calls(ids.as_mut_ptr(), &mut count) } != PJ_OK {
        return false;
    }
    ids[..count as usize].iter().any(|&id| {
        let mut ci = ffi::pjsua_call_info::default();
        // SAFETY: ci is ours.
        let found = unsafe { ffi::pjsua_call_get_info(id, &mut ci) } == PJ_OK;
        found
            && ci.state != ffi::PJSIP_INV_STATE_DISCONNECTED
            && matches!(
                ci.media_status,
                ffi::PJSUA_CALL_MEDIA_ACTIVE | ffi::PJSUA_CALL_MEDIA_REMOTE_HOLD
            )
    })
}

/// The thread that starts the media clock when a call gets audio and stops it when none has.
pub(super) struct MediaSupervisor {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl MediaSupervisor {
    /// Starts the supervisor; `changed` is signalled by the callbacks on every media change.
    pub(super) fn start(changed: Receiver<()>) -> Result<MediaSupervisor> {
        let (stop, stop_rx) = bounded::<()>(1);
        let (ready_tx, ready_rx) = bounded::<Option<Error>>(1);
        let handle = std::thread::Builder::new()
            .name("media-clock".into())
            .spawn(move || {
                let setup = PjThread::register(c"media-clock")
                    .and_then(|reg| Ok((reg, MediaClock::new()?)));
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
                loop {
                    select! {
                        recv(changed) -> msg => {
                            if msg.is_err() { break; }
                            // Coalesce a burst of notifications into one check.
                            while changed.try_recv().is_ok() {}
                            clock.set_running(audio_needed());
                        }
                        recv(stop_rx) -> _ => break,
                    }
                }
                drop(clock);
            })
            .map_err(|e| Error::Pj {
                op: "spawn the media thread",
                status: -1,
                message: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(None) => Ok(MediaSupervisor { stop, handle }),
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

    /// Stops the clock and the thread (before PJSUA is destroyed).
    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}
