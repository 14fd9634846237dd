//! Whole server sessions, driven with scripted client input and a scripted host policy.

use std::time::{Duration, Instant};

use mail_auth::sasl::{Failure, MechanismName, ServerStep};
use smtp_proto::reply::{EnhancedStatusCode, Reply};
use smtp_proto::server::{AbortReason, CloseReason, ContentError, Event, ServerConfig};
use smtp_proto::server::{AnswerError, ServerSession};

/// A scripted host: accepts everything unless a rule says otherwise, keeps message content
/// and records every event.
struct Host {
    session: ServerSession,
    now: Instant,
    written: Vec<u8>,
    events: Vec<Event>,
    message: Vec<u8>,
    messages: Vec<Vec<u8>>,
    reject_rcpt: Option<&'static str>,
    auth: Vec<ServerStep>,
    tls_requests: usize,
}

impl Host {
    fn new(config: ServerConfig) -> Self {
        let now = Instant::now();
        let mut host = Self {
            session: ServerSession::new(config, now),
            now,
            written: Vec::new(),
            events: Vec::new(),
            message: Vec::new(),
            messages: Vec::new(),
            reject_rcpt: None,
            auth: Vec::new(),
            tls_requests: 0,
        };
        host.drive();
        host
    }

    fn with_defaults() -> Self {
        Self::new(config())
    }

    /// Runs events and transmits until the session waits for the client.
    fn drive(&mut self) {
        loop {
            if let Some(bytes) = self.session.poll_transmit() {
                self.written.extend_from_slice(&bytes);
                continue;
            }
            let Some(event) = self.session.poll_event() else {
                break;
            };
            self.events.push(event.clone());
            match event {
                Event::MessageData(chunk) => self.message.extend_from_slice(&chunk),
                Event::MessageComplete => {
                    self.messages.push(std::mem::take(&mut self.message));
                    self.session.accept().unwrap();
                }
                Event::MessageAborted(_) => self.message.clear(),
                Event::Rcpt { forward_path, .. }
                    if self
                        .reject_rcpt
                        .is_some_and(|r| forward_path.to_string().contains(r)) =>
                {
                    let reply = Reply::new(550, EnhancedStatusCode::new(5, 1, 1), "No such user");
                    self.session.reject(reply).unwrap();
                }
                Event::AuthStart { .. } | Event::AuthResponse(_) => {
                    let step = self.auth.remove(0);
                    self.session.auth_step(step).unwrap();
                }
                Event::StartTls => self.tls_requests += 1,
                event if event.needs_answer() => self.session.accept().unwrap(),
                _ => {}
            }
        }
    }

    /// Sends `input` in one piece and returns what the server wrote in answer.
    fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes())
    }

    fn send_bytes(&mut self, input: &[u8]) -> String {
        let start = self.written.len();
        self.session.handle_input(input, self.now);
        self.drive();
        String::from_utf8(self.written[start..].to_vec()).unwrap()
    }

    fn transcript(&self) -> String {
        String::from_utf8(self.written.clone()).unwrap()
    }

    fn aborted(&self) -> Vec<AbortReason> {
        let reasons = self.events.iter().filter_map(|e| match e {
            Event::MessageAborted(reason) => Some(*reason),
            _ => None,
        });
        reasons.collect()
    }
}

/// A session whose greeting has been accepted and taken.
fn greeted(config: ServerConfig) -> (ServerSession, Instant) {
    let now = Instant::now();
    let mut session = ServerSession::new(config, now);
    assert_eq!(session.poll_event(), Some(Event::Connect));
    session.accept().unwrap();
    assert!(session.poll_transmit().unwrap().starts_with(b"220 "));
    (session, now)
}

fn config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.starttls = true;
    config.extensions.auth = vec![mechanism("PLAIN"), mechanism("LOGIN")];
    config
}

fn mechanism(name: &str) -> MechanismName {
    MechanismName::new(name).unwrap()
}

fn success(id: &str) -> ServerStep {
    ServerStep::Success {
        authorization_id: id.to_owned(),
        additional_data: None,
    }
}

