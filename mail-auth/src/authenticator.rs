//! What a host needs around the mechanisms: which to offer on a connection, creating the one
//! a client asks for, and consulting the [`Limiter`] before and after every attempt.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Instant;
//! use mail_auth::authenticator::{Connection, Exchange, Mechanisms, Outcome};
//! use mail_auth::credentials::{Credentials, DeriveOptions, PasswordSecrets};
//! use mail_auth::limiter::{Limiter, LimiterConfig};
//! use mail_auth::sasl::{Context, MechanismName};
//!
//! let mechanisms = Mechanisms::new("mail.example.org", "smtp");
//! let mut limiter = Limiter::new(LimiterConfig::default());
//! let connection = Connection::new(true);
//! let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let now = Instant::now();
//!
//! let plain = MechanismName::new("PLAIN").unwrap();
//! assert!(mechanisms.offered(&connection).contains(&plain));
//! let mut exchange = Exchange::begin(&mechanisms, &plain, &connection, ip, &mut limiter, now)
//!     .expect("offered and not over budget");
//!
//! let Outcome::Lookup(user) = exchange.start(Some(b"\0bob\0hunter2"), &mut limiter, now) else {
//!     panic!("PLAIN asks for credentials")
//! };
//! let mut bob = Credentials::new(user.as_str());
//! bob.password = Some(PasswordSecrets::derive("bob", b"hunter2", &DeriveOptions::default())?);
//!
//! let outcome = exchange.credentials(Some(&bob), &Context::new(0), &mut limiter, now);
//! let Outcome::Finished { authenticated: Some(who), event, .. } = outcome else { panic!() };
//! assert_eq!(who.authorization_id, "bob");
//! assert_eq!(event.to_string(), "auth succeeded: ip=192.0.2.1 mechanism=PLAIN account=bob");
//! # Ok::<(), mail_auth::credentials::CredentialError>(())
//! ```

use std::net::IpAddr;
use std::time::Instant;

use crate::cram_md5::CramMd5;
use crate::credentials::Credentials;
use crate::digest_md5::DigestMd5;
use crate::external::External;
use crate::limiter::{AuthEvent, AuthOutcome, Limiter};
use crate::login::Login;
use crate::plain::Plain;
use crate::sasl::ServerStep;
use crate::sasl::{Authenticated, Context, Failure, MechanismName, Progress, ServerMechanism};
use crate::scram::{ChannelBinding, Scram};

/// The built-in mechanisms a host offers, and what they need to know about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mechanisms {
    /// The server's name, for CRAM-MD5 challenges and DIGEST-MD5's digest-uri.
    pub hostname: String,
    /// The protocol's GSSAPI service name (`smtp`, `imap`, `pop`), for DIGEST-MD5.
    pub service: String,
    /// DIGEST-MD5 realms; DIGEST-MD5 is offered only when there is at least one.
    pub realms: Vec<String>,
    /// Offer PLAIN.
    pub plain: bool,
    /// Offer LOGIN.
    pub login: bool,
    /// Offer CRAM-MD5 (needs the password-equivalent CRAM-MD5 secret in the store).
    pub cram_md5: bool,
    /// Offer DIGEST-MD5 (needs the password-equivalent secret per realm).
    pub digest_md5: bool,
    /// Offer SCRAM-SHA-256, and SCRAM-SHA-256-PLUS where the TLS layer gives binding data.
    pub scram_sha256: bool,
    /// Offer EXTERNAL where the TLS layer verified a client certificate.
    pub external: bool,
    /// Offer mechanisms before TLS. Off by default: even the challenge-response mechanisms
    /// then expose the user name and material for offline guessing.
    pub allow_plaintext: bool,
}

impl Mechanisms {
    /// Every built-in mechanism but DIGEST-MD5 (which needs realms), over TLS only.
    pub fn new(hostname: &str, service: &str) -> Self {
        Self {
            hostname: hostname.to_owned(),
            service: service.to_owned(),
            realms: Vec::new(),
            plain: true,
            login: true,
            cram_md5: true,
            digest_md5: true,
            scram_sha256: true,
            external: true,
            allow_plaintext: false,
        }
    }

