//! One SMTP connection: the host loop around `smtp_proto::server::ServerSession`, with the
//! server's policy (recipients, relaying, sender ownership, AUTH) and delivery to the store.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mail_auth::authenticator::{Connection, Mechanisms};
use mail_auth::limiter::Limiter;
use mail_store::{NewMessage, Store, StoreError};
use smtp_proto::address::{Domain, ForwardPath, Mailbox};
use smtp_proto::reply::{EnhancedStatusCode, Reply};
use smtp_proto::server::{Event, ServerConfig, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tracing::{error, info};

use crate::config::Config;
use crate::login::SaslLogin;

/// Which SMTP service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inbound MX: STARTTLS offered, AUTH not offered.
    Inbound,
    /// Submission with STARTTLS; TLS and AUTH required.
    Submission,
    /// Submission over implicit TLS; AUTH required.
    Submissions,
}

impl Kind {
    /// The listener's name, for the log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inbound => "smtp",
            Kind::Submission => "submission",
            Kind::Submissions => "submissions",
        }
    }
}

/// What every connection shares, whatever its protocol.
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The TLS acceptor for STARTTLS and implicit TLS; its certificate is reloaded on SIGHUP.
    pub tls: crate::tls::Acceptor,
    /// The SASL mechanisms offered.
    pub mechanisms: Mechanisms,
    /// The login failure limiter, shared by all connections.
    pub limiter: Mutex<Limiter>,
    /// The SASL mechanisms POP3 AUTH offers.
    pub pop3_mechanisms: Mechanisms,
    /// The SASL mechanisms IMAP AUTHENTICATE offers.
    pub imap_mechanisms: Mechanisms,
}

/// Whether AUTH may run before TLS for this client (`auth.plaintext_on_loopback`).
fn plaintext_auth(shared: &Shared, kind: Kind, ip: IpAddr) -> bool {
    kind == Kind::Submission && shared.config.auth.plaintext_on_loopback && ip.is_loopback()
}

/// Builds the session configuration for a listener and client.
pub fn session_config(shared: &Shared, kind: Kind, ip: IpAddr) -> ServerConfig {
    let config = &shared.config;
    let mut session = ServerConfig::new(config.server.hostname.clone());
    session.limits.message_size = config.limits.message_size;
    session.extensions.size = Some(config.limits.message_size);
    session.limits.recipients = config.limits.recipients;
    session.limits.errors = config.limits.smtp_errors;
    session.limits.idle_timeout = Duration::from_secs(config.limits.smtp_idle_timeout_secs);
    match kind {
        Kind::Inbound => session.extensions.starttls = true,
        Kind::Submission => {
            session.extensions.starttls = true;
            session.require_tls = !plaintext_auth(shared, kind, ip);
            session.allow_plaintext_auth = plaintext_auth(shared, kind, ip);
            session.require_auth = true;
            session.extensions.auth = shared.mechanisms.offered(&Connection::new(true));
        }
        Kind::Submissions => {
            session.tls = true;
            session.require_auth = true;
            session.extensions.auth = shared.mechanisms.offered(&Connection::new(true));
        }
    }
    session
}

/// The client's connection, in plaintext or after TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
        };
    }
}

fn code(text: &str) -> Option<EnhancedStatusCode> {
    EnhancedStatusCode::from_literal(text)
}

pub(crate) fn lock(limiter: &Mutex<Limiter>) -> std::sync::MutexGuard<'_, Limiter> {
    limiter.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A message id unique in this process and across restarts.
fn message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:X}{:04X}", nanos as u64, n & 0xFFFF)
}

