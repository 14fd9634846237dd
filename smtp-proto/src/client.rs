//! The client side of an SMTP session (RFC 5321), as a state machine without I/O.
//!
//! # Driving a session
//!
//! The host owns the socket, the clock and the TLS library. After [`ClientSession::new`] it
//! calls, in a loop:
//!
//! 1. [`ClientSession::poll_transmit`] until it returns `None`, writing every byte to the
//!    server.
//! 2. [`ClientSession::poll_event`] until it returns `None`, reacting to each
//!    [`ClientEvent`]: each event's documentation names the commands the host may call next
//!    ([`ClientSession::send_mail`], [`ClientSession::send_body`], ...). Commands only queue
//!    bytes; go back to step 1 after them.
//! 3. If [`ClientSession::is_closed`], write what `poll_transmit` still holds and close the
//!    connection.
//! 4. Otherwise read from the server and pass the bytes to [`ClientSession::handle_input`];
//!    call [`ClientSession::handle_timeout`] once the instant of
//!    [`ClientSession::poll_timeout`] has passed, and [`ClientSession::handle_close`] when
//!    the server closes the connection.
//!
//! [`ClientEvent::StartTls`] asks for a TLS handshake: the host writes everything
//! `poll_transmit` holds, runs the handshake on the socket, then calls
//! [`ClientSession::tls_established`] and from then on feeds the decrypted bytes.
//!
//! Time only comes in as arguments: every input and every command takes the host's `now`,
//! from which the session counts the timeouts of RFC 5321 section 4.5.3.2.
//!
//! ```
//! use std::time::Instant;
//! use smtp_proto::address::{Domain, ForwardPath, ReversePath};
//! use smtp_proto::client::{ClientConfig, ClientEvent, ClientSession, Envelope};
//!
//! let now = Instant::now();
//! let config = ClientConfig::new(Domain::Name("client.example".into()));
//! let mut session = ClientSession::new(config, now);
//! let mut written = Vec::new();
//! let mut delivered = None;
//!
//! // What the server sends, one read at a time.
//! let server: [&[u8]; 5] = [
//!     b"220 mx.example.org ESMTP\r\n",
//!     b"250-mx.example.org\r\n250 PIPELINING\r\n",
//!     b"250 OK\r\n250 OK\r\n354 Go ahead\r\n",
//!     b"250 Queued as 12345\r\n",
//!     b"221 Bye\r\n",
//! ];
//! for input in server {
//!     session.handle_input(input, now);
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             ClientEvent::Ready { .. } => {
//!                 let envelope = Envelope::new(ReversePath::Null, [ForwardPath::Postmaster]);
//!                 session.send_mail(envelope, now).unwrap();
//!             }
//!             ClientEvent::ReadyForBody => {
//!                 session.send_body(b"Subject: Hello\r\n\r\nHi!\r\n", now).unwrap();
//!                 session.finish_body(now).unwrap();
//!             }
//!             ClientEvent::MessageSent(delivery) => {
//!                 delivered = Some(delivery);
//!                 session.quit(now).unwrap();
//!             }
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = session.poll_transmit() {
//!         written.extend_from_slice(&bytes);
//!     }
//! }
//!
//! let written = String::from_utf8(written).unwrap();
//! assert!(written.starts_with("EHLO client.example\r\nMAIL FROM:<>\r\n"));
//! assert!(written.ends_with("Hi!\r\n.\r\nQUIT\r\n"));
//! assert_eq!(delivered.unwrap().reply.text(), "Queued as 12345");
//! assert!(session.is_closed());
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use mail_auth::Secret;
use mail_auth::sasl::{self, ClientMechanism, MechanismName};

use crate::address::{Domain, ForwardPath, ReversePath};
use crate::command::{Body, Command, MailParameters, RcptParameters, decode_sasl, encode_sasl};
use crate::extension::Extensions;
use crate::reply::{MAX_REPLY_LINE, Reply, ReplyError, ReplyParser};

/// The longest command line a client may send, CRLF included (RFC 5321 section 4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;

/// Every setting of a client session: the name it greets with, the timeouts of RFC 5321
/// section 4.5.3.2 and the bounds on what it buffers. [`ClientConfig::new`] gives the RFC's
/// values; change fields afterwards as needed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The name sent with EHLO and HELO: the client's fully qualified domain name, or an
    /// address literal when it has none (RFC 5321 section 4.1.1.1).
    pub helo_domain: Domain,
    /// Waiting for the 220 greeting (section 4.5.3.2.1): 5 minutes.
    pub greeting_timeout: Duration,
    /// Waiting for the reply to MAIL (section 4.5.3.2.2): 5 minutes.
    pub mail_timeout: Duration,
    /// Waiting for the reply to each RCPT (section 4.5.3.2.3): 5 minutes.
    pub rcpt_timeout: Duration,
    /// Waiting for the 354 to DATA (section 4.5.3.2.4): 2 minutes.
    pub data_initiation_timeout: Duration,
    /// Sending the message (section 4.5.3.2.5): 3 minutes. The session cannot see the
    /// socket, so it counts from [`ClientEvent::ReadyForBody`] and from each
    /// [`ClientSession::send_body`]: a host that stalls longer between chunks (or a BDAT
    /// chunk left that long without its reply) fails the session.
    pub data_block_timeout: Duration,
    /// Waiting for the reply to the end of the message, `.` or `BDAT LAST` (section
    /// 4.5.3.2.6): 10 minutes.
    pub data_termination_timeout: Duration,
    /// Waiting for the reply to any other command (EHLO, HELO, STARTTLS, AUTH, RSET, QUIT),
    /// for which RFC 5321 names no value: 5 minutes, as for MAIL.
    pub command_timeout: Duration,
    /// The longest reply line accepted, CRLF included: 512 (section 4.5.3.1.5). Some
    /// servers send longer ones; raise it to talk to them.
    pub max_reply_line: usize,
    /// The most lines one reply may have: 100, enough for any EHLO reply.
    pub max_reply_lines: usize,
    /// Whether [`ClientSession::authenticate`] may run before TLS is on. Off by default, so
    /// credentials never cross the network in clear text.
    pub allow_plaintext_auth: bool,
    /// Whether the connection is TLS from its first byte (RFC 8314 implicit TLS, port 465):
    /// [`ClientSession::is_tls`] is then true from the start.
    pub tls_on_connect: bool,
}

impl ClientConfig {
    /// The RFC 5321 defaults, greeting the server as `helo_domain`.
    pub fn new(helo_domain: Domain) -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            helo_domain,
            greeting_timeout: 5 * MINUTE,
            mail_timeout: 5 * MINUTE,
            rcpt_timeout: 5 * MINUTE,
            data_initiation_timeout: 2 * MINUTE,
            data_block_timeout: 3 * MINUTE,
            data_termination_timeout: 10 * MINUTE,
            command_timeout: 5 * MINUTE,
            max_reply_line: MAX_REPLY_LINE,
            max_reply_lines: 100,
            allow_plaintext_auth: false,
            tls_on_connect: false,
        }
    }
}

/// One message's envelope: the sender and the recipients with their ESMTP parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The MAIL FROM path; [`ReversePath::Null`] for a bounce.
    pub reverse_path: ReversePath,
    /// The MAIL FROM parameters. `SIZE` is sent only when set here (and dropped when the
    /// server did not offer SIZE); `SMTPUTF8` is added when an address needs it.
    pub parameters: MailParameters,
    /// The recipients in the order their RCPT commands are sent; at least one.
    pub recipients: Vec<(ForwardPath, RcptParameters)>,
}

impl Envelope {
    /// An envelope without ESMTP parameters.
    pub fn new(
        reverse_path: ReversePath,
        recipients: impl IntoIterator<Item = ForwardPath>,
    ) -> Self {
        let recipients = recipients
            .into_iter()
            .map(|r| (r, RcptParameters::default()));
        Self {
            reverse_path,
            parameters: MailParameters::default(),
            recipients: recipients.collect(),
        }
    }
}

/// The outcome of a message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The recipients the server accepted, in order; the message went to them.
    pub accepted: Vec<ForwardPath>,
    /// The recipients the server refused, each with its reply (a 4xx may be retried later,
    /// a 5xx is permanent).
    pub rejected: Vec<(ForwardPath, Reply)>,
    /// The server's reply to the end of the message, often with a queue identifier.
    pub reply: Reply,
}

/// The step at which a mail transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The server refused MAIL FROM.
    Mail,
    /// The server refused every recipient.
    Recipients,
    /// The server refused DATA.
    Data,
    /// The server refused the message content (a BDAT chunk or the end of the message).
    Message,
}

/// A mail transaction that delivered nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionFailure {
    /// Where it failed.
    pub stage: Stage,
    /// The reply that failed it. When every recipient was refused it is the last
    /// recipient's reply; each recipient's own reply is in `rejected`.
    pub reply: Reply,
    /// The recipients the server had accepted before the failure; none of them got the
    /// message.
    pub accepted: Vec<ForwardPath>,
    /// The recipients the server refused, with their replies.
    pub rejected: Vec<(ForwardPath, Reply)>,
}

/// What the session reports to the host. Each variant says what the host may do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// EHLO (or the HELO fallback, with no extensions) succeeded, after the greeting or
    /// after STARTTLS. Next: [`ClientSession::send_mail`], [`ClientSession::start_tls`],
    /// [`ClientSession::authenticate`], [`ClientSession::reset`] or [`ClientSession::quit`].
    Ready {
        /// What the server offers; also kept as [`ClientSession::extensions`].
        extensions: Extensions,
    },
    /// The server agreed to STARTTLS. Next: write everything [`ClientSession::poll_transmit`]
    /// holds, run the TLS handshake, then call [`ClientSession::tls_established`]; a
    /// [`ClientEvent::Ready`] follows with the extensions offered over TLS.
    StartTls,
    /// The server refused STARTTLS. The session is still usable in clear text; whether to
    /// go on or [`ClientSession::quit`] is the host's choice.
    TlsRefused(Reply),
    /// The server accepted the credentials (235). Next: as after [`ClientEvent::Ready`].
    Authenticated,
    /// Authentication failed; the session is as it was before
    /// [`ClientSession::authenticate`], and another mechanism may be tried.
    AuthFailed {
        /// The server's final reply (535 for wrong credentials; 501 after a cancel).
        reply: Reply,
        /// Why the mechanism cancelled the exchange with `*`, when it did.
        cancelled: Option<sasl::ClientError>,
    },
    /// The envelope is accepted (for DATA, the server sent 354). Next: any number of
    /// [`ClientSession::send_body`] calls, then [`ClientSession::finish_body`].
    ReadyForBody,
    /// The server accepted the message. The session is ready for the next
    /// [`ClientSession::send_mail`].
    MessageSent(Delivery),
    /// The transaction delivered nothing. The session is ready again (it sent RSET where
    /// the server could still hold the transaction).
    TransactionFailed(TransactionFailure),
    /// The server answered [`ClientSession::reset`]. Next: as after [`ClientEvent::Ready`].
    Reset,
    /// The server answered QUIT (or closed the connection after it). The last event.
    Closed,
    /// The session failed and is closed; the last event. Close the connection after writing
    /// what `poll_transmit` still holds (a polite QUIT after a refused greeting).
    Failed(ClientError),
}

/// Why a command was refused or why the session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The command does not fit the session's current state, which the text describes.
    #[error("the session cannot take this command now: {0}")]
    NotReady(&'static str),
    /// The command or parameter needs an extension the server did not advertise.
    #[error("the server did not offer {0}")]
    NotOffered(&'static str),
    /// Authentication was asked for before TLS, which the configuration forbids.
    #[error("authentication without TLS is disabled (ClientConfig::allow_plaintext_auth)")]
    TlsRequired,
    /// The envelope has no recipient.
    #[error("the envelope has no recipients")]
    NoRecipients,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The server refused the session in its greeting (for example with 554).
    #[error("the server refused the session: {0}")]
    GreetingRejected(Reply),
    /// The server refused both EHLO and HELO.
    #[error("the server refused EHLO and HELO: {0}")]
    HelloRejected(Reply),
    /// The server is shutting the session down (421, RFC 5321 section 3.8).
    #[error("the server is closing the session: {0}")]
    ServiceClosing(Reply),
    /// The server did not answer in time, or the host stopped sending the message.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server closed the connection without QUIT.
    #[error("the server closed the connection")]
    ConnectionLost,
}

/// How the server broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line is malformed, too long, or one of too many.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// A reply line ends in LF without CR.
    #[error("reply line ends in a bare LF")]
    BareLf,
    /// A reply line holds a CR that is not part of its CRLF.
    #[error("reply line holds a bare CR")]
    BareCr,
    /// The server sent data while no command was waiting for a reply.
    #[error("the server sent data while no reply was expected")]
    Unsolicited,
    /// The server sent clear-text data after its 220 to STARTTLS, where only the TLS
    /// handshake may follow: a response injected by someone on the path, which RFC 3207
    /// section 4.2 says must not count.
    #[error("the server sent data between STARTTLS and the TLS handshake")]
    DataBeforeTls,
    /// A reply that makes no sense where it came, such as a challenge after a cancel.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(Reply),
}

