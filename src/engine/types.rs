//! The engine's public vocabulary: ids, settings, events, incoming-call decisions and errors.
//! Plain Rust values; everything copied out of C before it gets here.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A call, as PJSUA numbers it (0..max_calls). Ids are reused after a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub(crate) i32);

/// An account, as PJSUA numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub(crate) i32);

impl CallId {
    /// The number PJSUA gives the call (what the log, the events and `msip:callanswer:`
    /// show). Only the engine makes ids: they name calls that exist (or existed).
    pub fn index(self) -> i32 {
        self.0
    }
}

impl AccountId {
    /// The number PJSUA gives the account.
    pub fn index(self) -> i32 {
        self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The SIP transport an account uses (MicroSIP's `transport` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportKind {
    /// `udp` (MicroSIP's default): the account is bound to the UDP transport.
    #[default]
    Udp,
    /// `tcp`: `;transport=tcp` on AoR, registrar and proxies.
    Tcp,
    /// `tls`: `;transport=tls` on AoR, registrar and proxies.
    Tls,
    /// "" (MicroSIP's "UDP+TCP"): not bound, PJSIP chooses.
    Any,
}

/// MicroSIP's `SRTP` key: how an account protects call audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpMode {
    /// `""`: plain RTP; an offer that demands SRTP is refused.
    #[default]
    Disabled,
    /// `optional`: SDES-SRTP offered in `RTP/AVP` (with `a=crypto`); plain RTP accepted.
    Optional,
    /// `mandatory`: SDES-SRTP (`RTP/SAVP`) or no call.
    Mandatory,
    /// `dtls-sdes`: mandatory, rtcp-mux, keys by DTLS-SRTP first, else SDES.
    DtlsSdes,
    /// `dtls`: mandatory, rtcp-mux, keys by DTLS-SRTP only.
    Dtls,
}

/// How keys of an SRTP call were agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpKeying {
    /// In the SDP (`a=crypto`, RFC 4568).
    Sdes,
    /// By a DTLS handshake on the media path (`a=fingerprint`, RFC 5763).
    Dtls,
}

/// How a call's audio travels: plain RTP or SRTP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MediaSecurity {
    /// Plain RTP: not encrypted.
    #[default]
    Plain,
    /// SRTP.
    Srtp {
        /// The crypto suite (e.g. `AES_CM_128_HMAC_SHA1_80`), when known yet (a DTLS
        /// handshake finishes after the media starts).
        suite: Option<String>,
        /// How the keys were agreed.
        keying: SrtpKeying,
    },
}

impl MediaSecurity {
    /// Whether the audio is encrypted.
    pub fn encrypted(&self) -> bool {
        matches!(self, MediaSecurity::Srtp { .. })
    }
}

impl fmt::Display for MediaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaSecurity::Plain => write!(f, "not encrypted (RTP)"),
            MediaSecurity::Srtp { suite, keying } => {
                write!(f, "encrypted (SRTP")?;
                if let Some(s) = suite {
                    write!(f, " {s}")?;
                }
                match keying {
                    SrtpKeying::Sdes => write!(f, ", keys by SDES)"),
                    SrtpKeying::Dtls => write!(f, ", keys by DTLS-SRTP)"),
                }
            }
        }
    }
}

/// How DTMF digits leave the phone (MicroSIP's `DTMFMethod`, resolved by the application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfVia {
    /// RFC 2833 / 4733 telephone-events in the RTP stream.
    #[default]
    Rfc2833,
    /// SIP INFO with an `application/dtmf-relay` body (`Signal=`, `Duration=`).
    SipInfo,
    /// Tones mixed into the call's audio (160 ms on, 50 ms off).
    InBand,
}

