//! The server side of an SMTP session (RFC 5321), as a state machine without I/O.
//!
//! # Driving a session
//!
//! The host owns the socket, the clock and every policy decision. It calls, in a loop:
//!
//! 1. [`ServerSession::poll_event`] until it returns `None`. An event that asks for a verdict
//!    ([`Event::needs_answer`]) stops the session until the host answers it with
//!    [`ServerSession::accept`], [`ServerSession::accept_with`] or
//!    [`ServerSession::reject`] (or [`ServerSession::auth_step`] for SASL). The answer may come
//!    much later, after an asynchronous lookup; input keeps being buffered meanwhile.
//! 2. [`ServerSession::poll_transmit`], writing every byte it returns to the client. Replies to
//!    pipelined commands come out together, as RFC 2920 wants.
//! 3. Repeat 1 and 2 until both return `None`: taking output can release an event (see
//!    STARTTLS below), and answering an event can produce output.
//! 4. If [`ServerSession::is_closed`], close the connection after the write.
//! 5. Otherwise read from the client (while [`ServerSession::wants_input`]) and pass the bytes
//!    to [`ServerSession::handle_input`], or call [`ServerSession::handle_timeout`] when the
//!    instant of [`ServerSession::poll_timeout`] has passed.
//!
//! [`Event::StartTls`] is reported only once the `220` reply to STARTTLS has been taken with
//! `poll_transmit`; the host then runs the TLS handshake and calls
//! [`ServerSession::tls_established`]. Message content arrives as [`Event::MessageData`]
//! chunks, already dot-unstuffed; the host stores them where it likes and answers
//! [`Event::MessageComplete`] only once the message is safely kept.
//!
//! ```
//! use std::time::Instant;
//! use smtp_proto::server::{Event, ServerConfig, ServerSession};
//!
//! let now = Instant::now();
//! let mut session = ServerSession::new(ServerConfig::new("mx.example.org"), now);
//! let mut written = Vec::new();
//! let mut message = Vec::new();
//!
//! let client = b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n\
//!                RCPT TO:<b@example.org>\r\nDATA\r\n";
//! for input in [&b""[..], client, b"Hello\r\n.\r\n", b"QUIT\r\n"] {
//!     session.handle_input(input, now);
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::MessageData(chunk) => message.extend_from_slice(&chunk),
//!             // A real host checks the client, sender, recipients and quota here, and
//!             // stores the message durably before accepting it.
//!             event if event.needs_answer() => session.accept().unwrap(),
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = session.poll_transmit() {
//!         written.extend_from_slice(&bytes);
//!     }
//! }
//!
//! let written = String::from_utf8(written).unwrap();
//! assert!(written.starts_with("220 mx.example.org ESMTP"));
//! assert!(written.ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"));
//! assert_eq!(message, b"Hello\r\n");
//! assert!(session.is_closed());
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mail_auth::Secret;
use mail_auth::sasl::{Failure, MechanismName, ServerStep};

use crate::address::{Domain, ForwardPath, ReversePath};
use crate::command::{Body, Command, MailParameters, RcptParameters};
use crate::command::{decode_sasl, encode_sasl};
use crate::extension::Extensions;
pub use crate::framing::ContentError;
use crate::framing::{self, ChunkChecker, DataDecoder, Frame};
use crate::reply::{EnhancedStatusCode, Reply, esc};

/// Every limit of a server session, with the defaults of RFC 5321 section 4.5.3.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line, CRLF included (RFC 5321 4.5.3.1.4: at least 512).
    pub command_line: usize,
    /// Longest line of message text, CRLF included (RFC 5321 4.5.3.1.6: at least 1000).
    pub text_line: usize,
    /// Longest SASL response line (RFC 4954 section 4: at least 12288).
    pub auth_line: usize,
    /// Largest message in octets, after dot-unstuffing. Advertised with SIZE when enabled.
    pub message_size: u64,
    /// Most recipients in one transaction (RFC 5321 4.5.3.1.8: at least 100).
    pub recipients: usize,
    /// Replies with a 4xx or 5xx code after which the session ends with 421.
    pub errors: u32,
    /// Input held while the host owes a verdict; past it the session ends with 421.
    pub buffered_input: usize,
    /// Most message content gathered into one [`Event::MessageData`] (at least 1).
    pub data_chunk: usize,
    /// How long the client may stay silent (RFC 5321 4.5.3.2.7: at least 5 minutes).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            command_line: 512,
            text_line: 1000,
            auth_line: 12288,
            message_size: 25 * 1024 * 1024,
            recipients: 100,
            errors: 10,
            buffered_input: 64 * 1024,
            data_chunk: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// How a server session behaves: what it offers, what it requires, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name the server greets with.
    pub hostname: String,
    /// Text after the hostname in the greeting.
    pub greeting: String,
    /// The extensions to advertise. `starttls` is offered only while the connection is in
    /// plaintext, `auth` only where authentication is allowed, `size` with
    /// [`Limits::message_size`].
    pub extensions: Extensions,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The connection is already encrypted (implicit TLS, RFC 8314).
    pub tls: bool,
    /// Refuse MAIL until STARTTLS has run (a submission server's policy).
    pub require_tls: bool,
    /// Refuse MAIL until the client has authenticated (submission, RFC 6409).
    pub require_auth: bool,
    /// Allow AUTH over an unencrypted connection. Off by default: passwords would cross the
    /// network in the clear.
    pub allow_plaintext_auth: bool,
    /// Refuse clients that send commands before the greeting (RFC 5321 section 3.1 says a
    /// client waits for it; spam software often does not).
    pub reject_early_talkers: bool,
}

