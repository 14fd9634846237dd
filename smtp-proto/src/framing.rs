//! Framing: where a command line or a message ends, decided before any grammar runs.
//!
//! Only CRLF ends a line. A bare CR or a bare LF is kept inside the line and makes it invalid,
//! so `\n.\n` can never end a message: two servers that disagree on where a message ends are
//! what SMTP smuggling exploits. Every buffer here is bounded: an over-long line is consumed
//! up to its CRLF and reported, never held in memory.

use memchr::{memchr, memchr2};

/// One framing step over buffered command input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete line of `len` bytes (CRLF excluded) starting at the buffer's start; the
    /// caller consumes `len + 2` bytes. `bare` is set when the line holds a CR or LF.
    Line { len: usize, bare: bool },
    /// No CRLF yet and the line is still within the limit: wait for more input.
    Incomplete,
    /// The line is over the limit. `consumed` bytes can be dropped now; `finished` tells
    /// whether the line's CRLF was among them (then the caller replies), or more is to come.
    TooLong { consumed: usize, finished: bool },
}

/// Frames the next command line of `buf`, allowing `max` bytes including CRLF.
/// `discarding` is set while the rest of an over-long line is being dropped.
pub(crate) fn next_line(buf: &[u8], max: usize, discarding: bool) -> Frame {
    match find_line_end(buf) {
        Some((at, _)) if discarding || at + 2 > max => Frame::TooLong {
            consumed: at + 2,
            finished: true,
        },
        Some((len, bare)) => Frame::Line { len, bare },
        None if discarding || buf.len() >= max => {
            // Keep a trailing CR: it may be the first half of the CRLF that ends the line.
            let consumed = buf.len() - usize::from(buf.last() == Some(&b'\r'));
            Frame::TooLong {
                consumed,
                finished: false,
            }
        }
        None => Frame::Incomplete,
    }
}

/// The offset of the first CRLF in `buf`, and whether a bare CR or LF comes before it.
fn find_line_end(buf: &[u8]) -> Option<(usize, bool)> {
    // The first CR or LF is nearly always the CRLF itself, and then one scan answers both.
    let first = memchr2(b'\r', b'\n', buf)?;
    if buf[first..].starts_with(b"\r\n") {
        return Some((first, false));
    }

    // Otherwise the octet at `first` is a bare line ending before any CRLF.
    find_crlf(buf).map(|at| (at, true))
}

/// The offset of the first CRLF in `buf`.
fn find_crlf(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = memchr(b'\n', &buf[from..]) {
        let lf = from + at;
        if lf > 0 && buf[lf - 1] == b'\r' {
            return Some(lf - 1);
        }
        from = lf + 1;
    }
    None
}

/// Why a message's content was refused while it was being received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentError {
    /// The message is larger than the size limit.
    TooLarge,
    /// A text line is longer than the line limit.
    LineTooLong,
    /// A CR or LF that is not part of a CRLF pair.
    BareLineEnding,
}

/// Where the DATA decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// At the start of a line: a dot here is either stuffing or the end of the data.
    LineStart,
    /// After a dot at the start of a line.
    Dot,
    /// After `CRLF .` and a CR: only an LF completes the end of the data.
    DotCr,
    /// Inside a line.
    Text,
    /// After a CR inside a line, which has already been produced as content.
    Cr,
}

/// Streams the text after DATA (RFC 5321 section 4.1.1.4): removes dot-stuffing (section
/// 4.5.2), finds the `CRLF.CRLF` end, and enforces the size and line limits while it goes.
///
/// One call never produces more content than the input it consumes: the server feeds only as
/// many bytes as its data chunk has room for, and relies on that to bound every chunk.
#[derive(Debug, Clone)]
pub(crate) struct DataDecoder {
    state: DataState,
    /// Octets of the current line so far, CRLF excluded.
    line_len: usize,
    /// Octets of message content produced so far.
    size: u64,
    max_size: u64,
    max_line: usize,
    error: Option<ContentError>,
}

/// What one [`DataDecoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input bytes used.
    pub consumed: usize,
    /// Whether the end of the data was reached (its terminator is included in `consumed`).
    pub finished: bool,
}

impl DataDecoder {
    /// A decoder for one message. `max_line` counts the CRLF, as RFC 5321 4.5.3.1.6 does.
    pub(crate) fn new(max_size: u64, max_line: usize) -> Self {
        Self {
            state: DataState::LineStart,
            line_len: 0,
            size: 0,
            max_size,
            max_line: max_line.saturating_sub(2),
            error: None,
        }
    }

