//! MicroSIP.ini → typed settings, and safe write-back.
//!
//! Reading follows MicroSIP 3.22 (spec §5): Win32 `GetPrivateProfileString` lookups, each
//! key's own parsing rule (`_wtoi`, `=="1"`, `!="0"`, fixed spellings), MicroSIP's defaults and
//! buffer caps, the `accountId` rules and the old single-account migration. Where MicroSIP
//! would silently coerce a value, a [`Diagnostic`] says so; only a port that cannot be a port
//! and a file that is not an ini are fatal ([`ConfigError`]).
//!
//! Writing keeps the file as it was (encoding, BOM, line endings, comments, unknown keys and
//! sections, order); only the keys set are rewritten, in place, and the file is replaced
//! atomically with mode 0600. An unchanged document is written back byte for byte.
#![forbid(unsafe_code)]

mod document;
mod error;
mod files;
mod keys;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use document::{fold, unquote, Document, LineKind, SectionInfo};
use rules::{wtoi, Cx, Found, KeyDef};

pub use document::FileEncoding;
pub use error::{ConfigError, Diagnostic, Level};
pub use files::{
    create_default, default_ini_bytes, locate, log_path, Located, LocationKind, INI_NAME,
};
pub use keys::{
    Account, AutoAnswer, AutoAnswerCalls, DefaultAction, DenyIncoming, DtmfMethod, Forwarding,
    HideCid, PasswordState, RecordingFormat, Settings, Srtp, Transport, UpdatesInterval,
    LOCAL_ACCOUNT_LABEL, NOTHING_TO_APPLY, NOT_APPLIED,
};

use keys::{
    looks_encrypted, ACCOUNT_KEYS, LEGACY_ACCOUNT_KEYS_REMOVED, NOT_MICROSIP_KEYS, SETTINGS_KEYS,
    UNUSED_MICROSIP_KEYS,
};

/// `[Settings]`.
const SETTINGS: &str = "Settings";
/// Sections MicroSIP (3.22.3 or 3.22.16) uses besides `[Settings]` and `[AccountN]`.
const OTHER_MICROSIP_SECTIONS: &[&str] = &["Global", "Shortcuts", "Dialed", "Calls", "Contacts"];

/// A loaded MicroSIP.ini: typed settings and accounts, the diagnostics, and the document for
/// write-back.
#[derive(Clone)]
pub struct Config {
    /// The ini file (also where [`Config::save`] writes).
    pub path: PathBuf,
    /// `[Settings]`, effective values.
    pub settings: Settings,
    /// Accounts that load: `[AccountN]` (N ≥ 1) with a non-empty `domain`, and `[Account0]`
    /// (the local "call by IP" account) when the section exists.
    pub accounts: BTreeMap<u32, Account>,
    /// Remarks about the file, in line order.
    pub diagnostics: Vec<Diagnostic>,
    document: Document,
    /// Old single-account keys of `[Settings]` read as `[Account1]` and not yet moved there in
    /// the document (moved on the first [`Config::set_setting`]).
    migration: Option<Account>,
}

/// Shows the typed view; the document (which holds passwords) is left out.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("encoding", &self.document.encoding)
            .field("settings", &self.settings)
            .field("accounts", &self.accounts)
            .field("diagnostics", &self.diagnostics)
            .finish_non_exhaustive()
    }
}

/// Reads, decodes, parses and types an ini file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ConfigError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse_bytes(path, &bytes)
}

/// Decodes, parses and types the bytes of an ini file; `path_for_messages` is named in errors
/// and diagnostics and is where [`Config::save`] writes.
pub fn parse_bytes(path_for_messages: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let not_ini = |reason| ConfigError::NotIni {
        path: path_for_messages.to_path_buf(),
        reason,
    };
    let document = Document::parse(bytes).map_err(not_ini)?;
    check_is_ini(&document).map_err(not_ini)?;
    let typed = Typed::derive(path_for_messages, &document)?;
    Ok(Config {
        path: path_for_messages.to_path_buf(),
        settings: typed.settings,
        accounts: typed.accounts,
        diagnostics: typed.diagnostics,
        document,
        migration: typed.migration,
    })
}

