//! Framing of the local control socket, which carries MicroSIP's `WM_COPYDATA` semantics.
//!
//! # Control socket protocol, version 1
//!
//! A client connects, sends one or more *requests* and reads one *reply* per request, in
//! order. All integers are little-endian. A request is what MicroSIP receives as
//! `WM_COPYDATA`: a `dwData` number and a command line (§3 of the reference).
//!
//! **Request** (14-byte header + payload):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MSIP` (`4D 53 49 50`) |
//! | 4 | 1 | version: `1` |
//! | 5 | 4 | `dwData` (u32): `1` = run the command now and reply with its result; `2` = queue it and reply at once; `3` = subscribe to the event stream (ours; the payload is ignored); other values are ignored (reply `TRUE`) |
//! | 9 | 1 | payload encoding: `0` = UTF-8, `1` = UTF-16LE (what `WM_COPYDATA` carries) |
//! | 10 | 4 | payload length in bytes (u32), at most 65536 |
//! | 14 | n | payload: the command line, e.g. `/answer` or `sip:100@pbx`; one trailing NUL (1 byte in UTF-8, 2 in UTF-16LE) may be included and is dropped; no other NUL is allowed |
//!
//! **Reply** (14-byte header + text):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MSIP` |
//! | 4 | 1 | version: `1` |
//! | 5 | 1 | kind: `0` = done, `result` is MicroSIP's `LRESULT`; `1` = refused: the request was malformed, the text says why and the phone closes the connection; `2` = event: after a `dwData=3` subscription, one event as a JSON object (`result` 0) |
//! | 6 | 4 | result (i32): the `LRESULT`: `0` = `FALSE` (the command ran; MicroSIP's sender then does not activate the window), `1` = `TRUE` (not run: phone not running, or `dwData` unknown) |
//! | 10 | 4 | text length in bytes (u32), at most 65536 |
//! | 14 | n | text, UTF-8, may be empty: information or the error |
//!
//! Example client in Python (`SOCKET_PATH` as in the README):
//!
//! ```text
//! import socket, struct
//! s = socket.socket(socket.AF_UNIX); s.connect(SOCKET_PATH)
//! cmd = "/answer".encode("utf-8")
//! s.sendall(struct.pack("<4sBIBI", b"MSIP", 1, 1, 0, len(cmd)) + cmd)
//! f = s.makefile("rb"); magic, ver, kind, result, n = struct.unpack("<4sBBiI", f.read(14))
//! print(kind, result, f.read(n).decode("utf-8"))
//! ```
//!
//! Everything in this module is pure: encode and decode over byte slices, plus an incremental
//! [`RequestDecoder`] for a stream. A length above the maximum is rejected from the header
//! alone, before any payload is buffered.

use std::fmt;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"MSIP";
/// The protocol version this module speaks.
pub const VERSION: u8 = 1;
/// Size of a request or reply header in bytes.
pub const HEADER_LEN: usize = 14;
/// Largest payload or reply text in bytes: a maximal Windows command line (32767 UTF-16
/// units) plus its NUL.
pub const MAX_PAYLOAD: u32 = 65536;
/// `dwData` for "run the command now and reply with its result" (MicroSIP's own sender).
pub const DW_DATA_RUN: u32 = 1;
/// `dwData` for "queue the command and reply at once".
pub const DW_DATA_POST: u32 = 2;
/// `dwData` for "subscribe to the event stream" (ours): after the reply, the connection
/// carries [`ReplyKind::Event`] frames until either side closes it.
pub const DW_DATA_EVENTS: u32 = 3;

/// How the payload text of a request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (byte `0`).
    Utf8,
    /// UTF-16 little-endian, as in `WM_COPYDATA` (byte `1`).
    Utf16Le,
}

impl Encoding {
    /// The byte that stands for this encoding in a request header.
    pub fn to_byte(self) -> u8 {
        match self {
            Encoding::Utf8 => 0,
            Encoding::Utf16Le => 1,
        }
    }

