//! A Sans-IO IMAP4rev2 server session (RFC 9051), compatible with IMAP4rev1 clients
//! (RFC 3501), with the extensions today's mail clients use.
//!
//! The crate has the same shape as `smtp_proto` and `pop3_proto`: the host feeds bytes in
//! and takes bytes and events out; the session never touches a socket, a clock or a store.
//! See [`server`] for the call order and the requests a host answers.
//!
//! - [`framing`] finds where a command ends, literals included, within bounds;
//! - [`parse`] turns a whole command into a [`command::Command`];
//! - [`response`] writes responses, choosing the right form for every value;
//! - [`mime`] computes ENVELOPE, BODYSTRUCTURE and body sections from message bytes;
//! - [`search`] evaluates SEARCH criteria;
//! - [`mailbox`] holds mailbox-name rules: modified UTF-7 and LIST patterns;
//! - [`server`] is the session;
//! - `store` (with the `store` feature) answers the session's requests from a
//!   `mail_store::Store`.

pub mod command;
pub mod framing;
pub mod mailbox;
pub mod mime;
pub mod parse;
pub mod response;
pub mod search;
pub mod server;
#[cfg(feature = "store")]
pub mod store;

#[doc(hidden)]
pub mod fuzzing;
