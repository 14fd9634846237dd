//! PLAIN (RFC 4616): the client sends its identities and password in one message. Safe only
//! over an encrypted connection, which the protocol sessions enforce.

use std::sync::OnceLock;

use crate::credentials::Credentials;
use crate::sasl::{Context, Failure, MAX_MESSAGE, MechanismName, Progress};
use crate::sasl::{ServerMechanism, plaintext_success};

/// `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, with each part at most 255 octets
/// and free of NUL (RFC 4616 section 2).
struct PlainMessage {
    authorization_id: String,
    authentication_id: String,
    password: Vec<u8>,
}

impl PlainMessage {
    fn parse(message: &[u8]) -> Option<Self> {
        let mut parts = message.split(|&b| b == 0);
        let (authzid, authcid, passwd) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || authcid.is_empty() || passwd.is_empty() {
            return None;
        }
        if [authzid, authcid, passwd]
            .iter()
            .any(|part| part.len() > 255)
        {
            return None;
        }

        // RFC 4616 section 2: the parts are UTF-8.
        Some(Self {
            authorization_id: String::from_utf8(authzid.to_vec()).ok()?,
            authentication_id: String::from_utf8(authcid.to_vec()).ok()?,
            password: std::str::from_utf8(passwd).ok()?.as_bytes().to_vec(),
        })
    }
}

/// The server side of PLAIN.
#[derive(Default)]
pub struct Plain {
    message: Option<PlainMessage>,
    done: bool,
}

impl Plain {
    /// A new exchange.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&mut self, message: &[u8]) -> Progress {
        if self.done || self.message.is_some() || message.len() > MAX_MESSAGE {
            return self.fail(Failure::Malformed);
        }
        let Some(parsed) = PlainMessage::parse(message) else {
            return self.fail(Failure::Malformed);
        };

        let authentication_id = parsed.authentication_id.clone();
        self.message = Some(parsed);
        Progress::Lookup { authentication_id }
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.done = true;
        self.message = None;
        Progress::Failure(failure)
    }
}

impl ServerMechanism for Plain {
    fn name(&self) -> MechanismName {
        MechanismName::new("PLAIN").expect("valid mechanism name")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        match initial_response {
            Some(message) => self.read(message),
            // Client-first without an initial response: an empty challenge asks for it.
            None => Progress::Challenge(Vec::new()),
        }
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        self.read(response)
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, context: &Context) -> Progress {
        let Some(message) = self.message.take().filter(|_| !self.done) else {
            return self.fail(Failure::Malformed);
        };
        self.done = true;

        let Some(credentials) = credentials else {
            equalize_unknown_user(&message.password);
            return Progress::Failure(Failure::InvalidCredentials);
        };
        plaintext_success(
            credentials,
            &message.authorization_id,
            &message.password,
            context,
        )
    }
}

/// The client side of PLAIN, for outbound sessions.
pub struct PlainClient {
    authorization_id: String,
    authentication_id: String,
    password: crate::Secret,
}

impl PlainClient {
    /// Logs in as `authentication_id`; `authorization_id` is usually empty (act as myself).
    pub fn new(authorization_id: &str, authentication_id: &str, password: &str) -> Self {
        Self {
            authorization_id: authorization_id.to_owned(),
            authentication_id: authentication_id.to_owned(),
            password: crate::Secret::new(password.as_bytes().to_vec()),
        }
    }

    fn message(&self) -> Vec<u8> {
        let parts = [
            self.authorization_id.as_bytes(),
            self.authentication_id.as_bytes(),
            self.password.expose(),
        ];
        parts.join(&0u8)
    }
}

impl crate::sasl::ClientMechanism for PlainClient {
    fn name(&self) -> MechanismName {
        MechanismName::new("PLAIN").expect("valid mechanism name")
    }