    /// The encoding for a header byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Encoding::Utf8),
            1 => Some(Encoding::Utf16Le),
            _ => None,
        }
    }
}

/// A decoded request: what `WM_COPYDATA` would have carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `COPYDATASTRUCT.dwData`.
    pub dw_data: u32,
    /// The encoding the client used (informative; `text` is already decoded).
    pub encoding: Encoding,
    /// The command line, without its terminating NUL.
    pub text: String,
}

/// What a reply says about its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// The request was well formed; `result` is MicroSIP's `LRESULT` (byte `0`).
    Done,
    /// The request was malformed and not run; the text says why (byte `1`).
    Refused,
    /// One event of a subscription, as a JSON object (byte `2`).
    Event,
}

/// A reply to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Done or refused.
    pub kind: ReplyKind,
    /// MicroSIP's `LRESULT`: `0` (`FALSE`) after running the command, `1` (`TRUE`) when it
    /// was not run.
    pub result: i32,
    /// Information or error text (UTF-8, possibly empty).
    pub text: String,
}

impl Reply {
    /// An event frame of a subscription.
    pub fn event(json: impl Into<String>) -> Self {
        Reply {
            kind: ReplyKind::Event,
            result: 0,
            text: json.into(),
        }
    }

    /// A reply for a well-formed request.
    pub fn done(result: i32, text: impl Into<String>) -> Self {
        Reply {
            kind: ReplyKind::Done,
            result,
            text: text.into(),
        }
    }

    /// The reply for a request that could not be decoded: result `1` (`TRUE`, not run) and
    /// the error as text.
    pub fn refused(error: &WireError) -> Self {
        Reply {
            kind: ReplyKind::Refused,
            result: 1,
            text: error.to_string(),
        }
    }
}

/// Why bytes are not a valid frame (or a value cannot be encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The frame does not start with `MSIP` (the bytes seen so far, at most 4).
    BadMagic {
        /// The first bytes received.
        found: Vec<u8>,
    },
    /// A version other than [`VERSION`].
    UnsupportedVersion(u8),
    /// An encoding byte other than 0 or 1.
    UnsupportedEncoding(u8),
    /// A reply kind byte other than 0 or 1.
    UnknownReplyKind(u8),
    /// The length field exceeds [`MAX_PAYLOAD`].
    TooLong {
        /// The length announced (or the length of the text to encode).
        len: u64,
        /// The maximum.
        max: u32,
    },
    /// The input ends inside a frame.
    Truncated {
        /// Bytes the frame needs (at least the header when the header itself is cut).
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// Bytes follow a complete frame where exactly one frame was expected.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A UTF-16LE payload with an odd number of bytes.
    OddUtf16Length(usize),
    /// A UTF-8 payload that is not valid UTF-8.
    InvalidUtf8 {
        /// Bytes of valid UTF-8 before the error.
        valid_up_to: usize,
    },
    /// A UTF-16LE payload with an unpaired surrogate.
    UnpairedSurrogate {
        /// Byte offset of the unit in the payload.
        offset: usize,
        /// The surrogate.
        unit: u16,
    },
    /// A NUL that is not the one allowed at the very end.
    InteriorNul {
        /// Byte offset in the payload.
        offset: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadMagic { found } => write!(
                f,
                "bad magic {found:02X?}: every frame starts with the 4 bytes \"MSIP\""
            ),
            WireError::UnsupportedVersion(version) => write!(
                f,
                "unsupported protocol version {version}: this phone speaks version {VERSION}"
            ),
            WireError::UnsupportedEncoding(byte) => write!(
                f,
                "unsupported payload encoding {byte}: use 0 for UTF-8 or 1 for UTF-16LE"
            ),
            WireError::UnknownReplyKind(byte) => {
                write!(
                    f,
                    "unknown reply kind {byte}: expected 0 (done), 1 (refused) or 2 (event)"
                )
            }
            WireError::TooLong { len, max } => write!(
                f,
                "length {len} is more than the maximum of {max} bytes: send a shorter command"
            ),
            WireError::Truncated { needed, got } => write!(
                f,
                "truncated frame: {got} of {needed} bytes; send the whole header and payload"
            ),
            WireError::TrailingBytes { extra } => {
                write!(f, "{extra} unexpected bytes after the frame")
            }
            WireError::OddUtf16Length(len) => write!(
                f,
                "UTF-16LE payload of {len} bytes: its length must be even"
            ),
            WireError::InvalidUtf8 { valid_up_to } => write!(
                f,
                "payload is not valid UTF-8 (error after byte {valid_up_to}); \
                 encode the text as UTF-8 or use encoding 1 (UTF-16LE)"
            ),
            WireError::UnpairedSurrogate { offset, unit } => write!(
                f,
                "payload is not valid UTF-16LE: unpaired surrogate 0x{unit:04X} at byte {offset}"
            ),
            WireError::InteriorNul { offset } => write!(
                f,
                "NUL at byte {offset} of the payload: only one NUL at the very end is allowed"
            ),
        }
    }
}

