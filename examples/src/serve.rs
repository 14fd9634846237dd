//! The running server: the runtime, the listeners, connection policy at accept, the
//! certificate reload on SIGHUP, and the graceful shutdown on SIGINT or SIGTERM.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::authenticator::Mechanisms;
use mail_auth::limiter::{Limiter, LimiterConfig};
use mail_store::fs::FsStore;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::smtp::{self, Kind, Shared};
use crate::{imap, pop3};

/// Runs the server until SIGINT or SIGTERM, reloading the certificate on SIGHUP; `Err`
/// carries a one-line startup failure.
pub fn run(data_dir: PathBuf, config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = runtime.block_on(serve(data_dir, config));
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The mechanisms named in `[auth]`.
pub fn mechanisms(config: &Config, service: &str) -> Mechanisms {
    let names: Vec<String> = config
        .auth
        .mechanisms
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let mut mechanisms = Mechanisms::new(&config.server.hostname, service);
    mechanisms.plain = has("PLAIN");
    mechanisms.login = has("LOGIN");
    mechanisms.cram_md5 = has("CRAM-MD5");
    mechanisms.digest_md5 = has("DIGEST-MD5");
    mechanisms.scram_sha256 = has("SCRAM-SHA-256") || has("SCRAM-SHA-256-PLUS");
    mechanisms.external = has("EXTERNAL");
    if mechanisms.digest_md5 {
        mechanisms.realms = vec![config.server.hostname.clone()];
    }
    mechanisms
}

/// Connections open now, in total and per client address.
#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Releases a connection's slot when dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

fn take_slot(counts: &Arc<Mutex<Counts>>, config: &Config, ip: IpAddr) -> Option<Slot> {
    let mut guard = counts.lock().unwrap_or_else(|e| e.into_inner());
    let per_ip = guard.per_ip.get(&ip).copied().unwrap_or(0);
    if guard.total >= config.limits.connections || per_ip >= config.limits.connections_per_ip {
        return None;
    }
    guard.total += 1;
    *guard.per_ip.entry(ip).or_insert(0) += 1;
    Some(Slot {
        counts: counts.clone(),
        ip,
    })
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Smtp(Kind),
    Imap(imap::Kind),
    Pop3(pop3::Kind),
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Smtp(kind) => kind.name(),
            Service::Imap(kind) => kind.name(),
            Service::Pop3(kind) => kind.name(),
        }
    }
}

async fn serve(data_dir: PathBuf, config: Config) -> Result<(), String> {
    // Before anything listens: a client that sees the ports open may send a signal at once.
    let mut signals = Signals::catch()?;

    let store =
        FsStore::open(data_dir.join("store")).map_err(|e| format!("cannot open the store: {e}"))?;
    let tls = crate::tls::load_or_generate(&config, &data_dir)?;
    let mut limits = LimiterConfig::default();
    limits.client_failures = config.limits.auth_failures;
    limits.window = Duration::from_secs(config.limits.auth_failure_window_secs);

    let mut listeners = Vec::new();
    for (address, kind) in [
        (&config.listen.smtp, Service::Smtp(Kind::Inbound)),
        (&config.listen.submission, Service::Smtp(Kind::Submission)),
        (&config.listen.submissions, Service::Smtp(Kind::Submissions)),
        (&config.listen.imap, Service::Imap(imap::Kind::Imap)),
        (&config.listen.imaps, Service::Imap(imap::Kind::Imaps)),
        (&config.listen.pop3, Service::Pop3(pop3::Kind::Pop3)),
        (&config.listen.pop3s, Service::Pop3(pop3::Kind::Pop3s)),
    ] {
        if address.is_empty() {
            continue;
        }
        let listener = TcpListener::bind(address.as_str())
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        info!(listener = kind.name(), "listening on {address}");
        listeners.push((listener, kind));
    }

    let shared = Arc::new(Shared {
        mechanisms: mechanisms(&config, "smtp"),
        pop3_mechanisms: mechanisms(&config, "pop"),
        imap_mechanisms: mechanisms(&config, "imap"),
        config,
        store: Arc::new(store),
        tls,
        limiter: Mutex::new(Limiter::new(limits)),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a sender; when all are dropped, every session has ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let counts = Arc::new(Mutex::new(Counts::default()));
    let mut accept_tasks = Vec::new();
    for (listener, kind) in listeners {
        let task = accept_loop(
            listener,
            kind,
            shared.clone(),
            counts.clone(),
            stop_rx.clone(),
            done_tx.clone(),
        );
        accept_tasks.push(tokio::spawn(task));
    }
    drop(done_tx);

    signals.until_stopped(&shared.tls).await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        let _ = task.await;
    }
    let grace = Duration::from_secs(shared.config.limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, done_rx.recv()).await.is_err() {
        warn!("sessions still open after the grace period; closing them");
    }
    info!("stopped");
    Ok(())
}

/// The signals the server answers, caught from startup on: until they are, SIGHUP would
/// end the process (its default action) instead of reloading the certificate.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn catch() -> Result<Self, String> {
        let catch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot catch {name}: {e}"))
        };
        Ok(Self {
            term: catch(SignalKind::terminate(), "SIGTERM")?,
            int: catch(SignalKind::interrupt(), "SIGINT")?,
            hup: catch(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    /// Waits for SIGINT or SIGTERM, reloading the certificate at every SIGHUP meanwhile.
    async fn until_stopped(&mut self, tls: &crate::tls::Acceptor) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                // `Some` only: a closed stream (no signal driver) must not spin the loop.
                Some(()) = self.hup.recv() => reload_certificate(tls),
            }
        }
    }
}

