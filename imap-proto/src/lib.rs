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
//!
//! A session in a few lines: the host answers the login and each store request (here from
//! a fixed message; a real host uses its store, or the `store` feature's adapter).
//!
//! ```
//! use std::time::Instant;
//! use imap_proto::server::{
//!     Answer, Event, MailboxStatus, MessageInfo, Request, ServerConfig, ServerSession,
//! };
//!
//! let now = Instant::now();
//! let mut config = ServerConfig::new("imap.example.org");
//! config.tls = true; // Implicit TLS: LOGIN is allowed.
//! let mut session = ServerSession::new(config, now);
//! let message = b"Subject: hi\r\n\r\nhello\r\n".to_vec();
//! let info = MessageInfo {
//!     uid: 7,
//!     flags: vec![],
//!     internal_date: 0,
//!     size: message.len() as u64,
//!     modseq: 1,
//! };
//! let mut written = Vec::new();
//!
//! let script = b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[]\r\nd LOGOUT\r\n";
//! session.handle_input(script, now);
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         // A real host checks the password here.
//!         Event::Login { username, .. } => session.login_ok(username).unwrap(),
//!         Event::Request(Request::Select { .. }) => {
//!             let status = MailboxStatus {
//!                 uid_validity: 1,
//!                 uid_next: 8,
//!                 highest_modseq: 1,
//!                 messages: 1,
//!                 unseen: 1,
//!                 size: info.size,
//!             };
//!             let answer = Answer::Selected { status, messages: vec![info.clone()] };
//!             session.answer(Ok(answer)).unwrap();
//!         }
//!         Event::Request(Request::Read { uid: 7, .. }) => {
//!             session.answer(Ok(Answer::Message(message.clone()))).unwrap();
//!         }
//!         _ => {}
//!     }
//! }
//! while let Some(bytes) = session.poll_transmit() {
//!     written.extend_from_slice(&bytes);
//! }
//!
//! let written = String::from_utf8(written).unwrap();
//! assert!(written.contains("b OK [READ-WRITE] SELECT completed\r\n"));
//! assert!(written.contains("* 1 FETCH (BODY[] {22}\r\nSubject: hi\r\n\r\nhello\r\n)\r\n"));
//! assert!(written.ends_with("* BYE Logging out\r\nd OK LOGOUT completed\r\n"));
//! assert!(session.is_closed());
//! ```

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
