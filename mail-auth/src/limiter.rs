//! Brute-force protection for logins, without I/O and without a clock.
//!
//! A [`Limiter`] counts failed logins per client and per account over a sliding window, and
//! refuses further attempts once either budget is spent. The host owns it (one per server,
//! behind a mutex if its sessions run on several threads) and passes `now` to every call.
//!
//! # The host's contract
//!
//! 1. When a client starts to authenticate, call [`Limiter::check`] with its address and no
//!    account; once the authentication identity is known, call it again with the account.
//!    On `Err`, refuse the attempt **without checking the password**, with the protocol's
//!    temporary failure (SMTP `454 4.7.0`, RFC 4954), so that a spent budget tells the
//!    attacker nothing about its guesses.
//! 2. After the password was checked, call [`Limiter::record_success`] or
//!    [`Limiter::record_failure`]. A refused attempt is not a failure: do not record it.
//! 3. Log an [`AuthEvent`] for every outcome; its `Display` is one line fail2ban can match.
//!
//! # What is counted
//!
//! - **Clients**: an IPv4 address, or an IPv6 **/64**. A single IPv6 link usually holds 2^64
//!   addresses, so counting per address would give an attacker an unlimited budget. An
//!   IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, from a dual-stack socket) counts as the
//!   IPv4 address.
//! - **Accounts**: the authentication identity, compared case-insensitively. An account's
//!   budget stops a slow guess spread over many addresses. Its price is that anyone can lock
//!   an account out for one window by failing against it; the account budget is therefore
//!   larger than the client one, and a user on an always-allowed network is never refused.
//!
//! The window slides: an attempt is refused while the budget's worth of failures all lie
//! within [`LimiterConfig::window`] before `now`, and [`Refused::retry_after`] says when the
//! oldest of them falls out. Each key keeps at most its budget of failure instants.
//!
//! # What a success forgives
//!
//! A success from client X for account A removes exactly the failures X made against A, from
//! both X's count and A's count. Everything else stays: failures other clients made against A
//! (an attacker elsewhere keeps paying for its guesses), and failures X made against other
//! accounts (so an attacker cannot refill its own budget by logging into an account it owns
//! between guesses). A user who mistypes a password and then gets it right is back to a
//! clean slate.
//!
//! # Memory
//!
//! Whatever an attacker sends, the limiter tracks at most [`LimiterConfig::max_clients`]
//! clients and [`LimiterConfig::max_accounts`] accounts, each with a bounded list of failure
//! instants. Account names are stored as a keyed 64-bit hash, so a long name costs nothing.
//! When a table is full, a sweep first drops expired entries, then the least recently
//! touched ones, sparing entries that are currently refused (evicting those would lift a ban)
//! until no other choice is left. A sweep frees a quarter of the table, so its cost is
//! amortised O(1) per failure recorded.
//!
//! # Always-allowed networks and lifting a ban
//!
//! Addresses in [`LimiterConfig::always_allowed`] are never refused and never counted, not
//! even against an account. The list is empty by default; add your own networks (a monitoring
//! host, an office, a webmail front end that logs in for its users) so that a flood of failures
//! from elsewhere can never lock them out:
//!
//! ```
//! use mail_auth::limiter::{Limiter, LimiterConfig};
//!
//! let mut config = LimiterConfig::default();
//! config.always_allowed.push("192.0.2.0/24".parse().expect("a network"));
//! config.always_allowed.push("2001:db8::/32".parse().expect("a network"));
//! config.always_allowed.push("127.0.0.1".parse().expect("a single address"));
//! let limiter = Limiter::new(config);
//! assert!(limiter.is_always_allowed("192.0.2.25".parse().expect("an address")));
//! ```
//!
//! A ban is lifted by hand with [`Limiter::unban`] (a client) or [`Limiter::unban_account`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The limits of a [`Limiter`]. Every limit has a safe default; change fields after
/// `LimiterConfig::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterConfig {
    /// Failures one client (an IPv4 address or an IPv6 /64) may make within the window.
    /// Default 5; 0 turns the per-client limit off.
    pub client_failures: usize,
    /// Failures one account may suffer within the window, from all clients together.
    /// Default 10; 0 turns the per-account limit off.
    pub account_failures: usize,
    /// How far back failures count. Default 15 minutes.
    pub window: Duration,
    /// Most clients tracked at once. Default 100 000.
    pub max_clients: usize,
    /// Most accounts tracked at once. Default 100 000.
    pub max_accounts: usize,
    /// Networks that are never refused nor counted. Default empty.
    pub always_allowed: Vec<IpNetwork>,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            client_failures: 5,
            account_failures: 10,
            window: Duration::from_secs(15 * 60),
            max_clients: 100_000,
            max_accounts: 100_000,
            always_allowed: Vec::new(),
        }
    }
}

