//! MIME views of a stored message for FETCH and SEARCH: ENVELOPE, BODY and BODYSTRUCTURE
//! (RFC 9051 section 7.5.2), body sections (RFC 9051 section 6.4.5), BINARY (RFC 3516), and
//! the decoded header and body text that SEARCH compares against.
//!
//! [`MimeMessage::parse`] finds the structure once, in one pass over the octets; every view
//! then reads ranges of the original message. Nothing here fails or panics on any input:
//! a message without a blank line is all header, a multipart without its boundary has no
//! parts, and nesting deeper than [`MimeLimits::max_depth`] is not looked into.
//!
//! ```
//! use imap_proto::command::{Section, SectionText};
//! use imap_proto::mime::MimeMessage;
//!
//! let raw = b"Subject: hi\r\nFrom: a@example.com\r\n\r\nHello\r\n";
//! let message = MimeMessage::parse(raw);
//!
//! let mut out = Vec::new();
//! message.write_body_structure(&mut out, false);
//! assert_eq!(out, b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1)");
//!
//! let text = Section { part: vec![], text: Some(SectionText::Text) };
//! assert_eq!(message.section(&text).as_deref(), Some(&b"Hello\r\n"[..]));
//! ```
//!
//! Types, subtypes, parameter names, encodings and disposition types are written upper case
//! (clients compare them case-insensitively; RFC 9051's examples use upper case). Parameter
//! values and every header value are written as sent: ENVELOPE carries raw header text with
//! its encoded words, which the client decodes.

mod address;
mod decode;
mod fields;
mod tree;
mod write;

use std::collections::HashSet;
use std::ops::Range;

use crate::command::{Section, SectionText};

use decode::Cte;
use tree::{Kind, Tree};
use write::View;

/// The limits of MIME parsing. Defaults are generous for real mail and keep hostile input
/// cheap: the structure has at most `max_parts` entities and `max_depth` levels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MimeLimits {
    /// How deep multiparts and encapsulated messages are followed (default 20, at most 100).
    /// A multipart at the limit is reported with no parts, an encapsulated message with an
    /// empty envelope and body.
    pub max_depth: usize,
    /// How many entities (the message, its parts, encapsulated messages) are parsed
    /// (default 10 000); later parts are stepped over.
    pub max_parts: usize,
    /// How many addresses (group markers included) ENVELOPE writes per address field
    /// (default 1000); the rest are left out. Without it a From field of `:;:;...` would
    /// come back fifty times its size (it is also written as Sender and Reply-To).
    pub max_addresses: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        Self {
            max_depth: 20,
            max_parts: 10_000,
            max_addresses: 1000,
        }
    }
}

/// BINARY asked for a part whose Content-Transfer-Encoding this crate cannot remove. The
/// server answers `NO [UNKNOWN-CTE]` (RFC 3516 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the part's Content-Transfer-Encoding is unknown")]
pub struct UnknownCte;

/// A message parsed once, answering every FETCH item and SEARCH question about it.
#[derive(Debug, Clone)]
pub struct MimeMessage<'a> {
    raw: &'a [u8],
    tree: Tree,
    max_addresses: usize,
}

/// How much larger than the message [`MimeMessage::body_text`] may grow: charset conversion
/// turns one octet into at most three of UTF-8, and each part adds a line break.
const TEXT_GROWTH: usize = 4;

impl<'a> MimeMessage<'a> {
    /// Parses `raw` with the default [`MimeLimits`]. Never fails: any octets are some message.
    pub fn parse(raw: &'a [u8]) -> Self {
        Self::parse_with(raw, &MimeLimits::default())
    }

    /// Parses `raw` within `limits`.
    pub fn parse_with(raw: &'a [u8], limits: &MimeLimits) -> Self {
        Self {
            raw,
            tree: Tree::parse(raw, limits),
            max_addresses: limits.max_addresses,
        }
    }