impl std::error::Error for WireError {}

/// Encodes a request. Fails with [`WireError::TooLong`] when the encoded text exceeds
/// [`MAX_PAYLOAD`] and with [`WireError::InteriorNul`] when `text` contains a NUL. No
/// terminating NUL is written.
pub fn encode_request(dw_data: u32, text: &str, encoding: Encoding) -> Result<Vec<u8>, WireError> {
    if let Some(offset) = text.find('\0') {
        let offset = match encoding {
            Encoding::Utf8 => offset,
            Encoding::Utf16Le => 2 * text[..offset].encode_utf16().count(),
        };
        return Err(WireError::InteriorNul { offset });
    }
    let payload: Vec<u8> = match encoding {
        Encoding::Utf8 => text.as_bytes().to_vec(),
        Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    };
    let len = checked_len(payload.len())?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.extend_from_slice(&dw_data.to_le_bytes());
    frame.push(encoding.to_byte());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Reads one request from the start of `buf`. `Ok(None)` means "incomplete, read more";
/// `Ok(Some((request, used)))` gives the request and how many bytes it took. Errors are
/// reported as soon as the bytes seen prove the frame bad (bad magic after the first byte,
/// a too-long length from the header alone).
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, WireError> {
    let Some(header) = parse_header(buf)? else {
        return Ok(None);
    };
    let dw_data = u32_at(header, 5);
    let encoding =
        Encoding::from_byte(header[9]).ok_or(WireError::UnsupportedEncoding(header[9]))?;
    let len = payload_len(u32_at(header, 10))?;
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    let text = decode_text(payload, encoding)?;
    Ok(Some((
        Request {
            dw_data,
            encoding,
            text,
        },
        HEADER_LEN + len,
    )))
}

/// Decodes `buf` as exactly one request ([`WireError::Truncated`] if it is cut short,
/// [`WireError::TrailingBytes`] if more follows).
pub fn decode_request(buf: &[u8]) -> Result<Request, WireError> {
    exactly_one(buf, parse_request)
}

/// Encodes a reply. Fails with [`WireError::TooLong`] when the text exceeds [`MAX_PAYLOAD`].
pub fn encode_reply(reply: &Reply) -> Result<Vec<u8>, WireError> {
    let len = checked_len(reply.text.len())?;
    let mut frame = Vec::with_capacity(HEADER_LEN + reply.text.len());
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.push(match reply.kind {
        ReplyKind::Done => 0,
        ReplyKind::Refused => 1,
        ReplyKind::Event => 2,
    });
    frame.extend_from_slice(&reply.result.to_le_bytes());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(reply.text.as_bytes());
    Ok(frame)
}

/// Reads one reply from the start of `buf`; like [`parse_request`].
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, WireError> {
    let Some(header) = parse_header(buf)? else {
        return Ok(None);
    };
    let kind = match header[5] {
        0 => ReplyKind::Done,
        1 => ReplyKind::Refused,
        2 => ReplyKind::Event,
        other => return Err(WireError::UnknownReplyKind(other)),
    };
    let result = i32::from_le_bytes([header[6], header[7], header[8], header[9]]);
    let len = payload_len(u32_at(header, 10))?;
    let Some(text) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(text)
        .map_err(|e| WireError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?
        .to_string();
    Ok(Some((Reply { kind, result, text }, HEADER_LEN + len)))
}

/// Decodes `buf` as exactly one reply; like [`decode_request`].
pub fn decode_reply(buf: &[u8]) -> Result<Reply, WireError> {
    exactly_one(buf, parse_reply)
}

/// Turns a stream of bytes into requests. Feed what the socket gives, then take requests
/// until `Ok(None)`. After an error the stream cannot be resynchronised: every later call
/// returns the same error; reply with [`Reply::refused`] and close the connection.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    buf: Vec<u8>,
    failed: Option<WireError>,
}

impl RequestDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream. Ignored once the decoder has failed.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete request, `Ok(None)` if more bytes are needed, or the error.
    pub fn next_request(&mut self) -> Result<Option<Request>, WireError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match parse_request(&self.buf) {
            Ok(Some((request, used))) => {
                self.buf.drain(..used);
                Ok(Some(request))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.buf = Vec::new();
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Bytes held that do not form a complete request yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Call at end of stream: an error if a partial request is left over.
    pub fn finish(&self) -> Result<(), WireError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Truncated {
                needed: frame_len(&self.buf),
                got: self.buf.len(),
            })
        }
    }
}

