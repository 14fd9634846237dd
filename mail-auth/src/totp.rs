//! TOTP (RFC 6238). STUB: being written.

use crate::Secret;

/// An account's TOTP state.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The shared secret.
    pub secret: Secret,
    /// The last time step a code was accepted for.
    pub last_used_step: Option<u64>,
}

impl TotpState {
    /// Checks `code` at `unix_time`; returns the matched step.
    pub fn verify(&self, code: &str, unix_time: u64) -> Option<u64> {
        let _ = (code, unix_time);
        None
    }
}
