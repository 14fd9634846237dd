//! One Maildir folder and its UID index: the snapshot (`rampart-uidlist`), the append-only
//! journal (`rampart-journal`), replay and recovery on open, and compaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::codec::{
    check_journal_line, corrupted, flags_field, journal_line, maildir_info, number, parse_flags,
};
use super::io::{
    remove_file_if_exists, run_tag, sync_dir, unique_name, write_atomic, write_synced,
};
use crate::{Flag, StoreError};
use crate::{FlagOperation, Flags, FlagsStored, MailboxStatus, MessageMeta, Result, SpecialUse};

/// The index snapshot's file name, beside `cur/`, `new/` and `tmp/`.
pub(super) const UIDLIST: &str = "rampart-uidlist";

/// The index journal's file name.
pub(super) const JOURNAL: &str = "rampart-journal";

/// The snapshot's first line; the number is the format version.
const UIDLIST_MAGIC: &str = "rampart-uidlist 1";

/// The Maildir specification's age after which a file left in `tmp/` is garbage.
const TMP_MAX_AGE: Duration = Duration::from_secs(36 * 3600);

/// What the index keeps about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Modification sequence of its last change.
    pub(super) modseq: u64,
    /// Internal date, seconds since the epoch.
    pub(super) internal_date: i64,
    /// Size in octets.
    pub(super) size: u64,
    /// Flags (the index is the truth; the file name's letters follow it).
    pub(super) flags: Flags,
    /// The Maildir unique name, without the `:2,` info.
    pub(super) base: String,
}

impl Entry {
    /// The file's name in `cur/`.
    pub(super) fn file_name(&self) -> String {
        format!("{}{}", self.base, maildir_info(&self.flags))
    }

    fn meta(&self, uid: u32) -> MessageMeta {
        MessageMeta {
            uid,
            flags: self.flags.clone(),
            internal_date: self.internal_date,
            size: self.size,
            modseq: self.modseq,
        }
    }
}

/// The counters and attributes at the top of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// UIDVALIDITY.
    pub(super) uid_validity: u32,
    /// UIDNEXT.
    pub(super) uid_next: u32,
    /// HIGHESTMODSEQ.
    pub(super) highest_modseq: u64,
    /// Which journal belongs to this snapshot (see [`Mailbox::compact`]).
    pub(super) generation: u64,
    /// Whether the user subscribed.
    pub(super) subscribed: bool,
    /// The special use.
    pub(super) special_use: Option<SpecialUse>,
}

impl Header {
    /// The header of a new, empty mailbox.
    pub(super) fn new(
        uid_validity: u32,
        special_use: Option<SpecialUse>,
        subscribed: bool,
    ) -> Self {
        Self {
            uid_validity,
            uid_next: 1,
            highest_modseq: 1,
            generation: 1,
            subscribed,
            special_use,
        }
    }
}

/// A message to add to the index whose file is already durable in `new/`.
pub(super) struct Incoming {
    /// Its unique name in `new/`.
    pub(super) base: String,
    /// Initial flags.
    pub(super) flags: Flags,
    /// Internal date.
    pub(super) internal_date: i64,
    /// Size in octets.
    pub(super) size: u64,
}

/// An open mailbox: its index in memory and its journal open for appending.
pub(super) struct Mailbox {
    dir: PathBuf,
    header: Header,
    messages: BTreeMap<u32, Entry>,
    total_size: u64,
    journal: File,
    journal_records: usize,
    compact_after: usize,
    /// Set when a journal write or a compaction failed halfway: the file on disk may then
    /// differ from memory, so the mailbox must be opened again before further use.
    pub(super) broken: bool,
}

