//! End to end with curl as the third-party client: a message submitted over SMTP with
//! STARTTLS, then fetched over IMAP and POP3, with each SASL mechanism curl speaks (PLAIN,
//! LOGIN, CRAM-MD5, DIGEST-MD5), the certificate always verified against the generated one.

mod common;

use std::process::Output;

use common::{PASSWORD, Server, curl, unique};

const ALICE: &str = "alice@localhost";

/// `[auth]` with the two password-equivalent mechanisms on: the harness creates accounts
/// under this configuration, so they get the CRAM-MD5 and DIGEST-MD5 secrets.
const AUTH: &str = "\n[auth]\nmechanisms = \
                    [\"PLAIN\", \"LOGIN\", \"CRAM-MD5\", \"DIGEST-MD5\", \"SCRAM-SHA-256\"]";

/// curl's exit code for a refused login (CURLE_LOGIN_DENIED).
const LOGIN_DENIED: i32 = 67;

/// curl's exit code for a certificate that does not verify (CURLE_PEER_FAILED_VERIFICATION).
const PEER_FAILED_VERIFICATION: i32 = 60;

/// alice@localhost on submission (STARTTLS), IMAP over implicit TLS and POP3 both ways.
fn start() -> Server {
    let listeners = ["submission", "imaps", "pop3", "pop3s"];
    Server::start(&listeners, &[ALICE], AUTH, "")
}

/// The message curl submits: a dot-led line and an empty line test the transparency of
/// DATA (RFC 5321 section 4.5.2) and of POP3's RETR (RFC 1939 section 3).
fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: <{ALICE}>\r\nTo: <{ALICE}>\r\nSubject: {subject}\r\n\r\n\
         First line.\r\n.A line that starts with a dot\r\n\r\nLast line.\r\n"
    )
    .into_bytes()
}

/// What curl printed on stderr; with `-v`, its side of the conversation.
fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that curl succeeded, showing its transcript and the server log if not.
fn assert_ok(server: &Server, what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: curl exited with {:?}\n{}\nserver log:\n{}",
        output.status.code(),
        stderr(output),
        server.log()
    );
}

/// `-u` for alice with `password`.
fn user(password: &str) -> String {
    format!("{ALICE}:{password}")
}

/// Submits `message` as alice through the submission port with STARTTLS and `mechanism`.
fn submit(server: &Server, mechanism: &str, password: &str, message: &[u8]) -> Output {
    let file = server.data.join(format!("outgoing-{mechanism}.eml"));
    std::fs::write(&file, message).expect("write the message");
    // The URL's path is the EHLO name curl gives.
    let url = format!(
        "smtp://127.0.0.1:{}/client.example",
        server.port("submission")
    );
    let (ca, file) = (server.cafile(), file.display().to_string());
    let login = format!("AUTH={mechanism}");
    curl(&[
        "-v",
        "--ssl-reqd",
        "--cacert",
        &ca,
        "-u",
        &user(password),
        "--login-options",
        &login,
        "--mail-from",
        ALICE,
        "--mail-rcpt",
        ALICE,
        "--upload-file",
        &file,
        &url,
    ])
}

/// Fetches `url` as alice with `mechanism`; `--ssl-reqd` makes curl upgrade a plaintext
/// POP3 connection with STLS and refuse to go on without it.
fn fetch(server: &Server, mechanism: &str, password: &str, url: &str) -> Output {
    let (ca, login) = (server.cafile(), format!("AUTH={mechanism}"));
    let user = user(password);
    let args = [
        "-v",
        "--ssl-reqd",
        "--cacert",
        &ca,
        "-u",
        &user,
        "--login-options",
        &login,
        url,
    ];
    curl(&args)
}

/// Asserts that `fetched` is `sent` after the trace headers the server adds on delivery.
fn assert_delivered(what: &str, fetched: &[u8], sent: &[u8]) {
    let text = String::from_utf8_lossy(fetched);
    assert!(
        fetched.starts_with(b"Return-Path: <alice@localhost>\r\nReceived: from client.example"),
        "{what}: no trace headers: {text}"
    );
    assert!(
        fetched.ends_with(sent),
        "{what}: not the message sent, byte for byte: {text}"
    );
}

