//! IMAP command parsing by Rampart (`imap_proto`) and by `imap-codec` 1.0 and 2.0.0-alpha.10.
//!
//! Two comparisons, each like for like:
//!
//! - **parse**: one whole command at a time, from a complete buffer with its literals inline.
//!   Rampart's `parse::command` and imap-codec's `CommandCodec::decode` both take exactly that.
//! - **frame+parse**: the client stream fed in 4 KiB reads, as a server receives it. Rampart
//!   frames with `Framer` and parses each command; imap-codec 2.0 frames with its
//!   `Fragmentizer` and decodes each message. imap-codec 1.0 has no framer: a server built on
//!   it keeps a buffer and calls `decode` again after each read until it stops answering
//!   `Incomplete`, which is what [`codec1_buffer_and_parse`] does.
//!
//! Each comparison uses the part of the corpus that the peer accepts ([`codec1_subset`],
//! [`codec2_subset`]); the tests pin which commands that leaves out. Neither imap-codec parses
//! LIST-EXTENDED (`LIST (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)`, RFC 5258); 1.0 also lacks
//! ID and the CONDSTORE parameters of SELECT and FETCH (RFC 2971, RFC 7162).

use std::hint::black_box;

use imap_proto::command::CommandBody;
use imap_proto::framing::{Frame, Framer};

/// The framer limits Rampart's IMAP session uses after login: 8 KiB lines, literals up to
/// 64 MiB, commands up to 70 MiB.
const MAX_LINE: usize = 8192;
const MAX_LITERAL: u64 = 64 << 20;
const MAX_COMMAND: usize = 70 << 20;

/// What every parser must agree on for one command, so the comparison is of equal work:
/// the tag, the command name, whether it is a UID command, and the APPEND message size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The tag.
    pub tag: String,
    /// The command name (`FETCH` for `UID FETCH`).
    pub name: String,
    /// Whether a FETCH, STORE, SEARCH, COPY or MOVE is the UID form.
    pub uid: bool,
    /// The size of an APPEND's message.
    pub append_len: Option<usize>,
}

/// Parses each whole command with Rampart; the number parsed.
///
/// # Panics
///
/// If a command is refused: the corpus holds only commands both sides accept.
pub fn rampart_parse(commands: &[&[u8]]) -> usize {
    for command in commands {
        let parsed = imap_proto::parse::command(command).expect("corpus command parses");
        black_box(&parsed);
    }
    commands.len()
}

/// Rampart's view of one command, for the agreement tests.
pub fn rampart_summary(command: &[u8]) -> Result<Summary, String> {
    let command = imap_proto::parse::command(command).map_err(|e| e.to_string())?;
    let uid = match &command.body {
        CommandBody::Fetch { uid, .. }
        | CommandBody::Store { uid, .. }
        | CommandBody::Search { uid, .. }
        | CommandBody::Copy { uid, .. }
        | CommandBody::Move { uid, .. } => *uid,
        CommandBody::Expunge { uids } => uids.is_some(),
        _ => false,
    };
    let append_len = match &command.body {
        CommandBody::Append { message, .. } => Some(message.len()),
        _ => None,
    };
    Ok(Summary {
        tag: command.tag.as_str().to_owned(),
        name: command.body.name().to_owned(),
        uid,
        append_len,
    })
}

/// Frames `stream`, fed `chunk` bytes at a time, with Rampart's `Framer` and parses every
/// command; the number parsed.
///
/// # Panics
///
/// If the framer refuses a command or the parser a frame.
pub fn rampart_frame_and_parse(stream: &[u8], chunk: usize) -> usize {
    let mut framer = Framer::new(MAX_LINE, MAX_LITERAL, MAX_COMMAND);
    let mut parsed = 0;
    for piece in stream.chunks(chunk) {
        framer.push(piece);
        while let Some(frame) = framer.next_command() {
            match frame {
                Frame::Command(bytes) => {
                    let command = imap_proto::parse::command(&bytes).expect("frame parses");
                    black_box(&command);
                    parsed += 1;
                }
                // A server sends "+" here; the corpus client has sent the literal already.
                Frame::Continue => {}
                refused => panic!("the framer refused a corpus command: {refused:?}"),
            }
        }
    }
    parsed
}

/// The commands of `commands` that imap-codec 1.0 decodes completely.
pub fn codec1_subset<'a>(commands: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let accepted = |command: &&[u8]| codec1::summary(command).is_ok();
    commands.iter().copied().filter(accepted).collect()
}

/// The commands of `commands` that imap-codec 2.0 decodes completely.
pub fn codec2_subset<'a>(commands: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let accepted = |command: &&[u8]| codec2::summary(command).is_ok();
    commands.iter().copied().filter(accepted).collect()
}

/// Parses each whole command with imap-codec 1.0; the number parsed.
///
/// # Panics
///
/// If a command is refused or not consumed to its end.
pub fn codec1_parse(commands: &[&[u8]]) -> usize {
    codec1::parse(commands)
}

