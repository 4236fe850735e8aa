//! From MicroSIP.ini (and our options) to the engine's settings and the call policy. The one
//! place where the `config` vocabulary meets the engine's.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use super::cli::Options;
use crate::config::{self, Account, Config, Level};
use crate::dial::{DialInput, LocalAccount, MainAccount};
use crate::engine::{
    AccountSettings, EngineSettings, IncomingAction, SrtpMode, TlsSettings, TransportKind,
};
use crate::policy::{AccountIdentity, AutoAnswerMode, Forwarding, Policy};

/// MicroSIP's UDP port for the local account when `sourcePort` is not set, and its TCP port
/// while the local account is active.
const LOCAL_ACCOUNT_PORT: u16 = 5060;
/// MicroSIP's TLS port while the local account is active.
const LOCAL_ACCOUNT_TLS_PORT: u16 = 5061;

/// Everything the phone starts from.
pub struct Setup {
    pub config: Config,
    pub engine: EngineSettings,
    pub policy: Policy,
    /// How log lines name the SIP account ("Account1").
    pub account_name: String,
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn exe_path() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("microsip"))
}

/// Where the settings file is for `opts` (`--ini`, the portable file next to the program, or
/// the per-user file): the one rule the phone and a second process (finding the running
/// phone) share.
pub fn locate(opts: &Options) -> config::Located {
    config::locate(
        opts.ini.as_deref(),
        &exe_path(),
        env_path("XDG_CONFIG_HOME").as_deref(),
        env_path("HOME").as_deref(),
    )
}

/// Finds the settings file (`--ini`, MicroSIP's portable file next to the program, or the
/// per-user file, created on first run) and reads it. The error names the file and what to fix.
pub fn read(opts: &Options) -> Result<(Config, config::Located), String> {
    let located = locate(opts);
    if located.create_if_missing && !located.path.exists() {
        config::create_default(&located.path).map_err(|e| e.to_string())?;
        log::info!("created {}", located.path.display());
    }
    let cfg = config::load(&located.path).map_err(|e| e.to_string())?;
    Ok((cfg, located))
}

/// Logs what reading the settings noticed: info lines for accepted aliases, warnings for
/// values replaced by MicroSIP's defaults (each with file, line, key and what is accepted).
pub fn report(cfg: &Config) {
    for d in &cfg.diagnostics {
        match d.level {
            Level::Info => log::info!("{d}"),
            _ => log::warn!("{d}"),
        }
    }
    if let Some(line) = not_applied_line(&cfg.not_applied()) {
        log::warn!("{}: {line}", cfg.path.display());
    }
}

