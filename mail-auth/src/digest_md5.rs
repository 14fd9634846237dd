//! DIGEST-MD5 (RFC 2831). STUB: the mechanism is being written.

/// `H({ username ":" realm ":" password })` for one realm (password-equivalent).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestMd5Secret {
    /// The realm.
    pub realm: String,
    /// The MD5 digest.
    pub h_a1: [u8; 16],
}

impl DigestMd5Secret {
    /// Derives the secret.
    pub fn derive(username: &str, realm: &str, password: &[u8]) -> Self {
        let _ = (username, password);
        Self {
            realm: realm.to_owned(),
            h_a1: [0; 16],
        }
    }
}
