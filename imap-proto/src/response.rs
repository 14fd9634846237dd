//! The response encoder (RFC 9051 section 7): status responses with their codes, and the
//! string forms every value is written in.
//!
//! Every function here writes a value in a form the grammar allows for it, so the session
//! cannot emit an invalid response: [`astring`] picks an atom, a quoted string or a literal;
//! [`nstring`] adds NIL; text is stripped of CR and LF.

use std::fmt::{self, Write as _};

use crate::command::{Tag, is_astring_char, is_atom_char};

/// The kind of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not understood or not allowed.
    Bad,
    /// `BYE`: the server is closing the connection.
    Bye,
    /// `PREAUTH`: the greeting of a connection that is already authenticated.
    PreAuth,
}

impl Status {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::No => "NO",
            Self::Bad => "BAD",
            Self::Bye => "BYE",
            Self::PreAuth => "PREAUTH",
        }
    }
}

/// A response code (RFC 9051 section 7.1, RFC 4315, RFC 7162, RFC 5530).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// `ALERT`: the text must be shown to the user.
    Alert,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `APPENDUID uidvalidity uid`
    AppendUid {
        /// The target's UIDVALIDITY.
        uid_validity: u32,
        /// The new message's UID.
        uid: u32,
    },
    /// `AUTHENTICATIONFAILED`
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`
    AuthorizationFailed,
    /// `BADCHARSET (charsets)`
    BadCharset(Vec<String>),
    /// `CANNOT`
    Cannot,
    /// `CAPABILITY caps`, the words already joined by spaces.
    Capability(String),
    /// `CLIENTBUG`
    ClientBug,
    /// `CLOSED`: the previous mailbox is closed (RFC 7162 section 3.2.11).
    Closed,
    /// `CONTACTADMIN`
    ContactAdmin,
    /// `COPYUID uidvalidity source-uids target-uids`, the sets already written.
    CopyUid {
        /// The target's UIDVALIDITY.
        uid_validity: u32,
        /// The source UIDs as a sequence set.
        source: String,
        /// The target UIDs as a sequence set.
        target: String,
    },
    /// `CORRUPTION`
    Corruption,
    /// `EXPIRED`
    Expired,
    /// `HIGHESTMODSEQ n` (RFC 7162)
    HighestModSeq(u64),
    /// `INUSE`
    InUse,
    /// `LIMIT`
    Limit,
    /// `MODIFIED set` (RFC 7162), the set already written.
    Modified(String),
    /// `NOMODSEQ` (RFC 7162)
    NoModSeq,
    /// `NONEXISTENT`
    NonExistent,
    /// `NOPERM`
    NoPerm,
    /// `OVERQUOTA`
    OverQuota,
    /// `PARSE`
    Parse,
    /// `PERMANENTFLAGS (flags)`, the flags already joined by spaces.
    PermanentFlags(String),
    /// `PRIVACYREQUIRED`
    PrivacyRequired,
    /// `READ-ONLY`
    ReadOnly,
    /// `READ-WRITE`
    ReadWrite,
    /// `SERVERBUG`
    ServerBug,
    /// `TOOBIG` (RFC 4469 / RFC 7889 style size refusal)
    TooBig,
    /// `TRYCREATE`
    TryCreate,
    /// `UIDNEXT n`
    UidNext(u32),
    /// `UIDNOTSTICKY`
    UidNotSticky,
    /// `UIDVALIDITY n`
    UidValidity(u32),
    /// `UNAVAILABLE`
    Unavailable,
    /// `UNKNOWN-CTE` (RFC 3516)
    UnknownCte,
    /// `UNSEEN n` (IMAP4rev1 SELECT)
    Unseen(u32),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alert => f.write_str("ALERT"),
            Self::AlreadyExists => f.write_str("ALREADYEXISTS"),
            Self::AppendUid { uid_validity, uid } => write!(f, "APPENDUID {uid_validity} {uid}"),
            Self::AuthenticationFailed => f.write_str("AUTHENTICATIONFAILED"),
            Self::AuthorizationFailed => f.write_str("AUTHORIZATIONFAILED"),
            Self::BadCharset(charsets) if charsets.is_empty() => f.write_str("BADCHARSET"),
            Self::BadCharset(charsets) => {
                f.write_str("BADCHARSET (")?;
                for (i, charset) in charsets.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    f.write_str(&astring(charset.as_bytes()))?;
                }
                f.write_char(')')
            }
            Self::Cannot => f.write_str("CANNOT"),
            Self::Capability(caps) => write!(f, "CAPABILITY {caps}"),
            Self::ClientBug => f.write_str("CLIENTBUG"),
            Self::Closed => f.write_str("CLOSED"),
            Self::ContactAdmin => f.write_str("CONTACTADMIN"),
            Self::CopyUid {
                uid_validity,
                source,
                target,
            } => write!(f, "COPYUID {uid_validity} {source} {target}"),
            Self::Corruption => f.write_str("CORRUPTION"),
            Self::Expired => f.write_str("EXPIRED"),
            Self::HighestModSeq(modseq) => write!(f, "HIGHESTMODSEQ {modseq}"),
            Self::InUse => f.write_str("INUSE"),
            Self::Limit => f.write_str("LIMIT"),
            Self::Modified(set) => write!(f, "MODIFIED {set}"),
            Self::NoModSeq => f.write_str("NOMODSEQ"),
            Self::NonExistent => f.write_str("NONEXISTENT"),
            Self::NoPerm => f.write_str("NOPERM"),
            Self::OverQuota => f.write_str("OVERQUOTA"),
            Self::Parse => f.write_str("PARSE"),
            Self::PermanentFlags(flags) => write!(f, "PERMANENTFLAGS ({flags})"),
            Self::PrivacyRequired => f.write_str("PRIVACYREQUIRED"),
            Self::ReadOnly => f.write_str("READ-ONLY"),
            Self::ReadWrite => f.write_str("READ-WRITE"),
            Self::ServerBug => f.write_str("SERVERBUG"),
            Self::TooBig => f.write_str("TOOBIG"),
            Self::TryCreate => f.write_str("TRYCREATE"),
            Self::UidNext(uid) => write!(f, "UIDNEXT {uid}"),
            Self::UidNotSticky => f.write_str("UIDNOTSTICKY"),
            Self::UidValidity(value) => write!(f, "UIDVALIDITY {value}"),
            Self::Unavailable => f.write_str("UNAVAILABLE"),
            Self::UnknownCte => f.write_str("UNKNOWN-CTE"),
            Self::Unseen(seq) => write!(f, "UNSEEN {seq}"),
        }
    }
}

/// Writes a status response: `tag SP status [SP "[" code "]"] SP text CRLF`, or `*` in place
/// of the tag when `tag` is `None`. CR and LF in `text` are dropped, and an empty text
/// becomes a word, since `text = 1*TEXT-CHAR`.
pub fn status(tag: Option<&Tag>, status: Status, code: Option<&Code>, text: &str) -> Vec<u8> {
    let mut line = String::with_capacity(text.len() + 32);
    line.push_str(tag.map_or("*", Tag::as_str));
    line.push(' ');
    line.push_str(status.as_str());
    if let Some(code) = code {
        let _ = write!(line, " [{code}]");
    }
    line.push(' ');
    push_text(&mut line, text);
    line.push_str("\r\n");
    line.into_bytes()
}

/// Writes a continuation request: `+ text CRLF` (RFC 9051 `continue-req`).
pub fn continuation(text: &str) -> Vec<u8> {
    let mut line = String::from("+ ");
    push_text(&mut line, text);
    line.push_str("\r\n");
    line.into_bytes()
}

/// Writes a continuation request carrying base64 data (a SASL challenge): `+ base64 CRLF`,
/// or `+ CRLF` for an empty challenge.
pub fn continuation_base64(data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;

    let mut line = String::from("+ ");
    line.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
    line.push_str("\r\n");
    line.into_bytes()
}

fn push_text(line: &mut String, text: &str) {
    let start = line.len();
    line.extend(text.chars().filter(|&c| c != '\r' && c != '\n'));
    if line.len() == start {
        line.push_str("done");
    }
}

/// Whether `value` can be written as an atom.
pub fn is_atom(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|&b| is_atom_char(b))
}

/// Whether `value` can go in a quoted string: `QUOTED-CHAR` excludes CR, LF and NUL, and
/// in IMAP4rev1 (RFC 3501) it is 7-bit only; RFC 9051 allows UTF-8 there, but the encoder
/// does not know which revision the reader speaks, so anything else goes as a literal,
/// which both accept. A quoted string is kept short so long values go as literals too.
fn is_quotable(value: &[u8]) -> bool {
    value.len() <= 1024
        && value
            .iter()
            .all(|&b| b.is_ascii() && b != b'\r' && b != b'\n' && b != 0)
}

/// Writes `value` as an `astring`: an atom when it is one (and not `NIL`, which a reader of
/// an `nstring` would take for nothing), else a quoted string, else a literal.
pub fn astring(value: &[u8]) -> String {
    let all_astring = !value.is_empty() && value.iter().all(|&b| is_astring_char(b));
    if all_astring && !value.eq_ignore_ascii_case(b"NIL") {
        return String::from_utf8_lossy(value).into_owned();
    }
    string(value)
}

/// Writes `value` as a `string`: quoted when it can be, else a literal. Non-UTF-8 octets
/// force a literal, which carries octets as they are.
pub fn string(value: &[u8]) -> String {
    if is_quotable(value)
        && let Ok(text) = std::str::from_utf8(value)
    {
        let mut quoted = String::with_capacity(text.len() + 2);
        quoted.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        return quoted;
    }

    // A literal of non-UTF-8 octets cannot live in a `String`; lossy conversion would change
    // them, so such values go through `string_bytes`. This branch sees only valid UTF-8 or
    // replaces what it cannot keep.
    let text = String::from_utf8_lossy(value);
    format!("{{{}}}\r\n{text}", text.len())
}

/// Appends `value` as a `string` to `out`, as octets: quoted when it can be, else a literal
/// carrying the octets unchanged.
pub fn string_bytes(out: &mut Vec<u8>, value: &[u8]) {
    if is_quotable(value) && std::str::from_utf8(value).is_ok() {
        out.extend_from_slice(string(value).as_bytes());
        return;
    }
    literal(out, value);
}

/// Appends `value` as a literal: `{n} CRLF` and the octets.
pub fn literal(out: &mut Vec<u8>, value: &[u8]) {
    use std::io::Write as _;

    let _ = write!(out, "{{{}}}\r\n", value.len());
    out.extend_from_slice(value);
}

/// Appends `value` as an `astring` to `out`, like [`astring`] but without building a
/// `String` for the common case of an atom.
pub fn write_astring(out: &mut Vec<u8>, value: &[u8]) {
    let all_astring = !value.is_empty() && value.iter().all(|&b| is_astring_char(b));
    if all_astring && !value.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(value);
        return;
    }
    string_bytes(out, value);
}

/// Appends `value` as an `nstring`: `NIL` for `None`, else a `string`.
pub fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"NIL"),
        Some(value) => string_bytes(out, value),
    }
}

/// Writes numbers as a compact `sequence-set`: `1:3,7,9:10`. The numbers need not be sorted.
pub fn sequence_set(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();

    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
    out
}

/// Writes a `date-time` (RFC 9051): `"dd-Mon-yyyy hh:mm:ss +0000"`, in UTC.
pub fn date_time(unix_seconds: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    let days = unix_seconds.div_euclid(86_400);
    let seconds = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "\"{day:02}-{}-{year:04} {:02}:{:02}:{:02} +0000\"",
        MONTHS[(month - 1) as usize],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days` algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day count since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_carry_tag_code_and_text() {
        let tag = Tag::new("a1").unwrap();
        assert_eq!(
            status(
                Some(&tag),
                Status::Ok,
                Some(&Code::ReadWrite),
                "SELECT completed"
            ),
            b"a1 OK [READ-WRITE] SELECT completed\r\n"
        );
        assert_eq!(
            status(None, Status::No, None, "line\r\nbreak"),
            b"* NO linebreak\r\n"
        );
        assert_eq!(status(None, Status::Ok, None, ""), b"* OK done\r\n");
    }

    #[test]
    fn codes_are_written_as_rfc_9051_spells_them() {
        let copy = Code::CopyUid {
            uid_validity: 38505,
            source: "304,319:320".into(),
            target: "3956:3958".into(),
        };
        assert_eq!(copy.to_string(), "COPYUID 38505 304,319:320 3956:3958");
        assert_eq!(
            Code::BadCharset(vec!["UTF-8".into(), "US ASCII".into()]).to_string(),
            "BADCHARSET (UTF-8 \"US ASCII\")"
        );
        assert_eq!(
            Code::PermanentFlags("\\Seen \\*".into()).to_string(),
            "PERMANENTFLAGS (\\Seen \\*)"
        );
    }

    #[test]
    fn astring_picks_atom_quoted_or_literal() {
        assert_eq!(astring(b"INBOX"), "INBOX");
        assert_eq!(astring(b"a]b"), "a]b");
        assert_eq!(astring(b"nil"), "\"nil\"");
        assert_eq!(astring(b""), "\"\"");
        assert_eq!(astring(b"two words"), "\"two words\"");
        assert_eq!(astring(b"say \"hi\" \\"), "\"say \\\"hi\\\" \\\\\"");
        assert_eq!(astring(b"a\r\nb"), "{4}\r\na\r\nb");
        assert_eq!(astring("Entwürfe".as_bytes()), "{9}\r\nEntwürfe");
    }

    #[test]
    fn strings_with_raw_octets_go_as_literals() {
        let mut out = Vec::new();
        string_bytes(&mut out, b"\xff\xfe");
        assert_eq!(out, b"{2}\r\n\xff\xfe");

        let mut out = Vec::new();
        nstring(&mut out, None);
        nstring(&mut out, Some(b"x"));
        assert_eq!(out, b"NIL\"x\"");
    }

    #[test]
    fn sequence_sets_are_compact() {
        assert_eq!(sequence_set(&[3, 1, 2, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(sequence_set(&[5]), "5");
        assert_eq!(sequence_set(&[]), "");
    }

    #[test]
    fn dates_round_trip_through_the_civil_calendar() {
        assert_eq!(date_time(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(date_time(951_782_400), "\"29-Feb-2000 00:00:00 +0000\"");
        assert_eq!(date_time(-1), "\"31-Dec-1969 23:59:59 +0000\"");
        for days in [-800_000, -1, 0, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
