//! Whole IMAP sessions in memory: the session driven by a host that answers its requests
//! from `MemoryStore` through the `store` adapter, as the mail-server does over sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_proto::server::{Event, LoginFailure, ServerConfig, ServerSession};
use imap_proto::store::StoreHost;
use mail_auth::credentials::Credentials;
use mail_auth::sasl::{MechanismName, ServerStep};
use mail_store::memory::MemoryStore;
use mail_store::{NewMessage, Quota, Store};

const ALICE: &str = "alice@example.org";

const MESSAGE_1: &str = "From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.siam.edu.example\r\n\
Message-Id: <B27397-0100000@Blurdybloop.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const MESSAGE_2: &str = "From: Joe <joe@example.org>\r\nSubject: re: meeting\r\n\r\nYes.\r\n";

/// One client connection and its host.
struct Client {
    session: ServerSession,
    host: StoreHost,
    now: Instant,
}

impl Client {
    fn new(store: &Arc<MemoryStore>, config: ServerConfig) -> Self {
        let now = Instant::now();
        Self {
            session: ServerSession::new(config, now),
            host: StoreHost::new(store.clone() as Arc<dyn Store>),
            now,
        }
    }

    /// A client on an encrypted connection, logged in as alice.
    async fn logged_in(store: &Arc<MemoryStore>) -> Self {
        let mut config = ServerConfig::new("imap.example.org");
        config.tls = true;
        let mut client = Self::new(store, config);
        client.send("").await;
        let out = client.send("a0 LOGIN alice@example.org secret\r\n").await;
        assert!(out.contains("a0 OK [CAPABILITY "), "{out}");
        client
    }

    /// Feeds `input`, answers every event, and returns everything written.
    async fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes()).await
    }

    async fn send_bytes(&mut self, input: &[u8]) -> String {
        if !input.is_empty() {
            self.session.handle_input(input, self.now);
        }
        self.drive().await
    }

    /// Takes the changes other sessions made, as the host's select loop would.
    async fn changes(&mut self) -> String {
        loop {
            tokio::select! {
                biased;
                change = self.host.next_change() => self.session.mailbox_changed(change),
                _ = std::future::ready(()) => break,
            }
        }
        self.drive().await
    }

    async fn drive(&mut self) -> String {
        let mut written = Vec::new();
        loop {
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                match event {
                    Event::Login { username, password } => {
                        if password.expose() == b"secret" {
                            self.host.set_account(username.clone());
                            self.session.login_ok(username).unwrap();
                        } else {
                            self.session
                                .login_failed(LoginFailure::InvalidCredentials)
                                .unwrap();
                        }
                    }
                    Event::AuthStart { .. } | Event::AuthResponse(_) => {
                        self.host.set_account(ALICE);
                        self.session
                            .auth_step(ServerStep::Success {
                                authorization_id: ALICE.into(),
                                additional_data: None,
                            })
                            .unwrap();
                    }
                    Event::Request(request) => {
                        let answer = self.host.execute(request).await;
                        self.session.answer(answer).unwrap();
                    }
                    Event::Deselected => self.host.deselect(),
                    Event::StartTls => self.session.tls_established(self.now),
                    _ => {}
                }
            }
            while let Some(bytes) = self.session.poll_transmit() {
                progressed = true;
                written.extend_from_slice(&bytes);
            }
            if !progressed {
                break;
            }
        }
        String::from_utf8(written).expect("the test messages are UTF-8")
    }
}

async fn store_with_messages(messages: &[&str]) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .create_account(ALICE, Credentials::new(ALICE), Quota::default())
        .await
        .unwrap();
    for (i, message) in messages.iter().enumerate() {
        let message = NewMessage {
            flags: Default::default(),
            internal_date: 1_700_000_000 + i as i64,
            data: message.as_bytes().to_vec(),
        };
        store.append(ALICE, "INBOX", message).await.unwrap();
    }
    store
}

