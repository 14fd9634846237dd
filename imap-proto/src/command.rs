//! The commands a client sends (RFC 9051 section 6, with the extensions this crate serves),
//! as typed values. [`crate::parse::command`] produces them from a whole command, literals
//! included, as [`crate::framing::Framer`] delivers it.

use std::fmt;

use mail_auth::Secret;
use mail_auth::sasl::MechanismName;

/// A command tag: `tag = 1*<any ASTRING-CHAR except "+">`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag.
    pub fn new(tag: &str) -> Option<Self> {
        let valid = !tag.is_empty() && tag.bytes().all(|b| is_astring_char(b) && b != b'+');
        valid.then(|| Self(tag.to_owned()))
    }

    /// The tag as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ATOM-CHAR = <any CHAR except atom-specials>`, where `atom-specials = "(" / ")" / "{" /
/// SP / CTL / list-wildcards / quoted-specials / resp-specials`.
pub fn is_atom_char(byte: u8) -> bool {
    byte > 0x20 && byte < 0x7f && !b"(){%*\"\\]".contains(&byte)
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`, `resp-specials = "]"`.
pub fn is_astring_char(byte: u8) -> bool {
    is_atom_char(byte) || byte == b']'
}

/// A parsed command: its tag and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, echoed in the tagged response.
    pub tag: Tag,
    /// The command proper.
    pub body: CommandBody,
}

/// A mailbox name as the client sent it: the raw octets of the `astring`. In IMAP4rev1
/// they are modified UTF-7 (RFC 3501 section 5.1.3), after `ENABLE IMAP4rev2` or
/// `UTF8=ACCEPT` they are UTF-8; the session decodes them with [`crate::mailbox`]. `INBOX` in
/// any case is INBOX.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MailboxName(pub Vec<u8>);

impl MailboxName {
    /// Whether this names INBOX (case-insensitive, RFC 9051 section 5.1).
    pub fn is_inbox(&self) -> bool {
        self.0.eq_ignore_ascii_case(b"INBOX")
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxName({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandBody {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 4959 SASL-IR). An initial response
    /// of `=` is an empty one.
    Authenticate {
        /// The mechanism.
        mechanism: MechanismName,
        /// The base64-decoded initial response.
        initial_response: Option<Secret>,
    },
    /// `LOGIN userid password`
    Login {
        /// The user name (an astring, UTF-8).
        username: String,
        /// The password.
        password: Secret,
    },
    /// `ENABLE capability...` (RFC 5161)
    Enable {
        /// The capabilities, as sent (compared case-insensitively).
        capabilities: Vec<String>,
    },
    /// `SELECT mailbox [(CONDSTORE)]`
    Select {
        /// The mailbox.
        mailbox: MailboxName,
        /// The CONDSTORE select parameter (RFC 7162 section 3.1.8).
        condstore: bool,
    },
    /// `EXAMINE mailbox [(CONDSTORE)]`
    Examine {
        /// The mailbox.
        mailbox: MailboxName,
        /// The CONDSTORE select parameter.
        condstore: bool,
    },
    /// `CREATE mailbox [(USE (special-use...))]`
    Create {
        /// The mailbox.
        mailbox: MailboxName,
        /// RFC 6154 CREATE-SPECIAL-USE attributes, such as `\Sent`.
        special_use: Vec<String>,
    },
    /// `DELETE mailbox`
    Delete {
        /// The mailbox.
        mailbox: MailboxName,
    },
    /// `RENAME from to`
    Rename {
        /// The existing name.
        from: MailboxName,
        /// The new name.
        to: MailboxName,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe {
        /// The mailbox.
        mailbox: MailboxName,
    },
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe {
        /// The mailbox.
        mailbox: MailboxName,
    },
    /// `LIST [(selection)] reference patterns [RETURN (options)]` (RFC 9051 section 6.3.9).
    List {
        /// The reference name.
        reference: MailboxName,
        /// One or more patterns with `*` and `%` wildcards (raw octets, like mailbox names).
        patterns: Vec<MailboxName>,
        /// The selection options.
        selection: ListSelection,
        /// The return options.
        returns: ListReturn,
    },
    /// `LSUB reference pattern` (IMAP4rev1 only).
    Lsub {
        /// The reference name.
        reference: MailboxName,
        /// The pattern.
        pattern: MailboxName,
    },
    /// `NAMESPACE` (RFC 2342)
    Namespace,
    /// `STATUS mailbox (items)`
    Status {
        /// The mailbox.
        mailbox: MailboxName,
        /// The items asked for.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date-time] literal` (RFC 9051 section 6.3.12; `literal8`
    /// per RFC 3516 BINARY).
    Append {
        /// The target mailbox.
        mailbox: MailboxName,
        /// The flags to set (system flags and keywords as sent, e.g. `\Seen`).
        flags: Vec<String>,
        /// The internal date, in seconds since the Unix epoch.
        date: Option<i64>,
        /// The message.
        message: Vec<u8>,
        /// Whether it came as a `literal8` (`~{n}`), which may contain NUL.
        binary: bool,
    },
    /// `IDLE` (RFC 2177); the session then waits for `DONE`.
    Idle,
    /// `CHECK` (IMAP4rev1 only; a NOOP here).
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`, or with `Some`, `UID EXPUNGE set` (RFC 4315).
    Expunge {
        /// The UIDs of `UID EXPUNGE`.
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH [RETURN (options)] [CHARSET charset] criteria`
    Search {
        /// UID SEARCH.
        uid: bool,
        /// The ESEARCH return options (RFC 9051 section 6.4.4); `None` when absent, which
        /// for an IMAP4rev1 client means the old untagged SEARCH response.
        returns: Option<Vec<SearchReturn>>,
        /// The charset, if given.
        charset: Option<String>,
        /// The criteria, combined with AND.
        criteria: Vec<SearchKey>,
    },
    /// `[UID] FETCH set items [(CHANGEDSINCE n [VANISHED])]`
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The items, macros expanded.
        items: Vec<FetchAttribute>,
        /// RFC 7162 CHANGEDSINCE.
        changed_since: Option<u64>,
        /// RFC 7162 VANISHED (only with UID FETCH and CHANGEDSINCE).
        vanished: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] flags`
    Store {
        /// UID STORE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// RFC 7162 UNCHANGEDSINCE.
        unchanged_since: Option<u64>,
        /// Add, remove or replace.
        kind: StoreKind,
        /// `.SILENT`: no untagged FETCH for the change.
        silent: bool,
        /// The flags, as sent.
        flags: Vec<String>,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// UID COPY.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target.
        mailbox: MailboxName,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851)
    Move {
        /// UID MOVE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target.
        mailbox: MailboxName,
    },
    /// `ID (field value ...)` or `ID NIL` (RFC 2971).
    Id {
        /// The client's fields, `None` for NIL.
        parameters: Option<Vec<(String, Option<String>)>>,
    },
}

impl CommandBody {
    /// The command's name as the RFC spells it, for logs and for `BAD` texts.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Capability => "CAPABILITY",
            Self::Noop => "NOOP",
            Self::Logout => "LOGOUT",
            Self::StartTls => "STARTTLS",
            Self::Authenticate { .. } => "AUTHENTICATE",
            Self::Login { .. } => "LOGIN",
            Self::Enable { .. } => "ENABLE",
            Self::Select { .. } => "SELECT",
            Self::Examine { .. } => "EXAMINE",
            Self::Create { .. } => "CREATE",
            Self::Delete { .. } => "DELETE",
            Self::Rename { .. } => "RENAME",
            Self::Subscribe { .. } => "SUBSCRIBE",
            Self::Unsubscribe { .. } => "UNSUBSCRIBE",
            Self::List { .. } => "LIST",
            Self::Lsub { .. } => "LSUB",
            Self::Namespace => "NAMESPACE",
            Self::Status { .. } => "STATUS",
            Self::Append { .. } => "APPEND",
            Self::Idle => "IDLE",
            Self::Check => "CHECK",
            Self::Close => "CLOSE",
            Self::Unselect => "UNSELECT",
            Self::Expunge { .. } => "EXPUNGE",
            Self::Search { .. } => "SEARCH",
            Self::Fetch { .. } => "FETCH",
            Self::Store { .. } => "STORE",
            Self::Copy { .. } => "COPY",
            Self::Move { .. } => "MOVE",
            Self::Id { .. } => "ID",
        }
    }
}

/// LIST selection options (RFC 9051 section 6.3.9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSelection {
    /// `SUBSCRIBED`: only subscribed mailboxes.
    pub subscribed: bool,
    /// `REMOTE`: accepted and ignored (there are no remote mailboxes).
    pub remote: bool,
    /// `RECURSIVEMATCH`: report `CHILDINFO` for subscribed children.
    pub recursive_match: bool,
    /// `SPECIAL-USE` (RFC 6154): only mailboxes with a special use.
    pub special_use: bool,
}

/// LIST return options (RFC 9051 section 6.3.9, RFC 5819, RFC 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// `SUBSCRIBED`: add `\Subscribed` to the attributes.
    pub subscribed: bool,
    /// `CHILDREN`: add `\HasChildren` or `\HasNoChildren`.
    pub children: bool,
    /// `SPECIAL-USE`: add the special-use attribute.
    pub special_use: bool,
    /// `STATUS (items)`: a STATUS response after each LIST response.
    pub status: Option<Vec<StatusItem>>,
}

/// An item of STATUS (RFC 9051 section 6.3.11, RFC 7162 HIGHESTMODSEQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `RECENT` (IMAP4rev1; always 0 here, as RFC 9051 removed `\Recent`)
    Recent,
    /// `HIGHESTMODSEQ`
    HighestModSeq,
}

/// One end of a sequence range: a number, or `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNumber {
    /// A message sequence number or UID.
    Value(u32),
    /// `*`
    Largest,
}

/// `sequence-set` (RFC 9051 section 9), or `$` (the saved search result, RFC 9051 section
/// 6.4.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// Ranges, each `(a, b)` meaning `a:b` (in either order) and `(a, a)` a single number.
    Ranges(Vec<(SeqNumber, SeqNumber)>),
    /// `$`
    Saved,
}

