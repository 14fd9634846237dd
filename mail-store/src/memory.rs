//! The in-memory backend: complete and fast, for tests and for embedding.
//!
//! All data lives in one `State` behind a `std::sync::Mutex`. Every method takes the lock,
//! does all of its work and releases it before it returns; nothing awaits while the lock is
//! held, so a plain mutex is the right tool (an async mutex only pays off when a guard must
//! live across an `.await`), and every call is atomic as far as other tasks can tell.
//!
//! ```
//! use std::sync::Arc;
//!
//! use mail_auth::credentials::Credentials;
//! use mail_store::memory::MemoryStore;
//! use mail_store::{NewMessage, Quota, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let alice = "alice@example.org";
//! store.create_account(alice, Credentials::new(alice), Quota::default()).await?;
//!
//! let message = NewMessage { flags: Default::default(), internal_date: 0, data: b"Hi".to_vec() };
//! let appended = store.append(alice, "inbox", message).await?;
//! assert_eq!(appended.uid, 1);
//! # Ok::<(), mail_store::StoreError>(())
//! # }).unwrap();
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use mail_auth::credentials::Credentials;
use tokio::sync::broadcast;

use crate::{
    Account, Appended, Change, ChangeReceiver, Copied, Flag, FlagOperation, Flags, FlagsStored,
    MailboxEntry, MailboxStatus, MessageMeta, NewMessage, QueueEntry, Quota, RecipientStatus,
    Result, SpecialUse, Store, StoreError, Usage, canonical_address, canonical_mailbox,
};

/// How many changes a watcher may fall behind before it sees `RecvError::Lagged`.
const WATCH_CAPACITY: usize = 1024;

/// A complete [`Store`] in memory. Clones share the same data, so one store can serve many
/// tasks; nothing survives the last clone.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store: no accounts, no aliases, an empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No method panics while holding the lock, so a poisoned lock is a bug in this file.
        self.state
            .lock()
            .expect("a MemoryStore method panicked while holding its lock")
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryStore")
            .field("accounts", &state.accounts.len())
            .field("queued", &state.queue.len())
            .finish_non_exhaustive()
    }
}

/// Everything the store holds.
#[derive(Default)]
struct State {
    /// Accounts by canonical address.
    accounts: BTreeMap<String, AccountData>,
    /// Alias (canonical) to the account's canonical address.
    aliases: BTreeMap<String, String>,
    /// Domain (lower-case) to the catch-all account's canonical address.
    catch_all: BTreeMap<String, String>,
    queue: BTreeMap<u64, Queued>,
    last_queue_id: u64,
    /// Store-wide, so a mailbox created again under an old name never gets the old value.
    last_uid_validity: u32,
    watchers: Watchers,
}

struct AccountData {
    account: Account,
    /// Mailboxes by canonical name; the map's order is the listing order.
    mailboxes: BTreeMap<String, Mailbox>,
}

struct Mailbox {
    special_use: Option<SpecialUse>,
    subscribed: bool,
    uid_validity: u32,
    uid_next: u32,
    highest_modseq: u64,
    messages: BTreeMap<u32, Message>,
}

#[derive(Clone)]
struct Message {
    flags: Flags,
    internal_date: i64,
    modseq: u64,
    /// Shared, so that a copy costs no octets.
    data: Arc<[u8]>,
}

struct Queued {
    entry: QueueEntry,
    message: Vec<u8>,
}

/// One broadcast channel per (account, mailbox), made when someone first watches it.
#[derive(Default)]
struct Watchers {
    senders: HashMap<String, HashMap<String, broadcast::Sender<Change>>>,
}

impl Watchers {
    fn subscribe(&mut self, account: &str, mailbox: &str) -> ChangeReceiver {
        let mailboxes = self.senders.entry(account.to_owned()).or_default();
        let sender = mailboxes
            .entry(mailbox.to_owned())
            .or_insert_with(|| broadcast::channel(WATCH_CAPACITY).0);
        sender.subscribe()
    }

