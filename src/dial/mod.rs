//! The dial pipeline: from a dialled string to the URI for `pjsua_call_make_call`.
//!
//! Pure functions following MicroSIP's `FormatNumber`, `SelectSIPAccount`, `GetSIPURI` and
//! `msip_verify_sip_url` (reference §4). [`prepare_call`] runs the whole pipeline:
//!
//! 1. **DTMF suffix** ([`split_dtmf`]): any `,` cuts the number (3.22.16). The text after it
//!    is split at `,` into groups sent after the call is confirmed ([`dtmf_schedule`]), unless
//!    the comma is the last character.
//! 2. **Account choice** ([`select_account`]): the local "IP" account when both accounts are
//!    active and the target's domain differs from the account domain and is `localhost` or an
//!    IPv4 literal (port ignored); otherwise whichever is active.
//! 3. **Phone-number normalisation** ([`normalize_number`]), only when `no_transform` is off,
//!    the text does not contain both `<` and `>`, and the main account was chosen.
//! 4. **Dial plan** ([`apply_dial_plan`]) of the main account, same conditions.
//! 5. **URI** ([`format_sip_uri`], [`add_transport`]): `sip:` added unless `sip:` occurs
//!    anywhere, `@domain` added when the address has no `@` (before its parameters: a
//!    deliberate fix, see [`format_sip_uri`]), wrapped in `<…>`, old `;transport`, `;ttl`,
//!    `;maddr` removed and `;transport=tcp|tls` put before any `?` headers.
//! 6. **Validation** ([`validate_uri`]): at most 900 bytes of UTF-8 (checked on the final URI,
//!    which can be up to 14 bytes longer than the one MicroSIP measures) and a cheap syntax
//!    check; the engine still calls `pjsua_verify_sip_url`.
//! 7. **URI headers**: `?header=value` stays in the target as typed; PJSIP moves such headers
//!    into the INVITE.
//! 8. **`sips:`**: see below.
//!
//! `%20`/`%2B` are decoded by the command-line grammar (`control::grammar`, as in MicroSIP's
//! `DialNumber`), so the pipeline does not decode them again (`%2520` stays `%2520`).
//!
//! # `sips:` — a deliberate decision
//!
//! MicroSIP does not know `sips:`: 3.22.3's `GetSIPURI` turns `sips:bob@x` into
//! `sip:sips:bob@x`, and 3.22.16's `ParseSIPURI` strips `sips:` so the call is downgraded to
//! `sip:`. We keep `sips:` as `sips:` (any case is accepted as a scheme and passed through),
//! because PJSIP supports SIPS and a user who types `sips:` asks for a secure call; silently
//! downgrading it would be worse than MicroSIP's failure.
//!
//! # Simplifications
//!
//! MicroSIP selects the account twice: on the typed number (to decide whether step 3 and 4
//! apply) and again on the formatted URI when the call is made. We select once, on the typed
//! number, and use that account for the call. The two only differ when a local-account domain
//! that is a host name (not an IP) is appended, where MicroSIP would then call through the
//! main account.
#![forbid(unsafe_code)]

mod plan;
mod uri;

use std::fmt;
use std::net::Ipv4Addr;

pub use plan::{apply_dial_plan, check_dial_plan};
pub use uri::{
    add_transport, display_name, format_sip_uri, transport_param, uri_domain, uri_user_host,
    validate_uri, wild_match, MAX_URI_BYTES,
};

/// Delay from the call's CONFIRMED state to the first DTMF group, in milliseconds.
pub const FIRST_DTMF_DELAY_MS: u64 = 1000;

/// The active SIP account (`[AccountN]`, `accountId = N`), as far as dialling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainAccount<'a> {
    /// `domain`: appended as `@domain` to targets without `@`.
    pub domain: &'a str,
    /// `dialingPrefix`: put in front of phone numbers longer than 3 characters.
    pub dialing_prefix: &'a str,
    /// `dialPlan`; empty for none.
    pub dial_plan: &'a str,
    /// `transport` as written in the ini (`udp`, `tcp`, `tls`, ...); compared exactly.
    pub transport: &'a str,
}

