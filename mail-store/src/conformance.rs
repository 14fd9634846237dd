//! One test suite for every backend: the rules of [`Store`] as executable checks.
//!
//! A backend's tests call [`run`] with a factory of fresh, empty stores; each check gets its
//! own store and panics, naming itself, at the first violation. Every check is also public,
//! so a backend can run one alone while it is being debugged:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use mail_store::Store;
//! use mail_store::memory::MemoryStore;
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn memory_store_conforms() {
//!     mail_store::conformance::run(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> })
//!         .await
//! }
//! ```
//!
//! The checks use the store only through `dyn Store`, and some spawn tokio tasks to race
//! each other, so [`run`] must be called on a multi-threaded tokio runtime for the
//! concurrency checks to mean anything.
//!
//! Change notifications may arrive asynchronously in a backend shared between processes,
//! so watchers poll with a deadline instead of expecting a change to be there at once.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::Secret;
use mail_auth::credentials::Credentials;
use mail_auth::totp::TotpState;
use tokio::sync::broadcast::error::TryRecvError;

use crate::{
    Change, ChangeReceiver, Flag, FlagOperation, Flags, FlagsStored, MessageMeta, NewMessage,
    QueueEntry, Quota, RecipientStatus, SpecialUse, Store, StoreError, Usage,
};

/// Fails the check unless `$result` is an error matching `$pattern`.
macro_rules! expect_err {
    ($result:expr, $pattern:pat, $what:expr) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "{}: expected Err({}), got {:?}",
                $what,
                stringify!($pattern),
                other
            ),
        }
    };
}

/// Runs every check, each against a fresh store from `factory`, and panics with the check's
/// name and the violation at the first failure.
pub async fn run<F, Fut>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {
            $( run_one(stringify!($check), $check(factory().await)).await; )*
        };
    }

    checks!(
        check_accounts,
        check_account_deletion,
        check_resolution,
        check_credentials,
        check_totp_steps,
        check_totp_race,
        check_quota_bytes,
        check_quota_messages,
        check_quota_copy_and_move,
        check_usage,
        check_default_mailboxes,
        check_inbox_case,
        check_create_and_delete_mailboxes,
        check_rename,
        check_rename_refusals,
        check_rename_inbox,
        check_subscriptions,
        check_append,
        check_uids_never_reused,
        check_uid_validity_of_recreated_mailbox,
        check_flags,
        check_unchanged_since,
        check_highest_modseq,
        check_expunge,
        check_copy,
        check_move,
        check_read_message,
        check_messages_metadata,
        check_watch,
        check_watch_move_and_remove,
        check_concurrent_appends,
        check_concurrent_flag_stores,
        check_queue,
        check_not_found,
    );
}

/// Runs one check in its own task, so that its panic can be caught and given its name.
async fn run_one(name: &str, check: impl Future<Output = ()> + Send + 'static) {
    let Err(error) = tokio::spawn(check).await else {
        return;
    };
    let message = match error.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(text) => *text,
            Err(payload) => match payload.downcast::<&str>() {
                Ok(text) => (*text).to_owned(),
                Err(_) => "(a panic without a message)".to_owned(),
            },
        },
        Err(error) => error.to_string(),
    };
    panic!("conformance check `{name}` failed: {message}");
}

// Fixtures.

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

/// An internal date that is not "now", so a backend that ignores it is caught.
const DATE: i64 = 1_000_000_000;

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

fn keyword(name: &str) -> Flag {
    Flag::Keyword(name.to_owned())
}

fn message(text: &str) -> NewMessage {
    NewMessage {
        flags: Flags::new(),
        internal_date: DATE,
        data: text.as_bytes().to_vec(),
    }
}

async fn create(store: &dyn Store, address: &str, quota: Quota) {
    let credentials = Credentials::new(address);
    let created = store.create_account(address, credentials, quota).await;
    created.unwrap_or_else(|e| panic!("create_account({address}): {e}"));
}

async fn alice(store: &dyn Store) {
    create(store, ALICE, Quota::default()).await;
}

async fn create_mailbox(store: &dyn Store, name: &str) {
    let created = store.create_mailbox(ALICE, name, None).await;
    created.unwrap_or_else(|e| panic!("create_mailbox({name}): {e}"));
}

async fn append(store: &dyn Store, mailbox: &str, text: &str) -> u32 {
    let appended = store.append(ALICE, mailbox, message(text)).await;
    appended
        .unwrap_or_else(|e| panic!("append to {mailbox}: {e}"))
        .uid
}

async fn append_flagged(store: &dyn Store, mailbox: &str, text: &str, list: &[Flag]) -> u32 {
    let mut new = message(text);
    new.flags = flags(list);
    let appended = store.append(ALICE, mailbox, new).await;
    appended
        .unwrap_or_else(|e| panic!("append to {mailbox}: {e}"))
        .uid
}

async fn metas(store: &dyn Store, mailbox: &str) -> Vec<MessageMeta> {
    let metas = store.messages(ALICE, mailbox).await;
    metas.unwrap_or_else(|e| panic!("messages({mailbox}): {e}"))
}

async fn uids(store: &dyn Store, mailbox: &str) -> Vec<u32> {
    metas(store, mailbox).await.iter().map(|m| m.uid).collect()
}

async fn meta(store: &dyn Store, mailbox: &str, uid: u32) -> MessageMeta {
    let all = metas(store, mailbox).await;
    let found = all.into_iter().find(|m| m.uid == uid);
    found.unwrap_or_else(|| panic!("message {uid} missing from {mailbox}"))
}

async fn read(store: &dyn Store, mailbox: &str, uid: u32) -> Vec<u8> {
    let data = store.read_message(ALICE, mailbox, uid, None).await;
    data.unwrap_or_else(|e| panic!("read_message({mailbox}, {uid}): {e}"))
}

async fn highest_modseq(store: &dyn Store, mailbox: &str) -> u64 {
    let status = store.mailbox_status(ALICE, mailbox).await;
    status.expect("mailbox_status").highest_modseq
}

async fn uid_next(store: &dyn Store, mailbox: &str) -> u32 {
    let status = store.mailbox_status(ALICE, mailbox).await;
    status.expect("mailbox_status").uid_next
}

async fn mailbox_names(store: &dyn Store) -> Vec<String> {
    let list = store.list_mailboxes(ALICE).await.expect("list_mailboxes");
    list.into_iter().map(|entry| entry.name).collect()
}

async fn store_flags(
    store: &dyn Store,
    mailbox: &str,
    uids: &[u32],
    operation: FlagOperation,
    list: &[Flag],
    unchanged_since: Option<u64>,
) -> FlagsStored {
    let list = flags(list);
    let stored = store.store_flags(ALICE, mailbox, uids, operation, &list, unchanged_since);
    stored
        .await
        .unwrap_or_else(|e| panic!("store_flags({mailbox}, {uids:?}): {e}"))
}

async fn set_flags(store: &dyn Store, mailbox: &str, uids: &[u32], list: &[Flag]) {
    store_flags(store, mailbox, uids, FlagOperation::Replace, list, None).await;
}

async fn usage(store: &dyn Store) -> Usage {
    store.usage(ALICE).await.expect("usage")
}

fn totp_credentials(address: &str) -> Credentials {
    let mut credentials = Credentials::new(address);
    credentials.totp = Some(TotpState::new(Secret::new(vec![7; 20])));
    credentials
}

