//! The client commands of RFC 9051's examples (section 6, and the sample session of section
//! 8), each framed by `Framer` and parsed to the `Command` it must give. A few examples of
//! the extensions the crate serves (RFC 3501, RFC 4315, RFC 4959, RFC 5258, RFC 5819, RFC
//! 6154, RFC 6851, RFC 7162, RFC 7888) follow, then commands that must be refused.
//!
//! The lines are copied from the RFC text; the sizes of literals are computed from the text
//! they announce, since the RFC's message bodies lose their line endings in print.

use imap_proto::command::{
    Command, CommandBody, FetchAttribute, ListReturn, ListSelection, MailboxName, SearchKey,
    SearchReturn, Section, SectionText, SeqNumber, SequenceSet, StatusItem, StoreKind, Tag,
};
use imap_proto::framing::{Frame, Framer};
use imap_proto::parse::{Reason, command};
use imap_proto::response::days_from_civil;
use mail_auth::Secret;
use mail_auth::sasl::MechanismName;

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// Frames `input` (one command, lines and literals) the way a session would, answering each
/// continuation request, and returns the one command it holds.
fn frame(input: &[u8]) -> Vec<u8> {
    let mut framer = Framer::new(8192, 1 << 20, 2 << 20);
    let mut commands = Vec::new();
    for byte in input {
        framer.push(std::slice::from_ref(byte));
        while let Some(frame) = framer.next_command() {
            match frame {
                Frame::Command(bytes) => commands.push(bytes),
                Frame::Continue => {}
                other => panic!("{:?}: unexpected {other:?}", String::from_utf8_lossy(input)),
            }
        }
    }
    assert_eq!(commands.len(), 1, "{:?}", String::from_utf8_lossy(input));
    assert_eq!(framer.buffered(), 0);
    commands.remove(0)
}

/// Frames and parses one client line (CRLF added).
fn parse(line: &str) -> Command {
    parse_bytes(format!("{line}\r\n").as_bytes())
}

fn parse_bytes(input: &[u8]) -> Command {
    let framed = frame(input);
    assert_eq!(framed, input);
    match command(&framed) {
        Ok(command) => command,
        Err(error) => panic!("{:?}: {error:?}", String::from_utf8_lossy(input)),
    }
}

/// Checks that `line` parses to `body` under the tag `tag`.
#[track_caller]
fn check(line: &str, tag: &str, body: CommandBody) {
    assert_eq!(
        parse(line),
        Command {
            tag: Tag::new(tag).expect("valid tag"),
            body
        },
        "{line}"
    );
}

/// Why `input` is refused, after checking that the refusal carries `tag`.
#[track_caller]
fn refused(input: &[u8], tag: Option<&str>) -> Reason {
    match command(input) {
        Ok(command) => panic!("{:?} parsed as {command:?}", String::from_utf8_lossy(input)),
        Err(error) => {
            assert_eq!(error.tag, tag.and_then(Tag::new));
            error.reason
        }
    }
}

fn mbox(name: &str) -> MailboxName {
    MailboxName(name.as_bytes().to_vec())
}

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    let ends = ranges
        .iter()
        .map(|&(low, high)| (SeqNumber::Value(low), SeqNumber::Value(high)));
    SequenceSet::Ranges(ends.collect())
}

fn list(pattern: &str) -> CommandBody {
    list_with(
        "",
        &[pattern],
        ListSelection::default(),
        ListReturn::default(),
    )
}

fn list_with(
    reference: &str,
    patterns: &[&str],
    selection: ListSelection,
    returns: ListReturn,
) -> CommandBody {
    CommandBody::List {
        reference: mbox(reference),
        patterns: patterns.iter().map(|p| mbox(p)).collect(),
        selection,
        returns,
    }
}

fn subscribed() -> ListSelection {
    ListSelection {
        subscribed: true,
        ..ListSelection::default()
    }
}

fn mechanism(name: &str) -> MechanismName {
    MechanismName::new(name).expect("valid mechanism")
}

fn day(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day)
}

// ---------------------------------------------------------------------------------------------
// RFC 9051 section 6.1: any state.
// ---------------------------------------------------------------------------------------------

#[test]
fn section_6_1_any_state() {
    check("abcd CAPABILITY", "abcd", CommandBody::Capability);
    check("a002 NOOP", "a002", CommandBody::Noop);
    check("a047 NOOP", "a047", CommandBody::Noop);
    check("A023 LOGOUT", "A023", CommandBody::Logout);
}