    fn notify(&mut self, account: &str, mailbox: &str, change: Change) {
        let Some(mailboxes) = self.senders.get_mut(account) else {
            return;
        };

        // A send fails only when every receiver is gone: forget the channel then, so that
        // mailboxes watched once do not keep a sender forever.
        let gone = match mailboxes.get(mailbox) {
            Some(sender) => sender.send(change).is_err(),
            None => false,
        };
        if gone {
            mailboxes.remove(mailbox);
        }
    }

    /// Tells the watchers that the mailbox is gone and closes their channel: a mailbox
    /// created later under this name is a different mailbox.
    fn close(&mut self, account: &str, mailbox: &str) {
        if let Some(sender) = self
            .senders
            .get_mut(account)
            .and_then(|m| m.remove(mailbox))
        {
            let _ = sender.send(Change::Removed);
        }
    }

    fn close_account(&mut self, account: &str) {
        for sender in self
            .senders
            .remove(account)
            .into_iter()
            .flat_map(|m| m.into_values())
        {
            let _ = sender.send(Change::Removed);
        }
    }
}

fn not_found(what: &str, name: impl fmt::Display) -> StoreError {
    StoreError::NotFound(format!("{what} {name}"))
}

fn account_mut<'a>(
    accounts: &'a mut BTreeMap<String, AccountData>,
    address: &str,
) -> Result<&'a mut AccountData> {
    accounts
        .get_mut(&canonical_address(address))
        .ok_or_else(|| not_found("account", address))
}

fn account_ref<'a>(
    accounts: &'a BTreeMap<String, AccountData>,
    address: &str,
) -> Result<&'a AccountData> {
    accounts
        .get(&canonical_address(address))
        .ok_or_else(|| not_found("account", address))
}

fn next_uid_validity(last: &mut u32) -> u32 {
    // Wrapping past u32::MAX would take four billion mailboxes; 0 is not a valid value.
    *last = last.checked_add(1).unwrap_or(1);
    *last
}

impl AccountData {
    fn mailbox(&self, name: &str) -> Result<&Mailbox> {
        self.mailboxes
            .get(&canonical_mailbox(name)?)
            .ok_or_else(|| not_found("mailbox", name))
    }

    fn mailbox_mut(&mut self, name: &str) -> Result<&mut Mailbox> {
        self.mailboxes
            .get_mut(&canonical_mailbox(name)?)
            .ok_or_else(|| not_found("mailbox", name))
    }

    fn usage(&self) -> Usage {
        let messages = self.mailboxes.values().flat_map(|m| m.messages.values());
        messages.fold(Usage::default(), |usage, message| Usage {
            bytes: usage.bytes + message.data.len() as u64,
            messages: usage.messages + 1,
        })
    }

    /// Refuses adding `messages` messages of `bytes` octets in all when that would exceed
    /// the quota.
    fn check_quota(&self, messages: u64, bytes: u64) -> Result<()> {
        let usage = self.usage();
        let Quota {
            max_bytes,
            max_messages,
        } = self.account.quota;
        let over = |max: Option<u64>, used: u64, added: u64| {
            max.is_some_and(|max| used.saturating_add(added) > max)
        };
        if over(max_bytes, usage.bytes, bytes) || over(max_messages, usage.messages, messages) {
            return Err(StoreError::OverQuota);
        }
        Ok(())
    }
}

impl Mailbox {
    fn new(uid_validity: u32, special_use: Option<SpecialUse>, subscribed: bool) -> Self {
        Self {
            special_use,
            subscribed,
            uid_validity,
            uid_next: 1,
            highest_modseq: 1,
            messages: BTreeMap::new(),
        }
    }

    fn message(&self, uid: u32) -> Result<&Message> {
        self.messages
            .get(&uid)
            .ok_or_else(|| not_found("message", uid))
    }

