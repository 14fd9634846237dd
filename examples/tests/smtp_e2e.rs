//! End to end: the real `mail-server` binary on loopback ports, driven by Python's smtplib
//! (`tests/smtp_client.py`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, unique};

/// alice@localhost and bob@localhost on the SMTP listeners; `limits` is TOML added to the
/// `[limits]` section.
fn start(limits: &str) -> Server {
    let listeners = ["smtp", "submission", "submissions"];
    let users = ["alice@localhost", "bob@localhost"];
    Server::start(&listeners, &users, limits, "smtp_client.py")
}

/// The stored message whose content contains `needle`, waiting briefly for it.
fn find_message(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = find_in(&server.data.join("store"), needle) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no stored message has {needle:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find_in(dir: &Path, needle: &str) -> Option<String> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_in(&path, needle) {
                return Some(found);
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            if text.contains(needle) {
                return Some(text.into_owned());
            }
        }
    }
    None
}

#[test]
fn inbound_delivery_adds_received() {
    let server = start("");
    let subject = unique("inbound");
    server.client(&["inbound", &server.port_arg("smtp"), &subject]);
    let message = find_message(&server, &subject);
    assert!(
        message.contains("Received: from client.example"),
        "{message}"
    );
    assert!(message.contains("by localhost with ESMTP id"), "{message}");
    assert!(
        message.starts_with("Return-Path: <sender@example.com>"),
        "{message}"
    );
}

#[test]
fn relay_is_refused_on_the_inbound_port() {
    let server = start("");
    let port = server.port_arg("smtp");
    server.client(&["refused_rcpt", &port, "someone@example.com", "554", "5.7.1"]);
}

#[test]
fn unknown_local_user_is_refused() {
    let server = start("");
    let port = server.port_arg("smtp");
    server.client(&["refused_rcpt", &port, "nobody@localhost", "550", "5.1.1"]);
}

