//! The filesystem backend: Maildir folders with a UID index, the embedded default.
//!
//! # Layout
//!
//! ```text
//! <root>/
//!   rampart-store                 "rampart-fs 1": the layout's version
//!   routing                       aliases and catch-alls
//!   work/                         scratch space for accounts being created or deleted
//!   queue/<id>.msg, <id>.entry    the outbound queue; next-id; tmp/
//!   accounts/<address>/           one per account, the address escaped (see below)
//!     account                     credentials and quota
//!     uidvalidity                 the next UIDVALIDITY to hand out
//!     rename-pending              only while a rename is in progress (a redo log)
//!     work/                       scratch space for mailboxes being created or deleted
//!     Maildir/                    INBOX, a Maildir: cur/ new/ tmp/
//!       rampart-uidlist           the UID index snapshot
//!       rampart-journal           the UID index journal
//!       .Archive.2026/            the mailbox Archive/2026, a Maildir++ folder, same files
//! ```
//!
//! Messages are plain Maildir files, so mutt, Dovecot or a backup script can read them:
//! file names are `time.MmicrosPpidQn.rampart,S=size:2,FLAGS` with the system flags as
//! Maildir letters (`D` draft, `F` flagged, `R` answered, `S` seen, `T` deleted). Keywords
//! live only in the index. Mailbox `A/B` is folder `.A.B` (Maildir++); in each level, and in
//! account directory names, every byte but ASCII letters, digits and `-_+,@=` is written
//! `%XX`, so no name can contain `/`, start a `..`, or hide a level separator.
//!
//! The index makes the mailbox cheap to open: `rampart-uidlist` holds UIDVALIDITY, UIDNEXT,
//! HIGHESTMODSEQ, the subscription and special use, then one line per message (UID,
//! modification sequence, internal date, size, flags, file name). `rampart-journal` holds
//! the changes since, one checksummed line each (`A` append, `F` flags, `X` expunge, `S`
//! subscription). Opening a mailbox reads these two files and lists `new/` and `tmp/`
//! (normally empty); it never opens a message file.
//!
//! # Durability
//!
//! A call returns `Ok` only once its effect is on disk. An append goes:
//!
//! 1. write the message to `tmp/<name>` and fsync it: its bytes are on disk;
//! 2. rename it to `new/<name>` and fsync `new/`: the file is now complete under its final
//!    directory, so it can never be seen half-written;
//! 3. with the mailbox locked, assign the UID and modification sequence, append an `A`
//!    line to the journal and fsync it: the commit point. UIDNEXT is part of the same line
//!    (it is the highest UID plus one, and expunges keep their UIDs counted), so a UID is
//!    never handed out twice;
//! 4. rename the file to `cur/<name>:2,FLAGS` (no fsync needed: reading also looks in
//!    `new/`), update memory, tell the watchers.
//!
//! Flag changes, expunges and subscription changes are journal lines too, fsynced before
//! the call returns; an expunge unlinks the files only after its line is durable. When the
//! journal has grown past a threshold, the snapshot is rewritten (temporary file, fsync,
//! rename, fsync directory) with a new generation number, then the journal is replaced by
//! an empty one of that generation; a journal whose generation is older than the snapshot's
//! was already folded in and is ignored.
//!
//! Account records, routing and queue entries are small files replaced whole: written to a
//! temporary file, fsynced, renamed over the old one, directory fsynced.
//!
//! # Recovery
//!
//! After a crash (`kill -9`, power loss) the store opens again by itself:
//!
//! - a torn last journal line (a crash during step 3) fails its checksum and is cut off;
//!   its append never returned. A damaged line followed by valid ones is corruption and
//!   reported as [`StoreError::Corrupted`] rather than dropped silently;
//! - a file in `new/` without an index entry (a crash between steps 2 and 3, or mail that
//!   another program delivered the Maildir way) is **adopted** with a new UID: it is whole,
//!   because only fsynced files leave `tmp/`. A crashed append may therefore show up as a
//!   message although the client got no OK, which is the safe side for mail;
//! - files of ours in `tmp/` are removed (foreign ones after the Maildir rule's 36 hours);
//! - files of messages whose expunge is in the journal are unlinked again;
//! - a rename in progress is finished from its redo log; scratch directories are emptied.
//!
//! # Concurrency
//!
//! File I/O runs on tokio's blocking pool. Each mailbox has its own mutex, held only inside
//! the blocking task, around the index update (steps 3 and 4), so sessions on different
//! mailboxes run in parallel and sessions on one mailbox never lose an update; the message
//! write and its fsync (steps 1 and 2) happen before the lock is taken, so concurrent
//! appends to one mailbox overlap their slowest part. One process owns a store at a time.
//!
//! [`Store::watch`] uses in-process tokio broadcast channels: a change is seen by the
//! sessions of this process only. A backend that several nodes share needs another
//! mechanism (a database's notifications, for example).

