//! One POP3 connection: the host loop around `pop3_proto::server::ServerSession`, with logins
//! checked through the shared limiter, the maildrop locked (RFC 1939 section 8) and served
//! from the store's INBOX.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use mail_auth::authenticator::{Connection, Exchange, Mechanisms, Outcome};
use mail_auth::limiter::{AuthEvent, AuthOutcome};
use mail_auth::sasl::{Context, Failure, ServerStep};
use mail_store::{Flag, FlagOperation, Store};
use pop3_proto::server::{Event, LoginFailure, MessageInfo, ServerConfig, ServerSession};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::smtp::{Shared, Stream, lock, log_tls, unix_now};

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
    exchange: Option<Exchange>,
    mechanisms: Mechanisms,
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
        exchange: None,
        mechanisms,
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
        let stream = self
            .stream
            .take()
            .ok_or_else(|| std::io::Error::other("no stream"))?;
        let Stream::Plain(tcp) = stream else {
            self.stream = Some(stream);
            return Ok(());
        };
        let tls = self.shared.tls.accept(tcp).await?;
        log_tls(&tls, self.ip, self.kind.name());
        self.stream = Some(Stream::Tls(Box::new(tls)));
        self.session.tls_established(Instant::now());
        Ok(())
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Login { user, password } => {
                let Some(account) = self.check_password(&user, password.expose()).await else {
                    let _ = self.session.login_failed(LoginFailure::InvalidCredentials);
                    return;
                };
                self.open_maildrop(account).await;
            }
            Event::AuthStart {
                mechanism,
                initial_response,
            } => {
                let connection = Connection::new(self.session.is_tls());
                let shared = self.shared.clone();
                let outcome = {
                    let mut limiter = lock(&shared.limiter);
                    let now = Instant::now();
                    let begun = Exchange::begin(
                        &self.mechanisms,
                        &mechanism,
                        &connection,
                        self.ip,
                        &mut limiter,
                        now,
                    );
                    match begun {
                        Ok(mut exchange) => {
                            let initial = initial_response.as_ref().map(|r| r.expose());
                            let outcome = exchange.start(initial, &mut limiter, now);
                            self.exchange = Some(exchange);
                            outcome
                        }
                        Err(refused) => refused,
                    }
                };
                self.auth_answer(outcome).await;
            }
            Event::AuthResponse(response) => {
                let Some(exchange) = self.exchange.as_mut() else {
                    let _ = self
                        .session
                        .auth_step(ServerStep::Failure(Failure::Temporary));
                    return;
                };
                let outcome = {
                    let mut limiter = lock(&self.shared.limiter);
                    exchange.respond(response.expose(), &mut limiter, Instant::now())
                };
                self.auth_answer(outcome).await;
            }
            Event::AuthCancelled => {
                if let Some(exchange) = self.exchange.take() {
                    warn!("{}", exchange.cancelled());
                }
            }
            Event::OpenMaildrop { user } => {
                let account = match self.shared.store.account(&user).await {
                    Ok(Some(account)) => account.address,
                    Ok(None) => user,
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

    fn log(&self, user: &str, outcome: AuthOutcome) {
        let event = AuthEvent {
            ip: self.ip,
            mechanism: "USER".to_owned(),
            account: Some(user.to_owned()),
            outcome,
        };
        match outcome {
            AuthOutcome::Success => info!("{event}"),
            _ => warn!("{event}"),
        }
    }

    /// Checks USER/PASS through the limiter; the account's address on success.
    async fn check_password(&mut self, user: &str, password: &[u8]) -> Option<String> {
        if let Err(refused) = lock(&self.shared.limiter).check(self.ip, Some(user), Instant::now())
        {
            self.log(user, AuthOutcome::Refused);
            info!(ip = %self.ip, "login refused: {refused}");
            return None;
        }
        let account = match self.shared.store.account(user).await {
            Ok(account) => account,
            Err(e) => {
                error!("store error looking up credentials: {e}");
                return None;
            }
        };
        let context = Context::new(unix_now().max(0) as u64);
        let verified = account.as_ref().and_then(|a| {
            a.credentials
                .verify_plaintext(password, &context)
                .map(|(_, step)| (a.address.clone(), step))
        });
        let mut verified = verified;
        if let Some((address, Some(step))) = &verified
            && let Err(e) = self.shared.store.use_totp_step(address, *step).await
        {
            warn!(ip = %self.ip, account = %address, "TOTP code replayed: {e}");
            verified = None;
        }
        let now = Instant::now();
        match verified {
            Some((address, _)) => {
                lock(&self.shared.limiter).record_success(self.ip, &address, now);
                self.log(user, AuthOutcome::Success);
                Some(address)
            }
            None => {
                lock(&self.shared.limiter).record_failure(self.ip, Some(user), now);
                self.log(user, AuthOutcome::Failure);
                None
            }
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

    /// Resolves lookups from the store and hands each step to the session.
    async fn auth_answer(&mut self, mut outcome: Outcome) {
        loop {
            match outcome {
                Outcome::Lookup(user) => {
                    let found = match self.shared.store.account(&user).await {
                        Ok(account) => account.map(|a| a.credentials),
                        Err(e) => {
                            error!("store error looking up credentials: {e}");
                            None
                        }
                    };
                    let Some(exchange) = self.exchange.as_mut() else {
                        let _ = self
                            .session
                            .auth_step(ServerStep::Failure(Failure::Temporary));
                        return;
                    };
                    let context = Context::new(unix_now().max(0) as u64);
                    let mut limiter = lock(&self.shared.limiter);
                    outcome = exchange.credentials(
                        found.as_ref(),
                        &context,
                        &mut limiter,
                        Instant::now(),
                    );
                }
                Outcome::Step(step) => {
                    let _ = self.session.auth_step(step);
                    return;
                }
                Outcome::Finished {
                    step,
                    event,
                    authenticated,
                } => {
                    self.exchange = None;
                    if let Some(step_used) = authenticated.as_ref().and_then(|a| a.totp_step) {
                        let account = authenticated.as_ref().map(|a| a.authentication_id.clone());
                        let account = account.unwrap_or_default();
                        if let Err(e) = self.shared.store.use_totp_step(&account, step_used).await {
                            warn!("{event} (TOTP code replayed: {e})");
                            let failure = ServerStep::Failure(Failure::InvalidCredentials);
                            let _ = self.session.auth_step(failure);
                            return;
                        }
                    }
                    match event.outcome {
                        AuthOutcome::Success => info!("{event}"),
                        _ => warn!("{event}"),
                    }
                    let _ = self.session.auth_step(step);
                    return;
                }
            }
        }
    }
}
