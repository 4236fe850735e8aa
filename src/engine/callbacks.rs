//! The trampolines: every C callback PJSUA calls into us, in one file.
//!
//! Each one runs on a PJSIP thread. It copies what it needs out of C into owned Rust values,
//! sends an event on a channel and returns: it never blocks, never waits for a reply and never
//! lets a panic cross into C (every body runs inside `catch_unwind`).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_int, CStr};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crossbeam_channel::Sender;

use super::pjsua::{call_info, pj_str_ref, pj_to_string};
use super::types::{
    AccountId, CallId, CallState, Event, IncomingAction, IncomingCall, MediaState, OtherCall,
};
use crate::ffi;

/// What the trampolines need: installed by `Engine::start`, removed after `pjsua_destroy`.
pub(super) struct Shared {
    pub events: Sender<Event>,
    pub incoming: Arc<dyn Fn(&IncomingCall) -> IncomingAction + Send + Sync>,
    /// Wakes the media supervisor, which starts or stops the media clock.
    pub media_changed: Sender<()>,
    /// Answer offers in our codec order (MicroSIP's `forceCodec`).
    pub force_codec: bool,
    /// Call-IDs of the calls answered or declined lately (MicroSIP's `callIdIncomingIgnore`),
    /// newest last.
    pub answered: Mutex<VecDeque<String>>,
    /// Report incoming SIP MESSAGEs (MicroSIP's `disableMessaging=0`).
    pub messaging: bool,
    /// RFC 2833 digits that started and whose end has not come yet.
    pub dtmf: Mutex<DtmfTracker>,
}

/// pjsua.h's `PJSUA_UNKNOWN_DTMF_DURATION` (`(unsigned)-1`, a macro bindgen does not carry).
const UNKNOWN_DTMF_DURATION: u32 = u32::MAX;

/// A received digit, ready to report: its call, the digit and its duration (`None` when its
/// end was lost).
pub(super) type DtmfDigit = (i32, char, Option<u32>);

/// Turns PJSUA's DTMF events (a start, updates, an end that may be lost) into one digit each,
/// reported at its end with its duration. A digit whose end never came is reported when the
/// next one starts or the call ends, with no duration.
#[derive(Debug, Default)]
pub(super) struct DtmfTracker {
    /// Per call: the digit under way and its start timestamp.
    pending: HashMap<i32, (char, u32)>,
}

impl DtmfTracker {
    /// One `on_dtmf_event`; returns the digits to report now.
    pub fn on_event(
        &mut self,
        call: i32,
        digit: char,
        timestamp: u32,
        flags: u32,
        duration: u32,
    ) -> Vec<DtmfDigit> {
        let end = flags & ffi::PJMEDIA_STREAM_DTMF_IS_END != 0;
        let update = flags & ffi::PJMEDIA_STREAM_DTMF_IS_UPDATE != 0;
        let mut out = Vec::new();
        match self.pending.get(&call) {
            // The end (or an update) of the digit under way.
            Some(&(_, ts)) if ts == timestamp && end => {
                self.pending.remove(&call);
            }
            Some(&(_, ts)) if ts == timestamp => {}
            // Another digit: the one under way lost its end.
            Some(&(prev, _)) => {
                out.push((call, prev, None));
                self.pending.remove(&call);
                if !end && !update {
                    self.pending.insert(call, (digit, timestamp));
                }
            }
            None if !end => {
                self.pending.insert(call, (digit, timestamp));
            }
            None => {}
        }
        if end {
            let known = (duration != UNKNOWN_DTMF_DURATION).then_some(duration);
            out.push((call, digit, known));
        }
        out
    }

    /// The call ended: its digit under way, if any.
    pub fn on_call_end(&mut self, call: i32) -> Option<DtmfDigit> {
        self.pending
            .remove(&call)
            .map(|(digit, _)| (call, digit, None))
    }
}

/// How many answered or declined Call-IDs are remembered.
const ANSWERED_KEPT: usize = 32;

/// Notes that the call with SIP Call-ID `sip_call_id` was answered or declined: an INVITE that
/// comes again with it (a fork, a re-send) is refused with 487.
pub(super) fn remember_answered(sip_call_id: &str) {
    let Some(shared) = shared() else { return };
    let mut kept = shared.answered.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() == ANSWERED_KEPT {
        kept.pop_front();
    }
    kept.push_back(sip_call_id.to_string());
}

