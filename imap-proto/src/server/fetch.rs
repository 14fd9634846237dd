//! FETCH (RFC 9051 section 6.4.5): which messages, the implicit `\Seen`, reading content
//! one message at a time, and writing each FETCH response.

use std::io::Write as _;

use crate::command::{FetchAttribute, Section, SectionText, SequenceSet, Tag};
use crate::mime::MimeMessage;
use crate::response::{self, Code, Status};

use super::messages::Job;
use super::{Answer, FlagOperation, MessageInfo, Request, ServerSession, StoreFailure};

/// A FETCH in progress.
#[derive(Debug)]
pub(crate) struct FetchJob {
    uid: bool,
    items: Vec<FetchAttribute>,
    /// Indexes into the view, in sequence order.
    targets: Vec<usize>,
    /// The next target to answer.
    next: usize,
    /// UIDs whose `\Seen` this FETCH set, which get FLAGS in their response.
    seen_set: Vec<u32>,
    /// Whether the `\Seen` request went out already.
    seen_done: bool,
}

impl FetchJob {
    fn needs_content(&self) -> bool {
        self.items.iter().any(|item| {
            !matches!(
                item,
                FetchAttribute::Flags
                    | FetchAttribute::Uid
                    | FetchAttribute::InternalDate
                    | FetchAttribute::Rfc822Size
                    | FetchAttribute::ModSeq
            )
        })
    }

    fn sets_seen(&self) -> bool {
        self.items.iter().any(|item| match item {
            FetchAttribute::BodySection { peek, .. } | FetchAttribute::Binary { peek, .. } => !peek,
            FetchAttribute::Rfc822 | FetchAttribute::Rfc822Text => true,
            _ => false,
        })
    }
}

impl ServerSession {
    pub(super) fn fetch(
        &mut self,
        tag: Tag,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchAttribute>,
        changed_since: Option<u64>,
    ) {
        let Some(mut targets) = self.resolve(&tag, set, uid) else {
            return;
        };
        let view = self
            .view
            .as_ref()
            .expect("FETCH runs in the selected state");

        // RFC 7162 section 3.1.4: CHANGEDSINCE narrows the set and implies MODSEQ; asking
        // for MODSEQ at all enables CONDSTORE for the session.
        if let Some(since) = changed_since {
            targets.retain(|&index| view.messages[index].modseq > since);
            self.condstore = true;
        }
        if items.contains(&FetchAttribute::ModSeq) {
            self.condstore = true;
        }
        let wants_modseq =
            changed_since.is_some() || self.condstore && items.contains(&FetchAttribute::Flags);
        if wants_modseq && !items.contains(&FetchAttribute::ModSeq) {
            items.push(FetchAttribute::ModSeq);
        }

        // RFC 9051 section 6.4.8: UID FETCH responses always carry the UID.
        if uid && !items.contains(&FetchAttribute::Uid) {
            items.insert(0, FetchAttribute::Uid);
        }

        let job = FetchJob {
            uid,
            items,
            targets,
            next: 0,
            seen_set: Vec::new(),
            seen_done: false,
        };
        self.fetch_step(tag, job);
    }

    pub(super) fn fetch_resume(
        &mut self,
        tag: Tag,
        mut job: FetchJob,
        answer: Result<Answer, StoreFailure>,
    ) {
        if !job.seen_done {
            job.seen_done = true;
            if let Ok(Answer::FlagsStored { updated, .. }) = answer {
                let view = self
                    .view
                    .as_mut()
                    .expect("FETCH runs in the selected state");
                for (uid, flags, modseq) in updated {
                    if let Some(index) = view.index_of(uid) {
                        view.messages[index].flags = flags;
                        view.messages[index].modseq = modseq;
                        view.highest_modseq = view.highest_modseq.max(modseq);
                        job.seen_set.push(uid);
                    }
                }
            }
            // A failure to set \Seen does not fail the FETCH; the data is still sent.
            self.fetch_step(tag, job);
            return;
        }

        match answer {
            Ok(Answer::Message(raw)) => {
                let index = job.targets[job.next];
                job.next += 1;
                if let Err(code) = self.write_fetch(&job, index, Some(&raw)) {
                    let text = "Content-Transfer-Encoding of the part is unknown";
                    self.finish(tag, Status::No, Some(code), text.into(), job.uid);
                    return;
                }
            }
            // Expunged by another session meanwhile: RFC 9051 section 7.5.1 lets the
            // server omit it.
            Err(StoreFailure::NotFound) => job.next += 1,
            _ => {
                let text = "Message content unavailable, try again".to_owned();
                self.finish(tag, Status::No, Some(Code::Unavailable), text, job.uid);
                return;
            }
        }
        self.fetch_step(tag, job);
    }

