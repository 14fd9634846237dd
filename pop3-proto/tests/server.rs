//! The server session, command by command and state by state.

use std::time::{Duration, Instant};

use mail_auth::Secret;
use mail_auth::sasl::{Failure, MechanismName, ServerStep};
use pop3_proto::apop_digest;
use pop3_proto::server::{
    CloseReason, Event, LoginFailure, MessageInfo, ServerConfig, ServerSession, State,
};

const MESSAGES: [&[u8]; 2] = [
    b"Subject: one\r\n\r\nfirst body\r\n",
    b"Subject: two\r\nX: y\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n",
];

fn maildrop() -> Vec<MessageInfo> {
    MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| MessageInfo::new(m.len() as u64, format!("uid{}", i + 1)))
        .collect()
}

fn tls_config() -> ServerConfig {
    let mut config = ServerConfig::new("pop.example.org");
    config.tls = true;
    config
}

/// A scripted host: accepts any USER/PASS, serves `MESSAGES`, records events.
struct Host {
    session: ServerSession,
    now: Instant,
    events: Vec<Event>,
    /// Answer `Update` with success.
    update_ok: bool,
    /// What `Login`/`OpenMaildrop` get.
    login: Option<LoginFailure>,
    /// Answer AUTH steps with this, in order.
    auth: Vec<ServerStep>,
}

impl Host {
    fn new(config: ServerConfig) -> Self {
        let now = Instant::now();
        Self {
            session: ServerSession::new(config, now),
            now,
            events: Vec::new(),
            update_ok: true,
            login: None,
            auth: Vec::new(),
        }
    }

    /// Feeds `input`, runs the host loop, returns what was written.
    fn talk(&mut self, input: &[u8]) -> String {
        self.session.handle_input(input, self.now);
        self.drive()
    }

    fn drive(&mut self) -> String {
        let mut written = Vec::new();
        loop {
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                self.answer(&event);
                self.events.push(event);
            }
            while let Some(bytes) = self.session.poll_transmit() {
                progressed = true;
                written.extend_from_slice(&bytes);
            }
            if !progressed {
                break;
            }
        }
        String::from_utf8(written).unwrap()
    }

    fn answer(&mut self, event: &Event) {
        let s = &mut self.session;
        match event {
            Event::Login { .. } | Event::Apop { .. } | Event::OpenMaildrop { .. } => {
                match self.login {
                    Some(reason) => s.login_failed(reason).unwrap(),
                    None => s.login_ok(maildrop()).unwrap(),
                }
            }
            Event::AuthStart { .. } | Event::AuthResponse(_) => {
                s.auth_step(self.auth.remove(0)).unwrap()
            }
            Event::Retrieve { index, .. } => {
                s.retrieve(MESSAGES[*index as usize - 1].to_vec()).unwrap()
            }
            Event::Update { .. } if self.update_ok => s.update_done().unwrap(),
            Event::Update { .. } => s.update_failed().unwrap(),
            Event::StartTls => s.tls_established(self.now),
            _ => {}
        }
    }

    fn logged_in() -> Self {
        let mut host = Self::new(tls_config());
        host.drive();
        let out = host.talk(b"USER alice\r\nPASS secret\r\n");
        assert_eq!(
            out,
            "+OK send PASS\r\n+OK maildrop has 2 messages (75 octets)\r\n"
        );
        host
    }
}

#[test]
fn greeting_with_and_without_apop() {
    let mut host = Host::new(ServerConfig::new("pop.example.org"));
    assert_eq!(host.drive(), "+OK pop.example.org POP3 ready\r\n");
    let mut config = ServerConfig::new("pop.example.org");
    config.apop_timestamp = Some("<1.2@pop.example.org>".into());
    let mut host = Host::new(config);
    assert_eq!(
        host.drive(),
        "+OK pop.example.org POP3 ready <1.2@pop.example.org>\r\n"
    );
}

