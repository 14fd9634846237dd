//! Header field values: unfolding, and the MIME fields whose parameters BODYSTRUCTURE reports
//! in their original form (RFC 2045 section 5.1, RFC 2183, RFC 2231, RFC 3282).
//!
//! mail-parser decodes RFC 2231 and RFC 2047 inside parameters and lower-cases some tokens;
//! IMAP servers report parameter values as sent, so these small tokenizers work on the raw
//! octets instead.

use std::collections::HashMap;

/// Unfolds a header field value (RFC 5322 section 2.2.3: a line break followed by white space
/// is removed, the white space kept) and trims the white space at both ends. NUL octets are
/// dropped: no IMAP string can carry them (RFC 9051 `CHAR8` is %x01-ff).
pub(super) fn unfold(value: &[u8]) -> Vec<u8> {
    // Trim first: line breaks and NUL at the ends go with the white space.
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0);
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    let value = &value[start..end];

    // Then copy the runs between line breaks (CRLF or bare LF) and NULs.
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = memchr::memchr2(b'\n', 0, rest) {
        let run = &rest[..i];
        let run = match (rest[i], run) {
            (b'\n', [run @ .., b'\r']) => run,
            _ => run,
        };
        out.extend_from_slice(run);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out
}

/// `WSP = SP / HTAB`
pub(super) fn is_wsp(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// RFC 2045 `tspecials`, which end a `token`.
fn is_tspecial(byte: u8) -> bool {
    TSPECIALS[usize::from(byte)]
}

const TSPECIALS: [bool; 256] = octet_set(b"()<>@,;:\\\"/[]?=");

/// A set of octets as a table indexed by octet, built at compile time.
pub(super) const fn octet_set(members: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < members.len() {
        set[members[i] as usize] = true;
        i += 1;
    }
    set
}

/// RFC 2045 `token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>`, widened to
/// octets above 127 so that 8-bit tokens survive as they were sent.
fn is_token_char(byte: u8) -> bool {
    byte > 0x20 && byte != 0x7f && !is_tspecial(byte)
}

/// One parameter, `attribute=value`, with the value unquoted (RFC 2045 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Param {
    /// The attribute as sent (case-insensitive), continuations merged (RFC 2231 section 3).
    pub name: Vec<u8>,
    /// The value with quoting removed.
    pub value: Vec<u8>,
}

/// A parsed `Content-Type` (or `Content-Disposition`, which has no subtype).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaType {
    /// The type, upper-cased: IMAP clients compare types case-insensitively and the RFC 9051
    /// examples upper-case them, so every type this crate writes is upper case.
    pub main: Vec<u8>,
    /// The subtype, upper-cased; empty for a disposition.
    pub sub: Vec<u8>,
    /// The parameters in the order sent.
    pub params: Vec<Param>,
    /// Whether the field was absent or unusable and this is the RFC 2045 default.
    pub defaulted: bool,
}

impl MediaType {
    /// `text/plain; charset=us-ascii`, the RFC 2045 section 5.2 default.
    pub fn text_plain() -> Self {
        Self {
            main: b"TEXT".to_vec(),
            sub: b"PLAIN".to_vec(),
            params: vec![Param {
                name: b"CHARSET".to_vec(),
                value: b"US-ASCII".to_vec(),
            }],
            defaulted: true,
        }
    }

    /// `message/rfc822`, the default inside `multipart/digest` (RFC 2046 section 5.1.5).
    pub fn message_rfc822() -> Self {
        Self {
            main: b"MESSAGE".to_vec(),
            sub: b"RFC822".to_vec(),
            params: Vec::new(),
            defaulted: true,
        }
    }

    /// Whether this is `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.main == b"MULTIPART"
    }

    /// Whether this is an encapsulated message: `message/rfc822`, or `message/global`
    /// (RFC 6532 section 3.5), which RFC 9051 `media-message` also lists.
    pub fn is_message(&self) -> bool {
        self.main == b"MESSAGE" && (self.sub == b"RFC822" || self.sub == b"GLOBAL")
    }

    /// Whether this is `text/*`.
    pub fn is_text(&self) -> bool {
        self.main == b"TEXT"
    }

    /// The value of the first parameter called `name` (ASCII case-insensitive).
    pub fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|param| param.name.eq_ignore_ascii_case(name))
            .map(|param| param.value.as_slice())
    }
}

