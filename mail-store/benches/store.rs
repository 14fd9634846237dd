//! Store benchmarks on the durable filesystem backend: `cargo bench -p mail-store`.
//!
//! Appends are durable (fsynced) when they return, so their figures are bounded by the
//! disk's flush latency; the concurrent case shows what group commit recovers.

#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mail_auth::credentials::Credentials;
use mail_store::fs::FsStore;
use mail_store::{Flags, NewMessage, Quota, Store};
use tokio::runtime::Runtime;

const ACCOUNT: &str = "bench@example.org";

fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rampart-bench-{name}-{}", std::process::id()))
}

/// A fresh, empty folder for a store.
fn scratch(name: &str) -> PathBuf {
    let dir = scratch_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn message(size: usize) -> NewMessage {
    let mut data = b"From: a@example.org\r\nSubject: bench\r\n\r\n".to_vec();
    data.resize(size, b'x');
    NewMessage {
        flags: Flags::new(),
        internal_date: 1_700_000_000,
        data,
    }
}

async fn store_with_account(name: &str) -> Arc<dyn Store> {
    let store = FsStore::open(scratch(name)).expect("open the store");
    let credentials = Credentials::new(ACCOUNT);
    store
        .create_account(ACCOUNT, credentials, Quota::default())
        .await
        .expect("account");
    Arc::new(store)
}

fn appends(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let store = runtime.block_on(store_with_account("append"));
    let mut group = c.benchmark_group("append 10 KB, durable");
    group.sample_size(10);

    group.throughput(Throughput::Elements(1));
    group.bench_function("one stream", |b| {
        b.to_async(&runtime).iter(|| async {
            store
                .append(ACCOUNT, "INBOX", message(10 * 1024))
                .await
                .unwrap();
        })
    });

    group.throughput(Throughput::Elements(16));
    group.bench_function("16 concurrent", |b| {
        b.to_async(&runtime).iter(|| async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .append(ACCOUNT, "INBOX", message(10 * 1024))
                            .await
                            .unwrap()
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(scratch_path("append"));
}

fn large_mailbox(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let store = store_with_account("large").await;
        // 100,000 small messages, appended 64 at a time so group commit can share fsyncs.
        for _ in 0..(100_000 / 64) {
            let batch: Vec<_> = (0..64)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { store.append(ACCOUNT, "INBOX", message(200)).await })
                })
                .collect();
            for task in batch {
                task.await.unwrap().unwrap();
            }
        }
        store
    });

    let mut group = c.benchmark_group("100,000-message mailbox");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("flags of every message", |b| {
        b.to_async(&runtime).iter(|| async {
            let all = store.messages(ACCOUNT, "INBOX").await.unwrap();
            assert!(all.len() >= 99_968);
        })
    });
    group.bench_function("read one message by UID", |b| {
        b.to_async(&runtime).iter(|| async {
            store
                .read_message(ACCOUNT, "INBOX", 54_321, None)
                .await
                .unwrap();
        })
    });
    group.bench_function("reopen the store and list flags", |b| {
        let dir = scratch_path("large");
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                runtime.block_on(async {
                    let store = FsStore::open(&dir).unwrap();
                    store.messages(ACCOUNT, "INBOX").await.unwrap();
                });
            }
            start.elapsed()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(scratch_path("large"));
}

criterion_group!(benches, appends, large_mailbox);
criterion_main!(benches);
