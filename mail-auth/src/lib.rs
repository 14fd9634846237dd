//! Authentication shared by Rampart's protocol sessions.
//!
//! The protocol crates (`smtp-proto`, `imap-proto`, `pop3-proto`) carry SASL exchanges
//! (RFC 4422) without knowing any mechanism: they speak only the types of [`sasl`]. A host
//! runs the mechanism of its choice and hands each [`sasl::ServerStep`] back to the session,
//! so adding a mechanism never touches a protocol crate.

pub mod cram_md5;
pub mod credentials;
pub mod digest_md5;
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
