//! Crash safety: a child process appends, flags and expunges in a loop, printing each
//! operation as soon as the store acknowledges it; the parent kills it with SIGKILL at a
//! varied instant, reopens the store, and checks that everything acknowledged is there,
//! nothing is half there, and UIDs are never reused. Thirty rounds, a few seconds in all.
//!
//! The test binary is its own child: `child_entry` does nothing unless the environment
//! names a store directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mail_auth::credentials::Credentials;
use mail_store::fs::{FsOptions, FsStore};
use mail_store::{Flag, FlagOperation, Flags, NewMessage, Quota, Store};

/// Set in the child: the store directory.
const CHILD_ENV: &str = "RAMPART_CRASH_CHILD";

/// Set in the child: the round number, which goes into every message it writes.
const ROUND_ENV: &str = "RAMPART_CRASH_ROUND";

/// Marks the child's report lines, which libtest's own output may share a line with.
const MARK: &str = "@@";

const ALICE: &str = "alice@example.org";
const ROUNDS: u32 = 30;
const WRITERS: u32 = 2;

/// The exact content of message `seq` of `writer` in `round`, recognisable from its first
/// line, with sizes that vary so that torn writes would show.
fn content(round: u32, writer: u32, seq: u32) -> Vec<u8> {
    let mut data = format!("Subject: r{round} w{writer} s{seq}\r\n\r\n").into_bytes();
    let len = 10 + (seq as usize * 997) % 6000;
    data.extend((0..len).map(|i| b'a' + ((i + seq as usize) % 26) as u8));
    data.extend_from_slice(b"\r\n");
    data
}

/// Reads back which message a content claims to be, and checks it is all there.
fn identify(data: &[u8]) -> Option<(u32, u32, u32)> {
    let text = std::str::from_utf8(data).ok()?;
    let subject = text.lines().next()?.strip_prefix("Subject: ")?;
    let mut parts = subject.split(' ');
    let mut field = |prefix: char| parts.next()?.strip_prefix(prefix)?.parse().ok();
    let id = (field('r')?, field('w')?, field('s')?);
    (content(id.0, id.1, id.2) == data).then_some(id)
}

fn options() -> FsOptions {
    // Compact often, so that kills land inside compactions too.
    let mut options = FsOptions::default();
    options.compact_after = 25;
    options
}

fn report(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{MARK}{line}").expect("stdout is open");
    out.flush().expect("stdout is open");
}

/// The child: appends in `WRITERS` concurrent tasks until killed; every third message gets
/// `\Seen`, every fifth is expunged right after it is acknowledged.
#[test]
fn child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = FsStore::open_with(&dir, options()).expect("the store reopens");
        report("ready".into());
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| tokio::spawn(writer_loop(store.clone(), round, writer)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

async fn writer_loop(store: FsStore, round: u32, writer: u32) {
    for seq in 0.. {
        let message = NewMessage {
            flags: Flags::new(),
            internal_date: i64::from(seq),
            data: content(round, writer, seq),
        };
        let uid = store.append(ALICE, "INBOX", message).await.unwrap().uid;
        report(format!("A {uid} {round} {writer} {seq}"));

        if seq % 3 == 0 {
            let seen: Flags = [Flag::Seen].into();
            let op = FlagOperation::Add;
            store
                .store_flags(ALICE, "INBOX", &[uid], op, &seen, None)
                .await
                .unwrap();
            report(format!("F {uid}"));
        }
        if seq % 5 == 0 {
            let deleted: Flags = [Flag::Deleted].into();
            let op = FlagOperation::Add;
            store
                .store_flags(ALICE, "INBOX", &[uid], op, &deleted, None)
                .await
                .unwrap();
            store.expunge(ALICE, "INBOX", Some(&[uid])).await.unwrap();
            report(format!("X {uid}"));
        }
    }
}

/// What one round's child acknowledged.
#[derive(Default)]
struct Acknowledged {
    appended: BTreeMap<u32, (u32, u32, u32)>,
    seen: Vec<u32>,
    expunged: Vec<u32>,
}

fn run_child(dir: &Path, round: u32) -> Acknowledged {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test binary runs itself");

    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find(MARK) {
                let report = line[at + MARK.len()..].to_owned();
                if report == "ready" {
                    let _ = ready_tx.send(());
                }
                lines.push(report);
            }
        }
        lines
    });

    // The delay counts from the moment the store is open, so every round kills the child
    // in the middle of its work, at instants spread over 5 to 100 ms.
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the child opens the store");
    std::thread::sleep(Duration::from_millis(5 + u64::from(round * 37 % 96)));
    child.kill().expect("SIGKILL is delivered");
    child.wait().unwrap();

    let mut acknowledged = Acknowledged::default();
    for line in reader.join().unwrap() {
        let fields: Vec<u32> = line
            .split(' ')
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        match (line.split(' ').next(), fields.as_slice()) {
            (Some("A"), &[uid, round, writer, seq]) => {
                acknowledged.appended.insert(uid, (round, writer, seq));
            }
            (Some("F"), &[uid]) => acknowledged.seen.push(uid),
            (Some("X"), &[uid]) => acknowledged.expunged.push(uid),
            _ => {}
        }
    }
    acknowledged
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn killed_at_any_instant_loses_nothing() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = TempDir(std::env::temp_dir().join(format!("rampart-crash-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = FsStore::open(&dir.0).unwrap();
        let credentials = Credentials::new(ALICE);
        store
            .create_account(ALICE, credentials, Quota::default())
            .await
            .unwrap();
    });

    // Every UID ever acknowledged, with the message it named; a UID never names another.
    let mut history: BTreeMap<u32, (u32, u32, u32)> = BTreeMap::new();
    let mut total_acknowledged = 0;
    for round in 0..ROUNDS {
        let acknowledged = run_child(&dir.0, round);
        total_acknowledged += acknowledged.appended.len();
        for (&uid, &id) in &acknowledged.appended {
            assert!(
                history.insert(uid, id).is_none(),
                "round {round}: UID {uid} reused"
            );
        }
        runtime.block_on(verify(&dir.0, round, &acknowledged, &mut history));
    }
    eprintln!("{total_acknowledged} appends acknowledged in {ROUNDS} rounds");
    assert!(
        total_acknowledged > 100,
        "the child got work done: {total_acknowledged}"
    );
}

