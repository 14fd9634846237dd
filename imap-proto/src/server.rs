//! The server side of an IMAP session (RFC 9051, with RFC 3501 compatibility), as a state
//! machine without I/O.
//!
//! # Driving a session
//!
//! The session has the same shape as `smtp_proto::server::ServerSession` and
//! `pop3_proto::server::ServerSession`. The host owns the socket, the clock, the credentials
//! and the store. It calls, in a loop:
//!
//! 1. [`ServerSession::poll_event`] until it returns `None`. An event that asks for an
//!    answer ([`Event::needs_answer`]) stops the session until the host gives it:
//!    [`ServerSession::login_ok`] or [`ServerSession::login_failed`] for [`Event::Login`],
//!    [`ServerSession::auth_step`] for [`Event::AuthStart`] and [`Event::AuthResponse`], and
//!    [`ServerSession::answer`] for [`Event::Request`]. Input keeps being buffered meanwhile.
//! 2. [`ServerSession::poll_transmit`], writing every byte it returns to the client.
//! 3. Repeat 1 and 2 until both return `None`.
//! 4. If [`ServerSession::is_closed`], close the connection after the write.
//! 5. Otherwise wait for the first of: input from the client (while
//!    [`ServerSession::wants_input`]), passed to [`ServerSession::handle_input`]; the instant
//!    of [`ServerSession::poll_timeout`], then [`ServerSession::handle_timeout`]; a change to
//!    the selected mailbox made by anyone, passed to [`ServerSession::mailbox_changed`].
//!
//! The greeting is queued by [`ServerSession::new`]. [`Event::StartTls`] is reported only
//! once the `OK` to STARTTLS has been taken with `poll_transmit`; the host then runs the TLS
//! handshake and calls [`ServerSession::tls_established`].
//!
//! # The store
//!
//! The session keeps the protocol's state: the selected mailbox's message sequence numbers,
//! which updates the client has seen, what `$` holds. It asks the host for what lives in the
//! store with [`Event::Request`], one [`Request`] at a time, each answered with an
//! [`Answer`] or a [`StoreFailure`]. A host over `mail_store::Store` can use the `store`
//! feature's [`crate::store`] adapter, which answers every request and watches the selected
//! mailbox. Mailbox names in requests are the store's: UTF-8, `/`-separated, INBOX spelled
//! `INBOX`.
//!
//! While a mailbox is selected the host watches it (from the answer to [`Request::Select`]
//! until [`Event::Deselected`] or the next select) and passes every change, its own session's
//! included, to [`ServerSession::mailbox_changed`]. The session sends the client the
//! untagged EXISTS, EXPUNGE and FETCH responses at the points RFC 9051 section 7.5.1
//! allows: during IDLE, and at the end of commands, never an EXPUNGE during a FETCH, STORE
//! or SEARCH that uses sequence numbers.

mod fetch;
mod mailboxes;
mod messages;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::Secret;
use mail_auth::sasl::{Failure, MechanismName, ServerStep};

use crate::command::{Command, CommandBody, MailboxName, SeqNumber, SequenceSet, Tag};
use crate::framing::{Frame, Framer};
use crate::mailbox;
use crate::response::{self, Code, Status};

/// Every limit of a server session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line between literals, CRLF included.
    pub command_line: usize,
    /// Largest literal once logged in: the largest message APPEND takes (advertised as
    /// APPENDLIMIT, RFC 7889).
    pub literal: u64,
    /// Largest literal before login: enough for a user name or password, so that an
    /// unauthenticated client cannot make the server hold megabytes.
    pub literal_before_login: u64,
    /// Longest SASL response line, CRLF included.
    pub auth_line: usize,
    /// `BAD` responses (and failed logins) after which the session ends with `BYE`.
    pub bad_commands: u32,
    /// Input held beyond the command being read while the host owes an answer.
    pub buffered_input: usize,
    /// How long an authenticated client may stay silent (RFC 9051 section 5.4: at least 30
    /// minutes). IDLE counts as silence too; clients renew it well within 30 minutes.
    pub idle_timeout: Duration,
    /// How long a client may stay silent before logging in.
    pub login_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            command_line: 8 * 1024,
            literal: 32 * 1024 * 1024,
            literal_before_login: 8 * 1024,
            auth_line: 12 * 1024,
            bad_commands: 10,
            buffered_input: 64 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            login_timeout: Duration::from_secs(60),
        }
    }
}

/// How a session behaves: what it offers, what it requires, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name in the greeting.
    pub hostname: String,
    /// The connection is already encrypted (implicit TLS, port 993).
    pub tls: bool,
    /// Offer STARTTLS while the connection is in plaintext (the host has TLS to offer).
    pub starttls: bool,
    /// Allow LOGIN and AUTHENTICATE over an unencrypted connection. Off by default:
    /// passwords would cross the network in the clear (RFC 9051 section 11.1).
    pub allow_plaintext: bool,
    /// The SASL mechanisms AUTHENTICATE offers.
    pub sasl_mechanisms: Vec<MechanismName>,
    /// The server's fields for the ID response (RFC 2971); empty for `ID NIL`.
    pub id: Vec<(String, String)>,
    /// Limits and timeouts.
    pub limits: Limits,
}

impl ServerConfig {
    /// A configuration with safe defaults: no plaintext login, no STARTTLS until the host
    /// has TLS to offer, no SASL mechanisms.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            tls: false,
            starttls: false,
            allow_plaintext: false,
            sasl_mechanisms: Vec::new(),
            id: vec![("name".to_owned(), "Rampart".to_owned())],
            limits: Limits::default(),
        }
    }
}

/// The protocol state (RFC 9051 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// The session has ended.
    Logout,
}

