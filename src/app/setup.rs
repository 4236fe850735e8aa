//! From MicroSIP.ini (and our options) to the engine's settings and the call policy. The one
//! place where the `config` vocabulary meets the engine's.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use super::cli::Options;
use crate::config::{self, Account, Config, Level};
use crate::engine::{AccountSettings, EngineSettings, IncomingAction, TransportKind};
use crate::policy::{AutoAnswerMode, Policy};

/// MicroSIP's UDP port for the local account when `sourcePort` is not set.
const LOCAL_ACCOUNT_PORT: u16 = 5060;

/// Everything the phone starts from.
pub struct Setup {
    pub config: Config,
    pub engine: EngineSettings,
    pub policy: Policy,
    /// How log lines name the SIP account ("Account1").
    pub account_name: String,
}

/// Finds and reads the settings file, reports what it noticed, and builds the settings.
/// The error text names the file and what to fix.
pub fn load(opts: &Options) -> Result<Setup, String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("microsip"));
    let env_path = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let located = config::locate(
        opts.ini.as_deref(),
        &exe,
        env_path("XDG_CONFIG_HOME").as_deref(),
        env_path("HOME").as_deref(),
    );
    if located.create_if_missing && !located.path.exists() {
        config::create_default(&located.path).map_err(|e| e.to_string())?;
        log::info!("created {}", located.path.display());
    }
    let cfg = config::load(&located.path).map_err(|e| e.to_string())?;
    log::info!("settings: {}", cfg.path.display());
    for d in &cfg.diagnostics {
        match d.level {
            Level::Info => log::info!("{d}"),
            _ => log::warn!("{d}"),
        }
    }
    let log_file = cfg.settings.enable_log.then(|| {
        config::log_path(
            &located,
            &exe,
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

fn build(cfg: Config, opts: &Options, log_file: Option<PathBuf>) -> Setup {
    let s = &cfg.settings;
    let mut account_name = String::new();
    let account = match cfg.active_account() {
        Some((n, acc)) => {
            account_name = format!("Account{n}");
            account_settings(n, acc)
        }
        None => None,
    };
    let local = cfg.local_account_enabled();
    let engine = EngineSettings {
        bind: opts.bind,
        sip_port: s.source_port,
        local_port: (local && s.source_port == 0).then_some(LOCAL_ACCOUNT_PORT),
        rtp_port_min: s.rtp_port_min,
        rtp_port_max: s.rtp_port_max,
        user_agent: if s.user_agent.is_empty() {
            format!("MicroSIP/{} (microsip-rs)", env!("CARGO_PKG_VERSION"))
        } else {
            s.user_agent.clone()
        },
        codecs: s.audio_codecs.clone(),
        vad: s.vad,
        max_calls: crate::ffi::PJSUA_MAX_CALLS,
        pjsip_log_level: crate::logging::pjsip_level(
            opts.log_level.unwrap_or(log::LevelFilter::Info),
        ),
        log_file,
        local_account: local,
        account,
        incoming: Arc::new(|_| IncomingAction::Ring),
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
    };
    Setup {
        config: cfg,
        engine,
        policy,
        account_name,
    }
}

/// `[AccountN]` as PJSUA wants it (MicroSIP's `PJAccountConfig`), or `None` when it cannot
/// register (the reason is logged).
fn account_settings(n: u32, a: &Account) -> Option<AccountSettings> {
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
    })
}
