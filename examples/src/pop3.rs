//! One POP3 connection: the host loop around `pop3_proto::server::ServerSession`, with logins
//! checked through the shared limiter, the maildrop locked (RFC 1939 section 8) and served
//! from the store's INBOX.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use mail_auth::authenticator::Connection;
use mail_store::{Flag, FlagOperation, Store};
use pop3_proto::server::{Event, LoginFailure, MessageInfo, ServerConfig, ServerSession};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{error, info};

use crate::login::{self, PasswordCheck, SaslLogin};
use crate::smtp::{Shared, Stream, log_tls, upgrade_to_tls};

/// Which POP3 service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Port 110: STLS offered, login only after it (or on loopback if configured).
    Pop3,
    /// Port 995: implicit TLS.
    Pop3s,
}

impl Kind {
    /// The listener's name, for the log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pop3 => "pop3",
            Kind::Pop3s => "pop3s",
        }
    }
}

/// The maildrops locked by a session, process-wide.
static LOCKED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

fn locked() -> std::sync::MutexGuard<'static, HashSet<String>> {
    LOCKED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A maildrop lock, released when dropped.
struct MaildropLock(String);

impl MaildropLock {
    fn take(account: &str) -> Option<Self> {
        let key = account.to_ascii_lowercase();
        let inserted = locked().insert(key.clone());
        // Not `then_some`: it would build (and drop) a lock on failure, releasing the
        // holder's.
        if inserted { Some(Self(key)) } else { None }
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        locked().remove(&self.0);
    }
}

/// Flags `uids` `\Deleted` in the INBOX of `account` and expunges them.
async fn delete(store: &dyn Store, account: &str, uids: &[u32]) -> mail_store::Result<usize> {
    if uids.is_empty() {
        return Ok(0);
    }
    let flags = [Flag::Deleted].into_iter().collect();
    store
        .store_flags(account, "INBOX", uids, FlagOperation::Add, &flags, None)
        .await?;
    Ok(store.expunge(account, "INBOX", Some(uids)).await?.len())
}

/// Whether login may run before TLS for this client (`auth.plaintext_on_loopback`).
fn plaintext_auth(shared: &Shared, ip: IpAddr) -> bool {
    shared.config.auth.plaintext_on_loopback && ip.is_loopback()
}

/// The state of one connection.
struct Conn {
    shared: Arc<Shared>,
    kind: Kind,
    ip: IpAddr,
    session: ServerSession,
    stream: Option<Stream>,
    sasl: SaslLogin,
    /// The logged-in account, its lock, and its INBOX UIDs in message-number order.
    account: Option<String>,
    lock: Option<MaildropLock>,
    uids: Vec<u32>,
}

