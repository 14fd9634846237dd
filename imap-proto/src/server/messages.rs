//! The commands that go to the store, as jobs that survive across the host's answers:
//! mailbox management, APPEND, CLOSE, EXPUNGE, SEARCH, STORE, COPY and MOVE. FETCH lives in
//! `fetch`, SELECT, LIST and STATUS in `mailboxes`.

use crate::command::{CommandBody, MailboxName, SearchKey, SearchReturn, StoreKind, Tag};
use crate::mime::MimeMessage;
use crate::response::{self, Code, Status};
use crate::search::{Candidate, Context, Matcher, uses_modseq};

use super::fetch::{FetchJob, write_flags};
use super::mailboxes::{ListJob, StatusJob};
use super::{
    Answer, FlagOperation, MailboxChange, Request, ServerSession, StoreFailure, failure_code,
};

/// A command waiting for the host's answer, with what it needs to go on.
#[derive(Debug)]
pub(crate) enum Job {
    /// IDLE, waiting for DONE.
    Idle,
    /// IDLE, rereading the mailbox before sending updates.
    IdleResync,
    /// A command done except for its tagged response, rereading the mailbox first.
    Finish {
        status: Status,
        code: Option<Code>,
        text: String,
    },
    Select {
        mailbox: String,
        read_only: bool,
    },
    /// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE: one request, then OK or NO.
    Simple {
        command: &'static str,
    },
    List(ListJob),
    Status(StatusJob),
    Append {
        mailbox: String,
    },
    Close,
    Expunge {
        uid: bool,
    },
    Search(SearchJob),
    Fetch(FetchJob),
    Store(StoreJob),
    Copy {
        to: String,
        moving: bool,
        uid: bool,
    },
}

/// A SEARCH in progress: the candidates, and the matches so far.
#[derive(Debug)]
pub(crate) struct SearchJob {
    uid: bool,
    returns: Option<Vec<SearchReturn>>,
    criteria: Vec<SearchKey>,
    /// The criteria prepared once for every message.
    matcher: Matcher,
    /// Indexes into the view still to test, in reverse order (popped from the end).
    remaining: Vec<usize>,
    matched: Vec<usize>,
}

/// A STORE in progress.
#[derive(Debug)]
pub(crate) struct StoreJob {
    uid: bool,
    silent: bool,
    targets: Vec<usize>,
}

