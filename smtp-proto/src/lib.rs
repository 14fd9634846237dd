//! A Sans-IO SMTP server and client session (RFC 5321).

pub mod address;
pub mod command;
pub mod extension;
pub mod reply;
