//! The server side of a POP3 session (RFC 1939), as a state machine without I/O.
//!
//! # Driving a session
//!
//! The session has the same shape as `smtp_proto::server::ServerSession`. The host owns the
//! socket, the clock, the credential store and the maildrop. It calls, in a loop:
//!
//! 1. [`ServerSession::poll_event`] until it returns `None`. An event that asks for an
//!    answer ([`Event::needs_answer`]) stops the session until the host gives it with
//!    [`ServerSession::login_ok`], [`ServerSession::login_failed`],
//!    [`ServerSession::auth_step`], [`ServerSession::retrieve`],
//!    [`ServerSession::retrieve_failed`], [`ServerSession::update_done`] or
//!    [`ServerSession::update_failed`]. Input keeps being buffered meanwhile.
//! 2. [`ServerSession::poll_transmit`], writing every byte it returns to the client. Replies
//!    to pipelined commands (RFC 2449 PIPELINING) come out together, in order.
//! 3. Repeat 1 and 2 until both return `None`.
//! 4. If [`ServerSession::is_closed`], close the connection after the write.
//! 5. Otherwise read from the client (while [`ServerSession::wants_input`]) and pass the
//!    bytes to [`ServerSession::handle_input`], or call [`ServerSession::handle_timeout`]
//!    when the instant of [`ServerSession::poll_timeout`] has passed.
//!
//! The greeting is queued by [`ServerSession::new`]. [`Event::StartTls`] is reported only
//! once the `+OK` to STLS has been taken with `poll_transmit`; the host then runs the TLS
//! handshake and calls [`ServerSession::tls_established`].
//!
//! # The maildrop
//!
//! On a successful login the host hands over the maildrop as a list of [`MessageInfo`]:
//! each message's size and unique id (RFC 1939 section 7: 1 to 70 characters of 0x21 to
//! 0x7E). The sizes are reported as they are by STAT and LIST, so they must be the exact
//! size RETR sends: the message as stored with CRLF line ends, before byte-stuffing.
//! Content comes on demand through [`Event::Retrieve`]; the session byte-stuffs it and
//! terminates the multi-line response. DELE only marks messages; at QUIT the session asks
//! the host to remove the marked ones with [`Event::Update`]. A connection that ends any
//! other way (close, timeout, too many errors) removes nothing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::Secret;
use mail_auth::sasl::{Failure, MechanismName, ServerStep};

use crate::command::{Command, ParseError};

/// Every limit of a server session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line, CRLF included (RFC 2449 section 4: 255).
    pub command_line: usize,
    /// Longest SASL response line, CRLF included.
    pub auth_line: usize,
    /// `-ERR` replies (bad commands and failed logins alike) after which the session ends.
    pub errors: u32,
    /// Input held while the host owes an answer; past it the session ends.
    pub buffered_input: usize,
    /// How long the client may stay silent (RFC 1939 section 3: at least 10 minutes).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            command_line: 255,
            auth_line: 12288,
            errors: 10,
            buffered_input: 64 * 1024,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// How a server session behaves: what it offers, what it requires, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name the server greets with.
    pub hostname: String,
    /// The APOP timestamp for the greeting, such as `<1896.697170952@dbc.mtview.ca.us>`,
    /// unique per connection (the host draws it). APOP is accepted only when it is set, and
    /// then over plaintext too: the secret does not cross the wire, though the digest is open
    /// to offline guessing, so hosts that mind leave this unset on unencrypted connections.
    pub apop_timestamp: Option<String>,
    /// The SASL mechanisms AUTH offers (RFC 5034).
    pub sasl_mechanisms: Vec<MechanismName>,
    /// Offer STLS (RFC 2595) while the connection is in plaintext.
    pub stls: bool,
    /// The connection is already encrypted (implicit TLS on port 995).
    pub tls: bool,
    /// Allow USER/PASS and AUTH over an unencrypted connection. Off by default: passwords
    /// would cross the network in the clear.
    pub allow_plaintext: bool,
    /// The EXPIRE capability's argument (RFC 2449: days, or `NEVER`), if advertised.
    pub expire: Option<String>,
    /// The LOGIN-DELAY capability's argument in seconds, if advertised.
    pub login_delay: Option<u32>,
    /// The IMPLEMENTATION capability's argument, if advertised.
    pub implementation: Option<String>,
    /// Limits and timeouts.
    pub limits: Limits,
}