const ENVELOPE: &str = "EHLO client.example\r\nMAIL FROM:<alice@example.com>\r\n\
                        RCPT TO:<bob@example.org>\r\n";

#[test]
fn greeting_and_ehlo_advertise_the_configuration() {
    let mut host = Host::with_defaults();
    assert_eq!(host.transcript(), "220 mx.example.org ESMTP Rampart\r\n");

    let reply = host.send("EHLO client.example\r\n");
    assert_eq!(
        reply,
        "250-mx.example.org greets client.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-DSN\r\n\
         250-STARTTLS\r\n250 SIZE 26214400\r\n",
        "no AUTH before TLS"
    );
    assert_eq!(
        host.send("HELO client.example\r\n"),
        "250 mx.example.org\r\n"
    );
}

#[test]
fn a_whole_transaction_at_every_split() {
    let script = format!("{ENVELOPE}DATA\r\nSubject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n");
    let mut reference = None;
    for step in 1..=script.len() {
        let mut host = Host::with_defaults();
        for piece in script.as_bytes().chunks(step) {
            host.send_bytes(piece);
        }
        assert_eq!(
            host.messages,
            [b"Subject: hi\r\n\r\n.dot\r\nbody\r\n".to_vec()],
            "step {step}"
        );
        assert_eq!(host.session.close_reason(), Some(CloseReason::Quit));
        let transcript = host.transcript();
        assert_eq!(
            reference.get_or_insert_with(|| transcript.clone()),
            &transcript,
            "step {step}"
        );
    }
    let transcript = reference.unwrap();
    assert!(transcript.contains("250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 "));
    assert!(transcript.ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"));
}

#[test]
fn pipelined_replies_come_out_together_and_in_order() {
    let mut host = Host::with_defaults();
    host.reject_rcpt = Some("nobody");
    host.send("EHLO c.example\r\n");
    let reply = host.send(
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@example.org>\r\n\
         RCPT TO:<b@example.org>\r\nDATA\r\n",
    );
    assert_eq!(
        reply,
        "250 2.1.0 Sender OK\r\n550 5.1.1 No such user\r\n250 2.1.5 Recipient OK\r\n\
         354 Start mail input; end with <CRLF>.<CRLF>\r\n"
    );
}

#[test]
fn the_message_is_acknowledged_only_when_the_host_accepts_it() {
    let (mut session, now) = greeted(config());
    session.handle_input(format!("{ENVELOPE}DATA\r\nx\r\n.\r\n").as_bytes(), now);

    let mut saw_complete = false;
    while let Some(event) = session.poll_event() {
        saw_complete = event == Event::MessageComplete;
        if event.needs_answer() && !saw_complete {
            session.accept().unwrap();
        }
    }
    assert!(saw_complete);
    let before = String::from_utf8(session.poll_transmit().unwrap()).unwrap();
    assert!(
        before.ends_with("354 Start mail input; end with <CRLF>.<CRLF>\r\n"),
        "{before}"
    );

    // Input that arrives while the host stores the message waits behind the verdict.
    session.handle_input(b"QUIT\r\n", now);
    assert_eq!(session.poll_transmit(), None);
    assert_eq!(
        session.poll_timeout(),
        None,
        "the wait is the host's, not the client's"
    );

    let queued = Reply::new(250, EnhancedStatusCode::new(2, 0, 0), "Queued as 1234");
    session.accept_with(queued).unwrap();
    assert_eq!(
        session.poll_transmit().unwrap(),
        b"250 2.0.0 Queued as 1234\r\n221 2.0.0 Bye\r\n"
    );
}

#[test]
fn answers_are_checked() {
    let now = Instant::now();
    let mut session = ServerSession::new(config(), now);
    assert_eq!(
        session.accept_with(Reply::new(554, None, "no")),
        Err(AnswerError::WrongReplyClass)
    );
    assert_eq!(
        session.reject(Reply::new(250, None, "ok")),
        Err(AnswerError::WrongReplyClass)
    );
    assert_eq!(
        session.auth_step(success("x")),
        Err(AnswerError::NothingPending)
    );
    session.accept().unwrap();
    assert_eq!(session.accept(), Err(AnswerError::NothingPending));
}

#[test]
fn commands_out_of_sequence_get_503() {
    let mut host = Host::with_defaults();
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Send HELO or EHLO first\r\n"
    );
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("RCPT TO:<a@b.example>\r\n"),
        "503 5.5.1 Need MAIL before RCPT\r\n"
    );
    assert_eq!(host.send("DATA\r\n"), "503 5.5.1 Need MAIL before DATA\r\n");
    host.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Sender already given\r\n"
    );
    assert_eq!(host.send("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
    assert_eq!(host.send("RSET\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(
        host.send("RCPT TO:<a@b.example>\r\n"),
        "503 5.5.1 Need MAIL before RCPT\r\n"
    );
}

#[test]
fn simple_commands() {
    let mut host = Host::with_defaults();
    assert_eq!(host.send("NOOP\r\n"), "250 2.0.0 OK\r\n");
    assert!(host.send("HELP\r\n").starts_with("214 2.0.0 "));
    assert_eq!(
        host.send("VRFY root\r\n"),
        "252 2.1.5 Cannot verify the user, but will accept the message and attempt delivery\r\n"
    );
    assert!(host.send("EXPN staff\r\n").starts_with("252 "));
    assert!(
        !host
            .events
            .iter()
            .any(|e| matches!(e, Event::Vrfy(_) | Event::Expn(_)))
    );
    assert_eq!(host.send("FOO\r\n"), "500 5.5.1 Command unrecognized\r\n");
    assert_eq!(
        host.send("EHLO\r\n"),
        "501 5.5.2 Syntax error in arguments\r\n"
    );
    assert_eq!(host.send("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(host.session.is_closed());
    assert_eq!(host.send("NOOP\r\n"), "", "nothing is read after QUIT");
}

#[test]
fn vrfy_goes_to_the_host_when_enabled() {
    let mut config = config();
    config.extensions.vrfy = true;
    let mut host = Host::new(config);
    host.send("VRFY root\r\n");
    assert!(host.events.contains(&Event::Vrfy("root".to_owned())));
}

#[test]
fn bare_line_endings_in_commands_are_refused() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    // The LF does not end the line: both "commands" are one bad line.
    let reply = host.send("MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\r\n");
    assert_eq!(
        reply,
        "500 5.5.2 Bare CR or LF in command line; lines end with CRLF\r\n"
    );
    assert_eq!(host.send("NOOP\rQUIT\r\n").lines().count(), 1);
    assert!(!host.session.is_closed());
    assert!(!host.events.iter().any(|e| matches!(e, Event::Mail { .. })));
}

#[test]
fn smuggled_commands_inside_data_stay_data() {
    for fake_end in ["\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r.\r\n", "\r\n.\r"] {
        let mut host = Host::with_defaults();
        host.send(ENVELOPE);
        host.send("DATA\r\n");
        let reply = host.send(&format!(
            "Subject: a{fake_end}MAIL FROM:<evil@example.com>\r\nRCPT TO:<x@example.org>\r\n"
        ));
        assert_eq!(reply, "", "{fake_end:?} must not end the data");
        let reply = host.send(".\r\n");
        assert_eq!(
            reply,
            "550 5.6.0 Bare CR or LF in message; lines end with CRLF\r\n"
        );
        assert!(host.messages.is_empty());
        assert_eq!(
            host.aborted(),
            [AbortReason::Content(ContentError::BareLineEnding)]
        );
        let senders = host
            .events
            .iter()
            .filter(|e| matches!(e, Event::Mail { .. }))
            .count();
        assert_eq!(senders, 1, "the smuggled MAIL was never run");

        // The session is in step again.
        assert_eq!(host.send("NOOP\r\n"), "250 2.0.0 OK\r\n");
    }
}

#[test]
fn over_long_command_lines_are_refused_without_losing_the_next_command() {
    let mut host = Host::with_defaults();
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(100_000));
    for piece in long.as_bytes().chunks(4096) {
        host.send_bytes(piece);
    }
    assert_eq!(
        host.transcript().split_once("\r\n").unwrap().1,
        "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"
    );

    // 512 octets with the CRLF is the RFC 5321 minimum and passes.
    let at_limit = format!("NOOP {}\r\n", "x".repeat(505));
    assert_eq!(at_limit.len(), 512);
    assert_eq!(host.send(&at_limit), "250 2.0.0 OK\r\n");
}

#[test]
fn declared_and_real_size_limits() {
    let mut config = config();
    config.limits.message_size = 100;
    let mut host = Host::new(config);
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("MAIL FROM:<a@b.example> SIZE=101\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    host.send("MAIL FROM:<a@b.example> SIZE=100\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    let body = format!("{}\r\n", "y".repeat(200));
    assert_eq!(
        host.send(&body),
        "",
        "the reply waits for the end of the data"
    );
    assert_eq!(
        host.send(".\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert_eq!(
        host.aborted(),
        [AbortReason::Content(ContentError::TooLarge)]
    );
    assert!(host.messages.is_empty());
    assert_eq!(
        host.send("RCPT TO:<c@d.example>\r\n"),
        "503 5.5.1 Need MAIL before RCPT\r\n"
    );
}

#[test]
fn over_long_text_lines_are_refused() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    host.send("DATA\r\n");
    let reply = host.send(&format!("{}\r\n.\r\n", "z".repeat(999)));
    assert_eq!(reply, "552 5.6.0 Message line too long\r\n");

    host.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    let reply = host.send(&format!("{}\r\n.\r\n", "z".repeat(998)));
    assert_eq!(reply, "250 2.0.0 Message accepted\r\n");
}

#[test]
fn message_content_streams_in_bounded_chunks() {
    let mut config = config();
    config.limits.data_chunk = 1024;
    let mut host = Host::new(config);
    host.send(ENVELOPE);
    host.send("DATA\r\n");
    let body = "0123456789abcdef\r\n".repeat(1000);
    host.send(&format!("{body}.\r\n"));
    assert_eq!(host.messages, [body.as_bytes().to_vec()]);
    for event in &host.events {
        if let Event::MessageData(chunk) = event {
            assert!(chunk.len() < 1024 + 32, "chunk of {}", chunk.len());
        }
    }
}

#[test]
fn bdat_chunks_make_one_message() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    assert_eq!(
        host.send("BDAT 7\r\nHello\r\n"),
        "250 2.0.0 Chunk received\r\n"
    );
    assert_eq!(
        host.send("BDAT 6 LAST\r\n.end\r\n"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert_eq!(host.messages, [b"Hello\r\n.end\r\n".to_vec()]);

    // A chunk may contain anything, even what looks like commands, split anywhere.
    host.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    for byte in b"BDAT 17 LAST\r\nQUIT\r\nRSET\r\n.\r\n\r\n" {
        host.send_bytes(&[*byte]);
    }
    assert_eq!(host.messages[1], b"QUIT\r\nRSET\r\n.\r\n\r\n");
    assert!(!host.session.is_closed());
}

#[test]
fn bdat_without_a_transaction_still_consumes_its_octets() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    let reply = host.send("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(reply, "503 5.5.1 Need MAIL before BDAT\r\n250 2.0.0 OK\r\n");
    assert!(!host.session.is_closed());

    host.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        host.send("BDAT 0 LAST\r\n"),
        "554 5.5.1 No valid recipients\r\n"
    );
}

#[test]
fn bdat_content_errors_fail_the_transaction() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    let reply = host.send("BDAT 4\r\na\nb\n");
    assert_eq!(
        reply,
        "550 5.6.0 Bare CR or LF in message; lines end with CRLF\r\n"
    );
    assert_eq!(
        host.send("BDAT 3 LAST\r\nabc"),
        "503 5.5.1 Transaction failed; send RSET\r\n"
    );
    assert_eq!(host.send("RSET\r\n"), "250 2.0.0 OK\r\n");
    assert!(host.messages.is_empty());
    assert_eq!(
        host.aborted(),
        [AbortReason::Content(ContentError::BareLineEnding)]
    );

    host.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    assert_eq!(
        host.send("BDAT 2 LAST\r\na\r"),
        "550 5.6.0 Bare CR or LF in message; lines end with CRLF\r\n"
    );
}

#[test]
fn rset_between_chunks_aborts_the_message() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    host.send("BDAT 3\r\nabc");
    assert_eq!(host.send("RSET\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(host.aborted(), [AbortReason::Reset]);
    assert!(host.events.contains(&Event::TransactionReset));
    assert_eq!(host.send("DATA\r\n"), "503 5.5.1 Need MAIL before DATA\r\n");
}

#[test]
fn data_and_bdat_do_not_mix() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    host.send("BDAT 3\r\nabc");
    assert_eq!(host.send("DATA\r\n"), "503 5.5.1 DATA after BDAT\r\n");
}

#[test]
fn disabled_extensions_are_neither_offered_nor_accepted() {
    let mut config = config();
    config.extensions.chunking = false;
    config.extensions.size = None;
    config.extensions.dsn = false;
    config.extensions.smtputf8 = false;
    let mut host = Host::new(config);
    let ehlo = host.send("EHLO c.example\r\n");
    assert!(!ehlo.contains("CHUNKING") && !ehlo.contains("SIZE") && !ehlo.contains("DSN"));
    assert_eq!(
        host.send("BDAT 1 LAST\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    assert!(
        host.send("MAIL FROM:<a@b.example> SIZE=10\r\n")
            .starts_with("555 5.5.4 SIZE")
    );
    assert!(
        host.send("MAIL FROM:<a@b.example> RET=FULL\r\n")
            .starts_with("555 5.5.4")
    );
    assert!(
        host.send("MAIL FROM:<a@b.example> SMTPUTF8\r\n")
            .starts_with("555 5.5.4")
    );
    host.send("MAIL FROM:<a@b.example>\r\n");
    assert!(
        host.send("RCPT TO:<a@b.example> NOTIFY=NEVER\r\n")
            .starts_with("555 5.5.4")
    );
}

#[test]
fn helo_clients_cannot_use_extension_parameters() {
    let mut host = Host::with_defaults();
    host.send("HELO c.example\r\n");
    assert!(
        host.send("MAIL FROM:<a@b.example> BODY=8BITMIME\r\n")
            .starts_with("555 ")
    );
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
}

#[test]
fn utf8_addresses_need_smtputf8() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("MAIL FROM:<jöran@example.com>\r\n"),
        "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n"
    );
    host.send("MAIL FROM:<a@example.com>\r\n");
    assert!(
        host.send("RCPT TO:<用户@例子.广告>\r\n")
            .starts_with("553 5.6.7")
    );
    host.send("RSET\r\n");
    assert_eq!(
        host.send("MAIL FROM:<jöran@example.com> SMTPUTF8\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        host.send("RCPT TO:<用户@例子.广告>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
}

#[test]
fn recipient_limit_answers_452() {
    let mut config = config();
    config.limits.recipients = 2;
    let mut host = Host::new(config);
    host.send("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n");
    let reply =
        host.send("RCPT TO:<1@b.example>\r\nRCPT TO:<2@b.example>\r\nRCPT TO:<3@b.example>\r\n");
    assert!(
        reply.ends_with("452 4.5.3 Too many recipients\r\n"),
        "{reply}"
    );
}

#[test]
fn too_many_errors_end_the_session() {
    let mut config = config();
    config.limits.errors = 3;
    let mut host = Host::new(config);
    let reply = host.send("X\r\nY\r\nZ\r\nNOOP\r\n");
    assert_eq!(
        reply,
        "500 5.5.1 Command unrecognized\r\n500 5.5.1 Command unrecognized\r\n\
         500 5.5.1 Command unrecognized\r\n\
         421 4.7.0 mx.example.org Too many errors, closing connection\r\n"
    );
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::TooManyErrors)
    );
}

#[test]
fn idle_clients_time_out() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    host.send("DATA\r\npartial");
    let deadline = host.session.poll_timeout().unwrap();
    assert_eq!(deadline, host.now + Duration::from_secs(300));

    host.session
        .handle_timeout(deadline - Duration::from_secs(1));
    assert!(!host.session.is_closed());
    host.session.handle_timeout(deadline);
    host.drive();
    assert!(
        host.transcript()
            .ends_with("421 4.4.2 mx.example.org Timeout, closing connection\r\n")
    );
    assert_eq!(host.session.close_reason(), Some(CloseReason::Timeout));
    assert_eq!(host.aborted(), [AbortReason::Timeout]);
}