/// Why a login failed, for [`ServerSession::login_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Wrong user name or password (`NO [AUTHENTICATIONFAILED]`).
    InvalidCredentials,
    /// Too many failures from this client or for this account; try later
    /// (`NO [UNAVAILABLE]`).
    Throttled,
    /// The credential store is unavailable (`NO [UNAVAILABLE]`).
    Temporary,
}

/// A mailbox in the answer to [`Request::ListMailboxes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The store's name: UTF-8, `/`-separated, `INBOX` for the inbox.
    pub name: String,
    /// The RFC 6154 attribute, such as `\Sent`.
    pub special_use: Option<String>,
    /// Whether the user subscribed to it.
    pub subscribed: bool,
}

/// The counters of one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
    /// The highest modification sequence (RFC 7162).
    pub highest_modseq: u64,
    /// Messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Octets of all messages.
    pub size: u64,
}

/// What the session knows of one message without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The UID.
    pub uid: u32,
    /// Its flags in IMAP spelling: `\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`
    /// and keywords.
    pub flags: Vec<String>,
    /// The internal date, in seconds since the Unix epoch.
    pub internal_date: i64,
    /// Size in octets.
    pub size: u64,
    /// The modification sequence of its last change.
    pub modseq: u64,
}

/// How [`Request::StoreFlags`] changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOperation {
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
    /// Replace all flags with these.
    Replace,
}

/// What the session needs from the store. Answer each with [`ServerSession::answer`] and the
/// [`Answer`] variant named in its documentation, or a [`StoreFailure`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Every mailbox of the account: [`Answer::Mailboxes`].
    ListMailboxes,
    /// Open a mailbox (and start watching it, replacing any earlier watch):
    /// [`Answer::Selected`].
    Select {
        /// The mailbox.
        mailbox: String,
    },
    /// A mailbox's counters: [`Answer::Status`].
    Status {
        /// The mailbox.
        mailbox: String,
    },
    /// The metadata of every message of a mailbox, in UID order: [`Answer::Messages`].
    Messages {
        /// The mailbox.
        mailbox: String,
    },
    /// Create a mailbox: [`Answer::Done`].
    Create {
        /// The mailbox.
        mailbox: String,
        /// Its special use (RFC 6154 CREATE-SPECIAL-USE), such as `\Sent`.
        special_use: Option<String>,
    },
    /// Delete a mailbox: [`Answer::Done`].
    Delete {
        /// The mailbox.
        mailbox: String,
    },
    /// Rename a mailbox (and its children): [`Answer::Done`].
    Rename {
        /// The existing name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Subscribe or unsubscribe: [`Answer::Done`].
    Subscribe {
        /// The mailbox.
        mailbox: String,
        /// Subscribe (true) or unsubscribe.
        subscribed: bool,
    },
    /// Append a message, durably, before answering: [`Answer::Appended`].
    Append {
        /// The target mailbox.
        mailbox: String,
        /// Its flags.
        flags: Vec<String>,
        /// The internal date; `None` means now, by the host's clock.
        internal_date: Option<i64>,
        /// The message.
        message: Vec<u8>,
    },
    /// A message's content: [`Answer::Message`].
    Read {
        /// The mailbox.
        mailbox: String,
        /// The message.
        uid: u32,
    },
    /// Change flags: [`Answer::FlagsStored`].
    StoreFlags {
        /// The mailbox.
        mailbox: String,
        /// The messages.
        uids: Vec<u32>,
        /// How.
        operation: FlagOperation,
        /// The flags.
        flags: Vec<String>,
        /// RFC 7162 UNCHANGEDSINCE: leave alone messages changed after this.
        unchanged_since: Option<u64>,
    },
    /// Remove the messages flagged `\Deleted` (only those among `uids`, when given):
    /// [`Answer::Expunged`].
    Expunge {
        /// The mailbox.
        mailbox: String,
        /// UID EXPUNGE's UIDs.
        uids: Option<Vec<u32>>,
    },
    /// Copy messages: [`Answer::Copied`].
    Copy {
        /// The source mailbox.
        from: String,
        /// The messages.
        uids: Vec<u32>,
        /// The target mailbox.
        to: String,
    },
    /// Move messages (RFC 6851): [`Answer::Copied`].
    Move {
        /// The source mailbox.
        from: String,
        /// The messages.
        uids: Vec<u32>,
        /// The target mailbox.
        to: String,
    },
}

/// The host's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The request succeeded and returns nothing.
    Done,
    /// For [`Request::ListMailboxes`].
    Mailboxes(Vec<MailboxInfo>),
    /// For [`Request::Select`].
    Selected {
        /// The counters.
        status: MailboxStatus,
        /// Every message, in UID order.
        messages: Vec<MessageInfo>,
    },
    /// For [`Request::Status`].
    Status(MailboxStatus),
    /// For [`Request::Messages`].
    Messages(Vec<MessageInfo>),
    /// For [`Request::Append`].
    Appended {
        /// The target's UIDVALIDITY.
        uid_validity: u32,
        /// The new message's UID.
        uid: u32,
    },
    /// For [`Request::Read`]: the message, exactly as stored.
    Message(Vec<u8>),
    /// For [`Request::StoreFlags`].
    FlagsStored {
        /// The messages whose flags changed: UID, flags now, modification sequence.
        updated: Vec<(u32, Vec<String>, u64)>,
        /// Messages left alone by UNCHANGEDSINCE.
        modified: Vec<u32>,
    },
    /// For [`Request::Expunge`]: the UIDs removed, ascending.
    Expunged(Vec<u32>),
    /// For [`Request::Copy`] and [`Request::Move`].
    Copied {
        /// The target's UIDVALIDITY.
        uid_validity: u32,
        /// Pairs of (source UID, target UID).
        mapping: Vec<(u32, u32)>,
    },
}

