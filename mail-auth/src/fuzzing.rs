//! Harnesses for the fuzz targets in `fuzz/`, kept here so that the seed corpora replay as
//! ordinary tests on the stable toolchain.

use std::sync::OnceLock;

use crate::credentials::{Argon2Params, Credentials, DeriveOptions, PasswordSecrets};
use crate::sasl::{Context, Progress, ServerMechanism};

/// The password of the harness's account; the dictionaries know it, so success paths run.
const PASSWORD: &[u8] = b"fuzz-password";

/// An account with every secret, derived once with the cheapest Argon2 cost.
fn account() -> &'static Credentials {
    static ACCOUNT: OnceLock<Credentials> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let options = DeriveOptions {
            argon2: Argon2Params {
                memory_kib: 8,
                iterations: 1,
                lanes: 1,
            },
            digest_md5_realms: vec!["fuzz.example".into()],
            ..DeriveOptions::default()
        };
        let mut credentials = Credentials::new("fuzz");
        let secrets = PasswordSecrets::derive("fuzz", PASSWORD, &options);
        credentials.password = Some(secrets.expect("cheap parameters are valid"));
        credentials
    })
}

/// Drives one exchange of the mechanism the first byte picks, with the client's messages
/// separated by NUL NUL in the rest. It must never panic, never ask for credentials twice,
/// and never go on after it has finished.
pub fn mechanism(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut mechanism: Box<dyn ServerMechanism> = match pick % 4 {
        0 => Box::new(crate::plain::Plain::new()),
        1 => Box::new(crate::login::Login::new()),
        2 => Box::new(crate::external::External::new(Some("fuzz".into()))),
        _ => Box::new(crate::cram_md5::CramMd5::with_challenge(
            "<1.2@fuzz.example>".into(),
        )),
    };

    let mut messages = split_messages(rest);
    let mut progress = mechanism.start(messages.next());
    let mut lookups = 0;
    loop {
        progress = match progress {
            Progress::Challenge(_) => match messages.next() {
                Some(message) => mechanism.respond(message),
                None => return,
            },
            Progress::Lookup { authentication_id } => {
                lookups += 1;
                assert_eq!(lookups, 1, "credentials asked for twice");
                let found = (authentication_id == "fuzz").then(account);
                mechanism.credentials(found, &Context::new(0))
            }
            Progress::Success(_) | Progress::Failure(_) => break,
        };
    }

    // Finished means finished: more input is refused.
    for message in messages {
        let after = mechanism.respond(message);
        assert!(
            matches!(after, Progress::Failure(_)),
            "went on after the end: {after:?}"
        );
    }
}

fn split_messages(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(2).position(|w| w == [0, 0]) {
            Some(at) => {
                rest = Some(&current[at + 2..]);
                Some(&current[..at])
            }
            None => rest.take(),
        }
    })
}

/// Runs `harness` on every file under `fuzz/corpus/TARGET/` and `fuzz/regressions/TARGET/`
/// of the workspace at `workspace`, and fails if there is nothing to run. Every crate's
/// corpus-replay test calls this, so the seeds and crash reproducers run under `cargo test`.
pub fn replay(workspace: &std::path::Path, target: &str, harness: fn(&[u8])) {
    let root = workspace.join("fuzz");
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable corpus folder").path();
            let data = std::fs::read(&path).expect("readable corpus file");
            let result = std::panic::catch_unwind(|| harness(&data));
            assert!(result.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for {target}");
}