#[tokio::test(flavor = "current_thread")]
async fn greeting_and_capabilities_depend_on_tls() {
    let store = store_with_messages(&[]).await;
    let mut config = ServerConfig::new("imap.example.org");
    config.starttls = true;
    config.sasl_mechanisms = vec![MechanismName::new("PLAIN").unwrap()];
    let mut client = Client::new(&store, config);

    let greeting = client.send("").await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "),
        "{greeting}"
    );
    assert!(greeting.contains("STARTTLS"));
    assert!(greeting.contains("LOGINDISABLED"));
    assert!(
        !greeting.contains("AUTH=PLAIN"),
        "no mechanism before TLS: {greeting}"
    );

    // LOGIN in plaintext is refused without asking the host.
    let out = client.send("a1 LOGIN alice@example.org secret\r\n").await;
    assert_eq!(out, "a1 NO [PRIVACYREQUIRED] LOGIN needs TLS first\r\n");

    let out = client.send("a2 STARTTLS\r\n").await;
    assert_eq!(out, "a2 OK Begin TLS negotiation now\r\n");
    let out = client.send("a3 CAPABILITY\r\n").await;
    assert!(out.contains("AUTH=PLAIN"), "{out}");
    assert!(
        !out.contains("STARTTLS") && !out.contains("LOGINDISABLED"),
        "{out}"
    );
    assert!(out.ends_with("a3 OK CAPABILITY completed\r\n"));

    let out = client
        .send("a4 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n")
        .await;
    assert!(out.starts_with("a4 OK [CAPABILITY "), "{out}");
    assert!(out.contains("IDLE") && out.contains("MOVE") && out.contains("CONDSTORE"));
}

#[tokio::test(flavor = "current_thread")]
async fn commands_pipelined_behind_starttls_end_the_session() {
    let store = store_with_messages(&[]).await;
    let mut config = ServerConfig::new("imap.example.org");
    config.starttls = true;
    let mut client = Client::new(&store, config);
    client.send("").await;

    let out = client
        .send("a1 STARTTLS\r\na2 LOGIN alice@example.org secret\r\n")
        .await;
    assert!(out.starts_with("a1 OK"), "{out}");
    assert!(
        out.contains("* BYE Data received during TLS negotiation"),
        "{out}"
    );
    assert!(client.session.is_closed());
}

#[tokio::test(flavor = "current_thread")]
async fn select_fetch_store_expunge_like_rfc_9051_section_8() {
    let store = store_with_messages(&[MESSAGE_1, MESSAGE_2]).await;
    let mut client = Client::logged_in(&store).await;

    let out = client.send("a1 SELECT INBOX\r\n").await;
    assert!(
        out.starts_with("* 2 EXISTS\r\n* 0 RECENT\r\n* FLAGS ("),
        "{out}"
    );
    assert!(
        out.contains("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]")
    );
    assert!(out.contains("* OK [UIDVALIDITY "));
    assert!(out.contains("* OK [UIDNEXT 3] "));
    assert!(out.contains("* OK [UNSEEN 1] "));
    assert!(
        out.ends_with("a1 OK [READ-WRITE] SELECT completed\r\n"),
        "{out}"
    );

    let out = client
        .send("a2 FETCH 1 (FLAGS RFC822.SIZE ENVELOPE)\r\n")
        .await;
    let size = MESSAGE_1.len();
    assert!(
        out.starts_with(&format!(
            "* 1 FETCH (FLAGS () RFC822.SIZE {size} ENVELOPE ("
        )),
        "{out}"
    );
    assert!(out.contains("\"afternoon meeting\""), "{out}");
    assert!(
        out.contains("((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\"))"),
        "{out}"
    );
    assert!(out.ends_with("a2 OK FETCH completed\r\n"));

    // BODY.PEEK leaves \Seen alone; BODY[] sets it and reports the new flags.
    let out = client.send("a3 FETCH 2 BODY.PEEK[TEXT]\r\n").await;
    assert_eq!(
        out,
        "* 2 FETCH (BODY[TEXT] {6}\r\nYes.\r\n)\r\na3 OK FETCH completed\r\n"
    );
    let out = client
        .send("a4 FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]\r\n")
        .await;
    assert_eq!(
        out,
        "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: re: meeting\r\n\r\n \
         FLAGS (\\Seen))\r\na4 OK FETCH completed\r\n"
    );
    let out = client.send("a5 FETCH 2 BODY[]<0.5>\r\n").await;
    assert_eq!(
        out,
        "* 2 FETCH (BODY[]<0> {5}\r\nFrom:)\r\na5 OK FETCH completed\r\n"
    );

    let out = client.send("a6 STORE 1 +FLAGS (\\Deleted)\r\n").await;
    assert_eq!(
        out,
        "* 1 FETCH (FLAGS (\\Deleted))\r\na6 OK STORE completed\r\n"
    );
    let out = client.send("a7 EXPUNGE\r\n").await;
    assert_eq!(out, "* 1 EXPUNGE\r\na7 OK EXPUNGE completed\r\n");
    let out = client.send("a8 UID FETCH 1:* (UID FLAGS)\r\n").await;
    assert_eq!(
        out,
        "* 1 FETCH (UID 2 FLAGS (\\Seen))\r\na8 OK FETCH completed\r\n"
    );

    let out = client.send("a9 LOGOUT\r\n").await;
    assert_eq!(out, "* BYE Logging out\r\na9 OK LOGOUT completed\r\n");
    assert!(client.session.is_closed());
}

