//! The conformance suite against `MemoryStore`, and what is particular to it.

use std::sync::Arc;

use mail_auth::credentials::Credentials;
use mail_store::memory::MemoryStore;
use mail_store::{Change, NewMessage, Quota, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    mail_store::conformance::run(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await
}

const ALICE: &str = "alice@example.org";

fn message(text: &str) -> NewMessage {
    NewMessage {
        flags: Default::default(),
        internal_date: 0,
        data: text.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn clones_share_one_store() {
    let store = MemoryStore::new();
    let clone = store.clone();
    store
        .create_account(ALICE, Credentials::new(ALICE), Quota::default())
        .await
        .unwrap();

    // A watcher on one handle sees what the other does, and both see the same messages.
    let mut watcher = clone.watch(ALICE, "INBOX").await.unwrap();
    let uid = store
        .append(ALICE, "INBOX", message("hi"))
        .await
        .unwrap()
        .uid;
    assert_eq!(watcher.try_recv().unwrap(), Change::Appended { uid });
    assert_eq!(
        clone.read_message(ALICE, "INBOX", uid, None).await.unwrap(),
        b"hi"
    );
}

#[tokio::test]
async fn separate_stores_share_nothing() {
    let (one, two) = (MemoryStore::new(), MemoryStore::default());
    one.create_account(ALICE, Credentials::new(ALICE), Quota::default())
        .await
        .unwrap();
    assert!(two.list_accounts().await.unwrap().is_empty());
    assert!(two.account(ALICE).await.unwrap().is_none());
}

#[tokio::test]
async fn uid_validity_differs_across_accounts_and_mailboxes() {
    // Store-wide counting: no two mailboxes of a store ever share a UIDVALIDITY.
    let store = MemoryStore::new();
    for address in [ALICE, "bob@example.org"] {
        let credentials = Credentials::new(address);
        store
            .create_account(address, credentials, Quota::default())
            .await
            .unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    for address in [ALICE, "bob@example.org"] {
        for entry in store.list_mailboxes(address).await.unwrap() {
            let status = store.mailbox_status(address, &entry.name).await.unwrap();
            assert!(seen.insert(status.uid_validity), "{address} {}", entry.name);
        }
    }
}