    /// The first content error met, if any. After one, content is no longer produced but
    /// the input is still read up to the end of the data.
    pub(crate) fn error(&self) -> Option<ContentError> {
        self.error
    }

    /// Decodes as much of `input` as possible, appending message content to `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Decoded {
        let mut i = 0;
        while i < input.len() {
            let byte = input[i];
            match self.state {
                DataState::Text => {
                    // The hot path: copy the run of ordinary bytes up to the next CR or LF.
                    let run = memchr2(b'\r', b'\n', &input[i..]).unwrap_or(input.len() - i);
                    self.text(&input[i..i + run], out);
                    i += run;
                    if i < input.len() {
                        self.line_end_byte(input[i], out);
                        i += 1;
                    }
                    continue;
                }
                DataState::LineStart => match byte {
                    b'.' => self.state = DataState::Dot,
                    _ => self.line_end_byte_or_text(byte, out),
                },
                DataState::Dot => match byte {
                    b'\r' => self.state = DataState::DotCr,
                    // The dot was stuffing: drop it and go on with the line.
                    _ => self.line_end_byte_or_text(byte, out),
                },
                DataState::DotCr => {
                    if byte == b'\n' {
                        return Decoded {
                            consumed: i + 1,
                            finished: true,
                        };
                    }
                    // `.` CR x: the CR was bare. The dot was stuffing; the CR is content.
                    self.fail(ContentError::BareLineEnding);
                    self.line_end_byte_or_text(byte, out);
                }
                DataState::Cr => {
                    if byte == b'\n' {
                        // The CR went out when it came (see `line_end_byte`).
                        self.emit(b"\n", out);
                        self.line_len = 0;
                        self.state = DataState::LineStart;
                    } else {
                        self.fail(ContentError::BareLineEnding);
                        self.line_end_byte_or_text(byte, out);
                    }
                }
            }
            i += 1;
        }

        Decoded {
            consumed: input.len(),
            finished: false,
        }
    }

    /// Handles a byte seen where a line's text may go on.
    fn line_end_byte_or_text(&mut self, byte: u8, out: &mut Vec<u8>) {
        match byte {
            b'\r' | b'\n' => self.line_end_byte(byte, out),
            _ => {
                self.state = DataState::Text;
                self.text(&[byte], out);
            }
        }
    }

    /// Handles a CR or LF inside a line.
    fn line_end_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        if byte == b'\r' {
            // Produced now rather than with its LF: holding it back would make the LF's call
            // produce two bytes from one, and a chunk sized to its room one byte too long. If
            // the CR turns out to be bare, the content error discards the message anyway.
            self.emit(b"\r", out);
            self.state = DataState::Cr;
            return;
        }

        // A bare LF is not a line end (that is the point); the line goes on.
        self.fail(ContentError::BareLineEnding);
        self.state = DataState::Text;
        self.text(b"\n", out);
    }

    fn text(&mut self, run: &[u8], out: &mut Vec<u8>) {
        self.line_len += run.len();
        if self.line_len > self.max_line {
            self.fail(ContentError::LineTooLong);
        }
        self.emit(run, out);
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }

        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.fail(ContentError::TooLarge);
            return;
        }
        out.extend_from_slice(bytes);
    }

    fn fail(&mut self, error: ContentError) {
        self.error.get_or_insert(error);
    }
}

/// Checks BDAT chunk content (RFC 3030), which arrives counted rather than terminated: the
/// same size, line and bare-line-ending rules as DATA, carried across chunk boundaries.
#[derive(Debug, Clone)]
pub(crate) struct ChunkChecker {
    after_cr: bool,
    line_len: usize,
    size: u64,
    max_size: u64,
    max_line: usize,
    error: Option<ContentError>,
}

impl ChunkChecker {
    /// A checker for one message.
    pub(crate) fn new(max_size: u64, max_line: usize) -> Self {
        let max_line = max_line.saturating_sub(2);
        Self {
            after_cr: false,
            line_len: 0,
            size: 0,
            max_size,
            max_line,
            error: None,
        }
    }

    /// The first content error met, if any.
    pub(crate) fn error(&self) -> Option<ContentError> {
        self.error
    }