impl ServerConfig {
    /// A configuration with safe defaults: no plaintext login, no STLS until the host has
    /// TLS to offer, no APOP, no SASL mechanisms.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            apop_timestamp: None,
            sasl_mechanisms: Vec::new(),
            stls: false,
            tls: false,
            allow_plaintext: false,
            expire: None,
            login_delay: None,
            implementation: Some("Rampart".to_owned()),
            limits: Limits::default(),
        }
    }
}

/// One message of the maildrop, as the host gives it at login.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The exact size RETR sends, in octets, with CRLF line ends.
    pub size: u64,
    /// The unique id (RFC 1939 section 7: 1 to 70 characters of 0x21 to 0x7E), stable
    /// across sessions.
    pub uid: String,
}

impl MessageInfo {
    /// A message of `size` octets with the unique id `uid`.
    pub fn new(size: u64, uid: impl Into<String>) -> Self {
        Self {
            size,
            uid: uid.into(),
        }
    }
}

/// Why the host refused a login (RFC 2449 and RFC 3206 response codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Wrong name or password: `-ERR [AUTH]`.
    InvalidCredentials,
    /// The maildrop is locked by another session: `-ERR [IN-USE]`.
    InUse,
    /// Logged in too soon after the last login: `-ERR [LOGIN-DELAY]`.
    LoginDelay,
    /// A fault on the server's side: `-ERR [SYS/TEMP]`.
    Temporary,
}

/// Something the host must know or decide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// USER and PASS. Check the password and lock the maildrop, then answer with
    /// [`ServerSession::login_ok`] or [`ServerSession::login_failed`].
    Login {
        /// The name from USER.
        user: String,
        /// The password from PASS.
        password: Secret,
    },
    /// APOP. Check `digest` against [`crate::apop_digest`] of the configured timestamp and
    /// the user's secret, then answer like [`Event::Login`].
    Apop {
        /// The mailbox name.
        user: String,
        /// The client's digest, lowercase hex.
        digest: String,
    },
    /// AUTH with an offered mechanism. Answer with [`ServerSession::auth_step`].
    AuthStart {
        /// The mechanism.
        mechanism: MechanismName,
        /// The decoded initial response, if the client sent one.
        initial_response: Option<Secret>,
    },
    /// The client's answer to a challenge. Answer with [`ServerSession::auth_step`].
    AuthResponse(Secret),
    /// The client cancelled the SASL exchange (`*`) or sent bad base64; the session has
    /// replied. No answer.
    AuthCancelled,
    /// AUTH succeeded: lock and open the maildrop of `user`, then answer with
    /// [`ServerSession::login_ok`] or [`ServerSession::login_failed`].
    OpenMaildrop {
        /// The authorization identity.
        user: String,
    },
    /// The client asked for TLS and the `+OK` went out: run the handshake, then call
    /// [`ServerSession::tls_established`]. No answer.
    StartTls,
    /// RETR or TOP. Answer with [`ServerSession::retrieve`] (the whole message, or at least
    /// the part TOP needs) or [`ServerSession::retrieve_failed`].
    Retrieve {
        /// The message number, 1-based, as in the client's command.
        index: u32,
        /// The message's unique id.
        uid: String,
        /// For TOP, the number of body lines wanted.
        top_lines: Option<u32>,
    },
    /// QUIT in the TRANSACTION state: remove these messages, then answer with
    /// [`ServerSession::update_done`] or [`ServerSession::update_failed`], and release the
    /// maildrop's lock.
    Update {
        /// The unique ids of the messages marked deleted.
        deleted_uids: Vec<String>,
    },
}

impl Event {
    /// Whether the session waits for the host's answer before going on.
    pub fn needs_answer(&self) -> bool {
        !matches!(self, Self::AuthCancelled | Self::StartTls)
    }
}