fn answered_before(shared: &Shared, sip_call_id: &str) -> bool {
    !sip_call_id.is_empty()
        && shared
            .answered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|c| c == sip_call_id)
}

/// The calls other than `call_id` that are alive, as the incoming-call decision sees them.
fn other_calls(call_id: ffi::pjsua_call_id) -> Vec<OtherCall> {
    super::pjsua::calls_but(Some(call_id))
        .into_iter()
        .filter(|info| info.state != CallState::Disconnected)
        .map(|info| OtherCall {
            active: info.state == CallState::Confirmed && info.media == MediaState::Active,
            remote: info.remote,
        })
        .collect()
}

static SHARED: RwLock<Option<Arc<Shared>>> = RwLock::new(None);

pub(super) fn install(shared: Shared) {
    *SHARED.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(shared));
}

pub(super) fn clear() {
    *SHARED.write().unwrap_or_else(|e| e.into_inner()) = None;
}

fn shared() -> Option<Arc<Shared>> {
    SHARED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What the callbacks raise on a thread that is answering an incoming call, held until the
/// answer has left (see [`HeldUntilAnswered`]).
#[derive(Default)]
struct Held {
    events: Vec<Event>,
    media_changed: bool,
}

thread_local! {
    /// `Some` while this thread runs `on_incoming_call`.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Sends `event` to the application, or holds it while this thread is answering a call.
fn send_event(shared: &Shared, event: Event) {
    let event = HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(held) => {
            held.events.push(event);
            None
        }
        None => Some(event),
    });
    if let Some(event) = event {
        let _ = shared.events.send(event);
    }
}

/// Wakes the media supervisor, or holds the wake-up while this thread is answering a call.
fn signal_media_changed(shared: &Shared) {
    let now = HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(held) => {
            held.media_changed = true;
            false
        }
        None => true,
    });
    if now {
        let _ = shared.media_changed.send(());
    }
}

/// While alive, the events and media wake-ups this thread raises wait; they go out, in order,
/// when it drops (also on a panic). The answer to an INVITE (its SDP, the call's media and
/// state changes) is made inside `on_incoming_call`: woken at once, the application and the
/// media supervisor ran beside it, took PJSUA's and the call's locks to read the call, and
/// the 200 waited for them.
struct HeldUntilAnswered {
    shared: Arc<Shared>,
    outer: bool,
}

impl HeldUntilAnswered {
    fn start(shared: Arc<Shared>) -> HeldUntilAnswered {
        let outer = HELD.with(|held| {
            let mut held = held.borrow_mut();
            let outer = held.is_none();
            if outer {
                *held = Some(Held::default());
            }
            outer
        });
        HeldUntilAnswered { shared, outer }
    }
}

impl Drop for HeldUntilAnswered {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        let Some(held) = HELD.with(|held| held.borrow_mut().take()) else {
            return;
        };
        for event in held.events {
            let _ = self.shared.events.send(event);
        }
        if held.media_changed {
            let _ = self.shared.media_changed.send(());
        }
    }
}

/// Sends `event` to the application from a media callback (no-op when the engine is gone).
pub(super) fn emit(event: Event) {
    guarded("media event", || {
        if let Some(shared) = shared() {
            send_event(&shared, event);
        }
    });
}

/// Runs a callback body, keeping panics on the Rust side; false when it panicked.
fn guarded(name: &str, body: impl FnOnce()) -> bool {
    let done = catch_unwind(AssertUnwindSafe(body)).is_ok();
    if !done {
        log::error!(
            "internal error: a panic in the {name} callback was caught; the phone keeps running"
        );
    }
    done
}