    /// Whether the message ends on a CR whose LF never came.
    pub(crate) fn ends_with_bare_cr(&self) -> bool {
        self.after_cr
    }

    /// Checks `bytes` and appends them to `out` while the message is still valid.
    pub(crate) fn check(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }

        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.error = Some(ContentError::TooLarge);
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                if rest[0] != b'\n' {
                    self.error = Some(ContentError::BareLineEnding);
                    return;
                }
                self.after_cr = false;
                self.line_len = 0;
                rest = &rest[1..];
                continue;
            }
            let run = memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            self.line_len += run;
            if self.line_len > self.max_line {
                self.error = Some(ContentError::LineTooLong);
                return;
            }
            match rest.get(run) {
                Some(b'\r') => self.after_cr = true,
                Some(_) => {
                    self.error = Some(ContentError::BareLineEnding);
                    return;
                }
                None => {}
            }
            rest = &rest[(run + 1).min(rest.len())..];
        }
        out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn decode_in_steps(
        input: &[u8],
        step: usize,
    ) -> (Vec<u8>, Option<usize>, Option<ContentError>) {
        let mut decoder = DataDecoder::new(1 << 20, 1000);
        let mut out = Vec::new();
        let mut offset = 0;
        for piece in input.chunks(step) {
            let decoded = decoder.decode(piece, &mut out);
            if decoded.finished {
                return (out, Some(offset + decoded.consumed), decoder.error());
            }
            offset += piece.len();
        }
        (out, None, decoder.error())
    }

    #[test]
    fn frames_lines_on_crlf_only() {
        assert_eq!(
            next_line(b"NOOP\r\nQUIT\r\n", 512, false),
            Frame::Line {
                len: 4,
                bare: false
            }
        );
        assert_eq!(next_line(b"NOOP\r", 512, false), Frame::Incomplete);
        assert_eq!(
            next_line(b"NO\nOP\r\n", 512, false),
            Frame::Line { len: 5, bare: true }
        );
        assert_eq!(
            next_line(b"NO\rOP\r\n", 512, false),
            Frame::Line { len: 5, bare: true }
        );
        assert_eq!(
            next_line(b"\n\r\n", 512, false),
            Frame::Line { len: 1, bare: true }
        );
    }

    #[test]
    fn over_long_lines_are_dropped_without_buffering() {
        let line = vec![b'a'; 600];
        assert_eq!(
            next_line(&line, 512, false),
            Frame::TooLong {
                consumed: 600,
                finished: false
            }
        );
        assert_eq!(
            next_line(b"aa\r", 512, true),
            Frame::TooLong {
                consumed: 2,
                finished: false
            }
        );
        assert_eq!(
            next_line(b"aa\r\nX", 512, true),
            Frame::TooLong {
                consumed: 4,
                finished: true
            }
        );

        // Exactly at the limit is fine; one more is not (512 octets counting CRLF).
        let mut at_limit = vec![b'a'; 510];
        at_limit.extend_from_slice(b"\r\n");
        assert_eq!(
            next_line(&at_limit, 512, false),
            Frame::Line {
                len: 510,
                bare: false
            }
        );
        let mut over = vec![b'a'; 511];
        over.extend_from_slice(b"\r\n");
        assert!(matches!(
            next_line(&over, 512, false),
            Frame::TooLong { finished: true, .. }
        ));
    }

    #[test]
    fn data_is_unstuffed_and_ends_at_crlf_dot_crlf_at_any_split() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        for step in 1..input.len() {
            let (out, end, error) = decode_in_steps(input, step);
            assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n", "step {step}");
            assert_eq!(end, Some(input.len() - 6), "step {step}");
            assert_eq!(error, None);
        }
    }

    #[test]
    fn empty_message_ends_immediately() {
        assert_eq!(decode_in_steps(b".\r\n", 1), (vec![], Some(3), None));
    }

    #[test]
    fn smuggling_variants_never_end_the_data() {
        // Each of these is an end-of-data marker to some lenient server; here none is.
        for body in [
            &b"a\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\r\n.\nMAIL FROM:<x@y>\r\n",
            b"a\n.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r.\rMAIL FROM:<x@y>\r\n",
            b"a\r.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\rMAIL FROM:<x@y>\r\n",
            b"a\r\n\x00.\r\nMAIL FROM:<x@y>\r\n",
        ] {
            let (_, end, error) = decode_in_steps(body, body.len());
            assert_eq!(end, None, "{body:?} must not end the data");
            if body.contains(&0) {
                assert_eq!(error, None);
            } else {
                assert_eq!(error, Some(ContentError::BareLineEnding), "{body:?}");
            }

            // The real terminator still ends it, so the session stays in step.
            let mut framed = body.to_vec();
            framed.extend_from_slice(b"\r\n.\r\n");
            let (out, end, _) = decode_in_steps(&framed, 3);
            assert_eq!(end, Some(framed.len()));
            if body.contains(&0) {
                assert!(out.ends_with(b"MAIL FROM:<x@y>\r\n\r\n"));
            } else {
                let after_error = out.windows(4).any(|w| w == b"MAIL");
                assert!(
                    !after_error,
                    "content after an error is not produced: {out:?}"
                );
            }
        }
    }

    #[test]
    fn size_and_line_limits_are_enforced_while_streaming() {
        let mut decoder = DataDecoder::new(10, 1000);
        let mut out = Vec::new();
        let decoded = decoder.decode(b"0123456789abc\r\n.\r\n", &mut out);
        assert!(decoded.finished);
        assert_eq!(decoder.error(), Some(ContentError::TooLarge));
        assert!(out.len() <= 10);

        let mut decoder = DataDecoder::new(1 << 20, 10);
        let decoded = decoder.decode(b"123456789\r\n.\r\n", &mut Vec::new());
        assert!(decoded.finished);
        assert_eq!(decoder.error(), Some(ContentError::LineTooLong));
        let mut decoder = DataDecoder::new(1 << 20, 10);
        decoder.decode(b"12345678\r\n.\r\n", &mut Vec::new());
        assert_eq!(decoder.error(), None);
    }

    #[test]
    fn data_never_produces_more_than_it_consumes() {
        // The server sizes each chunk by feeding at most the room left in it; a CR held back
        // until its LF once turned a one-byte feed into two bytes of content, and a 512-byte
        // chunk into 513 (fuzz/regressions/smtp_server/data-chunk-over-limit-crlf-split-at-room).
        let mut decoder = DataDecoder::new(1 << 20, 1000);
        let mut out = Vec::new();
        assert_eq!(decoder.decode(b"a\r", &mut out).consumed, 2);
        assert_eq!(out, b"a\r");
        assert_eq!(decoder.decode(b"\n", &mut out).consumed, 1);
        assert_eq!(out, b"a\r\n");

        for input in [
            &b"Subject: x\r\n\r\n..leading dot\r\n\r\n\r\n.\r\n"[..],
            b"a\r\r\n\n.\r.\r\n",
            b"\r\n\r\n\r\n..\r\n.\r\n",
        ] {
            for step in 1..=3 {
                let mut decoder = DataDecoder::new(1 << 20, 1000);
                let mut out = Vec::new();
                let mut rest = input;
                while !rest.is_empty() {
                    let before = out.len();
                    let decoded = decoder.decode(&rest[..step.min(rest.len())], &mut out);
                    assert!(
                        out.len() - before <= decoded.consumed,
                        "{input:?} step {step}"
                    );
                    rest = &rest[decoded.consumed..];
                    if decoded.finished {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn chunks_are_checked_across_boundaries() {
        let mut checker = ChunkChecker::new(1 << 20, 1000);
        let mut out = Vec::new();
        checker.check(b"line one\r", &mut out);
        assert!(checker.ends_with_bare_cr());
        checker.check(b"\nline two\r\n", &mut out);
        assert_eq!(checker.error(), None);
        assert_eq!(out, b"line one\r\nline two\r\n");

        let mut checker = ChunkChecker::new(1 << 20, 1000);
        checker.check(b"a\r", &mut out);
        checker.check(b"b", &mut out);
        assert_eq!(checker.error(), Some(ContentError::BareLineEnding));

        let mut checker = ChunkChecker::new(1 << 20, 1000);
        checker.check(b"a\nb", &mut out);
        assert_eq!(checker.error(), Some(ContentError::BareLineEnding));

        let mut checker = ChunkChecker::new(4, 1000);
        checker.check(b"abcde", &mut out);
        assert_eq!(checker.error(), Some(ContentError::TooLarge));

        let mut checker = ChunkChecker::new(1 << 20, 6);
        checker.check(b"abc", &mut out);
        checker.check(b"de\r\n", &mut out);
        assert_eq!(checker.error(), Some(ContentError::LineTooLong));
    }
}