async fn verify(
    dir: &Path,
    round: u32,
    acknowledged: &Acknowledged,
    history: &mut BTreeMap<u32, (u32, u32, u32)>,
) {
    let store = FsStore::open_with(dir, options()).expect("the store opens after a crash");
    let metas = store.messages(ALICE, "INBOX").await.unwrap();
    let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "round {round}: UIDs ascending"
    );

    // Whatever is visible is whole, and is what its UID named when acknowledged (a crashed
    // append that was never acknowledged may be visible too, adopted with a new UID).
    let mut present = BTreeMap::new();
    let mut adopted = Vec::new();
    for meta in &metas {
        let data = store
            .read_message(ALICE, "INBOX", meta.uid, None)
            .await
            .unwrap();
        assert_eq!(
            data.len() as u64,
            meta.size,
            "round {round}: size of {}",
            meta.uid
        );
        let id = identify(&data).unwrap_or_else(|| panic!("round {round}: {} partial", meta.uid));
        if let Some(known) = history.get(&meta.uid) {
            assert_eq!(
                *known, id,
                "round {round}: UID {} changed content",
                meta.uid
            );
        }
        present.insert(meta.uid, meta.flags.clone());
        adopted.extend((!history.contains_key(&meta.uid)).then_some((meta.uid, id)));
    }

    // Everything acknowledged is there, with its flags, unless the child had started to
    // expunge it (every fifth message; the expunge may be durable without its report).
    for (&uid, &(_, writer, seq)) in history.iter() {
        if writer == 99 || seq % 5 != 0 {
            assert!(
                present.contains_key(&uid),
                "round {round}: acknowledged UID {uid} lost"
            );
        }
    }
    for uid in &acknowledged.expunged {
        assert!(
            !present.contains_key(uid),
            "round {round}: expunged {uid} is back"
        );
    }
    for uid in &acknowledged.seen {
        if let Some(flags) = present.get(uid) {
            assert!(
                flags.contains(&Flag::Seen),
                "round {round}: \\Seen of {uid} lost"
            );
        }
    }

    // New appends get UIDs above everything ever handed out.
    let highest = history
        .keys()
        .chain(present.keys())
        .max()
        .copied()
        .unwrap_or(0);
    let probe = NewMessage {
        flags: Flags::new(),
        internal_date: 0,
        data: content(round, 99, 0),
    };
    let uid = store.append(ALICE, "INBOX", probe).await.unwrap().uid;
    assert!(uid > highest, "round {round}: UID {uid} after {highest}");
    history.insert(uid, (round, 99, 0));
    // Adopted messages are recorded with what they hold now, so later rounds check them.
    history.extend(adopted);
}
