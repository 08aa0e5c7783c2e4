//! What the tests of the `citas` binary share: starting it, stopping it, and
//! signing a token with its data directory's secret.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seed")
}

/// The `citas` binary built for these tests.
pub fn citas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_citas"))
}

/// A child process killed when dropped, also when a test fails.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `citas serve …` as `command` describes (with `--addr 127.0.0.1:0`)
/// and returns it with the base URL it prints on its first line.
pub fn start(mut command: Command) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("citas starts");
    let stdout = child.stdout.take().expect("stdout");
    let process = Process(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let base = line
        .trim()
        .strip_prefix("citas listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (process, base)
}

/// Runs `citas token <args> --data-dir <data_dir>`: the process's output, whatever its status.
pub fn run_token(data_dir: &Path, args: &[&str]) -> std::process::Output {
    citas()
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("citas token runs")
}

/// The token `citas token <args>` prints; fails the test if it does not succeed.
pub fn token(data_dir: &Path, args: &[&str]) -> String {
    let output = run_token(data_dir, args);
    assert!(
        output.status.success(),
        "citas token {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("text")
        .trim()
        .to_owned()
}

/// As a frontend developer would: an admin token from `citas token`, signed
/// with the data directory's secret.
pub fn admin_token(data_dir: &Path, country: &str) -> String {
    token(
        data_dir,
        &["--role", "admin", "--country", country, "--ttl", "10m"],
    )
}
