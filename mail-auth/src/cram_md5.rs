//! CRAM-MD5 (RFC 2195). STUB: the mechanism is being written.

/// The HMAC-MD5 inner and outer states of a password (password-equivalent).
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Secret {
    /// MD5 state after the key XOR ipad block.
    pub inner: [u8; 16],
    /// MD5 state after the key XOR opad block.
    pub outer: [u8; 16],
}

impl CramMd5Secret {
    /// Derives the states from a password.
    pub fn derive(password: &[u8]) -> Self {
        let _ = password;
        Self {
            inner: [0; 16],
            outer: [0; 16],
        }
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Self) -> bool {
        crate::credentials::ct_eq(&self.inner, &other.inner)
            & crate::credentials::ct_eq(&self.outer, &other.outer)
    }
}
