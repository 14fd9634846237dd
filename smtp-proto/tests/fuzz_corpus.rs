//! Replays the committed fuzz corpora (seeds, minimised corpora and crash reproducers) as
//! plain tests, so every input that ever broke a harness keeps being checked on stable.

use std::path::Path;

use mail_auth::fuzzing::replay;
use smtp_proto::fuzzing;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn smtp_command_corpus() {
    replay(workspace(), "smtp_command", fuzzing::command);
}

#[test]
fn smtp_address_corpus() {
    replay(workspace(), "smtp_address", fuzzing::address);
}

#[test]
fn smtp_server_corpus() {
    replay(workspace(), "smtp_server", fuzzing::server_session);
}

#[test]
fn smtp_client_corpus() {
    replay(workspace(), "smtp_client", smtp_proto::client::fuzz_client);
}
