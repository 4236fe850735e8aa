//! The admission guard: a burst of new calls from one address is refused with
//! `503 Service Unavailable` and `Retry-After` before PJSUA creates a call.
//!
//! A scanner (`svwar -m INVITE`) or a flood sends new INVITEs, one after the other, from one
//! address; a person calls once, and calls again seconds later at the earliest. With
//! auto-answer on, every call PJSUA admits opens the microphone, so the guard sits before
//! PJSUA's own module: more than `limit` new INVITEs (no To tag) from one address within
//! [`WINDOW`] are answered statelessly (no transaction, no dialog, no media), and the address
//! is admitted again once it slows down. Refused attempts count too: an address that keeps
//! sending stays refused. In-dialog requests, retransmissions PJSIP's transaction layer
//! absorbs, and every other method pass untouched.
//!
//! The answer does not depend on the user part, so a scan learns nothing about extensions
//! from it. Each episode is logged twice: when it starts and when the address is admitted
//! again (with how many INVITEs were refused).
//!
//! The same module answers `420 Bad Extension` to a request other than INVITE (whose session
//! checks it itself) that requires an extension the phone does not support (RFC 3261
//! 8.2.2.3): PJSUA would answer an OPTIONS or a MESSAGE as if `Require` were not there.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ffi;

/// The window the limit counts in; also the `Retry-After` of a refusal, in seconds.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Before PJSUA's modules (`PJSIP_MOD_PRIORITY_APPLICATION`, where the incoming-call handler
/// sits) and after the transaction and dialog layers, so retransmissions and in-dialog
/// requests never get here.
const PRIORITY: i32 = ffi::PJSIP_MOD_PRIORITY_APPLICATION as i32 - 1;

/// Addresses remembered at most; beyond that, those quiet for a window are forgotten, and a
/// new address that still finds no room is admitted untracked (a flood from that many
/// addresses at once is beyond what a per-address limit can tell apart from callers).
const MAX_SOURCES: usize = 1024;

/// What the guard says to one new INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let PJSUA have it; `Some(n)` ends an episode in which `n` INVITEs were refused.
    Admit(Option<u64>),
    /// Answer 503; `true` for the first refusal of an episode.
    Refuse(bool),
}

#[derive(Debug, Default)]
struct Source {
    /// The times of the latest `limit` attempts (admitted or refused), oldest first.
    recent: VecDeque<Instant>,
    /// INVITEs refused in the current episode (0: none running).
    refused: u64,
}

/// The per-address count, without PJSIP (the module below feeds it).
#[derive(Debug)]
pub(crate) struct Guard {
    limit: usize,
    sources: HashMap<String, Source>,
}

impl Guard {
    /// At most `limit` new INVITEs from one address within [`WINDOW`]; 0 admits everything.
    pub(crate) fn new(limit: u32) -> Guard {
        Guard {
            limit: limit as usize,
            sources: HashMap::new(),
        }
    }

