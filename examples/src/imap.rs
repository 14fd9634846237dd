//! One IMAP connection: the host loop around `imap_proto::server::ServerSession`, with logins
//! checked through the shared limiter and every store request answered by
//! `imap_proto::store::StoreHost`, which also watches the selected mailbox for IDLE and
//! for the updates sent at the end of commands.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_proto::server::{
    Answer, Event, LoginFailure, Request, ServerConfig, ServerSession, StoreFailure,
};
use imap_proto::store::StoreHost;
use mail_auth::authenticator::Connection;
use mail_auth::sasl::{Failure, ServerStep};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::login::{self, PasswordCheck, SaslLogin};
use crate::smtp::{Shared, Stream, log_tls, upgrade_to_tls};

/// Which IMAP service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Port 143: STARTTLS offered, LOGINDISABLED until it (or on loopback if configured).
    Imap,
    /// Port 993: implicit TLS.
    Imaps,
}

impl Kind {
    /// The listener's name, for the log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Imap => "imap",
            Kind::Imaps => "imaps",
        }
    }
}

/// Whether login may run before TLS for this client (`auth.plaintext_on_loopback`).
fn plaintext_auth(shared: &Shared, ip: IpAddr) -> bool {
    shared.config.auth.plaintext_on_loopback && ip.is_loopback()
}

/// Builds the session configuration for a listener and client; `tls` is false until the
/// implicit-TLS handshake is done.
fn session_config(shared: &Shared, kind: Kind, ip: IpAddr) -> ServerConfig {
    let config = &shared.config;
    let mut session = ServerConfig::new(config.server.hostname.clone());
    session.tls = kind == Kind::Imaps;
    session.starttls = kind == Kind::Imap;
    session.allow_plaintext = plaintext_auth(shared, ip);

    // The mechanisms a TLS connection gets; the session offers none before TLS unless
    // plaintext is allowed, and then the same ones.
    session.sasl_mechanisms = shared.imap_mechanisms.offered(&Connection::new(true));

    let limits = &mut session.limits;
    limits.literal = config.limits.message_size;
    limits.bad_commands = config.limits.imap_errors;
    limits.idle_timeout = Duration::from_secs(config.limits.imap_idle_timeout_secs);
    limits.login_timeout = Duration::from_secs(config.limits.imap_login_timeout_secs);
    session
}

/// A request's name for the log; never its content (APPEND carries a message).
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::ListMailboxes => "LIST",
        Request::Select { .. } => "SELECT",
        Request::Status { .. } => "STATUS",
        Request::Messages { .. } => "MESSAGES",
        Request::Create { .. } => "CREATE",
        Request::Delete { .. } => "DELETE",
        Request::Rename { .. } => "RENAME",
        Request::Subscribe { .. } => "SUBSCRIBE",
        Request::Append { .. } => "APPEND",
        Request::Read { .. } => "READ",
        Request::StoreFlags { .. } => "STORE",
        Request::Expunge { .. } => "EXPUNGE",
        Request::Copy { .. } => "COPY",
        Request::Move { .. } => "MOVE",
        _ => "other",
    }
}

/// The state of one connection.
struct Conn {
    shared: Arc<Shared>,
    kind: Kind,
    ip: IpAddr,
    session: ServerSession,
    stream: Option<Stream>,
    sasl: SaslLogin,
    store: StoreHost,
}

/// Serves one accepted connection until it ends or the server stops.
pub async fn serve_connection(
    shared: Arc<Shared>,
    kind: Kind,
    tcp: TcpStream,
    ip: IpAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = session_config(&shared, kind, ip);
    let mut mechanisms = shared.imap_mechanisms.clone();
    mechanisms.allow_plaintext = plaintext_auth(&shared, ip);

    // Implicit TLS first: the greeting is the first thing said inside it.
    let stream = match kind {
        Kind::Imaps => match shared.tls.accept(tcp).await {
            Ok(tls) => {
                log_tls(&tls, ip, kind.name());
                Stream::Tls(Box::new(tls))
            }
            Err(e) => {
                info!(ip = %ip, listener = kind.name(), "TLS handshake failed: {e}");
                return;
            }
        },
        Kind::Imap => Stream::Plain(tcp),
    };

    let mut conn = Conn {
        session: ServerSession::new(config, Instant::now()),
        store: StoreHost::new(shared.store.clone()),
        sasl: SaslLogin::new(mechanisms, ip),
        shared,
        kind,
        ip,
        stream: Some(stream),
    };
    if let Err(e) = conn.run(&mut shutdown).await {
        info!(ip = %ip, listener = kind.name(), "connection error: {e}");
    }
    if let Some(stream) = conn.stream.as_mut() {
        stream.shutdown().await;
    }
}

impl Conn {
    fn stream(&mut self) -> std::io::Result<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no stream"))
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> std::io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            self.drain().await?;
            if self.session.is_closed() {
                return Ok(());
            }