impl ServerConfig {
    /// A configuration with safe defaults: PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, SIZE,
    /// CHUNKING, SMTPUTF8 and DSN on; STARTTLS off until the host has TLS to offer; no AUTH
    /// until the host lists mechanisms.
    pub fn new(hostname: impl Into<String>) -> Self {
        let limits = Limits::default();
        Self {
            hostname: hostname.into(),
            greeting: "ESMTP Rampart".to_owned(),
            extensions: Extensions {
                size: Some(limits.message_size),
                eight_bit_mime: true,
                pipelining: true,
                enhanced_status_codes: true,
                chunking: true,
                smtputf8: true,
                dsn: true,
                ..Extensions::default()
            },
            limits,
            tls: false,
            require_tls: false,
            require_auth: false,
            allow_plaintext_auth: false,
            reject_early_talkers: true,
        }
    }
}

/// Why a message in progress was dropped. The host discards what it stored of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbortReason {
    /// The content broke a limit or the line-ending rules.
    Content(ContentError),
    /// The client reset the transaction (RSET, EHLO, HELO) between BDAT chunks.
    Reset,
    /// The client went silent past the idle timeout.
    Timeout,
    /// The connection closed before the end of the message.
    ConnectionClosed,
}

/// Something the host must know or decide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A client connected: accept to send the greeting, or reject (554 keeps the connection
    /// open until QUIT as RFC 5321 section 3.1 says; 421 closes it). Needs an answer.
    Connect,
    /// HELO or EHLO. Needs an answer.
    Helo {
        /// The client's claimed name.
        domain: Domain,
        /// EHLO rather than HELO.
        extended: bool,
    },
    /// MAIL FROM, already checked against the session's own rules (sequence, TLS and AUTH
    /// requirements, parameters of disabled extensions, declared size). Needs an answer.
    Mail {
        /// The sender.
        reverse_path: ReversePath,
        /// Its parameters.
        parameters: MailParameters,
    },
    /// RCPT TO, already checked for sequence and the recipient limit. Needs an answer.
    Rcpt {
        /// The recipient.
        forward_path: ForwardPath,
        /// Its parameters.
        parameters: RcptParameters,
    },
    /// A piece of message content, dot-unstuffed, in order. No answer.
    MessageData(Vec<u8>),
    /// The whole message has arrived and met every limit. Accept only once it is stored
    /// durably: the client may delete its copy on the reply. Needs an answer.
    MessageComplete,
    /// The message in progress was dropped; the session has replied or will reply.
    MessageAborted(AbortReason),
    /// The transaction (sender and recipients) was cleared by RSET, HELO or EHLO. No answer.
    TransactionReset,
    /// The client asked for SASL authentication with an offered mechanism. Answer with
    /// [`ServerSession::auth_step`].
    AuthStart {
        /// The mechanism.
        mechanism: MechanismName,
        /// The decoded initial response (RFC 4954 SASL-IR), if the client sent one.
        initial_response: Option<Secret>,
    },
    /// The client's answer to a challenge. Answer with [`ServerSession::auth_step`].
    AuthResponse(Secret),
    /// The client cancelled the SASL exchange with `*`; the session has replied 501.
    AuthCancelled,
    /// The client asked for TLS and the `220` went out: run the handshake, then call
    /// [`ServerSession::tls_established`].
    StartTls,
    /// VRFY, when [`Extensions::vrfy`] lets the host answer it. Needs an answer.
    Vrfy(String),
    /// EXPN, when [`Extensions::expn`] lets the host answer it. Needs an answer.
    Expn(String),
}

impl Event {
    /// Whether the session waits for the host's answer before going on.
    pub fn needs_answer(&self) -> bool {
        matches!(
            self,
            Self::Connect
                | Self::Helo { .. }
                | Self::Mail { .. }
                | Self::Rcpt { .. }
                | Self::MessageComplete
                | Self::AuthStart { .. }
                | Self::AuthResponse(_)
                | Self::Vrfy(_)
                | Self::Expn(_)
        )
    }
}

/// Why an answer from the host was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No event is waiting for this kind of answer.
    #[error("no event is waiting for this answer")]
    NothingPending,
    /// `accept_with` needs a 2xx reply and `reject` a 4xx or 5xx one.
    #[error("the reply's code does not match the answer")]
    WrongReplyClass,
}

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// The host refused the connection with a 421.
    Refused,
    /// Too many commands failed.
    TooManyErrors,
    /// The client was silent too long.
    Timeout,
    /// The client sent input it must not send (before the greeting, after STARTTLS).
    ProtocolViolation,
    /// The client sent more input than the session may buffer.
    InputOverflow,
    /// The host closed the session ([`ServerSession::shutdown`], [`ServerSession::handle_close`]).
    Host,
}

/// The event the host owes an answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    Helo,
    Mail,
    Rcpt,
    Message,
    Auth,
    Verify,
}

/// What the session reads next.
#[derive(Debug)]
enum Phase {
    Command,
    /// A SASL exchange waits for the client's next line.
    AuthResponse,
    Data(DataDecoder),
    Bdat {
        remaining: u64,
        last: bool,
    },
    /// The `220` to STARTTLS is out; no input is valid until the handshake.
    TlsHandshake,
}

/// The current mail transaction (RFC 5321 section 3.3).
#[derive(Debug)]
struct Transaction {
    parameters: MailParameters,
    recipients: usize,
    /// BDAT content checker, once the first chunk came.
    chunks: Option<ChunkChecker>,
    /// The transaction failed part way (BDAT content error); later chunks are read and
    /// refused until it is reset.
    failed: bool,
}

