//! The IMAP command mix: concurrent clients on one mailbox, each looping over SELECT, a
//! FLAGS fetch of every message, a body fetch and a flag change of a random message.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::frame::{self, ImapResponse, Status};
use crate::stats::{Json, Samples};
use crate::wire::Wire;
use crate::{Error, Rng, join_error, loopback};

/// Options of `loadgen imap`.
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
    /// How many clients run the mix at once.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    clients: u32,
    /// How long the mix runs, after every client has logged in.
    #[arg(long, default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    seconds: u64,
}

/// One logged-out or logged-in IMAP connection.
pub struct Client {
    wire: Wire,
    tag: u32,
}

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Self, Error> {
        let mut wire = Wire::connect(addr).await?;
        let greeting = wire.line().await?;
        if !greeting.starts_with("* OK") {
            return Err(Error::Reply {
                command: "greeting",
                reply: greeting,
            });
        }
        Ok(Client { wire, tag: 0 })
    }

    /// Logs in with LOGIN and quoted strings.
    pub async fn login(&mut self, user: &str, pass: &str) -> Result<(), Error> {
        let command = format!("LOGIN {} {}", quoted(user), quoted(pass));
        self.expect_ok("LOGIN", &command, |_, _| {}).await
    }

    /// Sends `command` and hands each untagged response to `untagged` until the tagged
    /// completion, whose status is returned.
    pub async fn command(
        &mut self,
        command: &str,
        mut untagged: impl FnMut(&ImapResponse, &[u8]),
    ) -> Result<Status, Error> {
        let tag = self.send(command).await?;
        loop {
            let response = self.wire.next(frame::imap_response).await?;
            let buf = self.wire.buffered();
            let first = &buf[response.text[0].clone()];
            if let Some(status) = frame::tagged_status(first, tag.as_bytes()) {
                self.wire.consume(response.len);
                return Ok(status);
            }
            if first.starts_with(b"+") {
                return Err(Error::Reply {
                    command: "command",
                    reply: String::from_utf8_lossy(first).into_owned(),
                });
            }
            untagged(&response, buf);
            self.wire.consume(response.len);
        }
    }

    /// [`Client::command`], failing unless the status is OK.
    pub async fn expect_ok(
        &mut self,
        name: &'static str,
        command: &str,
        untagged: impl FnMut(&ImapResponse, &[u8]),
    ) -> Result<(), Error> {
        match self.command(command, untagged).await? {
            Status::Ok => Ok(()),
            status => Err(Error::Reply {
                command: name,
                reply: format!("{status:?}"),
            }),
        }
    }

    /// Enters IDLE and waits for the server's continuation (RFC 2177), skipping untagged
    /// responses sent before it.
    pub async fn idle(&mut self) -> Result<(), Error> {
        let tag = self.send("IDLE").await?;
        loop {
            let response = self.wire.next(frame::imap_response).await?;
            let first = &self.wire.buffered()[response.text[0].clone()];
            if first.starts_with(b"+") {
                self.wire.consume(response.len);
                return Ok(());
            }
            if frame::tagged_status(first, tag.as_bytes()).is_some() {
                return Err(Error::Reply {
                    command: "IDLE",
                    reply: String::from_utf8_lossy(first).into_owned(),
                });
            }
            self.wire.consume(response.len);
        }
    }

    /// Sends `command` under a new tag and returns the tag.
    async fn send(&mut self, command: &str) -> Result<String, Error> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        self.wire
            .send(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        Ok(tag)
    }
}

/// `s` as an IMAP quoted string (RFC 9051 section 4.3).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The latencies of each command of the mix.
#[derive(Default)]
struct Mix {
    select: Samples,
    fetch_flags: Samples,
    fetch_body: Samples,
    store: Samples,
    errors: u64,
    body_octets: u64,
    /// The largest EXISTS seen, to show in the report what size of mailbox was measured.
    exists: u32,
}

impl Mix {
    fn merge(&mut self, other: Mix) {
        self.select.merge(other.select);
        self.fetch_flags.merge(other.fetch_flags);
        self.fetch_body.merge(other.fetch_body);
        self.store.merge(other.store);
        self.errors += other.errors;
        self.body_octets += other.body_octets;
        self.exists = self.exists.max(other.exists);
    }
}