/// A SIP account to register (MicroSIP's `[AccountN]`, already turned into URIs).
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    /// AoR with display name, e.g. `"Alice" <sip:alice@example.com>`.
    pub id_uri: String,
    /// `sip:<server>`; `None` means no REGISTER.
    pub registrar: Option<String>,
    /// Outbound proxies, each `sip:<proxy>`.
    pub proxies: Vec<String>,
    /// Digest user name (authID, else username).
    pub auth_user: String,
    /// The digest password.
    pub password: String,
    /// The transport the account uses.
    pub transport: TransportKind,
    /// REGISTER expiry in seconds.
    pub register_refresh: u32,
    /// UDP keep-alive interval in seconds.
    pub keep_alive: u32,
    /// Seconds between attempts to register again after a failure (PJSUA's
    /// `reg_retry_interval`; 300 is PJSUA's and MicroSIP's); 0 never retries.
    pub register_retry: u32,
    /// The From of outgoing calls and messages when it is not `id_uri` (MicroSIP's
    /// `hideCID`: `"Anonymous" <...>`).
    pub outgoing_from: Option<String>,
    /// Add `Privacy: id` to outgoing calls and messages (MicroSIP's `hideCID`).
    pub privacy: bool,
    /// Subscribe to message-summary (MWI) for this account (MicroSIP: `voicemailNumber` set).
    pub mwi: bool,
    /// MicroSIP's `SRTP`.
    pub srtp: SrtpMode,
    /// MicroSIP's `ICE`: ICE candidates in the SDP, connectivity checks on the media path.
    pub ice: bool,
    /// MicroSIP's `allowRewrite`: rewrite Via, Contact (re-registering) and SDP with the
    /// address the registrar sees.
    pub allow_rewrite: bool,
    /// MicroSIP's `disableSessionTimer=1`: no session timers (RFC 4028); otherwise PJSUA's
    /// default offers them.
    pub disable_session_timer: bool,
    /// MicroSIP's `publicAddr` (when STUN is off): the RTP address to advertise in the SDP,
    /// after [`public_addr`]'s rule, checked again on each network change.
    pub public_addr: Option<String>,
}

/// How the TLS transport checks servers and which certificate it shows (our own keys:
/// MicroSIP has none and never verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Refuse a server whose certificate does not chain to a trusted CA or does not name the
    /// host the phone connected to.
    pub verify_server: bool,
    /// The trusted CAs: a PEM bundle. `None` with `ca_path` `None`: nothing is trusted.
    pub ca_file: Option<PathBuf>,
    /// The trusted CAs: a directory of hashed PEM files.
    pub ca_path: Option<PathBuf>,
    /// The phone's own certificate (PEM), shown to servers that ask for one and used by the
    /// TLS listener.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM).
    pub privkey_file: Option<PathBuf>,
}

impl TlsSettings {
    /// Verification on, with the system's CA store as OpenSSL finds it: `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` when set, else the usual bundle of the distribution.
    pub fn system() -> TlsSettings {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let ca_file = env("SSL_CERT_FILE").or_else(|| {
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
        });
        TlsSettings {
            verify_server: true,
            ca_file,
            ca_path: env("SSL_CERT_DIR"),
            cert_file: None,
            privkey_file: None,
        }
    }
}

/// MicroSIP's port knocking: a UDP `knock` to each port of a host before registering and on
/// a network change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortKnock {
    /// The host (`portKnockerHost`, else the account's server host).
    pub host: String,
    /// The ports, in order (`portKnockerPorts`).
    pub ports: Vec<u16>,
}