impl Mailbox {
    /// Lays out a new mailbox in `dir` (a scratch directory the caller renames into place),
    /// with `messages` already indexed (their files must be in `cur/` already).
    pub(super) fn create(
        dir: &Path,
        header: Header,
        messages: &BTreeMap<u32, Entry>,
    ) -> Result<()> {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        write_synced(&dir.join(UIDLIST), snapshot(&header, messages).as_bytes())?;
        write_synced(
            &dir.join(JOURNAL),
            journal_header(header.generation).as_bytes(),
        )?;

        // The directory entries must be durable before the caller's rename publishes them.
        sync_dir(&dir.join("cur"))?;
        Ok(sync_dir(dir)?)
    }

    /// Opens the mailbox in `dir`: reads the snapshot, replays the journal (ignoring a torn
    /// last line), adopts files that reached `new/` without an index entry, and cleans
    /// `tmp/`. Message files are never read.
    pub(super) fn open(dir: &Path, compact_after: usize) -> Result<Self> {
        let text = fs::read_to_string(dir.join(UIDLIST))?;
        let (header, messages) = parse_snapshot(&text)?;
        let total_size = messages.values().map(|e| e.size).sum();
        let journal = OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(JOURNAL))?;
        let mut mailbox = Self {
            dir: dir.to_owned(),
            header,
            messages,
            total_size,
            journal,
            journal_records: 0,
            compact_after,
            broken: false,
        };

