//! Where MicroSIP.ini and the log file live, creating the default ini, and atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::ConfigError;

/// The ini file name, as MicroSIP names it for `MicroSIP.exe`.
pub const INI_NAME: &str = "MicroSIP.ini";

/// The folder under `$XDG_CONFIG_HOME` / `$XDG_STATE_HOME`.
const APP_DIR: &str = "microsip";

/// Why the ini is where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationKind {
    /// Given with `--ini`.
    CommandLine,
    /// `MicroSIP.ini` next to the executable (MicroSIP's portable mode).
    Portable,
    /// The per-user file under `$XDG_CONFIG_HOME` (MicroSIP's installed mode, `%APPDATA%`).
    User,
}

/// Where the ini file is, and whether to create it when it is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The ini file.
    pub path: PathBuf,
    /// Create it with [`create_default`] when missing (only the per-user file; a path given
    /// with `--ini` must exist, so a typo is not silently a new empty configuration).
    pub create_if_missing: bool,
    /// Which rule chose it.
    pub kind: LocationKind,
}

/// An XDG base directory is used only when it is an absolute path (XDG spec).
fn absolute(dir: Option<&Path>) -> Option<&Path> {
    dir.filter(|d| d.is_absolute())
}

fn exe_dir(exe: &Path) -> &Path {
    exe.parent().unwrap_or(Path::new(""))
}

/// Chooses the ini file: `--ini PATH` wins; else `MicroSIP.ini` next to the executable if it
/// exists (portable mode); else `$XDG_CONFIG_HOME/microsip/MicroSIP.ini` (default
/// `~/.config`), to be created. Without `$XDG_CONFIG_HOME` and `$HOME` the file next to the
/// executable is used and created.
pub fn locate(
    ini_arg: Option<&Path>,
    exe: &Path,
    xdg_config_home: Option<&Path>,
    home: Option<&Path>,
) -> Located {
    if let Some(path) = ini_arg {
        return Located {
            path: path.to_path_buf(),
            create_if_missing: false,
            kind: LocationKind::CommandLine,
        };
    }
    let portable = exe_dir(exe).join(INI_NAME);
    if portable.is_file() {
        return Located {
            path: portable,
            create_if_missing: false,
            kind: LocationKind::Portable,
        };
    }
    let config_home = absolute(xdg_config_home)
        .map(Path::to_path_buf)
        .or_else(|| absolute(home).map(|h| h.join(".config")));
    match config_home {
        Some(dir) => Located {
            path: dir.join(APP_DIR).join(INI_NAME),
            create_if_missing: true,
            kind: LocationKind::User,
        },
        None => Located {
            path: portable,
            create_if_missing: true,
            kind: LocationKind::Portable,
        },
    }
}

/// The PJSIP log file for `enableLog=1`. MicroSIP writes `<exe base name>_log.txt` next to the
/// exe in portable mode and into `%LOCALAPPDATA%\MicroSIP\` when installed. Here: portable
/// mode puts `<exe base name>_log.txt` next to the ini (which is next to the exe); otherwise
/// (per-user or `--ini`) the log is state, not configuration, so it goes to
/// `$XDG_STATE_HOME/microsip/microsip_log.txt` (default `~/.local/state`), or next to the ini
/// when neither `$XDG_STATE_HOME` nor `$HOME` is set.
pub fn log_path(
    located: &Located,
    exe: &Path,
    xdg_state_home: Option<&Path>,
    home: Option<&Path>,
) -> PathBuf {
    let ini_dir = located.path.parent().unwrap_or(Path::new(""));
    if located.kind == LocationKind::Portable {
        let stem = exe
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| APP_DIR.to_string());
        return ini_dir.join(format!("{stem}_log.txt"));
    }
    let state_home = absolute(xdg_state_home)
        .map(Path::to_path_buf)
        .or_else(|| absolute(home).map(|h| h.join(".local").join("state")));
    match state_home {
        Some(dir) => dir.join(APP_DIR).join("microsip_log.txt"),
        None => ini_dir.join("microsip_log.txt"),
    }
}

/// The bytes of a new ini file, as MicroSIP creates it: UTF-16LE BOM and `[Settings]`.
pub fn default_ini_bytes() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("[Settings]\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

#[cfg(unix)]
fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600)
}

