//! Time-based one-time passwords: TOTP (RFC 6238) over HOTP (RFC 4226).
//!
//! The parameters are the ones every authenticator app understands without being told:
//! HMAC-SHA-1, 6 digits, a 30-second time step counted from the Unix epoch (T0 = 0).
//!
//! Nothing here reads a clock: the host passes the Unix time in seconds, so the code can be
//! tested at any instant. Nothing here stores state either: [`TotpState::verify`] returns the
//! time step it accepted, and the host must save it as [`TotpState::last_used_step`] so the
//! same code (or an older one) is refused next time (RFC 6238 §5.2).
//!
//! ```
//! use mail_auth::totp::TotpState;
//!
//! let mut state = TotpState::generate().expect("the OS has randomness");
//! let uri = state.otpauth_uri("Example Mail", "alice@example.org"); // show as a QR code
//! assert!(uri.starts_with("otpauth://totp/"));
//!
//! let now = 1_700_000_000;
//! let code = state.code_at(now);
//! let step = state.verify(&code, now).expect("a fresh code is accepted");
//! state.last_used_step = Some(step);
//! assert_eq!(state.verify(&code, now), None, "and only once");
//! ```

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::Secret;
use crate::credentials::{CredentialError, random_bytes};

/// Digits in a code.
pub const DIGITS: usize = 6;

/// Length of a time step in seconds (RFC 6238 §5.2 recommends 30).
pub const STEP_SECONDS: u64 = 30;

/// Length of a generated secret: 160 bits, as RFC 4226 §4 (R6) recommends.
pub const SECRET_LEN: usize = 20;

/// Shortest secret [`TotpState::from_base32`] accepts: RFC 4226 §4 (R6) requires 128 bits.
pub const MIN_SECRET_LEN: usize = 16;

/// Steps accepted either side of the current one, for clock drift and for the time the user
/// takes to type the code (RFC 6238 §5.2 recommends at most one).
const WINDOW: u64 = 1;

/// An account's TOTP state.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The shared secret.
    pub secret: Secret,
    /// The last time step a code was accepted for; codes of this step or older are refused.
    pub last_used_step: Option<u64>,
}

impl fmt::Debug for TotpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand so that no future change to `Secret` can leak the key here.
        f.debug_struct("TotpState")
            .field("secret", &"<redacted>")
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

/// Why a TOTP secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The text is not base32.
    #[error("the TOTP secret is not valid base32")]
    InvalidBase32,
    /// The secret has fewer than [`MIN_SECRET_LEN`] bytes.
    #[error("the TOTP secret is shorter than 128 bits")]
    SecretTooShort,
}