        let expunged = mailbox.replay_journal()?;
        mailbox.finish_expunges(&expunged);
        mailbox.recover_new()?;
        mailbox.clean_tmp()?;
        Ok(mailbox)
    }

    /// The header as it stands.
    pub(super) fn header(&self) -> Header {
        self.header
    }

    /// Messages in UID order.
    pub(super) fn entries(&self) -> &BTreeMap<u32, Entry> {
        &self.messages
    }

    /// Octets of all messages.
    pub(super) fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The counters for STATUS and SELECT.
    pub(super) fn status(&self) -> MailboxStatus {
        let unseen = self
            .messages
            .values()
            .filter(|e| !e.flags.contains(&Flag::Seen));
        MailboxStatus {
            uid_validity: self.header.uid_validity,
            uid_next: self.header.uid_next,
            highest_modseq: self.header.highest_modseq,
            messages: count(self.messages.len()),
            unseen: count(unseen.count()),
            size: self.total_size,
        }
    }

    /// Every message's metadata, from the index alone.
    pub(super) fn metas(&self) -> Vec<MessageMeta> {
        self.messages.iter().map(|(&uid, e)| e.meta(uid)).collect()
    }

    /// Replays the journal over the snapshot. Returns the file names of messages expunged
    /// since the snapshot, whose unlinking may not have happened before a crash.
    fn replay_journal(&mut self) -> Result<Vec<(String, String)>> {
        let path = self.dir.join(JOURNAL);
        let bytes = fs::read(&path)?;
        let mut lines = Lines::new(&bytes);

        // A journal of another generation is one that a compaction already folded into the
        // snapshot (it crashed before replacing the journal): start a new one.
        let generation = lines.next_valid().and_then(parse_journal_header);
        if generation != Some(self.header.generation) {
            if generation.is_some_and(|g| g > self.header.generation) {
                return Err(corrupted(format!(
                    "{}: journal newer than index",
                    path.display()
                )));
            }
            self.reset_journal()?;
            return Ok(Vec::new());
        }

        let mut expunged = Vec::new();
        while let Some(body) = lines.next_valid() {
            self.apply(body, &mut expunged)?;
            self.journal_records += 1;
        }

        // Whatever follows the last valid line is a write torn by a crash (a prefix of a
        // line, or zeros the filesystem allocated). Its append never returned, so it is cut
        // off; otherwise the next record would be glued to it and lost on the next replay.
        if lines.valid_end < bytes.len() {
            if lines.any_valid_after() {
                return Err(corrupted(format!("{}: damaged line", path.display())));
            }
            self.journal.set_len(lines.valid_end as u64)?;
            self.journal.sync_data()?;
        }
        Ok(expunged)
    }

    /// Applies one journal record to memory.
    fn apply(&mut self, body: &str, expunged: &mut Vec<(String, String)>) -> Result<()> {
        let bad = || corrupted(format!("journal record {body:?}"));
        let fields: Vec<&str> = body.split('\t').collect();
        match fields.as_slice() {
            ["A", uid, modseq, date, size, flags, base] => {
                let uid: u32 = number(uid)?;
                let entry = Entry {
                    modseq: number(modseq)?,
                    internal_date: number(date)?,
                    size: number(size)?,
                    flags: parse_flags(flags)?,
                    base: (*base).to_owned(),
                };
                self.insert(uid, entry);
            }
            ["F", uid, modseq, flags] => {
                let modseq = number(modseq)?;
                let flags = parse_flags(flags)?;
                if let Some(entry) = self.messages.get_mut(&number(uid)?) {
                    entry.flags = flags;
                    entry.modseq = modseq;
                }
                self.header.highest_modseq = self.header.highest_modseq.max(modseq);
            }
            ["X", modseq, uids] => {
                for uid in uids.split(',') {
                    if let Some(entry) = self.remove(number(uid)?) {
                        expunged.push((entry.file_name(), entry.base));
                    }
                }
                self.header.highest_modseq = self.header.highest_modseq.max(number(modseq)?);
            }
            ["S", subscribed] => self.header.subscribed = *subscribed == "1",
            _ => return Err(bad()),
        }
        Ok(())
    }

    fn insert(&mut self, uid: u32, entry: Entry) {
        self.header.uid_next = self.header.uid_next.max(uid.saturating_add(1));
        self.header.highest_modseq = self.header.highest_modseq.max(entry.modseq);
        self.total_size += entry.size;
        if let Some(old) = self.messages.insert(uid, entry) {
            self.total_size -= old.size;
        }
    }

    fn remove(&mut self, uid: u32) -> Option<Entry> {
        let entry = self.messages.remove(&uid)?;
        self.total_size -= entry.size;
        Some(entry)
    }

    /// Unlinks the files of expunged messages. The journal record came first, so a crash
    /// between the two leaves only a file that no index entry names; replay repeats this.
    fn finish_expunges(&self, expunged: &[(String, String)]) {
        for (name, base) in expunged {
            // Best effort: a leftover file is invisible (no index entry names it).
            let _ = remove_file_if_exists(&self.dir.join("cur").join(name));
            let _ = remove_file_if_exists(&self.dir.join("new").join(base));
        }
    }

    /// Indexes the files in `new/`: ours whose journal record is durable are moved on to
    /// `cur/`; the others (an append that crashed after its file became durable but before
    /// its record did, or mail another program delivered in the Maildir way) are adopted
    /// with new UIDs. Either way the file is complete: only fsynced files leave `tmp/`.
    fn recover_new(&mut self) -> Result<()> {
        let mut names = Vec::new();
        for dirent in fs::read_dir(self.dir.join("new"))? {
            let dirent = dirent?;
            // A file of this run may be an append between its steps 2 and 3 (the mailbox
            // opened meanwhile); it is indexed by that append, not adopted.
            let name = dirent.file_name().into_string().ok();
            let name = name.filter(|name| !name.contains(run_tag()));
            if dirent.file_type()?.is_file() {
                names.extend(name);
            }
        }
        if names.is_empty() {
            return Ok(());
        }

        let indexed: HashSet<&str> = self.messages.values().map(|e| e.base.as_str()).collect();
        let (known, unknown): (Vec<String>, Vec<String>) = names
            .into_iter()
            .partition(|name| indexed.contains(name.as_str()));
        for name in known {
            let entry = self.messages.values().find(|e| e.base == name);
            let entry = entry.expect("partitioned by membership in the index");
            let _ = fs::rename(self.dir.join("new").join(&name), self.cur_path(entry));
        }

        let mut incoming = Vec::new();
        for name in unknown {
            incoming.push(self.adoptable(name)?);
        }
        incoming.sort_by(|a, b| (a.internal_date, &a.base).cmp(&(b.internal_date, &b.base)));
        self.commit_appends(incoming)?;
        Ok(())
    }

    /// An unindexed file in `new/`, described from its directory entry alone.
    fn adoptable(&self, name: String) -> Result<Incoming> {
        let metadata = fs::metadata(self.dir.join("new").join(&name))?;
        let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
        let internal_date = modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();

        // A base name must not hold the info separator or our field separator.
        let mut base = name;
        if base.contains([':', '\t', ' ']) {
            let clean = unique_name(Some(metadata.len()));
            fs::rename(
                self.dir.join("new").join(&base),
                self.dir.join("new").join(&clean),
            )?;
            base = clean;
        }
        Ok(Incoming {
            base,
            flags: Flags::new(),
            internal_date: i64::try_from(internal_date).unwrap_or(i64::MAX),
            size: metadata.len(),
        })
    }

    /// Removes what unfinished appends left in `tmp/`: files of an earlier run at once
    /// (this process owns the store, so nobody is still writing them), foreign ones after
    /// the Maildir specification's 36 hours.
    fn clean_tmp(&self) -> Result<()> {
        for dirent in fs::read_dir(self.dir.join("tmp"))? {
            let dirent = dirent?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            if name.contains(run_tag()) {
                continue;
            }
            let ours = name.contains(".rampart");
            let modified = dirent.metadata()?.modified().unwrap_or(UNIX_EPOCH);
            let stale = modified.elapsed().is_ok_and(|age| age > TMP_MAX_AGE);
            if ours || stale {
                remove_file_if_exists(&dirent.path())?;
            }
        }
        Ok(())
    }

    /// Writes records to the journal and fsyncs it: the commit point of every change.
    fn log(&mut self, bodies: &[String]) -> Result<()> {
        let text: String = bodies.iter().map(|body| journal_line(body)).collect();
        let written = self
            .journal
            .write_all(text.as_bytes())
            .and_then(|()| self.journal.sync_data());
        if let Err(e) = written {
            // The journal may now end in a partial line, or hold a line whose durability
            // is unknown; memory still shows the last durable state. Reopening repairs both.
            self.broken = true;
            return Err(e.into());
        }
        self.journal_records += bodies.len();
        Ok(())
    }

    /// Indexes messages whose files are durable in `new/`, then moves them to `cur/`.
    /// Returns their UIDs.
    pub(super) fn commit_appends(&mut self, incoming: Vec<Incoming>) -> Result<Vec<u32>> {
        if incoming.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.header.uid_next;
        let last = u32::try_from(incoming.len())
            .ok()
            .and_then(|n| first.checked_add(n))
            .ok_or_else(|| StoreError::Conflict("the mailbox has run out of UIDs".into()))?;

        // Every message gets the next UID and modification sequence; they are in memory
        // only after the journal holds them, so nothing is visible before it is durable.
        let mut entries = Vec::with_capacity(incoming.len());
        let mut bodies = Vec::with_capacity(incoming.len());
        for (uid, message) in (first..last).zip(incoming) {
            let modseq = self.header.highest_modseq + u64::from(uid - first) + 1;
            let entry = Entry {
                modseq,
                internal_date: message.internal_date,
                size: message.size,
                flags: message.flags,
                base: message.base,
            };
            bodies.push(append_record(uid, &entry));
            entries.push((uid, entry));
        }
        self.log(&bodies)?;

        // The file's move to cur/ needs no fsync: the index names the message by its base,
        // and reading finds it in new/ as well if the rename was lost.
        let mut uids = Vec::with_capacity(entries.len());
        for (uid, entry) in entries {
            let _ = fs::rename(
                self.dir.join("new").join(&entry.base),
                self.cur_path(&entry),
            );
            self.insert(uid, entry);
            uids.push(uid);
        }
        self.maybe_compact();
        Ok(uids)
    }

    /// Changes flags as [`crate::Store::store_flags`] describes.
    pub(super) fn store_flags(
        &mut self,
        uids: &[u32],
        operation: FlagOperation,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsStored> {
        let mut result = FlagsStored::default();
        let mut changes = Vec::new();
        let mut modseq = self.header.highest_modseq;
        for uid in uids.iter().copied().collect::<BTreeSet<u32>>() {
            let Some(entry) = self.messages.get(&uid) else {
                continue;
            };
            if unchanged_since.is_some_and(|since| entry.modseq > since) {
                result.modified.push(uid);
                continue;
            }
            let new_flags = match operation {
                FlagOperation::Add => entry.flags.union(flags).cloned().collect(),
                FlagOperation::Remove => entry.flags.difference(flags).cloned().collect(),
                FlagOperation::Replace => flags.clone(),
            };
            if new_flags != entry.flags {
                modseq += 1;
                changes.push((uid, new_flags, modseq));
            }
        }
        if changes.is_empty() {
            return Ok(result);
        }

        let bodies: Vec<String> = changes
            .iter()
            .map(|(uid, flags, modseq)| format!("F\t{uid}\t{modseq}\t{}", flags_field(flags)))
            .collect();
        self.log(&bodies)?;

        for (uid, new_flags, modseq) in &changes {
            let entry = self
                .messages
                .get_mut(uid)
                .expect("changed UIDs were looked up");
            let old_name = entry.file_name();
            entry.flags = new_flags.clone();
            entry.modseq = *modseq;

            // The file name's flag letters follow the index for other Maildir readers;
            // losing this rename in a crash is harmless, the index is the truth.
            let new_name = entry.file_name();
            if new_name != old_name {
                let cur = self.dir.join("cur");
                let _ = fs::rename(cur.join(old_name), cur.join(new_name));
            }
        }
        self.header.highest_modseq = modseq;
        result.updated = changes;
        self.maybe_compact();
        Ok(result)
    }

    /// The UIDs [`crate::Store::expunge`] would remove.
    pub(super) fn deleted_among(&self, uids: Option<&[u32]>) -> Vec<u32> {
        let wanted: Option<BTreeSet<u32>> = uids.map(|uids| uids.iter().copied().collect());
        self.messages
            .iter()
            .filter(|(uid, e)| {
                e.flags.contains(&Flag::Deleted) && wanted.as_ref().is_none_or(|w| w.contains(uid))
            })
            .map(|(&uid, _)| uid)
            .collect()
    }

    /// Removes these messages (those that exist): durable in the journal first, then the
    /// files are unlinked. Returns the UIDs removed, ascending.
    pub(super) fn remove_messages(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        let present: BTreeSet<u32> = uids
            .iter()
            .copied()
            .filter(|uid| self.messages.contains_key(uid))
            .collect();
        if present.is_empty() {
            return Ok(Vec::new());
        }

        let modseq = self.header.highest_modseq + 1;
        let list: Vec<String> = present.iter().map(u32::to_string).collect();
        self.log(&[format!("X\t{modseq}\t{}", list.join(","))])?;

        let mut removed = Vec::with_capacity(present.len());
        let mut files = Vec::with_capacity(present.len());
        for uid in present {
            let entry = self.remove(uid).expect("filtered on presence");
            files.push((entry.file_name(), entry.base));
            removed.push(uid);
        }
        self.header.highest_modseq = modseq;
        self.finish_expunges(&files);
        self.maybe_compact();
        Ok(removed)
    }

    /// Records a subscription change.
    pub(super) fn set_subscribed(&mut self, subscribed: bool) -> Result<()> {
        if self.header.subscribed != subscribed {
            self.log(&[format!("S\t{}", u8::from(subscribed))])?;
            self.header.subscribed = subscribed;
        }
        Ok(())
    }

    /// Where a message's file should be.
    fn cur_path(&self, entry: &Entry) -> PathBuf {
        self.dir.join("cur").join(entry.file_name())
    }

    /// The path and base name of a message's file, for reading outside the lock.
    pub(super) fn locate(&self, uid: u32) -> Option<(PathBuf, String)> {
        let entry = self.messages.get(&uid)?;
        Some((self.cur_path(entry), entry.base.clone()))
    }

    /// Rewrites the index when the journal has grown past its threshold.
    fn maybe_compact(&mut self) {
        if self.journal_records > self.compact_after + self.messages.len() / 2 {
            // A failed compaction loses nothing (the journal still holds every record),
            // but the files may disagree with the open journal handle: reopen next time.
            if self.compact().is_err() {
                self.broken = true;
            }
        }
    }

    /// Folds the journal into a new snapshot.
    ///
    /// 1. Write the snapshot of generation G+1 to a temporary file and fsync it.
    /// 2. Rename it over the old snapshot and fsync the directory: the commit point. From
    ///    here on the old journal (generation G) is ignored on open, since the snapshot
    ///    already holds its records.
    /// 3. Replace the journal with an empty one of generation G+1, the same way.
    pub(super) fn compact(&mut self) -> Result<()> {
        let mut header = self.header;
        header.generation += 1;
        write_atomic(
            &self.dir.join(UIDLIST),
            snapshot(&header, &self.messages).as_bytes(),
        )?;
        self.header = header;

        self.reset_journal()
    }

    /// Replaces the journal with an empty one of the snapshot's generation.
    fn reset_journal(&mut self) -> Result<()> {
        let path = self.dir.join(JOURNAL);
        write_atomic(&path, journal_header(self.header.generation).as_bytes())?;
        self.journal = OpenOptions::new().append(true).open(&path)?;
        self.journal_records = 0;
        Ok(())
    }
}

