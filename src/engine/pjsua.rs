//! The pjsua engine: the one place that owns PJSUA's process-wide instance.
//!
//! `Engine::start` creates and configures PJSUA, adds transports and accounts, and starts a
//! Rust-owned thread that polls PJSIP's ioqueue with long timeouts (PJSUA's own worker threads
//! wake up every 10 ms; ours sleep until a packet arrives or PJSIP's next timer is due). Events
//! come out of the callbacks in `callbacks.rs` on a crossbeam channel. `Engine::shutdown` (or
//! drop) ends calls, un-REGISTERs and destroys PJSUA; a new `start` works afterwards.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_long, CStr, CString};
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver};

use super::callbacks;
use super::media::MediaSupervisor;
use super::types::*;
use crate::ffi;

/// Set while a PJSUA instance exists in this process.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Longest time the poll thread sleeps when nothing happens (PJSIP's timers shorten it). A
/// timer scheduled from another thread (the engine's owner, the network watcher) does not
/// shorten a sleep already begun: those threads wake the poll with a [`Waker`] after calls
/// that may schedule one. This bound only limits the harm of a wake-up forgotten somewhere,
/// and keeps an idle phone at one wake-up in 10 s.
const MAX_POLL_MS: u32 = 10_000;

const PJ_OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;

/// A `pj_str_t` that borrows `s` (PJSUA copies what it keeps, so the borrow only has to last
/// for the call it is passed to).
pub(super) fn pj_str_ref(s: &str) -> ffi::pj_str_t {
    ffi::pj_str_t {
        ptr: s.as_ptr() as *mut c_char,
        slen: s.len() as ffi::pj_ssize_t,
    }
}

/// Copies a `pj_str_t` into a Rust string (it is not NUL-terminated: read by `slen`).
pub(super) fn pj_to_string(s: &ffi::pj_str_t) -> String {
    if s.ptr.is_null() || s.slen <= 0 {
        return String::new();
    }
    // SAFETY: PJSIP guarantees `ptr` points at `slen` readable bytes while the owner lives;
    // callers only pass strings of structures that are alive during the call.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr as *const u8, s.slen as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// PJSIP's text for a status code.
pub(super) fn status_text(status: ffi::pj_status_t) -> String {
    let mut buf = [0 as c_char; 160];
    // SAFETY: the buffer is ours and its size is passed; pj_strerror NUL-terminates it.
    let s = unsafe { ffi::pj_strerror(status, buf.as_mut_ptr(), buf.len()) };
    pj_to_string(&s)
}

/// The one choke point turning a `pj_status_t` into our error type.
pub(super) fn check(op: &'static str, status: ffi::pj_status_t) -> Result<()> {
    if status == PJ_OK {
        Ok(())
    } else {
        Err(Error::Pj {
            op,
            status,
            message: status_text(status),
        })
    }
}

fn cstring(what: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument {
        what,
        reason: "it contains a NUL byte".into(),
    })
}

pub(super) fn media_state(s: ffi::pjsua_call_media_status) -> MediaState {
    match s {
        ffi::PJSUA_CALL_MEDIA_ACTIVE => MediaState::Active,
        ffi::PJSUA_CALL_MEDIA_LOCAL_HOLD => MediaState::LocalHold,
        ffi::PJSUA_CALL_MEDIA_REMOTE_HOLD => MediaState::RemoteHold,
        ffi::PJSUA_CALL_MEDIA_ERROR => MediaState::Error,
        _ => MediaState::None,
    }
}

fn call_state(s: ffi::pjsip_inv_state) -> CallState {
    match s {
        ffi::PJSIP_INV_STATE_CALLING => CallState::Calling,
        ffi::PJSIP_INV_STATE_INCOMING => CallState::Incoming,
        ffi::PJSIP_INV_STATE_EARLY => CallState::Early,
        ffi::PJSIP_INV_STATE_CONNECTING => CallState::Connecting,
        ffi::PJSIP_INV_STATE_CONFIRMED => CallState::Confirmed,
        ffi::PJSIP_INV_STATE_DISCONNECTED => CallState::Disconnected,
        _ => CallState::Null,
    }
}

/// A snapshot of a call, or `None` when it does not exist.
pub(super) fn call_info(call: ffi::pjsua_call_id) -> Option<CallInfo> {
    let mut ci = ffi::pjsua_call_info::default();
    // SAFETY: ci is ours and fully written by PJSUA on success.
    if unsafe { ffi::pjsua_call_get_info(call, &mut ci) } != PJ_OK {
        return None;
    }
    Some(CallInfo {
        call: CallId(call),
        account: AccountId(ci.acc_id),
        role: if ci.role == ffi::PJSIP_ROLE_UAC {
            Role::Caller
        } else {
            Role::Callee
        },
        state: call_state(ci.state),
        media: media_state(ci.media_status),
        remote: pj_to_string(&ci.remote_info),
        local: pj_to_string(&ci.local_info),
        sip_call_id: pj_to_string(&ci.call_id),
        last_status: ci.last_status as u16,
        last_reason: pj_to_string(&ci.last_status_text),
    })
}

/// Snapshots of every call in PJSUA's table.
pub(super) fn all_calls() -> Vec<CallInfo> {
    calls_but(None)
}

/// Snapshots of every call in PJSUA's table but `skip` (not read at all).
pub(super) fn calls_but(skip: Option<ffi::pjsua_call_id>) -> Vec<CallInfo> {
    let mut ids = vec![0 as ffi::pjsua_call_id; ffi::PJSUA_MAX_CALLS as usize];
    let mut count = ids.len() as u32;
    // SAFETY: ids has room for `count` entries.
    if unsafe { ffi::pjsua_enum_calls(ids.as_mut_ptr(), &mut count) } != PJ_OK {
        return Vec::new();
    }
    ids.truncate(count as usize);
    ids.into_iter()
        .filter(|id| Some(*id) != skip)
        .filter_map(call_info)
        .collect()
}

/// Ends `call` with `code`, with MicroSIP 3.22.16's `Reason: SIP ;cause=<code> ;text="…"`
/// header when `text` is given (the status line keeps PJSIP's standard phrase). Returns PJSIP's
/// status.
pub(super) fn hangup_with_reason(
    call: ffi::pjsua_call_id,
    code: u16,
    text: Option<&str>,
) -> ffi::pj_status_t {
    let reason = text.map(|t| {
        (
            "Reason",
            format!("SIP ;cause={code} ;text=\"{}\"", t.replace('"', "'")),
        )
    });
    hangup_with_headers(call, code, reason.as_slice())
}

/// Ends `call` with `code` (PJSUA's rules: a final response when ringing in, CANCEL or BYE
/// otherwise), adding `headers` (name, value) to the request or response. Returns PJSIP's
/// status.
pub(super) fn hangup_with_headers(
    call: ffi::pjsua_call_id,
    code: u16,
    headers: &[(&str, String)],
) -> ffi::pj_status_t {
    with_msg_data(headers, None, |msg| {
        // SAFETY: msg is valid for this call (see with_msg_data).
        unsafe { ffi::pjsua_call_hangup(call, u32::from(code), std::ptr::null(), msg) }
    })
}