/// Everything the engine needs to start. Built by the application from MicroSIP.ini.
#[derive(Clone)]
pub struct EngineSettings {
    /// Bind SIP and RTP to this address and advertise it in Contact/Via/SDP.
    pub bind: Option<IpAddr>,
    /// SIP UDP port; 0 picks a random one.
    pub sip_port: u16,
    /// An extra UDP port for the local "call by IP" account (MicroSIP's 5060), if any.
    pub local_port: Option<u16>,
    /// SIP TCP port; 0 picks a random one (MicroSIP: 5060 with the local account, falling
    /// back to a random port when it is taken).
    pub tcp_port: u16,
    /// SIP TLS port; 0 picks a random one (MicroSIP: 5061 with the local account).
    pub tls_port: u16,
    /// The TLS transport's checks and certificate.
    pub tls: TlsSettings,
    /// MicroSIP's `rport`: ask for `;rport` in our Via (RFC 3581).
    pub rport: bool,
    /// STUN servers (`host[:port]`), tried in order (MicroSIP's `STUN` with `enableSTUN=1`,
    /// at most 8); the SIP account uses them, the local account does not.
    pub stun: Vec<String>,
    /// DNS servers for SRV lookups (MicroSIP's `dnsSrvNs` with `dnsSrv=1`, at most 4).
    pub nameservers: Vec<String>,
    /// MicroSIP's `networkChanges`: follow the machine's address changes.
    pub network_changes: bool,
    /// MicroSIP's port knocking, when configured.
    pub port_knock: Option<PortKnock>,
    /// RTP base port and range; 0 lets PJSUA choose (its default 4000).
    pub rtp_port_min: u16,
    /// The last RTP port.
    pub rtp_port_max: u16,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Enabled codecs in priority order, MicroSIP style (`PCMA/8000/1`).
    pub codecs: Vec<String>,
    /// Send RTP continuously (false) or suppress silence (true).
    pub vad: bool,
    /// MicroSIP's `forceCodec`: answer incoming offers in our codec order, not the caller's.
    pub force_codec: bool,
    /// MicroSIP's `opusStereo`: opus/48000/2 in stereo at 96 kbit/s, a stereo bridge, no EC.
    pub opus_stereo: bool,
    /// MicroSIP's `EC`: the echo canceller (speex, 20 ms tail) on the sound device's audio.
    pub echo_canceller: bool,
    /// How many calls PJSUA may hold at once.
    pub max_calls: u32,
    /// New calls (INVITEs) admitted from one address within 10 s; more are answered 503 with
    /// `Retry-After` before PJSUA creates a call (a scan or a flood); 0: no limit.
    pub invite_burst: u32,
    /// PJSIP's own log level routed to the `log` facade (0..=6).
    pub pjsip_log_level: u32,
    /// MicroSIP's `enableLog=1`: PJSIP log at level 5 into this file.
    pub log_file: Option<PathBuf>,
    /// Add MicroSIP's local "call by IP" account.
    pub local_account: bool,
    /// The SIP account to register, if any.
    pub account: Option<AccountSettings>,
    /// Report incoming SIP MESSAGEs (`Event::Message`); false is MicroSIP's
    /// `disableMessaging=1` (PJSUA still answers them 200).
    pub messaging: bool,
    /// Decides, on the SIP thread and without blocking, what to do with each new incoming call.
    pub incoming: Arc<dyn Fn(&IncomingCall) -> IncomingAction + Send + Sync>,
}

impl EngineSettings {
    /// Settings for a program that embeds the engine: SIP and RTP on `bind` (a random SIP
    /// port), the local "call by IP" account, PCMA and PCMU, and incoming calls left ringing.
    pub fn local(bind: IpAddr) -> EngineSettings {
        EngineSettings {
            bind: Some(bind),
            sip_port: 0,
            local_port: None,
            tcp_port: 0,
            tls_port: 0,
            tls: TlsSettings::system(),
            rport: true,
            stun: Vec::new(),
            nameservers: Vec::new(),
            network_changes: false,
            port_knock: None,
            rtp_port_min: 0,
            rtp_port_max: 0,
            user_agent: format!("microsip/{}", env!("CARGO_PKG_VERSION")),
            codecs: vec!["PCMA/8000/1".into(), "PCMU/8000/1".into()],
            vad: false,
            force_codec: false,
            opus_stereo: false,
            echo_canceller: false,
            max_calls: 8,
            invite_burst: 0,
            pjsip_log_level: 1,
            log_file: None,
            local_account: true,
            account: None,
            messaging: true,
            incoming: Arc::new(|_| IncomingAction::RING),
        }
    }
}