/// An IP network: an address and a prefix length, such as `192.0.2.0/24`.
///
/// Parsed from `ADDRESS/PREFIX` or from a bare address (a network of one). Bits of the
/// address beyond the prefix are cleared, so `192.0.2.1/24` is `192.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidNetwork {
    /// The part before `/` is not an IP address.
    #[error("not an IP address")]
    Address,
    /// The prefix length is not a number from 0 to 32 (IPv4) or 128 (IPv6).
    #[error("the prefix length must be 0 to 32 for IPv4 and 0 to 128 for IPv6")]
    Prefix,
}

impl IpNetwork {
    /// The network of `addr` with a `prefix`-bit mask. An IPv4-mapped IPv6 network of at
    /// least 96 bits becomes the IPv4 network it maps, since that is how clients are compared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, InvalidNetwork> {
        if prefix > max_prefix(addr) {
            return Err(InvalidNetwork::Prefix);
        }

        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The network's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 address is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| InvalidNetwork::Address)?;

        // Digits only: `u8::from_str` would also take a sign ("+24").
        let prefix = match prefix {
            None => max_prefix(addr),
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| InvalidNetwork::Prefix)?
            }
            Some(_) => return Err(InvalidNetwork::Prefix),
        };
        Self::new(addr, prefix)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// Clears every bit of `addr` after the first `prefix`.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

/// Why an attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins for this {scope}")]
#[non_exhaustive]
pub struct Refused {
    /// When the attempt would be allowed again, if nothing else fails meanwhile.
    pub retry_after: Duration,
    /// Which budget is spent (the one that lasts longer, if both are).
    pub scope: RefusedScope,
}

/// The budget a [`Refused`] attempt ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedScope {
    /// The client's address (or its IPv6 /64).
    Client,
    /// The account.
    Account,
}

impl fmt::Display for RefusedScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Account => "account",
        })
    }
}

/// The unit a client is counted in: an IPv4 address or the top 64 bits of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl ClientKey {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// A keyed hash of a lowercased account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AccountKey(u64);

/// Counts failed logins and refuses attempts once a budget is spent. See the
/// [module documentation](self) for the contract.
#[derive(Debug)]
pub struct Limiter {
    always_allowed: Vec<IpNetwork>,
    /// Per client; each failure is tagged with the account it was against, if known.
    clients: Table<ClientKey, Option<AccountKey>>,
    /// Per account; each failure is tagged with the client that made it.
    accounts: Table<AccountKey, ClientKey>,
    /// Keyed per process, so an attacker cannot choose names whose hashes collide.
    account_hasher: RandomState,
}

impl Limiter {
    /// A limiter that has seen nothing yet.
    pub fn new(config: LimiterConfig) -> Self {
        Self {
            always_allowed: config.always_allowed,
            clients: Table::new(config.client_failures, config.max_clients, config.window),
            accounts: Table::new(config.account_failures, config.max_accounts, config.window),
            account_hasher: RandomState::new(),
        }
    }