mod account;
mod codec;
mod io;
mod mailbox;
mod queue;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mail_auth::credentials::Credentials;
use tokio::sync::broadcast;

use self::account::{AccountState, MailboxHandle, lock};
use self::codec::{Routing, decode_routing, dir_name, encode_routing};
use self::io::{clear_dir, ensure_dir, read_optional, sync_dir, unique_name, write_atomic};
use self::mailbox::{Entry, Incoming, read_message_file};
use self::queue::Queue;
use crate::{
    Account, Appended, Change, ChangeReceiver, Copied, FlagOperation, Flags, FlagsStored,
    MailboxEntry, MailboxStatus, MessageMeta, NewMessage, QueueEntry, Quota, Result, SpecialUse,
    Store, StoreError, Usage, canonical_address, canonical_mailbox,
};

/// The version line of `<root>/rampart-store`.
const STORE_MAGIC: &str = "rampart-fs 1";

/// How many changes a watcher may fall behind before it learns it lagged.
const WATCH_CAPACITY: usize = 1024;

/// Tuning of an [`FsStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsOptions {
    /// Rewrite a mailbox's index once its journal holds more than this many records plus
    /// half the mailbox's message count (so compaction costs O(1) per change, amortised).
    pub compact_after: usize,
}

impl Default for FsOptions {
    fn default() -> Self {
        Self {
            compact_after: 4096,
        }
    }
}

/// The durable filesystem store. Clones share one state; see the module documentation for
/// the layout and the durability protocol.
#[derive(Clone)]
pub struct FsStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStore")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

struct Inner {
    root: PathBuf,
    options: FsOptions,
    accounts: Mutex<BTreeMap<String, Arc<AccountState>>>,
    routing: Mutex<Routing>,
    queue: Mutex<Queue>,
    watchers: Mutex<HashMap<(String, String), broadcast::Sender<Change>>>,
}