/// A file is an ini when it has a section header or a `key=value` line, or has nothing but
/// blank and comment lines (an empty file is MicroSIP's first run).
fn check_is_ini(document: &Document) -> Result<(), String> {
    let mut first_other = None;
    for (at, line) in document.lines.iter().enumerate() {
        match line.kind {
            LineKind::Section(_) | LineKind::Entry { .. } => return Ok(()),
            LineKind::Other if first_other.is_none() => first_other = Some(at),
            _ => {}
        }
    }
    match first_other {
        None => Ok(()),
        Some(at) => {
            let text: String = document.lines[at].text.chars().take(40).collect();
            Err(format!(
                "no [Section] header and no key=value line (line {} is {text:?})",
                at + 1
            ))
        }
    }
}

impl Config {
    /// The active SIP account: `accountId` after MicroSIP's rules, `None` when it is 0 (local
    /// IP calls only).
    pub fn active_account(&self) -> Option<(u32, &Account)> {
        match self.settings.account_id {
            0 => None,
            id => self.accounts.get(&id).map(|account| (id, account)),
        }
    }

    /// The local "call by IP" account: `[Account0]`, or its defaults.
    pub fn local_account(&self) -> Account {
        self.accounts
            .get(&0)
            .cloned()
            .unwrap_or_else(Account::local_default)
    }

    /// Whether the local account runs: `accountId=0` or `enableLocalAccount=1`.
    pub fn local_account_enabled(&self) -> bool {
        self.settings.account_id == 0 || self.settings.enable_local_account
    }

    /// `Section.key=value` for every known `[Settings]` key and every key of each loaded
    /// account, effective values, sorted; passwords shown as `********` unless empty.
    pub fn effective_lines(&self) -> Vec<String> {
        self.effective_values()
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect()
    }

    /// The effective settings as (`Section.key`, value) pairs, sorted by key, passwords
    /// masked: what [`Config::effective_lines`] prints, for comparing two configurations.
    pub fn effective_values(&self) -> Vec<(String, String)> {
        let mut values = Vec::new();
        for def in SETTINGS_KEYS {
            values.push((
                format!("{SETTINGS}.{}", def.name),
                (def.show)(&self.settings),
            ));
        }
        for (id, account) in &self.accounts {
            for def in ACCOUNT_KEYS {
                let value = rules::shown_value(def.name, &(def.show)(account));
                values.push((format!("Account{id}.{}", def.name), value));
            }
        }
        values.sort();
        values
    }

