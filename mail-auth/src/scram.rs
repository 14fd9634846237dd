//! SCRAM-SHA-256 (RFC 5802, RFC 7677). STUB: the mechanism is being written.

use crate::credentials::CredentialError;

/// SCRAM's stored keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    /// The salt.
    pub salt: Vec<u8>,
    /// The iteration count.
    pub iterations: u32,
    /// StoredKey.
    pub stored_key: [u8; 32],
    /// ServerKey.
    pub server_key: [u8; 32],
}

impl ScramSecret {
    /// Derives the keys.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Result<Self, CredentialError> {
        let _ = password;
        Ok(Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: [0; 32],
            server_key: [0; 32],
        })
    }
}
