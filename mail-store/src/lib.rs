//! The store behind Rampart's protocols: accounts, mailboxes, messages, flags, UIDs,
//! modification sequences, change notification, quotas and the outbound queue.
//!
//! Everything the SMTP, IMAP and POP3 hosts read and write goes through [`Store`], so an
//! application can run Rampart over its own storage, and a database backend can later let
//! several server nodes serve the same mailboxes. Two backends come with the crate:
//!
//! - `memory::MemoryStore`: complete and fast, for tests and for embedding;
//! - `fs::FsStore`: the durable default on the local filesystem, in Maildir layout.
//!
//! [`conformance`] is one test suite that every backend must pass.
//!
//! # Why an `async_trait`
//!
//! The server is tokio-based and a database backend is naturally asynchronous, so the
//! interface is async. Native `async fn` in traits cannot be used as a trait object
//! (`dyn Store`), which a server that picks its backend from its configuration needs; the
//! `async-trait` crate boxes each returned future, so `Arc<dyn Store>` works and generic
//! code works too. One allocation per store call is noise next to the I/O behind it.
//!
//! # Rules every backend keeps
//!
//! - INBOX exists in every account and its name is case-insensitive; other names are
//!   case-sensitive, with `/` as the hierarchy separator.
//! - UIDs in a mailbox are strictly ascending and never reused while its UIDVALIDITY stands
//!   (RFC 9051 section 2.3.1.1); UIDNEXT only grows.
//! - Every flag change gets the mailbox's next modification sequence (RFC 7162); the
//!   highest one only grows.
//! - A call that returns `Ok` after a write has made it durable (for backends that persist).

#![allow(clippy::too_many_arguments)]

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use mail_auth::credentials::{CredentialLookup, Credentials, LookupError, LookupFuture};

pub mod conformance;
pub mod fs;
pub mod memory;

/// What went wrong, in terms the protocol layers map to replies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The account, mailbox, message or queue entry does not exist (IMAP `[NONEXISTENT]`,
    /// `[TRYCREATE]` for an append target).
    #[error("{0} not found")]
    NotFound(String),
    /// The account, alias or mailbox exists already (IMAP `[ALREADYEXISTS]`).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The account's quota would be exceeded (IMAP `[OVERQUOTA]`, SMTP 552).
    #[error("over quota")]
    OverQuota,
    /// The request contradicts the store's state: renaming into one's own child, deleting
    /// INBOX, a TOTP step already used.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is invalid (a bad mailbox name, an empty message).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// An I/O error; the operation may be retried.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data does not parse; the store needs repair.
    #[error("corrupted data: {0}")]
    Corrupted(String),
}

/// The result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An account's limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Most octets of messages over all mailboxes.
    pub max_bytes: Option<u64>,
    /// Most messages over all mailboxes.
    pub max_messages: Option<u64>,
}

/// What an account uses against its quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Octets of messages over all mailboxes.
    pub bytes: u64,
    /// Messages over all mailboxes.
    pub messages: u64,
}

/// An account: its primary address, credentials and quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The primary address, the account's identity (stored lower-case).
    pub address: String,
    /// What the user authenticates with.
    pub credentials: Credentials,
    /// The limits.
    pub quota: Quota,
}

/// RFC 6154 special-use attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpecialUse {
    /// `\Sent`
    Sent,
    /// `\Drafts`
    Drafts,
    /// `\Trash`
    Trash,
    /// `\Junk`
    Junk,
    /// `\Archive`
    Archive,
}

impl SpecialUse {
    /// The mailboxes a new account gets, with their names.
    pub const DEFAULTS: [(&'static str, SpecialUse); 5] = [
        ("Sent", SpecialUse::Sent),
        ("Drafts", SpecialUse::Drafts),
        ("Trash", SpecialUse::Trash),
        ("Junk", SpecialUse::Junk),
        ("Archive", SpecialUse::Archive),
    ];

    /// The attribute as IMAP writes it.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Sent => "\\Sent",
            Self::Drafts => "\\Drafts",
            Self::Trash => "\\Trash",
            Self::Junk => "\\Junk",
            Self::Archive => "\\Archive",
        }
    }
}

/// A message flag: a system flag or a keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword (an IMAP atom such as `$Forwarded` or `$Junk`).
    Keyword(String),
}