/// Parses each whole command with imap-codec 2.0.0-alpha.10; the number parsed.
///
/// # Panics
///
/// If a command is refused or not consumed to its end.
pub fn codec2_parse(commands: &[&[u8]]) -> usize {
    codec2::parse(commands)
}

/// imap-codec 1.0's view of one command, for the agreement tests.
pub fn codec1_summary(command: &[u8]) -> Result<Summary, String> {
    codec1::summary(command)
}

/// imap-codec 2.0's view of one command, for the agreement tests.
pub fn codec2_summary(command: &[u8]) -> Result<Summary, String> {
    codec2::summary(command)
}

/// Feeds `stream` to imap-codec 1.0 `chunk` bytes at a time, the way a server without a
/// framer must: append to a buffer, then decode from the start of the unconsumed part until
/// the codec says it needs more. A command split over reads is parsed again from its start
/// after each read. The number of commands parsed.
///
/// # Panics
///
/// If a command is refused.
pub fn codec1_buffer_and_parse(stream: &[u8], chunk: usize) -> usize {
    use imap_codec::CommandCodec;
    use imap_codec::decode::{CommandDecodeError, Decoder};

    let codec = CommandCodec::default();
    let mut buffer = Vec::new();
    let mut parsed = 0;
    for piece in stream.chunks(chunk) {
        buffer.extend_from_slice(piece);
        let mut consumed = 0;
        loop {
            match codec.decode(&buffer[consumed..]) {
                Ok((rest, command)) => {
                    black_box(&command);
                    consumed = buffer.len() - rest.len();
                    parsed += 1;
                }
                // `LiteralFound` is where a server sends "+"; either way, wait for input.
                Err(CommandDecodeError::Incomplete | CommandDecodeError::LiteralFound { .. }) => {
                    break;
                }
                Err(error) => panic!("imap-codec 1.0 refused a corpus command: {error:?}"),
            }
        }
        buffer.drain(..consumed);
    }
    parsed
}

/// Frames `stream`, fed `chunk` bytes at a time, with imap-codec 2.0's `Fragmentizer` and
/// decodes every complete message; the number parsed.
///
/// # Panics
///
/// If a message does not decode.
pub fn codec2_frame_and_parse(stream: &[u8], chunk: usize) -> usize {
    use imap_codec_next::CommandCodec;
    use imap_codec_next::fragmentizer::Fragmentizer;

    let codec = CommandCodec::default();
    let mut fragmentizer = Fragmentizer::new(MAX_COMMAND as u32);
    let mut parsed = 0;
    for piece in stream.chunks(chunk) {
        fragmentizer.enqueue_bytes(piece);
        // A line announcing a synchronizing literal is where a server sends "+".
        while fragmentizer.progress().is_some() {
            if fragmentizer.is_message_complete() {
                let command = fragmentizer
                    .decode_message(&codec)
                    .expect("imap-codec 2.0 decodes the corpus command");
                black_box(&command);
                parsed += 1;
            }
        }
    }
    parsed
}

/// imap-codec 1.0: the stable release.
mod codec1 {
    use std::hint::black_box;

    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;

    use super::Summary;

    pub(super) fn parse(commands: &[&[u8]]) -> usize {
        let codec = CommandCodec::default();
        for command in commands {
            let (rest, parsed) = codec.decode(command).expect("corpus command parses");
            assert!(rest.is_empty(), "the whole command is consumed");
            black_box(&parsed);
        }
        commands.len()
    }

    pub(super) fn summary(command: &[u8]) -> Result<Summary, String> {
        let (rest, command) = CommandCodec::default()
            .decode(command)
            .map_err(|e| format!("{e:?}"))?;
        if !rest.is_empty() {
            return Err(format!("{} bytes left over", rest.len()));
        }

        let uid = match &command.body {
            CommandBody::Fetch { uid, .. }
            | CommandBody::Store { uid, .. }
            | CommandBody::Search { uid, .. }
            | CommandBody::Copy { uid, .. }
            | CommandBody::Move { uid, .. } => *uid,
            _ => false,
        };
        let append_len = match &command.body {
            CommandBody::Append { message, .. } => Some(message.data().len()),
            _ => None,
        };
        Ok(Summary {
            tag: command.tag.inner().to_owned(),
            name: command.body.name().to_owned(),
            uid,
            append_len,
        })
    }
}

/// imap-codec 2.0.0-alpha.10: the one imap-next builds on, with a fragmentizer and the ID
/// and CONDSTORE grammar.
mod codec2 {
    use std::hint::black_box;

    use imap_codec_next::CommandCodec;
    use imap_codec_next::decode::Decoder;
    use imap_codec_next::imap_types::command::CommandBody;
    use imap_codec_next::imap_types::extensions::binary::LiteralOrLiteral8;

    use super::Summary;

    pub(super) fn parse(commands: &[&[u8]]) -> usize {
        let codec = CommandCodec::default();
        for command in commands {
            let (rest, parsed) = codec.decode(command).expect("corpus command parses");
            assert!(rest.is_empty(), "the whole command is consumed");
            black_box(&parsed);
        }
        commands.len()
    }