    fn next_modseq(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Adds messages under new UIDs, in the given order; all or none (when the UID space
    /// would run out, which RFC 9051 leaves to a new UIDVALIDITY).
    fn insert(&mut self, messages: Vec<Message>) -> Result<Vec<u32>> {
        let count = u32::try_from(messages.len()).ok();
        let last = count.and_then(|count| self.uid_next.checked_add(count));
        if last.is_none() {
            return Err(StoreError::Conflict(
                "the mailbox has run out of UIDs".into(),
            ));
        }

        let mut uids = Vec::with_capacity(messages.len());
        for mut message in messages {
            let uid = self.uid_next;
            self.uid_next += 1;
            message.modseq = self.next_modseq();
            self.messages.insert(uid, message);
            uids.push(uid);
        }
        Ok(uids)
    }

    /// Removes these messages (absent ones are skipped) and returns the removed UIDs, in
    /// ascending order when `uids` is.
    fn remove(&mut self, uids: &[u32]) -> Vec<u32> {
        let removed: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|uid| self.messages.remove(uid).is_some())
            .collect();

        // An expunge is a change, so CONDSTORE clients learn of it (RFC 7162 section 3.2).
        if !removed.is_empty() {
            self.next_modseq();
        }
        removed
    }

    fn status(&self) -> MailboxStatus {
        let messages = self.messages.values();
        MailboxStatus {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            highest_modseq: self.highest_modseq,
            messages: u32::try_from(self.messages.len()).unwrap_or(u32::MAX),
            unseen: u32::try_from(messages.filter(|m| !m.flags.contains(&Flag::Seen)).count())
                .unwrap_or(u32::MAX),
            size: self.messages.values().map(|m| m.data.len() as u64).sum(),
        }
    }
}

/// `uids` in ascending order without repeats: the order every result is reported in.
fn sorted(uids: &[u32]) -> Vec<u32> {
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    uids
}

fn apply(operation: FlagOperation, current: &Flags, flags: &Flags) -> Flags {
    match operation {
        FlagOperation::Add => current.union(flags).cloned().collect(),
        FlagOperation::Remove => current.difference(flags).cloned().collect(),
        FlagOperation::Replace => flags.clone(),
    }
}

fn clamp(len: usize, range: Option<Range<u64>>) -> Range<usize> {
    let Some(range) = range else {
        return 0..len;
    };
    let clamp = |at: u64| usize::try_from(at).map_or(len, |at| at.min(len));
    let (start, end) = (clamp(range.start), clamp(range.end));
    start..end.max(start)
}

// Accounts, aliases and credentials.
impl State {
    fn create_account(
        &mut self,
        address: &str,
        credentials: Credentials,
        quota: Quota,
    ) -> Result<()> {
        let key = canonical_address(address);
        if key.is_empty() {
            return Err(StoreError::Invalid("empty address".into()));
        }
        if self.accounts.contains_key(&key) || self.aliases.contains_key(&key) {
            return Err(StoreError::AlreadyExists(format!("account {address}")));
        }

        let mut mailboxes = BTreeMap::new();
        let uid_validity = next_uid_validity(&mut self.last_uid_validity);
        mailboxes.insert("INBOX".to_owned(), Mailbox::new(uid_validity, None, true));
        for (name, special_use) in SpecialUse::DEFAULTS {
            let uid_validity = next_uid_validity(&mut self.last_uid_validity);
            let mailbox = Mailbox::new(uid_validity, Some(special_use), true);
            mailboxes.insert(name.to_owned(), mailbox);
        }

        let account = Account {
            address: key.clone(),
            credentials,
            quota,
        };
        self.accounts
            .insert(key, AccountData { account, mailboxes });
        Ok(())
    }

    fn delete_account(&mut self, address: &str) -> Result<()> {
        let key = canonical_address(address);
        if self.accounts.remove(&key).is_none() {
            return Err(not_found("account", address));
        }

        // Nothing may point at an account that is gone.
        self.aliases.retain(|_, target| *target != key);
        self.catch_all.retain(|_, target| *target != key);
        self.watchers.close_account(&key);
        Ok(())
    }

    fn resolve(&self, address: &str) -> Option<String> {
        let key = canonical_address(address);
        if self.accounts.contains_key(&key) {
            return Some(key);
        }
        if let Some(target) = self.aliases.get(&key) {
            return Some(target.clone());
        }
        let (_, domain) = key.rsplit_once('@')?;
        self.catch_all.get(domain).cloned()
    }

    fn use_totp_step(&mut self, address: &str, step: u64) -> Result<()> {
        let account = account_mut(&mut self.accounts, address)?;
        let totp = account.account.credentials.totp.as_mut().ok_or_else(|| {
            StoreError::Invalid(format!(
                "account {address} has no two-factor authentication"
            ))
        })?;

        // RFC 6238 section 5.2: a code is accepted once, and never an older one after it.
        if totp.last_used_step.is_some_and(|last| step <= last) {
            return Err(StoreError::Conflict(format!(
                "TOTP step {step} already used"
            )));
        }
        totp.last_used_step = Some(step);
        Ok(())
    }

