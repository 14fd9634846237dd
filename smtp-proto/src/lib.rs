//! A Sans-IO SMTP server and client session (RFC 5321).

pub mod address;
pub mod command;
pub mod extension;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod reply;
pub mod server;
