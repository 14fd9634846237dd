//! The example sessions of the RFCs, as `C:`/`S:` transcripts. Server lines are compared by
//! their reply code and separator (the RFCs' texts are only examples), and multi-line
//! replies must have the same number of lines.

use std::time::Instant;

use mail_auth::sasl::{MechanismName, ServerStep};
use smtp_proto::reply::Reply;
use smtp_proto::server::{Event, ServerConfig, ServerSession};

/// Plays `transcript`; `policy` answers each event that needs an answer.
fn play(config: ServerConfig, transcript: &str, mut policy: impl FnMut(&Event) -> Option<Reply>) {
    let now = Instant::now();
    let mut session = ServerSession::new(config, now);
    let mut written = String::new();
    let mut drive = |session: &mut ServerSession, written: &mut String| {
        loop {
            if let Some(bytes) = session.poll_transmit() {
                written.push_str(std::str::from_utf8(&bytes).unwrap());
                continue;
            }
            let Some(event) = session.poll_event() else {
                break;
            };
            match &event {
                Event::AuthStart { .. } | Event::AuthResponse(_) => session
                    .auth_step(ServerStep::Success {
                        authorization_id: "test".into(),
                        additional_data: None,
                    })
                    .unwrap(),
                event if event.needs_answer() => match policy(event) {
                    Some(reply) if reply.is_positive_completion() => {
                        session.accept_with(reply).unwrap()
                    }
                    Some(reply) => session.reject(reply).unwrap(),
                    None => session.accept().unwrap(),
                },
                Event::StartTls => session.tls_established(now),
                _ => {}
            }
        }
    };

    drive(&mut session, &mut written);
    let mut expected = Vec::new();
    for line in transcript.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(client) = line.strip_prefix("C: ") {
            session.handle_input(format!("{client}\r\n").as_bytes(), now);
            drive(&mut session, &mut written);
        } else if let Some(server) = line.strip_prefix("S: ") {
            expected.push(server.to_owned());
        } else {
            panic!("bad transcript line {line:?}");
        }
    }

    let got: Vec<&str> = written.lines().collect();
    assert_eq!(got.len(), expected.len(), "{written}");
    for (got, expected) in got.iter().zip(&expected) {
        assert_eq!(
            &got[..got.len().min(4)],
            &expected[..expected.len().min(4)],
            "{written}"
        );
    }
}

fn plain_config() -> ServerConfig {
    let mut config = ServerConfig::new("foo.com");
    config.extensions.enhanced_status_codes = false;
    config.extensions.pipelining = false;
    config.extensions.chunking = false;
    config.extensions.smtputf8 = false;
    config
}

/// RFC 5321 appendix D.1, a typical SMTP transaction scenario.
#[test]
fn rfc5321_d1_typical_transaction() {
    play(
        plain_config(),
        "S: 220 foo.com Simple Mail Transfer Service Ready
         C: EHLO bar.com
         S: 250-foo.com greets bar.com
         S: 250-8BITMIME
         S: 250-DSN
         S: 250 SIZE
         C: MAIL FROM:<Smith@bar.com>
         S: 250 OK
         C: RCPT TO:<Jones@foo.com>
         S: 250 OK
         C: RCPT TO:<Green@foo.com>
         S: 550 No such user here
         C: RCPT TO:<Brown@foo.com>
         S: 250 OK
         C: DATA
         S: 354 Start mail input; end with <CRLF>.<CRLF>
         C: Blah blah blah...
         C: ...etc. etc. etc.
         C: .
         S: 250 OK
         C: QUIT
         S: 221 foo.com Service closing transmission channel",
        |event| match event {
            Event::Rcpt { forward_path, .. } if forward_path.to_string().contains("Green") => {
                Some(Reply::new(550, None, "No such user here"))
            }
            _ => None,
        },
    );
}

/// RFC 5321 appendix D.2, aborted transaction.
#[test]
fn rfc5321_d2_aborted_transaction() {
    play(
        plain_config(),
        "S: 220 foo.com Simple Mail Transfer Service Ready
         C: HELO bar.com
         S: 250 foo.com
         C: MAIL FROM:<Smith@bar.com>
         S: 250 OK
         C: RCPT TO:<Jones@foo.com>
         S: 250 OK
         C: RCPT TO:<Green@foo.com>
         S: 550 No such user here
         C: RSET
         S: 250 OK
         C: QUIT
         S: 221 foo.com Service closing transmission channel",
        |event| match event {
            Event::Rcpt { forward_path, .. } if forward_path.to_string().contains("Green") => {
                Some(Reply::new(550, None, "No such user here"))
            }
            _ => None,
        },
    );
}