/// Fills the callback table of a `pjsua_config`.
pub(super) fn register(cb: &mut ffi::pjsua_callback) {
    cb.on_incoming_call = Some(on_incoming_call);
    cb.on_call_state = Some(on_call_state);
    cb.on_call_media_state = Some(on_call_media_state);
    cb.on_reg_state2 = Some(on_reg_state2);
    cb.on_dtmf_event = Some(on_dtmf_event);
    cb.on_call_transfer_request2 = Some(on_call_transfer_request2);
    cb.on_call_transfer_status = Some(on_call_transfer_status);
    cb.on_call_redirected = Some(on_call_redirected);
    cb.on_pager2 = Some(on_pager2);
    cb.on_mwi_info = Some(on_mwi_info);
}

/// The value of the first header called `name` (case-insensitive), as printed on the wire.
///
/// # Safety
/// `msg` must be a valid message of a live `pjsip_rx_data`.
unsafe fn header_value(msg: *mut ffi::pjsip_msg, name: &str) -> Option<String> {
    let cname = pj_str_ref(name);
    // SAFETY: msg is valid per the contract; cname points into `name`, which outlives the call.
    let hdr = unsafe { ffi::pjsip_msg_find_hdr_by_name(msg, &cname, std::ptr::null_mut()) };
    if hdr.is_null() {
        return None;
    }
    let mut buf = [0u8; 1024];
    // SAFETY: hdr is a header of msg; the buffer is ours and its length is passed.
    let n = unsafe { ffi::pjsip_hdr_print_on(hdr, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&buf[..n as usize]);
    text.split_once(':').map(|(_, v)| v.trim().to_string())
}

/// MicroSIP's `forceCodec=1`: the answer follows our codec priority, not the caller's.
///
/// # Safety
/// `rdata` must be the INVITE PJSUA passes to `on_incoming_call`.
unsafe fn prefer_local_codec_order(rdata: *mut ffi::pjsip_rx_data) {
    // SAFETY: per the contract, rdata is live; the lookups return null when absent.
    unsafe {
        let dlg = ffi::pjsip_rdata_get_dlg(rdata);
        if dlg.is_null() {
            return;
        }
        let inv = ffi::pjsip_dlg_get_inv_session(dlg);
        if !inv.is_null() && !(*inv).neg.is_null() {
            ffi::pjmedia_sdp_neg_set_prefer_remote_codec_order((*inv).neg, ffi::PJ_FALSE as i32);
        }
    }
}

/// Sends 100 Trying to the INVITE of the new incoming `call_id`.
fn send_trying(call_id: ffi::pjsua_call_id) {
    // SAFETY: call_id is the call on_incoming_call is deciding; a provisional answer from the
    // callback is allowed by PJSUA.
    let status =
        unsafe { ffi::pjsua_call_answer(call_id, 100, std::ptr::null(), std::ptr::null()) };
    if status != ffi::PJ_SUCCESS as i32 {
        log::debug!("call {call_id}: no 100 Trying (PJSIP status {status})");
    }
}

unsafe extern "C" fn on_incoming_call(
    acc_id: ffi::pjsua_acc_id,
    call_id: ffi::pjsua_call_id,
    rdata: *mut ffi::pjsip_rx_data,
) {
    // Whether the INVITE got its answer: a panic before it would leave the caller ringing
    // until it gives up, so the call is refused at once instead.
    let answered = std::cell::Cell::new(false);
    let done = guarded("on_incoming_call", || {
        let Some(shared) = shared() else { return };
        // Everything this raises goes out after the response below has been sent.
        let _held = HeldUntilAnswered::start(shared.clone());
        let info = call_info(call_id);
        let (x_autoanswer, call_info_hdr, asserted) = if rdata.is_null() {
            (None, None, None)
        } else {
            // SAFETY: rdata is the live request PJSUA hands to this callback.
            let msg = unsafe { (*rdata).msg_info.msg };
            // SAFETY: msg belongs to rdata, valid for the whole callback.
            unsafe {
                (
                    header_value(msg, "X-AUTOANSWER"),
                    header_value(msg, "Call-Info"),
                    header_value(msg, "P-Asserted-Identity")
                        .or_else(|| header_value(msg, "Remote-Party-Id")),
                )
            }
        };
        let others = other_calls(call_id);
        let sip_call_id = info
            .as_ref()
            .map(|i| i.sip_call_id.clone())
            .unwrap_or_default();
        let incoming = IncomingCall {
            call: Some(CallId(call_id)),
            account: Some(AccountId(acc_id)),
            from: info.as_ref().map(|i| i.remote.clone()).unwrap_or_default(),
            to: info.as_ref().map(|i| i.local.clone()).unwrap_or_default(),
            answered_before: answered_before(&shared, &sip_call_id),
            sip_call_id,
            live_calls: others.len() + 1,
            others,
            x_autoanswer,
            call_info: call_info_hdr,
            asserted_identity: asserted.filter(|v| v.contains('@')),
        };
        if shared.force_codec && !rdata.is_null() {
            // SAFETY: rdata is the INVITE of this callback; its dialog and INVITE session
            // exist (PJSUA created them before calling us) and the offer is not negotiated
            // until we answer.
            unsafe { prefer_local_codec_order(rdata) };
        }
        let action = (shared.incoming)(&incoming);
        let incoming_to = incoming.to.clone();
        if action == IncomingAction::Answer {
            remember_answered(&incoming.sip_call_id);
        }
        // Report the call before answering: answering runs the state and media callbacks.
        send_event(
            &shared,
            Event::Incoming {
                info: incoming,
                action: action.clone(),
            },
        );
        let status = match &action {
            // SAFETY: call_id is the new call; answering from this callback is allowed by PJSUA.
            IncomingAction::Answer => unsafe {
                ffi::pjsua_call_answer(call_id, 200, std::ptr::null(), std::ptr::null())
            },
            // SAFETY: as above.
            IncomingAction::Ring { .. } => unsafe {
                ffi::pjsua_call_answer(call_id, 180, std::ptr::null(), std::ptr::null())
            },
            // PJSUA sends no 100 of its own before asking us (our FIXES): a refusal or a
            // redirection made while none was sent would be deferred by PJSUA and lose its
            // headers (Reason, Contact, Diversion). The 100 goes first.
            IncomingAction::Reject { code, reason } => {
                send_trying(call_id);
                super::pjsua::hangup_with_reason(call_id, *code, reason.as_deref())
            }
            IncomingAction::Forward { to } => {
                send_trying(call_id);
                super::pjsua::forward_call(call_id, to, &incoming_to)
            }
        };
        answered.set(true);
        if status != ffi::PJ_SUCCESS as i32 {
            log::warn!("call {call_id}: could not send the response for {action:?} (PJSIP status {status})");
        }
    });
    if !done && !answered.get() {
        // SAFETY: call_id is the call of this callback, still unanswered; answering from
        // the callback is allowed by PJSUA.
        let status =
            unsafe { ffi::pjsua_call_answer(call_id, 500, std::ptr::null(), std::ptr::null()) };
        log::error!(
            "call {call_id}: refused with 500 after the internal error (PJSIP status {status})"
        );
    }
}

unsafe extern "C" fn on_call_state(call_id: ffi::pjsua_call_id, _e: *mut ffi::pjsip_event) {
    guarded("on_call_state", || {
        let Some(shared) = shared() else { return };
        if let Some(info) = call_info(call_id) {
            let ended = info.state == super::types::CallState::Disconnected;
            if ended {
                let last = shared
                    .dtmf
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .on_call_end(call_id);
                send_digits(&shared, last);
            }
            send_event(&shared, Event::CallState { info });
            if ended {
                signal_media_changed(&shared);
            }
        }
    });
}

unsafe extern "C" fn on_call_media_state(call_id: ffi::pjsua_call_id) {
    guarded("on_call_media_state", || {
        let Some(shared) = shared() else { return };
        let mut ci = ffi::pjsua_call_info::default();
        // SAFETY: ci is ours; call_id comes from PJSUA.
        if unsafe { ffi::pjsua_call_get_info(call_id, &mut ci) } != ffi::PJ_SUCCESS as i32 {
            return;
        }
        let state = super::pjsua::media_state(ci.media_status);
        if matches!(state, MediaState::Active | MediaState::RemoteHold) && ci.conf_slot >= 0 {
            // Slot 0 is the conference bridge's master port, which our media clock drives.
            // SAFETY: both slots exist; connecting twice is harmless.
            unsafe {
                ffi::pjsua_conf_connect(ci.conf_slot, 0);
                ffi::pjsua_conf_connect(0, ci.conf_slot);
            }
        } else if state == MediaState::LocalHold && ci.conf_slot >= 0 {
            // As MicroSIP: a call we hold neither hears us nor is heard.
            // SAFETY: both slots exist; disconnecting what is not connected is harmless.
            unsafe {
                ffi::pjsua_conf_disconnect(ci.conf_slot, 0);
                ffi::pjsua_conf_disconnect(0, ci.conf_slot);
            }
        }
        let security = if matches!(state, MediaState::Active | MediaState::RemoteHold) {
            super::security::media_security(call_id)
        } else {
            Default::default()
        };
        send_event(
            &shared,
            Event::Media {
                call: CallId(call_id),
                state,
                security,
            },
        );
        signal_media_changed(&shared);
    });
}

unsafe extern "C" fn on_reg_state2(acc_id: ffi::pjsua_acc_id, info: *mut ffi::pjsua_reg_info) {
    guarded("on_reg_state2", || {
        let Some(shared) = shared() else { return };
        if info.is_null() {
            return;
        }
        // SAFETY: info is valid for the callback; cbparam may be null.
        let (param, renew) = unsafe { ((*info).cbparam, (*info).renew != 0) };
        if param.is_null() {
            return;
        }
        // SAFETY: param points at PJSIP's registration result, valid for the callback.
        let p = unsafe { &*param };
        let reason = if p.code == 0 || p.status != ffi::PJ_SUCCESS as i32 && p.reason.slen == 0 {
            super::pjsua::status_text(p.status)
        } else {
            pj_to_string(&p.reason)
        };
        if (200..300).contains(&p.code) && p.expiration > 0 {
            super::netwatch::registered(acc_id);
        }
        send_event(
            &shared,
            Event::Registration {
                account: AccountId(acc_id),
                code: p.code as u16,
                reason,
                expires: p.expiration,
                renew,
            },
        );
    });
}

unsafe extern "C" fn on_dtmf_event(
    call_id: ffi::pjsua_call_id,
    event: *const ffi::pjsua_dtmf_event,
) {
    guarded("on_dtmf_event", || {
        let Some(shared) = shared() else { return };
        if event.is_null() {
            return;
        }
        // SAFETY: event is valid for the callback.
        let ev = unsafe { &*event };
        let digit = char::from_u32(ev.digit).unwrap_or('?');
        let digits = shared
            .dtmf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_event(call_id, digit, ev.timestamp, ev.flags, ev.duration);
        send_digits(&shared, digits);
    });
}

fn send_digits(shared: &Shared, digits: impl IntoIterator<Item = DtmfDigit>) {
    for (call, digit, duration_ms) in digits {
        send_event(
            shared,
            Event::Dtmf {
                call: CallId(call),
                digit,
                duration_ms,
            },
        );
    }
}

/// MicroSIP's rule for an incoming REFER: refused unless the call is connected, and refused
/// when a call with the target's user@domain exists already (any call, the transferring one
/// included). `remotes` are the remote parties of the live calls.
fn refuse_transfer<'a>(
    confirmed: bool,
    target: &str,
    mut remotes: impl Iterator<Item = &'a str>,
) -> bool {
    if !confirmed {
        return true;
    }
    let (user, host) = crate::dial::uri_user_host(target);
    remotes.any(|remote| {
        let (u, h) = crate::dial::uri_user_host(remote);
        u == user && h.eq_ignore_ascii_case(&host)
    })
}

