//! The command-line grammar: what MicroSIP does with the text after the program name.
//!
//! This mirrors MicroSIP's `CmicrosipApp::InitInstance` (whole-tail switches),
//! `CmainDlg::CommandLine` (quotes, `msip:` commands), `CmainDlg::DialNumberFromCommandLine`
//! (schemes, `//`, `/account:`, slash switches) and `CmainDlg::DialNumber` (number + instant
//! message, `%20`, `%2B`); see `shared/spec/microsip-reference.md` §1–§3. Quirks are kept on
//! purpose and named in the tests. On top of that grammar a few spellings from popular (wrong)
//! docs are accepted as aliases; each is reported in [`Parsed::alias`] so the caller can log it.
//!
//! Everything here is pure: [`parse`] only classifies. Whether an account exists, whether a
//! call is ringing etc. is the caller's business.
//!
//! Order of decisions in [`parse`]:
//! 1. The raw tail equal (exactly, case-sensitive, untrimmed) to `/reset`, `/resetnoask`,
//!    `/exit` or `/minimized` is a process-level switch. An empty tail means "activate".
//! 2. Trim; drop one pair of outer double quotes.
//! 3. Aliases (whole text, case-sensitive): `-answer`, `-hangup`, `-exit`, `-minimize`,
//!    `exit`, `mute`, `--call URI`.
//! 4. `msip:` at index 0 (case-sensitive): the `msip:` table; unknown ones are dialled
//!    without the `msip:` prefix.
//! 5. One scheme removed (`tel:`, `sip:`, `callto:`, `dialpad:`, `dial:`, any case; never
//!    `sips:`), then a leading `//` plus one trailing `/`.
//! 6. `/account:N` anywhere: handled, its token removed (with MicroSIP's arithmetic).
//! 7. `/answer`, `/hangupall`, `/hangupincoming`, `/hangupcalling` (exact), `/dtmf:`,
//!    `/password:`, `/transfer:` (prefix at index 0); all case-sensitive.
//! 8. Anything else: a number/URI to dial; `number text` (first space) is an instant message.

/// One thing to do, as MicroSIP would do it for a command-line tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The tail was empty: MicroSIP shows the running window (nothing is sent to it). Also the
    /// result when the text reaches the dial step but the number is empty (`sip:`, `//`, a lone
    /// `/account:N`): MicroSIP then shows its window and dials nothing.
    Activate,
    /// MicroSIP accepts the text and does nothing: `msip:` alone, `""`, `/dtmf:` or
    /// `/transfer:` without a value, whitespace only, `--call` without a target.
    Nothing,
    /// `/answer`, `msip:answer`: answer the first ringing incoming call (audio only, 200).
    Answer,
    /// `/hangupall`, `msip:hangupall`: hang up every call except ringing incoming ones.
    HangupAll,
    /// `/hangupincoming`: reject every ringing incoming call (603 through PJSIP).
    HangupIncoming,
    /// `/hangupcalling`: hang up outgoing calls not yet confirmed.
    HangupCalling,
    /// `/dtmf:DIGITS`: send DIGITS on the selected call. With a trailing `?` MicroSIP only
    /// shows the digits for the user to confirm: `confirm` is then true and `digits` is
    /// without the `?`.
    Dtmf {
        /// The digits to send.
        digits: String,
        /// The value ended with `?`.
        confirm: bool,
    },
    /// `/password:PWD`: in-memory password that from now on overrides the active account's
    /// password. Not saved; does not re-register. An empty value clears the override.
    Password(String),
    /// `/transfer:NUMBER`, `msip:transfer_NUMBER`: blind transfer of the selected call.
    Transfer(String),
    /// `/account:N` plus the rest of the tail: make `[AccountN]` the active account (if it is
    /// not already), then run `then`. If `[AccountN]` does not load, MicroSIP drops the whole
    /// command, `then` included.
    SetAccount {
        /// The account number N (> 0).
        id: u32,
        /// What the rest of the tail asks for ([`Command::Activate`] when nothing is left).
        then: Box<Command>,
    },
    /// `/account:N ... /password:PWD`: store PWD in `[AccountN]` (re-register if N is
    /// active). Nothing is dialled. Dropped if `[AccountN]` does not load. PWD is everything
    /// after `/password:` up to the end of the tail (a MicroSIP quirk).
    AccountPassword {
        /// The account number N (> 0).
        account: u32,
        /// The new password.
        password: String,
    },
    /// Dial `target` (a number or URI, already trimmed and `%20`/`%2B`-decoded) through the
    /// dial pipeline (`crate::dial`).
    Dial {
        /// What to dial.
        target: String,
    },
    /// `number text`: send `text` as a SIP MESSAGE to `to` instead of calling.
    Message {
        /// The destination (trimmed, `%20`/`%2B`-decoded).
        to: String,
        /// The message text (trimmed).
        text: String,
    },
    /// `/reset` (`ask`) or `/resetnoask`: delete user data (MicroSIP closes a running instance
    /// first) and exit without starting.
    Reset {
        /// Ask twice before deleting (`/reset`).
        ask: bool,
    },
    /// `/exit`: stop the running instance; a new process never starts the phone.
    Exit,
    /// `/minimized`: start hidden (a running instance is neither sent anything nor shown).
    Minimized,
    /// `msip:minimize`: hide the window of the running instance.
    Minimize,
    /// `msip:hold`: toggle hold on the selected call.
    Hold,
    /// `msip:micmute`: mute the microphone.
    MicMute,
    /// `msip:micunmute`: unmute the microphone.
    MicUnmute,
    /// `msip:micmuteclick`: toggle the microphone mute.
    MicMuteToggle,
    /// `msip:speakmute`: mute the speaker.
    SpeakMute,
    /// `msip:speakunmute`: unmute the speaker.
    SpeakUnmute,
    /// `msip:speakmuteclick`: toggle the speaker mute.
    SpeakMuteToggle,
    /// `msip:micup`: one step up on the input level.
    MicUp,
    /// `msip:micdown`: one step down on the input level.
    MicDown,
    /// `msip:speakup`: one step up on the output level.
    SpeakUp,
    /// `msip:speakdown`: one step down on the output level.
    SpeakDown,
    /// `msip:recordstart`: start recording the selected call (ours: MicroSIP has only its
    /// record button).
    RecordStart,
    /// `msip:recordstop`: stop recording the selected call (ours).
    RecordStop,
    /// `msip:recordclick`: toggle recording of the selected call, like MicroSIP's record
    /// button (ours).
    RecordToggle,
    /// `msip:callanswer:ID[:LPARAM]` (ours): MicroSIP's `UM_CALL_ANSWER` window message on
    /// call ID, which must be ringing in. `lparam` as MicroSIP reads it: 0 (the default) or
    /// a positive number (MicroSIP: with video) answers 200; a negative one answers with the
    /// status `-lparam`, e.g. -486 declines with 486.
    CallAnswer {
        /// The call (PJSUA's call id, as the log and the hooks' `MSIP_CALL` name it).
        call: i32,
        /// MicroSIP's `lParam`.
        lparam: i32,
    },
    /// `msip:callhangup:ID` (ours): MicroSIP's `UM_CALL_HANGUP`: ends call ID (603 when it
    /// rings in, CANCEL when it rings out, BYE when connected).
    CallHangup {
        /// The call.
        call: i32,
    },
    /// `msip:command:ID` (ours): a `WM_COMMAND` posted to MicroSIP's window, by its stable id
    /// (reference §3): 32784 exit, 32802 / 32803 mute toggles, 40000+i account i+1 (switch, or
    /// deactivate when active); window-only ids do nothing.
    WindowCommand(u32),
    /// `msip:attendedtransfer:X` (ours, for MicroSIP's attended-transfer menu): the selected
    /// call is transferred to the party of call X (REFER with Replaces); with
    /// `enableFeatureCodeAT=1`, X is a number and `featureCodeAT`+X is sent as DTMF instead.
    AttendedTransfer(String),
    /// `msip:pickup:NUMBER` (ours, for MicroSIP's speed-dial key on a ringing extension):
    /// dials `featureCodeCP`+NUMBER (with `enableFeatureCodeCP=1`, MicroSIP's default).
    Pickup(String),
    /// `msip:alert:{"id": ID, "args": [...]}` (ours): start an alert call in the running
    /// phone, as `microsip --alert ARGS` would; its attempts and end come as events tagged
    /// with ID.
    Alert { id: String, args: Vec<String> },
    /// `msip:status` (ours, what `microsip --status` sends): the running phone replies with
    /// its state as one JSON object (registration per account, calls, uptime, last problem).
    Status,
    /// A `msip:` command of ours with a value that cannot be used; the text says why.
    Invalid(String),
}