impl Flag {
    /// Parses IMAP's spelling (`\Seen`, case-insensitive for system flags, or a keyword).
    pub fn parse(text: &str) -> Option<Self> {
        let system = [
            ("\\Seen", Self::Seen),
            ("\\Answered", Self::Answered),
            ("\\Flagged", Self::Flagged),
            ("\\Deleted", Self::Deleted),
            ("\\Draft", Self::Draft),
        ];
        if let Some((_, flag)) = system
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
        {
            return Some(flag.clone());
        }

        // RFC 9051 flag-keyword = atom; no backslash, no specials, no controls.
        let is_atom_char = |c: char| c.is_ascii_graphic() && !"(){%*\"\\]".contains(c);
        (!text.is_empty() && text.chars().all(is_atom_char)).then(|| Self::Keyword(text.to_owned()))
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Seen => "\\Seen",
            Self::Answered => "\\Answered",
            Self::Flagged => "\\Flagged",
            Self::Deleted => "\\Deleted",
            Self::Draft => "\\Draft",
            Self::Keyword(keyword) => keyword,
        })
    }
}

/// A set of flags.
pub type Flags = BTreeSet<Flag>;

/// A mailbox in an account's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The full name, `/`-separated; INBOX is always spelled `INBOX`.
    pub name: String,
    /// The special use, if any.
    pub special_use: Option<SpecialUse>,
    /// Whether the user subscribed to it.
    pub subscribed: bool,
}

/// The counters of one mailbox (IMAP SELECT and STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
    /// The highest modification sequence in the mailbox (RFC 7162).
    pub highest_modseq: u64,
    /// Messages in the mailbox.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Octets of all messages (IMAP STATUS SIZE).
    pub size: u64,
}

/// What the store keeps about one message, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// The UID.
    pub uid: u32,
    /// Its flags.
    pub flags: Flags,
    /// The internal date, in seconds since the Unix epoch.
    pub internal_date: i64,
    /// Size in octets.
    pub size: u64,
    /// The modification sequence of its last change.
    pub modseq: u64,
}

/// A message to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its initial flags.
    pub flags: Flags,
    /// The internal date, in seconds since the Unix epoch.
    pub internal_date: i64,
    /// The message, exactly as received.
    pub data: Vec<u8>,
}

/// Where an appended message went (for IMAP APPENDUID, RFC 4315).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The new message's UID.
    pub uid: u32,
}

/// How [`Store::store_flags`] changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOperation {
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
    /// Replace all flags with these.
    Replace,
}

/// What a flag change did (for IMAP STORE and CONDSTORE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// The messages whose flags changed, with their new flags and modification sequence.
    pub updated: Vec<(u32, Flags, u64)>,
    /// Messages left alone because they changed after `unchanged_since` (RFC 7162 MODIFIED).
    pub modified: Vec<u32>,
}

/// The UID mapping of a copy or move (for IMAP COPYUID, RFC 4315).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// The target mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// Pairs of (source UID, target UID), in source UID order.
    pub mapping: Vec<(u32, u32)>,
}

/// A change to a mailbox, told to every session that watches it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A message arrived.
    Appended {
        /// Its UID.
        uid: u32,
    },
    /// Messages were removed.
    Expunged {
        /// Their UIDs.
        uids: Vec<u32>,
    },
    /// A message's flags changed.
    FlagsChanged {
        /// Its UID.
        uid: u32,
        /// Its flags now.
        flags: Flags,
        /// The change's modification sequence.
        modseq: u64,
    },
    /// The mailbox was deleted or renamed away; watchers should treat it as gone.
    Removed,
}

/// A receiver of one mailbox's changes. Lagging receivers miss changes and learn of it
/// from `RecvError::Lagged`, after which they must reread the mailbox.
pub type ChangeReceiver = tokio::sync::broadcast::Receiver<Change>;

/// Where delivery to one recipient of a queued message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipientStatus {
    /// Not yet delivered; retry at the entry's next attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Failed for good, with the remote server's reply text.
    Failed(String),
    /// Failed for now, with the remote server's reply text.
    Deferred(String),
}

/// One message waiting for outbound delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// The entry's id, unique in the store.
    pub id: u64,
    /// The envelope sender (empty for the null reverse-path).
    pub sender: String,
    /// Each recipient with its status.
    pub recipients: Vec<(String, RecipientStatus)>,
    /// When the next attempt is due, in seconds since the Unix epoch.
    pub next_attempt: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued, in seconds since the Unix epoch.
    pub created: i64,
}