/// A server-side SMTP session. See the [module documentation](self) for the call order.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    input: Vec<u8>,
    output: Vec<u8>,
    events: VecDeque<Event>,
    pending: Option<Pending>,
    /// The reply that `accept` sends for the pending event.
    accept_reply: Option<Reply>,
    phase: Phase,
    /// The content of the message in progress, not yet handed out as an event.
    chunk: Vec<u8>,
    /// Discarding the rest of an over-long line.
    discarding: bool,
    greeted: bool,
    /// The host refused the connection with 554; only QUIT is served (RFC 5321 3.1).
    refused: bool,
    /// `Some(extended)` once HELO or EHLO was accepted.
    helo: Option<bool>,
    /// Whether the HELO or EHLO awaiting its verdict was EHLO.
    helo_extended: bool,
    /// The parameters of the MAIL awaiting its verdict.
    mail_parameters: Option<MailParameters>,
    /// Success with additional data was sent as a challenge; an empty line completes it.
    auth_success_pending: bool,
    tls: bool,
    tls_event: bool,
    authenticated: Option<String>,
    transaction: Option<Transaction>,
    errors: u32,
    closed: Option<CloseReason>,
    last_activity: Instant,
}

impl ServerSession {
    /// Starts a session for a client that has just connected; the first event is
    /// [`Event::Connect`].
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let tls = config.tls;
        let greeting = format!("{} {}", config.hostname, config.greeting);
        Self {
            config,
            input: Vec::new(),
            output: Vec::new(),
            events: VecDeque::from([Event::Connect]),
            pending: Some(Pending::Connect),
            accept_reply: Some(Reply::new(220, None, &greeting)),
            phase: Phase::Command,
            chunk: Vec::new(),
            discarding: false,
            greeted: false,
            refused: false,
            helo: None,
            helo_extended: false,
            mail_parameters: None,
            auth_success_pending: false,
            tls,
            tls_event: false,
            authenticated: None,
            transaction: None,
            errors: 0,
            closed: None,
            last_activity: now,
        }
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The identity the client authenticated as, if it did.
    pub fn authenticated_id(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// Whether the session has ended; write out any pending transmit, then close.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Whether the host should read more input. False while the input buffered behind a
    /// pending verdict is at its limit, during the TLS handshake, and after the end.
    pub fn wants_input(&self) -> bool {
        self.closed.is_none()
            && !matches!(self.phase, Phase::TlsHandshake)
            && self.input.len() < self.config.limits.buffered_input
    }

    /// Takes the next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }

        // StartTls waits until the 220 has been taken, so a host that acts on the event
        // at once cannot start the handshake before the client has the reply.
        if self.tls_event && self.output.is_empty() {
            self.tls_event = false;
            return Some(Event::StartTls);
        }
        None
    }