/// The result of [`parse`]: the command and, if the text used an alias from popular docs
/// instead of MicroSIP's own spelling, that alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// What to do.
    pub command: Command,
    /// The alias spelling used (`-answer`, `-hangup`, `-exit`, `-minimize`, `--call`, `exit`,
    /// `mute`), or `None` for MicroSIP's own grammar.
    pub alias: Option<&'static str>,
}

impl Parsed {
    fn plain(command: Command) -> Self {
        Parsed {
            command,
            alias: None,
        }
    }

    /// One log line for an accepted alias, e.g. `accepted alias -answer for /answer`.
    pub fn alias_message(&self) -> Option<String> {
        self.alias
            .map(|alias| format!("accepted alias {alias} for {}", canonical_spelling(alias)))
    }
}

/// MicroSIP's own spelling for an alias accepted by [`parse`].
pub fn canonical_spelling(alias: &str) -> &'static str {
    match alias {
        "-answer" => "/answer",
        "-hangup" => "/hangupall",
        "-exit" | "exit" => "/exit",
        "-minimize" => "/minimized",
        "mute" => "msip:micmuteclick",
        "--call" => "a bare number or URI",
        _ => "(not an alias)",
    }
}

/// Classifies a command-line tail (the raw text after the program name, quotes included) or
/// a string received on the control socket.
///
/// Process-level switches (`/reset`, `/resetnoask`, `/exit`, `/minimized`) are recognised only
/// when the raw tail equals them exactly; MicroSIP decides those in the launching process and
/// never forwards them. In MicroSIP a *forwarded* `/exit` would be dialled as a number; here it
/// is classified as [`Command::Exit`] and the receiver decides.
pub fn parse(tail: &str) -> Parsed {
    match tail {
        "" => return Parsed::plain(Command::Activate),
        "/reset" => return Parsed::plain(Command::Reset { ask: true }),
        "/resetnoask" => return Parsed::plain(Command::Reset { ask: false }),
        "/exit" => return Parsed::plain(Command::Exit),
        "/minimized" => return Parsed::plain(Command::Minimized),
        _ => {}
    }
    let params = strip_outer_quotes(tail.trim());
    if let Some(parsed) = parse_alias(params) {
        return parsed;
    }
    Parsed::plain(command_line(params))
}

