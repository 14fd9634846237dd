//! Answers a session's [`Request`]s from a [`mail_store::Store`] and watches the selected
//! mailbox: the whole of what a host needs besides sockets, TLS and credentials.
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn mail_store::Store>,
//! #              mut session: imap_proto::server::ServerSession) {
//! use imap_proto::server::Event;
//! use imap_proto::store::StoreHost;
//!
//! let mut host = StoreHost::new(store);
//! host.set_account("alice@example.org");
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         Event::Request(request) => {
//!             let answer = host.execute(request).await;
//!             session.answer(answer).unwrap();
//!         }
//!         Event::Deselected => host.deselect(),
//!         _ => { /* logins, TLS */ }
//!     }
//! }
//! # }
//! ```

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mail_store::{ChangeReceiver, Flag, Flags, NewMessage, SpecialUse, Store, StoreError};
use tokio::sync::broadcast::error::RecvError;

use crate::server::{
    Answer, FlagOperation, MailboxChange, MailboxInfo, MailboxStatus, MessageInfo, Request,
    StoreFailure,
};

/// The store side of one session: the account it acts for and the watch on its selected
/// mailbox.
pub struct StoreHost {
    store: Arc<dyn Store>,
    account: Option<String>,
    watch: Option<ChangeReceiver>,
}

impl StoreHost {
    /// A host over `store`, with no account yet.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            account: None,
            watch: None,
        }
    }

    /// Sets the account requests act for, once the session has logged in.
    pub fn set_account(&mut self, account: impl Into<String>) {
        self.account = Some(account.into());
    }

    /// Stops watching the selected mailbox ([`crate::server::Event::Deselected`]).
    pub fn deselect(&mut self) {
        self.watch = None;
    }

    /// Whether a mailbox is being watched, so that [`StoreHost::next_change`] can return.
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// The next change to the watched mailbox. Never returns while nothing is watched, so
    /// it can sit in a `select!` beside the socket.
    pub async fn next_change(&mut self) -> MailboxChange {
        let Some(watch) = self.watch.as_mut() else {
            return std::future::pending().await;
        };
        match watch.recv().await {
            Ok(change) => convert_change(change),
            Err(RecvError::Lagged(_)) => MailboxChange::Missed,
            Err(RecvError::Closed) => {
                self.watch = None;
                MailboxChange::Removed
            }
        }
    }

    /// Carries out one request.
    pub async fn execute(&mut self, request: Request) -> Result<Answer, StoreFailure> {
        let account = self.account.clone().ok_or(StoreFailure::Unavailable)?;
        let store = Arc::clone(&self.store);
        let account = account.as_str();
        let answer = match request {
            Request::ListMailboxes => {
                let entries = store.list_mailboxes(account).await.map_err(failure)?;
                Answer::Mailboxes(
                    entries
                        .into_iter()
                        .map(|entry| MailboxInfo {
                            name: entry.name,
                            special_use: entry.special_use.map(|s| s.attribute().to_owned()),
                            subscribed: entry.subscribed,
                        })
                        .collect(),
                )
            }
            Request::Select { mailbox } => {
                // Watch first, so no change between the listing and the watch is lost;
                // the session ignores changes it already knows.
                self.watch = None;
                let watch = store.watch(account, &mailbox).await.map_err(failure)?;
                let status = store
                    .mailbox_status(account, &mailbox)
                    .await
                    .map_err(failure)?;
                let messages = store.messages(account, &mailbox).await.map_err(failure)?;
                self.watch = Some(watch);
                Answer::Selected {
                    status: convert_status(status),
                    messages: messages.into_iter().map(convert_meta).collect(),
                }
            }
            Request::Status { mailbox } => {
                let status = store
                    .mailbox_status(account, &mailbox)
                    .await
                    .map_err(failure)?;
                Answer::Status(convert_status(status))
            }
            Request::Messages { mailbox } => {
                let messages = store.messages(account, &mailbox).await.map_err(failure)?;
                Answer::Messages(messages.into_iter().map(convert_meta).collect())
            }
            Request::Create {
                mailbox,
                special_use,
            } => {
                let special_use = special_use.as_deref().and_then(parse_special_use);
                store
                    .create_mailbox(account, &mailbox, special_use)
                    .await
                    .map_err(failure)?;
                Answer::Done
            }
            Request::Delete { mailbox } => {
                store
                    .delete_mailbox(account, &mailbox)
                    .await
                    .map_err(failure)?;
                Answer::Done
            }
            Request::Rename { from, to } => {
                store
                    .rename_mailbox(account, &from, &to)
                    .await
                    .map_err(failure)?;
                Answer::Done
            }
            Request::Subscribe {
                mailbox,
                subscribed,
            } => {
                store
                    .set_subscribed(account, &mailbox, subscribed)
                    .await
                    .map_err(failure)?;
                Answer::Done
            }
            Request::Append {
                mailbox,
                flags,
                internal_date,
                message,
            } => {
                let internal_date = internal_date.unwrap_or_else(unix_now);
                let message = NewMessage {
                    flags: to_store_flags(&flags),
                    internal_date,
                    data: message,
                };
                let appended = store
                    .append(account, &mailbox, message)
                    .await
                    .map_err(failure)?;
                Answer::Appended {
                    uid_validity: appended.uid_validity,
                    uid: appended.uid,
                }
            }
            Request::Read { mailbox, uid } => {
                let data = store
                    .read_message(account, &mailbox, uid, None)
                    .await
                    .map_err(failure)?;
                Answer::Message(data)
            }
            Request::StoreFlags {
                mailbox,
                uids,
                operation,
                flags,
                unchanged_since,
            } => {
                let operation = match operation {
                    FlagOperation::Add => mail_store::FlagOperation::Add,
                    FlagOperation::Remove => mail_store::FlagOperation::Remove,
                    FlagOperation::Replace => mail_store::FlagOperation::Replace,
                };
                let stored = store
                    .store_flags(
                        account,
                        &mailbox,
                        &uids,
                        operation,
                        &to_store_flags(&flags),
                        unchanged_since,
                    )
                    .await
                    .map_err(failure)?;
                Answer::FlagsStored {
                    updated: stored
                        .updated
                        .into_iter()
                        .map(|(uid, flags, modseq)| (uid, from_store_flags(&flags), modseq))
                        .collect(),
                    modified: stored.modified,
                }
            }
            Request::Expunge { mailbox, uids } => {
                let removed = store
                    .expunge(account, &mailbox, uids.as_deref())
                    .await
                    .map_err(failure)?;
                Answer::Expunged(removed)
            }
            Request::Copy { from, uids, to } => {
                let copied = store
                    .copy(account, &from, &uids, &to)
                    .await
                    .map_err(failure)?;
                Answer::Copied {
                    uid_validity: copied.uid_validity,
                    mapping: copied.mapping,
                }
            }
            Request::Move { from, uids, to } => {
                let moved = store
                    .move_messages(account, &from, &uids, &to)
                    .await
                    .map_err(failure)?;
                Answer::Copied {
                    uid_validity: moved.uid_validity,
                    mapping: moved.mapping,
                }
            }
        };
        Ok(answer)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Maps a store error to what the session tells the client.
pub fn failure(error: StoreError) -> StoreFailure {
    match error {
        StoreError::NotFound(_) => StoreFailure::NotFound,
        StoreError::AlreadyExists(_) => StoreFailure::AlreadyExists,
        StoreError::OverQuota => StoreFailure::OverQuota,
        StoreError::Conflict(reason) | StoreError::Invalid(reason) => StoreFailure::Cannot(reason),
        _ => StoreFailure::Unavailable,
    }
}

fn parse_special_use(attribute: &str) -> Option<SpecialUse> {
    SpecialUse::DEFAULTS
        .iter()
        .map(|&(_, special)| special)
        .find(|special| special.attribute().eq_ignore_ascii_case(attribute))
}

fn to_store_flags(flags: &[String]) -> Flags {
    flags.iter().filter_map(|flag| Flag::parse(flag)).collect()
}

fn from_store_flags(flags: &Flags) -> Vec<String> {
    flags.iter().map(ToString::to_string).collect()
}

fn convert_status(status: mail_store::MailboxStatus) -> MailboxStatus {
    MailboxStatus {
        uid_validity: status.uid_validity,
        uid_next: status.uid_next,
        highest_modseq: status.highest_modseq,
        messages: status.messages,
        unseen: status.unseen,
        size: status.size,
    }
}

fn convert_meta(meta: mail_store::MessageMeta) -> MessageInfo {
    MessageInfo {
        uid: meta.uid,
        flags: from_store_flags(&meta.flags),
        internal_date: meta.internal_date,
        size: meta.size,
        modseq: meta.modseq,
    }
}

fn convert_change(change: mail_store::Change) -> MailboxChange {
    match change {
        mail_store::Change::Appended { uid } => MailboxChange::Appended { uid },
        mail_store::Change::Expunged { uids } => MailboxChange::Expunged { uids },
        mail_store::Change::FlagsChanged { uid, flags, modseq } => MailboxChange::FlagsChanged {
            uid,
            flags: from_store_flags(&flags),
            modseq,
        },
        mail_store::Change::Removed => MailboxChange::Removed,
        _ => MailboxChange::Missed,
    }
}
