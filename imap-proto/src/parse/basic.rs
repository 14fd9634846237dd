//! The building blocks of the grammar (RFC 9051 section 9): tokens, strings, numbers,
//! dates, flags and sequence sets, one function per ABNF rule.
//!
//! Every parser here returns `nom::Err::Error` when its rule does not start at the input
//! (so that an alternative can be tried), and `nom::Err::Failure` with a precise
//! [`Reason`] once the rule has started and is then broken.

use std::borrow::Cow;

use nom::IResult;
use nom::bytes::complete::take_while1;
use nom::error::{ErrorKind, ParseError as NomParseError};

use super::Reason;
use crate::command::{MailboxName, SeqNumber, SequenceSet, Tag, is_astring_char, is_atom_char};
use crate::response::days_from_civil;

// ---------------------------------------------------------------------------------------------
// The error type of the internal parsers.
// ---------------------------------------------------------------------------------------------

/// An internal parse error: where it happened and why, in the terms of a BAD response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PErr<'a> {
    /// The input at the point of the error.
    pub input: &'a [u8],
    /// Why the input was refused.
    pub reason: Reason,
}

impl<'a> NomParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], _: ErrorKind) -> Self {
        Self {
            input,
            reason: Reason::Syntax,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// The result of an internal parser.
pub(super) type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

/// The rule does not start here; an alternative may be tried.
pub(super) fn mismatch<T>(input: &[u8]) -> PResult<'_, T> {
    Err(nom::Err::Error(PErr {
        input,
        reason: Reason::Syntax,
    }))
}

/// The rule started and was broken: the command is refused for `reason`.
pub(super) fn failure<T>(input: &[u8], reason: Reason) -> PResult<'_, T> {
    Err(fail(input, reason))
}

/// The error value of [`failure`], for `?` inside conversions.
pub(super) fn fail(input: &[u8], reason: Reason) -> nom::Err<PErr<'_>> {
    nom::Err::Failure(PErr { input, reason })
}

/// Makes a mismatch definite, with `reason`; a failure keeps its own, more precise reason.
pub(super) fn expect<T>(reason: Reason, result: PResult<'_, T>) -> PResult<'_, T> {
    result.map_err(|error| match error {
        nom::Err::Error(PErr { input, .. }) => fail(input, reason),
        other => other,
    })
}

/// Whether the input continues with `byte`.
pub(super) fn peek_is(input: &[u8], byte: u8) -> bool {
    input.first() == Some(&byte)
}

// ---------------------------------------------------------------------------------------------
// Separators and words.
// ---------------------------------------------------------------------------------------------

/// `SP`: exactly one space (RFC 9051 section 9, note 2: never a tab or several spaces).
pub(super) fn sp(input: &[u8]) -> PResult<'_, ()> {
    match input {
        [b' ', rest @ ..] => Ok((rest, ())),
        _ => mismatch(input),
    }
}

/// `SP` where the grammar requires one: an argument follows. At the end of the line the
/// argument is missing; anything else is a syntax error.
pub(super) fn require_sp(input: &[u8]) -> PResult<'_, ()> {
    match input {
        [b' ', rest @ ..] => Ok((rest, ())),
        [b'\r', b'\n', ..] | [] => failure(input, Reason::MissingArgument),
        _ => failure(input, Reason::Syntax),
    }
}

/// `CRLF`
pub(super) fn crlf(input: &[u8]) -> PResult<'_, ()> {
    match input {
        [b'\r', b'\n', rest @ ..] => Ok((rest, ())),
        _ => mismatch(input),
    }
}

/// `"(" ... ")"` around a list: the opening parenthesis.
pub(super) fn open_paren(input: &[u8]) -> PResult<'_, ()> {
    match input {
        [b'(', rest @ ..] => Ok((rest, ())),
        _ => mismatch(input),
    }
}

/// The closing parenthesis of a list whose items have been read: anything else there means
/// the parentheses do not balance.
pub(super) fn close_paren(input: &[u8]) -> PResult<'_, ()> {
    match input {
        [b')', rest @ ..] => Ok((rest, ())),
        _ => failure(input, Reason::Parenthesis),
    }
}

/// ```text
/// atom = 1*ATOM-CHAR
/// ```
pub(super) fn atom(input: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(is_atom_char)(input)
}