/// What a newly started process does with its tail when no instance is running (§1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoInstance {
    /// `/answer` or `/hangupall` exactly (or `-answer`, `-hangup`): there is nothing to answer
    /// or hang up, so exit at once without starting the phone.
    ExitAtOnce,
    /// `/exit` (or `-exit`, `exit`): nothing to stop; exit.
    NothingToStop,
    /// `/reset` / `/resetnoask`: delete user data, then exit without starting.
    Reset {
        /// Ask before deleting.
        ask: bool,
    },
    /// Start the phone; run this command once the stack is up (MicroSIP runs it right after
    /// creating the stack and before adding the accounts). [`Command::Minimized`] means: start
    /// hidden.
    Start(Parsed),
}

/// Decides what a process with no running instance does with `tail` (§1).
///
/// Aliases behave like the switch they stand for (`-answer` like `/answer`, ...).
pub fn without_running_instance(tail: &str) -> NoInstance {
    if tail == "/answer" || tail == "/hangupall" {
        return NoInstance::ExitAtOnce;
    }
    let parsed = parse(tail);
    match (&parsed.command, parsed.alias) {
        (Command::Reset { ask }, _) => NoInstance::Reset { ask: *ask },
        (Command::Exit | Command::Status, _) => NoInstance::NothingToStop,
        (Command::Answer | Command::HangupAll, Some(_)) => NoInstance::ExitAtOnce,
        _ => NoInstance::Start(parsed),
    }
}

/// What a newly started process does with its tail when an instance is already running (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithInstance {
    /// `/reset` / `/resetnoask`: stop the running instance, delete user data, exit.
    Reset {
        /// Ask before deleting.
        ask: bool,
    },
    /// `/exit` (or `-exit`, `exit`): tell the running instance to exit cleanly, then exit.
    StopRunning,
    /// `/minimized` (or `-minimize`): send nothing, do not activate; exit.
    Nothing,
    /// Empty tail: send nothing, activate the running instance; exit.
    Activate,
    /// Send the whole raw tail to the running instance (`dwData = 1`) and activate it if the
    /// reply is non-zero; exit.
    Forward,
}

/// Decides what a process that found a running instance does with `tail` (§1).
pub fn with_running_instance(tail: &str) -> WithInstance {
    let parsed = parse(tail);
    match parsed.command {
        Command::Reset { ask } => WithInstance::Reset { ask },
        Command::Exit => WithInstance::StopRunning,
        Command::Minimized => WithInstance::Nothing,
        _ if tail.is_empty() => WithInstance::Activate,
        _ => WithInstance::Forward,
    }
}

/// Drops one pair of outer double quotes, like `CommandLine` (a lone `"` becomes empty).
fn strip_outer_quotes(text: &str) -> &str {
    if text.starts_with('"') && text.ends_with('"') {
        if text.len() == 1 {
            ""
        } else {
            &text[1..text.len() - 1]
        }
    } else {
        text
    }
}

/// The aliases from popular docs. Whole text, case-sensitive.
fn parse_alias(text: &str) -> Option<Parsed> {
    let (alias, command) = match text {
        "-answer" => ("-answer", Command::Answer),
        "-hangup" => ("-hangup", Command::HangupAll),
        "-exit" => ("-exit", Command::Exit),
        "-minimize" => ("-minimize", Command::Minimized),
        "exit" => ("exit", Command::Exit),
        "mute" => ("mute", Command::MicMuteToggle),
        _ => {
            let rest = text.strip_prefix("--call")?;
            if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                return None;
            }
            ("--call", call_alias(rest))
        }
    };
    Some(Parsed {
        command,
        alias: Some(alias),
    })
}

/// `--call URI`: the URI goes through scheme and `//` removal and `%20`/`%2B` decoding, but
/// never through the switches or the message split: it is always a call.
fn call_alias(rest: &str) -> Command {
    let uri = strip_url_prefix(strip_outer_quotes(rest.trim()));
    let target = decode_number(uri);
    if target.is_empty() {
        Command::Nothing
    } else {
        Command::Dial { target }
    }
}