// ---------------------------------------------------------------------------------------------
// RFC 9051 section 6.2: not authenticated.
// ---------------------------------------------------------------------------------------------

#[test]
fn section_6_2_1_starttls() {
    check("a001 CAPABILITY", "a001", CommandBody::Capability);
    check("a002 STARTTLS", "a002", CommandBody::StartTls);
    check("a003 CAPABILITY", "a003", CommandBody::Capability);
    check(
        "a004 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
        "a004",
        CommandBody::Authenticate {
            mechanism: mechanism("PLAIN"),
            initial_response: Some(Secret::new(b"test\0test\0test".to_vec())),
        },
    );
}

#[test]
fn section_6_2_2_authenticate() {
    check(
        "A001 AUTHENTICATE GSSAPI",
        "A001",
        CommandBody::Authenticate {
            mechanism: mechanism("GSSAPI"),
            initial_response: None,
        },
    );
    check(
        "A01 AUTHENTICATE PLAIN",
        "A01",
        CommandBody::Authenticate {
            mechanism: mechanism("PLAIN"),
            initial_response: None,
        },
    );
    check(
        "A01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
        "A01",
        CommandBody::Authenticate {
            mechanism: mechanism("PLAIN"),
            initial_response: Some(Secret::new(b"test\0test\0test".to_vec())),
        },
    );

    // RFC 4959 section 3: "=" is an empty initial response.
    check(
        "A01 AUTHENTICATE EXTERNAL =",
        "A01",
        CommandBody::Authenticate {
            mechanism: mechanism("EXTERNAL"),
            initial_response: Some(Secret::new(Vec::new())),
        },
    );
}