#[cfg(not(unix))]
fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates a new ini at `path` like MicroSIP's first run (UTF-16LE BOM + `[Settings]`), mode
/// 0600, with missing parent folders (mode 0700). An existing file is left alone.
pub fn create_default(path: &Path) -> Result<(), ConfigError> {
    let write_error = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    create_dirs(path.parent().unwrap_or(Path::new(""))).map_err(write_error)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = match private_file(&mut options).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(write_error(e)),
    };
    file.write_all(&default_ini_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_error)
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same folder (mode 0600),
/// fsync, rename over the target, fsync of the folder. A symlink is followed, so the file it
/// points to is replaced and the link kept.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let write_error = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(write_error)?,
        _ => path.to_path_buf(),
    };
    let dir = target.parent().unwrap_or(Path::new(""));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| INI_NAME.to_string());
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = private_file(&mut options).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &target)?;
        // Make the rename itself durable. Some file systems cannot fsync a folder; the data
        // is already safe then, so that error is not worth failing for.
        let folder = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(folder) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_prefers_ini_arg_then_portable_then_xdg() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("bin").join("microsip");
        fs::create_dir_all(exe.parent().unwrap()).unwrap();
        let home = dir.path().join("home");
        let xdg = dir.path().join("xdg");

        let given = Path::new("/etc/phone.ini");
        let l = locate(Some(given), &exe, Some(&xdg), Some(&home));
        assert_eq!((l.path.as_path(), l.create_if_missing), (given, false));
        assert_eq!(l.kind, LocationKind::CommandLine);

        let l = locate(None, &exe, Some(&xdg), Some(&home));
        assert_eq!(l.path, xdg.join("microsip/MicroSIP.ini"));
        assert!(l.create_if_missing);
        let l = locate(None, &exe, None, Some(&home));
        assert_eq!(l.path, home.join(".config/microsip/MicroSIP.ini"));
        let l = locate(None, &exe, Some(Path::new("relative")), Some(&home));
        assert_eq!(l.path, home.join(".config/microsip/MicroSIP.ini"));
        let l = locate(None, &exe, None, None);
        assert_eq!(
            (l.path, l.kind),
            (exe.with_file_name(INI_NAME), LocationKind::Portable)
        );

        fs::write(exe.with_file_name(INI_NAME), default_ini_bytes()).unwrap();
        let l = locate(None, &exe, Some(&xdg), Some(&home));
        assert_eq!(l.path, exe.with_file_name(INI_NAME));
        assert_eq!(
            (l.create_if_missing, l.kind),
            (false, LocationKind::Portable)
        );
    }

    #[test]
    fn log_path_follows_the_mode() {
        let exe = Path::new("/opt/phone/microsip");
        let home = Path::new("/home/u");
        let portable = locate(None, exe, None, None);
        assert_eq!(
            log_path(&portable, exe, Some(Path::new("/st")), Some(home)),
            Path::new("/opt/phone/microsip_log.txt")
        );
        let user = Located {
            path: home.join(".config/microsip/MicroSIP.ini"),
            create_if_missing: true,
            kind: LocationKind::User,
        };
        assert_eq!(
            log_path(&user, exe, Some(Path::new("/st")), Some(home)),
            Path::new("/st/microsip/microsip_log.txt")
        );
        assert_eq!(
            log_path(&user, exe, None, Some(home)),
            Path::new("/home/u/.local/state/microsip/microsip_log.txt")
        );
        assert_eq!(
            log_path(&user, exe, None, None),
            Path::new("/home/u/.config/microsip/microsip_log.txt")
        );
    }

    #[cfg(unix)]
    #[test]
    fn create_default_makes_a_private_utf16_file_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/MicroSIP.ini");
        create_default(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), default_ini_bytes());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        fs::write(&path, b"[Settings]\nDND=1\n").unwrap();
        create_default(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"[Settings]\nDND=1\n");
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_replaces_with_mode_0600_and_follows_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MicroSIP.ini");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let link = dir.path().join("link.ini");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        write_atomically(&link, b"via link").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&path).unwrap(), b"via link");
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file left behind");

        let missing_dir = dir.path().join("nope/MicroSIP.ini");
        let err = write_atomically(&missing_dir, b"x").unwrap_err();
        assert!(err.to_string().contains("nope/MicroSIP.ini"), "{err}");
    }
}
