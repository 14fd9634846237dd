//! EXTERNAL (RFC 4422 appendix A): the client is authenticated by something outside SASL,
//! here a TLS client certificate the host has verified and mapped to an account.

use crate::credentials::Credentials;
use crate::sasl::{Authenticated, Context, CredentialUsed, Failure, MAX_MESSAGE, MechanismName};
use crate::sasl::{Progress, ServerMechanism};

/// The server side of EXTERNAL.
pub struct External {
    /// The account the host's TLS layer established, if any.
    certificate_id: Option<String>,
    /// The authorization identity the client asked for, once it has.
    requested: Option<String>,
    done: bool,
}

impl External {
    /// An exchange on a connection whose verified client certificate maps to
    /// `certificate_id` (`None` when the client presented none: EXTERNAL then fails).
    pub fn new(certificate_id: Option<String>) -> Self {
        Self {
            certificate_id,
            requested: None,
            done: false,
        }
    }

    fn read(&mut self, message: &[u8]) -> Progress {
        if self.done || self.requested.is_some() || message.len() > MAX_MESSAGE {
            return self.fail(Failure::Malformed);
        }
        // `message = [authzid]`, UTF-8 without NUL.
        let Some(requested) = std::str::from_utf8(message)
            .ok()
            .filter(|m| !m.contains('\0'))
        else {
            return self.fail(Failure::Malformed);
        };
        let Some(certificate_id) = self.certificate_id.clone() else {
            return self.fail(Failure::InvalidCredentials);
        };

        self.requested = Some(requested.to_owned());
        Progress::Lookup {
            authentication_id: certificate_id,
        }
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.done = true;
        Progress::Failure(failure)
    }
}

impl ServerMechanism for External {
    fn name(&self) -> MechanismName {
        MechanismName::new("EXTERNAL").expect("valid mechanism name")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        match initial_response {
            Some(message) => self.read(message),
            None => Progress::Challenge(Vec::new()),
        }
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        self.read(response)
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, _: &Context) -> Progress {
        let Some(requested) = self.requested.take().filter(|_| !self.done) else {
            return self.fail(Failure::Malformed);
        };
        self.done = true;

        let authorized = credentials.and_then(|c| Some((c, c.authorize(&requested)?)));
        match authorized {
            Some((credentials, authorization_id)) => Progress::Success(Authenticated {
                authentication_id: credentials.authentication_id.clone(),
                authorization_id,
                credential: CredentialUsed::External,
                totp_step: None,
                additional_data: None,
            }),
            None => Progress::Failure(Failure::InvalidCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_identity_logs_in() {
        let mut account = Credentials::new("alice@example.org");
        let mut external = External::new(Some("alice@example.org".into()));
        let lookup = external.start(Some(b""));
        assert_eq!(
            lookup,
            Progress::Lookup {
                authentication_id: "alice@example.org".into()
            }
        );
        let Progress::Success(ok) = external.credentials(Some(&account), &Context::new(0)) else {
            panic!("certificate accepted")
        };
        assert_eq!(ok.credential, CredentialUsed::External);

        let mut external = External::new(Some("alice@example.org".into()));
        external.start(None);
        external.respond(b"shared@example.org");
        assert_eq!(
            external.credentials(Some(&account), &Context::new(0)),
            Progress::Failure(Failure::InvalidCredentials)
        );
        account.authorized_ids.push("shared@example.org".into());
        let mut external = External::new(Some("alice@example.org".into()));
        external.start(Some(b"shared@example.org"));
        assert!(matches!(
            external.credentials(Some(&account), &Context::new(0)),
            Progress::Success(Authenticated { authorization_id, .. })
                if authorization_id == "shared@example.org"
        ));
    }

    #[test]
    fn no_certificate_or_no_account_fails() {
        let mut external = External::new(None);
        assert_eq!(
            external.start(Some(b"")),
            Progress::Failure(Failure::InvalidCredentials)
        );

        let mut external = External::new(Some("gone@example.org".into()));
        external.start(Some(b""));
        assert_eq!(
            external.credentials(None, &Context::new(0)),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn malformed_and_out_of_order() {
        let mut external = External::new(Some("a".into()));
        assert_eq!(
            external.start(Some(b"a\0b")),
            Progress::Failure(Failure::Malformed)
        );
        let mut external = External::new(Some("a".into()));
        assert_eq!(
            external.credentials(None, &Context::new(0)),
            Progress::Failure(Failure::Malformed)
        );
        let mut external = External::new(Some("a".into()));
        external.start(Some(b""));
        assert_eq!(external.respond(b""), Progress::Failure(Failure::Malformed));
    }
}