#[test]
fn a_closed_connection_aborts_the_message() {
    let mut host = Host::with_defaults();
    host.send(ENVELOPE);
    host.send("DATA\r\nhalf a message");
    host.session.handle_close();
    host.drive();
    assert_eq!(host.aborted(), [AbortReason::ConnectionClosed]);
    assert!(host.messages.is_empty());
}

#[test]
fn shutdown_says_421() {
    let mut host = Host::with_defaults();
    host.session.shutdown();
    host.drive();
    assert!(
        host.transcript()
            .ends_with("421 4.3.2 mx.example.org Service shutting down\r\n")
    );
}

#[test]
fn refused_connections() {
    let now = Instant::now();
    let mut session = ServerSession::new(config(), now);
    session
        .reject(Reply::new(554, None, "mx.example.org No service for you"))
        .unwrap();
    session.handle_input(b"EHLO c.example\r\nQUIT\r\n", now);
    let written = String::from_utf8(session.poll_transmit().unwrap()).unwrap();
    assert_eq!(
        written,
        "554 mx.example.org No service for you\r\n\
         503 5.5.1 Service refused; only QUIT is allowed\r\n221 2.0.0 Bye\r\n"
    );

    let mut session = ServerSession::new(config(), now);
    session.reject(Reply::new(421, None, "busy")).unwrap();
    assert!(session.is_closed());
    assert_eq!(session.close_reason(), Some(CloseReason::Refused));
}