/// Reads a message file, whole or a range. `path` is where the index says the file is; if
/// another Maildir reader renamed it (changing its flag letters) or a crash left it in
/// `new/`, it is found by its base name.
pub(super) fn read_message_file(
    path: &Path,
    base: &str,
    range: Option<Range<u64>>,
) -> Result<Vec<u8>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let cur = path.parent().expect("message files live in cur/");
            let dir = cur.parent().expect("cur/ lives in a mailbox");
            File::open(find_by_base(dir, base)?)?
        }
        Err(e) => return Err(e.into()),
    };

    let len = file.metadata()?.len();
    let range = range.unwrap_or(0..len);
    let (start, end) = (range.start.min(len), range.end.min(len));
    if start >= end {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(start))?;
    let mut data = vec![0; usize::try_from(end - start).expect("a message fits in memory")];
    file.read_exact(&mut data)?;
    Ok(data)
}

fn find_by_base(dir: &Path, base: &str) -> Result<PathBuf> {
    for sub in ["cur", "new"] {
        for dirent in fs::read_dir(dir.join(sub))? {
            let dirent = dirent?;
            let name = dirent.file_name();
            let name = name.to_string_lossy();
            if name == base
                || name
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with(':'))
            {
                return Ok(dirent.path());
            }
        }
    }
    Err(StoreError::NotFound(format!("message file {base}")))
}

