//! Replies (RFC 5321 section 4.2) with enhanced status codes (RFC 2034, RFC 3463): the server
//! encodes them, the client parses them.
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! status-code    = class "." subject "." detail      ; RFC 3463
//! ```

use std::fmt;

/// The longest reply line this crate emits or accepts, CRLF included (RFC 5321 4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// An RFC 3463 enhanced status code such as `5.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatusCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatusCode {
    /// Builds `class.subject.detail`. `class` must be 2, 4 or 5 and the other two at most 999
    /// (RFC 3463 section 2); anything else yields `None`.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return None;
        }

        Some(Self {
            class,
            subject,
            detail,
        })
    }

    /// Parses `"class.subject.detail"` in a const context (for the `esc!` macro).
    #[doc(hidden)]
    pub const fn from_literal(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut parts = [0u16; 3];
        let (mut part, mut digits, mut i) = (0, 0, 0);
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'.' && digits > 0 && part < 2 {
                part += 1;
                digits = 0;
            } else if b.is_ascii_digit() && digits < 3 {
                parts[part] = parts[part] * 10 + (b - b'0') as u16;
                digits += 1;
            } else {
                return None;
            }
            i += 1;
        }
        if part != 2 || digits == 0 || parts[0] > 9 {
            return None;
        }
        Self::new(parts[0] as u8, parts[1], parts[2])
    }

    /// The class digit: 2 success, 4 persistent transient failure, 5 permanent failure.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject (for example 1 for addressing, 7 for security).
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail within the subject.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Parses a status code at the start of `text`, followed by a space or the end of the
    /// text; returns the code and the rest of the text after the space.
    pub fn parse_prefix(text: &str) -> Option<(Self, &str)> {
        let (code, rest) = match text.split_once(' ') {
            Some((code, rest)) => (code, rest),
            None => (text, ""),
        };
        let mut parts = code.split('.');
        let mut number = |max_digits: usize| -> Option<u16> {
            let part = parts.next()?;
            let all_digits = part.bytes().all(|b| b.is_ascii_digit());
            if part.is_empty() || part.len() > max_digits || !all_digits {
                return None;
            }
            part.parse().ok()
        };
        let class = number(1)?;
        let subject = number(3)?;
        let detail = number(3)?;
        if parts.next().is_some() {
            return None;
        }

        Some((Self::new(class as u8, subject, detail)?, rest))
    }
}

impl fmt::Display for EnhancedStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Builds an [`EnhancedStatusCode`] from a literal such as `"5.1.1"`, checked at compile
/// time.
macro_rules! esc {
    ($code:literal) => {
        const {
            match $crate::reply::EnhancedStatusCode::from_literal($code) {
                Some(code) => code,
                None => panic!("invalid enhanced status code"),
            }
        }
    };
}
pub(crate) use esc;

/// One SMTP reply: a three-digit code, an optional enhanced status code, and one or more
/// lines of text.
///
/// Text is kept printable: control characters (CR and LF among them) are replaced by spaces
/// when the reply is built, so a reply can never inject a line of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedStatusCode>,
    lines: Vec<String>,
}

impl Reply {
    /// A one-line reply. `code` must be in 200..=599 with a second digit of 0 to 5
    /// (`Reply-code = %x32-35 %x30-35 %x30-39`), otherwise this panics: reply codes are
    /// chosen by the program, not by its input.
    pub fn new(code: u16, enhanced: Option<EnhancedStatusCode>, text: &str) -> Self {
        Self::with_lines(code, enhanced, [text])
    }

    /// A multi-line reply; an empty iterator gives one empty line.
    pub fn with_lines<I, S>(code: u16, enhanced: Option<EnhancedStatusCode>, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        assert!(
            is_reply_code(code),
            "reply code {code} is outside RFC 5321's Reply-code"
        );

        let mut lines: Vec<String> = lines.into_iter().map(|l| sanitize(l.as_ref())).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }

        Self {
            code,
            enhanced,
            lines,
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, when there is one.
    pub fn enhanced_code(&self) -> Option<EnhancedStatusCode> {
        self.enhanced
    }

    /// The text lines, without codes.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The text of all lines joined with a space, for logs and error messages.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// 2xx: the command succeeded.
    pub fn is_positive_completion(&self) -> bool {
        self.code / 100 == 2
    }

    /// 3xx: the command is accepted and the server waits for more (DATA's 354, AUTH's 334).
    pub fn is_positive_intermediate(&self) -> bool {
        self.code / 100 == 3
    }

    /// 4xx: a transient failure; the same command may succeed later.
    pub fn is_transient_failure(&self) -> bool {
        self.code / 100 == 4
    }

    /// 5xx: a permanent failure.
    pub fn is_permanent_failure(&self) -> bool {
        self.code / 100 == 5
    }

    /// Appends the wire form to `out`. The enhanced code is written only when
    /// `with_enhanced` is set, so one reply value serves sessions with and without
    /// ENHANCEDSTATUSCODES. Over-long lines are cut to [`MAX_REPLY_LINE`].
    pub fn encode(&self, with_enhanced: bool, out: &mut Vec<u8>) {
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            let start = out.len();
            let separator = if i == last { ' ' } else { '-' };
            let mut head = format!("{}{}", self.code, separator);
            if let Some(enhanced) = self.enhanced.filter(|_| with_enhanced) {
                head.push_str(&format!("{enhanced} "));
            }
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(line.as_bytes());

            // Cut at a character boundary so the line stays valid UTF-8.
            let max = start + MAX_REPLY_LINE - 2;
            if out.len() > max {
                let mut cut = max;
                while cut > start && (out[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                out.truncate(cut);
            }
            if out.len() == start + 4 && i == last {
                // "250 " with no text: RFC 5321 makes the text optional, send "250".
                out.pop();
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a byte vector.
    pub fn to_bytes(&self, with_enhanced: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(with_enhanced, &mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        write!(f, " {}", self.text())
    }
}

fn is_reply_code(code: u16) -> bool {
    (200..=599).contains(&code) && (code / 10) % 10 <= 5
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Why a server's reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line does not start with a valid reply code and separator.
    #[error("malformed reply line")]
    Malformed,
    /// The lines of one multi-line reply carry different codes.
    #[error("reply lines carry different codes")]
    InconsistentCode,
    /// A line is longer than the limit.
    #[error("reply line too long")]
    LineTooLong,
    /// A reply has more lines than the limit.
    #[error("reply has too many lines")]
    TooManyLines,
}

/// Assembles replies from the lines a server sends, one line at a time (the client side).
///
/// Lines are given without their CRLF. The parser is bounded: a line may be at most
/// `max_line` octets and a reply at most `max_lines` lines.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
    max_line: usize,
    max_lines: usize,
    /// Whether to split an enhanced status code off the text (only after the server
    /// advertised ENHANCEDSTATUSCODES, RFC 2034 section 3).
    pub enhanced: bool,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new(MAX_REPLY_LINE, 256)
    }
}

impl ReplyParser {
    /// A parser with the given bounds.
    pub fn new(max_line: usize, max_lines: usize) -> Self {
        Self {
            code: None,
            lines: Vec::new(),
            max_line,
            max_lines,
            enhanced: false,
        }
    }

    /// Feeds one line (without CRLF). Returns the reply when this line completes one.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        if line.len() + 2 > self.max_line {
            return Err(ReplyError::LineTooLong);
        }

        // Reply-code [ ( SP / "-" ) textstring ]
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::Malformed);
        }
        let code = u16::from(line[0] - b'0') * 100
            + u16::from(line[1] - b'0') * 10
            + u16::from(line[2] - b'0');
        if !is_reply_code(code) {
            return Err(ReplyError::Malformed);
        }
        let (more, text) = match line.get(3) {
            None => (false, &b""[..]),
            Some(b' ') => (false, &line[4..]),
            Some(b'-') => (true, &line[4..]),
            Some(_) => return Err(ReplyError::Malformed),
        };
        if self.code.is_some_and(|c| c != code) {
            return Err(ReplyError::InconsistentCode);
        }
        if self.lines.len() >= self.max_lines {
            return Err(ReplyError::TooManyLines);
        }
        self.code = Some(code);
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if more {
            return Ok(None);
        }

        // The reply is complete: split off the enhanced code, which RFC 2034 puts on every
        // line; the first line's code speaks for the reply.
        let mut lines = std::mem::take(&mut self.lines);
        self.code = None;
        let mut enhanced = None;
        if self.enhanced {
            for (i, line) in lines.iter_mut().enumerate() {
                if let Some((found, rest)) = EnhancedStatusCode::parse_prefix(line) {
                    if i == 0 {
                        enhanced = Some(found);
                    }
                    *line = rest.to_owned();
                }
            }
        }

        Ok(Some(Reply::with_lines(code, enhanced, lines)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_single_and_multi_line_replies() {
        let reply = Reply::new(250, Some(esc!("2.1.0")), "Sender OK");
        assert_eq!(reply.to_bytes(true), b"250 2.1.0 Sender OK\r\n");
        assert_eq!(reply.to_bytes(false), b"250 Sender OK\r\n");

        let ehlo = Reply::with_lines(250, None, ["mx.example", "PIPELINING", "SIZE 100"]);
        assert_eq!(
            ehlo.to_bytes(true),
            b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n"
        );
    }

    #[test]
    fn text_cannot_inject_lines() {
        let reply = Reply::new(550, None, "no\r\n250 ok");
        assert_eq!(reply.to_bytes(false), b"550 no  250 ok\r\n");
    }

    #[test]
    fn empty_text_sends_the_bare_code() {
        assert_eq!(Reply::new(250, None, "").to_bytes(false), b"250\r\n");
    }

    #[test]
    fn long_lines_are_cut_to_the_limit() {
        let reply = Reply::new(250, None, &"é".repeat(600));
        let bytes = reply.to_bytes(false);
        assert!(bytes.len() <= MAX_REPLY_LINE);
        assert!(bytes.ends_with(b"\r\n"));
        assert!(std::str::from_utf8(&bytes).is_ok());
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn invalid_codes_are_programming_errors() {
        let _ = Reply::new(260, None, "x");
    }

    #[test]
    fn enhanced_codes_parse_and_validate() {
        let (code, rest) = EnhancedStatusCode::parse_prefix("5.1.1 No such user").unwrap();
        assert_eq!((code.class(), code.subject(), code.detail()), (5, 1, 1));
        assert_eq!(rest, "No such user");
        assert!(EnhancedStatusCode::parse_prefix("3.1.1 x").is_none());
        assert!(EnhancedStatusCode::parse_prefix("5.1 x").is_none());
        assert!(EnhancedStatusCode::parse_prefix("5.1.1.1 x").is_none());
        assert!(EnhancedStatusCode::parse_prefix("5.1000.1 x").is_none());
        assert!(EnhancedStatusCode::parse_prefix("Hello").is_none());
    }

    #[test]
    fn parser_assembles_multi_line_replies() {
        let mut parser = ReplyParser {
            enhanced: true,
            ..ReplyParser::default()
        };
        assert_eq!(parser.push_line(b"250-mx.example greets you"), Ok(None));
        assert_eq!(parser.push_line(b"250-8BITMIME"), Ok(None));
        let reply = parser.push_line(b"250 2.0.0 HELP").unwrap().unwrap();
        assert_eq!(reply.code(), 250);
        assert_eq!(reply.lines(), ["mx.example greets you", "8BITMIME", "HELP"]);

        let reply = parser
            .push_line(b"550 5.1.1 No such user")
            .unwrap()
            .unwrap();
        assert_eq!(reply.enhanced_code(), EnhancedStatusCode::new(5, 1, 1));
        assert_eq!(reply.lines(), ["No such user"]);

        assert_eq!(parser.push_line(b"250").unwrap().unwrap().lines(), [""]);
    }

    #[test]
    fn parser_rejects_malformed_lines() {
        let mut parser = ReplyParser::default();
        assert_eq!(parser.push_line(b"25"), Err(ReplyError::Malformed));
        assert_eq!(parser.push_line(b"250x"), Err(ReplyError::Malformed));
        assert_eq!(parser.push_line(b"199 x"), Err(ReplyError::Malformed));
        assert_eq!(parser.push_line(b"260 x"), Err(ReplyError::Malformed));
        assert_eq!(parser.push_line(&[b'2'; 600]), Err(ReplyError::LineTooLong));
        parser.push_line(b"250-a").unwrap();
        assert_eq!(
            parser.push_line(b"251 b"),
            Err(ReplyError::InconsistentCode)
        );

        let mut parser = ReplyParser::new(512, 2);
        parser.push_line(b"250-a").unwrap();
        parser.push_line(b"250-b").unwrap();
        assert_eq!(parser.push_line(b"250 c"), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn encoded_replies_parse_back() {
        let reply = Reply::with_lines(451, Some(esc!("4.3.0")), ["try", "again"]);
        let mut parser = ReplyParser {
            enhanced: true,
            ..ReplyParser::default()
        };
        let bytes = reply.to_bytes(true);
        let mut parsed = None;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            parsed = parser.push_line(&line[..line.len() - 1]).unwrap();
        }
        assert_eq!(parsed, Some(reply));
    }
}