/// The next change a watcher receives, waiting up to five seconds for it.
async fn next_change(receiver: &mut ChangeReceiver, what: &str) -> Change {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match receiver.try_recv() {
            Ok(change) => return change,
            Err(TryRecvError::Empty) if Instant::now() < deadline => pause().await,
            Err(error) => panic!("{what}: no change arrived ({error:?})"),
        }
    }
}

/// Waits a little without blocking the runtime. The crate's tokio has no timer, so a
/// blocking-pool thread sleeps instead.
async fn pause() {
    let sleep = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
    sleep.await.expect("the sleeping task does not panic");
}

/// Asserts that nothing more arrives within a short while.
async fn expect_quiet(receiver: &mut ChangeReceiver, what: &str) {
    for _ in 0..10 {
        pause().await;
    }
    let result = receiver.try_recv();
    assert!(
        matches!(result, Err(TryRecvError::Empty)),
        "{what}: unexpected {result:?}"
    );
}

// Accounts.

/// Accounts: creation, lookup in any case, lower-case storage, duplicates, listing, deletion.
pub async fn check_accounts(store: Arc<dyn Store>) {
    let store = &*store;
    let quota = Quota {
        max_bytes: Some(1000),
        max_messages: None,
    };
    create(store, "Alice@Example.ORG", quota).await;
    create(store, BOB, Quota::default()).await;

    let found = store.account("ALICE@example.org").await.expect("account");
    let found = found.expect("lookup is case-insensitive");
    assert_eq!(found.address, ALICE, "the address is stored lower-case");
    assert_eq!(found.quota, quota);
    assert_eq!(found.credentials, Credentials::new("Alice@Example.ORG"));
    assert_eq!(
        store.account("carol@example.org").await.expect("account"),
        None
    );

    let again = store.create_account(ALICE, Credentials::new(ALICE), Quota::default());
    expect_err!(again.await, StoreError::AlreadyExists(_), "same address");
    let again = store.create_account("BOB@example.org", Credentials::new(BOB), quota);
    expect_err!(
        again.await,
        StoreError::AlreadyExists(_),
        "address in another case"
    );

    let accounts = store.list_accounts().await.expect("list_accounts");
    assert_eq!(accounts, [ALICE, BOB], "accounts sorted");

    store
        .delete_account("ALICE@EXAMPLE.ORG")
        .await
        .expect("delete_account");
    assert_eq!(store.account(ALICE).await.expect("account"), None);
    assert_eq!(store.list_accounts().await.expect("list_accounts"), [BOB]);
    expect_err!(
        store.delete_account(ALICE).await,
        StoreError::NotFound(_),
        "deleting twice"
    );
}

/// Deleting an account removes its mailboxes, messages and aliases, and clears a catch-all
/// pointing at it; an account created again under the address starts empty.
pub async fn check_account_deletion(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    create_mailbox(store, "Work").await;
    append(store, "INBOX", "hello").await;
    store
        .add_alias("al@example.org", ALICE)
        .await
        .expect("add_alias");
    store
        .set_catch_all("example.org", Some(ALICE))
        .await
        .expect("catch-all");

    store.delete_account(ALICE).await.expect("delete_account");
    expect_err!(
        store.list_mailboxes(ALICE).await,
        StoreError::NotFound(_),
        "mailboxes of a deleted account"
    );
    assert_eq!(
        store.resolve("al@example.org").await.expect("resolve"),
        None
    );
    assert_eq!(store.resolve("x@example.org").await.expect("resolve"), None);

    alice(store).await;
    assert!(
        metas(store, "INBOX").await.is_empty(),
        "a new account's INBOX is empty"
    );
    assert!(!mailbox_names(store).await.contains(&"Work".to_owned()));
    assert_eq!(usage(store).await, Usage::default());
    store
        .add_alias("al@example.org", ALICE)
        .await
        .expect("the alias is free again");
}

/// Resolution order: the account itself, then an alias, then the domain's catch-all; with
/// the refusals of bad aliases and catch-alls.
pub async fn check_resolution(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    create(store, BOB, Quota::default()).await;
    let resolve = |address: &'static str| async move { store.resolve(address).await.unwrap() };

    store
        .add_alias("Postmaster@Example.org", BOB)
        .await
        .expect("add_alias");
    store
        .set_catch_all("EXAMPLE.org", Some(ALICE))
        .await
        .expect("catch-all");
    assert_eq!(resolve("ALICE@example.org").await.as_deref(), Some(ALICE));
    assert_eq!(
        resolve(BOB).await.as_deref(),
        Some(BOB),
        "account before catch-all"
    );
    assert_eq!(
        resolve("postmaster@EXAMPLE.ORG").await.as_deref(),
        Some(BOB),
        "alias, case-insensitive, before catch-all"
    );
    assert_eq!(resolve("anyone@example.org").await.as_deref(), Some(ALICE));
    assert_eq!(resolve("anyone@example.net").await, None, "other domain");
    assert_eq!(resolve("no-domain").await, None);

    store
        .remove_alias("POSTMASTER@example.org")
        .await
        .expect("remove_alias");
    assert_eq!(
        resolve("postmaster@example.org").await.as_deref(),
        Some(ALICE)
    );
    store
        .set_catch_all("example.org", None)
        .await
        .expect("clear catch-all");
    assert_eq!(resolve("postmaster@example.org").await, None);
    assert_eq!(resolve(ALICE).await.as_deref(), Some(ALICE));

    // Refusals.
    store
        .add_alias("info@example.org", ALICE)
        .await
        .expect("add_alias");
    let duplicate = store.add_alias("INFO@example.org", BOB).await;
    expect_err!(duplicate, StoreError::AlreadyExists(_), "duplicate alias");
    let shadow = store.add_alias(BOB, ALICE).await;
    expect_err!(
        shadow,
        StoreError::AlreadyExists(_),
        "alias named like an account"
    );
    let dangling = store.add_alias("x@example.org", "nobody@example.org").await;
    expect_err!(
        dangling,
        StoreError::NotFound(_),
        "alias to an unknown account"
    );
    let unknown = store.remove_alias("nothing@example.org").await;
    expect_err!(
        unknown,
        StoreError::NotFound(_),
        "removing an unknown alias"
    );
    let dangling = store
        .set_catch_all("example.org", Some("nobody@example.org"))
        .await;
    expect_err!(
        dangling,
        StoreError::NotFound(_),
        "catch-all to an unknown account"
    );
    assert_eq!(resolve("x@example.org").await, None);
}

/// `set_credentials` replaces the credentials, and `account` returns them unchanged.
pub async fn check_credentials(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;

    let mut credentials = totp_credentials(ALICE);
    credentials.authorized_ids.push("shared@example.org".into());
    if let Some(totp) = credentials.totp.as_mut() {
        totp.last_used_step = Some(42);
    }
    let set = store
        .set_credentials("Alice@example.org", credentials.clone())
        .await;
    set.expect("set_credentials");

    let account = store
        .account(ALICE)
        .await
        .expect("account")
        .expect("exists");
    assert_eq!(account.credentials, credentials, "credentials round trip");

    let plain = Credentials::new(ALICE);
    store
        .set_credentials(ALICE, plain.clone())
        .await
        .expect("set_credentials");
    let account = store
        .account(ALICE)
        .await
        .expect("account")
        .expect("exists");
    assert_eq!(
        account.credentials, plain,
        "credentials replaced, not merged"
    );
}

