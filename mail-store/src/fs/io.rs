//! Small filesystem helpers that carry the durability rules: fsync a file before it is named,
//! fsync a directory after a name in it changed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Makes the names in a directory durable: after a create, rename or unlink in `dir`, the
/// change survives a crash only once the directory itself is fsynced.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `data` to a new file and fsyncs it, so that no later rename can publish a file
/// whose content is not yet on disk.
pub(super) fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Replaces `path` with `data` atomically and durably: write a temporary file beside it,
/// fsync it, rename it over `path` (readers see the old or the new content, never a mix),
/// then fsync the directory so the rename itself survives a crash.
pub(super) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, ".tmp");
    write_synced(&tmp, data)?;
    fs::rename(&tmp, path)?;
    sync_dir(parent(path))
}

/// Reads a file that may not exist.
pub(super) fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` appended to its file name.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The directory holding `path`.
pub(super) fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Creates a directory and its parents if missing.
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Removes a file, treating "already gone" as success (recovery repeats removals).
pub(super) fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Empties a scratch directory (`work/`, `tmp/`): whatever is there belongs to an operation
/// that never finished, so nothing in it was acknowledged.
pub(super) fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            remove_file_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// A tag naming this run of the process (its id and start time): files carrying it may
/// belong to an operation still in progress, so recovery leaves them alone.
pub(super) fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!("P{}R{:x}Q", std::process::id(), start.as_nanos())
    })
}

/// A name unique to this run and moment, in the Maildir style
/// (`seconds.MmicrosPpidRrunQcounter.rampart`), with the Maildir++ size field when `size`
/// is given.
pub(super) fn unique_name(size: Option<u64>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!(
        "{}.M{}{}{count}.rampart",
        now.as_secs(),
        now.subsec_micros(),
        run_tag()
    );
    if let Some(size) = size {
        name.push_str(&format!(",S={size}"));
    }
    name
}

/// Seconds since the Unix epoch.
pub(super) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