/// Why an answer from the host was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No event is waiting for this kind of answer.
    #[error("no event is waiting for this answer")]
    NothingPending,
}

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// Too many commands failed.
    TooManyErrors,
    /// The client was silent too long.
    Timeout,
    /// The client sent input it must not send (during or pipelined after STLS).
    ProtocolViolation,
    /// The client sent more input than the session may buffer.
    InputOverflow,
    /// The host closed the session ([`ServerSession::handle_close`]).
    Host,
}

/// The POP3 session state (RFC 1939 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Before login.
    Authorization,
    /// Logged in, with the maildrop open.
    Transaction,
    /// After QUIT, while the host removes the deleted messages.
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Login,
    Auth,
    Maildrop,
    Retrieve { index: usize, top: Option<u32> },
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Command,
    AuthResponse,
    TlsHandshake,
}

#[derive(Debug)]
struct Message {
    info: MessageInfo,
    deleted: bool,
}

/// A server-side POP3 session. See the [module documentation](self) for the call order.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    input: Vec<u8>,
    output: Vec<u8>,
    events: VecDeque<Event>,
    pending: Option<Pending>,
    phase: Phase,
    state: State,
    /// Discarding the rest of an over-long line.
    discarding: bool,
    /// The name from an accepted USER.
    user: Option<String>,
    /// The SASL success data was sent as a challenge; an empty line completes it.
    auth_success: Option<String>,
    maildrop: Vec<Message>,
    tls: bool,
    tls_event: bool,
    errors: u32,
    closed: Option<CloseReason>,
    last_activity: Instant,
}

impl ServerSession {
    /// Starts a session for a client that has just connected; the greeting is queued.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let mut greeting = format!("+OK {} POP3 ready", config.hostname);
        if let Some(timestamp) = &config.apop_timestamp {
            greeting.push(' ');
            greeting.push_str(timestamp);
        }
        greeting.push_str("\r\n");
        Self {
            tls: config.tls,
            config,
            input: Vec::new(),
            output: greeting.into_bytes(),
            events: VecDeque::new(),
            pending: None,
            phase: Phase::Command,
            state: State::Authorization,
            discarding: false,
            user: None,
            auth_success: None,
            maildrop: Vec::new(),
            tls_event: false,
            errors: 0,
            closed: None,
            last_activity: now,
        }
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The session state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
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
    /// pending answer is at its limit, during the TLS handshake, and after the end.
    pub fn wants_input(&self) -> bool {
        self.closed.is_none()
            && self.phase != Phase::TlsHandshake
            && self.input.len() < self.config.limits.buffered_input
    }

    /// Takes the next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        // StartTls waits until the +OK has been taken, so the handshake cannot start
        // before the client has the reply.
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