    fn add_alias(&mut self, alias: &str, account: &str) -> Result<()> {
        let key = canonical_address(alias);
        let target = canonical_address(account);
        if !self.accounts.contains_key(&target) {
            return Err(not_found("account", account));
        }
        if self.aliases.contains_key(&key) || self.accounts.contains_key(&key) {
            return Err(StoreError::AlreadyExists(format!("address {alias}")));
        }
        self.aliases.insert(key, target);
        Ok(())
    }

    fn remove_alias(&mut self, alias: &str) -> Result<()> {
        match self.aliases.remove(&canonical_address(alias)) {
            Some(_) => Ok(()),
            None => Err(not_found("alias", alias)),
        }
    }

    fn set_catch_all(&mut self, domain: &str, account: Option<&str>) -> Result<()> {
        let domain = canonical_address(domain);
        let Some(account) = account else {
            self.catch_all.remove(&domain);
            return Ok(());
        };

        let target = canonical_address(account);
        if !self.accounts.contains_key(&target) {
            return Err(not_found("account", account));
        }
        self.catch_all.insert(domain, target);
        Ok(())
    }
}

// Mailboxes.
impl State {
    fn list_mailboxes(&self, account: &str) -> Result<Vec<MailboxEntry>> {
        let account = account_ref(&self.accounts, account)?;
        let entries = account
            .mailboxes
            .iter()
            .map(|(name, mailbox)| MailboxEntry {
                name: name.clone(),
                special_use: mailbox.special_use,
                subscribed: mailbox.subscribed,
            });
        Ok(entries.collect())
    }

    fn create_mailbox(
        &mut self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        let account = account_mut(&mut self.accounts, account)?;
        let name = canonical_mailbox(name)?;
        if account.mailboxes.contains_key(&name) {
            return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
        }

        let uid_validity = next_uid_validity(&mut self.last_uid_validity);
        let mailbox = Mailbox::new(uid_validity, special_use, false);
        account.mailboxes.insert(name, mailbox);
        Ok(())
    }

    fn delete_mailbox(&mut self, address: &str, name: &str) -> Result<()> {
        let account = account_mut(&mut self.accounts, address)?;
        let name = canonical_mailbox(name)?;
        if name == "INBOX" {
            return Err(StoreError::Conflict("INBOX cannot be deleted".into()));
        }
        if account.mailboxes.remove(&name).is_none() {
            return Err(not_found("mailbox", name));
        }

        self.watchers.close(&canonical_address(address), &name);
        Ok(())
    }

    fn rename_mailbox(&mut self, address: &str, from: &str, to: &str) -> Result<()> {
        let account = account_mut(&mut self.accounts, address)?;
        let (from, to) = (canonical_mailbox(from)?, canonical_mailbox(to)?);
        if !account.mailboxes.contains_key(&from) {
            return Err(not_found("mailbox", from));
        }
        if from == "INBOX" {
            return self.rename_inbox(address, &to);
        }
        if to == from || to.starts_with(&format!("{from}/")) {
            return Err(StoreError::Conflict(format!(
                "cannot move {from} into {to}"
            )));
        }

        // The mailbox and its children, with their new names.
        let children = format!("{from}/");
        let moves: Vec<(String, String)> = account
            .mailboxes
            .keys()
            .filter(|name| **name == from || name.starts_with(&children))
            .map(|name| (name.clone(), format!("{to}{}", &name[from.len()..])))
            .collect();

        // A new name may be an old one that moves away too (`a/b` to `a` moves `a/b/b/y`
        // to `a/b/y`), so only names that stay count as taken.
        let taken = |name: &String| {
            account.mailboxes.contains_key(name) && !moves.iter().any(|(old, _)| old == name)
        };
        if let Some((_, new)) = moves.iter().find(|(_, new)| taken(new)) {
            return Err(StoreError::AlreadyExists(format!("mailbox {new}")));
        }

        let moved: Vec<(String, Mailbox)> = moves
            .iter()
            .filter_map(|(old, new)| Some((new.clone(), account.mailboxes.remove(old)?)))
            .collect();
        account.mailboxes.extend(moved);
        let key = canonical_address(address);
        for (old, _) in &moves {
            self.watchers.close(&key, old);
        }
        Ok(())
    }

