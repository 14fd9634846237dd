//! SEARCH (RFC 9051 section 6.4.4, RFC 7162 section 3.1.5 MODSEQ), with the rev1 keys of
//! RFC 3501.

use std::borrow::Cow;

use super::basic::{
    PResult, astring, atom, atom_string, close_paren, date, expect, failure, keyword,
    mod_sequence_valzer, number64, open_paren, peek_is, quoted, require_sp, sequence_set, sp,
    strip_keyword,
};
use super::{Reason, upper_name};
use crate::command::{CommandBody, SearchKey, SearchReturn};

/// How deeply NOT, OR and parenthesised lists may nest in SEARCH criteria. Each level is a
/// recursive call, so the bound keeps `NOT NOT NOT ...` or `((((...` from exhausting the
/// stack; real clients stay within a handful of levels.
pub const MAX_SEARCH_DEPTH: usize = 100;

/// What the search strings are decoded under.
#[derive(Debug, Clone, Copy)]
struct Context {
    /// A CHARSET other than UTF-8 or US-ASCII was named: non-UTF-8 text is then a charset
    /// problem (`NO [BADCHARSET]`) rather than a syntax error.
    foreign_charset: bool,
}

/// ```text
/// search         = "SEARCH" [search-return-opts] SP search-program
/// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
/// charset        = atom / quoted
/// ```
pub(super) fn search(input: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (mut rest, _) = require_sp(input)?;

    // RETURN and CHARSET are no search keys, so they can only start these parts.
    let mut returns = None;
    if let Some(after) = strip_keyword(rest, "RETURN") {
        let (after, _) = require_sp(after)?;
        let (after, options) = search_return_opts(after)?;
        returns = Some(options);
        (rest, _) = require_sp(after)?;
    }

    let mut charset = None;
    if let Some(after) = strip_keyword(rest, "CHARSET") {
        let (after, _) = require_sp(after)?;
        let (after, name) = match after.first() {
            Some(b'"') => {
                let (after, name) = quoted(after)?;
                (after, super::basic::utf8(after, name)?)
            }
            _ => expect(Reason::Syntax, atom_string(after))?,
        };
        charset = Some(name);
        (rest, _) = require_sp(after)?;
    }

    let foreign_charset = charset.as_deref().is_some_and(|name| {
        !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII")
    });
    let context = Context { foreign_charset };

    let mut criteria = Vec::new();
    loop {
        let (after, key) = search_key(rest, 0, context)?;
        criteria.push(key);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                return Ok((
                    after,
                    CommandBody::Search {
                        uid,
                        returns,
                        charset,
                        criteria,
                    },
                ));
            }
        }
    }
}

/// ```text
/// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
/// search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"
/// ```
///
/// An empty list means `(ALL)` (RFC 9051 section 6.4.4). Repeated options count once.
fn search_return_opts(input: &[u8]) -> PResult<'_, Vec<SearchReturn>> {
    let (mut rest, _) = expect(Reason::SearchReturn, open_paren(input))?;
    let mut options = Vec::new();
    if let Some(after) = rest.strip_prefix(b")") {
        return Ok((after, vec![SearchReturn::All]));
    }

    loop {
        let (after, name) = expect(Reason::SearchReturn, keyword(rest))?;
        let option = match name.to_ascii_uppercase().as_slice() {
            b"MIN" => SearchReturn::Min,
            b"MAX" => SearchReturn::Max,
            b"ALL" => SearchReturn::All,
            b"COUNT" => SearchReturn::Count,
            b"SAVE" => SearchReturn::Save,
            _ => return failure(rest, Reason::SearchReturn),
        };
        if !options.contains(&option) {
            options.push(option);
        }
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = close_paren(after)?;
                return Ok((after, options));
            }
        }
    }
}