/// Serves one accepted connection until it ends or the server stops.
pub async fn serve_connection(
    shared: Arc<Shared>,
    kind: Kind,
    tcp: TcpStream,
    ip: IpAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut config = ServerConfig::new(shared.config.server.hostname.clone());
    let mut mechanisms = shared.pop3_mechanisms.clone();
    mechanisms.allow_plaintext = plaintext_auth(&shared, ip);
    config.sasl_mechanisms = shared.pop3_mechanisms.offered(&Connection::new(true));
    config.allow_plaintext = plaintext_auth(&shared, ip);
    let stream = match kind {
        Kind::Pop3s => match shared.tls.accept(tcp).await {
            Ok(tls) => {
                log_tls(&tls, ip, kind.name());
                config.tls = true;
                Stream::Tls(Box::new(tls))
            }
            Err(e) => {
                info!(ip = %ip, listener = kind.name(), "TLS handshake failed: {e}");
                return;
            }
        },
        Kind::Pop3 => {
            config.stls = true;
            Stream::Plain(tcp)
        }
    };
    let mut conn = Conn {
        session: ServerSession::new(config, Instant::now()),
        shared,
        kind,
        ip,
        stream: Some(stream),
        sasl: SaslLogin::new(mechanisms, ip),
        account: None,
        lock: None,
        uids: Vec::new(),
    };
    if let Err(e) = conn.run(&mut shutdown).await {
        info!(ip = %ip, listener = kind.name(), "connection error: {e}");
    }
    if let Some(stream) = conn.stream.as_mut() {
        stream.shutdown().await;
    }
    drop(conn.lock.take());
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
            if *shutdown.borrow() {
                // Nothing is deleted: the session never reaches the UPDATE state.
                let line = b"-ERR [SYS/TEMP] Server shutting down\r\n";
                self.stream()?.write_all(line).await?;
                self.session.handle_close();
                return Ok(());
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
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        self.session.handle_close();
                        return Ok(());
                    }
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
            self.session.tls_established(Instant::now());
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Login { user, password } => {
                let checked =
                    login::check_password(&self.shared, self.ip, "USER", &user, password.expose())
                        .await;
                match checked {
                    PasswordCheck::Valid(account) => self.open_maildrop(account).await,
                    // A refusal is answered like a wrong password: a guesser learns
                    // nothing from it.
                    PasswordCheck::Invalid | PasswordCheck::Throttled => {
                        let _ = self.session.login_failed(LoginFailure::InvalidCredentials);
                    }
                    PasswordCheck::Unavailable => {
                        let _ = self.session.login_failed(LoginFailure::Temporary);
                    }
                }
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
                let _ = self.session.auth_step(step);
            }
            Event::AuthResponse(response) => {
                let step = self.sasl.respond(&self.shared, response.expose()).await;
                let _ = self.session.auth_step(step);
            }
            Event::AuthCancelled => self.sasl.cancelled(),
            Event::OpenMaildrop { user } => {
                let account = match login::account_address(&self.shared, &user).await {
                    Ok(account) => account.unwrap_or(user),
                    Err(e) => {
                        error!("store error looking up an account: {e}");
                        let _ = self.session.login_failed(LoginFailure::Temporary);
                        return;
                    }
                };
                self.open_maildrop(account).await;
            }
            Event::Retrieve { index, .. } => {
                let uid = self.uids.get((index as usize).wrapping_sub(1)).copied();
                let account = self.account.clone().unwrap_or_default();
                let read = match uid {
                    Some(uid) => self
                        .shared
                        .store
                        .read_message(&account, "INBOX", uid, None)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("no such message".to_owned()),
                };
                match read {
                    Ok(bytes) => {
                        let _ = self.session.retrieve(bytes);
                    }
                    Err(e) => {
                        error!(ip = %self.ip, "store error reading a message: {e}");
                        let _ = self.session.retrieve_failed();
                    }
                }
            }
            Event::Update { deleted_uids } => {
                let account = self.account.clone().unwrap_or_default();
                let doomed: Vec<u32> = deleted_uids
                    .iter()
                    .filter_map(|id| id.rsplit('.').next()?.parse().ok())
                    .collect();
                match delete(self.shared.store.as_ref(), &account, &doomed).await {
                    Ok(removed) => {
                        info!(ip = %self.ip, account = %account, removed, "maildrop updated");
                        let _ = self.session.update_done();
                    }
                    Err(e) => {
                        error!(account = %account, "store error removing messages: {e}");
                        let _ = self.session.update_failed();
                    }
                }
                self.lock = None;
            }
            event if event.needs_answer() => {
                // APOP is not offered; anything else unexpected fails the login.
                let _ = self.session.login_failed(LoginFailure::InvalidCredentials);
            }
            _ => {}
        }
    }

    /// Locks and lists the INBOX of `account`, then answers the login.
    async fn open_maildrop(&mut self, account: String) {
        let Some(maildrop_lock) = MaildropLock::take(&account) else {
            info!(ip = %self.ip, account = %account, "login refused: maildrop in use");
            let _ = self.session.login_failed(LoginFailure::InUse);
            return;
        };
        let store = &self.shared.store;
        let listed = match store.mailbox_status(&account, "INBOX").await {
            Ok(status) => store
                .messages(&account, "INBOX")
                .await
                .map(|m| (status.uid_validity, m)),
            Err(e) => Err(e),
        };
        let (uid_validity, messages) = match listed {
            Ok(listed) => listed,
            Err(e) => {
                error!(account = %account, "store error opening a maildrop: {e}");
                let _ = self.session.login_failed(LoginFailure::Temporary);
                return;
            }
        };
        let messages: Vec<_> = messages
            .into_iter()
            .filter(|m| !m.flags.contains(&Flag::Deleted))
            .collect();
        self.uids = messages.iter().map(|m| m.uid).collect();
        let maildrop = messages
            .iter()
            .map(|m| MessageInfo::new(m.size, format!("{uid_validity}.{}", m.uid)))
            .collect();
        info!(
            ip = %self.ip,
            account = %account,
            messages = self.uids.len(),
            "maildrop opened"
        );
        self.account = Some(account);
        self.lock = Some(maildrop_lock);
        let _ = self.session.login_ok(maildrop);
    }
}
