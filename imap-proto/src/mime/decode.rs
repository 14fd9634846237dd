//! Content-Transfer-Encoding removal for BINARY (RFC 3516) and text decoding for SEARCH.
//!
//! The decoders are lenient where RFC 2045 tells readers to be: base64 ignores octets
//! outside its alphabet (section 6.8), and quoted-printable keeps a malformed `=` sequence as
//! it is (section 6.7, note 1). mail-parser's decoders give up on such input instead, and
//! BINARY must answer with something for every part whose encoding it knows.

/// A part's Content-Transfer-Encoding, as far as decoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cte {
    /// `7bit`, `8bit`, `binary`, or none given (RFC 2045 section 6.1 default `7bit`).
    Identity,
    /// `base64`
    Base64,
    /// `quoted-printable`
    QuotedPrintable,
    /// Anything else (`x-uuencode`, typos): RFC 3516 section 4.3 `UNKNOWN-CTE`.
    Unknown,
}

impl Cte {
    /// Classifies the upper-cased token of the field, `None` when the field is absent.
    pub fn from_token(token: Option<&[u8]>) -> Self {
        match token {
            None | Some(b"7BIT" | b"8BIT" | b"BINARY") => Self::Identity,
            Some(b"BASE64") => Self::Base64,
            Some(b"QUOTED-PRINTABLE") => Self::QuotedPrintable,
            Some(_) => Self::Unknown,
        }
    }

    /// Decodes `body`; `None` for an unknown encoding.
    pub fn decode(self, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Identity => Some(body.to_vec()),
            Self::Base64 => Some(base64(body)),
            Self::QuotedPrintable => Some(quoted_printable(body)),
            Self::Unknown => None,
        }
    }
}

/// The value of a base64 alphabet octet (RFC 2045 table 1), or `None`.
fn base64_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes base64 (RFC 2045 section 6.8). Octets outside the alphabet are ignored, as the
/// RFC requires of readers. `=` ends a quantum; decoding resumes after it, so bodies that
/// concatenate several encoded blocks decode whole.
pub(super) fn base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut quantum = 0u32;
    let mut count = 0;
    for &byte in input {
        if let Some(value) = base64_value(byte) {
            quantum = quantum << 6 | value;
            count += 1;
            if count == 4 {
                out.extend_from_slice(&[
                    (quantum >> 16) as u8,
                    (quantum >> 8) as u8,
                    quantum as u8,
                ]);
                quantum = 0;
                count = 0;
            }
        } else if byte == b'=' {
            flush_partial(&mut out, quantum, count);
            quantum = 0;
            count = 0;
        }
    }
    flush_partial(&mut out, quantum, count);
    out
}

/// Emits the octets of an incomplete quantum: two characters carry one octet, three carry
/// two; a lone character carries none.
fn flush_partial(out: &mut Vec<u8>, quantum: u32, count: u32) {
    match count {
        2 => out.push((quantum >> 4) as u8),
        3 => out.extend_from_slice(&[(quantum >> 10) as u8, (quantum >> 2) as u8]),
        _ => {}
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        // Lower case is not allowed by RFC 2045 rule 1, but readers accept it.
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable (RFC 2045 section 6.7): `=XX` is an octet, `=` at the end of a
/// line is a soft line break, white space at the end of a line is transport padding and is
/// dropped (rule 3). Hard line breaks are kept as they were (CRLF or LF).
pub(super) fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let (content, line_break) = match line {
            [content @ .., b'\r', b'\n'] => (content, &b"\r\n"[..]),
            [content @ .., b'\n'] => (content, &b"\n"[..]),
            content => (content, &b""[..]),
        };
        let end = content
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        let content = &content[..end];

        let mut soft_break = false;
        let mut i = 0;
        while let Some(&byte) = content.get(i) {
            if byte != b'=' {
                out.push(byte);
                i += 1;
                continue;
            }
            let high = content.get(i + 1).copied();
            let low = content.get(i + 2).copied();
            match (high.and_then(hex_value), low.and_then(hex_value)) {
                _ if high.is_none() => {
                    soft_break = true;
                    i += 1;
                }
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                }
                // A malformed sequence stays as it is (RFC 2045 section 6.7, note 1).
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            }
        }
        if !soft_break {
            out.extend_from_slice(line_break);
        }
    }
    out
}

/// Converts text in `charset` to UTF-8, with mail-parser's charset tables. Unknown charsets
/// and UTF-8 itself go through lossy UTF-8 conversion.
pub(super) fn to_utf8(bytes: &[u8], charset: Option<&[u8]>) -> String {
    match charset.and_then(mail_parser::decoders::charsets::map::charset_decoder) {
        Some(decoder) => decoder(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes RFC 2047 encoded words in an unfolded header value, with mail-parser's
/// unstructured-field parser.
pub(super) fn header_text(value: &[u8]) -> String {
    // mail-parser reads a field up to its final line break, so one is supplied.
    let mut line = Vec::with_capacity(value.len() + 1);
    line.extend_from_slice(value);
    line.push(b'\n');
    match mail_parser::parsers::MessageStream::new(&line).parse_unstructured() {
        mail_parser::HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_ignores_noise_and_resumes_after_padding() {
        assert_eq!(base64(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64(b"aGVsbG8"), b"hello");
        assert_eq!(base64(b"a*G!V\tsbG8="), b"hello");
        assert_eq!(base64(b"aQ==aQ=="), b"ii");
        assert_eq!(base64(b"a"), b"");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn quoted_printable_rules() {
        assert_eq!(
            quoted_printable(b"caf=C3=A9 =\r\nau lait  \r\nx"),
            "café au lait\r\nx".as_bytes()
        );
        assert_eq!(quoted_printable(b"a=3d=\nb\n"), b"a=b\n");
        assert_eq!(quoted_printable(b"100% =ZZ =4"), b"100% =ZZ =4");
        assert_eq!(quoted_printable(b"end="), b"end");
        assert_eq!(quoted_printable(b""), b"");
    }

    #[test]
    fn transfer_encodings_are_classified() {
        assert_eq!(Cte::from_token(None), Cte::Identity);
        assert_eq!(Cte::from_token(Some(b"8BIT")), Cte::Identity);
        assert_eq!(Cte::from_token(Some(b"X-UUENCODE")), Cte::Unknown);
        assert_eq!(Cte::Unknown.decode(b"x"), None);
    }

    #[test]
    fn header_words_are_decoded() {
        assert_eq!(header_text(b"=?utf-8?q?J=C3=B6rg?= <j@x>"), "Jörg <j@x>");
        assert_eq!(header_text(b"=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(header_text(b""), "");
        assert_eq!(to_utf8(b"caf\xe9", Some(b"ISO-8859-1")), "café");
        assert_eq!(to_utf8(b"caf\xc3\xa9", Some(b"utf-8")), "café");
    }
}
