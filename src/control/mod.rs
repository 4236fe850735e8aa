//! MicroSIP's command line and WM_COPYDATA commands: the grammar (pure) and the framing of our
//! local control socket (pure).
#![forbid(unsafe_code)]

pub mod grammar;
pub mod wire;