/// What the session is doing, which decides the commands it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Hello,
    Ready,
    StartTls,
    /// The host runs the TLS handshake; no input is valid until it is done.
    Handshake,
    Auth,
    /// MAIL, RCPT and maybe DATA are out; their replies decide the transaction.
    Envelope,
    /// The host streams the message.
    Body,
    /// The message is complete on our side; its final reply is awaited.
    Finishing,
    /// The transaction failed; replies still in flight are read before RSET.
    Aborting,
    Reset,
    Quit,
    Closed,
}

impl Phase {
    /// The state, in the words of [`ClientError::NotReady`].
    fn describe(self) -> &'static str {
        match self {
            Self::Greeting => "waiting for the server's greeting",
            Self::Hello => "waiting for the reply to EHLO",
            Self::Ready => "no message is being sent",
            Self::StartTls => "waiting for the reply to STARTTLS",
            Self::Handshake => "waiting for the TLS handshake (tls_established)",
            Self::Auth => "an AUTH exchange is in progress",
            Self::Envelope => "waiting for the replies to the envelope",
            Self::Body => "the message is being sent",
            Self::Finishing => "waiting for the reply to the message",
            Self::Aborting => "the transaction failed; TransactionFailed follows",
            Self::Reset => "waiting for the reply to RSET",
            Self::Quit => "waiting for the reply to QUIT",
            Self::Closed => "the session is closed",
        }
    }
}

/// The reply the session waits for: one per command sent, in the order sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// The reply to a BDAT chunk other than the last.
    Chunk,
    /// The reply to the end of the message: `.` after DATA, or `BDAT LAST`.
    Final,
    Rset(AfterRset),
    Quit,
}

impl Expect {
    /// What a timeout waited for, in the words of [`ClientError::Timeout`].
    fn describe(self) -> &'static str {
        match self {
            Self::Greeting => "the greeting",
            Self::Ehlo => "the reply to EHLO",
            Self::Helo => "the reply to HELO",
            Self::StartTls => "the reply to STARTTLS",
            Self::Auth => "the reply to AUTH",
            Self::Mail => "the reply to MAIL",
            Self::Rcpt => "the reply to RCPT",
            Self::Data => "the reply to DATA",
            Self::Chunk => "the reply to BDAT",
            Self::Final => "the reply to the end of the message",
            Self::Rset(_) => "the reply to RSET",
            Self::Quit => "the reply to QUIT",
        }
    }
}

/// What the reply to RSET completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterRset {
    /// The host's [`ClientSession::reset`].
    Host,
    /// The cleanup of a failed transaction, which is then reported.
    Transaction,
}

/// A SASL exchange in progress. Not `Debug`: the mechanism holds credentials.
struct AuthExchange {
    mechanism: Box<dyn ClientMechanism>,
    /// An initial response too long for the AUTH line, sent after the server's empty 334.
    deferred: Option<Secret>,
    /// Set once the exchange was cancelled with `*`, with the mechanism's reason.
    cancelled: Option<sasl::ClientError>,
}

/// The mail transaction in progress (RFC 5321 section 3.3).
#[derive(Debug)]
struct Transaction {
    /// RFC 2920: MAIL, the RCPTs and DATA went out together; their replies come in order.
    pipelined: bool,
    /// Recipients whose RCPT is not sent yet (one at a time without PIPELINING).
    unsent: VecDeque<(ForwardPath, RcptParameters)>,
    /// Recipients whose RCPT reply is awaited, in order.
    awaiting: VecDeque<ForwardPath>,
    accepted: Vec<ForwardPath>,
    rejected: Vec<(ForwardPath, Reply)>,
    /// Whether the server may hold the transaction open, so that a failure needs RSET.
    open_on_server: bool,
    /// The first failure; later replies do not replace it.
    failure: Option<(Stage, Reply)>,
    body: BodyWriter,
}

impl Transaction {
    fn new(
        pipelined: bool,
        chunking: bool,
        recipients: Vec<(ForwardPath, RcptParameters)>,
    ) -> Self {
        let body = if chunking {
            BodyWriter::Bdat(Chunker::default())
        } else {
            BodyWriter::Data(DataEncoder::default())
        };
        Self {
            pipelined,
            unsent: recipients.into(),
            awaiting: VecDeque::new(),
            accepted: Vec::new(),
            rejected: Vec::new(),
            open_on_server: false,
            failure: None,
            body,
        }
    }

    /// Records why the transaction failed, unless an earlier reply already did.
    fn fail(&mut self, stage: Stage, reply: Reply) {
        if self.failure.is_none() {
            self.failure = Some((stage, reply));
        }
    }
}

/// How the message content goes out.
#[derive(Debug)]
enum BodyWriter {
    /// After DATA, dot-stuffed with canonical line ends.
    Data(DataEncoder),
    /// As BDAT chunks (RFC 3030), unchanged.
    Bdat(Chunker),
}

/// A client-side SMTP session. See the [module documentation](self) for the call order.
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    /// The replies awaited, oldest first.
    pending: VecDeque<Expect>,
    deadline: Option<Instant>,
    /// The reply line being read, CRLF included once complete.
    line: Vec<u8>,
    parser: ReplyParser,
    transmit: Vec<u8>,
    events: VecDeque<ClientEvent>,
    extensions: Option<Extensions>,
    tls: bool,
    authenticated: bool,
    auth: Option<AuthExchange>,
    transaction: Option<Transaction>,
}

impl fmt::Debug for ClientSession {
    // Pending output can hold a SASL response and the mechanism holds credentials, so
    // neither is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("phase", &self.phase)
            .field("pending", &self.pending)
            .field("deadline", &self.deadline)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("extensions", &self.extensions)
            .field("transmit_len", &self.transmit.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session on a connection just opened at `now`. The first event comes once the
    /// greeting and the EHLO reply are read: [`ClientEvent::Ready`], or
    /// [`ClientEvent::Failed`].
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let parser = ReplyParser::new(config.max_reply_line, config.max_reply_lines);
        let mut session = Self {
            tls: config.tls_on_connect,
            config,
            phase: Phase::Greeting,
            pending: VecDeque::new(),
            deadline: None,
            line: Vec::new(),
            parser,
            transmit: Vec::new(),
            events: VecDeque::new(),
            extensions: None,
            authenticated: false,
            auth: None,
            transaction: None,
        };
        session.expect(Expect::Greeting, now);
        session
    }

    // --- Getters -------------------------------------------------------------------------

    /// Whether the session is over ([`ClientEvent::Closed`] or [`ClientEvent::Failed`]).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The extensions of the last EHLO reply; `None` before it and between STARTTLS and
    /// the EHLO that follows the handshake (RFC 3207 section 4.2 voids what came before).
    pub fn extensions(&self) -> Option<&Extensions> {
        self.extensions.as_ref()
    }

    /// Whether TLS is on (after [`ClientSession::tls_established`], or from the start with
    /// [`ClientConfig::tls_on_connect`]).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the server accepted an AUTH exchange in this session.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    // --- Outputs -------------------------------------------------------------------------