    /// The keys this file sets to something other than MicroSIP's default that this phone
    /// does not apply ([`NOT_APPLIED`]): (`Section.key`, why), in table order.
    pub fn not_applied(&self) -> Vec<(String, &'static str)> {
        let why = |name: &str| {
            NOT_APPLIED
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, why)| *why)
        };
        let mut out = Vec::new();
        let defaults = Settings::default();
        for def in SETTINGS_KEYS {
            if let Some(why) = why(def.name) {
                if (def.show)(&self.settings) != (def.show)(&defaults) {
                    out.push((format!("{SETTINGS}.{}", def.name), why));
                }
            }
        }
        let defaults = Account::default();
        for (id, account) in &self.accounts {
            for def in ACCOUNT_KEYS {
                if let Some(why) = why(def.name) {
                    if (def.show)(account) != (def.show)(&defaults) {
                        out.push((format!("Account{id}.{}", def.name), why));
                    }
                }
            }
        }
        out
    }

    /// The text encoding of the file (kept on write-back).
    /// The `key=value` entries of a section that is not MicroSIP's (ours, such as
    /// `[Alerting]`), in file order, outer quotes removed; the first of repeated keys wins,
    /// as Windows reads them. Empty when the section is missing.
    pub fn extra_section(&self, name: &str) -> Vec<(String, String)> {
        let index = self.document.index();
        let Some(section) = index.section(name) else {
            return Vec::new();
        };
        let mut seen = std::collections::HashSet::new();
        section
            .entry_lines
            .iter()
            .filter_map(|&i| match &self.document.lines[i].kind {
                document::LineKind::Entry { key, value, .. } => Some((key, value)),
                _ => None,
            })
            .filter(|(key, _)| seen.insert(document::fold(key)))
            .map(|(key, value)| (key.clone(), document::unquote(value).to_string()))
            .collect()
    }

    pub fn encoding(&self) -> FileEncoding {
        self.document.encoding
    }

    /// Sets a `[Settings]` key (as MicroSIP does when e.g. `DND`, `AA` or `accountId` change)
    /// and updates the typed view. A key that is present is rewritten in place, a new one is
    /// added at the end of `[Settings]`. Nothing is written to disk until [`Config::save`].
    /// A change that would make the file invalid (e.g. `sourcePort=70000`) is refused and
    /// logged; use [`Config::try_set_setting`] to get the error.
    pub fn set_setting(&mut self, key: &str, value: &str) {
        if let Err(e) = self.try_set_setting(key, value) {
            log::error!("{}: not changed: {e}", self.path.display());
        }
    }

    /// [`Config::set_setting`], returning why a change was refused.
    pub fn try_set_setting(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let name = known_name(SETTINGS_KEYS, key).unwrap_or(key);
        self.try_set(SETTINGS, name, key, value)
    }

    /// Sets a key of `[AccountN]` (MicroSIP's `/account:N /password:PWD` stores a password
    /// this way), with the same rules as [`Config::try_set_setting`]. The section is added at
    /// the end of the file when it does not exist.
    pub fn try_set_account_key(
        &mut self,
        account: u32,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let name = known_name(ACCOUNT_KEYS, key).unwrap_or(key);
        self.try_set(&format!("Account{account}"), name, key, value)
    }

    fn try_set(
        &mut self,
        section: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        check_key_name(key)?;
        let mut document = self.document.clone();
        if let Some(account) = &self.migration {
            move_legacy_account(&mut document, account);
        }
        document.set(section, name, value);
        let typed = Typed::derive(&self.path, &document)?;
        self.document = document;
        self.settings = typed.settings;
        self.accounts = typed.accounts;
        self.diagnostics = typed.diagnostics;
        self.migration = typed.migration;
        Ok(())
    }

    /// The file's bytes as they would be saved (the input bytes when nothing was set).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.document.to_bytes()
    }

    /// Writes the file atomically (temporary file in the same folder, fsync, rename), mode
    /// 0600, keeping encoding, BOM, line endings, comments, unknown keys and order.
    pub fn save(&self) -> Result<(), ConfigError> {
        files::write_atomically(&self.path, &self.to_bytes())
    }
}

/// Keys that would not read back as themselves are refused.
fn check_key_name(key: &str) -> Result<(), ConfigError> {
    let reason = if key.is_empty() || document::trim_blank(key) != key {
        "empty or with blanks around it"
    } else if key.contains(['=', '\r', '\n', '\0']) {
        "contains '=', a line break or NUL"
    } else if key.starts_with(['[', ';', '#']) {
        "starts with '[', ';' or '#'"
    } else {
        return Ok(());
    };
    Err(ConfigError::InvalidKey {
        key: key.to_string(),
        reason,
    })
}

/// MicroSIP's spelling of a key of `table`, matched case-insensitively.
fn known_name<T>(table: &[KeyDef<T>], key: &str) -> Option<&'static str> {
    // The names are ASCII: comparing them ASCII-case-insensitively with the folded key is the
    // same as folding both, without an allocation per name.
    let folded = fold(key);
    table
        .iter()
        .find(|def| def.name.eq_ignore_ascii_case(&folded))
        .map(|def| def.name)
}

/// Moves old single-account keys from `[Settings]` into `[Account1]` as MicroSIP does
/// (`AccountLoad(-2)` + `AccountSave(1)`), and sets `accountId=1`.
fn move_legacy_account(document: &mut Document, account: &Account) {
    for def in ACCOUNT_KEYS {
        document.set("Account1", def.name, &(def.show)(account));
    }
    for key in LEGACY_ACCOUNT_KEYS_REMOVED {
        document.remove(SETTINGS, key);
    }
    document.set(SETTINGS, "accountId", "1");
}

