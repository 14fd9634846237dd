//! Evaluating SEARCH criteria (RFC 9051 section 6.4.4, RFC 7162 section 3.1.5 MODSEQ)
//! against the messages of the selected mailbox, and resolving sequence sets.
//!
//! The session asks the store for what each message needs ([`needs_content`] says whether
//! the header and body are needed, or only flags, dates, sizes and numbers), then tests every
//! message with a [`Matcher`] built once for the command:
//!
//! ```
//! use imap_proto::command::SearchKey;
//! use imap_proto::search::{Candidate, Context, Matcher};
//!
//! let criteria = [SearchKey::Unseen, SearchKey::Larger(1000)];
//! let matcher = Matcher::new(&criteria, &Context { max_seq: 1, max_uid: 7, saved: &[] });
//! let flags = ["\\Flagged".to_owned()];
//! let candidate = Candidate {
//!     seq: 1, uid: 7, flags: &flags, internal_date: 0, size: 4096, modseq: 1, content: None,
//! };
//! assert!(matcher.matches(&candidate));
//! ```
//!
//! [`resolve_set`] turns a sequence set into the positions of the messages it names, for
//! FETCH, STORE, COPY, MOVE and UID EXPUNGE.
//!
//! # String matching
//!
//! RFC 9051 section 6.4.4 asks for a case-insensitive substring match without naming a
//! comparator; `i;unicode-casemap` (RFC 5051) is today's usual choice beyond ASCII. Both
//! sides are folded character by character, mapping each character to upper case and the
//! result to lower case, which follows Unicode's full case folding closely ("STRASSE" finds
//! "Straße", "Σ" finds "ς") but, unlike RFC 5051, does not normalize (a decomposed "é" does
//! not find a precomposed one). An empty string is
//! a substring of any text, so `SUBJECT ""` finds every message with a Subject field, and
//! `HEADER name ""` every message with that field, as the RFC says of HEADER.
//!
//! # Dates
//!
//! The dates of `BEFORE`, `ON`, `SINCE` and the `SENT*` keys count days since the Unix
//! epoch. RFC 9051 compares them "disregarding time and timezone", that is with the
//! calendar day in the zone the date was written in. The internal date and
//! [`MimeMessage::sent_date`] come as Unix seconds, with that zone already gone, so both are
//! compared by their UTC day; a message sent at 23:30 -0500 counts as sent the next day.

use std::cell::OnceCell;

use memchr::memmem::Finder;

use crate::command::{SearchKey, SeqNumber, SequenceSet};
use crate::mime::MimeMessage;

/// Seconds in a day; dates are compared as whole UTC days.
const DAY: i64 = 86_400;

/// What a search key is evaluated against: one message of the selected mailbox.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The message sequence number (1-based).
    pub seq: u32,
    /// The UID.
    pub uid: u32,
    /// The flags, system flags spelled `\Seen`, `\Answered`, `\Flagged`, `\Deleted`,
    /// `\Draft` and keywords as stored. Both are compared case-insensitively.
    pub flags: &'a [String],
    /// The internal date, in seconds since the Unix epoch.
    pub internal_date: i64,
    /// The RFC822.SIZE, in octets.
    pub size: u64,
    /// The message's mod-sequence (RFC 7162).
    pub modseq: u64,
    /// The parsed message. The caller MUST provide it when [`needs_content`] is true; a
    /// candidate without it is evaluated as a message with no header fields and an empty
    /// body, so header keys fail and `NOT` of them succeeds.
    pub content: Option<&'a MimeMessage<'a>>,
}

/// The numbers `*` stands for, and the saved result `$` resolved to UIDs.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The number of messages in the mailbox, which is what `*` stands for in a message
    /// sequence set (0 for an empty mailbox, where `*` then names nothing).
    pub max_seq: u32,
    /// The UID of the last message, which is what `*` stands for in a UID set (0 for an
    /// empty mailbox). This is not UIDNEXT - 1: after expunges they differ, and RFC 9051
    /// section 9 defines `*` as the largest number in use.
    pub max_uid: u32,
    /// The UIDs of the saved search result (RFC 9051 section 6.4.4.1), in any order.
    pub saved: &'a [u32],
}

/// Whether any of the criteria needs the message's header or body, so that the caller
/// must fetch and parse it and set [`Candidate::content`].
pub fn needs_content(criteria: &[SearchKey]) -> bool {
    criteria.iter().any(key_needs_content)
}

/// Whether the criteria use `MODSEQ`, in which case RFC 7162 section 3.1.5 asks the SEARCH
/// or ESEARCH response to carry the highest mod-sequence of the messages found.
pub fn uses_modseq(criteria: &[SearchKey]) -> bool {
    criteria.iter().any(key_uses_modseq)
}

/// Whether a candidate satisfies all the criteria (they are combined with AND, RFC 9051
/// section 6.4.4).
///
/// This builds a [`Matcher`] for one message; to test a whole mailbox, build the matcher
/// once and call [`Matcher::matches`] for each message.
pub fn matches(criteria: &[SearchKey], candidate: &Candidate, context: &Context) -> bool {
    Matcher::new(criteria, context).matches(candidate)
}

/// Search criteria prepared for testing many messages: sequence sets sorted and merged,
/// `*` resolved, strings folded once and their substring searchers built.
#[derive(Debug, Clone)]
pub struct Matcher {
    tests: Vec<Test>,
    /// The saved result, sorted, for binary search.
    saved: Vec<u32>,
    needs_content: bool,
}

impl Matcher {
    /// Prepares `criteria` (combined with AND) for a mailbox described by `context`.
    pub fn new(criteria: &[SearchKey], context: &Context) -> Self {
        let mut saved = context.saved.to_vec();
        saved.sort_unstable();
        saved.dedup();

        Self {
            tests: criteria
                .iter()
                .map(|key| Test::compile(key, context))
                .collect(),
            saved,
            needs_content: needs_content(criteria),
        }
    }