/// RFC 2920 section 3.2, a pipelined transaction with one recipient refused.
#[test]
fn rfc2920_pipelining_example() {
    let mut config = plain_config();
    config.extensions.pipelining = true;
    let now = Instant::now();
    let mut session = ServerSession::new(config, now);
    session.accept().unwrap();
    session.poll_event();
    session.poll_transmit();
    session.handle_input(b"EHLO dbc.mtview.ca.us\r\n", now);
    session.poll_event();
    session.accept().unwrap();
    let ehlo = String::from_utf8(session.poll_transmit().unwrap()).unwrap();
    assert!(ehlo.contains("250-PIPELINING\r\n"));

    session.handle_input(
        b"MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@innosoft.com>\r\n\
          RCPT TO:<dan@innosoft.com>\r\nRCPT TO:<kvc@innosoft.com>\r\nDATA\r\n",
        now,
    );
    let mut codes = Vec::new();
    while let Some(event) = session.poll_event() {
        if let Event::Rcpt { forward_path, .. } = &event
            && forward_path.to_string().contains("dan")
        {
            session
                .reject(Reply::new(550, None, "No such user"))
                .unwrap();
            continue;
        }
        if event.needs_answer() {
            session.accept().unwrap();
        }
    }
    // All five replies in one write, in command order.
    let replies = String::from_utf8(session.poll_transmit().unwrap()).unwrap();
    for line in replies.lines() {
        codes.push(&line[..3]);
    }
    assert_eq!(codes, ["250", "250", "550", "250", "354"]);
}

/// RFC 3030 section 4.2, BDAT with two chunks (sizes counted for this text).
#[test]
fn rfc3030_chunking_example() {
    let mut config = plain_config();
    config.extensions.chunking = true;
    play(
        config,
        "S: 220 foo.com ESMTP
         C: EHLO bar.com
         S: 250-foo.com greets bar.com
         S: 250-8BITMIME
         S: 250-CHUNKING
         S: 250-DSN
         S: 250 SIZE
         C: MAIL FROM:<Sam@Random.com>
         S: 250 OK
         C: RCPT TO:<Susan@Random.com>
         S: 250 OK
         C: BDAT 22
         C: To: Susan@Random.com
         S: 250 22 octets received
         C: BDAT 10 LAST
         C: Hi Susan
         S: 250 Message OK, 32 octets received
         C: QUIT
         S: 221 Goodbye",
        |_| None,
    );
}

/// RFC 4954 section 7, AUTH PLAIN with an initial response after STARTTLS.
#[test]
fn rfc4954_auth_example() {
    let mut config = plain_config();
    config.extensions.starttls = true;
    config.extensions.auth = vec![MechanismName::new("PLAIN").unwrap()];
    config.extensions.enhanced_status_codes = true;
    play(
        config,
        "S: 220 smtp.example.com ESMTP server ready
         C: EHLO jgm.example.com
         S: 250-smtp.example.com
         S: 250-8BITMIME
         S: 250-ENHANCEDSTATUSCODES
         S: 250-DSN
         S: 250-STARTTLS
         S: 250 SIZE
         C: STARTTLS
         S: 220 Ready to start TLS
         C: EHLO jgm.example.com
         S: 250-smtp.example.com
         S: 250-8BITMIME
         S: 250-ENHANCEDSTATUSCODES
         S: 250-DSN
         S: 250-SIZE
         S: 250 AUTH PLAIN
         C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
         S: 235 2.7.0 Authentication successful",
        |_| None,
    );
}

/// RFC 1870 section 8's refusal of a declared size over the limit.
#[test]
fn rfc1870_size_example() {
    let mut config = plain_config();
    config.limits.message_size = 1_000_000;
    play(
        config,
        "S: 220 foo.com ESMTP
         C: EHLO bar.com
         S: 250-foo.com greets bar.com
         S: 250-8BITMIME
         S: 250-DSN
         S: 250 SIZE 1000000
         C: MAIL FROM:<ned@thor.innosoft.com> SIZE=500000
         S: 250 Address Ok.
         C: RSET
         S: 250 OK
         C: MAIL FROM:<ned@thor.innosoft.com> SIZE=1000001
         S: 552 Message size exceeds fixed maximum message size",
        |_| None,
    );
}