/// A keyword of the grammar (a command name, a search key, an option): the run of atom
/// characters at the input, to be compared case-insensitively (RFC 9051 section 9, note 1).
/// Keywords never contain `[`, so `BODY[` stops before the bracket; `atom` allows `]` to be
/// left out too, as it is not an ATOM-CHAR.
pub(super) fn keyword(input: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(|b: u8| is_atom_char(b) && b != b'[')(input)
}

/// ```text
/// tag = 1*<any ASTRING-CHAR except "+">
/// ```
pub(super) fn tag(input: &[u8]) -> PResult<'_, Tag> {
    let (rest, raw) = take_while1(|b: u8| is_astring_char(b) && b != b'+')(input)?;

    // ASTRING-CHARs are ASCII, so both conversions succeed; both are checked all the same.
    match std::str::from_utf8(raw).ok().and_then(Tag::new) {
        Some(tag) => Ok((rest, tag)),
        None => mismatch(input),
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers.
// ---------------------------------------------------------------------------------------------

/// `1*DIGIT` and its value, or `None` past `u64::MAX`.
fn digits(input: &[u8]) -> PResult<'_, (&[u8], Option<u64>)> {
    let (rest, digits) = take_while1(|b: u8| b.is_ascii_digit())(input)?;
    let value = digits.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    Ok((rest, (digits, value)))
}

/// ```text
/// number = 1*DIGIT   ; Unsigned 32-bit integer (0 <= n < 4,294,967,296)
/// ```
pub(super) fn number(input: &[u8]) -> PResult<'_, u32> {
    let (rest, (_, value)) = digits(input)?;
    match value.and_then(|value| u32::try_from(value).ok()) {
        Some(value) => Ok((rest, value)),
        None => failure(input, Reason::Number),
    }
}

/// ```text
/// nz-number = digit-nz *DIGIT   ; Non-zero unsigned 32-bit integer
/// ```
pub(super) fn nz_number(input: &[u8]) -> PResult<'_, u32> {
    let (rest, (digits, value)) = digits(input)?;
    let value = value.and_then(|value| u32::try_from(value).ok());
    match value {
        Some(value) if digits[0] != b'0' => Ok((rest, value)),
        _ => failure(input, Reason::Number),
    }
}

/// ```text
/// number64 = 1*DIGIT   ; Unsigned 63-bit integer (0 <= n <= 9,223,372,036,854,775,807)
/// ```
pub(super) fn number64(input: &[u8]) -> PResult<'_, u64> {
    let (rest, (_, value)) = digits(input)?;
    match value.filter(|&value| value <= i64::MAX as u64) {
        Some(value) => Ok((rest, value)),
        None => failure(input, Reason::Number),
    }
}

/// ```text
/// mod-sequence-valzer = "0" / mod-sequence-value   ; RFC 7162 section 7
/// mod-sequence-value  = 1*DIGIT                    ; positive unsigned 63-bit integer
/// ```
pub(super) fn mod_sequence_valzer(input: &[u8]) -> PResult<'_, u64> {
    number64(input)
}

/// ```text
/// mod-sequence-value = 1*DIGIT   ; positive unsigned 63-bit integer (RFC 7162 section 7)
/// ```
pub(super) fn mod_sequence_value(input: &[u8]) -> PResult<'_, u64> {
    match number64(input)? {
        (_, 0) => failure(input, Reason::Number),
        found => Ok(found),
    }
}

// ---------------------------------------------------------------------------------------------
// Strings.
// ---------------------------------------------------------------------------------------------