    /// Whether the criteria need [`Candidate::content`]; the same as [`needs_content`].
    pub fn needs_content(&self) -> bool {
        self.needs_content
    }

    /// Whether `candidate` satisfies every criterion.
    pub fn matches(&self, candidate: &Candidate) -> bool {
        let content = candidate.content.map(|message| message as &dyn Content);
        self.evaluate(&Facts::new(candidate, content))
    }

    fn evaluate(&self, facts: &Facts) -> bool {
        self.tests.iter().all(|test| test.eval(facts, &self.saved))
    }
}

/// How to read the numbers of a [`SequenceSet`] given to [`resolve_set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// The numbers are UIDs (`UID FETCH`, `UID STORE`, ...).
    Uid,
    /// The numbers are message sequence numbers: position + 1.
    Sequence,
}

/// The positions, ascending and without repeats, of the messages `set` names, in a mailbox
/// whose messages have the UIDs `uids` (strictly ascending; sequence number = position + 1).
///
/// - [`SetKind::Uid`]: members are the messages whose UID the set contains; `*` is the last
///   UID, so `n:*` contains the last message even when `n` is larger (RFC 9051 section 9,
///   `seq-range`), and UIDs with no message are ignored (section 2.3.1.1).
/// - [`SetKind::Sequence`]: `*` is the message count and numbers above it name nothing.
///   Whether to refuse such a command is the caller's choice.
/// - `$` names the messages whose UIDs are in `saved` (any order), for either kind: RFC
///   9051 section 6.4.4.1 saves messages, not numbers.
///
/// The cost is O((ranges + saved) log(ranges + messages)) plus the size of the result, so
/// `1:4294967295` costs no more than the mailbox has messages.
pub fn resolve_set(set: &SequenceSet, kind: SetKind, uids: &[u32], saved: &[u32]) -> Vec<usize> {
    debug_assert!(
        uids.windows(2).all(|pair| pair[0] < pair[1]),
        "UIDs must ascend"
    );

    let ranges = match set {
        SequenceSet::Saved => return saved_positions(uids, saved),
        SequenceSet::Ranges(ranges) => ranges,
    };
    let Some(&last_uid) = uids.last() else {
        return Vec::new();
    };

    // Merged spans are disjoint and ascending, so the positions come out ascending and
    // unique without a final sort.
    let mut positions = Vec::new();
    match kind {
        SetKind::Uid => {
            for &(low, high) in Spans::new(ranges, last_uid).as_slice() {
                let start = uids.partition_point(|&uid| uid < low);
                let end = uids.partition_point(|&uid| uid <= high);
                positions.extend(start..end);
            }
        }
        SetKind::Sequence => {
            // A mailbox holds fewer than 2^32 messages, as sequence numbers are 32-bit.
            let count = u32::try_from(uids.len()).unwrap_or(u32::MAX);
            for &(low, high) in Spans::new(ranges, count).as_slice() {
                let (low, high) = (low.max(1), high.min(count));
                if low <= high {
                    positions.extend(low as usize - 1..high as usize);
                }
            }
        }
    }
    positions
}

/// The positions of the messages whose UIDs are in `saved`.
fn saved_positions(uids: &[u32], saved: &[u32]) -> Vec<usize> {
    let mut positions: Vec<usize> = saved
        .iter()
        .filter_map(|uid| uids.binary_search(uid).ok())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// A sequence set's ranges with `*` resolved, each ordered low to high, sorted and merged.
#[derive(Debug, Clone)]
struct Spans(Vec<(u32, u32)>);

impl Spans {
    fn new(ranges: &[(SeqNumber, SeqNumber)], largest: u32) -> Self {
        let value = |end: SeqNumber| match end {
            SeqNumber::Value(value) => value,
            SeqNumber::Largest => largest,
        };

        // `a:b` and `b:a` are the same range (RFC 9051 section 9, `seq-range`).
        let mut spans: Vec<(u32, u32)> = ranges
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            })
            .collect();
        spans.sort_unstable();

        // Merge overlapping and touching spans: 1:3,4:6 becomes 1:6.
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
        for (low, high) in spans {
            match merged.last_mut() {
                Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        Self(merged)
    }

    fn as_slice(&self) -> &[(u32, u32)] {
        &self.0
    }

    fn contains(&self, number: u32) -> bool {
        let index = self.0.partition_point(|&(_, high)| high < number);
        self.0.get(index).is_some_and(|&(low, _)| low <= number)
    }
}

/// What the evaluator reads of a message's content. [`MimeMessage`] provides it; the unit
/// tests provide a fake, so that search semantics are tested apart from MIME parsing.
trait Content {
    fn header_values(&self, name: &str) -> Vec<String>;
    fn sent_date(&self) -> Option<i64>;
    fn body_text(&self) -> String;
    fn header_text(&self) -> String;
}

impl Content for MimeMessage<'_> {
    fn header_values(&self, name: &str) -> Vec<String> {
        MimeMessage::header_values(self, name)
    }

    fn sent_date(&self) -> Option<i64> {
        MimeMessage::sent_date(self)
    }

    fn body_text(&self) -> String {
        MimeMessage::body_text(self)
    }

    fn header_text(&self) -> String {
        MimeMessage::header_text(self)
    }
}

/// One message as the evaluator sees it, with the folded header and body text computed at
/// most once however many keys read them.
struct Facts<'a> {
    seq: u32,
    uid: u32,
    flags: &'a [String],
    internal_date: i64,
    size: u64,
    modseq: u64,
    content: Option<&'a dyn Content>,
    folded_header: OnceCell<String>,
    folded_body: OnceCell<String>,
}