#[test]
fn early_talkers_are_refused() {
    let now = Instant::now();
    let mut session = ServerSession::new(config(), now);
    session.handle_input(b"EHLO fast.example\r\n", now);
    assert_eq!(session.poll_event(), Some(Event::Connect));
    session.accept().unwrap();
    assert_eq!(
        session.poll_transmit().unwrap(),
        b"554 5.5.1 Commands sent before the greeting\r\n"
    );
    assert_eq!(session.close_reason(), Some(CloseReason::ProtocolViolation));
}

#[test]
fn input_behind_a_pending_verdict_is_bounded() {
    let mut config = config();
    config.limits.buffered_input = 1000;
    let (mut session, now) = greeted(config);
    session.handle_input(b"EHLO c.example\r\n", now);
    assert!(matches!(session.poll_event(), Some(Event::Helo { .. })));
    for _ in 0..20 {
        session.handle_input(
            b"NOOP ......................................................\r\n",
            now,
        );
    }
    assert_eq!(session.close_reason(), Some(CloseReason::InputOverflow));
    let written = session.poll_transmit().unwrap();
    assert!(written.ends_with(b"421 4.7.0 Too much pipelined input\r\n"));
}

#[test]
fn starttls_starts_the_session_over() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("STARTTLS\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert_eq!(host.tls_requests, 1);
    assert!(!host.session.wants_input());

    host.session.tls_established(host.now);
    assert!(host.session.is_tls());
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Send HELO or EHLO first\r\n"
    );
    let ehlo = host.send("EHLO c.example\r\n");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("250 AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert_eq!(
        host.send("STARTTLS\r\n"),
        "503 5.5.1 TLS already active\r\n"
    );
}