    /// The mechanisms to advertise on `connection`, strongest first.
    pub fn offered(&self, connection: &Connection) -> Vec<MechanismName> {
        if !connection.tls && !self.allow_plaintext {
            return Vec::new();
        }

        let plus = connection.channel_binding.is_some();
        let certificate = connection.certificate_id.is_some();
        let candidates = [
            (self.scram_sha256 && plus, "SCRAM-SHA-256-PLUS"),
            (self.scram_sha256, "SCRAM-SHA-256"),
            (self.external && certificate, "EXTERNAL"),
            (self.digest_md5 && !self.realms.is_empty(), "DIGEST-MD5"),
            (self.cram_md5, "CRAM-MD5"),
            (self.plain, "PLAIN"),
            (self.login, "LOGIN"),
        ];
        let names = candidates
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name));
        names
            .map(|name| MechanismName::new(name).expect("valid mechanism name"))
            .collect()
    }

    /// Creates the mechanism `name` for one exchange, if it is offered on `connection`.
    pub fn create(
        &self,
        name: &MechanismName,
        connection: &Connection,
    ) -> Result<Box<dyn ServerMechanism>, Failure> {
        if !self.offered(connection).contains(name) {
            return Err(if connection.tls {
                Failure::MechanismTooWeak
            } else {
                Failure::EncryptionRequired
            });
        }

        // The plain variant must know whether -PLUS was offered, to catch a downgrade
        // (RFC 5802 section 6, the "y" flag).
        let plus_offered = connection.channel_binding.is_some();
        let temporary = |_| Failure::Temporary;
        Ok(match name.as_str() {
            "PLAIN" => Box::new(Plain::new()),
            "LOGIN" => Box::new(Login::new()),
            "CRAM-MD5" => {
                Box::new(CramMd5::new(&self.hostname, connection.unix_time).map_err(temporary)?)
            }
            "DIGEST-MD5" => Box::new(
                DigestMd5::new(self.realms.clone(), &self.service, &self.hostname)
                    .map_err(temporary)?,
            ),
            "SCRAM-SHA-256" => Box::new(Scram::new().with_plus_advertised(plus_offered)),
            "SCRAM-SHA-256-PLUS" => {
                let binding = connection
                    .channel_binding
                    .clone()
                    .ok_or(Failure::Temporary)?;
                Box::new(Scram::plus(binding))
            }
            "EXTERNAL" => Box::new(External::new(connection.certificate_id.clone())),
            _ => return Err(Failure::MechanismTooWeak),
        })
    }
}

/// What the host knows about the client's connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// The connection is encrypted.
    pub tls: bool,
    /// TLS channel binding data (RFC 9266 `tls-exporter`), enabling SCRAM-SHA-256-PLUS.
    pub channel_binding: Option<ChannelBinding>,
    /// The account a verified client certificate maps to, enabling EXTERNAL.
    pub certificate_id: Option<String>,
    /// Seconds since the Unix epoch (for CRAM-MD5's challenge).
    pub unix_time: u64,
}

impl Connection {
    /// A connection, encrypted or not, with no channel binding and no client certificate.
    pub fn new(tls: bool) -> Self {
        Self {
            tls,
            ..Self::default()
        }
    }
}

/// What the host does next in an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Hand this step (a challenge) to the protocol session and wait for the client.
    Step(ServerStep),
    /// Look up this authentication identity's credentials and call
    /// [`Exchange::credentials`].
    Lookup(String),
    /// The exchange is over: hand `step` to the session and log `event`.
    Finished {
        /// The success or failure step for the protocol session.
        step: ServerStep,
        /// The attempt, for the log (one line, fail2ban-friendly).
        event: AuthEvent,
        /// Who logged in, on success.
        authenticated: Option<Authenticated>,
    },
}

/// One authentication attempt from one client, with the limiter consulted before the
/// password is checked and told the result afterwards.
pub struct Exchange {
    mechanism: Box<dyn ServerMechanism>,
    name: MechanismName,
    ip: IpAddr,
    account: Option<String>,
}