/// `use_totp_step` accepts only steps after the last one used, and records them.
pub async fn check_totp_steps(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let result = store.use_totp_step(ALICE, 10).await;
    assert!(
        matches!(
            result,
            Err(StoreError::Invalid(_) | StoreError::NotFound(_))
        ),
        "an account without TOTP: expected Invalid or NotFound, got {result:?}"
    );

    store
        .set_credentials(ALICE, totp_credentials(ALICE))
        .await
        .expect("set");
    store.use_totp_step(ALICE, 10).await.expect("first step");
    let replay = store.use_totp_step(ALICE, 10).await;
    expect_err!(replay, StoreError::Conflict(_), "the same step again");
    let older = store.use_totp_step("ALICE@example.org", 9).await;
    expect_err!(older, StoreError::Conflict(_), "an older step");
    store.use_totp_step(ALICE, 12).await.expect("a later step");

    let account = store
        .account(ALICE)
        .await
        .expect("account")
        .expect("exists");
    let totp = account.credentials.totp.expect("TOTP kept");
    assert_eq!(
        totp.last_used_step,
        Some(12),
        "the step is stored in the credentials"
    );
}

/// Two sessions racing with the same code: exactly one wins, every time.
pub async fn check_totp_race(store: Arc<dyn Store>) {
    alice(&*store).await;
    store
        .set_credentials(ALICE, totp_credentials(ALICE))
        .await
        .expect("set");

    for step in 100..140 {
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.use_totp_step(ALICE, step).await })
            })
            .collect();
        let mut wins = 0;
        for racer in racers {
            match racer.await.expect("racer") {
                Ok(()) => wins += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(error) => panic!("step {step}: unexpected {error}"),
            }
        }
        assert_eq!(wins, 1, "step {step}: exactly one racer wins");
    }
}

// Quotas.

/// A byte quota refuses an append that would exceed it and appends nothing; filling it
/// exactly is allowed.
pub async fn check_quota_bytes(store: Arc<dyn Store>) {
    let store = &*store;
    let quota = Quota {
        max_bytes: Some(100),
        max_messages: None,
    };
    create(store, ALICE, quota).await;

    store
        .append(ALICE, "INBOX", message(&"a".repeat(60)))
        .await
        .expect("60 of 100");
    let over = store.append(ALICE, "Sent", message(&"b".repeat(41))).await;
    expect_err!(over, StoreError::OverQuota, "101 of 100 octets");
    assert!(
        metas(store, "Sent").await.is_empty(),
        "nothing appended when over quota"
    );
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 60,
            messages: 1
        }
    );

    store
        .append(ALICE, "Sent", message(&"c".repeat(40)))
        .await
        .expect("exactly 100");
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 100,
            messages: 2
        }
    );

    // Raising the quota lets mail in again.
    let raised = Quota {
        max_bytes: Some(200),
        max_messages: None,
    };
    store.set_quota(ALICE, raised).await.expect("set_quota");
    store
        .append(ALICE, "INBOX", message("d"))
        .await
        .expect("under the raised quota");
}

/// A message-count quota works like the byte quota.
pub async fn check_quota_messages(store: Arc<dyn Store>) {
    let store = &*store;
    let quota = Quota {
        max_bytes: None,
        max_messages: Some(2),
    };
    create(store, ALICE, quota).await;

    append(store, "INBOX", "one").await;
    append(store, "Drafts", "two").await;
    let over = store.append(ALICE, "INBOX", message("three")).await;
    expect_err!(over, StoreError::OverQuota, "a third message of 2");
    assert_eq!(metas(store, "INBOX").await.len(), 1);

    // Expunging frees room.
    let uid = uids(store, "Drafts").await[0];
    set_flags(store, "Drafts", &[uid], &[Flag::Deleted]).await;
    store.expunge(ALICE, "Drafts", None).await.expect("expunge");
    append(store, "INBOX", "three").await;
}

/// A copy that would exceed the quota is refused and copies nothing; a move inside the
/// account changes no usage, so it works even at a full quota (a user at quota must still
/// be able to move mail to Trash).
pub async fn check_quota_copy_and_move(store: Arc<dyn Store>) {
    let store = &*store;
    let quota = Quota {
        max_bytes: Some(10),
        max_messages: None,
    };
    create(store, ALICE, quota).await;
    let first = append(store, "INBOX", "12345").await;
    let second = append(store, "INBOX", "67").await;

    let over = store
        .copy(ALICE, "INBOX", &[first, second], "Archive")
        .await;
    expect_err!(over, StoreError::OverQuota, "copy of 7 octets with 3 left");
    assert!(metas(store, "Archive").await.is_empty(), "nothing copied");
    assert_eq!(
        metas(store, "INBOX").await.len(),
        2,
        "the source is untouched"
    );

    store
        .copy(ALICE, "INBOX", &[second], "Archive")
        .await
        .expect("copy within quota");
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 9,
            messages: 3
        }
    );

    let moved = store.move_messages(ALICE, "INBOX", &[first], "Trash").await;
    moved.expect("a move at 9 of 10 octets, moving 5");
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 9,
            messages: 3
        }
    );
    let over = store
        .copy(ALICE, "Archive", &uids(store, "Archive").await, "Junk")
        .await;
    expect_err!(over, StoreError::OverQuota, "copy of 2 octets with 1 left");
}

/// Usage counts every mailbox, and falls with expunge and mailbox deletion.
pub async fn check_usage(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    assert_eq!(
        usage(store).await,
        Usage::default(),
        "a new account uses nothing"
    );

    create_mailbox(store, "Work").await;
    let one = append(store, "INBOX", "1234").await;
    append(store, "INBOX", "56").await;
    append(store, "Work", "789").await;
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 9,
            messages: 3
        }
    );

    set_flags(store, "INBOX", &[one], &[Flag::Deleted]).await;
    store.expunge(ALICE, "INBOX", None).await.expect("expunge");
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 5,
            messages: 2
        }
    );

    store.delete_mailbox(ALICE, "Work").await.expect("delete");
    assert_eq!(
        usage(store).await,
        Usage {
            bytes: 2,
            messages: 1
        }
    );
}

// Mailboxes.

/// A new account has INBOX and the special-use mailboxes, all subscribed, sorted by name.
pub async fn check_default_mailboxes(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let list = store.list_mailboxes(ALICE).await.expect("list_mailboxes");

    let mut expected: Vec<(&str, Option<SpecialUse>)> = vec![("INBOX", None)];
    expected.extend(
        SpecialUse::DEFAULTS
            .iter()
            .map(|&(name, use_)| (name, Some(use_))),
    );
    expected.sort();
    let found: Vec<(&str, Option<SpecialUse>)> = list
        .iter()
        .map(|entry| (entry.name.as_str(), entry.special_use))
        .collect();
    assert_eq!(found, expected, "default mailboxes, sorted by name");
    assert!(
        list.iter().all(|entry| entry.subscribed),
        "all subscribed: {list:?}"
    );

    for name in ["INBOX", "Sent", "Trash"] {
        let status = store.mailbox_status(ALICE, name).await.expect("status");
        assert_eq!(status.messages, 0, "{name} starts empty");
        assert_eq!(status.uid_next, 1, "{name} starts at UID 1");
        assert!(
            status.uid_validity != 0,
            "{name}: UIDVALIDITY 0 is not valid"
        );
    }
}

