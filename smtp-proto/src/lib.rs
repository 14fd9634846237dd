//! A Sans-IO SMTP server and client session (RFC 5321).

pub mod address;
pub mod command;
pub mod extension;
mod framing;
pub mod reply;
pub mod server;