unsafe extern "C" fn on_call_transfer_request2(
    call_id: ffi::pjsua_call_id,
    dst: *const ffi::pj_str_t,
    code: *mut ffi::pjsip_status_code,
    _opt: *mut ffi::pjsua_call_setting,
) {
    guarded("on_call_transfer_request2", || {
        let Some(shared) = shared() else { return };
        let target = if dst.is_null() {
            String::new()
        } else {
            // SAFETY: dst is the Refer-To value, valid for the callback.
            pj_to_string(unsafe { &*dst })
        };
        let confirmed = call_info(call_id).is_some_and(|i| i.state == CallState::Confirmed);
        let calls = super::pjsua::all_calls();
        let live = calls
            .iter()
            .filter(|c| c.state != CallState::Disconnected)
            .map(|c| c.remote.as_str());
        let mut accepted = true;
        if !code.is_null() {
            if refuse_transfer(confirmed, &target, live) {
                // SAFETY: code points at PJSUA's response code for the REFER (202 on input).
                unsafe { *code = ffi::PJSIP_SC_DECLINE };
            }
            // SAFETY: as above.
            accepted = unsafe { *code } / 100 == 2;
        }
        send_event(
            &shared,
            Event::TransferRequest {
                call: CallId(call_id),
                target,
                accepted,
            },
        );
    });
}

