//! SMTP acceptance: messages delivered over persistent connections, each timed from the end
//! of its data to the server's reply, which a durable server sends only once the message is
//! on disk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::stats::{Json, Samples};
use crate::wire::Wire;
use crate::{Error, frame, join_error, loopback};

/// Options of `loadgen smtp`.
#[derive(clap::Args)]
pub struct Args {
    /// The server's SMTP address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// How many messages to deliver in all.
    #[arg(long, default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    messages: u32,
    /// The size of each message in octets, headers included.
    #[arg(long, default_value_t = 10240,
          value_parser = clap::value_parser!(u32).range(256..=10_485_760))]
    size: u32,
    /// How many connections deliver at once.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    concurrency: u32,
    /// The recipient of every message.
    #[arg(long)]
    to: String,
    /// The envelope and header sender.
    #[arg(long, default_value = "loadgen@localhost")]
    from: String,
    /// Stop after this many seconds even if messages remain.
    #[arg(long, default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
}

/// What every connection shares.
struct Plan {
    from: String,
    to: String,
    /// The part of every message after its per-message headers, dot-terminated.
    tail: Vec<u8>,
    total: usize,
    next: AtomicUsize,
    deadline: Instant,
}

/// Runs the test and returns its JSON line.
pub async fn run(args: Args) -> Result<String, Error> {
    let addr = loopback(args.addr)?;

    // Open and greet every connection before the clock starts, so the rate measures mail
    // transactions and not connection setup.
    let mut setup = JoinSet::new();
    for _ in 0..args.concurrency {
        setup.spawn(open(addr));
    }
    let mut wires = Vec::new();
    while let Some(joined) = setup.join_next().await {
        wires.push(joined.map_err(join_error)??);
    }

    let started = Instant::now();
    let plan = Arc::new(Plan {
        tail: body(&args.from, &args.to, args.size as usize),
        from: args.from,
        to: args.to,
        total: args.messages as usize,
        next: AtomicUsize::new(0),
        deadline: started + Duration::from_secs(args.seconds),
    });
    let mut senders = JoinSet::new();
    for wire in wires {
        senders.spawn(deliver(wire, Arc::clone(&plan)));
    }

    let mut samples = Samples::default();
    let mut errors = 0u64;
    let mut first_error = String::new();
    while let Some(joined) = senders.join_next().await {
        let (connection, outcome) = joined.map_err(join_error)?;
        samples.merge(connection);
        if let Err(e) = outcome {
            errors += 1;
            if first_error.is_empty() {
                first_error = e.to_string();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    let mut json = Json::new("smtp");
    json.int("messages", samples.len() as u64)
        .int("size", u64::from(args.size))
        .int("concurrency", u64::from(args.concurrency))
        .number("seconds", seconds)
        .number("messages_per_sec", samples.len() as f64 / seconds)
        .number("mean_ms", samples.mean_ms())
        .number("p50_ms", samples.percentile_ms(50.0))
        .number("p99_ms", samples.percentile_ms(99.0))
        .int("errors", errors)
        .string("first_error", &first_error);
    Ok(json.finish())
}

/// Connects and exchanges the greeting and EHLO.
async fn open(addr: SocketAddr) -> Result<Wire, Error> {
    let mut wire = Wire::connect(addr).await?;
    expect(&mut wire, 220, "greeting").await?;
    wire.send(b"EHLO loadgen.localhost\r\n").await?;
    expect(&mut wire, 250, "EHLO").await?;
    Ok(wire)
}

/// Delivers messages on one connection until none are left or time is up. Returns the
/// latencies measured even when the connection ended in an error, so none are lost.
async fn deliver(mut wire: Wire, plan: Arc<Plan>) -> (Samples, Result<(), Error>) {
    let mut samples = Samples::default();
    let outcome = async {
        let mail = format!("MAIL FROM:<{}>\r\n", plan.from);
        let rcpt = format!("RCPT TO:<{}>\r\n", plan.to);
        let mut message = Vec::with_capacity(plan.tail.len() + 256);
        loop {
            let n = plan.next.fetch_add(1, Ordering::Relaxed);
            if n >= plan.total || Instant::now() >= plan.deadline {
                break;
            }

            // One transaction per message, each step waiting for its reply: the server
            // ends the transaction with the reply to the data, so no RSET is needed.
            wire.send(mail.as_bytes()).await?;
            expect(&mut wire, 250, "MAIL").await?;
            wire.send(rcpt.as_bytes()).await?;
            expect(&mut wire, 250, "RCPT").await?;
            wire.send(b"DATA\r\n").await?;
            expect(&mut wire, 354, "DATA").await?;

            message.clear();
            message.extend_from_slice(
                format!(
                    "Subject: loadgen message {n}\r\nMessage-ID: <{n}.{}@loadgen.localhost>\r\n",
                    std::process::id()
                )
                .as_bytes(),
            );
            message.extend_from_slice(&plan.tail);
            wire.send(&message).await?;

            // The clock starts once the whole message, terminator included, is handed to
            // the kernel: what remains is the server's work to make it durable.
            let sent = Instant::now();
            expect(&mut wire, 250, "end of data").await?;
            samples.push(sent.elapsed());
        }
        wire.send(b"QUIT\r\n").await?;
        expect(&mut wire, 221, "QUIT").await
    }
    .await;
    (samples, outcome)
}

/// Reads one reply and checks its code.
async fn expect(wire: &mut Wire, code: u16, command: &'static str) -> Result<(), Error> {
    let (len, got) = wire.next(frame::smtp_reply).await?;
    if got != code {
        let reply = String::from_utf8_lossy(&wire.buffered()[..len]).into_owned();
        return Err(Error::Reply { command, reply });
    }
    wire.consume(len);
    Ok(())
}

/// The common headers and a plain-text body that fill a message to `size` octets, with the
/// terminating `.` line. No body line starts with `.`, so no dot-stuffing is needed.
fn body(from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();

    // The per-message headers come to about 90 octets; count them in the size.
    let mut line = 0u32;
    while out.len() + 90 < size {
        line += 1;
        out.extend_from_slice(
            format!("Line {line:05} of a benchmark message, plain text to fill the size.\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_fills_the_size_and_ends_the_data() {
        let tail = body("a@localhost", "b@localhost", 10240);
        assert!(tail.ends_with(b"\r\n.\r\n"));
        assert!((10_000..10_240).contains(&tail.len()));
        assert!(!tail.windows(3).any(|w| w == b"\n.." || w == b"\n.L"));
    }
}
