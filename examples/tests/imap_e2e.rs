//! End to end: the real `mail-server` binary on loopback ports, messages delivered with
//! Python's smtplib and read, stored and watched with imaplib (`tests/imap_client.py`).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{PASSWORD, Server, unique};

const ALICE: &str = "alice@localhost";

/// alice@localhost, with SMTP to deliver and IMAP with STARTTLS and implicit TLS; `extra`
/// is TOML added to the `[limits]` section (or, after a header, another section).
fn start(extra: &str) -> Server {
    Server::start(
        &["smtp", "imap", "imaps"],
        &[ALICE],
        extra,
        "imap_client.py",
    )
}

/// The arguments every logged-in scenario takes: port, CA file, user and password.
fn login_args(server: &Server, listener: &str) -> [String; 4] {
    [
        server.port_arg(listener),
        server.cafile(),
        ALICE.to_owned(),
        PASSWORD.to_owned(),
    ]
}

/// Runs `scenario` with `args` after it.
fn run(server: &Server, scenario: &str, args: &[String]) {
    let mut all = vec![scenario];
    all.extend(args.iter().map(String::as_str));
    server.client(&all);
}

#[test]
fn starttls_login_lists_the_special_use_mailboxes() {
    let mut server = start("");
    run(&server, "starttls_list", &login_args(&server, "imap"));
    let log = server.log();
    let upgraded = log
        .lines()
        .any(|line| line.contains("TLS established") && line.ends_with("listener=\"imap\""));
    assert!(upgraded, "{log}");
    assert!(
        log.contains("auth succeeded: ip=127.0.0.1 mechanism=LOGIN account=alice@localhost"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "the password is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn login_before_starttls_is_refused() {
    let mut server = start("");
    server.client(&["before_tls", &server.port_arg("imap"), ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn plaintext_login_on_loopback_when_configured() {
    let mut server = start("\n[auth]\nplaintext_on_loopback = true");
    server.client(&["plaintext_login", &server.port_arg("imap"), ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn imaps_authenticate_plain_and_scram() {
    let mut server = start("");
    run(&server, "authenticate", &login_args(&server, "imaps"));
    let log = server.log();
    assert!(
        log.contains("auth succeeded: ip=127.0.0.1 mechanism=PLAIN account=alice@localhost"),
        "{log}"
    );
    assert!(
        log.contains(
            "auth succeeded: ip=127.0.0.1 mechanism=SCRAM-SHA-256 account=alice@localhost"
        ),
        "{log}"
    );
    assert!(
        log.contains("auth failed: ip=127.0.0.1 mechanism=PLAIN"),
        "{log}"
    );
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn delivered_message_is_read_back() {
    let mut server = start("");
    let mut args = vec![server.port_arg("smtp")];
    args.extend(login_args(&server, "imaps"));
    args.push(unique("imap"));
    run(&server, "read_back", &args);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn append_to_drafts_then_status() {
    let mut server = start("");
    let mut args = login_args(&server, "imaps").to_vec();
    let subject = unique("draft");
    args.push(subject.clone());
    run(&server, "append_status", &args);
    let log = server.log();
    assert!(log.contains("message appended"), "{log}");
    assert!(log.contains("mailbox=\"Drafts\" uid=1"), "{log}");
    assert!(!log.contains(&subject), "a message is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn store_expunge_copy_move_and_folders() {
    let mut server = start("");
    let mut args = login_args(&server, "imaps").to_vec();
    args.push(unique("manage"));
    run(&server, "manage", &args);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn idle_sees_a_message_delivered_over_smtp() {
    let mut server = start("");
    let mut args = vec![server.port_arg("smtp")];
    args.extend(login_args(&server, "imaps"));
    args.push(unique("idle"));
    run(&server, "idle", &args);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn failed_logins_lock_out_one_address_only() {
    let mut server = start("");
    run(&server, "lockout", &login_args(&server, "imaps"));
    let log = server.log();
    assert!(
        log.contains("auth refused (too many failures): ip=127.0.0.1 mechanism=LOGIN"),
        "{log}"
    );
    assert!(
        log.contains("auth failed: ip=127.0.0.1 mechanism=LOGIN account=alice@localhost"),
        "{log}"
    );
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn two_factor_accounts_use_password_and_code_or_an_app_password() {
    let mut server = start("");
    let uri = server.cli(&["user", "totp", ALICE]);
    let secret = uri
        .trim()
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("the URI carries the secret")
        .to_owned();
    let app = server.cli(&["user", "app-password", ALICE, "phone"]);
    let app = app
        .lines()
        .last()
        .expect("the app password")
        .trim()
        .to_owned();

    // The server reads credentials from the store at each login, so no restart is needed.
    let mut args = login_args(&server, "imaps").to_vec();
    args.extend([secret, app]);
    run(&server, "two_factor", &args);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn connections_over_the_per_ip_limit_get_bye() {
    let mut server = Server::start(
        &["imap"],
        &[ALICE],
        "connections_per_ip = 1",
        "imap_client.py",
    );
    server.client(&["too_many_connections", &server.port_arg("imap")]);
    let log = server.log();
    assert!(
        log.contains("connection refused: too many connections"),
        "{log}"
    );
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn append_over_message_size_is_refused() {
    let mut server = start("message_size = 1000");
    run(&server, "too_big", &login_args(&server, "imaps"));
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn silent_client_is_logged_out_before_login() {
    let mut server = start("imap_login_timeout_secs = 1");
    server.client(&["login_timeout", &server.port_arg("imap")]);
    assert!(server.stop(), "{}", server.log());
}

/// Runs `openssl s_client` against `listener` with `args`, bounded in time, and returns
/// what it printed.
fn s_client(server: &Server, listener: &str, args: &[&str]) -> String {
    let connect = format!("127.0.0.1:{}", server.port(listener));
    let output = Command::new("timeout")
        .args(["30", "openssl", "s_client", "-connect", &connect])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("timeout and openssl are installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn openssl_starttls_imap_verifies_and_tls_1_1_is_refused() {
    let mut server = start("");

    let cafile = server.cafile();
    let args = [
        "-starttls",
        "imap",
        "-CAfile",
        &cafile,
        "-verify_return_error",
    ];
    let upgraded = s_client(&server, "imap", &args);
    assert!(
        upgraded.contains("Verify return code: 0 (ok)"),
        "{upgraded}"
    );
    assert!(upgraded.contains("TLSv1.3"), "{upgraded}");

    // The client is allowed to offer TLS 1.1 (security level 0); the server must refuse.
    let old = s_client(
        &server,
        "imaps",
        &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    assert!(old.contains("Cipher is (NONE)"), "{old}");
    assert!(old.contains("alert handshake failure"), "{old}");

    let args = ["-tls1_2", "-CAfile", &cafile, "-verify_return_error"];
    let current = s_client(&server, "imaps", &args);
    assert!(current.contains("Verify return code: 0 (ok)"), "{current}");
    assert!(current.contains("Protocol  : TLSv1.2"), "{current}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn sigterm_sends_bye_to_a_logged_in_client() {
    let mut server = start("");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap_client.py");
    let mut client = Command::new("python3")
        .arg(script)
        .arg("idle_shutdown")
        .args(login_args(&server, "imaps"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed");

    // The client says "ready" once logged in, or exits (after at most its own time limit).
    let mut line = String::new();
    let mut reader = BufReader::new(client.stdout.take().expect("stdout"));
    reader.read_line(&mut line).expect("read the client");
    assert_eq!(line.trim(), "ready", "{}", server.log());

    let start = Instant::now();
    assert!(server.stop(), "no clean exit: {}", server.log());
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the logged-in session held the shutdown"
    );
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let mut errors = String::new();
    let mut stderr = client.stderr.take().expect("stderr");
    let _ = stderr.read_to_string(&mut errors);
    let status = client.wait().expect("the client finishes");
    assert!(status.success(), "{errors}");
    assert_eq!(rest.trim(), "ok");
}