/// `N` of a section named `AccountN` (any case) when MicroSIP would find it as `Account%d`.
/// `Err(())` for names that look like an account but are not read (`Account01`).
fn account_number(section: &str) -> Option<Result<u32, ()>> {
    let digits = section
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("account"))?;
    let digits = &section[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let canonical = digits == "0" || !digits.starts_with('0');
    Some(digits.parse().ok().filter(|_| canonical).ok_or(()))
}

/// The typed view of a document.
struct Typed {
    settings: Settings,
    accounts: BTreeMap<u32, Account>,
    diagnostics: Vec<Diagnostic>,
    migration: Option<Account>,
}

/// Looks up a key in a section of the document.
fn find(document: &Document, section: Option<&SectionInfo>, key: &str) -> Option<Found> {
    let section = section?;
    let at = section.entry(key)?;
    match &document.lines[at].kind {
        LineKind::Entry { key, value, .. } => Some(Found {
            section: section.name.clone(),
            key: key.clone(),
            value: unquote(value).to_string(),
            line: at + 1,
        }),
        _ => None,
    }
}

/// The entries of a section that are first occurrences, as `Found`s.
fn entries(document: &Document, section: &SectionInfo) -> Vec<Found> {
    section
        .entry_lines
        .iter()
        .filter_map(|&at| match &document.lines[at].kind {
            LineKind::Entry { key, .. } if section.entry(key) == Some(at) => {
                find(document, Some(section), key)
            }
            _ => None,
        })
        .collect()
}

fn read_table<T>(
    table: &[KeyDef<T>],
    target: &mut T,
    document: &Document,
    section: Option<&SectionInfo>,
    cx: &mut Cx,
) -> Result<(), ConfigError> {
    for def in table {
        (def.read)(target, find(document, section, def.name).as_ref(), cx)?;
    }
    Ok(())
}

impl Typed {
    fn derive(path: &Path, document: &Document) -> Result<Typed, ConfigError> {
        let index = document.index();
        let mut cx = Cx {
            path,
            diagnostics: Vec::new(),
        };
        structure_diagnostics(document, &index, &mut cx);

        let settings_section = index.section(SETTINGS);
        let mut settings = Settings::default();
        read_table(
            SETTINGS_KEYS,
            &mut settings,
            document,
            settings_section,
            &mut cx,
        )?;
        let account_id = find(document, settings_section, "accountId");
        let account_id_missing = account_id.as_ref().is_none_or(|f| f.value.is_empty());
        if let Some(section) = settings_section {
            settings_extras(
                document,
                section,
                &mut settings,
                account_id_missing,
                &mut cx,
            );
        }

        let mut accounts = read_accounts(document, &index, &mut cx)?;
        let migration = match settings_section {
            Some(section) if account_id_missing => legacy_account(document, section, &mut cx)?,
            _ => None,
        };
        if let Some(legacy) = &migration {
            accounts.insert(1, legacy.clone());
            settings.account_id = 1;
        }
        settings.account_id = resolve_account_id(
            settings.account_id,
            settings.enable_local_account,
            account_id.as_ref(),
            &accounts,
            &mut cx,
        );

        cx.diagnostics.sort_by_key(|d| d.line);
        Ok(Typed {
            settings,
            accounts,
            diagnostics: cx.diagnostics,
            migration,
        })
    }
}

/// The `[AccountN]` sections that load: `[Account0]` always, others with a domain.
fn read_accounts(
    document: &Document,
    index: &document::Index,
    cx: &mut Cx,
) -> Result<BTreeMap<u32, Account>, ConfigError> {
    let mut accounts = BTreeMap::new();
    for section in index.sections() {
        let note = |cx: &mut Cx, level, message| {
            cx.note_at(level, section.header + 1, &section.name, "", "", message);
        };
        match account_number(&section.name) {
            Some(Ok(id)) => {
                let account = read_account(document, section, Some(id), cx)?;
                if id == 0 || !account.domain.is_empty() {
                    accounts.insert(id, account);
                } else {
                    note(
                        cx,
                        Level::Warning,
                        "no domain: MicroSIP ignores an account without one",
                    );
                }
            }
            Some(Err(())) => note(
                cx,
                Level::Info,
                "MicroSIP reads account sections as [Account1], [Account2]… (no leading \
                 zeros); this section is not read",
            ),
            None => {
                let known = section.name.eq_ignore_ascii_case(SETTINGS)
                    || OTHER_MICROSIP_SECTIONS
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&section.name));
                if !known {
                    note(
                        cx,
                        Level::Info,
                        "not a MicroSIP section; kept in the file but not used",
                    );
                }
            }
        }
    }
    Ok(accounts)
}

