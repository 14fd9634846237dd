//! The server's configuration: a TOML file whose every key has a safe default, so a missing
//! file (or a missing key) gives a working, secure server.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    pub server: ServerSection,
    /// `[tls]`
    pub tls: TlsSection,
    /// `[listen]`
    pub listen: ListenSection,
    /// `[limits]`
    pub limits: LimitsSection,
    /// `[auth]`
    pub auth: AuthSection,
    /// `[relay]`
    pub relay: RelaySection,
    /// `[firewall]`
    pub firewall: FirewallSection,
}

/// `[server]`: who the server is.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// The name in greetings, Received headers and the generated certificate.
    pub hostname: String,
    /// Local domains: mail for these is delivered here.
    pub domains: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            domains: vec!["localhost".into()],
        }
    }
}

/// `[tls]`: the certificate; when the files are absent a self-signed one for the hostname is
/// generated there on first start and reused afterwards.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain; default `DATA_DIR/tls/cert.pem`.
    pub cert: Option<PathBuf>,
    /// PEM private key; default `DATA_DIR/tls/key.pem`.
    pub key: Option<PathBuf>,
}

impl TlsSection {
    /// The certificate and key paths, with the defaults under `data_dir`.
    pub fn paths(&self, data_dir: &Path) -> (PathBuf, PathBuf) {
        let cert = self
            .cert
            .clone()
            .unwrap_or_else(|| data_dir.join("tls/cert.pem"));
        let key = self
            .key
            .clone()
            .unwrap_or_else(|| data_dir.join("tls/key.pem"));
        (cert, key)
    }
}

/// `[listen]`: one address per listener; an empty string turns it off.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenSection {
    /// Inbound MX: STARTTLS offered, AUTH not offered.
    pub smtp: String,
    /// Submission: STARTTLS required before AUTH, AUTH required before MAIL.
    pub submission: String,
    /// Submission over implicit TLS, AUTH required.
    pub submissions: String,
    /// IMAP with STARTTLS.
    pub imap: String,
    /// IMAP over implicit TLS.
    pub imaps: String,
    /// POP3 with STLS.
    pub pop3: String,
    /// POP3 over implicit TLS.
    pub pop3s: String,
}

impl Default for ListenSection {
    fn default() -> Self {
        Self {
            smtp: "127.0.0.1:2525".into(),
            submission: "127.0.0.1:2587".into(),
            submissions: "127.0.0.1:2465".into(),
            imap: "127.0.0.1:2143".into(),
            imaps: "127.0.0.1:2993".into(),
            pop3: "127.0.0.1:2110".into(),
            pop3s: "127.0.0.1:2995".into(),
        }
    }
}

/// `[limits]`: every limit has a safe default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest message in octets.
    pub message_size: u64,
    /// Most recipients per message.
    pub recipients: usize,
    /// Most connections at once, over all listeners.
    pub connections: usize,
    /// Most connections at once from one client address.
    pub connections_per_ip: usize,
    /// Failed logins per client address within the window; then refused until it passes.
    pub auth_failures: usize,
    /// The window of `auth_failures`, in seconds.
    pub auth_failure_window_secs: u64,
    /// Protocol errors before 421 and disconnect.
    pub smtp_errors: u32,
    /// Seconds an SMTP client may stay silent (RFC 5321 section 4.5.3.2: at least 300).
    pub smtp_idle_timeout_secs: u64,
    /// IMAP BAD responses and failed logins before BYE and disconnect.
    pub imap_errors: u32,
    /// Seconds a logged-in IMAP client may stay silent, IDLE included (RFC 9051 section
    /// 5.4: at least 30 minutes).
    pub imap_idle_timeout_secs: u64,
    /// Seconds an IMAP client may stay silent before it logs in.
    pub imap_login_timeout_secs: u64,
    /// Seconds sessions get to finish after SIGINT or SIGTERM.
    pub shutdown_grace_secs: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            message_size: 26_214_400,
            recipients: 100,
            connections: 1000,
            connections_per_ip: 20,
            auth_failures: 5,
            auth_failure_window_secs: 900,
            smtp_errors: 10,
            smtp_idle_timeout_secs: 300,
            imap_errors: 10,
            imap_idle_timeout_secs: 1800,
            imap_login_timeout_secs: 60,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[auth]`: which SASL mechanisms are offered.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Mechanism names; CRAM-MD5 and DIGEST-MD5 may be added (they need password-equivalent
    /// secrets, stored only while they are enabled, from the next password change on).
    pub mechanisms: Vec<String>,
    /// Allow login before TLS from 127.0.0.0/8 and ::1, for development.
    pub plaintext_on_loopback: bool,
}

impl Default for AuthSection {
    fn default() -> Self {
        let mechanisms = ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"];
        Self {
            mechanisms: mechanisms.iter().map(|m| (*m).to_owned()).collect(),
            plaintext_on_loopback: false,
        }
    }
}

/// `[relay]`: who may relay without authenticating.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// Networks (CIDR) that may relay without AUTH; none by default.
    pub trusted_networks: Vec<String>,
}

/// `[firewall]`: who may connect at all.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FirewallSection {
    /// When non-empty, only these networks may connect.
    pub allow: Vec<String>,
    /// Refused at accept, before any protocol byte.
    pub deny: Vec<String>,
}

/// Why a configuration is refused, in one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, on one line.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text (`path` is for messages only).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            message: error.message().replace('\n', " "),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Checks what the types cannot: addresses, networks, mechanism names, ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.server.hostname.is_empty() {
            return Err("server.hostname is empty".into());
        }
        let listen = &self.listen;
        for (key, value) in [
            ("smtp", &listen.smtp),
            ("submission", &listen.submission),
            ("submissions", &listen.submissions),
            ("imap", &listen.imap),
            ("imaps", &listen.imaps),
            ("pop3", &listen.pop3),
            ("pop3s", &listen.pop3s),
        ] {
            if !value.is_empty() && value.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("listen.{key} = {value:?} is not an address:port"));
            }
        }
        for (key, networks) in [
            ("relay.trusted_networks", &self.relay.trusted_networks),
            ("firewall.allow", &self.firewall.allow),
            ("firewall.deny", &self.firewall.deny),
        ] {
            for network in networks {
                if network.parse::<mail_auth::limiter::IpNetwork>().is_err() {
                    return Err(format!(
                        "{key}: {network:?} is not an address or CIDR network"
                    ));
                }
            }
        }
        for name in &self.auth.mechanisms {
            let known = [
                "PLAIN",
                "LOGIN",
                "CRAM-MD5",
                "DIGEST-MD5",
                "SCRAM-SHA-256",
                "SCRAM-SHA-256-PLUS",
                "EXTERNAL",
            ];
            if !known.contains(&name.to_ascii_uppercase().as_str()) {
                return Err(format!("auth.mechanisms: unknown mechanism {name:?}"));
            }
        }
        let limits = &self.limits;
        let timeouts = [
            limits.smtp_idle_timeout_secs,
            limits.imap_idle_timeout_secs,
            limits.imap_login_timeout_secs,
        ];
        if timeouts.contains(&0) || limits.connections == 0 || limits.imap_errors == 0 {
            return Err("limits: timeouts, error and connection limits must be positive".into());
        }
        Ok(())
    }

    /// Whether `ip` is in one of `networks` (already validated).
    pub fn in_networks(networks: &[String], ip: IpAddr) -> bool {
        networks
            .iter()
            .filter_map(|n| n.parse::<mail_auth::limiter::IpNetwork>().ok())
            .any(|network| network.contains(ip))
    }
}