/// Why the store could not do a request, mapped to response codes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// The mailbox or message does not exist (`[NONEXISTENT]`, `[TRYCREATE]` for targets).
    NotFound,
    /// The mailbox exists already (`[ALREADYEXISTS]`).
    AlreadyExists,
    /// Over quota (`[OVERQUOTA]`).
    OverQuota,
    /// Not allowed in the store's state, such as deleting INBOX (`[CANNOT]`), with a reason
    /// for the user.
    Cannot(String),
    /// A temporary failure (`[UNAVAILABLE]`).
    Unavailable,
}

/// A change to the selected mailbox, for [`ServerSession::mailbox_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxChange {
    /// A message arrived.
    Appended {
        /// Its UID.
        uid: u32,
    },
    /// Messages were removed.
    Expunged {
        /// Their UIDs.
        uids: Vec<u32>,
    },
    /// A message's flags changed.
    FlagsChanged {
        /// Its UID.
        uid: u32,
        /// Its flags now.
        flags: Vec<String>,
        /// The change's modification sequence.
        modseq: u64,
    },
    /// The mailbox was deleted or renamed away.
    Removed,
    /// Changes were missed (a lagging watcher); the session rereads the mailbox.
    Missed,
}

/// What the session needs from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// LOGIN. Check the password (with the host's limiter and two-factor rules), then
    /// answer with [`ServerSession::login_ok`] or [`ServerSession::login_failed`].
    Login {
        /// The user name as given.
        username: String,
        /// The password.
        password: Secret,
    },
    /// AUTHENTICATE with an offered mechanism. Answer with [`ServerSession::auth_step`].
    AuthStart {
        /// The mechanism.
        mechanism: MechanismName,
        /// The decoded initial response (RFC 4959 SASL-IR), if the client sent one.
        initial_response: Option<Secret>,
    },
    /// The client's answer to a challenge. Answer with [`ServerSession::auth_step`].
    AuthResponse(Secret),
    /// The client cancelled the SASL exchange or sent bad base64; the session has replied.
    /// No answer.
    AuthCancelled,
    /// The client asked for TLS and the `OK` went out: run the handshake, then call
    /// [`ServerSession::tls_established`]. No answer.
    StartTls,
    /// A store request. Answer with [`ServerSession::answer`].
    Request(Request),
    /// No mailbox is selected any more: stop watching. No answer.
    Deselected,
}

impl Event {
    /// Whether the session waits for the host's answer before going on.
    pub fn needs_answer(&self) -> bool {
        !matches!(
            self,
            Self::AuthCancelled | Self::StartTls | Self::Deselected
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
}

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent LOGOUT.
    Logout,
    /// Too many bad commands.
    TooManyErrors,
    /// The client was silent too long.
    Timeout,
    /// The client broke the protocol in a way the session cannot recover from: a
    /// non-synchronizing literal over the limit, bytes during the TLS handshake.
    ProtocolViolation,
    /// The client sent more than the session holds while the host owed an answer.
    InputOverflow,
    /// The selected mailbox was removed by another session.
    MailboxRemoved,
    /// The host ended the session ([`ServerSession::shutdown`]) or the client closed it.
    Host,
}

/// What the session is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Command,
    /// A SASL response line.
    AuthResponse,
    /// IDLE's `DONE`.
    Idle,
    /// Nothing until the TLS handshake is done.
    TlsHandshake,
}

/// Which kind of answer the host owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Login,
    Auth,
    Request,
}

/// A command in progress across host answers.
struct Running {
    tag: Tag,
    job: messages::Job,
}

/// The selected mailbox as this session's client knows it.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) mailbox: String,
    pub(crate) read_only: bool,
    pub(crate) uid_next: u32,
    pub(crate) highest_modseq: u64,
    /// In sequence-number order (which is UID order).
    pub(crate) messages: Vec<MessageInfo>,
}

impl View {
    pub(crate) fn index_of(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    pub(crate) fn uids(&self) -> Vec<u32> {
        self.messages.iter().map(|m| m.uid).collect()
    }
}

/// The server side of one IMAP connection. See the [module documentation](self) for how
/// to drive it.
pub struct ServerSession {
    config: ServerConfig,
    framer: Framer,
    output: Vec<u8>,
    events: VecDeque<Event>,
    pending: Option<Pending>,
    phase: Phase,
    state: State,
    tls: bool,
    tls_event: bool,
    account: Option<String>,
    /// The tag of AUTHENTICATE or LOGIN while its answer is owed or its exchange runs.
    auth_tag: Option<Tag>,
    /// SASL success data went out as a challenge; an empty line completes the login.
    auth_success: Option<String>,
    running: Option<Running>,
    view: Option<View>,
    /// Changes to the selected mailbox not yet told to the client.
    changes: VecDeque<MailboxChange>,
    /// The mailbox must be reread before updates are sent (messages arrived, changes missed).
    resync: bool,
    /// Messages joined the view on a reread; the client has not had their EXISTS yet.
    arrived: bool,
    /// The client enabled IMAP4rev2 (RFC 5161 ENABLE); otherwise it speaks IMAP4rev1.
    rev2: bool,
    /// The client used a CONDSTORE-enabling command (RFC 7162 section 3.1).
    condstore: bool,
    /// The SEARCH result saved with `RETURN (SAVE)`, as UIDs (RFC 9051 section 6.4.4.1).
    saved: Vec<u32>,
    errors: u32,
    closed: Option<CloseReason>,
    last_activity: Instant,
}

impl ServerSession {
    /// Starts a session for a client that has just connected; the greeting is queued.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let limits = &config.limits;
        let framer = Framer::new(
            limits.command_line,
            limits.literal_before_login,
            limits.command_line * 4 + limits.literal_before_login as usize,
        );
        let mut session = Self {
            tls: config.tls,
            config,
            framer,
            output: Vec::new(),
            events: VecDeque::new(),
            pending: None,
            phase: Phase::Command,
            state: State::NotAuthenticated,
            tls_event: false,
            account: None,
            auth_tag: None,
            auth_success: None,
            running: None,
            view: None,
            changes: VecDeque::new(),
            resync: false,
            arrived: false,
            rev2: false,
            condstore: false,
            saved: Vec::new(),
            errors: 0,
            closed: None,
            last_activity: now,
        };
        let greeting = format!("{} IMAP4rev2 server ready", session.config.hostname);
        let code = Code::Capability(session.capabilities());
        session.untagged(Status::Ok, Some(&code), &greeting);
        session
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The protocol state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The account logged in, if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The selected mailbox (the store's name), if any.
    pub fn selected(&self) -> Option<&str> {
        self.view.as_ref().map(|view| view.mailbox.as_str())
    }

    /// Whether the session has ended; write out any pending transmit, then close.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Whether the host should read more input: false after the end, during the TLS
    /// handshake, and while the input held behind a pending answer is at its limit.
    pub fn wants_input(&self) -> bool {
        self.closed.is_none()
            && self.phase != Phase::TlsHandshake
            && (self.pending.is_none() && self.running.is_none()
                || self.framer.buffered() < self.config.limits.buffered_input)
    }

    /// Takes the next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }

        // StartTls waits until the OK has been taken, so the handshake cannot start
        // before the client has the response.
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
        let timeout = match self.state {
            State::NotAuthenticated => self.config.limits.login_timeout,
            _ => self.config.limits.idle_timeout,
        };
        Some(self.last_activity + timeout)
    }

