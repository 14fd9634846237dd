//! Framing of server responses, without I/O: each function looks at the bytes received so
//! far and says where the next whole reply ends, or that more bytes are needed.
//!
//! IMAP is the one that needs care. A response line that ends in a literal marker `{n}`
//! (RFC 9051 section 4.3) is followed by exactly `n` octets of data and then by the rest of
//! the line. Those octets are arbitrary message text: a body may contain a line such as
//! `a1 OK done`, so the data must be skipped by count, never scanned for line ends, or the
//! client would take a line of a message for the completion of its command.

use std::ops::Range;

/// One whole IMAP response: a line, or a line continued after one or more literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapResponse {
    /// Octets the response takes in the buffer, through its final CRLF.
    pub len: usize,
    /// The protocol text around the literals, each range without its CRLF; literal data is
    /// in none of them, so scanning these for `UID` or a tag cannot be fooled by a message.
    pub text: Vec<Range<usize>>,
    /// Octets of literal data the response carried.
    pub literal_octets: usize,
}

/// Why a response cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line grew past the limit without a line end: the peer is not speaking the protocol,
    /// and buffering more would only grow memory.
    #[error("a response line is longer than {0} octets")]
    LineTooLong(usize),
    /// A literal marker announced more octets than a load test could want.
    #[error("a literal of {0} octets is larger than the limit")]
    LiteralTooLarge(u64),
}

/// The longest response line accepted, literals not counted.
pub const MAX_LINE: usize = 1 << 20;

/// The largest literal accepted: well above the messages a benchmark sends.
pub const MAX_LITERAL: u64 = 64 << 20;

/// Finds the first whole IMAP response in `buf`.
///
/// Returns `Ok(None)` when the buffer ends inside the response; the caller reads more and
/// calls again with the same start.
pub fn imap_response(buf: &[u8]) -> Result<Option<ImapResponse>, FrameError> {
    let mut text = Vec::new();
    let mut literal_octets = 0;
    let mut pos = 0;

    loop {
        let Some(lf) = memchr::memchr(b'\n', &buf[pos..]) else {
            if buf.len() - pos > MAX_LINE {
                return Err(FrameError::LineTooLong(MAX_LINE));
            }
            return Ok(None);
        };
        let line_end = pos + lf;
        let content_end = if line_end > pos && buf[line_end - 1] == b'\r' {
            line_end - 1
        } else {
            line_end
        };
        text.push(pos..content_end);

        // A line that ends in `{n}` (or `{n+}`, or `~{n}` for BINARY) continues after n
        // octets of data; any other line ends the response.
        match literal_len(&buf[pos..content_end])? {
            None => {
                return Ok(Some(ImapResponse {
                    len: line_end + 1,
                    text,
                    literal_octets,
                }));
            }
            Some(n) => {
                // The cast cannot truncate: n is at most MAX_LITERAL, far below usize::MAX.
                let n = n as usize;
                let after = line_end + 1 + n;
                if buf.len() < after {
                    return Ok(None);
                }
                literal_octets += n;
                pos = after;
            }
        }
    }
}

/// The octet count of the literal marker `{n}` or `{n+}` ending `line`, if it ends in one.
fn literal_len(line: &[u8]) -> Result<Option<u64>, FrameError> {
    let Some(inner) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let Some(open) = memchr::memrchr(b'{', inner) else {
        return Ok(None);
    };
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }

    // Twenty digits overflow u64; anything that long is far over the limit anyway.
    if digits.len() > 19 {
        return Err(FrameError::LiteralTooLarge(u64::MAX));
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if n > MAX_LITERAL {
        return Err(FrameError::LiteralTooLarge(n));
    }
    Ok(Some(n))
}

/// The completion status of a tagged IMAP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`: the command succeeded.
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not understood.
    Bad,
}

/// The status of `line` if it is the tagged completion for `tag`.
pub fn tagged_status(line: &[u8], tag: &[u8]) -> Option<Status> {
    let rest = line.strip_prefix(tag)?.strip_prefix(b" ")?;
    let word = rest.split(|&b| b == b' ').next().unwrap_or(rest);
    match word.to_ascii_uppercase().as_slice() {
        b"OK" => Some(Status::Ok),
        b"NO" => Some(Status::No),
        b"BAD" => Some(Status::Bad),
        _ => None,
    }
}

/// The count of `* n EXISTS`, if `line` is that response.
pub fn exists(line: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let (number, word) = split_word(rest);
    if !word.eq_ignore_ascii_case(b"EXISTS") {
        return None;
    }
    parse_u32(number)
}

/// The UID in a `* n FETCH (... UID u ...)` response, looked for only in its text parts.
pub fn fetch_uid(response: &ImapResponse, buf: &[u8]) -> Option<u32> {
    let first = buf.get(response.text.first()?.clone())?;
    let (_, rest) = split_word(first.strip_prefix(b"* ")?);
    if !rest.get(..5)?.eq_ignore_ascii_case(b"FETCH") {
        return None;
    }
    response.text.iter().find_map(|range| {
        let text = &buf[range.clone()];
        // `UID ` after `(` or a space: UIDVALIDITY and UIDNEXT never match.
        memchr::memmem::find_iter(text, b"UID ").find_map(|at| {
            let before = at.checked_sub(1).map(|i| text[i]);
            if !matches!(before, Some(b'(' | b' ')) {
                return None;
            }
            let digits = &text[at + 4..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            parse_u32(&digits[..end])
        })
    })
}

/// Splits at the first space: the word before it and the rest after it.
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// A decimal number of at most nine digits, so it always fits.
fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0')),
    )
}

