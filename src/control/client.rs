//! The client side of the control socket: what a second `microsip` process (forwarding its
//! command line) and `microsip --send` do.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::wire::{self, Encoding, Reply};

/// How long the client waits for a reply (a `dwData=1` command may take the phone a moment;
/// the phone itself gives up after [`super::dispatch::RUN_TIMEOUT`]).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(35);

/// Why a command could not be delivered.
#[derive(Debug)]
pub enum ClientError {
    /// No phone listens on the socket (no file, or a stale one).
    NotRunning,
    /// The text cannot be sent (too long, or it contains a NUL).
    Encode(wire::WireError),
    /// The reply is not a valid frame.
    BadReply(wire::WireError),
    /// The connection failed.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotRunning => write!(f, "no microsip is running for these settings"),
            ClientError::Encode(e) => write!(f, "the command cannot be sent: {e}"),
            ClientError::BadReply(e) => write!(f, "the phone's reply is not understood: {e}"),
            ClientError::Io(e) => write!(f, "the control socket failed: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Connects to the phone's socket; [`ClientError::NotRunning`] when nobody listens there.
pub fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    match UnixStream::connect(socket) {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ClientError::NotRunning)
        }
        Err(e) => Err(ClientError::Io(e)),
    }
}

/// Sends one command (`dw_data` 1 runs it and waits, 2 queues it) and reads the reply.
pub fn request(stream: &mut UnixStream, dw_data: u32, text: &str) -> Result<Reply, ClientError> {
    let frame = wire::encode_request(dw_data, text, Encoding::Utf8).map_err(ClientError::Encode)?;
    // A phone that refuses the connection (another user, too many clients) replies and
    // closes at once, maybe before the request is written: its reply is still there to read.
    let written = stream.write_all(&frame);
    match (read_reply(stream, REPLY_TIMEOUT), written) {
        (Ok(reply), _) => Ok(reply),
        (Err(_), Err(e)) => Err(ClientError::Io(e)),
        (Err(e), Ok(())) => Err(e),
    }
}

/// Reads exactly one reply frame.
pub fn read_reply(stream: &mut UnixStream, timeout: Duration) -> Result<Reply, ClientError> {
    stream
        .set_read_timeout(Some(timeout))
        .map_err(ClientError::Io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match wire::parse_reply(&buf) {
            Ok(Some((reply, _))) => return Ok(reply),
            Ok(None) => {}
            Err(e) => return Err(ClientError::BadReply(e)),
        }
        let n = stream.read(&mut chunk).map_err(ClientError::Io)?;
        if n == 0 {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the phone closed the connection before replying",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Subscribes to the phone's event stream (`dwData=3`); the reply says whether it took it.
pub fn subscribe(mut stream: UnixStream) -> Result<(Reply, EventReader), ClientError> {
    let frame = wire::encode_request(wire::DW_DATA_EVENTS, "", Encoding::Utf8)
        .map_err(ClientError::Encode)?;
    stream.write_all(&frame).map_err(ClientError::Io)?;
    let mut reader = EventReader {
        stream,
        buf: Vec::new(),
    };
    stream_timeout(&reader.stream, Some(REPLY_TIMEOUT))?;
    let reply = reader.next_frame()?.ok_or_else(|| {
        ClientError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the phone closed the connection before replying",
        ))
    })?;
    stream_timeout(&reader.stream, None)?;
    Ok((reply, reader))
}

fn stream_timeout(stream: &UnixStream, timeout: Option<Duration>) -> Result<(), ClientError> {
    stream.set_read_timeout(timeout).map_err(ClientError::Io)
}

/// The events of a subscription, one frame at a time.
#[derive(Debug)]
pub struct EventReader {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl EventReader {
    /// The next frame; `None` when the phone closed the stream (it stopped).
    pub fn next_frame(&mut self) -> Result<Option<Reply>, ClientError> {
        let mut chunk = [0u8; 8192];
        loop {
            match wire::parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(reply));
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::BadReply(e)),
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(ClientError::Io(e)),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// After an exit request: waits until the phone has gone (it keeps the connection open until
/// its process ends). True if it did within `timeout`.
pub fn wait_until_closed(stream: &mut UnixStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Whether a reply says the command ran without error: done, `FALSE`, and an `ok:` text.
pub fn succeeded(reply: &Reply) -> bool {
    reply.kind == wire::ReplyKind::Done && reply.result == 0 && !reply.text.starts_with("error:")
}