/// INBOX is found in any case and always listed as `INBOX`; other names are case-sensitive.
pub async fn check_inbox_case(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;

    let uid = append(store, "inbox", "hello").await;
    assert_eq!(uids(store, "InBoX").await, [uid]);
    assert_eq!(read(store, "INBOX", uid).await, b"hello");
    let again = store.create_mailbox(ALICE, "Inbox", None).await;
    expect_err!(
        again,
        StoreError::AlreadyExists(_),
        "creating INBOX in another case"
    );

    create_mailbox(store, "inbox/Sub").await;
    store
        .append(ALICE, "INBOX/Sub", message("x"))
        .await
        .expect("append to child");
    create_mailbox(store, "Work").await;
    create_mailbox(store, "work").await;
    let names = mailbox_names(store).await;
    for name in ["INBOX", "INBOX/Sub", "Work", "work"] {
        assert!(names.iter().any(|n| n == name), "{name} listed: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n == "inbox" || n == "inbox/Sub"),
        "{names:?}"
    );
}

/// Create (parents need not exist), list sorted, duplicates and bad names refused; delete
/// removes only that mailbox, never INBOX.
pub async fn check_create_and_delete_mailboxes(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;

    create_mailbox(store, "Projects/2026/Q1").await;
    create_mailbox(store, "Projects").await;
    let special = Some(SpecialUse::Archive);
    store
        .create_mailbox(ALICE, "Old", special)
        .await
        .expect("special-use");
    let names = mailbox_names(store).await;
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    let list = store.list_mailboxes(ALICE).await.expect("list");
    let old = list.iter().find(|e| e.name == "Old").expect("Old listed");
    assert_eq!(old.special_use, special);

    let again = store.create_mailbox(ALICE, "Projects", None).await;
    expect_err!(again, StoreError::AlreadyExists(_), "existing mailbox");
    for bad in ["", "a//b", "/a", "a/", "a\nb"] {
        let created = store.create_mailbox(ALICE, bad, None).await;
        expect_err!(created, StoreError::Invalid(_), format!("name {bad:?}"));
    }

    append(store, "Projects", "in the parent").await;
    store
        .delete_mailbox(ALICE, "Projects")
        .await
        .expect("delete");
    let names = mailbox_names(store).await;
    assert!(!names.iter().any(|n| n == "Projects"), "deleted: {names:?}");
    assert!(
        names.iter().any(|n| n == "Projects/2026/Q1"),
        "child stays: {names:?}"
    );
    expect_err!(
        store.messages(ALICE, "Projects").await,
        StoreError::NotFound(_),
        "messages of a deleted mailbox"
    );

    expect_err!(
        store.delete_mailbox(ALICE, "inbox").await,
        StoreError::Conflict(_),
        "deleting INBOX"
    );
    expect_err!(
        store.delete_mailbox(ALICE, "Projects").await,
        StoreError::NotFound(_),
        "deleting twice"
    );
}

/// Renaming moves the mailbox, its messages and all its children.
pub async fn check_rename(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    for name in ["a", "a/x", "a/x/y", "ab"] {
        create_mailbox(store, name).await;
    }
    append(store, "a", "parent").await;
    append(store, "a/x/y", "grandchild").await;

    store.rename_mailbox(ALICE, "a", "b").await.expect("rename");
    let names = mailbox_names(store).await;
    for gone in ["a", "a/x", "a/x/y"] {
        assert!(
            !names.iter().any(|n| n == gone),
            "{gone} moved away: {names:?}"
        );
    }
    for present in ["b", "b/x", "b/x/y", "ab"] {
        assert!(
            names.iter().any(|n| n == present),
            "{present} listed: {names:?}"
        );
    }
    let parent = uids(store, "b").await;
    assert_eq!(read(store, "b", parent[0]).await, b"parent");
    let grandchild = uids(store, "b/x/y").await;
    assert_eq!(read(store, "b/x/y", grandchild[0]).await, b"grandchild");

    // A rename to a name one level up, where a new name equals an old one moving away.
    create_mailbox(store, "c/d/d").await;
    create_mailbox(store, "c/d").await;
    store
        .rename_mailbox(ALICE, "c/d", "c")
        .await
        .expect("rename up a level");
    let names = mailbox_names(store).await;
    assert!(names.iter().any(|n| n == "c") && names.iter().any(|n| n == "c/d"));
    assert!(!names.iter().any(|n| n == "c/d/d"), "{names:?}");

    // The old name can be created again, as a new mailbox.
    create_mailbox(store, "a").await;
    assert!(metas(store, "a").await.is_empty());
}

/// Renaming refuses an unknown source, an existing target, and a move into oneself.
pub async fn check_rename_refusals(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    for name in ["a", "a/x", "b"] {
        create_mailbox(store, name).await;
    }

    let rename = |from: &'static str, to: &'static str| store.rename_mailbox(ALICE, from, to);
    expect_err!(
        rename("a", "b").await,
        StoreError::AlreadyExists(_),
        "existing target"
    );
    expect_err!(
        rename("a", "Sent").await,
        StoreError::AlreadyExists(_),
        "Sent exists"
    );
    expect_err!(
        rename("b", "inbox").await,
        StoreError::AlreadyExists(_),
        "onto INBOX"
    );
    expect_err!(
        rename("a", "a").await,
        StoreError::Conflict(_),
        "onto itself"
    );
    expect_err!(
        rename("a", "a/z").await,
        StoreError::Conflict(_),
        "into its child"
    );
    expect_err!(
        rename("zz", "q").await,
        StoreError::NotFound(_),
        "unknown source"
    );
    expect_err!(
        rename("a", "b//c").await,
        StoreError::Invalid(_),
        "bad target name"
    );

    let names = mailbox_names(store).await;
    for present in ["a", "a/x", "b"] {
        assert!(
            names.iter().any(|n| n == present),
            "refusals change nothing: {names:?}"
        );
    }
}

/// Renaming INBOX moves its messages to the new mailbox and leaves INBOX there, empty, with
/// its children in place and its UIDs not reused.
pub async fn check_rename_inbox(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    create_mailbox(store, "INBOX/Child").await;
    let first = append(store, "INBOX", "one").await;
    append(store, "INBOX", "two").await;
    let next_before = uid_next(store, "INBOX").await;

    store
        .rename_mailbox(ALICE, "inbox", "Old")
        .await
        .expect("rename INBOX");
    let names = mailbox_names(store).await;
    for present in ["INBOX", "INBOX/Child", "Old"] {
        assert!(
            names.iter().any(|n| n == present),
            "{present} listed: {names:?}"
        );
    }
    assert!(metas(store, "INBOX").await.is_empty(), "INBOX left empty");
    let old = metas(store, "Old").await;
    assert_eq!(old.len(), 2, "the messages moved");
    let contents = [
        read(store, "Old", old[0].uid).await,
        read(store, "Old", old[1].uid).await,
    ];
    assert_eq!(contents, [b"one".to_vec(), b"two".to_vec()]);

    assert!(
        uid_next(store, "INBOX").await >= next_before,
        "INBOX's UIDNEXT went back"
    );
    let after = append(store, "INBOX", "three").await;
    assert!(after > first + 1, "INBOX reused a UID: {after}");
}

/// Subscriptions change and show in the listing.
pub async fn check_subscriptions(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let subscribed = |name: &'static str| async move {
        let list = store.list_mailboxes(ALICE).await.expect("list");
        let entry = list.into_iter().find(|e| e.name == name).expect("listed");
        entry.subscribed
    };

    store
        .set_subscribed(ALICE, "Junk", false)
        .await
        .expect("unsubscribe");
    assert!(!subscribed("Junk").await);
    assert!(subscribed("Sent").await, "others keep theirs");
    store
        .set_subscribed(ALICE, "Junk", true)
        .await
        .expect("subscribe");
    assert!(subscribed("Junk").await);
    store
        .set_subscribed(ALICE, "inbox", false)
        .await
        .expect("INBOX in any case");
    assert!(!subscribed("INBOX").await);
}

