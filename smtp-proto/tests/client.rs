//! The client session against the server session, in memory: what the client sends must be
//! what the server reads, for every extension combination and every split of the message.

use std::time::Instant;

use mail_auth::sasl::{ClientError as SaslError, ClientMechanism, MechanismName, ServerStep};
use smtp_proto::address::{Domain, ForwardPath, LocalPart, Mailbox, ReversePath};
use smtp_proto::client::{ClientConfig, ClientEvent, ClientSession, Envelope, Stage};
use smtp_proto::reply::{EnhancedStatusCode, Reply};
use smtp_proto::server::{Event, ServerConfig, ServerSession};

/// A client and a server wired to each other, with a server host that accepts everything
/// but the recipient `nobody` and keeps each message it receives.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    now: Instant,
    message: Vec<u8>,
    received: Vec<Vec<u8>>,
}

impl Pair {
    fn new(server_config: ServerConfig) -> Self {
        let now = Instant::now();
        let client_config = ClientConfig::new(Domain::Name("client.example".into()));
        Self {
            client: ClientSession::new(client_config, now),
            server: ServerSession::new(server_config, now),
            now,
            message: Vec::new(),
            received: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say; returns the client's
    /// events. A StartTls on either side is completed at once (the "handshake" is a no-op).
    fn pump(&mut self) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        loop {
            self.serve();
            let to_client = self.server.poll_transmit();
            // The server reports StartTls only once its 220 is taken.
            self.serve();
            if let Some(bytes) = &to_client {
                self.client.handle_input(bytes, self.now);
            }

            while let Some(event) = self.client.poll_event() {
                if event == ClientEvent::StartTls {
                    self.client.tls_established(self.now).unwrap();
                }
                events.push(event);
            }
            let to_server = self.client.poll_transmit();
            if let Some(bytes) = &to_server {
                self.server.handle_input(bytes, self.now);
            }

            if to_client.is_none() && to_server.is_none() {
                return events;
            }
        }
    }

    /// The server's host: answers every event.
    fn serve(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                Event::MessageData(chunk) => self.message.extend_from_slice(&chunk),
                Event::MessageComplete => {
                    self.received.push(std::mem::take(&mut self.message));
                    self.server.accept().unwrap();
                }
                Event::Rcpt { forward_path, .. } if forward_path.to_string().contains("nobody") => {
                    let code = EnhancedStatusCode::new(5, 1, 1);
                    self.server
                        .reject(Reply::new(550, code, "No such user"))
                        .unwrap();
                }
                Event::AuthStart { .. } => {
                    let authorization_id = "tim".to_owned();
                    let step = ServerStep::Success {
                        authorization_id,
                        additional_data: None,
                    };
                    self.server.auth_step(step).unwrap();
                }
                Event::StartTls => self.server.tls_established(self.now),
                event if event.needs_answer() => self.server.accept().unwrap(),
                _ => {}
            }
        }
    }

    /// Sends one message in `parts` and returns the client's last event.
    fn send(&mut self, envelope: Envelope, parts: &[&[u8]]) -> ClientEvent {
        self.client.send_mail(envelope, self.now).unwrap();
        let events = self.pump();
        if events.last() != Some(&ClientEvent::ReadyForBody) {
            return events.last().cloned().expect("an event after send_mail");
        }

        for part in parts {
            self.client.send_body(part, self.now).unwrap();
        }
        self.client.finish_body(self.now).unwrap();
        self.pump().pop().expect("an event after the message")
    }
}

fn recipient(local: &str) -> ForwardPath {
    let local_part = LocalPart::new(local).unwrap();
    ForwardPath::Mailbox(Mailbox {
        local_part,
        domain: Domain::Name("example.org".into()),
    })
}

fn envelope(recipients: &[&str]) -> Envelope {
    Envelope::new(ReversePath::Null, recipients.iter().map(|r| recipient(r)))
}

fn server_config(pipelining: bool, chunking: bool) -> ServerConfig {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.pipelining = pipelining;
    config.extensions.chunking = chunking;
    config
}

fn ready(config: ServerConfig) -> Pair {
    let mut pair = Pair::new(config);
    let events = pair.pump();
    assert!(
        matches!(events[..], [ClientEvent::Ready { .. }]),
        "{events:?}"
    );
    pair
}