/// One line naming the keys a file sets that this phone does not apply, grouped by why; `None`
/// when there are none.
fn not_applied_line(keys: &[(String, &'static str)]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (key, why) in keys {
        match groups.iter_mut().find(|(w, _)| w == why) {
            Some((_, names)) => names.push(key),
            None => groups.push((why, vec![key])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(why, names)| format!("{} ({why})", names.join(", ")))
        .collect();
    Some(format!(
        "set, but not applied by this phone: {}",
        parts.join("; ")
    ))
}

/// Finds and reads the settings file, reports what it noticed, and builds the settings.
/// The error text names the file and what to fix.
pub fn load(opts: &Options) -> Result<Setup, String> {
    let (cfg, located) = read(opts)?;
    log::info!("settings: {}", cfg.path.display());
    report(&cfg);
    let log_file = cfg.settings.enable_log.then(|| {
        config::log_path(
            &located,
            &exe_path(),
            env_path("XDG_STATE_HOME").as_deref(),
            env_path("HOME").as_deref(),
        )
    });
    if let Some(p) = &log_file {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        log::info!("enableLog=1: PJSIP log in {}", p.display());
    }
    Ok(build(cfg, opts, log_file))
}

/// `microsip --check`: the diagnostics on stderr, the effective settings on stdout as sorted
/// `Section.key=value` lines (passwords masked). Exit 0 when the file is usable, 2 when not.
pub fn check(opts: &Options) -> std::process::ExitCode {
    match read(opts) {
        Ok((cfg, _)) => {
            report(&cfg);
            let mut text = String::new();
            for line in cfg.effective_lines() {
                text.push_str(&line);
                text.push('\n');
            }
            super::print_out(&text);
            std::process::ExitCode::SUCCESS
        }
        Err(msg) => {
            log::error!("{msg}");
            std::process::ExitCode::from(super::EXIT_BAD_INPUT)
        }
    }
}

pub(crate) fn build(cfg: Config, opts: &Options, log_file: Option<PathBuf>) -> Setup {
    let s = &cfg.settings;
    let mut account_name = String::new();
    let mut identity = None;
    let account = match cfg.active_account() {
        Some((n, acc)) => {
            account_name = format!("Account{n}");
            identity = Some(AccountIdentity {
                username: acc.username.clone(),
                domain: crate::dial::uri_user_host(&acc.domain).1,
            });
            account_settings(n, acc, stun_on(s))
        }
        None => None,
    };
    let local = cfg.local_account_enabled();
    let account_active = account.is_some();
    let engine = EngineSettings {
        bind: opts.bind,
        sip_port: s.source_port,
        local_port: (local && s.source_port == 0).then_some(LOCAL_ACCOUNT_PORT),
        // MicroSIP (§10): TCP 5060 and TLS 5061 while the local account is active, else
        // random ports; a port that is taken falls back to a random one.
        tcp_port: if local { LOCAL_ACCOUNT_PORT } else { 0 },
        tls_port: if local { LOCAL_ACCOUNT_TLS_PORT } else { 0 },
        tls: tls_settings(s),
        rport: s.rport,
        network_changes: s.network_changes,
        port_knock: port_knock(&cfg),
        stun: if stun_on(s) {
            s.stun.clone()
        } else {
            Vec::new()
        },
        nameservers: if s.dns_srv {
            s.dns_srv_ns.clone()
        } else {
            Vec::new()
        },
        rtp_port_min: s.rtp_port_min,
        rtp_port_max: s.rtp_port_max,
        user_agent: if s.user_agent.is_empty() {
            format!("MicroSIP/{} (microsip-rs)", env!("CARGO_PKG_VERSION"))
        } else {
            s.user_agent.clone()
        },
        codecs: s.audio_codecs.clone(),
        vad: s.vad,
        force_codec: s.force_codec,
        opus_stereo: s.opus_stereo,
        echo_canceller: s.ec,
        max_calls: crate::ffi::PJSUA_MAX_CALLS,
        invite_burst: s.invite_burst,
        pjsip_log_level: crate::logging::pjsip_level(
            opts.log_level.unwrap_or(log::LevelFilter::Info),
        ),
        log_file,
        local_account: local,
        account,
        incoming: Arc::new(|_| IncomingAction::RING),
        messaging: !s.disable_messaging,
    };
    let policy = Policy {
        auto_answer: match s.auto_answer {
            config::AutoAnswer::Off => AutoAnswerMode::Off,
            config::AutoAnswer::Button => AutoAnswerMode::Button,
            config::AutoAnswer::Header => AutoAnswerMode::Header,
            config::AutoAnswer::All => AutoAnswerMode::All,
        },
        aa_button: s.aa,
        auto_answer_delay: s.auto_answer_delay,
        auto_answer_numbers: s.auto_answer_number.clone(),
        auto_answer_calls: s.auto_answer_calls,
        deny_incoming: s.deny_incoming,
        dnd: s.dnd,
        call_waiting: s.call_waiting,
        max_concurrent_calls: s.max_concurrent_calls,
        account: identity,
        forwarding: forwarding(&cfg, account_active),
    };
    Setup {
        config: cfg,
        engine,
        policy,
        account_name,
    }
}

/// Our TLS keys: the system's CA store unless `tlsCaFile` names a bundle; a file that cannot
/// be read is reported (PJSIP then cannot open TLS, which is logged too).
fn tls_settings(s: &config::Settings) -> TlsSettings {
    let path = |key: &str, v: &str| {
        (!v.trim().is_empty()).then(|| {
            let p = PathBuf::from(v.trim());
            if let Err(e) = std::fs::metadata(&p) {
                log::warn!("{key}={}: cannot be read: {e}", p.display());
            }
            p
        })
    };
    let system = TlsSettings::system();
    let ca_file = path("tlsCaFile", &s.tls_ca_file);
    TlsSettings {
        verify_server: s.tls_verify_server,
        ca_path: if ca_file.is_some() {
            None
        } else {
            system.ca_path
        },
        ca_file: ca_file.or(system.ca_file),
        cert_file: path("tlsCertFile", &s.tls_cert_file),
        privkey_file: path("tlsPrivateKeyFile", &s.tls_private_key_file),
    }
}

/// MicroSIP's forwarding (`forwarding=all`, or `button` with `FWD=1`), with
/// `forwardingNumber` formatted like a dialled number; `None` (with a warning when the number
/// cannot be called) when calls are not forwarded.
fn forwarding(cfg: &Config, main_active: bool) -> Option<Forwarding> {
    let s = &cfg.settings;
    let on = match s.forwarding {
        config::Forwarding::Off => false,
        config::Forwarding::Button => s.fwd,
        config::Forwarding::All => true,
    };
    if !on {
        return None;
    }
    if s.forwarding_number.trim().is_empty() {
        log::warn!("forwarding is on but forwardingNumber is empty: calls are not forwarded; set forwardingNumber");
        return None;
    }
    let main = main_active
        .then(|| cfg.active_account().map(|(_, a)| a))
        .flatten();
    let dialing = Dialing::new(cfg, main);
    let input = dialing.input(
        &s.forwarding_number,
        main.is_some(),
        cfg.local_account_enabled(),
    );
    match crate::dial::prepare_call(&input) {
        Ok(plan) => {
            let delay = match s.forwarding_delay {
                0 => "at once".to_string(),
                d => format!("after {d} s of ringing"),
            };
            log::info!("calls are forwarded to {} {delay}", plan.uri);
            Some(Forwarding {
                target: plan.uri,
                delay: s.forwarding_delay,
            })
        }
        Err(e) => {
            log::warn!("forwardingNumber: {e}; calls are not forwarded");
            None
        }
    }
}

/// What turns dialled text into a URI (MicroSIP's `GetSIPURI` inputs): the main account's
/// domain, prefix, dial plan and transport, and the local account's.
#[derive(Debug, Clone, Default)]
pub struct Dialing {
    domain: String,
    dialing_prefix: String,
    dial_plan: String,
    transport: String,
    local_domain: String,
    local_transport: String,
    tcp_transport: bool,
    tls_transport: bool,
}

impl Dialing {
    /// From the settings, with `main` the active account when it runs.
    pub fn new(cfg: &Config, main: Option<&Account>) -> Dialing {
        let local = cfg.local_account();
        let transport = |a: &Account| a.transport.as_ini().to_string();
        Dialing {
            domain: main.map(|a| a.domain.clone()).unwrap_or_default(),
            dialing_prefix: main.map(|a| a.dialing_prefix.clone()).unwrap_or_default(),
            dial_plan: main.map(|a| a.dial_plan.clone()).unwrap_or_default(),
            transport: main.map(transport).unwrap_or_default(),
            local_domain: local.domain.clone(),
            local_transport: transport(&local),
            tcp_transport: main.is_some_and(|a| {
                matches!(
                    a.transport,
                    config::Transport::Tcp | config::Transport::Auto
                )
            }),
            tls_transport: main.is_some_and(|a| a.transport == config::Transport::Tls),
        }
    }

    /// The dial pipeline's input for `target`, with the accounts that run.
    pub fn input<'a>(&'a self, target: &'a str, main: bool, local: bool) -> DialInput<'a> {
        DialInput {
            target,
            main: main.then_some(MainAccount {
                domain: &self.domain,
                dialing_prefix: &self.dialing_prefix,
                dial_plan: &self.dial_plan,
                transport: &self.transport,
            }),
            local: local.then_some(LocalAccount {
                domain: &self.local_domain,
                transport: &self.local_transport,
            }),
            tcp_transport: self.tcp_transport,
            tls_transport: self.tls_transport,
            no_transform: false,
        }
    }
}

/// MicroSIP's port knocking: `portKnockerPorts` to `portKnockerHost`, else to the active
/// account's server host; `None` without ports or a host.
fn port_knock(cfg: &Config) -> Option<crate::engine::PortKnock> {
    let s = &cfg.settings;
    if s.port_knocker_ports.is_empty() {
        return None;
    }
    let host = if s.port_knocker_host.trim().is_empty() {
        let server = cfg.active_account().map(|(_, a)| a.server.clone())?;
        crate::dial::uri_user_host(&format!("sip:{server}")).1
    } else {
        s.port_knocker_host.trim().to_string()
    };
    (!host.is_empty()).then(|| crate::engine::PortKnock {
        host,
        ports: s.port_knocker_ports.clone(),
    })
}

/// MicroSIP's STUN switch: `enableSTUN=1` with at least one server.
fn stun_on(s: &config::Settings) -> bool {
    s.enable_stun && s.stun.iter().any(|v| !v.trim().is_empty())
}

/// `[AccountN]` as PJSUA wants it (MicroSIP's `PJAccountConfig`), or `None` when it cannot
/// register (the reason is logged). `stun`: STUN is on (then `publicAddr` is not used).
fn account_settings(n: u32, a: &Account, stun: bool) -> Option<AccountSettings> {
    if a.password_state() == config::PasswordState::EncryptedUnreadable {
        log::warn!(
            "[Account{n}] password is in MicroSIP's encrypted form, which cannot be decrypted (its key is not \
             published); the account stays unregistered. Write the password in plain text."
        );
        return None;
    }
    let transport = match a.transport {
        config::Transport::Udp => TransportKind::Udp,
        config::Transport::Tcp => TransportKind::Tcp,
        config::Transport::Tls => TransportKind::Tls,
        config::Transport::Auto => TransportKind::Any,
    };
    let suffix = match transport {
        TransportKind::Tcp => ";transport=tcp",
        TransportKind::Tls => ";transport=tls",
        _ => "",
    };
    let aor = format!("sip:{}@{}{suffix}", a.username, a.domain);
    let id_uri = if a.display_name.is_empty() {
        format!("<{aor}>")
    } else {
        format!("\"{}\" <{aor}>", a.display_name.replace('"', "'"))
    };
    Some(AccountSettings {
        id_uri,
        registrar: (!a.server.is_empty()).then(|| format!("sip:{}{suffix}", a.server)),
        proxies: a
            .proxy
            .split_whitespace()
            .map(|p| format!("sip:{p}{suffix}"))
            .collect(),
        auth_user: if a.auth_id.is_empty() {
            a.username.clone()
        } else {
            a.auth_id.clone()
        },
        password: a.password.clone(),
        transport,
        register_refresh: a.register_refresh,
        keep_alive: a.keep_alive,
        register_retry: a.register_retry,
        // MicroSIP 3.22.16's hideCID: `soft` shows the display name "Anonymous", `hard` (and
        // 3.22.3's `1`) also MicroSIP's anonymous URI; both send `Privacy: id`.
        outgoing_from: match a.hide_cid {
            config::HideCid::Off => None,
            config::HideCid::Soft => Some(format!("\"Anonymous\" <{aor}>")),
            config::HideCid::Hard => {
                Some("\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_string())
            }
        },
        privacy: a.hide_cid != config::HideCid::Off,
        mwi: !a.voicemail_number.is_empty(),
        ice: a.ice,
        allow_rewrite: a.allow_rewrite,
        disable_session_timer: a.disable_session_timer,
        public_addr: (!stun && !a.public_addr.trim().is_empty())
            .then(|| a.public_addr.trim().to_string()),
        srtp: match a.srtp {
            config::Srtp::Disabled => SrtpMode::Disabled,
            config::Srtp::Optional => SrtpMode::Optional,
            config::Srtp::Mandatory => SrtpMode::Mandatory,
            config::Srtp::DtlsSdes => SrtpMode::DtlsSdes,
            config::Srtp::Dtls => SrtpMode::Dtls,
        },
    })
}
