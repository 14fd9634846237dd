//! IMAP response encoding: Rampart's `imap_proto::response` functions against imap-codec's
//! `ResponseCodec` (1.0 and 2.0.0-alpha.10) encoding the same responses built from
//! imap-types.
//!
//! Each side encodes from values prepared beforehand (Rampart's tags and codes, imap-types'
//! validated responses), so only the encoding is timed, and each appends to one output
//! buffer as a session does. The tests check that all three write identical bytes.
//!
//! Two sets of responses: the status lines of a session (untagged OK with a code, tagged
//! OK, NO and BAD, BYE, a continuation request), and the FETCH responses of a Thunderbird
//! header sync (`UID`, `RFC822.SIZE`, `FLAGS`, `BODY[HEADER.FIELDS (...)]` with the header
//! text as a literal) followed by a few unsolicited flag updates.

/// The header fields Thunderbird asks for when it syncs a folder (the corpus's UID FETCH).
pub const HEADER_FIELDS: [&str; 14] = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "Priority",
    "X-Priority",
    "References",
    "Newsgroups",
    "In-Reply-To",
    "Content-Type",
    "Reply-To",
];

/// The kind of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `BYE` (always untagged)
    Bye,
}

/// The response codes used, all of which every contestant can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSpec {
    /// `UIDVALIDITY n`
    UidValidity(u32),
    /// `UIDNEXT n`
    UidNext(u32),
    /// `READ-WRITE`
    ReadWrite,
    /// `TRYCREATE`
    TryCreate,
}

/// One status-like response, as plain data from which each contestant builds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// `tag SP kind [SP "[" code "]"] SP text CRLF`, `*` for no tag.
    Status {
        /// The tag, `None` for untagged.
        tag: Option<&'static str>,
        /// OK, NO, BAD or BYE.
        kind: Kind,
        /// The response code.
        code: Option<CodeSpec>,
        /// The human-readable text.
        text: &'static str,
    },
    /// `+ text CRLF`
    Continue(&'static str),
}

/// The status lines of a session, in the order a server sends them.
pub const STATUS_LINES: &[Line] = &[
    untagged_ok(CodeSpec::UidValidity(3_857_529_045), "UIDs valid"),
    untagged_ok(CodeSpec::UidNext(4392), "Predicted next UID"),
    tagged("9", Kind::Ok, Some(CodeSpec::ReadWrite), "SELECT completed"),
    tagged("11", Kind::Ok, None, "FETCH completed"),
    Line::Continue("idling"),
    tagged("12", Kind::Ok, None, "IDLE terminated"),
    tagged("17", Kind::Ok, None, "STORE completed"),
    tagged("19", Kind::Ok, None, "MOVE completed"),
    tagged(
        "23",
        Kind::No,
        Some(CodeSpec::TryCreate),
        "Mailbox does not exist",
    ),
    tagged("40", Kind::Bad, None, "Unknown command"),
    Line::Status {
        tag: None,
        kind: Kind::Bye,
        code: None,
        text: "Logging out",
    },
    tagged("34", Kind::Ok, None, "LOGOUT completed"),
];

const fn untagged_ok(code: CodeSpec, text: &'static str) -> Line {
    Line::Status {
        tag: None,
        kind: Kind::Ok,
        code: Some(code),
        text,
    }
}

const fn tagged(tag: &'static str, kind: Kind, code: Option<CodeSpec>, text: &'static str) -> Line {
    Line::Status {
        tag: Some(tag),
        kind,
        code,
        text,
    }
}

/// What a FETCH response reports about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message sequence number.
    pub seq: u32,
    /// The UID.
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u32,
    /// The flags, as the session keeps them (`\Seen`, `$Forwarded`).
    pub flags: Vec<String>,
    /// The `BODY[HEADER.FIELDS (...)]` data: the matching header lines and a blank line.
    pub header: Vec<u8>,
}