/// ```text
/// quoted          = DQUOTE *QUOTED-CHAR DQUOTE
/// QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
///                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
/// quoted-specials = DQUOTE / "\"
/// TEXT-CHAR       = <any CHAR except CR and LF>
/// ```
///
/// Returns the content with the escapes removed, borrowed when there were none. CR, LF and
/// NUL are refused, as is a backslash before anything but `"` or `\`, and 8-bit text that is
/// not UTF-8 (RFC 9051 allows only whole UTF-8 characters; RFC 3501 none at all).
pub(super) fn quoted(input: &[u8]) -> PResult<'_, Cow<'_, [u8]>> {
    let Some((b'"', body)) = input.split_first() else {
        return mismatch(input);
    };

    let mut unescaped: Option<Vec<u8>> = None;
    let mut run_start = 0;
    let mut at = 0;
    let end = loop {
        match body.get(at) {
            None => return failure(input, Reason::String),
            Some(b'"') => break at,
            Some(b'\\') => {
                let Some(&escaped @ (b'"' | b'\\')) = body.get(at + 1) else {
                    return failure(&body[at..], Reason::String);
                };
                let out = unescaped.get_or_insert_with(Vec::new);
                out.extend_from_slice(&body[run_start..at]);
                out.push(escaped);
                at += 2;
                run_start = at;
            }
            Some(0 | b'\r' | b'\n') => return failure(&body[at..], Reason::String),
            Some(_) => at += 1,
        }
    };

    let content = match unescaped {
        Some(mut out) => {
            out.extend_from_slice(&body[run_start..end]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(&body[..end]),
    };
    if std::str::from_utf8(&content).is_err() {
        return failure(input, Reason::Utf8);
    }
    Ok((&body[end + 1..], content))
}

/// ```text
/// literal  = "{" number64 ["+"] "}" CRLF *CHAR8    ; RFC 9051, RFC 7888 LITERAL+
/// literal8 = "~{" number64 ["+"] "}" CRLF *OCTET   ; RFC 3516 BINARY
/// CHAR8    = %x01-ff
/// ```
///
/// Returns the octets and whether this was a `literal8`. A `literal` may not contain NUL;
/// whether a `literal8` is allowed is up to the caller.
pub(super) fn literal(input: &[u8]) -> PResult<'_, (&[u8], bool)> {
    let (binary, rest) = match input {
        [b'~', b'{', rest @ ..] => (true, rest),
        [b'{', rest @ ..] => (false, rest),
        _ => return mismatch(input),
    };

    let (rest, size) = number64(rest).map_err(|_| fail(input, Reason::Literal))?;
    let rest = rest.strip_prefix(b"+").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix(b"}\r\n") else {
        return failure(input, Reason::Literal);
    };

    // The framer delivers exactly the announced octets; input from elsewhere may not.
    let Some(octets) = usize::try_from(size).ok().and_then(|size| rest.get(..size)) else {
        return failure(input, Reason::Literal);
    };
    if !binary && memchr::memchr(0, octets).is_some() {
        return failure(input, Reason::Nul);
    }
    Ok((&rest[octets.len()..], (octets, binary)))
}

/// ```text
/// string = quoted / literal
/// ```
pub(super) fn string(input: &[u8]) -> PResult<'_, Cow<'_, [u8]>> {
    match input.first() {
        Some(b'"') => quoted(input),
        Some(b'{') => {
            let (rest, (octets, _)) = literal(input)?;
            Ok((rest, Cow::Borrowed(octets)))
        }
        // RFC 3516 allows `literal8` only in APPEND and in responses.
        Some(b'~') if input.get(1) == Some(&b'{') => failure(input, Reason::Literal8),
        _ => mismatch(input),
    }
}

/// ```text
/// astring = 1*ASTRING-CHAR / string
/// ```
pub(super) fn astring(input: &[u8]) -> PResult<'_, Cow<'_, [u8]>> {
    // `~` is an ASTRING-CHAR (`~/Mail/`); only `~{` starts a (refused) literal8.
    match input {
        [b'"' | b'{', ..] | [b'~', b'{', ..] => string(input),
        _ => {
            let (rest, raw) = take_while1(is_astring_char)(input)?;
            Ok((rest, Cow::Borrowed(raw)))
        }
    }
}

/// ```text
/// nstring = string / nil
/// nil     = "NIL"
/// ```
pub(super) fn nstring(input: &[u8]) -> PResult<'_, Option<Cow<'_, [u8]>>> {
    if let Some(rest) = strip_keyword(input, "NIL") {
        return Ok((rest, None));
    }
    let (rest, text) = string(input)?;
    Ok((rest, Some(text)))
}

/// Strips the keyword `word` (case-insensitively) when it stands alone, that is, when no
/// further atom character follows it.
pub(super) fn strip_keyword<'a>(input: &'a [u8], word: &str) -> Option<&'a [u8]> {
    let head = input.get(..word.len())?;
    let rest = &input[word.len()..];
    let alone = rest.first().is_none_or(|&b| !is_atom_char(b));
    (head.eq_ignore_ascii_case(word.as_bytes()) && alone).then_some(rest)
}

/// ```text
/// mailbox = "INBOX" / astring
/// ```
///
/// The name stays raw octets (`INBOX` in any case included): the session decodes it.
pub(super) fn mailbox(input: &[u8]) -> PResult<'_, MailboxName> {
    let (rest, name) = astring(input)?;
    Ok((rest, MailboxName(name.into_owned())))
}

