//! A whole POP3 session in memory against `MemoryStore`: the host builds the maildrop from
//! the store, serves RETR from it, and applies DELE at QUIT.

use std::time::Instant;

use mail_auth::credentials::Credentials;
use mail_store::memory::MemoryStore;
use mail_store::{Flag, FlagOperation, NewMessage, Quota, Store};
use pop3_proto::server::{Event, MessageInfo, ServerConfig, ServerSession};

const ALICE: &str = "alice@example.org";

#[tokio::test(flavor = "current_thread")]
async fn whole_session_against_memory_store() {
    let store = MemoryStore::new();
    store
        .create_account(ALICE, Credentials::new(ALICE), Quota::default())
        .await
        .unwrap();
    let mut uid_validity = 0;
    for text in [
        "Subject: 1\r\n\r\none\r\n",
        "Subject: 2\r\n\r\n.two\r\n",
        "Subject: 3\r\n\r\n",
    ] {
        let appended = store
            .append(
                ALICE,
                "INBOX",
                NewMessage {
                    flags: Default::default(),
                    internal_date: 0,
                    data: text.as_bytes().to_vec(),
                },
            )
            .await
            .unwrap();
        uid_validity = appended.uid_validity;
    }

    let now = Instant::now();
    let mut config = ServerConfig::new("pop.example.org");
    config.tls = true;
    let mut session = ServerSession::new(config, now);
    // The host's view of the maildrop: store UIDs in message-number order.
    let mut uids: Vec<u32> = Vec::new();
    let mut written = Vec::new();
    let input: &[u8] =
        b"USER alice@example.org\r\nPASS pw\r\nSTAT\r\nRETR 2\r\nDELE 1\r\nDELE 3\r\nQUIT\r\n";
    for chunk in [&b""[..], input] {
        session.handle_input(chunk, now);
        loop {
            let mut progressed = false;
            while let Some(event) = session.poll_event() {
                progressed = true;
                match event {
                    Event::Login { user, .. } => {
                        // A real host checks the password here.
                        let messages = store.messages(&user, "INBOX").await.unwrap();
                        uids = messages.iter().map(|m| m.uid).collect();
                        let maildrop = messages
                            .iter()
                            .map(|m| MessageInfo::new(m.size, format!("{uid_validity}.{}", m.uid)))
                            .collect();
                        session.login_ok(maildrop).unwrap();
                    }
                    Event::Retrieve { index, .. } => {
                        let uid = uids[index as usize - 1];
                        match store.read_message(ALICE, "INBOX", uid, None).await {
                            Ok(bytes) => session.retrieve(bytes).unwrap(),
                            Err(_) => session.retrieve_failed().unwrap(),
                        }
                    }
                    Event::Update { deleted_uids } => {
                        let doomed: Vec<u32> = deleted_uids
                            .iter()
                            .map(|id| id.rsplit('.').next().unwrap().parse().unwrap())
                            .collect();
                        let flags = [Flag::Deleted].into_iter().collect();
                        store
                            .store_flags(ALICE, "INBOX", &doomed, FlagOperation::Add, &flags, None)
                            .await
                            .unwrap();
                        let removed = store.expunge(ALICE, "INBOX", Some(&doomed)).await.unwrap();
                        assert_eq!(removed, doomed);
                        session.update_done().unwrap();
                    }
                    _ => {}
                }
            }
            while let Some(bytes) = session.poll_transmit() {
                progressed = true;
                written.extend_from_slice(&bytes);
            }
            if !progressed {
                break;
            }
        }
    }

    let written = String::from_utf8(written).unwrap();
    assert!(written.contains("+OK maildrop has 3 messages (53 octets)\r\n+OK 3 53\r\n"));
    assert!(written.contains("+OK 20 octets, message follows\r\nSubject: 2\r\n\r\n..two\r\n.\r\n"));
    assert!(written.ends_with("signing off (1 messages left)\r\n"));
    assert!(session.is_closed());
    let left = store.messages(ALICE, "INBOX").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].uid, uids[1]);
}