    /// RFC 9051 section 6.3.6: renaming INBOX moves its messages to a new mailbox and leaves
    /// INBOX empty; INBOX's children stay where they are.
    fn rename_inbox(&mut self, address: &str, to: &str) -> Result<()> {
        let account = account_mut(&mut self.accounts, address)?;
        if account.mailboxes.contains_key(to) {
            return Err(StoreError::AlreadyExists(format!("mailbox {to}")));
        }
        let inbox = account.mailbox_mut("INBOX")?;

        // The messages keep their UIDs under a new UIDVALIDITY; INBOX keeps its own
        // UIDVALIDITY and UIDNEXT, so its UIDs are never reused.
        let uid_validity = next_uid_validity(&mut self.last_uid_validity);
        let mut renamed = Mailbox::new(uid_validity, None, inbox.subscribed);
        renamed.uid_next = inbox.uid_next;
        renamed.highest_modseq = inbox.highest_modseq;
        renamed.messages = std::mem::take(&mut inbox.messages);

        let uids: Vec<u32> = renamed.messages.keys().copied().collect();
        if !uids.is_empty() {
            inbox.next_modseq();
        }
        account.mailboxes.insert(to.to_owned(), renamed);
        if !uids.is_empty() {
            let key = canonical_address(address);
            self.watchers
                .notify(&key, "INBOX", Change::Expunged { uids });
        }
        Ok(())
    }

    fn set_subscribed(&mut self, account: &str, name: &str, subscribed: bool) -> Result<()> {
        let account = account_mut(&mut self.accounts, account)?;
        account.mailbox_mut(name)?.subscribed = subscribed;
        Ok(())
    }

    fn watch(&mut self, address: &str, name: &str) -> Result<ChangeReceiver> {
        let account = account_ref(&self.accounts, address)?;
        account.mailbox(name)?;
        let key = canonical_address(address);
        Ok(self.watchers.subscribe(&key, &canonical_mailbox(name)?))
    }
}

// Messages.
impl State {
    fn append(&mut self, address: &str, name: &str, message: NewMessage) -> Result<Appended> {
        if message.data.is_empty() {
            return Err(StoreError::Invalid("empty message".into()));
        }
        let account = account_mut(&mut self.accounts, address)?;
        account.mailbox(name)?;
        account.check_quota(1, message.data.len() as u64)?;

        let mailbox = account.mailbox_mut(name)?;
        let message = Message {
            flags: message.flags,
            internal_date: message.internal_date,
            modseq: 0,
            data: message.data.into(),
        };
        let uid = mailbox.insert(vec![message])?[0];
        let uid_validity = mailbox.uid_validity;

        let (key, name) = (canonical_address(address), canonical_mailbox(name)?);
        self.watchers.notify(&key, &name, Change::Appended { uid });
        Ok(Appended { uid_validity, uid })
    }

    fn messages(&self, account: &str, name: &str) -> Result<Vec<MessageMeta>> {
        let mailbox = account_ref(&self.accounts, account)?.mailbox(name)?;
        let metas = mailbox.messages.iter().map(|(&uid, message)| MessageMeta {
            uid,
            flags: message.flags.clone(),
            internal_date: message.internal_date,
            size: message.data.len() as u64,
            modseq: message.modseq,
        });
        Ok(metas.collect())
    }

