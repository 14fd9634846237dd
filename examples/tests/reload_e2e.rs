//! End to end: SIGHUP makes the running server take up a replaced certificate and key for
//! new handshakes, keeps the connections opened before, and keeps the old pair when the new
//! one does not load.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{PASSWORD, Server, curl};

const ALICE: &str = "alice@localhost";

/// curl's exit code for a certificate that does not verify (CURLE_PEER_FAILED_VERIFICATION).
const PEER_FAILED_VERIFICATION: i32 = 60;

/// Lists alice's mailboxes over IMAP with implicit TLS, trusting only `ca`.
fn list_mailboxes(server: &Server, ca: &Path) -> Output {
    let url = format!("imaps://127.0.0.1:{}/", server.port("imaps"));
    let ca = ca.display().to_string();
    curl(&["--cacert", &ca, "-u", &format!("{ALICE}:{PASSWORD}"), &url])
}

/// Runs `openssl s_client` against the submissions port trusting only `ca`, bounded in
/// time, and returns what it printed.
fn s_client(server: &Server, ca: &Path) -> String {
    let connect = format!("127.0.0.1:{}", server.port("submissions"));
    let output = Command::new("timeout")
        .args(["30", "openssl", "s_client", "-connect", &connect])
        .arg("-CAfile")
        .arg(ca)
        .arg("-verify_return_error")
        .stdin(Stdio::null())
        .output()
        .expect("timeout and openssl are installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let mut server = Server::start(&["imaps", "submissions"], &[ALICE], "", "imap_client.py");
    let old_ca = server.data.join("old-cert.pem");
    std::fs::copy(server.cafile(), &old_ca).expect("keep the first certificate");

    // A client logged in over the first certificate, kept open across the reload; it says
    // "ready" once logged in, or exits (within its own time limit).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap_client.py");
    let mut holder = Command::new("python3")
        .arg(script)
        .args(["hold_open", &server.port_arg("imaps")])
        .arg(&old_ca)
        .args([ALICE, PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    let mut said = BufReader::new(holder.stdout.take().expect("stdout"));
    let mut line = String::new();
    said.read_line(&mut line).expect("read the client");
    assert_eq!(line.trim(), "ready", "{}", server.log());

    // A new pair in place of the old, then SIGHUP.
    let (new_ca, new_key) = common::self_signed(&server.data.join("new"));
    let tls = server.data.join("tls");
    std::fs::copy(&new_key, tls.join("key.pem")).expect("replace the key");
    std::fs::copy(&new_ca, tls.join("cert.pem")).expect("replace the certificate");
    server.signal("HUP");
    server.wait_for_log("TLS certificate reloaded", 1);

    // New handshakes, on both listeners, present the new certificate and only it.
    let listed = list_mailboxes(&server, &new_ca);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let refused = list_mailboxes(&server, &old_ca);
    assert_eq!(
        refused.status.code(),
        Some(PEER_FAILED_VERIFICATION),
        "{}",
        stderr(&refused)
    );
    let verified = s_client(&server, &new_ca);
    assert!(
        verified.contains("Verify return code: 0 (ok)"),
        "{verified}"
    );
    let unverified = s_client(&server, &old_ca);
    assert!(
        !unverified.contains("Verify return code: 0 (ok)"),
        "{unverified}"
    );

    // The connection opened before the reload still answers.
    let mut input = holder.stdin.take().expect("stdin");
    input.write_all(b"go\n").expect("tell the client to go on");
    drop(input);
    let mut rest = String::new();
    let _ = said.read_to_string(&mut rest);
    let mut errors = String::new();
    let _ = holder
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut errors);
    let status = holder.wait().expect("the client finishes");
    assert!(status.success(), "{errors}\nserver log:\n{}", server.log());
    assert_eq!(rest.trim(), "ok");

    // A broken certificate is refused with an error, and the loaded pair stays in use.
    std::fs::write(tls.join("cert.pem"), "not a certificate\n").expect("break the file");
    server.signal("HUP");
    server.wait_for_log("TLS certificate reload failed, keeping the current one", 1);
    assert!(server.log().contains("ERROR"), "{}", server.log());
    let listed = list_mailboxes(&server, &new_ca);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(server.stop(), "{}", server.log());
}
