//! Rampart against the crates users would pick instead, on the same inputs: SMTP command and
//! reply parsing against Stalwart's `smtp-proto`, IMAP command parsing (with and without
//! framing) and response encoding against `imap-codec` 1.0 and 2.0.0-alpha.10.
//!
//! Run with `cargo bench -p benches`. After criterion's own report, a table of commands per
//! second and of Rampart's ratio to each peer is printed and written to
//! `<criterion dir>/ratios.md`.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use benches::corpus::{self, IMAP_COMMANDS, SMTP_COMMANDS, SMTP_REPLIES};
use benches::encode::{self, STATUS_LINES, codec1, codec2, rampart};
use benches::imap;
use benches::report::{self, Comparison, RAMPART};
use benches::smtp;
use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};

/// The read size of the framing benchmarks: what one socket read typically returns.
const READ_SIZE: usize = 4096;

/// The peers' benchmark ids.
const STALWART: &str = "smtp-proto-0.2.5";
const CODEC1: &str = "imap-codec-1.0";
const CODEC2: &str = "imap-codec-2.0a10";

/// Opens a group measured in bytes per iteration, and records what the ratio table needs.
fn group<'a>(
    criterion: &'a mut Criterion,
    comparisons: &mut Vec<Comparison>,
    name: &str,
    peers: &[(&str, &str)],
    elements: usize,
    bytes: u64,
) -> BenchmarkGroup<'a, WallTime> {
    for (peer, title) in peers {
        comparisons.push(Comparison {
            name: (*title).to_owned(),
            group: name.to_owned(),
            peer: (*peer).to_owned(),
            elements: elements as u64,
            bytes,
        });
    }
    let mut group = criterion.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes));
    group
}

fn bench_smtp(c: &mut Criterion, comparisons: &mut Vec<Comparison>) {
    let commands = corpus::lines(SMTP_COMMANDS).len();
    let title = [(STALWART, "SMTP commands vs smtp-proto 0.2.5")];
    let bytes = SMTP_COMMANDS.len() as u64;
    let mut g = group(c, comparisons, "smtp-commands", &title, commands, bytes);
    g.bench_function(RAMPART, |b| {
        b.iter(|| smtp::rampart_commands(black_box(SMTP_COMMANDS)))
    });
    g.bench_function(STALWART, |b| {
        b.iter(|| smtp::stalwart_commands(black_box(SMTP_COMMANDS)))
    });
    g.finish();

    let replies = smtp::rampart_replies(SMTP_REPLIES);
    let title = [(STALWART, "SMTP replies vs smtp-proto 0.2.5")];
    let bytes = SMTP_REPLIES.len() as u64;
    let mut g = group(c, comparisons, "smtp-replies", &title, replies, bytes);
    g.bench_function(RAMPART, |b| {
        b.iter(|| smtp::rampart_replies(black_box(SMTP_REPLIES)))
    });
    g.bench_function(STALWART, |b| {
        b.iter(|| smtp::stalwart_replies(black_box(SMTP_REPLIES)))
    });
    g.finish();
}

