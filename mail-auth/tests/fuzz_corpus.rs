//! Replays the committed fuzz corpora of the mechanisms' parsers as plain tests.

use std::path::Path;

use mail_auth::fuzzing::{self, replay};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn auth_mechanisms_corpus() {
    replay(workspace(), "auth_mechanisms", fuzzing::mechanism);
}

#[test]
fn auth_digest_md5_corpus() {
    replay(
        workspace(),
        "auth_digest_md5",
        mail_auth::digest_md5::fuzz_response,
    );
}

#[test]
fn auth_scram_corpus() {
    replay(workspace(), "auth_scram", mail_auth::scram::fuzz_messages);
}
