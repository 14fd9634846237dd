//! The SASL abstraction (RFC 4422) that every protocol session speaks.
//!
//! A server-side exchange is a step machine: the client sends bytes (already decoded from the
//! protocol's base64 framing), the mechanism answers with a [`ServerStep`]. The client side is
//! the mirror image, [`ClientMechanism`].

use std::fmt;

/// A SASL mechanism name, validated against RFC 4422 section 3.1:
/// `sasl-mech = 1*20mech-char`, `mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE`.
///
/// Names compare case-insensitively on the wire, so the constructor upper-cases its input.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MechanismName(String);

/// Why a string is not a valid [`MechanismName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SASL mechanism name (1 to 20 of A-Z, 0-9, '-', '_')")]
pub struct InvalidMechanismName;

impl MechanismName {
    /// Validates `name` (case-insensitively) and returns it in its canonical upper case.
    pub fn new(name: &str) -> Result<Self, InvalidMechanismName> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if name.is_empty() || name.len() > 20 || !name.bytes().all(valid_char) {
            return Err(InvalidMechanismName);
        }

        Ok(Self(name.to_ascii_uppercase()))
    }

    /// The canonical (upper-case) name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({})", self.0)
    }
}

/// What a server mechanism says after reading one client message.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this challenge and wait for the client's next message.
    Challenge(Vec<u8>),
    /// The client is authenticated.
    Success {
        /// The identity the session now acts as: the authorization identity when the client
        /// asked for one and was allowed to, otherwise the authentication identity.
        authorization_id: String,
        /// Additional data with success (RFC 4422 section 3.6), such as SCRAM's server
        /// signature. Protocols without a field for it send it as a final challenge.
        additional_data: Option<Vec<u8>>,
    },
    /// The exchange failed; the session answers with the protocol's failure reply.
    Failure(Failure),
}

impl fmt::Debug for ServerStep {
    // Challenges and success data can carry secrets (DIGEST-MD5's rspauth, SCRAM's
    // server signature), so only their sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Challenge(data) => write!(f, "Challenge({} bytes)", data.len()),
            Self::Success {
                authorization_id,
                additional_data,
            } => f
                .debug_struct("Success")
                .field("authorization_id", authorization_id)
                .field("additional_data", &additional_data.as_ref().map(Vec::len))
                .finish(),
            Self::Failure(failure) => write!(f, "Failure({failure:?})"),
        }
    }
}

/// Why an exchange failed, in the terms each protocol has a reply for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// Wrong credentials, unknown user, or an authorization identity the user may not assume.
    /// The reply must not say which.
    InvalidCredentials,
    /// The client's message does not follow the mechanism's grammar.
    Malformed,
    /// The client cancelled the exchange.
    Cancelled,
    /// The mechanism is not allowed here (too weak for this account or this connection).
    MechanismTooWeak,
    /// This mechanism needs an encrypted connection first.
    EncryptionRequired,
    /// A fault on the server's side, such as an unreachable credential store; retry later.
    Temporary,
    /// Too many failed attempts; refused without checking, retry later.
    TooManyAttempts,
}

/// The client side of a mechanism, used by client sessions (for example outbound SMTP).
pub trait ClientMechanism {
    /// The mechanism's name as sent in the protocol's AUTH command.
    fn name(&self) -> MechanismName;

    /// The initial response (RFC 4422 section 4), or `None` when the mechanism has none and
    /// must wait for a first challenge. `Some(vec![])` is an empty initial response.
    fn initial_response(&mut self) -> Option<Vec<u8>>;

    /// Answers one server challenge. An error aborts the exchange; the session cancels it.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError>;
}

/// Why a client mechanism cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server's challenge does not follow the mechanism's grammar.
    #[error("malformed server challenge")]
    MalformedChallenge,
    /// The server failed to prove its identity (for example a wrong SCRAM signature).
    #[error("the server could not prove it knows the credentials")]
    ServerNotVerified,
    /// The server sent a challenge when the mechanism expected none.
    #[error("unexpected server challenge")]
    UnexpectedChallenge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_follow_rfc_4422() {
        assert_eq!(
            MechanismName::new("scram-sha-256").unwrap().as_str(),
            "SCRAM-SHA-256"
        );
        assert_eq!(MechanismName::new("X_1").unwrap().as_str(), "X_1");
        assert!(MechanismName::new("").is_err());
        assert!(MechanismName::new("A".repeat(21).as_str()).is_err());
        assert!(MechanismName::new("PLAIN LOGIN").is_err());
        assert!(MechanismName::new("PLÄIN").is_err());
    }

    #[test]
    fn debug_hides_exchange_data() {
        let step = ServerStep::Challenge(b"secret".to_vec());
        assert_eq!(format!("{step:?}"), "Challenge(6 bytes)");
    }
}