// Messages and UIDs.

/// Appends get ascending UIDs from 1 and the mailbox's UIDVALIDITY; the counters follow.
pub async fn check_append(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let validity = store
        .mailbox_status(ALICE, "INBOX")
        .await
        .expect("status")
        .uid_validity;

    let mut appended = Vec::new();
    for (i, seen) in [false, true, false].into_iter().enumerate() {
        let mut new = message(&"x".repeat(i + 1));
        if seen {
            new.flags = flags(&[Flag::Seen]);
        }
        appended.push(store.append(ALICE, "INBOX", new).await.expect("append"));
    }
    let got: Vec<u32> = appended.iter().map(|a| a.uid).collect();
    assert_eq!(got, [1, 2, 3], "UIDs ascend from 1");
    assert!(
        appended.iter().all(|a| a.uid_validity == validity),
        "APPENDUID validity"
    );

    let status = store.mailbox_status(ALICE, "INBOX").await.expect("status");
    assert_eq!(status.uid_validity, validity, "UIDVALIDITY stands");
    assert_eq!(status.uid_next, 4);
    assert_eq!(status.messages, 3);
    assert_eq!(status.unseen, 2);
    assert_eq!(status.size, 1 + 2 + 3);

    let empty = store.append(ALICE, "INBOX", message("")).await;
    expect_err!(empty, StoreError::Invalid(_), "an empty message");
    assert_eq!(
        uid_next(store, "INBOX").await,
        4,
        "a refused append takes no UID"
    );
}

/// UIDNEXT never goes back after an expunge, and UIDs are never reused.
pub async fn check_uids_never_reused(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let mut seen = BTreeSet::new();
    for round in 0..3 {
        let a = append(store, "INBOX", "a").await;
        let b = append(store, "INBOX", "b").await;
        assert!(
            seen.insert(a) && seen.insert(b),
            "round {round}: a UID was reused"
        );

        // Expunge everything, including the highest UID.
        let next = uid_next(store, "INBOX").await;
        assert!(next > b, "UIDNEXT {next} after UID {b}");
        set_flags(store, "INBOX", &[a, b], &[Flag::Deleted]).await;
        store.expunge(ALICE, "INBOX", None).await.expect("expunge");
        assert_eq!(
            uid_next(store, "INBOX").await,
            next,
            "UIDNEXT after expunge"
        );
    }
    let last = append(store, "INBOX", "c").await;
    assert!(
        last > *seen.last().expect("appended"),
        "UIDs keep ascending"
    );
}

/// A mailbox deleted (or renamed away) and created again gets a new UIDVALIDITY.
pub async fn check_uid_validity_of_recreated_mailbox(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let validity = |name: &'static str| async move {
        store
            .mailbox_status(ALICE, name)
            .await
            .expect("status")
            .uid_validity
    };

    create_mailbox(store, "Box").await;
    append(store, "Box", "x").await;
    let first = validity("Box").await;
    store.delete_mailbox(ALICE, "Box").await.expect("delete");
    create_mailbox(store, "Box").await;
    let second = validity("Box").await;
    assert_ne!(first, second, "UIDVALIDITY of a recreated mailbox");
    assert_eq!(
        uid_next(store, "Box").await,
        1,
        "a new mailbox starts at UID 1"
    );

    store
        .rename_mailbox(ALICE, "Box", "Elsewhere")
        .await
        .expect("rename");
    create_mailbox(store, "Box").await;
    let third = validity("Box").await;
    assert!(
        third != first && third != second,
        "UIDVALIDITY after a rename away"
    );
}

// Flags and modification sequences.

/// Add, remove and replace; each change reported with its new modseq; unchanged flags keep
/// their modseq; missing UIDs skipped.
pub async fn check_flags(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let one = append_flagged(store, "INBOX", "one", &[Flag::Draft]).await;
    let two = append(store, "INBOX", "two").await;
    let change = |uids: Vec<u32>, operation, list: Vec<Flag>| async move {
        store_flags(store, "INBOX", &uids, operation, &list, None).await
    };

    // Add.
    let before = highest_modseq(store, "INBOX").await;
    let added = change(vec![two, one, 999], FlagOperation::Add, vec![Flag::Seen]).await;
    let updated: Vec<u32> = added.updated.iter().map(|(uid, _, _)| *uid).collect();
    assert_eq!(
        updated,
        [one, two],
        "updated in UID order, missing UID skipped"
    );
    assert_eq!(added.updated[0].1, flags(&[Flag::Draft, Flag::Seen]));
    assert_eq!(added.updated[1].1, flags(&[Flag::Seen]));
    assert!(added.modified.is_empty());
    for (uid, new_flags, modseq) in &added.updated {
        assert!(
            *modseq > before,
            "message {uid}: new modseq {modseq} after {before}"
        );
        let stored = meta(store, "INBOX", *uid).await;
        assert_eq!(
            (&stored.flags, stored.modseq),
            (new_flags, *modseq),
            "message {uid}"
        );
    }
    let highest = highest_modseq(store, "INBOX").await;
    let max = added.updated.iter().map(|(_, _, modseq)| *modseq).max();
    assert_eq!(Some(highest), max, "HIGHESTMODSEQ is the latest change");

    // Remove, and a no-op that changes nothing at all.
    let removed = change(vec![one], FlagOperation::Remove, vec![Flag::Draft]).await;
    assert_eq!(removed.updated.len(), 1);
    assert_eq!(removed.updated[0].1, flags(&[Flag::Seen]));
    let one_meta = meta(store, "INBOX", one).await;
    let highest = highest_modseq(store, "INBOX").await;
    let noop = change(vec![one], FlagOperation::Add, vec![Flag::Seen]).await;
    assert!(
        noop.updated.is_empty(),
        "no change, nothing updated: {noop:?}"
    );
    assert_eq!(
        meta(store, "INBOX", one).await,
        one_meta,
        "modseq kept when unchanged"
    );
    assert_eq!(highest_modseq(store, "INBOX").await, highest);

    // Replace, with a keyword.
    let list = vec![Flag::Flagged, keyword("$Forwarded")];
    let replaced = change(vec![one, two], FlagOperation::Replace, list.clone()).await;
    assert_eq!(replaced.updated.len(), 2);
    for uid in [one, two] {
        assert_eq!(
            meta(store, "INBOX", uid).await.flags,
            flags(&list),
            "message {uid}"
        );
    }
    let cleared = change(vec![two], FlagOperation::Replace, vec![]).await;
    assert_eq!(cleared.updated[0].1, Flags::new());
    let status = store.mailbox_status(ALICE, "INBOX").await.expect("status");
    assert_eq!(status.unseen, 2, "unseen follows the flags");
}