impl<'a> Facts<'a> {
    fn new(candidate: &Candidate<'a>, content: Option<&'a dyn Content>) -> Self {
        Self {
            seq: candidate.seq,
            uid: candidate.uid,
            flags: candidate.flags,
            internal_date: candidate.internal_date,
            size: candidate.size,
            modseq: candidate.modseq,
            content,
            folded_header: OnceCell::new(),
            folded_body: OnceCell::new(),
        }
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.flags
            .iter()
            .any(|have| have.eq_ignore_ascii_case(flag))
    }

    fn header(&self) -> &str {
        self.folded_header.get_or_init(|| {
            self.content
                .map_or_else(String::new, |c| fold(&c.header_text()))
        })
    }

    fn body(&self) -> &str {
        self.folded_body.get_or_init(|| {
            self.content
                .map_or_else(String::new, |c| fold(&c.body_text()))
        })
    }

    fn field_contains(&self, field: &str, needle: &Needle) -> bool {
        let Some(content) = self.content else {
            return false;
        };
        content
            .header_values(field)
            .iter()
            .any(|value| needle.is_in(&fold(value)))
    }

    fn sent_day(&self) -> Option<i64> {
        self.content?.sent_date().map(|date| date.div_euclid(DAY))
    }
}

/// A search string, folded, with its substring searcher.
#[derive(Debug, Clone)]
struct Needle(Box<Finder<'static>>);

impl Needle {
    fn new(text: &str) -> Self {
        Self(Box::new(Finder::new(fold(text).as_bytes()).into_owned()))
    }

    /// Whether the needle occurs in `haystack`, which must be folded. Both are UTF-8, which
    /// is self-synchronizing, so a byte match is a character match.
    fn is_in(&self, haystack: &str) -> bool {
        self.0.find(haystack.as_bytes()).is_some()
    }
}

/// Case folding for comparison (see the module documentation).
fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }

    // Upper-casing first makes "ß" and "ss", "ς" and "σ", "ﬁ" and "fi" fold alike;
    // `str::to_lowercase` alone would not, and would treat a final sigma by context.
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            folded.push(c.to_ascii_lowercase());
        } else {
            c.to_uppercase()
                .for_each(|upper| folded.extend(upper.to_lowercase()));
        }
    }
    folded
}

/// How a day compares with the key's date.
#[derive(Debug, Clone, Copy)]
enum DayTest {
    Before,
    On,
    Since,
}

impl DayTest {
    fn holds(self, day: i64, date: i64) -> bool {
        match self {
            Self::Before => day < date,
            Self::On => day == date,
            Self::Since => day >= date,
        }
    }
}

/// A compiled search key.
#[derive(Debug, Clone)]
enum Test {
    Constant(bool),
    Flag { flag: &'static str, set: bool },
    Keyword { keyword: String, set: bool },
    InternalDay(DayTest, i64),
    SentDay(DayTest, i64),
    Larger(u64),
    Smaller(u64),
    Field { field: String, needle: Needle },
    Body(Needle),
    Text(Needle),
    Uids(Spans),
    Sequence(Spans),
    Saved,
    ModSeq(u64),
    Not(Box<Test>),
    Or(Box<Test>, Box<Test>),
    And(Vec<Test>),
}

impl Test {
    /// Compiles one key. Recursion follows the nesting of NOT, OR and parentheses, which
    /// the parser bounds; the leaves are compiled in a function of their own so that each
    /// level of nesting costs a small stack frame, even in a debug build.
    fn compile(key: &SearchKey, context: &Context) -> Self {
        match key {
            SearchKey::Not(key) => Self::Not(Box::new(Self::compile(key, context))),
            SearchKey::Or(left, right) => Self::Or(
                Box::new(Self::compile(left, context)),
                Box::new(Self::compile(right, context)),
            ),
            SearchKey::And(keys) => {
                Self::And(keys.iter().map(|key| Self::compile(key, context)).collect())
            }
            leaf => Self::compile_leaf(leaf, context),
        }
    }

    /// Compiles a key that contains no other key.
    fn compile_leaf(key: &SearchKey, context: &Context) -> Self {
        let flag = |flag, set| Self::Flag { flag, set };
        let field = |field: &str, text: &str| Self::Field {
            field: field.to_owned(),
            needle: Needle::new(text),
        };

        match key {
            // RFC 9051 removed \Recent and this server never sets it, so NEW (RECENT
            // UNSEEN) and RECENT find nothing and OLD (NOT RECENT) finds everything.
            SearchKey::All | SearchKey::Old => Self::Constant(true),
            SearchKey::New | SearchKey::Recent => Self::Constant(false),

            SearchKey::Answered => flag("\\Answered", true),
            SearchKey::Unanswered => flag("\\Answered", false),
            SearchKey::Deleted => flag("\\Deleted", true),
            SearchKey::Undeleted => flag("\\Deleted", false),
            SearchKey::Draft => flag("\\Draft", true),
            SearchKey::Undraft => flag("\\Draft", false),
            SearchKey::Flagged => flag("\\Flagged", true),
            SearchKey::Unflagged => flag("\\Flagged", false),
            SearchKey::Seen => flag("\\Seen", true),
            SearchKey::Unseen => flag("\\Seen", false),
            SearchKey::Keyword(keyword) => Self::Keyword {
                keyword: keyword.clone(),
                set: true,
            },
            SearchKey::Unkeyword(keyword) => Self::Keyword {
                keyword: keyword.clone(),
                set: false,
            },

            SearchKey::Before(date) => Self::InternalDay(DayTest::Before, *date),
            SearchKey::On(date) => Self::InternalDay(DayTest::On, *date),
            SearchKey::Since(date) => Self::InternalDay(DayTest::Since, *date),
            SearchKey::SentBefore(date) => Self::SentDay(DayTest::Before, *date),
            SearchKey::SentOn(date) => Self::SentDay(DayTest::On, *date),
            SearchKey::SentSince(date) => Self::SentDay(DayTest::Since, *date),

            SearchKey::Larger(size) => Self::Larger(*size),
            SearchKey::Smaller(size) => Self::Smaller(*size),

            SearchKey::From(text) => field("From", text),
            SearchKey::To(text) => field("To", text),
            SearchKey::Cc(text) => field("Cc", text),
            SearchKey::Bcc(text) => field("Bcc", text),
            SearchKey::Subject(text) => field("Subject", text),
            SearchKey::Header(name, text) => field(name, text),
            SearchKey::Body(text) => Self::Body(Needle::new(text)),
            SearchKey::Text(text) => Self::Text(Needle::new(text)),

            SearchKey::Uid(SequenceSet::Saved) | SearchKey::SequenceSet(SequenceSet::Saved) => {
                Self::Saved
            }
            SearchKey::Uid(SequenceSet::Ranges(ranges)) => {
                Self::Uids(Spans::new(ranges, context.max_uid))
            }
            SearchKey::SequenceSet(SequenceSet::Ranges(ranges)) => {
                Self::Sequence(Spans::new(ranges, context.max_seq))
            }

            SearchKey::ModSeq(modseq) => Self::ModSeq(*modseq),

            // Keys with keys inside are `compile`'s.
            SearchKey::Not(_) | SearchKey::Or(..) | SearchKey::And(_) => {
                Self::compile(key, context)
            }
        }
    }

