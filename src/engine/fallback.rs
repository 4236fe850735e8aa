//! The last PJSIP module: a final response to every request that nothing else handled.
//!
//! PJSIP drops a request no module claims ("dropped/unhandled by any modules"): a REGISTER
//! sent to the phone, or a method it does not know, would then be retransmitted into silence
//! for 32 s. RFC 3261 wants a final response: 405 with `Allow` for a method the phone does not
//! serve (§8.2.1), 481 for a request that names a dialog or transaction the phone does not
//! have (§12.2.2, §9.2). An ACK is never answered (§17.2.1). This module sits below every
//! other one (PJSUA's modules, presence, MESSAGE, the dialogs), so it only sees leftovers.

use super::pjsua::pj_to_string;
use crate::ffi;

/// After every other module (PJSUA's sit at `PJSIP_MOD_PRIORITY_APPLICATION`, 64, at most;
/// a larger number comes later): called only for leftovers.
const PRIORITY: i32 = ffi::PJSIP_MOD_PRIORITY_APPLICATION as i32 + 32;

/// The final response for a request no module handled, or `None` for none (an ACK).
pub(crate) fn leftover_response(method: &str, in_dialog: bool) -> Option<u16> {
    match method {
        "ACK" => None,
        // A CANCEL that matches no transaction, or a request inside a dialog we do not have.
        "CANCEL" => Some(481),
        _ if in_dialog => Some(481),
        _ => Some(405),
    }
}

/// The fallback module, registered with PJSIP's endpoint while the engine runs.
pub(super) struct Fallback {
    _module: super::module::RequestModule,
}

impl Fallback {
    /// Registers the module with PJSUA's endpoint (after `pjsua_init`).
    pub(super) fn register() -> super::types::Result<Fallback> {
        let module = super::module::RequestModule::register(
            c"mod-microsip-fallback",
            PRIORITY,
            on_rx_request,
        )?;
        Ok(Fallback { _module: module })
    }
}

/// PJSIP's `on_rx_request` of the module: answers the leftover, returns whether it was taken.
unsafe extern "C" fn on_rx_request(rdata: *mut ffi::pjsip_rx_data) -> ffi::pj_bool_t {
    super::module::taken("request fallback", || {
        // SAFETY: PJSIP passes a live rdata of a parsed request for the length of the call.
        unsafe { answer_leftover(rdata) }
    })
}

/// # Safety
/// `rdata` must be a live `pjsip_rx_data` of a request, as PJSIP passes it to a module.
unsafe fn answer_leftover(rdata: *mut ffi::pjsip_rx_data) -> bool {
    if rdata.is_null() {
        return false;
    }
    // SAFETY: per the contract, rdata and its parsed message are valid; a request's message
    // has a request line, and `to` is the parsed To header (checked for NULL).
    let (method, in_dialog, source) = unsafe {
        let r = &*rdata;
        let msg = r.msg_info.msg;
        if msg.is_null() || (*msg).type_ != ffi::PJSIP_REQUEST_MSG {
            return false;
        }
        let method = pj_to_string(&(*msg).line.req.method.name);
        let to = r.msg_info.to;
        let in_dialog = !to.is_null() && (*to).tag.slen > 0;
        let src = std::ffi::CStr::from_ptr(r.pkt_info.src_name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (method, in_dialog, format!("{src}:{}", r.pkt_info.src_port))
    };
    let Some(code) = leftover_response(&method, in_dialog) else {
        return false;
    };
    // SAFETY: PJSUA runs (this is its endpoint's callback); rdata is live. The Allow header is
    // cloned into rdata's own pool and linked into a list head on our stack, which lives
    // until pjsip_endpt_respond_stateless returns (it copies the headers into the response).
    let status = unsafe {
        let endpt = ffi::pjsua_get_pjsip_endpt();
        let mut head = ffi::pjsip_hdr::default();
        let head_ptr: *mut ffi::pjsip_hdr = &mut head;
        // An empty list: the head points at itself.
        (*head_ptr).next = head_ptr.cast();
        (*head_ptr).prev = head_ptr.cast();
        if code == 405 {
            let allow =
                ffi::pjsip_endpt_get_capability(endpt, ffi::PJSIP_H_ALLOW as _, std::ptr::null());
            if !allow.is_null() {
                let copy = ffi::pjsip_hdr_clone((*rdata).tp_info.pool, allow.cast());
                if !copy.is_null() {
                    ffi::pj_list_insert_before(head_ptr.cast(), copy.cast());
                }
            }
        }
        // Stateless: a transaction would hold about 16 KiB for 32 s (Timer J) per request,
        // a gigabyte for a minute of garbage at a few thousand a second. A retransmission of
        // the request is simply answered again (RFC 3261 8.2.7).
        ffi::pjsip_endpt_respond_stateless(
            endpt,
            rdata,
            i32::from(code),
            std::ptr::null(),
            head_ptr,
            std::ptr::null(),
        )
    };
    // The method is a SIP token; the logger escapes control characters anyway.
    log::info!(
        "{method} from {source}: not served by this phone, answered {code}{}",
        if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
            String::new()
        } else {
            format!(" (failed: {})", super::pjsua::status_text(status))
        }
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_get_rfc_3261_answers() {
        assert_eq!(leftover_response("REGISTER", false), Some(405));
        assert_eq!(leftover_response("FOO", false), Some(405));
        assert_eq!(leftover_response("PUBLISH", false), Some(405));
        assert_eq!(leftover_response("BYE", true), Some(481));
        assert_eq!(leftover_response("CANCEL", false), Some(481));
        assert_eq!(leftover_response("ACK", false), None);
        assert_eq!(leftover_response("ACK", true), None);
    }

    #[test]
    fn the_module_sits_after_pjsuas() {
        assert!(PRIORITY > ffi::PJSIP_MOD_PRIORITY_APPLICATION as i32);
        assert!(PRIORITY > ffi::PJSIP_MOD_PRIORITY_DIALOG_USAGE as i32);
    }
}
