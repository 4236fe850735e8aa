//! microsip: a headless softphone, MicroSIP's core on PJSIP.
//!
//! The library's API is [`engine`]: a safe PJSUA ([`engine::Engine`]) that places and takes
//! calls, plays prompts into them, hears DTMF (RFC 2833, SIP INFO and tones), speaks text
//! ([`engine::speech`]) and reports everything as [`engine::Event`]s on a channel. Ids
//! ([`engine::CallId`], [`engine::AccountId`]) come only from the engine. See
//! `examples/alerter.rs` for an alert call in about 30 lines.
//!
//! The other modules are the `microsip` program's own (MicroSIP.ini, its commands, the
//! phone's main loop) and are not part of that API.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub use pjsip_sys as ffi;

#[doc(hidden)]
pub mod app;
#[doc(hidden)]
pub mod audio;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod control;
#[doc(hidden)]
pub mod desktop;
#[doc(hidden)]
pub mod dial;
pub mod engine;
#[doc(hidden)]
pub mod logging;
#[doc(hidden)]
pub mod policy;
