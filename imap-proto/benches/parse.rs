//! Framing and parsing throughput on a realistic mix of client commands: a header-list UID
//! FETCH as mail clients send it on opening a mailbox, a SEARCH, a flag update and an APPEND
//! of a 10 KB message.
//!
//! Run with `cargo bench -p imap-proto --bench parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use imap_proto::framing::{Frame, Framer};
use imap_proto::parse::command;

const FETCH: &[u8] = b"A1 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE \
    BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID)] MODSEQ)\r\n";
const SEARCH: &[u8] = b"A2 UID SEARCH RETURN (ALL) OR SINCE 1-Feb-2024 \
    FROM \"alice@example.com\" NOT DELETED\r\n";
const STORE: &[u8] = b"A3 UID STORE 1:100,200:* +FLAGS.SILENT (\\Seen $Forwarded)\r\n";

/// An APPEND of a 10 KB message, as a non-synchronizing literal.
fn append() -> Vec<u8> {
    let mut message = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\n\
        Subject: benchmark\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
        .to_vec();
    while message.len() < 10_240 {
        message.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
    }
    message.truncate(10_240);

    let mut command = format!(
        "A4 APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {{{}+}}\r\n",
        message.len()
    )
    .into_bytes();
    command.extend_from_slice(&message);
    command.extend_from_slice(b"\r\n");
    command
}

/// Frames `input`, fed in socket-sized chunks, and parses every command; the number of
/// commands parsed.
fn frame_and_parse(input: &[u8], chunk: usize) -> usize {
    let mut framer = Framer::new(8192, 64 << 20, 70 << 20);
    let mut parsed = 0;
    for piece in input.chunks(chunk) {
        framer.push(piece);
        while let Some(frame) = framer.next_command() {
            if let Frame::Command(bytes) = frame {
                parsed += usize::from(command(&bytes).is_ok());
            }
        }
    }
    parsed
}

fn bench_mix(c: &mut Criterion) {
    let append = append();
    let mut mix = Vec::new();
    for _ in 0..4 {
        mix.extend_from_slice(FETCH);
        mix.extend_from_slice(SEARCH);
        mix.extend_from_slice(STORE);
    }
    mix.extend_from_slice(&append);
    assert_eq!(
        frame_and_parse(&mix, 4096),
        13,
        "every command of the mix parses"
    );

    let mut group = c.benchmark_group("frame+parse");
    group.throughput(Throughput::Bytes(mix.len() as u64));
    group.bench_function("mix", |b| b.iter(|| frame_and_parse(black_box(&mix), 4096)));
    group.finish();

    let mut group = c.benchmark_group("parse");
    for (name, input) in [
        ("uid_fetch_headers", FETCH),
        ("uid_search", SEARCH),
        ("uid_store", STORE),
        ("append_10k", &append[..]),
    ] {
        assert!(command(input).is_ok(), "{name} parses");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| b.iter(|| command(black_box(input))));
    }
    group.finish();

    // A message-sized literal: framing must stay linear in its size.
    let mut large = b"A5 APPEND INBOX {4194304+}\r\n".to_vec();
    large.resize(large.len() + (4 << 20), b'x');
    large.extend_from_slice(b"\r\n");
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(large.len() as u64));
    group.bench_function("append_4mib_in_16k_chunks", |b| {
        b.iter(|| frame_and_parse(black_box(&large), 16 << 10))
    });
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, written out, so that `main` has
// the doc comment the workspace's `missing_docs` lint asks for.
/// Runs the benchmarks with criterion's command-line options.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_mix(&mut criterion);
    criterion.final_summary();
}