#[test]
fn section_6_2_3_login() {
    check(
        "a001 LOGIN SMITH SESAME",
        "a001",
        CommandBody::Login {
            username: "SMITH".into(),
            password: Secret::new(b"SESAME".to_vec()),
        },
    );

    // RFC 7888 section 4's example of non-synchronizing literals.
    assert_eq!(
        parse_bytes(b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n").body,
        CommandBody::Login {
            username: "FRED FOOBAR".into(),
            password: Secret::new(b"fat man".to_vec()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 9051 section 6.3: authenticated.
// ---------------------------------------------------------------------------------------------

#[test]
fn section_6_3_1_enable() {
    check(
        "t2 ENABLE CONDSTORE X-GOOD-IDEA",
        "t2",
        CommandBody::Enable {
            capabilities: vec!["CONDSTORE".into(), "X-GOOD-IDEA".into()],
        },
    );
    check(
        "a1 ENABLE IMAP4rev2",
        "a1",
        CommandBody::Enable {
            capabilities: vec!["IMAP4rev2".into()],
        },
    );
}

#[test]
fn section_6_3_2_and_3_select_and_examine() {
    check(
        "A142 SELECT INBOX",
        "A142",
        CommandBody::Select {
            mailbox: mbox("INBOX"),
            condstore: false,
        },
    );
    check(
        "A932 EXAMINE blurdybloop",
        "A932",
        CommandBody::Examine {
            mailbox: mbox("blurdybloop"),
            condstore: false,
        },
    );

    // RFC 7162 section 3.1.8.
    check(
        "A142 SELECT INBOX (CONDSTORE)",
        "A142",
        CommandBody::Select {
            mailbox: mbox("INBOX"),
            condstore: true,
        },
    );
}

#[test]
fn section_6_3_4_create() {
    let create = |name: &str| CommandBody::Create {
        mailbox: mbox(name),
        special_use: Vec::new(),
    };
    check("A003 CREATE owatagusiam/", "A003", create("owatagusiam/"));
    check(
        "A004 CREATE owatagusiam/blurdybloop",
        "A004",
        create("owatagusiam/blurdybloop"),
    );

    // RFC 6154 section 5.2.
    check(
        "t1 CREATE MySpecial (USE (\\Drafts \\Sent))",
        "t1",
        CommandBody::Create {
            mailbox: mbox("MySpecial"),
            special_use: vec!["\\Drafts".into(), "\\Sent".into()],
        },
    );
}

#[test]
fn section_6_3_5_delete() {
    let delete = |name: &str| CommandBody::Delete {
        mailbox: mbox(name),
    };
    check("A682 LIST \"\" *", "A682", list("*"));
    check("A683 DELETE blurdybloop", "A683", delete("blurdybloop"));
    check("A684 DELETE foo", "A684", delete("foo"));
    check("A685 DELETE foo/bar", "A685", delete("foo/bar"));
    check("A686 LIST \"\" *", "A686", list("*"));
    check("A687 DELETE foo", "A687", delete("foo"));
    check("A82 LIST \"\" *", "A82", list("*"));
    check("A83 DELETE blurdybloop", "A83", delete("blurdybloop"));
    check("A84 DELETE foo", "A84", delete("foo"));
    check("A85 LIST \"\" *", "A85", list("*"));
    check("A86 LIST \"\" %", "A86", list("%"));
}

#[test]
fn section_6_3_6_rename() {
    let rename = |from: &str, to: &str| CommandBody::Rename {
        from: mbox(from),
        to: mbox(to),
    };
    check("A682 LIST \"\" *", "A682", list("*"));
    check(
        "A683 RENAME blurdybloop sarasoop",
        "A683",
        rename("blurdybloop", "sarasoop"),
    );
    check("A684 RENAME foo zowie", "A684", rename("foo", "zowie"));
    check("A685 LIST \"\" *", "A685", list("*"));
    check("Z432 LIST \"\" *", "Z432", list("*"));
    check(
        "Z433 RENAME INBOX old-mail",
        "Z433",
        rename("INBOX", "old-mail"),
    );
    check("Z434 LIST \"\" *", "Z434", list("*"));
}

#[test]
fn section_6_3_7_and_8_subscriptions() {
    check(
        "A002 SUBSCRIBE #news.comp.mail.mime",
        "A002",
        CommandBody::Subscribe {
            mailbox: mbox("#news.comp.mail.mime"),
        },
    );
    check(
        "A002 UNSUBSCRIBE #news.comp.mail.mime",
        "A002",
        CommandBody::Unsubscribe {
            mailbox: mbox("#news.comp.mail.mime"),
        },
    );
}

#[test]
fn section_6_3_9_list() {
    let plain = |reference: &str, pattern: &str| {
        list_with(
            reference,
            &[pattern],
            ListSelection::default(),
            ListReturn::default(),
        )
    };
    check("A101 LIST \"\" \"\"", "A101", plain("", ""));
    check(
        "A102 LIST #news.comp.mail.misc \"\"",
        "A102",
        plain("#news.comp.mail.misc", ""),
    );
    check(
        "A103 LIST /usr/staff/jones \"\"",
        "A103",
        plain("/usr/staff/jones", ""),
    );
    check("A202 LIST ~/Mail/ %", "A202", plain("~/Mail/", "%"));

    // The extended forms (RFC 9051 section 6.3.9.x, from RFC 5258 section 5).
    let children = ListReturn {
        children: true,
        ..ListReturn::default()
    };
    let remote = ListSelection {
        remote: true,
        ..ListSelection::default()
    };
    check(
        "A02 LIST (SUBSCRIBED) \"\" \"*\"",
        "A02",
        list_with("", &["*"], subscribed(), ListReturn::default()),
    );
    check(
        "A03 LIST () \"\" \"%\" RETURN (CHILDREN)",
        "A03",
        list_with("", &["%"], ListSelection::default(), children.clone()),
    );
    check(
        "A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)",
        "A04",
        list_with("", &["%"], remote, children.clone()),
    );
    check(
        "A05 LIST (REMOTE SUBSCRIBED) \"\" \"*\"",
        "A05",
        list_with(
            "",
            &["*"],
            ListSelection {
                remote: true,
                subscribed: true,
                ..ListSelection::default()
            },
            ListReturn::default(),
        ),
    );
    check(
        "A06 LIST (REMOTE) \"\" \"*\"",
        "A06",
        list_with("", &["*"], remote, ListReturn::default()),
    );
    check(
        "C02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"",
        "C02",
        list_with(
            "",
            &["%"],
            ListSelection {
                subscribed: true,
                recursive_match: true,
                ..ListSelection::default()
            },
            ListReturn::default(),
        ),
    );
    check(
        "D01 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
        "D01",
        list_with(
            "",
            &["INBOX", "Drafts", "Sent/%"],
            ListSelection::default(),
            ListReturn::default(),
        ),
    );

    // RFC 9051 section 6.3.9.x, from RFC 5819 section 4 (LIST-STATUS).
    check(
        "A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
        "A01",
        list_with(
            "",
            &["%"],
            ListSelection::default(),
            ListReturn {
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
                ..ListReturn::default()
            },
        ),
    );
    check(
        "A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (STATUS (MESSAGES))",
        "A02",
        list_with(
            "",
            &["%"],
            ListSelection {
                subscribed: true,
                recursive_match: true,
                ..ListSelection::default()
            },
            ListReturn {
                status: Some(vec![StatusItem::Messages]),
                ..ListReturn::default()
            },
        ),
    );

    // RFC 6154 section 5.1 and 5.3.
    check(
        "t1 LIST \"\" \"%\" RETURN (SPECIAL-USE)",
        "t1",
        list_with(
            "",
            &["%"],
            ListSelection::default(),
            ListReturn {
                special_use: true,
                ..ListReturn::default()
            },
        ),
    );
    check(
        "t3 LIST (SPECIAL-USE) \"\" \"*\"",
        "t3",
        list_with(
            "",
            &["*"],
            ListSelection {
                special_use: true,
                ..ListSelection::default()
            },
            ListReturn::default(),
        ),
    );
}

#[test]
fn section_6_3_10_namespace() {
    check("A001 NAMESPACE", "A001", CommandBody::Namespace);
}

#[test]
fn section_6_3_11_status() {
    check(
        "A042 STATUS blurdybloop (UIDNEXT MESSAGES)",
        "A042",
        CommandBody::Status {
            mailbox: mbox("blurdybloop"),
            items: vec![StatusItem::UidNext, StatusItem::Messages],
        },
    );
    check(
        "A043 STATUS blurdybloop (SIZE DELETED HIGHESTMODSEQ)",
        "A043",
        CommandBody::Status {
            mailbox: mbox("blurdybloop"),
            items: vec![
                StatusItem::Size,
                StatusItem::Deleted,
                StatusItem::HighestModSeq,
            ],
        },
    );
}

/// The message of the APPEND example, with the CRLFs it has on the wire.
const APPEND_MESSAGE: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
    From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
    Subject: afternoon meeting\r\n\
    To: mooch@owatagu.siam.edu.example\r\n\
    Message-Id: <B27397-0100000@Blurdybloop.example>\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
    \r\n\
    Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

#[test]
fn section_6_3_12_append() {
    let size = APPEND_MESSAGE.len();
    let input = format!("A003 APPEND saved-messages (\\Seen) {{{size}}}\r\n{APPEND_MESSAGE}\r\n");
    assert_eq!(
        parse_bytes(input.as_bytes()).body,
        CommandBody::Append {
            mailbox: mbox("saved-messages"),
            flags: vec!["\\Seen".into()],
            date: None,
            message: APPEND_MESSAGE.as_bytes().to_vec(),
            binary: false,
        }
    );

    // With an internal date (the RFC 3501 form): 7 Feb 1994 21:52:25 -0800 is 05:52:25 UTC
    // the next day.
    let input = format!(
        "A004 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {{{size}+}}\r\n\
         {APPEND_MESSAGE}"
    );
    check(
        &input,
        "A004",
        CommandBody::Append {
            mailbox: mbox("saved-messages"),
            flags: vec!["\\Seen".into()],
            date: Some(day(1994, 2, 8) * 86_400 + 5 * 3600 + 52 * 60 + 25),
            message: APPEND_MESSAGE.as_bytes().to_vec(),
            binary: false,
        },
    );

    // RFC 3516 section 4.4: a literal8 may carry NUL.
    assert_eq!(
        parse_bytes(b"A005 APPEND Drafts (\\Draft) ~{5}\r\nhe\0lo\r\n").body,
        CommandBody::Append {
            mailbox: mbox("Drafts"),
            flags: vec!["\\Draft".into()],
            date: None,
            message: b"he\0lo".to_vec(),
            binary: true,
        }
    );
}

#[test]
fn section_6_3_13_idle() {
    check(
        "A001 SELECT INBOX",
        "A001",
        CommandBody::Select {
            mailbox: mbox("INBOX"),
            condstore: false,
        },
    );
    check("A002 IDLE", "A002", CommandBody::Idle);

    // DONE is a raw line, not a command.
    let mut framer = Framer::new(100, 100, 1000);
    framer.push(b"A002 IDLE\r\nDONE\r\n");
    assert_eq!(
        framer.next_command(),
        Some(Frame::Command(b"A002 IDLE\r\n".to_vec()))
    );
    assert_eq!(framer.next_line(), Some(Ok(b"DONE".to_vec())));
}

// ---------------------------------------------------------------------------------------------
// RFC 9051 section 6.4: selected.
// ---------------------------------------------------------------------------------------------

#[test]
fn section_6_4_1_to_3_close_unselect_expunge() {
    check("A341 CLOSE", "A341", CommandBody::Close);
    check("A342 UNSELECT", "A342", CommandBody::Unselect);
    check("A202 EXPUNGE", "A202", CommandBody::Expunge { uids: None });

    // RFC 3501 section 6.4.1.
    check("FXXZ CHECK", "FXXZ", CommandBody::Check);
}

fn search(returns: Option<Vec<SearchReturn>>, criteria: Vec<SearchKey>) -> CommandBody {
    CommandBody::Search {
        uid: false,
        returns,
        charset: None,
        criteria,
    }
}

/// `FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`, the criteria of several examples.
fn flagged_since_not_smith() -> Vec<SearchKey> {
    vec![
        SearchKey::Flagged,
        SearchKey::Since(day(1994, 2, 1)),
        SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
    ]
}

#[test]
fn section_6_4_4_search() {
    use SearchReturn::{All, Count, Min, Save};

    check(
        "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
        "A282",
        search(Some(vec![Min, Count]), flagged_since_not_smith()),
    );
    check(
        "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
        "A283",
        search(Some(vec![All]), flagged_since_not_smith()),
    );
    check(
        "A284 SEARCH TEXT \"string not in mailbox\"",
        "A284",
        search(None, vec![SearchKey::Text("string not in mailbox".into())]),
    );

    let utf8_text = |tag: &str| {
        let body = CommandBody::Search {
            uid: false,
            returns: None,
            charset: Some("UTF-8".into()),
            criteria: vec![SearchKey::Text("отпуск".into())],
        };
        (tag.to_owned(), body)
    };
    for (input, (tag, body)) in [
        (
            "A285 SEARCH CHARSET UTF-8 TEXT {12}\r\nотпуск\r\n",
            utf8_text("A285"),
        ),
        (
            "A286 SEARCH CHARSET UTF-8 TEXT {12+}\r\nотпуск\r\n",
            utf8_text("A286"),
        ),
    ] {
        assert_eq!(
            parse_bytes(input.as_bytes()),
            Command {
                tag: Tag::new(&tag).expect("valid tag"),
                body
            }
        );
    }

    // RFC 3501 section 6.4.4.
    check(
        "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
        "A282",
        search(None, flagged_since_not_smith()),
    );
    // RFC 9051's own example: its literal's six octets stand for UTF-8 text.
    assert_eq!(
        parse_bytes(b"A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n").body,
        CommandBody::Search {
            uid: false,
            returns: None,
            charset: Some("UTF-8".into()),
            criteria: vec![SearchKey::Text("XXXXXX".into())],
        }
    );

    // RFC 9051 section 6.4.4.1 to 6.4.4.4: SAVE and `$`.
    check(
        "A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
        "A282",
        search(Some(vec![Save]), flagged_since_not_smith()),
    );
    check(
        "A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.SIZE)",
        "A283",
        CommandBody::Fetch {
            uid: false,
            set: SequenceSet::Saved,
            items: vec![
                FetchAttribute::Uid,
                FetchAttribute::InternalDate,
                FetchAttribute::Flags,
                FetchAttribute::Rfc822Size,
            ],
            changed_since: None,
            vanished: false,
        },
    );
    check(
        "A301 UID SEARCH UID $ SMALLER 4096",
        "A301",
        CommandBody::Search {
            uid: true,
            returns: None,
            charset: None,
            criteria: vec![SearchKey::Uid(SequenceSet::Saved), SearchKey::Smaller(4096)],
        },
    );
    check(
        "A302 COPY $ \"Other Messages\"",
        "A302",
        CommandBody::Copy {
            uid: false,
            set: SequenceSet::Saved,
            mailbox: mbox("Other Messages"),
        },
    );
    check(
        "A303 SEARCH RETURN (SAVE MIN) SINCE 1-Jan-2004 NOT FROM \"Smith\"",
        "A303",
        search(
            Some(vec![Save, Min]),
            vec![
                SearchKey::Since(day(2004, 1, 1)),
                SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
            ],
        ),
    );
    check(
        "A304 SEARCH RETURN (ALL) OR (FROM \"a\" SUBJECT \"b\") (TO c HEADER \"X-Foo\" \"\")",
        "A304",
        search(
            Some(vec![All]),
            vec![SearchKey::Or(
                Box::new(SearchKey::And(vec![
                    SearchKey::From("a".into()),
                    SearchKey::Subject("b".into()),
                ])),
                Box::new(SearchKey::And(vec![
                    SearchKey::To("c".into()),
                    SearchKey::Header("X-Foo".into(), String::new()),
                ])),
            )],
        ),
    );
}

#[test]
fn section_6_4_5_fetch() {
    check(
        "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
        "A654",
        CommandBody::Fetch {
            uid: false,
            set: set(&[(2, 4)]),
            items: vec![
                FetchAttribute::Flags,
                FetchAttribute::BodySection {
                    section: Section {
                        part: Vec::new(),
                        text: Some(SectionText::HeaderFields(vec![
                            "DATE".into(),
                            "FROM".into(),
                        ])),
                    },
                    partial: None,
                    peek: false,
                },
            ],
            changed_since: None,
            vanished: false,
        },
    );

    // RFC 3516 section 4.2.
    check(
        "a FETCH 1 (BINARY.PEEK[1.2]<0.1024> BINARY.SIZE[1] BINARY[])",
        "a",
        CommandBody::Fetch {
            uid: false,
            set: set(&[(1, 1)]),
            items: vec![
                FetchAttribute::Binary {
                    part: vec![1, 2],
                    partial: Some((0, 1024)),
                    peek: true,
                },
                FetchAttribute::BinarySize { part: vec![1] },
                FetchAttribute::Binary {
                    part: Vec::new(),
                    partial: None,
                    peek: false,
                },
            ],
            changed_since: None,
            vanished: false,
        },
    );
}

#[test]
fn section_6_4_6_store() {
    check(
        "A003 STORE 2:4 +FLAGS (\\Deleted)",
        "A003",
        CommandBody::Store {
            uid: false,
            set: set(&[(2, 4)]),
            unchanged_since: None,
            kind: StoreKind::Add,
            silent: false,
            flags: vec!["\\Deleted".into()],
        },
    );
}

#[test]
fn section_6_4_7_and_8_copy_and_move() {
    check(
        "A003 COPY 2:4 MEETING",
        "A003",
        CommandBody::Copy {
            uid: false,
            set: set(&[(2, 4)]),
            mailbox: mbox("MEETING"),
        },
    );
    check(
        "a UID MOVE 42:69 foo",
        "a",
        CommandBody::Move {
            uid: true,
            set: set(&[(42, 69)]),
            mailbox: mbox("foo"),
        },
    );
    check(
        "A003 MOVE 2:4 MEETING",
        "A003",
        CommandBody::Move {
            uid: false,
            set: set(&[(2, 4)]),
            mailbox: mbox("MEETING"),
        },
    );
}

#[test]
fn section_6_4_9_uid() {
    check(
        "A999 UID FETCH 4827313:4828442 FLAGS",
        "A999",
        CommandBody::Fetch {
            uid: true,
            set: set(&[(4_827_313, 4_828_442)]),
            items: vec![FetchAttribute::Flags],
            changed_since: None,
            vanished: false,
        },
    );

    // RFC 4315 section 2.1.
    check(
        "A003 UID EXPUNGE 3000:3002",
        "A003",
        CommandBody::Expunge {
            uids: Some(set(&[(3000, 3002)])),
        },
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 9051 section 8: the sample session, client side, through one framer.
// ---------------------------------------------------------------------------------------------

#[test]
fn section_8_sample_session() {
    use FetchAttribute::{Body, Envelope, Flags, InternalDate, Rfc822Size};

    // The SASL exchange answers are raw lines (an empty one ends the SCRAM exchange).
    let transcript: &[u8] = b"a000 starttls\r\n\
        A001 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n\
        Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1k\
        SHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==\r\n\
        \r\n\
        babc ENABLE IMAP4rev2\r\n\
        a002 select inbox\r\n\
        a003 fetch 12 full\r\n\
        a004 fetch 12 body[header]\r\n\
        a005 store 12 +flags \\deleted\r\n\
        a006 logout\r\n";

    let header = Section {
        part: Vec::new(),
        text: Some(SectionText::Header),
    };
    let expected = [
        ("a000", CommandBody::StartTls),
        (
            "A001",
            CommandBody::Authenticate {
                mechanism: mechanism("SCRAM-SHA-256"),
                initial_response: Some(Secret::new(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec())),
            },
        ),
        (
            "babc",
            CommandBody::Enable {
                capabilities: vec!["IMAP4rev2".into()],
            },
        ),
        (
            "a002",
            CommandBody::Select {
                mailbox: mbox("inbox"),
                condstore: false,
            },
        ),
        (
            "a003",
            CommandBody::Fetch {
                uid: false,
                set: set(&[(12, 12)]),
                items: vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a004",
            CommandBody::Fetch {
                uid: false,
                set: set(&[(12, 12)]),
                items: vec![FetchAttribute::BodySection {
                    section: header,
                    partial: None,
                    peek: false,
                }],
                changed_since: None,
                vanished: false,
            },
        ),
        (
            "a005",
            CommandBody::Store {
                uid: false,
                set: set(&[(12, 12)]),
                unchanged_since: None,
                kind: StoreKind::Add,
                silent: false,
                flags: vec!["\\Deleted".into()],
            },
        ),
        ("a006", CommandBody::Logout),
    ];

    // Feed it in uneven chunks, switching to raw lines while authentication runs, as the
    // session does.
    let mut framer = Framer::new(1024, 4096, 8192);
    for chunk in transcript.chunks(7) {
        framer.push(chunk);
    }
    let mut commands = Vec::new();
    let mut lines = Vec::new();
    while let Some(frame) = framer.next_command() {
        let Frame::Command(bytes) = frame else {
            panic!("unexpected {frame:?}");
        };
        let parsed = command(&bytes).expect("parses");
        if matches!(parsed.body, CommandBody::Authenticate { .. }) {
            for _ in 0..2 {
                lines.push(framer.next_line().expect("a line").expect("short enough"));
            }
        }
        commands.push(parsed);
    }

    let expected: Vec<Command> = expected
        .into_iter()
        .map(|(tag, body)| Command {
            tag: Tag::new(tag).expect("valid tag"),
            body,
        })
        .collect();
    assert_eq!(commands, expected);
    assert_eq!(lines[1], b"");
    assert!(lines[0].starts_with(b"Yz1iaXdz"));
}

// ---------------------------------------------------------------------------------------------
// RFC 7162 (CONDSTORE) examples.
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc_7162_condstore() {
    check(
        "a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
        "a103",
        CommandBody::Store {
            uid: true,
            set: set(&[(6, 6), (4, 4), (8, 8)]),
            unchanged_since: Some(12_121_230_045),
            kind: StoreKind::Add,
            silent: true,
            flags: vec!["\\Deleted".into()],
        },
    );
    check(
        "a104 STORE 7,5,9 (UNCHANGEDSINCE 0) FLAGS.SILENT (\\Seen)",
        "a104",
        CommandBody::Store {
            uid: false,
            set: set(&[(7, 7), (5, 5), (9, 9)]),
            unchanged_since: Some(0),
            kind: StoreKind::Replace,
            silent: true,
            flags: vec!["\\Seen".into()],
        },
    );
    check(
        "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        "s100",
        CommandBody::Fetch {
            uid: true,
            set: SequenceSet::Ranges(vec![(SeqNumber::Value(1), SeqNumber::Largest)]),
            items: vec![FetchAttribute::Flags],
            changed_since: Some(12345),
            vanished: false,
        },
    );
    check(
        "s101 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        "s101",
        CommandBody::Fetch {
            uid: true,
            set: set(&[(300, 500)]),
            items: vec![FetchAttribute::Flags],
            changed_since: Some(12345),
            vanished: true,
        },
    );
    check(
        "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
        "a",
        search(None, vec![SearchKey::ModSeq(620_162_338)]),
    );
    check(
        "t SEARCH OR NOT MODSEQ 720162338 LARGER 50000",
        "t",
        search(
            None,
            vec![SearchKey::Or(
                Box::new(SearchKey::Not(Box::new(SearchKey::ModSeq(720_162_338)))),
                Box::new(SearchKey::Larger(50000)),
            )],
        ),
    );
}

#[test]
fn rfc_2971_id() {
    check(
        "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")",
        "a023",
        CommandBody::Id {
            parameters: Some(vec![
                ("name".into(), Some("sodr".into())),
                ("version".into(), Some("19.34".into())),
                ("vendor".into(), Some("Pink Floyd Music Limited".into())),
            ]),
        },
    );
    check("a024 ID NIL", "a024", CommandBody::Id { parameters: None });
}

// ---------------------------------------------------------------------------------------------
// What must be refused.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_bare_lf_or_cr_is_refused() {
    // The framer keeps them inside the line; the grammar allows them nowhere outside a
    // literal.
    let framed = frame(b"a NOOP\nb NOOP\r\n");
    assert_eq!(refused(&framed, Some("a")), Reason::Trailing);
    assert_eq!(
        refused(b"a SELECT IN\rBOX\r\n", Some("a")),
        Reason::Trailing
    );
    assert_eq!(
        refused(b"a LOGIN \"a\nb\" c\r\n", Some("a")),
        Reason::String
    );
    assert_eq!(refused(b"a\nb NOOP\r\n", None), Reason::Tag);
}

#[test]
fn unbalanced_parentheses_are_refused() {
    assert_eq!(
        refused(b"a FETCH 1 (FLAGS\r\n", Some("a")),
        Reason::Parenthesis
    );
    assert_eq!(
        refused(b"a FETCH 1 FLAGS)\r\n", Some("a")),
        Reason::Parenthesis
    );
    assert_eq!(
        refused(b"a SEARCH (OR SEEN DRAFT\r\n", Some("a")),
        Reason::Parenthesis
    );
    assert_eq!(
        refused(b"a SEARCH ((SEEN)\r\n", Some("a")),
        Reason::Parenthesis
    );
    assert_eq!(
        refused(b"a STATUS x (MESSAGES\r\n", Some("a")),
        Reason::Parenthesis
    );
    assert_eq!(
        refused(b"a STORE 1 FLAGS (\\Seen\r\n", Some("a")),
        Reason::Parenthesis
    );
}

#[test]
fn a_literal_too_big_is_refused_by_the_framer() {
    let mut framer = Framer::new(1000, 100, 10_000);
    framer.push(b"A003 APPEND saved-messages (\\Seen) {326}\r\nA004 NOOP\r\n");
    assert_eq!(
        framer.next_command(),
        Some(Frame::LiteralTooLarge {
            tag: Tag::new("A003"),
            size: 326,
            synchronizing: true,
        })
    );
    assert_eq!(
        framer.next_command(),
        Some(Frame::Command(b"A004 NOOP\r\n".to_vec()))
    );

    // A literal shorter than announced (input that did not come through the framer).
    assert_eq!(
        refused(b"a LOGIN {10}\r\nabc x\r\n", Some("a")),
        Reason::Literal
    );
}

#[test]
fn a_non_utf8_login_is_refused() {
    assert_eq!(
        refused(b"a LOGIN {2}\r\n\xff\xfe pw\r\n", Some("a")),
        Reason::Utf8
    );
    assert_eq!(
        refused(b"a LOGIN \"\xc3\x28\" pw\r\n", Some("a")),
        Reason::Utf8
    );

    // The password may be any octets but NUL.
    let Ok(Command {
        body: CommandBody::Login { password, .. },
        ..
    }) = command(b"a LOGIN fred {2}\r\n\xff\xfe\r\n")
    else {
        panic!("LOGIN refused");
    };
    assert_eq!(password.expose(), b"\xff\xfe");
}

#[test]
fn overlong_nesting_is_refused() {
    let nots = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(101));
    assert_eq!(refused(nots.as_bytes(), Some("a")), Reason::TooDeep);
    let parens = format!("a SEARCH {}ALL{}\r\n", "(".repeat(101), ")".repeat(101));
    assert_eq!(refused(parens.as_bytes(), Some("a")), Reason::TooDeep);
    let bomb = format!("a SEARCH {}\r\n", "(".repeat(1 << 20));
    assert_eq!(refused(bomb.as_bytes(), Some("a")), Reason::TooDeep);
}

#[test]
fn other_refusals_carry_their_reason() {
    let cases: &[(&[u8], Reason)] = &[
        (b"a FROB\r\n", Reason::UnknownCommand),
        (b"a NOOP extra\r\n", Reason::Trailing),
        (b"a FETCH 0:3 FLAGS\r\n", Reason::SequenceSet),
        (b"a FETCH 4294967296 FLAGS\r\n", Reason::SequenceSet),
        (b"a FETCH 1 BODY[MIME]\r\n", Reason::Section),
        (
            b"a FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n",
            Reason::Vanished,
        ),
        (b"a SEARCH SINCE 1-Foo-2020\r\n", Reason::Date),
        (b"a LIST (RECURSIVEMATCH) \"\" *\r\n", Reason::ListOption),
        (b"a STORE 1 FLAGS (\\*)\r\n", Reason::FlagNotStorable),
        (
            b"a APPEND x (\\Recent) {1}\r\nx\r\n",
            Reason::FlagNotStorable,
        ),
        (b"a LOGIN ~{3}\r\nabc x\r\n", Reason::Literal8),
        (b"a SELECT INBOX (FOO)\r\n", Reason::Parameter),
        (b"a AUTHENTICATE PLAIN not!b64\r\n", Reason::Base64),
        (b"a STATUS INBOX ()\r\n", Reason::StatusItem),
        (b"a SEARCH MODSEQ 9223372036854775808\r\n", Reason::Number),
        (b"a APPEND x {3}\r\na\0b\r\n", Reason::Nul),
    ];
    for (input, reason) in cases {
        assert_eq!(
            refused(input, Some("a")),
            *reason,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}