/// Loads the certificate and key files again for the handshakes to come; on failure the
/// current pair stays, and the operator learns why from the log.
fn reload_certificate(tls: &crate::tls::Acceptor) {
    // Two small files read on this task: the accept loops and sessions run on others.
    match tls.reload() {
        Ok(()) => info!(cert = %tls.cert_path().display(), "TLS certificate reloaded"),
        Err(e) => error!("TLS certificate reload failed, keeping the current one: {e}"),
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: Service,
    shared: Arc<Shared>,
    counts: Arc<Mutex<Counts>>,
    mut stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(listener = kind.name(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = peer.ip().to_canonical();
        let firewall = &shared.config.firewall;
        let denied = Config::in_networks(&firewall.deny, ip)
            || (!firewall.allow.is_empty() && !Config::in_networks(&firewall.allow, ip));
        if denied {
            info!(ip = %ip, listener = kind.name(), "connection refused by the firewall");
            continue;
        }
        let Some(slot) = take_slot(&counts, &shared.config, ip) else {
            info!(ip = %ip, listener = kind.name(), "connection refused: too many connections");
            let line = match kind {
                Service::Smtp(_) => {
                    let hostname = &shared.config.server.hostname;
                    format!("421 4.7.0 {hostname} Too many connections, try later\r\n")
                }
                // RFC 9051 section 7.1.5: BYE may stand in for the greeting.
                Service::Imap(_) => "* BYE [UNAVAILABLE] Too many connections\r\n".to_owned(),
                Service::Pop3(_) => "-ERR [SYS/TEMP] Too many connections\r\n".to_owned(),
            };
            tokio::spawn(refuse(tcp, line));
            continue;
        };
        let shared = shared.clone();
        let stop = stop.clone();
        let done = done.clone();
        tokio::spawn(async move {
            info!(ip = %ip, listener = kind.name(), "connection opened");
            match kind {
                Service::Smtp(kind) => smtp::serve_connection(shared, kind, tcp, ip, stop).await,
                Service::Imap(kind) => imap::serve_connection(shared, kind, tcp, ip, stop).await,
                Service::Pop3(kind) => pop3::serve_connection(shared, kind, tcp, ip, stop).await,
            }
            info!(ip = %ip, listener = kind.name(), "connection closed");
            drop(slot);
            drop(done);
        });
    }
}

async fn refuse(mut tcp: TcpStream, line: String) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = tcp.write_all(line.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}
