//! GSSAPI (RFC 4752) carried by the `ServerMechanism` abstraction, with a scripted stand-in
//! for the Kerberos library. This is how a host plugs in a real GSSAPI provider: wrap the
//! library's acceptor context in a type like `Gssapi` below, and the protocol sessions carry
//! it like any built-in mechanism.

use mail_auth::credentials::Credentials;
use mail_auth::sasl::{Authenticated, Context, CredentialUsed, Failure, MechanismName};
use mail_auth::sasl::{Progress, ServerMechanism};

/// What a GSS-API library offers a SASL mechanism (RFC 2743 calls): accepting context
/// tokens, and wrapping and unwrapping messages once the context is established.
trait GssAcceptor: Send {
    /// `GSS_Accept_sec_context`: the reply token, and whether the context is established.
    fn accept(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), ()>;
    /// `GSS_Wrap` with integrity protection.
    fn wrap(&mut self, message: &[u8]) -> Vec<u8>;
    /// `GSS_Unwrap`.
    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, ()>;
    /// The authenticated client principal, once established.
    fn source_name(&self) -> String;
}

/// RFC 4752 section 3.3's security layers.
const NO_SECURITY_LAYER: u8 = 1;

/// Where the exchange is.
enum State {
    /// Exchanging context tokens (section 3.1).
    Context,
    /// The layer offer was sent; the client's choice is awaited (section 3.1, last steps).
    Negotiation,
    /// Waiting for the authorization check on `requested`.
    Authorization {
        principal: String,
        requested: String,
    },
    Done,
}

/// The server side of GSSAPI over any acceptor.
struct Gssapi<A> {
    acceptor: A,
    state: State,
}

impl<A: GssAcceptor> Gssapi<A> {
    fn new(acceptor: A) -> Self {
        Self {
            acceptor,
            state: State::Context,
        }
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.state = State::Done;
        Progress::Failure(failure)
    }

    fn context_token(&mut self, token: &[u8]) -> Progress {
        let Ok((reply, established)) = self.acceptor.accept(token) else {
            return self.fail(Failure::InvalidCredentials);
        };
        if !established {
            return Progress::Challenge(reply);
        }

        // Established: offer the security layers and our maximum message size, wrapped.
        // A final context token, if any, would be sent first; the scripted acceptor has none.
        self.state = State::Negotiation;
        let offer = [NO_SECURITY_LAYER, 0x00, 0x10, 0x00];
        Progress::Challenge(self.acceptor.wrap(&offer))
    }

    fn negotiation(&mut self, response: &[u8]) -> Progress {
        let Ok(choice) = self.acceptor.unwrap(response) else {
            return self.fail(Failure::Malformed);
        };
        if choice.len() < 4 || choice[0] != NO_SECURITY_LAYER {
            // The client must pick one layer we offered; this host offers only "none".
            return self.fail(Failure::Malformed);
        }
        let Ok(requested) = String::from_utf8(choice[4..].to_vec()) else {
            return self.fail(Failure::Malformed);
        };

        // The authorization identity is checked against the store, like any mechanism's.
        let principal = self.acceptor.source_name();
        let account = principal.split('@').next().unwrap_or_default().to_owned();
        self.state = State::Authorization {
            principal,
            requested,
        };
        Progress::Lookup {
            authentication_id: account,
        }
    }
}

impl<A: GssAcceptor> ServerMechanism for Gssapi<A> {
    fn name(&self) -> MechanismName {
        MechanismName::new("GSSAPI").unwrap()
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        match initial_response {
            Some(token) => self.context_token(token),
            None => Progress::Challenge(Vec::new()),
        }
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        match self.state {
            State::Context => self.context_token(response),
            State::Negotiation => self.negotiation(response),
            _ => self.fail(Failure::Malformed),
        }
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, _: &Context) -> Progress {
        let State::Authorization {
            principal,
            requested,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return self.fail(Failure::Malformed);
        };
        let authorized = credentials.and_then(|c| Some((c, c.authorize(&requested)?)));
        match authorized {
            Some((credentials, authorization_id)) => Progress::Success(Authenticated {
                authentication_id: credentials.authentication_id.clone(),
                authorization_id,
                credential: CredentialUsed::Other(format!("GSSAPI {principal}")),
                totp_step: None,
                additional_data: None,
            }),
            None => Progress::Failure(Failure::InvalidCredentials),
        }
    }
}

