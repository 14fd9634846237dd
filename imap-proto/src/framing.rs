//! Framing: where a command ends, literals included, decided before any grammar runs.
//!
//! An IMAP command is one or more lines. A line that ends in a literal announcement (`{n}`,
//! `{n+}`, or `~{n}` for a `literal8`, right before its CRLF) is followed by exactly `n`
//! octets of literal data, and the command continues on the line after them (RFC 9051
//! section 4.3, RFC 7888, RFC 3516). Only a line without such an ending completes a command.
//!
//! The framer follows that structure byte by byte and never needs the grammar, so a command
//! the parser refuses still ends where the client thinks it ends, and literal octets are
//! never read as commands. That matters most when something is refused: an over-long line is
//! dropped as it streams, but a non-synchronizing literal announced on it is still skipped,
//! because the client sends those octets whatever the server answers (the confusion that
//! naive discarding invites).
//!
//! Only CRLF ends a line. A bare CR or LF stays inside the line, where the parser refuses it.
//!
//! Memory stays bounded: a line is held only while it is within `max_line`, a literal only
//! when it is within `max_literal`, and a whole command only within `max_command`. Input
//! beyond the command being framed (pipelined commands) is held until asked for; the caller
//! bounds it with [`Framer::buffered`].

use std::fmt;

use memchr::{memchr, memchr3, memrchr};

use crate::command::Tag;

/// The next step of the framer, from [`Framer::next_command`].
///
/// `Debug` shows a command's length, not its bytes, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "a Continue that is not answered with \"+\" leaves the client waiting forever"]
pub enum Frame {
    /// A whole command: its lines and literals exactly as received, ending with CRLF.
    Command(Vec<u8>),
    /// A synchronizing literal `{n}` within the limit was announced: the caller must send a
    /// continuation request (`+ ...`) now; the framer then reads the `n` octets.
    Continue,
    /// The line was longer than `max_line` (or the command than `max_command`, or its lines
    /// together than [`LINE_BYTES_PER_COMMAND`] lines); everything up to the next CRLF that
    /// is not inside an accepted literal has been dropped. The caller answers `tag BAD` (or
    /// an untagged BAD without a tag).
    TooLong {
        /// The command's tag, when its first word is a valid one.
        tag: Option<Tag>,
    },
    /// A literal over `max_literal`. For a synchronizing one the command is dropped and the
    /// framer resumes at the next line (the client waits for `+`, so it sends nothing more of
    /// it). For a non-synchronizing one (`{n+}`) the client is already sending the octets:
    /// the caller must answer BAD and close the connection (RFC 7888 section 4); the framer
    /// drops all further input.
    LiteralTooLarge {
        /// The command's tag, when its first word is a valid one.
        tag: Option<Tag>,
        /// The announced size (`u64::MAX` if it does not fit).
        size: u64,
        /// Whether the literal was synchronizing (`{n}`, not `{n+}`).
        synchronizing: bool,
    },
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Command(bytes) => write!(f, "Command({} bytes)", bytes.len()),
            Self::Continue => f.write_str("Continue"),
            Self::TooLong { tag } => f.debug_struct("TooLong").field("tag", tag).finish(),
            Self::LiteralTooLarge {
                tag,
                size,
                synchronizing,
            } => f
                .debug_struct("LiteralTooLarge")
                .field("tag", tag)
                .field("size", size)
                .field("synchronizing", synchronizing)
                .finish(),
        }
    }
}

/// A raw line from [`Framer::next_line`] was longer than the line limit; it has been
/// consumed up to and including its CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("line too long")]
pub struct LineTooLong;

/// Where the framer is within the input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Looking for the CRLF of the line that starts `taken` bytes into the command;
    /// `scanned` bytes of that line have been searched already.
    Line { scanned: usize },
    /// Reading the octets of an accepted literal.
    Literal { remaining: u64 },
    /// Dropping the rest of a command that broke a limit, following its structure so that
    /// the octets of a non-synchronizing literal are skipped too. `TooLong` is reported when
    /// the command has ended.
    Discard { tag: Option<Tag>, step: DiscardStep },
    /// Dropping the rest of an over-long raw line ([`Framer::next_line`]).
    DiscardRawLine { pending_cr: bool },
    /// After a non-synchronizing literal that was too large: the connection must close, and
    /// nothing more is framed.
    Closed,
}

/// What a discarded command is in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiscardStep {
    /// A line, of which only the literal announcement it may end with is tracked.
    Line(Marker),
    /// The octets of a non-synchronizing literal the client is sending regardless.
    Literal(u64),
}

/// A streaming recognizer for a literal announcement at the end of a line: tracks whether
/// the bytes seen so far end in `{digits}` or `{digits+}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// The bytes so far do not end in (the start of) an announcement.
    None,
    /// After `{` and `digits` (saturating) digits of `size`.
    Open { size: u64, digits: bool },
    /// After `{digits+`.
    Plus { size: u64 },
    /// After a complete `{digits}` or `{digits+}`.
    Closed { size: u64, synchronizing: bool },
    /// After a complete announcement and then a CR, which may be the first half of the CRLF.
    ClosedCr { size: u64, synchronizing: bool },
    /// After a CR that followed no announcement.
    Cr,
}

