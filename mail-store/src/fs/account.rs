//! One account's directory: its record, its Maildir++ folders, and the structural changes
//! (create, delete, rename) that must survive a crash half-way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::codec::{corrupted, dir_name, encode_account, from_dir_name, number};
use super::io::{
    clear_dir, ensure_dir, now_seconds, read_optional, remove_file_if_exists, sync_dir,
    unique_name, write_atomic, write_synced,
};
use super::mailbox::{Header, Mailbox, UIDLIST};
use crate::{Account, Result, SpecialUse, StoreError, Usage};

/// The account record's file name.
pub(super) const RECORD: &str = "account";

/// The file holding the next UIDVALIDITY to hand out.
const UID_VALIDITY: &str = "uidvalidity";

/// The redo log of a rename in progress.
const RENAME_PENDING: &str = "rename-pending";

/// Locks a mutex, taking over a poisoned one: every critical section here leaves memory
/// matching the disk at each step, or marks the mailbox for reopening.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The directory of a mailbox inside an account's `Maildir/`: INBOX is the Maildir itself,
/// `A/B` is the Maildir++ folder `.A.B`, each level escaped by [`dir_name`].
pub(super) fn mailbox_dir(maildir: &Path, name: &str) -> PathBuf {
    if name == "INBOX" {
        return maildir.to_owned();
    }
    let levels: Vec<String> = name.split('/').map(dir_name).collect();
    maildir.join(format!(".{}", levels.join(".")))
}

/// The mailbox name of a Maildir++ folder, or `None` for an entry that is not one.
fn mailbox_name(folder: &str) -> Option<String> {
    let levels = folder.strip_prefix('.')?;
    let names: Option<Vec<String>> = levels.split('.').map(from_dir_name).collect();
    let name = names?.join("/");
    let canonical = crate::canonical_mailbox(&name).ok()?;
    (canonical == name && name != "INBOX").then_some(name)
}

/// A mailbox that sessions can reach, opened on first use.
pub(super) struct MailboxHandle {
    /// The canonical name.
    pub(super) name: String,
    dir: PathBuf,
    compact_after: usize,
    slot: Mutex<Slot>,
}

struct Slot {
    mailbox: Option<Mailbox>,
    /// Deleted or renamed away: a session still holding the handle gets `NotFound`.
    gone: bool,
}

impl MailboxHandle {
    fn new(name: String, dir: PathBuf, compact_after: usize) -> Arc<Self> {
        let slot = Mutex::new(Slot {
            mailbox: None,
            gone: false,
        });
        Arc::new(Self {
            name,
            dir,
            compact_after,
            slot,
        })
    }

    /// The mailbox's directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` with the mailbox locked, opening it (again, after a failed write) first.
    /// This lock is what keeps concurrent sessions on one mailbox from losing updates.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Mailbox) -> Result<T>) -> Result<T> {
        let mut slot = lock(&self.slot);
        if slot.gone {
            return Err(StoreError::NotFound(format!("mailbox {}", self.name)));
        }
        if slot.mailbox.as_ref().is_none_or(|m| m.broken) {
            slot.mailbox = None;
            slot.mailbox = Some(Mailbox::open(&self.dir, self.compact_after)?);
        }
        f(slot.mailbox.as_mut().expect("opened just above"))
    }

    /// Marks the handle dead and closes the mailbox, before its directory moves.
    pub(super) fn retire(&self) {
        let mut slot = lock(&self.slot);
        slot.gone = true;
        slot.mailbox = None;
    }
}

/// An account in memory.
pub(super) struct AccountState {
    /// The account's directory.
    pub(super) dir: PathBuf,
    /// The record, kept in memory and rewritten whole on change.
    pub(super) record: Mutex<Account>,
    /// The mailboxes by canonical name. Held during structural changes, so that creates,
    /// deletes and renames of one account happen one at a time.
    pub(super) mailboxes: Mutex<BTreeMap<String, Arc<MailboxHandle>>>,
    /// Held across the quota check and the write it allows, for accounts with a quota.
    pub(super) quota_lock: Mutex<()>,
    /// Set when the account is deleted.
    pub(super) deleted: AtomicBool,
    compact_after: usize,
}