impl TotpState {
    /// A state for `secret` that has never accepted a code.
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            last_used_step: None,
        }
    }

    /// A state with a new random secret of [`SECRET_LEN`] bytes.
    pub fn generate() -> Result<Self, CredentialError> {
        let secret = random_bytes::<SECRET_LEN>()?;
        Ok(Self::new(Secret::new(secret.to_vec())))
    }

    /// A state for a secret given in base32, as authenticator apps display it. Case, spaces
    /// and `=` padding are ignored, since people copy these secrets by hand.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let cleaned = cleaned.trim_end_matches('=');

        let secret = data_encoding::BASE32_NOPAD_NOCASE
            .decode(cleaned.as_bytes())
            .map_err(|_| TotpError::InvalidBase32)?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(TotpError::SecretTooShort);
        }
        Ok(Self::new(Secret::new(secret)))
    }

    /// The secret in unpadded upper-case base32, for a user to type into an app.
    pub fn secret_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(self.secret.expose())
    }

    /// The code for the time step that contains `unix_time`.
    pub fn code_at(&self, unix_time: u64) -> String {
        let code = self.code_for_step(unix_time / STEP_SECONDS);
        code.iter().copied().map(char::from).collect()
    }

    /// Checks `code` at `unix_time`. Accepts the current step and one step either way, but
    /// never a step at or before [`last_used_step`](Self::last_used_step), so a code works
    /// once. Returns the step that matched; the host must store it as the new
    /// `last_used_step`. A code that is not exactly six ASCII digits is refused.
    pub fn verify(&self, code: &str, unix_time: u64) -> Option<u64> {
        let code = code.as_bytes();
        if code.len() != DIGITS || !code.iter().all(u8::is_ascii_digit) {
            return None;
        }

        // Every step in the window is computed and compared, with no early exit, so the time
        // taken says nothing about which step (if any) matched.
        let current = unix_time / STEP_SECONDS;
        let first = current.saturating_sub(WINDOW);
        let mut matched = None;
        for step in first..=current + WINDOW {
            let equal: bool = self.code_for_step(step).ct_eq(code).into();
            let fresh = self.last_used_step.is_none_or(|last| step > last);
            if equal && fresh {
                matched = Some(step);
            }
        }
        matched
    }

    /// The Key Uri Format link that authenticator apps read, usually shown as a QR code:
    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
    /// The issuer appears twice because older apps read it only from the label, newer ones
    /// from the parameter.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            account = percent_encode(account),
            secret = self.secret_base32(),
        )
    }

    fn code_for_step(&self, step: u64) -> [u8; DIGITS] {
        let value = hotp(self.secret.expose(), step) % 10u32.pow(DIGITS as u32);
        let mut code = [b'0'; DIGITS];
        let mut rest = value;
        for digit in code.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        code
    }
}

/// HOTP (RFC 4226 §5.3) before the final modulo: HMAC-SHA-1 of the big-endian counter,
/// dynamically truncated to 31 bits. Taking it modulo 10^d gives the d-digit code.
fn hotp(key: &[u8], counter: u64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();

    // The low nibble of the last byte picks where the four bytes are taken from; the top bit
    // is dropped so the result reads the same as a signed or an unsigned integer.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let bytes = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    u32::from_be_bytes(bytes) & 0x7fff_ffff
}

