//! Data in the embedded store survives a `kill -9` of the `citas` process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::json;

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seed")
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `citas serve` on a free port and returns it with its base URL.
fn serve(data_dir: &Path) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citas"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--seed-dir")
        .arg(seed_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("citas starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let base = line
        .trim()
        .strip_prefix("citas listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (Process(child), base)
}

#[tokio::test]
async fn data_survives_kill_9() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let (mut process, base) = serve(data_dir.path());
    // As a frontend developer would: a token from `citas token`, signed with the data directory's secret.
    let output = Command::new(env!("CARGO_BIN_EXE_citas"))
        .args([
            "token",
            "--role",
            "admin",
            "--country",
            "cl",
            "--ttl",
            "10m",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .output()
        .expect("citas token");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .expect("text")
        .trim()
        .to_owned();
    let response = client
        .post(format!("{base}/cl/patient"))
        .bearer_auth(&token)
        .json(
            &json!({ "document": "8.888.888-K", "name": "Rosa Díaz", "email": "rosa@example.cl" }),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(response.status().as_u16(), 201);
    let response = client
        .post(format!("{base}/cl/appointment"))
        .bearer_auth(&token)
        .json(&json!({ "document": "8888888-K", "speciality": "Pediatría" }))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status().as_u16(), 201);
    let created: serde_json::Value = response.json().await.expect("json");

    // SIGKILL: no shutdown code runs.
    process.0.kill().expect("kill -9");
    process.0.wait().expect("reaped");

    let (_process, base) = serve(data_dir.path());
    let id = created["id"].as_str().expect("id");
    let fetched: serde_json::Value = client
        .get(format!("{base}/cl/appointment/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, created);
}