    /// Takes the bytes to write to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.transmit))
    }

    /// Takes the next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The instant at which [`ClientSession::handle_timeout`] should be called, if any.
    /// There is none while the session is idle (nothing awaited) or during the TLS
    /// handshake, whose timeout is the host's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    // --- Inputs --------------------------------------------------------------------------

    /// Feeds bytes read from the server, in any split. Events and output may follow.
    pub fn handle_input(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() && !self.is_closed() {
            if let Err(error) = self.check_input_allowed() {
                self.fail(error.into());
                return;
            }

            match self.frame_line(&mut bytes) {
                Ok(false) => {}
                Ok(true) => self.on_line(!bytes.is_empty(), now),
                Err(error) => self.fail(error.into()),
            }
        }
    }

    /// Fails the session with [`ClientError::Timeout`] if the deadline of
    /// [`ClientSession::poll_timeout`] has passed at `now`; does nothing otherwise.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }

        let waited_for = match self.pending.front() {
            _ if self.phase == Phase::Body => "the next part of the message",
            Some(expect) => expect.describe(),
            None => "the server",
        };
        self.fail(ClientError::Timeout(waited_for));
    }

    /// Tells the session the server closed the connection: [`ClientEvent::Closed`] when it
    /// was answering QUIT (some servers close without their 221), otherwise
    /// [`ClientEvent::Failed`] with [`ClientError::ConnectionLost`].
    pub fn handle_close(&mut self) {
        match self.phase {
            Phase::Closed => {}
            Phase::Quit => self.closed(),
            _ => self.fail(ClientError::ConnectionLost),
        }
    }

    // --- Commands ------------------------------------------------------------------------

    /// Sends STARTTLS (RFC 3207) once [`ClientEvent::Ready`] came and the server offered it.
    /// Next event: [`ClientEvent::StartTls`] or [`ClientEvent::TlsRefused`].
    pub fn start_tls(&mut self, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Ready)?;
        if self.tls {
            return Err(ClientError::NotReady("TLS is already on"));
        }
        if !self.known_extensions().starttls {
            return Err(ClientError::NotOffered("STARTTLS"));
        }

        self.phase = Phase::StartTls;
        self.send(&Command::StartTls, Expect::StartTls, now);
        Ok(())
    }

    /// Tells the session the TLS handshake that followed [`ClientEvent::StartTls`]
    /// succeeded. The session sends EHLO again (RFC 3207 section 4.2); next event:
    /// [`ClientEvent::Ready`] with the extensions offered over TLS.
    pub fn tls_established(&mut self, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Handshake)?;

        self.tls = true;
        self.send_ehlo(now);
        Ok(())
    }

    /// Authenticates with `mechanism` (RFC 4954), which the server must offer, over TLS
    /// unless [`ClientConfig::allow_plaintext_auth`] is set. Next event:
    /// [`ClientEvent::Authenticated`] or [`ClientEvent::AuthFailed`].
    pub fn authenticate(
        &mut self,
        mut mechanism: Box<dyn ClientMechanism>,
        now: Instant,
    ) -> Result<(), ClientError> {
        self.require(Phase::Ready)?;
        // RFC 4954 section 4: after a successful AUTH, no other may be issued.
        if self.authenticated {
            return Err(ClientError::NotReady(
                "the session is already authenticated",
            ));
        }
        let name = mechanism.name();
        if !self.known_extensions().auth.contains(&name) {
            return Err(ClientError::NotOffered("AUTH with this mechanism"));
        }
        if !self.tls && !self.config.allow_plaintext_auth {
            return Err(ClientError::TlsRequired);
        }

        let initial = mechanism.initial_response().map(Secret::new);
        let deferred = self.write_auth(name, initial);
        self.auth = Some(AuthExchange {
            mechanism,
            deferred,
            cancelled: None,
        });
        self.phase = Phase::Auth;
        self.expect(Expect::Auth, now);
        Ok(())
    }

    /// Starts a mail transaction once the session is ready. With PIPELINING, MAIL, every
    /// RCPT and DATA go out at once (RFC 2920); without, one per reply. With CHUNKING the
    /// message goes as BDAT chunks instead of after DATA. Next event:
    /// [`ClientEvent::ReadyForBody`] or [`ClientEvent::TransactionFailed`].
    pub fn send_mail(&mut self, envelope: Envelope, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Ready)?;
        if envelope.recipients.is_empty() {
            return Err(ClientError::NoRecipients);
        }
        let extensions = self.known_extensions();
        let parameters = mail_parameters(&envelope, extensions)?;
        let (pipelined, chunking) = (extensions.pipelining, extensions.chunking);

        let reverse_path = envelope.reverse_path;
        let mail = Command::Mail {
            reverse_path,
            parameters,
        };
        self.transaction = Some(Transaction::new(pipelined, chunking, envelope.recipients));
        self.phase = Phase::Envelope;
        self.send(&mail, Expect::Mail, now);

        // RFC 2920 section 3.1: the whole envelope, and DATA, may go in one batch; the
        // replies then come back in order.
        if pipelined {
            while self.send_next_rcpt(now) {}
            if !chunking {
                self.send(&Command::Data, Expect::Data, now);
            }
        }
        Ok(())
    }

    /// Sends the next part of the message, after [`ClientEvent::ReadyForBody`]; parts may
    /// split the message anywhere.
    ///
    /// After DATA, bare CR and LF become CRLF (servers refuse bare line ends) and lines
    /// starting with `.` are dot-stuffed (RFC 5321 section 4.5.2). With BDAT the bytes go
    /// unchanged (RFC 3030 section 2), so they must already have CRLF line ends; each
    /// part is held back until the next one comes, so that the last part can carry `LAST`,
    /// and without PIPELINING parts given while a chunk's reply is awaited are joined.
    ///
    /// The encoded bytes wait in [`ClientSession::poll_transmit`]; taking them after each
    /// call keeps the session's memory at the size of one part.
    pub fn send_body(&mut self, part: &[u8], now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Body)?;

        let may_send = self.may_send_chunk();
        let tx = self
            .transaction
            .as_mut()
            .expect("a transaction is open while in Body");
        match &mut tx.body {
            BodyWriter::Data(encoder) => encoder.encode(part, &mut self.transmit),
            BodyWriter::Bdat(chunker) => {
                if let Some(chunk) = chunker.push(part, may_send) {
                    self.write_chunk(&chunk, false, now);
                }
            }
        }

        self.arm_timer(now);
        Ok(())
    }

    /// Ends the message: `CRLF.CRLF` after DATA (with a CRLF first if the message did not
    /// end with one), or the held-back part as `BDAT <n> LAST`. Next event:
    /// [`ClientEvent::MessageSent`] or [`ClientEvent::TransactionFailed`].
    pub fn finish_body(&mut self, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Body)?;

        self.phase = Phase::Finishing;
        let tx = self
            .transaction
            .as_mut()
            .expect("a transaction is open while in Body");
        match &mut tx.body {
            BodyWriter::Data(encoder) => {
                encoder.finish(&mut self.transmit);
                self.expect(Expect::Final, now);
            }
            BodyWriter::Bdat(_) => self.send_last_chunk(now),
        }

        self.arm_timer(now);
        Ok(())
    }

    /// Sends RSET while the session is ready. Next event: [`ClientEvent::Reset`].
    pub fn reset(&mut self, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Ready)?;

        self.phase = Phase::Reset;
        self.send(&Command::Rset, Expect::Rset(AfterRset::Host), now);
        Ok(())
    }

    /// Sends QUIT while the session is ready. Next event: [`ClientEvent::Closed`].
    pub fn quit(&mut self, now: Instant) -> Result<(), ClientError> {
        self.require(Phase::Ready)?;

        self.phase = Phase::Quit;
        self.send(&Command::Quit, Expect::Quit, now);
        Ok(())
    }

    // --- Input framing -------------------------------------------------------------------

    fn check_input_allowed(&self) -> Result<(), ProtocolError> {
        // RFC 3207 section 4.2: only what comes over TLS counts. The bytes after the 220
        // belong to the handshake, which the host gives to its TLS library; clear text here
        // was injected by someone on the path.
        if self.phase == Phase::Handshake {
            return Err(ProtocolError::DataBeforeTls);
        }
        if self.pending.is_empty() {
            return Err(ProtocolError::Unsolicited);
        }
        Ok(())
    }

    /// Moves bytes into the line buffer up to the next LF; returns whether a line is
    /// complete. The buffer never grows past the line limit.
    fn frame_line(&mut self, bytes: &mut &[u8]) -> Result<bool, ProtocolError> {
        let lf = memchr::memchr(b'\n', bytes);
        let take = lf.map_or(bytes.len(), |at| at + 1);
        if self.line.len() + take > self.config.max_reply_line {
            return Err(ReplyError::LineTooLong.into());
        }
        self.line.extend_from_slice(&bytes[..take]);
        *bytes = &bytes[take..];
        if lf.is_none() {
            return Ok(false);
        }

        // RFC 5321 section 2.3.8: only CRLF ends a line; a lone CR or LF is an error
        // rather than something to guess about.
        match self.line[..self.line.len() - 1].split_last() {
            Some((b'\r', text)) if !text.contains(&b'\r') => Ok(true),
            Some((b'\r', _)) => Err(ProtocolError::BareCr),
            _ => Err(ProtocolError::BareLf),
        }
    }

    fn on_line(&mut self, more_input: bool, now: Instant) {
        let parsed = self.parser.push_line(&self.line[..self.line.len() - 2]);
        self.line.clear();

        match parsed {
            Ok(Some(reply)) => self.on_reply(reply, more_input, now),
            Ok(None) => {}
            Err(error) => self.fail(ProtocolError::from(error).into()),
        }
    }

    fn on_reply(&mut self, reply: Reply, more_input: bool, now: Instant) {
        // RFC 5321 section 3.8: a server shutting down may answer anything with 421, and
        // then closes the connection.
        if reply.code() == 421 {
            self.fail(ClientError::ServiceClosing(reply));
            return;
        }

        let Some(expect) = self.pending.pop_front() else {
            // check_input_allowed saw a reply awaited before this line was read.
            self.fail(ProtocolError::Unsolicited.into());
            return;
        };
        match expect {
            Expect::Greeting => self.on_greeting(reply, now),
            Expect::Ehlo => self.on_ehlo(reply, now),
            Expect::Helo => self.on_helo(reply),
            Expect::StartTls => self.on_start_tls(reply, more_input),
            Expect::Auth => self.on_auth(reply, now),
            Expect::Mail => self.on_mail(reply, now),
            Expect::Rcpt => self.on_rcpt(reply, now),
            Expect::Data => self.on_data(reply, now),
            Expect::Chunk => self.on_chunk(reply, now),
            Expect::Final => self.on_final(reply, now),
            Expect::Rset(after) => self.on_rset(after),
            Expect::Quit => self.closed(),
        }

        // A reply came: the wait for the next one starts now.
        self.arm_timer(now);
    }

    // --- Session setup -------------------------------------------------------------------

    fn on_greeting(&mut self, reply: Reply, now: Instant) {
        if reply.code() != 220 {
            // RFC 5321 section 3.1: a server refusing with 554 still waits for QUIT.
            Command::Quit.encode(&mut self.transmit);
            self.fail(ClientError::GreetingRejected(reply));
            return;
        }
        self.send_ehlo(now);
    }

    fn send_ehlo(&mut self, now: Instant) {
        self.phase = Phase::Hello;
        let ehlo = Command::Ehlo(self.config.helo_domain.clone());
        self.send(&ehlo, Expect::Ehlo, now);
    }

    fn on_ehlo(&mut self, reply: Reply, now: Instant) {
        if reply.is_positive_completion() {
            self.ready(Extensions::from_ehlo_reply(&reply));
            return;
        }

        // RFC 5321 section 3.2: a server that does not know EHLO answers 500 or 502 (or
        // another 5xx); the client then falls back to HELO, without extensions.
        if reply.is_permanent_failure() {
            let helo = Command::Helo(self.config.helo_domain.clone());
            self.send(&helo, Expect::Helo, now);
            return;
        }
        self.refuse_hello(reply);
    }

    fn on_helo(&mut self, reply: Reply) {
        if reply.is_positive_completion() {
            self.ready(Extensions::default());
            return;
        }
        self.refuse_hello(reply);
    }

    fn refuse_hello(&mut self, reply: Reply) {
        Command::Quit.encode(&mut self.transmit);
        self.fail(ClientError::HelloRejected(reply));
    }

    fn ready(&mut self, extensions: Extensions) {
        // RFC 2034: with ENHANCEDSTATUSCODES every later reply starts with a status code.
        self.parser.enhanced = extensions.enhanced_status_codes;
        self.extensions = Some(extensions.clone());
        self.phase = Phase::Ready;
        self.events.push_back(ClientEvent::Ready { extensions });
    }

    fn on_start_tls(&mut self, reply: Reply, more_input: bool) {
        if reply.code() != 220 {
            self.phase = Phase::Ready;
            self.events.push_back(ClientEvent::TlsRefused(reply));
            return;
        }
        if more_input {
            // Bytes read together with the 220 came before the handshake: injected.
            self.fail(ProtocolError::DataBeforeTls.into());
            return;
        }

        // RFC 3207 section 4.2: everything learnt before TLS is void; the session starts
        // over from the greeting state once the handshake is done.
        self.extensions = None;
        self.authenticated = false;
        self.parser.enhanced = false;
        self.phase = Phase::Handshake;
        self.events.push_back(ClientEvent::StartTls);
    }

    // --- AUTH ----------------------------------------------------------------------------

    /// Writes the AUTH command; returns the initial response when it must wait for the
    /// server's first challenge instead.
    fn write_auth(&mut self, mechanism: MechanismName, initial: Option<Secret>) -> Option<Secret> {
        let mut line = Vec::new();
        let initial_response = initial.clone();
        let with_initial = Command::Auth {
            mechanism: mechanism.clone(),
            initial_response,
        };
        with_initial.encode(&mut line);

        // RFC 4954 section 4: an initial response that would make the line longer than
        // 512 octets is sent instead as the answer to an empty 334 challenge.
        if line.len() <= MAX_COMMAND_LINE {
            self.transmit.extend_from_slice(&line);
            return None;
        }
        Command::Auth {
            mechanism,
            initial_response: None,
        }
        .encode(&mut self.transmit);
        initial
    }

    fn on_auth(&mut self, reply: Reply, now: Instant) {
        if reply.code() == 334 {
            self.answer_challenge(reply, now);
            return;
        }

        let mut exchange = self
            .auth
            .take()
            .expect("an AUTH exchange is open while its reply is due");
        self.phase = Phase::Ready;
        if reply.is_positive_completion() {
            // A mechanism that authenticates the server (SCRAM) refuses a success that
            // came without the server's proof.
            if let Err(error) = exchange.mechanism.finish() {
                let cancelled = Some(error);
                self.events
                    .push_back(ClientEvent::AuthFailed { reply, cancelled });
                return;
            }
            self.authenticated = true;
            self.events.push_back(ClientEvent::Authenticated);
        } else {
            let cancelled = exchange.cancelled;
            self.events
                .push_back(ClientEvent::AuthFailed { reply, cancelled });
        }
    }

    fn answer_challenge(&mut self, reply: Reply, now: Instant) {
        let exchange = self
            .auth
            .as_mut()
            .expect("an AUTH exchange is open while its reply is due");
        // RFC 4954 section 4: the server must answer `*` with 501, not with a challenge.
        if exchange.cancelled.is_some() {
            self.fail(ProtocolError::UnexpectedReply(reply).into());
            return;
        }

        let response = match exchange.deferred.take() {
            Some(initial) => Ok(initial.into_inner()),
            None => decode_challenge(&reply).and_then(|c| exchange.mechanism.respond(&c)),
        };
        match response {
            // RFC 4954 section 4: "=" stands for an empty initial response only; an empty
            // answer to a challenge is an empty line.
            Ok(response) if response.is_empty() => {}
            Ok(response) => self
                .transmit
                .extend_from_slice(encode_sasl(&response).as_bytes()),
            Err(error) => {
                // RFC 4954 section 4: a client that cannot go on cancels with `*`.
                exchange.cancelled = Some(error);
                self.transmit.push(b'*');
            }
        }
        self.transmit.extend_from_slice(b"\r\n");
        self.expect(Expect::Auth, now);
    }

    // --- Mail transaction ----------------------------------------------------------------

    fn transaction(&mut self) -> &mut Transaction {
        self.transaction
            .as_mut()
            .expect("a transaction is open while its replies are due")
    }

    /// Sends the RCPT of the next unsent recipient; returns whether there was one.
    fn send_next_rcpt(&mut self, now: Instant) -> bool {
        let tx = self.transaction();
        let Some((forward_path, parameters)) = tx.unsent.pop_front() else {
            return false;
        };
        tx.awaiting.push_back(forward_path.clone());

        let rcpt = Command::Rcpt {
            forward_path,
            parameters,
        };
        self.send(&rcpt, Expect::Rcpt, now);
        true
    }

    fn on_mail(&mut self, reply: Reply, now: Instant) {
        let tx = self.transaction();
        let accepted = reply.is_positive_completion();
        if accepted {
            tx.open_on_server = true;
        } else {
            tx.fail(Stage::Mail, reply);
        }

        // Pipelined, the RCPT replies (refusals, most likely) follow anyway.
        if tx.pipelined {
            return;
        }
        if accepted {
            self.send_next_rcpt(now);
        } else {
            self.end_transaction(now);
        }
    }

    fn on_rcpt(&mut self, reply: Reply, now: Instant) {
        let tx = self.transaction();
        let forward_path = tx
            .awaiting
            .pop_front()
            .expect("each RCPT reply has its recipient");
        if reply.is_positive_completion() {
            tx.accepted.push(forward_path);
        } else {
            tx.rejected.push((forward_path, reply));
        }

        if !tx.awaiting.is_empty() || self.send_next_rcpt(now) {
            return;
        }
        self.envelope_done(now);
    }

    /// Every MAIL and RCPT reply is in.
    fn envelope_done(&mut self, now: Instant) {
        let tx = self.transaction();
        if tx.accepted.is_empty()
            && let Some((_, reply)) = tx.rejected.last()
        {
            let reply = reply.clone();
            tx.fail(Stage::Recipients, reply);
        }

        let failed = tx.failure.is_some();
        match (&tx.body, tx.pipelined, failed) {
            // DATA went out with the envelope; its reply decides (on_data).
            (BodyWriter::Data(_), true, _) => {}
            (_, _, true) => self.end_transaction(now),
            (BodyWriter::Data(_), false, false) => self.send(&Command::Data, Expect::Data, now),
            (BodyWriter::Bdat(_), _, false) => self.start_body(),
        }
    }

    fn on_data(&mut self, reply: Reply, now: Instant) {
        let tx = self.transaction();
        let failed = tx.failure.is_some();
        match (reply.code(), failed) {
            (354, false) => self.start_body(),
            (354, true) => {
                // RFC 2920: with no valid recipient the server must refuse a
                // pipelined DATA. One that does not is sent an empty message at once,
                // which reaches no one, to get out of the data phase.
                self.transmit.extend_from_slice(b".\r\n");
                self.expect(Expect::Final, now);
            }
            _ => {
                tx.fail(Stage::Data, reply);
                self.end_transaction(now);
            }
        }
    }

    fn start_body(&mut self) {
        self.phase = Phase::Body;
        self.events.push_back(ClientEvent::ReadyForBody);
    }

    /// Whether a BDAT chunk may go now: with PIPELINING always, otherwise only when no
    /// earlier reply is awaited.
    fn may_send_chunk(&self) -> bool {
        self.transaction.as_ref().is_some_and(|tx| tx.pipelined) || self.pending.is_empty()
    }

    fn write_chunk(&mut self, chunk: &[u8], last: bool, now: Instant) {
        let size = u64::try_from(chunk.len()).expect("a chunk's length fits in 64 bits");
        Command::Bdat { size, last }.encode(&mut self.transmit);
        self.transmit.extend_from_slice(chunk);
        self.expect(if last { Expect::Final } else { Expect::Chunk }, now);
    }

    /// Sends `BDAT <n> LAST` with the held-back part, unless it must wait for a reply.
    fn send_last_chunk(&mut self, now: Instant) {
        let may_send = self.may_send_chunk();
        let BodyWriter::Bdat(chunker) = &mut self.transaction().body else {
            return;
        };
        if chunker.last_sent || !may_send {
            return;
        }

        chunker.last_sent = true;
        let last = std::mem::take(&mut chunker.held);
        self.write_chunk(&last, true, now);
    }

    fn on_chunk(&mut self, reply: Reply, now: Instant) {
        let tx = self.transaction();
        // RFC 3030 section 2: after a refused chunk no more BDAT may be sent, and the
        // transaction must be reset.
        if !reply.is_positive_completion() {
            tx.fail(Stage::Message, reply);
            if let BodyWriter::Bdat(chunker) = &mut tx.body {
                chunker.held = Vec::new();
            }
        }

        if tx.failure.is_some() {
            self.end_transaction(now);
        } else if self.phase == Phase::Finishing {
            self.send_last_chunk(now);
        }
    }

    fn on_final(&mut self, reply: Reply, now: Instant) {
        let tx = self.transaction();
        // RFC 5321 section 4.1.1.4: the end of the data ends the transaction whatever the
        // reply; a refused BDAT leaves the transaction in doubt (RFC 3030 section 2), so RSET.
        if matches!(tx.body, BodyWriter::Data(_)) {
            tx.open_on_server = false;
        }

        if !reply.is_positive_completion() || tx.failure.is_some() {
            tx.fail(Stage::Message, reply);
            self.end_transaction(now);
            return;
        }
        let tx = self
            .transaction
            .take()
            .expect("a transaction is open while its reply is due");
        self.phase = Phase::Ready;
        let delivery = Delivery {
            accepted: tx.accepted,
            rejected: tx.rejected,
            reply,
        };
        self.events.push_back(ClientEvent::MessageSent(delivery));
    }

    /// Ends a failed transaction: reads the replies still in flight, resets the
    /// transaction if the server may still hold it, then reports the failure.
    fn end_transaction(&mut self, now: Instant) {
        if !self.pending.is_empty() {
            self.phase = Phase::Aborting;
            return;
        }

        if self.transaction().open_on_server {
            self.phase = Phase::Reset;
            self.send(&Command::Rset, Expect::Rset(AfterRset::Transaction), now);
            return;
        }
        self.report_failure();
    }

    fn report_failure(&mut self) {
        let tx = self
            .transaction
            .take()
            .expect("a failed transaction is still open");
        let (stage, reply) = tx.failure.expect("a failed transaction has its failure");

        self.phase = Phase::Ready;
        let failure = TransactionFailure {
            stage,
            reply,
            accepted: tx.accepted,
            rejected: tx.rejected,
        };
        self.events
            .push_back(ClientEvent::TransactionFailed(failure));
    }

    fn on_rset(&mut self, after: AfterRset) {
        match after {
            AfterRset::Host => {
                self.phase = Phase::Ready;
                self.events.push_back(ClientEvent::Reset);
            }
            AfterRset::Transaction => self.report_failure(),
        }
    }

    // --- Plumbing ------------------------------------------------------------------------

    fn require(&self, phase: Phase) -> Result<(), ClientError> {
        match self.phase {
            Phase::Closed => Err(ClientError::Closed),
            current if current == phase => Ok(()),
            current => Err(ClientError::NotReady(current.describe())),
        }
    }

    /// The extensions, which are always known while the session is ready.
    fn known_extensions(&self) -> &Extensions {
        self.extensions
            .as_ref()
            .expect("the extensions are known whenever the session is ready")
    }

    fn send(&mut self, command: &Command, expect: Expect, now: Instant) {
        command.encode(&mut self.transmit);
        self.expect(expect, now);
    }

    fn expect(&mut self, expect: Expect, now: Instant) {
        self.pending.push_back(expect);
        if self.pending.len() == 1 {
            self.arm_timer(now);
        }
    }

    /// Restarts the deadline from `now` for what the session waits for.
    fn arm_timer(&mut self, now: Instant) {
        let wait = match self.pending.front() {
            _ if self.phase == Phase::Closed => None,
            _ if self.phase == Phase::Body => Some(self.config.data_block_timeout),
            Some(&expect) => Some(self.timeout(expect)),
            None => None,
        };
        // A timeout too large to add is no timeout.
        self.deadline = wait.and_then(|wait| now.checked_add(wait));
    }

    fn timeout(&self, expect: Expect) -> Duration {
        let config = &self.config;
        match expect {
            Expect::Greeting => config.greeting_timeout,
            Expect::Mail => config.mail_timeout,
            Expect::Rcpt => config.rcpt_timeout,
            Expect::Data => config.data_initiation_timeout,
            Expect::Chunk => config.data_block_timeout,
            Expect::Final => config.data_termination_timeout,
            _ => config.command_timeout,
        }
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.pending.clear();
        self.deadline = None;
        self.line = Vec::new();
        self.auth = None;
        self.transaction = None;
    }

    fn closed(&mut self) {
        self.close();
        self.events.push_back(ClientEvent::Closed);
    }

    fn fail(&mut self, error: ClientError) {
        if self.is_closed() {
            return;
        }
        self.close();
        self.events.push_back(ClientEvent::Failed(error));
    }
}