/// Decodes a request payload: strips one trailing NUL, rejects any other NUL, checks the
/// encoding (odd UTF-16 length, unpaired surrogates, invalid UTF-8).
pub fn decode_text(payload: &[u8], encoding: Encoding) -> Result<String, WireError> {
    match encoding {
        Encoding::Utf8 => {
            let body = payload.strip_suffix(&[0]).unwrap_or(payload);
            if let Some(offset) = body.iter().position(|&b| b == 0) {
                return Err(WireError::InteriorNul { offset });
            }
            std::str::from_utf8(body)
                .map(str::to_string)
                .map_err(|e| WireError::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                })
        }
        Encoding::Utf16Le => {
            if !payload.len().is_multiple_of(2) {
                return Err(WireError::OddUtf16Length(payload.len()));
            }
            let mut units: Vec<u16> = payload
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            if units.last() == Some(&0) {
                units.pop();
            }
            if let Some(index) = units.iter().position(|&u| u == 0) {
                return Err(WireError::InteriorNul { offset: 2 * index });
            }
            let mut text = String::with_capacity(units.len());
            let mut index = 0;
            for decoded in char::decode_utf16(units.iter().copied()) {
                match decoded {
                    Ok(c) => {
                        text.push(c);
                        index += c.len_utf16();
                    }
                    Err(e) => {
                        return Err(WireError::UnpairedSurrogate {
                            offset: 2 * index,
                            unit: e.unpaired_surrogate(),
                        })
                    }
                }
            }
            Ok(text)
        }
    }
}

/// Checks magic and version; `Ok(None)` until the 14 header bytes are there.
fn parse_header(buf: &[u8]) -> Result<Option<&[u8]>, WireError> {
    let seen = buf.len().min(MAGIC.len());
    if buf[..seen] != MAGIC[..seen] {
        return Err(WireError::BadMagic {
            found: buf[..seen].to_vec(),
        });
    }
    if let Some(&version) = buf.get(4) {
        if version != VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
    }
    Ok(buf.get(..HEADER_LEN))
}

fn u32_at(header: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
}

fn payload_len(len: u32) -> Result<usize, WireError> {
    if len > MAX_PAYLOAD {
        return Err(WireError::TooLong {
            len: u64::from(len),
            max: MAX_PAYLOAD,
        });
    }
    usize::try_from(len).map_err(|_| WireError::TooLong {
        len: u64::from(len),
        max: MAX_PAYLOAD,
    })
}