/// ```text
/// list-mailbox   = 1*list-char / string
/// list-char      = ATOM-CHAR / list-wildcards / resp-specials
/// list-wildcards = "%" / "*"
/// ```
pub(super) fn list_mailbox(input: &[u8]) -> PResult<'_, MailboxName> {
    let is_list_char = |b: u8| is_atom_char(b) || matches!(b, b'%' | b'*' | b']');
    let (rest, name) = match input {
        [b'"' | b'{', ..] | [b'~', b'{', ..] => string(input)?,
        _ => {
            let (rest, raw) = take_while1(is_list_char)(input)?;
            (rest, Cow::Borrowed(raw))
        }
    };
    Ok((rest, MailboxName(name.into_owned())))
}

/// Converts text that the grammar allows to be any octets into a `String`.
pub(super) fn utf8<'a>(at: &'a [u8], text: Cow<'_, [u8]>) -> Result<String, nom::Err<PErr<'a>>> {
    String::from_utf8(text.into_owned()).map_err(|_| fail(at, Reason::Utf8))
}

/// An atom as a `String` (atoms are ASCII, so this cannot fail in practice).
pub(super) fn atom_string(input: &[u8]) -> PResult<'_, String> {
    let (rest, raw) = atom(input)?;
    Ok((rest, utf8(input, Cow::Borrowed(raw))?))
}

// ---------------------------------------------------------------------------------------------
// Dates.
// ---------------------------------------------------------------------------------------------

/// ```text
/// date-month = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" /
///              "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
/// ```
fn date_month(input: &[u8]) -> PResult<'_, u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV",
        b"DEC",
    ];
    let Some(name) = input.get(..3) else {
        return mismatch(input);
    };
    match MONTHS
        .iter()
        .position(|month| name.eq_ignore_ascii_case(*month))
    {
        Some(index) => Ok((&input[3..], index as u32 + 1)),
        None => mismatch(input),
    }
}

/// `n` DIGITs exactly, as a number.
fn fixed_digits(input: &[u8], n: usize) -> PResult<'_, u32> {
    match input.get(..n) {
        Some(digits) if digits.iter().all(u8::is_ascii_digit) => {
            let value = digits
                .iter()
                .fold(0, |value, &digit| value * 10 + u32::from(digit - b'0'));
            Ok((&input[n..], value))
        }
        _ => mismatch(input),
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `"-" date-month "-" date-year` after the day, checked to be a real date; the day count
/// since 1970-01-01.
fn month_and_year(input: &[u8], day: u32) -> PResult<'_, i64> {
    let Some(rest) = input.strip_prefix(b"-") else {
        return mismatch(input);
    };
    let (rest, month) = date_month(rest)?;
    let Some(rest) = rest.strip_prefix(b"-") else {
        return mismatch(input);
    };

    // date-year = 4DIGIT
    let (rest, year) = fixed_digits(rest, 4)?;
    let year = i64::from(year);
    if day == 0 || day > days_in_month(year, month) {
        return mismatch(input);
    }
    Ok((rest, days_from_civil(year, month, day)))
}

/// ```text
/// date-text = date-day "-" date-month "-" date-year
/// date-day  = 1*2DIGIT
/// ```
fn date_text(input: &[u8]) -> PResult<'_, i64> {
    let (rest, day) = match fixed_digits(input, 2) {
        Ok(found) => found,
        Err(_) => fixed_digits(input, 1)?,
    };
    month_and_year(rest, day)
}

/// ```text
/// date = date-text / DQUOTE date-text DQUOTE
/// ```
///
/// The day count since 1970-01-01 (SEARCH compares dates without time or zone).
pub(super) fn date(input: &[u8]) -> PResult<'_, i64> {
    let result = match input.strip_prefix(b"\"") {
        Some(rest) => date_text(rest).and_then(|(rest, days)| match rest.strip_prefix(b"\"") {
            Some(rest) => Ok((rest, days)),
            None => mismatch(rest),
        }),
        None => date_text(input),
    };
    result.map_err(|_| fail(input, Reason::Date))
}

/// ```text
/// date-time      = DQUOTE date-day-fixed "-" date-month "-" date-year
///                  SP time SP zone DQUOTE
/// date-day-fixed = (SP DIGIT) / 2DIGIT
/// time           = 2DIGIT ":" 2DIGIT ":" 2DIGIT
/// zone           = ("+" / "-") 4DIGIT
/// ```
///
/// Seconds since the Unix epoch, the zone applied: `"17-Jul-1996 02:44:25 -0700"` is
/// 09:44:25 UTC. A leap second (`:60`) is accepted and counts as the next second.
pub(super) fn date_time(input: &[u8]) -> PResult<'_, i64> {
    let Some(rest) = input.strip_prefix(b"\"") else {
        return mismatch(input);
    };
    date_time_body(rest).map_err(|_| fail(input, Reason::DateTime))
}

