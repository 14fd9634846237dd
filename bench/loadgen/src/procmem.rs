//! The memory of a server and every process it has spawned, read from /proc.
//!
//! Two measures: VmRSS counts every resident page of each process, so pages that processes
//! share (the executable, libraries, a parent's copy-on-write heap) are counted once per
//! process; Pss divides each shared page among the processes that map it. For a
//! one-process server the two differ little; for a server with a process per connection,
//! RSS overstates its cost and PSS is the fair figure. Both are reported.

use std::collections::HashMap;
use std::fs;

use crate::Error;

/// The memory of a set of processes, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Sum of VmRSS, KiB.
    pub rss_kib: u64,
    /// Sum of Pss, KiB.
    pub pss_kib: u64,
    /// How many processes were counted.
    pub processes: u64,
}

/// Sums the memory of each of `roots` and all of their descendants, found now.
pub fn measure(roots: &[u32]) -> Result<Memory, Error> {
    let mut memory = Memory::default();
    for pid in tree(roots)? {
        // A descendant may exit between the scan and the read; it no longer costs anything.
        let (Ok(status), Ok(rollup)) = (
            fs::read_to_string(format!("/proc/{pid}/status")),
            fs::read_to_string(format!("/proc/{pid}/smaps_rollup")),
        ) else {
            if roots.contains(&pid) {
                return Err(Error::Proc {
                    pid,
                    source: std::io::Error::other("the process is gone"),
                });
            }
            continue;
        };
        memory.rss_kib += kib_field(&status, "VmRSS:").unwrap_or(0);
        memory.pss_kib += kib_field(&rollup, "Pss:").unwrap_or(0);
        memory.processes += 1;
    }
    Ok(memory)
}

/// `roots` and every process descended from them.
fn tree(roots: &[u32]) -> Result<Vec<u32>, Error> {
    let entries = fs::read_dir("/proc").map_err(|source| Error::Proc { pid: 0, source })?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| parent(&stat))
        {
            children.entry(ppid).or_default().push(pid);
        }
    }

    let mut found = roots.to_vec();
    let mut next = 0;
    while next < found.len() {
        if let Some(kids) = children.get(&found[next]) {
            found.extend(kids.iter().filter(|k| !roots.contains(k)));
        }
        next += 1;
    }
    Ok(found)
}

/// The parent PID from a /proc/PID/stat line: `pid (comm) state ppid ...`, where comm may
/// itself hold spaces and parentheses, so the fields are counted from the last `)`.
fn parent(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The number of a `Name:   123 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_survives_parentheses_in_the_name() {
        assert_eq!(parent("4242 (imap) (x)) S 17 4242 4242 0 -1"), Some(17));
    }

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\tdovecot\nVmRSS:\t    3120 kB\nVmSwap:\t0 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(3120));
        assert_eq!(kib_field(status, "Pss:"), None);
    }

    #[test]
    fn measures_this_process() {
        let me = measure(&[std::process::id()]).unwrap();
        assert!(me.processes >= 1 && me.rss_kib > 0);
    }
}