    pub(super) fn summary(command: &[u8]) -> Result<Summary, String> {
        let (rest, command) = CommandCodec::default()
            .decode(command)
            .map_err(|e| format!("{e:?}"))?;
        if !rest.is_empty() {
            return Err(format!("{} bytes left over", rest.len()));
        }

        let uid = match &command.body {
            CommandBody::Fetch { uid, .. }
            | CommandBody::Store { uid, .. }
            | CommandBody::Search { uid, .. }
            | CommandBody::Copy { uid, .. }
            | CommandBody::Move { uid, .. } => *uid,
            CommandBody::ExpungeUid { .. } => true,
            _ => false,
        };
        let append_len = match &command.body {
            CommandBody::Append { message, .. } => Some(match message {
                LiteralOrLiteral8::Literal(literal) => literal.data().len(),
                LiteralOrLiteral8::Literal8(literal) => literal.data.len(),
            }),
            _ => None,
        };
        Ok(Summary {
            tag: command.tag.inner().to_owned(),
            name: command.body.name().to_owned(),
            uid,
            append_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{IMAP_COMMANDS, imap_commands};

    /// The corpus commands imap-codec 1.0 cannot parse, by tag: ID (RFC 2971), LIST with
    /// selection and return options (RFC 5258), SELECT with CONDSTORE and FETCH with
    /// CHANGEDSINCE (RFC 7162).
    const NOT_IN_CODEC1: &[&str] = &["3", "5", "9", "14", "25", "30"];

    /// The one imap-codec 2.0 cannot parse: LIST with selection and return options.
    const NOT_IN_CODEC2: &[&str] = &["5"];

    fn tag_of(command: &[u8]) -> &str {
        let end = command.iter().position(|&b| b == b' ').unwrap();
        std::str::from_utf8(&command[..end]).unwrap()
    }

    fn check_agreement(
        subset: &[&[u8]],
        left_out: &[&str],
        summary: impl Fn(&[u8]) -> Result<Summary, String>,
    ) {
        let commands = imap_commands(IMAP_COMMANDS);
        let missing: Vec<&str> = commands
            .iter()
            .filter(|c| !subset.contains(c))
            .map(|c| tag_of(c))
            .collect();
        assert_eq!(missing, left_out);

        for command in commands {
            let text = String::from_utf8_lossy(&command[..command.len().min(80)]);
            let ours = rampart_summary(command).unwrap_or_else(|e| panic!("{text}: {e}"));
            if subset.contains(&command) {
                let theirs = summary(command).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(ours, theirs, "{text}");
            }
        }
    }

    #[test]
    fn rampart_parses_every_command_and_codec2_agrees_on_its_subset() {
        let commands = imap_commands(IMAP_COMMANDS);
        check_agreement(&codec2_subset(&commands), NOT_IN_CODEC2, codec2_summary);
    }

    #[test]
    fn codec1_agrees_on_its_subset() {
        let commands = imap_commands(IMAP_COMMANDS);
        check_agreement(&codec1_subset(&commands), NOT_IN_CODEC1, codec1_summary);
    }

    #[test]
    fn every_runner_handles_its_whole_stream() {
        let commands = imap_commands(IMAP_COMMANDS);
        assert_eq!(rampart_parse(&commands), 34);
        for chunk in [1, 7, 4096, 1 << 20] {
            assert_eq!(rampart_frame_and_parse(IMAP_COMMANDS, chunk), 34, "{chunk}");
        }

        let v1 = codec1_subset(&commands);
        let v1_stream = v1.concat();
        assert_eq!(codec1_parse(&v1), 28);
        let v2 = codec2_subset(&commands);
        let v2_stream = v2.concat();
        assert_eq!(codec2_parse(&v2), 33);
        for chunk in [1, 7, 4096, 1 << 20] {
            assert_eq!(codec1_buffer_and_parse(&v1_stream, chunk), 28, "{chunk}");
            assert_eq!(codec2_frame_and_parse(&v2_stream, chunk), 33, "{chunk}");
        }
    }

    #[test]
    fn framers_split_where_the_corpus_splitter_does() {
        let expected = imap_commands(IMAP_COMMANDS);
        let mut framer = Framer::new(MAX_LINE, MAX_LITERAL, MAX_COMMAND);
        framer.push(IMAP_COMMANDS);
        let mut ours = Vec::new();
        while let Some(frame) = framer.next_command() {
            if let Frame::Command(bytes) = frame {
                ours.push(bytes);
            }
        }
        assert_eq!(ours, expected);

        let mut fragmentizer = imap_codec_next::fragmentizer::Fragmentizer::new(1 << 20);
        fragmentizer.enqueue_bytes(IMAP_COMMANDS);
        let mut theirs = Vec::new();
        while fragmentizer.progress().is_some() {
            if fragmentizer.is_message_complete() {
                theirs.push(fragmentizer.message_bytes().to_vec());
            }
        }
        assert_eq!(theirs, expected);
    }
}