    /// The verdict for a new INVITE from `source` at `now`.
    pub(crate) fn check(&mut self, source: &str, now: Instant) -> Verdict {
        if self.limit == 0 {
            return Verdict::Admit(None);
        }
        if !self.sources.contains_key(source) && self.sources.len() >= MAX_SOURCES {
            // An address quiet for a whole window would be admitted anyway.
            self.sources.retain(|_, s| {
                s.recent
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
            if self.sources.len() >= MAX_SOURCES {
                return Verdict::Admit(None);
            }
        }
        let s = self.sources.entry(source.to_string()).or_default();
        while s
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            s.recent.pop_front();
        }
        // The latest `limit` attempts are enough to know whether `limit` fell in the window.
        let admit = s.recent.len() < self.limit;
        s.recent.push_back(now);
        if s.recent.len() > self.limit {
            s.recent.pop_front();
        }
        if admit {
            let ended = std::mem::take(&mut s.refused);
            Verdict::Admit((ended > 0).then_some(ended))
        } else {
            s.refused += 1;
            Verdict::Refuse(s.refused == 1)
        }
    }
}

/// The guard of the running engine (PJSIP calls the module without a context).
static GUARD: Mutex<Option<Guard>> = Mutex::new(None);

/// The guard's module, registered with PJSIP's endpoint while the engine runs; kept, like
/// the fallback module, until after `pjsua_destroy`.
pub(super) struct Admission {
    _module: super::module::RequestModule,
}

impl Admission {
    /// Registers the guard with PJSUA's endpoint (after `pjsua_init`); a `limit` of 0 admits
    /// every INVITE (the Require check stays).
    pub(super) fn register(limit: u32) -> super::types::Result<Option<Admission>> {
        *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(Guard::new(limit));
        let module = super::module::RequestModule::register(
            c"mod-microsip-admission",
            PRIORITY,
            on_rx_request,
        )?;
        Ok(Some(Admission { _module: module }))
    }
}

/// PJSIP's `on_rx_request` of the module: returns true when the INVITE was refused here.
unsafe extern "C" fn on_rx_request(rdata: *mut ffi::pjsip_rx_data) -> ffi::pj_bool_t {
    super::module::taken("admission guard", || {
        // SAFETY: PJSIP passes a live rdata of a parsed request for the length of the call.
        unsafe { admit(rdata) }
    })
}

/// # Safety
/// `rdata` must be a live `pjsip_rx_data` of a request, as PJSIP passes it to a module.
unsafe fn admit(rdata: *mut ffi::pjsip_rx_data) -> bool {
    if rdata.is_null() {
        return false;
    }
    // SAFETY: per the contract, rdata and its parsed message are valid; `to` is the parsed
    // To header (checked for NULL); src_name is PJSIP's NUL-terminated numeric address.
    let source = unsafe {
        let r = &*rdata;
        let msg = r.msg_info.msg;
        if msg.is_null() || (*msg).type_ != ffi::PJSIP_REQUEST_MSG {
            return false;
        }
        let method = (*msg).line.req.method.id;
        if method != ffi::PJSIP_INVITE_METHOD
            && method != ffi::PJSIP_ACK_METHOD
            && method != ffi::PJSIP_CANCEL_METHOD
        {
            // PJSIP's INVITE session checks an INVITE's Require; nothing checks the others'.
            return refuse_unsupported(rdata, msg);
        }
        if method != ffi::PJSIP_INVITE_METHOD {
            return false;
        }
        let to = r.msg_info.to;
        if to.is_null() || (*to).tag.slen > 0 {
            return false;
        }
        std::ffi::CStr::from_ptr(r.pkt_info.src_name.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let verdict = match GUARD.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        Some(guard) => guard.check(&source, Instant::now()),
        None => return false,
    };
    match verdict {
        Verdict::Admit(None) => false,
        Verdict::Admit(Some(refused)) => {
            log::info!(
                "calls from {source}: admitted again ({refused} new call{} refused with 503)",
                if refused == 1 { "" } else { "s" }
            );
            false
        }
        Verdict::Refuse(first) => {
            if first {
                let limit = GUARD
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map_or(0, |g| g.limit);
                log::warn!(
                    "calls from {source}: more than {limit} new calls within {} s, answering \
                     new ones 503 until they slow down (inviteBurst={limit})",
                    WINDOW.as_secs()
                );
            }
            // SAFETY: PJSUA runs (this is its endpoint's callback); rdata is live. The
            // Retry-After header is made in rdata's own pool and linked into a list head on
            // our stack, which lives until pjsip_endpt_respond_stateless returns (it copies
            // the headers into the response).
            let status = unsafe {
                let endpt = ffi::pjsua_get_pjsip_endpt();
                let mut head = ffi::pjsip_hdr::default();
                let head_ptr: *mut ffi::pjsip_hdr = &mut head;
                (*head_ptr).next = head_ptr.cast();
                (*head_ptr).prev = head_ptr.cast();
                let retry = ffi::pjsip_retry_after_hdr_create(
                    (*rdata).tp_info.pool,
                    WINDOW.as_secs() as i32,
                );
                if !retry.is_null() {
                    ffi::pj_list_insert_before(head_ptr.cast(), retry.cast());
                }
                ffi::pjsip_endpt_respond_stateless(
                    endpt,
                    rdata,
                    503,
                    std::ptr::null(),
                    head_ptr,
                    std::ptr::null(),
                )
            };
            if status != ffi::PJ_SUCCESS as ffi::pj_status_t {
                log::debug!(
                    "calls from {source}: the 503 could not be sent: {}",
                    super::pjsua::status_text(status)
                );
            }
            true
        }
    }
}

/// The option tags of `required` that are not in `supported` (compared ignoring case).
pub(crate) fn unsupported(required: &[String], supported: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|r| !supported.iter().any(|s| s.eq_ignore_ascii_case(r)))
        .cloned()
        .collect()
}

/// The values of every header of `msg` that is a list of tokens of type `htype` (`Require`),
/// or of the endpoint's capability of that type (`Supported`) when `msg` is null.
///
/// # Safety
/// `msg` must be null or a live parsed message; PJSUA must run.
unsafe fn tokens(msg: *mut ffi::pjsip_msg, htype: ffi::pjsip_hdr_e) -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: per the contract; headers of these types are generic array headers, whose
    // `count` values are valid pj_str_t.
    unsafe {
        if msg.is_null() {
            let h = ffi::pjsip_endpt_get_capability(
                ffi::pjsua_get_pjsip_endpt(),
                htype as i32,
                std::ptr::null(),
            )
            .cast::<ffi::pjsip_generic_array_hdr>();
            if !h.is_null() {
                let h = &*h;
                let n = (h.count as usize).min(h.values.len());
                out.extend(h.values[..n].iter().map(super::pjsua::pj_to_string));
            }
            return out;
        }
        let mut h = ffi::pjsip_msg_find_hdr(msg, htype, std::ptr::null_mut())
            .cast::<ffi::pjsip_generic_array_hdr>();
        while !h.is_null() {
            let hdr = &*h;
            let n = (hdr.count as usize).min(hdr.values.len());
            out.extend(hdr.values[..n].iter().map(super::pjsua::pj_to_string));
            h = ffi::pjsip_msg_find_hdr(msg, htype, hdr.next.cast())
                .cast::<ffi::pjsip_generic_array_hdr>();
        }
    }
    out
}

