//! What `FsStore::open` repairs and what it keeps: torn journal lines, leftovers in `tmp/`,
//! files delivered to `new/`, an interrupted rename, and every kind of account data.

use std::io::Write;
use std::path::{Path, PathBuf};

use mail_auth::credentials::Credentials;
use mail_store::fs::FsStore;
use mail_store::{NewMessage, Quota, SpecialUse, Store, StoreError};

const ALICE: &str = "alice@example.org";

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rampart-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn message(text: &str) -> NewMessage {
    NewMessage {
        flags: Default::default(),
        internal_date: 0,
        data: text.as_bytes().to_vec(),
    }
}

fn inbox(root: &Path) -> PathBuf {
    root.join("accounts/alice@example%2Eorg/Maildir")
}

async fn store_with_alice(root: &Path) -> FsStore {
    let store = FsStore::open(root).unwrap();
    let credentials = Credentials::new(ALICE);
    store
        .create_account(ALICE, credentials, Quota::default())
        .await
        .unwrap();
    store
}

async fn contents(store: &FsStore, mailbox: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for meta in store.messages(ALICE, mailbox).await.unwrap() {
        out.push(
            store
                .read_message(ALICE, mailbox, meta.uid, None)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn a_torn_journal_line_is_cut_off() {
    let dir = TempDir::new("torn");
    let store = store_with_alice(&dir.0).await;
    for text in ["one", "two", "three"] {
        store.append(ALICE, "INBOX", message(text)).await.unwrap();
    }
    drop(store);

    // A crash in the middle of writing the fourth record, then zeros the file system
    // allocated but never wrote.
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(inbox(&dir.0).join("rampart-journal"))
        .unwrap();
    journal.write_all(b"A\t4\t5\t0\t3\t\tpartial-na").unwrap();
    journal.write_all(&[0; 64]).unwrap();
    drop(journal);

    let store = FsStore::open(&dir.0).unwrap();
    assert_eq!(contents(&store, "INBOX").await.len(), 3);
    let uid = store
        .append(ALICE, "INBOX", message("four"))
        .await
        .unwrap()
        .uid;
    assert_eq!(uid, 4);
    drop(store);

    // The next record was not glued to the torn one.
    let store = FsStore::open(&dir.0).unwrap();
    let all = contents(&store, "INBOX").await;
    assert_eq!(all, [&b"one"[..], b"two", b"three", b"four"]);
}

#[tokio::test]
async fn damage_in_the_middle_is_reported() {
    let dir = TempDir::new("damaged");
    let store = store_with_alice(&dir.0).await;
    for text in ["one", "two"] {
        store.append(ALICE, "INBOX", message(text)).await.unwrap();
    }
    drop(store);

    let path = inbox(&dir.0).join("rampart-journal");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("A\t1\t", "A\t9\t", 1)).unwrap();
    let store = FsStore::open(&dir.0).unwrap();
    let result = store.messages(ALICE, "INBOX").await;
    assert!(
        matches!(result, Err(StoreError::Corrupted(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn leftovers_are_cleaned_and_deliveries_adopted() {
    let dir = TempDir::new("adopt");
    let store = store_with_alice(&dir.0).await;
    store
        .append(ALICE, "INBOX", message("indexed"))
        .await
        .unwrap();
    drop(store);

    // A half-written append of an earlier run in tmp/, and a message another program
    // delivered the Maildir way.
    let maildir = inbox(&dir.0);
    std::fs::write(maildir.join("tmp/1.M1P1R1Q1.rampart,S=4"), "half").unwrap();
    std::fs::write(maildir.join("new/1700000000.delivered.host"), "delivered").unwrap();

    let store = FsStore::open(&dir.0).unwrap();
    assert_eq!(
        contents(&store, "INBOX").await,
        [&b"indexed"[..], b"delivered"]
    );
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
    let uid = store
        .append(ALICE, "INBOX", message("next"))
        .await
        .unwrap()
        .uid;
    assert_eq!(uid, 3);
}

#[tokio::test]
async fn an_interrupted_rename_is_finished() {
    let dir = TempDir::new("rename");
    let store = store_with_alice(&dir.0).await;
    store.create_mailbox(ALICE, "a", None).await.unwrap();
    store.create_mailbox(ALICE, "a/b", None).await.unwrap();
    store.append(ALICE, "a/b", message("child")).await.unwrap();
    drop(store);

    // The crash came after the plan was written and the first folder moved.
    let account = dir.0.join("accounts/alice@example%2Eorg");
    std::fs::write(account.join("rename-pending"), ".a\t.z\n.a.b\t.z.b\nend\n").unwrap();
    std::fs::rename(account.join("Maildir/.a"), account.join("Maildir/.z")).unwrap();

    let store = FsStore::open(&dir.0).unwrap();
    let names: Vec<String> = store
        .list_mailboxes(ALICE)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.name)
        .collect();
    assert!(
        names.contains(&"z".into()) && names.contains(&"z/b".into()),
        "{names:?}"
    );
    assert!(!names.iter().any(|name| name.starts_with("a")), "{names:?}");
    assert_eq!(contents(&store, "z/b").await, [b"child"]);
    assert!(!account.join("rename-pending").exists());
}

#[tokio::test]
async fn names_stay_inside_the_root() {
    let dir = TempDir::new("names");
    let store = store_with_alice(&dir.0).await;
    for name in ["..", "../../escape", "a.b", "Ünïcode/sub", "%2E"] {
        store.create_mailbox(ALICE, name, None).await.unwrap();
        store.append(ALICE, name, message(name)).await.unwrap();
    }
    let evil = "../../evil@example.org";
    store
        .create_account(evil, Credentials::new(evil), Quota::default())
        .await
        .unwrap();
    drop(store);

    assert!(!dir.0.parent().unwrap().join("escape").exists());
    assert!(!dir.0.parent().unwrap().join("evil@example.org").exists());
    let store = FsStore::open(&dir.0).unwrap();
    for name in ["..", "../../escape", "a.b", "Ünïcode/sub", "%2E"] {
        assert_eq!(contents(&store, name).await, [name.as_bytes()], "{name}");
    }
    assert!(store.account(evil).await.unwrap().is_some());
}

#[tokio::test]
async fn account_data_survives_reopening() {
    let dir = TempDir::new("persist");
    let store = store_with_alice(&dir.0).await;
    let mut credentials = Credentials::new(ALICE);
    credentials.authorized_ids.push("shared@example.org".into());
    store
        .set_credentials(ALICE, credentials.clone())
        .await
        .unwrap();
    let quota = Quota {
        max_bytes: Some(1000),
        max_messages: None,
    };
    store.set_quota(ALICE, quota).await.unwrap();
    store
        .add_alias("postmaster@example.org", ALICE)
        .await
        .unwrap();
    store
        .set_catch_all("example.org", Some(ALICE))
        .await
        .unwrap();
    store
        .create_mailbox(ALICE, "Lists", Some(SpecialUse::Archive))
        .await
        .unwrap();
    store.set_subscribed(ALICE, "Lists", true).await.unwrap();
    store.set_subscribed(ALICE, "Junk", false).await.unwrap();
    let recipients = vec!["bob@example.net".to_owned()];
    let id = store
        .enqueue(ALICE, &recipients, b"queued", 5)
        .await
        .unwrap();
    let before = store.list_mailboxes(ALICE).await.unwrap();
    drop(store);

    let store = FsStore::open(&dir.0).unwrap();
    let account = store.account(ALICE).await.unwrap().unwrap();
    assert_eq!((account.credentials, account.quota), (credentials, quota));
    let resolve = |address: &'static str| store.resolve(address);
    assert_eq!(
        resolve("postmaster@example.org").await.unwrap().as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        resolve("nobody@example.org").await.unwrap().as_deref(),
        Some(ALICE)
    );
    assert_eq!(store.list_mailboxes(ALICE).await.unwrap(), before);
    let queue = store.queue().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(store.queued_message(id).await.unwrap(), b"queued");

    // Queue ids are not reused after the newest entry goes.
    store.dequeue(id).await.unwrap();
    drop(store);
    let store = FsStore::open(&dir.0).unwrap();
    let next = store
        .enqueue(ALICE, &recipients, b"again", 6)
        .await
        .unwrap();
    assert!(next > id);
}