impl AccountState {
    /// Builds a new account in `dir` (a scratch directory the caller renames into place).
    pub(super) fn create(dir: &Path, account: &Account) -> Result<()> {
        ensure_dir(&dir.join("work"))?;
        write_synced(&dir.join(RECORD), encode_account(account).as_bytes())?;

        // UIDVALIDITY starts at the clock, so that an account deleted and created again
        // does not repeat its predecessor's values.
        let mut uid_validity = u32::try_from(now_seconds()).unwrap_or(u32::MAX).max(1);
        let maildir = dir.join("Maildir");
        let defaults = SpecialUse::DEFAULTS
            .iter()
            .map(|&(name, s)| (name, Some(s)));
        for (name, special_use) in std::iter::once(("INBOX", None)).chain(defaults) {
            let header = Header::new(uid_validity, special_use, true);
            Mailbox::create(&mailbox_dir(&maildir, name), header, &BTreeMap::new())?;
            uid_validity = uid_validity.wrapping_add(1).max(1);
        }
        write_synced(&dir.join(UID_VALIDITY), uid_validity.to_string().as_bytes())?;
        sync_dir(&maildir)?;
        Ok(sync_dir(dir)?)
    }

    /// Opens the account in `dir`, finishing a rename a crash interrupted.
    pub(super) fn open(dir: &Path, compact_after: usize) -> Result<Self> {
        let text = fs::read_to_string(dir.join(RECORD))?;
        let record = super::codec::decode_account(&text)?;
        ensure_dir(&dir.join("work"))?;
        clear_dir(&dir.join("work"))?;
        redo_rename(dir)?;

        let maildir = dir.join("Maildir");
        let mut mailboxes = BTreeMap::new();
        let inbox = MailboxHandle::new("INBOX".into(), maildir.clone(), compact_after);
        mailboxes.insert("INBOX".to_owned(), inbox);
        for dirent in fs::read_dir(&maildir)? {
            let dirent = dirent?;
            let folder = dirent.file_name();
            let Some(name) = folder.to_str().and_then(mailbox_name) else {
                continue;
            };
            if dirent.path().join(UIDLIST).exists() {
                let handle = MailboxHandle::new(name.clone(), dirent.path(), compact_after);
                mailboxes.insert(name, handle);
            }
        }

        Ok(Self {
            dir: dir.to_owned(),
            record: Mutex::new(record),
            mailboxes: Mutex::new(mailboxes),
            quota_lock: Mutex::new(()),
            deleted: AtomicBool::new(false),
            compact_after,
        })
    }

    /// The account's `Maildir/`.
    pub(super) fn maildir(&self) -> PathBuf {
        self.dir.join("Maildir")
    }

    /// A fresh scratch directory path on the account's filesystem.
    pub(super) fn scratch(&self) -> PathBuf {
        self.dir.join("work").join(unique_name(None))
    }