impl fmt::Debug for EngineSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineSettings")
            .field("bind", &self.bind)
            .field("sip_port", &self.sip_port)
            .field("local_port", &self.local_port)
            .field("tcp_port", &self.tcp_port)
            .field("tls_port", &self.tls_port)
            .field("tls", &self.tls)
            .field("rport", &self.rport)
            .field("stun", &self.stun)
            .field("nameservers", &self.nameservers)
            .field("rtp", &(self.rtp_port_min, self.rtp_port_max))
            .field("user_agent", &self.user_agent)
            .field("invite_burst", &self.invite_burst)
            .field("codecs", &self.codecs)
            .field("local_account", &self.local_account)
            .field("account", &self.account.as_ref().map(|a| &a.id_uri))
            .field("messaging", &self.messaging)
            .finish_non_exhaustive()
    }
}

/// What the engine knows of a new incoming call when it asks for a decision.
#[derive(Debug, Clone, Default)]
pub struct IncomingCall {
    /// The new call.
    pub call: Option<CallId>,
    /// The account it came to.
    pub account: Option<AccountId>,
    /// The From header (display name and URI).
    pub from: String,
    /// The To header.
    pub to: String,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// Calls alive (not disconnected) including this one.
    pub live_calls: usize,
    /// The other calls alive when it came.
    pub others: Vec<OtherCall>,
    /// Its Call-ID is one this engine answered (2xx) or declined (486) lately: a forked or
    /// re-sent INVITE of a call already handled.
    pub answered_before: bool,
    /// `X-AUTOANSWER` header value, if present.
    pub x_autoanswer: Option<String>,
    /// The first `Call-Info` header value, if present.
    pub call_info: Option<String>,
    /// `P-Asserted-Identity` (else `Remote-Party-Id`) when it names a user at a host: the
    /// caller as the network asserts it, which MicroSIP shows and passes to hooks instead of
    /// From.
    pub asserted_identity: Option<String>,
}

/// Another call alive when an INVITE arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtherCall {
    /// Its remote party (the From or To header of the other side).
    pub remote: String,
    /// Connected with audio flowing both ways (not on hold).
    pub active: bool,
}

/// The immediate answer to an incoming INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncomingAction {
    /// 200 OK at once.
    Answer,
    /// 180 Ringing; the application answers, forwards or rejects later. `answer_after` and
    /// `forward_after`: the application means to answer, or to forward, after this delay (the
    /// engine only reports it; at most one is set).
    Ring {
        /// Answer after this delay (auto-answer).
        answer_after: Option<Duration>,
        /// Forward after this delay (`forwardingDelay`).
        forward_after: Option<Duration>,
    },
    /// 302 Moved Temporarily at once, with `Contact: <to>` and a `Diversion` header naming
    /// our To URI (MicroSIP's forwarding).
    Forward {
        /// The forwarding target (a SIP URI).
        to: String,
    },
    /// A final non-2xx response; `reason` becomes a `Reason: SIP ;cause=<code> ;text="…"`
    /// header (MicroSIP 3.22.16's form), the status line keeps its standard phrase.
    Reject {
        /// The SIP status code (e.g. 486).
        code: u16,
        /// The text of the `Reason:` header, if any.
        reason: Option<String>,
    },
}

impl IncomingAction {
    /// 180 Ringing, nothing planned: the call rings until someone acts.
    pub const RING: IncomingAction = IncomingAction::Ring {
        answer_after: None,
        forward_after: None,
    };
}

/// PJSIP's INVITE session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Not started.
    Null,
    /// We sent the INVITE.
    Calling,
    /// An INVITE came in.
    Incoming,
    /// A provisional response (180, 183) was sent or received.
    Early,
    /// Answered, waiting for the ACK.
    Connecting,
    /// Connected.
    Confirmed,
    /// Ended.
    Disconnected,
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            CallState::Null => "NULL",
            CallState::Calling => "CALLING",
            CallState::Incoming => "INCOMING",
            CallState::Early => "EARLY",
            CallState::Connecting => "CONNECTING",
            CallState::Confirmed => "CONFIRMED",
            CallState::Disconnected => "DISCONNECTED",
        };
        f.write_str(s)
    }
}