unsafe extern "C" fn on_call_transfer_status(
    call_id: ffi::pjsua_call_id,
    st_code: c_int,
    st_text: *const ffi::pj_str_t,
    final_: ffi::pj_bool_t,
    p_cont: *mut ffi::pj_bool_t,
) {
    guarded("on_call_transfer_status", || {
        let Some(shared) = shared() else { return };
        // MicroSIP: a 2xx ends the transfer; the application hangs the call up.
        if st_code / 100 == 2 && !p_cont.is_null() {
            // SAFETY: p_cont points at PJSUA's flag, valid for the callback.
            unsafe { *p_cont = ffi::PJ_FALSE as ffi::pj_bool_t };
        }
        let text = if st_text.is_null() {
            String::new()
        } else {
            // SAFETY: st_text is valid for the callback.
            pj_to_string(unsafe { &*st_text })
        };
        send_event(
            &shared,
            Event::TransferStatus {
                call: CallId(call_id),
                code: st_code.clamp(0, 999) as u16,
                text,
                last: final_ != 0,
            },
        );
    });
}

/// A SIP URI as text.
///
/// # Safety
/// `uri` must be null or a valid `pjsip_uri` alive for the call.
unsafe fn uri_text(uri: *const ffi::pjsip_uri) -> String {
    if uri.is_null() {
        return String::new();
    }
    // SAFETY: a valid URI has a virtual function table (what pjsip_uri_print, an inline
    // function bindgen cannot bind, calls).
    let Some(print) = (unsafe { (*uri).vptr.as_ref() }).and_then(|v| v.p_print) else {
        return String::new();
    };
    let mut buf = [0u8; 512];
    // SAFETY: the buffer is ours and its size is passed; uri is valid per the contract.
    let n = unsafe {
        print(
            ffi::PJSIP_URI_IN_REQ_URI,
            uri.cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return String::new();
    }
    String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]).into_owned()
}

