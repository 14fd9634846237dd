//! The cost of one login per mechanism, server side, with the default (production) cost
//! parameters: `cargo bench -p mail-auth`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use mail_auth::cram_md5::CramMd5;
use mail_auth::credentials::{Credentials, DeriveOptions, PasswordSecrets};
use mail_auth::login::Login;
use mail_auth::plain::Plain;
use mail_auth::sasl::{ClientMechanism, Context, Progress, ServerMechanism};
use mail_auth::scram::{Scram, ScramClient};

fn account() -> Credentials {
    let options = DeriveOptions::default();
    let mut alice = Credentials::new("alice");
    alice.password = Some(PasswordSecrets::derive("alice", b"correct horse", &options).unwrap());
    alice
}

/// Runs a whole exchange, answering the lookup with `alice`, and insists on success.
fn finish(mechanism: &mut dyn ServerMechanism, progress: Progress, alice: &Credentials) {
    let Progress::Lookup { .. } = progress else {
        panic!("lookup expected: {progress:?}")
    };
    let outcome = mechanism.credentials(Some(alice), &Context::new(0));
    assert!(matches!(outcome, Progress::Success(_)), "{outcome:?}");
}

fn logins(c: &mut Criterion) {
    let alice = account();
    let mut group = c.benchmark_group("one login");
    group.sample_size(20);

    group.bench_function("PLAIN (Argon2id, OWASP cost)", |b| {
        b.iter(|| {
            let mut plain = Plain::new();
            let progress = plain.start(Some(b"\0alice\0correct horse"));
            finish(&mut plain, progress, &alice);
        })
    });

    group.bench_function("LOGIN (Argon2id, OWASP cost)", |b| {
        b.iter(|| {
            let mut login = Login::new();
            login.start(Some(b"alice"));
            let progress = login.respond(b"correct horse");
            finish(&mut login, progress, &alice);
        })
    });

    group.bench_function("CRAM-MD5", |b| {
        let challenge = "<1.2@mx.example.org>";
        let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(b"correct horse").unwrap();
        mac.update(challenge.as_bytes());
        let digest: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let response = format!("alice {digest}");
        b.iter(|| {
            let mut cram = CramMd5::with_challenge(challenge.into());
            cram.start(None);
            let progress = cram.respond(black_box(response.as_bytes()));
            finish(&mut cram, progress, &alice);
        })
    });

    group.bench_function("SCRAM-SHA-256 (4096 iterations, both sides)", |b| {
        b.iter(|| {
            let mut client = ScramClient::new("alice", "correct horse", None).unwrap();
            let mut server = Scram::new();
            let first = client.initial_response().unwrap();
            let Progress::Lookup { .. } = server.start(Some(&first)) else {
                panic!()
            };
            let Progress::Challenge(server_first) =
                server.credentials(Some(&alice), &Context::new(0))
            else {
                panic!()
            };
            let client_final = client.respond(&server_first).unwrap();
            let outcome = server.respond(&client_final);
            assert!(matches!(outcome, Progress::Success(_)), "{outcome:?}");
        })
    });
    group.finish();
}

criterion_group!(benches, logins);
criterion_main!(benches);