#[tokio::test(flavor = "current_thread")]
async fn examine_is_read_only() {
    let store = store_with_messages(&[MESSAGE_2]).await;
    let mut client = Client::logged_in(&store).await;

    let out = client.send("a1 EXAMINE INBOX\r\n").await;
    assert!(out.contains("* OK [PERMANENTFLAGS ()] "), "{out}");
    assert!(out.ends_with("a1 OK [READ-ONLY] EXAMINE completed\r\n"));
    let out = client.send("a2 FETCH 1 BODY[TEXT]\r\n").await;
    assert_eq!(
        out,
        "* 1 FETCH (BODY[TEXT] {6}\r\nYes.\r\n)\r\na2 OK FETCH completed\r\n"
    );
    let out = client.send("a3 STORE 1 +FLAGS (\\Seen)\r\n").await;
    assert!(out.starts_with("a3 NO [READ-ONLY]"), "{out}");
}

#[tokio::test(flavor = "current_thread")]
async fn append_with_synchronizing_and_non_synchronizing_literals() {
    let store = store_with_messages(&[]).await;
    let mut client = Client::logged_in(&store).await;
    client.send("s SELECT INBOX\r\n").await;

    // A synchronizing literal: the continuation comes first, and nothing else.
    let out = client.send("a1 APPEND INBOX (\\Seen) {22}\r\n").await;
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = client.send("Subject: hi\r\n\r\nhello\r\n\r\n").await;
    assert!(out.starts_with("* 1 EXISTS\r\n"), "{out}");
    assert!(out.contains("a1 OK [APPENDUID "), "{out}");

    // LITERAL+: no continuation.
    let out = client
        .send("a2 APPEND Drafts {14+}\r\nSubject: x\r\n\r\n\r\n")
        .await;
    assert!(out.starts_with("a2 OK [APPENDUID "), "{out}");

    let out = client
        .send("a3 STATUS Drafts (MESSAGES UNSEEN SIZE UIDNEXT)\r\n")
        .await;
    assert_eq!(
        out,
        "* STATUS Drafts (MESSAGES 1 UNSEEN 1 SIZE 14 UIDNEXT 2)\r\na3 OK STATUS completed\r\n"
    );

    let out = client.send("a4 APPEND Nowhere {1+}\r\nx\r\n").await;
    assert!(out.starts_with("a4 NO [TRYCREATE]"), "{out}");
}