unsafe extern "C" fn on_call_redirected(
    call_id: ffi::pjsua_call_id,
    target: *const ffi::pjsip_uri,
    _e: *const ffi::pjsip_event,
) -> ffi::pjsip_redirect_op {
    guarded("on_call_redirected", || {
        let Some(shared) = shared() else { return };
        // SAFETY: target is the redirection target PJSUA passes, valid for the callback.
        let target = unsafe { uri_text(target) };
        send_event(
            &shared,
            Event::Redirected {
                call: CallId(call_id),
                target,
            },
        );
    });
    // MicroSIP follows every 3xx, replacing the To header with the new target.
    ffi::PJSIP_REDIRECT_ACCEPT_REPLACE
}

#[allow(clippy::too_many_arguments)] // PJSUA's signature
unsafe extern "C" fn on_pager2(
    call_id: ffi::pjsua_call_id,
    from: *const ffi::pj_str_t,
    to: *const ffi::pj_str_t,
    _contact: *const ffi::pj_str_t,
    mime_type: *const ffi::pj_str_t,
    body: *const ffi::pj_str_t,
    _rdata: *mut ffi::pjsip_rx_data,
    acc_id: ffi::pjsua_acc_id,
) {
    guarded("on_pager2", || {
        let Some(shared) = shared() else { return };
        // SAFETY: PJSUA passes strings valid for the callback (or null).
        let text = |s: *const ffi::pj_str_t| unsafe { s.as_ref() }.map(pj_to_string);
        let from = text(from).unwrap_or_default();
        if !shared.messaging {
            log::debug!("disableMessaging=1: a MESSAGE from {from:?} is not shown");
            return;
        }
        let content_type = text(mime_type).unwrap_or_default();
        if !content_type.eq_ignore_ascii_case("text/plain") {
            log::debug!("a MESSAGE from {from:?} with content type {content_type:?} is not shown (only text/plain)");
            return;
        }
        send_event(
            &shared,
            Event::Message {
                account: AccountId(acc_id),
                call: (call_id >= 0).then_some(CallId(call_id)),
                from,
                to: text(to).unwrap_or_default(),
                content_type,
                body: text(body).unwrap_or_default(),
            },
        );
    });
}