    /// Whether an attempt from `ip` (for `account`, once known) may go on to a password
    /// check. Call it before every check; on `Err`, refuse without checking the password.
    pub fn check(
        &mut self,
        ip: IpAddr,
        account: Option<&str>,
        now: Instant,
    ) -> Result<(), Refused> {
        if self.is_always_allowed(ip) {
            return Ok(());
        }

        // Drop what has expired while we are looking at it anyway.
        let client = ClientKey::of(ip);
        self.clients.tidy(&client, now);
        let account = account.map(|name| self.account_key(name));
        if let Some(account) = &account {
            self.accounts.tidy(account, now);
        }

        match self.refusal(client, account, now) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// Records that a password check failed. `account` is the identity it was checked
    /// against, or `None` if the exchange failed before naming one.
    pub fn record_failure(&mut self, ip: IpAddr, account: Option<&str>, now: Instant) {
        if self.is_always_allowed(ip) {
            return;
        }

        let client = ClientKey::of(ip);
        let account = account.map(|name| self.account_key(name));
        self.clients.record(client, account, now);
        if let Some(account) = account {
            self.accounts.record(account, client, now);
        }
    }

    /// Records a successful login: forgets the failures `ip` made against `account`, and
    /// only those (see the [module documentation](self#what-a-success-forgives)).
    pub fn record_success(&mut self, ip: IpAddr, account: &str, now: Instant) {
        if self.is_always_allowed(ip) {
            return;
        }

        let client = ClientKey::of(ip);
        let account = self.account_key(account);
        self.clients.forgive(&client, &Some(account), now);
        self.accounts.forgive(&account, &client, now);
    }

    /// Lifts a ban on `ip` by hand, forgetting all its failures (for IPv6, those of its /64).
    /// Returns whether anything was tracked for it. Failures it caused against accounts stay
    /// counted there; lift those with [`unban_account`](Self::unban_account).
    pub fn unban(&mut self, ip: IpAddr) -> bool {
        self.clients.forget(&ClientKey::of(ip))
    }

    /// Lifts a ban on `account` by hand, forgetting all failures against it. Returns whether
    /// anything was tracked for it.
    pub fn unban_account(&mut self, account: &str) -> bool {
        let account = self.account_key(account);
        self.accounts.forget(&account)
    }

    /// Whether [`check`](Self::check) would refuse this attempt now, without changing
    /// anything.
    pub fn is_refused(&self, ip: IpAddr, account: Option<&str>, now: Instant) -> bool {
        if self.is_always_allowed(ip) {
            return false;
        }
        let account = account.map(|name| self.account_key(name));
        self.refusal(ClientKey::of(ip), account, now).is_some()
    }

    /// Whether `ip` lies in an always-allowed network.
    pub fn is_always_allowed(&self, ip: IpAddr) -> bool {
        self.always_allowed.iter().any(|net| net.contains(ip))
    }

    /// Failures of `ip` (its /64 for IPv6) still within the window.
    pub fn client_failures(&self, ip: IpAddr, now: Instant) -> usize {
        self.clients.live_count(&ClientKey::of(ip), now)
    }

    /// Failures against `account` still within the window.
    pub fn account_failures(&self, account: &str, now: Instant) -> usize {
        self.accounts.live_count(&self.account_key(account), now)
    }

    /// How many clients are tracked (never more than [`LimiterConfig::max_clients`]).
    pub fn tracked_clients(&self) -> usize {
        self.clients.entries.len()
    }

    /// How many accounts are tracked (never more than [`LimiterConfig::max_accounts`]).
    pub fn tracked_accounts(&self) -> usize {
        self.accounts.entries.len()
    }

    /// The refusal that lasts longer, if either budget is spent.
    fn refusal(
        &self,
        client: ClientKey,
        account: Option<AccountKey>,
        now: Instant,
    ) -> Option<Refused> {
        let by_client = self
            .clients
            .refused_for(&client, now)
            .map(|retry_after| Refused {
                retry_after,
                scope: RefusedScope::Client,
            });
        let by_account = account
            .and_then(|account| self.accounts.refused_for(&account, now))
            .map(|retry_after| Refused {
                retry_after,
                scope: RefusedScope::Account,
            });
        by_client
            .into_iter()
            .chain(by_account)
            .max_by_key(|r| r.retry_after)
    }

    /// The key of an account name: only a hash is kept, so a long name costs no memory.
    fn account_key(&self, account: &str) -> AccountKey {
        AccountKey(self.account_hasher.hash_one(account.to_lowercase()))
    }
}

/// Recent failures per key, with a bounded number of keys.
#[derive(Debug)]
struct Table<K, T> {
    entries: HashMap<K, Failures<T>>,
    /// Failures allowed within the window; 0 means this table is off.
    budget: usize,
    capacity: usize,
    window: Duration,
    /// Counts touches, to order entries by recency without ties.
    touches: u64,
}

/// One key's failures, oldest first: at most `budget` of them.
#[derive(Debug)]
struct Failures<T> {
    recent: VecDeque<(Instant, T)>,
    /// The latest failure ever recorded here (kept after a success forgives it, which only
    /// delays the key's eviction), so a sweep can tell an expired key without reading `recent`.
    newest: Instant,
    /// When this key was last recorded to, as a value of [`Table::touches`].
    touched: u64,
}

impl<K: Eq + Hash + Copy, T: PartialEq + Copy> Table<K, T> {
    fn new(budget: usize, capacity: usize, window: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            budget,
            capacity: capacity.max(1),
            window,
            touches: 0,
        }
    }

