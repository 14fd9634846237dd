//! End to end: the real `mail-server` binary on loopback ports, driven by Python's smtplib
//! (`tests/smtp_client.py`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// A running server with its own data directory.
struct Server {
    child: Option<Child>,
    data: PathBuf,
    config: PathBuf,
    smtp: u16,
    submission: u16,
    submissions: u16,
}

/// A loopback port nobody listens on, never the same twice in this process: the tests run in
/// parallel, and the OS may hand a just-released port to the next test's probe.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().expect("port list");
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mail-server")
}

impl Server {
    /// Creates alice@localhost and bob@localhost, then starts the server; `limits` is TOML
    /// added to the `[limits]` section.
    fn start(limits: &str) -> Server {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let data = std::env::temp_dir().join(format!("smtp-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("create the data directory");
        let (smtp, submission, submissions) = (free_port(), free_port(), free_port());
        let config = data.join("test-config.toml");
        let text = format!(
            "[server]\nhostname = \"localhost\"\ndomains = [\"localhost\"]\n\n\
             [listen]\nsmtp = \"127.0.0.1:{smtp}\"\nsubmission = \"127.0.0.1:{submission}\"\n\
             submissions = \"127.0.0.1:{submissions}\"\nimap = \"\"\nimaps = \"\"\n\
             pop3 = \"\"\npop3s = \"\"\n\n[limits]\nshutdown_grace_secs = 5\n{limits}\n"
        );
        std::fs::write(&config, text).expect("write the config");
        let mut server = Server {
            child: None,
            data,
            config,
            smtp,
            submission,
            submissions,
        };
        for user in ["alice@localhost", "bob@localhost"] {
            server.add_user(user);
        }
        let log = std::fs::File::create(server.data.join("server.log")).expect("log file");
        let child = Command::new(binary())
            .arg("--data-dir")
            .arg(&server.data)
            .arg("--config")
            .arg(&server.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mail-server");
        server.child = Some(child);
        server.wait_ready();
        server
    }

    fn add_user(&self, user: &str) {
        let mut child = Command::new(binary())
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--config")
            .arg(&self.config)
            .args(["user", "add", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run user add");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write the password");
        drop(stdin);
        let output = child.wait_with_output().expect("user add finishes");
        assert!(
            output.status.success(),
            "user add {user}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs a CLI command against the server's data directory and returns its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(binary())
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mail-server");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = [self.smtp, self.submission, self.submissions]
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if ready && self.cafile().exists() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited early with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cafile(&self) -> PathBuf {
        self.data.join("tls/cert.pem")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    /// Runs a scenario of `smtp_client.py` and asserts that it succeeded.
    fn client(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_client.py");
        let output = Command::new("python3")
            .arg(script)
            .args(args)
            .output()
            .expect("python3 is installed");
        assert!(
            output.status.success(),
            "scenario {args:?} failed: {}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// The stored message whose content contains `needle`, waiting briefly for it.
    fn find_message(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(found) = find_in(&self.data.join("store"), needle) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no stored message has {needle:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and returns whether the server exited with status 0 in time.
    fn stop(&mut self) -> bool {
        let mut child = self.child.take().expect("the server is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data);
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

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{label}-{nanos}")
}

#[test]
fn inbound_delivery_adds_received() {
    let server = Server::start("");
    let subject = unique("inbound");
    server.client(&["inbound", &server.smtp.to_string(), &subject]);
    let message = server.find_message(&subject);
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
    let server = Server::start("");
    let port = server.smtp.to_string();
    server.client(&["refused_rcpt", &port, "someone@example.com", "554", "5.7.1"]);
}

#[test]
fn unknown_local_user_is_refused() {
    let server = Server::start("");
    let port = server.smtp.to_string();
    server.client(&["refused_rcpt", &port, "nobody@localhost", "550", "5.1.1"]);
}

#[test]
fn submission_with_starttls_plain_and_login() {
    let server = Server::start("");
    let port = server.submission.to_string();
    let ca = server.cafile().display().to_string();
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
        let message = server.find_message(&subject);
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
    let server = Server::start("");
    let port = server.submission.to_string();
    server.client(&["auth_before_tls", &port, "alice@localhost", PASSWORD]);
}

#[test]
fn plaintext_auth_on_loopback_when_configured() {
    let server = Server::start("\n[auth]\nplaintext_on_loopback = true");
    let port = server.submission.to_string();
    let subject = unique("loopback");
    server.client(&[
        "auth_without_tls",
        &port,
        "alice@localhost",
        PASSWORD,
        &subject,
    ]);
    let message = server.find_message(&subject);
    assert!(message.contains("with ESMTPA id"), "{message}");
}

#[test]
fn connections_over_the_per_ip_limit_get_421() {
    let server = Server::start("connections_per_ip = 1");
    server.client(&["too_many_connections", &server.smtp.to_string()]);
}

#[test]
fn wrong_password_fails_and_is_logged() {
    let server = Server::start("");
    let port = server.submission.to_string();
    let ca = server.cafile().display().to_string();
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
    let server = Server::start("");
    let port = server.submission.to_string();
    let ca = server.cafile().display().to_string();
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
    let server = Server::start("");
    let port = server.submissions.to_string();
    let ca = server.cafile().display().to_string();
    let subject = unique("submissions");
    server.client(&[
        "submissions",
        &port,
        &ca,
        "alice@localhost",
        PASSWORD,
        &subject,
    ]);
    let message = server.find_message(&subject);
    assert!(message.contains("with ESMTPSA id"), "{message}");
}

#[test]
fn oversized_message_is_refused() {
    let server = Server::start("message_size = 10000");
    server.client(&["oversized", &server.smtp.to_string(), "20000"]);
}

#[test]
fn sigterm_closes_idle_sessions_with_421() {
    use std::io::BufRead;
    let mut server = Server::start("");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_client.py");
    let mut client = Command::new("python3")
        .arg(script)
        .args(["idle_shutdown", &server.smtp.to_string()])
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
    let mut server = Server::start("");
    let subject = unique("before-shutdown");
    server.client(&["inbound", &server.smtp.to_string(), &subject]);
    assert!(server.stop(), "no clean exit: {}", server.log());
    let log = server.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn failed_logins_lock_out_one_address_only() {
    let server = Server::start("");
    let cafile = server.cafile();
    let port = server.submissions.to_string();
    let cafile = cafile.to_str().unwrap();
    server.client(&["lockout", &port, cafile, "alice@localhost", PASSWORD]);
    assert!(
        server
            .log()
            .contains("auth refused (too many failures): ip=127.0.0.1")
    );
}

#[test]
fn two_factor_accounts_use_password_and_code_or_an_app_password() {
    let server = Server::start("");
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
    let port = server.submissions.to_string();
    let args = [
        "two_factor",
        &port,
        cafile.to_str().unwrap(),
        "alice@localhost",
        PASSWORD,
        &secret,
        &app,
    ];
    server.client(&args);
}

/// Runs `openssl s_client` against the implicit-TLS port with `args` and returns its output.
fn s_client(server: &Server, args: &[&str]) -> String {
    let connect = format!("127.0.0.1:{}", server.submissions);
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
    let server = Server::start("");

    // The client is allowed to offer TLS 1.1 (security level 0); the server must refuse.
    let old = s_client(&server, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert!(old.contains("Cipher is (NONE)"), "{old}");
    assert!(old.contains("alert handshake failure"), "{old}");

    let cafile = server.cafile();
    let args = [
        "-tls1_2",
        "-CAfile",
        cafile.to_str().unwrap(),
        "-verify_return_error",
    ];
    let current = s_client(&server, &args);
    assert!(current.contains("Verify return code: 0 (ok)"), "{current}");
    assert!(current.contains("Protocol  : TLSv1.2"), "{current}");
}