/// An RFC 5322 date in UTC, like `Thu, 03 Dec 2026 19:29:48 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The state of one connection.
struct Conn {
    shared: Arc<Shared>,
    kind: Kind,
    ip: IpAddr,
    session: ServerSession,
    stream: Option<Stream>,
    sasl: SaslLogin,
    helo: String,
    extended: bool,
    sender: Option<String>,
    local: Vec<String>,
    remote: Vec<String>,
    data: Vec<u8>,
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
    let mut mechanisms = shared.mechanisms.clone();
    mechanisms.allow_plaintext = plaintext_auth(&shared, kind, ip);
    let stream = if kind == Kind::Submissions {
        match shared.tls.accept(tcp).await {
            Ok(tls) => {
                log_tls(&tls, ip, kind.name());
                Stream::Tls(Box::new(tls))
            }
            Err(e) => {
                info!(ip = %ip, listener = kind.name(), "TLS handshake failed: {e}");
                return;
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    let mut conn = Conn {
        session: ServerSession::new(config, Instant::now()),
        shared,
        kind,
        ip,
        stream: Some(stream),
        sasl: SaslLogin::new(mechanisms, ip),
        helo: String::new(),
        extended: false,
        sender: None,
        local: Vec::new(),
        remote: Vec::new(),
        data: Vec::new(),
    };
    if let Err(e) = conn.run(&mut shutdown).await {
        info!(ip = %ip, listener = kind.name(), "connection error: {e}");
    }
    if let Some(stream) = conn.stream.as_mut() {
        stream.shutdown().await;
    }
}

pub(crate) fn log_tls(tls: &TlsStream<TcpStream>, ip: IpAddr, listener: &str) {
    let (_, connection) = tls.get_ref();
    let version = connection.protocol_version().map(|v| format!("{v:?}"));
    let cipher = connection
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()));
    info!(
        ip = %ip,
        listener,
        "TLS established: {} {}",
        version.unwrap_or_default(),
        cipher.unwrap_or_default()
    );
}

/// Upgrades a plaintext connection after STARTTLS or STLS: takes the stream, runs the
/// handshake, logs it and puts the encrypted stream back. Returns whether it upgraded (an
/// already encrypted stream is left alone); a failed handshake is an error, and the stream
/// is then gone.
pub(crate) async fn upgrade_to_tls(
    slot: &mut Option<Stream>,
    shared: &Shared,
    ip: IpAddr,
    listener: &str,
) -> std::io::Result<bool> {
    let stream = slot
        .take()
        .ok_or_else(|| std::io::Error::other("no stream"))?;
    let Stream::Plain(tcp) = stream else {
        *slot = Some(stream);
        return Ok(false);
    };
    let tls = shared.tls.accept(tcp).await?;
    log_tls(&tls, ip, listener);
    *slot = Some(Stream::Tls(Box::new(tls)));
    Ok(true)
}

impl Conn {
    fn stream(&mut self) -> std::io::Result<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no stream"))
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> std::io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut stopping = *shutdown.borrow();
        loop {
            self.drain().await?;
            if self.session.is_closed() {
                return Ok(());
            }
            if stopping && self.sender.is_none() && !self.sasl.in_progress() {
                self.session.shutdown();
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
            let stream = self.stream()?;
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
                changed = shutdown.changed(), if !stopping => {
                    stopping = changed.is_err() || *shutdown.borrow();
                }
            }
        }
    }

