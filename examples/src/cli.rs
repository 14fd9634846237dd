//! The command line: clap definitions and dispatch to the commands.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::users::{self, UserAction};

/// Rampart's mail server: SMTP, submission, IMAP and POP3 over one local store.
#[derive(Debug, Parser)]
#[command(name = "mail-server", version, about)]
pub struct Cli {
    /// Where the store, the generated certificate and `config.toml` live.
    #[arg(long, value_name = "DIR", default_value = "./mail-data", global = true)]
    pub data_dir: PathBuf,
    /// The configuration file; default `DATA_DIR/config.toml` when it exists, else the
    /// built-in defaults.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every configured listener until SIGINT or SIGTERM, then drain and exit; SIGHUP
    /// reloads the TLS certificate and key.
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Print or check configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from stdin (one line).
    Add {
        /// The account's address.
        email: String,
    },
    /// Set a new password, read from stdin; app passwords and TOTP are kept.
    Passwd {
        /// The account's address.
        email: String,
    },
    /// Delete an account with all its mail.
    Del {
        /// The account's address.
        email: String,
    },
    /// Print every account, one per line.
    List,
    /// Turn on TOTP two-factor; prints the otpauth:// URI.
    Totp {
        /// The account's address.
        email: String,
    },
    /// Create an app password; prints it once, on the last line.
    AppPassword {
        /// The account's address.
        email: String,
        /// A name for the app password, to tell it apart.
        label: String,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete, commented configuration with every default.
    Example,
    /// Validate a configuration file.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

/// Runs the parsed command line; the error is one line for the operator.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Config(ConfigCommand::Example) => {
            print!("{CONFIG_EXAMPLE}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            Config::load(&file).map_err(|error| error.to_string())?;
            println!("{}: ok", file.display());
            Ok(())
        }
        Command::Serve => {
            let config = load_config(cli.config.as_deref(), &cli.data_dir)?;
            crate::serve::run(cli.data_dir, config)
        }
        Command::User(command) => {
            let config = load_config(cli.config.as_deref(), &cli.data_dir)?;
            let action = match command {
                UserCommand::Add { email } => UserAction::Add(email),
                UserCommand::Passwd { email } => UserAction::Passwd(email),
                UserCommand::Del { email } => UserAction::Del(email),
                UserCommand::List => UserAction::List,
                UserCommand::Totp { email } => UserAction::Totp(email),
                UserCommand::AppPassword { email, label } => UserAction::AppPassword(email, label),
            };
            users::run(&cli.data_dir, &config, action)
        }
    }
}

/// The configuration: `--config`, else `DATA_DIR/config.toml` when it exists, else defaults.
fn load_config(explicit: Option<&Path>, data_dir: &Path) -> Result<Config, String> {
    let default_path = data_dir.join("config.toml");
    let path = match explicit {
        Some(path) => path,
        None if default_path.exists() => &default_path,
        None => return Ok(Config::default()),
    };
    Config::load(path).map_err(|error| error.to_string())
}

/// `config example`: every key with its default, so that the file parses to
/// `Config::default()` (a unit test keeps the two in step).
pub const CONFIG_EXAMPLE: &str = r#"# Rampart mail-server configuration.
# Every key is optional; the values below are the built-in defaults.
# Check a file with `mail-server config check FILE`.

[server]
# The name in greetings, Received headers and the generated certificate.
hostname = "localhost"
# Local domains: mail for these is delivered here; accounts must be in one of them.
domains = ["localhost"]

[tls]
# PEM certificate chain and private key. When both files are absent, a self-signed
# certificate for the hostname is generated there on first start and reused afterwards.
# Defaults: DATA_DIR/tls/cert.pem and DATA_DIR/tls/key.pem. SIGHUP rereads both; new
# handshakes use them, open connections keep theirs, and a pair that fails to load is
# logged and the old one kept.
# cert = "/etc/rampart/cert.pem"
# key = "/etc/rampart/key.pem"

[listen]
# One address:port per listener; an empty string turns the listener off.
# Inbound MX: STARTTLS offered, AUTH not offered.
smtp = "127.0.0.1:2525"
# Submission: STARTTLS required before AUTH, AUTH required before MAIL.
submission = "127.0.0.1:2587"
# Submission over implicit TLS.
submissions = "127.0.0.1:2465"
# IMAP with STARTTLS, and over implicit TLS.
imap = "127.0.0.1:2143"
imaps = "127.0.0.1:2993"
# POP3 with STLS, and over implicit TLS.
pop3 = "127.0.0.1:2110"
pop3s = "127.0.0.1:2995"

[limits]
# Largest message in octets (25 MiB).
message_size = 26214400
# Most recipients per message.
recipients = 100
# Most connections at once, over all listeners, and from one client address.
connections = 1000
connections_per_ip = 20
# Failed logins per client address within the window (seconds); then refused until it
# passes.
auth_failures = 5
auth_failure_window_secs = 900
# SMTP protocol errors before 421 and disconnect.
smtp_errors = 10
# Seconds an SMTP client may stay silent (RFC 5321 section 4.5.3.2: at least 300).
smtp_idle_timeout_secs = 300
# IMAP BAD responses and failed logins before BYE and disconnect.
imap_errors = 10
# Seconds a logged-in IMAP client may stay silent, IDLE included (RFC 9051 section 5.4: at
# least 30 minutes), and seconds before it must log in. The largest APPEND is message_size.
imap_idle_timeout_secs = 1800
imap_login_timeout_secs = 60
# Seconds sessions get to finish after SIGINT or SIGTERM.
shutdown_grace_secs = 10

[auth]
# SASL mechanisms offered. CRAM-MD5 and DIGEST-MD5 may be added; they need
# password-equivalent secrets, stored only while they are enabled, from the next password
# change on. EXTERNAL is also known.
mechanisms = ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
# Allow login before TLS from 127.0.0.0/8 and ::1, for development only.
plaintext_on_loopback = false

[relay]
# Networks (CIDR) that may relay without AUTH; none by default.
trusted_networks = []

[firewall]
# When non-empty, only these networks (addresses or CIDR) may connect.
allow = []
# Refused at accept, before any protocol byte.
deny = []
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_the_defaults() {
        let parsed = Config::parse(CONFIG_EXAMPLE, Path::new("example.toml"));
        assert_eq!(parsed.ok(), Some(Config::default()));
    }

    #[test]
    fn command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
