//! Benchmarks of command parsing and of a whole server transaction, run with
//! `cargo bench -p smtp-proto`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_proto::command::Command;
use smtp_proto::server::{Event, ServerConfig, ServerSession};

/// Command lines as a typical client sends them, without CRLF.
const COMMANDS: &[&[u8]] = &[
    b"EHLO mail.client.example.org",
    b"MAIL FROM:<newsletter-bounces+alice=example.com@lists.example.net> SIZE=10240 BODY=8BITMIME",
    b"RCPT TO:<alice@example.com>",
    b"RCPT TO:<bob.smith@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob.smith@example.com",
    b"DATA",
    b"BDAT 10240 LAST",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2U=",
];

fn parse_commands(c: &mut Criterion) {
    let bytes: usize = COMMANDS.iter().map(|line| line.len() + 2).sum();
    let mut group = c.benchmark_group("command");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse mix", |b| {
        b.iter(|| {
            for line in COMMANDS {
                black_box(Command::parse(black_box(line)).expect("valid command"));
            }
        })
    });
    group.finish();
}

/// One client connection: EHLO, MAIL, RCPT, DATA with a 10 KB message, QUIT.
fn transaction_script() -> Vec<u8> {
    let mut script = b"EHLO client.example\r\nMAIL FROM:<alice@example.com>\r\n\
                       RCPT TO:<bob@example.org>\r\nDATA\r\n"
        .to_vec();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    while script.len() < 10 * 1024 {
        script.extend_from_slice(line);
    }
    script.extend_from_slice(b".\r\nQUIT\r\n");
    script
}

fn session(c: &mut Criterion) {
    let script = transaction_script();
    let config = ServerConfig::new("mx.example.org");
    let mut group = c.benchmark_group("server session");
    group.throughput(Throughput::Bytes(script.len() as u64));
    group.bench_function("EHLO..QUIT with 10 KB, 1400-byte reads", |b| {
        b.iter(|| {
            let now = Instant::now();
            let mut session = ServerSession::new(config.clone(), now);
            let mut stored = 0;
            let mut written = 0;
            let mut drive = |session: &mut ServerSession| {
                while let Some(event) = session.poll_event() {
                    match event {
                        Event::MessageData(chunk) => stored += chunk.len(),
                        event if event.needs_answer() => session.accept().expect("pending"),
                        _ => {}
                    }
                }
                while let Some(bytes) = session.poll_transmit() {
                    written += bytes.len();
                }
            };
            drive(&mut session);
            for read in script.chunks(1400) {
                session.handle_input(read, now);
                drive(&mut session);
            }
            assert!(session.is_closed());
            black_box((stored, written))
        })
    });
    group.finish();
}

criterion_group!(benches, parse_commands, session);
criterion_main!(benches);