/// The local "call by IP" account (`[Account0]`), as far as dialling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAccount<'a> {
    /// `domain` of `[Account0]`, usually empty; appended when non-empty and there is no `@`.
    pub domain: &'a str,
    /// `transport` of `[Account0]`.
    pub transport: &'a str,
}

/// Everything the pipeline needs for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialInput<'a> {
    /// The dialled text (already trimmed and `%20`/`%2B`-decoded by the grammar).
    pub target: &'a str,
    /// The main account if pjsua has it (`accountId != 0` and the account was added).
    pub main: Option<MainAccount<'a>>,
    /// The local account if it is active.
    pub local: Option<LocalAccount<'a>>,
    /// A TCP transport was created.
    pub tcp_transport: bool,
    /// A TLS transport was created.
    pub tls_transport: bool,
    /// Skip steps 3 and 4 (MicroSIP's `noTransform`, e.g. redialling a logged call).
    pub no_transform: bool,
}

/// Which account places the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChoice {
    /// The active SIP account.
    Main,
    /// The local "call by IP" account.
    Local,
}

/// The result of the pipeline: what to call, through which account, and the DTMF to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    /// The final target for `pjsua_call_make_call`, e.g. `<sip:100@pbx;transport=tcp>`.
    pub uri: String,
    /// DTMF groups from the `,` suffix, in order; an empty group is a pause (see
    /// [`dtmf_schedule`]).
    pub dtmf_groups: Vec<String>,
    /// The account to call from.
    pub account: AccountChoice,
}

/// Why a dialled string cannot be called. Every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// Nothing before the first `,`.
    EmptyNumber {
        /// The dialled text.
        input: String,
    },
    /// Neither the main nor the local account is active.
    NoAccount,
    /// A dial plan is set and no alternative matches (MicroSIP empties the number).
    NoDialPlanMatch {
        /// The number after normalisation and `dialingPrefix`.
        number: String,
        /// The account's `dialPlan`.
        plan: String,
    },
    /// The URI is longer than [`MAX_URI_BYTES`] in UTF-8.
    UriTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// A bare number on the local (call-by-IP) account, which has no domain to put after it:
    /// `sip:1234` would name a host called 1234.
    HostNeeded {
        /// The number.
        number: String,
    },
    /// The URI fails the syntax check.
    InvalidUri {
        /// The URI.
        uri: String,
        /// What is wrong and what to change.
        reason: String,
    },
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::EmptyNumber { input } => write!(
                f,
                "nothing to dial in {input:?}: give a number or SIP URI before the first ',' \
                 (what follows a ',' is sent as DTMF once the call is answered)"
            ),
            DialError::NoAccount => write!(
                f,
                "no account to call from: activate a SIP account ([Settings] accountId=N with an \
                 [AccountN] that has a domain) or enable the local account (enableLocalAccount=1)"
            ),
            DialError::NoDialPlanMatch { number, plan } => write!(
                f,
                "{number:?} matches no alternative of the account's dialPlan {plan:?}: add an \
                 alternative that matches it (x = any character, . = repeat the previous one, \
                 so `x.` lets every number through) or clear dialPlan"
            ),
            DialError::UriTooLong { bytes } => write!(
                f,
                "the SIP URI is {bytes} bytes long in UTF-8, more than the {MAX_URI_BYTES} allowed: \
                 shorten the number, its parameters or its headers"
            ),
            DialError::HostNeeded { number } => write!(
                f,
                "{number} is a number, and the call-by-IP account has no registrar or domain to \
                 send it to: dial {number}@HOST (e.g. {number}@192.0.2.10) or sip:{number}@HOST, \
                 or set accountId to an [AccountN] with a server or domain"
            ),
            DialError::InvalidUri { uri, reason } => {
                write!(f, "{uri:?} is not a valid SIP URI: {reason}")
            }
        }
    }
}

impl std::error::Error for DialError {}

