//! How MicroSIP turns the text of one key into a value (`_wtoi`, `=="1"`, `!="0"`, fixed
//! spellings, buffer caps), with a diagnostic wherever MicroSIP would silently coerce.

use std::path::Path;

use super::error::{ConfigError, Diagnostic, Level};

/// One key as found in the file.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// Section as written.
    pub section: String,
    /// Key as written.
    pub key: String,
    /// Value after trimming and removing outer quotes, not yet capped.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// Collects diagnostics while typing a document.
pub(crate) struct Cx<'a> {
    pub path: &'a Path,
    pub diagnostics: Vec<Diagnostic>,
}

/// Passwords never appear in messages or `--check` output.
pub(crate) fn shown_value(key: &str, value: &str) -> String {
    if key.eq_ignore_ascii_case("password") && !value.is_empty() {
        "********".to_string()
    } else {
        value.to_string()
    }
}

/// Values in diagnostics are shortened to this many characters.
const DIAGNOSTIC_VALUE_CHARS: usize = 80;

fn shortened(value: String) -> String {
    match value.char_indices().nth(DIAGNOSTIC_VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value,
    }
}

impl Cx<'_> {
    pub fn note(&mut self, level: Level, found: &Found, message: impl Into<String>) {
        self.note_at(
            level,
            found.line,
            &found.section,
            &found.key,
            &found.value,
            message,
        );
    }

    pub fn warn(&mut self, found: &Found, message: impl Into<String>) {
        self.note(Level::Warning, found, message);
    }

    pub fn note_at(
        &mut self,
        level: Level,
        line: usize,
        section: &str,
        key: &str,
        value: &str,
        message: impl Into<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            level,
            path: self.path.to_path_buf(),
            line,
            section: section.to_string(),
            key: key.to_string(),
            value: shortened(shown_value(key, value)),
            message: message.into(),
        });
    }
}

/// What `_wtoi` makes of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wtoi {
    /// The number: 0 without digits; saturated at the `i32` bounds like the MSVC runtime.
    pub value: i32,
    /// At least one digit was read.
    pub has_digits: bool,
    /// Nothing followed the digits.
    pub complete: bool,
}

