//! The local control socket: one running phone per settings file, reachable by the same
//! user (and root) only.
//!
//! MicroSIP finds its running instance by window class and executable path (reference §1), and
//! a portable MicroSIP keeps its MicroSIP.ini next to the program. Here an instance is keyed
//! by the canonical path of its settings file: a second `microsip` reaches the phone for the
//! same file wherever the binary was copied or installed, two phones with two files run side
//! by side, and a portable MicroSIP.ini next to a binary (which that binary uses) keeps
//! MicroSIP's one-instance-per-program rule. The key names a Unix socket:
//!
//! * directory, for the phone: `$RUNTIME_DIRECTORY` (set by systemd for a unit with
//!   `RuntimeDirectory=`), else `$XDG_RUNTIME_DIR/microsip`, else a fallback
//!   `<temp dir>/microsip-<uid>`; the last two are created 0700 and refused when another user
//!   owns them. A client looks in the same places, and in `/run/microsip` (the system
//!   service's), and takes the first that answers;
//! * name: `microsip-<16 hex digits>.sock`, the digits being FNV-1a 64 of the ini path; a
//!   `microsip-<…>.lock` file beside it is `flock`ed by the instance for its whole life, so
//!   two phones starting at once cannot both take the name, and a socket file left by a
//!   crashed phone is recognised as stale and replaced. A clean exit removes both files.
//!
//! The socket file is mode 0600, and every connection's peer uid (`SO_PEERCRED`) must equal
//! the phone's, or be root's (the system service runs as its own user); others get a refusal.
//! Connections have read and write timeouts, a request that cannot be decoded gets a refusal
//! reply (see [`super::wire`]) and the connection is closed; nothing a client sends can stop
//! the phone.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::dispatch::{refusal, Dispatcher};
use super::hub::Subscription;
use super::wire::{self, Reply, RequestDecoder};

/// How long a connection may stay silent (or stall inside a frame) before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing a reply may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more get a refusal.
pub const MAX_CONNECTIONS: usize = 32;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// What identifies one phone instance: its settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceKey {
    ini: PathBuf,
}

impl InstanceKey {
    /// The key for the settings file `ini`, made canonical (a file that does not exist yet is
    /// made absolute, its folder canonical where possible).
    pub fn new(ini: &Path) -> InstanceKey {
        InstanceKey {
            ini: canonical(ini),
        }
    }

    /// The canonical ini path.
    pub fn ini(&self) -> &Path {
        &self.ini
    }

    /// 16 hex digits: FNV-1a 64 of the ini path (stable across builds and Rust versions,
    /// unlike `std`'s hasher).
    pub fn id(&self) -> String {
        use std::os::unix::ffi::OsStrExt;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in self.ini.as_os_str().as_bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(path) {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// The system service's runtime folder (`RuntimeDirectory=microsip` in microsip.service),
/// where a client also looks.
pub const SYSTEM_RUNTIME_DIR: &str = "/run/microsip";

/// The environment that places the socket (pass the variables' values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeEnv {
    /// `$RUNTIME_DIRECTORY`: systemd's runtime folder for this unit (the first, if several).
    pub runtime_directory: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: the user's runtime folder.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The real uid.
    pub uid: u32,
}

impl RuntimeEnv {
    /// This process's environment.
    pub fn current() -> RuntimeEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        RuntimeEnv {
            runtime_directory: var("RUNTIME_DIRECTORY").and_then(|v| {
                // systemd joins several folders with ':'.
                v.to_string_lossy().split(':').next().map(PathBuf::from)
            }),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            uid: own_uid(),
        }
    }
}

/// Where the socket of an instance lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPaths {
    /// The folder.
    pub dir: PathBuf,
    /// The socket.
    pub socket: PathBuf,
    /// The lock file held by the running instance.
    pub lock: PathBuf,
    /// `dir` is ours to create (0700) and check: not a folder systemd made for the unit.
    pub private_dir: bool,
}

