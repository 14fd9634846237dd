//! SMTP AUTH end to end in memory: the client session with mail-auth's client mechanisms,
//! the server session with mail-auth's server mechanisms behind the login limiter, the way a
//! real host wires them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use mail_auth::authenticator::{Connection, Exchange, Mechanisms, Outcome};
use mail_auth::credentials::{Argon2Params, Credentials, DeriveOptions};
use mail_auth::limiter::{Limiter, LimiterConfig};
use mail_auth::login::LoginClient;
use mail_auth::plain::PlainClient;
use mail_auth::sasl::{ClientMechanism, Context};
use mail_auth::scram::ScramClient;
use smtp_proto::address::Domain;
use smtp_proto::client::{ClientConfig, ClientEvent, ClientSession};
use smtp_proto::server::{Event, ServerConfig, ServerSession};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 4));

/// A server host with one account, "alice" with password "wonderland".
struct Host {
    config: ServerConfig,
    server: ServerSession,
    mechanisms: Mechanisms,
    limiter: Limiter,
    exchange: Option<Exchange>,
    alice: Credentials,
    log: Vec<String>,
}

impl Host {
    fn serve(&mut self, now: Instant) {
        while let Some(event) = self.server.poll_event() {
            match event {
                Event::AuthStart {
                    mechanism,
                    initial_response,
                } => {
                    let connection = Connection::new(self.server.is_tls());
                    let begun = Exchange::begin(
                        &self.mechanisms,
                        &mechanism,
                        &connection,
                        IP,
                        &mut self.limiter,
                        now,
                    );
                    let outcome = match begun {
                        Ok(mut exchange) => {
                            let initial = initial_response.as_ref().map(|r| r.expose());
                            let outcome = exchange.start(initial, &mut self.limiter, now);
                            self.exchange = Some(exchange);
                            outcome
                        }
                        Err(refused) => refused,
                    };
                    self.answer(outcome, now);
                }
                Event::AuthResponse(response) => {
                    let exchange = self.exchange.as_mut().expect("an exchange is open");
                    let outcome = exchange.respond(response.expose(), &mut self.limiter, now);
                    self.answer(outcome, now);
                }
                event if event.needs_answer() => self.server.accept().unwrap(),
                _ => {}
            }
        }
    }

    /// Resolves lookups from the "store" and hands each step to the session.
    fn answer(&mut self, mut outcome: Outcome, now: Instant) {
        loop {
            match outcome {
                Outcome::Lookup(user) => {
                    let found = (user == "alice").then_some(&self.alice);
                    let exchange = self.exchange.as_mut().expect("an exchange is open");
                    outcome = exchange.credentials(found, &Context::new(0), &mut self.limiter, now);
                }
                Outcome::Step(step) => return self.server.auth_step(step).unwrap(),
                Outcome::Finished { step, event, .. } => {
                    self.log.push(event.to_string());
                    self.exchange = None;
                    return self.server.auth_step(step).unwrap();
                }
            }
        }
    }
}

/// Runs a login with `mechanism` over TLS and returns the client's events and the log.
fn login(mechanism: Box<dyn ClientMechanism>, host: &mut Host) -> Vec<ClientEvent> {
    let now = Instant::now();
    // A new connection: a new server session, the same limiter.
    host.server = ServerSession::new(host.config.clone(), now);
    // Implicit TLS on both sides, as on a submissions port (RFC 8314).
    let mut config = ClientConfig::new(Domain::Name("c.example".into()));
    config.tls_on_connect = true;
    let mut client = ClientSession::new(config, now);
    let mut events = Vec::new();
    let mut mechanism = Some(mechanism);
    for _ in 0..50 {
        host.serve(now);
        let to_client = host.server.poll_transmit();
        if let Some(bytes) = &to_client {
            client.handle_input(bytes, now);
        }
        while let Some(event) = client.poll_event() {
            if matches!(event, ClientEvent::Ready { .. })
                && let Some(mechanism) = mechanism.take()
            {
                client.authenticate(mechanism, now).unwrap();
            }
            events.push(event);
        }
        let to_server = client.poll_transmit();
        if let Some(bytes) = &to_server {
            host.server.handle_input(bytes, now);
        }
        if to_client.is_none() && to_server.is_none() {
            break;
        }
    }
    events
}

fn host() -> Host {
    let mut options = DeriveOptions::default();
    options.argon2 = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    let mut alice = Credentials::new("alice");
    alice.set_password(b"wonderland", &options).unwrap();

    let mechanisms = Mechanisms::new("mx.example.org", "smtp");
    let mut config = ServerConfig::new("mx.example.org");
    config.tls = true;
    config.extensions.auth = mechanisms.offered(&Connection::new(true));
    let now = Instant::now();
    Host {
        server: ServerSession::new(config.clone(), now),
        config,
        mechanisms,
        limiter: Limiter::new(LimiterConfig::default()),
        exchange: None,
        alice,
        log: Vec::new(),
    }
}

fn authenticated(events: &[ClientEvent]) -> bool {
    events.contains(&ClientEvent::Authenticated)
}

#[test]
fn plain_login_and_scram_log_in() {
    let mut host = host();
    assert!(authenticated(&login(
        Box::new(PlainClient::new("", "alice", "wonderland")),
        &mut host
    )));
    assert_eq!(host.server.authenticated_id(), Some("alice"));
    assert_eq!(
        host.log,
        ["auth succeeded: ip=198.51.100.4 mechanism=PLAIN account=alice"]
    );

    let mut host = self::host();
    assert!(authenticated(&login(
        Box::new(LoginClient::new("alice", "wonderland")),
        &mut host
    )));

    // SCRAM: the server's signature travels as a last 334, the client checks it, answers
    // with an empty line, and only then gets 235.
    let mut host = self::host();
    let scram = ScramClient::new("alice", "wonderland", None).unwrap();
    let events = login(Box::new(scram), &mut host);
    assert!(authenticated(&events), "{events:?} {:?}", host.log);
    assert_eq!(host.server.authenticated_id(), Some("alice"));
}

#[test]
fn wrong_passwords_fail_then_the_limiter_refuses() {
    let mut host = host();
    for _ in 0..5 {
        let events = login(Box::new(PlainClient::new("", "alice", "guess")), &mut host);
        assert!(events.iter().any(|e| matches!(
            e,
            ClientEvent::AuthFailed { reply, .. } if reply.code() == 535
        )));
    }
    assert!(
        host.log
            .iter()
            .all(|line| line.starts_with("auth failed: ip=198.51.100.4"))
    );

    // The budget is spent: the right password is refused too, with a 454 "try later".
    let events = login(
        Box::new(PlainClient::new("", "alice", "wonderland")),
        &mut host,
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ClientEvent::AuthFailed { reply, .. } if reply.code() == 454
    )));
    assert!(
        host.log
            .last()
            .unwrap()
            .starts_with("auth refused (too many failures)")
    );
}

#[test]
fn a_wrong_scram_password_fails() {
    let mut host = host();
    let scram = ScramClient::new("alice", "looking-glass", None).unwrap();
    let events = login(Box::new(scram), &mut host);
    assert!(!authenticated(&events));
    assert_eq!(host.server.authenticated_id(), None);
}