    /// Evaluates the test; like `compile`, recursion only passes through the combinators.
    fn eval(&self, facts: &Facts, saved: &[u32]) -> bool {
        match self {
            Self::Not(test) => !test.eval(facts, saved),
            Self::Or(left, right) => left.eval(facts, saved) || right.eval(facts, saved),
            Self::And(tests) => tests.iter().all(|test| test.eval(facts, saved)),
            leaf => leaf.eval_leaf(facts, saved),
        }
    }

    fn eval_leaf(&self, facts: &Facts, saved: &[u32]) -> bool {
        match self {
            Self::Constant(value) => *value,
            Self::Flag { flag, set } => facts.has_flag(flag) == *set,
            // Keywords are atoms, so ASCII case folding is the whole of their case rule
            // (RFC 9051 section 2.3.2: flags are case-insensitive).
            Self::Keyword { keyword, set } => facts.has_flag(keyword) == *set,

            Self::InternalDay(test, date) => test.holds(facts.internal_date.div_euclid(DAY), *date),
            // A message without a (parsable) Date field has no sent date to compare.
            Self::SentDay(test, date) => facts.sent_day().is_some_and(|day| test.holds(day, *date)),

            // RFC 9051: LARGER and SMALLER are strict.
            Self::Larger(size) => facts.size > *size,
            Self::Smaller(size) => facts.size < *size,

            Self::Field { field, needle } => facts.field_contains(field, needle),
            Self::Body(needle) => needle.is_in(facts.body()),
            Self::Text(needle) => needle.is_in(facts.header()) || needle.is_in(facts.body()),

            Self::Uids(spans) => spans.contains(facts.uid),
            Self::Sequence(spans) => spans.contains(facts.seq),
            Self::Saved => saved.binary_search(&facts.uid).is_ok(),

            // RFC 7162 section 3.1.5: "equal to or greater than".
            Self::ModSeq(modseq) => facts.modseq >= *modseq,

            Self::Not(_) | Self::Or(..) | Self::And(_) => self.eval(facts, saved),
        }
    }
}

fn key_needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        SearchKey::Not(key) => key_needs_content(key),
        SearchKey::Or(left, right) => key_needs_content(left) || key_needs_content(right),
        SearchKey::And(keys) => keys.iter().any(key_needs_content),
        _ => false,
    }
}