/// Runs the whole pipeline (steps 1–8, see the module docs).
pub fn prepare_call(input: &DialInput<'_>) -> Result<DialPlan, DialError> {
    let (number, dtmf_groups) = split_dtmf(input.target);
    if number.is_empty() {
        return Err(DialError::EmptyNumber {
            input: input.target.to_string(),
        });
    }
    let account = select_account(
        number,
        input.main.map(|main| main.domain),
        input.local.is_some(),
    )
    .ok_or(DialError::NoAccount)?;
    let as_typed = input.no_transform || (number.contains('<') && number.contains('>'));
    let (formatted, domain, transport) = match (account, input.main, input.local) {
        (AccountChoice::Main, Some(main), _) => {
            let mut formatted = number.to_string();
            if !as_typed {
                formatted = normalize_number(&formatted, main.dialing_prefix);
                if !main.dial_plan.is_empty() {
                    formatted = apply_dial_plan(&formatted, main.dial_plan)?;
                }
            }
            (formatted, Some(main.domain), main.transport)
        }
        (AccountChoice::Local, _, Some(local))
            if local.domain.is_empty() && is_bare_number(number) =>
        {
            return Err(DialError::HostNeeded {
                number: number.to_string(),
            })
        }
        (AccountChoice::Local, _, Some(local)) => (
            number.to_string(),
            Some(local.domain).filter(|domain| !domain.is_empty()),
            local.transport,
        ),
        _ => return Err(DialError::NoAccount),
    };
    if formatted.is_empty() {
        return Err(DialError::EmptyNumber {
            input: input.target.to_string(),
        });
    }
    let transport = transport_param(transport, input.tcp_transport, input.tls_transport);
    let uri = add_transport(&format_sip_uri(&formatted, domain), transport);
    validate_uri(&uri)?;
    Ok(DialPlan {
        uri,
        dtmf_groups,
        account,
    })
}

/// A number with nothing that could name a host: digits, with `+`, `*` or `#` (no `.`, `@`,
/// `:` or letters).
fn is_bare_number(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
}

/// Step 1: cuts `target` at the first `,` into the number and the DTMF groups after it.
///
/// As in 3.22.16, any comma cuts (even the first character), and the groups are kept unless
/// the comma is the last character. Trailing empty groups are dropped (MicroSIP stops when
/// nothing is left); inner empty groups stay as pauses: `100,,5` gives `["", "5"]`.
pub fn split_dtmf(target: &str) -> (&str, Vec<String>) {
    let Some((number, commands)) = target.split_once(',') else {
        return (target, Vec::new());
    };
    let mut groups: Vec<String> = if commands.is_empty() {
        Vec::new()
    } else {
        commands.split(',').map(str::to_string).collect()
    };
    while groups.last().is_some_and(String::is_empty) {
        groups.pop();
    }
    (number, groups)
}

/// When MicroSIP sends a DTMF group, relative to the call's CONFIRMED state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfSend {
    /// Milliseconds after the call was confirmed.
    pub at_ms: u64,
    /// The digits (never empty).
    pub digits: String,
}

/// MicroSIP's timing: the first group after [`FIRST_DTMF_DELAY_MS`], each later group
/// [`dtmf_delay_after`] the previous one. Empty groups send nothing but take their second.
pub fn dtmf_schedule(groups: &[String]) -> Vec<DtmfSend> {
    let mut at_ms = FIRST_DTMF_DELAY_MS;
    let mut schedule = Vec::new();
    for group in groups {
        if !group.is_empty() {
            schedule.push(DtmfSend {
                at_ms,
                digits: group.clone(),
            });
        }
        at_ms += dtmf_delay_after(group);
    }
    schedule
}

/// The pause after sending `group` before the next one: `1000 + 200 × length` ms.
pub fn dtmf_delay_after(group: &str) -> u64 {
    1000 + 200 * group.encode_utf16().count() as u64
}