/// A cursor over a structured field value, skipping RFC 5322 `CFWS`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips white space, line breaks and comments. Comments nest (RFC 5322 section 3.2.2);
    /// the depth is a counter, so nesting costs no stack.
    fn skip_cfws(&mut self) {
        let mut depth = 0usize;
        while let Some(byte) = self.peek() {
            match byte {
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                // An escaped octet, if there is one: `pos` never passes the end.
                b'\\' if depth > 0 && self.pos + 1 < self.bytes.len() => self.pos += 1,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if depth > 0 => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// A run of token octets, possibly empty.
    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// A parameter value: a quoted string (unquoted here), or anything up to the next `;`
    /// or white space. The unquoted form is wider than `token` on purpose: senders write
    /// `boundary=----=_Part_1` and `name=a/b.pdf` unquoted, and every MIME reader accepts it.
    fn value(&mut self) -> Vec<u8> {
        if self.peek() == Some(b'"') {
            self.pos += 1;
            let mut value = Vec::new();
            while let Some(byte) = self.peek() {
                self.pos += 1;
                match byte {
                    b'"' => return value,
                    b'\\' => {
                        if let Some(next) = self.peek() {
                            value.push(next);
                            self.pos += 1;
                        }
                    }
                    // A folded quoted string keeps its white space but not the line break.
                    b'\r' | b'\n' => {}
                    _ => value.push(byte),
                }
            }
            return value;
        }

        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b != b';' && !is_wsp(b) && b != b'\r' && b != b'\n')
        {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default().to_vec()
    }

    /// Skips to just past the next `;`, or to the end.
    fn skip_past_semicolon(&mut self) {
        while let Some(byte) = self.peek() {
            self.pos += 1;
            match byte {
                b';' => return,
                // Quoted strings may contain `;`.
                b'"' => {
                    while let Some(byte) = self.peek() {
                        self.pos += 1;
                        match byte {
                            b'"' => break,
                            b'\\' if self.peek().is_some() => self.pos += 1,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Parses `Content-Type: type "/" subtype *(";" parameter)` (RFC 2045 section 5.1). `None`
/// when the value has no usable type and subtype; the caller then applies the default, as
/// RFC 2045 section 5.2 recommends for a syntactically invalid field.
pub(super) fn content_type(value: &[u8]) -> Option<MediaType> {
    let mut cursor = Cursor::new(value);
    cursor.skip_cfws();
    let main = cursor.token().to_ascii_uppercase();
    cursor.skip_cfws();
    if main.is_empty() || cursor.peek() != Some(b'/') {
        return None;
    }
    cursor.pos += 1;
    cursor.skip_cfws();
    let sub = cursor.token().to_ascii_uppercase();
    if sub.is_empty() {
        return None;
    }

    Some(MediaType {
        main,
        sub,
        params: params(&mut cursor),
        defaulted: false,
    })
}

/// Parses `Content-Disposition: disposition-type *(";" parameter)` (RFC 2183 section 2).
pub(super) fn disposition(value: &[u8]) -> Option<MediaType> {
    let mut cursor = Cursor::new(value);
    cursor.skip_cfws();
    let main = cursor.token().to_ascii_uppercase();
    if main.is_empty() {
        return None;
    }

    Some(MediaType {
        main,
        sub: Vec::new(),
        params: params(&mut cursor),
        defaulted: false,
    })
}

/// The `;`-separated parameters after a type. Broken parameters are skipped, not fatal: a
/// reader that gives up on the first bad one loses the `boundary` that usually follows.
fn params(cursor: &mut Cursor<'_>) -> Vec<Param> {
    let mut raw = Vec::new();
    loop {
        cursor.skip_cfws();
        match cursor.peek() {
            None => break,
            Some(b';') => cursor.pos += 1,
            // Junk after the type or a value (a missing `;`): skip past the next separator.
            Some(_) => cursor.skip_past_semicolon(),
        }

        cursor.skip_cfws();
        let name = cursor.token();
        cursor.skip_cfws();
        if name.is_empty() || cursor.peek() != Some(b'=') {
            continue;
        }
        cursor.pos += 1;
        cursor.skip_cfws();
        let value = cursor.value();
        raw.push(Param {
            name: name.to_vec(),
            value,
        });
    }
    merge_continuations(raw)
}

/// The most sections of one continued parameter that are merged (RFC 2231 section 3); later
/// sections stay separate parameters.
const MAX_SECTIONS: u32 = 1000;

/// Merges RFC 2231 continuations (`name*0`, `name*1*`, ...) into one parameter, `name` or,
/// when the first section is extended, `name*` with the value still in its `charset'lang'`
/// percent-encoded form, as servers report it. Unextended sections of an extended value are
/// percent-encoded so that the merged value stays one well-formed extended value.
fn merge_continuations(raw: Vec<Param>) -> Vec<Param> {
    // (base name, [(section, extended, value)]) per continued parameter, in order of first use.
    struct Continued {
        base: Vec<u8>,
        at: usize,
        sections: Vec<(u32, bool, Vec<u8>)>,
    }

    let mut out: Vec<Option<Param>> = Vec::with_capacity(raw.len());
    let mut continued: Vec<Continued> = Vec::new();
    // Base names, lower-cased, to their entry: a header can hold thousands of parameters.
    let mut index_of: HashMap<Vec<u8>, usize> = HashMap::new();
    for param in raw {
        let Some((base, section, extended)) = split_section(&param.name) else {
            out.push(Some(param));
            continue;
        };
        let base = base.to_vec();
        let index = index_of.get(&base.to_ascii_lowercase()).copied();
        match index {
            Some(i) if !continued[i].sections.iter().any(|s| s.0 == section) => {
                continued[i].sections.push((section, extended, param.value));
            }
            // A repeated section number: keep the first, drop the repeat.
            Some(_) => {}
            None => {
                index_of.insert(base.to_ascii_lowercase(), continued.len());
                continued.push(Continued {
                    base,
                    at: out.len(),
                    sections: vec![(section, extended, param.value)],
                });
                out.push(None);
            }
        }
    }

    for mut entry in continued {
        entry.sections.sort_by_key(|s| s.0);
        let extended = entry.sections.first().is_some_and(|s| s.0 == 0 && s.1);
        let mut name = entry.base;
        let mut value = Vec::new();
        for (_, section_extended, section) in &entry.sections {
            if extended && !section_extended {
                percent_encode(&mut value, section);
            } else {
                value.extend_from_slice(section);
            }
        }
        if extended {
            name.push(b'*');
        }
        if let Some(slot) = out.get_mut(entry.at) {
            *slot = Some(Param { name, value });
        }
    }
    out.into_iter().flatten().collect()
}

/// Splits `name*N` or `name*N*` into (name, N, extended). A lone `name*` (a single extended
/// value, RFC 2231 section 4) is left alone: it is already in the form servers report.
fn split_section(name: &[u8]) -> Option<(&[u8], u32, bool)> {
    let star = name.iter().position(|&b| b == b'*')?;
    let (base, rest) = (&name[..star], &name[star + 1..]);
    let (digits, extended) = match rest.strip_suffix(b"*") {
        Some(digits) => (digits, true),
        None => (rest, false),
    };
    if base.is_empty() || digits.is_empty() || digits.len() > 4 {
        return None;
    }
    // RFC 2231: no leading zeros except for section 0.
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let mut section = 0u32;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        section = section * 10 + u32::from(digit - b'0');
    }
    (section < MAX_SECTIONS).then_some((base, section, extended))
}

/// Appends `value` percent-encoded where RFC 2231 `attribute-char` does not allow an octet.
fn percent_encode(out: &mut Vec<u8>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in value {
        if is_token_char(byte) && byte < 0x80 && !b"*'%".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
        }
    }
}

/// The first token of `Content-Transfer-Encoding` (RFC 2045 section 6.1), upper-cased;
/// `None` when there is none.
pub(super) fn transfer_encoding(value: &[u8]) -> Option<Vec<u8>> {
    let mut cursor = Cursor::new(value);
    cursor.skip_cfws();
    let token = cursor.token();
    (!token.is_empty()).then(|| token.to_ascii_uppercase())
}

/// The language tags of `Content-Language` (RFC 3282 section 2): a comma-separated list
/// with comments allowed.
pub(super) fn languages(value: &[u8]) -> Vec<Vec<u8>> {
    let mut cursor = Cursor::new(value);
    let mut tags = Vec::new();
    loop {
        cursor.skip_cfws();
        let tag = cursor.token();
        if !tag.is_empty() {
            tags.push(tag.to_vec());
            continue;
        }
        match cursor.peek() {
            None => break,
            // `,` separates; any other special is junk to step over.
            Some(_) => cursor.pos += 1,
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(media: &MediaType) -> Vec<(String, String)> {
        media
            .params
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.name).into_owned(),
                    String::from_utf8_lossy(&p.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn unfolding_removes_line_breaks_and_outer_space() {
        assert_eq!(unfold(b" a\r\n b\n\tc  "), b"a b\tc");
        assert_eq!(unfold(b"a\0b"), b"ab");
        assert_eq!(unfold(b"a\rb\r\n c"), b"a\rb c");
        assert_eq!(unfold(b"\r\n x\r\n"), b"x");
        assert_eq!(unfold(b"   "), b"");
        assert_eq!(unfold(b""), b"");
    }

    #[test]
    fn content_type_keeps_values_as_sent() {
        let media =
            content_type(b" Text/Plain ; charset=\"UTF-8\" (comment); format=flowed").unwrap();
        assert_eq!(media.main, b"TEXT");
        assert_eq!(media.sub, b"PLAIN");
        assert_eq!(
            pairs(&media),
            [
                ("charset".into(), "UTF-8".into()),
                ("format".into(), "flowed".into())
            ]
        );

        let media = content_type(b"multipart/mixed; boundary=----=_Part_0_1.2").unwrap();
        assert_eq!(media.param(b"BOUNDARY"), Some(&b"----=_Part_0_1.2"[..]));

        let media = content_type(b"text/plain; name=\"a \\\"b\\\"; c\"").unwrap();
        assert_eq!(media.param(b"name"), Some(&b"a \"b\"; c"[..]));
    }

    #[test]
    fn broken_content_types_are_rejected_or_skipped() {
        assert_eq!(content_type(b"text"), None);
        assert_eq!(content_type(b"/plain"), None);
        assert_eq!(content_type(b"text/"), None);
        assert_eq!(content_type(b""), None);

        let media = content_type(b"text/plain junk; =x; noval; ok=1;;").unwrap();
        assert_eq!(pairs(&media), [("ok".into(), "1".into())]);
    }

    #[test]
    fn rfc_2231_continuations_are_merged() {
        let media = content_type(
            b"application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; \
              title*2=\"isn't it!\"; title*1*=%2A%2A%2Afun%2A%2A%2A%20",
        )
        .unwrap();
        assert_eq!(
            pairs(&media),
            [(
                "title*".into(),
                "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!"
                    .into()
            )]
        );

        let media = content_type(b"text/plain; a*0=\"x \"; b=1; a*1=y; c*=utf-8''%E2").unwrap();
        assert_eq!(
            pairs(&media),
            [
                ("a".into(), "x y".into()),
                ("b".into(), "1".into()),
                ("c*".into(), "utf-8''%E2".into())
            ]
        );
    }

    #[test]
    fn escapes_at_the_end_stay_in_bounds() {
        // Found by fuzzing: a backslash ending a comment or a quoted string stepped past
        // the end of the value.
        assert_eq!(content_type(b"text/plain (\\"), content_type(b"text/plain"));
        assert_eq!(content_type(b"text/plain; a (\\").unwrap().params, []);
        assert_eq!(content_type(b"text/plain x\"\\").unwrap().params, []);
        assert_eq!(transfer_encoding(b"(\\"), None);
        assert!(languages(b"(\\").is_empty());
        assert_eq!(disposition(b"(\\"), None);
    }

    #[test]
    fn dispositions_encodings_and_languages() {
        let dsp = disposition(b"attachment; filename=\"a.pdf\"").unwrap();
        assert_eq!(dsp.main, b"ATTACHMENT");
        assert_eq!(pairs(&dsp), [("filename".into(), "a.pdf".into())]);
        assert_eq!(disposition(b" ; x=1"), None);

        assert_eq!(transfer_encoding(b" (c) base64 "), Some(b"BASE64".to_vec()));
        assert_eq!(transfer_encoding(b"  "), None);

        assert_eq!(
            languages(b"en, (comment) de-CH"),
            [b"en".to_vec(), b"de-CH".to_vec()]
        );
        assert!(languages(b" , ").is_empty());
    }
}