impl SocketPaths {
    fn in_dir(key: &InstanceKey, dir: PathBuf, private_dir: bool) -> SocketPaths {
        let name = format!("microsip-{}", key.id());
        SocketPaths {
            socket: dir.join(format!("{name}.sock")),
            lock: dir.join(format!("{name}.lock")),
            dir,
            private_dir,
        }
    }

    /// Where the phone for `key` serves, in environment `env` (see the module's text). Pure:
    /// nothing is created or checked.
    pub fn for_key(key: &InstanceKey, env: &RuntimeEnv) -> SocketPaths {
        Self::candidates(key, env)
            .into_iter()
            .next()
            .expect("the temp folder is always a candidate")
    }

    /// Every place a phone for `key` may serve, the phone's own choice first; a client tries
    /// them in order. Folders whose socket path would not fit a Unix address are left out.
    pub fn candidates(key: &InstanceKey, env: &RuntimeEnv) -> Vec<SocketPaths> {
        let name_len = format!("microsip-{}.sock", key.id()).len() + 1;
        let fits = |dir: &Path| dir.as_os_str().len() + name_len <= MAX_SOCKET_PATH;
        let usable = |dir: &Path| dir.is_absolute() && fits(dir);
        let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
        if let Some(dir) = env.runtime_directory.as_deref().filter(|d| usable(d)) {
            dirs.push((dir.to_path_buf(), false));
        }
        if let Some(dir) = env.xdg_runtime_dir.as_deref() {
            let dir = dir.join("microsip");
            if usable(&dir) {
                dirs.push((dir, true));
            }
        }
        let fallback = format!("microsip-{}", env.uid);
        let tmp = std::env::temp_dir().join(&fallback);
        let tmp = if usable(&tmp) {
            tmp
        } else {
            Path::new("/tmp").join(&fallback)
        };
        dirs.push((tmp, true));
        let system = PathBuf::from(SYSTEM_RUNTIME_DIR);
        if !dirs.iter().any(|(d, _)| *d == system) {
            dirs.push((system, false));
        }
        dirs.into_iter()
            .map(|(dir, private)| Self::in_dir(key, dir, private))
            .collect()
    }
}

/// The real uid of this process.
pub fn own_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Why the control socket could not be set up.
#[derive(Debug)]
pub enum SocketError {
    /// The private fallback folder exists but is not ours, or is not a folder.
    UnsafeDir {
        /// The folder.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file system or socket operation failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::UnsafeDir { dir, reason } => write!(
                f,
                "{} cannot hold the control socket: {reason}; remove it, or set XDG_RUNTIME_DIR \
                 to a private folder",
                dir.display()
            ),
            SocketError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for SocketError {}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> SocketError {
    let what = what.into();
    move |source| SocketError::Io { what, source }
}

/// Creates the private fallback folder (0700) or checks that the existing one is a folder
/// owned by us and closed to others (its mode is tightened if it is ours but open).
fn ensure_private_dir(dir: &Path, uid: u32) -> Result<(), SocketError> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(format!("create {}", dir.display()))(e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(io_error(format!("inspect {}", dir.display())))?;
    let unsafe_dir = |reason: String| SocketError::UnsafeDir {
        dir: dir.to_path_buf(),
        reason,
    };
    if !meta.file_type().is_dir() {
        return Err(unsafe_dir(
            "it is not a folder (or it is a symbolic link)".into(),
        ));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to this user (uid {uid})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error(format!("make {} private (0700)", dir.display())))?;
    }
    Ok(())
}

/// The result of [`claim`].
pub enum Claim {
    /// This process is the instance: its socket server runs until [`Server`] is dropped.
    Server(Server),
    /// Another process holds the instance (it may still be starting): connect to it.
    Taken,
}

/// The running control socket. Dropping it removes the socket and lock files (the accepting
/// thread ends with the process).
pub struct Server {
    paths: SocketPaths,
    /// The flock'ed lock file: held as long as this value lives.
    _lock: File,
}

impl Server {
    /// Where the socket is.
    pub fn paths(&self) -> &SocketPaths {
        &self.paths
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only our own files can be there: we still hold the lock. The lock file goes first,
        // while locked (see `take_lock`), so nothing is left behind.
        let _ = fs::remove_file(&self.paths.socket);
        let _ = fs::remove_file(&self.paths.lock);
    }
}