/// RFC 7162 UNCHANGEDSINCE: messages changed after it are left alone and reported.
pub async fn check_unchanged_since(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let one = append(store, "INBOX", "one").await;
    let two = append(store, "INBOX", "two").await;
    let since = highest_modseq(store, "INBOX").await;
    set_flags(store, "INBOX", &[two], &[Flag::Answered]).await;

    let (add, seen) = (FlagOperation::Add, &[Flag::Seen]);
    let stored = store_flags(store, "INBOX", &[one, two], add, seen, Some(since)).await;
    assert_eq!(stored.modified, [two], "changed after UNCHANGEDSINCE");
    assert_eq!(stored.updated.len(), 1);
    assert_eq!(stored.updated[0].0, one);
    assert_eq!(
        meta(store, "INBOX", two).await.flags,
        flags(&[Flag::Answered])
    );

    // Equal to the message's modseq is not "changed since".
    let current = meta(store, "INBOX", two).await.modseq;
    let stored = store_flags(store, "INBOX", &[two], add, seen, Some(current)).await;
    assert!(
        stored.modified.is_empty(),
        "UNCHANGEDSINCE equal to the modseq"
    );
    assert_eq!(stored.updated.len(), 1);

    // UNCHANGEDSINCE 0 fails for every message, since modseqs start at 1.
    let draft = &[Flag::Draft];
    let stored = store_flags(store, "INBOX", &[one, two], add, draft, Some(0)).await;
    assert_eq!(stored.modified, [one, two]);
    assert!(stored.updated.is_empty());
}

/// HIGHESTMODSEQ starts at 1 or more and grows with every append, flag change, expunge,
/// copy into and move out of the mailbox.
pub async fn check_highest_modseq(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let mut last = highest_modseq(store, "INBOX").await;
    assert!(last >= 1, "HIGHESTMODSEQ starts at 1 or more");
    let mut grew = async |what: &str, mailbox: &str| {
        let now = highest_modseq(store, mailbox).await;
        assert!(now > last, "{what}: HIGHESTMODSEQ {now} after {last}");
        last = now;
    };

    let one = append(store, "INBOX", "one").await;
    grew("append", "INBOX").await;
    let two = append(store, "INBOX", "two").await;
    grew("second append", "INBOX").await;
    set_flags(store, "INBOX", &[one], &[Flag::Deleted]).await;
    grew("flag change", "INBOX").await;
    store.expunge(ALICE, "INBOX", None).await.expect("expunge");
    grew("expunge", "INBOX").await;
    store
        .copy(ALICE, "INBOX", &[two], "INBOX")
        .await
        .expect("copy into itself");
    grew("copy into", "INBOX").await;
    store
        .move_messages(ALICE, "INBOX", &[two], "Archive")
        .await
        .expect("move");
    grew("move out", "INBOX").await;

    let archive = metas(store, "Archive").await;
    let max = archive.iter().map(|m| m.modseq).max().expect("moved");
    assert!(
        highest_modseq(store, "Archive").await >= max,
        "target's HIGHESTMODSEQ"
    );
}

/// Expunge removes `\Deleted` messages: all of them, or only those among the given UIDs.
pub async fn check_expunge(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let mut all = Vec::new();
    for i in 0..6 {
        all.push(append(store, "INBOX", &format!("message {i}")).await);
    }
    set_flags(
        store,
        "INBOX",
        &[all[1], all[2], all[4], all[5]],
        &[Flag::Deleted],
    )
    .await;

    let some = [all[5], all[0], all[2], 999];
    let expunged = store
        .expunge(ALICE, "INBOX", Some(&some))
        .await
        .expect("expunge");
    assert_eq!(
        expunged,
        [all[2], all[5]],
        "only \\Deleted among the UIDs, ascending"
    );
    assert_eq!(uids(store, "INBOX").await, [all[0], all[1], all[3], all[4]]);

    let expunged = store.expunge(ALICE, "INBOX", None).await.expect("expunge");
    assert_eq!(expunged, [all[1], all[4]], "every \\Deleted message");
    assert_eq!(uids(store, "INBOX").await, [all[0], all[3]]);
    let expunged = store.expunge(ALICE, "INBOX", None).await.expect("expunge");
    assert!(expunged.is_empty(), "nothing left to expunge");
    assert_eq!(
        read(store, "INBOX", all[3]).await,
        b"message 3",
        "survivors intact"
    );
}

// Copy and move.

/// Copy keeps flags and internal dates, maps source to new UIDs in source UID order, and
/// leaves the source alone.
pub async fn check_copy(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let one = append_flagged(store, "INBOX", "one", &[Flag::Seen, keyword("$Work")]).await;
    let two = append(store, "INBOX", "two").await;
    let three = append_flagged(store, "INBOX", "three", &[Flag::Flagged]).await;
    append(store, "Archive", "already there").await;
    let archive_next = uid_next(store, "Archive").await;

    let copied = store
        .copy(ALICE, "inbox", &[three, 404, one], "Archive")
        .await;
    let copied = copied.expect("copy");
    let validity = store
        .mailbox_status(ALICE, "Archive")
        .await
        .expect("status")
        .uid_validity;
    assert_eq!(
        copied.uid_validity, validity,
        "COPYUID's UIDVALIDITY is the target's"
    );
    let sources: Vec<u32> = copied.mapping.iter().map(|(from, _)| *from).collect();
    assert_eq!(
        sources,
        [one, three],
        "source UID order, missing UID skipped"
    );
    let targets: Vec<u32> = copied.mapping.iter().map(|(_, to)| *to).collect();
    assert!(
        targets[0] >= archive_next && targets[1] > targets[0],
        "new UIDs: {targets:?}"
    );

    for (from, to) in copied.mapping {
        let (source, target) = (
            meta(store, "INBOX", from).await,
            meta(store, "Archive", to).await,
        );
        assert_eq!(target.flags, source.flags, "flags of {from} kept");
        assert_eq!(target.internal_date, DATE, "internal date of {from} kept");
        assert_eq!(target.size, source.size);
        assert_eq!(
            read(store, "Archive", to).await,
            read(store, "INBOX", from).await
        );
    }
    assert_eq!(
        uids(store, "INBOX").await,
        [one, two, three],
        "the source is untouched"
    );

    let nothing = store
        .copy(ALICE, "INBOX", &[404], "Archive")
        .await
        .expect("copy nothing");
    assert!(nothing.mapping.is_empty());
}