/// The journal's first line.
fn journal_header(generation: u64) -> String {
    journal_line(&format!("journal\t{generation}"))
}

fn parse_journal_header(body: &str) -> Option<u64> {
    body.strip_prefix("journal\t")?.parse().ok()
}

fn append_record(uid: u32, e: &Entry) -> String {
    let flags = flags_field(&e.flags);
    format!(
        "A\t{uid}\t{}\t{}\t{}\t{flags}\t{}",
        e.modseq, e.internal_date, e.size, e.base
    )
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The journal's complete, checksummed lines.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Where the line after the last valid one starts.
    valid_end: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            valid_end: 0,
        }
    }

    /// The next line if it is complete and its checksum matches.
    fn next_valid(&mut self) -> Option<&'a str> {
        let rest = &self.bytes[self.valid_end..];
        let end = rest.iter().position(|&b| b == b'\n')?;
        let body = check_journal_line(std::str::from_utf8(&rest[..end]).ok()?)?;
        self.valid_end += end + 1;
        Some(body)
    }

    /// Whether any valid line follows the first invalid one: then the damage is not a torn
    /// tail but corruption in the middle, which must not be silently cut off.
    fn any_valid_after(&self) -> bool {
        self.bytes[self.valid_end..]
            .split(|&b| b == b'\n')
            .skip(1)
            .filter_map(|line| std::str::from_utf8(line).ok())
            .any(|line| check_journal_line(line).is_some())
    }
}