/// Extra headers of an outgoing request: (name, value).
type ExtraHeaders = Vec<(&'static str, String)>;

/// Runs `f` with a `pjsua_msg_data` carrying `headers` (name, value) and, when given,
/// `local_uri` (the From of a new call or MESSAGE). The pointer is valid only inside `f`.
fn with_msg_data<R>(
    headers: &[(&str, String)],
    local_uri: Option<&str>,
    f: impl FnOnce(*const ffi::pjsua_msg_data) -> R,
) -> R {
    let strs: Vec<(ffi::pj_str_t, ffi::pj_str_t)> = headers
        .iter()
        .map(|(n, v)| (pj_str_ref(n), pj_str_ref(v)))
        .collect();
    // Filled before any is linked, and never resized after: the list points into it.
    let mut hdrs: Vec<ffi::pjsip_generic_string_hdr> =
        (0..strs.len()).map(|_| Default::default()).collect();
    let mut msg = ffi::pjsua_msg_data::default();
    // SAFETY: `msg`, `hdrs` and `strs` are ours and stay where they are until `f` returns
    // (init links msg's header list to itself; each header is linked into that list in
    // place). The headers point at `strs`, which point into `headers`, and `local_uri`
    // borrows the caller's string; all outlive `f`, and PJSUA copies what it sends.
    unsafe {
        ffi::pjsua_msg_data_init(&mut msg);
        if let Some(uri) = local_uri {
            msg.local_uri = pj_str_ref(uri);
        }
        for (hdr, (name, value)) in hdrs.iter_mut().zip(strs.iter()) {
            ffi::pjsip_generic_string_hdr_init2(
                hdr,
                (name as *const ffi::pj_str_t).cast_mut(),
                (value as *const ffi::pj_str_t).cast_mut(),
            );
            ffi::pj_list_insert_before(
                (&mut msg.hdr_list as *mut ffi::pjsip_hdr).cast(),
                (hdr as *mut ffi::pjsip_generic_string_hdr).cast(),
            );
        }
    }
    f(&msg)
}

/// pjlib's `PJ_EINVAL` (`PJ_ERRNO_START_STATUS + 4`; a macro, so not in the bindings).
const PJ_EINVAL: ffi::pj_status_t = 70_004;

/// Answers a ringing call with 302: `Contact: <target>`, and `Diversion: <our To URI>` (`to`
/// is the call's To header). Returns PJSIP's status; a target or To that cannot be a header
/// value (line breaks, NUL) is refused with `PJ_EINVAL`.
pub(super) fn forward_call(call: ffi::pjsua_call_id, target: &str, to: &str) -> ffi::pj_status_t {
    let contact = if target.starts_with('<') {
        target.to_string()
    } else {
        format!("<{target}>")
    };
    let headers = [
        ("Contact", contact),
        ("Diversion", format!("<{}>", bare_uri(to))),
    ];
    if headers.iter().any(|(n, v)| verify_header(n, v).is_err()) {
        return PJ_EINVAL;
    }
    hangup_with_headers(call, 302, &headers)
}

/// The URI of a header value: inside `<…>` when present, else up to the first `;`.
fn bare_uri(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(lt), Some(gt)) if gt > lt => &value[lt + 1..gt],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// PJSUA's syntax check of a SIP URI; the error quotes it.
fn verify_sip_uri(uri: &str) -> Result<()> {
    let target = cstring("SIP URI", uri)?;
    // SAFETY: target is a valid C string alive for the call.
    check("pjsua_verify_sip_url", unsafe {
        ffi::pjsua_verify_sip_url(target.as_ptr())
    })
    .map_err(|_| Error::InvalidArgument {
        what: "SIP URI",
        reason: format!("{uri:?} is not a valid SIP URI"),
    })
}

/// Refuses a header that would break the message: CR, LF or NUL in it, or an empty name.
fn verify_header(name: &str, value: &str) -> Result<()> {
    let bad = |t: &str| t.contains(['\r', '\n', '\0']);
    if name.is_empty() || bad(name) || bad(value) || name.contains(':') {
        return Err(Error::InvalidArgument {
            what: "SIP header",
            reason: format!(
                "{name:?}: {value:?} cannot be sent (line breaks, NUL or ':' in the name)"
            ),
        });
    }
    Ok(())
}

/// Proof that the current thread is known to pjlib. `!Send`: it belongs to its thread, and the
/// descriptor it owns stays put (boxed) until the registration ends on drop.
pub(super) struct PjThread {
    _desc: Box<ffi::pj_thread_desc>,
    _not_send: PhantomData<*const ()>,
}

impl PjThread {
    /// Registers the calling thread with pjlib under `name` (static, NUL-terminated).
    pub(super) fn register(name: &'static CStr) -> Result<PjThread> {
        let mut desc: Box<ffi::pj_thread_desc> = Box::new([0 as c_long; 64]);
        let mut thread: *mut ffi::pj_thread_t = std::ptr::null_mut();
        // SAFETY: the descriptor is heap-allocated and outlives the registration (it is freed
        // only after pj_thread_unregister in Drop); name is a static C string.
        let status =
            unsafe { ffi::pj_thread_register(name.as_ptr(), desc.as_mut_ptr(), &mut thread) };
        check("pj_thread_register", status)?;
        Ok(PjThread {
            _desc: desc,
            _not_send: PhantomData,
        })
    }
}

impl Drop for PjThread {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself in `register` and is still running.
        unsafe { ffi::pj_thread_unregister() };
    }
}

/// Wakes the poll thread so that it recomputes its sleep: a CRLF keep-alive sent to the SIP
/// UDP transport (PJSIP ignores such datagrams).
pub(super) struct Waker {
    sock: UdpSocket,
    to: SocketAddr,
}

impl Waker {
    fn new(to: SocketAddr) -> Option<Waker> {
        let sock = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).ok()?;
        Some(Waker { sock, to })
    }

    /// Lets the poll thread see a timer scheduled from this thread.
    pub(super) fn wake(&self) {
        let _ = self.sock.send_to(b"\r\n\r\n", self.to);
    }

    /// Another waker to the same poll, for another thread.
    pub(super) fn try_clone(&self) -> Option<Waker> {
        Some(Waker {
            sock: self.sock.try_clone().ok()?,
            to: self.to,
        })
    }
}

/// The thread that polls PJSIP's ioqueue and timers.
struct Poller {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    waker: Option<Waker>,
}

impl Poller {
    fn start(wake: SocketAddr) -> Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let handle = std::thread::Builder::new()
            .name("sip-poll".into())
            .spawn(move || {
                let _registration = match PjThread::register(c"sip-poll") {
                    Ok(r) => {
                        let _ = ready_tx.send(None);
                        r
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Some(e));
                        return;
                    }
                };
                while !flag.load(Ordering::Acquire) {
                    // SAFETY: this thread is registered; PJSUA is alive until the flag is set
                    // and this thread joined.
                    unsafe { ffi::pjsua_handle_events(MAX_POLL_MS) };
                }
            })
            .map_err(|e| Error::Pj {
                op: "spawn the SIP poll thread",
                status: -1,
                message: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(None) => Ok(Poller {
                stop,
                handle,
                waker: Waker::new(wake),
            }),
            Ok(Some(e)) => Err(e),
            Err(_) => Err(Error::Pj {
                op: "start the SIP poll thread",
                status: -1,
                message: "it exited".into(),
            }),
        }
    }

    /// Lets the poll thread recompute its sleep (after a timer was scheduled from elsewhere).
    fn kick(&self) {
        if let Some(w) = &self.waker {
            w.wake();
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.kick();
        let _ = self.handle.join();
    }
}

/// Where PJSUA put things at start-up.
#[derive(Debug, Clone, Copy)]
pub struct EngineInfo {
    /// The SIP UDP address (bound and advertised).
    pub sip_addr: SocketAddr,
    /// The SIP TCP listener, when it could be opened.
    pub tcp_addr: Option<SocketAddr>,
    /// The SIP TLS listener, when it could be opened.
    pub tls_addr: Option<SocketAddr>,
    /// MicroSIP's local "call by IP" account, when it runs.
    pub local_account: Option<AccountId>,
    /// The SIP account, when one runs.
    pub account: Option<AccountId>,
}

/// The running PJSUA instance. One per process; owned by the thread that started it (`!Send`):
/// other threads talk to it through that thread.
pub struct Engine {
    poller: Option<Poller>,
    media: Option<MediaSupervisor>,
    /// Changes when the SIP account is switched ([`Engine::switch_account`]).
    info: Cell<EngineInfo>,
    /// Per account: the From and `Privacy: id` of outgoing calls and messages (`hideCID`).
    outgoing: RefCell<HashMap<AccountId, (Option<String>, bool)>>,
    /// The SIP UDP transport, and the settings accounts are added with.
    udp: ffi::pjsua_transport_id,
    /// Prompts played into calls and in-band DTMF listeners.
    taps: RefCell<super::prompt::Taps>,
    /// Answers requests no other module handles; kept until PJSUA is destroyed.
    fallback: Option<super::fallback::Fallback>,
    admission: Option<super::admission::Admission>,
    /// Follows the machine's address changes (MicroSIP's `networkChanges`).
    netwatch: Option<super::netwatch::NetWatch>,
    /// The SIP account's `publicAddr`, checked again on network changes.
    public_addr: super::netwatch::PublicAddrSlot,
    settings: Option<EngineSettings>,
    _registration: Option<PjThread>,
    _not_send: PhantomData<*const ()>,
}