#[tokio::test(flavor = "current_thread")]
async fn literals_over_the_limit_are_refused_before_any_byte_is_taken() {
    let store = store_with_messages(&[]).await;
    let mut config = ServerConfig::new("imap.example.org");
    config.tls = true;
    config.limits.literal_before_login = 100;
    let mut client = Client::new(&store, config);
    client.send("").await;

    // Before login a literal is bounded small: a client cannot make the server hold a
    // message-sized buffer without an account.
    let out = client.send("a1 LOGIN {5000}\r\n").await;
    assert!(out.starts_with("a1 NO [TOOBIG]"), "{out}");
    assert!(
        !out.contains('+'),
        "no continuation for a refused literal: {out}"
    );
    let out = client.send("a2 NOOP\r\n").await;
    assert_eq!(out, "a2 OK NOOP completed\r\n");

    // A non-synchronizing literal over the limit is already on its way: BAD, then BYE.
    let out = client.send("a3 LOGIN {5000+}\r\n").await;
    assert!(out.contains("a3 BAD [TOOBIG]"), "{out}");
    assert!(out.contains("* BYE"), "{out}");
    assert!(client.session.is_closed());
}

#[tokio::test(flavor = "current_thread")]
async fn search_answers_in_rev1_and_esearch_forms() {
    let store = store_with_messages(&[MESSAGE_1, MESSAGE_2]).await;
    let mut client = Client::logged_in(&store).await;
    client.send("s SELECT INBOX\r\n").await;

    let out = client.send("a1 SEARCH FROM joe\r\n").await;
    assert_eq!(out, "* SEARCH 2\r\na1 OK SEARCH completed\r\n");
    let out = client
        .send("a2 UID SEARCH RETURN (MIN MAX COUNT) ALL\r\n")
        .await;
    assert_eq!(
        out,
        "* ESEARCH (TAG \"a2\") UID MIN 1 MAX 2 COUNT 2\r\na2 OK UID SEARCH completed\r\n"
    );
    let out = client.send("a3 SEARCH BODY \"3:30\"\r\n").await;
    assert_eq!(out, "* SEARCH 1\r\na3 OK SEARCH completed\r\n");
    let out = client
        .send("a4 SEARCH OR SUBJECT afternoon SUBJECT nothing\r\n")
        .await;
    assert_eq!(out, "* SEARCH 1\r\na4 OK SEARCH completed\r\n");
    let out = client.send("a5 SEARCH CHARSET KOI8-R ALL\r\n").await;
    assert!(
        out.starts_with("a5 NO [BADCHARSET (UTF-8 US-ASCII)]"),
        "{out}"
    );

    // SAVE then $ (RFC 9051 section 6.4.4.1).
    let out = client
        .send("a6 SEARCH RETURN (SAVE) SUBJECT meeting\r\n")
        .await;
    assert_eq!(out, "a6 OK SEARCH completed\r\n");
    let out = client.send("a7 FETCH $ (UID)\r\n").await;
    assert_eq!(
        out,
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\na7 OK FETCH completed\r\n"
    );

    // After ENABLE IMAP4rev2 every SEARCH answers with ESEARCH.
    let out = client.send("a8 ENABLE IMAP4rev2\r\n").await;
    assert_eq!(out, "* ENABLED IMAP4rev2\r\na8 OK ENABLE completed\r\n");
    let out = client.send("a9 SEARCH UNSEEN\r\n").await;
    assert_eq!(
        out,
        "* ESEARCH (TAG \"a9\") ALL 1:2\r\na9 OK SEARCH completed\r\n"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn other_sessions_changes_arrive_at_the_allowed_points() {
    let store = store_with_messages(&[MESSAGE_1, MESSAGE_2]).await;
    let mut alice = Client::logged_in(&store).await;
    let mut other = Client::logged_in(&store).await;
    alice.send("s SELECT INBOX\r\n").await;
    other.send("s SELECT INBOX\r\n").await;

    other.send("o1 STORE 1 +FLAGS (\\Deleted)\r\n").await;
    other.send("o2 EXPUNGE\r\n").await;

    // During FETCH by sequence number the EXPUNGE is held (RFC 9051 section 7.5.1), so
    // message 2 is still message 2.
    alice.changes().await;
    let out = alice.send("a1 FETCH 2 (UID)\r\n").await;
    assert_eq!(
        out,
        "* 2 FETCH (UID 2)\r\n* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\na1 OK FETCH completed\r\n"
    );
    let out = alice.send("a2 NOOP\r\n").await;
    assert_eq!(out, "* 1 EXPUNGE\r\na2 OK NOOP completed\r\n");

    // A new message reaches an IDLE client at once.
    let out = alice.send("a3 IDLE\r\n").await;
    assert_eq!(out, "+ idling\r\n");
    let message = NewMessage {
        flags: Default::default(),
        internal_date: 0,
        data: b"Subject: new\r\n\r\n".to_vec(),
    };
    store.append(ALICE, "INBOX", message).await.unwrap();
    let out = alice.changes().await;
    assert_eq!(out, "* 2 EXISTS\r\n");
    let out = alice.send("DONE\r\n").await;
    assert_eq!(out, "a3 OK IDLE terminated\r\n");

    // Flag changes by others arrive as FETCH responses.
    other.changes().await;
    other.send("o3 NOOP\r\n").await;
    other.send("o4 UID STORE 3 +FLAGS ($Important)\r\n").await;
    alice.changes().await;
    let out = alice.send("a4 NOOP\r\n").await;
    assert_eq!(
        out,
        "* 2 FETCH (UID 3 FLAGS ($Important))\r\na4 OK NOOP completed\r\n"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn copy_and_move_report_copyuid() {
    let store = store_with_messages(&[MESSAGE_1, MESSAGE_2]).await;
    let mut client = Client::logged_in(&store).await;
    client.send("s SELECT INBOX\r\n").await;

    let out = client.send("a1 COPY 1:2 Archive\r\n").await;
    assert!(out.starts_with("a1 OK [COPYUID "), "{out}");
    assert!(out.contains(" 1:2 1:2] COPY completed"), "{out}");

    let out = client.send("a2 UID MOVE 1 Trash\r\n").await;
    assert!(out.starts_with("* OK [COPYUID "), "{out}");
    assert!(
        out.contains(" 1 1] Moved\r\n* 1 EXPUNGE\r\na2 OK MOVE completed\r\n"),
        "{out}"
    );

    let out = client.send("a3 COPY 1 Nowhere\r\n").await;
    assert!(out.starts_with("a3 NO [TRYCREATE]"), "{out}");
    let out = client.send("a4 COPY 7 Trash\r\n").await;
    assert!(out.starts_with("a4 BAD "), "{out}");
}

#[tokio::test(flavor = "current_thread")]
async fn list_with_extended_options_and_special_use() {
    let store = store_with_messages(&[MESSAGE_1]).await;
    let mut client = Client::logged_in(&store).await;

    let out = client.send("a1 LIST \"\" \"\"\r\n").await;
    assert_eq!(
        out,
        "* LIST (\\Noselect) \"/\" \"\"\r\na1 OK LIST completed\r\n"
    );

    let out = client.send("a2 CREATE Projects/2026/\r\n").await;
    assert_eq!(out, "a2 OK CREATE completed\r\n");
    let out = client.send("a3 LIST \"\" *\r\n").await;
    assert!(
        out.contains("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
        "{out}"
    );
    assert!(
        out.contains("* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"),
        "{out}"
    );
    assert!(
        out.contains("* LIST (\\HasNoChildren) \"/\" Projects/2026\r\n"),
        "{out}"
    );

    let out = client.send("a4 LIST \"\" %\r\n").await;
    assert!(
        out.contains("* LIST (\\Noselect \\HasChildren) \"/\" Projects\r\n"),
        "{out}"
    );
    assert!(!out.contains("Projects/2026"), "{out}");

    let out = client
        .send("a5 LIST (SUBSCRIBED) \"\" INBOX RETURN (STATUS (MESSAGES UNSEEN))\r\n")
        .await;
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n\
         * STATUS INBOX (MESSAGES 1 UNSEEN 1)\r\na5 OK LIST completed\r\n"
    );

    let out = client
        .send("a6 RENAME Projects/2026 Projects/2027\r\n")
        .await;
    assert_eq!(out, "a6 OK RENAME completed\r\n");
    let out = client.send("a7 DELETE Projects/2027\r\n").await;
    assert_eq!(out, "a7 OK DELETE completed\r\n");
    let out = client.send("a8 CREATE INBOX\r\n").await;
    assert!(out.starts_with("a8 NO [ALREADYEXISTS]"), "{out}");
    let out = client.send("a9 NAMESPACE\r\n").await;
    assert_eq!(
        out,
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na9 OK NAMESPACE completed\r\n"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn mailbox_names_are_modified_utf7_for_rev1_and_utf8_for_rev2() {
    let store = store_with_messages(&[]).await;
    let mut client = Client::logged_in(&store).await;

    let out = client.send("a1 CREATE &ZeVnLIqe-\r\n").await;
    assert_eq!(out, "a1 OK CREATE completed\r\n");
    let out = client.send("a2 LIST \"\" &ZeVnLIqe-\r\n").await;
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \"/\" &ZeVnLIqe-\r\na2 OK LIST completed\r\n"
    );

    client.send("a3 ENABLE IMAP4rev2\r\n").await;
    let out = client.send("a4 LIST \"\" \"日本語\"\r\n").await;
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \"/\" {9}\r\n日本語\r\na4 OK LIST completed\r\n"
    );
    let names = store.list_mailboxes(ALICE).await.unwrap();
    assert!(names.iter().any(|m| m.name == "日本語"));
}

#[tokio::test(flavor = "current_thread")]
async fn condstore_changedsince_and_unchangedsince() {
    let store = store_with_messages(&[MESSAGE_1, MESSAGE_2]).await;
    let mut client = Client::logged_in(&store).await;

    let out = client.send("a1 SELECT INBOX (CONDSTORE)\r\n").await;
    let modseq_line = out
        .lines()
        .find(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .expect("HIGHESTMODSEQ on SELECT");
    let highest: u64 = modseq_line["* OK [HIGHESTMODSEQ ".len()..]
        .split(']')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let out = client
        .send("a2 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n")
        .await;
    assert!(out.starts_with("* 1 FETCH (MODSEQ ("), "{out}");
    let out = client
        .send(&format!(
            "a3 FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})\r\n"
        ))
        .await;
    assert!(
        out.starts_with("* 1 FETCH (FLAGS (\\Flagged) MODSEQ ("),
        "{out}"
    );
    assert!(!out.contains("* 2 FETCH"), "{out}");

    let out = client
        .send("a4 STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)\r\n")
        .await;
    assert!(out.contains("a4 OK [MODIFIED 1"), "{out}");
}

#[tokio::test(flavor = "current_thread")]
async fn bad_commands_are_bounded_and_silence_times_out() {
    let store = store_with_messages(&[]).await;
    let mut client = Client::logged_in(&store).await;
    let mut out = String::new();
    for i in 0..10 {
        out.push_str(&client.send(&format!("b{i} FROBNICATE\r\n")).await);
    }
    assert!(out.contains("b0 BAD"), "{out}");
    assert!(
        out.ends_with("* BYE Too many errors, closing connection\r\n"),
        "{out}"
    );
    assert!(client.session.is_closed());

    let mut idle = Client::logged_in(&store).await;
    let deadline = idle.session.poll_timeout().expect("a deadline while idle");
    assert!(deadline >= idle.now + Duration::from_secs(30 * 60));
    idle.session.handle_timeout(deadline);
    let out = idle.drive().await;
    assert_eq!(out, "* BYE Autologout; idle for too long\r\n");
}

#[tokio::test(flavor = "current_thread")]
async fn input_split_at_every_byte_gives_the_same_output() {
    let script = "a1 SELECT INBOX\r\na2 APPEND INBOX {12+}\r\nSubject: x\r\n\r\na3 FETCH 1:* \
                  (UID BODY.PEEK[HEADER.FIELDS (Subject)])\r\na4 SEARCH TEXT \"x\"\r\n";
    let mut outputs = Vec::new();
    for split in [script.len(), 1, 3] {
        let store = store_with_messages(&[MESSAGE_2]).await;
        let mut client = Client::logged_in(&store).await;
        let mut out = String::new();
        for chunk in script.as_bytes().chunks(split) {
            out.push_str(&client.send_bytes(chunk).await);
        }
        outputs.push(out.replace(|c: char| c.is_ascii_digit(), "#"));
    }
    assert!(
        outputs[0].contains("a# OK SEARCH completed"),
        "{}",
        outputs[0]
    );
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

/// The message of RFC 9051 section 8, as far as its ENVELOPE and BODY show it.
const RFC_9051_MESSAGE: &str = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev2 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Minutes of the meeting.\r\n\
Second line.\r\n";

#[tokio::test(flavor = "current_thread")]
async fn rfc_9051_section_8_sample_session() {
    // The client's lines exactly as the RFC writes them: lower-case commands, a flag
    // without parentheses. (The RFC's addresses follow each other without a space, as
    // `1*address` in its grammar says.)
    let store = store_with_messages(&[RFC_9051_MESSAGE]).await;
    let mut config = ServerConfig::new("imap.example.org");
    config.tls = true;
    let mut client = Client::new(&store, config);
    assert!(client.send("").await.starts_with("* OK "));

    let out = client.send("a001 login alice@example.org secret\r\n").await;
    assert!(out.starts_with("a001 OK "), "{out}");
    let out = client.send("a002 select inbox\r\n").await;
    assert!(out.starts_with("* 1 EXISTS\r\n"), "{out}");
    assert!(out.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"));
    assert!(
        out.ends_with("a002 OK [READ-WRITE] SELECT completed\r\n"),
        "{out}"
    );

    let out = client.send("a003 fetch 1 full\r\n").await;
    let envelope = "ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
        \"IMAP4rev2 WG mtg summary and minutes\" \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
        ((NIL NIL \"imap\" \"cac.washington.edu\")) \
        ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")\
        (\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \
        \"<B27397-0100000@cac.washington.edu>\")";
    assert!(out.contains(envelope), "{out}");
    let body = "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 39 2)";
    assert!(
        out.to_ascii_uppercase()
            .contains(&body.to_ascii_uppercase()),
        "{out}"
    );
    assert!(
        out.contains(&format!("RFC822.SIZE {}", RFC_9051_MESSAGE.len())),
        "{out}"
    );
    assert!(out.ends_with("a003 OK FETCH completed\r\n"), "{out}");

    let out = client.send("a004 fetch 1 body[header]\r\n").await;
    let header_len = RFC_9051_MESSAGE.find("\r\n\r\n").unwrap() + 4;
    let expected = format!(
        "* 1 FETCH (BODY[HEADER] {{{header_len}}}\r\n{} FLAGS (\\Seen))\r\n",
        &RFC_9051_MESSAGE[..header_len]
    );
    assert!(out.starts_with(&expected), "{out}");

    let out = client.send("a005 store 1 +flags \\deleted\r\n").await;
    assert_eq!(
        out,
        "* 1 FETCH (FLAGS (\\Seen \\Deleted))\r\na005 OK STORE completed\r\n"
    );
    let out = client.send("a006 logout\r\n").await;
    assert!(out.starts_with("* BYE "), "{out}");
    assert!(out.ends_with("a006 OK LOGOUT completed\r\n"));
}