/// Step 2, MicroSIP's `SelectSIPAccount`. `main_domain` is the main account's domain when it
/// is active; `local_active` says whether the local account is. `None`: no account.
///
/// With both active, the local account is chosen only when the target's domain (see
/// [`uri_domain`]; a bare `192.168.1.10` is its own domain) differs from the account domain
/// (exact comparison) and, without the port (cut at the first `:`), is `localhost` (any case)
/// or an IPv4 literal. IPv6 never qualifies: the port cut leaves nothing usable, as in
/// MicroSIP.
pub fn select_account(
    number: &str,
    main_domain: Option<&str>,
    local_active: bool,
) -> Option<AccountChoice> {
    match (main_domain, local_active) {
        (Some(account_domain), true) => {
            let domain = uri_domain(number);
            let host = domain.split(':').next().unwrap_or_default();
            let local = domain != account_domain
                && (host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok());
            Some(if local {
                AccountChoice::Local
            } else {
                AccountChoice::Main
            })
        }
        (Some(_), false) => Some(AccountChoice::Main),
        (None, true) => Some(AccountChoice::Local),
        (None, false) => None,
    }
}

/// MicroSIP's `IsPSTNNnmber` (3.22.16): at least 4 characters, every one of them a digit or
/// one of `* # . - ( ) /` and space.
///
/// Quirk kept on purpose: a leading `+` lets *any* text pass (`+alice@example.com` counts as
/// a phone number, and [`normalize_number`] then strips its dots).
pub fn is_pstn_number(number: &str) -> bool {
    if number.encode_utf16().count() < 4 {
        return false;
    }
    number.starts_with('+')
        || number
            .chars()
            .all(|c| c.is_ascii_digit() || "*#.-()/ ".contains(c))
}

/// Removes `. - ( ) /` and spaces (MicroSIP's `SanitizeNumber`).
pub fn sanitize_number(number: &str) -> String {
    number.chars().filter(|c| !".-()/ ".contains(*c)).collect()
}

