//! A mailbox of 100,000 messages opens and lists from its index alone: the index is written
//! directly in the documented `rampart-uidlist` format, naming message files that do not
//! exist, so any attempt to read a message file while opening or listing would fail.

use std::fmt::Write as _;
use std::path::PathBuf;

use mail_auth::credentials::Credentials;
use mail_store::fs::{FsOptions, FsStore};
use mail_store::{Flag, FlagOperation, Flags, Quota, Store, StoreError};

const ALICE: &str = "alice@example.org";
const COUNT: u32 = 100_000;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The snapshot of an INBOX holding `COUNT` messages, every third one `\Seen`.
fn snapshot(uid_validity: u32) -> String {
    let mut text = String::with_capacity(COUNT as usize * 80);
    text.push_str("rampart-uidlist 1\n");
    let _ = write!(
        text,
        "uidvalidity\t{uid_validity}\nuidnext\t{}\nhighestmodseq\t{}\ngeneration\t1\n",
        COUNT + 1,
        COUNT + 1
    );
    let _ = write!(text, "subscribed\t1\nspecial-use\t-\nmessages\t{COUNT}\n");
    for uid in 1..=COUNT {
        let flags = if uid % 3 == 0 { "\\Seen" } else { "" };
        let base = format!("1700000000.M{uid}P1Q{uid}.absent,S=100");
        let _ = writeln!(
            text,
            "{uid}\t{}\t{}\t100\t{flags}\t{base}",
            uid + 1,
            1_700_000_000 + uid
        );
    }
    text.push_str("end\n");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_mailbox_lists_from_its_index() {
    let dir = TempDir(std::env::temp_dir().join(format!("rampart-large-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let uid_validity = {
        let store = FsStore::open(&dir.0).unwrap();
        let credentials = Credentials::new(ALICE);
        store
            .create_account(ALICE, credentials, Quota::default())
            .await
            .unwrap();
        store
            .mailbox_status(ALICE, "INBOX")
            .await
            .unwrap()
            .uid_validity
    };

    // INBOX is the account's Maildir itself; its journal starts empty for generation 1.
    let inbox = dir.0.join("accounts/alice@example%2Eorg/Maildir");
    std::fs::write(inbox.join("rampart-uidlist"), snapshot(uid_validity)).unwrap();

    let store = FsStore::open(&dir.0).unwrap();
    let metas = store.messages(ALICE, "INBOX").await.unwrap();
    assert_eq!(metas.len(), COUNT as usize);
    assert!(metas.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(metas[2].flags.contains(&Flag::Seen) && metas[3].flags.is_empty());
    let status = store.mailbox_status(ALICE, "INBOX").await.unwrap();
    assert_eq!((status.messages, status.unseen), (COUNT, COUNT - COUNT / 3));
    assert_eq!(status.size, u64::from(COUNT) * 100);

    // Reading a message is the first thing that touches its (missing) file.
    let missing = store.read_message(ALICE, "INBOX", 7, None).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // Flag changes go to the journal, and survive a reopen over the large snapshot.
    let flagged: Flags = [Flag::Flagged].into();
    let uids: Vec<u32> = (1..=COUNT).step_by(1000).collect();
    let op = FlagOperation::Add;
    let stored = store
        .store_flags(ALICE, "INBOX", &uids, op, &flagged, None)
        .await
        .unwrap();
    assert_eq!(stored.updated.len(), uids.len());
    drop(store);

    // The journal replays over the large snapshot.
    let store = FsStore::open(&dir.0).unwrap();
    let metas = store.messages(ALICE, "INBOX").await.unwrap();
    assert!(metas[1000].flags.contains(&Flag::Flagged));

    // A compaction rewrites the whole index (forced here by a tiny threshold: by default it
    // waits for a journal of half the mailbox's size).
    let mut options = FsOptions::default();
    options.compact_after = 0;
    drop(store);
    let store = FsStore::open_with(&dir.0, options).unwrap();
    let many: Vec<u32> = (1..=COUNT).step_by(2).collect();
    let big: Flags = [Flag::Keyword("$Big".into())].into();
    store
        .store_flags(ALICE, "INBOX", &many, op, &big, None)
        .await
        .unwrap();
    drop(store);

    let store = FsStore::open(&dir.0).unwrap();
    let metas = store.messages(ALICE, "INBOX").await.unwrap();
    assert_eq!(metas.len(), COUNT as usize);
    let big = Flag::Keyword("$Big".into());
    assert!(metas[2].flags.contains(&big) && !metas[1].flags.contains(&big));
    assert!(metas[1000].flags.contains(&Flag::Flagged));
    let journal = inbox.join("rampart-journal");
    let journal = std::fs::read_to_string(journal).unwrap();
    assert!(
        journal.len() < 100,
        "the journal was folded in: {}",
        &journal[..200]
    );
}
