//! Replays the committed fuzz corpora (seeds and crash reproducers) as plain tests.

use std::path::Path;

use mail_auth::fuzzing::replay;
use pop3_proto::fuzzing;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn pop3_command_corpus() {
    replay(workspace(), "pop3_command", fuzzing::command);
}

#[test]
fn pop3_session_corpus() {
    replay(workspace(), "pop3_session", fuzzing::session);
}

/// A cheap stand-in for a fuzzing run on stable: deterministic mutations of the seeds.
#[test]
fn mutated_seeds() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for target in ["pop3_command", "pop3_session"] {
        let folder = workspace().join("fuzz/corpus").join(target);
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        for seed in &seeds {
            for _ in 0..200 {
                let mut data = seed.clone();
                for _ in 0..next() % 4 + 1 {
                    let at = (next() as usize) % (data.len() + 1);
                    match next() % 4 {
                        0 if at < data.len() => data[at] = next() as u8,
                        1 => data.insert(at, b"\r\n .0123456789+*=AUTH"[next() as usize % 21]),
                        2 => data.truncate(at),
                        _ => {
                            let other = &seeds[next() as usize % seeds.len()];
                            let from = (next() as usize) % (other.len() + 1);
                            data.splice(at..at, other[from..].iter().copied());
                        }
                    }
                }
                if target == "pop3_command" {
                    fuzzing::command(&data);
                } else {
                    fuzzing::session(&data);
                }
            }
        }
    }
}