impl Engine {
    /// Starts PJSUA with `settings`; events arrive on the returned channel.
    pub fn start(settings: EngineSettings) -> Result<(Engine, Receiver<Event>)> {
        if RUNNING.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyRunning);
        }
        let (tx, rx) = unbounded();
        let (media_tx, media_rx) = unbounded();
        callbacks::install(callbacks::Shared {
            events: tx,
            incoming: settings.incoming.clone(),
            media_changed: media_tx,
            force_codec: settings.force_codec,
            answered: Default::default(),
            messaging: settings.messaging,
            dtmf: Default::default(),
        });
        // pjlib logs from pjsua_create on, before pjsua_init installs the configured writer.
        // SAFETY: plain setters of pjlib's static log state; usable before pj_init.
        unsafe {
            ffi::pj_log_set_log_func(Some(callbacks::on_log));
            ffi::pj_log_set_level(settings.pjsip_log_level as i32);
        }
        // SAFETY: no PJSUA instance exists (RUNNING was false).
        if let Err(e) = check("pjsua_create", unsafe { ffi::pjsua_create() }) {
            callbacks::clear();
            RUNNING.store(false, Ordering::Release);
            return Err(e);
        }
        let mut engine = Engine {
            poller: None,
            media: None,
            info: Cell::new(EngineInfo {
                sip_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                tcp_addr: None,
                tls_addr: None,
                local_account: None,
                account: None,
            }),
            outgoing: Default::default(),
            udp: -1,
            taps: Default::default(),
            fallback: None,
            admission: None,
            netwatch: None,
            public_addr: Default::default(),
            settings: None,
            _registration: None,
            _not_send: PhantomData,
        };
        // From here on, dropping `engine` destroys PJSUA and resets RUNNING.
        engine.init(&settings, media_rx)?;
        Ok((engine, rx))
    }

    fn init(&mut self, s: &EngineSettings, media_rx: Receiver<()>) -> Result<()> {
        let ua = cstring("user agent", &s.user_agent)?;
        // MicroSIP's enableLog=1: the PJSIP log at level 5, in a file we write ourselves
        // (escaped, see callbacks::on_log).
        let log_file = s.log_file.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| log::warn!("enableLog=1: cannot write {}: {e}", p.display()))
                .ok()
        });

        let mut cfg = ffi::pjsua_config::default();
        let mut log_cfg = ffi::pjsua_logging_config::default();
        let mut med = ffi::pjsua_media_config::default();
        // SAFETY: the structures are ours; the *_default functions only write them.
        unsafe {
            ffi::pjsua_config_default(&mut cfg);
            ffi::pjsua_logging_config_default(&mut log_cfg);
            ffi::pjsua_media_config_default(&mut med);
        }
        cfg.max_calls = s.max_calls;
        // MicroSIP: SRTP whatever the SIP transport (PJSUA's default wants TLS for SDES).
        cfg.srtp_secure_signaling = 0;
        // MicroSIP's STUN (tried in order; a failing server does not stop the phone) and DNS
        // servers for SRV lookups.
        let stun: Vec<CString> = s
            .stun
            .iter()
            .take(cfg.stun_srv.len())
            .map(|v| cstring("STUN server", v))
            .collect::<Result<_>>()?;
        for (slot, v) in cfg.stun_srv.iter_mut().zip(&stun) {
            *slot = pj_str_ref(v.to_str().unwrap_or_default());
        }
        cfg.stun_srv_cnt = stun.len() as u32;
        let dns: Vec<CString> = s
            .nameservers
            .iter()
            .take(cfg.nameserver.len())
            .map(|v| cstring("DNS server", v))
            .collect::<Result<_>>()?;
        for (slot, v) in cfg.nameserver.iter_mut().zip(&dns) {
            *slot = pj_str_ref(v.to_str().unwrap_or_default());
        }
        cfg.nameserver_count = dns.len() as u32;
        // MicroSIP's rport=0: no ;rport in our Via. pjsip_cfg() is an inline accessor of
        // this global.
        // SAFETY: PJSIP reads this process-wide setting when it builds a Via; nothing else
        // writes it, and no SIP thread runs before pjsua_init.
        unsafe {
            (*std::ptr::addr_of_mut!(ffi::pjsip_sip_cfg_var))
                .endpt
                .disable_rport =
                if s.rport { ffi::PJ_FALSE } else { ffi::PJ_TRUE } as ffi::pj_bool_t;
        }
        cfg.thread_cnt = 0; // we poll ourselves, with long timeouts
        cfg.user_agent = pj_str_ref(ua.to_str().unwrap_or_default());
        callbacks::register(&mut cfg.cb);
        cfg.cb.on_transport_state = Some(super::transport::on_transport_state);

        log_cfg.cb = Some(callbacks::on_log);
        log_cfg.console_level = s.pjsip_log_level;
        log_cfg.msg_logging = ffi::PJ_TRUE as i32;
        log_cfg.level = s.pjsip_log_level;
        if log_file.is_some() {
            // MicroSIP: enableLog=1 writes the PJSIP log at level 5 to <exe>_log.txt. PJSUA
            // passes its callback only what is within console_level.
            log_cfg.level = log_cfg.level.max(5);
            log_cfg.console_level = log_cfg.level;
        }
        callbacks::set_pjsip_log(log_file, s.pjsip_log_level as i32);
        log_cfg.decor |= ffi::PJ_LOG_HAS_CR;

        med.has_ioqueue = ffi::PJ_FALSE as i32; // media sockets share our polled ioqueue
        med.thread_cnt = 0;
        med.no_vad = if s.vad { ffi::PJ_FALSE } else { ffi::PJ_TRUE } as i32;
        med.clock_rate = media_clock_rate(&s.codecs);
        med.snd_clock_rate = med.clock_rate;
        // Always mono, where MicroSIP's rule (reference §10) makes the bridge stereo with
        // opusStereo, or with a 2-channel codec and EC off: our sound path is mono, so a
        // stereo bridge would only be mixed down again, and PJSIP 2.17's stereo bridge
        // corrupts its heap when a call receives malformed RTP (reproduced with random packets
        // at the RTP port). Stereo codecs still run in stereo on the wire; the bridge mixes
        // them to mono.
        med.channel_count = 1;
        // PJSUA's own echo canceller only runs with its sound device, which we do not use;
        // EC=1 is applied to our device port instead (media.rs).
        med.ec_tail_len = 0;
        // The bridge ticks every 10 ms (the codecs keep their own 20 ms ptime on the wire):
        // each ring between the bridge and the sound device then holds half as much.
        med.audio_frame_ptime = 10;

        // SAFETY: all strings referenced by the configs live until this call returns; PJSUA
        // copies them.
        check("pjsua_init", unsafe {
            ffi::pjsua_init(&cfg, &log_cfg, &med)
        })?;
        self.fallback = Some(super::fallback::Fallback::register()?);
        self.admission = super::admission::Admission::register(s.invite_burst)?;

        // An unspecified --bind (0.0.0.0, ::) is every address: nothing to bind or advertise.
        let bind = bound_ip(s).map(|a| a.to_string()).unwrap_or_default();
        // With STUN, the address to advertise is the one STUN finds, not the bound one.
        let advertise = s.stun.is_empty();
        // An IPv6 --bind: IPv6 transports (PJSIP has one transport type per family).
        let v6 = s.bind.is_some_and(|b| b.is_ipv6());
        let (udp, sip_addr) = create_udp(&bind, advertise, s.sip_port, v6)?;
        self.udp = udp;
        self.settings = Some(s.clone());
        self.update_info(|i| i.sip_addr = sip_addr);
        let local_udp = match s.local_port {
            Some(port) if port != sip_addr.port() => match create_udp(&bind, advertise, port, v6) {
                Ok(v) => Some(v),
                Err(e) => {
                    log::warn!(
                        "local account: cannot open UDP port {port} ({e}); it shares port {}",
                        sip_addr.port()
                    );
                    None
                }
            },
            _ => None,
        };

        // MicroSIP opens TCP and TLS too, whatever the account uses: calls may come in on them,
        // and `;transport=tcp|tls` targets go out on them.
        let tcp = open_with_fallback(
            if v6 {
                ffi::PJSIP_TRANSPORT_TCP6
            } else {
                ffi::PJSIP_TRANSPORT_TCP
            },
            (&bind, advertise),
            s.tcp_port,
            "TCP",
            None,
        );
        self.update_info(|i| i.tcp_addr = tcp.map(|(_, a)| a));
        let open_tls = |engine: &Engine| {
            let tls = open_with_fallback(
                if v6 {
                    ffi::PJSIP_TRANSPORT_TLS6
                } else {
                    ffi::PJSIP_TRANSPORT_TLS
                },
                (&bind, advertise),
                s.tls_port,
                "TLS",
                Some(&s.tls),
            );
            engine.update_info(|i| i.tls_addr = tls.map(|(_, a)| a));
        };
        // The TLS listener starts OpenSSL (tens of ms): an account that does not need it
        // sends its REGISTER first, and the listener opens while the answer comes.
        let tls_later = s
            .account
            .as_ref()
            .is_none_or(|a| matches!(a.transport, TransportKind::Udp | TransportKind::Tcp));
        if !tls_later {
            open_tls(self);
        }

        set_codec_priorities(&s.codecs)?;
        if s.opus_stereo {
            set_opus_stereo();
        }

        // SAFETY: PJSUA is initialised and has transports.
        check("pjsua_start", unsafe { ffi::pjsua_start() })?;

        self.media = Some(MediaSupervisor::start(
            media_rx,
            s.echo_canceller && !s.opus_stereo,
        )?);

        // The accounts come before the poll thread: an INVITE that arrives in between would
        // find none and be refused (a caller who dials the moment the phone starts).
        if s.local_account {
            // MicroSIP's local "call by IP" account: no registrar, bound to its UDP transport,
            // one priority below the SIP account.
            let (tp, addr) = local_udp.unwrap_or((udp, sip_addr));
            let local = AccountSettings {
                id_uri: format!("<sip:{addr}>"),
                transport: TransportKind::Udp,
                register_refresh: 300,
                keep_alive: 15,
                register_retry: 300,
                ..AccountSettings::default()
            };
            let id = add_account(&local, tp, s, -1, s.account.is_none(), false)?;
            self.update_info(|i| i.local_account = Some(id));
        }
        if let Some(a) = &s.account {
            self.add_sip_account(a)?;
        }
        // The poll thread is woken by a datagram to our own UDP socket: its bound address and
        // port (the advertised ones may be a NAT's, found by STUN).
        let wake = SocketAddr::new(
            bound_ip(s).unwrap_or(if v6 {
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::from([127, 0, 0, 1])
            }),
            bound_port(udp).unwrap_or(sip_addr.port()),
        );
        self.poller = Some(Poller::start(wake)?);
        if tls_later {
            open_tls(self);
        }
        if s.network_changes {
            match super::netwatch::NetWatch::start(
                s.port_knock.clone(),
                self.public_addr.clone(),
                self.poller
                    .as_ref()
                    .and_then(|p| p.waker.as_ref()?.try_clone()),
            ) {
                Ok(w) => self.netwatch = Some(w),
                Err(e) => log::warn!("networkChanges: address changes are not followed: {e}"),
            }
        }
        Ok(())
    }

    /// Where the engine listens and which accounts it added.
    pub fn info(&self) -> EngineInfo {
        self.info.get()
    }

    fn update_info(&self, change: impl FnOnce(&mut EngineInfo)) {
        let mut info = self.info.get();
        change(&mut info);
        self.info.set(info);
    }

    fn add_sip_account(&self, a: &AccountSettings) -> Result<AccountId> {
        let Some(s) = self.settings.as_ref() else {
            return Err(Error::InvalidArgument {
                what: "account",
                reason: "the engine is not running".into(),
            });
        };
        let missing = match a.transport {
            TransportKind::Tcp => self.info().tcp_addr.is_none().then_some("TCP"),
            TransportKind::Tls => self.info().tls_addr.is_none().then_some("TLS"),
            _ => None,
        };
        if let Some(name) = missing {
            return Err(Error::InvalidArgument {
                what: "account transport",
                reason: format!(
                    "the account uses {name}, but the SIP {name} transport could not be opened (see the warning above)"
                ),
            });
        }
        if let (Some(k), Some(_)) = (&s.port_knock, &a.registrar) {
            // MicroSIP knocks before it registers.
            super::netwatch::knock(k);
        }
        let id = add_account(a, self.udp, s, 0, true, true)?;
        super::netwatch::set_fixed_contact_account(
            (a.registrar.is_some() && !a.allow_rewrite).then_some(id.0),
        );
        *self.public_addr.lock().unwrap_or_else(|e| e.into_inner()) =
            a.public_addr
                .as_ref()
                .map(|configured| super::netwatch::PublicAddr {
                    account: id.0,
                    configured: configured.clone(),
                    advertised: super::types::public_addr(
                        configured,
                        &super::transport::local_ipv4_addrs(),
                    ),
                });
        self.update_info(|i| i.account = Some(id));
        self.outgoing
            .borrow_mut()
            .insert(id, (a.outgoing_from.clone(), a.privacy));
        Ok(id)
    }

    /// MicroSIP's account switch without a restart: the SIP account un-REGISTERs and goes
    /// (its own calls end first), then `account` (when given) is added and registers. The
    /// local account and its calls stay; with `local` it is added (on the SIP UDP port) when
    /// it does not run yet. Returns the new account's id.
    pub fn switch_account(
        &self,
        account: Option<&AccountSettings>,
        local: bool,
    ) -> Result<Option<AccountId>> {
        if let Some(old) = self.info().account {
            for call in self.calls().iter().filter(|c| c.account == old) {
                log::info!("call {}: ended: its account is switched off", call.call);
                let _ = self.hangup(call.call, 0, None);
            }
            *self.public_addr.lock().unwrap_or_else(|e| e.into_inner()) = None;
            super::netwatch::set_fixed_contact_account(None);
            // SAFETY: `old` is an account we added; PJSUA un-REGISTERs it as it goes.
            let status = unsafe { ffi::pjsua_acc_del(old.0) };
            self.outgoing.borrow_mut().remove(&old);
            self.update_info(|i| i.account = None);
            check("pjsua_acc_del", status)?;
        }
        if local && self.info().local_account.is_none() {
            let info = self.info();
            let local = AccountSettings {
                id_uri: format!("<sip:{}>", info.sip_addr),
                transport: TransportKind::Udp,
                register_refresh: 300,
                keep_alive: 15,
                register_retry: 300,
                ..AccountSettings::default()
            };
            if let Some(s) = self.settings.as_ref() {
                let id = add_account(&local, self.udp, s, -1, account.is_none(), false)?;
                self.update_info(|i| i.local_account = Some(id));
            }
        }
        let id = account.map(|a| self.add_sip_account(a)).transpose()?;
        self.kick();
        Ok(id)
    }

    /// Places a call to `uri` (a full SIP URI; `?header=value` parts become INVITE headers).
    pub fn make_call(&self, account: AccountId, uri: &str) -> Result<CallId> {
        verify_sip_uri(uri)?;
        let dst = pj_str_ref(uri);
        let mut id: ffi::pjsua_call_id = -1;
        let (from, headers) = self.outgoing_identity(account)?;
        let status = with_msg_data(&headers, from.as_deref(), |msg| {
            // SAFETY: dst borrows `uri` and msg is valid for the call; PJSUA copies both.
            // Default call settings.
            unsafe {
                ffi::pjsua_call_make_call(
                    account.0,
                    &dst,
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    msg,
                    &mut id,
                )
            }
        });
        check("pjsua_call_make_call", status)?;
        self.kick();
        Ok(CallId(id))
    }

    /// The From (when not the account's id) and extra headers of a new call or MESSAGE
    /// from `account`: MicroSIP's `hideCID`.
    fn outgoing_identity(&self, account: AccountId) -> Result<(Option<String>, ExtraHeaders)> {
        let outgoing = self.outgoing.borrow();
        let Some((from, privacy)) = outgoing.get(&account) else {
            return Ok((None, Vec::new()));
        };
        if let Some(f) = from {
            verify_header("From", f)?;
        }
        let headers = if *privacy {
            vec![("Privacy", "id".to_string())]
        } else {
            Vec::new()
        };
        Ok((from.clone(), headers))
    }

    /// Answers a ringing incoming call with `code` (200 to accept, 180/183 provisional, or a
    /// final error code such as 486 or 603).
    pub fn answer(&self, call: CallId, code: u16) -> Result<()> {
        self.require(call)?;
        // SAFETY: the call exists (checked above; PJSUA re-checks under its lock).
        let status = unsafe {
            ffi::pjsua_call_answer(call.0, u32::from(code), std::ptr::null(), std::ptr::null())
        };
        check("pjsua_call_answer", status)?;
        // MicroSIP ignores the Call-ID of a call answered or declined (486) from then on.
        if (200..300).contains(&code) || code == 486 {
            if let Some(info) = call_info(call.0) {
                super::callbacks::remember_answered(&info.sip_call_id);
            }
        }
        // A 200 starts its retransmission timer on this thread: let the poll thread see it.
        self.kick();
        Ok(())
    }

    /// Ends a call: BYE when connected, CANCEL when ringing out, `code` (default 603) when
    /// ringing in. `code` 0 lets PJSIP choose.
    pub fn hangup(&self, call: CallId, code: u16, reason: Option<&str>) -> Result<()> {
        self.require(call)?;
        let reason_str = reason.map(pj_str_ref);
        let reason_ptr = reason_str
            .as_ref()
            .map_or(std::ptr::null(), |r| r as *const ffi::pj_str_t);
        // SAFETY: reason_str borrows `reason` for the call; PJSUA copies it.
        let status = unsafe {
            ffi::pjsua_call_hangup(call.0, u32::from(code), reason_ptr, std::ptr::null())
        };
        check("pjsua_call_hangup", status)?;
        self.kick();
        Ok(())
    }

    /// Forwards a ringing incoming call: 302 with `Contact: <target>` and a `Diversion`
    /// header naming the address it was sent to (our To URI), as MicroSIP does.
    pub fn forward(&self, call: CallId, target: &str) -> Result<()> {
        let info = self.call(call)?;
        check(
            "pjsua_call_hangup (302)",
            forward_call(call.0, target, &info.local),
        )?;
        self.kick();
        Ok(())
    }

    /// Ends a call as [`hangup`](Self::hangup) does, with extra `headers` (name, value) on the
    /// BYE, CANCEL or final response (e.g. MicroSIP's `Warning: 399 localhost "Call duration
    /// exceeded"`).
    pub fn hangup_with(&self, call: CallId, code: u16, headers: &[(&str, String)]) -> Result<()> {
        self.require(call)?;
        for (name, value) in headers {
            verify_header(name, value)?;
        }
        check(
            "pjsua_call_hangup",
            hangup_with_headers(call.0, code, headers),
        )?;
        self.kick();
        Ok(())
    }

    /// Ends every call.
    pub fn hangup_all(&self) {
        // SAFETY: PJSUA is running.
        unsafe { ffi::pjsua_call_hangup_all() };
        self.kick();
    }

    /// Sends DTMF digits on a call, as RFC 2833 events or SIP INFO.
    pub fn send_dtmf(&self, call: CallId, digits: &str, via: DtmfVia) -> Result<()> {
        self.require(call)?;
        if digits.is_empty()
            || !digits
                .chars()
                .all(|c| c.is_ascii_digit() || "*#ABCDabcd".contains(c))
        {
            return Err(Error::InvalidArgument {
                what: "DTMF digits",
                reason: format!("{digits:?}: use 0-9, *, #, A-D"),
            });
        }
        let method = match via {
            DtmfVia::Rfc2833 => ffi::PJSUA_DTMF_METHOD_RFC2833,
            DtmfVia::SipInfo => ffi::PJSUA_DTMF_METHOD_SIP_INFO,
            DtmfVia::InBand => {
                // Tones mixed into the call's audio (MicroSIP's DTMFMethod=1).
                // SAFETY: PJSUA checks the call id (checked above as well).
                let slot = unsafe { ffi::pjsua_call_get_conf_port(call.0) };
                let Some(media) = self.media.as_ref().filter(|_| slot >= 0) else {
                    return Err(Error::InvalidArgument {
                        what: "in-band DTMF",
                        reason: format!("call {call} has no audio"),
                    });
                };
                media.play_tones(super::media::ToneTarget::Call(slot), digits);
                return Ok(());
            }
        };
        let param = ffi::pjsua_call_send_dtmf_param {
            method,
            // MicroSIP's digit length (and its SIP INFO `Duration=160`).
            duration: 160,
            digits: pj_str_ref(digits),
        };
        // SAFETY: param borrows `digits` for the call; PJSUA copies what it keeps.
        check("pjsua_call_send_dtmf", unsafe {
            ffi::pjsua_call_send_dtmf(call.0, &param)
        })?;
        self.kick();
        Ok(())
    }

    /// Blind transfer: sends REFER with `Refer-To: target` on `call` (issue 5, `/transfer:`).
    pub fn transfer(&self, call: CallId, target: &str) -> Result<()> {
        self.require(call)?;
        cstring("transfer target", target)?;
        let dest = pj_str_ref(target);
        // SAFETY: dest borrows `target` for the call; PJSUA copies it into the REFER.
        check("pjsua_call_xfer", unsafe {
            ffi::pjsua_call_xfer(call.0, &dest, std::ptr::null())
        })?;
        self.kick();
        Ok(())
    }

    /// Attended transfer: asks the remote party of `call` (REFER) to call the remote party of
    /// `to`, replacing our call with it (`Refer-To: ...?Replaces=...`).
    pub fn transfer_replaces(&self, call: CallId, to: CallId) -> Result<()> {
        self.require(call)?;
        self.require(to)?;
        // SAFETY: both calls exist (PJSUA re-checks under its lock); no message data.
        check("pjsua_call_xfer_replaces", unsafe {
            ffi::pjsua_call_xfer_replaces(call.0, to.0, 0, std::ptr::null())
        })?;
        self.kick();
        Ok(())
    }

    /// Puts `call` on hold (re-INVITE with `sendonly`) or takes it off hold (issue 5,
    /// `msip:hold`).
    pub fn set_hold(&self, call: CallId, hold: bool) -> Result<()> {
        self.require(call)?;
        // SAFETY: the call exists; no message data.
        let status = unsafe {
            if hold {
                ffi::pjsua_call_set_hold(call.0, std::ptr::null())
            } else {
                ffi::pjsua_call_reinvite(call.0, ffi::PJSUA_CALL_UNHOLD, std::ptr::null())
            }
        };
        check(
            if hold {
                "pjsua_call_set_hold"
            } else {
                "pjsua_call_reinvite"
            },
            status,
        )?;
        self.kick();
        Ok(())
    }

    /// Merges `calls` into the local conference: every call hears every other (and the sound
    /// device, as before). Calls without audio are left out (logged; the caller merges them
    /// when their audio starts), calls that ended are skipped. `joined` says which calls an earlier merge already connected to each other:
    /// those pairs are not connected again, so a call joining a conference of N costs 2N
    /// connections, not N². Returns the calls that are in the conference now.
    pub fn conference(
        &self,
        calls: &[CallId],
        joined: &dyn Fn(CallId) -> bool,
    ) -> Result<Vec<CallId>> {
        let mut slots = Vec::new();
        let mut members = Vec::new();
        for call in calls {
            if self.require(*call).is_err() {
                // It ended while its events were on their way: its DISCONNECTED follows.
                continue;
            }
            // SAFETY: the call exists; PJSUA returns PJSUA_INVALID_ID when it has no audio.
            let slot = unsafe { ffi::pjsua_call_get_conf_port(call.0) };
            if slot < 0 {
                log::info!("call {call}: no audio yet; joins the conference when it starts");
            } else {
                slots.push((slot, joined(*call)));
                members.push(*call);
            }
        }
        for (i, (a, a_joined)) in slots.iter().enumerate() {
            for (b, b_joined) in &slots[i + 1..] {
                if *a_joined && *b_joined {
                    continue;
                }
                // SAFETY: both slots are live call ports; connecting twice is harmless.
                let status = unsafe {
                    ffi::pjsua_conf_connect(*a, *b);
                    ffi::pjsua_conf_connect(*b, *a)
                };
                check("pjsua_conf_connect", status)?;
            }
        }
        Ok(members)
    }

    /// Sends `text` as a SIP MESSAGE (`text/plain`) to `to`, a SIP URI, from `account`
    /// (issue 5, `number text`). The result of the MESSAGE transaction is not reported.
    pub fn send_message(&self, account: AccountId, to: &str, text: &str) -> Result<()> {
        verify_sip_uri(to)?;
        cstring("message text", text)?;
        let to_str = pj_str_ref(to);
        let content = pj_str_ref(text);
        let (from, headers) = self.outgoing_identity(account)?;
        let status = with_msg_data(&headers, from.as_deref(), |msg| {
            // SAFETY: both strings borrow Rust values alive across the call, as does msg;
            // PJSUA copies them. A null MIME type means text/plain.
            unsafe {
                ffi::pjsua_im_send(
                    account.0,
                    &to_str,
                    std::ptr::null(),
                    &content,
                    msg,
                    std::ptr::null_mut(),
                )
            }
        });
        check("pjsua_im_send", status)?;
        self.kick();
        Ok(())
    }

    /// Plays and captures call audio through `device` from the next call with audio on
    /// (issue 6, `crate::audio`). Until then, and when it cannot open, calls run on a null
    /// device.
    pub fn set_audio_device(&self, device: Box<dyn super::device::AudioDevice>) {
        if let Some(m) = &self.media {
            m.set_device(device);
        }
    }

    /// Records `call` (its audio and the microphone) into the WAV file `path` until
    /// [`stop_recording`](Self::stop_recording) (issue 6).
    pub fn start_recording(
        &self,
        call: CallId,
        path: &std::path::Path,
    ) -> Result<super::device::RecorderId> {
        self.require(call)?;
        let text = path.to_string_lossy();
        cstring("recording file", &text)?;
        super::media::start_recording(call.0, &text).map(super::device::RecorderId)
    }

    /// Ends a recording and finishes its file (issue 6).
    pub fn stop_recording(&self, rec: super::device::RecorderId) {
        super::media::stop_recording(rec.0);
        // The file is finished when the bridge removes the recorder, on its next tick.
        if let Some(m) = &self.media {
            m.flush();
        }
    }

    /// Plays MicroSIP's local DTMF tones (160 ms on, 50 ms off per digit) for the digits of
    /// `digits` on the sound device, at `level` (1.0: unchanged), whether a call has audio or
    /// not (issue 6). Other characters are skipped.
    pub fn play_local_tones(&self, digits: &str, level: f32) {
        if let Some(m) = &self.media {
            m.play_tones(super::media::ToneTarget::Local(level), digits);
        }
    }

    /// Plays `samples` (mono 16-bit at `rate` Hz) into `call`'s audio, in a loop; each time
    /// it has played through, [`Event::PromptPlayed`](super::Event::PromptPlayed) says so.
    /// The caller hears it mixed with the microphone.
    pub fn play_prompt(
        &self,
        call: CallId,
        samples: &[i16],
        rate: u32,
    ) -> Result<super::prompt::MediaTap> {
        self.require(call)?;
        self.taps.borrow_mut().play(call, samples, rate)
    }

    /// Listens to what `call` receives for DTMF tones in the audio (in-band); digits come
    /// as [`Event::Dtmf`](super::Event::Dtmf), like RFC 2833 and SIP INFO ones.
    pub fn listen_dtmf(&self, call: CallId) -> Result<super::prompt::MediaTap> {
        self.require(call)?;
        self.taps.borrow_mut().listen(call)
    }

    /// Ends a prompt or listener.
    pub fn stop_tap(&self, tap: super::prompt::MediaTap) {
        self.taps.borrow_mut().stop(tap);
    }

    /// Audio glitch and traffic counters since the engine started (issue 6).
    pub fn audio_stats(&self) -> super::device::AudioStats {
        self.media.as_ref().map(|m| m.stats()).unwrap_or_default()
    }

    /// Snapshots of every live call, in PJSUA's order.
    pub fn calls(&self) -> Vec<CallInfo> {
        all_calls()
    }

    /// Gives the memory the C allocator holds free back to the system. PJSIP frees a call's
    /// pools when its transactions end, but glibc keeps the freed pages in its arenas: after
    /// a burst of calls the phone would stay as large as at the peak. The caller chooses a
    /// quiet moment (no call, transactions over); it costs a walk over the free lists. The
    /// pages of PJSUA's idle call slots (a burst writes all 256) and of the timer heap's idle
    /// timer copies (a burst leaves thousands written) go back too.
    pub fn return_free_memory(&self) {
        // SAFETY: our addition to pjsua_call.c (pjsip-sys FIXES): takes PJSUA's lock and
        // gives back only pages whose call slots are free and hold nothing in use; PJSUA
        // is running (self exists).
        let pages = unsafe { ffi::pjsua_microsip_release_idle_call_slots() };
        // SAFETY: our addition to timer.c (pjsip-sys FIXES): under the heap's lock, gives back
        // only pages of timer copies no scheduled timer uses; the endpoint and its heap live
        // as long as PJSUA (self exists).
        let kept = unsafe {
            ffi::pj_timer_heap_microsip_release_idle(ffi::pjsip_endpt_get_timer_heap(
                ffi::pjsua_get_pjsip_endpt(),
            ))
        };
        log::debug!(
            "memory: {pages} pages of idle call slots given back; {kept} pages of timers in use"
        );
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases pages glibc's own free lists hold; it takes the
        // arenas' locks itself and may run on any thread.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// One call's snapshot.
    pub fn call(&self, call: CallId) -> Result<CallInfo> {
        call_info(call.0).ok_or(Error::NoSuchCall(call))
    }

    /// How many RTP packets the call's audio has received so far, or `None` when none is
    /// expected now: no audio stream, on hold either way, or not receiving (the count starts
    /// again when a re-INVITE replaces the stream). For `rtpTimeout`.
    pub fn rtp_received(&self, call: CallId) -> Option<u64> {
        let mut ci = ffi::pjsua_call_info::default();
        // SAFETY: ci is ours and fully written by PJSUA on success.
        if call.0 < 0 || unsafe { ffi::pjsua_call_get_info(call.0, &mut ci) } != PJ_OK {
            return None;
        }
        if ci.state != ffi::PJSIP_INV_STATE_CONFIRMED {
            return None;
        }
        let mut total = None;
        for (idx, m) in ci.media.iter().enumerate().take(ci.media_cnt as usize) {
            let receiving = m.type_ == ffi::PJMEDIA_TYPE_AUDIO
                && m.status == ffi::PJSUA_CALL_MEDIA_ACTIVE
                && m.dir & ffi::PJMEDIA_DIR_DECODING != 0;
            if !receiving {
                continue;
            }
            let mut stat = ffi::pjsua_stream_stat::default();
            // SAFETY: stat is ours and written by PJSUA on success; idx < media_cnt.
            if unsafe { ffi::pjsua_call_get_stream_stat(call.0, idx as u32, &mut stat) } == PJ_OK {
                *total.get_or_insert(0u64) += u64::from(stat.rtcp.rx.pkt);
            }
        }
        total
    }

    fn require(&self, call: CallId) -> Result<()> {
        // SAFETY: a pure query of PJSUA's call table.
        if call.0 < 0 || unsafe { ffi::pjsua_call_is_active(call.0) } == 0 {
            return Err(Error::NoSuchCall(call));
        }
        Ok(())
    }

    fn kick(&self) {
        if let Some(p) = &self.poller {
            p.kick();
        }
    }

    /// Sends an un-REGISTER for every registered account; the results arrive as
    /// `Event::Registration` with expiry 0. Returns the accounts asked.
    pub fn unregister_all(&self) -> Vec<AccountId> {
        let mut asked = Vec::new();
        let info = self.info();
        for id in [info.account, info.local_account].into_iter().flatten() {
            let mut ai = ffi::pjsua_acc_info::default();
            // SAFETY: ai is ours; id is an account we added.
            let ok = unsafe { ffi::pjsua_acc_get_info(id.0, &mut ai) } == PJ_OK;
            if ok && ai.has_registration != 0 && ai.expires > 0 && ai.status / 100 == 2 {
                // SAFETY: as above.
                if unsafe { ffi::pjsua_acc_set_registration(id.0, ffi::PJ_FALSE as i32) } == PJ_OK {
                    asked.push(id);
                }
            }
        }
        self.kick();
        asked
    }

    /// Ends every call (BYE, CANCEL or 603), un-REGISTERs and destroys PJSUA.
    pub fn shutdown(mut self) {
        self.destroy();
    }

    fn destroy(&mut self) {
        if !RUNNING.load(Ordering::Acquire) {
            return;
        }
        self.taps.borrow_mut().clear();
        // SAFETY: PJSUA is running; calls and accounts are ended before the poll thread stops,
        // so the requests go out while responses can still be received.
        unsafe {
            ffi::pjsua_call_hangup_all();
            let info = self.info.get();
            for id in [info.account, info.local_account].into_iter().flatten() {
                ffi::pjsua_acc_del(id.0);
            }
        }
        // The watcher calls PJSUA: it goes first.
        self.netwatch = None;
        if let Some(m) = self.media.take() {
            m.stop();
        }
        if let Some(p) = self.poller.take() {
            p.stop();
        }
        // SAFETY: our threads are gone; pjsua_destroy polls by itself while it waits for the
        // un-REGISTER responses (there is no PJSUA worker thread).
        unsafe { ffi::pjsua_destroy() };
        // The endpoint that linked our module is gone.
        self.fallback = None;
        self.admission = None;
        callbacks::clear();
        callbacks::set_pjsip_log(None, 0);
        RUNNING.store(false, Ordering::Release);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// MicroSIP's clock-rate rule: the highest rate among the enabled codecs (opus counts as
/// 24000), at least 8000.
pub fn media_clock_rate(codecs: &[String]) -> u32 {
    codecs
        .iter()
        .map(|c| {
            let mut parts = c.split('/');
            let name = parts.next().unwrap_or_default();
            if name.eq_ignore_ascii_case("opus") {
                24000
            } else {
                parts.next().and_then(|r| r.parse().ok()).unwrap_or(8000)
            }
        })
        .max()
        .unwrap_or(8000)
        .max(8000)
}

/// A transport's settings: bound to `bind` (all addresses when empty), which it also
/// advertises when `advertise` (else PJSUA finds the address to advertise: STUN).
fn transport_config(bind: &str, advertise: bool, port: u16) -> ffi::pjsua_transport_config {
    let mut tc = ffi::pjsua_transport_config::default();
    // SAFETY: tc is ours.
    unsafe { ffi::pjsua_transport_config_default(&mut tc) };
    tc.port = u32::from(port);
    if !bind.is_empty() {
        tc.bound_addr = pj_str_ref(bind);
        if advertise {
            tc.public_addr = pj_str_ref(bind);
        }
    }
    tc
}

/// The paths of [`TlsSettings`] as C strings (PJSIP's TLS code reads them as such).
struct TlsPaths {
    ca_file: Option<CString>,
    ca_path: Option<CString>,
    cert_file: Option<CString>,
    privkey_file: Option<CString>,
}

impl TlsPaths {
    fn new(tls: &TlsSettings) -> Result<TlsPaths> {
        let c = |what: &'static str, p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map(|p| cstring(what, &p.to_string_lossy()))
                .transpose()
        };
        Ok(TlsPaths {
            ca_file: c("TLS CA file", &tls.ca_file)?,
            ca_path: c("TLS CA directory", &tls.ca_path)?,
            cert_file: c("TLS certificate file", &tls.cert_file)?,
            privkey_file: c("TLS private key file", &tls.privkey_file)?,
        })
    }

    /// Points `setting` at these paths: they must outlive its use.
    fn apply(&self, setting: &mut ffi::pjsip_tls_setting, verify_server: bool) {
        let s = |c: &Option<CString>| {
            pj_str_ref(c.as_ref().and_then(|c| c.to_str().ok()).unwrap_or(""))
        };
        setting.ca_list_file = s(&self.ca_file);
        setting.ca_list_path = s(&self.ca_path);
        setting.cert_file = s(&self.cert_file);
        setting.privkey_file = s(&self.privkey_file);
        setting.verify_server = if verify_server {
            ffi::PJ_TRUE
        } else {
            ffi::PJ_FALSE
        } as ffi::pj_bool_t;
    }
}

/// Opens a SIP transport of `kind` on `bind`:`port` (0: a random port; `bind.1`: advertise
/// the bound address), with `tls` for TLS. Returns its id and the address it advertises.
fn create_transport(
    kind: ffi::pjsip_transport_type_e,
    (bind, advertise): (&str, bool),
    port: u16,
    name: &'static str,
    tls: Option<&TlsSettings>,
) -> Result<(ffi::pjsua_transport_id, SocketAddr)> {
    let mut tc = transport_config(bind, advertise, port);
    let paths = tls.map(TlsPaths::new).transpose()?;
    if let (Some(paths), Some(tls)) = (&paths, tls) {
        paths.apply(&mut tc.tls_setting, tls.verify_server);
    }
    let mut id: ffi::pjsua_transport_id = -1;
    // SAFETY: tc borrows `bind` and `paths`, alive for the call; PJSUA copies them.
    let status = unsafe { ffi::pjsua_transport_create(kind, &tc, &mut id) };
    check("pjsua_transport_create", status).map_err(|e| match e {
        Error::Pj {
            status, message, ..
        } => Error::Pj {
            op: "open the SIP transport",
            status,
            message: format!(
                "{name} port {port} on {}: {message}",
                if bind.is_empty() {
                    "all addresses"
                } else {
                    bind
                }
            ),
        },
        other => other,
    })?;
    let mut ti = ffi::pjsua_transport_info::default();
    // SAFETY: id is the transport just created; ti is ours.
    check("pjsua_transport_get_info", unsafe {
        ffi::pjsua_transport_get_info(id, &mut ti)
    })?;
    let host = pj_to_string(&ti.local_name.host);
    let ip: IpAddr = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    Ok((id, SocketAddr::new(ip, ti.local_name.port as u16)))
}

/// The `--bind` address, unless it is unspecified (0.0.0.0 or ::: every address).
fn bound_ip(s: &EngineSettings) -> Option<IpAddr> {
    s.bind.filter(|b| !b.is_unspecified())
}

/// The port transport `id`'s socket is bound to (with STUN, the advertised one may differ).
fn bound_port(id: ffi::pjsua_transport_id) -> Option<u16> {
    let mut ti = ffi::pjsua_transport_info::default();
    // SAFETY: ti is ours; id is a transport we created.
    if unsafe { ffi::pjsua_transport_get_info(id, &mut ti) } != PJ_OK {
        return None;
    }
    // SAFETY: local_addr is the socket address PJSUA filled in.
    Some(unsafe { ffi::pj_sockaddr_get_port((&ti.local_addr as *const ffi::pj_sockaddr).cast()) })
}

/// MicroSIP's way with TCP and TLS: `port`, or a random port when it is taken (or 0). A
/// transport that cannot be opened at all is logged and left out (`None`).
fn open_with_fallback(
    kind: ffi::pjsip_transport_type_e,
    bind: (&str, bool),
    port: u16,
    name: &'static str,
    tls: Option<&TlsSettings>,
) -> Option<(ffi::pjsua_transport_id, SocketAddr)> {
    let first = create_transport(kind, bind, port, name, tls);
    let result = match first {
        Err(e) if port != 0 => {
            log::info!("SIP over {name}: port {port} is not free ({e}); a random port is used");
            create_transport(kind, bind, 0, name, tls)
        }
        other => other,
    };
    result
        .map_err(|e| log::warn!("SIP over {name} is not available: {e}"))
        .ok()
}

fn create_udp(
    bind: &str,
    advertise: bool,
    port: u16,
    v6: bool,
) -> Result<(ffi::pjsua_transport_id, SocketAddr)> {
    let kind = if v6 {
        ffi::PJSIP_TRANSPORT_UDP6
    } else {
        ffi::PJSIP_TRANSPORT_UDP
    };
    create_transport(kind, (bind, advertise), port, "UDP", None)
}

fn set_codec_priorities(codecs: &[String]) -> Result<()> {
    let mut infos = vec![ffi::pjsua_codec_info::default(); 64];
    let mut count = infos.len() as u32;
    // SAFETY: infos has room for `count` entries.
    check("pjsua_enum_codecs", unsafe {
        ffi::pjsua_enum_codecs(infos.as_mut_ptr(), &mut count)
    })?;
    infos.truncate(count as usize);
    for info in &infos {
        // SAFETY: codec_id points into info's own buffer.
        unsafe { ffi::pjsua_codec_set_priority(&info.codec_id, 0) };
    }
    let available: Vec<String> = infos.iter().map(|i| pj_to_string(&i.codec_id)).collect();
    for (i, name) in codecs.iter().enumerate() {
        let prio = 128u8.saturating_sub(i as u8);
        let id = pj_str_ref(name);
        // SAFETY: id borrows `name` for the call.
        let status = unsafe { ffi::pjsua_codec_set_priority(&id, prio) };
        if status != PJ_OK {
            log::warn!(
                "audioCodecs: codec {name} is not available in this build (available: {})",
                available.join(" ")
            );
        }
    }
    Ok(())
}

/// MicroSIP's `opusStereo`: opus/48000/2 with two channels (`stereo=1` in the SDP) at 96
/// kbit/s.
fn set_opus_stereo() {
    let id = pj_str_ref("opus/48000/2");
    let mut param = ffi::pjmedia_codec_param::default();
    let mut cfg = ffi::pjmedia_codec_opus_config::default();
    // SAFETY: id borrows a static string for the call; param and cfg are ours.
    let status = unsafe {
        match ffi::pjsua_codec_get_param(&id, &mut param) {
            PJ_OK => match ffi::pjmedia_codec_opus_get_config(&mut cfg) {
                PJ_OK => {
                    cfg.channel_cnt = 2;
                    cfg.bit_rate = 96_000;
                    ffi::pjmedia_codec_opus_set_default_param(&cfg, &mut param)
                }
                e => e,
            },
            e => e,
        }
    };
    if status == PJ_OK {
        log::info!("opusStereo=1: opus/48000/2 in stereo at 96 kbit/s");
    } else {
        log::warn!(
            "opusStereo=1: cannot set opus to stereo ({})",
            status_text(status)
        );
    }
}

fn add_account(
    a: &AccountSettings,
    udp: ffi::pjsua_transport_id,
    s: &EngineSettings,
    priority: i32,
    default: bool,
    use_stun: bool,
) -> Result<AccountId> {
    let id = cstring("account id", &a.id_uri)?;
    let registrar = match &a.registrar {
        Some(r) => Some(cstring("registrar", r)?),
        None => None,
    };
    let proxies: Vec<CString> = a
        .proxies
        .iter()
        .map(|p| cstring("proxy", p))
        .collect::<Result<_>>()?;
    let bind = bound_ip(s).map(|b| b.to_string()).unwrap_or_default();

    let mut cfg = ffi::pjsua_acc_config::default();
    // SAFETY: cfg is ours.
    unsafe { ffi::pjsua_acc_config_default(&mut cfg) };
    cfg.id = pj_str_ref(id.to_str().unwrap_or_default());
    if let Some(r) = &registrar {
        cfg.reg_uri = pj_str_ref(r.to_str().unwrap_or_default());
    }
    cfg.register_on_acc_add = if registrar.is_some() {
        ffi::PJ_TRUE
    } else {
        ffi::PJ_FALSE
    } as i32;
    for (slot, p) in cfg.proxy.iter_mut().zip(&proxies) {
        *slot = pj_str_ref(p.to_str().unwrap_or_default());
    }
    cfg.proxy_cnt = proxies.len().min(cfg.proxy.len()) as u32;
    cfg.reg_timeout = a.register_refresh;
    cfg.ka_interval = a.keep_alive;
    // The first attempt after a failure comes at once (PJSUA spreads it over 0-10 s), the
    // next ones every `register_retry` seconds (PJSUA's own ±10 s spread).
    cfg.reg_retry_interval = a.register_retry;
    cfg.priority = priority;
    cfg.cred_count = u32::from(!a.auth_user.is_empty());
    cfg.cred_info[0].realm = pj_str_ref("*");
    cfg.cred_info[0].scheme = pj_str_ref("Digest");
    cfg.cred_info[0].username = pj_str_ref(&a.auth_user);
    cfg.cred_info[0].data_type = ffi::PJSIP_CRED_DATA_PLAIN_PASSWD as i32;
    cfg.cred_info[0].data = pj_str_ref(&a.password);
    if a.transport == TransportKind::Udp {
        cfg.transport_id = udp;
    }
    // MicroSIP's SRTP key; srtp_secure_signaling=0 as MicroSIP sets it (SRTP over any
    // transport, not only TLS).
    cfg.use_srtp = match a.srtp {
        SrtpMode::Disabled => ffi::PJMEDIA_SRTP_DISABLED,
        SrtpMode::Optional => ffi::PJMEDIA_SRTP_OPTIONAL,
        SrtpMode::Mandatory | SrtpMode::DtlsSdes | SrtpMode::Dtls => ffi::PJMEDIA_SRTP_MANDATORY,
    };
    cfg.srtp_secure_signaling = 0;
    match a.srtp {
        SrtpMode::DtlsSdes => {
            cfg.enable_rtcp_mux = ffi::PJ_TRUE as ffi::pj_bool_t;
            cfg.srtp_opt.keying_count = 2;
            cfg.srtp_opt.keying[0] = ffi::PJMEDIA_SRTP_KEYING_DTLS_SRTP;
            cfg.srtp_opt.keying[1] = ffi::PJMEDIA_SRTP_KEYING_SDES;
        }
        SrtpMode::Dtls => {
            cfg.enable_rtcp_mux = ffi::PJ_TRUE as ffi::pj_bool_t;
            cfg.srtp_opt.keying_count = 1;
            cfg.srtp_opt.keying[0] = ffi::PJMEDIA_SRTP_KEYING_DTLS_SRTP;
        }
        _ => {}
    }
    // MicroSIP's allowRewrite: Via, SDP and Contact (method 2: re-register, then update)
    // follow the address the registrar sees; off by default.
    let rewrite = if a.allow_rewrite {
        ffi::PJ_TRUE
    } else {
        ffi::PJ_FALSE
    } as ffi::pj_bool_t;
    cfg.allow_via_rewrite = rewrite;
    cfg.allow_sdp_nat_rewrite = rewrite;
    cfg.allow_contact_rewrite = if a.allow_rewrite { 2 } else { 0 };
    // MicroSIP's ICE: per account (the global media config keeps it off).
    cfg.ice_cfg_use = ffi::PJSUA_ICE_CONFIG_USE_CUSTOM;
    cfg.ice_cfg.enable_ice = if a.ice { ffi::PJ_TRUE } else { ffi::PJ_FALSE } as ffi::pj_bool_t;
    if a.disable_session_timer {
        cfg.use_timer = ffi::PJSUA_SIP_TIMER_INACTIVE;
    }
    // MicroSIP: voicemailNumber set → subscribe to message-summary (after registering).
    cfg.mwi_enabled = i32::from(a.mwi);
    cfg.contact_rewrite_method =
        (ffi::PJSUA_CONTACT_REWRITE_ALWAYS_UPDATE | ffi::PJSUA_CONTACT_REWRITE_UNREGISTER) as i32;
    if s.bind.is_some_and(|b| b.is_ipv6()) {
        // Bound to an IPv6 address: SIP and RTP over IPv6.
        cfg.ipv6_sip_use = ffi::PJSUA_IPV6_ENABLED_USE_IPV6_ONLY;
        cfg.ipv6_media_use = ffi::PJSUA_IPV6_ENABLED_USE_IPV6_ONLY;
    }
    let stun = use_stun && !s.stun.is_empty();
    if !bind.is_empty() {
        cfg.rtp_cfg.bound_addr = pj_str_ref(&bind);
        if !stun {
            cfg.rtp_cfg.public_addr = pj_str_ref(&bind);
        }
    }
    // MicroSIP's publicAddr, only when STUN is off (the caller decides).
    let public = match &a.public_addr {
        Some(p) => Some(cstring(
            "publicAddr",
            &super::types::public_addr(p, &super::transport::local_ipv4_addrs()),
        )?),
        None => None,
    };
    if let Some(p) = &public {
        cfg.rtp_cfg.public_addr = pj_str_ref(p.to_str().unwrap_or_default());
    }
    if !use_stun {
        // MicroSIP's local account: no STUN.
        cfg.sip_stun_use = ffi::PJSUA_STUN_USE_DISABLED;
        cfg.media_stun_use = ffi::PJSUA_STUN_USE_DISABLED;
    }
    if s.rtp_port_min > 0 {
        cfg.rtp_cfg.port = u32::from(s.rtp_port_min);
        cfg.rtp_cfg.port_range = u32::from(s.rtp_port_max.saturating_sub(s.rtp_port_min));
    }
    let mut acc: ffi::pjsua_acc_id = -1;
    // SAFETY: every pj_str_t in cfg borrows a string alive until this call returns; PJSUA
    // copies the whole configuration.
    check("pjsua_acc_add", unsafe {
        ffi::pjsua_acc_add(&cfg, i32::from(default), &mut acc)
    })?;
    Ok(AccountId(acc))
}

/// The version of the linked pjproject, as `pj_get_version()` reports it.
pub fn pjproject_version() -> String {
    // SAFETY: pj_get_version returns a static NUL-terminated string and needs no init.
    unsafe { CStr::from_ptr(ffi::pj_get_version()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn microsips_clock_rate_rule() {
        assert_eq!(media_clock_rate(&list("PCMA/8000/1 PCMU/8000/1")), 8000);
        assert_eq!(media_clock_rate(&list("PCMA/8000/1 G722/16000/1")), 16000);
        assert_eq!(media_clock_rate(&list("opus/48000/2 PCMA/8000/1")), 24000);
        assert_eq!(media_clock_rate(&list("L16/44100/1")), 44100);
        assert_eq!(media_clock_rate(&[]), 8000);
    }
}