/// Decodes a 334 challenge: base64 after the code (RFC 4954 section 4).
fn decode_challenge(reply: &Reply) -> Result<Vec<u8>, sasl::ClientError> {
    let text = reply.text();
    decode_sasl(text.trim().as_bytes()).map_err(|_| sasl::ClientError::MalformedChallenge)
}

/// The MAIL parameters to send, checked against what the server offers: sending a parameter
/// it did not advertise only earns a 555 (RFC 5321 section 4.1.1.11).
fn mail_parameters(
    envelope: &Envelope,
    extensions: &Extensions,
) -> Result<MailParameters, ClientError> {
    let mut parameters = envelope.parameters.clone();

    // RFC 1870 section 4: SIZE= is for servers that offer SIZE. It is only an estimate,
    // so it is dropped rather than refused.
    if extensions.size.is_none() {
        parameters.size = None;
    }

    // RFC 6531 section 3.4: an address beyond ASCII needs SMTPUTF8 on MAIL.
    let recipients = &envelope.recipients;
    if !envelope.reverse_path.is_ascii() || recipients.iter().any(|(path, _)| !path.is_ascii()) {
        parameters.smtputf8 = true;
    }

    let dsn = parameters.ret.is_some()
        || parameters.envid.is_some()
        || recipients
            .iter()
            .any(|(_, p)| p.notify.is_some() || p.orcpt.is_some());
    let binary_mime = extensions.chunking && offers(extensions, "BINARYMIME");
    let checks = [
        (parameters.smtputf8, extensions.smtputf8, "SMTPUTF8"),
        (
            parameters.body == Some(Body::EightBitMime),
            extensions.eight_bit_mime,
            "8BITMIME",
        ),
        (
            parameters.body == Some(Body::BinaryMime),
            binary_mime,
            "BINARYMIME with CHUNKING",
        ),
        (dsn, extensions.dsn, "DSN"),
        (parameters.requiretls, extensions.requiretls, "REQUIRETLS"),
        (
            parameters.auth.is_some(),
            !extensions.auth.is_empty(),
            "AUTH",
        ),
    ];
    for (used, offered, name) in checks {
        if used && !offered {
            return Err(ClientError::NotOffered(name));
        }
    }
    Ok(parameters)
}

/// Whether an extension this crate has no field for was advertised.
fn offers(extensions: &Extensions, keyword: &str) -> bool {
    extensions.other.iter().any(|line| {
        line.split_ascii_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
    })
}

/// Turns message text into the form DATA needs (RFC 5321 sections 2.3.8 and 4.5.2): CRLF
/// line ends and dot-stuffing, carrying its state across parts split anywhere.
#[derive(Debug, Clone)]
struct DataEncoder {
    /// The next byte starts a line.
    line_start: bool,
    /// The last byte was a CR whose LF has not been seen yet.
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        Self {
            line_start: true,
            after_cr: false,
        }
    }
}

impl DataEncoder {
    fn encode(&mut self, part: &[u8], out: &mut Vec<u8>) {
        out.reserve(part.len() + part.len() / 32 + 2);
        for &byte in part {
            // A CR is written once we know whether an LF follows: CRLF stays, a bare CR
            // becomes CRLF as well.
            if std::mem::take(&mut self.after_cr) {
                self.end_line(out);
                if byte == b'\n' {
                    continue;
                }
            }

            match byte {
                b'\r' => self.after_cr = true,
                b'\n' => self.end_line(out),
                // Section 4.5.2: a line starting with a dot gets another one, so that no
                // line of the message can look like the end of the data.
                b'.' if self.line_start => {
                    out.extend_from_slice(b"..");
                    self.line_start = false;
                }
                _ => {
                    out.push(byte);
                    self.line_start = false;
                }
            }
        }
    }

    /// Writes the end of the data: the last line's CRLF if it lacks one, then `.` CRLF.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.after_cr) || !self.line_start {
            self.end_line(out);
        }
        out.extend_from_slice(b".\r\n");
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.line_start = true;
    }
}

/// Holds back the latest BDAT part so that the last one can go as `BDAT <n> LAST`, saving
/// the `BDAT 0 LAST` round that sending each part at once would end with.
#[derive(Debug, Clone, Default)]
struct Chunker {
    held: Vec<u8>,
    last_sent: bool,
}

impl Chunker {
    /// Takes a part from the host; returns the chunk to send now, if one may go.
    fn push(&mut self, part: &[u8], may_send: bool) -> Option<Vec<u8>> {
        if part.is_empty() {
            return None;
        }
        if self.held.is_empty() || !may_send {
            self.held.extend_from_slice(part);
            return None;
        }
        Some(std::mem::replace(&mut self.held, part.to_vec()))
    }
}