/// `CmainDlg::CommandLine` after trimming and unquoting.
fn command_line(params: &str) -> Command {
    if params.is_empty() {
        return Command::Nothing;
    }
    let Some(cmd) = params.strip_prefix("msip:") else {
        return dial_from_command_line(params);
    };
    match cmd {
        "" => Command::Nothing,
        "minimize" => Command::Minimize,
        "answer" => Command::Answer,
        "hangupall" => Command::HangupAll,
        "hold" => Command::Hold,
        "micmute" => Command::MicMute,
        "micunmute" => Command::MicUnmute,
        "speakmute" => Command::SpeakMute,
        "speakunmute" => Command::SpeakUnmute,
        "micmuteclick" => Command::MicMuteToggle,
        "speakmuteclick" => Command::SpeakMuteToggle,
        "micup" => Command::MicUp,
        "micdown" => Command::MicDown,
        "speakup" => Command::SpeakUp,
        "speakdown" => Command::SpeakDown,
        "recordstart" => Command::RecordStart,
        "recordstop" => Command::RecordStop,
        "recordclick" => Command::RecordToggle,
        "status" => Command::Status,
        _ => {
            if let Some(args) = cmd.strip_prefix("callanswer:") {
                return call_answer(args);
            }
            if let Some(id) = cmd.strip_prefix("callhangup:") {
                return match parse_call_id(id) {
                    Ok(call) => Command::CallHangup { call },
                    Err(e) => Command::Invalid(format!("msip:callhangup:{id}: {e}")),
                };
            }
            if let Some(target) = cmd.strip_prefix("attendedtransfer:") {
                return match target.trim() {
                    "" => Command::Invalid(
                        "msip:attendedtransfer: give the call to transfer to (its id), or a \
                         number with enableFeatureCodeAT=1"
                            .into(),
                    ),
                    t => Command::AttendedTransfer(t.to_string()),
                };
            }
            if let Some(number) = cmd.strip_prefix("pickup:") {
                return match number.trim() {
                    "" => Command::Invalid(
                        "msip:pickup: give the ringing extension to pick up".into(),
                    ),
                    n => Command::Pickup(n.to_string()),
                };
            }
            if let Some(json) = cmd.strip_prefix("alert:") {
                return alert_command(json);
            }
            if let Some(id) = cmd.strip_prefix("command:") {
                return match id.trim().parse::<u32>() {
                    Ok(id) => Command::WindowCommand(id),
                    Err(_) => Command::Invalid(format!(
                        "msip:command:{id}: give a WM_COMMAND id, a number such as 32784 (exit)"
                    )),
                };
            }
            match cmd.strip_prefix("transfer_") {
                Some("") => Command::Nothing,
                Some(number) => Command::Transfer(number.to_string()),
                None => dial_from_command_line(cmd),
            }
        }
    }
}

/// `msip:alert:{"id": "...", "args": ["...", ...]}`.
fn alert_command(json: &str) -> Command {
    let invalid = || {
        Command::Invalid(format!(
            "msip:alert:{json}: give {{\"id\": \"...\", \"args\": [...]}} (what `microsip \
             --alert` sends)"
        ))
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return invalid();
    };
    let id = value["id"].as_str().filter(|s| !s.is_empty());
    let args: Option<Vec<String>> = value["args"]
        .as_array()
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect());
    match (id, args) {
        (Some(id), Some(args)) => Command::Alert {
            id: id.to_string(),
            args,
        },
        _ => invalid(),
    }
}

/// A call id: a small non-negative number.
fn parse_call_id(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| {
            "give the call's id, a number such as 0 (the log and MSIP_CALL name it)".into()
        })
}

/// `msip:callanswer:ID[:LPARAM]`.
fn call_answer(args: &str) -> Command {
    let (id, lparam) = match args.split_once(':') {
        Some((id, lparam)) => (id, Some(lparam)),
        None => (args, None),
    };
    let call = match parse_call_id(id) {
        Ok(call) => call,
        Err(e) => return Command::Invalid(format!("msip:callanswer:{args}: {e}")),
    };
    let lparam = match lparam.map(|l| l.trim().parse::<i32>()) {
        None => 0,
        Some(Ok(l)) if (-699..=-100).contains(&l) || (0..100).contains(&l) => l,
        Some(Ok(l)) if l >= 100 => {
            return Command::Invalid(format!(
                "msip:callanswer:{args}: a positive value answers the call (MicroSIP: with video); \
                 to answer with status {l}, give -{l}"
            ))
        }
        Some(_) => {
            return Command::Invalid(format!(
                "msip:callanswer:{args}: give 0 to answer, or a negative SIP status such as -486 \
                 to decline"
            ))
        }
    };
    Command::CallAnswer { call, lparam }
}

