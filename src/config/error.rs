//! Fatal configuration errors and non-fatal diagnostics.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A configuration problem that stops the phone (exit status 2). Every message names the file
/// and says what to fix.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The ini file does not exist.
    NotFound {
        /// The file looked for.
        path: PathBuf,
    },
    /// The ini file exists but cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not INI text (binary data, or no `[section]`, `key=value` or comment line).
    NotIni {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `sourcePort`, `rtpPortMin` or `rtpPortMax` is outside 0..=65535.
    InvalidPort {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A key given to [`Config::set_setting`](super::Config::set_setting) cannot be stored.
    InvalidKey {
        /// The key.
        key: String,
        /// Why not.
        reason: &'static str,
    },
    /// Writing the file failed.
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { path } => write!(
                f,
                "{}: no such file or directory; create it (an empty [Settings] section is \
                 enough) or give --ini the path of an existing MicroSIP.ini",
                path.display()
            ),
            ConfigError::Unreadable { path, source } => write!(
                f,
                "{}: cannot read the file: {source}; check the path and its permissions",
                path.display()
            ),
            ConfigError::NotIni { path, reason } => write!(
                f,
                "{}: not an INI file: {reason}. MicroSIP.ini must be text made of [Section] \
                 headers, key=value lines and ; comments",
                path.display()
            ),
            ConfigError::InvalidPort {
                path,
                line,
                key,
                value,
            } => write!(
                f,
                "{}:{line}: [Settings] {key}={value}: not a port number; use 0 (automatic) \
                 or a port from 1 to 65535",
                path.display()
            ),
            ConfigError::InvalidKey { key, reason } => {
                write!(f, "cannot set [Settings] key {key:?}: {reason}")
            }
            ConfigError::Write { path, source } => write!(
                f,
                "{}: cannot write the file: {source}; check that its folder is writable",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Unreadable { source, .. } | ConfigError::Write { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Worth knowing (an alias was understood, a key is unknown and kept as is).
    Info,
    /// A value was not understood or does not take effect as written; a default was used.
    Warning,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "info",
            Level::Warning => "warning",
        })
    }
}

/// A non-fatal remark about one line of the ini file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Info or warning.
    pub level: Level,
    /// The ini file.
    pub path: PathBuf,
    /// 1-based line number; 0 when the remark is about something missing.
    pub line: usize,
    /// The section as written (without brackets); empty outside any section.
    pub section: String,
    /// The key as written; empty for remarks about a whole line or section.
    pub key: String,
    /// The value as written (passwords masked, long values shortened with `…`).
    pub value: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `<file>:<line>: [Section] key=value: message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        f.write_str(": ")?;
        if !self.section.is_empty() {
            write!(f, "[{}] ", self.section)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}={}: ", self.key, self.value)?;
        }
        f.write_str(&self.message)
    }
}
