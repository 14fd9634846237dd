//! End to end: the real `mail-server` binary on loopback ports, a message delivered with
//! Python's smtplib and read back with poplib (`tests/pop3_client.py`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";
const ALICE: &str = "alice@localhost";

/// A running server with its own data directory.
struct Server {
    child: Option<Child>,
    data: PathBuf,
    config: PathBuf,
    smtp: u16,
    pop3: u16,
    pop3s: u16,
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
    /// Creates alice@localhost, then starts the server.
    fn start() -> Server {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let data = std::env::temp_dir().join(format!("pop3-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("create the data directory");
        let (smtp, pop3, pop3s) = (free_port(), free_port(), free_port());
        let config = data.join("test-config.toml");
        let text = format!(
            "[server]\nhostname = \"localhost\"\ndomains = [\"localhost\"]\n\n\
             [listen]\nsmtp = \"127.0.0.1:{smtp}\"\nsubmission = \"\"\nsubmissions = \"\"\n\
             imap = \"\"\nimaps = \"\"\npop3 = \"127.0.0.1:{pop3}\"\n\
             pop3s = \"127.0.0.1:{pop3s}\"\n\n[limits]\nshutdown_grace_secs = 5\n"
        );
        std::fs::write(&config, text).expect("write the config");
        let mut server = Server {
            child: None,
            data,
            config,
            smtp,
            pop3,
            pop3s,
        };
        server.add_user(ALICE);
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

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = [self.smtp, self.pop3, self.pop3s]
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if ready && Path::new(&self.cafile()).exists() {
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

    fn cafile(&self) -> String {
        self.data.join("tls/cert.pem").display().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    /// Runs a scenario of `pop3_client.py` and asserts that it succeeded.
    fn client(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pop3_client.py");
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

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{label}-{nanos}")
}

#[test]
fn delivered_message_is_retrieved_and_deleted_over_stls() {
    let mut server = Server::start();
    let subject = unique("pop3");
    server.client(&["deliver", &server.smtp.to_string(), &subject]);
    let (port, cafile) = (server.pop3.to_string(), server.cafile());
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
    let mut server = Server::start();
    let (port, cafile) = (server.pop3s.to_string(), server.cafile());
    server.client(&["pop3s", &port, &cafile, ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn login_before_stls_is_refused() {
    let mut server = Server::start();
    server.client(&["before_stls", &server.pop3.to_string(), ALICE, PASSWORD]);
    assert!(server.stop(), "{}", server.log());
}

#[test]
fn second_session_for_a_locked_maildrop_gets_in_use() {
    let mut server = Server::start();
    let (port, cafile) = (server.pop3.to_string(), server.cafile());
    server.client(&["in_use", &port, &cafile, ALICE, PASSWORD]);
    assert!(server.log().contains("maildrop in use"), "{}", server.log());
    assert!(server.stop(), "{}", server.log());
}
