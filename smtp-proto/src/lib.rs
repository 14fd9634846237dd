//! A Sans-IO SMTP library: the grammar of RFC 5321 and its extensions, and a server and a
//! client session that never touch a socket, a file or a clock.
//!
//! The host (an async server, a test, a fuzz target) feeds the bytes it read, takes the
//! bytes to write, answers the events that need a decision, and passes the current
//! [`std::time::Instant`] in; the session does everything else: framing, parsing, command
//! sequencing, limits, reply codes, dot-stuffing and the extensions' rules.
//!
//! - [`server::ServerSession`]: the receiving side, for an MX, a submission server or an
//!   LMTP-like endpoint of your own. Its module documentation shows a whole transaction in
//!   a dozen lines.
//! - [`client::ClientSession`]: the sending side, for outbound delivery or an embedded client.
//! - [`command`], [`reply`], [`address`], [`extension`]: the grammar, usable on its own.
//!
//! Supported: SIZE (RFC 1870), 8BITMIME (RFC 6152), PIPELINING (RFC 2920),
//! ENHANCEDSTATUSCODES (RFC 2034, RFC 3463), STARTTLS (RFC 3207), AUTH with SASL-IR
//! (RFC 4954), CHUNKING (RFC 3030), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461) and
//! REQUIRETLS (RFC 8689). Each is advertised only when the host's configuration enables it.
//!
//! Security properties the sessions keep whatever the host does: only CRLF ends a line
//! (bare CR and LF are refused, which closes SMTP smuggling), every buffer is bounded,
//! input pipelined behind STARTTLS is refused, the session starts over after TLS, and no
//! secret appears in a `Debug` output.

pub mod address;
pub mod client;
pub mod command;
pub mod extension;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod reply;
pub mod server;