    /// How long `key` stays refused, if its budget is spent.
    fn refused_for(&self, key: &K, now: Instant) -> Option<Duration> {
        if self.budget == 0 || self.live_count(key, now) < self.budget {
            return None;
        }

        // At most `budget` failures are kept, so the attempt is allowed again as soon as the
        // oldest live one falls out of the window.
        let failures = self.entries.get(key)?;
        let oldest = failures
            .recent
            .iter()
            .map(|&(at, _)| at)
            .filter(|&at| !expired(at, now, self.window))
            .min()?;
        Some(
            self.window
                .saturating_sub(now.saturating_duration_since(oldest)),
        )
    }

    fn live_count(&self, key: &K, now: Instant) -> usize {
        self.entries.get(key).map_or(0, |failures| {
            failures
                .recent
                .iter()
                .filter(|&&(at, _)| !expired(at, now, self.window))
                .count()
        })
    }

    fn record(&mut self, key: K, tag: T, now: Instant) {
        if self.budget == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.make_room(now);
        }

        self.touches += 1;
        let failures = self.entries.entry(key).or_insert_with(|| Failures {
            recent: VecDeque::new(),
            newest: now,
            touched: 0,
        });
        failures.touched = self.touches;
        failures.newest = failures.newest.max(now);
        prune(&mut failures.recent, now, self.window);

        // A key that is already refused should not fail again (the host does not check its
        // passwords), but several attempts may pass `check` at once; keep the newest.
        if failures.recent.len() >= self.budget {
            failures.recent.pop_front();
        }
        failures.recent.push_back((now, tag));
    }

    /// Removes the failures of `key` that carry `tag`.
    fn forgive(&mut self, key: &K, tag: &T, now: Instant) {
        if let Some(failures) = self.entries.get_mut(key) {
            failures.recent.retain(|(_, t)| t != tag);
        }
        self.tidy(key, now);
    }

    /// Drops the expired failures of `key`, and the key itself if none is left.
    fn tidy(&mut self, key: &K, now: Instant) {
        if let Some(failures) = self.entries.get_mut(key) {
            prune(&mut failures.recent, now, self.window);
            if failures.recent.is_empty() {
                self.entries.remove(key);
            }
        }
    }

    fn forget(&mut self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Frees at least one slot, and a quarter of the table if nothing has expired, so this
    /// O(n) pass runs at most once per n/4 insertions.
    fn make_room(&mut self, now: Instant) {
        // Expired keys go first. Only the inline `newest` instant is read, not the heap-held
        // list, so the pass runs at memory speed over a full table.
        let (window, budget) = (self.window, self.budget);
        let rank = |failures: &Failures<T>| (failures.recent.len() >= budget, failures.touched);
        let mut ranks = Vec::with_capacity(self.entries.len());
        self.entries.retain(|_, failures| {
            let live = !expired(failures.newest, now, window);
            if live {
                ranks.push(rank(failures));
            }
            live
        });
        if self.entries.len() < self.capacity {
            return;
        }

        // Then the least recently touched, those not refused first: evicting a refused key
        // would lift its ban, which is what an attacker flooding the table is after. Touch
        // counts are unique, so exactly `excess` keys go.
        let target = (self.capacity - self.capacity / 4).min(self.capacity - 1);
        let excess = self.entries.len() - target;
        let (_, &mut cutoff, _) = ranks.select_nth_unstable(excess - 1);
        self.entries.retain(|_, failures| rank(failures) > cutoff);
    }
}

/// Whether a failure at `at` no longer counts at `now`.
fn expired(at: Instant, now: Instant, window: Duration) -> bool {
    now.saturating_duration_since(at) >= window
}

/// Drops expired failures from the front (failures are recorded in time order).
fn prune<T>(recent: &mut VecDeque<(Instant, T)>, now: Instant, window: Duration) {
    while recent
        .front()
        .is_some_and(|&(at, _)| expired(at, now, window))
    {
        recent.pop_front();
    }
}

