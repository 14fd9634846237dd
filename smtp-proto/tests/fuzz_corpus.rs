//! Replays the committed fuzz corpora (seeds, minimised corpora and crash reproducers) as
//! plain tests, so every input that ever broke a harness keeps being checked on stable.

use std::fs;
use std::path::PathBuf;

use smtp_proto::fuzzing;

/// Runs `harness` on every file under `fuzz/corpus/TARGET` and `fuzz/regressions/TARGET`,
/// and fails if there is nothing to run.
fn replay(target: &str, harness: fn(&[u8])) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable corpus folder").path();
            let data = fs::read(&path).expect("readable corpus file");
            let result = std::panic::catch_unwind(|| harness(&data));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for {target}");
}

#[test]
fn smtp_command_corpus() {
    replay("smtp_command", fuzzing::command);
}

#[test]
fn smtp_address_corpus() {
    replay("smtp_address", fuzzing::address);
}

#[test]
fn smtp_server_corpus() {
    replay("smtp_server", fuzzing::server_session);
}

#[test]
fn smtp_client_corpus() {
    replay("smtp_client", smtp_proto::client::fuzz_client);
}