/// Submits with `mechanism`, then reads the message back with it over IMAP (implicit TLS)
/// and POP3 (implicit TLS, and STLS), checking that curl really used that mechanism.
fn round_trip(mechanism: &str) {
    let mut server = start();
    let sent = message(&unique(mechanism));

    let submitted = submit(&server, mechanism, PASSWORD, &sent);
    assert_ok(&server, "submission", &submitted);
    let said = stderr(&submitted);
    assert!(said.contains(&format!("> AUTH {mechanism}")), "{said}");

    // The account's first message: UID 1 in IMAP, message 1 in POP3.
    let imap = format!("imaps://127.0.0.1:{}/INBOX;UID=1", server.port("imaps"));
    let fetched = fetch(&server, mechanism, PASSWORD, &imap);
    assert_ok(&server, "IMAP fetch", &fetched);
    let said = stderr(&fetched);
    assert!(
        said.contains(&format!("AUTHENTICATE {mechanism}")),
        "{said}"
    );
    assert_delivered("IMAP", &fetched.stdout, &sent);

    for url in [
        format!("pop3s://127.0.0.1:{}/1", server.port("pop3s")),
        format!("pop3://127.0.0.1:{}/1", server.port("pop3")),
    ] {
        let fetched = fetch(&server, mechanism, PASSWORD, &url);
        assert_ok(&server, &url, &fetched);
        let said = stderr(&fetched);
        assert!(said.contains(&format!("> AUTH {mechanism}")), "{said}");
        if url.starts_with("pop3:") {
            assert!(said.contains("> STLS"), "{said}");
        }
        assert_delivered(&url, &fetched.stdout, &sent);
    }

    // The server's side: four logins with this mechanism, and no password in the log.
    let success = format!("auth succeeded: ip=127.0.0.1 mechanism={mechanism} account={ALICE}");
    server.wait_for_log(&success, 4);
    let log = server.log();
    assert!(!log.contains(PASSWORD), "the password is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn curl_plain_submission_is_read_back_over_imap_and_pop3() {
    round_trip("PLAIN");
}

#[test]
fn curl_login_submission_is_read_back_over_imap_and_pop3() {
    round_trip("LOGIN");
}

#[test]
fn curl_cram_md5_submission_is_read_back_over_imap_and_pop3() {
    round_trip("CRAM-MD5");
}

#[test]
fn curl_digest_md5_submission_is_read_back_over_imap_and_pop3() {
    round_trip("DIGEST-MD5");
}

#[test]
fn curl_wrong_password_is_login_denied() {
    let mut server = start();
    let wrong = "not the password";

    // Four failures, one under the limiter's default lockout of five.
    let submitted = submit(&server, "PLAIN", wrong, &message(&unique("denied")));
    assert_eq!(
        submitted.status.code(),
        Some(LOGIN_DENIED),
        "{}",
        stderr(&submitted)
    );
    let imap = format!("imaps://127.0.0.1:{}/INBOX", server.port("imaps"));
    let fetched = fetch(&server, "DIGEST-MD5", wrong, &imap);
    assert_eq!(
        fetched.status.code(),
        Some(LOGIN_DENIED),
        "{}",
        stderr(&fetched)
    );
    let pop3s = format!("pop3s://127.0.0.1:{}/", server.port("pop3s"));
    let fetched = fetch(&server, "CRAM-MD5", wrong, &pop3s);
    assert_eq!(
        fetched.status.code(),
        Some(LOGIN_DENIED),
        "{}",
        stderr(&fetched)
    );
    let pop3 = format!("pop3://127.0.0.1:{}/", server.port("pop3"));
    let fetched = fetch(&server, "LOGIN", wrong, &pop3);
    assert_eq!(
        fetched.status.code(),
        Some(LOGIN_DENIED),
        "{}",
        stderr(&fetched)
    );

    for mechanism in ["PLAIN", "DIGEST-MD5", "CRAM-MD5", "LOGIN"] {
        server.wait_for_log(
            &format!("auth failed: ip=127.0.0.1 mechanism={mechanism}"),
            1,
        );
    }
    let log = server.log();
    assert!(!log.contains(wrong), "the password is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn curl_verifies_the_certificate_against_the_generated_one() {
    let mut server = start();
    let (other, _) = common::self_signed(&server.data.join("other"));
    let other = other.display().to_string();

    // Another CA: every TLS path is refused before any login, implicit TLS and both
    // upgrades.
    let imap = format!("imaps://127.0.0.1:{}/", server.port("imaps"));
    let pop3 = format!("pop3://127.0.0.1:{}/", server.port("pop3"));
    let smtp = format!("smtp://127.0.0.1:{}/", server.port("submission"));
    for url in [&imap, &pop3, &smtp] {
        let refused = curl(&["--ssl-reqd", "--cacert", &other, "-u", &user(PASSWORD), url]);
        assert_eq!(
            refused.status.code(),
            Some(PEER_FAILED_VERIFICATION),
            "{url}: {}",
            stderr(&refused)
        );
    }

    // The generated certificate: the listing of alice's mailboxes.
    let listed = curl(&["--cacert", &server.cafile(), "-u", &user(PASSWORD), &imap]);
    assert_ok(&server, "IMAP LIST", &listed);
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains("INBOX"), "{listing}");
    assert!(server.stop(), "{}", server.log());
}