/// The part of `date-time` inside the quotes, and the closing quote.
fn date_time_body(input: &[u8]) -> PResult<'_, i64> {
    let (rest, day) = match input.strip_prefix(b" ") {
        Some(rest) => fixed_digits(rest, 1)?,
        None => fixed_digits(input, 2)?,
    };
    let (rest, days) = month_and_year(rest, day)?;

    let (rest, _) = sp(rest)?;
    let (rest, hour) = fixed_digits(rest, 2)?;
    let rest = rest
        .strip_prefix(b":")
        .ok_or_else(|| fail(rest, Reason::DateTime))?;
    let (rest, minute) = fixed_digits(rest, 2)?;
    let rest = rest
        .strip_prefix(b":")
        .ok_or_else(|| fail(rest, Reason::DateTime))?;
    let (rest, second) = fixed_digits(rest, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return mismatch(input);
    }

    let (rest, _) = sp(rest)?;
    let (sign, rest) = match rest.split_first() {
        Some((b'+', rest)) => (1, rest),
        Some((b'-', rest)) => (-1, rest),
        _ => return mismatch(rest),
    };
    let (rest, zone) = fixed_digits(rest, 4)?;
    let (zone_hours, zone_minutes) = (zone / 100, zone % 100);
    if zone_minutes > 59 {
        return mismatch(input);
    }
    let Some(rest) = rest.strip_prefix(b"\"") else {
        return mismatch(rest);
    };

    // Local time minus the zone's offset is UTC.
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let offset = sign * i64::from(zone_hours * 3600 + zone_minutes * 60);
    Ok((rest, local - offset))
}

// ---------------------------------------------------------------------------------------------
// Flags.
// ---------------------------------------------------------------------------------------------

/// A flag as the grammar sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flag<'a> {
    /// One of the system flags, in its canonical spelling.
    System(&'static str),
    /// `flag-keyword`, as sent.
    Keyword(&'a [u8]),
    /// `flag-extension`: `\` and an atom that is no system flag.
    Extension(&'a [u8]),
}

/// The system flags a client may set, in their canonical spelling (RFC 9051 section 2.3.2).
const SYSTEM_FLAGS: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/// ```text
/// flag           = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
///                  flag-keyword / flag-extension
/// flag-keyword   = "$MDNSent" / "$Forwarded" / "$Junk" / "$NotJunk" / "$Phishing" / atom
/// flag-extension = "\" atom
/// ```
///
/// `\*` is only a `flag-perm` of responses, so it is refused as a flag a client sets.
pub(super) fn flag(input: &[u8]) -> PResult<'_, Flag<'_>> {
    let Some(name) = input.strip_prefix(b"\\") else {
        let (rest, keyword) = atom(input)?;
        return Ok((rest, Flag::Keyword(keyword)));
    };

    if peek_is(name, b'*') {
        return failure(input, Reason::FlagNotStorable);
    }
    let (rest, atom) = expect(Reason::Flag, atom(name))?;
    let whole = &input[..atom.len() + 1];
    let system = SYSTEM_FLAGS
        .iter()
        .find(|canonical| canonical.as_bytes().eq_ignore_ascii_case(whole));
    match system {
        Some(canonical) => Ok((rest, Flag::System(canonical))),
        None => Ok((rest, Flag::Extension(whole))),
    }
}

/// A `flag` that STORE or APPEND may set: a system flag (in canonical case) or a keyword (as
/// sent). Other `\` flags are refused: RFC 9051 section 2.3.2 lets only the server define
/// them, and `\Recent` is set by the server alone (RFC 3501).
pub(super) fn storable_flag(input: &[u8]) -> PResult<'_, String> {
    match flag(input)? {
        (rest, Flag::System(name)) => Ok((rest, name.to_owned())),
        (rest, Flag::Keyword(keyword)) => Ok((rest, utf8(input, Cow::Borrowed(keyword))?)),
        (_, Flag::Extension(_)) => failure(input, Reason::FlagNotStorable),
    }
}

/// ```text
/// flag-list = "(" [flag *(SP flag)] ")"
/// ```
pub(super) fn flag_list(input: &[u8]) -> PResult<'_, Vec<String>> {
    let (mut rest, _) = open_paren(input)?;
    let mut flags = Vec::new();
    if let Ok((after, _)) = close_paren(rest) {
        return Ok((after, flags));
    }

    loop {
        let (after, flag) = expect(Reason::Flag, storable_flag(rest))?;
        flags.push(flag);
        rest = after;
        match sp(rest) {
            Ok((after, _)) => rest = after,
            Err(_) => break,
        }
    }
    let (rest, _) = close_paren(rest)?;
    Ok((rest, flags))
}