/// A mechanism for the fuzz harness: a PLAIN-like initial response, then answers each
/// challenge with its reverse, and gives up on a challenge starting with `!`.
struct FuzzMechanism;

impl ClientMechanism for FuzzMechanism {
    fn name(&self) -> MechanismName {
        MechanismName::new("PLAIN").expect("PLAIN is a valid mechanism name")
    }

    fn initial_response(&mut self) -> Option<Vec<u8>> {
        Some(b"\0user\0password".to_vec())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, sasl::ClientError> {
        if challenge.first() == Some(&b'!') {
            return Err(sasl::ClientError::MalformedChallenge);
        }
        Ok(challenge.iter().rev().copied().collect())
    }
}

/// Drives a [`ClientSession`] with `data` as everything the server says, and acts on each
/// event as a host would (STARTTLS, AUTH, transactions with bare line ends in the body,
/// QUIT). Panics if an invariant breaks: output or buffers growing past their bounds,
/// output that is not whole CRLF lines (when BDAT is not in use), or events after the
/// session closed. It must not panic otherwise.
///
/// The first byte sets the host's choices: bit 0 allows AUTH without TLS, bit 1 shrinks
/// the reply limits, bit 2 starts TLS when offered, and bits 3 to 7 choose the split of
/// the rest: 0 feeds one byte at a time (so a transcript meets the host's every reaction
/// where a real server would), anything else pieces of varying sizes.
#[doc(hidden)]
pub fn fuzz_client(data: &[u8]) {
    let Some((&knobs, data)) = data.split_first() else {
        return;
    };
    let mut config = ClientConfig::new(Domain::Name("client.example".into()));
    config.allow_plaintext_auth = knobs & 1 != 0;
    if knobs & 2 != 0 {
        config.max_reply_line = 64;
        config.max_reply_lines = 4;
    }
    let split = usize::from(knobs >> 3);

    let start = Instant::now();
    let mut host = FuzzHost::new(ClientSession::new(config, start), knobs & 4 != 0);
    let mut rest = data;
    let mut round = 0u64;
    while !rest.is_empty() {
        let size = match split {
            0 => 1,
            _ => 1 + (split * 7 + round as usize * 13) % 97,
        };
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        round += 1;

        let now = start + Duration::from_secs(round);
        host.session.handle_input(piece, now);
        host.react(now);
        if round.is_multiple_of(8) {
            host.session.handle_timeout(now);
            host.react(now);
        }
    }

    let end = start + Duration::from_secs(round + 3600);
    host.session.handle_timeout(end);
    host.session.handle_close();
    host.react(end);
    assert!(
        host.session.is_closed(),
        "a session ends after a timeout or the server's close"
    );
    assert!(
        host.written <= 4096 + 64 * data.len(),
        "output stays proportional to input"
    );
}

/// The host side of [`fuzz_client`].
struct FuzzHost {
    session: ClientSession,
    start_tls: bool,
    messages: u32,
    tried_auth: bool,
    /// Whether the server offered CHUNKING, whose payloads are not lines.
    chunking: bool,
    ended: bool,
    written: usize,
}

impl FuzzHost {
    fn new(session: ClientSession, start_tls: bool) -> Self {
        Self {
            session,
            start_tls,
            messages: 0,
            tried_auth: false,
            chunking: false,
            ended: false,
            written: 0,
        }
    }

    fn react(&mut self, now: Instant) {
        while let Some(event) = self.session.poll_event() {
            assert!(!self.ended, "no event after Closed or Failed: {event:?}");
            self.on_event(event, now);
        }

        while let Some(bytes) = self.session.poll_transmit() {
            self.written += bytes.len();
            if !self.chunking {
                assert!(is_crlf_lines(&bytes), "not whole CRLF lines: {bytes:?}");
            }
        }
        let session = &self.session;
        assert!(
            session.line.len() <= session.config.max_reply_line,
            "the line is bounded"
        );
        assert!(
            session.pending.len() <= 8,
            "at most one batch of commands is in flight"
        );
        assert_eq!(
            session.is_closed(),
            self.ended,
            "closing comes with its event"
        );
        assert!(!session.is_closed() || session.poll_timeout().is_none());
    }

    fn on_event(&mut self, event: ClientEvent, now: Instant) {
        // Errors from commands are fine here: the harness only checks the session copes.
        let _ = match event {
            ClientEvent::Ready { extensions } => self.on_ready(&extensions, now),
            ClientEvent::StartTls => self.session.tls_established(now),
            ClientEvent::TlsRefused(_) | ClientEvent::Authenticated => self.next_mail(now),
            ClientEvent::AuthFailed { .. } | ClientEvent::Reset => self.next_mail(now),
            ClientEvent::MessageSent(_) | ClientEvent::TransactionFailed(_) => self.next_mail(now),
            ClientEvent::ReadyForBody => self.send_body(now),
            ClientEvent::Closed | ClientEvent::Failed(_) => {
                self.ended = true;
                Ok(())
            }
        };
    }

    fn on_ready(&mut self, extensions: &Extensions, now: Instant) -> Result<(), ClientError> {
        self.chunking = extensions.chunking;
        if extensions.starttls && !self.session.is_tls() && self.start_tls {
            return self.session.start_tls(now);
        }
        if !extensions.auth.is_empty() && !self.tried_auth {
            self.tried_auth = true;
            return self.session.authenticate(Box::new(FuzzMechanism), now);
        }
        self.next_mail(now)
    }

    fn next_mail(&mut self, now: Instant) -> Result<(), ClientError> {
        self.messages += 1;
        match self.messages {
            1 | 2 => {
                let recipients = [ForwardPath::Postmaster, ForwardPath::Postmaster];
                self.session
                    .send_mail(Envelope::new(ReversePath::Null, recipients), now)
            }
            3 => self.session.reset(now),
            _ => self.session.quit(now),
        }
    }