/// Becomes the instance for `paths`: takes the lock, replaces a stale socket, binds (mode
/// 0600) and starts accepting connections, each served with `dispatcher`. Returns
/// [`Claim::Taken`] when another process holds the lock or answers on the socket.
pub fn claim(paths: &SocketPaths, dispatcher: Dispatcher) -> Result<Claim, SocketError> {
    let uid = own_uid();
    if paths.private_dir {
        ensure_private_dir(&paths.dir, uid)?;
    }
    let Some(lock) = take_lock(&paths.lock)? else {
        return Ok(Claim::Taken);
    };
    if fs::symlink_metadata(&paths.socket).is_ok() {
        if UnixStream::connect(&paths.socket).is_ok() {
            // Someone serves there without our lock (its lock file was removed): leave it.
            return Ok(Claim::Taken);
        }
        log::info!(
            "replacing the stale control socket {} (left by a phone that did not exit cleanly)",
            paths.socket.display()
        );
        fs::remove_file(&paths.socket)
            .map_err(io_error(format!("remove stale {}", paths.socket.display())))?;
    }
    // Bind with a umask that leaves the socket 0600 from the first moment, then make sure.
    let old_mask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(&paths.socket);
    rustix::process::umask(old_mask);
    let listener = bound.map_err(io_error(format!("listen on {}", paths.socket.display())))?;
    let server = Server {
        paths: paths.clone(),
        _lock: lock,
    };
    fs::set_permissions(&paths.socket, fs::Permissions::from_mode(0o600))
        .map_err(io_error(format!("chmod 0600 {}", paths.socket.display())))?;
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("control-accept".into())
        .spawn(move || accept_loop(listener, dispatcher, uid, active))
        .map_err(io_error("start the control socket thread"))?;
    Ok(Claim::Server(server))
}

/// Opens and `flock`s the lock file; `None` when another process holds it. A lock file is
/// removed by its owner on exit (while still locked), so after locking, the file must still
/// be the one at `path`; if not, the lock is on a removed file and is taken again.
fn take_lock(path: &Path) -> Result<Option<File>, SocketError> {
    for _ in 0..10 {
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_error(format!("open {}", path.display())))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(None),
            Err(e) => return Err(io_error(format!("lock {}", path.display()))(e.into())),
        }
        let held = lock
            .metadata()
            .map_err(io_error(format!("inspect {}", path.display())))?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(Some(lock)),
            _ => continue,
        }
    }
    Err(SocketError::Io {
        what: format!("lock {}", path.display()),
        source: io::Error::other("the lock file keeps being replaced"),
    })
}

fn accept_loop(listener: UnixListener, dispatcher: Dispatcher, uid: u32, active: Arc<AtomicUsize>) {
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            send_reply(
                &mut stream,
                &refusal(format!(
                    "busy: {MAX_CONNECTIONS} connections are open; try again later"
                )),
            );
            continue;
        }
        let dispatcher = dispatcher.clone();
        let counter = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("control-conn".into())
            .spawn(move || {
                serve(stream, &dispatcher, uid);
                counter.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::AcqRel);
            log::warn!("control socket: cannot start a connection thread: {e}");
        }
    }
}

fn send_reply(stream: &mut UnixStream, reply: &Reply) -> bool {
    let frame = match wire::encode_reply(reply) {
        Ok(f) => f,
        Err(_) => {
            let mut cut = reply.clone();
            cut.text.truncate(1000);
            match wire::encode_reply(&cut) {
                Ok(f) => f,
                Err(_) => return false,
            }
        }
    };
    stream
        .write_all(&frame)
        .and_then(|()| stream.flush())
        .is_ok()
}

