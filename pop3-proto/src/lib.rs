//! A Sans-IO POP3 server session (RFC 1939) with CAPA and response codes (RFC 2449), STLS
//! (RFC 2595), SASL AUTH (RFC 5034) and APOP.
//!
//! The session does no I/O and reads no clock: the host feeds it bytes and instants and
//! answers its events. See [`server`] for the call order; it is the same as
//! `smtp_proto::server`'s.
//!
//! ```
//! use std::time::Instant;
//! use mail_auth::Secret;
//! use pop3_proto::server::{Event, MessageInfo, ServerConfig, ServerSession};
//!
//! let now = Instant::now();
//! let mut config = ServerConfig::new("pop.example.org");
//! config.tls = true; // Implicit TLS: USER/PASS are allowed.
//! let mut session = ServerSession::new(config, now);
//! let mut written = Vec::new();
//! let message = b"Subject: hi\r\n\r\n.dot\r\n".to_vec();
//!
//! for input in [&b""[..], b"USER alice\r\nPASS secret\r\n", b"RETR 1\r\nDELE 1\r\nQUIT\r\n"] {
//!     session.handle_input(input, now);
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             // A real host checks the password and locks the maildrop here.
//!             Event::Login { user, password } => {
//!                 assert_eq!((user.as_str(), password), ("alice", Secret::new(b"secret".into())));
//!                 let maildrop = vec![MessageInfo::new(message.len() as u64, "1.1")];
//!                 session.login_ok(maildrop).unwrap();
//!             }
//!             Event::Retrieve { .. } => session.retrieve(message.clone()).unwrap(),
//!             Event::Update { deleted_uids } => {
//!                 assert_eq!(deleted_uids, ["1.1"]); // Remove them, then:
//!                 session.update_done().unwrap();
//!             }
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = session.poll_transmit() {
//!         written.extend_from_slice(&bytes);
//!     }
//! }
//!
//! let written = String::from_utf8(written).unwrap();
//! assert!(written.starts_with("+OK pop.example.org POP3 ready\r\n"));
//! assert!(written.contains("\r\nSubject: hi\r\n\r\n..dot\r\n.\r\n+OK message 1 deleted\r\n"));
//! assert!(session.is_closed());
//! ```

pub mod command;
pub mod server;

#[doc(hidden)]
pub mod fuzzing;

use md5::{Digest, Md5};

/// The APOP digest (RFC 1939 section 7): MD5 of the greeting's timestamp followed by the
/// shared secret, in lowercase hex. Hosts compare it with [`server::Event::Apop`]'s digest.
pub fn apop_digest(timestamp: &str, secret: &[u8]) -> String {
    let mut hasher = Md5::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(secret);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn apop_digest_matches_rfc_1939() {
        assert_eq!(
            super::apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }
}
