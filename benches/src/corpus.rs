//! The corpora, as the wire bytes a client (or, for replies, a server) sends.
//!
//! They are embedded at compile time so that a benchmark run never depends on the working
//! directory. The splitters here are deliberately independent of every contestant: the tests
//! check each contestant's own framing against them.

use memchr::memchr;

/// SMTP command lines as a submission client and a relaying MX send them, CRLF-terminated.
pub const SMTP_COMMANDS: &[u8] = include_bytes!("../corpus/smtp-commands.txt");

/// SMTP replies as a client reads them: a greeting, a multi-line EHLO reply, and the replies
/// of one transaction, CRLF-terminated.
pub const SMTP_REPLIES: &[u8] = include_bytes!("../corpus/smtp-replies.txt");

/// A Thunderbird-like IMAP session from the client side: one command per line, with an
/// APPEND of a 10 KB message as a synchronizing literal inline. The `DONE` lines that end
/// IDLE are left out: they are not commands, and no command parser takes them.
pub const IMAP_COMMANDS: &[u8] = include_bytes!("../corpus/imap-commands.txt");

/// Splits `stream` after each CRLF; every piece keeps its CRLF.
///
/// # Panics
///
/// If `stream` does not end with CRLF: the corpora are checked in that way.
pub fn lines(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let end = find_crlf(rest).expect("every corpus line ends with CRLF") + 2;
        let (line, tail) = rest.split_at(end);
        out.push(line);
        rest = tail;
    }
    out
}

/// Splits an IMAP client stream into whole commands: lines, and after a line ending in a
/// literal announcement (`{n}` or `{n+}`), the `n` octets and the rest of the command. Every
/// command keeps its final CRLF and its literals inline, which is the form both
/// `imap_proto::parse::command` and `imap_codec`'s `CommandCodec` take.
///
/// # Panics
///
/// If the stream is not a sequence of complete commands.
pub fn imap_commands(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < stream.len() {
        let line_end = at + find_crlf(&stream[at..]).expect("every line ends with CRLF");
        at = line_end + 2;
        match literal_size(&stream[..line_end]) {
            Some(size) => {
                at += size;
                assert!(at <= stream.len(), "a literal runs past the corpus");
            }
            None => {
                out.push(&stream[start..at]);
                start = at;
            }
        }
    }
    out
}

/// The size announced by `{n}` or `{n+}` at the end of `line` (without its CRLF).
fn literal_size(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The offset of the first CRLF.
fn find_crlf(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(lf) = memchr(b'\n', &bytes[from..]).map(|at| from + at) {
        if lf > 0 && bytes[lf - 1] == b'\r' {
            return Some(lf - 1);
        }
        from = lf + 1;
    }
    None
}

/// The total length of `items`, for criterion's byte throughput.
pub fn total_len(items: &[&[u8]]) -> u64 {
    items.iter().map(|item| item.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_crlf_lines_without_bare_line_ends() {
        for corpus in [SMTP_COMMANDS, SMTP_REPLIES] {
            for line in lines(corpus) {
                let text = &line[..line.len() - 2];
                assert!(!text.contains(&b'\r') && !text.contains(&b'\n'));
            }
        }
    }

    #[test]
    fn imap_commands_split_around_the_literal() {
        let commands = imap_commands(IMAP_COMMANDS);
        assert_eq!(commands.len(), 34);
        assert_eq!(total_len(&commands), IMAP_COMMANDS.len() as u64);

        // The APPEND carries the whole 10 KB message inline and is the only multi-line one.
        let append: Vec<_> = commands.iter().filter(|c| c.len() > 1000).collect();
        assert_eq!(append.len(), 1);
        assert!(append[0].starts_with(b"27 APPEND Sent (\\Seen) {10240}\r\n"));
        assert!(commands.iter().all(|c| c.ends_with(b"\r\n")));
    }

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_size(b"A APPEND x {12}"), Some(12));
        assert_eq!(literal_size(b"A APPEND x {12+}"), Some(12));
        assert_eq!(literal_size(b"A NOOP"), None);
        assert_eq!(literal_size(b"A LOGIN {x}"), None);
    }
}
