//! A whole POP3 session: login, STAT, UIDL, RETR of 100 messages of 10 KB, QUIT.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pop3_proto::server::{Event, MessageInfo, ServerConfig, ServerSession};

const COUNT: usize = 100;

fn message() -> Vec<u8> {
    let mut message = b"Subject: bench\r\nFrom: a@example.org\r\n\r\n".to_vec();
    while message.len() < 10 * 1024 {
        message.extend_from_slice(
            b".a line of body text that is about seventy octets long, more or less\r\n",
        );
    }
    message
}

fn run(message: &[u8], input: &[u8]) -> usize {
    let now = Instant::now();
    let mut config = ServerConfig::new("pop.example.org");
    config.tls = true;
    let mut session = ServerSession::new(config, now);
    let mut written = 0;
    session.handle_input(input, now);
    loop {
        let mut progressed = false;
        while let Some(event) = session.poll_event() {
            progressed = true;
            match event {
                Event::Login { .. } => {
                    let maildrop = (0..COUNT)
                        .map(|i| MessageInfo::new(message.len() as u64, format!("1.{i}")))
                        .collect();
                    session.login_ok(maildrop).unwrap();
                }
                Event::Retrieve { .. } => session.retrieve(message.to_vec()).unwrap(),
                Event::Update { .. } => session.update_done().unwrap(),
                _ => {}
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            progressed = true;
            written += bytes.len();
        }
        if !progressed {
            break;
        }
    }
    assert!(session.is_closed());
    written
}

fn bench(c: &mut Criterion) {
    let message = message();
    let mut input = b"USER alice\r\nPASS secret\r\nSTAT\r\nUIDL\r\n".to_vec();
    for i in 1..=COUNT {
        input.extend_from_slice(format!("RETR {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"QUIT\r\n");

    let mut group = c.benchmark_group("pop3");
    group.throughput(Throughput::Bytes((message.len() * COUNT) as u64));
    group.bench_function("session_100x10k", |b| b.iter(|| run(&message, &input)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
