//! Authentication shared by Rampart's protocol sessions: SASL mechanisms (RFC 4422), the
//! credentials an account stores, TOTP two-factor with app passwords, and a limiter against
//! password guessing.
//!
//! Like the protocol crates it is Sans-IO: a mechanism is a step machine over the client's
//! messages, the host looks credentials up in its store when a mechanism asks for them, and
//! time is an argument. The protocol crates know only [`sasl`]'s types, so a host adds a
//! mechanism without touching them.
//!
//! # Checking a PLAIN login
//!
//! ```
//! use mail_auth::credentials::{Credentials, DeriveOptions, PasswordSecrets};
//! use mail_auth::plain::Plain;
//! use mail_auth::sasl::{Context, Progress, ServerMechanism};
//!
//! // When the password is set: derive the stored secrets once; the password is not kept.
//! let options = DeriveOptions::default();
//! let mut alice = Credentials::new("alice@example.org");
//! alice.password = Some(PasswordSecrets::derive("alice@example.org", b"s3cret", &options)?);
//!
//! // At login: the protocol session hands over the client's (base64-decoded) message.
//! let mut plain = Plain::new();
//! let Progress::Lookup { authentication_id } = plain.start(Some(b"\0alice@example.org\0s3cret"))
//! else {
//!     panic!("PLAIN asks for the account's credentials")
//! };
//! assert_eq!(authentication_id, "alice@example.org");
//!
//! // The host looks the account up in its store and passes it (or None) back.
//! let now = Context::new(1_700_000_000);
//! match plain.credentials(Some(&alice), &now) {
//!     Progress::Success(ok) => assert_eq!(ok.authorization_id, "alice@example.org"),
//!     other => panic!("refused: {other:?}"),
//! }
//! # Ok::<(), mail_auth::credentials::CredentialError>(())
//! ```
//!
//! # Adding a mechanism
//!
//! Implement [`sasl::ServerMechanism`]: `start` with the initial response, `respond` to each
//! client message, `credentials` after asking for them with [`sasl::Progress::Lookup`]. The
//! trait's documentation states what a mechanism must and should do. A host then offers the
//! mechanism's name in its configuration and creates it when a client asks for that name;
//! every protocol session carries it unchanged. `tests/gssapi.rs` does this for GSSAPI
//! (RFC 4752) over a scripted stand-in for a Kerberos library: a real provider wraps its
//! library's acceptor context the same way (context tokens as challenges, the security-layer
//! offer wrapped after the context is established, the authorization identity checked with
//! [`credentials::Credentials::may_act_as`]).

pub mod authenticator;
pub mod cram_md5;
pub mod credentials;
pub mod digest_md5;
pub mod external;
#[doc(hidden)]
pub mod fuzzing;
pub mod limiter;
pub mod login;
pub mod plain;
pub mod sasl;
pub mod scram;
pub mod totp;

use std::fmt;

/// Bytes that may carry a secret (a SASL response, a password). `Debug` prints only the
/// length, so a secret cannot leak into a log through a derived `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes, for the code that must check them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Unwraps the bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_shows_no_content() {
        let secret = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "Secret(7 bytes)");
        assert_eq!(secret.expose(), b"hunter2");
    }
}
