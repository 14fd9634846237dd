//! Mailbox names (RFC 9051 section 5.1): modified UTF-7, the check of a name the client
//! sends, and LIST patterns.
//!
//! Names exist in two forms. The store's name is UTF-8, with `/` ([`DELIMITER`]) between
//! levels and INBOX always spelled `INBOX`. The client's name is the same in UTF-8 once it
//! has enabled `IMAP4rev2` or `UTF8=ACCEPT` (RFC 9051 section 5.1, RFC 6855), and in
//! modified UTF-7 (RFC 3501 section 5.1.3) otherwise. [`to_store_name`] and
//! [`to_client_name`] convert between them; [`Pattern`] matches store names against LIST
//! and LSUB arguments.
//!
//! ```
//! use imap_proto::command::MailboxName;
//! use imap_proto::mailbox::{Pattern, to_client_name, to_store_name};
//!
//! let name = MailboxName(b"Archive/&ZeVnLIqe-".to_vec());
//! assert_eq!(to_store_name(&name, false).unwrap(), "Archive/日本語");
//! assert_eq!(to_client_name("Archive/日本語", false), "Archive/&ZeVnLIqe-");
//! assert!(Pattern::new("Archive/", "%").matches("Archive/日本語"));
//! ```

use crate::command::MailboxName;

/// The hierarchy delimiter of store names, reported in LIST responses.
pub const DELIMITER: char = '/';

/// The longest store name accepted, in octets of UTF-8. RFC 9051 sets no limit; a bound
/// keeps names storable as file names and keys, and LIST responses small.
pub const MAX_NAME_LEN: usize = 1000;

/// A mailbox name the client sent that cannot be used, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid mailbox name: {0}")]
pub struct InvalidName(NameProblem);

impl InvalidName {
    /// What is wrong with the name.
    pub fn problem(&self) -> NameProblem {
        self.0
    }
}

impl From<NameProblem> for InvalidName {
    fn from(problem: NameProblem) -> Self {
        Self(problem)
    }
}

/// What is wrong with a mailbox name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// Modified UTF-7 allows printable US-ASCII octets only; everything else is encoded.
    #[error("an octet outside printable US-ASCII in a modified UTF-7 name")]
    RawOctet,
    /// A `&` whose shift to base64 is not closed by `-`.
    #[error("a modified UTF-7 shift without its closing '-'")]
    UnterminatedShift,
    /// A character that is not in the modified base64 alphabet (`A-Z a-z 0-9 + ,`).
    #[error("a character outside modified base64")]
    InvalidBase64,
    /// The base64 does not end on a whole UTF-16 code unit.
    #[error("modified base64 that does not end on a whole UTF-16 unit")]
    PartialUnit,
    /// The bits padding the last base64 character are not zero, so the encoding is not the
    /// only one of its text.
    #[error("non-zero padding bits in modified base64")]
    NonZeroPadding,
    /// A UTF-16 surrogate without its pair.
    #[error("an unpaired UTF-16 surrogate")]
    UnpairedSurrogate,
    /// Base64 that encodes a printable US-ASCII character, which must represent itself
    /// (`&` as `&-`).
    #[error("printable US-ASCII encoded in base64")]
    EncodedAscii,
    /// A shift to base64 right after the end of another (`-&`): the two runs must be one.
    #[error("two adjacent base64 runs")]
    NullShift,
    /// In UTF-8 mode, octets that are not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The empty name.
    #[error("an empty name")]
    Empty,
    /// A level with no name, as in `a//b`.
    #[error("an empty hierarchy level")]
    EmptyLevel,
    /// A name beginning with the delimiter.
    #[error("a name beginning with the hierarchy delimiter")]
    LeadingDelimiter,
    /// A name ending with the delimiter.
    #[error("a name ending with the hierarchy delimiter")]
    TrailingDelimiter,
    /// A control character (C0, DEL or C1).
    #[error("a control character")]
    Control,
    /// `*` or `%`, which would make the name unmatchable by LIST (RFC 9051 section 5.1).
    #[error("a LIST wildcard")]
    Wildcard,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("longer than {MAX_NAME_LEN} octets")]
    TooLong,
}

