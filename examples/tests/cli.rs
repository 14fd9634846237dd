//! The `mail-server` command line, run as a real process in a fresh data directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A data directory unique to one test, removed when the test ends.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "rampart-cli-{name}-{}-{unique}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Runs `mail-server --data-dir DIR ARGS` with `stdin` as its input.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mail-server"))
            .arg("--data-dir")
            .arg(&self.0)
            .args(args)
            .env("RUST_LOG", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mail-server");
        let mut input = child.stdin.take().expect("stdin");
        // The command may exit before reading; a broken pipe is not a test failure.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        child.wait_with_output().expect("wait for mail-server")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that the command failed with exit code 1 and one `mail-server: error:` line.
fn assert_one_line_error(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(
        stderr.starts_with("mail-server: error: "),
        "stderr: {stderr}"
    );
}

fn assert_ok(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
}

#[test]
fn config_example_passes_config_check() {
    let dir = DataDir::new("example");
    let example = dir.run(&["config", "example"], "");
    assert_ok(&example);
    let file = dir.path().join("example.toml");
    std::fs::write(&file, &example.stdout).expect("write example");

    let check = dir.run(&["config", "check", file.to_str().expect("utf-8 path")], "");
    assert_ok(&check);
    assert!(stdout(&check).trim_end().ends_with(": ok"));
}

#[test]
fn broken_configs_fail_with_one_line() {
    let dir = DataDir::new("broken");
    for (name, text) in [
        ("bad-toml", "[server\nhostname = 1"),
        ("unknown-key", "[server]\ncolour = \"blue\"\n"),
        ("bad-listen", "[listen]\nsmtp = \"not an address\"\n"),
    ] {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, text).expect("write config");
        let check = dir.run(&["config", "check", file.to_str().expect("utf-8 path")], "");
        assert_one_line_error(&check);
    }

    let missing = dir.path().join("missing.toml");
    assert_one_line_error(&dir.run(&["config", "check", missing.to_str().expect("utf-8")], ""));

    // A usage error is one line too.
    assert_one_line_error(&dir.run(&["user", "frob"], ""));

    // A broken DATA_DIR/config.toml stops the other commands too.
    std::fs::write(dir.path().join("config.toml"), "[server]\ncolour = 1\n").expect("write");
    assert_one_line_error(&dir.run(&["user", "list"], ""));
}

#[test]
fn user_lifecycle() {
    let dir = DataDir::new("users");
    assert_ok(&dir.run(&["user", "add", "Alice@localhost"], "correct horse\n"));
    let list = dir.run(&["user", "list"], "");
    assert_ok(&list);
    assert_eq!(stdout(&list), "alice@localhost\n");

    // Adding the same account again fails, whatever the case.
    assert_one_line_error(&dir.run(&["user", "add", "alice@LOCALHOST"], "other\n"));

    assert_ok(&dir.run(&["user", "passwd", "alice@localhost"], "battery staple\r\n"));

    let totp = dir.run(&["user", "totp", "alice@localhost"], "");
    assert_ok(&totp);
    let lines: Vec<_> = stdout(&totp).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("otpauth://totp/"), "{lines:?}");

    let app = dir.run(&["user", "app-password", "alice@localhost", "phone"], "");
    assert_ok(&app);
    let out = stdout(&app);
    let password = out.lines().last().expect("a password line");
    assert!(password.len() >= 12 && !password.contains(' '), "{out:?}");
    // The label is taken now.
    assert_one_line_error(&dir.run(&["user", "app-password", "alice@localhost", "phone"], ""));

    assert_ok(&dir.run(&["user", "del", "alice@localhost"], ""));
    assert_eq!(stdout(&dir.run(&["user", "list"], "")), "");
    assert_one_line_error(&dir.run(&["user", "del", "alice@localhost"], ""));
}

#[test]
fn bad_user_input_fails_with_one_line() {
    let dir = DataDir::new("bad-users");
    assert_one_line_error(&dir.run(&["user", "add", "not an address"], "secret\n"));
    assert_one_line_error(&dir.run(&["user", "add", "bob@example.com"], "secret\n"));
    assert_one_line_error(&dir.run(&["user", "add", "bob@localhost"], "\n"));
    assert_one_line_error(&dir.run(&["user", "passwd", "nobody@localhost"], "secret\n"));
    assert_one_line_error(&dir.run(&["user", "totp", "nobody@localhost"], ""));

    // Nothing was created by the failures.
    let list = dir.run(&["user", "list"], "");
    assert_ok(&list);
    assert_eq!(stdout(&list), "");
}