/// `_wtoi`: leading blanks, an optional sign, decimal digits up to the first non-digit.
pub(crate) fn wtoi(text: &str) -> Wtoi {
    let rest = text.trim_start_matches(super::document::is_blank);
    let (negative, rest) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut value: i64 = 0;
    for b in rest.bytes().take(digits) {
        value = (value * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let value = if negative { -value } else { value };
    Wtoi {
        value: value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        has_digits: digits > 0,
        complete: digits == rest.len(),
    }
}

/// Examples for the table-driven tests: `(raw text, expected effective text)`.
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) struct Examples {
    /// A valid value and how it shows.
    pub valid: (String, String),
    /// A value that yields a warning, and how it shows.
    pub invalid: (String, String),
}

#[cfg(test)]
fn examples(valid: (&str, &str), invalid: (&str, &str)) -> Examples {
    Examples {
        valid: (valid.0.into(), valid.1.into()),
        invalid: (invalid.0.into(), invalid.1.into()),
    }
}

/// A parsing rule for one key, producing one typed value.
pub(crate) trait Rule {
    type Value;
    /// The value when the key is absent.
    fn default_value(&self) -> Self::Value;
    /// Reads a present key.
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<Self::Value, ConfigError>;
    /// The value as `--check` prints it (ini spelling).
    fn show(&self, value: &Self::Value) -> String;
    #[cfg(test)]
    fn examples(&self) -> Examples;
}

/// Reads a `_wtoi` integer. Without any digit the key's default is used (MicroSIP would read
/// 0) with a warning, except for an empty value when the default is 0 anyway.
fn read_int(found: &Found, cx: &mut Cx, default: i32, accepted: &str) -> i32 {
    read_int_or(found, cx, default, accepted, false)
}

/// [`read_int`]; with `empty_is_default`, an empty value silently means the default (MicroSIP
/// does this for the volume keys).
fn read_int_or(
    found: &Found,
    cx: &mut Cx,
    default: i32,
    accepted: &str,
    empty_is_default: bool,
) -> i32 {
    let number = wtoi(&found.value);
    if !number.has_digits {
        if found.value.is_empty() && empty_is_default {
            // Same as MicroSIP: nothing to report.
        } else if !found.value.is_empty() {
            cx.warn(
                found,
                format!(
                    "not a number (MicroSIP reads it as 0); using the default {default}; \
                     accepted: {accepted}"
                ),
            );
        } else if default != 0 {
            cx.warn(
                found,
                format!(
                    "empty value (MicroSIP reads it as 0); using the default {default}; \
                     accepted: {accepted}"
                ),
            );
        }
        return default;
    }
    if !number.complete {
        cx.warn(
            found,
            format!(
                "only the leading number {} is used, the rest is ignored; accepted: {accepted}",
                number.value
            ),
        );
    }
    number.value
}

/// `_wtoi(value) != 0`: a switch stored as an integer; the field is the default.
pub(crate) struct Flag(pub bool);

impl Rule for Flag {
    type Value = bool;
    fn default_value(&self) -> bool {
        self.0
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<bool, ConfigError> {
        Ok(read_int(found, cx, i32::from(self.0), "0 (off) or 1 (on)") != 0)
    }
    fn show(&self, value: &bool) -> String {
        u8::from(*value).to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        let default = if self.0 { "1" } else { "0" };
        let other = if self.0 { "0" } else { "1" };
        examples((other, other), ("yes", default))
    }
}

/// `value == "1"`: on only for the exact text `1`; default off.
pub(crate) struct Exact1;

impl Rule for Exact1 {
    type Value = bool;
    fn default_value(&self) -> bool {
        false
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<bool, ConfigError> {
        if !matches!(found.value.as_str(), "" | "0" | "1") {
            cx.warn(found, "only the exact value 1 turns this on; using 0 (off)");
        }
        Ok(found.value == "1")
    }
    fn show(&self, value: &bool) -> String {
        u8::from(*value).to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("1", "1"), ("true", "0"))
    }
}

/// `value != "0"`: off only for the exact text `0`; default on.
pub(crate) struct Not0;

impl Rule for Not0 {
    type Value = bool;
    fn default_value(&self) -> bool {
        true
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<bool, ConfigError> {
        if !matches!(found.value.as_str(), "" | "0" | "1") {
            cx.warn(found, "only the exact value 0 turns this off; using 1 (on)");
        }
        Ok(found.value != "0")
    }
    fn show(&self, value: &bool) -> String {
        u8::from(*value).to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("0", "0"), ("off", "1"))
    }
}

/// A signed `_wtoi` integer used as is (window geometry, timestamps).
pub(crate) struct Int(pub i32);

impl Rule for Int {
    type Value = i32;
    fn default_value(&self) -> i32 {
        self.0
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<i32, ConfigError> {
        Ok(read_int(found, cx, self.0, "an integer"))
    }
    fn show(&self, value: &i32) -> String {
        value.to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("-12", "-12"), ("abc", &self.0.to_string()))
    }
}

/// A non-negative `_wtoi` integer (seconds, counts, levels). Negative values get the default.
pub(crate) struct Count {
    pub default: u32,
    /// What the value means, for messages.
    pub unit: &'static str,
    /// An empty value means the default (MicroSIP reads empty volumes as 100).
    pub empty_is_default: bool,
}

impl Rule for Count {
    type Value = u32;
    fn default_value(&self) -> u32 {
        self.default
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<u32, ConfigError> {
        let accepted = format!("a whole number of {} (0 or more)", self.unit);
        let value = read_int_or(
            found,
            cx,
            self.default as i32,
            &accepted,
            self.empty_is_default,
        );
        u32::try_from(value).or_else(|_| {
            cx.warn(
                found,
                format!(
                    "negative; using the default {}; accepted: {accepted}",
                    self.default
                ),
            );
            Ok(self.default)
        })
    }
    fn show(&self, value: &u32) -> String {
        value.to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("7", "7"), ("-3", &self.default.to_string()))
    }
}

/// A UDP port (`_wtoi`; 0 means automatic). Outside 0..=65535 is fatal: a phone that cannot
/// bind where it was told to would silently be unreachable.
pub(crate) struct Port;

impl Rule for Port {
    type Value = u16;
    fn default_value(&self) -> u16 {
        0
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<u16, ConfigError> {
        let value = read_int(found, cx, 0, "0 (automatic) or a port from 1 to 65535");
        u16::try_from(value).map_err(|_| ConfigError::InvalidPort {
            path: cx.path.to_path_buf(),
            line: found.line,
            key: found.key.clone(),
            value: found.value.clone(),
        })
    }
    fn show(&self, value: &u16) -> String {
        value.to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("5070", "5070"), ("abc", "0"))
    }
}

/// Caps a value at MicroSIP's buffer: `cap` UTF-16 code units (the buffer minus its NUL),
/// never splitting a surrogate pair.
fn cap_value(found: &Found, cx: &mut Cx, cap: usize) -> String {
    let mut units = 0;
    for (at, c) in found.value.char_indices() {
        units += c.len_utf16();
        if units > cap {
            cx.warn(
                found,
                format!(
                    "longer than MicroSIP's buffer ({} characters); only the first {cap} are used",
                    found.value.encode_utf16().count()
                ),
            );
            return found.value[..at].to_string();
        }
    }
    found.value.clone()
}

/// Free text, capped at `cap` characters.
pub(crate) struct Text {
    pub default: &'static str,
    pub cap: usize,
}

impl Rule for Text {
    type Value = String;
    fn default_value(&self) -> String {
        self.default.to_string()
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<String, ConfigError> {
        Ok(cap_value(found, cx, self.cap))
    }
    fn show(&self, value: &String) -> String {
        value.clone()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        let long = "x".repeat(self.cap + 1);
        examples(("a value", "a value"), (&long, &long[..self.cap]))
    }
}

/// A list in one value (codecs, servers, patterns), capped at `cap` characters, split at any
/// of `separators`; blank items are dropped; at most `max_items` are used.
pub(crate) struct List {
    pub default: &'static str,
    pub cap: usize,
    pub separators: &'static [char],
    pub max_items: usize,
}

impl List {
    fn split(&self, text: &str) -> Vec<String> {
        text.split(self.separators)
            .map(super::document::trim_blank)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Rule for List {
    type Value = Vec<String>;
    fn default_value(&self) -> Vec<String> {
        self.split(self.default)
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<Vec<String>, ConfigError> {
        let mut items = self.split(&cap_value(found, cx, self.cap));
        if items.len() > self.max_items {
            cx.warn(
                found,
                format!(
                    "{} entries; MicroSIP uses only the first {}",
                    items.len(),
                    self.max_items
                ),
            );
            items.truncate(self.max_items);
        }
        Ok(items)
    }
    fn show(&self, value: &Vec<String>) -> String {
        value.join(&self.separators[0].to_string())
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        let sep = self.separators[0].to_string();
        let valid = ["a", "b"].join(&sep);
        let invalid = vec!["x"; self.max_items.min(self.cap) + 1].join(&sep);
        let capped = if self.max_items < self.cap {
            vec!["x"; self.max_items].join(&sep)
        } else {
            invalid[..self.cap].to_string()
        };
        Examples {
            valid: (valid.clone(), valid),
            invalid: (invalid, capped),
        }
    }
}

/// A comma-separated list of ports (`portKnockerPorts`); entries that are not ports are
/// skipped with a warning.
pub(crate) struct PortList;

impl Rule for PortList {
    type Value = Vec<u16>;
    fn default_value(&self) -> Vec<u16> {
        Vec::new()
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<Vec<u16>, ConfigError> {
        let text = cap_value(found, cx, 255);
        let mut ports = Vec::new();
        for item in text.split(',').map(super::document::trim_blank) {
            if item.is_empty() {
                continue;
            }
            match item.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => cx.warn(
                    found,
                    format!("{item:?} is not a port from 1 to 65535; skipped"),
                ),
            }
        }
        Ok(ports)
    }
    fn show(&self, value: &Vec<u16>) -> String {
        let items: Vec<String> = value.iter().map(u16::to_string).collect();
        items.join(",")
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("7000, 8000", "7000,8000"), ("7000,70000", "7000"))
    }
}

/// An enum stored as one of fixed spellings (compared exactly, as MicroSIP does).
pub(crate) trait IniEnum: Copy + PartialEq + Sized + 'static {
    /// Every accepted spelling; the first one of a variant is how it is written.
    const SPELLINGS: &'static [(&'static str, Self)];
    /// Spellings that are not MicroSIP's but are understood, with an explanation (Info).
    const ALIASES: &'static [(&'static str, Self, &'static str)] = &[];

    /// The canonical spelling.
    fn as_ini(self) -> &'static str {
        Self::SPELLINGS
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(s, _)| *s)
            .expect("every variant has a spelling")
    }

    /// Accepted spellings for messages: `"", "button", "all"`.
    fn accepted() -> String {
        let mut seen: Vec<&str> = Vec::new();
        for (s, _) in Self::SPELLINGS {
            if !seen.contains(s) {
                seen.push(s);
            }
        }
        let quoted: Vec<String> = seen.iter().map(|s| format!("{s:?}")).collect();
        quoted.join(", ")
    }
}

