//! Account records changed by another process (the `mail-server user` commands run while the
//! server is up) are seen by a store that is already open.

use mail_auth::credentials::Credentials;
use mail_store::fs::FsStore;
use mail_store::{Quota, Store};

#[tokio::test]
async fn another_process_can_add_accounts_and_change_credentials() {
    let dir = std::env::temp_dir().join(format!("fs-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = FsStore::open(&dir).unwrap();
    assert_eq!(server.account("alice@example.org").await.unwrap(), None);

    // A second store on the same directory stands for the CLI process.
    let cli = FsStore::open(&dir).unwrap();
    let credentials = Credentials::new("alice@example.org");
    cli.create_account("alice@example.org", credentials, Quota::default())
        .await
        .unwrap();
    assert_eq!(
        server
            .resolve("alice@example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("alice@example.org")
    );
    let seen = server
        .account("alice@example.org")
        .await
        .unwrap()
        .expect("adopted");
    assert!(seen.credentials.authorized_ids.is_empty());

    let mut changed = seen.credentials.clone();
    changed.authorized_ids.push("shared@example.org".into());
    cli.set_credentials("alice@example.org", changed)
        .await
        .unwrap();
    let seen = server.account("alice@example.org").await.unwrap().unwrap();
    assert_eq!(seen.credentials.authorized_ids, ["shared@example.org"]);

    // The adopted account's mailboxes work in the first store too.
    assert!(
        server
            .mailbox_status("alice@example.org", "INBOX")
            .await
            .is_ok()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
