//! `microsip --status`: the running phone's state as one JSON object (`msip:status` on the
//! control socket), and the same for a person, one fact per line.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::events::{direction, media};
use crate::engine::CallInfo;
use crate::logging::{one_entry, Problem};

static STARTED: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// Marks the start of the process (for the uptime); the first call counts.
pub fn mark_start() {
    STARTED.get_or_init(|| (Instant::now(), SystemTime::now()));
}

fn started() -> (Instant, SystemTime) {
    *STARTED.get_or_init(|| (Instant::now(), SystemTime::now()))
}

/// One account's registration as the phone last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The account does not register (no server; or MicroSIP's local call-by-IP account).
    NotRegistering,
    /// No answer yet from the registrar.
    Pending,
    /// The registrar's last answer.
    Answered {
        /// Its status code (PJSIP's own for a local failure, e.g. 408, 503).
        code: u16,
        /// Its reason phrase.
        reason: String,
        /// The binding's lifetime (0: not registered).
        expires: u32,
        /// When it came.
        at: SystemTime,
    },
}

impl Registration {
    /// Whether the account is registered now.
    pub fn is_registered(&self) -> bool {
        matches!(self, Registration::Answered { code, expires, .. }
            if (200..300).contains(code) && *expires > 0)
    }
}

/// What the status reports of one account.
#[derive(Debug, Clone)]
pub struct AccountStatus {
    /// How logs name it ("Account1", "local account (call by IP)").
    pub name: String,
    /// Its registration.
    pub registration: Registration,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The status object.
pub fn to_json(
    ini: &Path,
    sip_addr: &str,
    accounts: &[AccountStatus],
    calls: &[CallInfo],
    last_problem: Option<&Problem>,
) -> Value {
    let (since, started_at) = started();
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|a| {
            let mut v = json!({
                "account": a.name,
                "registered": a.registration.is_registered(),
            });
            match &a.registration {
                Registration::NotRegistering => v["state"] = json!("not_registering"),
                Registration::Pending => v["state"] = json!("pending"),
                Registration::Answered {
                    code,
                    reason,
                    expires,
                    at,
                } => {
                    let state = if a.registration.is_registered() {
                        "registered"
                    } else if (200..300).contains(code) {
                        "unregistered"
                    } else {
                        "failed"
                    };
                    v["state"] = json!(state);
                    v["code"] = json!(code);
                    v["reason"] = json!(reason);
                    v["expires"] = json!(expires);
                    v["since"] = json!(rfc3339(*at));
                }
            }
            v
        })
        .collect();
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "call": c.call.index(),
                "direction": direction(c.role),
                "state": c.state.to_string().to_lowercase(),
                "media": media(c.media),
                "remote": c.remote,
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "settings": ini.display().to_string(),
        "sip": sip_addr,
        "started": rfc3339(started_at),
        "uptime_seconds": since.elapsed().as_secs(),
        "accounts": accounts,
        "calls": calls,
        "last_problem": last_problem.map(|p| json!({
            "at": rfc3339(p.at),
            "level": p.level.as_str().to_lowercase(),
            "message": p.text,
        })),
    })
}

fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The status object for a person, one fact per line. Text that came from the network (a
/// remote party, a reason phrase) is escaped.
pub fn render(v: &Value) -> String {
    let text = |v: &Value| one_entry(v.as_str().unwrap_or("?"), false);
    // A number as JSON writes it; anything else escaped too (JSON leaves DEL and the C1
    // controls in its strings as they are).
    let raw = |v: &Value| one_entry(&v.to_string(), false);
    let mut out = format!(
        "microsip {} (pid {}), up {}, settings {}, SIP {}\n",
        text(&v["version"]),
        raw(&v["pid"]),
        duration_text(Duration::from_secs(
            v["uptime_seconds"].as_u64().unwrap_or(0)
        )),
        text(&v["settings"]),
        text(&v["sip"]),
    );
    let accounts = v["accounts"].as_array().cloned().unwrap_or_default();
    if accounts.is_empty() {
        out.push_str("accounts: none active\n");
    }
    for a in &accounts {
        let detail = match a["state"].as_str() {
            Some("registered") => format!(
                "registered ({} {}, expires in {} s, since {})",
                raw(&a["code"]),
                text(&a["reason"]),
                raw(&a["expires"]),
                text(&a["since"])
            ),
            Some("not_registering") => "not registering (no registrar)".to_string(),
            Some("pending") => "registering (no answer yet)".to_string(),
            Some(_) => format!(
                "{} ({} {}, since {})",
                text(&a["state"]),
                raw(&a["code"]),
                text(&a["reason"]),
                text(&a["since"])
            ),
            None => "?".to_string(),
        };
        out.push_str(&format!("{}: {detail}\n", text(&a["account"])));
    }
    let calls = v["calls"].as_array().cloned().unwrap_or_default();
    if calls.is_empty() {
        out.push_str("calls: none\n");
    }
    for c in &calls {
        out.push_str(&format!(
            "call {} {} {}: {}, audio {}\n",
            raw(&c["call"]),
            text(&c["direction"]),
            text(&c["remote"]),
            text(&c["state"]),
            text(&c["media"]),
        ));
    }
    let p = &v["last_problem"];
    if p.is_object() {
        out.push_str(&format!(
            "last problem: {} {}: {}\n",
            text(&p["at"]),
            text(&p["level"]),
            text(&p["message"])
        ));
    } else {
        out.push_str("last problem: none\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_account_and_a_failed_one_read_as_such() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let accounts = [
            AccountStatus {
                name: "Account1".into(),
                registration: Registration::Answered {
                    code: 200,
                    reason: "OK".into(),
                    expires: 300,
                    at,
                },
            },
            AccountStatus {
                name: "Account2".into(),
                registration: Registration::Answered {
                    code: 408,
                    reason: "Request Timeout".into(),
                    expires: 0,
                    at,
                },
            },
            AccountStatus {
                name: "local account (call by IP)".into(),
                registration: Registration::NotRegistering,
            },
        ];
        let problem = Problem {
            at,
            level: log::Level::Warn,
            text: "registration failed: Account2: 408".into(),
        };
        let v = to_json(
            Path::new("/x/MicroSIP.ini"),
            "127.0.0.1:5060",
            &accounts,
            &[],
            Some(&problem),
        );
        assert_eq!(v["accounts"][0]["state"], "registered");
        assert_eq!(v["accounts"][0]["registered"], true);
        assert_eq!(v["accounts"][1]["state"], "failed");
        assert_eq!(v["accounts"][1]["code"], 408);
        assert_eq!(v["accounts"][2]["state"], "not_registering");
        assert_eq!(v["last_problem"]["level"], "warn");
        let text = render(&v);
        assert!(
            text.contains("Account1: registered (200 OK, expires in 300 s"),
            "{text}"
        );
        assert!(
            text.contains("Account2: failed (408 Request Timeout"),
            "{text}"
        );
        assert!(text.contains("calls: none"), "{text}");
        assert!(
            text.contains("last problem: 2027-01-15T08:00:00Z warn"),
            "{text}"
        );
    }

    #[test]
    fn remote_text_is_escaped_for_a_terminal() {
        let v = json!({"calls": [{"call": 0, "direction": "incoming",
            "remote": "\u{1b}[2J\"evil\" <sip:x@y>", "state": "early", "media": "none"}]});
        let text = render(&v);
        assert!(text.contains("\\x1b[2J"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn numbers_that_are_not_numbers_are_escaped() {
        // Found by the json_inputs fuzz target: a value printed as JSON kept a DEL (and would
        // keep C1 controls such as U+009B, a terminal's CSI) from the reply.
        let v = json!({"pid": ["\u{7f}\u{9b}2J"], "calls": [{"call": {"x": "\u{9b}"}}]});
        let text = render(&v);
        assert!(text.contains("(pid [\"\\x7f\\x9b2J\"])"), "{text}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
    }

    #[test]
    fn a_last_problem_without_its_fields_does_not_panic() {
        // Found by the json_inputs fuzz target: indexing the object (not the value) panicked
        // on a missing key, so `microsip --status` crashed on such a reply.
        let v = json!({"last_problem": {"level": "warn", "m)ssage": "x"}});
        let text = render(&v);
        assert!(text.contains("last problem: ? warn: ?"), "{text}");
    }

    #[test]
    fn an_unknown_registration_state_is_escaped_too() {
        // Found by the json_inputs fuzz target: the state was printed as it came.
        let v = json!({"accounts": [{"account": "a", "state": "\u{1b}[2J"}]});
        let text = render(&v);
        assert!(text.contains("a: \\x1b[2J (null ?, since ?)"), "{text}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
    }
}
