//! The memory cost of idle IMAP connections: open many, log each in, select INBOX, enter
//! IDLE, and compare the server's memory before and after.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::imap::Client;
use crate::procmem::{self, Memory};
use crate::stats::Json;
use crate::{Error, join_error, loopback};

/// Options of `loadgen idle`.
#[derive(clap::Args)]
pub struct Args {
    /// The server's IMAP address (loopback only, no TLS).
    #[arg(long)]
    addr: SocketAddr,
    /// The login name.
    #[arg(long)]
    user: String,
    /// The password.
    #[arg(long)]
    pass: String,
    /// How many connections to hold in IDLE.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    connections: u32,
    /// The server's processes, comma-separated; each is counted with all its descendants.
    #[arg(long, value_delimiter = ',', required = true)]
    pid: Vec<u32>,
    /// How many connections may be logging in at once: a login server with a bounded pool
    /// of login processes would otherwise queue them.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    ramp: u32,
    /// The most time the connections may take to reach IDLE.
    #[arg(long, default_value_t = 240,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// How long to wait, once all are idling, before reading memory again.
    #[arg(long, default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    settle_ms: u64,
}

/// Runs the test and returns its JSON line.
pub async fn run(args: Args) -> Result<String, Error> {
    let addr = loopback(args.addr)?;
    let before = procmem::measure(&args.pid)?;

    let started = Instant::now();
    let ramp = Arc::new(Semaphore::new(args.ramp as usize));
    let mut setup = JoinSet::new();
    for _ in 0..args.connections {
        let (user, pass, ramp) = (args.user.clone(), args.pass.clone(), Arc::clone(&ramp));
        setup.spawn(async move {
            // The permit is held only while logging in; an idling client holds none.
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = ramp.acquire_owned().await.map_err(|_| Error::Closed)?;
            let mut client = Client::connect(addr).await?;
            client.login(&user, &pass).await?;
            client
                .expect_ok("SELECT", "SELECT INBOX", |_, _| {})
                .await?;
            client.idle().await?;
            Ok::<_, Error>(client)
        });
    }

    // The connections are kept in this vector until the measure is taken: dropping one
    // would close it.
    let mut idling = Vec::with_capacity(args.connections as usize);
    let collect = async {
        while let Some(joined) = setup.join_next().await {
            idling.push(joined.map_err(join_error)??);
        }
        Ok::<_, Error>(())
    };
    timeout(Duration::from_secs(args.seconds), collect)
        .await
        .map_err(|_| Error::Timeout("reaching IDLE on every connection"))??;
    let setup_seconds = started.elapsed().as_secs_f64();

    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let after = procmem::measure(&args.pid)?;
    let count = idling.len();
    let n = count as f64;
    drop(idling);

    let mut json = Json::new("idle");
    json.int("connections", count as u64)
        .number("setup_seconds", setup_seconds);
    fields(&mut json, "before", before);
    fields(&mut json, "after", after);
    json.number(
        "rss_kib_per_conn",
        after.rss_kib.saturating_sub(before.rss_kib) as f64 / n,
    )
    .number(
        "pss_kib_per_conn",
        after.pss_kib.saturating_sub(before.pss_kib) as f64 / n,
    );
    Ok(json.finish())
}

/// Adds one measure's fields under a prefix.
fn fields(json: &mut Json, prefix: &str, memory: Memory) {
    json.int(&format!("{prefix}_rss_kib"), memory.rss_kib)
        .int(&format!("{prefix}_pss_kib"), memory.pss_kib)
        .int(&format!("{prefix}_processes"), memory.processes);
}
