//! Commands about mailboxes rather than messages: SELECT and EXAMINE, LIST and LSUB with
//! their RFC 9051 options, STATUS.

use crate::command::{ListReturn, ListSelection, MailboxName, StatusItem, Tag};
use crate::mailbox::{self, Pattern};
use crate::response::{self, Code, Status};

use super::messages::Job;
use super::{
    Answer, Event, MailboxInfo, MailboxStatus, MessageInfo, Request, ServerSession, State,
    StoreFailure, View, failure_code,
};

/// The flags every mailbox takes (RFC 9051 section 2.3.2); keywords come on top.
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// A LIST or LSUB in progress.
#[derive(Debug)]
pub(crate) struct ListJob {
    lsub: bool,
    reference: String,
    patterns: Vec<String>,
    selection: ListSelection,
    returns: ListReturn,
    /// With RETURN (STATUS ...): the mailboxes still to report, with their LIST line.
    queue: Vec<(String, Vec<u8>)>,
}

/// A STATUS in progress.
#[derive(Debug)]
pub(crate) struct StatusJob {
    mailbox: String,
    items: Vec<StatusItem>,
    status: Option<MailboxStatus>,
}

impl ServerSession {
    /// Leaves the selected mailbox, if any, telling the client with `[CLOSED]` when
    /// another one is being selected (RFC 9051 section 6.3.2).
    pub(super) fn deselect(&mut self, announce: bool) {
        if self.view.take().is_some() {
            self.events.push_back(Event::Deselected);
            if announce {
                self.untagged(
                    Status::Ok,
                    Some(&Code::Closed),
                    "Previous mailbox is now closed",
                );
            }
        }
        self.changes.clear();
        self.resync = false;
        self.arrived = false;
        self.saved.clear();
        if self.state == State::Selected {
            self.state = State::Authenticated;
        }
    }

    pub(super) fn select(
        &mut self,
        tag: Tag,
        name: &MailboxName,
        read_only: bool,
        condstore: bool,
    ) {
        let Some(mailbox) = self.store_name(&tag, name) else {
            return;
        };
        if condstore {
            self.condstore = true;
        }
        self.deselect(true);
        let job = Job::Select {
            mailbox: mailbox.clone(),
            read_only,
        };
        self.request(tag, job, Request::Select { mailbox });
    }

