//! End to end with swaks, the SMTP test tool: submission with PLAIN, LOGIN and CRAM-MD5 over
//! verified STARTTLS, relaying and oversized messages refused, and the TLS versions offered.
//! swaks must be installed (`.ci/run` installs it); without it these tests fail.

mod common;

use std::process::{Command, Stdio};

use common::{PASSWORD, Server, curl, unique};

const ALICE: &str = "alice@localhost";

/// `[auth]` with CRAM-MD5 on, so that alice's account gets its secret.
const AUTH: &str = "\n[auth]\nmechanisms = [\"PLAIN\", \"LOGIN\", \"CRAM-MD5\", \"SCRAM-SHA-256\"]";

/// swaks' exit codes (its manual, EXIT CODES).
const NO_RCPT_ACCEPTED: i32 = 24;
const DATA_REFUSED: i32 = 26;
const AUTH_FAILED: i32 = 28;
const TLS_FAILED: i32 = 29;

/// What one swaks run gave: its exit code and its transcript (stdout and stderr).
struct Run {
    code: Option<i32>,
    transcript: String,
}

/// Runs swaks with `args`, each network step bounded by `--timeout` and the whole run by
/// timeout(1).
fn swaks(args: &[&str]) -> Run {
    let output = Command::new("timeout")
        .args(["60", "swaks", "--timeout", "30", "--helo", "client.example"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("timeout is installed");
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // timeout(1) exits with 127 when it cannot find the command; swaks itself never does.
    assert_ne!(
        output.status.code(),
        Some(127),
        "swaks is not installed (.ci/run installs it with apt-get install swaks): {transcript}"
    );
    Run {
        code: output.status.code(),
        transcript,
    }
}

/// The arguments of a STARTTLS session that verifies the server against its certificate.
fn verified_tls(server: &Server, listener: &str) -> Vec<String> {
    let address = format!("127.0.0.1:{}", server.port(listener));
    [
        "--server",
        &address,
        "--tls",
        "--tls-verify",
        "--tls-ca-path",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([server.cafile()])
    .collect()
}

/// `args` as the `&str`s swaks takes.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Submits as alice through the submission port, over verified STARTTLS, with `mechanism`
/// and `password`; `extra` adds headers or a body.
fn submit(server: &Server, mechanism: &str, password: &str, extra: &[&str]) -> Run {
    let tls = verified_tls(server, "submission");
    let auth = [
        "--auth",
        mechanism,
        "--auth-user",
        ALICE,
        "--auth-password",
        password,
    ];
    let envelope = ["--from", ALICE, "--to", ALICE];
    swaks(&[&strs(&tls)[..], &auth, &envelope, extra].concat())
}

/// Asserts that the transcript of `run` has `needle`.
fn assert_said(run: &Run, needle: &str) {
    assert!(
        run.transcript.contains(needle),
        "no {needle:?} in:\n{}",
        run.transcript
    );
}

#[test]
fn swaks_submission_with_plain_login_and_cram_md5_is_read_back() {
    let mut server = Server::start(&["submission", "imaps"], &[ALICE], AUTH, "");

    for (n, mechanism) in ["PLAIN", "LOGIN", "CRAM-MD5"].into_iter().enumerate() {
        let subject = unique(mechanism);
        let body = format!("Sent by swaks with {mechanism}.");
        let header = format!("Subject: {subject}");
        let run = submit(
            &server,
            mechanism,
            PASSWORD,
            &["--header", &header, "--body", &body],
        );
        assert_eq!(run.code, Some(0), "{}\n{}", run.transcript, server.log());
        // `~>` is what swaks sends inside TLS, `<~` what it receives.
        assert_said(&run, &format!("~> AUTH {mechanism}"));
        assert_said(&run, "<~  235 2.7.0");
        server.wait_for_log(
            &format!("auth succeeded: ip=127.0.0.1 mechanism={mechanism}"),
            1,
        );

        // Read back over IMAP: the n-th message delivered has UID n.
        let imaps = server.port("imaps");
        let url = format!("imaps://127.0.0.1:{imaps}/INBOX;UID={}", n + 1);
        let user = format!("{ALICE}:{PASSWORD}");
        let fetched = curl(&["--cacert", &server.cafile(), "-u", &user, &url]);
        let errors = String::from_utf8_lossy(&fetched.stderr);
        assert!(fetched.status.success(), "{errors}");
        let message = String::from_utf8_lossy(&fetched.stdout);
        assert!(message.contains(&format!("{header}\r\n")), "{message}");
        assert!(message.contains(&body), "{message}");
        assert!(message.contains("with ESMTPSA id"), "{message}");
    }

    // A wrong password: 535 (`<~*` marks an error reply) and swaks' AUTH exit code.
    let run = submit(&server, "CRAM-MD5", "wrong", &[]);
    assert_eq!(run.code, Some(AUTH_FAILED), "{}", run.transcript);
    assert_said(&run, "<~* 535");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn swaks_relay_on_the_inbound_port_is_refused() {
    let mut server = Server::start(&["smtp"], &[ALICE], "", "");
    let address = format!("127.0.0.1:{}", server.port("smtp"));
    let args = ["--server", &address, "--from", "sender@example.com"];
    let run = swaks(&[&args[..], &["--to", "someone@elsewhere.example"]].concat());
    assert_eq!(run.code, Some(NO_RCPT_ACCEPTED), "{}", run.transcript);
    assert_said(&run, "<** 554 5.7.1");
    server.wait_for_log("rejected RCPT: relay access denied", 1);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn swaks_oversized_message_is_refused() {
    let mut server = Server::start(&["smtp"], &[ALICE], "message_size = 10000", "");
    let address = format!("127.0.0.1:{}", server.port("smtp"));

    // Twice the limit, in lines of a normal length. swaks sends no SIZE parameter, so the
    // server sees the size only in DATA and answers 552 after the final dot.
    let line = format!("{}\r\n", "x".repeat(76));
    let body = server.data.join("big-body.txt");
    std::fs::write(&body, line.repeat(20_000 / line.len())).expect("write the body");
    let body = format!("@{}", body.display());
    let args = [
        "--server",
        &address,
        "--from",
        "sender@example.com",
        "--to",
        ALICE,
    ];
    let run = swaks(&[&args[..], &["--body", &body]].concat());
    assert_eq!(run.code, Some(DATA_REFUSED), "{}", run.transcript);
    assert_said(&run, "<** 552");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn swaks_tls_1_2_and_1_3_verify_and_tls_1_1_is_refused() {
    let mut server = Server::start(&["smtp"], &[ALICE], "", "");
    let tls = verified_tls(&server, "smtp");
    let envelope = ["--from", "sender@example.com", "--to", ALICE];

    for (protocol, version) in [("tlsv1_2", "TLSv1.2"), ("tlsv1_3", "TLSv1.3")] {
        let run = swaks(&[&strs(&tls)[..], &envelope, &["--tls-protocol", protocol]].concat());
        assert_eq!(run.code, Some(0), "{}", run.transcript);
        let started = format!("=== TLS started with cipher {version}:");
        assert_said(&run, &started);
    }

    let run = swaks(&[&strs(&tls)[..], &envelope, &["--tls-protocol", "tlsv1_1"]].concat());
    assert_eq!(run.code, Some(TLS_FAILED), "{}", run.transcript);
    // The alert comes from the server: the client was willing to speak TLS 1.1.
    assert_said(&run, "alert handshake failure");
    assert!(
        !run.transcript.contains("TLS started"),
        "{}",
        run.transcript
    );
    assert!(server.stop(), "{}", server.log());
}