/// How an authentication attempt ended, for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials were right.
    Success,
    /// The credentials were wrong.
    Failure,
    /// The attempt was refused by the [`Limiter`] before any check.
    Refused,
}

/// One authentication attempt, for the host to log. `Display` gives one line:
///
/// ```text
/// auth failed: ip=192.0.2.1 mechanism=PLAIN account=alice@example.org
/// auth succeeded: ip=192.0.2.1 mechanism=PLAIN account=alice@example.org
/// auth refused (too many failures): ip=2001:db8::1 mechanism=LOGIN
/// ```
///
/// The address comes first and the account, when known, last. The mechanism and account are
/// chosen by the client, so every byte in them that is not printable ASCII, and every `%`, is
/// written as `%XX`: no name can end the line or forge another field. A fail2ban filter:
///
/// ```text
/// failregex = ^.*auth (?:failed|refused \(too many failures\)): ip=<HOST> mechanism=
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// The client's address.
    pub ip: IpAddr,
    /// The SASL mechanism or login command, as the client named it.
    pub mechanism: String,
    /// The authentication identity, if the client got as far as sending one.
    pub account: Option<String>,
    /// How it ended.
    pub outcome: AuthOutcome,
}

impl fmt::Display for AuthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.outcome {
            AuthOutcome::Success => "auth succeeded",
            AuthOutcome::Failure => "auth failed",
            AuthOutcome::Refused => "auth refused (too many failures)",
        };

        // The canonical form, so that a firewall fed by the log bans the IPv4 address a
        // dual-stack socket reported as `::ffff:a.b.c.d`.
        let ip = self.ip.to_canonical();
        write!(f, "{what}: ip={ip} mechanism={}", Escaped(&self.mechanism))?;
        if let Some(account) = &self.account {
            write!(f, " account={}", Escaped(account))?;
        }
        Ok(())
    }
}

