//! MicroSIP's command line and WM_COPYDATA commands: the grammar (pure), the framing of our
//! local control socket (pure), the `dwData` rules shared by every transport
//! ([`dispatch`]), the Unix socket that is today's only transport ([`socket`]) and its
//! client ([`client`]).
#![forbid(unsafe_code)]

pub mod client;
pub mod dispatch;
pub mod grammar;
pub mod hub;
pub mod socket;
pub mod wire;