/// Percent-encodes everything outside RFC 3986's unreserved set, so a label or issuer with
/// spaces, `@` or `:` cannot change the URI's structure.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 seed of RFC 6238 appendix B.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B, SHA-1 rows: Unix time and the 8-digit code.
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_state() -> TotpState {
        TotpState::new(Secret::new(RFC_SECRET.to_vec()))
    }

    #[test]
    fn totp_rfc6238_vectors_with_eight_digits() {
        for (time, expected) in RFC_VECTORS {
            let code = hotp(RFC_SECRET, time / STEP_SECONDS) % 100_000_000;
            assert_eq!(format!("{code:08}"), expected, "time {time}");
        }
    }

    #[test]
    fn totp_rfc6238_vectors_with_six_digits() {
        let state = rfc_state();
        for (time, expected) in RFC_VECTORS {
            let six = &expected[2..];
            assert_eq!(state.code_at(time), six, "time {time}");
            assert_eq!(state.verify(six, time), Some(time / STEP_SECONDS));
        }
    }

    #[test]
    fn totp_window_accepts_one_step_either_way() {
        let state = rfc_state();
        let now = 1_234_567_890;
        let step = now / STEP_SECONDS;

        let before = state.code_at(now - STEP_SECONDS);
        let after = state.code_at(now + STEP_SECONDS);
        assert_eq!(state.verify(&before, now), Some(step - 1));
        assert_eq!(state.verify(&after, now), Some(step + 1));
    }

    #[test]
    fn totp_window_refuses_two_steps_away() {
        let state = rfc_state();
        let now = 1_234_567_890;

        let too_old = state.code_at(now - 2 * STEP_SECONDS);
        let too_new = state.code_at(now + 2 * STEP_SECONDS);
        assert_eq!(state.verify(&too_old, now), None);
        assert_eq!(state.verify(&too_new, now), None);
    }

    #[test]
    fn totp_window_at_the_epoch_does_not_underflow() {
        let state = rfc_state();
        assert_eq!(state.verify(&state.code_at(0), 0), Some(0));
        assert_eq!(state.verify(&state.code_at(30), 0), Some(1));
    }

    #[test]
    fn totp_replay_is_refused() {
        let mut state = rfc_state();
        let now = 1_111_111_111;
        let code = state.code_at(now);

        let step = state.verify(&code, now).expect("first use");
        state.last_used_step = Some(step);
        assert_eq!(state.verify(&code, now), None);
        assert_eq!(
            state.verify(&code, now + 10),
            None,
            "still inside the window"
        );
    }

    #[test]
    fn totp_older_step_than_last_used_is_refused() {
        let mut state = rfc_state();
        let now = 1_111_111_111;
        let step = now / STEP_SECONDS;

        // A code from the next step was used (the user's phone runs fast).
        state.last_used_step = Some(step + 1);
        assert_eq!(state.verify(&state.code_at(now), now), None);
        assert_eq!(state.verify(&state.code_at(now - STEP_SECONDS), now), None);

        // Once time moves on, codes newer than the used one work again.
        let later = now + 2 * STEP_SECONDS;
        assert_eq!(state.verify(&state.code_at(later), later), Some(step + 2));
    }

    #[test]
    fn totp_malformed_codes_are_refused() {
        let state = rfc_state();
        let now = 59;
        let good = state.code_at(now);
        assert_eq!(good, "287082");

        for code in [
            "28708",
            "2870820",
            "94287082",
            "",
            "28708a",
            "abcdef",
            " 287082",
            "287082 ",
            "+28708",
            "٢٨٧٠٨٢",
            "28708²",
        ] {
            assert_eq!(state.verify(code, now), None, "{code:?}");
        }
    }

    #[test]
    fn totp_otpauth_uri_exact() {
        let state = rfc_state();
        assert_eq!(
            state.otpauth_uri("Example Mail", "alice@example.org"),
            "otpauth://totp/Example%20Mail:alice%40example.org\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Mail\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn totp_otpauth_uri_escapes_structure_characters() {
        let state = rfc_state();
        let uri = state.otpauth_uri("a:b&c", "x?y=z#é");
        assert!(uri.starts_with("otpauth://totp/a%3Ab%26c:x%3Fy%3Dz%23%C3%A9?secret="));
        assert!(uri.contains("&issuer=a%3Ab%26c&"));
    }

    #[test]
    fn totp_base32_round_trip() {
        let state = rfc_state();
        let text = state.secret_base32();
        assert_eq!(text, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpState::from_base32(&text), Ok(state.clone()));

        // As a person might type it from an app's screen.
        let typed = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(TotpState::from_base32(typed), Ok(state));

        let generated = TotpState::generate().expect("randomness");
        let parsed = TotpState::from_base32(&generated.secret_base32()).expect("valid");
        assert_eq!(parsed.secret, generated.secret);
    }

    #[test]
    fn totp_bad_base32_is_refused() {
        assert_eq!(
            TotpState::from_base32("not base32!"),
            Err(TotpError::InvalidBase32)
        );
        assert_eq!(
            TotpState::from_base32("GEZDGNBV"),
            Err(TotpError::SecretTooShort)
        );
    }

    #[test]
    fn totp_generate_makes_distinct_160_bit_secrets() {
        let a = TotpState::generate().expect("randomness");
        let b = TotpState::generate().expect("randomness");
        assert_eq!(a.secret.expose().len(), SECRET_LEN);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.last_used_step, None);
    }

    #[test]
    fn totp_debug_shows_no_secret() {
        let mut state = rfc_state();
        state.last_used_step = Some(7);
        let debug = format!("{state:?}");
        assert_eq!(
            debug,
            r#"TotpState { secret: "<redacted>", last_used_step: Some(7) }"#
        );
        assert!(!debug.contains("1234567890"));
        assert!(!debug.contains(&state.secret_base32()));
    }
}