    /// The instant at which [`ServerSession::handle_timeout`] should be called, if any. There
    /// is none while the host owes an answer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() || self.pending.is_some() || self.tls_event {
            return None;
        }
        Some(self.last_activity + self.config.limits.idle_timeout)
    }

    /// Ends the session if the client has been silent past the timeout. Nothing is deleted
    /// (RFC 1939 section 3: no UPDATE state).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now >= deadline {
            self.close_with(
                "-ERR Idle timeout, closing connection",
                CloseReason::Timeout,
            );
        }
    }

    /// Tells the session the client closed the connection. Nothing is deleted.
    pub fn handle_close(&mut self) {
        if self.closed.is_none() {
            self.closed = Some(CloseReason::Host);
        }
    }

    /// Feeds bytes read from the client, in any split.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.closed.is_some() {
            return;
        }
        self.last_activity = now;
        if self.phase == Phase::TlsHandshake {
            self.close_with(
                "-ERR Data received during TLS negotiation",
                CloseReason::ProtocolViolation,
            );
            return;
        }
        if self.pending.is_some()
            && self.input.len() + bytes.len() > self.config.limits.buffered_input
        {
            self.close_with("-ERR Too much pipelined input", CloseReason::InputOverflow);
            return;
        }
        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// Answers [`Event::Login`], [`Event::Apop`] or [`Event::OpenMaildrop`]: the login
    /// succeeded and the maildrop, locked, holds these messages in order.
    pub fn login_ok(&mut self, maildrop: Vec<MessageInfo>) -> Result<(), AnswerError> {
        if !matches!(self.pending, Some(Pending::Login | Pending::Maildrop)) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.maildrop = maildrop
            .into_iter()
            .map(|info| Message {
                info,
                deleted: false,
            })
            .collect();
        self.state = State::Transaction;
        self.user = None;
        let line = format!("+OK {}", self.maildrop_summary());
        self.send(&line);
        self.process();
        Ok(())
    }

    /// Answers [`Event::Login`], [`Event::Apop`] or [`Event::OpenMaildrop`] with a refusal.
    /// The session stays in the AUTHORIZATION state.
    pub fn login_failed(&mut self, reason: LoginFailure) -> Result<(), AnswerError> {
        if !matches!(self.pending, Some(Pending::Login | Pending::Maildrop)) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.user = None;
        self.send_error(match reason {
            LoginFailure::InvalidCredentials => "-ERR [AUTH] Invalid credentials",
            LoginFailure::InUse => "-ERR [IN-USE] Maildrop is locked by another session",
            LoginFailure::LoginDelay => "-ERR [LOGIN-DELAY] Too soon since the last login",
            LoginFailure::Temporary => "-ERR [SYS/TEMP] Temporary failure, try again later",
        });
        self.process();
        Ok(())
    }

    /// Answers [`Event::AuthStart`] or [`Event::AuthResponse`] with the mechanism's step.
    /// Success leads to [`Event::OpenMaildrop`].
    pub fn auth_step(&mut self, step: ServerStep) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Auth) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        match step {
            ServerStep::Challenge(challenge) => {
                self.send_challenge(&challenge);
                self.phase = Phase::AuthResponse;
            }
            ServerStep::Success {
                authorization_id,
                additional_data: Some(data),
            } => {
                // Data with success goes in a last challenge, answered with an empty line.
                self.send_challenge(&data);
                self.auth_success = Some(authorization_id);
                self.phase = Phase::AuthResponse;
            }
            ServerStep::Success {
                authorization_id,
                additional_data: None,
            } => {
                self.phase = Phase::Command;
                self.open_maildrop(authorization_id);
            }
            ServerStep::Failure(failure) => {
                self.phase = Phase::Command;
                self.send_error(match failure {
                    Failure::Temporary | Failure::TooManyAttempts => {
                        "-ERR [SYS/TEMP] Authentication unavailable, try again later"
                    }
                    Failure::Cancelled => "-ERR Authentication cancelled",
                    Failure::EncryptionRequired => "-ERR [AUTH] Encryption required",
                    _ => "-ERR [AUTH] Authentication failed",
                });
            }
        }
        self.process();
        Ok(())
    }

    /// Answers [`Event::Retrieve`] with the message (with CRLF line ends; a bare LF is sent
    /// as CRLF). The session byte-stuffs it, cuts it for TOP, and ends the response.
    pub fn retrieve(&mut self, message: Vec<u8>) -> Result<(), AnswerError> {
        let Some(Pending::Retrieve { index, top }) = self.pending else {
            return Err(AnswerError::NothingPending);
        };
        self.pending = None;
        match top {
            None => {
                let size = self.maildrop[index].info.size;
                self.send(&format!("+OK {size} octets, message follows"));
            }
            Some(_) => self.send("+OK top of message follows"),
        }
        stuff(&message, top, &mut self.output);
        self.output.extend_from_slice(b".\r\n");
        self.process();
        Ok(())
    }

    /// Answers [`Event::Retrieve`] when the message cannot be read: `-ERR [SYS/TEMP]`.
    pub fn retrieve_failed(&mut self) -> Result<(), AnswerError> {
        if !matches!(self.pending, Some(Pending::Retrieve { .. })) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.send_error("-ERR [SYS/TEMP] Message cannot be read now");
        self.process();
        Ok(())
    }

    /// Answers [`Event::Update`]: the messages are gone. Sends `+OK` and closes.
    pub fn update_done(&mut self) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Update) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        let left = self.maildrop.iter().filter(|m| !m.deleted).count();
        let line = format!(
            "+OK {} POP3 server signing off ({left} messages left)",
            self.config.hostname
        );
        self.close_with(&line, CloseReason::Quit);
        Ok(())
    }

    /// Answers [`Event::Update`]: some messages could not be removed. Sends
    /// `-ERR [SYS/TEMP]` and closes.
    pub fn update_failed(&mut self) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Update) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.close_with(
            "-ERR [SYS/TEMP] Some deleted messages not removed",
            CloseReason::Quit,
        );
        Ok(())
    }

    /// Tells the session the TLS handshake after STLS succeeded.
    pub fn tls_established(&mut self, now: Instant) {
        if self.phase != Phase::TlsHandshake {
            return;
        }
        self.tls = true;
        self.tls_event = false;
        self.user = None;
        self.phase = Phase::Command;
        self.last_activity = now;
    }

    fn maildrop_summary(&self) -> String {
        let (count, size) = self.visible_totals();
        format!("maildrop has {count} messages ({size} octets)")
    }

    fn visible_totals(&self) -> (usize, u64) {
        self.maildrop
            .iter()
            .filter(|m| !m.deleted)
            .fold((0, 0), |(n, s), m| (n + 1, s + m.info.size))
    }

    fn login_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext
    }

    fn open_maildrop(&mut self, user: String) {
        self.pending = Some(Pending::Maildrop);
        self.events.push_back(Event::OpenMaildrop { user });
    }

    fn send(&mut self, line: &str) {
        self.output.extend_from_slice(line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn send_challenge(&mut self, data: &[u8]) {
        let line = format!("+ {}", BASE64.encode(data));
        self.send(&line);
    }

    fn send_error(&mut self, line: &str) {
        self.send(line);
        self.errors += 1;
        if self.errors >= self.config.limits.errors && self.closed.is_none() {
            self.close_with(
                "-ERR Too many errors, closing connection",
                CloseReason::TooManyErrors,
            );
        }
    }

    fn close_with(&mut self, line: &str, reason: CloseReason) {
        self.send(line);
        self.closed = Some(reason);
        self.input.clear();
    }

    fn process(&mut self) {
        while self.closed.is_none() && self.pending.is_none() && self.phase != Phase::TlsHandshake {
            let limit = match self.phase {
                Phase::AuthResponse => self.config.limits.auth_line,
                _ => self.config.limits.command_line,
            };
            let Some(end) = memchr::memchr(b'\n', &self.input) else {
                if self.input.len() > limit {
                    self.discarding = true;
                    self.input.clear();
                }
                return;
            };
            let line: Vec<u8> = self.input.drain(..=end).collect();
            if std::mem::take(&mut self.discarding) || line.len() > limit {
                if self.phase == Phase::AuthResponse {
                    self.events.push_back(Event::AuthCancelled);
                }
                self.phase = Phase::Command;
                self.auth_success = None;
                self.send_error("-ERR Line too long");
                continue;
            }
            let body = &line[..line.len() - 1];
            let Some(body) = body.strip_suffix(b"\r") else {
                self.send_error("-ERR Line must end with CRLF");
                continue;
            };
            if body.contains(&b'\r') {
                self.send_error("-ERR Bare CR in command line");
                continue;
            }
            match self.phase {
                Phase::AuthResponse => self.auth_response(body),
                _ => self.command(body),
            }
        }
    }

    fn auth_response(&mut self, line: &[u8]) {
        self.phase = Phase::Command;
        if line == b"*" {
            self.auth_success = None;
            self.events.push_back(Event::AuthCancelled);
            self.send_error("-ERR Authentication cancelled");
            return;
        }
        if let Some(user) = self.auth_success.take() {
            if line.is_empty() {
                self.open_maildrop(user);
            } else {
                self.events.push_back(Event::AuthCancelled);
                self.send_error("-ERR [AUTH] Authentication failed");
            }
            return;
        }
        match BASE64.decode(line) {
            Ok(data) => {
                self.pending = Some(Pending::Auth);
                self.events
                    .push_back(Event::AuthResponse(Secret::new(data)));
            }
            Err(_) => {
                self.events.push_back(Event::AuthCancelled);
                self.send_error("-ERR Invalid base64 in response");
            }
        }
    }

    fn command(&mut self, line: &[u8]) {
        let command = match Command::parse(line) {
            Ok(command) => command,
            Err(ParseError::Unknown) => return self.send_error("-ERR Unknown command"),
            Err(ParseError::Syntax) => return self.send_error("-ERR Syntax error"),
        };
        match (self.state, command) {
            (_, Command::Noop) if self.state == State::Transaction => self.send("+OK"),
            (_, Command::Capa) => self.capa(),
            (State::Authorization, Command::Quit) => {
                let line = format!("+OK {} POP3 server signing off", self.config.hostname);
                self.close_with(&line, CloseReason::Quit);
            }
            (State::Transaction, Command::Quit) => {
                self.state = State::Update;
                let deleted_uids = self
                    .maildrop
                    .iter()
                    .filter(|m| m.deleted)
                    .map(|m| m.info.uid.clone())
                    .collect();
                self.pending = Some(Pending::Update);
                self.events.push_back(Event::Update { deleted_uids });
            }
            (State::Authorization, command) => self.authorization(command),
            (State::Transaction, command) => self.transaction(command),
            (State::Update, _) => self.send_error("-ERR Command not valid in this state"),
        }
    }

    fn capa(&mut self) {
        let mut lines = vec!["+OK Capability list follows".to_owned(), "TOP".to_owned()];
        lines.push("UIDL".to_owned());
        let authorization = self.state == State::Authorization;
        if authorization && self.login_allowed() {
            lines.push("USER".to_owned());
            if !self.config.sasl_mechanisms.is_empty() {
                let names: Vec<&str> = self
                    .config
                    .sasl_mechanisms
                    .iter()
                    .map(|m| m.as_str())
                    .collect();
                lines.push(format!("SASL {}", names.join(" ")));
            }
        }
        lines.push("RESP-CODES".to_owned());
        lines.push("AUTH-RESP-CODE".to_owned());
        lines.push("PIPELINING".to_owned());
        if let Some(expire) = &self.config.expire {
            lines.push(format!("EXPIRE {expire}"));
        }
        if let Some(delay) = self.config.login_delay {
            lines.push(format!("LOGIN-DELAY {delay}"));
        }
        if let Some(implementation) = &self.config.implementation {
            lines.push(format!("IMPLEMENTATION {implementation}"));
        }
        if authorization && self.config.stls && !self.tls {
            lines.push("STLS".to_owned());
        }
        lines.push(".".to_owned());
        for line in lines {
            self.send(&line);
        }
    }

    fn authorization(&mut self, command: Command) {
        match command {
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !self.login_allowed() => {
                self.user = None;
                self.send_error(
                    "-ERR [AUTH] Plaintext authentication disallowed on an unencrypted \
                     connection, use STLS",
                );
            }
            Command::User(user) => {
                self.user = Some(user);
                self.send("+OK send PASS");
            }
            Command::Pass(password) => match self.user.take() {
                Some(user) => {
                    self.pending = Some(Pending::Login);
                    self.events.push_back(Event::Login { user, password });
                }
                None => self.send_error("-ERR USER first"),
            },
            Command::Apop { user, digest } => {
                self.user = None;
                if self.config.apop_timestamp.is_none() {
                    return self.send_error("-ERR APOP not supported");
                }
                self.pending = Some(Pending::Login);
                self.events.push_back(Event::Apop { user, digest });
            }
            Command::AuthList => {
                self.send("+OK SASL mechanism list follows");
                let names: Vec<String> = if self.login_allowed() {
                    self.config
                        .sasl_mechanisms
                        .iter()
                        .map(|m| m.to_string())
                        .collect()
                } else {
                    Vec::new()
                };
                for name in names {
                    self.send(&name);
                }
                self.send(".");
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                self.user = None;
                if !self.config.sasl_mechanisms.contains(&mechanism) {
                    return self.send_error("-ERR Unrecognized authentication type");
                }
                let initial_response = match initial_response.as_deref() {
                    None => None,
                    Some("=") => Some(Secret::default()),
                    Some(text) => match BASE64.decode(text) {
                        Ok(data) => Some(Secret::new(data)),
                        Err(_) => return self.send_error("-ERR Invalid base64 in response"),
                    },
                };
                self.pending = Some(Pending::Auth);
                self.events.push_back(Event::AuthStart {
                    mechanism,
                    initial_response,
                });
            }
            Command::Stls if self.config.stls && !self.tls => {
                if !self.input.is_empty() {
                    // Commands pipelined after STLS would be read as if they came over TLS
                    // (the CVE-2011-0411 injection): refuse.
                    self.input.clear();
                    self.close_with(
                        "-ERR Commands pipelined after STLS",
                        CloseReason::ProtocolViolation,
                    );
                    return;
                }
                self.user = None;
                self.send("+OK Begin TLS negotiation");
                self.phase = Phase::TlsHandshake;
                self.tls_event = true;
            }
            Command::Stls => self.send_error("-ERR STLS not available"),
            _ => self.send_error("-ERR Command not valid in this state"),
        }
    }

    /// The 0-based index of a visible message, or the error line to send.
    fn message(&self, number: u32) -> Result<usize, String> {
        let index = (number as usize).wrapping_sub(1);
        match self.maildrop.get(index) {
            None => Err("-ERR no such message".to_owned()),
            Some(message) if message.deleted => {
                Err(format!("-ERR message {number} already deleted"))
            }
            Some(_) => Ok(index),
        }
    }

    fn transaction(&mut self, command: Command) {
        let number = match &command {
            Command::List(Some(n)) | Command::Uidl(Some(n)) => Some(*n),
            Command::Retr(n) | Command::Dele(n) | Command::Top(n, _) => Some(*n),
            _ => None,
        };
        let index = match number.map(|n| self.message(n)) {
            Some(Err(line)) => return self.send_error(&line),
            Some(Ok(index)) => index,
            None => 0,
        };
        match command {
            Command::Stat => {
                let (count, size) = self.visible_totals();
                self.send(&format!("+OK {count} {size}"));
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(command, Command::Uidl(_));
                let mut out = Vec::new();
                if uidl {
                    out.extend_from_slice(b"+OK unique-id listing follows\r\n");
                } else {
                    out.extend_from_slice(b"+OK scan listing follows\r\n");
                }
                for (i, message) in self.maildrop.iter().enumerate() {
                    if message.deleted {
                        continue;
                    }
                    let line = if uidl {
                        format!("{} {}\r\n", i + 1, message.info.uid)
                    } else {
                        format!("{} {}\r\n", i + 1, message.info.size)
                    };
                    out.extend_from_slice(line.as_bytes());
                }
                out.extend_from_slice(b".\r\n");
                self.output.extend_from_slice(&out);
            }
            Command::List(Some(n)) => {
                let line = format!("+OK {n} {}", self.maildrop[index].info.size);
                self.send(&line);
            }
            Command::Uidl(Some(n)) => {
                let line = format!("+OK {n} {}", self.maildrop[index].info.uid);
                self.send(&line);
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let top_lines = match command {
                    Command::Top(_, lines) => Some(lines),
                    _ => None,
                };
                self.pending = Some(Pending::Retrieve {
                    index,
                    top: top_lines,
                });
                self.events.push_back(Event::Retrieve {
                    index: n,
                    uid: self.maildrop[index].info.uid.clone(),
                    top_lines,
                });
            }
            Command::Dele(n) => {
                self.maildrop[index].deleted = true;
                self.send(&format!("+OK message {n} deleted"));
            }
            Command::Rset => {
                for message in &mut self.maildrop {
                    message.deleted = false;
                }
                let line = format!("+OK {}", self.maildrop_summary());
                self.send(&line);
            }
            _ => self.send_error("-ERR Command not valid in this state"),
        }
    }
}

/// Writes `message` as the content of a multi-line response: every line ends with CRLF,
/// lines starting with `.` get another, and with `top` only the headers, the blank line and
/// that many body lines go out. The terminating `.` line is not written.
pub(crate) fn stuff(message: &[u8], top: Option<u32>, out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 32 + 2);
    let mut rest = message;
    // With TOP, `Some(n)` once past the headers: body lines still to send.
    let mut body: Option<u32> = None;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &[][..]),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(top) = top {
            match body.as_mut() {
                Some(0) => break,
                Some(remaining) => *remaining -= 1,
                None if line.is_empty() => body = Some(top),
                None => {}
            }
        }
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
}