    /// The message as given.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    fn view(&self) -> View<'_> {
        View {
            raw: self.raw,
            tree: &self.tree,
            max_addresses: self.max_addresses,
        }
    }

    /// Appends ENVELOPE: `"(" date subject from sender reply-to to cc bcc in-reply-to
    /// message-id ")"` (RFC 9051 section 7.5.2).
    ///
    /// Sender and Reply-To default to From when absent or empty. Addresses are `(name adl
    /// mailbox host)`, a group as `(NIL NIL name NIL)` ... `(NIL NIL NIL NIL)`; a missing
    /// domain is an empty host, not NIL, which would mean a group. Values are the first field
    /// of each name, unfolded, as sent: encoded words stay encoded, and 8-bit text goes as a
    /// quoted UTF-8 string or a literal. Absent fields are NIL.
    pub fn write_envelope(&self, out: &mut Vec<u8>) {
        self.view().envelope(out, 0);
    }

    /// Appends BODYSTRUCTURE (`extensible`) or BODY (RFC 9051 section 7.5.2).
    ///
    /// Parameters are `(name value ...)` or NIL, RFC 2231 continuations merged. Sizes are
    /// octets of the body as encoded; text parts and encapsulated messages add their line
    /// count (line feeds, plus one for an unterminated last line). `message/rfc822` and
    /// `message/global` parts carry the encapsulated message's envelope and body. A missing
    /// or invalid Content-Type is `text/plain; charset=us-ascii` (RFC 2045 section 5.2), or
    /// `message/rfc822` inside `multipart/digest` (RFC 2046 section 5.1.5). BODYSTRUCTURE
    /// adds the extension data: Content-MD5, disposition, language and location for a leaf;
    /// parameters, disposition, language and location for a multipart.
    pub fn write_body_structure(&self, out: &mut Vec<u8>, extensible: bool) {
        self.view().body(out, 0, extensible);
    }

    /// The octets of `BODY[section]`, before any `<partial>` cut (the caller applies it), or
    /// `None` when the section does not exist (the caller answers NIL).
    ///
    /// RFC 9051 section 6.4.5: part numbers go through multiparts and encapsulated messages;
    /// a message that is not multipart has one part, 1, its body. `MIME` is a part's MIME
    /// header, blank line included. `HEADER`, `HEADER.FIELDS`, `HEADER.FIELDS.NOT` and
    /// `TEXT` apply to the whole message or, after part numbers, only to a `message/rfc822`
    /// part, and then to the encapsulated message. `HEADER.FIELDS` (`.NOT`) returns the raw
    /// lines of the (not) named fields, folding as sent, names compared case-insensitively,
    /// plus the blank line that ends the header when the header has one.
    pub fn section(&self, section: &Section) -> Option<Vec<u8>> {
        if section.part.is_empty() {
            return match &section.text {
                None => Some(self.raw.to_vec()),
                Some(SectionText::Mime) => None,
                Some(text) => self.message_section(0, text),
            };
        }

        let target = self.resolve(&section.part)?;
        let entity = self.tree.entities.get(target)?;
        match &section.text {
            None => self.bytes(entity.body.clone()),
            Some(SectionText::Mime) => self.bytes(entity.header.clone()),
            Some(text) => match entity.kind {
                Kind::Message(Some(inner)) => self.message_section(inner, text),
                _ => None,
            },
        }
    }

    /// The content of `BINARY[part]`: the part's body with its Content-Transfer-Encoding
    /// removed (base64 and quoted-printable decoded; 7bit, 8bit and binary as they are).
    /// An empty `part` is the whole message. `Ok(None)` when there is no such part;
    /// [`UnknownCte`] for an encoding this crate does not know (RFC 3516 section 4.3).
    pub fn binary(&self, part: &[u32]) -> Result<Option<Vec<u8>>, UnknownCte> {
        if part.is_empty() {
            return Ok(Some(self.raw.to_vec()));
        }
        let Some((id, entity)) = self
            .resolve(part)
            .and_then(|id| Some((id, self.tree.entities.get(id)?)))
        else {
            return Ok(None);
        };

        let token = self
            .view()
            .field(id, "Content-Transfer-Encoding")
            .and_then(|value| fields::transfer_encoding(&value));
        let body = self.raw.get(entity.body.clone()).unwrap_or_default();
        Cte::from_token(token.as_deref())
            .decode(body)
            .map(Some)
            .ok_or(UnknownCte)
    }

    /// For SEARCH (`FROM`, `SUBJECT`, `HEADER name`, ...): the value of every field called
    /// `name` (case-insensitive) in the message header, in order, unfolded and with RFC 2047
    /// encoded words decoded.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.tree
            .fields_of(0)
            .iter()
            .filter(|field| {
                field
                    .name
                    .clone()
                    .and_then(|range| self.raw.get(range))
                    .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            })
            .map(|field| self.decoded_value(field.value.clone()))
            .collect()
    }

    /// For SEARCH `SENTBEFORE`, `SENTON`, `SENTSINCE`: the first Date field as seconds since
    /// the Unix epoch, if it parses as an RFC 5322 date.
    pub fn sent_date(&self) -> Option<i64> {
        let value = self.view().field(0, "Date")?;
        let date = mail_parser::DateTime::parse_rfc822(&String::from_utf8_lossy(&value))?;
        date.is_valid().then(|| date.to_timestamp())
    }

    /// For SEARCH `BODY` and `TEXT`: the text of every `text/*` part, encapsulated messages
    /// included, with its transfer encoding removed, converted from its charset to UTF-8
    /// (HTML reduced to its text), parts separated by line breaks. Other parts are skipped.
    /// At most four times the size of the message, plus a few octets.
    pub fn body_text(&self) -> String {
        let limit = self
            .raw
            .len()
            .saturating_mul(TEXT_GROWTH)
            .saturating_add(16);
        let mut out = String::new();

        // Depth-first, in part order, with an explicit stack.
        let mut stack = vec![0usize];
        while let Some(id) = stack.pop() {
            let Some(entity) = self.tree.entities.get(id) else {
                continue;
            };
            match &entity.kind {
                Kind::Multipart(parts) => stack.extend(parts.iter().rev()),
                Kind::Message(inner) => stack.extend(inner),
                Kind::Leaf if entity.media.is_text() => {
                    let text = self.part_text(id);
                    out.push_str(&text);
                    out.push('\n');
                }
                Kind::Leaf => {}
            }
            if out.len() > limit {
                truncate_at_char(&mut out, limit);
                break;
            }
        }
        out
    }

    /// For SEARCH `TEXT`: the message header as `name: value` lines, values unfolded and
    /// encoded words decoded.
    pub fn header_text(&self) -> String {
        let mut out = String::new();
        for field in self.tree.fields_of(0) {
            if let Some(name) = field.name.clone().and_then(|range| self.raw.get(range)) {
                out.push_str(&String::from_utf8_lossy(name));
                out.push_str(": ");
            }
            out.push_str(&self.decoded_value(field.value.clone()));
            out.push_str("\r\n");
        }
        out
    }

    /// Finds the entity of a non-empty part number (RFC 9051 section 6.4.5).
    fn resolve(&self, path: &[u32]) -> Option<usize> {
        let mut current: Option<usize> = None;
        for &number in path {
            let index = usize::try_from(number).ok()?.checked_sub(1)?;

            // Inside a part: a multipart's parts, or the parts of an encapsulated message.
            let message = match current {
                None => 0,
                Some(part) => match &self.tree.entities.get(part)?.kind {
                    Kind::Multipart(parts) => {
                        current = Some(*parts.get(index)?);
                        continue;
                    }
                    Kind::Message(Some(inner)) => *inner,
                    _ => return None,
                },
            };

            // Inside a message: its parts when it is multipart, else itself as part 1.
            current = Some(match &self.tree.entities.get(message)?.kind {
                Kind::Multipart(parts) => *parts.get(index)?,
                _ if index == 0 => message,
                _ => return None,
            });
        }
        current
    }

    /// HEADER, HEADER.FIELDS[.NOT] and TEXT of the message whose header is entity `id`'s.
    fn message_section(&self, id: usize, text: &SectionText) -> Option<Vec<u8>> {
        let entity = self.tree.entities.get(id)?;
        let (names, wanted) = match text {
            SectionText::Header => return self.bytes(entity.header.clone()),
            SectionText::Text => return self.bytes(entity.body.clone()),
            SectionText::Mime => return None,
            SectionText::HeaderFields(names) => (names, true),
            SectionText::HeaderFieldsNot(names) => (names, false),
        };

        // A long list of names is looked up in a set, so that a command naming thousands of
        // fields costs no more per header line than one naming four.
        let set: Option<HashSet<Vec<u8>>> = (names.len() > 8).then(|| {
            names
                .iter()
                .map(|n| n.as_bytes().to_ascii_lowercase())
                .collect()
        });
        let is_named = |name: &[u8]| match &set {
            Some(set) => set.contains(&name.to_ascii_lowercase()),
            None => names
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes())),
        };

        let header = entity.header.clone();
        let fields = self.tree.fields_of(id);
        let mut out = Vec::new();
        for field in fields {
            let named = field
                .name
                .clone()
                .and_then(|range| self.raw.get(range))
                .is_some_and(is_named);
            if named == wanted {
                let end = field.line.end.min(header.end);
                out.extend_from_slice(self.raw.get(field.line.start..end).unwrap_or_default());
            }
        }

        // The blank line that ends the header: what follows the last field.
        let last = fields.last().map_or(header.start, |field| field.line.end);
        out.extend_from_slice(self.raw.get(last..header.end).unwrap_or_default());
        Some(out)
    }

    /// The decoded text of one `text/*` leaf, for SEARCH.
    fn part_text(&self, id: usize) -> String {
        let Some(entity) = self.tree.entities.get(id) else {
            return String::new();
        };
        let body = self.raw.get(entity.body.clone()).unwrap_or_default();
        let token = self
            .view()
            .field(id, "Content-Transfer-Encoding")
            .and_then(|value| fields::transfer_encoding(&value));

        // An unknown encoding is searched as it is: better than not at all.
        let decoded = Cte::from_token(token.as_deref())
            .decode(body)
            .unwrap_or_else(|| body.to_vec());
        let text = decode::to_utf8(&decoded, entity.media.param(b"charset"));
        if entity.media.sub == b"HTML" {
            mail_parser::decoders::html::html_to_text(&text)
        } else {
            text
        }
    }

    fn decoded_value(&self, value: Range<usize>) -> String {
        decode::header_text(&fields::unfold(self.raw.get(value).unwrap_or_default()))
    }

    fn bytes(&self, range: Range<usize>) -> Option<Vec<u8>> {
        self.raw.get(range).map(<[u8]>::to_vec)
    }
}

