//! Desktop integration: `microsip --register-uri-handler` makes microsip the handler of
//! `sip:`, `sips:`, `tel:` and `callto:` links, as MicroSIP's Windows installer does.
//!
//! It writes `$XDG_DATA_HOME/applications/microsip.desktop` (default `~/.local/share`), whose
//! `Exec` runs this executable with the link as MicroSIP's command line (so a click reaches
//! the running phone, or starts one), and sets the four `x-scheme-handler/...` defaults in
//! `$XDG_CONFIG_HOME/mimeapps.list` (default `~/.config`), the file `xdg-mime default`
//! writes, keeping every other line of it.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The desktop file's name (its id for `mimeapps.list`).
pub const DESKTOP_FILE: &str = "microsip.desktop";
/// The URI schemes microsip handles.
pub const SCHEMES: [&str; 4] = ["sip", "sips", "tel", "callto"];

/// Why the handler could not be registered.
#[derive(Debug)]
pub enum DesktopError {
    /// Neither `$XDG_DATA_HOME` nor `$HOME` is set (as absolute paths).
    NoHome,
    /// Writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for DesktopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesktopError::NoHome => write!(
                f,
                "cannot register the URI handler: set HOME (or XDG_DATA_HOME and XDG_CONFIG_HOME)"
            ),
            DesktopError::Io { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DesktopError {}

/// Registers this executable (with `--ini INI` when given) from the environment's XDG
/// folders. Returns what was written, for the user.
pub fn register_uri_handler(ini: Option<&Path>) -> Result<String, DesktopError> {
    let exe = std::env::current_exe()
        .and_then(fs::canonicalize)
        .unwrap_or_else(|_| PathBuf::from("microsip"));
    let env_dir = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = env_dir("HOME");
    let data_home = env_dir("XDG_DATA_HOME")
        .or_else(|| home.as_ref().map(|h| h.join(".local/share")))
        .ok_or(DesktopError::NoHome)?;
    let config_home = env_dir("XDG_CONFIG_HOME")
        .or_else(|| home.as_ref().map(|h| h.join(".config")))
        .ok_or(DesktopError::NoHome)?;
    let ini = ini.map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    let desktop = data_home.join("applications").join(DESKTOP_FILE);
    write(&desktop, &desktop_entry(&exe, ini.as_deref()))?;
    let mimeapps = config_home.join("mimeapps.list");
    let old = match fs::read_to_string(&mimeapps) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(DesktopError::Io {
                path: mimeapps,
                source,
            })
        }
    };
    write(&mimeapps, &with_defaults(&old))?;
    Ok(format!(
        "registered {} for {} links: {} and {}",
        exe.display(),
        SCHEMES.join(":, ") + ":",
        desktop.display(),
        mimeapps.display()
    ))
}

fn write(path: &Path, text: &str) -> Result<(), DesktopError> {
    let io_err = |source| DesktopError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let tmp = path.with_extension("microsip-tmp");
    fs::write(&tmp, text).map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)
}

/// The desktop entry running `exe [--ini INI] %u`.
pub fn desktop_entry(exe: &Path, ini: Option<&Path>) -> String {
    let mut exec = quote_exec_arg(&exe.to_string_lossy());
    if let Some(ini) = ini {
        exec.push_str(" --ini ");
        exec.push_str(&quote_exec_arg(&ini.to_string_lossy()));
    }
    let mime: String = SCHEMES
        .iter()
        .map(|s| format!("x-scheme-handler/{s};"))
        .collect();
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=microsip\n\
         GenericName=SIP softphone\n\
         Comment=Call sip:, sips:, tel: and callto: links with microsip\n\
         Exec={exec} %u\n\
         Terminal=false\n\
         NoDisplay=true\n\
         Categories=Network;Telephony;\n\
         MimeType={mime}\n"
    )
}

/// One `Exec` argument: quoted (with `"`, `` ` ``, `$` and `\` escaped) when it holds a
/// character the desktop entry spec reserves, then `\` doubled for the string value itself.
fn quote_exec_arg(arg: &str) -> String {
    let reserved = |c: char| " \t\n\"'\\><~|&;$*?#()`%=".contains(c);
    let quoted = if arg.chars().any(reserved) {
        let mut q = String::from("\"");
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            if c == '%' {
                q.push('%');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg.to_string()
    };
    quoted.replace('\\', "\\\\")
}

/// `mimeapps.list` text with our four defaults in `[Default Applications]`, other lines kept.
pub fn with_defaults(old: &str) -> String {
    let ours: Vec<String> = SCHEMES
        .iter()
        .map(|s| format!("x-scheme-handler/{s}"))
        .collect();
    let mut out = Vec::new();
    let mut in_defaults = false;
    let mut written = false;
    for line in old.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_defaults && !written {
                push_defaults(&mut out, &ours);
                written = true;
            }
            in_defaults = trimmed == "[Default Applications]";
            out.push(line.to_string());
            continue;
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        if in_defaults && ours.iter().any(|k| k == key) {
            continue;
        }
        out.push(line.to_string());
    }
    if !written {
        if !in_defaults {
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push("[Default Applications]".to_string());
        }
        push_defaults(&mut out, &ours);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn push_defaults(out: &mut Vec<String>, keys: &[String]) {
    for key in keys {
        out.push(format!("{key}={DESKTOP_FILE}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_entry_quotes_paths_with_spaces() {
        let entry = desktop_entry(
            Path::new("/opt/micro sip/microsip"),
            Some(Path::new("/home/a/My Phone.ini")),
        );
        assert!(
            entry.contains("Exec=\"/opt/micro sip/microsip\" --ini \"/home/a/My Phone.ini\" %u\n"),
            "{entry}"
        );
        assert!(entry.contains(
            "MimeType=x-scheme-handler/sip;x-scheme-handler/sips;x-scheme-handler/tel;x-scheme-handler/callto;\n"
        ));
        let plain = desktop_entry(Path::new("/usr/bin/microsip"), None);
        assert!(plain.contains("Exec=/usr/bin/microsip %u\n"));
        assert_eq!(quote_exec_arg("/a/$x"), "\"/a/\\\\$x\"");
    }

    #[test]
    fn mimeapps_defaults_are_set_and_other_lines_kept() {
        let fresh = with_defaults("");
        assert_eq!(
            fresh,
            "[Default Applications]\nx-scheme-handler/sip=microsip.desktop\n\
             x-scheme-handler/sips=microsip.desktop\nx-scheme-handler/tel=microsip.desktop\n\
             x-scheme-handler/callto=microsip.desktop\n"
        );
        let old = "[Added Associations]\ntext/plain=vim.desktop;\n\n[Default Applications]\n\
                   x-scheme-handler/tel=other.desktop\ntext/html=firefox.desktop\n";
        let new = with_defaults(old);
        assert!(new.contains("[Added Associations]\ntext/plain=vim.desktop;\n"));
        assert!(new.contains("text/html=firefox.desktop"));
        assert!(!new.contains("other.desktop"));
        assert_eq!(new.matches("x-scheme-handler/tel=").count(), 1);
        assert_eq!(with_defaults(&new), new, "idempotent");
    }
}