/// Writes client-chosen text with everything but printable ASCII (and `%`) as `%XX`.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            if byte.is_ascii_graphic() && byte != b'%' {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fail_times(limiter: &mut Limiter, from: &str, account: Option<&str>, n: usize, t: Instant) {
        for _ in 0..n {
            assert!(limiter.check(ip(from), account, t).is_ok());
            limiter.record_failure(ip(from), account, t);
        }
    }

    #[test]
    fn limiter_client_budget_then_refused_with_retry_after() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        let client = ip("192.0.2.1");

        for i in 0..5 {
            let now = t0 + secs(i);
            assert_eq!(limiter.check(client, None, now), Ok(()), "failure {i}");
            limiter.record_failure(client, Some("alice"), now);
        }

        let now = t0 + secs(10);
        let refused = limiter.check(client, None, now).expect_err("budget spent");
        assert_eq!(refused.scope, RefusedScope::Client);
        assert_eq!(refused.retry_after, WINDOW - secs(10));
        assert!(limiter.check(client, Some("bob"), now).is_err());
        assert_eq!(
            refused.to_string(),
            "too many failed logins for this client"
        );
    }

    #[test]
    fn limiter_account_budget_across_many_clients() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();

        for i in 0..10u64 {
            let from = format!("198.51.100.{i}");
            fail_times(&mut limiter, &from, Some("alice"), 1, t0 + secs(i));
        }

        let fresh = ip("203.0.113.9");
        let now = t0 + secs(60);
        let refused = limiter.check(fresh, Some("alice"), now).expect_err("spent");
        assert_eq!(refused.scope, RefusedScope::Account);
        assert_eq!(refused.retry_after, WINDOW - secs(60));
        assert_eq!(limiter.check(fresh, None, now), Ok(()));
        assert_eq!(limiter.check(fresh, Some("bob"), now), Ok(()));
    }

    #[test]
    fn limiter_refusal_reports_the_longer_ban() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        for i in 0..10u64 {
            let from = format!("198.51.100.{i}");
            fail_times(&mut limiter, &from, Some("alice"), 1, t0 + secs(i));
        }
        fail_times(&mut limiter, "192.0.2.1", Some("bob"), 5, t0 + secs(100));

        let refused = limiter
            .check(ip("192.0.2.1"), Some("alice"), t0 + secs(100))
            .expect_err("both spent");
        assert_eq!(refused.scope, RefusedScope::Client);
        assert_eq!(refused.retry_after, WINDOW);
    }

    #[test]
    fn limiter_window_slides() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        for i in 0..5 {
            limiter.record_failure(client, None, t0 + secs(60 * i));
        }

        // The oldest failure (t0) leaves the window at t0 + 15 min: one more guess then.
        assert!(limiter.is_refused(client, None, t0 + WINDOW - secs(1)));
        assert!(!limiter.is_refused(client, None, t0 + WINDOW));
        limiter.record_failure(client, None, t0 + WINDOW);
        let refused = limiter
            .check(client, None, t0 + WINDOW)
            .expect_err("spent again");
        assert_eq!(refused.retry_after, secs(60));

        // Long after, everything has expired and the entry is dropped on the next check.
        let later = t0 + 3 * WINDOW;
        assert_eq!(limiter.check(client, None, later), Ok(()));
        assert_eq!(limiter.client_failures(client, later), 0);
        assert_eq!(limiter.tracked_clients(), 0);
    }

    #[test]
    fn limiter_success_forgives_only_its_own_failures() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        fail_times(&mut limiter, "192.0.2.1", Some("alice"), 4, t0);
        fail_times(&mut limiter, "192.0.2.2", Some("Alice"), 4, t0);

        limiter.record_success(ip("192.0.2.2"), "alice", t0 + secs(1));

        let now = t0 + secs(2);
        assert_eq!(limiter.client_failures(ip("192.0.2.2"), now), 0);
        assert_eq!(limiter.client_failures(ip("192.0.2.1"), now), 4);
        assert_eq!(
            limiter.account_failures("alice", now),
            4,
            "other client's stay"
        );
    }

    #[test]
    fn limiter_success_on_own_account_does_not_refill_the_client_budget() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        let attacker = ip("192.0.2.66");
        fail_times(&mut limiter, "192.0.2.66", Some("victim"), 4, t0);

        limiter.record_success(attacker, "mallory", t0 + secs(1));
        assert_eq!(limiter.client_failures(attacker, t0 + secs(1)), 4);

        limiter.record_failure(attacker, Some("victim"), t0 + secs(2));
        assert!(limiter.check(attacker, None, t0 + secs(3)).is_err());
    }

    #[test]
    fn limiter_ipv6_counts_per_64() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        for i in 1..=5 {
            let from = format!("2001:db8:0:1::{i:x}");
            fail_times(&mut limiter, &from, None, 1, t0);
        }

        let same_64 = ip("2001:db8:0:1:ffff:ffff:ffff:ffff");
        let next_64 = ip("2001:db8:0:2::1");
        assert!(limiter.check(same_64, None, t0).is_err());
        assert_eq!(limiter.check(next_64, None, t0), Ok(()));
        assert_eq!(limiter.tracked_clients(), 1);
    }

    #[test]
    fn limiter_ipv4_mapped_counts_as_ipv4() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        fail_times(&mut limiter, "::ffff:192.0.2.1", None, 5, t0);
        assert!(limiter.check(ip("192.0.2.1"), None, t0).is_err());
        assert_eq!(limiter.check(ip("::ffff:192.0.2.2"), None, t0), Ok(()));
    }

    #[test]
    fn limiter_always_allowed_is_never_refused_nor_counted() {
        let mut config = LimiterConfig::default();
        config
            .always_allowed
            .push("192.0.2.0/24".parse().expect("network"));
        config
            .always_allowed
            .push("2001:db8::/32".parse().expect("network"));
        let mut limiter = Limiter::new(config);
        let t0 = Instant::now();

        for from in ["192.0.2.7", "::ffff:192.0.2.8", "2001:db8:ffff::1"] {
            for _ in 0..100 {
                assert_eq!(limiter.check(ip(from), Some("alice"), t0), Ok(()));
                limiter.record_failure(ip(from), Some("alice"), t0);
            }
        }
        assert_eq!(limiter.tracked_clients(), 0);
        assert_eq!(limiter.tracked_accounts(), 0);

        // The user of a locked account can still log in from an allowed network.
        fail_times(&mut limiter, "198.51.100.1", Some("alice"), 5, t0);
        fail_times(&mut limiter, "198.51.100.2", Some("alice"), 5, t0);
        assert!(limiter.is_refused(ip("203.0.113.1"), Some("alice"), t0));
        assert!(!limiter.is_refused(ip("192.0.2.7"), Some("alice"), t0));
        assert!(limiter.is_always_allowed(ip("192.0.2.255")));
        assert!(!limiter.is_always_allowed(ip("192.0.3.0")));
    }

    #[test]
    fn limiter_unban_lifts_bans_by_hand() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        fail_times(&mut limiter, "192.0.2.1", Some("alice"), 5, t0);
        fail_times(&mut limiter, "192.0.2.2", Some("alice"), 5, t0);
        assert!(limiter.is_refused(ip("192.0.2.1"), None, t0));
        assert!(limiter.is_refused(ip("203.0.113.1"), Some("alice"), t0));

        assert!(limiter.unban(ip("192.0.2.1")));
        assert!(!limiter.unban(ip("192.0.2.1")), "nothing left");
        assert!(!limiter.is_refused(ip("192.0.2.1"), None, t0));
        assert!(limiter.is_refused(ip("192.0.2.2"), None, t0));

        assert!(limiter.unban_account("ALICE"));
        assert!(!limiter.is_refused(ip("203.0.113.1"), Some("alice"), t0));
    }

    #[test]
    fn limiter_accounts_are_case_insensitive() {
        let mut limiter = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        for (i, name) in [
            "Alice@Example.ORG",
            "ALICE@EXAMPLE.ORG",
            "alice@example.org",
        ]
        .iter()
        .cycle()
        .take(10)
        .enumerate()
        {
            let from = format!("198.51.100.{i}");
            fail_times(&mut limiter, &from, Some(name), 1, t0);
        }
        assert_eq!(limiter.account_failures("aLiCe@eXaMpLe.OrG", t0), 10);
        assert!(limiter.is_refused(ip("203.0.113.1"), Some("alice@example.org"), t0));
        assert_eq!(limiter.tracked_accounts(), 1);

        // Beyond ASCII too (SMTPUTF8 addresses).
        limiter.record_failure(ip("198.51.100.99"), Some("ÉLODIE@example.org"), t0);
        assert_eq!(limiter.account_failures("élodie@EXAMPLE.org", t0), 1);
    }

    #[test]
    fn limiter_zero_budget_turns_a_limit_off() {
        let config = LimiterConfig {
            account_failures: 0,
            ..LimiterConfig::default()
        };
        let mut limiter = Limiter::new(config);
        let t0 = Instant::now();
        for i in 0..50 {
            let from = format!("198.51.100.{i}");
            fail_times(&mut limiter, &from, Some("alice"), 1, t0);
        }
        assert_eq!(limiter.tracked_accounts(), 0);
        assert!(!limiter.is_refused(ip("203.0.113.1"), Some("alice"), t0));
    }

    #[test]
    fn limiter_memory_is_bounded_under_a_flood_of_clients() {
        let config = LimiterConfig {
            max_clients: 1_000,
            ..LimiterConfig::default()
        };
        let mut limiter = Limiter::new(config);
        let t0 = Instant::now();

        // A banned client, then a million others with one failure each, at the same instant so
        // that nothing expires and only eviction can keep the table small.
        fail_times(&mut limiter, "192.0.2.1", None, 5, t0);
        for n in 0..1_000_000u32 {
            let from = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            limiter.record_failure(from, None, t0);
            assert!(limiter.tracked_clients() <= 1_000);
        }

        // A quadratic eviction would make this loop take hours; amortised O(1) takes seconds.
        assert!(
            limiter.is_refused(ip("192.0.2.1"), None, t0),
            "the ban survived"
        );
    }

    #[test]
    fn limiter_memory_is_bounded_under_a_flood_of_accounts() {
        let config = LimiterConfig {
            max_accounts: 1_000,
            ..LimiterConfig::default()
        };
        let mut limiter = Limiter::new(config);
        let t0 = Instant::now();
        fail_times(&mut limiter, "192.0.2.1", Some("alice"), 5, t0);
        fail_times(&mut limiter, "192.0.2.2", Some("alice"), 5, t0);

        // Long names cost nothing: only their hash is kept.
        let padding = "x".repeat(1_000);
        for n in 0..100_000u32 {
            let account = format!("{padding}{n}");
            limiter.record_failure(ip("198.51.100.1"), Some(&account), t0);
            assert!(limiter.tracked_accounts() <= 1_000);
        }
        assert!(
            limiter.is_refused(ip("203.0.113.1"), Some("alice"), t0),
            "the ban survived"
        );
    }

    #[test]
    fn limiter_expired_entries_are_evicted_before_live_ones() {
        let config = LimiterConfig {
            max_clients: 10,
            ..LimiterConfig::default()
        };
        let mut limiter = Limiter::new(config);
        let t0 = Instant::now();
        fail_times(&mut limiter, "192.0.2.1", None, 1, t0);
        for n in 0..9 {
            let from = format!("198.51.100.{n}");
            fail_times(&mut limiter, &from, None, 1, t0 + WINDOW);
        }

        // The table is full; the next client pushes out only the expired one.
        limiter.record_failure(ip("203.0.113.1"), None, t0 + WINDOW);
        assert_eq!(limiter.tracked_clients(), 10);
        assert_eq!(limiter.client_failures(ip("198.51.100.0"), t0 + WINDOW), 1);
    }

    #[test]
    fn limiter_network_parsing() {
        let net: IpNetwork = "192.0.2.77/24".parse().expect("valid");
        assert_eq!(net.to_string(), "192.0.2.0/24");
        assert!(net.contains(ip("192.0.2.1")));
        assert!(net.contains(ip("::ffff:192.0.2.1")));
        assert!(!net.contains(ip("192.0.3.1")));
        assert!(!net.contains(ip("::1")));

        let net: IpNetwork = "2001:db8::/32".parse().expect("valid");
        assert!(net.contains(ip("2001:db8:ffff::1")));
        assert!(!net.contains(ip("2001:db9::1")));
        assert!(!net.contains(ip("192.0.2.1")));

        let one: IpNetwork = "127.0.0.1".parse().expect("valid");
        assert_eq!(one.prefix(), 32);
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));

        let all: IpNetwork = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains(ip("203.0.113.1")));
        let mapped: IpNetwork = "::ffff:10.0.0.0/104".parse().expect("valid");
        assert_eq!(mapped.to_string(), "10.0.0.0/8");

        for bad in [
            "",
            "/24",
            "192.0.2.0/",
            "192.0.2.0/33",
            "::/129",
            "192.0.2.0/+8",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad:?}");
        }
        assert_eq!("host/8".parse::<IpNetwork>(), Err(InvalidNetwork::Address));
        assert_eq!(
            "10.0.0.0/x".parse::<IpNetwork>(),
            Err(InvalidNetwork::Prefix)
        );
    }

    #[test]
    fn limiter_event_lines() {
        let mut event = AuthEvent {
            ip: ip("192.0.2.1"),
            mechanism: "PLAIN".to_string(),
            account: Some("alice@example.org".to_string()),
            outcome: AuthOutcome::Failure,
        };
        assert_eq!(
            event.to_string(),
            "auth failed: ip=192.0.2.1 mechanism=PLAIN account=alice@example.org"
        );

        event.outcome = AuthOutcome::Success;
        assert_eq!(
            event.to_string(),
            "auth succeeded: ip=192.0.2.1 mechanism=PLAIN account=alice@example.org"
        );

        event.outcome = AuthOutcome::Refused;
        event.ip = ip("::ffff:198.51.100.7");
        event.account = None;
        assert_eq!(
            event.to_string(),
            "auth refused (too many failures): ip=198.51.100.7 mechanism=PLAIN"
        );
    }

    #[test]
    fn limiter_event_escapes_attacker_chosen_names() {
        let event = AuthEvent {
            ip: ip("2001:db8::1"),
            mechanism: "X Y".to_string(),
            account: Some("bob ip=10.0.0.1\nauth failed: ip=10.9.9.9 é%\t\r".to_string()),
            outcome: AuthOutcome::Failure,
        };
        let line = event.to_string();
        assert_eq!(
            line,
            "auth failed: ip=2001:db8::1 mechanism=X%20Y \
             account=bob%20ip=10.0.0.1%0Aauth%20failed:%20ip=10.9.9.9%20%C3%A9%25%09%0D"
        );
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert_eq!(line.matches(' ').count(), 4);
    }
}