/// What an `application/simple-message-summary` body (RFC 3842) says: messages waiting, and
/// the new and old voice messages (`Voice-Message: 2/8 (0/2)`, 0 when absent).
pub fn parse_message_summary(body: &str) -> (bool, u32, u32) {
    let mut waiting = false;
    let (mut new, mut old) = (0, 0);
    for line in body.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.trim().eq_ignore_ascii_case("Messages-Waiting") {
            waiting = value.eq_ignore_ascii_case("yes");
        } else if key.trim().eq_ignore_ascii_case("Voice-Message") {
            let counts = value.split_whitespace().next().unwrap_or_default();
            if let Some((n, o)) = counts.split_once('/') {
                new = n.trim().parse().unwrap_or(0);
                old = o.trim().parse().unwrap_or(0);
            }
        }
    }
    (waiting, new, old)
}

/// The body of `rdata` if its content type is `application/simple-message-summary`.
///
/// # Safety
/// `rdata` must be null or a live `pjsip_rx_data`.
unsafe fn message_summary_body(rdata: *const ffi::pjsip_rx_data) -> Option<String> {
    // SAFETY: rdata is live per the contract; its message and body (checked for null) belong
    // to it.
    let body = unsafe { rdata.as_ref()?.msg_info.msg.as_ref()?.body.as_ref()? };
    let kind = pj_to_string(&body.content_type.type_);
    let sub = pj_to_string(&body.content_type.subtype);
    if !kind.eq_ignore_ascii_case("application")
        || !sub.eq_ignore_ascii_case("simple-message-summary")
        || body.data.is_null()
    {
        return None;
    }
    // SAFETY: data points at len bytes of the received packet.
    let bytes = unsafe { std::slice::from_raw_parts(body.data as *const u8, body.len as usize) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

unsafe extern "C" fn on_mwi_info(acc_id: ffi::pjsua_acc_id, mwi_info: *mut ffi::pjsua_mwi_info) {
    guarded("on_mwi_info", || {
        let Some(shared) = shared() else { return };
        // SAFETY: mwi_info and its NOTIFY are valid for the callback.
        let Some(body) = (unsafe { mwi_info.as_ref() })
            .and_then(|info| unsafe { message_summary_body(info.rdata) })
        else {
            log::debug!("a message-summary NOTIFY without an application/simple-message-summary body is ignored");
            return;
        };
        let (waiting, new, old) = parse_message_summary(&body);
        send_event(
            &shared,
            Event::Mwi {
                account: AccountId(acc_id),
                waiting,
                new,
                old,
            },
        );
    });
}

/// MicroSIP's `enableLog=1` file, written here (not by PJSUA) so that what a caller sent is
/// escaped in it as on stderr.
static PJSIP_LOG_FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// The PJSIP level up to which messages also go to the `log` facade (PJSUA's
/// `console_level` is raised to the file's level when there is a file).
static FACADE_LEVEL: AtomicI32 = AtomicI32::new(0);

/// Where PJSIP's log goes: messages up to `facade_level` to the `log` facade, every message
/// PJSUA passes on to `file` as well.
pub(super) fn set_pjsip_log(file: Option<std::fs::File>, facade_level: i32) {
    *PJSIP_LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = file;
    FACADE_LEVEL.store(facade_level, Ordering::Relaxed);
}

/// PJSIP's log output, routed to the `log` facade under the target `pjsip`, and to the
/// `enableLog` file.
pub(super) unsafe extern "C" fn on_log(level: c_int, data: *const c_char, len: c_int) {
    guarded("log", || {
        if data.is_null() || len <= 0 {
            return;
        }
        // SAFETY: PJSIP passes a buffer of `len` bytes (NUL-terminated as well).
        let bytes = unsafe { CStr::from_ptr(data) }.to_bytes();
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(len as usize)]);
        if let Some(file) = PJSIP_LOG_FILE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            // PJSIP's own line (its time and sender kept), escaped like stderr's: the lines
            // of a SIP message dump are indented, control characters spelled out.
            let mut entry = crate::logging::one_entry(text.trim_end(), true);
            entry.push('\n');
            let _ = file.write_all(entry.as_bytes());
        }
        if level > FACADE_LEVEL.load(Ordering::Relaxed) {
            return;
        }
        let (lvl, text) = crate::logging::pjsip_record(level, &text);
        log::log!(target: "pjsip", lvl, "{text}");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_is_refused_before_the_call_is_connected() {
        assert!(refuse_transfer(false, "<sip:300@pbx>", std::iter::empty()));
        assert!(!refuse_transfer(true, "<sip:300@pbx>", std::iter::empty()));
    }

    #[test]
    fn a_transfer_to_a_party_already_in_a_call_is_refused() {
        let remotes = ["\"Bob\" <sip:300@PBX:5060>", "<sip:sipp@127.0.0.1:5070>"];
        assert!(refuse_transfer(true, "<sip:300@pbx>", remotes.into_iter()));
        assert!(refuse_transfer(
            true,
            "sip:sipp@127.0.0.1",
            remotes.into_iter()
        ));
        assert!(!refuse_transfer(true, "<sip:301@pbx>", remotes.into_iter()));
        assert!(!refuse_transfer(
            true,
            "<sip:300@other>",
            remotes.into_iter()
        ));
    }

    #[test]
    fn message_summary_bodies() {
        let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vm\r\n\
                    Voice-Message: 2/8 (0/2)\r\n";
        assert_eq!(parse_message_summary(body), (true, 2, 8));
        assert_eq!(
            parse_message_summary("messages-waiting:no\n"),
            (false, 0, 0)
        );
        assert_eq!(parse_message_summary("Messages-Waiting: yes"), (true, 0, 0));
        assert_eq!(
            parse_message_summary("garbage\nVoice-Message: x/y"),
            (false, 0, 0)
        );
    }
}
#[cfg(test)]
mod dtmf_tests {
    use super::*;

    const START: u32 = 0;
    const UPDATE: u32 = ffi::PJMEDIA_STREAM_DTMF_IS_UPDATE;
    const END: u32 = ffi::PJMEDIA_STREAM_DTMF_IS_END | ffi::PJMEDIA_STREAM_DTMF_IS_UPDATE;

    #[test]
    fn a_digit_is_reported_once_at_its_end_with_its_duration() {
        let mut t = DtmfTracker::default();
        assert!(t.on_event(0, '5', 1000, START, 0).is_empty());
        assert!(t.on_event(0, '5', 1000, UPDATE, 60).is_empty());
        assert_eq!(
            t.on_event(0, '5', 1000, END, 160),
            vec![(0, '5', Some(160))]
        );
        // A digit whose first packet is already its end (and SIP INFO, which has one event).
        assert_eq!(
            t.on_event(1, '#', 7, ffi::PJMEDIA_STREAM_DTMF_IS_END, 250),
            vec![(1, '#', Some(250))]
        );
        assert_eq!(
            t.on_event(1, '1', 8, END, UNKNOWN_DTMF_DURATION),
            vec![(1, '1', None)]
        );
    }

    #[test]
    fn a_digit_whose_end_was_lost_comes_with_the_next_one_or_the_hang_up() {
        let mut t = DtmfTracker::default();
        t.on_event(0, '1', 100, START, 0);
        assert_eq!(t.on_event(0, '2', 900, START, 0), vec![(0, '1', None)]);
        assert_eq!(t.on_call_end(0), Some((0, '2', None)));
        assert_eq!(t.on_call_end(0), None);
        // Calls do not mix.
        t.on_event(0, '3', 5, START, 0);
        t.on_event(1, '4', 5, START, 0);
        assert_eq!(t.on_event(1, '4', 5, END, 100), vec![(1, '4', Some(100))]);
        assert_eq!(t.on_event(0, '3', 5, END, 120), vec![(0, '3', Some(120))]);
    }
}