    /// The mailbox named `name` (canonical).
    pub(super) fn mailbox(&self, name: &str) -> Result<Arc<MailboxHandle>> {
        let mailboxes = lock(&self.mailboxes);
        let handle = mailboxes.get(name);
        handle
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))
    }

    /// Rewrites the record durably, then updates memory.
    pub(super) fn save_record(&self, record: &mut Account, new: Account) -> Result<()> {
        write_atomic(&self.dir.join(RECORD), encode_account(&new).as_bytes())?;
        *record = new;
        Ok(())
    }

    /// What the account uses, summed over its mailboxes (opening those not yet open).
    pub(super) fn usage(&self) -> Result<Usage> {
        let handles: Vec<Arc<MailboxHandle>> = lock(&self.mailboxes).values().cloned().collect();
        let mut usage = Usage::default();
        for handle in handles {
            let (bytes, messages) = match handle.with(|m| Ok((m.total_size(), m.entries().len()))) {
                Err(StoreError::NotFound(_)) => continue,
                other => other?,
            };
            usage.bytes += bytes;
            usage.messages += messages as u64;
        }
        Ok(usage)
    }

    /// Hands out the next UIDVALIDITY, durably, so that no two mailboxes of the account,
    /// and no mailbox and its recreation, ever share one. The caller holds `mailboxes`.
    pub(super) fn next_uid_validity(&self) -> Result<u32> {
        let path = self.dir.join(UID_VALIDITY);
        let stored: u32 = match read_optional(&path)? {
            Some(text) => number(text.trim())?,
            None => 1,
        };
        let clock = u32::try_from(now_seconds()).unwrap_or(u32::MAX);
        let value = stored.max(clock).max(1);
        write_atomic(&path, value.wrapping_add(1).max(1).to_string().as_bytes())?;
        Ok(value)
    }

    /// Creates an empty mailbox: laid out in a scratch directory, then renamed into place,
    /// so a crash leaves either no mailbox or a whole one. The caller holds `mailboxes`.
    pub(super) fn create_mailbox(
        &self,
        mailboxes: &mut BTreeMap<String, Arc<MailboxHandle>>,
        name: &str,
        special_use: Option<SpecialUse>,
        messages: &BTreeMap<u32, super::mailbox::Entry>,
        scratch: &Path,
    ) -> Result<()> {
        let mut header = Header::new(self.next_uid_validity()?, special_use, false);
        if let Some((&last, _)) = messages.last_key_value() {
            header.uid_next = last + 1;
            header.highest_modseq = messages.values().map(|e| e.modseq).max().unwrap_or(1);
        }
        Mailbox::create(scratch, header, messages)?;

        let dir = mailbox_dir(&self.maildir(), name);
        fs::rename(scratch, &dir)?;
        sync_dir(&self.maildir())?;
        let handle = MailboxHandle::new(name.to_owned(), dir, self.compact_after);
        mailboxes.insert(name.to_owned(), handle);
        Ok(())
    }

    /// Deletes a mailbox (not INBOX): its directory is renamed into `work/` (atomic, so a
    /// crash leaves it whole or gone) and removed from there; `work/` is emptied on open.
    pub(super) fn delete_mailbox(
        &self,
        mailboxes: &mut BTreeMap<String, Arc<MailboxHandle>>,
        name: &str,
    ) -> Result<()> {
        let handle = mailboxes
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
        handle.retire();

        let doomed = self.scratch();
        fs::rename(handle.dir(), &doomed)?;
        sync_dir(&self.maildir())?;
        mailboxes.remove(name);
        let _ = fs::remove_dir_all(&doomed);
        Ok(())
    }

    /// Renames mailboxes (a name and its children) by a redo log:
    ///
    /// 1. write the list of directory renames to `rename-pending`, durably;
    /// 2. rename each directory, then fsync `Maildir/`;
    /// 3. remove `rename-pending`.
    ///
    /// A crash after step 1 is finished on the next open by repeating step 2 for the
    /// directories not yet moved, so a hierarchy is never left half renamed.
    pub(super) fn rename_tree(
        &self,
        mailboxes: &mut BTreeMap<String, Arc<MailboxHandle>>,
        pairs: &[(String, String)],
    ) -> Result<()> {
        let maildir = self.maildir();
        let mut plan = String::new();
        for (from, to) in pairs {
            let from_dir = mailbox_dir(&maildir, from);
            let to_dir = mailbox_dir(&maildir, to);
            plan.push_str(&format!(
                "{}\t{}\n",
                file_name(&from_dir),
                file_name(&to_dir)
            ));
        }
        plan.push_str("end\n");
        write_atomic(&self.dir.join(RENAME_PENDING), plan.as_bytes())?;

        for (from, _) in pairs {
            if let Some(handle) = mailboxes.remove(from) {
                handle.retire();
            }
        }
        redo_rename(&self.dir)?;
        for (_, to) in pairs {
            let dir = mailbox_dir(&maildir, to);
            let handle = MailboxHandle::new(to.clone(), dir, self.compact_after);
            mailboxes.insert(to.clone(), handle);
        }
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    let name = path.file_name().expect("mailbox folders have names");
    name.to_string_lossy().into_owned()
}

/// Finishes the renames listed in `rename-pending`, if any: each folder not yet moved is
/// moved now (a folder already moved has no source left, so repeating is harmless).
fn redo_rename(account_dir: &Path) -> Result<()> {
    let path = account_dir.join(RENAME_PENDING);
    let Some(plan) = read_optional(&path)? else {
        return Ok(());
    };

    // The plan was written atomically, so a plan without its end line cannot occur; if it
    // does, the renames had not started and the plan is dropped.
    if plan.lines().last() == Some("end") {
        let maildir = account_dir.join("Maildir");
        for line in plan.lines().filter(|line| *line != "end") {
            let (from, to) = line
                .split_once('\t')
                .ok_or_else(|| corrupted("rename plan"))?;
            let (from, to) = (maildir.join(from), maildir.join(to));
            if from.exists() && !to.exists() {
                fs::rename(&from, &to)?;
            }
        }
        sync_dir(&maildir)?;
    }
    remove_file_if_exists(&path)?;
    sync_dir(account_dir)?;
    Ok(())
}