/// Eight messages of a folder being synced, with the header text the FETCH returns.
pub fn messages() -> Vec<Message> {
    let senders = [
        "Alice Example <alice@example.org>",
        "Bob <bob@example.net>",
        "\"Carol (Ops)\" <carol@example.com>",
        "noreply@notifications.example.com",
    ];
    let flag_sets: [&[&str]; 4] = [&["\\Seen"], &[], &["\\Seen", "\\Flagged"], &["$Forwarded"]];
    (0..8u32)
        .map(|i| {
            let header = format!(
                "From: {}\r\nTo: Bob Example <bob@example.net>\r\nSubject: Re: Quarterly report \
                 draft ({})\r\nDate: Tue, 3 Nov 2026 09:{:02}:27 +0100\r\nMessage-ID: \
                 <7c2f1e0a-3b9d-4f6e-9a51-{:012x}@example.org>\r\nReferences: \
                 <20261102171203.4f2a61c0b3@example.net>\r\nIn-Reply-To: \
                 <20261102171203.4f2a61c0b3@example.net>\r\nContent-Type: text/plain; \
                 charset=UTF-8; format=flowed\r\n\r\n",
                senders[i as usize % 4],
                i + 1,
                10 + i,
                0x2d8c_4e7b_1f03_u64 + u64::from(i),
            );
            Message {
                seq: 4380 + i,
                uid: 4385 + i,
                size: 4286 + 731 * i,
                flags: flag_sets[i as usize % 4]
                    .iter()
                    .map(|f| (*f).to_owned())
                    .collect(),
                header: header.into_bytes(),
            }
        })
        .collect()
}

/// Rampart: the `imap_proto::response` functions, and FETCH responses written as
/// `imap_proto`'s session writes them (`server/fetch.rs`).
pub mod rampart {
    use std::io::Write as _;

    use imap_proto::command::Tag;
    use imap_proto::response::{self, Code, Status};

    use super::{CodeSpec, HEADER_FIELDS, Kind, Line, Message};

    /// A response with its values built, ready to encode.
    #[derive(Debug, Clone)]
    pub enum Prepared {
        /// A status response.
        Status {
            /// The tag, `None` for untagged.
            tag: Option<Tag>,
            /// The kind.
            status: Status,
            /// The code.
            code: Option<Code>,
            /// The text.
            text: &'static str,
        },
        /// A continuation request.
        Continue(&'static str),
        /// A UID FETCH response for a header sync.
        Fetch(Message),
        /// An unsolicited FETCH of a flag change.
        FlagsUpdate(Message),
    }

    /// Builds Rampart's values for the status lines.
    pub fn prepare_status(lines: &[Line]) -> Vec<Prepared> {
        lines
            .iter()
            .map(|line| match *line {
                Line::Status {
                    tag,
                    kind,
                    code,
                    text,
                } => Prepared::Status {
                    tag: tag.map(|tag| Tag::new(tag).expect("valid tag")),
                    status: match kind {
                        Kind::Ok => Status::Ok,
                        Kind::No => Status::No,
                        Kind::Bad => Status::Bad,
                        Kind::Bye => Status::Bye,
                    },
                    code: code.map(|code| match code {
                        CodeSpec::UidValidity(n) => Code::UidValidity(n),
                        CodeSpec::UidNext(n) => Code::UidNext(n),
                        CodeSpec::ReadWrite => Code::ReadWrite,
                        CodeSpec::TryCreate => Code::TryCreate,
                    }),
                    text,
                },
                Line::Continue(text) => Prepared::Continue(text),
            })
            .collect()
    }

    /// The header-sync FETCH responses for `messages`, then flag updates for half of them.
    pub fn prepare_fetch(messages: &[Message]) -> Vec<Prepared> {
        let fetches = messages.iter().cloned().map(Prepared::Fetch);
        let updates = messages
            .iter()
            .step_by(2)
            .cloned()
            .map(Prepared::FlagsUpdate);
        fetches.chain(updates).collect()
    }

    /// Encodes every response onto `output`; the number of responses.
    pub fn encode(responses: &[Prepared], output: &mut Vec<u8>) -> usize {
        for prepared in responses {
            match prepared {
                Prepared::Status {
                    tag,
                    status,
                    code,
                    text,
                } => output.extend_from_slice(&response::status(
                    tag.as_ref(),
                    *status,
                    code.as_ref(),
                    text,
                )),
                Prepared::Continue(text) => {
                    output.extend_from_slice(&response::continuation(text));
                }
                Prepared::Fetch(message) => write_header_fetch(output, message),
                Prepared::FlagsUpdate(message) => write_flags_update(output, message),
            }
        }
        responses.len()
    }