/// Move is a copy and an expunge of the originals, with the same mapping.
pub async fn check_move(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let one = append_flagged(store, "INBOX", "one", &[Flag::Answered]).await;
    let two = append(store, "INBOX", "two").await;
    let three = append(store, "INBOX", "three").await;

    let moved = store
        .move_messages(ALICE, "INBOX", &[three, one], "Trash")
        .await;
    let moved = moved.expect("move");
    let validity = store
        .mailbox_status(ALICE, "Trash")
        .await
        .expect("status")
        .uid_validity;
    assert_eq!(moved.uid_validity, validity);
    let sources: Vec<u32> = moved.mapping.iter().map(|(from, _)| *from).collect();
    assert_eq!(sources, [one, three], "source UID order");

    assert_eq!(uids(store, "INBOX").await, [two], "the originals are gone");
    let trash = metas(store, "Trash").await;
    let targets: Vec<u32> = moved.mapping.iter().map(|(_, to)| *to).collect();
    assert_eq!(trash.iter().map(|m| m.uid).collect::<Vec<_>>(), targets);
    assert_eq!(trash[0].flags, flags(&[Flag::Answered]), "flags kept");
    assert!(
        trash.iter().all(|m| m.internal_date == DATE),
        "internal dates kept"
    );
    assert_eq!(read(store, "Trash", targets[1]).await, b"three");
    assert_eq!(
        usage(store).await.messages,
        3,
        "a move neither adds nor loses messages"
    );
}

// Reading.

/// Whole messages and ranges, clamped to the message; empty and out-of-range ranges.
pub async fn check_read_message(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let uid = append(store, "INBOX", "0123456789").await;
    let range = |start: u64, end: u64| async move {
        let data = store
            .read_message(ALICE, "INBOX", uid, Some(start..end))
            .await;
        data.expect("read_message")
    };

    assert_eq!(read(store, "INBOX", uid).await, b"0123456789");
    assert_eq!(range(0, 10).await, b"0123456789");
    assert_eq!(range(2, 5).await, b"234");
    assert_eq!(range(7, 100).await, b"789", "clamped at the end");
    assert_eq!(range(0, u64::MAX).await, b"0123456789");
    assert!(range(4, 4).await.is_empty(), "an empty range");
    assert!(range(10, 20).await.is_empty(), "starting at the end");
    assert!(range(50, 60).await.is_empty(), "starting past the end");
}

/// `messages` returns every message's metadata, in UID order.
pub async fn check_messages_metadata(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let mut expected = Vec::new();
    for (i, date) in [(0u32, 5i64), (1, -1), (2, 1_700_000_000)] {
        let mut new = message(&"m".repeat(10 + i as usize));
        new.internal_date = date;
        new.flags = flags(&[keyword(&format!("k{i}"))]);
        let uid = store
            .append(ALICE, "INBOX", new.clone())
            .await
            .expect("append")
            .uid;
        expected.push((uid, new));
    }

    let found = metas(store, "INBOX").await;
    assert_eq!(found.len(), 3);
    for (meta, (uid, new)) in found.iter().zip(&expected) {
        assert_eq!(meta.uid, *uid, "UID order");
        assert_eq!(meta.flags, new.flags);
        assert_eq!(meta.internal_date, new.internal_date);
        assert_eq!(meta.size, new.data.len() as u64);
        assert!(meta.modseq >= 1);
    }
    assert!(
        found.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "later appends, later modseqs"
    );
}

// Change notification.

/// A watcher sees appends, flag changes and expunges made by another task.
pub async fn check_watch(store: Arc<dyn Store>) {
    alice(&*store).await;
    let mut watcher = store.watch(ALICE, "inbox").await.expect("watch");
    let mut other = store
        .watch(ALICE, "Sent")
        .await
        .expect("watch another mailbox");

    let writer = store.clone();
    let (uid, modseq) = tokio::spawn(async move {
        let store = &*writer;
        let uid = append(store, "INBOX", "hello").await;
        set_flags(store, "INBOX", &[uid], &[Flag::Deleted]).await;
        let modseq = meta(store, "INBOX", uid).await.modseq;
        store.expunge(ALICE, "INBOX", None).await.expect("expunge");
        (uid, modseq)
    })
    .await
    .expect("writer");

    assert_eq!(
        next_change(&mut watcher, "append").await,
        Change::Appended { uid }
    );
    let flags_changed = Change::FlagsChanged {
        uid,
        flags: flags(&[Flag::Deleted]),
        modseq,
    };
    assert_eq!(next_change(&mut watcher, "flags").await, flags_changed);
    let expunged = Change::Expunged { uids: vec![uid] };
    assert_eq!(next_change(&mut watcher, "expunge").await, expunged);
    expect_quiet(&mut other, "a mailbox nobody changed").await;

    // A flag store that changes nothing tells nobody.
    let uid = append(&*store, "INBOX", "again").await;
    assert_eq!(
        next_change(&mut watcher, "append").await,
        Change::Appended { uid }
    );
    set_flags(&*store, "INBOX", &[uid], &[]).await;
    expect_quiet(&mut watcher, "a flag store without change").await;
}

/// A move tells the source Expunged and the target Appended; deleting or renaming a
/// mailbox tells its watchers Removed.
pub async fn check_watch_move_and_remove(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    create_mailbox(store, "Box").await;
    let uid = append(store, "INBOX", "moving").await;
    let mut source = store.watch(ALICE, "INBOX").await.expect("watch");
    let mut target = store.watch(ALICE, "Box").await.expect("watch");

    let moved = store
        .move_messages(ALICE, "INBOX", &[uid], "Box")
        .await
        .expect("move");
    let new_uid = moved.mapping[0].1;
    let expunged = Change::Expunged { uids: vec![uid] };
    assert_eq!(next_change(&mut source, "move source").await, expunged);
    let appended = Change::Appended { uid: new_uid };
    assert_eq!(next_change(&mut target, "move target").await, appended);

    store
        .rename_mailbox(ALICE, "Box", "Renamed")
        .await
        .expect("rename");
    assert_eq!(next_change(&mut target, "rename").await, Change::Removed);
    let mut renamed = store.watch(ALICE, "Renamed").await.expect("watch");
    store
        .delete_mailbox(ALICE, "Renamed")
        .await
        .expect("delete");
    assert_eq!(next_change(&mut renamed, "delete").await, Change::Removed);
}

// Concurrency.

/// 16 tasks append 25 messages each to one mailbox: all 400 arrive, with unique ascending
/// UIDs and the right content behind each.
pub async fn check_concurrent_appends(store: Arc<dyn Store>) {
    const TASKS: usize = 16;
    const EACH: usize = 25;
    alice(&*store).await;

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut appended = Vec::with_capacity(EACH);
                for i in 0..EACH {
                    let text = format!("task {task} message {i}");
                    appended.push((append(&*store, "INBOX", &text).await, text));
                }
                appended
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let appended = task.await.expect("appending task");
        let uids: Vec<u32> = appended.iter().map(|(uid, _)| *uid).collect();
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "one task's UIDs ascend: {uids:?}"
        );
        all.extend(appended);
    }

    let unique: BTreeSet<u32> = all.iter().map(|(uid, _)| *uid).collect();
    assert_eq!(unique.len(), TASKS * EACH, "every UID unique");
    let stored = uids(&*store, "INBOX").await;
    assert_eq!(
        stored,
        unique.iter().copied().collect::<Vec<_>>(),
        "all stored, in order"
    );
    for (uid, text) in &all {
        assert_eq!(
            read(&*store, "INBOX", *uid).await,
            text.as_bytes(),
            "content of {uid}"
        );
    }
    let status = store.mailbox_status(ALICE, "INBOX").await.expect("status");
    assert_eq!(status.messages as usize, TASKS * EACH);
    assert!(status.uid_next > *unique.last().expect("appended"));
    assert_eq!(usage(&*store).await.messages, (TASKS * EACH) as u64);
}

