//! Side-by-side benchmarks of Rampart's parsers and encoders against the crates users would
//! pick instead: Stalwart's `smtp-proto` 0.2.5 for SMTP, `imap-codec` 1.0 (the stable
//! release) and 2.0.0-alpha.10 (the one with a fragmentizer and the extensions Thunderbird
//! uses) for IMAP.
//!
//! Every contestant gets the same bytes. The corpora are in `corpus/` as wire bytes (CRLF
//! line ends, IMAP literals inline); [`corpus`] loads and splits them. [`smtp`], [`imap`] and
//! [`encode`] hold one function per contestant and task, each returning how many commands
//! (or replies, or bytes) it handled, so that a benchmark can `black_box` the count and a
//! test can check it. Their unit tests are the fairness checks: every entry used for a
//! comparison is accepted by both sides, and both sides agree on what it is.
//!
//! [`report`] turns criterion's estimates into the ratio table that the benchmark prints.
//!
//! Run `cargo bench -p benches`; see `README.md` for the method.

pub mod corpus;
pub mod encode;
pub mod imap;
pub mod report;
pub mod smtp;