/// The snapshot's text.
fn snapshot(header: &Header, messages: &BTreeMap<u32, Entry>) -> String {
    let special = header.special_use.map_or("-", special_use_name);
    let mut out = String::with_capacity(64 * messages.len() + 256);
    out.push_str(UIDLIST_MAGIC);
    out.push('\n');
    out.push_str(&format!(
        "uidvalidity\t{}\nuidnext\t{}\nhighestmodseq\t{}\ngeneration\t{}\n",
        header.uid_validity, header.uid_next, header.highest_modseq, header.generation
    ));
    out.push_str(&format!(
        "subscribed\t{}\nspecial-use\t{special}\nmessages\t{}\n",
        u8::from(header.subscribed),
        messages.len()
    ));
    for (&uid, e) in messages {
        let flags = flags_field(&e.flags);
        out.push_str(&format!(
            "{uid}\t{}\t{}\t{}\t{flags}\t{}\n",
            e.modseq, e.internal_date, e.size, e.base
        ));
    }
    out.push_str("end\n");
    out
}

fn parse_snapshot(text: &str) -> Result<(Header, BTreeMap<u32, Entry>)> {
    let mut lines = text.lines();
    if lines.next() != Some(UIDLIST_MAGIC) {
        return Err(corrupted("index version"));
    }
    let mut field = |name: &str| -> Result<&str> {
        let line = lines.next().unwrap_or_default();
        let value = line
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('\t'));
        value.ok_or_else(|| corrupted(format!("index field {name}")))
    };
    let mut header = Header::new(number(field("uidvalidity")?)?, None, false);
    header.uid_next = number(field("uidnext")?)?;
    header.highest_modseq = number(field("highestmodseq")?)?;
    header.generation = number(field("generation")?)?;
    header.subscribed = field("subscribed")? == "1";
    header.special_use = parse_special_use(field("special-use")?)?;
    let count: usize = number(field("messages")?)?;

    let mut messages = BTreeMap::new();
    for _ in 0..count {
        let line = lines.next().ok_or_else(|| corrupted("index truncated"))?;
        let (uid, entry) = parse_entry(line)?;
        messages.insert(uid, entry);
    }
    if lines.next() != Some("end") {
        return Err(corrupted("index end"));
    }
    Ok((header, messages))
}

fn parse_entry(line: &str) -> Result<(u32, Entry)> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [uid, modseq, date, size, flags, base] = fields.as_slice() else {
        return Err(corrupted(format!("index line {line:?}")));
    };
    let entry = Entry {
        modseq: number(modseq)?,
        internal_date: number(date)?,
        size: number(size)?,
        flags: parse_flags(flags)?,
        base: (*base).to_owned(),
    };
    Ok((number(uid)?, entry))
}

fn special_use_name(special: SpecialUse) -> &'static str {
    special.attribute().trim_start_matches('\\')
}

fn parse_special_use(text: &str) -> Result<Option<SpecialUse>> {
    if text == "-" {
        return Ok(None);
    }
    SpecialUse::DEFAULTS
        .iter()
        .map(|&(_, special)| special)
        .find(|&special| special_use_name(special) == text)
        .map(Some)
        .ok_or_else(|| corrupted(format!("special use {text:?}")))
}