impl Exchange {
    /// Starts an attempt with mechanism `name`. Refused at once when the mechanism is not
    /// offered here or the client's address has spent its failure budget.
    #[allow(clippy::result_large_err)]
    pub fn begin(
        mechanisms: &Mechanisms,
        name: &MechanismName,
        connection: &Connection,
        ip: IpAddr,
        limiter: &mut Limiter,
        now: Instant,
    ) -> Result<Self, Outcome> {
        let refuse = |failure, outcome| Outcome::Finished {
            step: ServerStep::Failure(failure),
            event: AuthEvent {
                ip,
                mechanism: name.to_string(),
                account: None,
                outcome,
            },
            authenticated: None,
        };
        if limiter.check(ip, None, now).is_err() {
            return Err(refuse(Failure::TooManyAttempts, AuthOutcome::Refused));
        }
        let mechanism = mechanisms
            .create(name, connection)
            .map_err(|f| refuse(f, AuthOutcome::Failure))?;

        Ok(Self {
            mechanism,
            name: name.clone(),
            ip,
            account: None,
        })
    }

    /// Begins with the client's initial response, if any.
    pub fn start(
        &mut self,
        initial: Option<&[u8]>,
        limiter: &mut Limiter,
        now: Instant,
    ) -> Outcome {
        let progress = self.mechanism.start(initial);
        self.process(progress, limiter, now)
    }

    /// Passes on the client's answer to a challenge.
    pub fn respond(&mut self, response: &[u8], limiter: &mut Limiter, now: Instant) -> Outcome {
        let progress = self.mechanism.respond(response);
        self.process(progress, limiter, now)
    }

    /// Passes on the credentials found for [`Outcome::Lookup`] (`None`: no such account).
    pub fn credentials(
        &mut self,
        credentials: Option<&Credentials>,
        context: &Context,
        limiter: &mut Limiter,
        now: Instant,
    ) -> Outcome {
        let progress = self.mechanism.credentials(credentials, context);
        self.process(progress, limiter, now)
    }

    /// The client cancelled the exchange (SMTP's and IMAP's `*`); nothing is counted.
    pub fn cancelled(self) -> AuthEvent {
        self.event(AuthOutcome::Failure)
    }

    fn process(&mut self, progress: Progress, limiter: &mut Limiter, now: Instant) -> Outcome {
        match progress {
            Progress::Challenge(challenge) => Outcome::Step(ServerStep::Challenge(challenge)),
            Progress::Lookup { authentication_id } => {
                // The account's own budget: guessing one account from many addresses is
                // refused too, before the password is looked at.
                self.account = Some(authentication_id.clone());
                if limiter
                    .check(self.ip, Some(&authentication_id), now)
                    .is_err()
                {
                    return self.finish(Failure::TooManyAttempts, AuthOutcome::Refused);
                }
                Outcome::Lookup(authentication_id)
            }
            Progress::Success(authenticated) => {
                limiter.record_success(self.ip, &authenticated.authentication_id, now);
                self.account = Some(authenticated.authentication_id.clone());
                Outcome::Finished {
                    step: Progress::Success(authenticated.clone())
                        .to_server_step()
                        .expect("success is a step"),
                    event: self.event(AuthOutcome::Success),
                    authenticated: Some(authenticated),
                }
            }
            Progress::Failure(failure) => {
                // Guesses and garbage count; a server-side fault does not.
                if matches!(failure, Failure::InvalidCredentials | Failure::Malformed) {
                    limiter.record_failure(self.ip, self.account.as_deref(), now);
                }
                self.finish(failure, AuthOutcome::Failure)
            }
        }
    }

    fn finish(&self, failure: Failure, outcome: AuthOutcome) -> Outcome {
        Outcome::Finished {
            step: ServerStep::Failure(failure),
            event: self.event(outcome),
            authenticated: None,
        }
    }