    fn fetch_step(&mut self, tag: Tag, mut job: FetchJob) {
        let view = self
            .view
            .as_ref()
            .expect("FETCH runs in the selected state");
        let mailbox = view.mailbox.clone();

        // The implicit \Seen of BODY[] and friends (RFC 9051 section 6.4.5), set once for
        // every target before any data goes out.
        if !job.seen_done {
            let unseen: Vec<u32> = if job.sets_seen() && !view.read_only {
                job.targets
                    .iter()
                    .map(|&index| &view.messages[index])
                    .filter(|m| !m.flags.iter().any(|f| f == "\\Seen"))
                    .map(|m| m.uid)
                    .collect()
            } else {
                Vec::new()
            };
            if !unseen.is_empty() {
                let request = Request::StoreFlags {
                    mailbox,
                    uids: unseen,
                    operation: FlagOperation::Add,
                    flags: vec!["\\Seen".to_owned()],
                    unchanged_since: None,
                };
                self.request(tag, Job::Fetch(job), request);
                return;
            }
            job.seen_done = true;
        }

        let needs_content = job.needs_content();
        while job.next < job.targets.len() {
            let index = job.targets[job.next];
            if needs_content {
                let uid = self.view.as_ref().expect("selected").messages[index].uid;
                self.request(tag, Job::Fetch(job), Request::Read { mailbox, uid });
                return;
            }
            job.next += 1;
            // Without content no item can fail.
            let _ = self.write_fetch(&job, index, None);
        }
        self.finish(tag, Status::Ok, None, "FETCH completed".into(), job.uid);
    }

    /// Writes one FETCH response. Fails only for BINARY of an unknown encoding.
    fn write_fetch(
        &mut self,
        job: &FetchJob,
        index: usize,
        raw: Option<&[u8]>,
    ) -> Result<(), Code> {
        let view = self
            .view
            .as_ref()
            .expect("FETCH runs in the selected state");
        let message = &view.messages[index];
        let mime = raw.map(MimeMessage::parse);
        let add_flags =
            job.seen_set.contains(&message.uid) && !job.items.contains(&FetchAttribute::Flags);
        let extra: &[FetchAttribute] = if add_flags {
            &[FetchAttribute::Flags]
        } else {
            &[]
        };

        // Written straight into the output; a failing item takes back what was written.
        let start = self.output.len();
        let out = &mut self.output;
        let _ = write!(out, "* {} FETCH (", index + 1);
        for (i, item) in job.items.iter().chain(extra).enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            if let Err(code) = write_item(out, item, message, raw, mime.as_ref()) {
                out.truncate(start);
                return Err(code);
            }
        }
        out.extend_from_slice(b")\r\n");
        Ok(())
    }
}

