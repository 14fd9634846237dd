//! Replays the committed fuzz corpora (seeds, minimised corpora and crash reproducers) as
//! plain tests, so every input that ever broke a harness keeps being checked on stable.

use std::path::Path;

use imap_proto::fuzzing;
use mail_auth::fuzzing::replay;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn imap_command_corpus() {
    replay(workspace(), "imap_command", fuzzing::command);
}

#[test]
fn imap_session_corpus() {
    replay(workspace(), "imap_session", fuzzing::session);
}

#[test]
fn imap_mime_corpus() {
    replay(workspace(), "imap_mime", fuzzing::mime);
}
