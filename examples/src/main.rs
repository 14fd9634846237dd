//! `mail-server`: Rampart's crates wired into a working, hardened mail server.

mod cli;
mod config;
mod imap;
mod login;
mod pop3;
mod serve;
mod smtp;
mod tls;
mod users;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Logs go to stderr, filtered by RUST_LOG (default `info`); stdout is for command output.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal, so log files and fail2ban see plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();

    // Usage errors get the same one-line form as the others (clap's own is several lines);
    // help and version go to stdout as usual.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let rendered = error.to_string();
            let first = rendered.lines().next().unwrap_or("invalid command line");
            eprintln!(
                "mail-server: error: {}",
                first.trim_start_matches("error: ")
            );
            return ExitCode::FAILURE;
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line, whatever the source said.
            eprintln!("mail-server: error: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