#[test]
fn client_to_server_messages_arrive_intact_with_every_extension_combination() {
    let body: &[u8] = b"Subject: test\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n";
    for (pipelining, chunking) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut pair = ready(server_config(pipelining, chunking));
        let parts = [&body[..10], &body[10..30], &body[30..]];
        let event = pair.send(envelope(&["bob", "carol"]), &parts);
        let ClientEvent::MessageSent(delivery) = event else {
            panic!("{event:?}")
        };
        assert_eq!(delivery.accepted, [recipient("bob"), recipient("carol")]);
        assert_eq!(
            pair.received,
            [body],
            "pipelining {pipelining}, chunking {chunking}"
        );

        // The session is ready for another message, then quits.
        let event = pair.send(envelope(&["dave"]), &[b"second\r\n"]);
        assert!(matches!(event, ClientEvent::MessageSent(_)), "{event:?}");
        assert_eq!(pair.received[1], b"second\r\n");
        pair.client.quit(pair.now).unwrap();
        assert_eq!(pair.pump(), [ClientEvent::Closed]);
        assert!(pair.server.is_closed());
    }
}

#[test]
fn client_to_server_bare_line_ends_arrive_as_crlf_after_any_split() {
    let body: &[u8] = b".a\nb\r.c\r\n\r\n.\rlast";
    let expected: &[u8] = b".a\r\nb\r\n.c\r\n\r\n.\r\nlast\r\n";
    for at in 0..=body.len() {
        for end in at..=body.len() {
            let mut pair = ready(server_config(true, false));
            let parts = [&body[..at], &body[at..end], &body[end..]];
            let event = pair.send(envelope(&["bob"]), &parts);
            assert!(
                matches!(event, ClientEvent::MessageSent(_)),
                "split {at}/{end}: {event:?}"
            );
            assert_eq!(pair.received, [expected], "split {at}/{end}");
        }
    }
}

#[test]
fn client_to_server_a_refused_recipient_is_reported_and_the_others_get_it() {
    for pipelining in [false, true] {
        let mut pair = ready(server_config(pipelining, false));
        let event = pair.send(envelope(&["bob", "nobody"]), &[b"hi\r\n"]);
        let ClientEvent::MessageSent(delivery) = event else {
            panic!("{event:?}")
        };
        assert_eq!(delivery.accepted, [recipient("bob")]);
        let (path, reply) = &delivery.rejected[0];
        assert_eq!((path, reply.code()), (&recipient("nobody"), 550));
        assert_eq!(reply.enhanced_code(), EnhancedStatusCode::new(5, 1, 1));

        let event = pair.send(envelope(&["nobody"]), &[b"hi\r\n"]);
        let ClientEvent::TransactionFailed(failure) = event else {
            panic!("{event:?}")
        };
        assert_eq!(failure.stage, Stage::Recipients);
        assert_eq!(
            pair.received.len(),
            1,
            "nothing was delivered the second time"
        );
    }
}

/// PLAIN with an initial response.
struct Plain;

impl ClientMechanism for Plain {
    fn name(&self) -> MechanismName {
        MechanismName::new("PLAIN").unwrap()
    }
    fn initial_response(&mut self) -> Option<Vec<u8>> {
        Some(b"\0tim\0secret".to_vec())
    }
    fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>, SaslError> {
        Err(SaslError::UnexpectedChallenge)
    }
}

#[test]
fn client_to_server_starttls_then_auth_then_a_message() {
    let mut config = server_config(true, true);
    config.extensions.starttls = true;
    config.extensions.auth = vec![MechanismName::new("PLAIN").unwrap()];
    let mut pair = ready(config);
    // The server offers AUTH only over TLS.
    assert!(pair.client.extensions().unwrap().auth.is_empty());

    pair.client.start_tls(pair.now).unwrap();
    let events = pair.pump();
    assert_eq!(events[0], ClientEvent::StartTls);
    let ClientEvent::Ready { extensions } = &events[1] else {
        panic!("{events:?}")
    };
    assert!(
        !extensions.starttls,
        "STARTTLS is not offered again over TLS"
    );
    assert!(!extensions.auth.is_empty());
    assert!(pair.client.is_tls());

    pair.client.authenticate(Box::new(Plain), pair.now).unwrap();
    assert_eq!(pair.pump(), [ClientEvent::Authenticated]);
    assert_eq!(pair.server.authenticated_id(), Some("tim"));

    let event = pair.send(envelope(&["bob"]), &[b"over TLS\r\n"]);
    assert!(matches!(event, ClientEvent::MessageSent(_)), "{event:?}");
}