/// The storage interface of every protocol host. See the crate documentation for the rules
/// every implementation keeps; [`conformance`] checks them.
#[async_trait]
pub trait Store: Send + Sync {
    // Accounts.

    /// Creates an account with INBOX and the special-use mailboxes of
    /// [`SpecialUse::DEFAULTS`] (all subscribed).
    async fn create_account(
        &self,
        address: &str,
        credentials: Credentials,
        quota: Quota,
    ) -> Result<()>;

    /// Deletes an account with all its mailboxes and aliases.
    async fn delete_account(&self, address: &str) -> Result<()>;

    /// The account whose primary address is `address` (case-insensitive).
    async fn account(&self, address: &str) -> Result<Option<Account>>;

    /// The primary address of the account that receives mail for `address`: the account
    /// itself, an alias, or the catch-all of the address's domain, in that order.
    async fn resolve(&self, address: &str) -> Result<Option<String>>;

    /// Every account's primary address, sorted.
    async fn list_accounts(&self) -> Result<Vec<String>>;

    /// Replaces an account's credentials (a new password, app passwords, TOTP state).
    async fn set_credentials(&self, address: &str, credentials: Credentials) -> Result<()>;

    /// Records that a TOTP step was used, atomically: fails with [`StoreError::Conflict`] if
    /// that step or a later one was already recorded, so two sessions racing with one code
    /// cannot both log in.
    async fn use_totp_step(&self, address: &str, step: u64) -> Result<()>;

    /// Makes `alias` deliver to `account`.
    async fn add_alias(&self, alias: &str, account: &str) -> Result<()>;

    /// Removes an alias.
    async fn remove_alias(&self, alias: &str) -> Result<()>;

    /// Sets (or, with `None`, clears) the account that receives mail for unknown addresses
    /// of `domain`.
    async fn set_catch_all(&self, domain: &str, account: Option<&str>) -> Result<()>;

    /// Changes an account's quota.
    async fn set_quota(&self, address: &str, quota: Quota) -> Result<()>;

    /// What an account uses.
    async fn usage(&self, address: &str) -> Result<Usage>;

    // Mailboxes.

    /// The account's mailboxes, sorted by name.
    async fn list_mailboxes(&self, account: &str) -> Result<Vec<MailboxEntry>>;

