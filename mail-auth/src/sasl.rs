//! The SASL abstraction (RFC 4422) that every protocol session speaks.
//!
//! A server-side exchange is a step machine: the client sends bytes (already decoded from the
//! protocol's base64 framing), the mechanism answers with a [`ServerStep`]. The client side is
//! the mirror image, [`ClientMechanism`].

use std::fmt;

use crate::credentials::Credentials;

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

/// The server side of a SASL mechanism: a step machine over the client's messages.
///
/// # Contract
///
/// The host calls [`ServerMechanism::start`] once, with the client's initial response if it
/// sent one, then [`ServerMechanism::respond`] with each client message that answers a
/// [`Progress::Challenge`], and [`ServerMechanism::credentials`] once after a
/// [`Progress::Lookup`]. A mechanism:
///
/// - MUST ask for credentials at most once, and MUST NOT report success without having
///   checked the client's proof against them;
/// - MUST answer a call out of order (a response after success, credentials it did not
///   ask for) with [`Failure::Malformed`], never with a panic;
/// - MUST treat an unknown account exactly as a wrong password, in its reply and, where it
///   can, in its work (the client must not learn which accounts exist);
/// - SHOULD bound every buffer by [`MAX_MESSAGE`].
pub trait ServerMechanism: Send {
    /// The mechanism's name.
    fn name(&self) -> MechanismName;

    /// Begins the exchange; `initial_response` is `None` when the client sent none (the
    /// protocol then sends an empty challenge first, if the mechanism is client-first).
    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress;

    /// Reads the client's answer to the last challenge.
    fn respond(&mut self, response: &[u8]) -> Progress;

    /// Receives the stored credentials the mechanism asked for (`None` when there is no
    /// such account) and checks the client against them.
    fn credentials(&mut self, credentials: Option<&Credentials>, context: &Context) -> Progress;
}

/// Finishes PLAIN and LOGIN: checks a cleartext password and the authorization identity.
pub(crate) fn plaintext_success(
    credentials: &Credentials,
    authorization_id: &str,
    password: &[u8],
    context: &Context,
) -> Progress {
    // The password is checked even when the identity is refused, so both cost the same.
    let used = credentials.verify_plaintext(password, context);
    let authorization_id = credentials.authorize(authorization_id);
    match (used, authorization_id) {
        (Some((credential, totp_step)), Some(authorization_id)) => {
            Progress::Success(Authenticated {
                authentication_id: credentials.authentication_id.clone(),
                authorization_id,
                credential,
                totp_step,
                additional_data: None,
            })
        }
        _ => Progress::Failure(Failure::InvalidCredentials),
    }
}

/// The longest client message a built-in mechanism accepts.
pub const MAX_MESSAGE: usize = 8192;

/// What the host passes in when a mechanism checks credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// Seconds since the Unix epoch, for time-based one-time passwords.
    pub unix_time: u64,
}

impl Context {
    /// A context at `unix_time`.
    pub fn new(unix_time: u64) -> Self {
        Self { unix_time }
    }
}

/// What a server mechanism says after each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Send this challenge; the client's answer goes to [`ServerMechanism::respond`].
    Challenge(Vec<u8>),
    /// Look up the stored credentials of this authentication identity and hand them to
    /// [`ServerMechanism::credentials`]. Before the lookup, the host checks its limiter for
    /// the account and ends the exchange with [`Failure::TooManyAttempts`] if it is spent.
    Lookup {
        /// The authentication identity (the user name the client gave).
        authentication_id: String,
    },
    /// The client is authenticated.
    Success(Authenticated),
    /// The exchange failed.
    Failure(Failure),
}

impl Progress {
    /// The step to hand to a protocol session, or `None` for [`Progress::Lookup`], which the
    /// host resolves itself.
    pub fn to_server_step(&self) -> Option<ServerStep> {
        Some(match self {
            Self::Challenge(challenge) => ServerStep::Challenge(challenge.clone()),
            Self::Success(authenticated) => ServerStep::Success {
                authorization_id: authenticated.authorization_id.clone(),
                additional_data: authenticated.additional_data.clone(),
            },
            Self::Failure(failure) => ServerStep::Failure(*failure),
            Self::Lookup { .. } => return None,
        })
    }
}

/// A successful authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Whose credentials were checked.
    pub authentication_id: String,
    /// Who the session acts as: the authentication identity unless the client asked for
    /// another one it may assume ([`Credentials::authorized_ids`]).
    pub authorization_id: String,
    /// Which of the account's secrets matched.
    pub credential: CredentialUsed,
    /// The TOTP time step that was used, which the host must store
    /// ([`crate::totp::TotpState::last_used_step`]) so the same code is refused next time.
    pub totp_step: Option<u64>,
    /// Additional data with success (such as SCRAM's server signature).
    pub additional_data: Option<Vec<u8>>,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("authentication_id", &self.authentication_id)
            .field("authorization_id", &self.authorization_id)
            .field("credential", &self.credential)
            .field("totp_step", &self.totp_step)
            .field(
                "additional_data",
                &self.additional_data.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// Which secret of an account authenticated the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialUsed {
    /// The account's password (with its TOTP code when two-factor is on).
    Password,
    /// The app password with this label.
    AppPassword(String),
    /// A TLS client certificate, through EXTERNAL.
    External,
    /// A mechanism of the host's own (for example a GSSAPI provider).
    Other(String),
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

    /// Called when the server reports success. A mechanism that authenticates the server
    /// too (SCRAM) returns an error when the server never proved itself, and the session
    /// then treats the exchange as failed.
    fn finish(&mut self) -> Result<(), ClientError> {
        Ok(())
    }
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