    fn initial_response(&mut self) -> Option<Vec<u8>> {
        Some(self.message())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, crate::sasl::ClientError> {
        // Only the empty challenge of a server that ignored the initial response is valid.
        if challenge.is_empty() {
            Ok(self.message())
        } else {
            Err(crate::sasl::ClientError::UnexpectedChallenge)
        }
    }
}

/// Spends the time a real password check would, so that a reply to an unknown user comes
/// as late as one to a wrong password.
pub(crate) fn equalize_unknown_user(password: &[u8]) {
    static DUMMY: OnceLock<Option<crate::credentials::PasswordSecrets>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let options = crate::credentials::DeriveOptions {
            cram_md5: false,
            scram_iterations: None,
            ..Default::default()
        };
        crate::credentials::PasswordSecrets::derive("", b"unused", &options).ok()
    });
    if let Some(dummy) = dummy {
        let _ = dummy.verify(password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::tests::account;
    use crate::sasl::CredentialUsed;

    fn run(message: &[u8], credentials: Option<&Credentials>) -> Progress {
        let mut plain = Plain::new();
        match plain.start(Some(message)) {
            Progress::Lookup { authentication_id } => {
                if let Some(credentials) = credentials {
                    assert_eq!(authentication_id, credentials.authentication_id);
                }
                plain.credentials(credentials, &Context::new(0))
            }
            other => other,
        }
    }

    #[test]
    fn rfc_4616_examples() {
        // Section 4, first exchange: "dGVzdAB0ZXN0AHRlc3Q=" is authzid, authcid and password
        // all "test", which succeeds: acting as oneself needs no permission.
        let test = account("test", "test");
        let Progress::Success(ok) = run(b"test\0test\0test", Some(&test)) else {
            panic!("test logs in")
        };
        assert_eq!(
            (ok.authentication_id.as_str(), ok.authorization_id.as_str()),
            ("test", "test")
        );
        assert_eq!(ok.credential, CredentialUsed::Password);

        // Section 4, second exchange: "Kurt" with password "xipj3plmq" asks to act as "Ursel"
        // and is not authorized to.
        let mut kurt = account("Kurt", "xipj3plmq");
        let message = b"Ursel\0Kurt\0xipj3plmq";
        assert_eq!(
            run(message, Some(&kurt)),
            Progress::Failure(Failure::InvalidCredentials)
        );

        // Once Kurt's account may act as Ursel, the same message succeeds.
        kurt.authorized_ids.push("Ursel".into());
        let Progress::Success(ok) = run(message, Some(&kurt)) else {
            panic!("proxy allowed")
        };
        assert_eq!(ok.authorization_id, "Ursel");
    }

    #[test]
    fn wrong_password_and_unknown_user_look_alike() {
        let tim = account("tim", "right");
        assert_eq!(
            run(b"\0tim\0wrong", Some(&tim)),
            Progress::Failure(Failure::InvalidCredentials)
        );
        assert_eq!(
            run(b"\0nobody\0wrong", None),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn malformed_messages() {
        for message in [
            &b""[..],
            b"tim",
            b"\0tim",
            b"\0\0password",
            b"\0tim\0",
            b"\0tim\0pass\0extra",
            b"\0t\xffm\0pass",
            &[b'a'; 300],
        ] {
            assert_eq!(
                run(message, None),
                Progress::Failure(Failure::Malformed),
                "{message:?}"
            );
        }
        let long = [b"\0tim\0".as_slice(), &[b'p'; 256]].concat();
        assert_eq!(run(&long, None), Progress::Failure(Failure::Malformed));
        let over_long = vec![b'x'; MAX_MESSAGE + 1];
        assert_eq!(run(&over_long, None), Progress::Failure(Failure::Malformed));
    }

    #[test]
    fn client_and_server_agree() {
        use crate::sasl::ClientMechanism;
        let tim = account("tim", "pass");
        let mut client = PlainClient::new("", "tim", "pass");
        let message = client.initial_response().unwrap();
        assert_eq!(message, b"\0tim\0pass");
        assert!(matches!(run(&message, Some(&tim)), Progress::Success(_)));
        assert_eq!(client.respond(b"").unwrap(), message);
        assert!(client.respond(b"x").is_err());
    }

    #[test]
    fn steps_out_of_order() {
        let mut plain = Plain::new();
        assert_eq!(plain.start(None), Progress::Challenge(vec![]));
        assert_eq!(
            plain.credentials(None, &Context::new(0)),
            Progress::Failure(Failure::Malformed),
            "credentials nobody asked for"
        );
        assert_eq!(
            plain.respond(b"\0a\0b"),
            Progress::Failure(Failure::Malformed)
        );

        let mut plain = Plain::new();
        assert!(matches!(
            plain.start(Some(b"\0a\0b")),
            Progress::Lookup { .. }
        ));
        assert_eq!(
            plain.respond(b"\0a\0b"),
            Progress::Failure(Failure::Malformed)
        );
    }
}
