//! Our own `pjsip_module`s that look at incoming requests (the admission guard, the request
//! fallback): registering one with PJSUA's endpoint, and running its handler so that a panic
//! never crosses into PJSIP.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ffi;

/// PJSIP's request callback, as a module declares it.
pub(super) type OnRxRequest = unsafe extern "C" fn(*mut ffi::pjsip_rx_data) -> ffi::pj_bool_t;

/// A module registered with PJSIP's endpoint. PJSIP links it into its module list and writes
/// its id, so it must stay where it is: the engine keeps it until after `pjsua_destroy` (which
/// unregisters every module).
pub(super) struct RequestModule {
    _module: Box<UnsafeCell<ffi::pjsip_module>>,
}

impl RequestModule {
    /// Registers `on_rx_request` under `name` at `priority` (after `pjsua_init`).
    pub(super) fn register(
        name: &'static CStr,
        priority: i32,
        on_rx_request: OnRxRequest,
    ) -> super::types::Result<RequestModule> {
        let module = Box::new(UnsafeCell::new(ffi::pjsip_module {
            name: ffi::pj_str_t {
                ptr: name.as_ptr().cast_mut(),
                slen: name.to_bytes().len() as ffi::pj_ssize_t,
            },
            id: -1,
            priority,
            on_rx_request: Some(on_rx_request),
            ..Default::default()
        }));
        // SAFETY: PJSUA is initialised (its endpoint exists); the module lives in a box that
        // the engine keeps until PJSUA is destroyed, and its name is a static string.
        let status =
            unsafe { ffi::pjsip_endpt_register_module(ffi::pjsua_get_pjsip_endpt(), module.get()) };
        super::pjsua::check("pjsip_endpt_register_module", status)?;
        Ok(RequestModule { _module: module })
    }
}

/// Runs a module's handler (`what` names it in the log): its answer, whether the request was
/// taken, as PJSIP wants it; a panic is logged and the request passed on.
pub(super) fn taken(what: &str, handler: impl FnOnce() -> bool) -> ffi::pj_bool_t {
    match catch_unwind(AssertUnwindSafe(handler)) {
        Ok(true) => ffi::PJ_TRUE as ffi::pj_bool_t,
        Ok(false) => ffi::PJ_FALSE as ffi::pj_bool_t,
        Err(_) => {
            log::error!("internal error: a panic in the {what} was caught");
            ffi::PJ_FALSE as ffi::pj_bool_t
        }
    }
}