/// Declares an enum read from fixed ini spellings.
macro_rules! ini_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = [$($spelling:literal),+] ),+ $(,)?
        }
        $( aliases { $( $alias:literal => $avariant:ident : $amsg:literal ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::config::rules::IniEnum for $name {
            const SPELLINGS: &'static [(&'static str, Self)] =
                &[ $( $( ($spelling, $name::$variant) ),+ ),+ ];
            $( const ALIASES: &'static [(&'static str, Self, &'static str)] =
                &[ $( ($alias, $name::$avariant, $amsg) ),* ]; )?
        }

        impl $name {
            /// The value as MicroSIP writes it in the ini file.
            pub fn as_ini(self) -> &'static str {
                <Self as $crate::config::rules::IniEnum>::as_ini(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::config::rules::IniEnum::as_ini(*self))
            }
        }
    };
}
pub(crate) use ini_enum;

/// One of an enum's spellings; anything else gets the default with a warning.
pub(crate) struct Choice<T>(pub T);

impl<T: IniEnum> Rule for Choice<T> {
    type Value = T;
    fn default_value(&self) -> T {
        self.0
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<T, ConfigError> {
        if let Some((_, value)) = T::SPELLINGS.iter().find(|(s, _)| *s == found.value) {
            return Ok(*value);
        }
        if let Some((_, value, why)) = T::ALIASES.iter().find(|(s, _, _)| *s == found.value) {
            cx.note(Level::Info, found, *why);
            return Ok(*value);
        }
        cx.warn(
            found,
            format!(
                "not understood; using the default {:?}; accepted: {}",
                self.0.as_ini(),
                T::accepted()
            ),
        );
        Ok(self.0)
    }
    fn show(&self, value: &T) -> String {
        value.as_ini().to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        let other = T::SPELLINGS
            .iter()
            .map(|(_, v)| *v)
            .find(|v| *v != self.0)
            .expect("an enum with two variants");
        examples(
            (other.as_ini(), other.as_ini()),
            ("carrier-pigeon", self.0.as_ini()),
        )
    }
}

/// `registerRefresh`: `_wtoi`; 0 or less means 300, 1 to 10 become 10.
pub(crate) struct RegisterRefresh;

impl Rule for RegisterRefresh {
    type Value = u32;
    fn default_value(&self) -> u32 {
        300
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<u32, ConfigError> {
        let value = read_int(found, cx, 300, "seconds, 10 or more");
        Ok(match value {
            i32::MIN..=0 => {
                cx.warn(found, "0 or less means the default; using 300 seconds");
                300
            }
            1..=9 => {
                cx.warn(found, "below MicroSIP's minimum; using 10 seconds");
                10
            }
            _ => value as u32,
        })
    }
    fn show(&self, value: &u32) -> String {
        value.to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("600", "600"), ("5", "10"))
    }
}

/// `keepAlive`: `_wtoi`; 0 or less means 15, 1 becomes 2 (it cannot be turned off).
pub(crate) struct KeepAlive;

impl Rule for KeepAlive {
    type Value = u32;
    fn default_value(&self) -> u32 {
        15
    }
    fn parse(&self, found: &Found, cx: &mut Cx) -> Result<u32, ConfigError> {
        let value = read_int(found, cx, 15, "seconds, 2 or more");
        Ok(match value {
            i32::MIN..=0 => {
                cx.warn(
                    found,
                    "keep-alives cannot be turned off in MicroSIP; 0 or less means the default \
                     15 seconds",
                );
                15
            }
            1 => {
                cx.warn(found, "below MicroSIP's minimum; using 2 seconds");
                2
            }
            _ => value as u32,
        })
    }
    fn show(&self, value: &u32) -> String {
        value.to_string()
    }
    #[cfg(test)]
    fn examples(&self) -> Examples {
        examples(("30", "30"), ("0", "15"))
    }
}

/// One key of a table: its ini name and how to read and show it on a struct `T`.
pub(crate) struct KeyDef<T> {
    /// The key as MicroSIP spells it.
    pub name: &'static str,
    /// Sets the field from the key (`None`: absent, the default).
    pub read: fn(&mut T, Option<&Found>, &mut Cx) -> Result<(), ConfigError>,
    /// The field as `--check` prints it.
    pub show: fn(&T) -> String,
    #[cfg(test)]
    pub examples: fn() -> Examples,
}

/// Declares a settings struct and its key table at once, one line per key:
/// `field: Type = "iniName", RuleExpr;`.
macro_rules! ini_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, table $table:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $key:literal, $rule:expr;
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )+
        }

        /// Like a derived `Debug`, with passwords hidden.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut s = f.debug_struct(stringify!($name));
                $(
                    if $key == "password" {
                        s.field(stringify!($field), &"********");
                    } else {
                        s.field(stringify!($field), &self.$field);
                    }
                )+
                s.finish()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                use $crate::config::rules::Rule as _;
                Self { $( $field: ($rule).default_value(), )+ }
            }
        }

        /// Every key of this struct, in MicroSIP's order.
        pub(crate) const $table: &[$crate::config::rules::KeyDef<$name>] = &[ $(
            $crate::config::rules::KeyDef {
                name: $key,
                read: |target, found, cx| {
                    use $crate::config::rules::Rule as _;
                    target.$field = match found {
                        Some(found) => ($rule).parse(found, cx)?,
                        None => ($rule).default_value(),
                    };
                    Ok(())
                },
                show: |target| {
                    use $crate::config::rules::Rule as _;
                    ($rule).show(&target.$field)
                },
                #[cfg(test)]
                examples: || {
                    use $crate::config::rules::Rule as _;
                    ($rule).examples()
                },
            },
        )+ ];
    };
}
pub(crate) use ini_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wtoi_matches_msvc() {
        let w = |s: &str| {
            let r = wtoi(s);
            (r.value, r.has_digits, r.complete)
        };
        assert_eq!(w("42"), (42, true, true));
        assert_eq!(w("  -7"), (-7, true, true));
        assert_eq!(w("+8"), (8, true, true));
        assert_eq!(w("10s"), (10, true, false));
        assert_eq!(w("abc"), (0, false, false));
        assert_eq!(w(""), (0, false, true));
        assert_eq!(w("-"), (0, false, true));
        assert_eq!(w("99999999999"), (i32::MAX, true, true));
        assert_eq!(w("-99999999999"), (i32::MIN, true, true));
        assert_eq!(w("2147483648"), (i32::MAX, true, true));
        assert_eq!(w("-2147483648"), (i32::MIN, true, true));
    }
}