    pub(super) fn select_resume(
        &mut self,
        tag: Tag,
        mailbox: String,
        read_only: bool,
        answer: Result<Answer, StoreFailure>,
    ) {
        let (status, messages) = match answer {
            Ok(Answer::Selected { status, messages }) => (status, messages),
            Ok(_) => return self.protocol_fault(tag),
            Err(failure) => {
                // The host may have started watching; a failed SELECT leaves nothing
                // selected (RFC 9051 section 6.3.2).
                self.events.push_back(Event::Deselected);
                let (code, text) = failure_code(&failure, false);
                return self.finish(tag, Status::No, Some(code), text, true);
            }
        };

        let mut out = format!("* {} EXISTS\r\n", messages.len());
        if self.rev2 {
            // RFC 9051 section 6.3.2: a LIST response names the selected mailbox. Its
            // attributes would need another request; none is a valid, if terse, answer.
            out.push_str(&format!(
                "* LIST () \"/\" {}\r\n",
                self.client_name(&mailbox)
            ));
        } else {
            out.push_str("* 0 RECENT\r\n");
        }
        let keywords = keywords_in_use(&messages);
        out.push_str(&format!("* FLAGS ({SYSTEM_FLAGS}{keywords})\r\n"));
        self.output.extend_from_slice(out.as_bytes());
        let permanent = if read_only {
            String::new()
        } else {
            format!("{SYSTEM_FLAGS}{keywords} \\*")
        };
        self.untagged(
            Status::Ok,
            Some(&Code::PermanentFlags(permanent)),
            "Flags permitted",
        );
        self.untagged(
            Status::Ok,
            Some(&Code::UidValidity(status.uid_validity)),
            "UIDs valid",
        );
        self.untagged(
            Status::Ok,
            Some(&Code::UidNext(status.uid_next)),
            "Predicted next UID",
        );
        let modseq = Code::HighestModSeq(status.highest_modseq);
        self.untagged(Status::Ok, Some(&modseq), "Highest modification sequence");
        if !self.rev2
            && let Some(first) = messages
                .iter()
                .position(|m| !m.flags.iter().any(|f| f == "\\Seen"))
        {
            let code = Code::Unseen(first as u32 + 1);
            self.untagged(Status::Ok, Some(&code), "First unseen message");
        }

        self.view = Some(View {
            mailbox,
            read_only,
            uid_next: status.uid_next,
            highest_modseq: status.highest_modseq,
            messages,
        });
        self.state = State::Selected;
        let (code, text) = if read_only {
            (Code::ReadOnly, "EXAMINE completed")
        } else {
            (Code::ReadWrite, "SELECT completed")
        };
        self.finish(tag, Status::Ok, Some(code), text.into(), true);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn list(
        &mut self,
        tag: Tag,
        lsub: bool,
        reference: &MailboxName,
        patterns: &[MailboxName],
        selection: ListSelection,
        mut returns: ListReturn,
    ) {
        let decode = |name: &MailboxName| -> Option<String> {
            if self.rev2 {
                String::from_utf8(name.0.clone()).ok()
            } else {
                mailbox::decode_utf7(&name.0).ok()
            }
        };
        let Some(reference) = decode(reference) else {
            return self.tagged_error(Some(&tag), Status::Bad, None, "Invalid reference name");
        };
        let Some(patterns) = patterns.iter().map(decode).collect::<Option<Vec<_>>>() else {
            return self.tagged_error(Some(&tag), Status::Bad, None, "Invalid mailbox pattern");
        };

        // RFC 9051 section 6.3.9: an empty pattern asks for the delimiter and the root.
        if !lsub && patterns.iter().all(String::is_empty) {
            self.output
                .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return self.finish(tag, Status::Ok, None, "LIST completed".into(), true);
        }

        // RFC 9051 section 6.3.9.1: the SUBSCRIBED selection implies the SUBSCRIBED return.
        if selection.subscribed {
            returns.subscribed = true;
        }
        let job = ListJob {
            lsub,
            reference,
            patterns,
            selection,
            returns,
            queue: Vec::new(),
        };
        self.request(tag, Job::List(job), Request::ListMailboxes);
    }

    pub(super) fn list_resume(
        &mut self,
        tag: Tag,
        mut job: ListJob,
        answer: Result<Answer, StoreFailure>,
    ) {
        let command = if job.lsub { "LSUB" } else { "LIST" };
        if job.queue.is_empty() {
            // The first answer: the mailbox list.
            let mailboxes = match answer {
                Ok(Answer::Mailboxes(mailboxes)) => mailboxes,
                Ok(_) => return self.protocol_fault(tag),
                Err(failure) => {
                    let (code, text) = failure_code(&failure, false);
                    return self.finish(tag, Status::No, Some(code), text, true);
                }
            };
            let lines = self.list_lines(&job, &mailboxes);
            if job.returns.status.is_none() {
                for (_, line) in lines {
                    self.output.extend_from_slice(&line);
                }
                return self.finish(tag, Status::Ok, None, format!("{command} completed"), true);
            }
            job.queue = lines;
            job.queue.reverse();
        } else {
            // A STATUS answer for the mailbox at the end of the queue.
            let (name, line) = job.queue.pop().expect("the queue is not empty");
            self.output.extend_from_slice(&line);
            if let Ok(Answer::Status(status)) = answer {
                let items = job.returns.status.clone().unwrap_or_default();
                let status_line = self.status_line(&name, &items, &status, None);
                self.output.extend_from_slice(&status_line);
            }
        }

        // RETURN (STATUS ...): each LIST line, then the STATUS of that mailbox (RFC 5819),
        // skipping the non-existent ones.
        while let Some((name, line)) = job.queue.last() {
            if name.is_empty() {
                self.output.extend_from_slice(line);
                job.queue.pop();
                continue;
            }
            let mailbox = name.clone();
            return self.request(tag, Job::List(job), Request::Status { mailbox });
        }
        self.finish(tag, Status::Ok, None, format!("{command} completed"), true);
    }

    /// The LIST (or LSUB) responses for the matching mailboxes, each with its store name
    /// (empty for a name that exists only as a parent of others).
    fn list_lines(&self, job: &ListJob, mailboxes: &[MailboxInfo]) -> Vec<(String, Vec<u8>)> {
        let patterns: Vec<Pattern> = job
            .patterns
            .iter()
            .map(|pattern| Pattern::new(&job.reference, pattern))
            .collect();
        let matches = |name: &str| patterns.iter().any(|p| p.matches(name));
        let has_children = |name: &str| {
            let prefix = format!("{name}/");
            mailboxes.iter().any(|m| m.name.starts_with(&prefix))
        };

        let mut names: Vec<(String, Option<&MailboxInfo>)> = Vec::new();
        for info in mailboxes {
            let wanted = if job.lsub || job.selection.subscribed {
                info.subscribed
            } else {
                true
            };
            let wanted = wanted && (!job.selection.special_use || info.special_use.is_some());
            if wanted && matches(&info.name) {
                names.push((info.name.clone(), Some(info)));
            }

            // A parent that is not a mailbox itself still matches `%` patterns
            // (RFC 9051 section 6.3.9: \NonExistent with \HasChildren).
            let mut parent = info.name.as_str();
            while let Some(end) = parent.rfind('/') {
                parent = &parent[..end];
                let exists = mailboxes.iter().any(|m| m.name == parent);
                let listed = names.iter().any(|(n, _)| n == parent);
                // Only when the child itself is not listed: with `*` it is, which says enough.
                let child_listed = matches(&info.name);
                if !exists
                    && !listed
                    && !child_listed
                    && !job.selection.subscribed
                    && matches(parent)
                {
                    names.push((parent.to_owned(), None));
                }
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));

        let command = if job.lsub { "LSUB" } else { "LIST" };
        names
            .into_iter()
            .map(|(name, info)| {
                let mut attributes: Vec<&str> = Vec::new();
                match info {
                    None => attributes.extend(if self.rev2 {
                        ["\\NonExistent", "\\HasChildren"]
                    } else {
                        ["\\Noselect", "\\HasChildren"]
                    }),
                    Some(info) => {
                        if !job.lsub {
                            attributes.push(if has_children(&info.name) {
                                "\\HasChildren"
                            } else {
                                "\\HasNoChildren"
                            });
                        }
                        if info.subscribed && job.returns.subscribed {
                            attributes.push("\\Subscribed");
                        }
                        // Special-use attributes go out always (RFC 6154 section 2 allows
                        // it), since clients such as Thunderbird find Sent and Trash so.
                        if let Some(special) = &info.special_use {
                            attributes.push(special);
                        }
                    }
                }
                let line = format!(
                    "* {command} ({}) \"/\" {}\r\n",
                    attributes.join(" "),
                    self.client_name(&name)
                );
                let status_name = if info.is_some() { name } else { String::new() };
                (status_name, line.into_bytes())
            })
            .collect()
    }

    pub(super) fn status(&mut self, tag: Tag, name: &MailboxName, items: Vec<StatusItem>) {
        let Some(mailbox) = self.store_name(&tag, name) else {
            return;
        };
        let job = StatusJob {
            mailbox: mailbox.clone(),
            items,
            status: None,
        };
        self.request(tag, Job::Status(job), Request::Status { mailbox });
    }

    pub(super) fn status_resume(
        &mut self,
        tag: Tag,
        mut job: StatusJob,
        answer: Result<Answer, StoreFailure>,
    ) {
        let deleted = match answer {
            Ok(Answer::Status(status)) => {
                // DELETED needs the flags of every message, which only a listing has.
                if job.items.contains(&StatusItem::Deleted) {
                    job.status = Some(status);
                    let mailbox = job.mailbox.clone();
                    return self.request(tag, Job::Status(job), Request::Messages { mailbox });
                }
                job.status = Some(status);
                None
            }
            Ok(Answer::Messages(messages)) => Some(
                messages
                    .iter()
                    .filter(|m| m.flags.iter().any(|f| f == "\\Deleted"))
                    .count() as u32,
            ),
            Ok(_) => return self.protocol_fault(tag),
            Err(failure) => {
                let (code, text) = failure_code(&failure, false);
                return self.finish(tag, Status::No, Some(code), text, true);
            }
        };
        let status = job.status.expect("the STATUS answer came first");
        if job.items.contains(&StatusItem::HighestModSeq) {
            self.condstore = true;
        }
        let line = self.status_line(&job.mailbox, &job.items, &status, deleted);
        self.output.extend_from_slice(&line);
        self.finish(tag, Status::Ok, None, "STATUS completed".into(), true);
    }

    /// `* STATUS mailbox (items)` (RFC 9051 section 7.3.4).
    fn status_line(
        &self,
        mailbox: &str,
        items: &[StatusItem],
        status: &MailboxStatus,
        deleted: Option<u32>,
    ) -> Vec<u8> {
        let values: Vec<String> = items
            .iter()
            .filter_map(|item| {
                Some(match item {
                    StatusItem::Messages => format!("MESSAGES {}", status.messages),
                    StatusItem::UidNext => format!("UIDNEXT {}", status.uid_next),
                    StatusItem::UidValidity => format!("UIDVALIDITY {}", status.uid_validity),
                    StatusItem::Unseen => format!("UNSEEN {}", status.unseen),
                    StatusItem::Deleted => format!("DELETED {}", deleted?),
                    StatusItem::Size => format!("SIZE {}", status.size),
                    StatusItem::Recent => "RECENT 0".to_owned(),
                    StatusItem::HighestModSeq => {
                        format!("HIGHESTMODSEQ {}", status.highest_modseq)
                    }
                })
            })
            .collect();
        format!(
            "* STATUS {} ({})\r\n",
            self.client_name(mailbox),
            values.join(" ")
        )
        .into_bytes()
    }

    /// The host answered with the wrong kind of [`Answer`]: a bug in the host, reported
    /// to the client as a server fault rather than a panic.
    pub(super) fn protocol_fault(&mut self, tag: Tag) {
        let text = "Internal error: unexpected answer from the store".to_owned();
        self.finish(tag, Status::No, Some(Code::ServerBug), text, true);
    }
}

/// The keywords set on any message, each preceded by a space, for FLAGS and PERMANENTFLAGS.
fn keywords_in_use(messages: &[MessageInfo]) -> String {
    let mut keywords: Vec<&str> = messages
        .iter()
        .flat_map(|m| m.flags.iter())
        .filter(|flag| !flag.starts_with('\\'))
        .map(String::as_str)
        .collect();
    keywords.sort_unstable();
    keywords.dedup();
    keywords
        .iter()
        .map(|keyword| format!(" {}", response::astring(keyword.as_bytes())))
        .collect()
}