    /// `* seq FETCH (UID n RFC822.SIZE n FLAGS (...) BODY[HEADER.FIELDS (...)] {n} ...)`,
    /// step by step as `ServerSession::write_fetch` and `write_item` do it (straight into
    /// the output, numbers through `write!`), so that the cost is the session's. Keep in
    /// step with `imap-proto/src/server/fetch.rs`.
    fn write_header_fetch(out: &mut Vec<u8>, message: &Message) {
        let _ = write!(out, "* {} FETCH (", message.seq);
        let _ = write!(out, "UID {}", message.uid);
        out.push(b' ');
        let _ = write!(out, "RFC822.SIZE {}", message.size);
        out.push(b' ');
        write_flags(out, &message.flags);
        out.push(b' ');

        // BODY[ section ] and the data, as `write_section` and `write_partial_data` do.
        out.extend_from_slice(b"BODY[HEADER.FIELDS (");
        for (i, field) in HEADER_FIELDS.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            response::write_astring(out, field.as_bytes());
        }
        out.extend_from_slice(b")] ");
        response::literal(out, &message.header);
        out.extend_from_slice(b")\r\n");
    }

    /// `* seq FETCH (UID n FLAGS (...))`, as the session's `flags_update` writes it.
    fn write_flags_update(output: &mut Vec<u8>, message: &Message) {
        let mut out = Vec::with_capacity(64);
        let _ = write!(out, "* {} FETCH (UID {} ", message.seq, message.uid);
        write_flags(&mut out, &message.flags);
        out.extend_from_slice(b")\r\n");
        output.extend_from_slice(&out);
    }

    fn write_flags(out: &mut Vec<u8>, flags: &[String]) {
        out.extend_from_slice(b"FLAGS (");
        for (i, flag) in flags.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(flag.as_bytes());
        }
        out.push(b')');
    }
}

/// The same builders and encoder for both imap-codec versions, whose imap-types APIs differ
/// here only in the name of the non-empty vector type.
macro_rules! imap_codec_encoder {
    ($(#[$doc:meta])* $module:ident, $krate:ident, $non_empty:ident) => {
        $(#[$doc])*
        pub mod $module {
            use std::num::NonZeroU32;

            use $krate::ResponseCodec;
            use $krate::encode::Encoder;
            use $krate::imap_types::core::{AString, IString, Literal, NString, $non_empty, Tag};
            use $krate::imap_types::fetch::{MessageDataItem, Section};
            use $krate::imap_types::flag::{Flag, FlagFetch};
            use $krate::imap_types::response::{
                Code, CommandContinuationRequest, Data, Response, Status,
            };

            use super::{CodeSpec, HEADER_FIELDS, Kind, Line, Message};

            /// Builds imap-types responses for the status lines.
            pub fn prepare_status(lines: &[Line]) -> Vec<Response<'static>> {
                lines.iter().map(status_response).collect()
            }

            fn status_response(line: &Line) -> Response<'static> {
                let (tag, kind, code, text) = match *line {
                    Line::Status {
                        tag,
                        kind,
                        code,
                        text,
                    } => (tag, kind, code, text),
                    Line::Continue(text) => {
                        let request = CommandContinuationRequest::basic(None, text);
                        return Response::CommandContinuationRequest(request.expect("text"));
                    }
                };
                let tag = tag.map(|tag| Tag::try_from(tag).expect("valid tag"));
                let code = code.map(|code| match code {
                    CodeSpec::UidValidity(n) => Code::UidValidity(non_zero(n)),
                    CodeSpec::UidNext(n) => Code::UidNext(non_zero(n)),
                    CodeSpec::ReadWrite => Code::ReadWrite,
                    CodeSpec::TryCreate => Code::TryCreate,
                });
                let status = match kind {
                    Kind::Ok => Status::ok(tag, code, text),
                    Kind::No => Status::no(tag, code, text),
                    Kind::Bad => Status::bad(tag, code, text),
                    Kind::Bye => Status::bye(code, text),
                };
                Response::Status(status.expect("valid text"))
            }

            /// The header-sync FETCH responses, then flag updates for half of the messages.
            pub fn prepare_fetch(messages: &[Message]) -> Vec<Response<'_>> {
                let fields: Vec<AString<'static>> = HEADER_FIELDS
                    .iter()
                    .map(|field| AString::try_from(*field).expect("atom"))
                    .collect();
                let fields = $non_empty::try_from(fields).expect("fields");

                let fetches = messages.iter().map(|message| {
                    let literal = Literal::try_from(&message.header[..]).expect("no NUL");
                    let items = vec![
                        MessageDataItem::Uid(non_zero(message.uid)),
                        MessageDataItem::Rfc822Size(message.size),
                        MessageDataItem::Flags(flags(&message.flags)),
                        MessageDataItem::BodyExt {
                            section: Some(Section::HeaderFields(None, fields.clone())),
                            origin: None,
                            data: NString(Some(IString::Literal(literal))),
                        },
                    ];
                    fetch(message.seq, items)
                });
                let updates = messages.iter().step_by(2).map(|message| {
                    let items = vec![
                        MessageDataItem::Uid(non_zero(message.uid)),
                        MessageDataItem::Flags(flags(&message.flags)),
                    ];
                    fetch(message.seq, items)
                });
                fetches.chain(updates).collect()
            }

            fn fetch(seq: u32, items: Vec<MessageDataItem<'_>>) -> Response<'_> {
                Response::Data(Data::Fetch {
                    seq: non_zero(seq),
                    items: $non_empty::try_from(items).expect("items"),
                })
            }

            fn flags(flags: &[String]) -> Vec<FlagFetch<'_>> {
                flags
                    .iter()
                    .map(|flag| FlagFetch::Flag(Flag::try_from(flag.as_str()).expect("flag")))
                    .collect()
            }

            fn non_zero(n: u32) -> NonZeroU32 {
                NonZeroU32::new(n).expect("non-zero")
            }

            /// Encodes every response onto `output`; the number of responses.
            pub fn encode(responses: &[Response<'_>], output: &mut Vec<u8>) -> usize {
                let codec = ResponseCodec::default();
                for response in responses {
                    output.extend_from_slice(&codec.encode(response).dump());
                }
                responses.len()
            }
        }
    };
}

