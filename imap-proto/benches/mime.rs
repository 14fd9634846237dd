//! MIME views on realistic messages: BODYSTRUCTURE of a multipart/mixed message (an
//! alternative text and HTML part and a 200 KB base64 attachment), parse included, as a
//! FETCH of an uncached message pays it; ENVELOPE of a message with long headers (a
//! Received chain, a 40-address Cc list, a long References field); and
//! `BODY[HEADER.FIELDS (From To Subject Date)]` of the same message, the request mail
//! clients send when they open a mailbox.
//!
//! Run with `cargo bench -p imap-proto --bench mime`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use imap_proto::command::{Section, SectionText};
use imap_proto::mime::MimeMessage;

/// multipart/mixed: multipart/alternative (text/plain, text/html), then a 200 KB
/// application/pdf attachment in base64, 76-column lines.
fn multipart() -> Vec<u8> {
    let mut raw = b"Return-Path: <alice@example.com>\r\n\
        From: Alice Example <alice@example.com>\r\n\
        To: Bob <bob@example.org>\r\n\
        Subject: Quarterly report\r\n\
        Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
        Message-ID: <report-2024-q1@example.com>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"----=_Part_0_1234.5678\"\r\n\
        \r\n\
        This is a multi-part message in MIME format.\r\n\
        ------=_Part_0_1234.5678\r\n\
        Content-Type: multipart/alternative; boundary=\"----=_Part_1_8765.4321\"\r\n\
        \r\n\
        ------=_Part_1_8765.4321\r\n\
        Content-Type: text/plain; charset=UTF-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n"
        .to_vec();
    for _ in 0..40 {
        raw.extend_from_slice(
            b"Please find the report attached; the numbers are up =E2=80=93 again.\r\n",
        );
    }
    raw.extend_from_slice(
        b"------=_Part_1_8765.4321\r\n\
        Content-Type: text/html; charset=UTF-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n",
    );
    for _ in 0..40 {
        raw.extend_from_slice(b"<p>Please find the report attached; the numbers are up.</p>\r\n");
    }
    raw.extend_from_slice(
        b"------=_Part_1_8765.4321--\r\n\
        ------=_Part_0_1234.5678\r\n\
        Content-Type: application/pdf; name=\"report.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\
        Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
        \r\n",
    );
    let line = b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n";
    let attachment_start = raw.len();
    while raw.len() - attachment_start < 200 * 1024 {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"------=_Part_0_1234.5678--\r\n");
    raw
}

/// A header as list traffic has it: a Received chain, a long Cc list, long References.
fn long_headers() -> Vec<u8> {
    let mut raw = Vec::new();
    for hop in 0..8 {
        raw.extend_from_slice(
            format!(
                "Received: from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop}])\r\n\
                 \tby mail.example.org (Rampart) with ESMTPS id {hop}ABCDEF\r\n\
                 \tfor <bob@example.org>; Mon, 1 Jan 2024 10:00:0{hop} +0000\r\n"
            )
            .as_bytes(),
        );
    }
    raw.extend_from_slice(b"From: \"Example, Alice (Sales)\" <alice@example.com>\r\n");
    raw.extend_from_slice(b"To: Bob <bob@example.org>, team:;\r\n");
    raw.extend_from_slice(b"Cc: ");
    for i in 0..40 {
        if i > 0 {
            raw.extend_from_slice(b",\r\n ");
        }
        raw.extend_from_slice(
            format!("=?UTF-8?Q?P=C3=A9rson_{i}?= <person{i}@example.com>").as_bytes(),
        );
    }
    raw.extend_from_slice(
        b"\r\nSubject: =?UTF-8?B?UmU6IHF1YXJ0ZXJseSByZXBvcnQgLSBkaXNjdXNzaW9u?=\r\n",
    );
    raw.extend_from_slice(b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n");
    raw.extend_from_slice(b"Message-ID: <reply-42@example.com>\r\n");
    raw.extend_from_slice(b"In-Reply-To: <reply-41@example.com>\r\n");
    raw.extend_from_slice(b"References:");
    for i in 0..30 {
        raw.extend_from_slice(format!("\r\n <reply-{i}@example.com>").as_bytes());
    }
    raw.extend_from_slice(b"\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nShort body.\r\n");
    raw
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mime");

    let raw = multipart();
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("bodystructure_multipart_200k", |b| {
        b.iter(|| {
            let message = MimeMessage::parse(black_box(&raw));
            let mut out = Vec::with_capacity(1024);
            message.write_body_structure(&mut out, true);
            out
        })
    });

    let raw = long_headers();
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("envelope_long_headers", |b| {
        b.iter(|| {
            let message = MimeMessage::parse(black_box(&raw));
            let mut out = Vec::with_capacity(4096);
            message.write_envelope(&mut out);
            out
        })
    });

    let section = Section {
        part: Vec::new(),
        text: Some(SectionText::HeaderFields(
            ["From", "To", "Subject", "Date"].map(String::from).to_vec(),
        )),
    };
    group.bench_function("header_fields_from_to_subject_date", |b| {
        b.iter(|| MimeMessage::parse(black_box(&raw)).section(black_box(&section)))
    });
    group.finish();
}

// What `criterion_group!` and `criterion_main!` expand to, written out: the macro's
// generated function has no doc comment, which the workspace's `missing_docs` lint refuses.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