impl Marker {
    /// Feeds one byte of a line (its CRLF excluded).
    fn step(self, byte: u8) -> Self {
        match (self, byte) {
            (_, b'{') => Self::Open {
                size: 0,
                digits: false,
            },
            (Self::Open { size, .. }, b'0'..=b'9') => Self::Open {
                size: size
                    .saturating_mul(10)
                    .saturating_add(u64::from(byte - b'0')),
                digits: true,
            },
            (Self::Open { size, digits: true }, b'+') => Self::Plus { size },
            (Self::Open { size, digits: true }, b'}') => Self::Closed {
                size,
                synchronizing: true,
            },
            (Self::Plus { size }, b'}') => Self::Closed {
                size,
                synchronizing: false,
            },
            _ => Self::None,
        }
    }

    /// The announcement a line ends with, if any.
    fn literal(self) -> Option<(u64, bool)> {
        match self {
            Self::Closed {
                size,
                synchronizing,
            } => Some((size, synchronizing)),
            _ => None,
        }
    }
}

/// The literal announcement that `line` (without its CRLF) ends with: `{n}`, `{n+}`, or the
/// same after `~` for a `literal8`. Sizes that do not fit a `u64` saturate, so that they are
/// refused as too large rather than missed.
fn literal_announcement(line: &[u8]) -> Option<(u64, bool)> {
    if line.last() != Some(&b'}') {
        return None;
    }

    // Only the text after the last `{` can be the announcement.
    let open = memrchr(b'{', line)?;
    marker_after(&line[open..]).literal()
}

/// The tag of a command: its first word, if [`Tag::new`] accepts it and a space ends it
/// within the first `limit` bytes. An over-long line is noticed after a number of bytes
/// that depends on how the input was split, but always after at least `limit`, so looking
/// no further keeps the answer independent of the split.
fn tag_of(command: &[u8], limit: usize) -> Option<Tag> {
    let head = &command[..command.len().min(limit)];
    let end = memchr3(b' ', b'\r', b'\n', head)?;
    if head[end] != b' ' {
        // The first line ended (or holds a bare line break) before any space.
        return None;
    }
    std::str::from_utf8(&head[..end]).ok().and_then(Tag::new)
}

/// Buffers input and yields whole commands, literals included, within bounds.
///
/// The caller pushes bytes as they arrive, then calls [`Framer::next_command`] until it
/// returns `None`. Each [`Frame::Continue`] must be answered with a continuation request
/// before the caller waits for more input. While a SASL exchange or IDLE expects raw lines,
/// the caller uses [`Framer::next_line`] instead.
///
/// `Debug` shows the limits and how much is held, never the buffered bytes.
#[derive(Clone)]
pub struct Framer {
    max_line: usize,
    max_literal: u64,
    max_command: usize,
    /// Input not yet handed out; `buf[..start]` has been consumed already and is removed
    /// lazily, so that handing out many small commands does not move the rest each time.
    buf: Vec<u8>,
    start: usize,
    /// Bytes after `start` that belong to the command being framed: whole lines and the
    /// literal octets after them.
    taken: usize,
    /// How many of the `taken` bytes are lines (CRLFs included) rather than literal octets.
    line_bytes: usize,
    state: State,
}

/// The lines of one command, literals not counted, may hold this many times `max_line`
/// bytes in all. Literal octets become values about their own size, but the text of lines
/// becomes search keys, set ranges and names several times larger than it is; this keeps
/// that text small however large `max_command` is made for APPEND, while leaving room for
/// dozens of short lines between literals.
pub const LINE_BYTES_PER_COMMAND: usize = 8;

impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("max_line", &self.max_line)
            .field("max_literal", &self.max_literal)
            .field("max_command", &self.max_command)
            .field("buffered", &self.buffered())
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Framer {
    /// A framer with these limits. `max_line`: longest line (text between literals)
    /// including its CRLF; `max_literal`: largest literal accepted; `max_command`: total size
    /// of one command including literals. The lines of a command together may also hold at
    /// most [`LINE_BYTES_PER_COMMAND`] times `max_line` bytes.
    pub fn new(max_line: usize, max_literal: u64, max_command: usize) -> Self {
        Self {
            max_line,
            max_literal,
            max_command,
            buf: Vec::new(),
            start: 0,
            taken: 0,
            line_bytes: 0,
            state: State::Line { scanned: 0 },
        }
    }

    /// Changes the largest literal accepted from now on; the session lowers it before login
    /// so that an unauthenticated client cannot make the server buffer much.
    pub fn set_max_literal(&mut self, max_literal: u64) {
        self.max_literal = max_literal;
    }

    /// Changes both the largest literal and the largest command accepted from now on, as
    /// the session does after login to allow message-sized APPENDs.
    pub fn set_limits(&mut self, max_literal: u64, max_command: usize) {
        self.max_literal = max_literal;
        self.max_command = max_command;
    }

    /// Adds received bytes. After a [`Frame::LiteralTooLarge`] for a non-synchronizing
    /// literal they are dropped: the connection is to be closed.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }

        // Drop the consumed prefix once it is at least half of the buffer: each byte is then
        // moved at most a bounded number of times, however the input is split.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The number of bytes held, so the caller can stop reading while too much is buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next step: a whole command, a continuation to send, or a refusal. `None` when more
    /// input is needed, after the connection must close (a non-synchronizing
    /// [`Frame::LiteralTooLarge`]), and while [`Framer::next_line`] is dropping an over-long
    /// raw line, which it must be called to finish.
    pub fn next_command(&mut self) -> Option<Frame> {
        loop {
            let step = match self.state {
                State::Line { scanned } => self.frame_line(scanned),
                State::Literal { remaining } => self.frame_literal(remaining),
                State::Discard { .. } => self.discard_command(),
                // A raw line is being dropped: finish that first, through `next_line`.
                State::DiscardRawLine { .. } | State::Closed => return None,
            };
            match step {
                Step::Again => continue,
                Step::Wait => return None,
                Step::Yield(frame) => return Some(frame),
            }
        }
    }

    /// A raw line without literal detection (AUTHENTICATE responses, IDLE's `DONE`), CRLF
    /// stripped; `Err` when it exceeded `max_line` (it is then consumed to its CRLF).
    ///
    /// Call it only between commands. While a command is partly framed (after a
    /// [`Frame::Continue`], or while an over-long command is being dropped) it returns
    /// `None`: finish the command with [`Framer::next_command`] first.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineTooLong>> {
        match self.state {
            State::Line { scanned } if self.taken == 0 => self.raw_line(scanned),
            State::DiscardRawLine { pending_cr } => self.discard_raw_line(pending_cr),
            _ => None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // The steps of `next_command`.
    // -----------------------------------------------------------------------------------------

    /// Looks for the end of the current line and decides what it means.
    fn frame_line(&mut self, scanned: usize) -> Step {
        let line_start = self.start + self.taken;
        let Some(line_len) = self.find_line_end(line_start, scanned) else {
            return self.line_incomplete(line_start);
        };

        // The line is complete: check the limits, then what its end announces.
        let content = &self.buf[line_start..line_start + line_len - 2];
        let announcement = literal_announcement(content);
        let command_len = self.taken + line_len;
        if line_len > self.max_line
            || command_len > self.max_command
            || self.line_bytes + line_len > self.line_budget()
        {
            let tag = self.tag();
            self.drop_command(command_len);
            return self.refuse_after_line(tag, announcement);
        }

        self.line_bytes += line_len;
        let Some((size, synchronizing)) = announcement else {
            // No literal: this line ends the command.
            self.taken = command_len;
            return Step::Yield(Frame::Command(self.take_command()));
        };

        if size > self.max_literal {
            let tag = self.tag();
            self.drop_command(command_len);
            if !synchronizing {
                // RFC 7888 section 4: the octets are on their way and cannot be skipped
                // within any bound; the caller closes the connection.
                self.close();
            }
            return Step::Yield(Frame::LiteralTooLarge {
                tag,
                size,
                synchronizing,
            });
        }

        // `size` is within `max_literal`, but the command may not have room for it.
        let fits = usize::try_from(size).is_ok_and(|size| size <= self.max_command - command_len);
        if !fits {
            let tag = self.tag();
            self.drop_command(command_len);
            return self.refuse_after_line(tag, announcement);
        }

        self.taken = command_len;
        self.state = State::Literal { remaining: size };
        if synchronizing {
            Step::Yield(Frame::Continue)
        } else {
            // RFC 7888: a non-synchronizing literal follows at once, without a "+".
            Step::Again
        }
    }

    /// The current line has no CRLF yet: wait, or start dropping it if it is already too long.
    fn line_incomplete(&mut self, line_start: usize) -> Step {
        let line = &self.buf[line_start..];
        self.state = State::Line {
            scanned: line.len(),
        };

        // A trailing CR may be the first half of the CRLF, which the line limit counts.
        let content = line.len() - usize::from(line.last() == Some(&b'\r'));
        let within = content + 2 <= self.max_line
            && self.taken + content + 2 <= self.max_command
            && self.line_bytes + content + 2 <= self.line_budget();
        if within {
            return Step::Wait;
        }

        // Too long already: drop what is held, tracking only how the line could still end.
        let marker = match line.split_last() {
            Some((b'\r', before)) => carry_cr(marker_after(before)),
            _ => marker_after(line),
        };
        let tag = self.tag();
        self.drop_command(self.buf.len() - self.start);
        self.state = State::Discard {
            tag,
            step: DiscardStep::Line(marker),
        };
        Step::Again
    }

    /// Reads literal octets into the command.
    fn frame_literal(&mut self, remaining: u64) -> Step {
        let available = self.buf.len() - self.start - self.taken;
        let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
        self.taken += take;

        let remaining = remaining - take as u64;
        if remaining == 0 {
            self.state = State::Line { scanned: 0 };
            Step::Again
        } else {
            self.state = State::Literal { remaining };
            Step::Wait
        }
    }

    /// After a complete line that broke a limit: skip a non-synchronizing literal it
    /// announced and the rest of its command, or refuse at once.
    fn refuse_after_line(&mut self, tag: Option<Tag>, announcement: Option<(u64, bool)>) -> Step {
        match announcement {
            Some((size, false)) if size > self.max_literal => {
                // Too large to skip within bounds: the connection must close.
                self.close();
                Step::Yield(Frame::LiteralTooLarge {
                    tag,
                    size,
                    synchronizing: false,
                })
            }
            Some((size, false)) => {
                self.state = State::Discard {
                    tag,
                    step: DiscardStep::Literal(size),
                };
                Step::Again
            }
            // No literal, or a synchronizing one the client waits to send: the BAD tells the
            // client the command is over (RFC 9051 section 4.3).
            _ => {
                self.state = State::Line { scanned: 0 };
                Step::Yield(Frame::TooLong { tag })
            }
        }
    }

    /// Drops input of a command being discarded until the command ends.
    fn discard_command(&mut self) -> Step {
        let State::Discard { tag, step } = &mut self.state else {
            return Step::Wait;
        };
        let input = &self.buf[self.start..];

        match *step {
            DiscardStep::Literal(remaining) => {
                let skip = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                self.start += skip;
                let remaining = remaining - skip as u64;
                if remaining > 0 {
                    *step = DiscardStep::Literal(remaining);
                    return Step::Wait;
                }

                // The command goes on after the literal, on a line that is dropped too.
                *step = DiscardStep::Line(Marker::None);
                Step::Again
            }
            DiscardStep::Line(marker) => {
                let (consumed, marker, ended) = scan_discarded(marker, input);
                self.start += consumed;
                if !ended {
                    *step = DiscardStep::Line(marker);
                    return Step::Wait;
                }

                // The line ended: the same choice as after any line that broke a limit.
                let tag = tag.take();
                self.refuse_after_line(tag, marker.literal())
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Raw lines.
    // -----------------------------------------------------------------------------------------

    /// Looks for the end of a raw line, which starts at `start`.
    fn raw_line(&mut self, scanned: usize) -> Option<Result<Vec<u8>, LineTooLong>> {
        let Some(line_len) = self.find_line_end(self.start, scanned) else {
            let held = self.buf.len() - self.start;
            let pending_cr = self.buf[self.start..].last() == Some(&b'\r');
            if held - usize::from(pending_cr) + 2 <= self.max_line {
                self.state = State::Line { scanned: held };
                return None;
            }

            // Too long: drop what is held (keeping note of a CR that may start the CRLF).
            self.start = self.buf.len();
            self.state = State::DiscardRawLine { pending_cr };
            return None;
        };

        self.state = State::Line { scanned: 0 };
        if line_len > self.max_line {
            self.start += line_len;
            return Some(Err(LineTooLong));
        }
        let line = self.buf[self.start..self.start + line_len - 2].to_vec();
        self.start += line_len;
        Some(Ok(line))
    }

    /// Drops the rest of an over-long raw line; `pending_cr` tells whether the input dropped
    /// so far ended with a CR, which an LF would complete.
    fn discard_raw_line(&mut self, pending_cr: bool) -> Option<Result<Vec<u8>, LineTooLong>> {
        let input = &self.buf[self.start..];
        if pending_cr && input.first() == Some(&b'\n') {
            self.start += 1;
            self.state = State::Line { scanned: 0 };
            return Some(Err(LineTooLong));
        }

        match find_crlf(input) {
            Some(at) => {
                self.start += at + 2;
                self.state = State::Line { scanned: 0 };
                Some(Err(LineTooLong))
            }
            None => {
                // With no new input, a CR held back from before still counts.
                let pending_cr = input.last().map_or(pending_cr, |&b| b == b'\r');
                self.start = self.buf.len();
                self.state = State::DiscardRawLine { pending_cr };
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Helpers.
    // -----------------------------------------------------------------------------------------

    /// The length, CRLF included, of the line at `line_start`, searching from `scanned`
    /// bytes into it. Bare LFs are skipped over: only CRLF ends a line.
    fn find_line_end(&self, line_start: usize, scanned: usize) -> Option<usize> {
        // A CR that ended the previous search is still seen: the check looks one byte back.
        let mut from = line_start + scanned;
        while let Some(at) = memchr(b'\n', &self.buf[from..]) {
            let lf = from + at;
            if lf > line_start && self.buf[lf - 1] == b'\r' {
                return Some(lf + 1 - line_start);
            }
            from = lf + 1;
        }
        None
    }

    /// The most bytes the lines of one command may hold together.
    fn line_budget(&self) -> usize {
        self.max_line.saturating_mul(LINE_BYTES_PER_COMMAND)
    }

    /// The tag of the command being framed (whose first bytes are still held).
    fn tag(&self) -> Option<Tag> {
        // Both limits are noticed only once the line has reached them, less its CRLF.
        let limit = self.max_line.min(self.max_command).saturating_sub(2);
        tag_of(&self.buf[self.start..], limit)
    }

    /// Hands out the framed command and resets for the next one.
    fn take_command(&mut self) -> Vec<u8> {
        let end = self.start + self.taken;
        let command = if self.start == 0 && end == self.buf.len() {
            // The common case, and the one that matters for a large APPEND: the buffer holds
            // exactly this command, so it is handed out without a copy.
            std::mem::take(&mut self.buf)
        } else {
            self.buf[self.start..end].to_vec()
        };

        self.start = end.min(self.buf.len());
        self.taken = 0;
        self.line_bytes = 0;
        self.state = State::Line { scanned: 0 };
        command
    }

    /// Drops the first `len` bytes of the command being framed, and all of it.
    fn drop_command(&mut self, len: usize) {
        self.start += len;
        self.taken = 0;
        self.line_bytes = 0;
        self.state = State::Line { scanned: 0 };
    }

    fn close(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.taken = 0;
        self.line_bytes = 0;
        self.state = State::Closed;
    }
}

/// What one framing step leads to.
enum Step {
    /// The state changed; run the next step.
    Again,
    /// More input is needed.
    Wait,
    /// Something for the caller.
    Yield(Frame),
}

/// The marker state after the bytes of `line`.
fn marker_after(line: &[u8]) -> Marker {
    line.iter()
        .fold(Marker::None, |marker, &byte| marker.step(byte))
}

/// The marker after a CR whose LF has not arrived yet.
fn carry_cr(marker: Marker) -> Marker {
    match marker {
        Marker::Closed {
            size,
            synchronizing,
        } => Marker::ClosedCr {
            size,
            synchronizing,
        },
        _ => Marker::Cr,
    }
}

/// Scans the input of a discarded line: returns how many bytes to drop, the marker after
/// them, and whether the line's CRLF was among them. A line too long to keep is tracked only
/// through `marker`, which also remembers a CR at the end of the previous input.
fn scan_discarded(mut marker: Marker, input: &[u8]) -> (usize, Marker, bool) {
    for (at, &byte) in input.iter().enumerate() {
        marker = match (marker, byte) {
            (
                Marker::ClosedCr {
                    size,
                    synchronizing,
                },
                b'\n',
            ) => {
                let end = Marker::Closed {
                    size,
                    synchronizing,
                };
                return (at + 1, end, true);
            }
            (Marker::Cr, b'\n') => return (at + 1, Marker::None, true),
            (marker, b'\r') => carry_cr(marker),
            (Marker::ClosedCr { .. } | Marker::Cr, byte) => Marker::None.step(byte),
            (marker, byte) => marker.step(byte),
        };
    }
    (input.len(), marker, false)
}

/// The offset of the first CRLF in `input`.
fn find_crlf(input: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = memchr(b'\n', &input[from..]) {
        let lf = from + at;
        if lf > 0 && input[lf - 1] == b'\r' {
            return Some(lf - 1);
        }
        from = lf + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> Option<Tag> {
        Tag::new(name)
    }

    /// Feeds `chunks` one after the other and collects every frame.
    fn frames(framer: &mut Framer, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            while let Some(frame) = framer.next_command() {
                out.push(frame);
            }
        }
        out
    }

    fn framer() -> Framer {
        Framer::new(100, 1000, 2000)
    }

    #[test]
    fn debug_output_shows_no_command_bytes() {
        let mut f = framer();
        f.push(b"a LOGIN fred hunter2\r\nb LOGIN x hunter2");
        let frame = f.next_command().expect("a command");
        assert_eq!(format!("{frame:?}"), "Command(22 bytes)");
        assert!(!format!("{f:?}").contains("hunter2"));
    }

    #[test]
    fn a_simple_command_is_one_frame() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a1 NOOP\r\n"]);
        assert_eq!(got, vec![Frame::Command(b"a1 NOOP\r\n".to_vec())]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn pipelined_commands_come_out_one_by_one() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a NOOP\r\nb NOOP\r\nc NO"]);
        assert_eq!(
            got,
            vec![
                Frame::Command(b"a NOOP\r\n".to_vec()),
                Frame::Command(b"b NOOP\r\n".to_vec())
            ]
        );
        assert_eq!(f.buffered(), 4);
        let got = frames(&mut f, &[b"OP\r\n"]);
        assert_eq!(got, vec![Frame::Command(b"c NOOP\r\n".to_vec())]);
    }

    #[test]
    fn a_bare_lf_or_cr_does_not_end_a_line() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a NOOP\nb NOOP\rc\r\n"]);
        assert_eq!(got, vec![Frame::Command(b"a NOOP\nb NOOP\rc\r\n".to_vec())]);
    }

    #[test]
    fn a_synchronizing_literal_asks_for_continuation() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a LOGIN {5}\r\n"]);
        assert_eq!(got, vec![Frame::Continue]);
        let got = frames(&mut f, &[b"alice {3}\r\n"]);
        assert_eq!(got, vec![Frame::Continue]);
        let got = frames(&mut f, &[b"pw!\r\n"]);
        assert_eq!(
            got,
            vec![Frame::Command(
                b"a LOGIN {5}\r\nalice {3}\r\npw!\r\n".to_vec()
            )]
        );
    }

    #[test]
    fn literal_octets_are_never_taken_for_line_ends() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a X {5+}\r\n{9}\r\n\r\n"]);
        assert_eq!(
            got,
            vec![Frame::Command(b"a X {5+}\r\n{9}\r\n\r\n".to_vec())]
        );
    }

    #[test]
    fn non_synchronizing_and_binary_literals_read_on() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a APPEND x ~{3+}\r\na\0b\r\n"]);
        assert_eq!(
            got,
            vec![Frame::Command(b"a APPEND x ~{3+}\r\na\0b\r\n".to_vec())]
        );

        let got = frames(&mut f, &[b"b APPEND x ~{3}\r\n"]);
        assert_eq!(got, vec![Frame::Continue]);
    }

    #[test]
    fn an_empty_literal_still_needs_a_continuation() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a LOGIN {0}\r\n x\r\n"]);
        assert_eq!(
            got,
            vec![
                Frame::Continue,
                Frame::Command(b"a LOGIN {0}\r\n x\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn braces_that_are_not_an_announcement_end_the_line() {
        for line in [
            &b"a X {}\r\n"[..],
            b"a X {+}\r\n",
            b"a X {1a}\r\n",
            b"a X 5}\r\n",
        ] {
            let mut f = framer();
            assert_eq!(frames(&mut f, &[line]), vec![Frame::Command(line.to_vec())]);
        }
    }

    #[test]
    fn a_too_long_line_is_dropped_while_it_streams() {
        let mut f = Framer::new(20, 1000, 2000);
        let mut got = frames(&mut f, &[b"t1 SEARCH TEXT aaaaaaaaaaaaaa"]);
        for _ in 0..100 {
            got.extend(frames(&mut f, &[b"aaaaaaaaaaaaaaaaaaaa"]));
            assert!(f.buffered() <= 1);
        }
        got.extend(frames(&mut f, &[b"\r\nt2 NOOP\r\n"]));
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("t1") },
                Frame::Command(b"t2 NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn the_line_limit_counts_the_crlf() {
        let mut f = Framer::new(10, 1000, 2000);
        let got = frames(&mut f, &[b"a NOOP x\r\n", b"a NOOP xx\r\nb\r\n"]);
        assert_eq!(
            got,
            vec![
                Frame::Command(b"a NOOP x\r\n".to_vec()),
                Frame::TooLong { tag: tag("a") },
                Frame::Command(b"b\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_too_long_line_split_at_its_cr_is_still_one_line() {
        let mut f = Framer::new(10, 1000, 2000);
        let got = frames(&mut f, &[b"a 12345678901234\r", b"\nb NOOP\r\n"]);
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("a") },
                Frame::Command(b"b NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_non_synchronizing_literal_on_a_dropped_line_is_skipped() {
        // The client sends the literal whatever the server says: its octets, which here look
        // like a command, must not be taken for one.
        let mut f = Framer::new(20, 1000, 2000);
        let got = frames(
            &mut f,
            &[
                b"a1 LOGIN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {12+}\r\n",
                b"b2 DELETE x\r\n\r\nc3 NOOP\r\n",
            ],
        );
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("a1") },
                Frame::Command(b"c3 NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_synchronizing_literal_on_a_dropped_line_is_not_awaited() {
        let mut f = Framer::new(20, 1000, 2000);
        let got = frames(
            &mut f,
            &[b"a1 LOGIN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {12}\r\nb NOOP\r\n"],
        );
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("a1") },
                Frame::Command(b"b NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_too_large_synchronizing_literal_drops_the_command() {
        let mut f = framer();
        let got = frames(&mut f, &[b"A1 APPEND INBOX {1001}\r\nA2 NOOP\r\n"]);
        assert_eq!(
            got,
            vec![
                Frame::LiteralTooLarge {
                    tag: tag("A1"),
                    size: 1001,
                    synchronizing: true
                },
                Frame::Command(b"A2 NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_too_large_non_synchronizing_literal_closes() {
        let mut f = framer();
        let got = frames(
            &mut f,
            &[b"A1 APPEND INBOX {1001+}\r\nxxxx", b"A2 NOOP\r\n"],
        );
        assert_eq!(
            got,
            vec![Frame::LiteralTooLarge {
                tag: tag("A1"),
                size: 1001,
                synchronizing: false
            }]
        );
        assert_eq!(f.buffered(), 0);
        assert_eq!(f.next_line(), None);
    }

    #[test]
    fn an_unrepresentable_literal_size_is_too_large() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a X {99999999999999999999999}\r\n"]);
        assert_eq!(
            got,
            vec![Frame::LiteralTooLarge {
                tag: tag("a"),
                size: u64::MAX,
                synchronizing: true
            }]
        );
    }

    #[test]
    fn lowering_the_literal_limit_applies_to_the_next_literal() {
        let mut f = framer();
        f.set_max_literal(10);
        let got = frames(&mut f, &[b"a LOGIN {11}\r\n"]);
        assert!(matches!(got[..], [Frame::LiteralTooLarge { size: 11, .. }]));
        let got = frames(&mut f, &[b"a LOGIN {10}\r\n"]);
        assert_eq!(got, vec![Frame::Continue]);
    }

    #[test]
    fn the_command_limit_counts_literals() {
        let mut f = Framer::new(100, 1000, 40);
        // A synchronizing literal that would not fit is refused before the client sends it.
        let got = frames(&mut f, &[b"a LOGIN {30}\r\nb NOOP\r\n"]);
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("a") },
                Frame::Command(b"b NOOP\r\n".to_vec())
            ]
        );

        // A non-synchronizing one is skipped, with the rest of its command.
        let got = frames(
            &mut f,
            &[b"c LOGIN {30+}\r\n", &[b'x'; 30], b" y\r\nd NOOP\r\n"],
        );
        assert_eq!(
            got,
            vec![
                Frame::TooLong { tag: tag("c") },
                Frame::Command(b"d NOOP\r\n".to_vec())
            ]
        );

        // Lines after a literal count too.
        let got = frames(
            &mut f,
            &[b"e LOGIN {3}\r\n", b"abc 0123456789012345678901234\r\n"],
        );
        assert_eq!(got, vec![Frame::Continue, Frame::TooLong { tag: tag("e") }]);
    }

    #[test]
    fn the_lines_of_a_command_share_a_budget() {
        // Short lines joined by empty literals: the parser would turn their text into
        // values, so their total is bounded whatever the command limit allows.
        let mut f = Framer::new(20, 1000, 1 << 20);
        let line = b"a SEARCH SEEN {0+}\r\n";
        let within = line.repeat(LINE_BYTES_PER_COMMAND);
        let mut input = within[..within.len() - 6].to_vec();
        input.extend_from_slice(b"\r\n");
        assert!(matches!(frames(&mut f, &[&input])[..], [Frame::Command(_)]));

        let mut input = line.repeat(LINE_BYTES_PER_COMMAND + 1);
        input.extend_from_slice(b"x\r\nb NOOP\r\n");
        assert_eq!(
            frames(&mut f, &[&input]),
            vec![
                Frame::TooLong { tag: tag("a") },
                Frame::Command(b"b NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn the_tag_of_a_refused_command_is_reported_only_when_valid() {
        let mut f = Framer::new(10, 1000, 2000);
        let got = frames(
            &mut f,
            &[b"a+b xxxxxxxxxxxxxxx\r\n", b"xxxxxxxxxxxxxxx\r\n"],
        );
        assert_eq!(
            got,
            vec![Frame::TooLong { tag: None }, Frame::TooLong { tag: None }]
        );
    }

    #[test]
    fn raw_lines_ignore_literal_announcements() {
        let mut f = framer();
        f.push(b"dGVzdA== {5}\r\nDONE\r\n\r\n");
        assert_eq!(f.next_line(), Some(Ok(b"dGVzdA== {5}".to_vec())));
        assert_eq!(f.next_line(), Some(Ok(b"DONE".to_vec())));
        assert_eq!(f.next_line(), Some(Ok(Vec::new())));
        assert_eq!(f.next_line(), None);
    }

    #[test]
    fn a_too_long_raw_line_is_consumed_to_its_crlf() {
        let mut f = Framer::new(10, 1000, 2000);
        f.push(b"0123456789abcdef");
        assert_eq!(f.next_line(), None);
        assert!(f.buffered() <= 1);
        f.push(b"more\r");
        assert_eq!(f.next_line(), None);
        f.push(b"\nDONE\r\n");
        assert_eq!(f.next_line(), Some(Err(LineTooLong)));
        assert_eq!(f.next_line(), Some(Ok(b"DONE".to_vec())));

        f.push(b"0123456789\r\nok\r\n");
        assert_eq!(f.next_line(), Some(Err(LineTooLong)));
        assert_eq!(f.next_line(), Some(Ok(b"ok".to_vec())));
    }

    #[test]
    fn raw_lines_wait_while_a_command_is_half_framed() {
        let mut f = framer();
        let got = frames(&mut f, &[b"a LOGIN {3}\r\n"]);
        assert_eq!(got, vec![Frame::Continue]);
        f.push(b"abc x\r\n");
        assert_eq!(f.next_line(), None);
        assert_eq!(
            f.next_command(),
            Some(Frame::Command(b"a LOGIN {3}\r\nabc x\r\n".to_vec()))
        );
    }

    #[test]
    fn commands_and_raw_lines_interleave() {
        let mut f = framer();
        f.push(b"a AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3\r\nb NOOP\r\n");
        assert_eq!(
            f.next_command(),
            Some(Frame::Command(b"a AUTHENTICATE PLAIN\r\n".to_vec()))
        );
        assert_eq!(f.next_line(), Some(Ok(b"AGFsaWNlAHB3".to_vec())));
        assert_eq!(
            f.next_command(),
            Some(Frame::Command(b"b NOOP\r\n".to_vec()))
        );
    }

    /// The transcript used by the split tests: every kind of frame.
    const TRANSCRIPT: &[u8] = b"a1 LOGIN {5}\r\nalice {3+}\r\npw!\r\n\
        a2 APPEND INBOX (\\Seen) ~{7+}\r\nx\r\n\0{1}\r\n\
        a3 SEARCH TEXT xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\
        xxxxxxxxxxxxxxxxxxxxxxxxxx {4+}\r\nzz\r\n\r\n\
        a4 APPEND INBOX {5000}\r\n\
        a5 NOOP\n\r\r\n";

    fn expected_transcript() -> Vec<Frame> {
        vec![
            Frame::Continue,
            Frame::Command(b"a1 LOGIN {5}\r\nalice {3+}\r\npw!\r\n".to_vec()),
            Frame::Command(b"a2 APPEND INBOX (\\Seen) ~{7+}\r\nx\r\n\0{1}\r\n".to_vec()),
            Frame::TooLong { tag: tag("a3") },
            Frame::LiteralTooLarge {
                tag: tag("a4"),
                size: 5000,
                synchronizing: true,
            },
            Frame::Command(b"a5 NOOP\n\r\r\n".to_vec()),
        ]
    }

    #[test]
    fn a_transcript_frames_the_same_byte_by_byte() {
        let mut f = Framer::new(60, 1000, 2000);
        let chunks: Vec<&[u8]> = TRANSCRIPT.chunks(1).collect();
        assert_eq!(frames(&mut f, &chunks), expected_transcript());
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_transcript_frames_the_same_at_every_split() {
        for at in 0..=TRANSCRIPT.len() {
            let mut f = Framer::new(60, 1000, 2000);
            let (head, tail) = TRANSCRIPT.split_at(at);
            assert_eq!(
                frames(&mut f, &[head, tail]),
                expected_transcript(),
                "split at {at}"
            );
        }
    }

    /// Frames `input` in one push, byte by byte, and split in two everywhere; the frames.
    fn all_splits_agree(input: &[u8], limits: (usize, u64, usize)) -> Vec<Frame> {
        let new = || Framer::new(limits.0, limits.1, limits.2);
        let whole = frames(&mut new(), &[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frames(&mut new(), &bytes), whole, "byte by byte: {input:?}");
        for at in 0..input.len() {
            let (head, tail) = input.split_at(at);
            assert_eq!(
                frames(&mut new(), &[head, tail]),
                whole,
                "split at {at}: {input:?}"
            );
        }
        whole
    }

    #[test]
    fn random_inputs_frame_the_same_however_split() {
        // Inputs made of pieces that make literals, line ends and limits collide often.
        let alphabet: [&[u8]; 18] = [
            b"a",
            b" ",
            b"{",
            b"}",
            b"+",
            b"~",
            b"0",
            b"3",
            b"\r",
            b"\n",
            b"xxxxxxxxx",
            b"\r\n",
            b"\r\n",
            b"\r\n",
            b"{2}\r\n",
            b"{3+}\r\n",
            b"{7}\r\n",
            b"{9+}\r\n",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: usize| {
            // xorshift64: deterministic, so a failure can be replayed.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..next(24) {
                input.extend_from_slice(alphabet[next(alphabet.len())]);
            }
            for frame in all_splits_agree(&input, (12, 8, 30)) {
                let kind = match frame {
                    Frame::Command(_) => 0,
                    Frame::Continue => 1,
                    Frame::TooLong { .. } => 2,
                    Frame::LiteralTooLarge { .. } => 3,
                };
                seen[kind] += 1;
            }
        }

        // The inputs reached every kind of frame, so the comparison covered each path.
        assert!(seen.iter().all(|&count| count > 100), "{seen:?}");
    }

    #[test]
    fn a_large_literal_streams_in_linear_time() {
        // 25 MiB in 16 KiB pushes: if each push rescanned the buffer this would take minutes.
        let size = 25 << 20;
        let mut f = Framer::new(8192, 64 << 20, 70 << 20);
        let head = format!("a APPEND INBOX {{{size}+}}\r\n");
        f.push(head.as_bytes());
        assert_eq!(f.next_command(), None);
        let chunk = vec![b'x'; 16 << 10];
        for _ in 0..size / chunk.len() {
            f.push(&chunk);
            assert_eq!(f.next_command(), None);
        }
        f.push(b"\r\n");
        let Some(Frame::Command(command)) = f.next_command() else {
            panic!("no command");
        };
        assert_eq!(command.len(), head.len() + size + 2);
    }

    #[test]
    fn many_pipelined_commands_do_not_move_the_buffer_each_time() {
        let mut f = Framer::new(100, 1000, 2000);
        let input = b"a NOOP\r\n".repeat(200_000);
        f.push(&input);
        let mut count = 0;
        while let Some(frame) = f.next_command() {
            assert_eq!(frame, Frame::Command(b"a NOOP\r\n".to_vec()));
            count += 1;
        }
        assert_eq!(count, 200_000);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn literal_announcements_are_recognised_at_line_end_only() {
        assert_eq!(literal_announcement(b"a {5}"), Some((5, true)));
        assert_eq!(literal_announcement(b"a ~{5+}"), Some((5, false)));
        assert_eq!(literal_announcement(b"a {007}"), Some((7, true)));
        assert_eq!(literal_announcement(b"a {5} x"), None);
        assert_eq!(literal_announcement(b"a {5+"), None);
        assert_eq!(literal_announcement(b"a {{5}"), Some((5, true)));
        assert_eq!(literal_announcement(b"a {5{}"), None);
    }
}