/// Removes at most one scheme (`tel:`, `sip:`, `callto:`, `dialpad:`, `dial:`, any case;
/// `sips:` is not one of them), then a leading `//` together with one trailing `/`.
fn strip_url_prefix(text: &str) -> &str {
    let mut rest = text;
    for scheme in ["tel:", "sip:", "callto:", "dialpad:", "dial:"] {
        let bytes = rest.as_bytes();
        if bytes.len() >= scheme.len()
            && bytes[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
        {
            // The scheme is ASCII, so its length is a char boundary.
            rest = &rest[scheme.len()..];
            break;
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        rest = after.strip_suffix('/').unwrap_or(after);
    }
    rest
}

/// `DialNumberFromCommandLine`: URL prefix, `/account:`, then the switches or a number.
fn dial_from_command_line(params: &str) -> Command {
    let params = strip_url_prefix(params);
    let Some(token) = take_account_token(params) else {
        return switches(params);
    };
    match (token.id, token.password) {
        (Some(account), Some(password)) => Command::AccountPassword { account, password },
        (Some(id), None) => Command::SetAccount {
            id,
            then: Box::new(switches(&token.rest)),
        },
        (None, _) => switches(&token.rest),
    }
}

/// What `/account:` in a tail asks for.
struct AccountToken {
    /// N when it is a number > 0 (MicroSIP ignores the switch otherwise, but still removes it).
    id: Option<u32>,
    /// Everything after `/password:`, when `/password:` occurs anywhere and N is valid.
    password: Option<String>,
    /// The tail after MicroSIP removed the token.
    rest: String,
}

/// Finds and removes `/account:N` exactly as MicroSIP does, counting in UTF-16 units like
/// `CString`. The removal arithmetic has two quirks that are kept:
/// * when no space follows the token, the character *before* it is removed too, along with
///   everything to the end (`123/account:2` leaves `12`);
/// * when a space follows, `pos` extra characters after the token are removed, where `pos`
///   is where the token started (`100 /account:2 hello` leaves `100 o`).
fn take_account_token(params: &str) -> Option<AccountToken> {
    let units: Vec<u16> = params.encode_utf16().collect();
    let pos = find_units(&units, "/account:")?;
    let after = pos + "/account:".len();
    let value_all = &units[after..];
    let mut space: Option<usize> = None;
    let mut id = None;
    let mut password = None;
    if !value_all.is_empty() {
        space = value_all.iter().position(|&u| u == u16::from(b' '));
        let value = &value_all[..space.unwrap_or(value_all.len())];
        let number = wtoi(value);
        if number > 0 {
            id = u32::try_from(number).ok();
            password = find_units(&units, "/password:")
                .map(|p| String::from_utf16_lossy(&units[p + "/password:".len()..]));
        }
    }
    let rest: Vec<u16> = match space {
        None => units[..pos.saturating_sub(1)].to_vec(),
        Some(space) => {
            let count = pos + "/account:".len() + space + 1;
            let end = (pos + count).min(units.len());
            units[..pos].iter().chain(&units[end..]).copied().collect()
        }
    };
    Some(AccountToken {
        id,
        password,
        rest: String::from_utf16_lossy(&rest),
    })
}

fn find_units(haystack: &[u16], needle: &str) -> Option<usize> {
    let needle: Vec<u16> = needle.encode_utf16().collect();
    haystack
        .windows(needle.len())
        .position(|window| window == needle.as_slice())
}

/// The C runtime's `_wtoi`: leading white space, an optional sign, decimal digits; stops at
/// the first other character; 0 when there are no digits; saturates at the `int` range.
fn wtoi(units: &[u16]) -> i32 {
    let is_space = |u: u16| matches!(u, 0x09..=0x0D | 0x20);
    let mut rest = units;
    while let Some((&first, tail)) = rest.split_first() {
        if !is_space(first) {
            break;
        }
        rest = tail;
    }
    let mut negative = false;
    if let Some((&sign, tail)) = rest.split_first() {
        if sign == u16::from(b'-') || sign == u16::from(b'+') {
            negative = sign == u16::from(b'-');
            rest = tail;
        }
    }
    let mut value: i64 = 0;
    for &unit in rest {
        if !(u16::from(b'0')..=u16::from(b'9')).contains(&unit) {
            break;
        }
        value = (value * 10 + i64::from(unit - u16::from(b'0'))).min(i64::from(i32::MAX) + 1);
    }
    let value = if negative { -value } else { value };
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The slash switches of `DialNumberFromCommandLine`, else a number to dial.
fn switches(params: &str) -> Command {
    match params {
        "/answer" => return Command::Answer,
        "/hangupall" => return Command::HangupAll,
        "/hangupincoming" => return Command::HangupIncoming,
        "/hangupcalling" => return Command::HangupCalling,
        _ => {}
    }
    if let Some(value) = params.strip_prefix("/dtmf:") {
        if value.is_empty() {
            return Command::Nothing;
        }
        return match value.strip_suffix('?') {
            Some(digits) => Command::Dtmf {
                digits: digits.to_string(),
                confirm: true,
            },
            None => Command::Dtmf {
                digits: value.to_string(),
                confirm: false,
            },
        };
    }
    if let Some(value) = params.strip_prefix("/password:") {
        return Command::Password(value.to_string());
    }
    if let Some(value) = params.strip_prefix("/transfer:") {
        if value.is_empty() {
            return Command::Nothing;
        }
        return Command::Transfer(value.to_string());
    }
    dial_number(params)
}

/// `CmainDlg::DialNumber`: split at the first space into number and message text.
fn dial_number(params: &str) -> Command {
    let (number, text) = match params.split_once(' ') {
        Some((number, text)) => (number, text.trim()),
        None => (params, ""),
    };
    let number = decode_number(number);
    if number.is_empty() {
        Command::Activate
    } else if text.is_empty() {
        Command::Dial { target: number }
    } else {
        Command::Message {
            to: number,
            text: text.to_string(),
        }
    }
}

/// Inside a number `%20` becomes a space and `%2B` a `+` (exact case, nothing else is
/// decoded); then the number is trimmed.
pub fn decode_number(number: &str) -> String {
    number
        .replace("%20", " ")
        .replace("%2B", "+")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(tail: &str) -> Command {
        let parsed = parse(tail);
        assert_eq!(parsed.alias, None, "{tail:?} must not be an alias");
        parsed.command
    }

    fn dial(target: &str) -> Command {
        Command::Dial {
            target: target.to_string(),
        }
    }

    fn message(to: &str, text: &str) -> Command {
        Command::Message {
            to: to.to_string(),
            text: text.to_string(),
        }
    }

    fn set_account(id: u32, then: Command) -> Command {
        Command::SetAccount {
            id,
            then: Box::new(then),
        }
    }

    #[test]
    fn empty_tail_activates_and_blank_text_does_nothing() {
        assert_eq!(cmd(""), Command::Activate);
        assert_eq!(cmd("   "), Command::Nothing);
        assert_eq!(cmd("\"\""), Command::Nothing);
        assert_eq!(cmd("\""), Command::Nothing);
        assert_eq!(
            cmd(" \"  \" "),
            Command::Activate,
            "quotes around blanks: empty number"
        );
    }

    #[test]
    fn per_call_messages_and_window_commands() {
        assert_eq!(
            cmd("msip:callanswer:3"),
            Command::CallAnswer { call: 3, lparam: 0 }
        );
        assert_eq!(
            cmd("msip:callanswer:3:-486"),
            Command::CallAnswer {
                call: 3,
                lparam: -486
            }
        );
        assert_eq!(
            cmd("msip:callanswer:0:1"),
            Command::CallAnswer { call: 0, lparam: 1 }
        );
        assert_eq!(cmd("msip:callhangup:2"), Command::CallHangup { call: 2 });
        assert_eq!(cmd("msip:command:32784"), Command::WindowCommand(32784));
        assert_eq!(
            cmd("msip:attendedtransfer:1"),
            Command::AttendedTransfer("1".into())
        );
        assert_eq!(cmd("msip:pickup:201"), Command::Pickup("201".into()));
        assert_eq!(cmd("msip:status"), Command::Status);
        assert_eq!(
            cmd("msip:alert:{\"id\":\"a1\",\"args\":[\"100\",\"--say\",\"x y\"]}"),
            Command::Alert {
                id: "a1".into(),
                args: vec!["100".into(), "--say".into(), "x y".into()]
            }
        );
        for bad in [
            "msip:callanswer:x",
            "msip:callanswer:-1",
            "msip:callanswer:1:486",
            "msip:callanswer:1:-5",
            "msip:callanswer:1:abc",
            "msip:callhangup:",
            "msip:command:exit",
            "msip:attendedtransfer:",
            "msip:pickup:",
            "msip:alert:{\"args\":[]}",
        ] {
            match cmd(bad) {
                Command::Invalid(why) => assert!(why.contains(bad), "{why}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        match cmd("msip:callanswer:1:486") {
            Command::Invalid(why) => assert!(why.contains("-486"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whole_tail_process_switches() {
        assert_eq!(cmd("/reset"), Command::Reset { ask: true });
        assert_eq!(cmd("/resetnoask"), Command::Reset { ask: false });
        assert_eq!(cmd("/exit"), Command::Exit);
        assert_eq!(cmd("/minimized"), Command::Minimized);
    }

    #[test]
    fn process_switches_only_as_the_exact_raw_tail() {
        // MicroSIP compares the raw tail; anything else is forwarded and dialled.
        assert_eq!(cmd("/exit "), dial("/exit"));
        assert_eq!(cmd("\"/exit\""), dial("/exit"));
        assert_eq!(cmd("/EXIT"), dial("/EXIT"));
        assert_eq!(cmd("/reset now"), message("/reset", "now"));
        assert_eq!(cmd("/minimized 1"), message("/minimized", "1"));
    }

    #[test]
    fn exact_slash_switches() {
        assert_eq!(cmd("/answer"), Command::Answer);
        assert_eq!(cmd("/hangupall"), Command::HangupAll);
        assert_eq!(cmd("/hangupincoming"), Command::HangupIncoming);
        assert_eq!(cmd("/hangupcalling"), Command::HangupCalling);
        assert_eq!(cmd("  /answer  "), Command::Answer, "trimmed first");
        assert_eq!(cmd("\"/hangupall\""), Command::HangupAll, "quotes dropped");
    }

    #[test]
    fn slash_switches_are_case_sensitive_and_exact() {
        assert_eq!(cmd("/Answer"), dial("/Answer"));
        assert_eq!(cmd("/answer now"), message("/answer", "now"));
        assert_eq!(cmd("/answerx"), dial("/answerx"));
        assert_eq!(cmd("/DTMF:12"), dial("/DTMF:12"));
    }

    #[test]
    fn prefix_switches() {
        assert_eq!(
            cmd("/dtmf:123#"),
            Command::Dtmf {
                digits: "123#".into(),
                confirm: false
            }
        );
        assert_eq!(
            cmd("/dtmf:55?"),
            Command::Dtmf {
                digits: "55".into(),
                confirm: true
            }
        );
        assert_eq!(cmd("/dtmf:"), Command::Nothing);
        assert_eq!(
            cmd("/password:s3cr et"),
            Command::Password("s3cr et".into())
        );
        assert_eq!(cmd("/password:"), Command::Password(String::new()));
        assert_eq!(cmd("/transfer:200"), Command::Transfer("200".into()));
        assert_eq!(cmd("/transfer:"), Command::Nothing);
    }

    #[test]
    fn prefix_switches_only_at_index_zero() {
        assert_eq!(cmd("x/dtmf:1"), dial("x/dtmf:1"));
        assert_eq!(cmd("100 /transfer:2"), message("100", "/transfer:2"));
    }

    #[test]
    fn every_msip_command() {
        let table = [
            ("msip:minimize", Command::Minimize),
            ("msip:answer", Command::Answer),
            ("msip:hangupall", Command::HangupAll),
            ("msip:hold", Command::Hold),
            ("msip:micmute", Command::MicMute),
            ("msip:micunmute", Command::MicUnmute),
            ("msip:speakmute", Command::SpeakMute),
            ("msip:speakunmute", Command::SpeakUnmute),
            ("msip:micmuteclick", Command::MicMuteToggle),
            ("msip:speakmuteclick", Command::SpeakMuteToggle),
            ("msip:micup", Command::MicUp),
            ("msip:micdown", Command::MicDown),
            ("msip:speakup", Command::SpeakUp),
            ("msip:speakdown", Command::SpeakDown),
            ("msip:recordstart", Command::RecordStart),
            ("msip:recordstop", Command::RecordStop),
            ("msip:recordclick", Command::RecordToggle),
            ("msip:transfer_300", Command::Transfer("300".into())),
            ("msip:transfer_", Command::Nothing),
            ("msip:", Command::Nothing),
        ];
        for (tail, expected) in table {
            assert_eq!(cmd(tail), expected, "{tail}");
        }
    }

    #[test]
    fn unknown_msip_commands_are_dialled_without_the_prefix() {
        assert_eq!(cmd("msip:100"), dial("100"));
        assert_eq!(cmd("msip:sip:100@pbx"), dial("100@pbx"));
        assert_eq!(cmd("msip:/answer"), Command::Answer);
        assert_eq!(cmd("msip:Hold"), dial("Hold"), "case-sensitive");
        assert_eq!(
            cmd("msip:hold "),
            Command::Hold,
            "the tail is trimmed first"
        );
    }

    #[test]
    fn msip_prefix_is_case_sensitive_and_at_index_zero() {
        assert_eq!(cmd("MSIP:hold"), dial("MSIP:hold"));
        assert_eq!(cmd("xmsip:hold"), dial("xmsip:hold"));
    }

    #[test]
    fn schemes_in_any_case_at_most_one() {
        for tail in [
            "sip:100",
            "SIP:100",
            "Sip:100",
            "tel:100",
            "TEL:100",
            "callto:100",
            "CallTo:100",
            "dialpad:100",
            "DIALPAD:100",
            "dial:100",
            "Dial:100",
        ] {
            assert_eq!(cmd(tail), dial("100"), "{tail}");
        }
        assert_eq!(
            cmd("tel:sip:100"),
            dial("sip:100"),
            "only one scheme is removed"
        );
        assert_eq!(cmd("sip:alice@example.com"), dial("alice@example.com"));
    }

    #[test]
    fn sips_is_not_removed() {
        assert_eq!(
            cmd("sips:alice@example.com"),
            dial("sips:alice@example.com")
        );
        assert_eq!(cmd("SIPS:100"), dial("SIPS:100"));
    }

    #[test]
    fn double_slash_form() {
        assert_eq!(cmd("tel://+4930123/"), dial("+4930123"));
        assert_eq!(cmd("callto://100"), dial("100"));
        assert_eq!(cmd("sip://100//"), dial("100/"), "only one trailing slash");
        assert_eq!(cmd("//100/"), dial("100"));
        assert_eq!(cmd("sip://"), Command::Activate);
        assert_eq!(cmd("sip:"), Command::Activate);
    }

    #[test]
    fn quoted_url_from_a_protocol_handler() {
        assert_eq!(cmd("\"sip:100@pbx.lan\""), dial("100@pbx.lan"));
        assert_eq!(cmd("  \"tel:+1 555\"  "), message("+1", "555"));
        assert_eq!(cmd("\"100"), dial("\"100"), "unbalanced quote kept");
    }

    #[test]
    fn percent_escapes_in_the_number_only() {
        assert_eq!(cmd("tel:+49%2030%20123"), dial("+49 30 123"));
        assert_eq!(cmd("%2B4930123"), dial("+4930123"));
        assert_eq!(cmd("%2b4930"), dial("%2b4930"), "case-sensitive");
        assert_eq!(cmd("100 a%20b"), message("100", "a%20b"));
        assert_eq!(
            cmd("%20"),
            Command::Activate,
            "decoded and trimmed to nothing"
        );
    }

    #[test]
    fn message_split_at_the_first_space() {
        assert_eq!(cmd("100 hello world"), message("100", "hello world"));
        assert_eq!(cmd("100   spaced  "), message("100", "spaced"));
        assert_eq!(cmd("sip:bob@pbx Hi"), message("bob@pbx", "Hi"));
    }

    #[test]
    fn account_switch_alone_or_with_a_number_after() {
        assert_eq!(cmd("/account:2"), set_account(2, Command::Activate));
        assert_eq!(cmd("/account:2 100"), set_account(2, dial("100")));
        assert_eq!(cmd("/account:2 /answer"), set_account(2, Command::Answer));
        assert_eq!(
            cmd("sip:/account:3 100"),
            set_account(3, dial("100")),
            "after scheme removal"
        );
    }

    #[test]
    fn account_switch_after_the_number() {
        assert_eq!(cmd("100 /account:2"), set_account(2, dial("100")));
        assert_eq!(cmd("/answer /account:1"), set_account(1, Command::Answer));
    }

    #[test]
    fn account_switch_removal_quirks() {
        // No space after the token: the char before it goes too.
        assert_eq!(cmd("100/account:2"), set_account(2, dial("10")));
        // A space after the token and pos > 0: pos extra chars after it are removed.
        assert_eq!(
            cmd("100 /account:2 hello world"),
            set_account(2, message("100", "o world"))
        );
        assert_eq!(cmd("12 /account:2 3"), set_account(2, dial("12")));
    }

    #[test]
    fn account_switch_with_invalid_number_is_only_removed() {
        assert_eq!(cmd("/account:0 100"), dial("100"));
        assert_eq!(cmd("/account:x 100"), dial("100"));
        assert_eq!(cmd("/account:-3 100"), dial("100"));
        assert_eq!(cmd("/account:"), Command::Activate);
        assert_eq!(
            cmd("/account: 100"),
            dial("100"),
            "empty value before the space"
        );
        assert_eq!(
            cmd("/account:99999999999 1"),
            set_account(2147483647, dial("1"))
        );
        assert_eq!(
            cmd("/account:7abc 100"),
            set_account(7, dial("100")),
            "_wtoi stops"
        );
    }

    #[test]
    fn account_password() {
        assert_eq!(
            cmd("/account:2 /password:pa ss"),
            Command::AccountPassword {
                account: 2,
                password: "pa ss".into()
            }
        );
        assert_eq!(
            cmd("/password:pw /account:4"),
            Command::AccountPassword {
                account: 4,
                password: "pw /account:4".into()
            },
            "the password runs to the end of the tail"
        );
        assert_eq!(
            cmd("/account:0 /password:x"),
            Command::Password("x".into()),
            "invalid account: the global password switch remains"
        );
    }

    #[test]
    fn every_alias_is_flagged() {
        let table = [
            ("-answer", Command::Answer),
            ("-hangup", Command::HangupAll),
            ("-exit", Command::Exit),
            ("-minimize", Command::Minimized),
            ("exit", Command::Exit),
            ("mute", Command::MicMuteToggle),
            ("--call sip:100@pbx", dial("100@pbx")),
            ("--call \"tel:+1%20555\"", dial("+1 555")),
            ("--call   200  ", dial("200")),
            ("--call", Command::Nothing),
        ];
        for (tail, expected) in table {
            let parsed = parse(tail);
            assert_eq!(parsed.command, expected, "{tail}");
            assert!(parsed.alias.is_some(), "{tail} is an alias");
        }
        assert_eq!(
            parse("-answer").alias_message().as_deref(),
            Some("accepted alias -answer for /answer")
        );
        assert_eq!(
            parse("mute").alias_message().as_deref(),
            Some("accepted alias mute for msip:micmuteclick")
        );
        assert_eq!(parse("/answer").alias_message(), None);
    }

    #[test]
    fn call_alias_never_splits_a_message_or_runs_switches() {
        assert_eq!(parse("--call 100 hi").command, dial("100 hi"));
        assert_eq!(parse("--call /answer").command, dial("/answer"));
    }

    #[test]
    fn near_aliases_are_not_aliases() {
        assert_eq!(cmd("-ANSWER"), dial("-ANSWER"));
        assert_eq!(cmd("--callme"), dial("--callme"));
        assert_eq!(cmd("Exit"), dial("Exit"));
        assert_eq!(cmd("mute now"), message("mute", "now"));
        assert_eq!(cmd("-hangupall"), dial("-hangupall"));
    }

    #[test]
    fn no_instance_decisions() {
        assert_eq!(without_running_instance("/answer"), NoInstance::ExitAtOnce);
        assert_eq!(
            without_running_instance("/hangupall"),
            NoInstance::ExitAtOnce
        );
        assert_eq!(without_running_instance("-answer"), NoInstance::ExitAtOnce);
        assert_eq!(without_running_instance("-hangup"), NoInstance::ExitAtOnce);
        assert_eq!(without_running_instance("/exit"), NoInstance::NothingToStop);
        assert_eq!(without_running_instance("exit"), NoInstance::NothingToStop);
        assert_eq!(
            without_running_instance("/resetnoask"),
            NoInstance::Reset { ask: false }
        );
        // Not exactly the tail: MicroSIP starts the app and runs the command.
        assert_eq!(
            without_running_instance(" /answer"),
            NoInstance::Start(Parsed::plain(Command::Answer))
        );
        assert_eq!(
            without_running_instance("msip:answer"),
            NoInstance::Start(Parsed::plain(Command::Answer))
        );
        assert_eq!(
            without_running_instance("/hangupincoming"),
            NoInstance::Start(Parsed::plain(Command::HangupIncoming))
        );
        assert_eq!(
            without_running_instance("/minimized"),
            NoInstance::Start(Parsed::plain(Command::Minimized))
        );
        assert_eq!(
            without_running_instance("100"),
            NoInstance::Start(Parsed::plain(dial("100")))
        );
        assert_eq!(
            without_running_instance(""),
            NoInstance::Start(Parsed::plain(Command::Activate))
        );
    }

    #[test]
    fn running_instance_decisions() {
        assert_eq!(with_running_instance(""), WithInstance::Activate);
        assert_eq!(with_running_instance("/minimized"), WithInstance::Nothing);
        assert_eq!(with_running_instance("/exit"), WithInstance::StopRunning);
        assert_eq!(with_running_instance("-exit"), WithInstance::StopRunning);
        assert_eq!(
            with_running_instance("/reset"),
            WithInstance::Reset { ask: true }
        );
        assert_eq!(with_running_instance("/answer"), WithInstance::Forward);
        assert_eq!(with_running_instance("   "), WithInstance::Forward);
        assert_eq!(with_running_instance("sip:100"), WithInstance::Forward);
    }

    #[test]
    fn wtoi_matches_the_c_runtime() {
        let w = |s: &str| wtoi(&s.encode_utf16().collect::<Vec<_>>());
        assert_eq!(w("12"), 12);
        assert_eq!(w(" \t+7x"), 7);
        assert_eq!(w("-5"), -5);
        assert_eq!(w(""), 0);
        assert_eq!(w("abc"), 0);
        assert_eq!(w("99999999999999999999"), i32::MAX);
        assert_eq!(w("-99999999999999999999"), i32::MIN);
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(cmd("100 grüße 😀"), message("100", "grüße 😀"));
        // The char before the token is one UTF-16 unit: half of the emoji goes (lossy).
        assert_eq!(cmd("😀/account:2"), set_account(2, dial("\u{FFFD}")));
    }
}
