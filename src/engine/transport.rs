//! What happens to SIP connections (TCP, TLS), told in the log: a TLS server refused for its
//! certificate says why (an unknown CA, the wrong name, an expired certificate), and a server
//! let through unverified (`tlsVerifyServer=0`) says what was wrong with it.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::pjsua::{pj_to_string, status_text};
use crate::ffi;

/// The machine's own IPv4 addresses (every interface that is up), for MicroSIP's
/// `get_public_addr` rule.
pub fn local_ipv4_addrs() -> Vec<std::net::Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list it allocates; freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, alive until freeifaddrs;
        // an AF_INET address is a sockaddr_in.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && ifa.ifa_flags & libc::IFF_UP as u32 != 0
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                out.push(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

/// PJSIP's texts for the bits of a certificate verification status.
fn verify_reasons(status: u32) -> Vec<String> {
    let mut texts: [*const c_char; 32] = [std::ptr::null(); 32];
    let mut count = texts.len() as u32;
    // SAFETY: the array and its length are ours; PJSIP fills it with static strings.
    let rc = unsafe {
        ffi::pj_ssl_cert_get_verify_status_strings(status, texts.as_mut_ptr(), &mut count)
    };
    if rc != ffi::PJ_SUCCESS as ffi::pj_status_t {
        return vec![format!("verification status {status:#x}")];
    }
    texts[..count.min(32) as usize]
        .iter()
        .filter(|p| !p.is_null())
        // SAFETY: non-null entries point at PJSIP's static NUL-terminated texts.
        .map(|p| unsafe { CStr::from_ptr(*p) }.to_string_lossy().into_owned())
        .collect()
}

/// What to log about a connection's new state, or `None` for nothing. `verify` is the
/// certificate verification status of a TLS connection (0: nothing wrong).
pub(crate) fn describe(
    kind: &str,
    remote: &str,
    connected: bool,
    status: Option<String>,
    verify: u32,
    reasons: &[String],
) -> Option<(log::Level, String)> {
    let why = reasons.join("; ");
    match (connected, verify != 0) {
        (true, false) => Some((
            log::Level::Debug,
            format!("{kind} connection to {remote} up"),
        )),
        (true, true) => Some((
            log::Level::Warn,
            format!(
                "{kind} connection to {remote}: the server's certificate does not verify ({why}); \
                 connected anyway because tlsVerifyServer=0"
            ),
        )),
        (false, true) => Some((
            log::Level::Warn,
            format!(
                "{kind} connection to {remote} refused: the server's certificate does not verify \
                 ({why}). Trust its CA with tlsCaFile, or set tlsVerifyServer=0 for a lab PBX"
            ),
        )),
        (false, false) => status.map(|s| {
            let level = if kind.starts_with("TLS") {
                log::Level::Warn
            } else {
                log::Level::Debug
            };
            (level, format!("{kind} connection to {remote} closed: {s}"))
        }),
    }
}

/// PJSUA's `on_transport_state`.
pub(super) unsafe extern "C" fn on_transport_state(
    tp: *mut ffi::pjsip_transport,
    state: ffi::pjsip_transport_state,
    info: *const ffi::pjsip_transport_state_info,
) {
    let body = || {
        if tp.is_null()
            || !(state == ffi::PJSIP_TP_STATE_CONNECTED
                || state == ffi::PJSIP_TP_STATE_DISCONNECTED)
        {
            return;
        }
        // SAFETY: PJSIP passes a live transport and (when not NULL) its state info for the
        // length of the call; for TLS, ext_info is a pjsip_tls_state_info whose ssl info is
        // valid too (sip_transport_tls.c fills both on its stack before calling us).
        let (kind, remote, status, verify) = unsafe {
            let t = &*tp;
            let kind = if t.type_name.is_null() {
                String::from("SIP")
            } else {
                CStr::from_ptr(t.type_name).to_string_lossy().into_owned()
            };
            let remote = format!(
                "{}:{}",
                pj_to_string(&t.remote_name.host),
                t.remote_name.port
            );
            let secure = t.flag & ffi::PJSIP_TRANSPORT_SECURE != 0;
            let (mut status, mut verify) = (None, 0);
            if let Some(i) = info.as_ref() {
                if i.status != ffi::PJ_SUCCESS as ffi::pj_status_t {
                    status = Some(status_text(i.status));
                }
                if secure && !i.ext_info.is_null() {
                    let tls = &*(i.ext_info as *const ffi::pjsip_tls_state_info);
                    if let Some(ssl) = tls.ssl_sock_info.as_ref() {
                        verify = ssl.verify_status;
                    }
                }
            }
            (kind, remote, status, verify)
        };
        let reasons = if verify != 0 {
            verify_reasons(verify)
        } else {
            Vec::new()
        };
        let connected = state == ffi::PJSIP_TP_STATE_CONNECTED;
        if let Some((level, line)) = describe(&kind, &remote, connected, status, verify, &reasons) {
            // The logger escapes control characters (logging::one_entry).
            log::log!(level, "{line}");
        }
    };
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        log::error!("internal error: a panic in the transport state callback was caught");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_says_why_and_what_to_do() {
        let (level, line) = describe(
            "TLS",
            "127.0.0.1:5061",
            false,
            Some("Certificate verification error".into()),
            4,
            &["The server identity does not match".into()],
        )
        .unwrap();
        assert_eq!(level, log::Level::Warn);
        assert!(
            line.contains("TLS connection to 127.0.0.1:5061 refused"),
            "{line}"
        );
        assert!(line.contains("identity does not match"), "{line}");
        assert!(line.contains("tlsVerifyServer=0"), "{line}");
    }

    #[test]
    fn an_unverified_server_let_through_is_a_warning() {
        let (level, line) =
            describe("TLS", "pbx:5061", true, None, 2, &["untrusted".into()]).unwrap();
        assert_eq!(level, log::Level::Warn);
        assert!(line.contains("connected anyway"), "{line}");
        assert_eq!(
            describe("TCP", "pbx:5060", true, None, 0, &[]).unwrap().0,
            log::Level::Debug
        );
        assert!(describe("TCP", "pbx:5060", false, None, 0, &[]).is_none());
    }

    #[test]
    fn the_loopback_address_is_among_the_local_ones() {
        assert!(local_ipv4_addrs().contains(&std::net::Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn pjsip_names_the_verification_errors() {
        // PJ_SSL_CERT_EUNTRUSTED | PJ_SSL_CERT_EIDENTITY_NOT_MATCH (pj/ssl_sock.h)
        let reasons = verify_reasons((1 << 1) | (1 << 30));
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("untrusted"), "{reasons:?}");
    }
}