/// Many tasks storing flags at once: on different messages, and on the same message, no
/// change is lost.
pub async fn check_concurrent_flag_stores(store: Arc<dyn Store>) {
    const TASKS: usize = 16;
    alice(&*store).await;
    let mut all = Vec::new();
    for i in 0..TASKS * 4 {
        all.push(append(&*store, "INBOX", &format!("message {i}")).await);
    }
    let before = highest_modseq(&*store, "INBOX").await;
    let shared = all[0];

    // Task t flags every message whose index is t modulo TASKS, one call each, and adds its
    // own keyword to the shared first message.
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, all) = (store.clone(), all.clone());
            tokio::spawn(async move {
                let store = &*store;
                let add = FlagOperation::Add;
                let mine = [Flag::Seen, keyword(&format!("t{task}"))];
                for uid in all.iter().skip(task).step_by(TASKS).skip(1) {
                    store_flags(store, "INBOX", &[*uid], add, &mine, None).await;
                }
                let own = [keyword(&format!("s{task}"))];
                store_flags(store, "INBOX", &[shared], add, &own, None).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("flagging task");
    }

    let found = metas(&*store, "INBOX").await;
    for (index, meta) in found.iter().enumerate().skip(1) {
        let task = index % TASKS;
        let expected = if index < TASKS {
            Flags::new()
        } else {
            flags(&[Flag::Seen, keyword(&format!("t{task}"))])
        };
        assert_eq!(meta.flags, expected, "message {}", meta.uid);
    }
    let expected: Flags = (0..TASKS).map(|t| keyword(&format!("s{t}"))).collect();
    assert_eq!(
        found[0].flags, expected,
        "every task's keyword on the shared message"
    );

    let highest = highest_modseq(&*store, "INBOX").await;
    assert!(highest > before);
    assert!(
        found.iter().all(|m| m.modseq <= highest),
        "no modseq above the highest"
    );
}

// The outbound queue.

/// Enqueue, list in id order, read, update and dequeue.
pub async fn check_queue(store: Arc<dyn Store>) {
    let store = &*store;
    assert!(
        store.queue().await.expect("queue").is_empty(),
        "a new store's queue is empty"
    );

    let recipients = vec!["x@example.net".to_owned(), "y@example.com".to_owned()];
    let first = store
        .enqueue(ALICE, &recipients, b"first", 1000)
        .await
        .expect("enqueue");
    let second = store
        .enqueue("", &recipients[..1], b"second", 2000)
        .await
        .expect("enqueue");
    assert!(second > first, "ids increase");

    let queue = store.queue().await.expect("queue");
    let expected_first = QueueEntry {
        id: first,
        sender: ALICE.to_owned(),
        recipients: recipients
            .iter()
            .map(|r| (r.clone(), RecipientStatus::Pending))
            .collect(),
        next_attempt: 1000,
        attempts: 0,
        created: 1000,
    };
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0], expected_first, "a new entry is pending, due now");
    assert_eq!(
        (queue[1].id, queue[1].sender.as_str()),
        (second, ""),
        "null sender kept"
    );
    assert_eq!(store.queued_message(first).await.expect("read"), b"first");
    assert_eq!(store.queued_message(second).await.expect("read"), b"second");

    let mut updated = expected_first.clone();
    updated.recipients[0].1 = RecipientStatus::Delivered;
    updated.recipients[1].1 = RecipientStatus::Deferred("451 try later".into());
    updated.attempts = 1;
    updated.next_attempt = 1600;
    store.update_queue_entry(&updated).await.expect("update");
    assert_eq!(store.queue().await.expect("queue")[0], updated);

    store.dequeue(first).await.expect("dequeue");
    let ids: Vec<u64> = store
        .queue()
        .await
        .expect("queue")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [second]);
    expect_err!(
        store.queued_message(first).await,
        StoreError::NotFound(_),
        "dequeued"
    );
    let third = store
        .enqueue(BOB, &recipients, b"third", 3000)
        .await
        .expect("enqueue");
    assert!(third > second, "ids are not reused");
}

// Errors.

/// Every operation on an unknown account, mailbox, message or queue entry is NotFound.
pub async fn check_not_found(store: Arc<dyn Store>) {
    let store = &*store;
    alice(store).await;
    let nobody = "nobody@example.org";
    let none = Flags::new();
    let add = FlagOperation::Add;
    macro_rules! not_found {
        ($($call:expr),* $(,)?) => {
            $( expect_err!($call.await, StoreError::NotFound(_), stringify!($call)); )*
        };
    }

    // Unknown account.
    not_found!(
        store.delete_account(nobody),
        store.set_credentials(nobody, Credentials::new(nobody)),
        store.use_totp_step(nobody, 1),
        store.set_quota(nobody, Quota::default()),
        store.usage(nobody),
        store.list_mailboxes(nobody),
        store.create_mailbox(nobody, "Box", None),
        store.delete_mailbox(nobody, "Sent"),
        store.rename_mailbox(nobody, "Sent", "Box"),
        store.set_subscribed(nobody, "Sent", true),
        store.mailbox_status(nobody, "INBOX"),
        store.append(nobody, "INBOX", message("x")),
        store.messages(nobody, "INBOX"),
        store.read_message(nobody, "INBOX", 1, None),
        store.store_flags(nobody, "INBOX", &[1], add, &none, None),
        store.expunge(nobody, "INBOX", None),
        store.copy(nobody, "INBOX", &[1], "Sent"),
        store.move_messages(nobody, "INBOX", &[1], "Sent"),
        store.watch(nobody, "INBOX"),
        store.add_alias("alias@example.org", nobody),
        store.set_catch_all("example.org", Some(nobody)),
    );

    // Unknown mailbox, as source and as target.
    let uid = append(store, "INBOX", "x").await;
    not_found!(
        store.delete_mailbox(ALICE, "Nope"),
        store.rename_mailbox(ALICE, "Nope", "Box"),
        store.set_subscribed(ALICE, "Nope", true),
        store.mailbox_status(ALICE, "Nope"),
        store.append(ALICE, "Nope", message("x")),
        store.messages(ALICE, "Nope"),
        store.read_message(ALICE, "Nope", uid, None),
        store.store_flags(ALICE, "Nope", &[uid], add, &none, None),
        store.expunge(ALICE, "Nope", None),
        store.copy(ALICE, "Nope", &[uid], "Sent"),
        store.copy(ALICE, "INBOX", &[uid], "Nope"),
        store.move_messages(ALICE, "Nope", &[uid], "Sent"),
        store.move_messages(ALICE, "INBOX", &[uid], "Nope"),
        store.watch(ALICE, "Nope"),
        store.watch(ALICE, "sent"),
    );
    assert_eq!(
        uids(store, "INBOX").await,
        [uid],
        "a failed move keeps the message"
    );

    // Unknown message, alias and queue entry.
    let entry = QueueEntry {
        id: 12345,
        sender: String::new(),
        recipients: Vec::new(),
        next_attempt: 0,
        attempts: 0,
        created: 0,
    };
    not_found!(
        store.read_message(ALICE, "INBOX", uid + 1, None),
        store.read_message(ALICE, "INBOX", 0, Some(0..1)),
        store.remove_alias("alias@example.org"),
        store.queued_message(12345),
        store.update_queue_entry(&entry),
        store.dequeue(12345),
    );
}
