//! Harnesses for the fuzz targets in `fuzz/`, kept here so that the seed corpora replay as
//! ordinary tests on the stable toolchain. Each takes arbitrary bytes and panics only when
//! an invariant breaks.

use std::time::{Duration, Instant};

use mail_auth::sasl::{Failure, MechanismName, ServerStep};

use crate::command::Command;
use crate::server::{Event, LoginFailure, MessageInfo, ServerConfig, ServerSession};

/// The command parser never panics, on a line or on any prefix of it.
pub fn command(data: &[u8]) {
    for end in [data.len(), data.len() / 2] {
        let _ = Command::parse(&data[..end]);
    }
}

const MESSAGES: [&[u8]; 3] = [
    b"Subject: one\r\n\r\nbody\r\n.\r\n..\r\n",
    b"Subject: two\r\nX: y\r\n\r\nline 1\r\nline 2\r\nline 3",
    b".starts with a dot\nbare lf\n",
];

/// The server session, fed arbitrary client bytes in varying splits under a policy and a
/// scripted host drawn from the input, never panics, writes only well-formed replies (every
/// line `+OK`, `-ERR` or `+ `, or the content of a multi-line response ending in `.`), and
/// stays bounded.
pub fn session(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let mut config = ServerConfig::new("fuzz.example");
    config.stls = control & 1 != 0;
    config.tls = control & 2 != 0;
    config.allow_plaintext = control & 4 != 0;
    if control & 8 != 0 {
        config.apop_timestamp = Some("<1.2@fuzz.example>".to_owned());
    }
    config.login_delay = (control & 16 != 0).then_some(900);
    config.sasl_mechanisms = vec![MechanismName::new("PLAIN").expect("valid name")];
    config.limits.buffered_input = 4096;

    let start = Instant::now();
    let mut session = ServerSession::new(config, start);
    let mut written = Vec::new();
    let mut turn = 0usize;
    let mut step = |session: &mut ServerSession, written: &mut Vec<u8>| loop {
        while let Some(event) = session.poll_event() {
            turn += 1;
            let result = match event {
                Event::StartTls => {
                    session.tls_established(start);
                    Ok(())
                }
                Event::AuthCancelled => Ok(()),
                Event::Login { .. } | Event::Apop { .. } | Event::OpenMaildrop { .. } => {
                    match turn % 3 {
                        0 => session.login_failed(LoginFailure::InUse),
                        _ => session.login_ok(
                            (0..MESSAGES.len())
                                .map(|i| MessageInfo::new(MESSAGES[i].len() as u64, i.to_string()))
                                .collect(),
                        ),
                    }
                }
                Event::AuthStart { .. } | Event::AuthResponse(_) => {
                    session.auth_step(match turn % 3 {
                        0 => ServerStep::Challenge(b"x".to_vec()),
                        1 => ServerStep::Failure(Failure::InvalidCredentials),
                        _ => ServerStep::Success {
                            authorization_id: "fuzz".to_owned(),
                            additional_data: turn.is_multiple_of(2).then(|| b"ok".to_vec()),
                        },
                    })
                }
                Event::Retrieve { index, .. } => {
                    assert!((1..=MESSAGES.len() as u32).contains(&index));
                    if turn.is_multiple_of(5) {
                        session.retrieve_failed()
                    } else {
                        session.retrieve(MESSAGES[index as usize - 1].to_vec())
                    }
                }
                Event::Update { .. } => {
                    if turn.is_multiple_of(2) {
                        session.update_done()
                    } else {
                        session.update_failed()
                    }
                }
            };
            assert!(result.is_ok(), "answer refused");
        }
        match session.poll_transmit() {
            Some(bytes) => written.extend_from_slice(&bytes),
            None => break,
        }
    };

    step(&mut session, &mut written);
    let mut rest = input;
    let mut now = start;
    while !rest.is_empty() && !session.is_closed() {
        let take = (usize::from(rest[0]) % 64 + 1).min(rest.len());
        let (chunk, next) = rest.split_at(take);
        rest = next;
        session.handle_input(chunk, now);
        step(&mut session, &mut written);
        if chunk[0] == 0xff {
            now += Duration::from_secs(601);
            session.handle_timeout(now);
            step(&mut session, &mut written);
        }
    }

    assert!(
        written.len() <= 512 * (input.len() + 1) + 4096,
        "output unbounded"
    );
    check_replies(&written);
}

/// Panics unless `written` is a sequence of well-formed POP3 replies.
fn check_replies(written: &[u8]) {
    assert!(
        written.is_empty() || written.ends_with(b"\r\n"),
        "unterminated output"
    );
    let mut in_block = false;
    for line in written.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let line = line.strip_suffix(b"\r").expect("bare LF in output");
        assert!(!line.contains(&b'\r'), "bare CR in output");
        if in_block {
            if line == b"." {
                in_block = false;
            } else {
                assert!(
                    !line.starts_with(b".") || line.starts_with(b".."),
                    "unstuffed dot"
                );
            }
            continue;
        }
        assert!(
            line.starts_with(b"+OK") || line.starts_with(b"-ERR") || line.starts_with(b"+ "),
            "bad reply {:?}",
            String::from_utf8_lossy(line)
        );
        in_block = line.starts_with(b"+OK") && line.ends_with(b"follows");
    }
    assert!(!in_block, "unterminated multi-line response");
}