// ---------------------------------------------------------------------------------------------
// Sequence sets.
// ---------------------------------------------------------------------------------------------

/// ```text
/// seq-number = nz-number / "*"
/// ```
fn seq_number(input: &[u8]) -> PResult<'_, SeqNumber> {
    match input.split_first() {
        Some((b'*', rest)) => Ok((rest, SeqNumber::Largest)),
        Some((b'1'..=b'9', _)) => {
            let (rest, value) = nz_number(input)?;
            Ok((rest, SeqNumber::Value(value)))
        }
        _ => mismatch(input),
    }
}

/// ```text
/// sequence-set     = (seq-number / seq-range) ["," sequence-set] / seq-last-command
/// seq-range        = seq-number ":" seq-number
/// seq-last-command = "$"
/// ```
///
/// Either end of a range may be the larger (RFC 9051 section 9: `2:4` and `4:2` are the
/// same). A zero, an empty element or a number past 32 bits makes the set invalid.
pub(super) fn sequence_set(input: &[u8]) -> PResult<'_, SequenceSet> {
    match input.first() {
        Some(b'$') => return Ok((&input[1..], SequenceSet::Saved)),
        Some(b'0'..=b'9' | b'*') => {}
        _ => return mismatch(input),
    }

    let mut ranges = Vec::new();
    let mut rest = input;
    loop {
        let (after, low) = expect(Reason::SequenceSet, seq_number(rest))
            .map_err(|_| fail(input, Reason::SequenceSet))?;
        let (after, high) = match after.strip_prefix(b":") {
            Some(after) => expect(Reason::SequenceSet, seq_number(after))
                .map_err(|_| fail(input, Reason::SequenceSet))?,
            None => (after, low),
        };
        ranges.push((low, high));
        match after.strip_prefix(b",") {
            Some(after) => rest = after,
            None => return Ok((after, SequenceSet::Ranges(ranges))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(result: PResult<'_, T>) -> (&[u8], T) {
        match result {
            Ok(found) => found,
            Err(error) => panic!("unexpected error: {error:?}"),
        }
    }

    fn reason<T: std::fmt::Debug>(result: PResult<'_, T>) -> Reason {
        match result {
            Err(nom::Err::Failure(error)) => error.reason,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn atoms_stop_at_specials() {
        assert_eq!(ok(atom(b"abc(def")), (&b"(def"[..], &b"abc"[..]));
        assert_eq!(ok(atom(b"a]b")), (&b"]b"[..], &b"a"[..]));
        assert!(matches!(atom(b" x"), Err(nom::Err::Error(_))));
        assert!(matches!(atom(b"\x7f"), Err(nom::Err::Error(_))));
    }

    #[test]
    fn tags_exclude_plus_but_allow_brackets() {
        assert_eq!(ok(tag(b"a]1 NOOP")).1.as_str(), "a]1");
        assert_eq!(
            ok(tag(b"a+1 NOOP")),
            (&b"+1 NOOP"[..], Tag::new("a").unwrap())
        );
        assert!(tag(b"+ x").is_err());
        assert!(tag(b"* x").is_err());
    }

    #[test]
    fn numbers_have_their_ranges() {
        assert_eq!(ok(number(b"4294967295 ")).1, u32::MAX);
        assert_eq!(reason(number(b"4294967296")), Reason::Number);
        assert_eq!(ok(number(b"0")).1, 0);
        assert_eq!(reason(nz_number(b"0")), Reason::Number);
        assert_eq!(reason(nz_number(b"012")), Reason::Number);
        assert_eq!(ok(number64(b"9223372036854775807")).1, i64::MAX as u64);
        assert_eq!(reason(number64(b"9223372036854775808")), Reason::Number);
        assert_eq!(reason(number64(&[b'9'; 400])), Reason::Number);
        assert_eq!(reason(mod_sequence_value(b"0")), Reason::Number);
        assert_eq!(ok(mod_sequence_valzer(b"0")).1, 0);
    }

    #[test]
    fn quoted_strings_unescape_and_refuse_line_breaks() {
        assert_eq!(
            ok(quoted(b"\"a b\" x")),
            (&b" x"[..], Cow::Borrowed(&b"a b"[..]))
        );
        let (rest, text) = ok(quoted(br#""a\"b\\c"x"#));
        assert_eq!((rest, &text[..]), (&b"x"[..], &br#"a"b\c"#[..]));
        assert!(matches!(text, Cow::Owned(_)));
        assert_eq!(ok(quoted(b"\"\"")).1, Cow::Borrowed(&b""[..]));
        assert_eq!(ok(quoted("\"Grüße\"".as_bytes())).1, "Grüße".as_bytes());

        assert_eq!(reason(quoted(b"\"a\rb\"")), Reason::String);
        assert_eq!(reason(quoted(b"\"a\nb\"")), Reason::String);
        assert_eq!(reason(quoted(b"\"a\0b\"")), Reason::String);
        assert_eq!(reason(quoted(br#""a\nb""#)), Reason::String);
        assert_eq!(reason(quoted(b"\"abc")), Reason::String);
        assert_eq!(reason(quoted(b"\"\xff\"")), Reason::Utf8);
    }

    #[test]
    fn literals_take_exactly_their_octets() {
        assert_eq!(
            ok(literal(b"{3}\r\na\r\nX")),
            (&b"X"[..], (&b"a\r\n"[..], false))
        );
        assert_eq!(ok(literal(b"{3+}\r\nabc")).1, (&b"abc"[..], false));
        assert_eq!(ok(literal(b"~{3}\r\na\0c")).1, (&b"a\0c"[..], true));
        assert_eq!(ok(literal(b"{0}\r\n")).1, (&b""[..], false));

        assert_eq!(reason(literal(b"{4}\r\nabc")), Reason::Literal);
        assert_eq!(reason(literal(b"{3}abc")), Reason::Literal);
        assert_eq!(reason(literal(b"{x}\r\n")), Reason::Literal);
        assert_eq!(
            reason(literal(b"{99999999999999999999}\r\n")),
            Reason::Literal
        );
        assert_eq!(reason(literal(b"{3}\r\na\0c")), Reason::Nul);
    }

    #[test]
    fn strings_refuse_literal8() {
        assert_eq!(reason(string(b"~{1}\r\na")), Reason::Literal8);
        assert_eq!(reason(astring(b"~{1}\r\na")), Reason::Literal8);
        assert_eq!(ok(astring(b"{1}\r\na")).1, &b"a"[..]);
    }

    #[test]
    fn astrings_allow_brackets_and_list_mailboxes_wildcards() {
        assert_eq!(ok(astring(b"a]b c")).1, &b"a]b"[..]);
        assert!(astring(b"%").is_err());
        assert_eq!(
            ok(list_mailbox(b"a/%*] x")).1,
            MailboxName(b"a/%*]".to_vec())
        );
        assert_eq!(ok(mailbox(b"inbox")).1, MailboxName(b"inbox".to_vec()));
        assert_eq!(ok(mailbox(b"~/Mail")).1, MailboxName(b"~/Mail".to_vec()));
        assert_eq!(ok(list_mailbox(b"~/%")).1, MailboxName(b"~/%".to_vec()));
    }

    #[test]
    fn nstrings_are_nil_or_a_string() {
        assert_eq!(ok(nstring(b"NIL)")), (&b")"[..], None));
        assert_eq!(ok(nstring(b"nil ")), (&b" "[..], None));
        assert_eq!(ok(nstring(b"\"NIL\"")).1, Some(Cow::Borrowed(&b"NIL"[..])));
        assert!(nstring(b"NILS").is_err());
    }

    #[test]
    fn dates_count_days_and_check_the_calendar() {
        assert_eq!(ok(date(b"1-Feb-1994")).1, days_from_civil(1994, 2, 1));
        assert_eq!(ok(date(b"\"01-feb-1994\"")).1, days_from_civil(1994, 2, 1));
        assert_eq!(ok(date(b"29-Feb-2000 ")).1, days_from_civil(2000, 2, 29));
        assert_eq!(reason(date(b"29-Feb-1900")), Reason::Date);
        assert_eq!(reason(date(b"31-Apr-2020")), Reason::Date);
        assert_eq!(reason(date(b"0-Jan-2020")), Reason::Date);
        assert_eq!(reason(date(b"1-Foo-2020")), Reason::Date);
        assert_eq!(reason(date(b"1-Jan-20")), Reason::Date);
        assert_eq!(reason(date(b"\"1-Jan-2020")), Reason::Date);
        assert_eq!(reason(date(b"123-Jan-2020")), Reason::Date);
    }

    #[test]
    fn date_times_apply_the_zone() {
        // 17-Jul-1996 09:44:25 UTC.
        let utc = days_from_civil(1996, 7, 17) * 86_400 + 9 * 3600 + 44 * 60 + 25;
        assert_eq!(ok(date_time(b"\"17-Jul-1996 02:44:25 -0700\"")).1, utc);
        assert_eq!(ok(date_time(b"\"17-Jul-1996 11:14:25 +0130\"")).1, utc);
        assert_eq!(ok(date_time(b"\" 7-Feb-1994 21:52:25 -0800\"")).1, {
            days_from_civil(1994, 2, 8) * 86_400 + 5 * 3600 + 52 * 60 + 25
        });
        assert_eq!(ok(date_time(b"\"01-Jan-1970 00:00:00 +0000\"")).1, 0);

        for bad in [
            &b"\"7-Feb-1994 21:52:25 -0800\""[..],
            b"\"17-Jul-1996 24:00:00 -0700\"",
            b"\"17-Jul-1996 02:60:00 -0700\"",
            b"\"17-Jul-1996 02:44:25 -0770\"",
            b"\"17-Jul-1996 02:44:25 0700\"",
            b"\"17-Jul-1996 02:44:25\"",
            b"\"17-Jul-1996  02:44:25 -0700\"",
            b"\"17-Jul-1996 02:44:25 -0700",
        ] {
            assert_eq!(reason(date_time(bad)), Reason::DateTime, "{bad:?}");
        }
    }

    #[test]
    fn system_flags_are_canonical_and_keywords_verbatim() {
        assert_eq!(ok(flag(b"\\seen ")).1, Flag::System("\\Seen"));
        assert_eq!(ok(flag(b"\\DELETED)")).1, Flag::System("\\Deleted"));
        assert_eq!(ok(flag(b"$Forwarded")).1, Flag::Keyword(b"$Forwarded"));
        assert_eq!(ok(flag(b"\\Foo")).1, Flag::Extension(b"\\Foo"));
        assert_eq!(reason(flag(b"\\*")), Reason::FlagNotStorable);
        assert_eq!(reason(flag(b"\\ ")), Reason::Flag);
        assert_eq!(reason(storable_flag(b"\\Recent")), Reason::FlagNotStorable);
        assert_eq!(reason(storable_flag(b"\\Foo")), Reason::FlagNotStorable);
    }

    #[test]
    fn flag_lists_may_be_empty_but_must_close() {
        assert_eq!(ok(flag_list(b"()")).1, Vec::<String>::new());
        assert_eq!(
            ok(flag_list(b"(\\answered $Junk)")).1,
            vec!["\\Answered".to_owned(), "$Junk".to_owned()]
        );
        assert_eq!(reason(flag_list(b"(\\Seen")), Reason::Parenthesis);
        assert_eq!(reason(flag_list(b"(\\Seen )")), Reason::Flag);
        assert_eq!(reason(flag_list(b"( \\Seen)")), Reason::Flag);
    }

    #[test]
    fn sequence_sets_take_ranges_stars_and_the_saved_result() {
        use SeqNumber::{Largest, Value};
        assert_eq!(
            ok(sequence_set(b"1,3:5,7:*,*:2 x")).1,
            SequenceSet::Ranges(vec![
                (Value(1), Value(1)),
                (Value(3), Value(5)),
                (Value(7), Largest),
                (Largest, Value(2)),
            ])
        );
        assert_eq!(ok(sequence_set(b"$")).1, SequenceSet::Saved);
        assert_eq!(ok(sequence_set(b"4294967295")).1, {
            SequenceSet::Ranges(vec![(Value(u32::MAX), Value(u32::MAX))])
        });
        for bad in [
            &b"0"[..],
            b"1:0",
            b"1,",
            b"1:",
            b"4294967296",
            b"1,,2",
            b"01",
        ] {
            assert_eq!(reason(sequence_set(bad)), Reason::SequenceSet, "{bad:?}");
        }
        assert!(matches!(sequence_set(b"x"), Err(nom::Err::Error(_))));
    }
}