/// With `accountId` missing, the old single-account keys of `[Settings]` become `[Account1]`
/// when they include a domain (A:settings.cpp `AccountLoad(-2)`).
fn legacy_account(
    document: &Document,
    section: &SectionInfo,
    cx: &mut Cx,
) -> Result<Option<Account>, ConfigError> {
    // Remarks about these keys matter only if they are used.
    let mut scratch = Cx {
        path: cx.path,
        diagnostics: Vec::new(),
    };
    let legacy = read_account(document, section, None, &mut scratch)?;
    if legacy.domain.is_empty() {
        return Ok(None);
    }
    cx.diagnostics.append(&mut scratch.diagnostics);
    let line = section.entry("domain").map_or(0, |at| at + 1);
    cx.note_at(
        Level::Info,
        line,
        &section.name,
        "accountId",
        "",
        "missing, and [Settings] has the old single-account keys: they are used as \
         [Account1], as MicroSIP does, and moved there when the file is next written",
    );
    Ok(Some(legacy))
}

/// MicroSIP's `accountId` rules (A:settings.cpp `Init`): 0 (no SIP account) needs
/// `enableLocalAccount=1`, else it becomes 1; an id that does not load becomes 0.
fn resolve_account_id(
    mut id: u32,
    enable_local_account: bool,
    found: Option<&Found>,
    accounts: &BTreeMap<u32, Account>,
    cx: &mut Cx,
) -> u32 {
    if id == 0 && !enable_local_account {
        // A missing accountId is treated like 0 here. MicroSIP's own first run would keep 0
        // and save it, and then use [Account1] from the next start on.
        if accounts.contains_key(&1) {
            let (line, value) = found.map_or((0, ""), |f| (f.line, f.value.as_str()));
            cx.note_at(
                Level::Info,
                line,
                SETTINGS,
                "accountId",
                value,
                "0 or missing means no SIP account only with enableLocalAccount=1; using \
                 [Account1]",
            );
        }
        id = 1;
    }
    if id > 0 && !accounts.contains_key(&id) {
        if let Some(found) = found.filter(|f| wtoi(&f.value).value == id as i32) {
            cx.warn(
                found,
                format!("[Account{id}] is missing or has no domain; no SIP account is used"),
            );
        }
        id = 0;
    }
    id
}

/// Remarks about lines Win32 ignores: outside sections, unparseable, repeated sections and
/// keys.
fn structure_diagnostics(document: &Document, index: &document::Index, cx: &mut Cx) {
    let entry = |at: usize| match &document.lines[at].kind {
        LineKind::Entry { key, value, .. } => (key.clone(), unquote(value).to_string()),
        _ => (String::new(), String::new()),
    };
    for &at in &index.orphans {
        let (key, value) = entry(at);
        cx.note_at(
            Level::Warning,
            at + 1,
            "",
            &key,
            &value,
            "outside any section, so MicroSIP ignores it; put it under [Settings] or an \
             [AccountN] header",
        );
    }
    for &at in &index.others {
        let text: String = document.lines[at].text.chars().take(40).collect();
        cx.note_at(
            Level::Warning,
            at + 1,
            "",
            "",
            "",
            format!("{text:?} is not a [Section] header, a key=value line or a ; comment; ignored"),
        );
    }
    for &(at, first) in &index.repeated_sections {
        if let LineKind::Section(name) = &document.lines[at].kind {
            cx.note_at(
                Level::Warning,
                at + 1,
                name,
                "",
                "",
                format!(
                    "repeated section (first at line {}): MicroSIP reads only the first one, so \
                     the keys below are ignored",
                    first + 1
                ),
            );
        }
    }
    for &(at, first) in &index.repeated_keys {
        let (key, value) = entry(at);
        let section = index
            .sections()
            .find(|s| s.header < at && at < s.end)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        cx.note_at(
            Level::Warning,
            at + 1,
            &section,
            &key,
            &value,
            format!(
                "repeated key: MicroSIP uses the first one (line {}), this one is ignored",
                first + 1
            ),
        );
    }
}