#[test]
fn start_tls_is_reported_only_after_the_220_was_taken() {
    let (mut session, now) = greeted(config());
    session.handle_input(b"STARTTLS\r\n", now);
    assert_eq!(
        session.poll_event(),
        None,
        "the 220 has not been written yet"
    );
    assert_eq!(
        session.poll_transmit().unwrap(),
        b"220 2.0.0 Ready to start TLS\r\n"
    );
    assert_eq!(session.poll_event(), Some(Event::StartTls));
}

#[test]
fn commands_pipelined_after_starttls_are_refused() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    let reply = host.send("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n");
    assert_eq!(reply, "554 5.5.1 Commands pipelined after STARTTLS\r\n");
    assert_eq!(host.tls_requests, 0);
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::ProtocolViolation)
    );
}

#[test]
fn bytes_during_the_handshake_end_the_session() {
    let mut host = Host::with_defaults();
    host.send("STARTTLS\r\n");
    host.send("EHLO x\r\n");
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::ProtocolViolation)
    );
}

#[test]
fn submission_requires_tls_and_auth() {
    let mut config = config();
    config.require_tls = true;
    config.require_auth = true;
    let mut host = Host::new(config);
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "530 5.7.0 Must issue a STARTTLS command first\r\n"
    );
    assert_eq!(
        host.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
    host.send("STARTTLS\r\n");
    host.session.tls_established(host.now);
    host.send("EHLO c.example\r\n");
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );

    host.auth = vec![success("alice@b.example")];
    assert_eq!(
        host.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(host.session.authenticated_id(), Some("alice@b.example"));
    assert_eq!(
        host.send("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert!(host.events.iter().any(|e| matches!(
        e,
        Event::AuthStart { mechanism, initial_response: Some(r) }
            if mechanism.as_str() == "PLAIN" && r.expose() == b"\0alice\0secret"
    )));
}