fn checked_len(len: usize) -> Result<u32, WireError> {
    match u32::try_from(len) {
        Ok(len) if len <= MAX_PAYLOAD => Ok(len),
        _ => Err(WireError::TooLong {
            len: len as u64,
            max: MAX_PAYLOAD,
        }),
    }
}

/// Length of the frame starting in `buf` as far as known (the header length until the
/// length field is there). Both frame kinds keep their length at offset 10.
fn frame_len(buf: &[u8]) -> usize {
    match buf.get(10..HEADER_LEN) {
        Some(field) => HEADER_LEN + u32_at(field, 0) as usize,
        None => HEADER_LEN,
    }
}

type ParseFn<T> = fn(&[u8]) -> Result<Option<(T, usize)>, WireError>;

fn exactly_one<T>(buf: &[u8], parse: ParseFn<T>) -> Result<T, WireError> {
    match parse(buf)? {
        Some((value, used)) if used == buf.len() => Ok(value),
        Some((_, used)) => Err(WireError::TrailingBytes {
            extra: buf.len() - used,
        }),
        None => Err(WireError::Truncated {
            needed: frame_len(buf),
            got: buf.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dw_data: u32, encoding: u8, len: u32) -> Vec<u8> {
        let mut h = b"MSIP\x01".to_vec();
        h.extend_from_slice(&dw_data.to_le_bytes());
        h.push(encoding);
        h.extend_from_slice(&len.to_le_bytes());
        h
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn request_layout_matches_the_documented_python_struct() {
        // struct.pack("<4sBIBI", b"MSIP", 1, 1, 0, 7) + b"/answer"
        let frame = encode_request(1, "/answer", Encoding::Utf8).unwrap();
        let mut expected = header(1, 0, 7);
        expected.extend_from_slice(b"/answer");
        assert_eq!(frame, expected);
        assert_eq!(frame.len(), HEADER_LEN + 7);
    }

    #[test]
    fn reply_layout_matches_the_documented_python_struct() {
        // struct.unpack("<4sBBiI", ...)
        let frame = encode_reply(&Reply::done(0, "ok")).unwrap();
        assert_eq!(frame, b"MSIP\x01\x00\x00\x00\x00\x00\x02\x00\x00\x00ok");
        let frame = encode_reply(&Reply::done(-2, "")).unwrap();
        assert_eq!(&frame[6..10], &(-2i32).to_le_bytes());
    }

    #[test]
    fn round_trips_in_both_encodings() {
        for encoding in [Encoding::Utf8, Encoding::Utf16Le] {
            for text in ["", "/answer", "sip:100@pbx 😀 grüße", "msip:hold"] {
                let frame = encode_request(2, text, encoding).unwrap();
                let request = decode_request(&frame).unwrap();
                assert_eq!(
                    request,
                    Request {
                        dw_data: 2,
                        encoding,
                        text: text.to_string()
                    }
                );
            }
        }
        let reply = Reply::done(1, "phone not running: command dropped");
        assert_eq!(decode_reply(&encode_reply(&reply).unwrap()).unwrap(), reply);
        let refused = Reply::refused(&WireError::UnsupportedVersion(9));
        assert_eq!(refused.result, 1);
        assert_eq!(
            decode_reply(&encode_reply(&refused).unwrap()).unwrap(),
            refused
        );
    }

    #[test]
    fn one_trailing_nul_is_dropped_like_wm_copydata() {
        let mut frame = header(1, 1, 16);
        frame.extend_from_slice(&utf16("/answer\0"));
        assert_eq!(decode_request(&frame).unwrap().text, "/answer");
        let mut frame = header(1, 0, 4);
        frame.extend_from_slice(b"100\0");
        assert_eq!(decode_request(&frame).unwrap().text, "100");
        let mut frame = header(1, 1, 2);
        frame.extend_from_slice(&[0, 0]);
        assert_eq!(decode_request(&frame).unwrap().text, "");
    }

    #[test]
    fn other_nuls_are_rejected() {
        let mut frame = header(1, 1, 6);
        frame.extend_from_slice(&utf16("a\0\0"));
        assert_eq!(
            decode_request(&frame),
            Err(WireError::InteriorNul { offset: 2 })
        );
        let mut frame = header(1, 0, 3);
        frame.extend_from_slice(b"a\0b");
        assert_eq!(
            decode_request(&frame),
            Err(WireError::InteriorNul { offset: 1 })
        );
        assert_eq!(
            encode_request(1, "x\0y", Encoding::Utf16Le),
            Err(WireError::InteriorNul { offset: 2 })
        );
    }

    #[test]
    fn bad_magic_is_seen_from_the_first_byte() {
        assert_eq!(
            parse_request(b"G"),
            Err(WireError::BadMagic {
                found: b"G".to_vec()
            })
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\n"),
            Err(WireError::BadMagic {
                found: b"GET ".to_vec()
            })
        );
        assert_eq!(parse_request(b"MS"), Ok(None), "a valid prefix waits");
    }

    #[test]
    fn version_and_encoding_are_checked() {
        let mut frame = header(1, 0, 0);
        frame[4] = 2;
        assert_eq!(parse_request(&frame), Err(WireError::UnsupportedVersion(2)));
        assert_eq!(
            parse_request(&frame[..5]),
            Err(WireError::UnsupportedVersion(2))
        );
        let frame = header(1, 7, 0);
        assert_eq!(
            parse_request(&frame),
            Err(WireError::UnsupportedEncoding(7))
        );
        let mut reply = encode_reply(&Reply::done(0, "")).unwrap();
        reply[5] = 3;
        assert_eq!(decode_reply(&reply), Err(WireError::UnknownReplyKind(3)));
    }

    #[test]
    fn huge_length_is_rejected_from_the_header_alone() {
        let frame = header(1, 0, u32::MAX);
        assert_eq!(
            parse_request(&frame),
            Err(WireError::TooLong {
                len: u64::from(u32::MAX),
                max: MAX_PAYLOAD
            })
        );
        let mut decoder = RequestDecoder::new();
        decoder.feed(&frame);
        assert!(matches!(
            decoder.next_request(),
            Err(WireError::TooLong { .. })
        ));
        assert_eq!(decoder.buffered(), 0, "nothing kept after the error");
    }

    #[test]
    fn maximum_length_is_accepted_and_one_more_is_not() {
        let text = "x".repeat(MAX_PAYLOAD as usize);
        let frame = encode_request(1, &text, Encoding::Utf8).unwrap();
        assert_eq!(decode_request(&frame).unwrap().text.len(), text.len());
        assert!(matches!(
            encode_request(1, &format!("{text}x"), Encoding::Utf8),
            Err(WireError::TooLong { .. })
        ));
        assert!(matches!(
            encode_request(1, &"y".repeat(32769), Encoding::Utf16Le),
            Err(WireError::TooLong { .. })
        ));
        assert!(matches!(
            encode_reply(&Reply::done(0, "z".repeat(MAX_PAYLOAD as usize + 1))),
            Err(WireError::TooLong { .. })
        ));
    }

    #[test]
    fn truncated_and_trailing_bytes() {
        let frame = encode_request(1, "/answer", Encoding::Utf8).unwrap();
        for cut in 0..frame.len() {
            assert_eq!(parse_request(&frame[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(
            decode_request(&frame[..20]),
            Err(WireError::Truncated {
                needed: 21,
                got: 20
            })
        );
        assert_eq!(
            decode_request(&frame[..3]),
            Err(WireError::Truncated { needed: 14, got: 3 })
        );
        let mut longer = frame.clone();
        longer.extend_from_slice(b"MS");
        assert_eq!(
            decode_request(&longer),
            Err(WireError::TrailingBytes { extra: 2 })
        );
        assert_eq!(
            decode_reply(b"MSIP\x01\x00"),
            Err(WireError::Truncated { needed: 14, got: 6 })
        );
    }

    #[test]
    fn invalid_text_is_rejected_precisely() {
        let mut frame = header(1, 0, 3);
        frame.extend_from_slice(&[b'a', 0xC3, 0x28]);
        assert_eq!(
            decode_request(&frame),
            Err(WireError::InvalidUtf8 { valid_up_to: 1 })
        );
        let mut frame = header(1, 1, 3);
        frame.extend_from_slice(b"abc");
        assert_eq!(decode_request(&frame), Err(WireError::OddUtf16Length(3)));
        // A lone high surrogate at the end, and a lone low surrogate in the middle.
        let mut frame = header(1, 1, 4);
        frame.extend_from_slice(&[b'a', 0, 0x3D, 0xD8]);
        assert_eq!(
            decode_request(&frame),
            Err(WireError::UnpairedSurrogate {
                offset: 2,
                unit: 0xD83D
            })
        );
        let mut frame = header(1, 1, 10);
        frame.extend_from_slice(&utf16("😀"));
        frame.extend_from_slice(&[0x00, 0xDC, b'b', 0, 0, 0]);
        assert_eq!(
            decode_request(&frame),
            Err(WireError::UnpairedSurrogate {
                offset: 4,
                unit: 0xDC00
            })
        );
        let mut reply = encode_reply(&Reply::done(0, "ab")).unwrap();
        reply[15] = 0xFF;
        assert_eq!(
            decode_reply(&reply),
            Err(WireError::InvalidUtf8 { valid_up_to: 1 })
        );
    }

    #[test]
    fn incremental_decoder_byte_by_byte_with_several_frames() {
        let mut stream = encode_request(1, "/answer", Encoding::Utf16Le).unwrap();
        stream.extend(encode_request(2, "sip:100", Encoding::Utf8).unwrap());
        stream.extend(encode_request(1, "", Encoding::Utf8).unwrap());
        let mut decoder = RequestDecoder::new();
        let mut got = Vec::new();
        for byte in &stream {
            decoder.feed(std::slice::from_ref(byte));
            while let Some(request) = decoder.next_request().unwrap() {
                got.push((request.dw_data, request.text));
            }
        }
        assert_eq!(
            got,
            vec![
                (1, "/answer".to_string()),
                (2, "sip:100".to_string()),
                (1, String::new())
            ]
        );
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn incremental_decoder_reports_a_partial_frame_at_the_end() {
        let frame = encode_request(1, "/answer", Encoding::Utf8).unwrap();
        let mut decoder = RequestDecoder::new();
        decoder.feed(&frame[..16]);
        assert_eq!(decoder.next_request(), Ok(None));
        assert_eq!(
            decoder.finish(),
            Err(WireError::Truncated {
                needed: 21,
                got: 16
            })
        );
    }

    #[test]
    fn incremental_decoder_stays_failed() {
        let mut decoder = RequestDecoder::new();
        decoder.feed(b"XXXX");
        let error = decoder.next_request().unwrap_err();
        decoder.feed(&encode_request(1, "/answer", Encoding::Utf8).unwrap());
        assert_eq!(decoder.next_request(), Err(error.clone()));
        assert_eq!(decoder.finish(), Err(error));
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && bytes.len() >= 5 {
                // Half of the inputs get a valid start so the deeper checks run too.
                bytes[..5].copy_from_slice(b"MSIP\x01");
            }
            let mut decoder = RequestDecoder::new();
            decoder.feed(&bytes);
            while let Ok(Some(_)) = decoder.next_request() {}
            let _ = decoder.finish();
            let _ = decode_request(&bytes);
            let _ = decode_reply(&bytes);
        }
    }

    #[test]
    fn errors_explain_what_to_do() {
        let text = WireError::UnsupportedEncoding(5).to_string();
        assert!(text.contains("0 for UTF-8"), "{text}");
        let text = WireError::BadMagic {
            found: b"GET ".to_vec(),
        }
        .to_string();
        assert!(text.contains("MSIP"), "{text}");
    }
}