/// ```text
/// search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
///              "BODY" SP astring / "CC" SP astring / "DELETED" / "FLAGGED" /
///              "FROM" SP astring / "KEYWORD" SP flag-keyword / "ON" SP date /
///              "SEEN" / "SINCE" SP date / "SUBJECT" SP astring /
///              "TEXT" SP astring / "TO" SP astring / "UNANSWERED" / "UNDELETED" /
///              "UNFLAGGED" / "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" /
///              "HEADER" SP header-fld-name SP astring / "LARGER" SP number64 /
///              "NOT" SP search-key / "OR" SP search-key SP search-key /
///              "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date /
///              "SMALLER" SP number64 / "UID" SP sequence-set / "UNDRAFT" /
///              sequence-set / "(" search-key *(SP search-key) ")" /
///              "NEW" / "OLD" / "RECENT"   ; RFC 3501
/// search-key =/ search-modsequence       ; RFC 7162
/// ```
///
/// `depth` counts the NOT, OR and parentheses around this key.
fn search_key(input: &[u8], depth: usize, context: Context) -> PResult<'_, SearchKey> {
    if depth > MAX_SEARCH_DEPTH {
        return failure(input, Reason::TooDeep);
    }

    match input.first() {
        Some(b'(') => return search_key_list(input, depth, context),
        Some(b'0'..=b'9' | b'*' | b'$') => {
            let (rest, set) = sequence_set(input)?;
            return Ok((rest, SearchKey::SequenceSet(set)));
        }
        _ => {}
    }

    let (rest, name) = expect(Reason::SearchKey, keyword(input))?;
    let Some(upper) = upper_name(name) else {
        return failure(input, Reason::SearchKey);
    };

    let string = |rest| text_argument(rest, context);
    let key = match &upper[..name.len()] {
        b"ALL" => SearchKey::All,
        b"ANSWERED" => SearchKey::Answered,
        b"DELETED" => SearchKey::Deleted,
        b"DRAFT" => SearchKey::Draft,
        b"FLAGGED" => SearchKey::Flagged,
        b"NEW" => SearchKey::New,
        b"OLD" => SearchKey::Old,
        b"RECENT" => SearchKey::Recent,
        b"SEEN" => SearchKey::Seen,
        b"UNANSWERED" => SearchKey::Unanswered,
        b"UNDELETED" => SearchKey::Undeleted,
        b"UNDRAFT" => SearchKey::Undraft,
        b"UNFLAGGED" => SearchKey::Unflagged,
        b"UNSEEN" => SearchKey::Unseen,

        b"BCC" => return string(rest).map(|(rest, text)| (rest, SearchKey::Bcc(text))),
        b"BODY" => return string(rest).map(|(rest, text)| (rest, SearchKey::Body(text))),
        b"CC" => return string(rest).map(|(rest, text)| (rest, SearchKey::Cc(text))),
        b"FROM" => return string(rest).map(|(rest, text)| (rest, SearchKey::From(text))),
        b"SUBJECT" => return string(rest).map(|(rest, text)| (rest, SearchKey::Subject(text))),
        b"TEXT" => return string(rest).map(|(rest, text)| (rest, SearchKey::Text(text))),
        b"TO" => return string(rest).map(|(rest, text)| (rest, SearchKey::To(text))),
        b"HEADER" => {
            // header-fld-name = astring
            let (rest, field) = string(rest)?;
            let (rest, value) = string(rest)?;
            return Ok((rest, SearchKey::Header(field, value)));
        }

        b"BEFORE" => return date_argument(rest).map(|(rest, d)| (rest, SearchKey::Before(d))),
        b"ON" => return date_argument(rest).map(|(rest, d)| (rest, SearchKey::On(d))),
        b"SINCE" => return date_argument(rest).map(|(rest, d)| (rest, SearchKey::Since(d))),
        b"SENTBEFORE" => {
            return date_argument(rest).map(|(rest, d)| (rest, SearchKey::SentBefore(d)));
        }
        b"SENTON" => return date_argument(rest).map(|(rest, d)| (rest, SearchKey::SentOn(d))),
        b"SENTSINCE" => {
            return date_argument(rest).map(|(rest, d)| (rest, SearchKey::SentSince(d)));
        }

        b"KEYWORD" => {
            return flag_keyword(rest).map(|(rest, k)| (rest, SearchKey::Keyword(k)));
        }
        b"UNKEYWORD" => {
            return flag_keyword(rest).map(|(rest, k)| (rest, SearchKey::Unkeyword(k)));
        }
        b"LARGER" => return size(rest).map(|(rest, n)| (rest, SearchKey::Larger(n))),
        b"SMALLER" => return size(rest).map(|(rest, n)| (rest, SearchKey::Smaller(n))),
        b"UID" => {
            let (rest, _) = require_sp(rest)?;
            let (rest, set) = expect(Reason::SequenceSet, sequence_set(rest))?;
            return Ok((rest, SearchKey::Uid(set)));
        }
        b"MODSEQ" => return search_modsequence(rest),

        b"NOT" => {
            let (rest, _) = require_sp(rest)?;
            let (rest, key) = search_key(rest, depth + 1, context)?;
            return Ok((rest, SearchKey::Not(Box::new(key))));
        }
        b"OR" => {
            let (rest, _) = require_sp(rest)?;
            let (rest, left) = search_key(rest, depth + 1, context)?;
            let (rest, _) = require_sp(rest)?;
            let (rest, right) = search_key(rest, depth + 1, context)?;
            return Ok((rest, SearchKey::Or(Box::new(left), Box::new(right))));
        }

        _ => return failure(input, Reason::SearchKey),
    };
    Ok((rest, key))
}