/// Runs the test and returns its JSON line.
pub async fn run(args: Args) -> Result<String, Error> {
    let addr = loopback(args.addr)?;

    // Log every client in before the clock starts: a login is a password hash, which
    // would otherwise weigh on the command rate.
    let mut setup = JoinSet::new();
    for _ in 0..args.clients {
        let (user, pass) = (args.user.clone(), args.pass.clone());
        setup.spawn(async move {
            let mut client = Client::connect(addr).await?;
            client.login(&user, &pass).await?;
            Ok::<_, Error>(client)
        });
    }
    let mut clients = Vec::new();
    while let Some(joined) = setup.join_next().await {
        clients.push(joined.map_err(join_error)??);
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        tasks.spawn(mix(client, deadline, Rng::new(i as u64)));
    }
    let mut total = Mix::default();
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.map_err(join_error)??);
    }
    let seconds = started.elapsed().as_secs_f64();

    let mut all = Samples::default();
    for samples in [
        &total.select,
        &total.fetch_flags,
        &total.fetch_body,
        &total.store,
    ] {
        all.merge(samples.clone());
    }
    let mut by_command = Json::default();
    for (name, samples) in [
        ("select", &mut total.select),
        ("fetch_flags", &mut total.fetch_flags),
        ("fetch_body", &mut total.fetch_body),
        ("store", &mut total.store),
    ] {
        let mut one = Json::default();
        one.latencies(samples, seconds);
        by_command.object(name, one);
    }

    let mut json = Json::new("imap");
    json.int("clients", u64::from(args.clients))
        .number("seconds", seconds)
        .latencies(&mut all, seconds)
        .int("errors", total.errors)
        .int("body_octets", total.body_octets)
        .int("exists", u64::from(total.exists))
        .object("by_command", by_command);
    Ok(json.finish())
}

/// One client's loop until the deadline; NO and BAD count as errors, not as operations.
async fn mix(mut client: Client, deadline: Instant, mut rng: Rng) -> Result<Mix, Error> {
    let mut mix = Mix::default();
    let mut uids = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let mut exists = 0;
        let status = client
            .command("SELECT INBOX", |response, buf| {
                if let Some(n) = response
                    .text
                    .first()
                    .and_then(|t| frame::exists(&buf[t.clone()]))
                {
                    exists = n;
                }
            })
            .await?;
        mix.exists = mix.exists.max(exists);
        record(&mut mix.select, &mut mix.errors, status, started);

        // The UIDs come from the FLAGS fetch, so the random picks are always messages that
        // exist, whatever numbering the server uses.
        uids.clear();
        let started = Instant::now();
        let status = client
            .command("UID FETCH 1:* (FLAGS)", |response, buf| {
                uids.extend(frame::fetch_uid(response, buf));
            })
            .await?;
        record(&mut mix.fetch_flags, &mut mix.errors, status, started);
        if uids.is_empty() || Instant::now() >= deadline {
            continue;
        }

        let uid = uids[rng.below(uids.len())];
        let started = Instant::now();
        let mut octets = 0;
        let status = client
            .command(&format!("UID FETCH {uid} BODY.PEEK[]"), |response, _| {
                octets += response.literal_octets as u64;
            })
            .await?;
        mix.body_octets += octets;
        record(&mut mix.fetch_body, &mut mix.errors, status, started);

        for change in ['+', '-'] {
            let started = Instant::now();
            let command = format!("UID STORE {uid} {change}FLAGS (\\Flagged)");
            let status = client.command(&command, |_, _| {}).await?;
            record(&mut mix.store, &mut mix.errors, status, started);
        }
    }
    client.expect_ok("LOGOUT", "LOGOUT", |_, _| {}).await?;
    Ok(mix)
}

/// Records a completed command: its latency when OK, an error otherwise.
fn record(samples: &mut Samples, errors: &mut u64, status: Status, started: Instant) {
    if status == Status::Ok {
        samples.push(started.elapsed());
    } else {
        *errors += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quoting_escapes_quote_and_backslash() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