    /// Takes the bytes to write to the client, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.output.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.output))
    }

    /// The instant at which [`ServerSession::handle_timeout`] should be called, if any. There is
    /// none while the host owes a verdict: the wait is then the host's, not the client's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() || self.pending.is_some() || self.tls_event {
            return None;
        }
        Some(self.last_activity + self.config.limits.idle_timeout)
    }

    /// Ends the session with `421 4.4.2` if the client has been silent past the timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }

        self.abort_message(AbortReason::Timeout);
        let text = format!("{} Timeout, closing connection", self.config.hostname);
        self.close_with(
            Reply::new(421, Some(esc!("4.4.2")), &text),
            CloseReason::Timeout,
        );
    }

    /// Tells the session the client closed the connection; a message in progress is
    /// reported as aborted.
    pub fn handle_close(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.abort_message(AbortReason::ConnectionClosed);
        self.closed = Some(CloseReason::Host);
    }

    /// Ends the session from the host's side (for example when the server shuts down),
    /// sending `421 4.3.2`.
    pub fn shutdown(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.abort_message(AbortReason::ConnectionClosed);
        let text = format!("{} Service shutting down", self.config.hostname);
        self.close_with(
            Reply::new(421, Some(esc!("4.3.2")), &text),
            CloseReason::Host,
        );
    }

    /// Feeds bytes read from the client, in any split.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.closed.is_some() {
            return;
        }
        self.last_activity = now;

        // Bytes during the handshake belong to TLS, never to SMTP.
        if matches!(self.phase, Phase::TlsHandshake) {
            self.close_with(
                Reply::new(
                    421,
                    Some(esc!("4.7.0")),
                    "Data received during TLS negotiation",
                ),
                CloseReason::ProtocolViolation,
            );
            return;
        }

        if self.input.len() + bytes.len() > self.config.limits.buffered_input
            && self.pending.is_some()
        {
            self.close_with(
                Reply::new(421, Some(esc!("4.7.0")), "Too much pipelined input"),
                CloseReason::InputOverflow,
            );
            return;
        }

        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// Accepts the pending event with the session's default positive reply.
    pub fn accept(&mut self) -> Result<(), AnswerError> {
        let reply = self
            .accept_reply
            .clone()
            .ok_or(AnswerError::NothingPending)?;
        self.answer(reply)
    }

    /// Accepts the pending event with the host's own 2xx reply (for example a queue id
    /// in the reply to the message).
    pub fn accept_with(&mut self, reply: Reply) -> Result<(), AnswerError> {
        if !reply.is_positive_completion() {
            return Err(AnswerError::WrongReplyClass);
        }
        self.answer(reply)
    }

    /// Refuses the pending event with a 4xx or 5xx reply.
    pub fn reject(&mut self, reply: Reply) -> Result<(), AnswerError> {
        if !(reply.is_transient_failure() || reply.is_permanent_failure()) {
            return Err(AnswerError::WrongReplyClass);
        }
        self.answer(reply)
    }

    /// Answers [`Event::AuthStart`] or [`Event::AuthResponse`] with the mechanism's step.
    pub fn auth_step(&mut self, step: ServerStep) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Auth) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;

        match step {
            ServerStep::Challenge(challenge) => {
                self.send_challenge(&challenge);
            }
            ServerStep::Success {
                authorization_id,
                additional_data: Some(data),
            } => {
                // RFC 4954 section 4: data with success goes in a last challenge, which the
                // client answers with an empty line before the 235.
                self.authenticated = Some(authorization_id);
                self.send_challenge(&data);
                self.phase = Phase::AuthResponse;
                self.auth_success_pending = true;
                return self.resume();
            }
            ServerStep::Success {
                authorization_id,
                additional_data: None,
            } => {
                self.authenticated = Some(authorization_id);
                self.phase = Phase::Command;
                self.send(Reply::new(
                    235,
                    Some(esc!("2.7.0")),
                    "Authentication successful",
                ));
                return self.resume();
            }
            ServerStep::Failure(failure) => {
                self.phase = Phase::Command;
                self.send_error(failure_reply(failure));
                return self.resume();
            }
        }

        self.phase = Phase::AuthResponse;
        self.resume()
    }

    /// Tells the session the TLS handshake after STARTTLS succeeded. The session starts
    /// over (RFC 3207 section 4.2): it forgets the HELO name, any transaction and any
    /// authentication, and waits for a new EHLO.
    pub fn tls_established(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::TlsHandshake) {
            return;
        }

        self.tls = true;
        self.tls_event = false;
        self.helo = None;
        self.authenticated = None;
        self.transaction = None;
        self.phase = Phase::Command;
        self.last_activity = now;
    }

    fn answer(&mut self, reply: Reply) -> Result<(), AnswerError> {
        let pending = self.pending.ok_or(AnswerError::NothingPending)?;
        if pending == Pending::Auth {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.accept_reply = None;
        let positive = reply.is_positive_completion();

        match pending {
            Pending::Connect => return self.answer_connect(reply),
            Pending::Helo if positive => {
                self.helo = Some(self.helo_extended);
                self.send_unenhanced(reply);
            }
            Pending::Helo => {
                self.helo = None;
                self.send_error(reply);
            }
            Pending::Mail if positive => {
                self.transaction = Some(Transaction {
                    parameters: self.mail_parameters.take().unwrap_or_default(),
                    recipients: 0,
                    chunks: None,
                    failed: false,
                });
                self.send(reply);
            }
            Pending::Rcpt if positive => {
                if let Some(transaction) = self.transaction.as_mut() {
                    transaction.recipients += 1;
                }
                self.send(reply);
            }
            Pending::Message => {
                // Accepted or not, the transaction is over (RFC 5321 section 4.1.1.4).
                self.transaction = None;
                if positive {
                    self.send(reply)
                } else {
                    self.send_error(reply)
                }
            }
            Pending::Mail | Pending::Rcpt | Pending::Verify => {
                if positive || reply.code() == 252 {
                    self.send(reply)
                } else {
                    self.send_error(reply)
                }
            }
            Pending::Auth => unreachable!("handled above"),
        }
        self.resume()
    }

    fn answer_connect(&mut self, reply: Reply) -> Result<(), AnswerError> {
        if reply.is_positive_completion() {
            // Input before the greeting: the client did not wait, as RFC 5321 3.1 says it must.
            if self.config.reject_early_talkers && !self.input.is_empty() {
                self.input.clear();
                self.close_with(
                    Reply::new(
                        554,
                        Some(esc!("5.5.1")),
                        "Commands sent before the greeting",
                    ),
                    CloseReason::ProtocolViolation,
                );
                return Ok(());
            }
            self.greeted = true;
            self.send_unenhanced(reply);
        } else if reply.code() == 421 {
            self.close_with(reply, CloseReason::Refused);
            return Ok(());
        } else {
            self.greeted = true;
            self.refused = true;
            self.send_unenhanced(reply);
        }
        self.resume()
    }

    /// Goes on with buffered input after an answer.
    fn resume(&mut self) -> Result<(), AnswerError> {
        self.process();
        Ok(())
    }
}

/// Reading and answering the client.
impl ServerSession {
    /// Runs buffered input through the session until it runs out, an event needs an
    /// answer, or the session ends.
    fn process(&mut self) {
        let mut input = std::mem::take(&mut self.input);
        let mut consumed = 0;

        while self.pending.is_none() && self.closed.is_none() && consumed < input.len() {
            let used = match self.phase {
                Phase::Command | Phase::AuthResponse => self.process_line(&input[consumed..]),
                Phase::Data(_) => self.process_data(&input[consumed..]),
                Phase::Bdat { .. } => self.process_chunk(&input[consumed..]),
                Phase::TlsHandshake => break,
            };
            if used == 0 {
                break;
            }
            consumed += used;
        }
        self.flush_chunk();

        input.drain(..consumed);
        if self.closed.is_some() {
            input.clear();
        }
        self.input = input;
    }

    /// Frames and handles one line; returns the bytes used (0: the line is incomplete).
    fn process_line(&mut self, buf: &[u8]) -> usize {
        let max = match self.phase {
            Phase::AuthResponse => self.config.limits.auth_line,
            _ => self.config.limits.command_line,
        };

        match framing::next_line(buf, max, self.discarding) {
            Frame::Incomplete => 0,
            Frame::TooLong { consumed, finished } => {
                self.discarding = !finished;
                if finished {
                    self.line_too_long();
                }
                consumed
            }
            Frame::Line { len, bare } => {
                let line = &buf[..len];
                let rest = &buf[len + 2..];
                if bare {
                    self.bare_line_ending();
                } else if matches!(self.phase, Phase::AuthResponse) {
                    self.handle_auth_line(line);
                } else {
                    self.handle_command_line(line, rest);
                }
                len + 2
            }
        }
    }

