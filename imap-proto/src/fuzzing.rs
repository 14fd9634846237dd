//! Harnesses for the fuzz targets in `fuzz/`, kept here so that the seed corpora replay as
//! ordinary tests on the stable toolchain. Each takes arbitrary bytes and panics only when
//! an invariant breaks.

use std::time::{Duration, Instant};

use mail_auth::sasl::{MechanismName, ServerStep};

use crate::framing::{Frame, Framer};
use crate::server::{
    Answer, Event, FlagOperation, MailboxInfo, MailboxStatus, MessageInfo, Request, ServerConfig,
    ServerSession, StoreFailure,
};

/// The framer and the command parser never panic on any bytes, in any split, and the
/// framer never holds more than its bounds.
pub fn command(data: &[u8]) {
    let split = data.first().map_or(1, |&b| usize::from(b % 7) + 1);
    let mut framer = Framer::new(512, 2048, 4096);
    for chunk in data.chunks(split) {
        framer.push(chunk);
        while let Some(frame) = framer.next_command() {
            if let Frame::Command(bytes) = frame {
                assert!(
                    bytes.len() <= 4096 + 512,
                    "a command beyond its bound came out"
                );
                let _ = crate::parse::command(&bytes);
            }
        }
        assert!(
            framer.buffered() <= 4096 + 512 + chunk.len(),
            "the framer grew unbounded"
        );
    }
}

/// Every MIME view of an arbitrary message: no panic, balanced output.
pub fn mime(data: &[u8]) {
    crate::mime::fuzz_views(data);
}

/// A tiny synchronous store for the session harness: INBOX and Sent, with the messages
/// kept in memory, enough for every request to get a plausible answer.
/// One mailbox of the fake store: each message's metadata and content.
type FakeMailbox = Vec<(MessageInfo, Vec<u8>)>;

struct FakeStore {
    mailboxes: Vec<(String, FakeMailbox)>,
    uid_next: u32,
    modseq: u64,
}

impl FakeStore {
    fn new() -> Self {
        let message = |uid: u32, body: &[u8]| {
            let info = MessageInfo {
                uid,
                flags: Vec::new(),
                internal_date: 1_700_000_000,
                size: body.len() as u64,
                modseq: u64::from(uid),
            };
            (info, body.to_vec())
        };
        let inbox =
            vec![
            message(1, b"From: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n"),
            message(
                2,
                b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\npart\r\n--x--\r\n",
            ),
        ];
        Self {
            mailboxes: vec![("INBOX".into(), inbox), ("Sent".into(), Vec::new())],
            uid_next: 3,
            modseq: 10,
        }
    }