/// `[Settings]` keys outside the table: aliases from popular guides, keys MicroSIP does not
/// have, old single-account keys, unknown keys.
fn settings_extras(
    document: &Document,
    section: &SectionInfo,
    settings: &mut Settings,
    account_id_missing: bool,
    cx: &mut Cx,
) {
    for found in entries(document, section) {
        let key = fold(&found.key);
        if known_name(SETTINGS_KEYS, &key).is_some()
            || UNUSED_MICROSIP_KEYS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key))
        {
            continue;
        }
        if key == "donotdisturb" {
            do_not_disturb_alias(document, section, settings, &found, cx);
        } else if let Some((_, why)) = NOT_MICROSIP_KEYS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            cx.warn(&found, *why);
        } else if known_name(ACCOUNT_KEYS, &key).is_some()
            || LEGACY_ACCOUNT_KEYS_REMOVED
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key))
        {
            if !account_id_missing {
                cx.note(
                    Level::Info,
                    &found,
                    "an account key from old single-account MicroSIP; ignored because \
                     accountId is set (accounts go in [AccountN] sections)",
                );
            }
        } else {
            cx.note(
                Level::Info,
                &found,
                "not a MicroSIP key; kept in the file but not used",
            );
        }
    }
}

/// `DoNotDisturb=1` (popular guides): `DND=1`, and `denyIncoming=button` unless set. `DND`
/// itself wins when present.
fn do_not_disturb_alias(
    document: &Document,
    section: &SectionInfo,
    settings: &mut Settings,
    found: &Found,
    cx: &mut Cx,
) {
    if section.entry("DND").is_some() {
        cx.note(
            Level::Info,
            found,
            "not a MicroSIP key (some guides write DoNotDisturb); ignored because DND is set",
        );
        return;
    }
    let on = wtoi(&found.value).value != 0;
    settings.dnd = on;
    let message = if !on {
        "not a MicroSIP key (some guides write DoNotDisturb); read as DND=0".to_string()
    } else if find(document, Some(section), "denyIncoming").is_none() {
        settings.deny_incoming = DenyIncoming::Button;
        "not a MicroSIP key (some guides write DoNotDisturb=1); read as DND=1 with \
         denyIncoming=button: incoming calls are rejected"
            .to_string()
    } else {
        format!(
            "not a MicroSIP key (some guides write DoNotDisturb=1); read as DND=1, which \
             rejects calls only with denyIncoming=button (it is {:?})",
            settings.deny_incoming.as_ini()
        )
    };
    cx.note(Level::Info, found, message);
}

/// Reads an account from `section`: `id` is `Some(N)` for `[AccountN]`, `None` for the old
/// single-account keys in `[Settings]`.
fn read_account(
    document: &Document,
    section: &SectionInfo,
    id: Option<u32>,
    cx: &mut Cx,
) -> Result<Account, ConfigError> {
    let mut account = Account::default();
    read_table(ACCOUNT_KEYS, &mut account, document, Some(section), cx)?;
    if id == Some(0) && section.entry("label").is_none() {
        account.label = LOCAL_ACCOUNT_LABEL.to_string();
    }
    if looks_encrypted(&account.password) {
        if let Some(found) = find(document, Some(section), "password") {
            cx.warn(
                &found,
                format!(
                    "[{}] password looks like MicroSIP's encrypted form, which cannot be \
                     decrypted (its key is not published); enter the password in plain text. \
                     Until then this account cannot register",
                    section.name
                ),
            );
        }
    }
    if id.is_some() {
        for found in entries(document, section) {
            if known_name(ACCOUNT_KEYS, &found.key).is_none() {
                cx.note(
                    Level::Info,
                    &found,
                    "not a MicroSIP account key; kept in the file but not used",
                );
            }
        }
    }
    Ok(account)
}