impl SequenceSet {
    /// Whether `number` is in the set, where `largest` is what `*` stands for. The saved
    /// result (`$`) contains nothing here; the session resolves it before asking.
    pub fn contains(&self, number: u32, largest: u32) -> bool {
        let Self::Ranges(ranges) = self else {
            return false;
        };
        let value = |end: SeqNumber| match end {
            SeqNumber::Value(value) => value,
            SeqNumber::Largest => largest,
        };
        ranges.iter().any(|&(a, b)| {
            let (low, high) = (value(a).min(value(b)), value(a).max(value(b)));
            (low..=high).contains(&number)
        })
    }
}

/// STORE's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// A FETCH data item (RFC 9051 section 6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ). The
/// macros ALL, FAST and FULL are expanded by the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttribute {
    /// `BODY` (the non-extensible BODYSTRUCTURE)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`
    BodySection {
        /// The section.
        section: Section,
        /// `<offset.count>`
        partial: Option<(u32, u32)>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]`
    Binary {
        /// The part numbers (empty for the whole message).
        part: Vec<u32>,
        /// `<offset.count>`
        partial: Option<(u32, u32)>,
        /// `.PEEK`
        peek: bool,
    },
    /// `BINARY.SIZE[part]`
    BinarySize {
        /// The part numbers.
        part: Vec<u32>,
    },
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822` (rev1: `BODY[]` that sets `\Seen`, reported as `RFC822`)
    Rfc822,
    /// `RFC822.HEADER` (rev1: `BODY.PEEK[HEADER]`)
    Rfc822Header,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822.TEXT` (rev1: `BODY[TEXT]`)
    Rfc822Text,
    /// `UID`
    Uid,
    /// `MODSEQ` (RFC 7162)
    ModSeq,
}

/// A body section (RFC 9051 `section`): part numbers, then what of that part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// `section-part`: `1.2.3`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of the part; `None` for all of it.
    pub text: Option<SectionText>,
}

/// `section-msgtext` and `MIME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME` (only after part numbers)
    Mime,
}

/// An ESEARCH return option (RFC 9051 section 6.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
    /// `SAVE` (RFC 9051 section 6.4.4.1)
    Save,
}

/// A search key (RFC 9051 section 6.4.4, RFC 7162 MODSEQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(String),
    /// `BEFORE date` (internal date, days since the Unix epoch)
    Before(i64),
    /// `BODY string`
    Body(String),
    /// `CC string`
    Cc(String),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(String),
    /// `HEADER field-name string`
    Header(String, String),
    /// `KEYWORD flag-keyword`
    Keyword(String),
    /// `LARGER n`
    Larger(u64),
    /// `NEW` (rev1: RECENT UNSEEN; never matches, as nothing is `\Recent`)
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (rev1: NOT RECENT; matches everything)
    Old,
    /// `ON date`
    On(i64),
    /// `OR key key`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (rev1; never matches)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date` (the Date header)
    SentBefore(i64),
    /// `SENTON date`
    SentOn(i64),
    /// `SENTSINCE date`
    SentSince(i64),
    /// `SINCE date`
    Since(i64),
    /// `SMALLER n`
    Smaller(u64),
    /// `SUBJECT string`
    Subject(String),
    /// `TEXT string` (header and body)
    Text(String),
    /// `TO string`
    To(String),
    /// `UID set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag-keyword`
    Unkeyword(String),
    /// `UNSEEN`
    Unseen,
    /// A bare sequence set: messages by sequence number.
    SequenceSet(SequenceSet),
    /// `( key... )`: all of them.
    And(Vec<SearchKey>),
    /// `MODSEQ n` (RFC 7162; the entry-name form is accepted and its name ignored)
    ModSeq(u64),
}