/// Decodes modified UTF-7 (RFC 3501 section 5.1.3) into UTF-8.
///
/// Only the canonical encoding is accepted, so that one name has one spelling: printable
/// US-ASCII represents itself, `&-` is `&`, and everything else is UTF-16 in modified
/// base64 between `&` and `-`, in as few runs and characters as possible with zero padding
/// bits. Anything else is refused with the [`NameProblem`] it shows.
pub fn decode_utf7(name: &[u8]) -> Result<String, InvalidName> {
    let mut decoded = String::with_capacity(name.len());
    let mut rest = name;
    // Whether the previous octets were a base64 run, to refuse "-&" null shifts.
    let mut after_run = false;

    while let Some((&octet, tail)) = rest.split_first() {
        if octet != b'&' {
            if !is_printable(octet) {
                return Err(NameProblem::RawOctet.into());
            }
            decoded.push(char::from(octet));
            rest = tail;
            after_run = false;
            continue;
        }

        // A shift: base64 up to the closing '-'. There is no implicit end of a run.
        let end = tail
            .iter()
            .position(|&b| b == b'-')
            .ok_or(NameProblem::UnterminatedShift)?;
        let run = &tail[..end];
        rest = &tail[end + 1..];

        if run.is_empty() {
            decoded.push('&');
            after_run = false;
        } else {
            if after_run {
                return Err(NameProblem::NullShift.into());
            }
            decode_run(run, &mut decoded)?;
            after_run = true;
        }
    }

    Ok(decoded)
}

/// Decodes one base64 run (between `&` and `-`) of UTF-16 and appends it.
fn decode_run(run: &[u8], decoded: &mut String) -> Result<(), InvalidName> {
    // Accumulate 6 bits per character and take 16 at a time.
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    let (mut bits, mut count) = (0u32, 0u32);
    for &octet in run {
        let value = base64_value(octet).ok_or(NameProblem::InvalidBase64)?;
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 16 {
            count -= 16;
            // Masked to 16 bits, so the cast keeps every bit.
            units.push(((bits >> count) & 0xffff) as u16);
            bits &= (1 << count) - 1;
        }
    }

    // A whole number of units leaves fewer than 6 bits over, and those must be zero.
    if count >= 6 {
        return Err(NameProblem::PartialUnit.into());
    }
    if bits != 0 {
        return Err(NameProblem::NonZeroPadding.into());
    }

    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| NameProblem::UnpairedSurrogate)?;
        if c.is_ascii() && is_printable(c as u8) {
            return Err(NameProblem::EncodedAscii.into());
        }
        decoded.push(c);
    }
    Ok(())
}

/// Encodes UTF-8 as modified UTF-7 (RFC 3501 section 5.1.3), in the canonical form
/// [`decode_utf7`] accepts.
pub fn encode_utf7(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    // UTF-16 units of the run of non-printable characters being collected.
    let mut pending: Vec<u16> = Vec::new();

    for c in name.chars() {
        if c.is_ascii() && is_printable(c as u8) {
            flush_run(&mut pending, &mut encoded);
            if c == '&' {
                encoded.push_str("&-");
            } else {
                encoded.push(c);
            }
        } else {
            let mut buffer = [0; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buffer));
        }
    }
    flush_run(&mut pending, &mut encoded);

    encoded
}

/// Writes the collected UTF-16 units as one `&...-` run, and clears them.
fn flush_run(units: &mut Vec<u16>, encoded: &mut String) {
    if units.is_empty() {
        return;
    }

    encoded.push('&');
    let (mut bits, mut count) = (0u32, 0u32);
    for &unit in units.iter() {
        bits = (bits << 16) | u32::from(unit);
        count += 16;
        while count >= 6 {
            count -= 6;
            encoded.push(base64_char((bits >> count) & 0x3f));
        }
        bits &= (1 << count) - 1;
    }
    // Pad the last character with zero bits.
    if count > 0 {
        encoded.push(base64_char((bits << (6 - count)) & 0x3f));
    }
    encoded.push('-');

    units.clear();
}