#[test]
fn submission_with_starttls_plain_and_login() {
    let server = start("");
    let port = server.port_arg("submission");
    let ca = server.cafile();
    for mechanism in ["PLAIN", "LOGIN"] {
        let subject = unique(mechanism);
        let args = [
            "submission",
            &port,
            &ca,
            "alice@localhost",
            PASSWORD,
            mechanism,
            &subject,
        ];
        server.client(&args);
        let message = find_message(&server, &subject);
        assert!(message.contains("with ESMTPSA id"), "{message}");
    }
    let log = server.log();
    assert!(log.contains("auth succeeded"), "{log}");
    assert!(
        log.contains("mechanism=PLAIN") && log.contains("mechanism=LOGIN"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "the password is logged: {log}");
}

#[test]
fn auth_is_refused_before_tls() {
    let server = start("");
    let port = server.port_arg("submission");
    server.client(&["auth_before_tls", &port, "alice@localhost", PASSWORD]);
}

#[test]
fn plaintext_auth_on_loopback_when_configured() {
    let server = start("\n[auth]\nplaintext_on_loopback = true");
    let port = server.port_arg("submission");
    let subject = unique("loopback");
    server.client(&[
        "auth_without_tls",
        &port,
        "alice@localhost",
        PASSWORD,
        &subject,
    ]);
    let message = find_message(&server, &subject);
    assert!(message.contains("with ESMTPA id"), "{message}");
}

#[test]
fn connections_over_the_per_ip_limit_get_421() {
    let server = start("connections_per_ip = 1");
    server.client(&["too_many_connections", &server.port_arg("smtp")]);
}

#[test]
fn wrong_password_fails_and_is_logged() {
    let server = start("");
    let port = server.port_arg("submission");
    let ca = server.cafile();
    server.client(&["wrong_password", &port, &ca, "alice@localhost"]);
    let log = server.log();
    assert!(
        log.contains("auth failed: ip=127.0.0.1 mechanism=PLAIN"),
        "{log}"
    );
    assert!(!log.contains("not the password"), "{log}");
}

#[test]
fn sender_not_owned_is_refused() {
    let server = start("");
    let port = server.port_arg("submission");
    let ca = server.cafile();
    let args = [
        "not_owned",
        &port,
        &ca,
        "alice@localhost",
        PASSWORD,
        "bob@localhost",
    ];
    server.client(&args);
}

#[test]
fn submissions_implicit_tls() {
    let server = start("");
    let port = server.port_arg("submissions");
    let ca = server.cafile();
    let subject = unique("submissions");
    server.client(&[
        "submissions",
        &port,
        &ca,
        "alice@localhost",
        PASSWORD,
        &subject,
    ]);
    let message = find_message(&server, &subject);
    assert!(message.contains("with ESMTPSA id"), "{message}");
}

#[test]
fn oversized_message_is_refused() {
    let server = start("message_size = 10000");
    server.client(&["oversized", &server.port_arg("smtp"), "20000"]);
}

#[test]
fn sigterm_closes_idle_sessions_with_421() {
    use std::io::BufRead;
    let mut server = start("");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_client.py");
    let mut client = Command::new("python3")
        .arg(script)
        .args(["idle_shutdown", &server.port_arg("smtp")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(client.stdout.take().expect("stdout"));
    reader.read_line(&mut line).expect("read the client");
    assert_eq!(line.trim(), "ready", "{}", server.log());
    let start = Instant::now();
    assert!(server.stop(), "no clean exit: {}", server.log());
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the idle session held the shutdown"
    );
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    let mut errors = String::new();
    let mut stderr = client.stderr.take().expect("stderr");
    let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
    let status = client.wait().expect("the client finishes");
    assert!(status.success(), "{errors}");
    assert_eq!(rest.trim(), "ok");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut server = start("");
    let subject = unique("before-shutdown");
    server.client(&["inbound", &server.port_arg("smtp"), &subject]);
    assert!(server.stop(), "no clean exit: {}", server.log());
    let log = server.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn failed_logins_lock_out_one_address_only() {
    let server = start("");
    let cafile = server.cafile();
    let port = server.port_arg("submissions");
    let cafile = &cafile;
    server.client(&["lockout", &port, cafile, "alice@localhost", PASSWORD]);
    assert!(
        server
            .log()
            .contains("auth refused (too many failures): ip=127.0.0.1")
    );
}

#[test]
fn two_factor_accounts_use_password_and_code_or_an_app_password() {
    let server = start("");
    let uri = server.cli(&["user", "totp", "alice@localhost"]);
    let secret = uri
        .trim()
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("the URI carries the secret")
        .to_owned();
    let app = server.cli(&["user", "app-password", "alice@localhost", "phone"]);
    let app = app
        .lines()
        .last()
        .expect("the app password")
        .trim()
        .to_owned();

    // The server reads credentials from the store at each login, so no restart is needed.
    let cafile = server.cafile();
    let port = server.port_arg("submissions");
    let args = [
        "two_factor",
        &port,
        &cafile,
        "alice@localhost",
        PASSWORD,
        &secret,
        &app,
    ];
    server.client(&args);
}

/// Runs `openssl s_client` against the implicit-TLS port with `args` and returns its output.
fn s_client(server: &Server, args: &[&str]) -> String {
    let connect = format!("127.0.0.1:{}", server.port("submissions"));
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &connect])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn tls_1_1_is_refused_and_tls_1_2_verifies() {
    let server = start("");

    // The client is allowed to offer TLS 1.1 (security level 0); the server must refuse.
    let old = s_client(&server, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert!(old.contains("Cipher is (NONE)"), "{old}");
    assert!(old.contains("alert handshake failure"), "{old}");

    let cafile = server.cafile();
    let args = ["-tls1_2", "-CAfile", &cafile, "-verify_return_error"];
    let current = s_client(&server, &args);
    assert!(current.contains("Verify return code: 0 (ok)"), "{current}");
    assert!(current.contains("Protocol  : TLSv1.2"), "{current}");
}