impl FsStore {
    /// Opens the store at `root`, creating the layout if it is missing and recovering from
    /// a crash (see the module documentation). Blocks: call it before serving, or from
    /// `spawn_blocking`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, FsOptions::default())
    }

    /// [`FsStore::open`] with tuning options.
    pub fn open_with(root: impl AsRef<Path>, options: FsOptions) -> Result<Self> {
        let root = root.as_ref().to_owned();
        ensure_dir(&root)?;
        check_version(&root)?;
        for dir in ["accounts", "work", "queue"] {
            ensure_dir(&root.join(dir))?;
        }
        clear_dir(&root.join("work"))?;

        let mut accounts = BTreeMap::new();
        for dirent in fs::read_dir(root.join("accounts"))? {
            let dirent = dirent?;
            let state = AccountState::open(&dirent.path(), options.compact_after)?;
            let address = lock(&state.record).address.clone();
            accounts.insert(address, Arc::new(state));
        }
        let routing = match read_optional(&root.join("routing"))? {
            Some(text) => decode_routing(&text)?,
            None => Routing::default(),
        };
        let queue = Queue::open(&root.join("queue"))?;

        let inner = Inner {
            root,
            options,
            accounts: Mutex::new(accounts),
            routing: Mutex::new(routing),
            queue: Mutex::new(queue),
            watchers: Mutex::new(HashMap::new()),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Runs blocking file work on tokio's blocking pool, so the executor never waits on a
    /// disk.
    async fn blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

/// Writes the version file of a new store, or checks an existing one's.
fn check_version(root: &Path) -> Result<()> {
    let path = root.join("rampart-store");
    match read_optional(&path)? {
        Some(text) if text.trim() == STORE_MAGIC => Ok(()),
        Some(text) => Err(StoreError::Corrupted(format!(
            "store version {:?}",
            text.trim()
        ))),
        None => Ok(write_atomic(&path, format!("{STORE_MAGIC}\n").as_bytes())?),
    }
}

impl Inner {
    fn account(&self, address: &str) -> Result<Arc<AccountState>> {
        let address = canonical_address(address);
        let accounts = lock(&self.accounts);
        let account = accounts.get(&address).cloned();
        account.ok_or_else(|| StoreError::NotFound(format!("account {address}")))
    }

    fn mailbox(
        &self,
        address: &str,
        name: &str,
    ) -> Result<(Arc<AccountState>, Arc<MailboxHandle>)> {
        let account = self.account(address)?;
        let handle = account.mailbox(&canonical_mailbox(name)?)?;
        Ok((account, handle))
    }

    fn notify(&self, account: &str, mailbox: &str, changes: impl IntoIterator<Item = Change>) {
        let key = (canonical_address(account), mailbox.to_owned());
        let mut watchers = lock(&self.watchers);
        if let Some(sender) = watchers.get(&key) {
            for change in changes {
                // An error only means nobody listens any more.
                let _ = sender.send(change);
            }
            if sender.receiver_count() == 0 {
                watchers.remove(&key);
            }
        }
    }

    /// Holds the account's quota lock and checks that `bytes` and `messages` more fit.
    /// Accounts without a quota skip both, so their appends run in parallel.
    fn reserve<'a>(
        &self,
        account: &'a AccountState,
        bytes: u64,
        messages: u64,
    ) -> Result<Option<std::sync::MutexGuard<'a, ()>>> {
        let quota = lock(&account.record).quota;
        if quota == Quota::default() {
            return Ok(None);
        }
        let guard = lock(&account.quota_lock);
        let usage = account.usage()?;
        let over_bytes = quota.max_bytes.is_some_and(|max| usage.bytes + bytes > max);
        let over_count = quota
            .max_messages
            .is_some_and(|max| usage.messages + messages > max);
        if over_bytes || over_count {
            return Err(StoreError::OverQuota);
        }
        Ok(Some(guard))
    }

    fn save_routing(&self, routing: &mut Routing, new: Routing) -> Result<()> {
        write_atomic(&self.root.join("routing"), encode_routing(&new).as_bytes())?;
        *routing = new;
        Ok(())
    }

    fn create_account(&self, address: &str, credentials: Credentials, quota: Quota) -> Result<()> {
        let address = canonical_address(address);
        if address.is_empty() || address.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!("address {address:?}")));
        }
        let mut accounts = lock(&self.accounts);
        if accounts.contains_key(&address) {
            return Err(StoreError::AlreadyExists(format!("account {address}")));
        }

        // Built in a scratch directory and renamed into place: a crash leaves no account
        // or a whole one.
        let scratch = self.root.join("work").join(unique_name(None));
        let account = Account {
            address: address.clone(),
            credentials,
            quota,
        };
        AccountState::create(&scratch, &account)?;
        let dir = self.root.join("accounts").join(dir_name(&address));
        fs::rename(&scratch, &dir)?;
        sync_dir(&self.root.join("accounts"))?;

        let state = AccountState::open(&dir, self.options.compact_after)?;
        accounts.insert(address, Arc::new(state));
        Ok(())
    }

    fn delete_account(&self, address: &str) -> Result<()> {
        let address = canonical_address(address);
        let account = {
            let mut accounts = lock(&self.accounts);
            let account = accounts
                .get(&address)
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("account {address}")))?;

            // Moved into work/ in one rename, then removed at leisure; open empties work/.
            let doomed = self.root.join("work").join(unique_name(None));
            fs::rename(&account.dir, &doomed)?;
            sync_dir(&self.root.join("accounts"))?;
            accounts.remove(&address);
            account.deleted.store(true, Ordering::SeqCst);
            let _ = fs::remove_dir_all(&doomed);
            account
        };

        let names: Vec<String> = {
            let mailboxes = lock(&account.mailboxes);
            mailboxes.values().for_each(|handle| handle.retire());
            mailboxes.keys().cloned().collect()
        };
        for name in names {
            self.notify(&address, &name, [Change::Removed]);
        }

        let mut routing = lock(&self.routing);
        let mut new = routing.clone();
        new.aliases.retain(|_, target| *target != address);
        new.catch_alls.retain(|_, target| *target != address);
        self.save_routing(&mut routing, new)
    }

    /// Picks up changes another process (the `mail-server user` commands) made to an
    /// account's record on disk: a new account is adopted, an existing one's record reread.
    ///
    /// Only records are shared this way; two processes writing the same mailbox are not
    /// supported (there is no lock file yet), and an account deleted by another process
    /// stays visible here until this store is reopened.
    fn refresh_account(&self, address: &str) {
        let address = canonical_address(address);
        let dir = self.root.join("accounts").join(dir_name(&address));
        let existing = lock(&self.accounts).get(&address).cloned();
        match existing {
            Some(state) => {
                let text = fs::read_to_string(state.dir.join(account::RECORD));
                let record = text.ok().and_then(|t| codec::decode_account(&t).ok());
                if let Some(record) = record.filter(|r| r.address == address) {
                    *lock(&state.record) = record;
                }
            }
            None if dir.join(account::RECORD).exists() => {
                if let Ok(state) = AccountState::open(&dir, self.options.compact_after) {
                    let mut accounts = lock(&self.accounts);
                    accounts.entry(address).or_insert_with(|| Arc::new(state));
                }
            }
            None => {}
        }
    }

    fn resolve(&self, address: &str) -> Option<String> {
        let address = canonical_address(address);
        self.refresh_account(&address);
        if lock(&self.accounts).contains_key(&address) {
            return Some(address);
        }
        let routing = lock(&self.routing);
        if let Some(target) = routing.aliases.get(&address) {
            return Some(target.clone());
        }
        let (_, domain) = address.rsplit_once('@')?;
        routing.catch_alls.get(domain).cloned()
    }

    fn update_record(
        &self,
        address: &str,
        change: impl FnOnce(&mut Account) -> Result<()>,
    ) -> Result<()> {
        let account = self.account(address)?;
        let mut record = lock(&account.record);
        let mut new = record.clone();
        change(&mut new)?;
        account.save_record(&mut record, new)
    }

    fn add_alias(&self, alias: &str, target: &str) -> Result<()> {
        let (alias, target) = (canonical_address(alias), canonical_address(target));
        self.account(&target)?;
        if lock(&self.accounts).contains_key(&alias) {
            return Err(StoreError::AlreadyExists(format!("account {alias}")));
        }
        let mut routing = lock(&self.routing);
        if routing.aliases.contains_key(&alias) {
            return Err(StoreError::AlreadyExists(format!("alias {alias}")));
        }
        let mut new = routing.clone();
        new.aliases.insert(alias, target);
        self.save_routing(&mut routing, new)
    }

    fn remove_alias(&self, alias: &str) -> Result<()> {
        let alias = canonical_address(alias);
        let mut routing = lock(&self.routing);
        let mut new = routing.clone();
        if new.aliases.remove(&alias).is_none() {
            return Err(StoreError::NotFound(format!("alias {alias}")));
        }
        self.save_routing(&mut routing, new)
    }

    fn set_catch_all(&self, domain: &str, target: Option<&str>) -> Result<()> {
        let domain = canonical_address(domain);
        let target = target.map(canonical_address);
        if let Some(target) = &target {
            self.account(target)?;
        }
        let mut routing = lock(&self.routing);
        let mut new = routing.clone();
        match target {
            Some(target) => new.catch_alls.insert(domain, target),
            None => new.catch_alls.remove(&domain),
        };
        self.save_routing(&mut routing, new)
    }

    fn list_mailboxes(&self, address: &str) -> Result<Vec<MailboxEntry>> {
        let account = self.account(address)?;
        let handles: Vec<Arc<MailboxHandle>> = lock(&account.mailboxes).values().cloned().collect();
        let mut list = Vec::with_capacity(handles.len());
        for handle in handles {
            match handle.with(|m| Ok(m.header())) {
                Ok(header) => list.push(MailboxEntry {
                    name: handle.name.clone(),
                    special_use: header.special_use,
                    subscribed: header.subscribed,
                }),
                // Deleted meanwhile.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(list)
    }

    fn create_mailbox(
        &self,
        address: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        let account = self.account(address)?;
        let name = canonical_mailbox(name)?;
        let mut mailboxes = lock(&account.mailboxes);
        if mailboxes.contains_key(&name) {
            return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
        }
        let scratch = account.scratch();
        account.create_mailbox(
            &mut mailboxes,
            &name,
            special_use,
            &BTreeMap::new(),
            &scratch,
        )
    }

    fn delete_mailbox(&self, address: &str, name: &str) -> Result<()> {
        let account = self.account(address)?;
        let name = canonical_mailbox(name)?;
        if name == "INBOX" {
            return Err(StoreError::Conflict("INBOX cannot be deleted".into()));
        }
        account.delete_mailbox(&mut lock(&account.mailboxes), &name)?;
        self.notify(address, &name, [Change::Removed]);
        Ok(())
    }

    fn rename_mailbox(&self, address: &str, from: &str, to: &str) -> Result<()> {
        let account = self.account(address)?;
        let (from, to) = (canonical_mailbox(from)?, canonical_mailbox(to)?);
        let mut mailboxes = lock(&account.mailboxes);
        if !mailboxes.contains_key(&from) {
            return Err(StoreError::NotFound(format!("mailbox {from}")));
        }
        if to == from || to.starts_with(&format!("{from}/")) {
            return Err(StoreError::Conflict(format!("{to} is {from} or inside it")));
        }
        if mailboxes.contains_key(&to) {
            return Err(StoreError::AlreadyExists(format!("mailbox {to}")));
        }
        if from == "INBOX" {
            return self.rename_inbox(&account, &mut mailboxes, address, &to);
        }

        // Parents before children: renaming `c/d` to `c` moves `c/d` away before `c/d/d`
        // takes its place. A target may be taken only by a mailbox that moves.
        let prefix = format!("{from}/");
        let mut pairs: Vec<(String, String)> = mailboxes
            .keys()
            .filter(|name| **name == from || name.starts_with(&prefix))
            .map(|name| (name.clone(), format!("{to}{}", &name[from.len()..])))
            .collect();
        pairs.sort_by_key(|(old, _)| old.len());
        let moving = |name: &String| pairs.iter().any(|(old, _)| old == name);
        let taken = pairs
            .iter()
            .find(|(_, new)| mailboxes.contains_key(new) && !moving(new));
        if let Some((_, taken)) = taken {
            return Err(StoreError::AlreadyExists(format!("mailbox {taken}")));
        }
        account.rename_tree(&mut mailboxes, &pairs)?;
        drop(mailboxes);
        for (old, _) in &pairs {
            self.notify(address, old, [Change::Removed]);
        }
        Ok(())
    }

    /// Renaming INBOX moves its messages into a new mailbox and leaves INBOX empty (RFC
    /// 9051 section 6.3.6). The files are hard-linked into the new mailbox's scratch
    /// directory, which is indexed and renamed into place (the commit point); then the
    /// messages are expunged from INBOX. A crash between the two leaves the messages in
    /// both mailboxes, never in neither.
    fn rename_inbox(
        &self,
        account: &AccountState,
        mailboxes: &mut BTreeMap<String, Arc<MailboxHandle>>,
        address: &str,
        to: &str,
    ) -> Result<()> {
        let inbox = Arc::clone(mailboxes.get("INBOX").expect("INBOX always exists"));
        let scratch = account.scratch();
        fs::create_dir_all(scratch.join("cur"))?;
        let moved = inbox.with(|m| {
            let mut entries = BTreeMap::new();
            for (new_uid, (&uid, entry)) in (1..).zip(m.entries()) {
                let (path, base) = m.locate(uid).expect("iterating the index");
                let mut entry = Entry {
                    modseq: 1,
                    ..entry.clone()
                };
                entry.base = unique_name(Some(entry.size));
                link_or_copy(&path, &base, &scratch.join("cur").join(entry.file_name()))?;
                entries.insert(new_uid, entry);
            }
            account.create_mailbox(mailboxes, to, None, &entries, &scratch)?;
            let uids: Vec<u32> = m.entries().keys().copied().collect();
            m.remove_messages(&uids)
        })?;
        if !moved.is_empty() {
            self.notify(address, "INBOX", [Change::Expunged { uids: moved }]);
        }
        Ok(())
    }

    fn append(&self, address: &str, name: &str, message: NewMessage) -> Result<Appended> {
        let (account, handle) = self.mailbox(address, name)?;
        if message.data.is_empty() {
            return Err(StoreError::Invalid("empty message".into()));
        }
        let size = message.data.len() as u64;
        let _quota = self.reserve(&account, size, 1)?;

        // Steps 1 and 2 of the module documentation, before the mailbox lock.
        let base = unique_name(Some(size));
        let dir = handle.dir();
        let tmp = dir.join("tmp").join(&base);
        io::write_synced(&tmp, &message.data)?;
        fs::rename(&tmp, dir.join("new").join(&base))?;
        sync_dir(&dir.join("new"))?;

        // Steps 3 and 4.
        let incoming = Incoming {
            base,
            flags: message.flags,
            internal_date: message.internal_date,
            size,
        };
        let (uids, uid_validity) = handle.with(|m| {
            let uids = m.commit_appends(vec![incoming])?;
            Ok((uids, m.header().uid_validity))
        })?;
        let uid = uids[0];
        self.notify(address, &handle.name, [Change::Appended { uid }]);
        Ok(Appended { uid_validity, uid })
    }

    fn store_flags(
        &self,
        address: &str,
        name: &str,
        uids: &[u32],
        operation: FlagOperation,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored> {
        let (_, handle) = self.mailbox(address, name)?;
        let stored = handle.with(|m| m.store_flags(uids, operation, flags, unchanged_since))?;
        let changes = stored
            .updated
            .iter()
            .map(|(uid, flags, modseq)| Change::FlagsChanged {
                uid: *uid,
                flags: flags.clone(),
                modseq: *modseq,
            });
        self.notify(address, &handle.name, changes);
        Ok(stored)
    }

    fn expunge(&self, address: &str, name: &str, uids: Option<&[u32]>) -> Result<Vec<u32>> {
        let (_, handle) = self.mailbox(address, name)?;
        let removed = handle.with(|m| {
            let doomed = m.deleted_among(uids);
            m.remove_messages(&doomed)
        })?;
        if !removed.is_empty() {
            let change = Change::Expunged {
                uids: removed.clone(),
            };
            self.notify(address, &handle.name, [change]);
        }
        Ok(removed)
    }

    /// Copies by hard-linking the (immutable) files into the target's `new/`, fsyncing it,
    /// then indexing them there in one journal write: the append protocol without step 1.
    fn copy(&self, address: &str, from: &str, uids: &[u32], to: &str) -> Result<Copied> {
        self.copy_counted(address, from, uids, to, true)
    }

    /// [`Inner::copy`], checking the quota only when `counted` (a move within one account
    /// uses nothing more in the end).
    fn copy_counted(
        &self,
        address: &str,
        from: &str,
        uids: &[u32],
        to: &str,
        counted: bool,
    ) -> Result<Copied> {
        let (account, source) = self.mailbox(address, from)?;
        let target = account.mailbox(&canonical_mailbox(to)?)?;
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let picked = source.with(|m| {
            let picked = wanted.iter().filter_map(|&uid| {
                let (path, base) = m.locate(uid)?;
                Some((uid, m.entries()[&uid].clone(), path, base))
            });
            Ok(picked.collect::<Vec<_>>())
        })?;
        let bytes = picked.iter().map(|(_, e, _, _)| e.size).sum();
        let _quota = match counted {
            true => self.reserve(&account, bytes, picked.len() as u64)?,
            false => None,
        };

        let new_dir = target.dir().join("new");
        let mut incoming = Vec::with_capacity(picked.len());
        for (_, entry, path, base) in &picked {
            let name = unique_name(Some(entry.size));
            link_or_copy(path, base, &new_dir.join(&name))?;
            incoming.push(Incoming {
                base: name,
                flags: entry.flags.clone(),
                internal_date: entry.internal_date,
                size: entry.size,
            });
        }
        sync_dir(&new_dir)?;

        let (new_uids, uid_validity) = target.with(|m| {
            let uids = m.commit_appends(incoming)?;
            Ok((uids, m.header().uid_validity))
        })?;
        let changes = new_uids.iter().map(|&uid| Change::Appended { uid });
        self.notify(address, &target.name, changes);
        let mapping = picked.iter().map(|(uid, ..)| *uid).zip(new_uids).collect();
        Ok(Copied {
            uid_validity,
            mapping,
        })
    }

    fn move_messages(&self, address: &str, from: &str, uids: &[u32], to: &str) -> Result<Copied> {
        let copied = self.copy_counted(address, from, uids, to, false)?;
        let (_, source) = self.mailbox(address, from)?;
        let originals: Vec<u32> = copied.mapping.iter().map(|(uid, _)| *uid).collect();
        let removed = source.with(|m| m.remove_messages(&originals))?;
        if !removed.is_empty() {
            self.notify(address, &source.name, [Change::Expunged { uids: removed }]);
        }
        Ok(copied)
    }

    fn watch(&self, address: &str, name: &str) -> Result<ChangeReceiver> {
        let (_, handle) = self.mailbox(address, name)?;
        let key = (canonical_address(address), handle.name.clone());
        let mut watchers = lock(&self.watchers);
        let sender = watchers
            .entry(key)
            .or_insert_with(|| broadcast::channel(WATCH_CAPACITY).0);
        Ok(sender.subscribe())
    }
}

/// Gives `to` the content of the message file at `path` (found by `base` if it moved): a
/// hard link, since Maildir files never change, or a synced copy where links fail.
fn link_or_copy(path: &Path, base: &str, to: &Path) -> Result<()> {
    let link = fs::hard_link(path, to);
    if link.is_ok() {
        return Ok(());
    }
    let data = read_message_file(path, base, None)?;
    io::write_synced(to, &data)?;
    Ok(())
}

#[async_trait]
impl Store for FsStore {
    async fn create_account(
        &self,
        address: &str,
        credentials: Credentials,
        quota: Quota,
    ) -> Result<()> {
        let address = address.to_owned();
        self.blocking(move |inner| inner.create_account(&address, credentials, quota))
            .await
    }

    async fn delete_account(&self, address: &str) -> Result<()> {
        let address = address.to_owned();
        self.blocking(move |inner| inner.delete_account(&address))
            .await
    }

    async fn account(&self, address: &str) -> Result<Option<Account>> {
        // Served from memory, after rereading the small record file: the CLI may have
        // changed a password, TOTP or app passwords while this process runs.
        self.inner.refresh_account(address);
        match self.inner.account(address) {
            Ok(account) => Ok(Some(lock(&account.record).clone())),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn resolve(&self, address: &str) -> Result<Option<String>> {
        Ok(self.inner.resolve(address))
    }

    async fn list_accounts(&self) -> Result<Vec<String>> {
        Ok(lock(&self.inner.accounts).keys().cloned().collect())
    }

    async fn set_credentials(&self, address: &str, credentials: Credentials) -> Result<()> {
        let address = address.to_owned();
        self.blocking(move |inner| {
            inner.update_record(&address, |record| {
                record.credentials = credentials;
                Ok(())
            })
        })
        .await
    }

    async fn use_totp_step(&self, address: &str, step: u64) -> Result<()> {
        let address = address.to_owned();
        self.blocking(move |inner| {
            // The record's lock is held from the check to the durable write, so two
            // sessions racing with one code cannot both pass.
            inner.update_record(&address, |record| {
                let totp = record.credentials.totp.as_mut();
                let totp = totp.ok_or_else(|| StoreError::Invalid("no TOTP set up".into()))?;
                if totp.last_used_step.is_some_and(|last| last >= step) {
                    return Err(StoreError::Conflict(format!(
                        "TOTP step {step} already used"
                    )));
                }
                totp.last_used_step = Some(step);
                Ok(())
            })
        })
        .await
    }

    async fn add_alias(&self, alias: &str, account: &str) -> Result<()> {
        let (alias, account) = (alias.to_owned(), account.to_owned());
        self.blocking(move |inner| inner.add_alias(&alias, &account))
            .await
    }

    async fn remove_alias(&self, alias: &str) -> Result<()> {
        let alias = alias.to_owned();
        self.blocking(move |inner| inner.remove_alias(&alias)).await
    }

    async fn set_catch_all(&self, domain: &str, account: Option<&str>) -> Result<()> {
        let (domain, account) = (domain.to_owned(), account.map(str::to_owned));
        self.blocking(move |inner| inner.set_catch_all(&domain, account.as_deref()))
            .await
    }

    async fn set_quota(&self, address: &str, quota: Quota) -> Result<()> {
        let address = address.to_owned();
        self.blocking(move |inner| {
            inner.update_record(&address, |record| {
                record.quota = quota;
                Ok(())
            })
        })
        .await
    }

    async fn usage(&self, address: &str) -> Result<Usage> {
        let address = address.to_owned();
        self.blocking(move |inner| inner.account(&address)?.usage())
            .await
    }

    async fn list_mailboxes(&self, account: &str) -> Result<Vec<MailboxEntry>> {
        let account = account.to_owned();
        self.blocking(move |inner| inner.list_mailboxes(&account))
            .await
    }

    async fn create_mailbox(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        let (account, name) = (account.to_owned(), name.to_owned());
        self.blocking(move |inner| inner.create_mailbox(&account, &name, special_use))
            .await
    }

    async fn delete_mailbox(&self, account: &str, name: &str) -> Result<()> {
        let (account, name) = (account.to_owned(), name.to_owned());
        self.blocking(move |inner| inner.delete_mailbox(&account, &name))
            .await
    }

    async fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<()> {
        let (account, from, to) = (account.to_owned(), from.to_owned(), to.to_owned());
        self.blocking(move |inner| inner.rename_mailbox(&account, &from, &to))
            .await
    }

    async fn set_subscribed(&self, account: &str, name: &str, subscribed: bool) -> Result<()> {
        let (account, name) = (account.to_owned(), name.to_owned());
        self.blocking(move |inner| {
            let (_, handle) = inner.mailbox(&account, &name)?;
            handle.with(|m| m.set_subscribed(subscribed))
        })
        .await
    }

    async fn mailbox_status(&self, account: &str, mailbox: &str) -> Result<MailboxStatus> {
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        self.blocking(move |inner| {
            let (_, handle) = inner.mailbox(&account, &mailbox)?;
            handle.with(|m| Ok(m.status()))
        })
        .await
    }

    async fn append(&self, account: &str, mailbox: &str, message: NewMessage) -> Result<Appended> {
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        self.blocking(move |inner| inner.append(&account, &mailbox, message))
            .await
    }

    async fn messages(&self, account: &str, mailbox: &str) -> Result<Vec<MessageMeta>> {
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        self.blocking(move |inner| {
            let (_, handle) = inner.mailbox(&account, &mailbox)?;
            handle.with(|m| Ok(m.metas()))
        })
        .await
    }

    async fn read_message(
        &self,
        account: &str,
        mailbox: &str,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>> {
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        self.blocking(move |inner| {
            let (_, handle) = inner.mailbox(&account, &mailbox)?;
            let located = handle.with(|m| {
                let missing = || StoreError::NotFound(format!("message {uid}"));
                m.locate(uid).ok_or_else(missing)
            });

            // Read outside the mailbox lock: files never change, so other sessions on the
            // mailbox need not wait for this one's disk reads.
            let (path, base) = located?;
            read_message_file(&path, &base, range)
        })
        .await
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
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        let (uids, flags) = (uids.to_vec(), flags.clone());
        self.blocking(move |inner| {
            inner.store_flags(
                &account,
                &mailbox,
                &uids,
                operation,
                &flags,
                unchanged_since,
            )
        })
        .await
    }

    async fn expunge(
        &self,
        account: &str,
        mailbox: &str,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>> {
        let (account, mailbox) = (account.to_owned(), mailbox.to_owned());
        let uids = uids.map(<[u32]>::to_vec);
        self.blocking(move |inner| inner.expunge(&account, &mailbox, uids.as_deref()))
            .await
    }

    async fn copy(&self, account: &str, from: &str, uids: &[u32], to: &str) -> Result<Copied> {
        let (account, from, to) = (account.to_owned(), from.to_owned(), to.to_owned());
        let uids = uids.to_vec();
        self.blocking(move |inner| inner.copy(&account, &from, &uids, &to))
            .await
    }

    async fn move_messages(
        &self,
        account: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Copied> {
        let (account, from, to) = (account.to_owned(), from.to_owned(), to.to_owned());
        let uids = uids.to_vec();
        self.blocking(move |inner| inner.move_messages(&account, &from, &uids, &to))
            .await
    }

    async fn watch(&self, account: &str, mailbox: &str) -> Result<ChangeReceiver> {
        self.inner.watch(account, mailbox)
    }

    async fn enqueue(
        &self,
        sender: &str,
        recipients: &[String],
        message: &[u8],
        now: i64,
    ) -> Result<u64> {
        let (sender, recipients, message) =
            (sender.to_owned(), recipients.to_vec(), message.to_vec());
        self.blocking(move |inner| lock(&inner.queue).enqueue(&sender, &recipients, &message, now))
            .await
    }

    async fn queue(&self) -> Result<Vec<QueueEntry>> {
        Ok(lock(&self.inner.queue).entries())
    }

    async fn queued_message(&self, id: u64) -> Result<Vec<u8>> {
        self.blocking(move |inner| {
            let path = lock(&inner.queue).message_path(id)?;
            Ok(fs::read(path)?)
        })
        .await
    }

    async fn update_queue_entry(&self, entry: &QueueEntry) -> Result<()> {
        let entry = entry.clone();
        self.blocking(move |inner| lock(&inner.queue).update(&entry))
            .await
    }

    async fn dequeue(&self, id: u64) -> Result<()> {
        self.blocking(move |inner| lock(&inner.queue).dequeue(id))
            .await
    }
}
