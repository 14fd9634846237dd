//! Logins shared by every protocol host: a plaintext password (POP3 USER/PASS, IMAP LOGIN)
//! and a SASL exchange (SMTP AUTH, POP3 AUTH, IMAP AUTHENTICATE), both checked through the
//! shared limiter, with TOTP codes refused on replay and one fail2ban-stable line per attempt.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Instant;

use mail_auth::authenticator::{Connection, Exchange, Mechanisms, Outcome};
use mail_auth::limiter::{AuthEvent, AuthOutcome};
use mail_auth::sasl::{Context, Failure, MechanismName, ServerStep};
use mail_store::StoreError;
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use crate::smtp::{Shared, lock, unix_now};

/// Password hashing (Argon2id, 19 MiB and tens of milliseconds each) runs at most this many
/// at once, one per core: a flood of logins then queues instead of taking memory and the
/// async workers that every other connection needs.
static PASSWORD_CHECKS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores)
});

/// Runs `check`, which may hash a password, on a thread that may block, within the bound
/// of [`PASSWORD_CHECKS`].
async fn hashing<T>(check: impl FnOnce() -> T) -> T {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = PASSWORD_CHECKS.acquire().await;
    tokio::task::block_in_place(check)
}

/// Logs one attempt: successes at info, failures and refusals at warn (what fail2ban reads).
fn log_event(event: &AuthEvent) {
    match event.outcome {
        AuthOutcome::Success => info!("{event}"),
        _ => warn!("{event}"),
    }
}

/// How a plaintext password check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is right; the account's canonical address.
    Valid(String),
    /// Wrong user name, password or TOTP code (or a replayed code).
    Invalid,
    /// The limiter refused the attempt before the password was looked at.
    Throttled,
    /// The store could not be asked; try later.
    Unavailable,
}

/// Checks `user` and `password` sent in the clear by `ip`, through the limiter; `mechanism`
/// names the command in the log line (`USER`, `LOGIN`). With two-factor on, the password is
/// `password$CODE` and the code's time step is spent, so the same code cannot log in twice.
pub async fn check_password(
    shared: &Shared,
    ip: IpAddr,
    mechanism: &str,
    user: &str,
    password: &[u8],
) -> PasswordCheck {
    let event = |outcome| AuthEvent {
        ip,
        mechanism: mechanism.to_owned(),
        account: Some(user.to_owned()),
        outcome,
    };

    if let Err(refused) = lock(&shared.limiter).check(ip, Some(user), Instant::now()) {
        log_event(&event(AuthOutcome::Refused));
        info!(ip = %ip, "login refused: {refused}");
        return PasswordCheck::Throttled;
    }

    // A store fault is the server's, so it is not counted against the client.
    let account = match shared.store.account(user).await {
        Ok(account) => account,
        Err(e) => {
            error!("store error looking up credentials: {e}");
            return PasswordCheck::Unavailable;
        }
    };

    let context = Context::new(unix_now().max(0) as u64);
    let mut verified = hashing(|| {
        account.as_ref().and_then(|a| {
            a.credentials
                .verify_plaintext(password, &context)
                .map(|(_, step)| (a.address.clone(), step))
        })
    })
    .await;
    if let Some((address, Some(step))) = &verified
        && let Err(e) = shared.store.use_totp_step(address, *step).await
    {
        warn!(ip = %ip, account = %address, "TOTP code replayed: {e}");
        verified = None;
    }

    let now = Instant::now();
    match verified {
        Some((address, _)) => {
            lock(&shared.limiter).record_success(ip, &address, now);
            log_event(&event(AuthOutcome::Success));
            PasswordCheck::Valid(address)
        }
        None => {
            lock(&shared.limiter).record_failure(ip, Some(user), now);
            log_event(&event(AuthOutcome::Failure));
            PasswordCheck::Invalid
        }
    }
}