            // Every answer is given inside drain, so nothing is half done here: the session
            // can say BYE at once, even in the middle of IDLE.
            if *shutdown.borrow() {
                self.session.shutdown("Server shutting down");
                continue;
            }
            if !self.session.wants_input() {
                self.session.handle_close();
                self.drain().await?;
                return Ok(());
            }

            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            // The fields, not `self.stream()`, so that the store's watch can be borrowed
            // beside the socket.
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| std::io::Error::other("no stream"))?;
            tokio::select! {
                read = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match read {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        self.session.handle_close();
                        self.drain().await?;
                        return Ok(());
                    }
                    Ok(Ok(n)) => self.session.handle_input(&buf[..n], Instant::now()),
                    Err(_) => self.session.handle_timeout(Instant::now()),
                },
                change = self.store.next_change() => self.session.mailbox_changed(change),
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        self.session.shutdown("Server shutting down");
                    }
                }
            }
        }
    }

    /// Handles every event and writes every response, until both run dry.
    async fn drain(&mut self) -> std::io::Result<()> {
        loop {
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                if matches!(event, Event::StartTls) {
                    self.start_tls().await?;
                } else {
                    self.handle(event).await;
                }
            }
            while let Some(bytes) = self.session.poll_transmit() {
                progressed = true;
                self.stream()?.write_all(&bytes).await?;
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    async fn start_tls(&mut self) -> std::io::Result<()> {
        if upgrade_to_tls(&mut self.stream, &self.shared, self.ip, self.kind.name()).await? {
            self.session.tls_established(Instant::now());
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Login { username, password } => {
                let checked = login::check_password(
                    &self.shared,
                    self.ip,
                    "LOGIN",
                    &username,
                    password.expose(),
                )
                .await;
                let failure = match checked {
                    PasswordCheck::Valid(account) => {
                        self.logged_in(&account);
                        let _ = self.session.login_ok(account);
                        return;
                    }
                    PasswordCheck::Invalid => LoginFailure::InvalidCredentials,
                    PasswordCheck::Throttled => LoginFailure::Throttled,
                    PasswordCheck::Unavailable => LoginFailure::Temporary,
                };
                let _ = self.session.login_failed(failure);
            }
            Event::AuthStart {
                mechanism,
                initial_response,
            } => {
                let initial = initial_response.as_ref().map(|r| r.expose());
                let tls = self.session.is_tls();
                let step = self
                    .sasl
                    .start(&self.shared, tls, &mechanism, initial)
                    .await;
                self.auth_step(step).await;
            }
            Event::AuthResponse(response) => {
                let step = self.sasl.respond(&self.shared, response.expose()).await;
                self.auth_step(step).await;
            }
            Event::AuthCancelled => self.sasl.cancelled(),
            Event::Request(request) => self.request(request).await,
            Event::Deselected => self.store.deselect(),
            event if event.needs_answer() => {
                // An event this host does not know; a failure keeps the session going.
                error!(ip = %self.ip, "unexpected IMAP event; answered as a store failure");
                let _ = self.session.answer(Err(StoreFailure::Unavailable));
            }
            _ => {}
        }
    }

    /// Hands a SASL step to the session. A success names the authorization identity as
    /// the client spelled it; the session acts for the account's canonical address
    /// instead, the one the store keeps its mailboxes under.
    async fn auth_step(&mut self, step: ServerStep) {
        let step = match step {
            ServerStep::Success {
                authorization_id,
                additional_data,
            } => match login::account_address(&self.shared, &authorization_id).await {
                Ok(Some(account)) => {
                    self.logged_in(&account);
                    ServerStep::Success {
                        authorization_id: account,
                        additional_data,
                    }
                }
                // An identity the credentials allow but the store does not hold: there
                // would be no mailboxes to act on.
                Ok(None) => {
                    warn!(ip = %self.ip, "login refused: no account for the authorization id");
                    ServerStep::Failure(Failure::InvalidCredentials)
                }
                Err(e) => {
                    error!("store error looking up an account: {e}");
                    ServerStep::Failure(Failure::Temporary)
                }
            },
            step => step,
        };
        let _ = self.session.auth_step(step);
    }

    /// Points the store at the account that just logged in.
    fn logged_in(&mut self, account: &str) {
        self.store.set_account(account);
    }

    /// Answers one store request, logging what the operator wants to see.
    async fn request(&mut self, request: Request) {
        let name = request_name(&request);
        let append = match &request {
            Request::Append {
                mailbox, message, ..
            } => Some((mailbox.clone(), message.len())),
            _ => None,
        };
        let select = match &request {
            Request::Select { mailbox } => Some(mailbox.clone()),
            _ => None,
        };

        let answer = self.store.execute(request).await;

        let account = self.session.account().unwrap_or_default();
        match (&answer, append, select) {
            (Ok(Answer::Appended { uid, .. }), Some((mailbox, size)), _) => {
                info!(ip = %self.ip, account, mailbox, uid, size, "message appended");
            }
            (Ok(Answer::Selected { status, .. }), _, Some(mailbox)) => {
                debug!(ip = %self.ip, account, mailbox, messages = status.messages, "selected");
            }
            (Err(StoreFailure::OverQuota), Some((mailbox, size)), _) => {
                info!(ip = %self.ip, account, mailbox, size, "rejected APPEND: mailbox full");
            }
            // The adapter maps every fault it does not name (I/O, corruption) to
            // Unavailable: the server's problem, not the client's.
            (Err(StoreFailure::Unavailable), _, _) => {
                error!(ip = %self.ip, account, request = name, "store unavailable");
            }
            _ => {}
        }
        let _ = self.session.answer(answer);
    }
}