    /// Handles every event and writes every reply, until both run dry.
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
            self.reset();
            self.session.tls_established(Instant::now());
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.sender = None;
        self.local.clear();
        self.remote.clear();
        self.data.clear();
    }

    fn reject(&mut self, code_num: u16, esc: &str, text: &str) {
        let _ = self.session.reject(Reply::new(code_num, code(esc), text));
    }

    fn accept(&mut self) {
        let _ = self.session.accept();
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Connect => self.accept(),
            Event::Helo { domain, extended } => {
                self.helo = domain.to_string();
                self.extended = extended;
                self.reset();
                self.accept();
            }
            Event::Mail { reverse_path, .. } => {
                self.reset();
                let sender = reverse_path
                    .mailbox()
                    .map(Mailbox::to_string)
                    .unwrap_or_default();
                if self.kind != Kind::Inbound && !self.owns(&sender).await {
                    info!(ip = %self.ip, sender = %sender, "rejected MAIL: sender not owned");
                    self.reject(553, "5.7.1", "Sender address not owned by you");
                    return;
                }
                self.sender = Some(sender);
                self.accept();
            }
            Event::Rcpt { forward_path, .. } => self.rcpt(forward_path).await,
            Event::MessageData(chunk) => {
                let max = self.shared.config.limits.message_size as usize;
                if self.data.len() + chunk.len() <= max {
                    self.data.extend_from_slice(&chunk);
                }
            }
            Event::MessageComplete => self.deliver().await,
            Event::MessageAborted(_) | Event::TransactionReset => self.reset(),
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
                let _ = self.session.auth_step(step);
            }
            Event::AuthResponse(response) => {
                let step = self.sasl.respond(&self.shared, response.expose()).await;
                let _ = self.session.auth_step(step);
            }
            Event::AuthCancelled => self.sasl.cancelled(),
            event if event.needs_answer() => {
                self.reject(502, "5.5.1", "Command not implemented");
            }
            _ => {}
        }
    }

    /// Whether the authenticated account owns `sender` (itself or an alias).
    async fn owns(&mut self, sender: &str) -> bool {
        let Some(account) = self.session.authenticated_id() else {
            return false;
        };
        if sender.is_empty() {
            return false;
        }
        match self.shared.store.resolve(sender).await {
            Ok(Some(owner)) => owner.eq_ignore_ascii_case(account),
            Ok(None) => false,
            Err(e) => {
                error!("store error resolving a sender: {e}");
                false
            }
        }
    }

    fn is_local(&self, domain: &Domain) -> bool {
        match domain {
            Domain::Name(name) => self
                .shared
                .config
                .server
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(name)),
            _ => false,
        }
    }

    async fn rcpt(&mut self, forward_path: ForwardPath) {
        let (address, local) = match &forward_path {
            ForwardPath::Postmaster => {
                let Some(domain) = self.shared.config.server.domains.first() else {
                    self.reject(550, "5.1.1", "No such user");
                    return;
                };
                (format!("postmaster@{domain}"), true)
            }
            ForwardPath::Mailbox(mailbox) => (mailbox.to_string(), self.is_local(&mailbox.domain)),
        };
        if local {
            match self.shared.store.resolve(&address).await {
                Ok(Some(account)) => {
                    if !self.local.contains(&account) {
                        self.local.push(account);
                    }
                    self.accept();
                }
                Ok(None) => {
                    info!(ip = %self.ip, rcpt = %address, "rejected RCPT: no such user");
                    self.reject(550, "5.1.1", "No such user");
                }
                Err(e) => {
                    error!("store error resolving a recipient: {e}");
                    self.reject(451, "4.3.0", "Temporary failure");
                }
            }
            return;
        }
        let trusted = Config::in_networks(&self.shared.config.relay.trusted_networks, self.ip);
        if self.session.authenticated_id().is_some() || trusted {
            self.remote.push(address);
            self.accept();
        } else {
            info!(ip = %self.ip, rcpt = %address, "rejected RCPT: relay access denied");
            self.reject(554, "5.7.1", "Relay access denied");
        }
    }

    async fn deliver(&mut self) {
        let id = message_id();
        let now = unix_now();
        let sender = self.sender.clone().unwrap_or_default();
        let mut protocol = String::from(if self.extended { "ESMTP" } else { "SMTP" });
        if self.session.is_tls() {
            protocol.push('S');
        }
        if self.session.authenticated_id().is_some() {
            protocol.push('A');
        }
        let ip = match self.ip.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("IPv6:{v6}"),
        };
        let header = format!(
            "Return-Path: <{sender}>\r\nReceived: from {} ([{ip}])\r\n\
             \tby {} with {protocol} id {id};\r\n\t{}\r\n",
            self.helo,
            self.shared.config.server.hostname,
            rfc5322_date(now)
        );
        let mut data = header.into_bytes();
        data.extend_from_slice(&self.data);

        let mut result = Ok(());
        for account in &self.local {
            let message = NewMessage {
                flags: Default::default(),
                internal_date: now,
                data: data.clone(),
            };
            if let Err(e) = self.shared.store.append(account, "INBOX", message).await {
                result = Err(e);
                break;
            }
        }
        if result.is_ok()
            && !self.remote.is_empty()
            && let Err(e) = self
                .shared
                .store
                .enqueue(&sender, &self.remote, &data, now)
                .await
        {
            result = Err(e);
        }
        let recipients = self.local.len() + self.remote.len();
        match result {
            Ok(()) => {
                info!(
                    ip = %self.ip,
                    id = %id,
                    size = data.len(),
                    recipients,
                    "message accepted"
                );
                let text = format!("Ok: queued as {id}");
                let _ = self
                    .session
                    .accept_with(Reply::new(250, code("2.0.0"), &text));
            }
            Err(StoreError::OverQuota) => {
                info!(ip = %self.ip, id = %id, "rejected message: mailbox full");
                self.reject(552, "5.2.2", "Mailbox full");
            }
            Err(e) => {
                error!(id = %id, "store error delivering a message: {e}");
                self.reject(451, "4.3.0", "Temporary failure");
            }
        }
        self.reset();
    }
}
