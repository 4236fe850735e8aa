//! The control socket's framing on arbitrary bytes: no panic; the incremental decoder, fed
//! in chunks of any size, finds exactly what one-shot parsing finds; a decoded request
//! encodes back to a frame that decodes to the same request; replies likewise.
//!
//! Run: `cargo +nightly fuzz run wire_decode`
#![no_main]

use libfuzzer_sys::fuzz_target;
use microsip::control::wire::{self, RequestDecoder, WireError};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 17) + 1;

    // One-shot: successive frames from the start of the buffer.
    let mut expected = Vec::new();
    let mut rest = bytes;
    let expected_error = loop {
        match wire::parse_request(rest) {
            Ok(Some((request, used))) => {
                assert!(used >= wire::HEADER_LEN && used <= rest.len());
                expected.push(request);
                rest = &rest[used..];
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    // Incremental, in chunks.
    let mut decoder = RequestDecoder::new();
    let mut got = Vec::new();
    let mut error = None;
    for piece in bytes.chunks(chunk) {
        decoder.feed(piece);
        loop {
            match decoder.next_request() {
                Ok(Some(request)) => got.push(request),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if error.is_some() {
            break;
        }
    }
    assert_eq!(got, expected);
    // The same error; a bad magic is reported as soon as a byte proves it, so the
    // incremental decoder may have seen fewer of the first four bytes.
    match (&error, &expected_error) {
        (Some(WireError::BadMagic { found: seen }), Some(WireError::BadMagic { found })) => {
            assert!(found.starts_with(seen) && !seen.is_empty());
        }
        _ => assert_eq!(error, expected_error),
    }
    let _ = decoder.finish();

    // Round trips.
    for request in &expected {
        let frame = wire::encode_request(request.dw_data, &request.text, request.encoding)
            .expect("a decoded text encodes");
        assert_eq!(&wire::decode_request(&frame).expect("re-decodes"), request);
    }
    if let Ok(reply) = wire::decode_reply(bytes) {
        let frame = wire::encode_reply(&reply).expect("a decoded reply encodes");
        assert_eq!(frame, bytes, "a reply frame has one encoding");
    }
});
