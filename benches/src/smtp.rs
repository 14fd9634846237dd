//! SMTP: command parsing on the server side and reply parsing on the client side, by Rampart
//! (`smtp_proto`) and by Stalwart's `smtp-proto` 0.2.5 (`stalwart_smtp`).
//!
//! Both sides take a stream of CRLF-terminated lines. Stalwart's parsers read up to the LF
//! themselves, so Rampart's side includes the framing its server session does before
//! `Command::parse` (find the CRLF, refuse a bare CR or LF inside the line): the comparison
//! is then stream to values on both sides, and Rampart pays for a check Stalwart does not
//! make. Rampart's values are owned (`String`s, the decoded AUTH response); Stalwart's
//! borrow from the input, and its AUTH response stays base64 text.

use memchr::{memchr, memchr2};
use smtp_proto::command::Command;
use smtp_proto::reply::ReplyParser;
use stalwart_smtp::Request;
use stalwart_smtp::response::parser::ResponseReceiver;

/// Parses every command line of `stream` with Rampart; the number of commands parsed.
///
/// # Panics
///
/// If a line is refused: the corpus holds only commands both parsers accept.
pub fn rampart_commands(stream: &[u8]) -> usize {
    let mut parsed = 0;
    let mut rest = stream;
    while !rest.is_empty() {
        // What the server's framing does before any grammar runs (`framing::next_line`):
        // only CRLF ends a line, so the first CR or LF must be the start of the CRLF.
        let len = memchr2(b'\r', b'\n', rest).expect("every line ends with CRLF");
        assert!(rest[len..].starts_with(b"\r\n"), "bare line ending");
        let command = Command::parse(&rest[..len]).expect("corpus command parses");
        std::hint::black_box(&command);

        parsed += 1;
        rest = &rest[len + 2..];
    }
    parsed
}

/// Parses every command line of `stream` with Stalwart's `Request::parse`, which reads one
/// line from the iterator; the number of commands parsed.
///
/// # Panics
///
/// If a line is refused.
pub fn stalwart_commands(stream: &[u8]) -> usize {
    let mut parsed = 0;
    let mut bytes = stream.iter();
    while !bytes.as_slice().is_empty() {
        let request = Request::parse(&mut bytes).expect("corpus command parses");
        std::hint::black_box(&request);
        parsed += 1;
    }
    parsed
}

/// Assembles every reply of `stream` with Rampart's `ReplyParser`, enhanced status codes on
/// (as after an EHLO that offered them); the number of replies.
///
/// # Panics
///
/// If a line is refused.
pub fn rampart_replies(stream: &[u8]) -> usize {
    let mut parser = ReplyParser::default();
    parser.enhanced = true;
    let mut replies = 0;
    let mut rest = stream;
    while let Some(len) = find_crlf(rest) {
        if let Some(reply) = parser.push_line(&rest[..len]).expect("corpus reply parses") {
            std::hint::black_box(&reply);
            replies += 1;
        }
        rest = &rest[len + 2..];
    }
    replies
}

/// Assembles every reply of `stream` with Stalwart's `ResponseReceiver`, reset after each
/// reply as its client does; the number of replies.
///
/// # Panics
///
/// If a reply is refused.
pub fn stalwart_replies(stream: &[u8]) -> usize {
    let mut receiver = ResponseReceiver::default();
    let mut replies = 0;
    let mut bytes = stream.iter();
    while !bytes.as_slice().is_empty() {
        let response = receiver.parse(&mut bytes).expect("corpus reply parses");
        std::hint::black_box(&response);
        receiver.reset();
        replies += 1;
    }
    replies
}

/// The offset of the first CRLF, as Rampart's server framing finds it.
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

#[cfg(test)]
mod tests {
    use smtp_proto::address::{ForwardPath, ReversePath};
    use smtp_proto::reply::Reply;
    use stalwart_smtp::Response;

    use super::*;
    use crate::corpus::{SMTP_COMMANDS, SMTP_REPLIES, lines};

    /// What both parsers must agree on for one command: its verb and its main argument.
    fn rampart_summary(command: &Command) -> (String, String) {
        let argument = match command {
            Command::Ehlo(domain) | Command::Helo(domain) => domain.to_string(),
            Command::Mail { reverse_path, .. } => match reverse_path {
                ReversePath::Null => String::new(),
                path => path.to_string().trim_matches(['<', '>']).to_owned(),
            },
            Command::Rcpt { forward_path, .. } => match forward_path {
                ForwardPath::Postmaster => "postmaster".to_owned(),
                path => path.to_string().trim_matches(['<', '>']).to_owned(),
            },
            Command::Bdat { size, last } => format!("{size} {last}"),
            Command::Vrfy(what) => what.clone(),
            _ => String::new(),
        };
        (command.verb().to_owned(), argument)
    }

    fn stalwart_summary(request: &Request<std::borrow::Cow<'_, str>>) -> (String, String) {
        let argument = match request {
            Request::Ehlo { host } | Request::Helo { host } => host.to_string(),
            Request::Mail { from } => from.address.to_string(),
            Request::Rcpt { to } => to.address.to_string(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => format!("{chunk_size} {is_last}"),
            Request::Vrfy { value } => value.to_string(),
            _ => String::new(),
        };
        (request.name().to_owned(), argument)
    }

    #[test]
    fn both_parse_every_command_and_agree() {
        let lines = lines(SMTP_COMMANDS);
        assert_eq!(lines.len(), 20);
        for line in lines {
            let rampart = Command::parse(&line[..line.len() - 2])
                .unwrap_or_else(|e| panic!("Rampart refuses {line:?}: {e}"));
            let stalwart = Request::parse(&mut line.iter())
                .unwrap_or_else(|e| panic!("Stalwart refuses {line:?}: {e:?}"));
            assert_eq!(
                rampart_summary(&rampart),
                stalwart_summary(&stalwart),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(rampart_commands(SMTP_COMMANDS), 20);
        assert_eq!(stalwart_commands(SMTP_COMMANDS), 20);
    }

    #[test]
    fn both_read_every_reply_and_agree() {
        let mut rampart = Vec::<Reply>::new();
        let mut parser = ReplyParser::default();
        parser.enhanced = true;
        for line in lines(SMTP_REPLIES) {
            rampart.extend(parser.push_line(&line[..line.len() - 2]).unwrap());
        }

        let mut stalwart = Vec::<Response<String>>::new();
        let mut receiver = ResponseReceiver::default();
        let mut bytes = SMTP_REPLIES.iter();
        while !bytes.as_slice().is_empty() {
            stalwart.push(receiver.parse(&mut bytes).unwrap());
            receiver.reset();
        }

        assert_eq!(rampart.len(), 12);
        assert_eq!(rampart.len(), stalwart.len());
        for (ours, theirs) in rampart.iter().zip(&stalwart) {
            assert_eq!(ours.code(), theirs.code);
            let esc = ours.enhanced_code().map_or([0; 3], |code| {
                [code.class(), code.subject() as u8, code.detail() as u8]
            });
            assert_eq!(esc, theirs.esc, "{}", theirs.message);
            let their_lines: Vec<&str> = theirs.message.split('\n').collect();
            assert_eq!(ours.lines(), their_lines);
        }
        assert_eq!(rampart_replies(SMTP_REPLIES), 12);
        assert_eq!(stalwart_replies(SMTP_REPLIES), 12);
    }
}
