//! Harnesses for the fuzz targets in `fuzz/`, kept here so that the seed corpora replay as
//! ordinary tests on the stable toolchain. Each takes arbitrary bytes and panics only when
//! an invariant breaks.

use std::time::{Duration, Instant};

use mail_auth::sasl::{Failure, MechanismName, ServerStep};

use crate::command::Command;
use crate::reply::{Reply, ReplyParser};
use crate::server::{Event, ServerConfig, ServerSession};

/// The command parser never panics, and whatever it accepts encodes to a line that parses
/// back to the same command.
pub fn command(data: &[u8]) {
    let Ok(command) = Command::parse(data) else {
        return;
    };

    let mut wire = Vec::new();
    command.encode(&mut wire);
    assert!(wire.ends_with(b"\r\n"));
    let line = &wire[..wire.len() - 2];
    assert_eq!(
        Command::parse(line).as_ref(),
        Ok(&command),
        "{:?}",
        String::from_utf8_lossy(line)
    );
}

/// The address parsers never panic and round-trip what they accept.
pub fn address(data: &[u8]) {
    crate::address::fuzz_parse(data);
}

/// The server session, fed arbitrary client bytes in varying splits under a policy drawn
/// from the input, never panics, writes only well-formed replies, and stays bounded.
pub fn server_session(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };

    let mut config = ServerConfig::new("fuzz.example");
    config.extensions.starttls = control & 1 != 0;
    config.extensions.vrfy = control & 2 != 0;
    config.tls = control & 4 != 0;
    config.allow_plaintext_auth = control & 8 != 0;
    config.require_auth = control & 16 != 0;
    config.extensions.enhanced_status_codes = control & 32 != 0;
    config.extensions.auth = vec![MechanismName::new("PLAIN").expect("valid name")];
    config.limits.message_size = 4096;
    config.limits.buffered_input = 8192;
    config.limits.data_chunk = 512;
    let max_message = config.limits.message_size;

    let start = Instant::now();
    let mut session = ServerSession::new(config, start);
    let mut written = Vec::new();
    let mut message_size = 0u64;
    let mut turn = 0usize;
    // One turn of the host's loop. Taking the output can release an event (StartTls waits
    // until its 220 is taken), so events are polled again until no more output comes.
    let mut step = |session: &mut ServerSession, written: &mut Vec<u8>| loop {
        while let Some(event) = session.poll_event() {
            turn += 1;
            match &event {
                Event::MessageData(chunk) => {
                    assert!(chunk.len() <= 512, "chunk over the limit");
                    message_size += chunk.len() as u64;
                    assert!(message_size <= max_message, "message over the limit");
                }
                Event::MessageComplete | Event::MessageAborted(_) => message_size = 0,
                Event::StartTls => session.tls_established(start),
                Event::AuthStart { .. } | Event::AuthResponse(_) => {
                    let step = match turn % 3 {
                        0 => ServerStep::Challenge(b"x".to_vec()),
                        1 => ServerStep::Failure(Failure::InvalidCredentials),
                        _ => ServerStep::Success {
                            authorization_id: "fuzz".to_owned(),
                            additional_data: turn.is_multiple_of(5).then(|| b"done".to_vec()),
                        },
                    };
                    session.auth_step(step).expect("an auth step was asked for");
                }
                _ => {}
            }
            let sasl = matches!(event, Event::AuthStart { .. } | Event::AuthResponse(_));
            if event.needs_answer() && !sasl {
                let answer = if turn % 4 == 3 {
                    session.reject(Reply::new(550, None, "no"))
                } else {
                    session.accept()
                };
                answer.expect("an answer was asked for");
            }
        }
        let Some(bytes) = session.poll_transmit() else {
            break;
        };
        written.extend_from_slice(&bytes);
    };

    step(&mut session, &mut written);
    let mut rest = input;
    // Pieces of 1 to 13 bytes find split-dependent bugs; every fourteenth piece is large, as
    // a real read is, so that a whole message can arrive in one `handle_input` and the
    // session's own per-call bounds (data chunks, buffered input) are reached too.
    let mut split = usize::from(control >> 6) + 1;
    while !rest.is_empty() && !session.is_closed() {
        let (piece, tail) = rest.split_at(split.min(rest.len()));
        session.handle_input(piece, start);
        step(&mut session, &mut written);
        rest = tail;
        split = match split {
            13 => 1024,
            14.. => 1,
            n => n + 1,
        };
    }
    session.handle_timeout(start + Duration::from_secs(3600));
    step(&mut session, &mut written);
    assert!(session.is_closed() || session.poll_timeout().is_none());

    check_replies(&written, input);
}

/// Every line the server wrote is a reply line (or a 334 challenge), and there is a bounded
/// amount of them for the input.
fn check_replies(written: &[u8], input: &[u8]) {
    let lines = input.windows(2).filter(|w| w == b"\r\n").count();
    assert!(
        written.len() <= 2048 * (lines + 4),
        "{} bytes written",
        written.len()
    );
    assert!(written.is_empty() || written.ends_with(b"\r\n"));

    let mut parser = ReplyParser::default();
    for line in written.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").expect("every line ends in CRLF");
        assert!(!line.contains(&b'\r'), "bare CR in a reply");
        if line.starts_with(b"334 ") {
            continue;
        }
        parser.push_line(line).expect("a well-formed reply line");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_harness_delivers_starttls_after_the_last_input() {
        // STARTTLS as the last line: its event is released only once the 220 has been taken,
        // after the events of that turn were polled. The harness must still hand it over
        // before the idle timeout, or the timer the handshake re-arms is never fired
        // (fuzz/regressions/smtp_server/starttls-last-line-timeout-not-armed).
        server_session(b"\x01STARTTLS\r\n");
        server_session(b"\x01EHLO c.example\r\nSTARTTLS\r\n");
        server_session(b"\x05STARTTLS\r\n");
    }
}
