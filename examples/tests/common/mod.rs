//! The harness the end-to-end tests share: the real `mail-server` binary on free loopback
//! ports with its own data directory, users made with its CLI, and a Python client script.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// The listener keys of `[listen]`; the ones a test does not ask for are turned off.
const LISTENERS: [&str; 7] = [
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
];

/// A running server with its own data directory.
pub struct Server {
    child: Option<Child>,
    /// The data directory.
    pub data: PathBuf,
    config: PathBuf,
    ports: Vec<(&'static str, u16)>,
    script: &'static str,
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
    /// Creates `users`, then starts the server with `listeners` on free ports; `limits` is
    /// TOML added to the `[limits]` section; `script` names the Python client in `tests/`.
    pub fn start(
        listeners: &[&'static str],
        users: &[&str],
        limits: &str,
        script: &'static str,
    ) -> Server {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let data = std::env::temp_dir().join(format!("e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("create the data directory");

        let ports: Vec<_> = listeners.iter().map(|&name| (name, free_port())).collect();
        let mut listen = String::new();
        for key in LISTENERS {
            let address = match ports.iter().find(|(name, _)| *name == key) {
                Some((_, port)) => format!("127.0.0.1:{port}"),
                None => String::new(),
            };
            listen.push_str(&format!("{key} = \"{address}\"\n"));
        }
        let config = data.join("test-config.toml");
        let text = format!(
            "[server]\nhostname = \"localhost\"\ndomains = [\"localhost\"]\n\n\
             [listen]\n{listen}\n[limits]\nshutdown_grace_secs = 5\n{limits}\n"
        );
        std::fs::write(&config, text).expect("write the config");

        let mut server = Server {
            child: None,
            data,
            config,
            ports,
            script,
        };
        for user in users {
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

    /// The port of listener `name`.
    pub fn port(&self, name: &str) -> u16 {
        let found = self.ports.iter().find(|(listener, _)| *listener == name);
        found
            .map(|(_, port)| *port)
            .expect("the listener was started")
    }

    /// The port of listener `name`, as an argument for the client script.
    pub fn port_arg(&self, name: &str) -> String {
        self.port(name).to_string()
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
    pub fn cli(&self, args: &[&str]) -> String {
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
            let ready = self
                .ports
                .iter()
                .all(|(_, port)| TcpStream::connect(("127.0.0.1", *port)).is_ok());
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

    /// The generated certificate, which the clients trust as their CA.
    pub fn cafile(&self) -> String {
        self.data.join("tls/cert.pem").display().to_string()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    /// Runs a scenario of the client script and asserts that it succeeded.
    pub fn client(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(self.script);
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Sends `signal` (a name kill(1) knows, like `HUP`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits until `count` lines of the log contain `needle`, failing after ten seconds.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.lines().filter(|line| line.contains(needle)).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{count} log lines with {needle:?} not seen:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and returns whether the server exited with status 0 in time.
    pub fn stop(&mut self) -> bool {
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

/// A name nobody used before, for subjects and bodies the tests look for.
pub fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{label}-{nanos}")
}

/// Runs curl with `args`, silent but for errors and bounded to 30 seconds; a missing curl
/// fails the test (`.ci/run` installs it).
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed (.ci/run installs it with apt-get)")
}

/// Writes a new self-signed P-256 certificate for `localhost` and 127.0.0.1 with its key
/// into `dir`, using openssl; returns the certificate's and the key's paths.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("create the certificate directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let output = Command::new("timeout")
        .args(["30", "openssl", "req", "-x509", "-newkey", "ec"])
        .args([
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("timeout and openssl are installed");
    assert!(
        output.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}