/// The canonical address of the account `user` names, in whatever case it was typed;
/// `None` when there is no such account.
pub async fn account_address(shared: &Shared, user: &str) -> Result<Option<String>, StoreError> {
    Ok(shared
        .store
        .account(user)
        .await?
        .map(|account| account.address))
}

/// One connection's SASL logins: the mechanisms it may use and the exchange in progress.
pub struct SaslLogin {
    mechanisms: Mechanisms,
    ip: IpAddr,
    exchange: Option<Exchange>,
}

impl SaslLogin {
    /// Logins for a client at `ip` with `mechanisms` (their `allow_plaintext` already set
    /// for this client).
    pub fn new(mechanisms: Mechanisms, ip: IpAddr) -> Self {
        Self {
            mechanisms,
            ip,
            exchange: None,
        }
    }

    /// Whether an exchange is in progress (its client owes a response).
    pub fn in_progress(&self) -> bool {
        self.exchange.is_some()
    }

    /// Starts an exchange with `mechanism` and the client's initial response, if any; the
    /// step to hand the session.
    pub async fn start(
        &mut self,
        shared: &Shared,
        tls: bool,
        mechanism: &MechanismName,
        initial_response: Option<&[u8]>,
    ) -> ServerStep {
        let outcome = {
            let connection = Connection::new(tls);
            let mut limiter = lock(&shared.limiter);
            let now = Instant::now();
            let begun = Exchange::begin(
                &self.mechanisms,
                mechanism,
                &connection,
                self.ip,
                &mut limiter,
                now,
            );
            match begun {
                Ok(mut exchange) => {
                    let outcome = exchange.start(initial_response, &mut limiter, now);
                    self.exchange = Some(exchange);
                    outcome
                }
                Err(refused) => refused,
            }
        };
        self.run(shared, outcome).await
    }

    /// Passes on the client's answer to the last challenge; the step to hand the session.
    pub async fn respond(&mut self, shared: &Shared, response: &[u8]) -> ServerStep {
        let Some(exchange) = self.exchange.as_mut() else {
            return ServerStep::Failure(Failure::Temporary);
        };
        let outcome = {
            let mut limiter = lock(&shared.limiter);
            exchange.respond(response, &mut limiter, Instant::now())
        };
        self.run(shared, outcome).await
    }

    /// The client cancelled the exchange; logged, not counted as a failure.
    pub fn cancelled(&mut self) {
        if let Some(exchange) = self.exchange.take() {
            warn!("{}", exchange.cancelled());
        }
    }

    /// Resolves credential lookups from the store until the mechanism has a step for the
    /// session; at the end, spends the TOTP step and logs the attempt.
    async fn run(&mut self, shared: &Shared, mut outcome: Outcome) -> ServerStep {
        loop {
            match outcome {
                Outcome::Lookup(user) => {
                    let found = match shared.store.account(&user).await {
                        Ok(account) => account.map(|a| a.credentials),
                        Err(e) => {
                            error!("store error looking up credentials: {e}");
                            None
                        }
                    };
                    let Some(exchange) = self.exchange.as_mut() else {
                        return ServerStep::Failure(Failure::Temporary);
                    };
                    let context = Context::new(unix_now().max(0) as u64);
                    outcome = hashing(|| {
                        let mut limiter = lock(&shared.limiter);
                        exchange.credentials(found.as_ref(), &context, &mut limiter, Instant::now())
                    })
                    .await;
                }
                Outcome::Step(step) => return step,
                Outcome::Finished {
                    step,
                    event,
                    authenticated,
                } => {
                    self.exchange = None;
                    if let Some(who) = &authenticated
                        && let Some(step_used) = who.totp_step
                        && let Err(e) = shared
                            .store
                            .use_totp_step(&who.authentication_id, step_used)
                            .await
                    {
                        warn!("{event} (TOTP code replayed: {e})");
                        return ServerStep::Failure(Failure::InvalidCredentials);
                    }
                    log_event(&event);
                    return step;
                }
            }
        }
    }
}
