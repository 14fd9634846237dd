//! A bounded load generator for mail servers on loopback: SMTP acceptance, an IMAP command
//! mix, a POP3 download and the memory cost of idle IMAP connections.
//!
//! Every subcommand is bounded in count and in time, refuses any address that is not
//! loopback, exits by itself and prints one JSON line with its results, which
//! `bench/peers.sh` collects into the table of `BENCHMARKS.md`.

mod frame;
mod idle;
mod imap;
mod pop3;
mod procmem;
mod smtp;
mod stats;
mod wire;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What can end a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection while a reply was awaited.
    #[error("the server closed the connection")]
    Closed,
    /// An operation took longer than the per-operation limit.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// A reply could not be framed.
    #[error("framing: {0}")]
    Frame(#[from] frame::FrameError),
    /// The server answered something other than what the step needs.
    #[error("unexpected reply to {command}: {reply}")]
    Reply {
        /// The command or step that was answered.
        command: &'static str,
        /// The reply, or its first line.
        reply: String,
    },
    /// The target is not on this machine; a load test never leaves loopback.
    #[error("{0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// Reading a process's memory from /proc failed.
    #[error("reading /proc for pid {pid}: {source}")]
    Proc {
        /// The process.
        pid: u32,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Parser)]
#[command(about = "Loopback load generator for SMTP, IMAP and POP3 servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Delivers messages over persistent SMTP connections; reports messages/s and the
    /// latency from the end of DATA to its reply.
    Smtp(smtp::Args),
    /// Runs a SELECT / FETCH / STORE mix on concurrent IMAP clients; reports ops/s.
    Imap(imap::Args),
    /// Downloads a whole maildrop over POP3 without deleting; reports messages/s.
    Pop3(pop3::Args),
    /// Holds many IMAP connections in IDLE; reports the server's memory per connection.
    Idle(idle::Args),
}

/// Refuses any address off this machine.
pub fn loopback(addr: SocketAddr) -> Result<SocketAddr, Error> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(Error::NotLoopback(addr))
    }
}

/// A task that panicked or was cancelled; only a bug in this program does either.
pub fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

/// A small xorshift generator: the random UIDs need no quality, only no dependency.
pub struct Rng(u64);

impl Rng {
    /// Seeds from the clock and a per-client number, so clients pick different messages.
    pub fn new(stream: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into());
        // Zero is the generator's one fixed point; the `| 1` keeps it out.
        Rng((nanos ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// The next value below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Smtp(args) => smtp::run(args).await,
        Command::Imap(args) => imap::run(args).await,
        Command::Pop3(args) => pop3::run(args).await,
        Command::Idle(args) => idle::run(args).await,
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
