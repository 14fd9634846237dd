//! Many tasks append and store flags on one mailbox through clones of one `FsStore`: no
//! update is lost, in memory or on disk. Prints the append rates it measures.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mail_auth::credentials::Credentials;
use mail_store::fs::FsStore;
use mail_store::{Flag, FlagOperation, Flags, NewMessage, Quota, Store};

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

fn message(text: String) -> NewMessage {
    NewMessage {
        flags: Flags::new(),
        internal_date: 0,
        data: text.into_bytes(),
    }
}

async fn store_with_alice(dir: &TempDir) -> FsStore {
    let store = FsStore::open(&dir.0).unwrap();
    let credentials = Credentials::new(ALICE);
    store
        .create_account(ALICE, credentials, Quota::default())
        .await
        .unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_and_flag_stores_lose_nothing() {
    const TASKS: u32 = 8;
    const EACH: u32 = 40;
    let dir = TempDir::new("concurrency");
    let store = store_with_alice(&dir).await;

    let appenders: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut uids = Vec::new();
                for n in 0..EACH {
                    let text = format!("task {task} message {n}\r\n");
                    uids.push(
                        store
                            .append(ALICE, "INBOX", message(text))
                            .await
                            .unwrap()
                            .uid,
                    );
                }
                uids
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for task in appenders {
        for uid in task.await.unwrap() {
            assert!(all.insert(uid), "UID {uid} handed out twice");
        }
    }
    assert_eq!(all.len(), (TASKS * EACH) as usize);

    // Each task adds its own keyword to every message, one message at a time, racing the
    // others: every keyword must end up on every message.
    let uids: Vec<u32> = all.iter().copied().collect();
    let storers: Vec<_> = (0..4)
        .map(|task| {
            let (store, uids) = (store.clone(), uids.clone());
            tokio::spawn(async move {
                let keyword: Flags = [Flag::Keyword(format!("$k{task}"))].into();
                for uid in uids {
                    let op = FlagOperation::Add;
                    store
                        .store_flags(ALICE, "INBOX", &[uid], op, &keyword, None)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in storers {
        task.await.unwrap();
    }

    // The same state in memory and after reopening; modification sequences all distinct.
    for store in [store.clone(), FsStore::open(&dir.0).unwrap()] {
        let metas = store.messages(ALICE, "INBOX").await.unwrap();
        assert_eq!(metas.iter().map(|m| m.uid).collect::<BTreeSet<_>>(), all);
        for meta in &metas {
            assert_eq!(meta.flags.len(), 4, "UID {}: {:?}", meta.uid, meta.flags);
        }
        let modseqs: BTreeSet<u64> = metas.iter().map(|m| m.modseq).collect();
        assert_eq!(modseqs.len(), metas.len());
        drop(store);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_and_concurrent_appends_all_land() {
    const SINGLE: u32 = 200;
    const TASKS: u32 = 8;
    const EACH: u32 = 50;
    let dir = TempDir::new("rates");
    let store = store_with_alice(&dir).await;
    let body = "x".repeat(2000);

    for n in 0..SINGLE {
        store
            .append(ALICE, "INBOX", message(format!("{n}{body}")))
            .await
            .unwrap();
    }

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, body) = (store.clone(), body.clone());
            tokio::spawn(async move {
                for n in 0..EACH {
                    let text = format!("{task} {n}{body}");
                    store.append(ALICE, "INBOX", message(text)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let status = store.mailbox_status(ALICE, "INBOX").await.unwrap();
    assert_eq!(status.messages, SINGLE + TASKS * EACH);
}