/// A Kerberos stand-in: two context round trips, then "wrapping" that prefixes a tag.
struct ScriptedAcceptor {
    round: u8,
    principal: &'static str,
}

impl GssAcceptor for ScriptedAcceptor {
    fn accept(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), ()> {
        self.round += 1;
        match (self.round, token) {
            (1, b"AP-REQ part 1") => Ok((b"continue".to_vec(), false)),
            (2, b"AP-REQ part 2") => Ok((Vec::new(), true)),
            _ => Err(()),
        }
    }

    fn wrap(&mut self, message: &[u8]) -> Vec<u8> {
        [b"MIC:".as_slice(), message].concat()
    }

    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, ()> {
        message.strip_prefix(b"MIC:").map(<[u8]>::to_vec).ok_or(())
    }

    fn source_name(&self) -> String {
        self.principal.to_owned()
    }
}

fn mechanism() -> Box<dyn ServerMechanism> {
    Box::new(Gssapi::new(ScriptedAcceptor {
        round: 0,
        principal: "alice@EXAMPLE.ORG",
    }))
}

#[test]
fn the_rfc_4752_sequence_runs_through_the_abstraction() {
    let alice = Credentials::new("alice");
    let mut gssapi = mechanism();

    // Context establishment: as many round trips as the library needs.
    assert_eq!(
        gssapi.start(Some(b"AP-REQ part 1")),
        Progress::Challenge(b"continue".to_vec())
    );
    let Progress::Challenge(offer) = gssapi.respond(b"AP-REQ part 2") else {
        panic!()
    };
    assert_eq!(
        offer, b"MIC:\x01\x00\x10\x00",
        "layer offer and buffer size, wrapped"
    );

    // The client picks "no security layer" and asks to act as itself.
    let lookup = gssapi.respond(b"MIC:\x01\x00\x10\x00");
    assert_eq!(
        lookup,
        Progress::Lookup {
            authentication_id: "alice".into()
        }
    );
    let Progress::Success(ok) = gssapi.credentials(Some(&alice), &Context::new(0)) else {
        panic!("authenticated")
    };
    assert_eq!(ok.authorization_id, "alice");
    assert_eq!(
        ok.credential,
        CredentialUsed::Other("GSSAPI alice@EXAMPLE.ORG".into())
    );

    // What a protocol session receives for each step is the ordinary ServerStep.
    assert!(Progress::Success(ok).to_server_step().is_some());
}

#[test]
fn authorization_identity_is_checked() {
    let mut alice = Credentials::new("alice");
    for allowed in [false, true] {
        if allowed {
            alice.authorized_ids.push("shared".into());
        }
        let mut gssapi = mechanism();
        gssapi.start(Some(b"AP-REQ part 1"));
        gssapi.respond(b"AP-REQ part 2");
        gssapi.respond(b"MIC:\x01\x00\x10\x00shared");
        let outcome = gssapi.credentials(Some(&alice), &Context::new(0));
        assert_eq!(matches!(outcome, Progress::Success(_)), allowed);
    }
}

#[test]
fn bad_tokens_and_layers_fail() {
    let mut gssapi = mechanism();
    assert_eq!(
        gssapi.start(Some(b"forged")),
        Progress::Failure(Failure::InvalidCredentials)
    );

    let mut gssapi = mechanism();
    gssapi.start(Some(b"AP-REQ part 1"));
    gssapi.respond(b"AP-REQ part 2");
    assert_eq!(
        gssapi.respond(b"MIC:\x04\x00\x10\x00"),
        Progress::Failure(Failure::Malformed)
    );

    let mut gssapi = mechanism();
    gssapi.start(Some(b"AP-REQ part 1"));
    gssapi.respond(b"AP-REQ part 2");
    assert_eq!(
        gssapi.respond(b"unwrapped"),
        Progress::Failure(Failure::Malformed)
    );
}