    fn read_message(
        &self,
        account: &str,
        name: &str,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>> {
        let mailbox = account_ref(&self.accounts, account)?.mailbox(name)?;
        let data = &mailbox.message(uid)?.data;
        Ok(data[clamp(data.len(), range)].to_vec())
    }

    fn store_flags(
        &mut self,
        address: &str,
        name: &str,
        uids: &[u32],
        operation: FlagOperation,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored> {
        let mailbox = account_mut(&mut self.accounts, address)?.mailbox_mut(name)?;
        let mut stored = FlagsStored::default();
        for uid in sorted(uids) {
            let Some(message) = mailbox.messages.get_mut(&uid) else {
                continue;
            };

            // RFC 7162 section 3.1.3: only a modseq greater than UNCHANGEDSINCE blocks.
            if unchanged_since.is_some_and(|since| message.modseq > since) {
                stored.modified.push(uid);
                continue;
            }
            let new = apply(operation, &message.flags, flags);
            if new == message.flags {
                continue;
            }

            mailbox.highest_modseq += 1;
            message.modseq = mailbox.highest_modseq;
            message.flags = new.clone();
            stored.updated.push((uid, new, message.modseq));
        }

        let (key, name) = (canonical_address(address), canonical_mailbox(name)?);
        for (uid, flags, modseq) in &stored.updated {
            let change = Change::FlagsChanged {
                uid: *uid,
                flags: flags.clone(),
                modseq: *modseq,
            };
            self.watchers.notify(&key, &name, change);
        }
        Ok(stored)
    }

    fn expunge(&mut self, address: &str, name: &str, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        let mailbox = account_mut(&mut self.accounts, address)?.mailbox_mut(name)?;
        let candidates = match uids {
            Some(uids) => sorted(uids),
            None => mailbox.messages.keys().copied().collect(),
        };
        let deleted: Vec<u32> = candidates
            .into_iter()
            .filter(|uid| {
                let message = mailbox.messages.get(uid);
                message.is_some_and(|m| m.flags.contains(&Flag::Deleted))
            })
            .collect();

        let removed = mailbox.remove(&deleted);
        if !removed.is_empty() {
            let (key, name) = (canonical_address(address), canonical_mailbox(name)?);
            let change = Change::Expunged {
                uids: removed.clone(),
            };
            self.watchers.notify(&key, &name, change);
        }
        Ok(removed)
    }

    /// Copies, and with `remove` also expunges the originals, as one step under the lock.
    fn transfer(
        &mut self,
        address: &str,
        from: &str,
        uids: &[u32],
        to: &str,
        remove: bool,
    ) -> Result<Copied> {
        let account = account_mut(&mut self.accounts, address)?;
        account.mailbox(to)?;
        let source = account.mailbox(from)?;
        let (uids, messages): (Vec<u32>, Vec<Message>) = sorted(uids)
            .into_iter()
            .filter_map(|uid| Some((uid, source.messages.get(&uid)?.clone())))
            .unzip();

        // A move inside one account leaves its usage as it was, so only a copy can go over
        // quota; refusing a move would keep a user at quota from moving mail to Trash.
        if !remove {
            let bytes = messages.iter().map(|m| m.data.len() as u64).sum();
            account.check_quota(messages.len() as u64, bytes)?;
        }

        let target = account.mailbox_mut(to)?;
        let uid_validity = target.uid_validity;
        let new_uids = target.insert(messages)?;
        if remove {
            account.mailbox_mut(from)?.remove(&uids);
        }

        let key = canonical_address(address);
        let (from, to) = (canonical_mailbox(from)?, canonical_mailbox(to)?);
        for &uid in &new_uids {
            self.watchers.notify(&key, &to, Change::Appended { uid });
        }
        if remove && !uids.is_empty() {
            let change = Change::Expunged { uids: uids.clone() };
            self.watchers.notify(&key, &from, change);
        }
        let mapping = uids.into_iter().zip(new_uids).collect();
        Ok(Copied {
            uid_validity,
            mapping,
        })
    }
}

// The outbound queue.
impl State {
    fn enqueue(&mut self, sender: &str, recipients: &[String], message: &[u8], now: i64) -> u64 {
        self.last_queue_id += 1;
        let id = self.last_queue_id;
        let entry = QueueEntry {
            id,
            sender: sender.to_owned(),
            recipients: recipients
                .iter()
                .map(|r| (r.clone(), RecipientStatus::Pending))
                .collect(),
            next_attempt: now,
            attempts: 0,
            created: now,
        };
        let message = message.to_vec();
        self.queue.insert(id, Queued { entry, message });
        id
    }

    fn queued(&self, id: u64) -> Result<&Queued> {
        self.queue
            .get(&id)
            .ok_or_else(|| not_found("queue entry", id))
    }

    fn update_queue_entry(&mut self, entry: &QueueEntry) -> Result<()> {
        let queued = self
            .queue
            .get_mut(&entry.id)
            .ok_or_else(|| not_found("queue entry", entry.id))?;

        // The sender, the message and the creation time are fixed when the entry is made.
        queued.entry.recipients = entry.recipients.clone();
        queued.entry.attempts = entry.attempts;
        queued.entry.next_attempt = entry.next_attempt;
        Ok(())
    }

    fn dequeue(&mut self, id: u64) -> Result<()> {
        match self.queue.remove(&id) {
            Some(_) => Ok(()),
            None => Err(not_found("queue entry", id)),
        }
    }
}

// Each method locks, calls the synchronous `State` method and unlocks: the guard never lives
// across an await, so the futures stay `Send`.
#[async_trait]
impl Store for MemoryStore {
    async fn create_account(
        &self,
        address: &str,
        credentials: Credentials,
        quota: Quota,
    ) -> Result<()> {
        self.state().create_account(address, credentials, quota)
    }

    async fn delete_account(&self, address: &str) -> Result<()> {
        self.state().delete_account(address)
    }

    async fn account(&self, address: &str) -> Result<Option<Account>> {
        let key = canonical_address(address);
        Ok(self.state().accounts.get(&key).map(|a| a.account.clone()))
    }

    async fn resolve(&self, address: &str) -> Result<Option<String>> {
        Ok(self.state().resolve(address))
    }

    async fn list_accounts(&self) -> Result<Vec<String>> {
        Ok(self.state().accounts.keys().cloned().collect())
    }

    async fn set_credentials(&self, address: &str, credentials: Credentials) -> Result<()> {
        let mut state = self.state();
        account_mut(&mut state.accounts, address)?
            .account
            .credentials = credentials;
        Ok(())
    }

    async fn use_totp_step(&self, address: &str, step: u64) -> Result<()> {
        self.state().use_totp_step(address, step)
    }

    async fn add_alias(&self, alias: &str, account: &str) -> Result<()> {
        self.state().add_alias(alias, account)
    }

    async fn remove_alias(&self, alias: &str) -> Result<()> {
        self.state().remove_alias(alias)
    }

    async fn set_catch_all(&self, domain: &str, account: Option<&str>) -> Result<()> {
        self.state().set_catch_all(domain, account)
    }

    async fn set_quota(&self, address: &str, quota: Quota) -> Result<()> {
        let mut state = self.state();
        account_mut(&mut state.accounts, address)?.account.quota = quota;
        Ok(())
    }

    async fn usage(&self, address: &str) -> Result<Usage> {
        Ok(account_ref(&self.state().accounts, address)?.usage())
    }

    async fn list_mailboxes(&self, account: &str) -> Result<Vec<MailboxEntry>> {
        self.state().list_mailboxes(account)
    }

    async fn create_mailbox(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        self.state().create_mailbox(account, name, special_use)
    }

    async fn delete_mailbox(&self, account: &str, name: &str) -> Result<()> {
        self.state().delete_mailbox(account, name)
    }

    async fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<()> {
        self.state().rename_mailbox(account, from, to)
    }

    async fn set_subscribed(&self, account: &str, name: &str, subscribed: bool) -> Result<()> {
        self.state().set_subscribed(account, name, subscribed)
    }

    async fn mailbox_status(&self, account: &str, mailbox: &str) -> Result<MailboxStatus> {
        let state = self.state();
        Ok(account_ref(&state.accounts, account)?
            .mailbox(mailbox)?
            .status())
    }

    async fn append(&self, account: &str, mailbox: &str, message: NewMessage) -> Result<Appended> {
        self.state().append(account, mailbox, message)
    }

    async fn messages(&self, account: &str, mailbox: &str) -> Result<Vec<MessageMeta>> {
        self.state().messages(account, mailbox)
    }

    async fn read_message(
        &self,
        account: &str,
        mailbox: &str,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>> {
        self.state().read_message(account, mailbox, uid, range)
    }

    async fn store_flags(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[u32],
        operation: FlagOperation,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored> {
        let mut state = self.state();
        state.store_flags(account, mailbox, uids, operation, flags, unchanged_since)
    }

    async fn expunge(
        &self,
        account: &str,
        mailbox: &str,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>> {
        self.state().expunge(account, mailbox, uids)
    }

    async fn copy(&self, account: &str, from: &str, uids: &[u32], to: &str) -> Result<Copied> {
        self.state().transfer(account, from, uids, to, false)
    }

    async fn move_messages(
        &self,
        account: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Copied> {
        self.state().transfer(account, from, uids, to, true)
    }

    async fn watch(&self, account: &str, mailbox: &str) -> Result<ChangeReceiver> {
        self.state().watch(account, mailbox)
    }

    async fn enqueue(
        &self,
        sender: &str,
        recipients: &[String],
        message: &[u8],
        now: i64,
    ) -> Result<u64> {
        Ok(self.state().enqueue(sender, recipients, message, now))
    }

    async fn queue(&self) -> Result<Vec<QueueEntry>> {
        let state = self.state();
        Ok(state.queue.values().map(|q| q.entry.clone()).collect())
    }

    async fn queued_message(&self, id: u64) -> Result<Vec<u8>> {
        Ok(self.state().queued(id)?.message.clone())
    }

    async fn update_queue_entry(&self, entry: &QueueEntry) -> Result<()> {
        self.state().update_queue_entry(entry)
    }

    async fn dequeue(&self, id: u64) -> Result<()> {
        self.state().dequeue(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A reversed range is what a careless caller might pass; it must read as empty.
    #[allow(clippy::reversed_empty_ranges)]
    fn ranges_are_clamped() {
        assert_eq!(clamp(10, None), 0..10);
        assert_eq!(clamp(10, Some(2..5)), 2..5);
        assert_eq!(clamp(10, Some(8..50)), 8..10);
        assert_eq!(clamp(10, Some(20..30)), 10..10);
        assert_eq!(clamp(10, Some(6..3)), 6..6);
        assert_eq!(clamp(10, Some(0..u64::MAX)), 0..10);
    }

    #[test]
    fn flag_operations() {
        let set = |flags: &[Flag]| flags.iter().cloned().collect::<Flags>();
        let current = set(&[Flag::Seen, Flag::Draft]);
        let change = set(&[Flag::Draft, Flag::Flagged]);
        assert_eq!(
            apply(FlagOperation::Add, &current, &change),
            set(&[Flag::Seen, Flag::Draft, Flag::Flagged])
        );
        assert_eq!(
            apply(FlagOperation::Remove, &current, &change),
            set(&[Flag::Seen])
        );
        assert_eq!(apply(FlagOperation::Replace, &current, &change), change);
    }

    #[test]
    fn uid_validity_skips_zero_when_it_wraps() {
        let mut last = u32::MAX - 1;
        assert_eq!(next_uid_validity(&mut last), u32::MAX);
        assert_eq!(next_uid_validity(&mut last), 1);
    }

    #[test]
    fn a_full_uid_space_refuses_the_whole_batch() {
        let mut mailbox = Mailbox::new(1, None, true);
        mailbox.uid_next = u32::MAX - 1;
        let message = Message {
            flags: Flags::new(),
            internal_date: 0,
            modseq: 0,
            data: Arc::from(&b"x"[..]),
        };
        assert!(mailbox.insert(vec![message.clone(); 2]).is_err());
        assert!(mailbox.messages.is_empty());
        assert_eq!(mailbox.insert(vec![message]).unwrap(), [u32::MAX - 1]);
    }

    #[test]
    fn watchers_without_receivers_are_forgotten() {
        let mut watchers = Watchers::default();
        let receiver = watchers.subscribe("a", "INBOX");
        drop(receiver);
        watchers.notify("a", "INBOX", Change::Appended { uid: 1 });
        assert!(watchers.senders["a"].is_empty());
    }

    #[tokio::test]
    async fn clones_share_data() {
        let store = MemoryStore::new();
        let other = store.clone();
        let alice = "alice@example.org";
        store
            .create_account(alice, Credentials::new(alice), Quota::default())
            .await
            .unwrap();
        assert_eq!(other.list_accounts().await.unwrap(), [alice]);
        assert!(format!("{other:?}").contains("accounts: 1"));
    }
}
