//! MicroSIP's `networkChanges=1`: when the machine's addresses change (netlink on Linux), wait
//! until they have been quiet for 1 s, knock (`portKnockerHost`/`portKnockerPorts`), then
//! `pjsua_handle_ip_change`: the transports restart, the account registers its new Contact and
//! calls move to the new address (re-INVITE). Also the port knock itself.
//!
//! The watcher thread sleeps in `poll` on the netlink socket and a pipe that stops it: an idle
//! phone gets no wakeups from it.

use std::ffi::CString;
use std::io;
use std::net::{ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pjsua::{pj_str_ref, status_text, PjThread};
use super::types::{public_addr, Error, PortKnock, Result};
use crate::ffi;

/// How long the addresses must be quiet before the phone acts (MicroSIP's timer).
const SETTLE: Duration = Duration::from_secs(1);

/// MicroSIP's knock: `knock` and a NUL, to each port, 200 ms apart. Errors (a host that does
/// not resolve) are logged; knocking never stops the phone.
pub(super) fn knock(k: &PortKnock) {
    let target = (k.host.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.is_ipv4()).or_else(|| a.next()));
    let Some(addr) = target else {
        log::warn!("port knocking: cannot resolve {:?}", k.host);
        return;
    };
    let local: std::net::SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = match UdpSocket::bind(local) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("port knocking: no UDP socket: {e}");
            return;
        }
    };
    for (i, port) in k.ports.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut to = addr;
        to.set_port(*port);
        if let Err(e) = sock.send_to(b"knock\0", to) {
            log::warn!("port knocking: {to}: {e}");
        }
    }
    log::info!("port knocking: knocked at {} on {:?}", addr.ip(), k.ports);
}

/// pjlib's `PJ_ENOMEM` (`PJ_ERRNO_START_STATUS + 7`; a macro, so not in the bindings).
const PJ_ENOMEM: ffi::pj_status_t = 70007;

/// The SIP account when it registers with `allowRewrite=0`. MicroSIP 3.22.16 registers such
/// an account again with a Contact on the new address after a network change; PJSUA's
/// `pjsua_handle_ip_change` does that only for an account that may rewrite its Contact. So, for
/// the change, the account may ([`allow_rewrite_for_the_change`]), and from its next
/// successful registration on ([`registered`]) it may not again.
static FIXED_CONTACT: Mutex<Option<ffi::pjsua_acc_id>> = Mutex::new(None);
/// The account whose Contact is being moved by a network change.
static MOVING: Mutex<Option<ffi::pjsua_acc_id>> = Mutex::new(None);

/// The SIP account that registers with `allowRewrite=0` (`None`: there is none).
pub(super) fn set_fixed_contact_account(account: Option<ffi::pjsua_acc_id>) {
    *FIXED_CONTACT.lock().unwrap_or_else(|e| e.into_inner()) = account;
    *MOVING.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Sets the account's `allow_contact_rewrite` (PJSUA applies it from the next registration
/// answer on; nothing is sent for the change itself).
fn set_contact_rewrite(account: ffi::pjsua_acc_id, value: i32) -> ffi::pj_status_t {
    // SAFETY: the calling thread is registered with pjlib and PJSUA runs; the pool is ours
    // and released after pjsua_acc_modify, which copies the configuration it is given.
    unsafe {
        let pool = ffi::pjsua_pool_create(c"rewrite".as_ptr(), 512, 512);
        if pool.is_null() {
            return PJ_ENOMEM;
        }
        let mut cfg = ffi::pjsua_acc_config::default();
        let mut status = ffi::pjsua_acc_get_config(account, pool, &mut cfg);
        if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
            cfg.allow_contact_rewrite = value;
            status = ffi::pjsua_acc_modify(account, &cfg);
        }
        ffi::pj_pool_release(pool);
        status
    }
}

/// Before `pjsua_handle_ip_change`: the `allowRewrite=0` account may move its Contact.
fn allow_rewrite_for_the_change() {
    let Some(account) = *FIXED_CONTACT.lock().unwrap_or_else(|e| e.into_inner()) else {
        return;
    };
    let status = set_contact_rewrite(account, 2);
    if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
        *MOVING.lock().unwrap_or_else(|e| e.into_inner()) = Some(account);
    } else {
        log::warn!(
            "network change: the account keeps its old Contact until it registers again: {}",
            status_text(status)
        );
    }
}

/// A successful registration of `account` (from PJSUA's callback): when it moved its Contact
/// for a network change, `allowRewrite=0` holds again.
pub(super) fn registered(account: ffi::pjsua_acc_id) {
    let mut moving = MOVING.lock().unwrap_or_else(|e| e.into_inner());
    if *moving != Some(account) {
        return;
    }
    *moving = None;
    drop(moving);
    let status = set_contact_rewrite(account, 0);
    if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
        log::info!("network change: registered again with a Contact on the new address");
    } else {
        log::warn!(
            "network change: allowRewrite=0 could not be set back: {}",
            status_text(status)
        );
    }
}

/// The SIP account's `publicAddr` as configured and as advertised now: MicroSIP checks its
/// rule again when the addresses change.
pub(super) struct PublicAddr {
    pub(super) account: ffi::pjsua_acc_id,
    pub(super) configured: String,
    pub(super) advertised: String,
}

/// Shared between the engine (which sets it when it adds the account) and the watcher.
pub(super) type PublicAddrSlot = Arc<Mutex<Option<PublicAddr>>>;

