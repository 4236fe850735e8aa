//! The safe layer over PJSUA.
//!
//! `pjsua` (the engine), `callbacks` (the trampolines) and `media` (the media port and clock)
//! are the only modules with `unsafe` code; `types` is the plain-Rust vocabulary they share
//! with the rest of the program.

#[allow(unsafe_code)]
mod callbacks;
#[allow(unsafe_code)]
mod media;
#[allow(unsafe_code)]
mod pjsua;
pub mod types;

pub use pjsua::{media_clock_rate, pjproject_version, Engine, EngineInfo};
pub use types::*;
