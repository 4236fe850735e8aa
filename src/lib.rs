//! microsip: a headless softphone, MicroSIP's core on PJSIP.
//!
//! The `engine` module owns PJSUA and holds the only FFI code (besides `pjsip-sys`);
//! everything else is plain Rust: `config` reads MicroSIP.ini, `policy` decides what to do
//! with calls, `control` and `dial` take MicroSIP's commands, `audio` drives the sound
//! devices, `app` runs the phone.
#![deny(unsafe_code)]

pub use pjsip_sys as ffi;

pub mod app;
pub mod audio;
pub mod config;
pub mod control;
pub mod desktop;
pub mod dial;
pub mod engine;
pub mod logging;
pub mod policy;