/// Printable US-ASCII, which represents itself in modified UTF-7: 0x20 to 0x7e.
fn is_printable(octet: u8) -> bool {
    (0x20..=0x7e).contains(&octet)
}

/// The modified base64 alphabet: RFC 2045 base64 with `,` in place of `/`.
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn base64_value(octet: u8) -> Option<u8> {
    match octet {
        b'A'..=b'Z' => Some(octet - b'A'),
        b'a'..=b'z' => Some(octet - b'a' + 26),
        b'0'..=b'9' => Some(octet - b'0' + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

fn base64_char(value: u32) -> char {
    // `value` is six bits wide.
    char::from(BASE64[value as usize & 0x3f])
}

/// The store's name for a name the client sent: UTF-8 (decoded from modified UTF-7 unless
/// `utf8`), the level `INBOX` in any case spelled `INBOX`, and checked: not empty, no
/// empty levels (`a//b`), no leading or trailing `/`, no control characters, no `*` or `%`,
/// at most [`MAX_NAME_LEN`] octets.
///
/// RFC 9051 section 5.1 makes only the name INBOX case-insensitive. Its children are
/// canonicalized too (`inbox/Sent` is `INBOX/Sent`), as otherwise `inbox/Sent` would be a
/// child of INBOX that LIST `INBOX/%` does not show.
///
/// In UTF-8 mode the octets are taken as they are: an IMAP4rev2 client sends no modified
/// UTF-7 (RFC 9051 section 5.1), so `&` is an ampersand.
pub fn to_store_name(name: &MailboxName, utf8: bool) -> Result<String, InvalidName> {
    let mut text = if utf8 {
        String::from_utf8(name.0.clone()).map_err(|_| NameProblem::NotUtf8)?
    } else {
        decode_utf7(&name.0)?
    };

    if starts_with_inbox(&text) {
        text.replace_range(..5, "INBOX");
    }

    check_store_name(&text)?;
    Ok(text)
}

/// Whether the first level of `name` is INBOX, in any case.
fn starts_with_inbox(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 5
        && bytes[..5].eq_ignore_ascii_case(b"INBOX")
        && bytes.get(5).is_none_or(|&b| b == DELIMITER as u8)
}

/// The rules [`to_store_name`] applies once the name is UTF-8.
fn check_store_name(name: &str) -> Result<(), InvalidName> {
    if name.len() > MAX_NAME_LEN {
        return Err(NameProblem::TooLong.into());
    }
    if name.is_empty() {
        return Err(NameProblem::Empty.into());
    }
    if name.starts_with(DELIMITER) {
        return Err(NameProblem::LeadingDelimiter.into());
    }
    if name.ends_with(DELIMITER) {
        return Err(NameProblem::TrailingDelimiter.into());
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return Err(NameProblem::EmptyLevel.into());
    }

    for c in name.chars() {
        if c.is_control() {
            return Err(NameProblem::Control.into());
        }
        if c == '*' || c == '%' {
            return Err(NameProblem::Wildcard.into());
        }
    }
    Ok(())
}

/// The name to show the client for a store name: modified UTF-7 unless `utf8`.
pub fn to_client_name(name: &str, utf8: bool) -> String {
    if utf8 {
        name.to_owned()
    } else {
        encode_utf7(name)
    }
}

/// A LIST or LSUB pattern (RFC 9051 section 6.3.9) with its reference applied: `*` matches
/// any characters, `%` any but the delimiter, and INBOX as the first level of a name is
/// matched case-insensitively (section 5.1).
///
/// Matching is a simulation of the pattern's automaton over the name, so it costs at most
/// (pattern length + 1) × (name length + 1) steps whatever the pattern; a backtracking
/// matcher is exponential on patterns like `*a*a*a*a*b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`
    Any,
    /// `%`
    Level,
}

impl Pattern {
    /// The pattern of LIST `reference pattern`, both already UTF-8.
    ///
    /// RFC 9051 section 6.3.9 joins the two into one canonical name: the reference is
    /// a prefix taken literally (`Archive/` and `%` make `Archive/%`, `#news.` and
    /// `comp.mail.*` make `#news.comp.mail.*`), except that a pattern beginning with the
    /// delimiter stands alone. An empty pattern matches no name; the session answers
    /// `LIST "" ""` with the delimiter itself.
    pub fn new(reference: &str, pattern: &str) -> Self {
        let joined = if pattern.starts_with(DELIMITER) {
            pattern.to_owned()
        } else {
            format!("{reference}{pattern}")
        };

        // Runs of wildcards match what their widest member matches: "%*" is "*".
        let mut tokens: Vec<Token> = Vec::with_capacity(joined.len());
        for c in joined.chars() {
            let token = match c {
                '*' => Token::Any,
                '%' => Token::Level,
                c => Token::Char(c),
            };
            match (tokens.last_mut(), token) {
                (Some(last @ (Token::Any | Token::Level)), Token::Any) => *last = Token::Any,
                (Some(Token::Any | Token::Level), Token::Level) => {}
                _ => tokens.push(token),
            }
        }

        Self { tokens }
    }

    /// The pattern of LIST `reference pattern` as the client sent them, decoded as
    /// [`to_store_name`] decodes names (modified UTF-7 unless `utf8`) but not checked as
    /// names are, since a pattern may contain wildcards and need not name a mailbox.
    pub fn from_client(
        reference: &MailboxName,
        pattern: &MailboxName,
        utf8: bool,
    ) -> Result<Self, InvalidName> {
        let decode = |name: &MailboxName| {
            if utf8 {
                String::from_utf8(name.0.clone()).map_err(|_| InvalidName(NameProblem::NotUtf8))
            } else {
                decode_utf7(&name.0)
            }
        };
        Ok(Self::new(&decode(reference)?, &decode(pattern)?))
    }

    /// Whether the store name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.run(name).0
    }

    /// Matches `name`, also returning the number of steps taken, for the tests' bound.
    fn run(&self, name: &str) -> (bool, usize) {
        let inbox_len = if starts_with_inbox(name) { 5 } else { 0 };
        let states = self.tokens.len() + 1;
        let mut steps = 0;

        // `active[i]`: the pattern's first `i` tokens can match the name read so far.
        let mut active = vec![false; states];
        let mut next = vec![false; states];
        active[0] = true;
        self.close(&mut active);

        for (position, c) in name.chars().enumerate() {
            next.fill(false);
            for (state, token) in self.tokens.iter().enumerate() {
                if !active[state] {
                    continue;
                }
                steps += 1;
                match *token {
                    Token::Char(want) if want == c => next[state + 1] = true,
                    Token::Char(want) if position < inbox_len && want.eq_ignore_ascii_case(&c) => {
                        next[state + 1] = true;
                    }
                    Token::Char(_) => {}
                    Token::Any => next[state] = true,
                    Token::Level if c != DELIMITER => next[state] = true,
                    Token::Level => {}
                }
            }
            self.close(&mut next);
            std::mem::swap(&mut active, &mut next);

            if !active.contains(&true) {
                return (false, steps);
            }
        }

        (active[states - 1], steps)
    }

    /// Adds the states reachable without reading a character: a wildcard may match
    /// nothing. One forward pass suffices, as such moves only go forward.
    fn close(&self, active: &mut [bool]) {
        for (state, token) in self.tokens.iter().enumerate() {
            if active[state] && matches!(token, Token::Any | Token::Level) {
                active[state + 1] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> Result<String, NameProblem> {
        to_store_name(&MailboxName(name.as_bytes().to_vec()), false).map_err(|e| e.problem())
    }

    fn store_utf8(name: &[u8]) -> Result<String, NameProblem> {
        to_store_name(&MailboxName(name.to_vec()), true).map_err(|e| e.problem())
    }

    fn decode(name: &str) -> Result<String, NameProblem> {
        decode_utf7(name.as_bytes()).map_err(|e| e.problem())
    }

    #[test]
    fn rfc_3501_example() {
        let encoded = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let decoded = "~peter/mail/台北/日本語";
        assert_eq!(decode(encoded).as_deref(), Ok(decoded));
        assert_eq!(encode_utf7(decoded), encoded);
    }

    #[test]
    fn ampersand() {
        assert_eq!(decode("&-").as_deref(), Ok("&"));
        assert_eq!(encode_utf7("&"), "&-");
        assert_eq!(encode_utf7("Q&A"), "Q&-A");
        assert_eq!(decode("&-&-").as_deref(), Ok("&&"));
        // "&-" right after a run is an ampersand, not a null shift.
        assert_eq!(decode("&AOk-&-").as_deref(), Ok("é&"));
        assert_eq!(encode_utf7("é&"), "&AOk-&-");
    }

    #[test]
    fn encodings() {
        assert_eq!(encode_utf7(""), "");
        assert_eq!(encode_utf7("Sent Items"), "Sent Items");
        assert_eq!(encode_utf7("é"), "&AOk-");
        assert_eq!(encode_utf7("Entwürfe"), "Entw&APw-rfe");
        // One run for adjacent characters, including a surrogate pair.
        assert_eq!(encode_utf7("📬"), "&2D3c7A-");
        assert_eq!(encode_utf7("é📬"), "&AOnYPdzs-");
        assert_eq!(encode_utf7("\t"), "&AAk-");
        assert_eq!(encode_utf7("\u{7f}"), "&AH8-");
    }

    #[test]
    fn round_trip() {
        let alphabet: Vec<char> =
            "aZ09 &-+,/~\\\"*%éß台北日本語📬🎉\u{0}\t\u{7f}\u{80}\u{ffff}\u{10ffff}"
                .chars()
                .collect();
        let mut samples: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();

        // Pseudo-random strings over the alphabet, reproducible without a dependency.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (seed >> 59) as usize;
            let mut text = String::new();
            for _ in 0..len {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                text.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            samples.push(text);
        }

        for text in samples {
            let encoded = encode_utf7(&text);
            assert!(encoded.bytes().all(is_printable), "{encoded:?}");
            assert_eq!(decode(&encoded).as_ref(), Ok(&text), "{encoded:?}");
        }
    }

    #[test]
    fn malformed_utf7_refused() {
        let cases = [
            ("&", NameProblem::UnterminatedShift),
            ("a&U,BTFw", NameProblem::UnterminatedShift),
            ("&U,BTFw/-", NameProblem::InvalidBase64),
            ("& -", NameProblem::InvalidBase64),
            ("&AOk=-", NameProblem::InvalidBase64),
            ("&A-", NameProblem::PartialUnit),
            ("&AA-", NameProblem::PartialUnit),
            ("&AOkA-", NameProblem::PartialUnit),
            ("&AOl-", NameProblem::NonZeroPadding),
            ("&2D0-", NameProblem::UnpairedSurrogate),
            ("&3MQ-", NameProblem::UnpairedSurrogate),
            ("&AGE-", NameProblem::EncodedAscii),
            ("&ACY-", NameProblem::EncodedAscii),
            ("&AOkAYQ-", NameProblem::EncodedAscii),
            ("&AOk-&AOk-", NameProblem::NullShift),
            // A pair split over two runs fails on its first half.
            ("&2D0-&3MQ-", NameProblem::UnpairedSurrogate),
        ];
        for (input, problem) in cases {
            assert_eq!(decode(input), Err(problem), "{input:?}");
        }
        for raw in [&b"caf\xc3\xa9"[..], b"a\tb", b"\x7f", b"\x00"] {
            assert_eq!(
                decode_utf7(raw).map_err(|e| e.problem()),
                Err(NameProblem::RawOctet)
            );
        }
    }

    #[test]
    fn inbox_canonical() {
        assert_eq!(store("inbox").as_deref(), Ok("INBOX"));
        assert_eq!(store("InBoX").as_deref(), Ok("INBOX"));
        assert_eq!(store("inbox/Sent").as_deref(), Ok("INBOX/Sent"));
        assert_eq!(store("Inboxes").as_deref(), Ok("Inboxes"));
        assert_eq!(store("My/inbox").as_deref(), Ok("My/inbox"));
        assert_eq!(store_utf8(b"iNbOx").as_deref(), Ok("INBOX"));
    }

    #[test]
    fn store_name_rules() {
        assert_eq!(store("Archive/2024").as_deref(), Ok("Archive/2024"));
        assert_eq!(store("&U,BTFw-").as_deref(), Ok("台北"));
        assert_eq!(store(""), Err(NameProblem::Empty));
        assert_eq!(store("a//b"), Err(NameProblem::EmptyLevel));
        assert_eq!(store("/a"), Err(NameProblem::LeadingDelimiter));
        assert_eq!(store("a/"), Err(NameProblem::TrailingDelimiter));
        assert_eq!(store("/"), Err(NameProblem::LeadingDelimiter));
        assert_eq!(store("a*"), Err(NameProblem::Wildcard));
        assert_eq!(store("a%b"), Err(NameProblem::Wildcard));
        assert_eq!(store("bell&AAc-"), Err(NameProblem::Control));
        assert_eq!(store("c1&AIU-"), Err(NameProblem::Control));
        assert_eq!(store("&AGE-"), Err(NameProblem::EncodedAscii));

        let longest = "a".repeat(MAX_NAME_LEN);
        assert_eq!(store(&longest).as_ref(), Ok(&longest));
        assert_eq!(store(&format!("{longest}b")), Err(NameProblem::TooLong));
        // The limit is on the UTF-8 form: 334 × 3 octets.
        assert_eq!(
            store(&encode_utf7(&"台".repeat(334))),
            Err(NameProblem::TooLong)
        );
    }

    #[test]
    fn utf8_mode() {
        assert_eq!(
            store_utf8("台北/日本語".as_bytes()).as_deref(),
            Ok("台北/日本語")
        );
        assert_eq!(store_utf8(b"&U,BTFw-").as_deref(), Ok("&U,BTFw-"));
        assert_eq!(store_utf8(b"caf\xc3"), Err(NameProblem::NotUtf8));
        assert_eq!(store_utf8(b"a\tb"), Err(NameProblem::Control));
        assert_eq!(to_client_name("台北", true), "台北");
        assert_eq!(to_client_name("台北", false), "&U,BTFw-");
        assert_eq!(to_client_name("Q&A", true), "Q&A");
    }

    #[test]
    fn error_messages() {
        let error = InvalidName(NameProblem::EmptyLevel);
        assert_eq!(
            error.to_string(),
            "invalid mailbox name: an empty hierarchy level"
        );
    }

    const NAMES: &[&str] = &[
        "INBOX",
        "INBOX/Sent",
        "Archive",
        "Archive/2023",
        "Archive/2024",
        "Archive/2024/Q1",
        "Drafts",
        "台北/日本語",
    ];

    fn listed(reference: &str, pattern: &str) -> Vec<&'static str> {
        let pattern = Pattern::new(reference, pattern);
        NAMES
            .iter()
            .copied()
            .filter(|name| pattern.matches(name))
            .collect()
    }

    #[test]
    fn star_and_percent() {
        assert_eq!(listed("", "*"), NAMES);
        assert_eq!(listed("", "%"), ["INBOX", "Archive", "Drafts"]);
        assert_eq!(
            listed("", "%/%"),
            ["INBOX/Sent", "Archive/2023", "Archive/2024", "台北/日本語"]
        );
        assert_eq!(listed("", "*/Q1"), ["Archive/2024/Q1"]);
        assert_eq!(
            listed("", "Archive/*"),
            ["Archive/2023", "Archive/2024", "Archive/2024/Q1"]
        );
        assert_eq!(listed("", "Archive/%"), ["Archive/2023", "Archive/2024"]);
        assert_eq!(listed("", "Archive%"), ["Archive"]);
        assert_eq!(
            listed("", "Archive*"),
            ["Archive", "Archive/2023", "Archive/2024", "Archive/2024/Q1"]
        );
        assert_eq!(listed("", "*2024*"), ["Archive/2024", "Archive/2024/Q1"]);
        assert_eq!(listed("", "Drafts"), ["Drafts"]);
        assert_eq!(listed("", "台%"), [] as [&str; 0]);
        assert_eq!(listed("", "台北/%"), ["台北/日本語"]);
        assert_eq!(listed("", "%*%"), NAMES);
        assert_eq!(listed("", ""), [] as [&str; 0]);
    }

    #[test]
    fn inbox_any_case() {
        assert_eq!(listed("", "INBOX*"), ["INBOX", "INBOX/Sent"]);
        assert_eq!(listed("", "inbox"), ["INBOX"]);
        assert_eq!(listed("", "InBox/%"), ["INBOX/Sent"]);
        assert_eq!(listed("", "in%"), ["INBOX"]);
        // Only INBOX is case-insensitive.
        assert_eq!(listed("", "archive"), [] as [&str; 0]);
        assert_eq!(listed("", "INBOX/sent"), [] as [&str; 0]);
        assert!(!Pattern::new("", "inboxes").matches("INBOXES"));
    }

    #[test]
    fn reference_joined() {
        assert_eq!(listed("Archive/", "%"), ["Archive/2023", "Archive/2024"]);
        assert_eq!(
            listed("Archive/", "*"),
            ["Archive/2023", "Archive/2024", "Archive/2024/Q1"]
        );
        assert_eq!(listed("Archive", "%"), ["Archive"]);
        assert_eq!(listed("Arch", "ive/2024"), ["Archive/2024"]);
        assert_eq!(
            listed("inbox", "/%"),
            [] as [&str; 0],
            "a leading delimiter stands alone"
        );
        assert_eq!(listed("Archive/", "/%"), [] as [&str; 0]);
    }

    #[test]
    fn pattern_from_client() {
        let name = |text: &str| MailboxName(text.as_bytes().to_vec());
        let pattern = Pattern::from_client(&name("&U,BTFw-/"), &name("%"), false);
        assert!(pattern.as_ref().is_ok_and(|p| p.matches("台北/日本語")));
        let pattern = Pattern::from_client(&name("台北/"), &name("*"), true);
        assert!(pattern.is_ok_and(|p| p.matches("台北/日本語")));
        let refused = Pattern::from_client(&name(""), &name("&Jjo"), false);
        assert_eq!(
            refused.map_err(|e| e.problem()),
            Err(NameProblem::UnterminatedShift)
        );
    }

    #[test]
    fn pathological_patterns_are_bounded() {
        let name = "a".repeat(MAX_NAME_LEN);
        let slashes = "a/".repeat(MAX_NAME_LEN / 2);
        for (pattern, name) in [
            ("*a*a*a*a*a*b", &name),
            ("%a%a%a%a%a%b", &name),
            ("*a%a*a%a*a%a*a%a*b", &slashes),
            (&"*a".repeat(100), &"a".repeat(99)),
        ] {
            let pattern = Pattern::new("", pattern);
            let (matched, steps) = pattern.run(name);
            assert!(!matched);
            let bound = (pattern.tokens.len() + 1) * (name.chars().count() + 1);
            assert!(steps <= bound, "{steps} steps, bound {bound}");
        }

        // The same automaton still finds real matches.
        assert!(Pattern::new("", "*a*a*a*a*a*b").matches(&format!("{name}b")));
        assert!(Pattern::new("", &"*a".repeat(100)).matches(&"a".repeat(100)));
    }

    #[test]
    fn wildcard_runs_collapse() {
        let tokens = |text: &str| Pattern::new("", text).tokens;
        assert_eq!(tokens("a**%%*b").len(), 3);
        assert_eq!(tokens("%%"), [Token::Level]);
        assert_eq!(tokens("%*"), [Token::Any]);
        assert_eq!(tokens("*%"), [Token::Any]);
    }
}