/// Step 3 for a phone number ([`is_pstn_number`]): sanitise it, and when `dialing_prefix` is
/// set and the result is longer than 3 characters, drop one leading `+` and put the prefix in
/// front. Anything else is returned unchanged.
pub fn normalize_number(number: &str, dialing_prefix: &str) -> String {
    if !is_pstn_number(number) {
        return number.to_string();
    }
    let sanitized = sanitize_number(number);
    if dialing_prefix.is_empty() || sanitized.encode_utf16().count() <= 3 {
        return sanitized;
    }
    let digits = sanitized.strip_prefix('+').unwrap_or(&sanitized);
    format!("{dialing_prefix}{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: MainAccount<'static> = MainAccount {
        domain: "pbx.example.com",
        dialing_prefix: "",
        dial_plan: "",
        transport: "udp",
    };
    const LOCAL: LocalAccount<'static> = LocalAccount {
        domain: "",
        transport: "udp",
    };

    fn input(target: &str) -> DialInput<'_> {
        DialInput {
            target,
            main: Some(MAIN),
            local: None,
            tcp_transport: true,
            tls_transport: true,
            no_transform: false,
        }
    }

    fn uri(input: DialInput<'_>) -> String {
        prepare_call(&input).unwrap().uri
    }

    #[test]
    fn plain_number_gets_scheme_and_domain() {
        let plan = prepare_call(&input("100")).unwrap();
        assert_eq!(
            plan,
            DialPlan {
                uri: "<sip:100@pbx.example.com>".into(),
                dtmf_groups: vec![],
                account: AccountChoice::Main
            }
        );
    }

    #[test]
    fn dtmf_suffix_follows_3_22_16() {
        assert_eq!(split_dtmf("100"), ("100", vec![]));
        assert_eq!(split_dtmf("100,123"), ("100", vec!["123".to_string()]));
        assert_eq!(
            split_dtmf("100,123,#45"),
            ("100", vec!["123".to_string(), "#45".to_string()])
        );
        assert_eq!(
            split_dtmf("100,,5"),
            ("100", vec![String::new(), "5".to_string()])
        );
        assert_eq!(
            split_dtmf("100,"),
            ("100", vec![]),
            "comma last: no commands"
        );
        assert_eq!(split_dtmf("100,,"), ("100", vec![]));
        assert_eq!(
            split_dtmf(",5"),
            ("", vec!["5".to_string()]),
            "any comma cuts"
        );
        let plan = prepare_call(&input("100,1,2")).unwrap();
        assert_eq!(plan.uri, "<sip:100@pbx.example.com>");
        assert_eq!(plan.dtmf_groups, vec!["1", "2"]);
        assert_eq!(
            prepare_call(&input(",5")),
            Err(DialError::EmptyNumber { input: ",5".into() })
        );
    }

    #[test]
    fn dtmf_schedule_timing() {
        let groups = ["123", "", "4567", "8"].map(String::from);
        assert_eq!(
            dtmf_schedule(&groups),
            vec![
                DtmfSend {
                    at_ms: 1000,
                    digits: "123".into()
                },
                // 1000 + (1000 + 600) + 1000 for the empty pause group
                DtmfSend {
                    at_ms: 3600,
                    digits: "4567".into()
                },
                DtmfSend {
                    at_ms: 3600 + 1800,
                    digits: "8".into()
                },
            ]
        );
        assert_eq!(dtmf_delay_after(""), 1000);
        assert_eq!(dtmf_schedule(&[]), vec![]);
    }

    #[test]
    fn account_choice() {
        let main = Some("pbx.example.com");
        assert_eq!(
            select_account("100", main, false),
            Some(AccountChoice::Main)
        );
        assert_eq!(
            select_account("100", None, true),
            Some(AccountChoice::Local)
        );
        assert_eq!(select_account("100", None, false), None);
        assert_eq!(select_account("100", main, true), Some(AccountChoice::Main));
        for local in [
            "192.168.1.10",
            "100@192.168.1.10",
            "sip:100@192.168.1.10:5070;transport=tcp",
            "localhost",
            "bob@LocalHost:5062",
        ] {
            assert_eq!(
                select_account(local, main, true),
                Some(AccountChoice::Local),
                "{local}"
            );
        }
        for remote in [
            "bob@example.org",
            "100@pbx.example.com",
            "1.2.3",
            "[::1]",
            "100@::1",
            "256.1.1.1",
        ] {
            assert_eq!(
                select_account(remote, main, true),
                Some(AccountChoice::Main),
                "{remote}"
            );
        }
        // The account domain itself is never "different", even when it is an IP.
        assert_eq!(
            select_account("100@10.0.0.1", Some("10.0.0.1"), true),
            Some(AccountChoice::Main)
        );
        assert_eq!(
            select_account("100@10.0.0.1:5060", Some("10.0.0.1"), true),
            Some(AccountChoice::Local),
            "exact comparison: the port makes it differ"
        );
    }

    #[test]
    fn local_account_calls_skip_transforms() {
        let local = DialInput {
            local: Some(LOCAL),
            main: Some(MainAccount {
                dialing_prefix: "0",
                dial_plan: "xxx",
                ..MAIN
            }),
            ..input("192.168.1.10")
        };
        let plan = prepare_call(&local).unwrap();
        assert_eq!(plan.uri, "<sip:192.168.1.10>");
        assert_eq!(plan.account, AccountChoice::Local);
        let only_local = DialInput {
            main: None,
            local: Some(LocalAccount {
                domain: "lan.local",
                transport: "tcp",
            }),
            ..input("100")
        };
        assert_eq!(uri(only_local), "<sip:100@lan.local;transport=tcp>");
        // A bare number with no domain: no host to call.
        for number in ["1234", "+4930123", "*21#"] {
            let err = prepare_call(&DialInput {
                main: None,
                local: Some(LOCAL),
                ..input(number)
            })
            .unwrap_err();
            assert_eq!(
                err,
                DialError::HostNeeded {
                    number: number.into()
                }
            );
            assert!(err.to_string().contains("@HOST"), "{err}");
        }
        for host in ["pbx", "10.0.0.7", "1234@10.0.0.7", "sip:1234@h"] {
            assert!(
                prepare_call(&DialInput {
                    main: None,
                    local: Some(LOCAL),
                    ..input(host)
                })
                .is_ok(),
                "{host}"
            );
        }
        assert_eq!(
            prepare_call(&DialInput {
                main: None,
                ..input("100")
            }),
            Err(DialError::NoAccount)
        );
    }

    #[test]
    fn pstn_detection() {
        assert!(is_pstn_number("1234"));
        assert!(is_pstn_number("(030) 123-45/6.7"));
        assert!(is_pstn_number("*#12"));
        assert!(!is_pstn_number("123"), "at least 4 characters");
        assert!(!is_pstn_number("12a4"));
        assert!(!is_pstn_number("100@pbx"));
        // The `+` quirk: anything after a leading + passes.
        assert!(is_pstn_number("+alice@example.com"));
        assert!(!is_pstn_number("+12"), "still at least 4 characters");
    }

    #[test]
    fn normalisation_and_dialing_prefix() {
        assert_eq!(normalize_number("(030) 123-45", ""), "03012345");
        assert_eq!(normalize_number("+49 30 1234", "00"), "0049301234");
        assert_eq!(normalize_number("1234", "9"), "91234");
        assert_eq!(normalize_number("1-2", "9"), "1-2", "not PSTN: too short");
        assert_eq!(
            normalize_number("12-3", "9"),
            "123",
            "3 left after sanitising: no prefix"
        );
        assert_eq!(normalize_number("1-2-3-4", "9"), "91234");
        assert_eq!(
            normalize_number("1 2 3", "9"),
            "123",
            "sanitized to 3: no prefix"
        );
        assert_eq!(normalize_number("alice", "9"), "alice");
        assert_eq!(
            normalize_number("+bob.smith@example.com", ""),
            "+bobsmith@examplecom",
            "the + quirk mangles a URI"
        );
        let with_prefix = DialInput {
            main: Some(MainAccount {
                dialing_prefix: "0",
                ..MAIN
            }),
            ..input("+1 (555) 123-4567")
        };
        assert_eq!(uri(with_prefix), "<sip:015551234567@pbx.example.com>");
    }

    #[test]
    fn no_transform_and_angle_brackets_skip_steps_3_and_4() {
        let main = MainAccount {
            dialing_prefix: "0",
            dial_plan: "xxxxxxxxx",
            ..MAIN
        };
        let raw = DialInput {
            no_transform: true,
            main: Some(main),
            ..input("555 12")
        };
        assert!(matches!(
            prepare_call(&raw),
            Err(DialError::InvalidUri { .. })
        ));
        let raw = DialInput {
            no_transform: true,
            main: Some(main),
            ..input("555-12")
        };
        assert_eq!(uri(raw), "<sip:555-12@pbx.example.com>");
        let bracketed = DialInput {
            main: Some(main),
            ..input("<sip:555-12@pbx.example.com>")
        };
        assert_eq!(uri(bracketed), "<sip:555-12@pbx.example.com>");
        // Only `<` is not enough to skip: the + quirk makes this a phone number whose space
        // is removed, and the result is no URI.
        let only_lt = DialInput {
            main: Some(MainAccount {
                dial_plan: "",
                dialing_prefix: "",
                ..main
            }),
            ..input("+1 <2")
        };
        match prepare_call(&only_lt) {
            Err(DialError::InvalidUri { uri, .. }) => assert_eq!(uri, "<sip:+1<2@pbx.example.com>"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dial_plan_applies_after_the_prefix() {
        let main = MainAccount {
            dialing_prefix: "0",
            dial_plan: "<0:+49>xxxxxxxxxx|xxx",
            ..MAIN
        };
        let call = DialInput {
            main: Some(main),
            ..input("170 1234-567")
        };
        assert_eq!(uri(call), "<sip:+491701234567@pbx.example.com>");
        let short = DialInput {
            main: Some(main),
            ..input("100")
        };
        assert_eq!(uri(short), "<sip:100@pbx.example.com>");
        let no_match = DialInput {
            main: Some(main),
            ..input("12")
        };
        assert_eq!(
            prepare_call(&no_match),
            Err(DialError::NoDialPlanMatch {
                number: "12".into(),
                plan: "<0:+49>xxxxxxxxxx|xxx".into()
            })
        );
        // The dial plan applies to every non-local target, URIs included.
        let uri_target = DialInput {
            main: Some(main),
            ..input("bob@example.org")
        };
        assert!(matches!(
            prepare_call(&uri_target),
            Err(DialError::NoDialPlanMatch { .. })
        ));
    }

    #[test]
    fn transport_suffix_and_headers() {
        let tcp = MainAccount {
            transport: "tcp",
            ..MAIN
        };
        assert_eq!(
            uri(DialInput {
                main: Some(tcp),
                ..input("100")
            }),
            "<sip:100@pbx.example.com;transport=tcp>"
        );
        assert_eq!(
            uri(DialInput {
                main: Some(tcp),
                ..input("sip:100@pbx;foo=bar?X-Hdr=v&Y=w")
            }),
            "<sip:100@pbx;foo=bar;transport=tcp?X-Hdr=v&Y=w>"
        );
        assert_eq!(
            uri(DialInput {
                main: Some(tcp),
                tcp_transport: false,
                ..input("100")
            }),
            "<sip:100@pbx.example.com>",
            "no TCP transport: no suffix"
        );
        assert_eq!(
            uri(input("100@pbx;transport=tcp;ttl=3")),
            "<sip:100@pbx>",
            "old transport parameters removed"
        );
        assert_eq!(
            uri(DialInput {
                main: Some(tcp),
                ..input("100;user=phone?X-Hdr=a@b")
            }),
            "<sip:100@pbx.example.com;user=phone;transport=tcp?X-Hdr=a@b>",
            "domain before the parameters, transport before the headers"
        );
    }

    #[test]
    fn sips_is_kept_as_sips() {
        let tls = MainAccount {
            transport: "tls",
            ..MAIN
        };
        assert_eq!(
            uri(DialInput {
                main: Some(tls),
                ..input("sips:alice@example.org")
            }),
            "<sips:alice@example.org;transport=tls>"
        );
        assert_eq!(uri(input("SIPS:alice")), "<SIPS:alice@pbx.example.com>");
    }

    #[test]
    fn dtmf_uri_parameter_is_not_interpreted() {
        let plan = prepare_call(&input("100;dtmf=123")).unwrap();
        assert_eq!(plan.uri, "<sip:100@pbx.example.com;dtmf=123>");
        assert!(plan.dtmf_groups.is_empty());
    }

    #[test]
    fn sip_anywhere_quirk_makes_an_invalid_uri() {
        assert!(matches!(
            prepare_call(&input("100@x;foo=sip:y")),
            Err(DialError::InvalidUri { .. })
        ));
    }

    #[test]
    fn spaces_survive_only_in_phone_numbers() {
        assert_eq!(uri(input("030 1234")), "<sip:0301234@pbx.example.com>");
        let err = prepare_call(&input("john doe")).unwrap_err();
        assert!(err.to_string().contains("white space"), "{err}");
    }

    #[test]
    fn length_limit() {
        let long = "1".repeat(MAX_URI_BYTES);
        assert!(matches!(
            prepare_call(&input(&long)),
            Err(DialError::UriTooLong { .. })
        ));
    }

    #[test]
    fn name_addr_passes_through() {
        let tcp = MainAccount {
            transport: "tcp",
            ..MAIN
        };
        assert_eq!(
            uri(DialInput {
                main: Some(tcp),
                ..input("\"Bob\" <sip:bob@example.org>")
            }),
            "\"Bob\" <sip:bob@example.org;transport=tcp>"
        );
    }

    #[test]
    fn error_messages_say_what_to_fix() {
        for (error, needle) in [
            (DialError::NoAccount, "enableLocalAccount=1"),
            (
                DialError::EmptyNumber { input: ",1".into() },
                "before the first ','",
            ),
            (
                DialError::NoDialPlanMatch {
                    number: "1".into(),
                    plan: "xx".into(),
                },
                "clear dialPlan",
            ),
            (DialError::UriTooLong { bytes: 901 }, "shorten"),
        ] {
            assert!(error.to_string().contains(needle), "{error}");
        }
    }
}