#[test]
fn rfc_1939_example_session() {
    let timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    let digest = apop_digest(timestamp, b"tanstaaf");
    assert_eq!(digest, "c4c9334bac560ecc979e58001b3e22fb");
    let mut config = ServerConfig::new("dbc.mtview.ca.us");
    config.apop_timestamp = Some(timestamp.into());
    let mut host = Host::new(config);
    assert!(
        host.drive()
            .ends_with(&format!("POP3 ready {timestamp}\r\n"))
    );

    assert_eq!(
        host.talk(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        "+OK maildrop has 2 messages (75 octets)\r\n"
    );
    assert_eq!(
        host.events[0],
        Event::Apop {
            user: "mrose".into(),
            digest: "c4c9334bac560ecc979e58001b3e22fb".into()
        }
    );
    assert_eq!(host.talk(b"STAT\r\n"), "+OK 2 75\r\n");
    assert_eq!(
        host.talk(b"LIST\r\n"),
        "+OK scan listing follows\r\n1 28\r\n2 47\r\n.\r\n"
    );
    let out = host.talk(b"RETR 1\r\n");
    assert_eq!(
        out,
        "+OK 28 octets, message follows\r\nSubject: one\r\n\r\nfirst body\r\n.\r\n"
    );
    assert_eq!(host.talk(b"DELE 1\r\n"), "+OK message 1 deleted\r\n");
    let out = host.talk(b"RETR 2\r\n");
    assert!(out.contains("\r\n..line 2\r\n"));
    assert_eq!(host.talk(b"DELE 2\r\n"), "+OK message 2 deleted\r\n");
    assert_eq!(
        host.talk(b"QUIT\r\n"),
        "+OK dbc.mtview.ca.us POP3 server signing off (0 messages left)\r\n"
    );
    assert_eq!(
        host.events.last(),
        Some(&Event::Update {
            deleted_uids: vec!["uid1".into(), "uid2".into()]
        })
    );
    assert_eq!(host.session.close_reason(), Some(CloseReason::Quit));
}

#[test]
fn apop_refused_without_timestamp() {
    let mut host = Host::new(tls_config());
    host.drive();
    let out = host.talk(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
    assert_eq!(out, "-ERR APOP not supported\r\n");
}

#[test]
fn user_pass_login_and_failures() {
    let mut host = Host::new(tls_config());
    host.drive();
    assert_eq!(host.talk(b"PASS x\r\n"), "-ERR USER first\r\n");
    host.login = Some(LoginFailure::InvalidCredentials);
    let out = host.talk(b"USER alice\r\nPASS my secret\r\n");
    assert_eq!(out, "+OK send PASS\r\n-ERR [AUTH] Invalid credentials\r\n");
    assert_eq!(
        host.events[0],
        Event::Login {
            user: "alice".into(),
            password: Secret::new(b"my secret".to_vec())
        }
    );
    // The failed PASS forgets the USER.
    assert_eq!(host.talk(b"PASS x\r\n"), "-ERR USER first\r\n");
    for (reason, code) in [
        (LoginFailure::InUse, "[IN-USE]"),
        (LoginFailure::LoginDelay, "[LOGIN-DELAY]"),
        (LoginFailure::Temporary, "[SYS/TEMP]"),
    ] {
        host.login = Some(reason);
        assert!(
            host.talk(b"USER a\r\nPASS b\r\n")
                .contains(&format!("-ERR {code} "))
        );
    }
    assert_eq!(host.session.state(), State::Authorization);
}

#[test]
fn plaintext_login_refused_before_tls() {
    let mut config = ServerConfig::new("pop.example.org");
    config.sasl_mechanisms = vec![MechanismName::new("PLAIN").unwrap()];
    let mut host = Host::new(config);
    host.drive();
    for line in [
        &b"USER a\r\n"[..],
        b"PASS b\r\n",
        b"AUTH PLAIN AGEAYg==\r\n",
    ] {
        assert!(
            host.talk(line)
                .starts_with("-ERR [AUTH] Plaintext authentication disallowed")
        );
    }
    assert!(host.events.is_empty());
    let capa = host.talk(b"CAPA\r\n");
    assert!(!capa.contains("\r\nUSER\r\n") && !capa.contains("SASL"));

    let mut config = ServerConfig::new("pop.example.org");
    config.allow_plaintext = true;
    let mut host = Host::new(config);
    host.drive();
    assert!(
        host.talk(b"USER a\r\nPASS b\r\n")
            .ends_with("+OK maildrop has 2 messages (75 octets)\r\n")
    );
}

#[test]
fn auth_plain_with_initial_response() {
    let mut config = tls_config();
    config.sasl_mechanisms = vec![MechanismName::new("PLAIN").unwrap()];
    let mut host = Host::new(config);
    host.drive();
    host.auth = vec![ServerStep::Success {
        authorization_id: "alice".into(),
        additional_data: None,
    }];
    let out = host.talk(b"auth plain AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(out, "+OK maildrop has 2 messages (75 octets)\r\n");
    assert_eq!(
        host.events,
        [
            Event::AuthStart {
                mechanism: MechanismName::new("PLAIN").unwrap(),
                initial_response: Some(Secret::new(b"\0alice\0secret".to_vec()))
            },
            Event::OpenMaildrop {
                user: "alice".into()
            }
        ]
    );
    assert_eq!(host.session.state(), State::Transaction);
}

#[test]
fn auth_challenges_cancel_and_failure() {
    let mut config = tls_config();
    config.sasl_mechanisms = vec![MechanismName::new("LOGIN").unwrap()];
    let mut host = Host::new(config);
    host.drive();
    assert_eq!(
        host.talk(b"AUTH PLAIN\r\n"),
        "-ERR Unrecognized authentication type\r\n"
    );
    assert_eq!(
        host.talk(b"AUTH\r\n"),
        "+OK SASL mechanism list follows\r\nLOGIN\r\n.\r\n"
    );

    host.auth = vec![ServerStep::Challenge(b"Username:".to_vec())];
    assert_eq!(host.talk(b"AUTH LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(host.talk(b"*\r\n"), "-ERR Authentication cancelled\r\n");
    assert_eq!(host.events.last(), Some(&Event::AuthCancelled));

    host.auth = vec![
        ServerStep::Challenge(b"Username:".to_vec()),
        ServerStep::Failure(Failure::InvalidCredentials),
    ];
    host.talk(b"AUTH LOGIN\r\n");
    assert_eq!(
        host.talk(b"YWxpY2U=\r\n"),
        "-ERR [AUTH] Authentication failed\r\n"
    );
    assert_eq!(
        host.events.last(),
        Some(&Event::AuthResponse(Secret::new(b"alice".to_vec())))
    );

    // Success with additional data: a last challenge, answered with an empty line.
    host.auth = vec![ServerStep::Success {
        authorization_id: "alice".into(),
        additional_data: Some(b"ok".to_vec()),
    }];
    assert_eq!(host.talk(b"AUTH LOGIN =\r\n"), "+ b2s=\r\n");
    assert!(host.talk(b"\r\n").starts_with("+OK maildrop has"));
}

#[test]
fn stls_upgrades_and_refuses_pipelined_bytes() {
    let mut config = ServerConfig::new("pop.example.org");
    config.stls = true;
    let mut host = Host::new(config.clone());
    host.drive();
    assert!(host.talk(b"CAPA\r\n").contains("\r\nSTLS\r\n"));
    host.session.handle_input(b"STLS\r\n", host.now);
    // The event waits until the +OK has been taken.
    assert_eq!(host.session.poll_event(), None);
    assert!(!host.session.wants_input());
    assert_eq!(
        host.session.poll_transmit().unwrap(),
        b"+OK Begin TLS negotiation\r\n"
    );
    assert_eq!(host.session.poll_event(), Some(Event::StartTls));
    host.session.tls_established(host.now);
    assert!(host.session.is_tls());
    let capa = host.talk(b"CAPA\r\n");
    assert!(!capa.contains("STLS") && capa.contains("\r\nUSER\r\n"));
    assert_eq!(host.talk(b"STLS\r\n"), "-ERR STLS not available\r\n");
    assert!(host.talk(b"USER a\r\nPASS b\r\n").contains("+OK maildrop"));

    let mut host = Host::new(config.clone());
    host.drive();
    let out = host.talk(b"STLS\r\nUSER a\r\n");
    assert_eq!(out, "-ERR Commands pipelined after STLS\r\n");
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::ProtocolViolation)
    );

    let mut host = Host::new(config);
    host.drive();
    host.session.handle_input(b"STLS\r\n", host.now);
    host.session.poll_transmit();
    host.session.handle_input(b"USER a\r\n", host.now);
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::ProtocolViolation)
    );
}

#[test]
fn capa_follows_config() {
    let mut config = tls_config();
    config.sasl_mechanisms = vec![
        MechanismName::new("PLAIN").unwrap(),
        MechanismName::new("SCRAM-SHA-256").unwrap(),
    ];
    config.expire = Some("NEVER".into());
    config.login_delay = Some(900);
    let mut host = Host::new(config);
    host.drive();
    assert_eq!(
        host.talk(b"CAPA\r\n"),
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN SCRAM-SHA-256\r\n\
         RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nLOGIN-DELAY 900\r\n\
         IMPLEMENTATION Rampart\r\n.\r\n"
    );
    host.talk(b"USER a\r\nPASS b\r\n");
    let capa = host.talk(b"CAPA\r\n");
    assert!(!capa.contains("USER") && !capa.contains("SASL") && capa.contains("TOP"));
}

#[test]
fn commands_checked_against_state() {
    let mut host = Host::new(tls_config());
    host.drive();
    for line in [
        "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL",
    ] {
        assert_eq!(
            host.talk(format!("{line}\r\n").as_bytes()),
            "-ERR Command not valid in this state\r\n"
        );
        host.session = ServerSession::new(tls_config(), host.now);
        host.drive();
    }
    let mut host = Host::logged_in();
    for line in [
        "USER a",
        "PASS b",
        "APOP a c4c9334bac560ecc979e58001b3e22fb",
        "AUTH PLAIN",
    ] {
        assert_eq!(
            host.talk(format!("{line}\r\n").as_bytes()),
            "-ERR Command not valid in this state\r\n"
        );
    }
    assert_eq!(host.talk(b"noop\r\n"), "+OK\r\n");
}

#[test]
fn list_uidl_stat_and_message_numbers() {
    let mut host = Host::logged_in();
    assert_eq!(host.talk(b"LIST 2\r\n"), "+OK 2 47\r\n");
    assert_eq!(host.talk(b"UIDL 1\r\n"), "+OK 1 uid1\r\n");
    assert_eq!(
        host.talk(b"UIDL\r\n"),
        "+OK unique-id listing follows\r\n1 uid1\r\n2 uid2\r\n.\r\n"
    );
    for line in [
        "LIST 0",
        "LIST 3",
        "RETR 9",
        "DELE 0",
        "TOP 3 0",
        "UIDL 4294967295",
    ] {
        assert_eq!(
            host.talk(format!("{line}\r\n").as_bytes()),
            "-ERR no such message\r\n"
        );
    }
}

#[test]
fn dele_rset_and_quit() {
    let mut host = Host::logged_in();
    assert_eq!(host.talk(b"DELE 1\r\n"), "+OK message 1 deleted\r\n");
    assert_eq!(
        host.talk(b"DELE 1\r\n"),
        "-ERR message 1 already deleted\r\n"
    );
    assert_eq!(
        host.talk(b"RETR 1\r\n"),
        "-ERR message 1 already deleted\r\n"
    );
    assert_eq!(
        host.talk(b"LIST 1\r\n"),
        "-ERR message 1 already deleted\r\n"
    );
    assert_eq!(host.talk(b"STAT\r\n"), "+OK 1 47\r\n");
    assert_eq!(
        host.talk(b"LIST\r\n"),
        "+OK scan listing follows\r\n2 47\r\n.\r\n"
    );
    assert_eq!(
        host.talk(b"RSET\r\n"),
        "+OK maildrop has 2 messages (75 octets)\r\n"
    );
    assert_eq!(host.talk(b"STAT\r\n"), "+OK 2 75\r\n");
    host.talk(b"DELE 2\r\n");
    host.update_ok = false;
    assert_eq!(
        host.talk(b"QUIT\r\n"),
        "-ERR [SYS/TEMP] Some deleted messages not removed\r\n"
    );
    assert_eq!(
        host.events.last(),
        Some(&Event::Update {
            deleted_uids: vec!["uid2".into()]
        })
    );
    assert!(host.session.is_closed());
}

#[test]
fn quit_in_authorization_closes() {
    let mut host = Host::new(tls_config());
    host.drive();
    assert_eq!(
        host.talk(b"QUIT\r\n"),
        "+OK pop.example.org POP3 server signing off\r\n"
    );
    assert_eq!(host.session.close_reason(), Some(CloseReason::Quit));
    assert!(host.events.is_empty());
}

#[test]
fn dropped_connection_deletes_nothing() {
    let mut host = Host::logged_in();
    host.talk(b"DELE 1\r\nDELE 2\r\n");
    host.session.handle_close();
    assert!(host.session.is_closed());
    host.drive();
    assert!(
        !host
            .events
            .iter()
            .any(|e| matches!(e, Event::Update { .. }))
    );

    let mut host = Host::logged_in();
    host.talk(b"DELE 1\r\n");
    let deadline = host.session.poll_timeout().unwrap();
    assert_eq!(deadline, host.now + Duration::from_secs(600));
    host.session
        .handle_timeout(deadline - Duration::from_secs(1));
    assert!(!host.session.is_closed());
    host.session.handle_timeout(deadline);
    assert_eq!(host.session.close_reason(), Some(CloseReason::Timeout));
    assert_eq!(host.drive(), "-ERR Idle timeout, closing connection\r\n");
    assert!(
        !host
            .events
            .iter()
            .any(|e| matches!(e, Event::Update { .. }))
    );
}

#[test]
fn top_with_zero_and_more_lines_than_the_body() {
    let mut host = Host::logged_in();
    assert_eq!(
        host.talk(b"TOP 2 0\r\n"),
        "+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\n.\r\n"
    );
    assert_eq!(
        host.talk(b"TOP 2 1\r\n"),
        "+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\nline 1\r\n.\r\n"
    );
    assert_eq!(
        host.talk(b"TOP 2 100\r\n"),
        "+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\nline 1\r\n..line 2\r\n\
         line 3\r\n.\r\n"
    );
    assert_eq!(
        host.events.last(),
        Some(&Event::Retrieve {
            index: 2,
            uid: "uid2".into(),
            top_lines: Some(100)
        })
    );
}

#[test]
fn byte_stuffing_and_final_crlf() {
    let mut host = Host::logged_in();
    host.session.handle_input(b"RETR 1\r\n", host.now);
    assert!(matches!(
        host.session.poll_event(),
        Some(Event::Retrieve { .. })
    ));
    host.session.retrieve(b".\r\n..x\r\nend".to_vec()).unwrap();
    assert_eq!(
        String::from_utf8(host.session.poll_transmit().unwrap()).unwrap(),
        "+OK 28 octets, message follows\r\n..\r\n...x\r\nend\r\n.\r\n"
    );
    host.session.handle_input(b"RETR 1\r\n", host.now);
    host.session.poll_event();
    host.session.retrieve_failed().unwrap();
    assert_eq!(
        host.session.poll_transmit().unwrap(),
        b"-ERR [SYS/TEMP] Message cannot be read now\r\n"
    );
    assert!(host.session.retrieve(Vec::new()).is_err());
}

#[test]
fn pipelined_commands_and_every_split() {
    let input: &[u8] = b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 2\r\nTOP 1 0\r\n\
                         DELE 1\r\nUIDL\r\nRSET\r\nNOOP\r\nDELE 2\r\nQUIT\r\n";
    let mut whole = Host::new(tls_config());
    let mut expected = whole.drive();
    expected.push_str(&whole.talk(input));
    assert!(expected.ends_with("signing off (1 messages left)\r\n"));

    let mut bytewise = Host::new(tls_config());
    let mut out = bytewise.drive();
    for byte in input {
        out.push_str(&bytewise.talk(&[*byte]));
    }
    assert_eq!(out, expected);
    assert_eq!(bytewise.events, whole.events);

    for split in 1..input.len() {
        let mut host = Host::new(tls_config());
        let mut out = host.drive();
        out.push_str(&host.talk(&input[..split]));
        out.push_str(&host.talk(&input[split..]));
        assert_eq!(out, expected, "split at {split}");
    }
}

#[test]
fn line_rules() {
    let mut host = Host::new(tls_config());
    host.drive();
    assert_eq!(host.talk(b"NOOP\n"), "-ERR Line must end with CRLF\r\n");
    assert_eq!(host.talk(b"NO\rOP\r\n"), "-ERR Bare CR in command line\r\n");
    let long = format!("USER {}\r\n", "a".repeat(300));
    assert_eq!(host.talk(long.as_bytes()), "-ERR Line too long\r\n");
    assert_eq!(host.talk(b"xyzzy\r\n"), "-ERR Unknown command\r\n");
    assert_eq!(host.talk(b"STAT 1 2\r\n"), "-ERR Syntax error\r\n");
    assert_eq!(
        host.talk(b"quit\r\n"),
        "+OK pop.example.org POP3 server signing off\r\n"
    );
}

#[test]
fn bad_command_cap_closes() {
    let mut host = Host::new(tls_config());
    host.drive();
    for _ in 0..9 {
        assert_eq!(host.talk(b"BAD\r\n"), "-ERR Unknown command\r\n");
    }
    assert_eq!(
        host.talk(b"BAD\r\nNOOP\r\n"),
        "-ERR Unknown command\r\n-ERR Too many errors, closing connection\r\n"
    );
    assert_eq!(
        host.session.close_reason(),
        Some(CloseReason::TooManyErrors)
    );
}

#[test]
fn answers_out_of_turn_are_refused() {
    let mut host = Host::logged_in();
    assert!(host.session.login_ok(Vec::new()).is_err());
    assert!(host.session.update_done().is_err());
    assert!(
        host.session
            .auth_step(ServerStep::Challenge(Vec::new()))
            .is_err()
    );
    assert!(host.session.retrieve_failed().is_err());
}

#[test]
fn no_timeout_while_the_host_owes_an_answer() {
    let mut host = Host::logged_in();
    host.session.handle_input(b"RETR 1\r\n", host.now);
    assert!(host.session.poll_timeout().is_none());
    host.session
        .handle_timeout(host.now + Duration::from_secs(3600));
    assert!(!host.session.is_closed());
}