impl ServerSession {
    pub(super) fn store_command(&mut self, tag: Tag, body: CommandBody) {
        match body {
            CommandBody::Select { mailbox, condstore } => {
                self.select(tag, &mailbox, false, condstore)
            }
            CommandBody::Examine { mailbox, condstore } => {
                self.select(tag, &mailbox, true, condstore)
            }
            CommandBody::Create {
                mailbox,
                special_use,
            } => self.create(tag, &mailbox, special_use),
            CommandBody::Delete { mailbox } => {
                let Some(name) = self.store_name(&tag, &mailbox) else {
                    return;
                };
                // Deleting the selected mailbox closes it first, rather than leaving the
                // session on a mailbox that is gone.
                if self.selected() == Some(name.as_str()) {
                    self.deselect(false);
                }
                let job = Job::Simple { command: "DELETE" };
                self.request(tag, job, Request::Delete { mailbox: name });
            }
            CommandBody::Rename { from, to } => {
                let (Some(from), Some(to)) =
                    (self.store_name(&tag, &from), self.store_name(&tag, &to))
                else {
                    return;
                };
                if self.selected() == Some(from.as_str()) {
                    self.deselect(false);
                }
                let job = Job::Simple { command: "RENAME" };
                self.request(tag, job, Request::Rename { from, to });
            }
            CommandBody::Subscribe { mailbox } => self.subscribe(tag, &mailbox, true),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(tag, &mailbox, false),
            CommandBody::List {
                reference,
                patterns,
                selection,
                returns,
            } => self.list(tag, false, &reference, &patterns, selection, returns),
            CommandBody::Lsub { reference, pattern } => self.list(
                tag,
                true,
                &reference,
                &[pattern],
                Default::default(),
                Default::default(),
            ),
            CommandBody::Status { mailbox, items } => self.status(tag, &mailbox, items),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
                ..
            } => {
                let Some(mailbox) = self.store_name(&tag, &mailbox) else {
                    return;
                };
                let request = Request::Append {
                    mailbox: mailbox.clone(),
                    flags,
                    internal_date: date,
                    message,
                };
                self.request(tag, Job::Append { mailbox }, request);
            }
            CommandBody::Close => {
                let view = self
                    .view
                    .as_ref()
                    .expect("CLOSE runs in the selected state");
                if view.read_only {
                    self.deselect(false);
                    return self.finish(tag, Status::Ok, None, "CLOSE completed".into(), true);
                }
                // CLOSE expunges silently (RFC 9051 section 6.4.1).
                let mailbox = view.mailbox.clone();
                self.request(
                    tag,
                    Job::Close,
                    Request::Expunge {
                        mailbox,
                        uids: None,
                    },
                );
            }
            CommandBody::Unselect => {
                self.deselect(false);
                self.finish(tag, Status::Ok, None, "UNSELECT completed".into(), true);
            }
            CommandBody::Expunge { uids } => self.expunge(tag, uids.as_ref()),
            CommandBody::Search {
                uid,
                returns,
                charset,
                criteria,
            } => self.search(tag, uid, returns, charset, criteria),
            CommandBody::Fetch { vanished: true, .. } => {
                // VANISHED belongs to QRESYNC (RFC 7162 section 3.2.6), which is not offered.
                let text = "VANISHED needs QRESYNC, which is not offered";
                self.tagged_error(Some(&tag), Status::Bad, None, text);
            }
            CommandBody::Fetch {
                uid,
                set,
                items,
                changed_since,
                ..
            } => self.fetch(tag, uid, &set, items, changed_since),
            CommandBody::Store {
                uid,
                set,
                unchanged_since,
                kind,
                silent,
                flags,
            } => self.store(tag, uid, &set, unchanged_since, kind, silent, flags),
            CommandBody::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true),
            other => {
                let text = format!("{} is not supported", other.name());
                self.tagged_error(Some(&tag), Status::Bad, None, &text);
            }
        }
    }

    pub(super) fn resume_job(&mut self, tag: Tag, job: Job, answer: Result<Answer, StoreFailure>) {
        match job {
            Job::Select { mailbox, read_only } => {
                self.select_resume(tag, mailbox, read_only, answer)
            }
            Job::List(job) => self.list_resume(tag, job, answer),
            Job::Status(job) => self.status_resume(tag, job, answer),
            Job::Fetch(job) => self.fetch_resume(tag, job, answer),
            Job::Search(job) => self.search_resume(tag, job, answer),
            Job::Store(job) => self.store_resume(tag, job, answer),
            Job::Simple { command } => match answer {
                Ok(_) => self.finish(tag, Status::Ok, None, format!("{command} completed"), true),
                Err(failure) => {
                    let (code, text) = failure_code(&failure, false);
                    self.finish(tag, Status::No, Some(code), text, true);
                }
            },
            Job::Append { mailbox } => match answer {
                Ok(Answer::Appended { uid_validity, uid }) => {
                    // The client expects to hear of its own message in the selected
                    // mailbox before the tagged OK (RFC 9051 section 6.3.12).
                    if self.selected() == Some(mailbox.as_str()) {
                        self.resync = true;
                    }
                    let code = Code::AppendUid { uid_validity, uid };
                    self.finish(tag, Status::Ok, Some(code), "APPEND completed".into(), true);
                }
                Ok(_) => self.protocol_fault(tag),
                Err(failure) => {
                    let (code, text) = failure_code(&failure, true);
                    self.finish(tag, Status::No, Some(code), text, true);
                }
            },
            Job::Close => {
                self.deselect(false);
                match answer {
                    Ok(_) => self.finish(tag, Status::Ok, None, "CLOSE completed".into(), true),
                    Err(failure) => {
                        let (code, text) = failure_code(&failure, false);
                        self.finish(tag, Status::No, Some(code), text, true);
                    }
                }
            }
            Job::Expunge { uid } => match answer {
                Ok(Answer::Expunged(uids)) => {
                    // The session's own expunge goes through the same path as anyone's,
                    // ahead of what was queued.
                    self.changes.push_front(MailboxChange::Expunged { uids });
                    let text = if uid {
                        "UID EXPUNGE completed"
                    } else {
                        "EXPUNGE completed"
                    };
                    self.finish(tag, Status::Ok, None, text.into(), true);
                }
                Ok(_) => self.protocol_fault(tag),
                Err(failure) => {
                    let (code, text) = failure_code(&failure, false);
                    self.finish(tag, Status::No, Some(code), text, true);
                }
            },
            Job::Copy { to, moving, uid } => self.copy_resume(tag, &to, moving, uid, answer),
            Job::Idle | Job::IdleResync | Job::Finish { .. } => {
                unreachable!("handled by ServerSession::resume")
            }
        }
    }

    fn create(&mut self, tag: Tag, name: &MailboxName, special_use: Vec<String>) {
        // A trailing delimiter only says the name will have children (RFC 9051 section
        // 6.3.4); the mailbox is created without it.
        let mut raw = name.clone();
        while raw.0.len() > 1 && raw.0.ends_with(b"/") {
            raw.0.pop();
        }
        let Some(mailbox) = self.store_name(&tag, &raw) else {
            return;
        };
        if mailbox == "INBOX" {
            let code = Code::AlreadyExists;
            return self.tagged_error(Some(&tag), Status::No, Some(&code), "INBOX always exists");
        }
        let known = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"];
        let mut special = None;
        for attribute in special_use {
            match known.iter().find(|k| k.eq_ignore_ascii_case(&attribute)) {
                Some(k) if special.is_none() => special = Some((*k).to_owned()),
                // RFC 6154 section 3: USEATTR for attributes the server cannot give.
                _ => {
                    let text = "Unsupported special-use attribute";
                    return self.tagged_error(Some(&tag), Status::No, Some(&Code::Cannot), text);
                }
            }
        }
        let request = Request::Create {
            mailbox,
            special_use: special,
        };
        self.request(tag, Job::Simple { command: "CREATE" }, request);
    }

    pub(super) fn subscribe(&mut self, tag: Tag, name: &MailboxName, subscribed: bool) {
        let Some(mailbox) = self.store_name(&tag, name) else {
            return;
        };
        let command = if subscribed {
            "SUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        };
        self.request(
            tag,
            Job::Simple { command },
            Request::Subscribe {
                mailbox,
                subscribed,
            },
        );
    }

    fn read_write(&mut self, tag: &Tag) -> bool {
        let read_only = self.view.as_ref().is_some_and(|view| view.read_only);
        if read_only {
            let text = "Mailbox is read-only (EXAMINE)";
            self.tagged_error(Some(tag), Status::No, Some(&Code::ReadOnly), text);
        }
        !read_only
    }

    fn expunge(&mut self, tag: Tag, set: Option<&crate::command::SequenceSet>) {
        if !self.read_write(&tag) {
            return;
        }
        let uids = match set {
            Some(set) => {
                let Some(indexes) = self.resolve(&tag, set, true) else {
                    return;
                };
                let view = self.view.as_ref().expect("selected");
                Some(indexes.iter().map(|&i| view.messages[i].uid).collect())
            }
            None => None,
        };
        let mailbox = self.view.as_ref().expect("selected").mailbox.clone();
        let job = Job::Expunge {
            uid: uids.is_some(),
        };
        self.request(tag, job, Request::Expunge { mailbox, uids });
    }

    fn search(
        &mut self,
        tag: Tag,
        uid: bool,
        returns: Option<Vec<SearchReturn>>,
        charset: Option<String>,
        criteria: Vec<SearchKey>,
    ) {
        // Strings are compared as UTF-8, of which US-ASCII is a subset (RFC 9051 section
        // 6.4.4 requires both).
        if let Some(charset) = charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            let code = Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]);
            return self.tagged_error(Some(&tag), Status::No, Some(&code), "Unsupported charset");
        }
        if uses_modseq(&criteria) {
            self.condstore = true;
        }
        let view = self
            .view
            .as_ref()
            .expect("SEARCH runs in the selected state");
        let count = view.messages.len();
        let context = Context {
            max_seq: count as u32,
            max_uid: view.messages.last().map_or(0, |m| m.uid),
            saved: &self.saved,
        };
        let matcher = Matcher::new(&criteria, &context);
        let job = SearchJob {
            uid,
            returns,
            matcher,
            criteria,
            remaining: (0..count).rev().collect(),
            matched: Vec::new(),
        };
        self.search_step(tag, job);
    }

    fn search_resume(
        &mut self,
        tag: Tag,
        mut job: SearchJob,
        answer: Result<Answer, StoreFailure>,
    ) {
        let index = job
            .remaining
            .pop()
            .expect("a read was asked for this message");
        match answer {
            Ok(Answer::Message(raw)) => {
                let mime = MimeMessage::parse(&raw);
                if self.search_matches(&job, index, Some(&mime)) {
                    job.matched.push(index);
                }
            }
            // Gone meanwhile: it matches nothing.
            Err(StoreFailure::NotFound) => {}
            _ => {
                let text = "Message content unavailable, try again".to_owned();
                return self.finish(tag, Status::No, Some(Code::Unavailable), text, job.uid);
            }
        }
        self.search_step(tag, job);
    }

    fn search_matches(
        &self,
        job: &SearchJob,
        index: usize,
        mime: Option<&MimeMessage<'_>>,
    ) -> bool {
        let view = self.view.as_ref().expect("selected");
        let message = &view.messages[index];
        let candidate = Candidate {
            seq: index as u32 + 1,
            uid: message.uid,
            flags: &message.flags,
            internal_date: message.internal_date,
            size: message.size,
            modseq: message.modseq,
            content: mime,
        };
        job.matcher.matches(&candidate)
    }

    fn search_step(&mut self, tag: Tag, mut job: SearchJob) {
        let needs_content = job.matcher.needs_content();
        while let Some(&index) = job.remaining.last() {
            if needs_content {
                let view = self.view.as_ref().expect("selected");
                let request = Request::Read {
                    mailbox: view.mailbox.clone(),
                    uid: view.messages[index].uid,
                };
                return self.request(tag, Job::Search(job), request);
            }
            job.remaining.pop();
            if self.search_matches(&job, index, None) {
                job.matched.push(index);
            }
        }
        self.search_done(tag, job);
    }

    fn search_done(&mut self, tag: Tag, job: SearchJob) {
        let view = self.view.as_ref().expect("selected");
        let numbers: Vec<u32> = job
            .matched
            .iter()
            .map(|&i| {
                if job.uid {
                    view.messages[i].uid
                } else {
                    i as u32 + 1
                }
            })
            .collect();
        let modseq = uses_modseq(&job.criteria)
            .then(|| job.matched.iter().map(|&i| view.messages[i].modseq).max())
            .flatten();

        // IMAP4rev2 answers every SEARCH with ESEARCH; a rev1 client gets it only when it
        // asked with RETURN (RFC 9051 section 6.4.4, RFC 4731).
        let returns = match (&job.returns, self.rev2) {
            (Some(returns), _) if returns.is_empty() => Some(vec![SearchReturn::All]),
            (Some(returns), _) => Some(returns.clone()),
            (None, true) => Some(vec![SearchReturn::All]),
            (None, false) => None,
        };
        let mut line = String::new();
        match returns {
            None => {
                line.push_str("* SEARCH");
                for number in &numbers {
                    line.push_str(&format!(" {number}"));
                }
                if let Some(modseq) = modseq {
                    line.push_str(&format!(" (MODSEQ {modseq})"));
                }
                line.push_str("\r\n");
            }
            Some(returns) => {
                if returns.contains(&SearchReturn::Save) {
                    let mut saved: Vec<u32> =
                        job.matched.iter().map(|&i| view.messages[i].uid).collect();
                    saved.sort_unstable();
                    self.saved = saved;
                }
                // SAVE alone asks for no response (RFC 9051 section 6.4.4.1).
                if returns != [SearchReturn::Save] {
                    line = esearch_line(&tag, job.uid, &returns, &numbers, modseq);
                }
            }
        }
        self.output.extend_from_slice(line.as_bytes());
        let text = if job.uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        };
        self.finish(tag, Status::Ok, None, text.into(), job.uid);
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: Tag,
        uid: bool,
        set: &crate::command::SequenceSet,
        unchanged_since: Option<u64>,
        kind: StoreKind,
        silent: bool,
        flags: Vec<String>,
    ) {
        if !self.read_write(&tag) {
            return;
        }
        let Some(targets) = self.resolve(&tag, set, uid) else {
            return;
        };
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let view = self.view.as_ref().expect("selected");
        let uids: Vec<u32> = targets.iter().map(|&i| view.messages[i].uid).collect();
        if uids.is_empty() {
            return self.finish(tag, Status::Ok, None, "STORE completed".into(), uid);
        }
        let request = Request::StoreFlags {
            mailbox: view.mailbox.clone(),
            uids,
            operation: match kind {
                StoreKind::Add => FlagOperation::Add,
                StoreKind::Remove => FlagOperation::Remove,
                StoreKind::Replace => FlagOperation::Replace,
            },
            flags,
            unchanged_since,
        };
        let job = StoreJob {
            uid,
            silent,
            targets,
        };
        self.request(tag, Job::Store(job), request);
    }

    fn store_resume(&mut self, tag: Tag, job: StoreJob, answer: Result<Answer, StoreFailure>) {
        let (updated, modified) = match answer {
            Ok(Answer::FlagsStored { updated, modified }) => (updated, modified),
            Ok(_) => return self.protocol_fault(tag),
            Err(failure) => {
                let (code, text) = failure_code(&failure, false);
                return self.finish(tag, Status::No, Some(code), text, job.uid);
            }
        };

        let condstore = self.condstore;
        let view = self.view.as_mut().expect("selected");
        let mut changed = Vec::new();
        for (uid, flags, modseq) in updated {
            if let Some(index) = view.index_of(uid) {
                view.messages[index].flags = flags;
                view.messages[index].modseq = modseq;
                view.highest_modseq = view.highest_modseq.max(modseq);
                changed.push(uid);
            }
        }

        // Without .SILENT every target gets its flags; with it, CONDSTORE still wants the
        // new MODSEQ of the changed ones (RFC 7162 section 3.1.3).
        let mut out = Vec::new();
        for &index in &job.targets {
            let message = &view.messages[index];
            if modified.contains(&message.uid) {
                continue;
            }
            let was_changed = changed.contains(&message.uid);
            if job.silent && !(condstore && was_changed) {
                continue;
            }
            out.extend_from_slice(format!("* {} FETCH (", index + 1).as_bytes());
            let mut parts: Vec<Vec<u8>> = Vec::new();
            if job.uid {
                parts.push(format!("UID {}", message.uid).into_bytes());
            }
            if !job.silent {
                let mut flags = Vec::new();
                write_flags(&mut flags, &message.flags);
                parts.push(flags);
            }
            if condstore {
                parts.push(format!("MODSEQ ({})", message.modseq).into_bytes());
            }
            out.extend_from_slice(&parts.join(&b' '));
            out.extend_from_slice(b")\r\n");
        }
        self.output.extend_from_slice(&out);

        let code = (!modified.is_empty()).then(|| {
            let numbers: Vec<u32> = if job.uid {
                modified.clone()
            } else {
                modified
                    .iter()
                    .filter_map(|&uid| view.index_of(uid).map(|i| i as u32 + 1))
                    .collect()
            };
            Code::Modified(response::sequence_set(&numbers))
        });
        let text = if code.is_some() {
            "Conditional STORE failed for some messages"
        } else {
            "STORE completed"
        };
        self.finish(tag, Status::Ok, code, text.into(), job.uid);
    }

    fn copy(
        &mut self,
        tag: Tag,
        uid: bool,
        set: &crate::command::SequenceSet,
        target: &MailboxName,
        moving: bool,
    ) {
        if moving && !self.read_write(&tag) {
            return;
        }
        let Some(to) = self.store_name(&tag, target) else {
            return;
        };
        let Some(targets) = self.resolve(&tag, set, uid) else {
            return;
        };
        let view = self.view.as_ref().expect("selected");
        let uids: Vec<u32> = targets.iter().map(|&i| view.messages[i].uid).collect();
        let command = if moving { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            let text = format!("{command} completed, no messages");
            return self.finish(tag, Status::Ok, None, text, true);
        }
        let from = view.mailbox.clone();
        let request = if moving {
            Request::Move {
                from,
                uids,
                to: to.clone(),
            }
        } else {
            Request::Copy {
                from,
                uids,
                to: to.clone(),
            }
        };
        self.request(tag, Job::Copy { to, moving, uid }, request);
    }

    fn copy_resume(
        &mut self,
        tag: Tag,
        to: &str,
        moving: bool,
        uid: bool,
        answer: Result<Answer, StoreFailure>,
    ) {
        let command = if moving { "MOVE" } else { "COPY" };
        let (uid_validity, mapping) = match answer {
            Ok(Answer::Copied {
                uid_validity,
                mapping,
            }) => (uid_validity, mapping),
            Ok(_) => return self.protocol_fault(tag),
            Err(failure) => {
                let (code, text) = failure_code(&failure, true);
                return self.finish(tag, Status::No, Some(code), text, uid);
            }
        };
        if self.selected() == Some(to) {
            self.resync = true;
        }
        let source: Vec<u32> = mapping.iter().map(|&(s, _)| s).collect();
        let target: Vec<u32> = mapping.iter().map(|&(_, t)| t).collect();
        let code = (!mapping.is_empty()).then(|| Code::CopyUid {
            uid_validity,
            source: response::sequence_set(&source),
            target: response::sequence_set(&target),
        });
        if !moving {
            return self.finish(tag, Status::Ok, code, format!("{command} completed"), true);
        }

        // RFC 6851 section 4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        if let Some(code) = code {
            self.untagged(Status::Ok, Some(&code), "Moved");
        }
        self.changes
            .push_front(MailboxChange::Expunged { uids: source });
        self.finish(tag, Status::Ok, None, format!("{command} completed"), true);
    }
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [MODSEQ n]` (RFC 9051
/// section 7.3.4; RFC 7162 section 3.1.5 for MODSEQ). MIN, MAX and ALL are left out when
/// nothing matched.
fn esearch_line(
    tag: &Tag,
    uid: bool,
    returns: &[SearchReturn],
    numbers: &[u32],
    modseq: Option<u64>,
) -> String {
    let mut line = format!(
        "* ESEARCH (TAG {})",
        response::string(tag.as_str().as_bytes())
    );
    if uid {
        line.push_str(" UID");
    }
    let min = numbers.iter().min();
    let max = numbers.iter().max();
    if returns.contains(&SearchReturn::Min)
        && let Some(min) = min
    {
        line.push_str(&format!(" MIN {min}"));
    }
    if returns.contains(&SearchReturn::Max)
        && let Some(max) = max
    {
        line.push_str(&format!(" MAX {max}"));
    }
    if returns.contains(&SearchReturn::Count) {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if returns.contains(&SearchReturn::All) && !numbers.is_empty() {
        line.push_str(&format!(" ALL {}", response::sequence_set(numbers)));
    }
    if let Some(modseq) = modseq {
        line.push_str(&format!(" MODSEQ {modseq}"));
    }
    line.push_str("\r\n");
    line
}