    fn event(&self, outcome: AuthOutcome) -> AuthEvent {
        AuthEvent {
            ip: self.ip,
            mechanism: self.name.to_string(),
            account: self.account.clone(),
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::credentials::tests::account;
    use crate::limiter::LimiterConfig;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn name(name: &str) -> MechanismName {
        MechanismName::new(name).unwrap()
    }

    fn tls() -> Connection {
        Connection {
            tls: true,
            ..Connection::default()
        }
    }

    #[test]
    fn nothing_is_offered_before_tls() {
        let mechanisms = Mechanisms::new("mx.example.org", "smtp");
        assert!(mechanisms.offered(&Connection::default()).is_empty());
        assert_eq!(
            mechanisms
                .create(&name("PLAIN"), &Connection::default())
                .err(),
            Some(Failure::EncryptionRequired)
        );

        let offered: Vec<String> = mechanisms
            .offered(&tls())
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(offered, ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]);
    }

    #[test]
    fn offers_follow_the_connection() {
        let mut mechanisms = Mechanisms::new("mx.example.org", "imap");
        mechanisms.realms = vec!["example.org".into()];
        let connection = Connection {
            tls: true,
            channel_binding: Some(ChannelBinding::new(
                crate::scram::ChannelBindingType::TlsExporter,
                vec![7; 32],
            )),
            certificate_id: Some("alice".into()),
            unix_time: 0,
        };
        let offered: Vec<String> = mechanisms
            .offered(&connection)
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            offered,
            [
                "SCRAM-SHA-256-PLUS",
                "SCRAM-SHA-256",
                "EXTERNAL",
                "DIGEST-MD5",
                "CRAM-MD5",
                "PLAIN",
                "LOGIN"
            ]
        );
        for name in &mechanisms.offered(&connection) {
            let mechanism = mechanisms.create(name, &connection).unwrap();
            assert_eq!(&mechanism.name(), name);
        }
        assert_eq!(
            mechanisms
                .create(&MechanismName::new("XOAUTH2").unwrap(), &connection)
                .err(),
            Some(Failure::MechanismTooWeak)
        );
    }

    fn attempt(limiter: &mut Limiter, password: &[u8], now: Instant) -> Outcome {
        let mechanisms = Mechanisms::new("mx.example.org", "smtp");
        let alice = account("alice", "right");
        let mut exchange =
            match Exchange::begin(&mechanisms, &name("PLAIN"), &tls(), IP, limiter, now) {
                Ok(exchange) => exchange,
                Err(refused) => return refused,
            };
        let message = [b"\0alice\0".as_slice(), password].concat();
        match exchange.start(Some(&message), limiter, now) {
            Outcome::Lookup(_) => {
                exchange.credentials(Some(&alice), &Context::new(0), limiter, now)
            }
            other => other,
        }
    }

    fn event_outcome(outcome: &Outcome) -> AuthOutcome {
        match outcome {
            Outcome::Finished { event, .. } => event.outcome,
            other => panic!("not finished: {other:?}"),
        }
    }

    #[test]
    fn failures_are_counted_and_then_refused() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(
                event_outcome(&attempt(&mut limiter, b"wrong", now)),
                AuthOutcome::Failure
            );
        }

        // The budget is spent: even the right password is refused, without being checked.
        let refused = attempt(&mut limiter, b"right", now);
        assert_eq!(event_outcome(&refused), AuthOutcome::Refused);
        let Outcome::Finished { step, event, .. } = refused else {
            unreachable!()
        };
        assert_eq!(step, ServerStep::Failure(Failure::TooManyAttempts));
        assert_eq!(
            event.to_string(),
            "auth refused (too many failures): ip=192.0.2.7 mechanism=PLAIN"
        );

        let later = now + LimiterConfig::default().window;
        assert_eq!(
            event_outcome(&attempt(&mut limiter, b"right", later)),
            AuthOutcome::Success
        );
    }

    #[test]
    fn events_name_the_account() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let Outcome::Finished { event, .. } = attempt(&mut limiter, b"wrong", Instant::now())
        else {
            panic!()
        };
        assert_eq!(
            event.to_string(),
            "auth failed: ip=192.0.2.7 mechanism=PLAIN account=alice"
        );
    }
}