fn key_uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(key) => key_uses_modseq(key),
        SearchKey::Or(left, right) => key_uses_modseq(left) || key_uses_modseq(right),
        SearchKey::And(keys) => keys.iter().any(key_uses_modseq),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-10 00:00:00 UTC, in days and seconds.
    const MARCH_10: i64 = 19_792;
    const MARCH_10_SECS: i64 = MARCH_10 * DAY;

    /// A message's content without MIME parsing.
    #[derive(Default)]
    struct Fake {
        headers: Vec<(&'static str, &'static str)>,
        date: Option<i64>,
        body: &'static str,
    }

    impl Content for Fake {
        fn header_values(&self, name: &str) -> Vec<String> {
            let named = self
                .headers
                .iter()
                .filter(|(field, _)| field.eq_ignore_ascii_case(name));
            named.map(|(_, value)| (*value).to_owned()).collect()
        }

        fn sent_date(&self) -> Option<i64> {
            self.date
        }

        fn body_text(&self) -> String {
            self.body.to_owned()
        }

        fn header_text(&self) -> String {
            self.headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}\r\n"))
                .collect()
        }
    }

    fn flags(list: &[&str]) -> Vec<String> {
        list.iter().map(|flag| (*flag).to_owned()).collect()
    }

    fn candidate(flags: &[String]) -> Candidate<'_> {
        Candidate {
            seq: 3,
            uid: 30,
            flags,
            internal_date: MARCH_10_SECS + 12 * 3600,
            size: 2000,
            modseq: 50,
            content: None,
        }
    }

    const CONTEXT: Context<'static> = Context {
        max_seq: 5,
        max_uid: 50,
        saved: &[],
    };

    /// Evaluates `criteria` against the default candidate with `flags` and no content.
    fn check(criteria: &[SearchKey], flag_list: &[&str]) -> bool {
        let flags = flags(flag_list);
        matches(criteria, &candidate(&flags), &CONTEXT)
    }

    /// Evaluates `criteria` against the default candidate with fake content.
    fn check_content(criteria: &[SearchKey], content: &Fake) -> bool {
        let matcher = Matcher::new(criteria, &CONTEXT);
        let facts = Facts::new(&candidate(&[]), Some(content));
        matcher.evaluate(&facts)
    }

    fn one(key: SearchKey) -> bool {
        check(&[key], &[])
    }

    fn not(key: SearchKey) -> SearchKey {
        SearchKey::Not(Box::new(key))
    }

    fn or(left: SearchKey, right: SearchKey) -> SearchKey {
        SearchKey::Or(Box::new(left), Box::new(right))
    }

    fn ranges(list: &[(u32, u32)]) -> SequenceSet {
        let value = |n| {
            if n == 0 {
                SeqNumber::Largest
            } else {
                SeqNumber::Value(n)
            }
        };
        SequenceSet::Ranges(list.iter().map(|&(a, b)| (value(a), value(b))).collect())
    }

    fn letter() -> Fake {
        Fake {
            headers: vec![
                ("From", "Émile Zola <emile@example.org>"),
                ("To", "alice@example.com"),
                ("Cc", "Bob <bob@example.com>"),
                ("Subject", "Réunion de STRASSE"),
                ("X-Spam", "no"),
                ("X-Empty", ""),
            ],
            date: Some(MARCH_10_SECS + 23 * 3600),
            body: "Hello Wörld, the meeting is at noon.",
        }
    }

    #[test]
    fn all_old_new_recent() {
        assert!(one(SearchKey::All));
        assert!(one(SearchKey::Old));
        assert!(!one(SearchKey::New));
        assert!(!one(SearchKey::Recent));
        assert!(one(not(SearchKey::Recent)));
        assert!(check(&[], &[]), "no criteria is ALL");
    }

    #[test]
    fn system_flags() {
        let cases = [
            (SearchKey::Answered, SearchKey::Unanswered, "\\Answered"),
            (SearchKey::Deleted, SearchKey::Undeleted, "\\Deleted"),
            (SearchKey::Draft, SearchKey::Undraft, "\\Draft"),
            (SearchKey::Flagged, SearchKey::Unflagged, "\\Flagged"),
            (SearchKey::Seen, SearchKey::Unseen, "\\Seen"),
        ];
        for (set, unset, flag) in cases {
            let (set, unset) = ([set], [unset]);
            assert!(check(&set, &[flag]), "{flag}");
            assert!(!check(&unset, &[flag]), "{flag}");
            assert!(!check(&set, &["$Other"]), "{flag}");
            assert!(check(&unset, &["$Other"]), "{flag}");
            assert!(check(&set, &[&flag.to_ascii_uppercase()]), "{flag} case");
        }
    }

    #[test]
    fn keywords_case_insensitive() {
        let keyword = |k: &str| SearchKey::Keyword(k.to_owned());
        let unkeyword = |k: &str| SearchKey::Unkeyword(k.to_owned());
        assert!(check(&[keyword("$Junk")], &["$Junk"]));
        assert!(check(&[keyword("$junk")], &["$JUNK"]));
        assert!(!check(&[keyword("$Junk")], &["$NotJunk"]));
        assert!(!check(&[unkeyword("$junk")], &["$Junk"]));
        assert!(check(&[unkeyword("$Junk")], &["\\Seen"]));
        assert!(
            !check(&[keyword("Seen")], &["\\Seen"]),
            "a keyword is not a system flag"
        );
    }

    #[test]
    fn internal_date_day_boundaries() {
        let at = |secs: i64, key: SearchKey| {
            let flags = Vec::new();
            let candidate = Candidate {
                internal_date: secs,
                ..candidate(&flags)
            };
            matches(&[key], &candidate, &CONTEXT)
        };
        let first = MARCH_10_SECS;
        let last = MARCH_10_SECS + DAY - 1;

        for secs in [first, last] {
            assert!(at(secs, SearchKey::On(MARCH_10)));
            assert!(at(secs, SearchKey::Since(MARCH_10)));
            assert!(!at(secs, SearchKey::Before(MARCH_10)));
            assert!(at(secs, SearchKey::Before(MARCH_10 + 1)));
            assert!(!at(secs, SearchKey::Since(MARCH_10 + 1)));
            assert!(at(secs, SearchKey::Since(MARCH_10 - 1)));
        }
        assert!(!at(first - 1, SearchKey::On(MARCH_10)));
        assert!(at(first - 1, SearchKey::Before(MARCH_10)));
        assert!(!at(last + 1, SearchKey::On(MARCH_10)));

        // Before the epoch, days still start at midnight.
        assert!(at(-1, SearchKey::On(-1)));
        assert!(at(-DAY, SearchKey::On(-1)));
        assert!(!at(-DAY - 1, SearchKey::On(-1)));
    }

    #[test]
    fn sent_dates_use_utc_day() {
        let at = |date: Option<i64>, key: SearchKey| {
            check_content(
                &[key],
                &Fake {
                    date,
                    ..Fake::default()
                },
            )
        };
        let late = Some(MARCH_10_SECS + DAY - 1);

        assert!(at(late, SearchKey::SentOn(MARCH_10)));
        assert!(at(late, SearchKey::SentSince(MARCH_10)));
        assert!(!at(late, SearchKey::SentBefore(MARCH_10)));
        assert!(at(late, SearchKey::SentBefore(MARCH_10 + 1)));
        assert!(!at(Some(MARCH_10_SECS + DAY), SearchKey::SentOn(MARCH_10)));

        // No Date field: no SENT* key matches, and NOT of one does.
        assert!(!at(None, SearchKey::SentOn(MARCH_10)));
        assert!(!at(None, SearchKey::SentBefore(i64::MAX)));
        assert!(!at(None, SearchKey::SentSince(i64::MIN)));
        assert!(at(None, not(SearchKey::SentOn(MARCH_10))));

        // The internal date plays no part.
        let flags = Vec::new();
        assert!(!matches(
            &[SearchKey::SentOn(MARCH_10)],
            &candidate(&flags),
            &CONTEXT
        ));
    }

    #[test]
    fn sizes_are_strict() {
        assert!(one(SearchKey::Larger(1999)));
        assert!(!one(SearchKey::Larger(2000)));
        assert!(one(SearchKey::Smaller(2001)));
        assert!(!one(SearchKey::Smaller(2000)));
        assert!(!one(SearchKey::Smaller(0)));
        assert!(!one(SearchKey::Larger(u64::MAX)));
    }

    #[test]
    fn address_and_subject_fields() {
        let letter = letter();
        let has = |key: SearchKey| check_content(&[key], &letter);

        assert!(has(SearchKey::From("zola".into())));
        assert!(has(SearchKey::From("ÉMILE".into())));
        assert!(has(SearchKey::From("emile@EXAMPLE.org".into())));
        assert!(!has(SearchKey::From("alice".into())));
        assert!(has(SearchKey::To("ALICE@".into())));
        assert!(has(SearchKey::Cc("bob".into())));
        assert!(!has(SearchKey::Bcc("bob".into())));
        assert!(!has(SearchKey::Bcc(String::new())), "no Bcc field at all");
        assert!(has(SearchKey::Subject("réunion".into())));
        assert!(
            has(SearchKey::Subject("straße".into())),
            "full case folding"
        );
        assert!(has(SearchKey::Subject(String::new())));
        assert!(
            !has(SearchKey::Subject("meeting".into())),
            "SUBJECT is not BODY"
        );
    }

    #[test]
    fn header_key() {
        let letter = letter();
        let has = |name: &str, text: &str| {
            check_content(&[SearchKey::Header(name.into(), text.into())], &letter)
        };

        assert!(has("X-Spam", "no"));
        assert!(has("x-spam", "NO"));
        assert!(!has("X-Spam", "yes"));
        // RFC 9051: an empty string matches every message having the field.
        assert!(has("X-Spam", ""));
        assert!(has("X-Empty", ""));
        assert!(!has("X-Absent", ""));
        assert!(has("Subject", "STRASSE"));
    }

    #[test]
    fn body_and_text() {
        let letter = letter();
        let has = |key: SearchKey| check_content(&[key], &letter);

        assert!(has(SearchKey::Body("wörld".into())));
        assert!(has(SearchKey::Body("WÖRLD".into())));
        assert!(has(SearchKey::Body("at noon".into())));
        assert!(
            !has(SearchKey::Body("zola".into())),
            "BODY is not the header"
        );
        assert!(has(SearchKey::Body(String::new())));
        assert!(has(SearchKey::Text("zola".into())));
        assert!(has(SearchKey::Text("NOON".into())));
        assert!(
            has(SearchKey::Text("x-spam: no".into())),
            "field names are header text"
        );
        assert!(!has(SearchKey::Text("absent".into())));

        // Several keys read the folded text once; the answers must not change.
        let keys = [
            SearchKey::Text("noon".into()),
            SearchKey::Body("meeting".into()),
        ];
        assert!(check_content(&keys, &letter));
    }

    #[test]
    fn parsed_message() {
        let raw = b"From: =?UTF-8?Q?=C3=89mile?= <emile@example.org>\r\n\
            To: alice@example.com\r\n\
            Subject: =?ISO-8859-1?Q?R=E9union?= du lundi\r\n\
            Date: Sun, 10 Mar 2024 23:30:00 -0500\r\n\
            X-Spam: no\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\
            \r\n\
            Hello W=C3=B6rld, see you at no=\r\non.\r\n";
        let message = MimeMessage::parse(raw);
        let flags = Vec::new();
        let candidate = Candidate {
            content: Some(&message),
            ..candidate(&flags)
        };
        let has = |key: SearchKey| matches(&[key], &candidate, &CONTEXT);

        assert!(has(SearchKey::From("ÉMILE".into())));
        assert!(has(SearchKey::To("alice".into())));
        assert!(!has(SearchKey::Cc(String::new())));
        assert!(has(SearchKey::Subject("réunion du".into())));
        assert!(has(SearchKey::Header("x-spam".into(), String::new())));
        assert!(!has(SearchKey::Header("X-Absent".into(), String::new())));
        assert!(has(SearchKey::Body("wörld".into())));
        assert!(
            has(SearchKey::Body("at noon".into())),
            "quoted-printable removed"
        );
        assert!(!has(SearchKey::Body("réunion".into())));
        assert!(has(SearchKey::Text("réunion".into())));
        assert!(has(SearchKey::Text("noon".into())));

        // 23:30 -0500 is 04:30 UTC on the 11th, the day compared.
        assert!(has(SearchKey::SentOn(MARCH_10 + 1)));
        assert!(!has(SearchKey::SentOn(MARCH_10)));
        assert!(has(SearchKey::SentSince(MARCH_10 + 1)));
        assert!(has(SearchKey::SentBefore(MARCH_10 + 2)));
    }

    #[test]
    fn missing_content_is_an_empty_message() {
        assert!(!one(SearchKey::Subject(String::new())));
        assert!(!one(SearchKey::Body("x".into())));
        assert!(one(SearchKey::Body(String::new())));
        assert!(one(not(SearchKey::From("x".into()))));
    }

    #[test]
    fn folding() {
        assert_eq!(fold("AbC"), "abc");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ΟΔΟΣ"), fold("οδος"));
        assert_eq!(fold("ΟΔΟΣ"), fold("οδοσ"));
        assert_eq!(fold("\u{212A}elvin"), "kelvin");
        assert_eq!(fold("ﬁle"), "file");
        assert!(Needle::new("Σ").is_in(&fold("λόγος")));
        assert!(Needle::new("").is_in(""));
    }

    #[test]
    fn uid_sets() {
        let uid = |list: &[(u32, u32)]| one(SearchKey::Uid(ranges(list)));

        assert!(uid(&[(30, 30)]));
        assert!(!uid(&[(31, 31)]));
        assert!(uid(&[(1, 10), (20, 40)]));
        assert!(uid(&[(40, 20)]), "reversed range");
        assert!(!uid(&[(1, 29), (31, 100)]));
        assert!(uid(&[(0, 0), (30, 30)]));
        assert!(!uid(&[(0, 0)]), "* is UID 50");
        assert!(uid(&[(0, 1)]), "*:1 is 1:50");
        assert!(uid(&[(1, u32::MAX)]));
    }

    #[test]
    fn star_above_range_includes_largest() {
        // RFC 9051 section 9: 3291:* includes the last UID even below 3291.
        let flags = Vec::new();
        let last = Candidate {
            uid: 50,
            seq: 5,
            ..candidate(&flags)
        };
        let key = SearchKey::Uid(ranges(&[(3291, 0)]));
        assert!(matches(&[key], &last, &CONTEXT));
        let key = SearchKey::SequenceSet(ranges(&[(9, 0)]));
        assert!(matches(&[key], &last, &CONTEXT));
    }

    #[test]
    fn sequence_sets() {
        let seq = |list: &[(u32, u32)]| one(SearchKey::SequenceSet(ranges(list)));

        assert!(seq(&[(3, 3)]));
        assert!(seq(&[(1, 0)]));
        assert!(!seq(&[(0, 0)]), "* is message 5");
        assert!(!seq(&[(30, 30)]), "a UID is not a sequence number");
        assert!(seq(&[(1, 1), (2, 2), (3, 3)]));
    }

    #[test]
    fn saved_result_compares_uids() {
        let flags = Vec::new();
        let context = Context {
            saved: &[50, 30, 7],
            ..CONTEXT
        };
        let candidate = candidate(&flags);
        for key in [
            SearchKey::Uid(SequenceSet::Saved),
            SearchKey::SequenceSet(SequenceSet::Saved),
        ] {
            assert!(matches(std::slice::from_ref(&key), &candidate, &context));
            assert!(!matches(&[key], &candidate, &CONTEXT), "empty saved result");
        }
        let context = Context {
            saved: &[3],
            ..CONTEXT
        };
        assert!(!matches(
            &[SearchKey::SequenceSet(SequenceSet::Saved)],
            &candidate,
            &context
        ));
    }

    #[test]
    fn modseq_is_at_least() {
        assert!(one(SearchKey::ModSeq(49)));
        assert!(one(SearchKey::ModSeq(50)));
        assert!(!one(SearchKey::ModSeq(51)));
        assert!(uses_modseq(&[not(or(
            SearchKey::All,
            SearchKey::ModSeq(1)
        ))]));
        assert!(!uses_modseq(&[SearchKey::All]));
    }

    #[test]
    fn empty_mailbox() {
        let flags = Vec::new();
        let context = Context {
            max_seq: 0,
            max_uid: 0,
            saved: &[],
        };
        let candidate = candidate(&flags);
        for key in [
            SearchKey::Uid(ranges(&[(0, 0)])),
            SearchKey::SequenceSet(ranges(&[(0, 0)])),
            SearchKey::Uid(SequenceSet::Ranges(Vec::new())),
            SearchKey::Uid(SequenceSet::Saved),
        ] {
            assert!(!matches(&[key], &candidate, &context));
        }
        assert!(resolve_set(&ranges(&[(0, 0)]), SetKind::Uid, &[], &[]).is_empty());
        assert!(resolve_set(&ranges(&[(1, 0)]), SetKind::Sequence, &[], &[]).is_empty());
        assert!(resolve_set(&SequenceSet::Saved, SetKind::Uid, &[], &[1, 2]).is_empty());
    }

    #[test]
    fn combinations() {
        let flags = ["\\Seen"];
        assert!(check(&[or(SearchKey::Seen, SearchKey::Flagged)], &flags));
        assert!(check(&[or(SearchKey::Flagged, SearchKey::Seen)], &flags));
        assert!(!check(
            &[or(SearchKey::Flagged, SearchKey::Deleted)],
            &flags
        ));
        assert!(check(&[not(SearchKey::Flagged)], &flags));
        assert!(!check(&[not(not(SearchKey::Flagged))], &flags));
        assert!(check(&[SearchKey::Seen, SearchKey::Larger(10)], &flags));
        assert!(!check(
            &[SearchKey::Seen, SearchKey::Larger(10_000)],
            &flags
        ));

        let nested = SearchKey::And(vec![
            SearchKey::Seen,
            or(
                SearchKey::Flagged,
                SearchKey::And(vec![SearchKey::Undeleted, SearchKey::All]),
            ),
        ]);
        assert!(check(std::slice::from_ref(&nested), &flags));
        assert!(!check(&[nested], &["\\Seen", "\\Deleted"]));
        assert!(
            check(&[SearchKey::And(Vec::new())], &[]),
            "an empty group is true"
        );

        let letter = letter();
        let mixed = [or(
            SearchKey::From("nobody".into()),
            SearchKey::Body("noon".into()),
        )];
        assert!(check_content(&mixed, &letter));
    }

    #[test]
    fn needs_content_looks_inside() {
        assert!(!needs_content(&[
            SearchKey::All,
            SearchKey::Seen,
            SearchKey::Before(1)
        ]));
        assert!(!needs_content(&[
            SearchKey::Uid(SequenceSet::Saved),
            SearchKey::ModSeq(1)
        ]));
        for key in [
            SearchKey::Bcc(String::new()),
            SearchKey::Body(String::new()),
            SearchKey::Cc(String::new()),
            SearchKey::From(String::new()),
            SearchKey::Header(String::new(), String::new()),
            SearchKey::SentBefore(0),
            SearchKey::SentOn(0),
            SearchKey::SentSince(0),
            SearchKey::Subject(String::new()),
            SearchKey::Text(String::new()),
            SearchKey::To(String::new()),
        ] {
            assert!(needs_content(std::slice::from_ref(&key)), "{key:?}");
            let deep = SearchKey::And(vec![SearchKey::All, or(SearchKey::Seen, not(key))]);
            assert!(needs_content(&[deep]));
        }
        let matcher = Matcher::new(&[SearchKey::Body("x".into())], &CONTEXT);
        assert!(matcher.needs_content());
    }

    #[test]
    fn deep_nesting() {
        // The parser stops at about 100 levels; 1000 leaves a margin on a test thread's
        // stack, in a debug build.
        let mut key = SearchKey::Seen;
        for _ in 0..300 {
            key = not(not(key));
        }
        for _ in 0..200 {
            key = SearchKey::And(vec![or(SearchKey::Deleted, key)]);
        }
        let criteria = [key];
        assert!(check(&criteria, &["\\Seen"]));
        assert!(!check(&criteria, &[]));
        assert!(!needs_content(&criteria));
    }

    #[test]
    fn resolve_uid_sets() {
        let uids = [2, 4, 6, 8, 10];
        let resolve = |list: &[(u32, u32)]| resolve_set(&ranges(list), SetKind::Uid, &uids, &[]);

        assert_eq!(resolve(&[(4, 4)]), [1]);
        assert_eq!(resolve(&[(3, 7)]), [1, 2]);
        assert_eq!(resolve(&[(7, 3)]), [1, 2]);
        assert_eq!(
            resolve(&[(5, 5)]),
            [] as [usize; 0],
            "absent UIDs are ignored"
        );
        assert_eq!(resolve(&[(0, 0)]), [4]);
        assert_eq!(resolve(&[(100, 0)]), [4], "n:* with n above the last UID");
        assert_eq!(resolve(&[(1, 0)]), [0, 1, 2, 3, 4]);
        assert_eq!(resolve(&[(8, 10), (1, 4), (3, 5), (10, 10)]), [0, 1, 3, 4]);
        assert_eq!(resolve(&[(1, u32::MAX)]), [0, 1, 2, 3, 4]);
        assert_eq!(resolve(&[(11, u32::MAX)]), [] as [usize; 0]);
    }

    #[test]
    fn resolve_sequence_sets() {
        let uids = [2, 4, 6, 8, 10];
        let resolve =
            |list: &[(u32, u32)]| resolve_set(&ranges(list), SetKind::Sequence, &uids, &[]);

        assert_eq!(resolve(&[(1, 1)]), [0]);
        assert_eq!(resolve(&[(2, 3), (5, 5)]), [1, 2, 4]);
        assert_eq!(resolve(&[(0, 0)]), [4]);
        assert_eq!(resolve(&[(0, 3)]), [2, 3, 4]);
        assert_eq!(
            resolve(&[(4, 9)]),
            [3, 4],
            "numbers above the count name nothing"
        );
        assert_eq!(resolve(&[(9, 0)]), [4]);
        assert_eq!(resolve(&[(6, 9)]), [] as [usize; 0]);
        assert_eq!(resolve(&[(1, u32::MAX)]), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn resolve_saved() {
        let uids = [2, 4, 6, 8, 10];
        for kind in [SetKind::Uid, SetKind::Sequence] {
            let saved = [10, 3, 2, 10, 6];
            assert_eq!(
                resolve_set(&SequenceSet::Saved, kind, &uids, &saved),
                [0, 2, 4]
            );
            assert!(resolve_set(&SequenceSet::Saved, kind, &uids, &[]).is_empty());
        }
    }

    #[test]
    fn resolve_large() {
        // 100,000 messages with every other UID, and a set of 50,000 single numbers
        // plus the whole 32-bit range: linear-logarithmic, never 4 billion entries.
        let uids: Vec<u32> = (1..=100_000).map(|n| n * 2).collect();
        let singles: Vec<(u32, u32)> = (1..=50_000).map(|n| (n * 4, n * 4)).collect();

        let positions = resolve_set(&ranges(&singles), SetKind::Uid, &uids, &[]);
        assert_eq!(positions.len(), 50_000);
        assert_eq!(positions[..3], [1, 3, 5]);

        let everything = ranges(&[(1, u32::MAX)]);
        assert_eq!(
            resolve_set(&everything, SetKind::Uid, &uids, &[]).len(),
            100_000
        );
        assert_eq!(
            resolve_set(&everything, SetKind::Sequence, &uids, &[]).len(),
            100_000
        );

        let matcher = Matcher::new(&[SearchKey::Uid(ranges(&singles))], &CONTEXT);
        let flags = Vec::new();
        let found = uids
            .iter()
            .filter(|&&uid| {
                matcher.matches(&Candidate {
                    uid,
                    ..candidate(&flags)
                })
            })
            .count();
        assert_eq!(found, 50_000);
    }

    #[test]
    fn spans_merge() {
        let spans = Spans::new(
            &[
                (SeqNumber::Value(5), SeqNumber::Value(1)),
                (SeqNumber::Value(6), SeqNumber::Value(6)),
                (SeqNumber::Value(u32::MAX), SeqNumber::Value(10)),
                (SeqNumber::Value(8), SeqNumber::Value(9)),
            ],
            0,
        );
        assert_eq!(spans.as_slice(), [(1, 6), (8, u32::MAX)]);
        assert!(spans.contains(u32::MAX));
        assert!(!spans.contains(7));
        assert!(!spans.contains(0));
    }
}
