//! The outbound queue: `queue/<id>.msg` holds the message, `queue/<id>.entry` its envelope
//! and delivery status, `queue/next-id` the next id to hand out.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::codec::{decode_queue_entry, encode_queue_entry, number};
use super::io::{
    clear_dir, ensure_dir, read_optional, remove_file_if_exists, sync_dir, write_atomic,
    write_synced,
};
use crate::{QueueEntry, RecipientStatus, Result, StoreError};

/// The queue in memory, mirroring `queue/`.
pub(super) struct Queue {
    dir: PathBuf,
    entries: BTreeMap<u64, QueueEntry>,
    next_id: u64,
}

impl Queue {
    /// Opens `dir`: loads every entry, and removes message files without an entry (an
    /// enqueue that crashed before its commit point, so never acknowledged).
    pub(super) fn open(dir: &Path) -> Result<Self> {
        ensure_dir(&dir.join("tmp"))?;
        clear_dir(&dir.join("tmp"))?;

        let mut entries = BTreeMap::new();
        let mut messages = Vec::new();
        for dirent in fs::read_dir(dir)? {
            let name = dirent?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".entry") {
                let entry = decode_queue_entry(&fs::read_to_string(dir.join(&name))?)?;
                entries.insert(number::<u64>(id)?, entry);
            } else if let Some(id) = name.strip_suffix(".msg") {
                messages.push(number::<u64>(id)?);
            }
        }
        for id in messages.into_iter().filter(|id| !entries.contains_key(id)) {
            remove_file_if_exists(&message_path(dir, id))?;
        }

        let stored = match read_optional(&dir.join("next-id"))? {
            Some(text) => number(text.trim())?,
            None => 1,
        };
        let after_last = entries.keys().next_back().map_or(1, |id| id + 1);
        Ok(Self {
            dir: dir.to_owned(),
            entries,
            next_id: stored.max(after_last),
        })
    }

    /// Queues a message. Steps, each durable before the next:
    ///
    /// 1. `next-id` moves past the new id, so the id is never handed out again;
    /// 2. the message goes to `tmp/`, is fsynced and renamed to `<id>.msg`;
    /// 3. the entry likewise to `<id>.entry`, then `queue/` is fsynced: the commit point.
    pub(super) fn enqueue(
        &mut self,
        sender: &str,
        recipients: &[String],
        message: &[u8],
        now: i64,
    ) -> Result<u64> {
        let id = self.next_id;
        write_atomic(&self.dir.join("next-id"), (id + 1).to_string().as_bytes())?;
        self.next_id = id + 1;

        let tmp = self.dir.join("tmp").join(format!("{id}.msg"));
        write_synced(&tmp, message)?;
        fs::rename(&tmp, message_path(&self.dir, id))?;

        let entry = QueueEntry {
            id,
            sender: sender.to_owned(),
            recipients: recipients
                .iter()
                .map(|r| (r.clone(), RecipientStatus::Pending))
                .collect(),
            next_attempt: now,
            attempts: 0,
            created: now,
        };
        self.write_entry(&entry)?;
        self.entries.insert(id, entry);
        Ok(id)
    }

    fn write_entry(&self, entry: &QueueEntry) -> Result<()> {
        let tmp = self.dir.join("tmp").join(format!("{}.entry", entry.id));
        write_synced(&tmp, encode_queue_entry(entry).as_bytes())?;
        fs::rename(&tmp, self.dir.join(format!("{}.entry", entry.id)))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Every entry in id order.
    pub(super) fn entries(&self) -> Vec<QueueEntry> {
        self.entries.values().cloned().collect()
    }

    /// Where a queued message's file is, if the entry exists.
    pub(super) fn message_path(&self, id: u64) -> Result<PathBuf> {
        self.get(id)?;
        Ok(message_path(&self.dir, id))
    }

    fn get(&self, id: u64) -> Result<&QueueEntry> {
        self.entries
            .get(&id)
            .ok_or_else(|| StoreError::NotFound(format!("queue entry {id}")))
    }

    /// Replaces an entry's status, attempts and next attempt.
    pub(super) fn update(&mut self, update: &QueueEntry) -> Result<()> {
        let mut entry = self.get(update.id)?.clone();
        entry.recipients = update.recipients.clone();
        entry.attempts = update.attempts;
        entry.next_attempt = update.next_attempt;
        self.write_entry(&entry)?;
        self.entries.insert(entry.id, entry);
        Ok(())
    }

    /// Removes an entry: the entry file first (the commit point), then the message.
    pub(super) fn dequeue(&mut self, id: u64) -> Result<()> {
        self.get(id)?;
        remove_file_if_exists(&self.dir.join(format!("{id}.entry")))?;
        remove_file_if_exists(&message_path(&self.dir, id))?;
        sync_dir(&self.dir)?;
        self.entries.remove(&id);
        Ok(())
    }
}

fn message_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.msg"))
}
