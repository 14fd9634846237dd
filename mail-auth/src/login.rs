//! LOGIN (draft-murchison-sasl-login): the user name and the password in two base64 steps.
//! Obsolete but still what many clients (Outlook among them) try first, so servers offer it
//! over TLS.

use crate::credentials::Credentials;
use crate::plain::equalize_unknown_user;
use crate::sasl::plaintext_success;
use crate::sasl::{Context, Failure, MAX_MESSAGE, MechanismName, Progress, ServerMechanism};

/// Where a LOGIN exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// "Username:" was sent.
    AwaitingUsername,
    /// "Password:" was sent.
    AwaitingPassword {
        username: String,
    },
    /// Both came; the credentials are being looked up.
    AwaitingCredentials {
        username: String,
        password: Vec<u8>,
    },
    Done,
}

/// The server side of LOGIN.
pub struct Login {
    state: State,
}

impl Default for Login {
    fn default() -> Self {
        Self::new()
    }
}

impl Login {
    /// A new exchange.
    pub fn new() -> Self {
        Self {
            state: State::AwaitingUsername,
        }
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.state = State::Done;
        Progress::Failure(failure)
    }

    fn username(&mut self, response: &[u8]) -> Progress {
        let username = match std::str::from_utf8(response) {
            Ok(name) if !name.is_empty() && name.len() <= 255 && !name.contains('\0') => name,
            _ => return self.fail(Failure::Malformed),
        };

        self.state = State::AwaitingPassword {
            username: username.to_owned(),
        };
        // The draft's prompt text; clients match on it, so it is kept exactly.
        Progress::Challenge(b"Password:".to_vec())
    }
}

impl ServerMechanism for Login {
    fn name(&self) -> MechanismName {
        MechanismName::new("LOGIN").expect("valid mechanism name")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        // Some clients send the user name as an initial response (RFC 4954 SASL-IR).
        match initial_response {
            Some(username) if !username.is_empty() => self.username(username),
            _ => Progress::Challenge(b"Username:".to_vec()),
        }
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        if response.len() > MAX_MESSAGE {
            return self.fail(Failure::Malformed);
        }

        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingUsername => self.username(response),
            State::AwaitingPassword { username } => {
                if response.is_empty() || response.len() > 255 {
                    return self.fail(Failure::Malformed);
                }
                self.state = State::AwaitingCredentials {
                    username: username.clone(),
                    password: response.to_vec(),
                };
                Progress::Lookup {
                    authentication_id: username,
                }
            }
            State::AwaitingCredentials { .. } | State::Done => self.fail(Failure::Malformed),
        }
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, context: &Context) -> Progress {
        let State::AwaitingCredentials { password, .. } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return self.fail(Failure::Malformed);
        };

        match credentials {
            // LOGIN has no authorization identity: the user acts as themselves.
            Some(credentials) => plaintext_success(credentials, "", &password, context),
            None => {
                equalize_unknown_user(&password);
                Progress::Failure(Failure::InvalidCredentials)
            }
        }
    }
}

/// The client side of LOGIN, for outbound sessions: answers the first prompt with the user
/// name and the second with the password, whatever the prompts say.
pub struct LoginClient {
    username: String,
    password: crate::Secret,
    prompts: u8,
}

impl LoginClient {
    /// Logs in as `username`.
    pub fn new(username: &str, password: &str) -> Self {
        let password = crate::Secret::new(password.as_bytes().to_vec());
        Self {
            username: username.to_owned(),
            password,
            prompts: 0,
        }
    }
}

impl crate::sasl::ClientMechanism for LoginClient {
    fn name(&self) -> MechanismName {
        MechanismName::new("LOGIN").expect("valid mechanism name")
    }

    fn initial_response(&mut self) -> Option<Vec<u8>> {
        None
    }

    fn respond(&mut self, _prompt: &[u8]) -> Result<Vec<u8>, crate::sasl::ClientError> {
        self.prompts += 1;
        match self.prompts {
            1 => Ok(self.username.as_bytes().to_vec()),
            2 => Ok(self.password.expose().to_vec()),
            _ => Err(crate::sasl::ClientError::UnexpectedChallenge),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::tests::account;

    #[test]
    fn two_prompts_then_success() {
        let alice = account("alice", "secret");
        let mut login = Login::new();
        assert_eq!(
            login.start(None),
            Progress::Challenge(b"Username:".to_vec())
        );
        assert_eq!(
            login.respond(b"alice"),
            Progress::Challenge(b"Password:".to_vec())
        );
        assert_eq!(
            login.respond(b"secret"),
            Progress::Lookup {
                authentication_id: "alice".into()
            }
        );
        let Progress::Success(ok) = login.credentials(Some(&alice), &Context::new(0)) else {
            panic!("alice logs in")
        };
        assert_eq!(ok.authorization_id, "alice");
        assert_eq!(
            login.respond(b"again"),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn client_and_server_agree() {
        use crate::sasl::ClientMechanism;
        let alice = account("alice", "secret");
        let mut client = LoginClient::new("alice", "secret");
        let mut server = Login::new();
        assert_eq!(client.initial_response(), None);
        let Progress::Challenge(prompt) = server.start(None) else {
            panic!()
        };
        let Progress::Challenge(prompt) = server.respond(&client.respond(&prompt).unwrap()) else {
            panic!()
        };
        assert!(matches!(
            server.respond(&client.respond(&prompt).unwrap()),
            Progress::Lookup { .. }
        ));
        assert!(matches!(
            server.credentials(Some(&alice), &Context::new(0)),
            Progress::Success(_)
        ));
        assert!(client.respond(b"more?").is_err());
    }

    #[test]
    fn user_name_as_initial_response() {
        let mut login = Login::new();
        assert_eq!(
            login.start(Some(b"alice")),
            Progress::Challenge(b"Password:".to_vec())
        );
        assert!(matches!(login.respond(b"x"), Progress::Lookup { .. }));
    }

    #[test]
    fn failures() {
        let alice = account("alice", "secret");
        let mut login = Login::new();
        login.start(None);
        login.respond(b"alice");
        login.respond(b"wrong");
        assert_eq!(
            login.credentials(Some(&alice), &Context::new(0)),
            Progress::Failure(Failure::InvalidCredentials)
        );

        let mut login = Login::new();
        login.start(None);
        login.respond(b"nobody");
        login.respond(b"wrong");
        assert_eq!(
            login.credentials(None, &Context::new(0)),
            Progress::Failure(Failure::InvalidCredentials)
        );

        for bad_user in [&b""[..], b"a\0b", b"\xff", &[b'u'; 256]] {
            let mut login = Login::new();
            login.start(None);
            assert_eq!(
                login.respond(bad_user),
                Progress::Failure(Failure::Malformed)
            );
        }
        let mut login = Login::new();
        login.start(None);
        login.respond(b"alice");
        assert_eq!(
            login.respond(&[b'p'; 300]),
            Progress::Failure(Failure::Malformed)
        );

        let mut login = Login::new();
        assert_eq!(
            login.credentials(Some(&alice), &Context::new(0)),
            Progress::Failure(Failure::Malformed),
            "credentials before the password"
        );
    }
}
