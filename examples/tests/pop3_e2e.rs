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
