//! Whether a call's audio is encrypted, and how: read from PJSUA's audio stream (its SDP
//! transport: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVP`) and its SRTP transport (active or
//! not, the crypto suite).

use super::pjsua::pj_to_string;
use super::types::{MediaSecurity, SrtpKeying};
use crate::ffi;

const OK: ffi::pj_status_t = ffi::PJ_SUCCESS as ffi::pj_status_t;

/// The security of `call`'s first audio stream; [`MediaSecurity::Plain`] when it has none.
pub(super) fn media_security(call: ffi::pjsua_call_id) -> MediaSecurity {
    let mut ci = ffi::pjsua_call_info::default();
    // SAFETY: ci is ours; PJSUA fills it for a call id it knows.
    if unsafe { ffi::pjsua_call_get_info(call, &mut ci) } != OK {
        return MediaSecurity::Plain;
    }
    let count = (ci.media_cnt as usize).min(ci.media.len());
    let Some(idx) = ci.media[..count]
        .iter()
        .find(|m| m.type_ == ffi::PJMEDIA_TYPE_AUDIO)
        .map(|m| m.index)
    else {
        return MediaSecurity::Plain;
    };
    let mut si = ffi::pjsua_stream_info::default();
    // SAFETY: si is ours; idx is an audio media of the call.
    let proto = if unsafe { ffi::pjsua_call_get_stream_info(call, idx, &mut si) } == OK
        && si.type_ == ffi::PJMEDIA_TYPE_AUDIO
    {
        // SAFETY: an audio stream's info is the `aud` member of the union.
        unsafe { si.info.aud.proto }
    } else {
        0
    };
    let mut ti = ffi::pjmedia_transport_info::default();
    // SAFETY: ti is ours.
    let srtp = if unsafe { ffi::pjsua_call_get_med_transport_info(call, idx, &mut ti) } == OK {
        let n = (ti.specific_info_cnt as usize).min(ti.spc_info.len());
        ti.spc_info[..n]
            .iter()
            .find(|s| s.type_ == ffi::PJMEDIA_TRANSPORT_TYPE_SRTP)
            .map(|s| {
                // SAFETY: an SRTP transport's specific info buffer holds a
                // pjmedia_srtp_info (transport_srtp.c get_info); read unaligned, as the
                // buffer is a char array. Its strings point into the transport, alive now.
                let info: ffi::pjmedia_srtp_info = unsafe {
                    std::ptr::read_unaligned(s.buffer.as_ptr() as *const ffi::pjmedia_srtp_info)
                };
                (info.active != 0, pj_to_string(&info.tx_policy.name))
            })
    } else {
        None
    };
    classify(proto, srtp)
}

/// From the stream's SDP transport (`pjmedia_tp_proto` bits) and the SRTP transport's state
/// (active, suite), when there is one.
pub(crate) fn classify(proto: u32, srtp: Option<(bool, String)>) -> MediaSecurity {
    let dtls = proto & ffi::PJMEDIA_TP_PROTO_DTLS != 0;
    match srtp {
        Some((active, suite)) if active || dtls => MediaSecurity::Srtp {
            suite: (active && !suite.is_empty() && suite != "NULL").then_some(suite),
            keying: if dtls {
                SrtpKeying::Dtls
            } else {
                SrtpKeying::Sdes
            },
        },
        _ => MediaSecurity::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sdes_and_dtls_calls_are_told_apart() {
        let sdes = classify(
            ffi::PJMEDIA_TP_PROTO_RTP_SAVP,
            Some((true, "AES_CM_128_HMAC_SHA1_80".into())),
        );
        assert_eq!(
            sdes.to_string(),
            "encrypted (SRTP AES_CM_128_HMAC_SHA1_80, keys by SDES)"
        );
        // A DTLS handshake still under way: encrypted, suite not known yet.
        let dtls = classify(
            ffi::PJMEDIA_TP_PROTO_DTLS_SRTP,
            Some((false, String::new())),
        );
        assert_eq!(dtls.to_string(), "encrypted (SRTP, keys by DTLS-SRTP)");
        // SRTP optional, answered without crypto: the transport is there, inactive.
        let plain = classify(ffi::PJMEDIA_TP_PROTO_RTP_AVP, Some((false, String::new())));
        assert_eq!(plain, MediaSecurity::Plain);
        assert_eq!(plain.to_string(), "not encrypted (RTP)");
        assert!(!classify(ffi::PJMEDIA_TP_PROTO_RTP_AVP, None).encrypted());
    }
}