/// `"(" search-key *(SP search-key) ")"`: all of them must match.
fn search_key_list(input: &[u8], depth: usize, context: Context) -> PResult<'_, SearchKey> {
    let (mut rest, _) = open_paren(input)?;
    let mut keys = Vec::new();
    loop {
        let (after, key) = search_key(rest, depth + 1, context)?;
        keys.push(key);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = close_paren(after)?;
                return Ok((after, SearchKey::And(keys)));
            }
        }
    }
}

/// `SP astring`, the text of a search key, decoded as UTF-8.
fn text_argument(input: &[u8], context: Context) -> PResult<'_, String> {
    let (rest, _) = require_sp(input)?;
    let (after, text) = expect(Reason::SearchKey, astring(rest))?;
    match String::from_utf8(text.into_owned()) {
        Ok(text) => Ok((after, text)),
        Err(_) if context.foreign_charset => failure(rest, Reason::Charset),
        Err(_) => failure(rest, Reason::Utf8),
    }
}

/// `SP date`
fn date_argument(input: &[u8]) -> PResult<'_, i64> {
    let (rest, _) = require_sp(input)?;
    expect(Reason::Date, date(rest))
}

/// `SP number64`, a size in octets.
fn size(input: &[u8]) -> PResult<'_, u64> {
    let (rest, _) = require_sp(input)?;
    expect(Reason::Number, number64(rest))
}

/// ```text
/// flag-keyword = "$MDNSent" / "$Forwarded" / "$Junk" / "$NotJunk" / "$Phishing" / atom
/// ```
///
/// A system flag (`\Seen`) is no keyword: SEARCH has its own keys for those.
fn flag_keyword(input: &[u8]) -> PResult<'_, String> {
    let (rest, _) = require_sp(input)?;
    let (after, raw) = expect(Reason::Flag, atom(rest))?;
    Ok((after, super::basic::utf8(rest, Cow::Borrowed(raw))?))
}

/// ```text
/// search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
/// search-modseq-ext  = SP entry-name SP entry-type-req
/// entry-name         = entry-flag-name
/// entry-flag-name    = DQUOTE "/flags/" attr-flag DQUOTE
/// entry-type-req     = entry-type-resp / "all"
/// entry-type-resp    = "priv" / "shared"
/// ```
///
/// The entry name and type are checked and then ignored: this server keeps one
/// mod-sequence per message, not one per flag (RFC 7162 section 3.1.5 allows that).
fn search_modsequence(input: &[u8]) -> PResult<'_, SearchKey> {
    let (mut rest, _) = require_sp(input)?;

    if peek_is(rest, b'"') {
        let (after, name) = quoted(rest)?;
        let valid_name = name.len() > 7 && name[..7].eq_ignore_ascii_case(b"/flags/");
        if !valid_name {
            return failure(rest, Reason::SearchKey);
        }
        let (after, _) = require_sp(after)?;
        let (after, kind) = expect(Reason::SearchKey, keyword(after))?;
        let known = [&b"priv"[..], b"shared", b"all"];
        if !known.iter().any(|known| kind.eq_ignore_ascii_case(known)) {
            return failure(after, Reason::SearchKey);
        }
        (rest, _) = require_sp(after)?;
    }

    let (rest, modseq) = expect(Reason::Number, mod_sequence_valzer(rest))?;
    Ok((rest, SearchKey::ModSeq(modseq)))
}

#[cfg(test)]
mod tests {
    use super::MAX_SEARCH_DEPTH;
    use crate::command::{CommandBody, SearchKey, SearchReturn, SeqNumber, SequenceSet};
    use crate::parse::{Reason, command};
    use crate::response::days_from_civil;

    use SearchKey::*;

    type Search = (
        bool,
        Option<Vec<SearchReturn>>,
        Option<String>,
        Vec<SearchKey>,
    );