/// RFC 3261 8.2.2.3: a request requiring an extension the phone does not support gets `420
/// Bad Extension` with `Unsupported` naming it. Returns whether it was answered here.
///
/// # Safety
/// `rdata` must be a live request and `msg` its parsed message; PJSUA must run.
unsafe fn refuse_unsupported(rdata: *mut ffi::pjsip_rx_data, msg: *mut ffi::pjsip_msg) -> bool {
    // SAFETY: per the contract.
    let required = unsafe { tokens(msg, ffi::PJSIP_H_REQUIRE) };
    if required.is_empty() {
        return false;
    }
    // SAFETY: PJSUA runs.
    let supported = unsafe { tokens(std::ptr::null_mut(), ffi::PJSIP_H_SUPPORTED) };
    let missing = unsupported(&required, &supported);
    if missing.is_empty() {
        return false;
    }
    let name = c"Unsupported";
    let value = missing.join(", ");
    // SAFETY: rdata is live; the header is made in its pool (the create function copies name
    // and value), and linked into a list head on our stack that lives until the stateless
    // response (which copies its headers) is sent.
    unsafe {
        let mut head = ffi::pjsip_hdr::default();
        let head_ptr: *mut ffi::pjsip_hdr = &mut head;
        (*head_ptr).next = head_ptr.cast();
        (*head_ptr).prev = head_ptr.cast();
        let hname = ffi::pj_str_t {
            ptr: name.as_ptr().cast_mut(),
            slen: name.to_bytes().len() as ffi::pj_ssize_t,
        };
        let hvalue = ffi::pj_str_t {
            ptr: value.as_ptr().cast::<std::ffi::c_char>().cast_mut(),
            slen: value.len() as ffi::pj_ssize_t,
        };
        let h = ffi::pjsip_generic_string_hdr_create((*rdata).tp_info.pool, &hname, &hvalue);
        if !h.is_null() {
            ffi::pj_list_insert_before(head_ptr.cast(), h.cast());
        }
        ffi::pjsip_endpt_respond_stateless(
            ffi::pjsua_get_pjsip_endpt(),
            rdata,
            420,
            std::ptr::null(),
            head_ptr,
            std::ptr::null(),
        );
    }
    // Option tags are tokens; the logger escapes anything else anyway.
    log::info!("a request requiring {value:?} answered 420: not supported by this phone");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_required_extension_is_named() {
        let supported = ["replaces".to_string(), "timer".to_string()];
        let req = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(unsupported(&req(&["timer", "Replaces"]), &supported).is_empty());
        assert_eq!(
            unsupported(&req(&["timer", "nothingSupported"]), &supported),
            req(&["nothingSupported"])
        );
    }

    #[test]
    fn a_burst_is_refused_until_the_address_slows_down() {
        let mut g = Guard::new(3);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for i in 0..3 {
            assert_eq!(g.check("10.0.0.1", at(i)), Verdict::Admit(None));
        }
        assert_eq!(g.check("10.0.0.1", at(5)), Verdict::Refuse(true));
        assert_eq!(g.check("10.0.0.1", at(6)), Verdict::Refuse(false));
        // Another address is not affected.
        assert_eq!(g.check("10.0.0.2", at(7)), Verdict::Admit(None));
        // Still sending: still refused, counted from the latest attempts.
        assert_eq!(g.check("10.0.0.1", at(9_000)), Verdict::Refuse(false));
        // Quiet for a whole window after the last attempt: admitted, the episode ends.
        assert_eq!(g.check("10.0.0.1", at(19_001)), Verdict::Admit(Some(3)));
        assert_eq!(g.check("10.0.0.1", at(19_002)), Verdict::Admit(None));
    }

    #[test]
    fn calls_seconds_apart_are_never_refused() {
        let mut g = Guard::new(3);
        let t0 = Instant::now();
        for i in 0..100 {
            let v = g.check("10.0.0.1", t0 + Duration::from_millis(i * 3_400));
            assert_eq!(v, Verdict::Admit(None), "call {i}");
        }
    }

    #[test]
    fn zero_is_no_limit_and_the_table_stays_bounded() {
        let mut g = Guard::new(0);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(g.check("10.0.0.1", t0), Verdict::Admit(None));
        }
        let mut g = Guard::new(1);
        for i in 0..(MAX_SOURCES as u64 * 3) {
            let at = t0 + Duration::from_millis(i * 20);
            let _ = g.check(
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                at,
            );
            assert!(g.sources.len() <= MAX_SOURCES);
        }
    }

    #[test]
    fn the_guard_sits_before_pjsuas_incoming_call_handler() {
        assert!(PRIORITY < ffi::PJSIP_MOD_PRIORITY_APPLICATION as i32);
        assert!(PRIORITY > ffi::PJSIP_MOD_PRIORITY_DIALOG_USAGE as i32);
    }
}
