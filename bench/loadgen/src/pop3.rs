//! A POP3 download: one session that lists the maildrop and retrieves every message without
//! deleting any, as a client that leaves mail on the server does.
//!
//! One session only: a POP3 server locks the maildrop for the session (RFC 1939 section 8),
//! so concurrent clients of one mailbox would measure the lock, not the server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::stats::{Json, Samples};
use crate::wire::Wire;
use crate::{Error, frame, loopback};

/// Options of `loadgen pop3`.
#[derive(clap::Args)]
pub struct Args {
    /// The server's POP3 address (loopback only, no TLS).
    #[arg(long)]
    addr: SocketAddr,
    /// The login name.
    #[arg(long)]
    user: String,
    /// The password.
    #[arg(long)]
    pass: String,
    /// Stop retrieving after this many seconds.
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
}

/// Runs the test and returns its JSON line.
pub async fn run(args: Args) -> Result<String, Error> {
    let addr = loopback(args.addr)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);

    let mut wire = Wire::connect(addr).await?;
    status(&mut wire, "greeting").await?;
    wire.send(format!("USER {}\r\n", args.user).as_bytes())
        .await?;
    status(&mut wire, "USER").await?;
    wire.send(format!("PASS {}\r\n", args.pass).as_bytes())
        .await?;
    status(&mut wire, "PASS").await?;
    let login = started.elapsed();

    // The rate is counted from STAT on: what a client waits for once it is logged in.
    let listing = Instant::now();
    wire.send(b"STAT\r\n").await?;
    let stat = status(&mut wire, "STAT").await?;
    let count: u32 = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::Reply {
            command: "STAT",
            reply: stat.clone(),
        })?;
    wire.send(b"UIDL\r\n").await?;
    status(&mut wire, "UIDL").await?;
    let uidl_lines = multiline(&mut wire).await?;

    let mut samples = Samples::default();
    let mut octets = 0;
    for n in 1..=count {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        wire.send(format!("RETR {n}\r\n").as_bytes()).await?;
        status(&mut wire, "RETR").await?;
        octets += multiline(&mut wire).await?.1;
        samples.push(sent.elapsed());
    }
    let seconds = listing.elapsed().as_secs_f64();

    wire.send(b"QUIT\r\n").await?;
    status(&mut wire, "QUIT").await?;

    let mut json = Json::new("pop3");
    json.int("maildrop", u64::from(count))
        .int("uidl_lines", uidl_lines.0)
        .int("messages", samples.len() as u64)
        .int("octets", octets)
        .number("seconds", seconds)
        .number("messages_per_sec", samples.len() as f64 / seconds)
        .number("p50_ms", samples.percentile_ms(50.0))
        .number("p99_ms", samples.percentile_ms(99.0))
        .number("login_ms", login.as_secs_f64() * 1000.0)
        .number("total_seconds", started.elapsed().as_secs_f64());
    Ok(json.finish())
}

/// Reads a status line; anything but `+OK` ends the run.
async fn status(wire: &mut Wire, command: &'static str) -> Result<String, Error> {
    let line = wire.line().await?;
    if line.starts_with("+OK") {
        Ok(line)
    } else {
        Err(Error::Reply {
            command,
            reply: line,
        })
    }
}

/// Reads the lines of a multi-line response through its terminating `.` line; returns how
/// many lines and octets came before it.
async fn multiline(wire: &mut Wire) -> Result<(u64, u64), Error> {
    let (mut lines, mut octets) = (0, 0);
    loop {
        let len = wire.next(frame::line).await?;
        let done = frame::pop3_terminator(&wire.buffered()[..len]);
        wire.consume(len);
        if done {
            return Ok((lines, octets));
        }
        lines += 1;
        octets += len as u64;
    }
}