    fn mailbox(&mut self, name: &str) -> Result<&mut FakeMailbox, StoreFailure> {
        self.mailboxes
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, messages)| messages)
            .ok_or(StoreFailure::NotFound)
    }

    fn status(&mut self, name: &str) -> Result<MailboxStatus, StoreFailure> {
        let uid_next = self.uid_next;
        let highest_modseq = self.modseq;
        let messages = self.mailbox(name)?;
        Ok(MailboxStatus {
            uid_validity: 1,
            uid_next,
            highest_modseq,
            messages: messages.len() as u32,
            unseen: messages.len() as u32,
            size: messages.iter().map(|(m, _)| m.size).sum(),
        })
    }

    fn execute(&mut self, request: Request) -> Result<Answer, StoreFailure> {
        Ok(match request {
            Request::ListMailboxes => Answer::Mailboxes(
                self.mailboxes
                    .iter()
                    .map(|(name, _)| MailboxInfo {
                        name: name.clone(),
                        special_use: (name == "Sent").then(|| "\\Sent".to_owned()),
                        subscribed: true,
                    })
                    .collect(),
            ),
            Request::Select { mailbox } => Answer::Selected {
                status: self.status(&mailbox)?,
                messages: self
                    .mailbox(&mailbox)?
                    .iter()
                    .map(|(m, _)| m.clone())
                    .collect(),
            },
            Request::Status { mailbox } => Answer::Status(self.status(&mailbox)?),
            Request::Messages { mailbox } => Answer::Messages(
                self.mailbox(&mailbox)?
                    .iter()
                    .map(|(m, _)| m.clone())
                    .collect(),
            ),
            Request::Create { mailbox, .. } => {
                if self.mailboxes.len() >= 8 || self.mailbox(&mailbox).is_ok() {
                    return Err(StoreFailure::AlreadyExists);
                }
                self.mailboxes.push((mailbox, Vec::new()));
                Answer::Done
            }
            Request::Delete { mailbox } => {
                self.mailbox(&mailbox)?;
                self.mailboxes.retain(|(n, _)| *n != mailbox);
                Answer::Done
            }
            Request::Append {
                mailbox, message, ..
            } => {
                let uid = self.uid_next;
                self.uid_next += 1;
                let target = self.mailbox(&mailbox)?;
                if target.len() < 16 {
                    let info = MessageInfo {
                        uid,
                        flags: Vec::new(),
                        internal_date: 0,
                        size: message.len() as u64,
                        modseq: 1,
                    };
                    target.push((info, message));
                }
                Answer::Appended {
                    uid_validity: 1,
                    uid,
                }
            }
            Request::Read { mailbox, uid } => {
                let messages = self.mailbox(&mailbox)?;
                let found = messages.iter().find(|(m, _)| m.uid == uid);
                Answer::Message(found.ok_or(StoreFailure::NotFound)?.1.clone())
            }
            Request::StoreFlags {
                mailbox,
                uids,
                operation,
                flags,
                ..
            } => {
                self.modseq += 1;
                let modseq = self.modseq;
                let mut updated = Vec::new();
                for (info, _) in self.mailbox(&mailbox)? {
                    if !uids.contains(&info.uid) {
                        continue;
                    }
                    match operation {
                        FlagOperation::Add => info.flags.extend(flags.iter().cloned()),
                        FlagOperation::Remove => info.flags.retain(|f| !flags.contains(f)),
                        FlagOperation::Replace => info.flags = flags.clone(),
                    }
                    info.flags.sort();
                    info.flags.dedup();
                    info.modseq = modseq;
                    updated.push((info.uid, info.flags.clone(), modseq));
                }
                Answer::FlagsStored {
                    updated,
                    modified: Vec::new(),
                }
            }
            Request::Expunge { mailbox, uids } => {
                let messages = self.mailbox(&mailbox)?;
                let mut removed = Vec::new();
                messages.retain(|(info, _)| {
                    let deleted = info.flags.iter().any(|f| f == "\\Deleted")
                        && uids.as_ref().is_none_or(|uids| uids.contains(&info.uid));
                    if deleted {
                        removed.push(info.uid);
                    }
                    !deleted
                });
                Answer::Expunged(removed)
            }
            Request::Copy { from, uids, to } | Request::Move { from, uids, to } => {
                self.mailbox(&from)?;
                self.mailbox(&to)?;
                let mapping = uids.iter().map(|&uid| (uid, uid + 100)).collect();
                Answer::Copied {
                    uid_validity: 1,
                    mapping,
                }
            }
            _ => Answer::Done,
        })
    }
}

/// The session, fed arbitrary client bytes in varying splits, with every request answered
/// by a small store and every login accepted, never panics, answers every event it is owed,
/// and stays within its output bound per input.
pub fn session(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };

    let mut config = ServerConfig::new("fuzz.example");
    config.tls = control & 1 != 0;
    config.allow_plaintext = control & 2 != 0;
    config.starttls = control & 4 != 0;
    config.sasl_mechanisms = vec![MechanismName::new("PLAIN").expect("valid name")];
    config.limits.literal = 4096;
    config.limits.literal_before_login = 256;
    config.limits.command_line = 512;
    config.limits.buffered_input = 4096;
    let split = usize::from(control >> 4) + 1;

    let start = Instant::now();
    let mut session = ServerSession::new(config, start);
    let mut store = FakeStore::new();
    let mut written = 0usize;
    for (step, chunk) in input.chunks(split).enumerate() {
        let now = start + Duration::from_millis(step as u64);
        session.handle_input(chunk, now);
        for _ in 0..10_000 {
            let Some(event) = session.poll_event() else {
                break;
            };
            let result = match event {
                Event::Login { .. } => session.login_ok("fuzz@example"),
                Event::AuthStart { .. } | Event::AuthResponse(_) => {
                    session.auth_step(ServerStep::Success {
                        authorization_id: "fuzz@example".into(),
                        additional_data: None,
                    })
                }
                Event::Request(request) => {
                    let answer = store.execute(request);
                    session.answer(answer)
                }
                Event::StartTls => {
                    session.tls_established(now);
                    Ok(())
                }
                _ => Ok(()),
            };
            assert!(result.is_ok(), "an owed answer was refused");
        }
        while let Some(bytes) = session.poll_transmit() {
            written += bytes.len();
        }
        if session.is_closed() {
            break;
        }
    }

    // Output is bounded by what the store holds per command, not by anything unbounded.
    assert!(
        written <= 64 * 1024 + input.len() * 2048,
        "output grew beyond any bound"
    );
    session.handle_timeout(start + Duration::from_secs(24 * 3600));
    assert!(session.is_closed(), "a silent client must time out");
}