/// Serves one connection: peer check, then requests in order until EOF, an error or a
/// timeout.
fn serve(mut stream: UnixStream, dispatcher: &Dispatcher, uid: u32) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    match rustix::net::sockopt::socket_peercred(&stream) {
        // Root may command any phone (`sudo microsip --status` for the system service).
        Ok(cred) if cred.uid.as_raw() == uid || cred.uid.as_raw() == 0 => {}
        Ok(cred) => {
            log::warn!(
                "control socket: refused a connection from uid {} (pid {}): only uid {uid} may \
                 send commands",
                cred.uid.as_raw(),
                cred.pid.as_raw_nonzero()
            );
            send_reply(
                &mut stream,
                &refusal(format!(
                    "permission denied: this phone takes commands from uid {uid}{} only, not \
                     from uid {}",
                    if uid == 0 { "" } else { " and root" },
                    cred.uid.as_raw()
                )),
            );
            return;
        }
        Err(e) => {
            log::warn!("control socket: cannot read the peer's credentials: {e}");
            send_reply(
                &mut stream,
                &refusal("permission denied: the peer's credentials cannot be read"),
            );
            return;
        }
    }
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut decoder = RequestDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if decoder.buffered() > 0 {
                    send_reply(
                        &mut stream,
                        &refusal(format!(
                            "timed out: no byte for {} s in the middle of a request; send the \
                             whole header and payload at once",
                            IDLE_TIMEOUT.as_secs()
                        )),
                    );
                }
                return;
            }
            Err(_) => return,
        };
        if n == 0 {
            if let Err(e) = decoder.finish() {
                send_reply(&mut stream, &Reply::refused(&e));
            }
            return;
        }
        decoder.feed(&buf[..n]);
        loop {
            match decoder.next_request() {
                Ok(Some(request)) => {
                    let handled = dispatcher.handle(request);
                    if !send_reply(&mut stream, &handled.reply) {
                        return;
                    }
                    if let Some(events) = handled.events {
                        stream_events(stream, &events);
                        return;
                    }
                    if handled.linger {
                        linger(stream);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("control socket: malformed request: {e}");
                    send_reply(&mut stream, &Reply::refused(&e));
                    return;
                }
            }
        }
    }
}

/// A subscribed connection: every event, as it comes, until the reader or the phone goes.
/// When events were dropped for this reader (it did not keep up), a `dropped` event with
/// their count comes first.
fn stream_events(mut stream: UnixStream, events: &Subscription) {
    // A reader that stops reading blocks only this thread (its queue then drops events).
    let _ = stream.set_write_timeout(None);
    while let Ok(event) = events.events.recv() {
        let dropped = events.take_dropped();
        if dropped > 0
            && !send_reply(
                &mut stream,
                &Reply::event(super::hub::dropped_event(dropped)),
            )
        {
            return;
        }
        if !send_reply(&mut stream, &Reply::event(&*event)) {
            return;
        }
    }
}