/// Cuts `text` to at most `limit` octets, at a character boundary.
fn truncate_at_char(text: &mut String, limit: usize) {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

// ---------------------------------------------------------------------------------------------
// Fuzzing.
// ---------------------------------------------------------------------------------------------

/// How much larger than the message an ENVELOPE or BODYSTRUCTURE may be. The worst case,
/// about fifty, is a From field of empty groups (`:;:;`), each two octets becoming 33, and
/// written three times as Sender and Reply-To default to From; empty parts (`--b` lines)
/// come next at under twenty. Past [`MimeLimits`] the growth is far smaller.
const STRUCTURE_GROWTH: usize = 64;

/// Runs every view on `raw` and checks what can be checked, panicking when an invariant
/// breaks. For a fuzz target fed arbitrary messages; this crate's tests run it too.
///
/// - ENVELOPE, BODY and BODYSTRUCTURE are well-formed: parentheses balance, quoted strings
///   close, literals hold their announced octets, and no line break appears outside a
///   literal; and their size is bounded by a multiple of the message;
/// - `BODY[]` is the message, and `BODY[HEADER]` followed by `BODY[TEXT]` is the message;
/// - `HEADER.FIELDS` and `HEADER.FIELDS.NOT` of the same names split the header lines;
/// - a part has a section exactly when BINARY finds it, and `part.HEADER` followed by
///   `part.TEXT` is the part of an encapsulated message;
/// - no section, BINARY or text is larger than the message allows.
pub fn fuzz_views(raw: &[u8]) {
    let message = MimeMessage::parse(raw);
    let bound = raw.len() * STRUCTURE_GROWTH + 1024;

    // The structures.
    let mut envelope = Vec::new();
    message.write_envelope(&mut envelope);
    check_syntax(&envelope);
    assert!(
        envelope.len() <= bound,
        "ENVELOPE of {} octets",
        envelope.len()
    );
    for extensible in [false, true] {
        let mut body = Vec::new();
        message.write_body_structure(&mut body, extensible);
        check_syntax(&body);
        assert!(
            body.len() <= bound,
            "BODYSTRUCTURE of {} octets",
            body.len()
        );
    }

    // The whole message, and its header and text.
    let section = |part: &[u32], text: Option<SectionText>| {
        message.section(&Section {
            part: part.to_vec(),
            text,
        })
    };
    assert_eq!(section(&[], None).as_deref(), Some(raw));
    let header = section(&[], Some(SectionText::Header)).unwrap_or_default();
    let text = section(&[], Some(SectionText::Text)).unwrap_or_default();
    assert_eq!([header.as_slice(), text.as_slice()].concat(), raw);
    assert_eq!(section(&[], Some(SectionText::Mime)), None);

    // Selected and excluded fields are the header's lines, the blank line in both.
    let names = vec![
        "From".to_owned(),
        "subject".to_owned(),
        "CONTENT-TYPE".to_owned(),
    ];
    let selected = section(&[], Some(SectionText::HeaderFields(names.clone()))).unwrap_or_default();
    let excluded = section(&[], Some(SectionText::HeaderFieldsNot(names))).unwrap_or_default();
    let doubled = (selected.len() + excluded.len()).checked_sub(header.len());
    assert!(
        matches!(doubled, Some(0..=2)),
        "HEADER.FIELDS {} + NOT {} for a header of {}",
        selected.len(),
        excluded.len(),
        header.len()
    );

    // Parts: sections, BINARY, and the encapsulated messages' header and text.
    let paths: [&[u32]; 9] = [
        &[1],
        &[2],
        &[3],
        &[1, 1],
        &[1, 2],
        &[2, 1],
        &[2, 2],
        &[1, 1, 1],
        &[2, 1, 1],
    ];
    for path in paths {
        let body = section(path, None);
        for text in [
            Some(SectionText::Mime),
            Some(SectionText::Header),
            Some(SectionText::Text),
        ] {
            if let Some(octets) = section(path, text) {
                assert!(octets.len() <= raw.len());
                assert!(body.is_some(), "a section of part {path:?}, which has none");
            }
        }
        if let (Some(header), Some(text)) = (
            section(path, Some(SectionText::Header)),
            section(path, Some(SectionText::Text)),
        ) {
            assert_eq!(Some([header, text].concat()), body, "part {path:?}");
        }
        match message.binary(path) {
            Ok(Some(decoded)) => {
                assert!(decoded.len() <= raw.len());
                assert!(
                    body.is_some(),
                    "BINARY of part {path:?}, which has no section"
                );
            }
            Ok(None) => assert!(body.is_none(), "no BINARY of part {path:?}"),
            Err(UnknownCte) => assert!(body.is_some()),
        }
    }

    // SEARCH views.
    let limit = raw.len() * TEXT_GROWTH + 16;
    assert!(message.body_text().len() <= limit);
    let _ = message.header_text();
    let _ = message.header_values("subject");
    let _ = message.sent_date();
}

/// Checks the response syntax of a FETCH value: parentheses balance, quoted strings end,
/// `{n}` CRLF literals hold n octets, CR or LF appear only inside literals, and no NUL appears
/// at all (RFC 9051 `CHAR8` excludes it).
pub(crate) fn check_syntax(out: &[u8]) {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&byte) = out.get(i) {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1).unwrap_or_else(|| {
                    panic!("unbalanced ')' at {i}: {:?}", String::from_utf8_lossy(out))
                });
            }
            b'"' => {
                i += 1;
                loop {
                    match out.get(i) {
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(b'\r' | b'\n') | None => {
                            panic!(
                                "unterminated quoted string: {:?}",
                                String::from_utf8_lossy(out)
                            )
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' => {
                let close = out[i..].iter().position(|&b| b == b'}').map(|p| i + p);
                let close = close.unwrap_or_else(|| panic!("unterminated literal length"));
                let length: usize = std::str::from_utf8(&out[i + 1..close])
                    .ok()
                    .and_then(|digits| digits.parse().ok())
                    .unwrap_or_else(|| panic!("bad literal length"));
                assert_eq!(
                    out.get(close + 1..close + 3),
                    Some(&b"\r\n"[..]),
                    "literal header"
                );
                i = close + 3 + length;
                assert!(i <= out.len(), "literal runs past the end");
                // `literal = "{" number64 ["+"] "}" CRLF *CHAR8`, and CHAR8 excludes NUL.
                assert!(!out[close + 3..i].contains(&0), "NUL in a literal");
                continue;
            }
            b'\r' | b'\n' => panic!(
                "line break outside a literal: {:?}",
                String::from_utf8_lossy(out)
            ),
            0 => panic!(
                "NUL, which no string may hold: {:?}",
                String::from_utf8_lossy(out)
            ),
            _ => {}
        }
        i += 1;
    }
    assert_eq!(
        depth,
        0,
        "unbalanced '(': {:?}",
        String::from_utf8_lossy(out)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(raw: &[u8], extensible: bool) -> String {
        let mut out = Vec::new();
        MimeMessage::parse(raw).write_body_structure(&mut out, extensible);
        String::from_utf8(out).unwrap()
    }

    fn envelope(raw: &[u8]) -> String {
        let mut out = Vec::new();
        MimeMessage::parse(raw).write_envelope(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn part(path: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: path.to_vec(),
            text,
        }
    }

    #[test]
    fn the_syntax_checker_catches_what_it_should() {
        check_syntax(b"(\"a\\\"b\" {3}\r\n(\r\n NIL)");
        for bad in [
            &b"(()"[..],
            b"())",
            b"(\"x)",
            b"{5}\r\nab",
            b"(a\r\nb)",
            b"{x}\r\n",
        ] {
            assert!(
                std::panic::catch_unwind(|| check_syntax(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_empty_message_is_a_message() {
        assert_eq!(
            structure(b"", true),
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)"
        );
        assert_eq!(envelope(b""), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        let message = MimeMessage::parse(b"");
        assert_eq!(message.section(&part(&[1], None)), Some(vec![]));
        assert_eq!(message.section(&part(&[2], None)), None);
        assert_eq!(message.section(&part(&[0], None)), None);
        fuzz_views(b"");
    }

    #[test]
    fn header_fields_keep_raw_lines_and_the_blank_line() {
        let raw = b"Subject: a\r\n b\r\nFrom: x@y\r\nsubject: second\r\nX: 1\r\n\r\nbody";
        let message = MimeMessage::parse(raw);
        let fields = part(&[], Some(SectionText::HeaderFields(vec!["SUBJECT".into()])));
        assert_eq!(
            message.section(&fields).unwrap(),
            b"Subject: a\r\n b\r\nsubject: second\r\n\r\n"
        );
        let not = part(
            &[],
            Some(SectionText::HeaderFieldsNot(vec![
                "subject".into(),
                "x".into(),
            ])),
        );
        assert_eq!(message.section(&not).unwrap(), b"From: x@y\r\n\r\n");
        let none = part(&[], Some(SectionText::HeaderFields(vec!["Nope".into()])));
        assert_eq!(message.section(&none).unwrap(), b"\r\n");
        fuzz_views(raw);
    }

    #[test]
    fn long_name_lists_match_like_short_ones() {
        let raw = b"From: a@b\r\nX-1: 1\r\nTo: c@d\r\n\r\n";
        let mut names: Vec<String> = (0..20).map(|i| format!("X-Other-{i}")).collect();
        names.push("FROM".into());
        names.push("x-1".into());
        let message = MimeMessage::parse(raw);
        let fields = part(&[], Some(SectionText::HeaderFields(names.clone())));
        assert_eq!(
            message.section(&fields).unwrap(),
            b"From: a@b\r\nX-1: 1\r\n\r\n"
        );
        let not = part(&[], Some(SectionText::HeaderFieldsNot(names)));
        assert_eq!(message.section(&not).unwrap(), b"To: c@d\r\n\r\n");
    }

    #[test]
    fn address_lists_are_capped_and_groups_stay_closed() {
        let mut raw = b"From: g:".to_vec();
        for i in 0..1500 {
            raw.extend_from_slice(format!("a{i}@b,").as_bytes());
        }
        raw.extend_from_slice(b";\r\n\r\n");
        let mut out = Vec::new();
        MimeMessage::parse(&raw).write_envelope(&mut out);
        check_syntax(&out);

        // From, and Sender and Reply-To as copies of it: each the group start, 999
        // mailboxes, and the end the cut would have lost.
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("(NIL NIL \"g\" NIL)").count(), 3);
        assert_eq!(text.matches("(NIL NIL \"a").count(), 3 * 999);
        assert_eq!(text.matches("(NIL NIL NIL NIL)").count(), 3);
        fuzz_views(&raw);

        // The worst growth there is stays within the bound fuzz_views checks.
        let mut raw = b"From: ".to_vec();
        raw.extend_from_slice(&b":;".repeat(400));
        fuzz_views(&raw);
    }

    #[test]
    fn an_unterminated_header_has_no_blank_line_to_add() {
        let raw = b"Subject: a\r\nFrom: b";
        let message = MimeMessage::parse(raw);
        let fields = part(&[], Some(SectionText::HeaderFields(vec!["from".into()])));
        assert_eq!(message.section(&fields).unwrap(), b"From: b");
        fuzz_views(raw);
    }

    #[test]
    fn digest_parts_default_to_messages() {
        let raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n\
                    Subject: inner\r\n\r\nhi\r\n--d--\r\n";
        assert_eq!(
            structure(raw, false),
            "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 20 (NIL \"inner\" NIL NIL NIL NIL \
             NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" \
             2 1) 3) \"DIGEST\")"
        );
        fuzz_views(raw);
    }

    #[test]
    fn a_blank_line_before_a_delimiter_belongs_to_the_delimiter() {
        // Found by fuzzing: the inner header's blank line is also the line break that
        // precedes the delimiter, which RFC 2046 section 5.1.1 gives to the delimiter.
        let raw = b"Content-Type: multipart/mixed; boundary=o\n\n--o\n\
                    Content-Type: message/rfc822\n\nFrom: a\n\n--o--\n";
        let message = MimeMessage::parse(raw);
        assert_eq!(message.section(&part(&[1], None)).unwrap(), b"From: a\n");
        assert_eq!(
            message
                .section(&part(&[1], Some(SectionText::Header)))
                .unwrap(),
            b"From: a\n"
        );
        assert_eq!(
            message
                .section(&part(&[1], Some(SectionText::Text)))
                .unwrap(),
            b""
        );
        fuzz_views(raw);
    }

    #[test]
    fn a_multipart_without_parts_gets_an_empty_one() {
        let raw = b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n";
        assert_eq!(
            structure(raw, false),
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"MIXED\")"
        );
        assert_eq!(MimeMessage::parse(raw).section(&part(&[1], None)), None);
        fuzz_views(raw);
    }

    #[test]
    fn deep_nesting_is_cut_at_the_limit() {
        let mut raw = Vec::new();
        for _ in 0..200 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: bottom\r\n\r\nx");
        let out = structure(&raw, true);
        check_syntax(out.as_bytes());
        assert_eq!(
            out.matches("\"RFC822\"").count(),
            MimeLimits::default().max_depth + 1
        );
        fuzz_views(&raw);

        let mut raw = Vec::new();
        for i in 0..200 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"{i}\"\r\n\r\n--{i}\r\n")
                    .as_bytes(),
            );
        }
        fuzz_views(&raw);
    }

    #[test]
    fn eight_bit_and_odd_values_stay_well_formed() {
        let raw = b"Subject: caf\xe9 \"q\" \\ {3}\r\nFrom: \"\xff\" <a@b>\r\nTo: a\0b@c\r\n\
                    Content-Type: text/plain; name=\"x\r\n y\"\r\n\r\n";
        let message = MimeMessage::parse(raw);
        let mut out = Vec::new();
        message.write_envelope(&mut out);
        assert_eq!(
            out,
            b"(NIL {14}\r\ncaf\xe9 \"q\" \\ {3} (({1}\r\n\xff NIL \"a\" \"b\")) \
              (({1}\r\n\xff NIL \"a\" \"b\")) (({1}\r\n\xff NIL \"a\" \"b\")) \
              ((NIL NIL \"ab\" \"c\")) NIL NIL NIL NIL)"
        );
        fuzz_views(raw);
    }

    #[test]
    fn search_views_decode() {
        let raw = "Subject: =?utf-8?q?caf=C3=A9?=\r\nSubject: two\r\nDate: Mon, 7 Feb 1994 \
                   21:52:25 -0800\r\nContent-Type: text/html; charset=iso-8859-1\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9</p>\r\n";
        let message = MimeMessage::parse(raw.as_bytes());
        assert_eq!(message.header_values("SUBJECT"), ["café", "two"]);
        assert_eq!(message.sent_date(), Some(760_686_745));
        assert_eq!(message.body_text().trim(), "café");
        assert!(
            message
                .header_text()
                .starts_with("Subject: café\r\nSubject: two\r\n")
        );
        assert_eq!(MimeMessage::parse(b"Date: never\r\n\r\n").sent_date(), None);
    }

    #[test]
    fn random_inputs_keep_the_invariants() {
        // A small deterministic generator over a MIME-ish alphabet: no dependency, and
        // it reaches boundaries, folding and encodings quickly.
        const WORDS: [&[u8]; 24] = [
            b"\r\n",
            b"\n",
            b"--b",
            b"--c",
            b"--",
            b"Content-Type: ",
            b"multipart/mixed; ",
            b"boundary=b",
            b"boundary=\"c\"",
            b"message/rfc822",
            b"text/plain",
            b": ",
            b" ",
            b"\t",
            b"Content-Transfer-Encoding: base64",
            b"quoted-printable",
            b"=?utf-8?q?a?=",
            b"From: ",
            b"<a@b>",
            b"g:;",
            b"(",
            b")",
            b"\"",
            b"x",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut raw = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 60) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                raw.extend_from_slice(WORDS[(state % WORDS.len() as u64) as usize]);
            }
            fuzz_views(&raw);
        }
    }
}