/// Which side of the call we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We placed the call.
    Caller,
    /// We received it.
    Callee,
}

/// The call's audio state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    /// No audio (yet).
    None,
    /// Audio flows both ways.
    Active,
    /// We put the call on hold.
    LocalHold,
    /// The far end put the call on hold.
    RemoteHold,
    /// The audio could not be set up.
    Error,
}

/// A snapshot of one call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The call.
    pub call: CallId,
    /// The account it belongs to.
    pub account: AccountId,
    /// Which side we are.
    pub role: Role,
    /// Its INVITE session state.
    pub state: CallState,
    /// Its audio state.
    pub media: MediaState,
    /// The far end (From or To header, with display name).
    pub remote: String,
    /// Our end.
    pub local: String,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// The last SIP status code (0 when none yet).
    pub last_status: u16,
    /// The last status's reason phrase.
    pub last_reason: String,
}

/// What happened, sent from PJSIP's threads to the application on a channel. New kinds of
/// events may come: match with a `_` arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A new incoming call, and what the decision callback did with it.
    Incoming {
        /// What the INVITE said.
        info: IncomingCall,
        /// What was done with it.
        action: IncomingAction,
    },
    /// A call changed state.
    CallState {
        /// The call now.
        info: CallInfo,
    },
    /// A call's media changed.
    Media {
        /// The call.
        call: CallId,
        /// Its audio state now.
        state: MediaState,
        /// Whether its audio is encrypted, and how.
        security: MediaSecurity,
    },
    /// A REGISTER (or un-REGISTER) transaction finished.
    Registration {
        /// The account.
        account: AccountId,
        /// The registrar's status code (or PJSIP's, for a local failure).
        code: u16,
        /// Its reason phrase, or what failed.
        reason: String,
        /// Seconds the registration lasts (0: unregistered).
        expires: u32,
        /// A refresh of an existing registration.
        renew: bool,
    },
    /// A DTMF digit was received (RFC 2833, SIP INFO, or a tone heard by a listener of
    /// `Engine::listen_dtmf`).
    Dtmf {
        /// The call.
        call: CallId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it lasted, in milliseconds; `None` when the sender did not say (an RFC 2833
        /// digit whose end packets were all lost). RFC 2833 digits are reported at their end.
        duration_ms: Option<u32>,
    },
    /// The far end of `call` asks us (REFER) to call `target` instead. `accepted`: answered
    /// 202 and PJSUA places the new call; refused with 603 (MicroSIP's rule: the call is not
    /// connected, or a call with `target`'s user@domain exists already).
    TransferRequest {
        /// The call the REFER came on.
        call: CallId,
        /// The `Refer-To` target.
        target: String,
        /// Answered 202 (else 603).
        accepted: bool,
    },
    /// Progress of a transfer we asked for on `call` (`Engine::transfer`): the REFER's
    /// acceptance, then the status lines the far end NOTIFYs. On a 2xx the transfer is done
    /// and the phone hangs its leg up. `last`: no more reports follow.
    TransferStatus {
        /// The call we transferred.
        call: CallId,
        /// The status code reported.
        code: u16,
        /// Its text.
        text: String,
        /// No more reports follow.
        last: bool,
    },
    /// An outgoing call was redirected (3xx) and the INVITE is sent again to `target`.
    Redirected {
        /// The call.
        call: CallId,
        /// Where it goes now.
        target: String,
    },
    /// A SIP MESSAGE with a `text/plain` body arrived (only with messaging on).
    Message {
        /// The account it came to.
        account: AccountId,
        /// The call it came within, if any.
        call: Option<CallId>,
        /// The sender (From header).
        from: String,
        /// The recipient (To header).
        to: String,
        /// Its content type (`text/plain`).
        content_type: String,
        /// The text.
        body: String,
    },
    /// A prompt (`Engine::play_prompt`) has played through `times` times on `call`.
    PromptPlayed {
        /// The call.
        call: CallId,
        /// How many times, so far.
        times: u32,
    },
    /// A message-summary NOTIFY (voicemail indication) arrived, subscribed to or not.
    Mwi {
        /// The account.
        account: AccountId,
        /// `Messages-Waiting: yes`.
        waiting: bool,
        /// New and old voice messages (`Voice-Message: new/old`), 0 when not given.
        new: u32,
        /// Old voice messages.
        old: u32,
    },
}