fn tls_host() -> Host {
    let mut config = config();
    config.tls = true;
    let mut host = Host::new(config);
    host.send("EHLO c.example\r\n");
    host
}

#[test]
fn auth_login_runs_challenges() {
    let mut host = tls_host();
    host.auth = vec![
        ServerStep::Challenge(b"Username:".to_vec()),
        ServerStep::Challenge(b"Password:".to_vec()),
        success("alice"),
    ];
    assert_eq!(host.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(host.send("YWxpY2U=\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        host.send("c2VjcmV0\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        host.send("AUTH LOGIN\r\n"),
        "503 5.5.1 Already authenticated\r\n"
    );
    let ehlo = host.send("EHLO c.example\r\n");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
}

#[test]
fn auth_failures_and_cancels() {
    let mut host = tls_host();
    host.auth = vec![ServerStep::Failure(Failure::InvalidCredentials)];
    assert_eq!(
        host.send("AUTH PLAIN AGFsaWNlAHdyb25n\r\n"),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(host.session.authenticated_id(), None);

    host.auth = vec![ServerStep::Challenge(vec![])];
    assert_eq!(host.send("AUTH PLAIN\r\n"), "334 \r\n");
    assert_eq!(host.send("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
    assert!(host.events.contains(&Event::AuthCancelled));

    host.auth = vec![ServerStep::Challenge(vec![])];
    host.send("AUTH PLAIN\r\n");
    assert_eq!(
        host.send("not base64!\r\n"),
        "501 5.5.2 Invalid base64 data\r\n"
    );

    assert_eq!(
        host.send("AUTH CRAM-MD5\r\n"),
        "504 5.5.4 Unrecognized authentication type\r\n"
    );
    assert_eq!(
        host.send("AUTH PLAIN !!\r\n"),
        "501 5.5.2 Invalid base64 data\r\n"
    );

    host.auth = vec![ServerStep::Failure(Failure::TooManyAttempts)];
    assert!(
        host.send("AUTH PLAIN AGEAYg==\r\n")
            .starts_with("454 4.7.0")
    );
}

#[test]
fn auth_success_with_additional_data() {
    let mut host = tls_host();
    host.auth = vec![ServerStep::Success {
        authorization_id: "alice".to_owned(),
        additional_data: Some(b"v=signature".to_vec()),
    }];
    assert_eq!(
        host.send("AUTH PLAIN AGFsaWNlAHg=\r\n"),
        "334 dj1zaWduYXR1cmU=\r\n"
    );
    assert_eq!(host.send("\r\n"), "235 2.7.0 Authentication successful\r\n");
    assert_eq!(host.session.authenticated_id(), Some("alice"));

    // Some clients acknowledge with "=" rather than an empty line.
    let mut host = tls_host();
    host.auth = vec![ServerStep::Success {
        authorization_id: "alice".to_owned(),
        additional_data: Some(b"v=signature".to_vec()),
    }];
    host.send("AUTH PLAIN AGFsaWNlAHg=\r\n");
    assert_eq!(
        host.send("=\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );

    // Without the acknowledgement there is no login.
    let long = format!("{}\r\n", "A".repeat(20_000));
    for ending in ["*\r\n", long.as_str(), "x\ny\r\n"] {
        let mut host = tls_host();
        host.auth = vec![ServerStep::Success {
            authorization_id: "alice".to_owned(),
            additional_data: Some(b"v=signature".to_vec()),
        }];
        host.send("AUTH PLAIN AGFsaWNlAHg=\r\n");
        assert!(host.send(ending).starts_with("50"), "{ending:.10}");
        assert_eq!(host.session.authenticated_id(), None, "{ending:.10}");
    }
}

#[test]
fn over_long_auth_lines_end_the_exchange() {
    let mut host = tls_host();
    host.auth = vec![ServerStep::Challenge(vec![])];
    host.send("AUTH PLAIN\r\n");
    let reply = host.send(&format!("{}\r\n", "A".repeat(20_000)));
    assert_eq!(reply, "500 5.5.6 Authentication line too long\r\n");
    assert_eq!(host.send("NOOP\r\n"), "250 2.0.0 OK\r\n");
}

#[test]
fn plaintext_auth_when_the_host_allows_it() {
    let mut config = config();
    config.allow_plaintext_auth = true;
    let mut host = Host::new(config);
    let ehlo = host.send("EHLO c.example\r\n");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"));
    host.auth = vec![success("a")];
    assert!(host.send("AUTH PLAIN AGEAYg==\r\n").starts_with("235"));
}

#[test]
fn requiretls_needs_tls() {
    let mut config = config();
    config.extensions.requiretls = true;
    let mut host = Host::new(config);
    let ehlo = host.send("EHLO c.example\r\n");
    assert!(!ehlo.contains("REQUIRETLS"), "only advertised over TLS");
    assert!(
        host.send("MAIL FROM:<a@b.example> REQUIRETLS\r\n")
            .starts_with("530 5.7.10")
    );

    let mut host = tls_host();
    host.send("EHLO c.example\r\n");
    assert!(
        host.send("MAIL FROM:<a@b.example> REQUIRETLS\r\n")
            .starts_with("555")
    );
}

#[test]
fn dsn_parameters_reach_the_host() {
    let mut host = Host::with_defaults();
    host.send("EHLO c.example\r\n");
    host.send("MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ314159\r\n");
    host.send("RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.example\r\n");
    let Some(Event::Mail { parameters, .. }) =
        host.events.iter().find(|e| matches!(e, Event::Mail { .. }))
    else {
        panic!("no MAIL event")
    };
    assert_eq!(parameters.envid.as_deref(), Some("QQ314159"));
    let Some(Event::Rcpt { parameters, .. }) =
        host.events.iter().find(|e| matches!(e, Event::Rcpt { .. }))
    else {
        panic!("no RCPT event")
    };
    assert_eq!(parameters.orcpt.as_ref().unwrap().address, "c@d.example");
}

#[test]
fn enhanced_codes_follow_the_extension() {
    let mut config = config();
    config.extensions.enhanced_status_codes = false;
    let mut host = Host::new(config);
    assert_eq!(host.send("NOOP\r\n"), "250 OK\r\n");
    assert!(
        !host
            .send("EHLO c.example\r\n")
            .contains("ENHANCEDSTATUSCODES")
    );
}
