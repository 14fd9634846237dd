//! End to end: the real `mail-server` binary on loopback ports, a message delivered with
//! Python's smtplib and read back with poplib (`tests/pop3_client.py`).

mod common;

use common::{PASSWORD, Server, unique};
const ALICE: &str = "alice@localhost";

/// alice@localhost, with SMTP to deliver and POP3 with and without implicit TLS.
fn start() -> Server {
    Server::start(&["smtp", "pop3", "pop3s"], &[ALICE], "", "pop3_client.py")
}

#[test]
fn delivered_message_is_retrieved_and_deleted_over_stls() {
    let mut server = start();
    let subject = unique("pop3");
    server.client(&["deliver", &server.port_arg("smtp"), &subject]);
    let (port, cafile) = (server.port_arg("pop3"), server.cafile());
    server.client(&["retrieve", &port, &cafile, ALICE, PASSWORD, &subject]);
    let log = server.log();
    assert!(
        log.contains("auth succeeded: ip=127.0.0.1 mechanism=USER account=alice@localhost"),
        "{log}"
    );
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn pop3s_implicit_tls_login() {
    let mut server = start();
    let (port, cafile) = (server.port_arg("pop3s"), server.cafile());
    server.client(&["pop3s", &port, &cafile, ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn login_before_stls_is_refused() {
    let mut server = start();
    server.client(&["before_stls", &server.port_arg("pop3"), ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn second_session_for_a_locked_maildrop_gets_in_use() {
    let mut server = start();
    let (port, cafile) = (server.port_arg("pop3"), server.cafile());
    server.client(&["in_use", &port, &cafile, ALICE, PASSWORD]);
    assert!(server.log().contains("maildrop in use"), "{}", server.log());
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn sasl_auth_plain_after_stls_retrieves_the_message() {
    let mut server = start();
    let subject = unique("pop3-auth");
    server.client(&["deliver", &server.port_arg("smtp"), &subject]);
    let (port, cafile) = (server.port_arg("pop3"), server.cafile());
    server.client(&["auth_plain", &port, &cafile, ALICE, PASSWORD, &subject]);
    let log = server.log();
    assert!(
        log.contains("auth succeeded: ip=127.0.0.1 mechanism=PLAIN account=alice@localhost"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "the password is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn two_factor_accounts_use_password_and_code_or_an_app_password() {
    let mut server = start();
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
    let (port, cafile) = (server.port_arg("pop3s"), server.cafile());
    let args = ["two_factor", &port, &cafile, ALICE, PASSWORD, &secret, &app];
    server.client(&args);
    let log = server.log();
    assert!(
        log.contains("auth failed: ip=127.0.0.1 mechanism=USER account=alice@localhost"),
        "{log}"
    );
    assert!(!log.contains(&app), "the app password is logged: {log}");
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn connections_over_the_per_ip_limit_get_err() {
    let mut server = Server::start(
        &["pop3"],
        &[ALICE],
        "connections_per_ip = 1",
        "pop3_client.py",
    );
    server.client(&["too_many_connections", &server.port_arg("pop3")]);
    let log = server.log();
    assert!(
        log.contains("connection refused: too many connections"),
        "{log}"
    );
    assert!(server.stop(), "{}", server.log());
}