    fn search(input: &str) -> Search {
        match command(input.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Search {
                uid,
                returns,
                charset,
                criteria,
            }) => (uid, returns, charset, criteria),
            other => panic!("{input:?}: {other:?}"),
        }
    }

    fn criteria(input: &str) -> Vec<SearchKey> {
        search(input).3
    }

    fn reason(input: &[u8]) -> Reason {
        match command(input) {
            Ok(command) => panic!("{input:?} parsed as {command:?}"),
            Err(error) => error.reason,
        }
    }

    fn set(low: u32, high: u32) -> SequenceSet {
        SequenceSet::Ranges(vec![(SeqNumber::Value(low), SeqNumber::Value(high))])
    }

    #[test]
    fn every_key_without_arguments() {
        assert_eq!(
            criteria(
                "a SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED \
                 UNDELETED UNDRAFT UNFLAGGED UNSEEN\r\n"
            ),
            vec![
                All, Answered, Deleted, Draft, Flagged, New, Old, Recent, Seen, Unanswered,
                Undeleted, Undraft, Unflagged, Unseen
            ]
        );
        assert_eq!(criteria("a search all unseen\r\n"), vec![All, Unseen]);
    }

    #[test]
    fn every_key_with_arguments() {
        let day = days_from_civil(1994, 2, 1);
        assert_eq!(
            criteria(
                "a SEARCH BCC b BODY \"x y\" CC {1}\r\nc FROM f SUBJECT s TEXT t TO o \
                 HEADER X-Foo \"\" BEFORE 1-Feb-1994 ON \"1-Feb-1994\" SINCE 01-Feb-1994 \
                 SENTBEFORE 1-Feb-1994 SENTON 1-Feb-1994 SENTSINCE 1-Feb-1994 \
                 KEYWORD $Forwarded UNKEYWORD Junk LARGER 1000 SMALLER 9223372036854775807 \
                 UID 1:5 2:4 MODSEQ 0\r\n"
            ),
            vec![
                Bcc("b".into()),
                Body("x y".into()),
                Cc("c".into()),
                From("f".into()),
                Subject("s".into()),
                Text("t".into()),
                To("o".into()),
                Header("X-Foo".into(), String::new()),
                Before(day),
                On(day),
                Since(day),
                SentBefore(day),
                SentOn(day),
                SentSince(day),
                Keyword("$Forwarded".into()),
                Unkeyword("Junk".into()),
                Larger(1000),
                Smaller(i64::MAX as u64),
                Uid(set(1, 5)),
                SearchKey::SequenceSet(set(2, 4)),
                ModSeq(0),
            ]
        );
    }

    #[test]
    fn or_not_and_lists_nest() {
        assert_eq!(
            criteria("a SEARCH OR (FROM \"a\" SUBJECT \"b\") NOT (TO c) *\r\n"),
            vec![
                Or(
                    Box::new(And(vec![From("a".into()), Subject("b".into())])),
                    Box::new(Not(Box::new(And(vec![To("c".into())]))))
                ),
                SearchKey::SequenceSet(SequenceSet::Ranges(vec![(
                    crate::command::SeqNumber::Largest,
                    crate::command::SeqNumber::Largest
                )]))
            ]
        );
        assert_eq!(reason(b"a SEARCH (SEEN\r\n"), Reason::Parenthesis);
        assert_eq!(reason(b"a SEARCH SEEN)\r\n"), Reason::Parenthesis);
        assert_eq!(reason(b"a SEARCH ()\r\n"), Reason::SearchKey);
        assert_eq!(reason(b"a SEARCH OR SEEN\r\n"), Reason::MissingArgument);
        assert_eq!(reason(b"a SEARCH NOT\r\n"), Reason::MissingArgument);
    }

    #[test]
    fn nesting_is_bounded() {
        let nots = |n: usize| format!("a SEARCH {}ALL\r\n", "NOT ".repeat(n));
        assert!(command(nots(MAX_SEARCH_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            reason(nots(MAX_SEARCH_DEPTH + 1).as_bytes()),
            Reason::TooDeep
        );

        let parens = |n: usize| format!("a SEARCH {}ALL{}\r\n", "(".repeat(n), ")".repeat(n));
        assert!(command(parens(MAX_SEARCH_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            reason(parens(MAX_SEARCH_DEPTH + 1).as_bytes()),
            Reason::TooDeep
        );

        // Far deeper than the bound, as an attacker would send it: refused, not a crash.
        assert_eq!(
            reason(format!("a SEARCH {}\r\n", "(".repeat(100_000)).as_bytes()),
            { Reason::TooDeep }
        );
        let ors = format!("a SEARCH {}ALL\r\n", "OR ALL ".repeat(50_000));
        assert_eq!(reason(ors.as_bytes()), Reason::TooDeep);

        // Long but flat criteria are fine.
        let flat = format!("a SEARCH {}ALL\r\n", "SEEN ".repeat(10_000));
        assert_eq!(criteria(&flat).len(), 10_001);
    }

    #[test]
    fn return_options() {
        use SearchReturn::*;
        assert_eq!(
            search("a SEARCH RETURN (MIN MAX ALL COUNT SAVE min) UNSEEN\r\n").1,
            Some(vec![Min, Max, All, Count, Save])
        );
        assert_eq!(search("a SEARCH RETURN () UNSEEN\r\n").1, Some(vec![All]));
        assert_eq!(search("a SEARCH UNSEEN\r\n").1, None);
        assert_eq!(
            reason(b"a SEARCH RETURN (PARTIAL 1:5) ALL\r\n"),
            Reason::SearchReturn
        );
        assert_eq!(reason(b"a SEARCH RETURN MIN ALL\r\n"), Reason::SearchReturn);
        assert_eq!(reason(b"a SEARCH RETURN (MIN ALL\r\n"), Reason::Parenthesis);
    }

    #[test]
    fn charsets() {
        assert_eq!(
            search("a UID SEARCH CHARSET \"utf-8\" TEXT {12}\r\nотпуск\r\n"),
            (
                true,
                None,
                Some("utf-8".into()),
                vec![Text("отпуск".into())]
            )
        );
        assert_eq!(
            reason(b"a SEARCH CHARSET UTF-8 TEXT {1}\r\n\xe9\r\n"),
            Reason::Utf8
        );
        assert_eq!(
            reason(b"a SEARCH CHARSET ISO-8859-1 TEXT {1}\r\n\xe9\r\n"),
            Reason::Charset
        );
        assert_eq!(
            reason(b"a SEARCH CHARSET UTF-8\r\n"),
            Reason::MissingArgument
        );
    }

    #[test]
    fn modseq_with_an_entry_name() {
        assert_eq!(
            criteria("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n"),
            vec![ModSeq(620162338)]
        );
        assert_eq!(
            criteria("a SEARCH OR NOT MODSEQ 720162338 LARGER 50000\r\n"),
            vec![Or(
                Box::new(Not(Box::new(ModSeq(720162338)))),
                Box::new(Larger(50000))
            )]
        );
        assert_eq!(
            reason(b"a SEARCH MODSEQ \"/x\" all 1\r\n"),
            Reason::SearchKey
        );
        assert_eq!(
            reason(b"a SEARCH MODSEQ \"/flags/a\" some 1\r\n"),
            Reason::SearchKey
        );
        assert_eq!(reason(b"a SEARCH MODSEQ x\r\n"), Reason::Number);
        assert_eq!(
            reason(b"a SEARCH MODSEQ 9223372036854775808\r\n"),
            Reason::Number
        );
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(reason(b"a SEARCH FROB\r\n"), Reason::SearchKey);
        assert_eq!(reason(b"a SEARCH SINCE 1-Foo-2020\r\n"), Reason::Date);
        assert_eq!(reason(b"a SEARCH KEYWORD \\Seen\r\n"), Reason::Flag);
        assert_eq!(reason(b"a SEARCH LARGER -1\r\n"), Reason::Number);
        assert_eq!(reason(b"a SEARCH UID x\r\n"), Reason::SequenceSet);
        assert_eq!(reason(b"a SEARCH 0\r\n"), Reason::SequenceSet);
        assert_eq!(reason(b"a SEARCH FROM \"a\rb\"\r\n"), Reason::String);
        assert_eq!(reason(b"a SEARCH\r\n"), Reason::MissingArgument);
        assert_eq!(reason(b"a SEARCH  ALL\r\n"), Reason::SearchKey);
        assert_eq!(reason(b"a SEARCH UNSEEN \r\n"), Reason::SearchKey);
    }

    #[test]
    fn the_saved_result_is_a_set() {
        assert_eq!(
            search("a UID SEARCH UID $ SMALLER 4096\r\n"),
            (
                true,
                None,
                None,
                vec![Uid(SequenceSet::Saved), Smaller(4096)]
            )
        );
        assert_eq!(
            criteria("a SEARCH $\r\n"),
            vec![SearchKey::SequenceSet(SequenceSet::Saved)]
        );
    }
}