fn bench_imap_parse(c: &mut Criterion, comparisons: &mut Vec<Comparison>) {
    // Each peer gets the commands it can parse (33 and 28 of the 34; see `imap`'s docs).
    let commands = corpus::imap_commands(IMAP_COMMANDS);
    let v1 = imap::codec1_subset(&commands);
    let v2 = imap::codec2_subset(&commands);
    let append: Vec<&[u8]> = commands
        .iter()
        .copied()
        .filter(|c| c.len() > 1000)
        .collect();

    // Whole commands from complete buffers, literals inline.
    let title = [(CODEC2, "IMAP parse, session mix vs imap-codec 2.0a10")];
    let bytes = corpus::total_len(&v2);
    let mut g = group(c, comparisons, "imap-parse", &title, v2.len(), bytes);
    g.bench_function(RAMPART, |b| b.iter(|| imap::rampart_parse(black_box(&v2))));
    g.bench_function(CODEC2, |b| b.iter(|| imap::codec2_parse(black_box(&v2))));
    g.finish();

    let title = [(CODEC1, "IMAP parse, session mix vs imap-codec 1.0")];
    let bytes = corpus::total_len(&v1);
    let mut g = group(c, comparisons, "imap-parse-v1", &title, v1.len(), bytes);
    g.bench_function(RAMPART, |b| b.iter(|| imap::rampart_parse(black_box(&v1))));
    g.bench_function(CODEC1, |b| b.iter(|| imap::codec1_parse(black_box(&v1))));
    g.finish();

    let titles = [
        (CODEC1, "IMAP parse, APPEND 10 KB vs imap-codec 1.0"),
        (CODEC2, "IMAP parse, APPEND 10 KB vs imap-codec 2.0a10"),
    ];
    let bytes = corpus::total_len(&append);
    let mut g = group(c, comparisons, "imap-parse-append", &titles, 1, bytes);
    g.bench_function(RAMPART, |b| {
        b.iter(|| imap::rampart_parse(black_box(&append)))
    });
    g.bench_function(CODEC1, |b| {
        b.iter(|| imap::codec1_parse(black_box(&append)))
    });
    g.bench_function(CODEC2, |b| {
        b.iter(|| imap::codec2_parse(black_box(&append)))
    });
    g.finish();

    // The stream in socket-sized reads: framing and parsing.
    let stream = v2.concat();
    let title = [(CODEC2, "IMAP frame+parse, session mix vs imap-codec 2.0a10")];
    let bytes = stream.len() as u64;
    let mut g = group(c, comparisons, "imap-frame-parse", &title, v2.len(), bytes);
    g.bench_function(RAMPART, |b| {
        b.iter(|| imap::rampart_frame_and_parse(black_box(&stream), READ_SIZE))
    });
    g.bench_function(CODEC2, |b| {
        b.iter(|| imap::codec2_frame_and_parse(black_box(&stream), READ_SIZE))
    });
    g.finish();

    let stream = v1.concat();
    let title = [(CODEC1, "IMAP frame+parse, session mix vs imap-codec 1.0")];
    let bytes = stream.len() as u64;
    let mut g = group(
        c,
        comparisons,
        "imap-frame-parse-v1",
        &title,
        v1.len(),
        bytes,
    );
    g.bench_function(RAMPART, |b| {
        b.iter(|| imap::rampart_frame_and_parse(black_box(&stream), READ_SIZE))
    });
    g.bench_function(CODEC1, |b| {
        b.iter(|| imap::codec1_buffer_and_parse(black_box(&stream), READ_SIZE))
    });
    g.finish();
}

fn bench_imap_encode(c: &mut Criterion, comparisons: &mut Vec<Comparison>) {
    let messages = encode::messages();
    let sets = [
        (
            "imap-encode-status",
            "status lines",
            rampart::prepare_status(STATUS_LINES),
            codec1::prepare_status(STATUS_LINES),
            codec2::prepare_status(STATUS_LINES),
        ),
        (
            "imap-encode-fetch",
            "FETCH responses",
            rampart::prepare_fetch(&messages),
            codec1::prepare_fetch(&messages),
            codec2::prepare_fetch(&messages),
        ),
    ];

    for (name, what, ours, v1, v2) in &sets {
        // Every side writes the same bytes (the library's tests check it); count them once.
        let mut output = Vec::new();
        let responses = rampart::encode(ours, &mut output);
        let titles = [
            (CODEC1, format!("IMAP encode, {what} vs imap-codec 1.0")),
            (CODEC2, format!("IMAP encode, {what} vs imap-codec 2.0a10")),
        ];
        let titles = titles
            .each_ref()
            .map(|(peer, title)| (*peer, title.as_str()));
        let bytes = output.len() as u64;
        let mut g = group(c, comparisons, name, &titles, responses, bytes);
        g.bench_function(RAMPART, |b| {
            b.iter(|| {
                output.clear();
                rampart::encode(black_box(ours), &mut output)
            })
        });
        g.bench_function(CODEC1, |b| {
            b.iter(|| {
                output.clear();
                codec1::encode(black_box(v1), &mut output)
            })
        });
        g.bench_function(CODEC2, |b| {
            b.iter(|| {
                output.clear();
                codec2::encode(black_box(v2), &mut output)
            })
        });
        g.finish();
    }
}

/// Runs every group with short warm-up and measurement times (the whole run stays within a
/// few minutes on two cores; command-line options still override them), then prints and
/// writes the ratio table.
fn main() {
    let started = SystemTime::now();
    let dir = report::criterion_dir();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();

    let mut comparisons = Vec::new();
    bench_smtp(&mut criterion, &mut comparisons);
    bench_imap_parse(&mut criterion, &mut comparisons);
    bench_imap_encode(&mut criterion, &mut comparisons);
    criterion.final_summary();

    // Only estimates written by this run count: a filtered run leaves older ones behind.
    let table = report::table(&comparisons, |group, bench| {
        report::median_ns(&dir, group, bench, started)
    });
    let Some(table) = table else {
        return;
    };
    println!("\nRampart against its peers (ratio = Rampart's throughput / the peer's):\n");
    println!("{table}");
    let path = dir.join("ratios.md");
    match std::fs::write(&path, &table) {
        Ok(()) => println!("written to {}", path.display()),
        Err(error) => eprintln!("cannot write {}: {error}", path.display()),
    }
}