    /// Creates a mailbox (its parents need not exist).
    async fn create_mailbox(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<()>;

    /// Deletes a mailbox and its messages (not its children). INBOX cannot be deleted.
    async fn delete_mailbox(&self, account: &str, name: &str) -> Result<()>;

    /// Renames a mailbox and all its children. Renaming INBOX moves its messages to the new
    /// name and leaves INBOX empty (RFC 9051 section 6.3.6).
    async fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<()>;

    /// Subscribes to, or unsubscribes from, a mailbox.
    async fn set_subscribed(&self, account: &str, name: &str, subscribed: bool) -> Result<()>;

    /// The mailbox's counters.
    async fn mailbox_status(&self, account: &str, mailbox: &str) -> Result<MailboxStatus>;

    // Messages.

    /// Appends a message; durable when it returns. Fails with [`StoreError::OverQuota`]
    /// when the account's quota would be exceeded.
    async fn append(&self, account: &str, mailbox: &str, message: NewMessage) -> Result<Appended>;

    /// The metadata of every message, in UID order, without reading any message content.
    async fn messages(&self, account: &str, mailbox: &str) -> Result<Vec<MessageMeta>>;

    /// A message's content, whole or the octets in `range` (clamped to the message).
    async fn read_message(
        &self,
        account: &str,
        mailbox: &str,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>>;

    /// Changes the flags of the messages with these UIDs (missing UIDs are skipped). With
    /// `unchanged_since`, messages whose modification sequence is higher are left alone and
    /// reported in [`FlagsStored::modified`] (RFC 7162 UNCHANGEDSINCE). A message whose flags
    /// end up unchanged keeps its modification sequence.
    async fn store_flags(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[u32],
        operation: FlagOperation,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored>;

    /// Removes the messages flagged `\Deleted` (only those among `uids`, when given) and
    /// returns their UIDs in ascending order.
    async fn expunge(&self, account: &str, mailbox: &str, uids: Option<&[u32]>)
    -> Result<Vec<u32>>;

    /// Copies messages, with their flags and internal dates, to another mailbox.
    async fn copy(&self, account: &str, from: &str, uids: &[u32], to: &str) -> Result<Copied>;

    /// Moves messages to another mailbox (RFC 6851): a copy, then an expunge of the
    /// originals, as one operation for the watchers.
    async fn move_messages(
        &self,
        account: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<Copied>;

    /// Watches a mailbox for changes made by anyone.
    async fn watch(&self, account: &str, mailbox: &str) -> Result<ChangeReceiver>;

    // The outbound queue.

    /// Queues a message for delivery; durable when it returns. Returns the entry's id.
    async fn enqueue(
        &self,
        sender: &str,
        recipients: &[String],
        message: &[u8],
        now: i64,
    ) -> Result<u64>;

    /// Every queue entry, in id order.
    async fn queue(&self) -> Result<Vec<QueueEntry>>;

    /// A queued message's content.
    async fn queued_message(&self, id: u64) -> Result<Vec<u8>>;

    /// Replaces a queue entry's status, attempts and next attempt.
    async fn update_queue_entry(&self, entry: &QueueEntry) -> Result<()>;

    /// Removes a queue entry and its message.
    async fn dequeue(&self, id: u64) -> Result<()>;
}

/// Every store answers the mechanisms' credential lookups (`mail_auth::sasl::Progress::Lookup`)
/// from its accounts, by primary address; aliases do not log in.
impl CredentialLookup for dyn Store {
    fn lookup<'a>(&'a self, authentication_id: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let account = self.account(authentication_id).await;
            let account = account.map_err(|error| LookupError(error.to_string()))?;
            Ok(account.map(|account| account.credentials))
        })
    }
}

macro_rules! credential_lookup_via_store {
    ($($backend:ty),*) => {$(
        impl CredentialLookup for $backend {
            fn lookup<'a>(&'a self, authentication_id: &'a str) -> LookupFuture<'a> {
                (self as &dyn Store).lookup(authentication_id)
            }
        }
    )*};
}
credential_lookup_via_store!(memory::MemoryStore, fs::FsStore);

/// Canonical form of a mailbox name: `INBOX` in any case becomes `INBOX` (with children:
/// `inbox/x` becomes `INBOX/x`); other names are kept. Refuses empty names, empty levels,
/// and names with control characters.
pub fn canonical_mailbox(name: &str) -> Result<String> {
    let invalid = || StoreError::Invalid(format!("mailbox name {name:?}"));
    if name.is_empty() || name.split('/').any(str::is_empty) || name.chars().any(char::is_control) {
        return Err(invalid());
    }

    let (first, rest) = match name.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (name, None),
    };
    if !first.eq_ignore_ascii_case("INBOX") {
        return Ok(name.to_owned());
    }
    Ok(match rest {
        Some(rest) => format!("INBOX/{rest}"),
        None => "INBOX".to_owned(),
    })
}

/// Canonical form of an address for lookups: the domain lower-cased, and the local part too
/// (mail systems treat local parts case-insensitively in practice, RFC 5321 section 2.4
/// notwithstanding, and two accounts differing only in case would be a trap).
pub fn canonical_address(address: &str) -> String {
    address.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_answer_credential_lookups() {
        let store = memory::MemoryStore::new();
        let credentials = Credentials::new("alice@example.org");
        store
            .create_account("alice@example.org", credentials, Quota::default())
            .await
            .unwrap();
        let found = store.lookup("Alice@Example.org").await.unwrap();
        assert_eq!(found.unwrap().authentication_id, "alice@example.org");
        assert_eq!(store.lookup("bob@example.org").await.unwrap(), None);
    }

    #[test]
    fn mailbox_names() {
        assert_eq!(canonical_mailbox("inbox").unwrap(), "INBOX");
        assert_eq!(canonical_mailbox("InBoX/Sub").unwrap(), "INBOX/Sub");
        assert_eq!(canonical_mailbox("Archive/2026").unwrap(), "Archive/2026");
        assert_eq!(canonical_mailbox("INBOXES").unwrap(), "INBOXES");
        for bad in ["", "/", "a//b", "a/", "/a", "a\nb"] {
            assert!(canonical_mailbox(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_parse() {
        assert_eq!(Flag::parse("\\seen"), Some(Flag::Seen));
        assert_eq!(
            Flag::parse("$Forwarded"),
            Some(Flag::Keyword("$Forwarded".into()))
        );
        assert_eq!(Flag::parse("\\Recent"), None);
        assert_eq!(Flag::parse("bad(keyword"), None);
        assert_eq!(Flag::parse(""), None);
        assert_eq!(Flag::Deleted.to_string(), "\\Deleted");
    }
}