    /// Ends the session with `BYE` if the client has been silent past the timeout (RFC 9051
    /// section 5.4, the autologout timer).
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now >= deadline {
            self.close_with("Autologout; idle for too long", CloseReason::Timeout);
        }
    }

    /// Tells the session the client closed the connection.
    pub fn handle_close(&mut self) {
        if self.closed.is_none() {
            self.closed = Some(CloseReason::Host);
            self.state = State::Logout;
        }
    }

    /// Ends the session from the host's side (server shutdown) with `* BYE text`.
    pub fn shutdown(&mut self, text: &str) {
        if self.closed.is_none() {
            self.close_with(text, CloseReason::Host);
        }
    }

    /// Feeds bytes read from the client, in any split.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.closed.is_some() {
            return;
        }
        self.last_activity = now;

        // After STARTTLS nothing may arrive until the handshake: bytes here were sent in
        // plaintext behind the command and would otherwise be taken as protected commands
        // (the STARTTLS command injection of CVE-2011-0411 and its IMAP kin).
        if self.phase == Phase::TlsHandshake {
            self.close_with(
                "Data received during TLS negotiation",
                CloseReason::ProtocolViolation,
            );
            return;
        }

        let busy = self.pending.is_some() || self.running.is_some();
        if busy && self.framer.buffered() + bytes.len() > self.input_bound() {
            self.close_with("Too much pipelined input", CloseReason::InputOverflow);
            return;
        }
        self.framer.push(bytes);
        self.process();
    }

    /// Answers [`Event::Login`]: the login succeeded and the session now acts for `account`.
    pub fn login_ok(&mut self, account: impl Into<String>) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Login) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        self.logged_in(account.into());
        self.process();
        Ok(())
    }

    /// Answers [`Event::Login`]: the login failed.
    pub fn login_failed(&mut self, reason: LoginFailure) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Login) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        let tag = self.auth_tag.take();
        let (code, text) = match reason {
            LoginFailure::InvalidCredentials => {
                (Code::AuthenticationFailed, "Authentication failed")
            }
            LoginFailure::Throttled => (Code::Unavailable, "Too many failures, try again later"),
            LoginFailure::Temporary => (Code::Unavailable, "Temporary failure, try again later"),
        };
        self.tagged_error(tag.as_ref(), Status::No, Some(&code), text);
        self.process();
        Ok(())
    }

    /// Answers [`Event::AuthStart`] or [`Event::AuthResponse`] with the mechanism's step.
    pub fn auth_step(&mut self, step: ServerStep) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Auth) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        match step {
            ServerStep::Challenge(challenge) => {
                self.output
                    .extend_from_slice(&response::continuation_base64(&challenge));
                self.phase = Phase::AuthResponse;
            }
            ServerStep::Success {
                authorization_id,
                additional_data: Some(data),
            } => {
                // IMAP has no field for data with success (RFC 9051 section 6.2.2): it goes
                // in a last challenge, which the client answers with an empty line.
                self.output
                    .extend_from_slice(&response::continuation_base64(&data));
                self.auth_success = Some(authorization_id);
                self.phase = Phase::AuthResponse;
            }
            ServerStep::Success {
                authorization_id,
                additional_data: None,
            } => {
                self.phase = Phase::Command;
                self.logged_in(authorization_id);
            }
            ServerStep::Failure(failure) => {
                self.phase = Phase::Command;
                let tag = self.auth_tag.take();
                let (status, code, text) = match failure {
                    Failure::Temporary | Failure::TooManyAttempts => (
                        Status::No,
                        Some(Code::Unavailable),
                        "Authentication unavailable, try again later",
                    ),
                    Failure::Cancelled => (Status::Bad, None, "Authentication cancelled"),
                    Failure::EncryptionRequired => (
                        Status::No,
                        Some(Code::PrivacyRequired),
                        "Encryption required for this mechanism",
                    ),
                    _ => (
                        Status::No,
                        Some(Code::AuthenticationFailed),
                        "Authentication failed",
                    ),
                };
                self.tagged_error(tag.as_ref(), status, code.as_ref(), text);
            }
        }
        self.process();
        Ok(())
    }

    /// Answers [`Event::Request`].
    pub fn answer(&mut self, answer: Result<Answer, StoreFailure>) -> Result<(), AnswerError> {
        if self.pending != Some(Pending::Request) {
            return Err(AnswerError::NothingPending);
        }
        self.pending = None;
        let running = self
            .running
            .take()
            .expect("a pending request always belongs to a running command");
        self.resume(running, answer);
        self.process();
        Ok(())
    }

    /// Tells the session about a change to the selected mailbox, made by anyone. Changes to
    /// a mailbox that is not selected any more are ignored.
    pub fn mailbox_changed(&mut self, change: MailboxChange) {
        if self.view.is_none() || self.closed.is_some() {
            return;
        }
        self.changes.push_back(change);

        // IDLE is the one time updates go out unprompted (RFC 2177).
        let idling = matches!(
            self.running,
            Some(Running {
                job: messages::Job::Idle,
                ..
            })
        );
        if idling && self.pending.is_none() {
            self.flush_during_idle();
        }
    }

    /// Tells the session the TLS handshake after STARTTLS succeeded.
    pub fn tls_established(&mut self, now: Instant) {
        if self.phase != Phase::TlsHandshake {
            return;
        }
        self.tls = true;
        self.tls_event = false;
        self.phase = Phase::Command;
        self.last_activity = now;
        self.framer = self.new_framer();
    }

    /// The largest literal and command the state allows: small before login, so an
    /// unauthenticated client cannot make the server hold a message-sized buffer.
    fn literal_bounds(&self) -> (u64, usize) {
        let limits = &self.config.limits;
        let literal = if self.account.is_some() {
            limits.literal
        } else {
            limits.literal_before_login
        };
        let command = usize::try_from(literal)
            .unwrap_or(usize::MAX)
            .saturating_add(limits.command_line * 4);
        (literal, command)
    }

    fn new_framer(&self) -> Framer {
        let (literal, command) = self.literal_bounds();
        Framer::new(self.config.limits.command_line, literal, command)
    }

    fn input_bound(&self) -> usize {
        self.literal_bounds()
            .1
            .saturating_add(self.config.limits.buffered_input)
    }

    /// The CAPABILITY list for the current state (RFC 9051 section 7.2.2).
    pub fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "SASL-IR",
            "ENABLE",
            "ID",
        ];
        let login_allowed = self.tls || self.config.allow_plaintext;
        let mut owned = Vec::new();
        if self.state == State::NotAuthenticated {
            if !self.tls && self.config.starttls {
                caps.push("STARTTLS");
            }
            if login_allowed {
                for mechanism in &self.config.sasl_mechanisms {
                    owned.push(format!("AUTH={}", mechanism.as_str()));
                }
            } else {
                caps.push("LOGINDISABLED");
            }
        } else {
            caps.extend([
                "IDLE",
                "NAMESPACE",
                "UIDPLUS",
                "MOVE",
                "UNSELECT",
                "CHILDREN",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "SPECIAL-USE",
                "CREATE-SPECIAL-USE",
                "ESEARCH",
                "SEARCHRES",
                "STATUS=SIZE",
                "CONDSTORE",
                "BINARY",
            ]);
            owned.push(format!("APPENDLIMIT={}", self.config.limits.literal));
        }
        let mut words: Vec<&str> = caps;
        words.extend(owned.iter().map(String::as_str));
        words.join(" ")
    }

    // Output helpers.

    fn untagged(&mut self, status: Status, code: Option<&Code>, text: &str) {
        let line = response::status(None, status, code, text);
        self.output.extend_from_slice(&line);
    }

    fn tagged(&mut self, tag: &Tag, status: Status, code: Option<&Code>, text: &str) {
        let line = response::status(Some(tag), status, code, text);
        self.output.extend_from_slice(&line);
    }

    /// A tagged NO or BAD (or an untagged BAD when the tag is unknown), counted toward the
    /// limit on errors.
    fn tagged_error(&mut self, tag: Option<&Tag>, status: Status, code: Option<&Code>, text: &str) {
        let line = response::status(tag, status, code, text);
        self.output.extend_from_slice(&line);
        self.count_error();
    }

    fn count_error(&mut self) {
        self.errors += 1;
        if self.errors >= self.config.limits.bad_commands && self.closed.is_none() {
            self.close_with(
                "Too many errors, closing connection",
                CloseReason::TooManyErrors,
            );
        }
    }

    fn close_with(&mut self, text: &str, reason: CloseReason) {
        self.untagged(Status::Bye, None, text);
        self.closed = Some(reason);
        self.state = State::Logout;
        self.framer = Framer::new(1, 0, 1);
    }

    // Reading.

    fn process(&mut self) {
        // A running command holds the input back, except IDLE, which waits for its DONE.
        while self.closed.is_none()
            && self.pending.is_none()
            && (self.running.is_none() || self.phase == Phase::Idle)
            && self.phase != Phase::TlsHandshake
        {
            match self.phase {
                Phase::AuthResponse | Phase::Idle => {
                    let Some(line) = self.framer.next_line() else {
                        return;
                    };
                    match line {
                        Ok(line) if self.phase == Phase::Idle => self.idle_line(&line),
                        Ok(line) => self.auth_response(&line),
                        Err(_) => {
                            if self.phase == Phase::AuthResponse {
                                self.events.push_back(Event::AuthCancelled);
                            }
                            self.phase = Phase::Command;
                            let idle_tag = self.running.take().map(|running| running.tag);
                            let tag = self.auth_tag.take().or(idle_tag);
                            self.tagged_error(tag.as_ref(), Status::Bad, None, "Line too long");
                        }
                    }
                }
                _ => {
                    let Some(frame) = self.framer.next_command() else {
                        return;
                    };
                    self.frame(frame);
                }
            }
        }
    }

    fn frame(&mut self, frame: Frame) {
        match frame {
            Frame::Command(bytes) => match crate::parse::command(&bytes) {
                Ok(command) => self.command(command),
                Err(error) => {
                    let text = format!("Syntax error: {error}");
                    let tag = error.tag.clone();
                    self.tagged_error(tag.as_ref(), Status::Bad, Some(&Code::Parse), &text);
                }
            },
            Frame::Continue => {
                self.output
                    .extend_from_slice(&response::continuation("Ready for literal data"));
            }
            Frame::TooLong { tag } => {
                self.tagged_error(
                    tag.as_ref(),
                    Status::Bad,
                    Some(&Code::TooBig),
                    "Command too long",
                );
            }
            Frame::LiteralTooLarge {
                tag, synchronizing, ..
            } => {
                let code = Code::TooBig;
                if synchronizing {
                    self.tagged_error(tag.as_ref(), Status::No, Some(&code), "Literal too large");
                } else {
                    // The client is sending the octets anyway (RFC 7888 section 4); reading
                    // them as commands would be wrong and skipping them costs the bandwidth
                    // of an abuser, so the connection ends.
                    let line = response::status(
                        tag.as_ref(),
                        Status::Bad,
                        Some(&code),
                        "Literal too large",
                    );
                    self.output.extend_from_slice(&line);
                    self.close_with("Literal too large", CloseReason::ProtocolViolation);
                }
            }
        }
    }

    fn auth_response(&mut self, line: &[u8]) {
        self.phase = Phase::Command;
        let tag = self.auth_tag.clone();
        if line == b"*" {
            self.auth_success = None;
            self.auth_tag = None;
            self.events.push_back(Event::AuthCancelled);
            self.tagged_error(tag.as_ref(), Status::Bad, None, "Authentication cancelled");
            return;
        }
        if let Some(account) = self.auth_success.take() {
            if line.is_empty() {
                self.logged_in(account);
            } else {
                self.auth_tag = None;
                self.events.push_back(Event::AuthCancelled);
                self.tagged_error(
                    tag.as_ref(),
                    Status::Bad,
                    None,
                    "Expected an empty response",
                );
            }
            return;
        }
        match BASE64.decode(line) {
            Ok(decoded) => {
                self.pending = Some(Pending::Auth);
                self.events
                    .push_back(Event::AuthResponse(Secret::new(decoded)));
            }
            Err(_) => {
                self.auth_tag = None;
                self.events.push_back(Event::AuthCancelled);
                self.tagged_error(tag.as_ref(), Status::Bad, None, "Invalid base64");
            }
        }
    }

    fn logged_in(&mut self, account: String) {
        let tag = self.auth_tag.take();
        self.account = Some(account);
        self.state = State::Authenticated;
        // Logged in, a client may append messages: literals up to the message limit.
        let (literal, command) = self.literal_bounds();
        self.framer.set_limits(literal, command);
        let code = Code::Capability(self.capabilities());
        if let Some(tag) = tag {
            self.tagged(&tag, Status::Ok, Some(&code), "Logged in");
        }
    }

    fn idle_line(&mut self, line: &[u8]) {
        self.phase = Phase::Command;
        let Some(Running { tag, .. }) = self.running.take() else {
            return;
        };
        if line.eq_ignore_ascii_case(b"DONE") {
            self.finish(tag, Status::Ok, None, "IDLE terminated".to_owned(), true);
        } else {
            self.tagged_error(Some(&tag), Status::Bad, None, "Expected DONE");
        }
    }

    fn command(&mut self, command: Command) {
        let Command { tag, body } = command;
        let allowed = match &body {
            CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Logout
            | CommandBody::Id { .. } => true,
            CommandBody::StartTls
            | CommandBody::Authenticate { .. }
            | CommandBody::Login { .. } => self.state == State::NotAuthenticated,
            CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge { .. }
            | CommandBody::Search { .. }
            | CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. } => self.state == State::Selected,
            _ => matches!(self.state, State::Authenticated | State::Selected),
        };
        if !allowed {
            let text = match self.state {
                State::NotAuthenticated => format!("{} needs a login first", body.name()),
                State::Authenticated => format!("{} needs a selected mailbox", body.name()),
                _ => format!("{} is not allowed now", body.name()),
            };
            self.tagged_error(Some(&tag), Status::Bad, None, &text);
            return;
        }

        match body {
            CommandBody::Capability => {
                let line = format!("* CAPABILITY {}\r\n", self.capabilities());
                self.output.extend_from_slice(line.as_bytes());
                self.finish(tag, Status::Ok, None, "CAPABILITY completed".into(), true);
            }
            CommandBody::Noop | CommandBody::Check => {
                let text = format!("{} completed", body.name());
                self.finish(tag, Status::Ok, None, text, true);
            }
            CommandBody::Logout => {
                self.untagged(Status::Bye, None, "Logging out");
                self.tagged(&tag, Status::Ok, None, "LOGOUT completed");
                self.closed = Some(CloseReason::Logout);
                self.state = State::Logout;
            }
            CommandBody::Id { .. } => {
                let mut line = b"* ID ".to_vec();
                if self.config.id.is_empty() {
                    line.extend_from_slice(b"NIL");
                } else {
                    line.push(b'(');
                    for (i, (field, value)) in self.config.id.iter().enumerate() {
                        if i > 0 {
                            line.push(b' ');
                        }
                        response::string_bytes(&mut line, field.as_bytes());
                        line.push(b' ');
                        response::string_bytes(&mut line, value.as_bytes());
                    }
                    line.push(b')');
                }
                line.extend_from_slice(b"\r\n");
                self.output.extend_from_slice(&line);
                self.finish(tag, Status::Ok, None, "ID completed".into(), true);
            }
            CommandBody::StartTls => self.starttls(tag),
            CommandBody::Login { username, password } => self.login(tag, username, password),
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(tag, mechanism, initial_response),
            CommandBody::Enable { capabilities } => self.enable(tag, &capabilities),
            CommandBody::Idle => {
                self.output
                    .extend_from_slice(&response::continuation("idling"));
                self.phase = Phase::Idle;
                self.running = Some(Running {
                    tag,
                    job: messages::Job::Idle,
                });
                self.flush_during_idle();
            }
            CommandBody::Namespace => {
                self.output
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                self.finish(tag, Status::Ok, None, "NAMESPACE completed".into(), true);
            }
            other => self.store_command(tag, other),
        }
    }

    fn starttls(&mut self, tag: Tag) {
        if self.tls || !self.config.starttls {
            self.tagged_error(Some(&tag), Status::Bad, None, "STARTTLS not available");
            return;
        }
        self.tagged(&tag, Status::Ok, None, "Begin TLS negotiation now");
        self.phase = Phase::TlsHandshake;
        self.tls_event = true;

        // Anything pipelined behind STARTTLS came in plaintext; RFC 9051 section 6.2.1
        // says the client must wait, so such bytes are an attack and end the session.
        if self.framer.buffered() > 0 {
            self.close_with(
                "Data received during TLS negotiation",
                CloseReason::ProtocolViolation,
            );
        }
    }

    fn login_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext
    }

    fn login(&mut self, tag: Tag, username: String, password: Secret) {
        if !self.login_allowed() {
            let code = Code::PrivacyRequired;
            self.tagged_error(Some(&tag), Status::No, Some(&code), "LOGIN needs TLS first");
            return;
        }
        self.auth_tag = Some(tag);
        self.pending = Some(Pending::Login);
        self.events.push_back(Event::Login { username, password });
    }

    fn authenticate(
        &mut self,
        tag: Tag,
        mechanism: MechanismName,
        initial_response: Option<Secret>,
    ) {
        if !self.login_allowed() {
            let code = Code::PrivacyRequired;
            self.tagged_error(
                Some(&tag),
                Status::No,
                Some(&code),
                "AUTHENTICATE needs TLS first",
            );
            return;
        }
        if !self.config.sasl_mechanisms.contains(&mechanism) {
            let code = Code::Cannot;
            self.tagged_error(Some(&tag), Status::No, Some(&code), "Unsupported mechanism");
            return;
        }
        self.auth_tag = Some(tag);
        self.pending = Some(Pending::Auth);
        self.events.push_back(Event::AuthStart {
            mechanism,
            initial_response,
        });
    }

    fn enable(&mut self, tag: Tag, capabilities: &[String]) {
        let mut enabled = Vec::new();
        for capability in capabilities {
            if capability.eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 {
                self.rev2 = true;
                enabled.push("IMAP4rev2");
            } else if capability.eq_ignore_ascii_case("CONDSTORE") && !self.condstore {
                self.condstore = true;
                enabled.push("CONDSTORE");
            }
        }

        // RFC 5161 section 3.1: the ENABLED response comes even when empty.
        let mut line = String::from("* ENABLED");
        for capability in enabled {
            line.push(' ');
            line.push_str(capability);
        }
        line.push_str("\r\n");
        self.output.extend_from_slice(line.as_bytes());
        self.finish(tag, Status::Ok, None, "ENABLE completed".into(), true);
    }

    // Mailbox names.

    /// The store's name for a mailbox name from the client, or a tagged BAD.
    fn store_name(&mut self, tag: &Tag, name: &MailboxName) -> Option<String> {
        match mailbox::to_store_name(name, self.rev2) {
            Ok(name) => Some(name),
            Err(error) => {
                let text = format!("Invalid mailbox name: {error}");
                self.tagged_error(Some(tag), Status::Bad, None, &text);
                None
            }
        }
    }

    /// The name as the client sees it, as an astring.
    fn client_name(&self, name: &str) -> String {
        response::astring(mailbox::to_client_name(name, self.rev2).as_bytes())
    }

    // Requests and completion.

    fn request(&mut self, tag: Tag, job: messages::Job, request: Request) {
        self.pending = Some(Pending::Request);
        self.running = Some(Running { tag, job });
        self.events.push_back(Event::Request(request));
    }

    /// Ends a command: sends the updates the client may see now (rereading the mailbox
    /// first if needed), then the tagged response. `allow_expunge` is false for FETCH, STORE
    /// and SEARCH by sequence number (RFC 9051 section 7.5.1).
    fn finish(
        &mut self,
        tag: Tag,
        status: Status,
        code: Option<Code>,
        text: String,
        allow_expunge: bool,
    ) {
        self.note_arrivals();
        if self.view.is_some() && self.resync && allow_expunge {
            let mailbox = self
                .view
                .as_ref()
                .map(|v| v.mailbox.clone())
                .unwrap_or_default();
            self.request(
                tag,
                messages::Job::Finish { status, code, text },
                Request::Messages { mailbox },
            );
            return;
        }
        self.send_updates(allow_expunge);
        let line = response::status(Some(&tag), status, code.as_ref(), &text);
        self.output.extend_from_slice(&line);
        if matches!(status, Status::No | Status::Bad) {
            self.count_error();
        }
    }

    fn flush_during_idle(&mut self) {
        self.note_arrivals();
        self.send_updates(true);
        if self.resync {
            let Some(Running { tag, .. }) = self.running.take() else {
                return;
            };
            let mailbox = self
                .view
                .as_ref()
                .map(|v| v.mailbox.clone())
                .unwrap_or_default();
            self.request(
                tag,
                messages::Job::IdleResync,
                Request::Messages { mailbox },
            );
        }
    }

    /// Takes the arrivals and missed changes out of the queue: they need the mailbox
    /// reread, since a change names only the new UID, not its flags or size.
    fn note_arrivals(&mut self) {
        let Some(view) = self.view.as_ref() else {
            return;
        };
        let mut resync = false;
        self.changes.retain(|change| match change {
            MailboxChange::Appended { uid } => {
                resync |= view.index_of(*uid).is_none() && *uid >= view.uid_next;
                false
            }
            MailboxChange::Missed => {
                resync = true;
                false
            }
            _ => true,
        });
        self.resync |= resync;
    }

    fn resume(&mut self, running: Running, answer: Result<Answer, StoreFailure>) {
        let Running { tag, job } = running;
        match job {
            messages::Job::Finish { status, code, text } => {
                if let Ok(Answer::Messages(list)) = answer {
                    self.reconcile(list);
                }
                self.resync = false;
                self.finish(tag, status, code, text, true);
            }
            messages::Job::IdleResync => {
                if let Ok(Answer::Messages(list)) = answer {
                    self.reconcile(list);
                }
                self.resync = false;
                self.send_updates(true);
                self.running = Some(Running {
                    tag,
                    job: messages::Job::Idle,
                });
                if !self.changes.is_empty() {
                    self.flush_during_idle();
                }
            }
            job => self.resume_job(tag, job, answer),
        }
    }

    /// Compares a fresh listing of the selected mailbox with the view and queues what
    /// changed as if it had been told.
    fn reconcile(&mut self, list: Vec<MessageInfo>) {
        let Some(view) = self.view.as_mut() else {
            return;
        };
        let fresh: std::collections::HashMap<u32, &MessageInfo> =
            list.iter().map(|m| (m.uid, m)).collect();
        let gone: Vec<u32> = view
            .messages
            .iter()
            .filter(|m| !fresh.contains_key(&m.uid))
            .map(|m| m.uid)
            .collect();
        if !gone.is_empty() {
            self.changes
                .push_back(MailboxChange::Expunged { uids: gone });
        }
        for message in &view.messages {
            if let Some(now) = fresh.get(&message.uid)
                && now.modseq > message.modseq
            {
                self.changes.push_back(MailboxChange::FlagsChanged {
                    uid: now.uid,
                    flags: now.flags.clone(),
                    modseq: now.modseq,
                });
            }
        }

        // New messages join the view at once; send_updates reports EXISTS.
        let last = view.messages.last().map_or(0, |m| m.uid);
        for message in list {
            if message.uid > last {
                view.uid_next = view.uid_next.max(message.uid + 1);
                view.highest_modseq = view.highest_modseq.max(message.modseq);
                view.messages.push(message);
                self.arrived = true;
            }
        }
    }

    /// Sends the untagged updates the client may see now and applies them to the view.
    fn send_updates(&mut self, allow_expunge: bool) {
        let mut held = VecDeque::new();
        while let Some(change) = self.changes.pop_front() {
            let Some(view) = self.view.as_mut() else {
                self.changes.clear();
                return;
            };
            match change {
                MailboxChange::Appended { uid } => {
                    if view.index_of(uid).is_none() && uid >= view.uid_next {
                        self.resync = true;
                    }
                }
                MailboxChange::Missed => self.resync = true,
                MailboxChange::FlagsChanged { uid, flags, modseq } => {
                    if let Some(index) = view.index_of(uid)
                        && modseq > view.messages[index].modseq
                    {
                        view.messages[index].flags = flags;
                        view.messages[index].modseq = modseq;
                        view.highest_modseq = view.highest_modseq.max(modseq);
                        let line = fetch::flags_update(
                            index as u32 + 1,
                            &view.messages[index],
                            self.condstore,
                        );
                        self.output.extend_from_slice(&line);
                    }
                }
                MailboxChange::Expunged { uids } if allow_expunge => {
                    for uid in uids {
                        if let Some(index) = view.index_of(uid) {
                            view.messages.remove(index);
                            let line = format!("* {} EXPUNGE\r\n", index + 1);
                            self.output.extend_from_slice(line.as_bytes());
                        }
                    }
                }
                MailboxChange::Expunged { uids } => {
                    held.push_back(MailboxChange::Expunged { uids });
                }
                MailboxChange::Removed if allow_expunge => {
                    self.view = None;
                    self.events.push_back(Event::Deselected);
                    self.close_with("Selected mailbox was removed", CloseReason::MailboxRemoved);
                    self.changes.clear();
                    return;
                }
                MailboxChange::Removed => held.push_back(MailboxChange::Removed),
            }
        }
        self.changes = held;
        if std::mem::take(&mut self.arrived)
            && let Some(view) = &self.view
        {
            let line = format!("* {} EXISTS\r\n", view.messages.len());
            self.output.extend_from_slice(line.as_bytes());
        }
    }

    /// Resolves a sequence set of a command to indexes into the view, or answers BAD for a
    /// message number that does not exist (RFC 9051 section 9, `seq-number`).
    fn resolve(&mut self, tag: &Tag, set: &SequenceSet, uid: bool) -> Option<Vec<usize>> {
        let view = self.view.as_ref()?;
        if !uid && let SequenceSet::Ranges(ranges) = set {
            let count = view.messages.len() as u32;
            let out_of_range = ranges.iter().any(|&(a, b)| {
                matches!((a, b), (SeqNumber::Value(a), SeqNumber::Value(b)) if a.max(b) > count)
            });
            if out_of_range {
                self.tagged_error(
                    Some(tag),
                    Status::Bad,
                    None,
                    "No such message sequence number",
                );
                return None;
            }
        }
        let kind = if uid {
            crate::search::SetKind::Uid
        } else {
            crate::search::SetKind::Sequence
        };
        Some(crate::search::resolve_set(
            set,
            kind,
            &view.uids(),
            &self.saved,
        ))
    }
}

/// Writes a store failure as the code and text of a NO.
fn failure_code(failure: &StoreFailure, target: bool) -> (Code, String) {
    match failure {
        StoreFailure::NotFound if target => (Code::TryCreate, "Mailbox does not exist".into()),
        StoreFailure::NotFound => (Code::NonExistent, "Mailbox does not exist".into()),
        StoreFailure::AlreadyExists => (Code::AlreadyExists, "Mailbox exists already".into()),
        StoreFailure::OverQuota => (Code::OverQuota, "Quota exceeded".into()),
        StoreFailure::Cannot(reason) => (Code::Cannot, reason.clone()),
        StoreFailure::Unavailable => (Code::Unavailable, "Temporary failure, try again".into()),
    }
}