/// Keeps the connection open, reading and discarding, until the client closes it or the
/// process exits (which closes it for the client: the phone is gone).
fn linger(mut stream: UnixStream) {
    let _ = stream.set_read_timeout(None);
    let mut buf = [0u8; 256];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> InstanceKey {
        InstanceKey {
            ini: PathBuf::from("/home/a/.config/microsip/MicroSIP.ini"),
        }
    }

    fn env(runtime: Option<&str>, xdg: Option<&str>, uid: u32) -> RuntimeEnv {
        RuntimeEnv {
            runtime_directory: runtime.map(PathBuf::from),
            xdg_runtime_dir: xdg.map(PathBuf::from),
            uid,
        }
    }

    #[test]
    fn the_key_is_stable_and_depends_on_the_settings_file_only() {
        let a = key();
        assert_eq!(a.id(), key().id());
        assert_eq!(a.id().len(), 16);
        let other_ini = InstanceKey {
            ini: PathBuf::from("/home/a/other.ini"),
        };
        assert_ne!(a.id(), other_ini.id());
        // FNV-1a 64 of the path, fixed so that a rebuilt binary still finds an instance
        // started by an older one.
        assert_eq!(
            a.id(),
            fnv_reference(b"/home/a/.config/microsip/MicroSIP.ini")
        );
    }

    fn fnv_reference(bytes: &[u8]) -> String {
        let mut h: u64 = 14695981039346656037;
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(1099511628211);
        }
        format!("{h:016x}")
    }

    #[test]
    fn a_units_runtime_directory_comes_first_then_the_users_then_the_fallback() {
        let p = SocketPaths::for_key(&key(), &env(Some("/run/microsip"), Some("/run/user/0"), 0));
        assert_eq!(p.dir, PathBuf::from("/run/microsip"));
        assert!(!p.private_dir, "systemd made it");
        let p = SocketPaths::for_key(&key(), &env(None, Some("/run/user/1000"), 1000));
        assert_eq!(p.dir, PathBuf::from("/run/user/1000/microsip"));
        assert_eq!(
            p.socket,
            PathBuf::from(format!(
                "/run/user/1000/microsip/microsip-{}.sock",
                key().id()
            ))
        );
        assert_eq!(p.lock.extension().unwrap(), "lock");
        assert!(p.private_dir);
        // A client looks everywhere a phone for the file may serve, the system service's
        // folder included.
        let dirs: Vec<PathBuf> =
            SocketPaths::candidates(&key(), &env(None, Some("/run/user/7"), 7))
                .into_iter()
                .map(|p| p.dir)
                .collect();
        assert_eq!(dirs[0], PathBuf::from("/run/user/7/microsip"));
        assert!(dirs[1].ends_with("microsip-7"), "{dirs:?}");
        assert_eq!(dirs[2], PathBuf::from(SYSTEM_RUNTIME_DIR));
    }

    #[test]
    fn fallback_is_a_per_user_folder() {
        for xdg in [None, Some("relative/dir")] {
            let p = SocketPaths::for_key(&key(), &env(None, xdg, 1234));
            assert!(p.private_dir);
            assert!(p.dir.ends_with("microsip-1234"), "{}", p.dir.display());
        }
        let long = format!("/{}", "x".repeat(100));
        let p = SocketPaths::for_key(&key(), &env(Some(&long), Some(&long), 7));
        assert!(
            p.dir.ends_with("microsip-7"),
            "too long folders are left out"
        );
        assert!(p.socket.as_os_str().len() <= MAX_SOCKET_PATH);
    }

    #[test]
    fn canonical_paths_resolve_links_and_relative_names() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.ini");
        fs::write(&real, "").unwrap();
        let link = dir.path().join("link.ini");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let a = InstanceKey::new(&real);
        let b = InstanceKey::new(&link);
        assert_eq!(a, b);
        let missing = InstanceKey::new(&dir.path().join("new.ini"));
        assert!(missing.ini().is_absolute());
    }

    #[test]
    fn one_claim_at_a_time_stale_sockets_replaced_and_files_removed_on_drop() {
        use super::super::dispatch::{Dispatcher, StackGate};
        let dir = tempfile::tempdir().unwrap();
        let paths = SocketPaths::for_key(
            &key(),
            &env(Some(dir.path().to_str().unwrap()), None, own_uid()),
        );
        let (dispatcher, _rx) = Dispatcher::new(StackGate::default());
        // A socket file nobody listens on, as a crashed phone leaves it.
        drop(UnixListener::bind(&paths.socket).unwrap());
        assert!(paths.socket.exists());
        let Claim::Server(first) = claim(&paths, dispatcher.clone()).unwrap() else {
            panic!("the stale socket must be replaced");
        };
        let mode = fs::metadata(&paths.socket).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            claim(&paths, dispatcher.clone()),
            Ok(Claim::Taken)
        ));
        drop(first);
        assert!(
            !paths.socket.exists() && !paths.lock.exists(),
            "nothing left behind"
        );
        assert!(matches!(claim(&paths, dispatcher), Ok(Claim::Server(_))));
    }

    #[test]
    fn the_private_dir_is_created_0700_and_foreign_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("microsip-x");
        ensure_private_dir(&private, own_uid()).unwrap();
        let mode = fs::metadata(&private).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&private, own_uid()).unwrap();
        assert_eq!(fs::metadata(&private).unwrap().mode() & 0o777, 0o700);
        let err = ensure_private_dir(&private, own_uid() + 1).unwrap_err();
        assert!(err.to_string().contains("belongs to uid"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(ensure_private_dir(&file, own_uid()).is_err());
    }
}