    fn send_body(&mut self, now: Instant) -> Result<(), ClientError> {
        self.session.send_body(b".first\r\nbare\nend\r", now)?;
        self.session.send_body(b"\n.\r", now)?;
        self.session.finish_body(now)
    }
}

/// Whether `bytes` is whole lines: it ends in CRLF, and every CR and LF is part of a CRLF.
fn is_crlf_lines(bytes: &[u8]) -> bool {
    let paired = |(i, &b): (usize, &u8)| match b {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        _ => true,
    };
    bytes.ends_with(b"\r\n") && bytes.iter().enumerate().all(paired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{LocalPart, Mailbox};

    const GREETING: &[u8] = b"220 mx.example.org ESMTP ready\r\n";

    fn config() -> ClientConfig {
        ClientConfig::new(Domain::Name("client.example".into()))
    }

    fn mailbox(local: &str, domain: &str) -> Mailbox {
        let local_part = LocalPart::new(local).expect("a valid local part");
        Mailbox {
            local_part,
            domain: Domain::Name(domain.into()),
        }
    }

    fn recipient(local: &str) -> ForwardPath {
        ForwardPath::Mailbox(mailbox(local, "example.org"))
    }

    fn envelope(recipients: &[&str]) -> Envelope {
        let sender = ReversePath::Mailbox(mailbox("alice", "example.com"));
        Envelope::new(sender, recipients.iter().map(|r| recipient(r)))
    }

    /// A scripted conversation: the client's side under test, the server's side as bytes.
    struct Script {
        session: ClientSession,
        start: Instant,
    }

    impl Script {
        fn new(config: ClientConfig) -> Self {
            let start = Instant::now();
            Self {
                session: ClientSession::new(config, start),
                start,
            }
        }

        /// Greeted and past EHLO, with the given EHLO keyword lines.
        fn ready(config: ClientConfig, keywords: &[&str]) -> Self {
            let mut script = Self::new(config);
            script.server(GREETING);
            assert_eq!(script.sent(), "EHLO client.example\r\n");
            script.server(&ehlo_reply(keywords));
            assert!(matches!(script.events()[..], [ClientEvent::Ready { .. }]));
            script
        }

        fn at(&self, seconds: u64) -> Instant {
            self.start + Duration::from_secs(seconds)
        }

        fn server(&mut self, bytes: &[u8]) {
            self.session.handle_input(bytes, self.start);
        }

        /// Everything the client wrote since the last call.
        fn sent(&mut self) -> String {
            let mut all = Vec::new();
            while let Some(bytes) = self.session.poll_transmit() {
                all.extend_from_slice(&bytes);
            }
            String::from_utf8(all).expect("the client writes UTF-8 here")
        }

        fn events(&mut self) -> Vec<ClientEvent> {
            std::iter::from_fn(|| self.session.poll_event()).collect()
        }

        fn event(&mut self) -> ClientEvent {
            let events = self.events();
            assert_eq!(events.len(), 1, "one event expected: {events:?}");
            events.into_iter().next().expect("one event")
        }
    }

    fn ehlo_reply(keywords: &[&str]) -> Vec<u8> {
        let mut lines = vec!["mx.example.org greets client.example"];
        lines.extend_from_slice(keywords);
        Reply::with_lines(250, None, lines).to_bytes(false)
    }

    fn failed(event: ClientEvent) -> ClientError {
        match event {
            ClientEvent::Failed(error) => error,
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    fn delivered(event: ClientEvent) -> Delivery {
        match event {
            ClientEvent::MessageSent(delivery) => delivery,
            other => panic!("expected MessageSent, got {other:?}"),
        }
    }

    fn tx_failure(event: ClientEvent) -> TransactionFailure {
        match event {
            ClientEvent::TransactionFailed(failure) => failure,
            other => panic!("expected TransactionFailed, got {other:?}"),
        }
    }

    // --- Greeting and EHLO ---------------------------------------------------------------

    #[test]
    fn greeting_then_ehlo_gives_ready_with_extensions() {
        let mut script = Script::new(config());
        assert_eq!(script.sent(), "", "nothing is sent before the greeting");
        script.server(GREETING);
        assert_eq!(script.sent(), "EHLO client.example\r\n");
        assert!(script.session.extensions().is_none());

        script.server(&ehlo_reply(&[
            "PIPELINING",
            "SIZE 10240000",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "AUTH PLAIN LOGIN",
            "STARTTLS",
        ]));
        let ClientEvent::Ready { extensions } = script.event() else {
            panic!("not Ready")
        };
        assert!(extensions.pipelining && extensions.eight_bit_mime && extensions.starttls);
        assert_eq!(extensions.size, Some(10_240_000));
        let names: Vec<&str> = extensions.auth.iter().map(MechanismName::as_str).collect();
        assert_eq!(names, ["PLAIN", "LOGIN"]);
        assert_eq!(script.session.extensions(), Some(&extensions));
        assert!(
            script.session.parser.enhanced,
            "ENHANCEDSTATUSCODES turns on code parsing"
        );
        assert!(!script.session.is_tls() && !script.session.is_authenticated());
        assert_eq!(
            script.session.poll_timeout(),
            None,
            "an idle session has no deadline"
        );
    }

    #[test]
    fn enhanced_codes_are_split_off_after_enhancedstatuscodes() {
        let mut script = Script::ready(config(), &["ENHANCEDSTATUSCODES"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"550 5.7.1 Sender refused\r\n");
        let failure = tx_failure(script.event());
        assert_eq!(
            failure
                .reply
                .enhanced_code()
                .map(|c| c.to_string())
                .as_deref(),
            Some("5.7.1")
        );
        assert_eq!(failure.reply.text(), "Sender refused");
    }

    #[test]
    fn ehlo_refused_with_502_falls_back_to_helo() {
        let mut script = Script::new(config());
        script.server(GREETING);
        script.sent();
        script.server(b"502 5.5.1 Command not implemented\r\n");
        assert_eq!(script.sent(), "HELO client.example\r\n");
        assert!(script.events().is_empty());

        script.server(b"250 mx.example.org\r\n");
        assert_eq!(
            script.event(),
            ClientEvent::Ready {
                extensions: Extensions::default()
            }
        );
        assert_eq!(script.session.extensions(), Some(&Extensions::default()));
    }

    #[test]
    fn helo_refused_too_fails_the_session() {
        let mut script = Script::new(config());
        script.server(GREETING);
        script.server(b"500 what\r\n");
        script.sent();
        script.server(b"550 go away\r\n");
        assert!(matches!(failed(script.event()), ClientError::HelloRejected(r) if r.code() == 550));
        assert_eq!(script.sent(), "QUIT\r\n");
        assert!(script.session.is_closed());
    }

    #[test]
    fn greeting_554_fails_the_session_politely() {
        let mut script = Script::new(config());
        script.server(b"554 No SMTP service here\r\n");
        let error = failed(script.event());
        assert!(matches!(&error, ClientError::GreetingRejected(r) if r.code() == 554));
        assert_eq!(
            error.to_string(),
            "the server refused the session: 554 No SMTP service here"
        );
        // RFC 5321 section 3.1: the server waits for QUIT.
        assert_eq!(script.sent(), "QUIT\r\n");
        assert!(script.session.is_closed());
        assert_eq!(script.session.poll_timeout(), None);

        script.server(b"221 Bye\r\n");
        assert!(
            script.events().is_empty(),
            "no event after the session failed"
        );
    }

    #[test]
    fn commands_before_ready_are_refused() {
        let mut script = Script::new(config());
        let now = script.start;
        let error = script
            .session
            .send_mail(envelope(&["bob"]), now)
            .unwrap_err();
        assert_eq!(
            error,
            ClientError::NotReady("waiting for the server's greeting")
        );
        assert!(script.session.quit(now).is_err());
        assert!(script.session.start_tls(now).is_err());
        assert!(script.session.send_body(b"x", now).is_err());
        assert!(script.session.finish_body(now).is_err());
        assert!(script.session.tls_established(now).is_err());
        assert_eq!(script.sent(), "", "a refused command writes nothing");

        script.server(GREETING);
        let error = script
            .session
            .send_mail(envelope(&["bob"]), now)
            .unwrap_err();
        assert_eq!(
            error,
            ClientError::NotReady("waiting for the reply to EHLO")
        );
    }

    // --- STARTTLS ------------------------------------------------------------------------

    #[test]
    fn starttls_then_ehlo_again_with_new_extensions() {
        let mut script = Script::ready(config(), &["STARTTLS", "PIPELINING"]);
        let now = script.start;
        script.session.start_tls(now).unwrap();
        assert_eq!(script.sent(), "STARTTLS\r\n");

        script.server(b"220 2.0.0 Ready to start TLS\r\n");
        assert_eq!(script.event(), ClientEvent::StartTls);
        assert!(
            script.session.extensions().is_none(),
            "RFC 3207: pre-TLS knowledge is void"
        );
        assert_eq!(
            script.sent(),
            "",
            "nothing is sent until the handshake is done"
        );
        assert!(script.session.send_mail(envelope(&["bob"]), now).is_err());

        script.session.tls_established(now).unwrap();
        assert!(script.session.is_tls());
        assert_eq!(script.sent(), "EHLO client.example\r\n");
        script.server(&ehlo_reply(&["AUTH PLAIN", "CHUNKING"]));
        let ClientEvent::Ready { extensions } = script.event() else {
            panic!("not Ready")
        };
        assert!(!extensions.starttls && !extensions.pipelining && extensions.chunking);
        assert_eq!(
            script.session.start_tls(now),
            Err(ClientError::NotReady("TLS is already on"))
        );
    }

    #[test]
    fn starttls_refused_leaves_the_session_in_clear_text() {
        let mut script = Script::ready(config(), &["STARTTLS"]);
        script.session.start_tls(script.start).unwrap();
        script.sent();
        script.server(b"454 4.7.0 TLS not available due to temporary reason\r\n");
        assert!(matches!(script.event(), ClientEvent::TlsRefused(r) if r.code() == 454));
        assert!(!script.session.is_tls());
        assert!(script.session.extensions().is_some());

        script.session.quit(script.start).unwrap();
        assert_eq!(script.sent(), "QUIT\r\n");
    }

    #[test]
    fn starttls_needs_the_extension() {
        let mut script = Script::ready(config(), &[]);
        let error = script.session.start_tls(script.start).unwrap_err();
        assert_eq!(error, ClientError::NotOffered("STARTTLS"));
    }

    #[test]
    fn clear_text_after_the_starttls_220_is_refused() {
        // A response injected behind the 220, to be read as if it came over TLS.
        let mut script = Script::ready(config(), &["STARTTLS"]);
        script.session.start_tls(script.start).unwrap();
        script.server(b"220 Go ahead\r\n250 injected\r\n");
        assert_eq!(failed(script.event()), ProtocolError::DataBeforeTls.into());

        // The same bytes in a later read, before the handshake.
        let mut script = Script::ready(config(), &["STARTTLS"]);
        script.session.start_tls(script.start).unwrap();
        script.server(b"220 Go ahead\r\n");
        assert_eq!(script.event(), ClientEvent::StartTls);
        script.server(b"2");
        assert_eq!(failed(script.event()), ProtocolError::DataBeforeTls.into());
    }

    // --- AUTH ----------------------------------------------------------------------------

    /// PLAIN (RFC 4616) with an initial response.
    struct Plain;

    impl ClientMechanism for Plain {
        fn name(&self) -> MechanismName {
            MechanismName::new("PLAIN").unwrap()
        }
        fn initial_response(&mut self) -> Option<Vec<u8>> {
            Some(b"\0tim\0tanstaaftanstaaf".to_vec())
        }
        fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>, sasl::ClientError> {
            Err(sasl::ClientError::UnexpectedChallenge)
        }
    }

    /// LOGIN: no initial response, answers "Username:" and "Password:".
    struct Login;

    impl ClientMechanism for Login {
        fn name(&self) -> MechanismName {
            MechanismName::new("LOGIN").unwrap()
        }
        fn initial_response(&mut self) -> Option<Vec<u8>> {
            None
        }
        fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, sasl::ClientError> {
            match challenge {
                b"Username:" => Ok(b"tim".to_vec()),
                b"Password:" => Ok(b"hunter2".to_vec()),
                _ => Err(sasl::ClientError::MalformedChallenge),
            }
        }
    }

    /// A mechanism whose initial response is too long for the AUTH line.
    struct Huge;

    impl ClientMechanism for Huge {
        fn name(&self) -> MechanismName {
            MechanismName::new("XOAUTH2").unwrap()
        }
        fn initial_response(&mut self) -> Option<Vec<u8>> {
            Some(vec![b'a'; 600])
        }
        fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>, sasl::ClientError> {
            Ok(Vec::new())
        }
    }

    fn auth_ready(keywords: &[&str]) -> Script {
        let mut config = config();
        config.allow_plaintext_auth = true;
        Script::ready(config, keywords)
    }

    #[test]
    fn auth_plain_sends_the_initial_response() {
        let mut script = auth_ready(&["AUTH PLAIN LOGIN"]);
        script
            .session
            .authenticate(Box::new(Plain), script.start)
            .unwrap();
        assert_eq!(script.sent(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
        assert!(
            script
                .session
                .send_mail(envelope(&["bob"]), script.start)
                .is_err()
        );

        script.server(b"235 2.7.0 Authentication successful\r\n");
        assert_eq!(script.event(), ClientEvent::Authenticated);
        assert!(script.session.is_authenticated());
        assert_eq!(script.sent(), "", "no EHLO after AUTH");
        let again = script.session.authenticate(Box::new(Plain), script.start);
        assert_eq!(
            again,
            Err(ClientError::NotReady(
                "the session is already authenticated"
            ))
        );
    }

    #[test]
    fn auth_login_answers_each_challenge() {
        let mut script = auth_ready(&["AUTH LOGIN"]);
        script
            .session
            .authenticate(Box::new(Login), script.start)
            .unwrap();
        assert_eq!(script.sent(), "AUTH LOGIN\r\n");

        script.server(b"334 VXNlcm5hbWU6\r\n");
        assert_eq!(script.sent(), "dGlt\r\n");
        script.server(b"334 UGFzc3dvcmQ6\r\n");
        assert_eq!(script.sent(), "aHVudGVyMg==\r\n");
        script.server(b"235 ok\r\n");
        assert_eq!(script.event(), ClientEvent::Authenticated);
    }

    #[test]
    fn auth_failure_is_reported_and_the_session_goes_on() {
        let mut script = auth_ready(&["AUTH PLAIN"]);
        script
            .session
            .authenticate(Box::new(Plain), script.start)
            .unwrap();
        script.server(b"535 5.7.8 Authentication credentials invalid\r\n");
        let ClientEvent::AuthFailed { reply, cancelled } = script.event() else {
            panic!()
        };
        assert_eq!((reply.code(), cancelled), (535, None));
        assert!(!script.session.is_authenticated());

        script.sent();
        script.session.quit(script.start).unwrap();
        assert_eq!(script.sent(), "QUIT\r\n");
    }

    #[test]
    fn a_mechanism_error_cancels_with_a_star() {
        let mut script = auth_ready(&["AUTH LOGIN"]);
        script
            .session
            .authenticate(Box::new(Login), script.start)
            .unwrap();
        script.sent();
        script.server(b"334 V2hvIGFyZSB5b3U/\r\n");
        assert_eq!(script.sent(), "*\r\n");
        script.server(b"501 5.0.0 Authentication cancelled\r\n");
        let ClientEvent::AuthFailed { reply, cancelled } = script.event() else {
            panic!()
        };
        assert_eq!(reply.code(), 501);
        assert_eq!(cancelled, Some(sasl::ClientError::MalformedChallenge));
    }

    #[test]
    fn a_challenge_that_is_not_base64_cancels() {
        let mut script = auth_ready(&["AUTH LOGIN"]);
        script
            .session
            .authenticate(Box::new(Login), script.start)
            .unwrap();
        script.sent();
        script.server(b"334 !!!\r\n");
        assert_eq!(script.sent(), "*\r\n");

        // A server that ignores the cancel breaks RFC 4954.
        script.server(b"334 VXNlcm5hbWU6\r\n");
        assert!(matches!(
            failed(script.event()),
            ClientError::Protocol(ProtocolError::UnexpectedReply(_))
        ));
    }

    #[test]
    fn a_long_initial_response_waits_for_an_empty_challenge() {
        let mut script = auth_ready(&["AUTH XOAUTH2"]);
        script
            .session
            .authenticate(Box::new(Huge), script.start)
            .unwrap();
        assert_eq!(script.sent(), "AUTH XOAUTH2\r\n");
        script.server(b"334 \r\n");
        assert_eq!(script.sent(), format!("{}\r\n", "YWFh".repeat(200)));
    }

    #[test]
    fn auth_needs_tls_and_an_offered_mechanism() {
        let mut script = Script::ready(config(), &["AUTH PLAIN"]);
        let now = script.start;
        assert_eq!(
            script.session.authenticate(Box::new(Plain), now),
            Err(ClientError::TlsRequired)
        );
        let error = script
            .session
            .authenticate(Box::new(Login), now)
            .unwrap_err();
        assert_eq!(error, ClientError::NotOffered("AUTH with this mechanism"));
        assert_eq!(script.sent(), "");

        let mut config = config();
        config.tls_on_connect = true;
        let mut script = Script::ready(config, &["AUTH PLAIN"]);
        assert!(script.session.is_tls());
        script.session.authenticate(Box::new(Plain), now).unwrap();
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let mut script = auth_ready(&["AUTH PLAIN"]);
        script
            .session
            .authenticate(Box::new(Plain), script.start)
            .unwrap();
        let debug = format!("{:?}", script.session);
        assert!(
            !debug.contains("tanstaaf") && !debug.contains("AHRpbQB0"),
            "{debug}"
        );
        assert!(debug.contains("Auth"));
    }

    // --- Transactions --------------------------------------------------------------------

    #[test]
    fn without_pipelining_each_command_waits_for_its_reply() {
        let mut script = Script::ready(config(), &["8BITMIME"]);
        script
            .session
            .send_mail(envelope(&["bob", "carol"]), script.start)
            .unwrap();
        assert_eq!(script.sent(), "MAIL FROM:<alice@example.com>\r\n");
        assert_eq!(script.sent(), "");

        script.server(b"250 OK\r\n");
        assert_eq!(script.sent(), "RCPT TO:<bob@example.org>\r\n");
        script.server(b"250 OK\r\n");
        assert_eq!(script.sent(), "RCPT TO:<carol@example.org>\r\n");
        script.server(b"250 OK\r\n");
        assert_eq!(script.sent(), "DATA\r\n");
        assert!(script.events().is_empty());

        script.server(b"354 Start mail input\r\n");
        assert_eq!(script.event(), ClientEvent::ReadyForBody);
        script
            .session
            .send_body(b"Subject: hi\r\n\r\nHello\r\n", script.start)
            .unwrap();
        script.session.finish_body(script.start).unwrap();
        assert_eq!(script.sent(), "Subject: hi\r\n\r\nHello\r\n.\r\n");

        script.server(b"250 OK id=1\r\n");
        let delivery = delivered(script.event());
        assert_eq!(delivery.accepted, [recipient("bob"), recipient("carol")]);
        assert!(delivery.rejected.is_empty());
        assert_eq!(delivery.reply.text(), "OK id=1");
    }

    #[test]
    fn with_pipelining_the_envelope_goes_in_one_write() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob", "carol"]), script.start)
            .unwrap();
        let batch = script.session.poll_transmit().expect("a batch");
        assert_eq!(
            batch,
            b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n\
              RCPT TO:<carol@example.org>\r\nDATA\r\n"
        );
        assert_eq!(script.session.poll_transmit(), None);

        script.server(b"250 OK\r\n250 OK\r\n250 OK\r\n354 Go on\r\n");
        assert_eq!(script.event(), ClientEvent::ReadyForBody);
        script.session.finish_body(script.start).unwrap();
        assert_eq!(
            script.sent(),
            ".\r\n",
            "an empty message is just the terminator"
        );
        script.server(b"250 OK\r\n");
        assert_eq!(delivered(script.event()).accepted.len(), 2);
        assert!(
            script
                .session
                .send_mail(envelope(&["dave"]), script.start)
                .is_ok()
        );
    }

    #[test]
    fn one_refused_recipient_is_listed_in_the_delivery() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob", "nobody"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n550 5.1.1 No such user\r\n354 Go on\r\n");
        assert_eq!(script.event(), ClientEvent::ReadyForBody);
        script.session.send_body(b"Hi", script.start).unwrap();
        script.session.finish_body(script.start).unwrap();
        script.server(b"250 Queued\r\n");

        let delivery = delivered(script.event());
        assert_eq!(delivery.accepted, [recipient("bob")]);
        assert_eq!(delivery.rejected.len(), 1);
        assert_eq!(delivery.rejected[0].0, recipient("nobody"));
        assert_eq!(delivery.rejected[0].1.code(), 550);
    }

    #[test]
    fn every_recipient_refused_with_pipelining_consumes_the_data_reply() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["x", "y"]), script.start)
            .unwrap();
        script.sent();
        script.server(b"250 OK\r\n550 No\r\n551 No\r\n554 No valid recipients\r\n");
        assert_eq!(script.sent(), "RSET\r\n", "the server still holds the MAIL");
        assert!(script.events().is_empty());

        script.server(b"250 Flushed\r\n");
        let failure = tx_failure(script.event());
        assert_eq!(failure.stage, Stage::Recipients);
        assert_eq!(failure.reply.code(), 551);
        assert_eq!(failure.rejected.len(), 2);
        assert!(failure.accepted.is_empty());
        assert!(
            script
                .session
                .send_mail(envelope(&["z"]), script.start)
                .is_ok()
        );
    }

    #[test]
    fn a_354_with_no_valid_recipient_gets_an_empty_message() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["x"]), script.start)
            .unwrap();
        script.sent();
        script.server(b"250 OK\r\n550 No\r\n354 Go on anyway\r\n");
        assert_eq!(script.sent(), ".\r\n");
        script.server(b"554 No recipients\r\n");
        assert_eq!(
            script.sent(),
            "",
            "the end of the data closed the transaction"
        );
        assert_eq!(tx_failure(script.event()).stage, Stage::Recipients);
    }

    #[test]
    fn every_recipient_refused_without_pipelining_sends_rset_not_data() {
        let mut script = Script::ready(config(), &[]);
        script
            .session
            .send_mail(envelope(&["x", "y"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n");
        script.server(b"550 No\r\n");
        script.server(b"450 Later\r\n");
        assert_eq!(
            script.sent(),
            "MAIL FROM:<alice@example.com>\r\nRCPT TO:<x@example.org>\r\n\
             RCPT TO:<y@example.org>\r\nRSET\r\n"
        );
        script.server(b"250 OK\r\n");
        let failure = tx_failure(script.event());
        assert_eq!(
            (failure.stage, failure.reply.code()),
            (Stage::Recipients, 450)
        );
        assert_eq!(failure.rejected[0].1.code(), 550);
    }

    #[test]
    fn a_refused_mail_from_ends_the_transaction() {
        let mut script = Script::ready(config(), &[]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.sent();
        script.server(b"553 Sender refused\r\n");
        let failure = tx_failure(script.event());
        assert_eq!((failure.stage, failure.reply.code()), (Stage::Mail, 553));
        assert_eq!(
            script.sent(),
            "",
            "no RCPT and no RSET after a refused MAIL"
        );

        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.sent();
        script.server(b"553 Sender refused\r\n503 Need MAIL\r\n503 Need MAIL\r\n");
        assert_eq!(tx_failure(script.event()).stage, Stage::Mail);
        assert_eq!(script.sent(), "");
    }

    #[test]
    fn a_refused_data_resets_the_transaction() {
        let mut script = Script::ready(config(), &[]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n");
        assert!(script.sent().ends_with("DATA\r\n"));
        script.server(b"451 Try later\r\n");
        assert_eq!(script.sent(), "RSET\r\n");
        script.server(b"250 OK\r\n");
        let failure = tx_failure(script.event());
        assert_eq!((failure.stage, failure.reply.code()), (Stage::Data, 451));
        assert_eq!(failure.accepted, [recipient("bob")]);
    }

    #[test]
    fn a_refused_message_is_a_failed_transaction() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n354 Go\r\n");
        script.events();
        script.session.send_body(b"spam", script.start).unwrap();
        script.session.finish_body(script.start).unwrap();
        script.sent();
        script.server(b"554 5.7.1 Looks like spam\r\n");
        let failure = tx_failure(script.event());
        assert_eq!((failure.stage, failure.reply.code()), (Stage::Message, 554));
        assert_eq!(
            script.sent(),
            "",
            "the end of the data already ended the transaction"
        );
        assert!(
            script
                .session
                .send_mail(envelope(&["bob"]), script.start)
                .is_ok()
        );
    }

    #[test]
    fn mail_parameters_follow_the_extensions() {
        let mut script = Script::ready(config(), &[]);
        let mut sized = envelope(&["bob"]);
        sized.parameters.size = Some(1234);
        script
            .session
            .send_mail(sized.clone(), script.start)
            .unwrap();
        assert_eq!(
            script.sent(),
            "MAIL FROM:<alice@example.com>\r\n",
            "no SIZE unless offered"
        );

        let mut script = Script::ready(config(), &["SIZE 100000"]);
        script.session.send_mail(sized, script.start).unwrap();
        assert_eq!(script.sent(), "MAIL FROM:<alice@example.com> SIZE=1234\r\n");
        let mut script = Script::ready(config(), &["SIZE 100000"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        assert_eq!(
            script.sent(),
            "MAIL FROM:<alice@example.com>\r\n",
            "no SIZE unless set"
        );

        let mut script = Script::ready(config(), &[]);
        let mut eight_bit = envelope(&["bob"]);
        eight_bit.parameters.body = Some(Body::EightBitMime);
        let error = script
            .session
            .send_mail(eight_bit, script.start)
            .unwrap_err();
        assert_eq!(error, ClientError::NotOffered("8BITMIME"));
        let unicode = Envelope::new(
            ReversePath::Null,
            [ForwardPath::Mailbox(mailbox("jörg", "x.de"))],
        );
        let error = script
            .session
            .send_mail(unicode.clone(), script.start)
            .unwrap_err();
        assert_eq!(error, ClientError::NotOffered("SMTPUTF8"));
        let no_one = Envelope::new(ReversePath::Null, []);
        assert_eq!(
            script.session.send_mail(no_one, script.start),
            Err(ClientError::NoRecipients)
        );

        let mut script = Script::ready(config(), &["SMTPUTF8"]);
        script.session.send_mail(unicode, script.start).unwrap();
        assert_eq!(script.sent(), "MAIL FROM:<> SMTPUTF8\r\n");
    }

    // --- DATA encoding -------------------------------------------------------------------

    fn encode(parts: &[&[u8]]) -> Vec<u8> {
        let mut encoder = DataEncoder::default();
        let mut out = Vec::new();
        for part in parts {
            encoder.encode(part, &mut out);
        }
        encoder.finish(&mut out);
        out
    }

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(encode(&[b""]), b".\r\n");
        assert_eq!(encode(&[b"."]), b"..\r\n.\r\n");
        assert_eq!(encode(&[b".\r\n"]), b"..\r\n.\r\n");
        assert_eq!(
            encode(&[b"a\r\n.b\r\n..c\r\n"]),
            b"a\r\n..b\r\n...c\r\n.\r\n"
        );
        assert_eq!(
            encode(&[b"a.b\r\nx."]),
            b"a.b\r\nx.\r\n.\r\n",
            "only line starts"
        );
        assert_eq!(
            encode(&[b"bare\nlf\n.dot"]),
            b"bare\r\nlf\r\n..dot\r\n.\r\n"
        );
        assert_eq!(encode(&[b"bare\rcr\r.x"]), b"bare\r\ncr\r\n..x\r\n.\r\n");
        assert_eq!(encode(&[b"cr at end\r"]), b"cr at end\r\n.\r\n");
        assert_eq!(encode(&[b"\r\n\r\n"]), b"\r\n\r\n.\r\n");
        assert_eq!(encode(&[b"a\r\r\nb"]), b"a\r\n\r\nb\r\n.\r\n");
    }

    #[test]
    fn dot_stuffing_survives_any_split() {
        let message: &[u8] = b".start\r\nline\r\n.\r\n..two\nbare lf\r.bare cr\r\n\r\n.end";
        let whole = encode(&[message]);
        assert_eq!(
            whole,
            b"..start\r\nline\r\n..\r\n...two\r\nbare lf\r\n..bare cr\r\n\r\n..end\r\n.\r\n"
        );
        for a in 0..=message.len() {
            for b in a..=message.len() {
                let parts = [&message[..a], &message[a..b], &message[b..]];
                assert_eq!(encode(&parts), whole, "split at {a} and {b}");
            }
        }
    }

    #[test]
    fn the_session_stuffs_the_body_across_parts() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n354 Go\r\n");
        script.events();
        script.sent();
        for part in [&b"line\r"[..], b"\n", b".", b"dot\n", b"last"] {
            script.session.send_body(part, script.start).unwrap();
        }
        script.session.finish_body(script.start).unwrap();
        assert_eq!(script.sent(), "line\r\n..dot\r\nlast\r\n.\r\n");
        assert!(script.session.send_body(b"more", script.start).is_err());
    }

    // --- BDAT ----------------------------------------------------------------------------

    #[test]
    fn chunking_sends_bdat_with_the_last_part_marked() {
        let mut script = Script::ready(config(), &["PIPELINING", "CHUNKING"]);
        let now = script.start;
        script.session.send_mail(envelope(&["bob"]), now).unwrap();
        assert!(!script.sent().contains("DATA"), "no DATA with CHUNKING");
        script.server(b"250 OK\r\n250 OK\r\n");
        assert_eq!(script.event(), ClientEvent::ReadyForBody);

        script.session.send_body(b"first\r\n.", now).unwrap();
        assert_eq!(script.sent(), "", "the part is held back");
        script.session.send_body(b"", now).unwrap();
        script.session.send_body(b"second\r\n", now).unwrap();
        assert_eq!(
            script.sent(),
            "BDAT 8\r\nfirst\r\n.",
            "no stuffing with BDAT"
        );
        script.session.finish_body(now).unwrap();
        assert_eq!(script.sent(), "BDAT 8 LAST\r\nsecond\r\n");

        script.server(b"250 8 octets\r\n");
        assert!(script.events().is_empty(), "the chunk's reply is consumed");
        script.server(b"250 Message accepted\r\n");
        assert_eq!(delivered(script.event()).reply.text(), "Message accepted");
    }

    #[test]
    fn chunking_with_an_empty_message_sends_bdat_0_last() {
        let mut script = Script::ready(config(), &["CHUNKING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n");
        script.events();
        script.sent();
        script.session.finish_body(script.start).unwrap();
        assert_eq!(script.sent(), "BDAT 0 LAST\r\n");
    }

    #[test]
    fn chunking_without_pipelining_waits_for_each_chunk_reply() {
        let mut script = Script::ready(config(), &["CHUNKING"]);
        let now = script.start;
        script.session.send_mail(envelope(&["bob"]), now).unwrap();
        script.server(b"250 OK\r\n250 OK\r\n");
        script.events();
        script.sent();

        script.session.send_body(b"one", now).unwrap();
        script.session.send_body(b"two", now).unwrap();
        assert_eq!(script.sent(), "BDAT 3\r\none");
        script.session.send_body(b"three", now).unwrap();
        script.session.finish_body(now).unwrap();
        assert_eq!(script.sent(), "", "the next chunk waits for the reply");

        script.server(b"250 OK\r\n");
        assert_eq!(script.sent(), "BDAT 8 LAST\r\ntwothree");
        script.server(b"250 Done\r\n");
        assert_eq!(delivered(script.event()).reply.text(), "Done");
    }

    #[test]
    fn a_refused_chunk_fails_and_resets_the_transaction() {
        let mut script = Script::ready(config(), &["PIPELINING", "CHUNKING"]);
        let now = script.start;
        script.session.send_mail(envelope(&["bob"]), now).unwrap();
        script.server(b"250 OK\r\n250 OK\r\n");
        script.events();
        script.session.send_body(b"one", now).unwrap();
        script.session.send_body(b"two", now).unwrap();
        script.session.finish_body(now).unwrap();
        script.sent();

        script.server(b"552 5.3.4 Too big\r\n");
        assert!(
            script.events().is_empty(),
            "the reply to BDAT LAST is still due"
        );
        script.server(b"503 5.5.1 No transaction\r\n");
        assert_eq!(script.sent(), "RSET\r\n");
        script.server(b"250 OK\r\n");
        let failure = tx_failure(script.event());
        assert_eq!((failure.stage, failure.reply.code()), (Stage::Message, 552));
    }

    #[test]
    fn a_refused_chunk_stops_the_body() {
        let mut script = Script::ready(config(), &["PIPELINING", "CHUNKING"]);
        let now = script.start;
        script.session.send_mail(envelope(&["bob"]), now).unwrap();
        script.server(b"250 OK\r\n250 OK\r\n");
        script.events();
        script.session.send_body(b"one", now).unwrap();
        script.session.send_body(b"two", now).unwrap();
        script.sent();
        script.server(b"451 4.3.0 Disk full\r\n");
        assert_eq!(script.sent(), "RSET\r\n");
        assert!(script.session.send_body(b"three", now).is_err());
        script.server(b"250 OK\r\n");
        assert_eq!(tx_failure(script.event()).stage, Stage::Message);
    }

    // --- Framing and failures ------------------------------------------------------------

    #[test]
    fn a_whole_session_fed_one_byte_at_a_time() {
        let mut script = Script::new(config());
        let now = script.start;
        let feed = |script: &mut Script, bytes: &[u8]| {
            for byte in bytes {
                script.session.handle_input(std::slice::from_ref(byte), now);
            }
        };
        feed(
            &mut script,
            b"220-mx.example.org ESMTP\r\n220-more text\r\n220 last\r\n",
        );
        assert_eq!(script.sent(), "EHLO client.example\r\n");
        feed(
            &mut script,
            &ehlo_reply(&["PIPELINING", "SIZE 1000", "ENHANCEDSTATUSCODES"]),
        );
        let ClientEvent::Ready { extensions } = script.event() else {
            panic!("not Ready")
        };
        assert_eq!(extensions.size, Some(1000));

        script.session.send_mail(envelope(&["bob"]), now).unwrap();
        feed(
            &mut script,
            b"250 2.1.0 OK\r\n250-2.1.5 multi\r\n250 2.1.5 line\r\n354 Go\r\n",
        );
        assert_eq!(script.event(), ClientEvent::ReadyForBody);
        script.session.finish_body(now).unwrap();
        feed(&mut script, b"250-2.0.0 Queued\r\n250 2.0.0 as 42\r\n");
        assert_eq!(delivered(script.event()).reply.lines(), ["Queued", "as 42"]);
        script.session.quit(now).unwrap();
        feed(&mut script, b"221 2.0.0 Bye\r\n");
        assert_eq!(script.event(), ClientEvent::Closed);
    }

    #[test]
    fn a_421_at_any_point_closes_the_session() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n421 4.3.2 Shutting down\r\n");
        let error = failed(script.event());
        assert!(matches!(error, ClientError::ServiceClosing(r) if r.code() == 421));
        assert!(script.session.is_closed());
        assert_eq!(
            script.session.send_body(b"x", script.start),
            Err(ClientError::Closed)
        );

        let mut script = Script::new(config());
        script.server(b"421 Too busy\r\n");
        assert!(matches!(
            failed(script.event()),
            ClientError::ServiceClosing(_)
        ));
    }

    #[test]
    fn timeouts_follow_rfc_5321() {
        let mut script = Script::new(config());
        assert_eq!(script.session.poll_timeout(), Some(script.at(300)));
        script.session.handle_timeout(script.at(299));
        assert!(script.events().is_empty());
        script.session.handle_timeout(script.at(301));
        assert_eq!(failed(script.event()), ClientError::Timeout("the greeting"));
        assert_eq!(script.session.poll_timeout(), None);

        // Each reply restarts the wait, with the next command's timeout.
        let mut script = Script::ready(config(), &["PIPELINING"]);
        let later = script.at(1000);
        script.session.send_mail(envelope(&["bob"]), later).unwrap();
        assert_eq!(
            script.session.poll_timeout(),
            Some(script.at(1300)),
            "MAIL: 5 minutes"
        );
        script
            .session
            .handle_input(b"250 OK\r\n250 OK\r\n", script.at(1010));
        assert_eq!(
            script.session.poll_timeout(),
            Some(script.at(1130)),
            "DATA: 2 minutes"
        );
        script.session.handle_input(b"354 Go\r\n", script.at(1020));
        assert_eq!(
            script.session.poll_timeout(),
            Some(script.at(1200)),
            "data: 3 minutes"
        );
        script.session.send_body(b"x", script.at(1100)).unwrap();
        assert_eq!(script.session.poll_timeout(), Some(script.at(1280)));
        script.session.finish_body(script.at(1110)).unwrap();
        assert_eq!(
            script.session.poll_timeout(),
            Some(script.at(1710)),
            "end: 10 minutes"
        );
        script.events();
        script.session.handle_timeout(script.at(1711));
        let error = failed(script.event());
        assert_eq!(
            error,
            ClientError::Timeout("the reply to the end of the message")
        );
    }

    #[test]
    fn a_partial_reply_does_not_restart_the_timer() {
        let mut script = Script::new(config());
        script.session.handle_input(b"220-slow", script.at(200));
        assert_eq!(script.session.poll_timeout(), Some(script.at(300)));
        script.session.handle_timeout(script.at(300));
        assert!(matches!(failed(script.event()), ClientError::Timeout(_)));
    }

    #[test]
    fn a_stalled_host_times_out_the_body() {
        let mut script = Script::ready(config(), &["PIPELINING"]);
        script
            .session
            .send_mail(envelope(&["bob"]), script.start)
            .unwrap();
        script.server(b"250 OK\r\n250 OK\r\n354 Go\r\n");
        script.events();
        script.session.handle_timeout(script.at(181));
        assert_eq!(
            failed(script.event()),
            ClientError::Timeout("the next part of the message")
        );
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        for (bytes, expected) in [
            (
                &b"hello\r\n"[..],
                ProtocolError::Reply(ReplyError::Malformed),
            ),
            (b"2200 x\r\n", ProtocolError::Reply(ReplyError::Malformed)),
            (
                b"220-a\r\n250 b\r\n",
                ProtocolError::Reply(ReplyError::InconsistentCode),
            ),
            (b"220 bare lf\n", ProtocolError::BareLf),
            (b"220 bare\rcr\r\n", ProtocolError::BareCr),
        ] {
            let mut script = Script::new(config());
            script.server(bytes);
            assert_eq!(failed(script.event()), expected.into(), "{bytes:?}");
            assert!(script.session.is_closed());
        }
    }

    #[test]
    fn reply_lines_and_replies_are_bounded() {
        // 512 octets with CRLF is the limit (RFC 5321 section 4.5.3.1.5).
        let mut script = Script::new(config());
        let longest = format!("220 {}\r\n", "x".repeat(506));
        assert_eq!(longest.len(), 512);
        script.server(longest.as_bytes());
        assert!(script.events().is_empty());
        assert_eq!(script.sent(), "EHLO client.example\r\n");

        let too_long = ProtocolError::Reply(ReplyError::LineTooLong).into();
        let mut script = Script::new(config());
        script.server(format!("220 {}\r\n", "x".repeat(507)).as_bytes());
        assert_eq!(failed(script.event()), too_long);

        // Refused before its end arrives, so the buffer never grows past the limit.
        let mut script = Script::new(config());
        script.server(b"220 ");
        script.server("x".repeat(508).as_bytes());
        assert!(script.events().is_empty());
        script.server(b"x");
        assert_eq!(failed(script.event()), too_long);

        let mut config = config();
        config.max_reply_lines = 3;
        let mut script = Script::new(config);
        script.server(b"220-a\r\n220-b\r\n220-c\r\n220-d\r\n");
        assert_eq!(
            failed(script.event()),
            ProtocolError::Reply(ReplyError::TooManyLines).into()
        );
    }

    #[test]
    fn data_with_no_command_outstanding_is_refused() {
        let mut script = Script::ready(config(), &[]);
        script.server(b"2");
        assert_eq!(failed(script.event()), ProtocolError::Unsolicited.into());
    }

    #[test]
    fn quit_closes_the_session() {
        let mut script = Script::ready(config(), &[]);
        script.session.quit(script.start).unwrap();
        assert_eq!(script.sent(), "QUIT\r\n");
        assert!(!script.session.is_closed());
        script.server(b"221 2.0.0 Bye\r\n");
        assert_eq!(script.event(), ClientEvent::Closed);
        assert!(script.session.is_closed());
        assert_eq!(script.session.quit(script.start), Err(ClientError::Closed));
        script.session.handle_close();
        assert!(script.events().is_empty());

        // Some servers close without their 221.
        let mut script = Script::ready(config(), &[]);
        script.session.quit(script.start).unwrap();
        script.session.handle_close();
        assert_eq!(script.event(), ClientEvent::Closed);
    }

    #[test]
    fn a_connection_lost_mid_session_fails_it() {
        let mut script = Script::ready(config(), &[]);
        script.session.handle_close();
        assert_eq!(failed(script.event()), ClientError::ConnectionLost);
    }

    #[test]
    fn reset_is_answered_with_an_event() {
        let mut script = Script::ready(config(), &[]);
        script.session.reset(script.start).unwrap();
        assert_eq!(script.sent(), "RSET\r\n");
        script.server(b"250 OK\r\n");
        assert_eq!(script.event(), ClientEvent::Reset);
        assert!(
            script
                .session
                .send_mail(envelope(&["bob"]), script.start)
                .is_ok()
        );
    }

    // --- Fuzz harness --------------------------------------------------------------------

    #[test]
    fn the_fuzz_harness_runs_full_transcripts() {
        // Knobs 0 to 7 feed one byte at a time; the host sends two messages to two
        // recipients each, then RSET, then QUIT.
        let transcripts: [&[u8]; 5] = [
            // PIPELINING and DATA: the body's bare line ends must come out as CRLF.
            b"\x00220 hi\r\n250-x\r\n250 PIPELINING\r\n250 a\r\n250 b\r\n250 c\r\n354 d\r\n\
              250 e\r\n250 a\r\n550 b\r\n550 c\r\n554 d\r\n250 rset\r\n250 rset\r\n221 bye\r\n",
            // STARTTLS, then one command at a time.
            b"\x04220 hi\r\n250-x\r\n250 STARTTLS\r\n220 go\r\n250 x\r\n250 a\r\n250 b\r\n\
              250 c\r\n354 d\r\n250 e\r\n",
            // AUTH with a challenge, then BDAT.
            b"\x01220 hi\r\n250-x\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 CHUNKING\r\n\
              334 abcd\r\n235 ok\r\n250 a\r\n250 b\r\n550 c\r\n250 d\r\n250 e\r\n",
            // A mechanism that gives up, and a server that refuses the cancel.
            b"\x03220 hi\r\n250-x\r\n250 AUTH PLAIN\r\n334 IXg=\r\n334 again\r\n",
            // Varying splits.
            b"\x81220 hi\r\n250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 a\r\n",
        ];
        for data in transcripts {
            fuzz_client(data);
        }
    }

    #[test]
    fn the_fuzz_harness_survives_random_input() {
        // Bytes mapped onto the characters of replies reach deeper than raw noise.
        const ALPHABET: &[u8] = b"2345013 -\r\n\r\n";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..3000 {
            let len = 1 + round % 200;
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let byte = (state >> 24) as u8;
                    if i == 0 || round % 3 == 0 {
                        byte
                    } else {
                        ALPHABET[byte as usize % 13]
                    }
                })
                .collect();
            let mut seeded = b"\x01220 x\r\n250-x\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n".to_vec();
            seeded.extend_from_slice(&data);
            fuzz_client(&data);
            fuzz_client(&seeded);
        }
    }
}
