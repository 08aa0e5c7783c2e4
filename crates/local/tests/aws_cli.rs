//! As a tester would: `citas serve --aws-endpoint` creates the tables and
//! queues of template.yaml on moto, the real AWS CLI loads every file in
//! `seed/` with `batch-write-item`, and the lifecycle runs over HTTP on that data.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{admin_token, citas, seed_dir, start};

/// moto keeps each region apart: this test owns this one, with the seed's exact table names.
const REGION: &str = "sa-east-1";

fn required(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run scripts/test, which sets it"))
}

fn aws(args: &[&str]) -> Value {
    let output = Command::new(required("AWS_CLI"))
        .args(args)
        .args([
            "--endpoint-url",
            &required("MOTO_ENDPOINT"),
            "--region",
            REGION,
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("aws runs");
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if output.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&output.stdout).expect("aws prints JSON")
    }
}

#[tokio::test]
async fn the_aws_cli_loads_the_seed_and_the_lifecycle_runs_on_it() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut command = citas();
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--aws-endpoint",
            &required("MOTO_ENDPOINT"),
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stderr(Stdio::inherit());
    let (_server, base) = start(command);

    // The tables exist now; load every seed file exactly as a tester would.
    let mut files: Vec<PathBuf> = std::fs::read_dir(seed_dir())
        .expect("seed dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("000-seed-example.json")));
    for file in &files {
        let request = format!("file://{}", file.display());
        let result = aws(&["dynamodb", "batch-write-item", "--request-items", &request]);
        assert_eq!(result["UnprocessedItems"], json!({}), "{}", file.display());
    }

    let token = admin_token(data_dir.path(), "pe");
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let token = token.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    // A patient of its own, so repeated runs on one moto do not collide.
    let document = format!(
        "{}",
        60_000_000 + jiff::Timestamp::now().as_second() % 30_000_000
    );
    let (status, _) = post(
        "/pe/patient".into(),
        json!({ "document": document, "name": "Prueba CLI", "email": "cli@example.pe" }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, created) = post(
        "/pe/appointment".into(),
        json!({ "document": document, "speciality": "Medicina interna" }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    // Seed 000's slots are there: its 2024 slot is found, and is in the past.
    let (status, problem) = post(
        format!("/pe/appointment/{id}/assign"),
        json!({ "slot": "pe-medicina-interna-9999234-1732633200" }),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("slot_in_past")),
        "{problem}"
    );

    // Pasted slots carry seed 000's attributes only; the slot table's stream
    // completes them (as the deployed index-slots function does), so the
    // speciality's search finds them, with their doctors' names.
    let search =
        format!("{base}/pe/slot?speciality=medicina-interna&from=2026-12-07&to=2026-12-07");
    let mut found = Value::Null;
    for _ in 0..50 {
        found = client
            .get(&search)
            .bearer_auth(&token)
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        if found["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        found["items"][0]["doctor"]["name"]
            .as_str()
            .map(|n| n.starts_with("Dr")),
        Some(true),
        "{found}"
    );

    let (status, assigned) = post(format!("/pe/appointment/{id}/assign"), json!({})).await;
    assert_eq!(status, 200, "{assigned}");
    assert!(
        assigned["doctor"]
            .as_str()
            .is_some_and(|d| d.starts_with("pe-medicina-interna-")),
        "{assigned}"
    );
    // The consultation is in the future: it cannot be completed yet; an admin cancels it.
    let (status, problem) = post(format!("/pe/appointment/{id}/complete"), json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("not_started")),
        "{problem}"
    );
    let (status, completed) = post(
        format!("/pe/appointment/{id}/cancel"),
        json!({ "reason": "prueba" }),
    )
    .await;
    assert_eq!(
        (status, completed["status"].as_str()),
        (200, Some("cancelled"))
    );
    // Its history, from the history table: created, assigned, cancelled.
    let history: Value = client
        .get(format!("{base}/pe/appointment/{id}/history"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let steps: Vec<(Value, Value)> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!("registered")),
            (json!("registered"), json!("assigned")),
            (json!("assigned"), json!("cancelled"))
        ],
        "{history}"
    );

    let fetched: Value = client
        .get(format!("{base}/pe/appointment/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, completed);
    // And the item is in the seed's own table, as the CLI sees it.
    let key = json!({ "id": { "S": id } }).to_string();
    let item = aws(&[
        "dynamodb",
        "get-item",
        "--table-name",
        "pe-appointment",
        "--key",
        &key,
    ]);
    assert_eq!(item["Item"]["status"]["S"], "cancelled");
}