imap_codec_encoder!(
    /// imap-codec 1.0's `ResponseCodec`.
    codec1,
    imap_codec,
    NonEmptyVec
);
imap_codec_encoder!(
    /// imap-codec 2.0.0-alpha.10's `ResponseCodec`.
    codec2,
    imap_codec_next,
    Vec1
);

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(encode: impl Fn(&mut Vec<u8>) -> usize) -> (usize, Vec<u8>) {
        let mut out = Vec::new();
        let count = encode(&mut out);
        (count, out)
    }

    #[test]
    fn all_three_write_the_same_status_lines() {
        let ours = encoded(|out| rampart::encode(&rampart::prepare_status(STATUS_LINES), out));
        let v1 = encoded(|out| codec1::encode(&codec1::prepare_status(STATUS_LINES), out));
        let v2 = encoded(|out| codec2::encode(&codec2::prepare_status(STATUS_LINES), out));
        assert_eq!(ours.0, STATUS_LINES.len());
        let text = String::from_utf8(ours.1.clone()).unwrap();
        assert!(text.starts_with("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"));
        assert!(text.contains("\r\n+ idling\r\n12 OK IDLE terminated\r\n"));
        assert!(text.contains("\r\n23 NO [TRYCREATE] Mailbox does not exist\r\n"));
        assert_eq!(ours, v1, "{text}\n{}", String::from_utf8_lossy(&v1.1));
        assert_eq!(ours, v2, "{text}\n{}", String::from_utf8_lossy(&v2.1));
    }

    #[test]
    fn all_three_write_the_same_fetch_responses() {
        let messages = messages();
        let ours = encoded(|out| rampart::encode(&rampart::prepare_fetch(&messages), out));
        let v1 = encoded(|out| codec1::encode(&codec1::prepare_fetch(&messages), out));
        let v2 = encoded(|out| codec2::encode(&codec2::prepare_fetch(&messages), out));
        assert_eq!(ours.0, 12);
        let text = String::from_utf8(ours.1.clone()).unwrap();
        let first = format!(
            "* 4380 FETCH (UID 4385 RFC822.SIZE 4286 FLAGS (\\Seen) BODY[HEADER.FIELDS ({})] \
             {{{}}}\r\nFrom: Alice",
            HEADER_FIELDS.join(" "),
            messages[0].header.len()
        );
        assert!(text.starts_with(&first), "{text}");
        assert!(text.ends_with("* 4386 FETCH (UID 4391 FLAGS (\\Seen \\Flagged))\r\n"));
        assert_eq!(ours, v1, "{text}\n{}", String::from_utf8_lossy(&v1.1));
        assert_eq!(ours, v2, "{text}\n{}", String::from_utf8_lossy(&v2.1));
    }
}