    /// Ends a SASL exchange that did not complete. A success whose additional data was
    /// never acknowledged does not count.
    fn abandon_auth(&mut self) {
        if self.auth_success_pending {
            self.authenticated = None;
        }
        self.auth_success_pending = false;
        self.phase = Phase::Command;
    }

    fn line_too_long(&mut self) {
        if matches!(self.phase, Phase::AuthResponse) {
            // RFC 4954 section 4 has 500 5.5.6 for an over-long SASL line; the exchange ends.
            self.abandon_auth();
            self.send_error(Reply::new(
                500,
                Some(esc!("5.5.6")),
                "Authentication line too long",
            ));
        } else {
            self.send_error(Reply::new(500, Some(esc!("5.5.2")), "Line too long"));
        }
    }

    fn bare_line_ending(&mut self) {
        if matches!(self.phase, Phase::AuthResponse) {
            self.abandon_auth();
        }
        self.send_error(Reply::new(
            500,
            Some(esc!("5.5.2")),
            "Bare CR or LF in command line; lines end with CRLF",
        ));
    }

    fn handle_command_line(&mut self, line: &[u8], rest: &[u8]) {
        let command = match Command::parse(line) {
            Ok(command) => command,
            Err(error) => return self.send_error(error.reply()),
        };

        if self.refused && command != Command::Quit {
            return self.send_error(bad_sequence("Service refused; only QUIT is allowed"));
        }

        match command {
            Command::Helo(domain) => self.helo(domain, false),
            Command::Ehlo(domain) => self.helo(domain, true),
            Command::Mail {
                reverse_path,
                parameters,
            } => self.mail(reverse_path, parameters),
            Command::Rcpt {
                forward_path,
                parameters,
            } => self.rcpt(forward_path, parameters),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.send(Reply::new(250, Some(esc!("2.0.0")), "OK"));
            }
            Command::Noop => self.send(Reply::new(250, Some(esc!("2.0.0")), "OK")),
            Command::Quit => {
                self.close_with(
                    Reply::new(221, Some(esc!("2.0.0")), "Bye"),
                    CloseReason::Quit,
                );
            }
            Command::Vrfy(what) => self.verify(what, self.config.extensions.vrfy, Event::Vrfy),
            Command::Expn(what) => self.verify(what, self.config.extensions.expn, Event::Expn),
            Command::Help(_) => self.send(Reply::new(
                214,
                Some(esc!("2.0.0")),
                "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY",
            )),
            Command::StartTls => self.starttls(rest),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
        }
    }

    fn helo(&mut self, domain: Domain, extended: bool) {
        // HELO and EHLO both start over (RFC 5321 section 4.1.4).
        self.reset_transaction();

        let reply = if extended {
            let mut lines = vec![format!("{} greets {domain}", self.config.hostname)];
            lines.extend(self.advertised().ehlo_lines());
            Reply::with_lines(250, None, lines)
        } else {
            Reply::new(250, None, &self.config.hostname)
        };
        self.helo_extended = extended;
        self.ask(Pending::Helo, Event::Helo { domain, extended }, reply);
    }

    /// The extensions offered right now: STARTTLS only before TLS, AUTH only where it is
    /// allowed, SIZE with the real limit.
    fn advertised(&self) -> Extensions {
        let mut extensions = self.config.extensions.clone();
        extensions.starttls &= !self.tls;
        if !self.auth_allowed() || self.authenticated.is_some() {
            extensions.auth.clear();
        }
        if extensions.size.is_some() {
            extensions.size = Some(self.config.limits.message_size);
        }
        extensions.requiretls &= self.tls;
        extensions.other.clear();
        extensions
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    fn mail(&mut self, reverse_path: ReversePath, parameters: MailParameters) {
        if let Err(reply) = self.check_mail(&reverse_path, &parameters) {
            return self.send_error(reply);
        }

        self.mail_parameters = Some(parameters.clone());
        let accept = Reply::new(250, Some(esc!("2.1.0")), "Sender OK");
        self.ask(
            Pending::Mail,
            Event::Mail {
                reverse_path,
                parameters,
            },
            accept,
        );
    }

    /// The session's own rules for MAIL, before the host is asked.
    fn check_mail(&self, path: &ReversePath, parameters: &MailParameters) -> Result<(), Reply> {
        let Some(extended) = self.helo else {
            return Err(bad_sequence("Send HELO or EHLO first"));
        };
        if self.transaction.is_some() {
            return Err(bad_sequence("Sender already given"));
        }
        if self.config.require_tls && !self.tls {
            return Err(Reply::new(
                530,
                Some(esc!("5.7.0")),
                "Must issue a STARTTLS command first",
            ));
        }
        if self.config.require_auth && self.authenticated.is_none() {
            return Err(Reply::new(
                530,
                Some(esc!("5.7.0")),
                "Authentication required",
            ));
        }

        // Parameters belong to extensions; one that was not offered does not exist here.
        let ext = &self.config.extensions;
        let offered = |on: bool, name: &str| {
            if on && extended {
                Ok(())
            } else {
                Err(unknown_parameter(name))
            }
        };
        if parameters.size.is_some() {
            offered(ext.size.is_some(), "SIZE")?;
        }
        match parameters.body {
            Some(Body::EightBitMime) => offered(ext.eight_bit_mime, "BODY")?,
            Some(Body::BinaryMime) => offered(false, "BODY=BINARYMIME")?,
            Some(Body::SevenBit) => offered(true, "BODY")?,
            None => {}
        }
        if parameters.smtputf8 {
            offered(ext.smtputf8, "SMTPUTF8")?;
        }
        if parameters.ret.is_some() || parameters.envid.is_some() {
            offered(ext.dsn, "RET/ENVID")?;
        }
        if parameters.auth.is_some() {
            offered(!ext.auth.is_empty(), "AUTH")?;
        }
        if parameters.requiretls {
            offered(ext.requiretls, "REQUIRETLS")?;
            if !self.tls {
                // RFC 8689 section 4.1: REQUIRETLS only over a TLS connection.
                return Err(Reply::new(
                    530,
                    Some(esc!("5.7.10")),
                    "REQUIRETLS needs TLS",
                ));
            }
        }

        if !path.is_ascii() && !parameters.smtputf8 {
            // RFC 6531 section 3.5: a non-ASCII address needs the SMTPUTF8 parameter.
            return Err(Reply::new(
                553,
                Some(esc!("5.6.7")),
                "Non-ASCII address needs SMTPUTF8",
            ));
        }
        if parameters
            .size
            .is_some_and(|size| size > self.config.limits.message_size)
        {
            // RFC 1870 section 6.2: refuse up front what could never be accepted.
            return Err(Reply::new(
                552,
                Some(esc!("5.3.4")),
                "Message size exceeds fixed maximum message size",
            ));
        }
        Ok(())
    }

    fn rcpt(&mut self, forward_path: ForwardPath, parameters: RcptParameters) {
        let Some(transaction) = &self.transaction else {
            return self.send_error(bad_sequence("Need MAIL before RCPT"));
        };
        if transaction.chunks.is_some() {
            return self.send_error(bad_sequence("RCPT after BDAT"));
        }
        if (parameters.notify.is_some() || parameters.orcpt.is_some())
            && !self.config.extensions.dsn
        {
            return self.send_error(unknown_parameter("NOTIFY/ORCPT"));
        }
        if !forward_path.is_ascii() && !transaction.parameters.smtputf8 {
            return self.send_error(Reply::new(
                553,
                Some(esc!("5.6.7")),
                "Non-ASCII address needs SMTPUTF8",
            ));
        }
        if transaction.recipients >= self.config.limits.recipients {
            // RFC 5321 section 4.5.3.1.10: 452, so the client sends the rest later.
            return self.send_error(Reply::new(452, Some(esc!("4.5.3")), "Too many recipients"));
        }

        let accept = Reply::new(250, Some(esc!("2.1.5")), "Recipient OK");
        self.ask(
            Pending::Rcpt,
            Event::Rcpt {
                forward_path,
                parameters,
            },
            accept,
        );
    }

    fn data(&mut self) {
        if let Err(reply) = self.check_data() {
            return self.send_error(reply);
        }

        let limits = &self.config.limits;
        self.phase = Phase::Data(DataDecoder::new(limits.message_size, limits.text_line));
        self.send(Reply::new(
            354,
            None,
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
    }

    fn check_data(&self) -> Result<(), Reply> {
        let Some(transaction) = &self.transaction else {
            return Err(bad_sequence("Need MAIL before DATA"));
        };
        if transaction.chunks.is_some() {
            return Err(bad_sequence("DATA after BDAT"));
        }
        if transaction.parameters.body == Some(Body::BinaryMime) {
            return Err(bad_sequence("BINARYMIME needs BDAT"));
        }
        if transaction.recipients == 0 {
            // RFC 2920 section 3.1: 554 when no recipient was accepted.
            return Err(Reply::new(554, Some(esc!("5.5.1")), "No valid recipients"));
        }
        Ok(())
    }

    fn bdat(&mut self, size: u64, last: bool) {
        if !self.config.extensions.chunking {
            return self.send_error(Reply::new(
                502,
                Some(esc!("5.5.1")),
                "Command not implemented",
            ));
        }

        // The chunk is read whatever happens: RFC 3030 section 3 counts its octets as
        // data, never as commands.
        self.phase = Phase::Bdat {
            remaining: size,
            last,
        };
        let limits = &self.config.limits;
        if let Some(transaction) = self.transaction.as_mut().filter(|t| t.recipients > 0) {
            transaction
                .chunks
                .get_or_insert_with(|| ChunkChecker::new(limits.message_size, limits.text_line));
        }
        if size == 0 {
            self.finish_chunk();
        }
    }

    fn verify(&mut self, what: String, enabled: bool, event: fn(String) -> Event) {
        // RFC 5321 section 3.5.3: 252 neither confirms nor denies; disclosing which
        // addresses exist helps spammers harvest them.
        let cannot = Reply::new(
            252,
            Some(esc!("2.1.5")),
            "Cannot verify the user, but will accept the message and attempt delivery",
        );
        if !enabled {
            return self.send(cannot);
        }
        self.ask(Pending::Verify, event(what), cannot);
    }

    fn starttls(&mut self, rest: &[u8]) {
        if !self.config.extensions.starttls {
            return self.send_error(Reply::new(
                502,
                Some(esc!("5.5.1")),
                "Command not implemented",
            ));
        }
        if self.tls {
            return self.send_error(bad_sequence("TLS already active"));
        }
        if self.transaction.is_some() {
            return self.send_error(bad_sequence("STARTTLS inside a mail transaction"));
        }

        // Plaintext pipelined behind STARTTLS would be taken as sent over TLS (the
        // CVE-2011-0411 command injection); refuse the whole connection instead.
        if !rest.is_empty() {
            return self.close_with(
                Reply::new(
                    554,
                    Some(esc!("5.5.1")),
                    "Commands pipelined after STARTTLS",
                ),
                CloseReason::ProtocolViolation,
            );
        }

        self.send(Reply::new(220, Some(esc!("2.0.0")), "Ready to start TLS"));
        self.phase = Phase::TlsHandshake;
        self.tls_event = true;
    }

    fn auth(&mut self, mechanism: MechanismName, initial_response: Option<Secret>) {
        if self.config.extensions.auth.is_empty() {
            return self.send_error(Reply::new(
                502,
                Some(esc!("5.5.1")),
                "Command not implemented",
            ));
        }
        if !self.auth_allowed() {
            return self.send_error(Reply::new(
                538,
                Some(esc!("5.7.11")),
                "Encryption required for requested authentication mechanism",
            ));
        }
        if self.helo != Some(true) {
            return self.send_error(bad_sequence("Send EHLO first"));
        }
        if self.authenticated.is_some() {
            return self.send_error(bad_sequence("Already authenticated"));
        }
        if self.transaction.is_some() {
            return self.send_error(bad_sequence("AUTH inside a mail transaction"));
        }
        if !self.config.extensions.auth.contains(&mechanism) {
            return self.send_error(Reply::new(
                504,
                Some(esc!("5.5.4")),
                "Unrecognized authentication type",
            ));
        }

        self.pending = Some(Pending::Auth);
        self.events.push_back(Event::AuthStart {
            mechanism,
            initial_response,
        });
    }

    fn handle_auth_line(&mut self, line: &[u8]) {
        if line == b"*" {
            // RFC 4954 section 4: the client cancelled.
            self.abandon_auth();
            self.events.push_back(Event::AuthCancelled);
            return self.send_error(Reply::new(
                501,
                Some(esc!("5.0.0")),
                "Authentication cancelled",
            ));
        }

        if self.auth_success_pending {
            // The client acknowledged the additional data of success with an empty line.
            self.auth_success_pending = false;
            self.phase = Phase::Command;
            // An empty line, or "=" from clients that spell an empty response that way.
            if line.is_empty() || line == b"=" {
                return self.send(Reply::new(
                    235,
                    Some(esc!("2.7.0")),
                    "Authentication successful",
                ));
            }
            self.authenticated = None;
            return self.send_error(failure_reply(Failure::Malformed));
        }

        match decode_sasl(line) {
            Ok(response) => {
                self.pending = Some(Pending::Auth);
                self.events
                    .push_back(Event::AuthResponse(Secret::new(response)));
            }
            Err(_) => {
                self.phase = Phase::Command;
                self.send_error(Reply::new(501, Some(esc!("5.5.2")), "Invalid base64 data"));
            }
        }
    }

    fn send_challenge(&mut self, challenge: &[u8]) {
        // RFC 4954 section 4: an empty challenge is "334 " with nothing after it.
        let encoded = if challenge.is_empty() {
            String::new()
        } else {
            encode_sasl(challenge)
        };
        self.output.extend_from_slice(b"334 ");
        self.output.extend_from_slice(encoded.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    /// Reads message content after DATA.
    fn process_data(&mut self, buf: &[u8]) -> usize {
        let Phase::Data(decoder) = &mut self.phase else {
            unreachable!("phase checked")
        };
        let had_error = decoder.error().is_some();

        // Decoding never makes content longer than its input, so feeding at most the room
        // left in the chunk keeps every MessageData within the limit.
        let room = self
            .config
            .limits
            .data_chunk
            .saturating_sub(self.chunk.len())
            .max(1);
        let decoded = decoder.decode(&buf[..buf.len().min(room)], &mut self.chunk);
        let error = decoder.error();

        if let Some(error) = error.filter(|_| !had_error) {
            self.chunk.clear();
            self.events
                .push_back(Event::MessageAborted(AbortReason::Content(error)));
        }
        if self.chunk.len() >= self.config.limits.data_chunk {
            self.flush_chunk();
        }
        if decoded.finished {
            self.phase = Phase::Command;
            self.flush_chunk();
            match error {
                Some(error) => {
                    self.transaction = None;
                    self.send_error(content_reply(error));
                }
                None => self.ask_message(),
            }
        }
        decoded.consumed
    }

    /// Reads BDAT chunk content.
    fn process_chunk(&mut self, buf: &[u8]) -> usize {
        let Phase::Bdat { remaining, .. } = &mut self.phase else {
            unreachable!("phase checked")
        };
        let room = self
            .config
            .limits
            .data_chunk
            .saturating_sub(self.chunk.len())
            .max(1);
        let take = buf
            .len()
            .min(room)
            .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
        *remaining -= take as u64;
        let done = *remaining == 0;

        if let Some(transaction) = self.transaction.as_mut().filter(|t| !t.failed)
            && let Some(checker) = transaction.chunks.as_mut()
        {
            let had_error = checker.error().is_some();
            checker.check(&buf[..take], &mut self.chunk);
            if let Some(error) = checker.error().filter(|_| !had_error) {
                self.chunk.clear();
                self.events
                    .push_back(Event::MessageAborted(AbortReason::Content(error)));
            }
        }
        if self.chunk.len() >= self.config.limits.data_chunk {
            self.flush_chunk();
        }
        if done {
            self.finish_chunk();
        }
        take
    }

    /// Replies to a BDAT whose octets have all been read.
    fn finish_chunk(&mut self) {
        let Phase::Bdat { last, .. } = self.phase else {
            return;
        };
        self.phase = Phase::Command;
        self.flush_chunk();

        let Some(transaction) = self.transaction.as_mut() else {
            return self.send_error(bad_sequence("Need MAIL before BDAT"));
        };
        if transaction.failed {
            return self.send_error(bad_sequence("Transaction failed; send RSET"));
        }
        let Some(checker) = transaction.chunks.as_ref() else {
            return self.send_error(Reply::new(554, Some(esc!("5.5.1")), "No valid recipients"));
        };

        let error = checker.error().or_else(|| {
            (last && checker.ends_with_bare_cr()).then_some(ContentError::BareLineEnding)
        });
        if let Some(error) = error {
            // The content error event went out when it was found (or goes out now, for a
            // CR left dangling at the very end).
            if checker.error().is_none() {
                self.events
                    .push_back(Event::MessageAborted(AbortReason::Content(error)));
            }
            transaction.failed = true;
            return self.send_error(content_reply(error));
        }

        if last {
            self.ask_message();
        } else {
            self.send(Reply::new(250, Some(esc!("2.0.0")), "Chunk received"));
        }
    }

    fn ask_message(&mut self) {
        let accept = Reply::new(250, Some(esc!("2.0.0")), "Message accepted");
        self.ask(Pending::Message, Event::MessageComplete, accept);
    }

    /// Hands the gathered content to the host.
    fn flush_chunk(&mut self) {
        if !self.chunk.is_empty() {
            self.events
                .push_back(Event::MessageData(std::mem::take(&mut self.chunk)));
        }
    }

    /// Clears the transaction; a BDAT message in progress is aborted.
    fn reset_transaction(&mut self) {
        if let Some(transaction) = self.transaction.take() {
            if transaction.chunks.is_some() && !transaction.failed {
                self.events
                    .push_back(Event::MessageAborted(AbortReason::Reset));
            }
            self.events.push_back(Event::TransactionReset);
        }
    }

    /// Reports a message in progress as aborted (timeouts, closes).
    fn abort_message(&mut self, reason: AbortReason) {
        let in_data = match &self.phase {
            Phase::Data(decoder) => decoder.error().is_none(),
            Phase::Bdat { .. } => true,
            _ => false,
        };
        let in_chunks = self
            .transaction
            .as_ref()
            .is_some_and(|t| t.chunks.is_some() && !t.failed);
        if in_data || in_chunks {
            self.chunk.clear();
            self.events.push_back(Event::MessageAborted(reason));
        }
    }

    /// Raises an event that needs the host's verdict; `accept` is the reply for `accept()`.
    fn ask(&mut self, pending: Pending, event: Event, accept: Reply) {
        self.pending = Some(pending);
        self.accept_reply = Some(accept);
        self.events.push_back(event);
    }

    fn send(&mut self, reply: Reply) {
        reply.encode(
            self.config.extensions.enhanced_status_codes,
            &mut self.output,
        );
    }

    /// Sends a reply without an enhanced code: RFC 2034 section 3 leaves them off the
    /// greeting and the replies to HELO and EHLO.
    fn send_unenhanced(&mut self, reply: Reply) {
        reply.encode(false, &mut self.output);
    }

    /// Sends a failure reply and counts it; too many end the session.
    fn send_error(&mut self, reply: Reply) {
        self.send(reply);
        self.errors += 1;
        if self.errors >= self.config.limits.errors {
            let text = format!(
                "{} Too many errors, closing connection",
                self.config.hostname
            );
            self.close_with(
                Reply::new(421, Some(esc!("4.7.0")), &text),
                CloseReason::TooManyErrors,
            );
        }
    }

    fn close_with(&mut self, reply: Reply, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.send(reply);
        self.closed = Some(reason);
        self.pending = None;
        self.tls_event = false;
    }
}

fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, Some(esc!("5.5.1")), text)
}

fn unknown_parameter(name: &str) -> Reply {
    Reply::new(
        555,
        Some(esc!("5.5.4")),
        &format!("{name} parameter not supported"),
    )
}

/// The RFC 4954 section 6 reply for a failed exchange.
fn failure_reply(failure: Failure) -> Reply {
    let (code, enhanced, text): (u16, EnhancedStatusCode, &str) = match failure {
        Failure::InvalidCredentials => (535, esc!("5.7.8"), "Authentication credentials invalid"),
        Failure::Malformed => (501, esc!("5.5.2"), "Malformed authentication data"),
        Failure::Cancelled => (501, esc!("5.0.0"), "Authentication cancelled"),
        Failure::MechanismTooWeak => (534, esc!("5.7.9"), "Authentication mechanism is too weak"),
        Failure::EncryptionRequired => (
            538,
            esc!("5.7.11"),
            "Encryption required for requested authentication mechanism",
        ),
        Failure::TooManyAttempts => (454, esc!("4.7.0"), "Too many failed attempts, try later"),
        _ => (454, esc!("4.7.0"), "Temporary authentication failure"),
    };
    Reply::new(code, Some(enhanced), text)
}

/// The reply for a message refused for its content.
fn content_reply(error: ContentError) -> Reply {
    match error {
        ContentError::TooLarge => Reply::new(
            552,
            Some(esc!("5.3.4")),
            "Message size exceeds fixed maximum message size",
        ),
        ContentError::LineTooLong => Reply::new(552, Some(esc!("5.6.0")), "Message line too long"),
        ContentError::BareLineEnding => Reply::new(
            550,
            Some(esc!("5.6.0")),
            "Bare CR or LF in message; lines end with CRLF",
        ),
    }
}