/// Every failure of the engine, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// PJSUA is one instance per process and one is running.
    AlreadyRunning,
    /// A PJSIP call failed.
    Pj {
        /// The PJSIP function.
        op: &'static str,
        /// PJSIP's status code.
        status: i32,
        /// PJSIP's text for it.
        message: String,
    },
    /// An argument cannot be passed to PJSIP (e.g. it contains a NUL byte).
    InvalidArgument {
        /// What the argument is.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The call does not exist (any more).
    NoSuchCall(CallId),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyRunning => {
                write!(
                    f,
                    "a SIP engine is already running in this process; shut it down first"
                )
            }
            Error::Pj {
                op,
                status,
                message,
            } => write!(f, "{op} failed: {message} (PJSIP status {status})"),
            Error::InvalidArgument { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::NoSuchCall(c) => write!(f, "call {c} does not exist (it may have ended)"),
        }
    }
}

impl std::error::Error for Error {}

/// The engine's results.
pub type Result<T> = std::result::Result<T, Error>;

/// MicroSIP's `get_public_addr`: a `publicAddr` that is an IPv4 address in a private range
/// (10/8, 172.16/12, 192.168/16) one of the machine's own addresses is also in, or sharing its
/// first two octets with one of them, is replaced by the numerically closest local address
/// (the machine is on that network itself, so that address is reachable directly); any other
/// value is used as given.
pub fn public_addr(value: &str, locals: &[std::net::Ipv4Addr]) -> String {
    let Ok(ip) = value.trim().parse::<std::net::Ipv4Addr>() else {
        return value.trim().to_string();
    };
    let range = |a: std::net::Ipv4Addr| {
        let o = a.octets();
        match o {
            [10, ..] => Some(1),
            [172, b, ..] if (16..32).contains(&b) => Some(2),
            [192, 168, ..] => Some(3),
            _ => None,
        }
    };
    let o = ip.octets();
    let near = locals.iter().filter(|l| {
        let lo = l.octets();
        (range(ip).is_some() && range(ip) == range(**l)) || (lo[0] == o[0] && lo[1] == o[1])
    });
    near.min_by_key(|l| u32::from(**l).abs_diff(u32::from(ip)))
        .map_or_else(|| ip.to_string(), |l| l.to_string())
}

#[cfg(test)]
mod public_addr_tests {
    use super::public_addr;
    use std::net::Ipv4Addr;

    #[test]
    fn microsips_get_public_addr_rule() {
        let locals = [
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(192, 168, 1, 20),
            Ipv4Addr::new(10, 1, 2, 3),
        ];
        // A public address is used as given; so is a host name.
        assert_eq!(public_addr("203.0.113.7", &locals), "203.0.113.7");
        assert_eq!(public_addr(" pbx.example.org ", &locals), "pbx.example.org");
        // In a private range the machine is in: the closest local address.
        assert_eq!(public_addr("192.168.7.1", &locals), "192.168.1.20");
        assert_eq!(public_addr("10.200.0.1", &locals), "10.1.2.3");
        // 172.16/12 with no local address there, and no shared first two octets: as given.
        assert_eq!(public_addr("172.20.0.5", &locals), "172.20.0.5");
        // The same first two octets, outside the private ranges.
        assert_eq!(
            public_addr("100.64.9.9", &[Ipv4Addr::new(100, 64, 0, 2)]),
            "100.64.0.2"
        );
        assert_eq!(public_addr("127.0.0.9", &locals), "127.0.0.1");
    }
}