/// Applies `publicAddr`'s rule again; a new result becomes the account's RTP address.
fn recheck_public_addr(slot: &PublicAddrSlot) {
    let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = guard.as_mut() else { return };
    let now = public_addr(&p.configured, &super::transport::local_ipv4_addrs());
    if now == p.advertised {
        return;
    }
    let Ok(text) = CString::new(now.clone()) else {
        return;
    };
    // SAFETY: this thread is registered and PJSUA runs; the pool is ours and released after
    // pjsua_acc_modify, which copies the configuration (whose strings live in the pool or in
    // `text`, alive until then).
    let status = unsafe {
        let pool = ffi::pjsua_pool_create(c"publicaddr".as_ptr(), 512, 512);
        if pool.is_null() {
            return;
        }
        let mut cfg = ffi::pjsua_acc_config::default();
        let mut status = ffi::pjsua_acc_get_config(p.account, pool, &mut cfg);
        if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
            cfg.rtp_cfg.public_addr = pj_str_ref(text.to_str().unwrap_or_default());
            status = ffi::pjsua_acc_modify(p.account, &cfg);
        }
        ffi::pj_pool_release(pool);
        status
    };
    if status == ffi::PJ_SUCCESS as ffi::pj_status_t {
        log::info!(
            "network change: publicAddr {} is now advertised as {now} (was {})",
            p.configured,
            p.advertised
        );
        p.advertised = now;
    } else {
        log::warn!(
            "network change: publicAddr not updated: {}",
            status_text(status)
        );
    }
}

/// The watcher thread; stops (and is joined) on drop.
pub(super) struct NetWatch {
    stop: Option<OwnedFd>,
    handle: Option<JoinHandle<()>>,
}

/// An `io::Error` from the last OS error, for `what`.
fn os_error(what: &str) -> Error {
    Error::Pj {
        op: "watch network changes",
        status: -1,
        message: format!("{what}: {}", io::Error::last_os_error()),
    }
}

/// A netlink socket that hears address changes (IPv4 and IPv6).
fn netlink() -> Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(os_error("netlink socket"));
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid start.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
    // SAFETY: sa is a valid sockaddr_nl of the size given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(os_error("netlink bind"));
    }
    Ok(fd)
}

/// A pipe: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(os_error("pipe"));
    }
    // SAFETY: both descriptors are new and owned from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl NetWatch {
    /// Starts watching; `knock` is done before each `pjsua_handle_ip_change`, and
    /// `public` checked again. `waker` wakes the SIP poll after a change, so that the timers
    /// PJSUA scheduled from this thread are seen at once.
    pub(super) fn start(
        knock: Option<PortKnock>,
        public: PublicAddrSlot,
        waker: Option<super::pjsua::Waker>,
    ) -> Result<NetWatch> {
        let nl = netlink()?;
        let (stop_r, stop_w) = pipe()?;
        let knock = Arc::new(knock);
        let handle = std::thread::Builder::new()
            .name("net-watch".into())
            .spawn(move || {
                let _registration = match PjThread::register(c"net-watch") {
                    Ok(r) => r,
                    Err(e) => {
                        log::warn!("network changes are not followed: {e}");
                        return;
                    }
                };
                watch(&nl, &stop_r, &knock, &public, waker.as_ref());
            })
            .map_err(|e| Error::Pj {
                op: "spawn the network watcher",
                status: -1,
                message: e.to_string(),
            })?;
        Ok(NetWatch {
            stop: Some(stop_w),
            handle: Some(handle),
        })
    }
}

impl Drop for NetWatch {
    fn drop(&mut self) {
        // Closing the write end makes the read end readable (end of file): the thread ends.
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn watch(
    nl: &OwnedFd,
    stop: &OwnedFd,
    knocking: &Option<PortKnock>,
    public: &PublicAddrSlot,
    waker: Option<&super::pjsua::Waker>,
) {
    let mut due: Option<Instant> = None;
    let mut buf = vec![0u8; 16384];
    loop {
        let timeout = due.map_or(-1, |d| {
            d.saturating_duration_since(Instant::now()).as_millis() as i32
        });
        let mut fds = [
            libc::pollfd {
                fd: nl.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is an array of two valid pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::warn!(
                "network changes are no longer followed: poll: {}",
                io::Error::last_os_error()
            );
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // Drain what is there: one change often comes as several messages.
            loop {
                // SAFETY: buf is ours and its length is passed.
                let r = unsafe {
                    libc::recv(
                        nl.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if r <= 0 {
                    break;
                }
            }
            due = Some(Instant::now() + SETTLE);
            continue;
        }
        if due.is_some_and(|d| Instant::now() >= d) {
            due = None;
            log::info!("network change: the addresses changed; moving registration and calls");
            if let Some(k) = knocking {
                knock(k);
            }
            // Before PJSUA re-INVITEs the calls, so their new SDP has it. (MicroSIP checks it
            // after pjsua_handle_ip_change.)
            recheck_public_addr(public);
            allow_rewrite_for_the_change();
            handle_ip_change();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// PJSUA's own handling of a new address: restart the listeners, re-register, re-INVITE.
fn handle_ip_change() {
    let mut param = ffi::pjsua_ip_change_param::default();
    // SAFETY: param is ours; this thread is registered with pjlib and PJSUA runs (the engine
    // joins this thread before it destroys PJSUA).
    let status = unsafe {
        ffi::pjsua_ip_change_param_default(&mut param);
        ffi::pjsua_handle_ip_change(&param)
    };
    if status != ffi::PJ_SUCCESS as ffi::pj_status_t {
        log::warn!(
            "network change: PJSIP could not follow it: {}",
            status_text(status)
        );
    }
}