fn write_item(
    out: &mut Vec<u8>,
    item: &FetchAttribute,
    message: &MessageInfo,
    raw: Option<&[u8]>,
    mime: Option<&MimeMessage<'_>>,
) -> Result<(), Code> {
    let raw = raw.unwrap_or_default();
    match item {
        FetchAttribute::Flags => write_flags(out, &message.flags),
        FetchAttribute::Uid => {
            let _ = write!(out, "UID {}", message.uid);
        }
        FetchAttribute::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE ");
            out.extend_from_slice(response::date_time(message.internal_date).as_bytes());
        }
        FetchAttribute::Rfc822Size => {
            let _ = write!(out, "RFC822.SIZE {}", message.size);
        }
        FetchAttribute::ModSeq => {
            let _ = write!(out, "MODSEQ ({})", message.modseq);
        }
        FetchAttribute::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            if let Some(mime) = mime {
                mime.write_envelope(out);
            }
        }
        FetchAttribute::Body | FetchAttribute::BodyStructure => {
            let extensible = *item == FetchAttribute::BodyStructure;
            out.extend_from_slice(if extensible {
                b"BODYSTRUCTURE "
            } else {
                b"BODY "
            });
            if let Some(mime) = mime {
                mime.write_body_structure(out, extensible);
            }
        }
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            out.extend_from_slice(b"BODY[");
            write_section(out, section);
            out.push(b']');
            let data = mime.and_then(|mime| mime.section(section));
            write_partial_data(out, data.as_deref(), *partial, false);
        }
        FetchAttribute::Binary { part, partial, .. } => {
            out.extend_from_slice(b"BINARY[");
            write_part(out, part);
            out.push(b']');
            let data = match mime.map(|mime| mime.binary(part)) {
                Some(Err(_)) => return Err(Code::UnknownCte),
                Some(Ok(data)) => data,
                None => None,
            };
            write_partial_data(out, data.as_deref(), *partial, true);
        }
        FetchAttribute::BinarySize { part } => {
            out.extend_from_slice(b"BINARY.SIZE[");
            write_part(out, part);
            out.push(b']');
            let size = match mime.map(|mime| mime.binary(part)) {
                Some(Err(_)) => return Err(Code::UnknownCte),
                Some(Ok(data)) => data.map_or(0, |data| data.len()),
                None => 0,
            };
            let _ = write!(out, " {size}");
        }
        FetchAttribute::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            response::literal(out, raw);
        }
        FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => {
            let (name, text): (&[u8], _) = if *item == FetchAttribute::Rfc822Header {
                (b"RFC822.HEADER ", SectionText::Header)
            } else {
                (b"RFC822.TEXT ", SectionText::Text)
            };
            out.extend_from_slice(name);
            let section = Section {
                part: Vec::new(),
                text: Some(text),
            };
            let data = mime.and_then(|mime| mime.section(&section));
            response::nstring(out, data.as_deref());
        }
    }
    Ok(())
}

/// `flag-list = "(" [flag *(SP flag)] ")"`, preceded by `FLAGS `.
pub(super) fn write_flags(out: &mut Vec<u8>, flags: &[String]) {
    out.extend_from_slice(b"FLAGS (");
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(flag.as_bytes());
    }
    out.push(b')');
}

fn write_part(out: &mut Vec<u8>, part: &[u32]) {
    for (i, number) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        let _ = write!(out, "{number}");
    }
}

/// The section spec as the client asked for it, for the response's item name.
fn write_section(out: &mut Vec<u8>, section: &Section) {
    write_part(out, &section.part);
    let Some(text) = &section.text else {
        return;
    };
    if !section.part.is_empty() {
        out.push(b'.');
    }
    let (name, fields): (&[u8], Option<&Vec<String>>) = match text {
        SectionText::Header => (b"HEADER", None),
        SectionText::HeaderFields(fields) => (b"HEADER.FIELDS", Some(fields)),
        SectionText::HeaderFieldsNot(fields) => (b"HEADER.FIELDS.NOT", Some(fields)),
        SectionText::Text => (b"TEXT", None),
        SectionText::Mime => (b"MIME", None),
    };
    out.extend_from_slice(name);
    if let Some(fields) = fields {
        out.extend_from_slice(b" (");
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            response::write_astring(out, field.as_bytes());
        }
        out.push(b')');
    }
}

/// Writes ` <origin> data` for a partial fetch or ` data`, as a literal (`literal8` for
/// BINARY data containing NUL, RFC 3516 section 4.3), or NIL when there is no such section.
fn write_partial_data(
    out: &mut Vec<u8>,
    data: Option<&[u8]>,
    partial: Option<(u32, u32)>,
    binary: bool,
) {
    let data = data.map(|data| match partial {
        Some((offset, count)) => {
            let start = (offset as usize).min(data.len());
            let end = start.saturating_add(count as usize).min(data.len());
            &data[start..end]
        }
        None => data,
    });
    if let Some((offset, _)) = partial {
        let _ = write!(out, "<{offset}>");
    }
    out.push(b' ');
    match data {
        None => out.extend_from_slice(b"NIL"),
        Some(data) if binary && data.contains(&0) => {
            let _ = write!(out, "~{{{}}}\r\n", data.len());
            out.extend_from_slice(data);
        }
        Some(data) => response::literal(out, data),
    }
}

/// An unsolicited FETCH telling the client of a flag change (RFC 9051 section 7.5.2),
/// with MODSEQ once CONDSTORE is on (RFC 7162 section 3.1.4).
pub(super) fn flags_update(seq: u32, message: &MessageInfo, condstore: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let _ = write!(out, "* {seq} FETCH (UID {} ", message.uid);
    write_flags(&mut out, &message.flags);
    if condstore {
        let _ = write!(out, " MODSEQ ({})", message.modseq);
    }
    out.extend_from_slice(b")\r\n");
    out
}
