//! The safe layer over PJSUA.
//!
//! `pjsua` (the engine), `callbacks` (the trampolines), `media` (the media clock) and `port`
//! (our `pjmedia_port` for sound devices) are the only modules allowed raw FFI calls; `types` is
//! the plain-Rust vocabulary they share with the rest of the program, and `device` the
//! contract with a sound device (the lock-free rings between our port and its callbacks).

#[allow(unsafe_code)]
mod admission;
#[allow(unsafe_code)]
mod callbacks;
pub mod device;
mod echo_delay;
#[allow(unsafe_code)]
mod fallback;
#[allow(unsafe_code)]
mod media;
#[allow(unsafe_code)]
mod module;
#[allow(unsafe_code)]
mod netwatch;
#[allow(unsafe_code)]
mod pjsua;
#[allow(unsafe_code)]
mod port;
#[allow(unsafe_code)]
mod prompt;
#[allow(unsafe_code)]
mod security;
#[allow(unsafe_code)]
pub mod speech;
#[allow(unsafe_code)]
mod transport;
pub mod types;

// For the fuzz targets (fuzz/): text from the network that the engine parses itself.
#[doc(hidden)]
pub use callbacks::parse_message_summary;
pub use device::{ActiveAudio, AudioDevice, AudioStats, BridgeFormat, DeviceEnds, RecorderId};
pub use pjsua::{media_clock_rate, pjproject_version, Engine, EngineInfo};
pub use prompt::MediaTap;
pub use transport::local_ipv4_addrs;
pub use types::*;