/// Finds the first whole SMTP reply (RFC 5321 section 4.2.1: lines `250-...` continue,
/// `250 ...` ends it) and returns its length and code.
pub fn smtp_reply(buf: &[u8]) -> Result<Option<(usize, u16)>, FrameError> {
    let mut pos = 0;
    loop {
        let Some(lf) = memchr::memchr(b'\n', &buf[pos..]) else {
            if buf.len() - pos > MAX_LINE {
                return Err(FrameError::LineTooLong(MAX_LINE));
            }
            return Ok(None);
        };
        let line = &buf[pos..pos + lf];
        pos += lf + 1;

        // A malformed line (no code) is reported as code 0, which no caller expects, so
        // it ends the run with the line in the error rather than hanging.
        let code = line
            .get(..3)
            .filter(|c| c.iter().all(u8::is_ascii_digit))
            .map_or(0, |c| {
                c.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
            });
        if line.get(3) != Some(&b'-') {
            return Ok(Some((pos, code)));
        }
    }
}

/// Finds the first whole line in `buf` and returns its length through the LF.
pub fn line(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    match memchr::memchr(b'\n', buf) {
        Some(lf) => Ok(Some(lf + 1)),
        None if buf.len() > MAX_LINE => Err(FrameError::LineTooLong(MAX_LINE)),
        None => Ok(None),
    }
}

/// Whether `line` (with its line end) is the `.` that ends a POP3 multi-line response
/// (RFC 1939 section 3); stuffed lines start with `..` and never match.
pub fn pop3_terminator(line: &[u8]) -> bool {
    line == b".\r\n" || line == b".\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body literal whose data holds a CRLF, a fake completion line and a fake literal
    /// marker: only counting the octets finds the real end.
    const FETCH: &[u8] = b"* 7 FETCH (UID 42 BODY[] {35}\r\n\
a1 OK fake\r\n* 9 FETCH (UID 1) {3}\r\n)\r\n\
a1 OK UID FETCH done\r\n";

    #[test]
    fn literal_is_skipped_by_count() {
        let response = imap_response(FETCH).unwrap().unwrap();
        assert_eq!(&FETCH[response.len - 3..response.len], b")\r\n");
        assert_eq!(response.literal_octets, 35);
        assert_eq!(response.text.len(), 2);
        assert_eq!(fetch_uid(&response, FETCH), Some(42));

        // The next response is the real completion, and nothing in the literal was read
        // as one.
        let rest = &FETCH[response.len..];
        let completion = imap_response(rest).unwrap().unwrap();
        assert_eq!(completion.len, rest.len());
        let line = &rest[completion.text[0].clone()];
        assert_eq!(tagged_status(line, b"a1"), Some(Status::Ok));
    }

    #[test]
    fn every_split_waits_for_the_whole_response() {
        let first = imap_response(FETCH).unwrap().unwrap().len;
        for cut in 0..first {
            assert_eq!(imap_response(&FETCH[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(imap_response(&FETCH[..first]).unwrap().is_some());
    }

    #[test]
    fn uid_is_found_after_a_literal_and_not_in_uidvalidity() {
        let buf = b"* 3 FETCH (BODY[] {5}\r\nUID 9) UID 17)\r\n";
        let response = imap_response(buf).unwrap().unwrap();
        assert_eq!(fetch_uid(&response, buf), Some(17));

        let buf = b"* OK [UIDVALIDITY 123] UIDs valid\r\n";
        let response = imap_response(buf).unwrap().unwrap();
        assert_eq!(fetch_uid(&response, buf), None);
    }

    #[test]
    fn exists_and_status() {
        assert_eq!(exists(b"* 2000 EXISTS"), Some(2000));
        assert_eq!(exists(b"* 2000 RECENT"), None);
        assert_eq!(
            tagged_status(b"a12 NO [TRYCREATE] no", b"a12"),
            Some(Status::No)
        );
        assert_eq!(tagged_status(b"a123 OK done", b"a12"), None);
        assert_eq!(tagged_status(b"* OK still here", b"a12"), None);
    }

    #[test]
    fn oversized_literal_is_refused() {
        let buf = b"* 1 FETCH (BODY[] {99999999999})\r\n";
        assert!(imap_response(b"* 1 FETCH (BODY[] {99999999999}\r\n").is_err());
        // A brace inside the line, not at its end, is no literal.
        assert!(imap_response(buf).unwrap().is_some());
    }

    #[test]
    fn smtp_multiline_reply() {
        let buf = b"250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n220 next";
        assert_eq!(smtp_reply(buf), Ok(Some((buf.len() - 8, 250))));
        assert_eq!(smtp_reply(&buf[..20]), Ok(None));
    }

    #[test]
    fn pop3_terminator_is_not_a_stuffed_line() {
        assert!(pop3_terminator(b".\r\n"));
        assert!(!pop3_terminator(b"..\r\n"));
        assert!(!pop3_terminator(b". \r\n"));
    }
}
