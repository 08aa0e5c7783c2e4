//! The `citas` process as run: its data survives a `kill -9`, and its info
//! logs carry no document numbers or email addresses.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use support::{Process, admin_token, citas, run_token, seed_dir, start, token};

/// Starts `citas serve` on a free port and returns it with its base URL.
fn serve(data_dir: &Path) -> (Process, String) {
    serve_logging(data_dir, Stdio::null())
}

fn serve_logging(data_dir: &Path, logs: Stdio) -> (Process, String) {
    let mut command = citas();
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--seed-dir")
        .arg(seed_dir())
        .env("RUST_LOG", "info")
        .stderr(logs);
    start(command)
}

#[tokio::test]
async fn data_survives_kill_9() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let (mut process, base) = serve(data_dir.path());
    let token = admin_token(data_dir.path(), "cl");
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

/// Accounts and sessions of the local identity provider, like the rest of
/// the data: a confirmed account and its session outlive a `kill -9`.
#[tokio::test]
async fn accounts_survive_kill_9() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let (mut process, base) = serve(data_dir.path());
    let auth = |base: &str, action: &str, body: serde_json::Value| {
        client
            .post(format!("{base}/auth/{action}"))
            .json(&body)
            .send()
    };
    let email = "rosa.kill@example.cl";
    let response = auth(
        &base,
        "sign-up",
        json!({"role": "patient", "country": "cl", "document": "8.888.888-K", "name": "Rosa Díaz",
               "email": email, "password": "Secreto-2026"}),
    )
    .await
    .expect("sign-up");
    assert_eq!(response.status().as_u16(), 201);
    // The code, from the email in the outbox (quoted-printable soft breaks joined).
    let outbox = data_dir.path().join("outbox");
    let code = std::fs::read_dir(&outbox)
        .expect("outbox")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .filter(|text| text.contains(email))
        .find_map(|text| {
            let joined = text.replace("=\r\n", "").replace("=\n", "");
            let start = joined.find("<code>")? + "<code>".len();
            let end = joined[start..].find("</code>")? + start;
            Some(joined[start..end].to_owned())
        })
        .expect("the code's email");
    let response = auth(&base, "confirm", json!({"email": email, "code": code}))
        .await
        .expect("confirm");
    assert_eq!(response.status().as_u16(), 200);
    let sign_in = json!({"email": email, "document": "8888888-K", "password": "Secreto-2026"});
    let tokens: serde_json::Value = auth(&base, "sign-in", sign_in.clone())
        .await
        .expect("sign-in")
        .json()
        .await
        .expect("json");
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    process.0.kill().expect("kill -9");
    process.0.wait().expect("reaped");

    let (_process, base) = serve(data_dir.path());
    let response = auth(&base, "refresh", json!({"refresh_token": refresh}))
        .await
        .expect("refresh");
    assert_eq!(response.status().as_u16(), 200, "the session outlived it");
    let response = auth(&base, "sign-in", sign_in).await.expect("sign-in");
    assert_eq!(response.status().as_u16(), 200, "the account outlived it");
}

#[tokio::test]
async fn info_logs_carry_no_documents_or_email_addresses() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let log_path = data_dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let (mut process, base) = serve_logging(data_dir.path(), Stdio::from(log));
    let token = admin_token(data_dir.path(), "pe");
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let (document, email) = ("47000001", "privado.paciente@example.pe");
    let steps = [
        (
            "/pe/patient",
            json!({ "document": document, "name": "Paciente Privado", "email": email }),
        ),
        (
            "/pe/appointment",
            json!({ "document": document, "speciality": "cardiologia" }),
        ),
        (
            "/pe/appointment",
            json!({ "document": document, "speciality": "cardiologia" }),
        ),
    ];
    for (path, body) in steps {
        post(path, body).await.expect("request");
    }
    // A sign-up, a wrong and a right sign-in attempt of another patient.
    let (signer, signer_email, password) =
        ("47000009", "privada.cuenta@example.pe", "Secreto-2026");
    for (action, body) in [
        (
            "sign-up",
            json!({"role": "patient", "country": "pe", "document": signer, "name": "Cuenta Privada",
                   "email": signer_email, "password": password}),
        ),
        (
            "sign-in",
            json!({"email": signer_email, "document": signer, "password": "Otra-Clave-9"}),
        ),
        (
            "sign-in",
            json!({"email": signer_email, "document": signer, "password": password}),
        ),
    ] {
        client
            .post(format!("{base}/auth/{action}"))
            .json(&body)
            .send()
            .await
            .expect("request");
    }
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("America/Lima").expect("tz"))
        .strftime("%Y%m%d")
        .to_string();
    let id = format!("{today}-{document}");
    for action in ["assign", "notify"] {
        let response = post(&format!("/pe/appointment/{id}/{action}"), json!({}))
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
    }
    // The email is written (the pipeline logged its work) before the process stops.
    let outbox = data_dir.path().join("outbox");
    for _ in 0..100 {
        if std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    process.0.kill().expect("stop");
    process.0.wait().expect("reaped");

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(
        logs.contains("appointment assigned"),
        "the run was logged: {logs}"
    );
    assert!(logs.contains("*****001"), "masked ids are logged: {logs}");
    assert!(logs.contains("account signed up"), "{logs}");
    for secret in [
        document,
        email,
        "privado",
        signer,
        signer_email,
        "privada",
        password,
        "Otra-Clave-9",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the info logs:\n{logs}"
        );
    }
}

/// A virtual visit's room address and its name appear in the join answers
/// and the emails, never in the logs (the join itself is logged, masked).
#[tokio::test]
async fn info_logs_carry_no_meeting_links() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let log_path = data_dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let (mut process, base) = serve_logging(data_dir.path(), Stdio::from(log));
    let admin = admin_token(data_dir.path(), "pe");
    let patient = token(
        data_dir.path(),
        &[
            "--role",
            "patient",
            "--country",
            "pe",
            "--document",
            "47000031",
        ],
    );
    let doctor = token(
        data_dir.path(),
        &[
            "--role",
            "doctor",
            "--country",
            "pe",
            "--document",
            "7700031",
        ],
    );
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, token: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let lima = jiff::tz::TimeZone::get("America/Lima").expect("tz");
    let today = jiff::Zoned::now().with_time_zone(lima).date();
    let tomorrow = today.tomorrow().expect("a tomorrow");
    // Five-minute virtual slots all day: one starts within minutes, whatever the time.
    let weekly: Vec<serde_json::Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"weekday": day, "from": "00:00", "to": "23:55", "modality": "virtual"}))
        .collect();
    let setup = [
        (
            reqwest::Method::POST,
            "/pe/doctor".to_owned(),
            json!({"document": "7700031", "name": "Dra. Privada", "speciality": "cardiologia",
                   "modalities": ["virtual"]}),
        ),
        (
            reqwest::Method::PUT,
            "/pe/doctor/pe-cardiologia-7700031/availability".to_owned(),
            json!({"slot_minutes": 5, "weekly": weekly, "valid_from": today.to_string(),
                   "valid_until": tomorrow.to_string()}),
        ),
        (
            reqwest::Method::POST,
            "/pe/patient".to_owned(),
            json!({"document": "47000031", "name": "Paciente Virtual", "email": "virtual@example.pe"}),
        ),
        (
            reqwest::Method::POST,
            "/pe/appointment".to_owned(),
            json!({"document": "47000031", "speciality": "cardiologia"}),
        ),
    ];
    for (method, path, body) in setup {
        let response = call(method, path.clone(), &admin, body)
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let page: serde_json::Value = call(
        reqwest::Method::GET,
        "/pe/slot?speciality=cardiologia&doctor=pe-cardiologia-7700031&modality=virtual&limit=1"
            .to_owned(),
        &admin,
        json!(null),
    )
    .await
    .expect("search")
    .json()
    .await
    .expect("json");
    let slot = page["items"][0]["id"].as_str().expect("a virtual slot");
    let id = format!("{}-47000031", today.strftime("%Y%m%d"));
    let response = call(
        reqwest::Method::POST,
        format!("/pe/appointment/{id}/assign"),
        &patient,
        json!({ "slot": slot }),
    )
    .await
    .expect("assign");
    assert!(response.status().is_success(), "{}", response.status());
    let mut rooms = Vec::new();
    for who in [&patient, &doctor] {
        let entry: serde_json::Value = call(
            reqwest::Method::POST,
            format!("/pe/appointment/{id}/join"),
            who,
            json!({}),
        )
        .await
        .expect("join")
        .json()
        .await
        .expect("json");
        rooms.push(entry["join_url"].as_str().expect("a room").to_owned());
    }
    assert_eq!(rooms[0], rooms[1]);
    let outbox = data_dir.path().join("outbox");
    for _ in 0..100 {
        if std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    process.0.kill().expect("stop");
    process.0.wait().expect("reaped");
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(
        logs.contains("meeting joined"),
        "the joins were logged: {logs}"
    );
    let name = rooms[0].rsplit('/').next().expect("a room name");
    let key = name.trim_start_matches("citas-");
    for secret in [rooms[0].as_str(), key] {
        assert!(
            !logs.contains(secret),
            "{secret} appears in the logs:\n{logs}"
        );
    }
}

/// A Jitsi server or join page that cannot make a link is refused at start,
/// naming the flag, instead of being emailed to patients.
#[test]
fn serve_refuses_meeting_settings_that_make_no_link() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    for (flag, value) in [
        ("--jitsi-server", "not a url"),
        ("--jitsi-server", "ftp://meet.example"),
        ("--join-page", "https://citas.example/consulta/"),
    ] {
        let output = citas()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args([flag, value])
            .output()
            .expect("citas runs");
        assert!(!output.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
}

/// The README's `citas token` lines, as written, give tokens the server takes:
/// a doctor's document is their registry number (seed 000's), not a RUT.
#[tokio::test]
async fn the_readme_token_lines_sign_tokens_the_server_accepts() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mint = |args: &[&str]| token(data_dir.path(), args);
    let doctor = mint(&[
        "--role",
        "doctor",
        "--country",
        "cl",
        "--document",
        "20000000",
    ]);
    let patient = mint(&[
        "--role",
        "patient",
        "--country",
        "pe",
        "--document",
        "45678912",
        "--ttl",
        "1h",
    ]);
    let admin = mint(&["--role", "admin", "--country", "pe"]);
    let refused = run_token(
        data_dir.path(),
        &[
            "--role",
            "doctor",
            "--country",
            "cl",
            "--document",
            "12.345.678-5",
        ],
    );
    assert!(!refused.status.success(), "a RUT is not a registry number");

    let (_process, base) = serve(data_dir.path());
    let client = reqwest::Client::new();
    for (token, path) in [
        (&doctor, "/cl/appointment?status=assigned"),
        (&patient, "/pe/appointment?document=45678912"),
        (&admin, "/pe/appointment?status=registered"),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}

/// `citas slots` generates as working plans do: a local time that does not
/// exist (00:30 on 5 September 2027 in Santiago) has no slot, and a doctor
/// no seed file registers is refused by name.
#[test]
fn citas_slots_skips_missing_local_times_and_refuses_unknown_doctors() {
    let out = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        seed_dir().join("010-doctors.json"),
        out.path().join("010-doctors.json"),
    )
    .expect("doctors");
    let slots = |doctor: &str| {
        citas()
            .args([
                "slots",
                "--doctor",
                doctor,
                "--from",
                "2027-09-04",
                "--to",
                "2027-09-06",
                "--times",
                "00:30,09:00",
                "--weekdays",
                "sat,sun,mon",
                "--name",
                "dst",
                "--out-dir",
            ])
            .arg(out.path())
            .output()
            .expect("citas slots runs")
    };
    let written = slots("cl-pediatria-20000000");
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("dst-001.json")).expect("file written"),
    )
    .expect("JSON");
    let local: Vec<String> = file["appointment-doctor"]
        .as_array()
        .expect("slot requests")
        .iter()
        .map(|request| {
            let item = &request["PutRequest"]["Item"];
            format!(
                "{} {}",
                item["date"]["S"].as_str().unwrap_or_default(),
                item["time"]["S"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        local,
        [
            "2027-09-04 00:30",
            "2027-09-04 09:00",
            "2027-09-05 09:00",
            "2027-09-06 00:30",
            "2027-09-06 09:00"
        ]
    );
    let refused = slots("cl-pediatria-99999999");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cl-pediatria-99999999"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The README's doctor walk-through, run as written against a running
/// server: only `cargo run -q --bin citas --` becomes this build's binary
/// and `API=` the server's address; `.data` is the server's data directory.
#[test]
fn the_readme_doctor_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- doctor-walkthrough");
    // Every answer is JSON, none an error; then the doctor's visits to come and
    // week, and last the day's agenda, each with José's booking.
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .expect("JSON answers");
    assert_eq!(answers.len(), 11, "{stdout}");
    for answer in &answers {
        assert!(answer.get("code").is_none(), "an error: {answer}");
    }
    let upcoming = &answers[8]["items"];
    assert_eq!(upcoming.as_array().map(Vec::len), Some(1), "{upcoming}");
    assert_eq!(upcoming[0]["patient"], "José Manuel Quispe Huamán");
    let week = &answers[9];
    let week_booked = week["slots"]
        .as_array()
        .expect("week's slots")
        .iter()
        .filter(|slot| !slot["appointment"].is_null())
        .count();
    assert_eq!(week_booked, 1, "{week}");
    assert_ne!(week["from"], week["to"], "{week}");
    let agenda = answers.last().expect("agenda");
    let booked: Vec<&serde_json::Value> = agenda["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter(|slot| !slot["appointment"].is_null())
        .collect();
    assert_eq!(booked.len(), 1, "{agenda}");
    assert_eq!(
        booked[0]["appointment"]["patient"],
        "José Manuel Quispe Huamán"
    );
    assert_eq!(booked[0]["appointment"]["status"], "assigned");
}

/// The README's walk-through of a patient finding a cardiologist near them,
/// booking the earliest free slot, and the review that waits for the visit.
#[test]
fn the_readme_finding_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- finding-walkthrough");
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .expect("JSON answers");
    assert_eq!(answers.len(), 10, "{stdout}");
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (paredes, rojas) = ("pe-cardiologia-7700011", "pe-cardiologia-7700012");
    let near = &answers[3];
    assert_eq!(ids(near), [paredes, rojas], "{near}");
    let km = |n: usize| near["items"][n]["distance_km"].as_f64().unwrap_or_default();
    assert!(
        (1.5..2.0).contains(&km(0)) && (4.4..5.0).contains(&km(1)),
        "{near}"
    );
    assert_eq!(ids(&answers[4]), [rojas], "{}", answers[4]);
    let earliest = &answers[5];
    assert_eq!(ids(earliest), [paredes, rojas], "{earliest}");
    let slot = &earliest["items"][0]["next_slot"]["id"];
    assert!(slot.is_string(), "{earliest}");
    assert_eq!(earliest["items"][1]["next_slot"], serde_json::Value::Null);
    let booked = &answers[7];
    assert_eq!(
        (&booked["status"], &booked["date"]),
        (&json_str("assigned"), slot),
        "{booked}"
    );
    assert_eq!(answers[8]["code"], "not_completed", "{}", answers[8]);
    assert_eq!(answers[9]["items"], serde_json::json!([]));
}

/// The README's walk-through of a teleconsultation: a virtual slot booked
/// minutes ahead, its meeting entered by the patient and the doctor (one
/// room), and refused to anyone else.
#[test]
fn the_readme_teleconsultation_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- teleconsultation-walkthrough");
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .expect("JSON answers");
    assert_eq!(answers.len(), 8, "{stdout}");
    assert_eq!(answers[1]["meeting_minutes"], 50, "{}", answers[1]);
    assert_eq!(answers[1]["weekly"][0]["modality"], "virtual");
    let booked = &answers[4];
    assert_eq!(
        (&booked["status"], &booked["modality"]),
        (&json_str("assigned"), &json_str("virtual")),
        "{booked}"
    );
    let (patient, doctor) = (&answers[5], &answers[6]);
    assert_eq!(patient["provider"], "jitsi", "{patient}");
    let room = patient["join_url"].as_str().expect("a room");
    assert!(room.starts_with("https://meet.jit.si/citas-"), "{room}");
    assert_eq!(doctor["join_url"], patient["join_url"], "{doctor}");
    assert_eq!(
        answers[7]["code"], "appointment_not_found",
        "{}",
        answers[7]
    );
}

fn json_str(text: &str) -> serde_json::Value {
    serde_json::Value::String(text.to_owned())
}

/// Runs the README's `sh` block after `marker` as written, against a fresh
/// server whose data directory is `.data` in the block's working directory;
/// returns what it printed.
fn run_readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let block = readme
        .split_once(marker)
        .and_then(|(_, rest)| rest.split_once("```sh\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("the README's block after {marker}"));
    let cwd = tempfile::tempdir().expect("temp dir");
    let data_dir = cwd.path().join(".data");
    let (_server, base) = serve(&data_dir);
    let binary = env!("CARGO_BIN_EXE_citas");
    let mut api_lines = 0;
    let script: String = block
        .lines()
        .map(|line| {
            if line.starts_with("API=") {
                api_lines += 1;
                format!("API={base}")
            } else {
                line.replace("cargo run -q --bin citas --", binary)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(api_lines, 1, "the block sets API once");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(cwd.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_readme_patient_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- patient-walkthrough");
    // The errors the walk-through shows on purpose, in order, and no other.
    let codes: Vec<&str> = stdout
        .split("\"code\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(codes, ["appointment_exists", "not_started"], "{stdout}");
    for status in ["\"status\":500", "\"status\":502", "\"status\":503"] {
        assert!(!stdout.contains(status), "{stdout}");
    }
    for expected in [
        "\"status\":\"assigned\"",
        "\"status\":\"cancelled\"",
        "\"from\":null",
        "\"to\":\"registered\"",
        // The patient's own record, a month view and an upcoming list.
        "\"name\":\"Ana Lucía Torres Vega\"",
        "\"days\":[{\"date\":",
        "\"ends_at\":",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
}

/// The README's privacy walk-through: a patient's own address verified with
/// the code from the outbox, her data exported, then erased.
#[test]
fn the_readme_privacy_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- privacy-walkthrough");
    let codes: Vec<&str> = stdout
        .split("\"code\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        codes,
        ["nothing_to_verify", "patient_not_found"],
        "{stdout}"
    );
    for expected in [
        "\"email_verified\":false",
        "\"email_verified\":true",
        "\"status\":\"assigned\"",
        "\"exported_at\":",
        "\"record_deleted\":true,\"cancelled\":1",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
}

/// The README's sign-up walk-through: a Chilean patient and a Peruvian
/// doctor make their accounts with the local identity provider, confirm them
/// with the emailed codes and use the tokens.
#[test]
fn the_readme_signup_walkthrough_runs_as_written() {
    let stdout = run_readme_block("<!-- signup-walkthrough");
    let codes: Vec<&str> = stdout
        .split("\"code\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        codes,
        ["document_taken", "invalid_refresh_token"],
        "{stdout}"
    );
    for expected in [
        "\"confirmed\":true",
        "\"role\":\"patient\",\"country\":\"cl\",\"document\":\"16543210-K\"",
        "\"status\":\"registered\"",
        "\"registry_number\":\"7700002\"",
        "\"doctor_id\":\"pe-cardiologia-7700002\"",
        "\"slots\":",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
}

#[tokio::test]
async fn citas_redrive_sends_a_countrys_dead_letters_back_and_keeps_the_rest() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (_process, base) = serve(data_dir.path());
    let token = admin_token(data_dir.path(), "pe");
    let client = reqwest::Client::new();
    let document = "47000002";
    for (path, body) in [
        (
            "/pe/patient".to_owned(),
            json!({ "document": document, "name": "Rosa Quispe", "email": "rosa@example.pe" }),
        ),
        (
            "/pe/appointment".to_owned(),
            json!({ "document": document, "speciality": "cardiologia" }),
        ),
    ] {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{path}");
    }
    let id = format!(
        "{}-{document}",
        jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::get("America/Lima").expect("tz"))
            .strftime("%Y%m%d")
    );
    // What the email function would have dead-lettered: one message of each country.
    let peru = json!({ "type": "appointment.registered", "version": 1, "country": "pe",
                       "appointment_id": id, "idempotency_key": "redrive-test-1" });
    let chile = json!({ "type": "appointment.registered", "version": 1, "country": "cl",
                        "appointment_id": "20261122-12345678-5", "idempotency_key": "redrive-test-2" });
    let dead_letters = data_dir.path().join("dead-letter.jsonl");
    std::fs::write(&dead_letters, format!("{peru}\n{chile}\n")).expect("dead letters");

    let output = citas()
        .args([
            "redrive",
            "--server",
            &base,
            "--country",
            "pe",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .output()
        .expect("citas redrive runs");
    assert!(output.status.success(), "{output:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON answer");
    assert_eq!(answer, json!({ "country": "pe", "redriven": 1, "kept": 1 }));
    // The Peruvian letter is an email now; the Chilean one waits in the file.
    let outbox = data_dir.path().join("outbox");
    for _ in 0..100 {
        if std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read_dir(&outbox).expect("outbox").count(), 1);
    let left = std::fs::read_to_string(&dead_letters).expect("the file");
    assert_eq!(left.trim(), chile.to_string());
}

/// Starts `citas serve` with a short read timeout.
fn serve_impatient(data_dir: &Path, seconds: u64) -> (Process, String) {
    let mut command = citas();
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--read-timeout-secs"])
        .arg(seconds.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--seed-dir")
        .arg(seed_dir())
        .stderr(Stdio::null());
    start(command)
}

/// Writes `sent` on a fresh connection and reads what comes back until the
/// server closes it, or `give_up` passes (then `None`).
async fn raw_exchange(base: &str, sent: &str, give_up: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(sent.as_bytes()).await.expect("written");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(give_up, stream.read_to_end(&mut answer)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_slow_or_oversized_request_is_answered_or_closed_instead_of_waited_for() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (_process, base) = serve_impatient(data_dir.path(), 1);
    let token = admin_token(data_dir.path(), "pe");
    let patience = std::time::Duration::from_secs(8);
    // A body that stalls after three of its ten bytes: 408, and the connection closes.
    let stalled = format!(
        "POST /pe/patient HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{{\"d"
    );
    let answer = raw_exchange(&base, &stalled, patience)
        .await
        .expect("answered and closed, not left open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // A declared length over the limit: 413 at once, nothing of it read.
    let oversized = format!(
        "POST /pe/patient HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n"
    );
    let answer = raw_exchange(&base, &oversized, patience)
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // Headers that never end: the connection is closed.
    let answer = raw_exchange(&base, "GET /health HTTP/1.1\r\nhost: x\r\n", patience).await;
    assert!(
        answer.is_some(),
        "a stalled header keeps the connection open"
    );
    // The server still serves whoever sends a whole request.
    let health = reqwest::get(format!("{base}/health"))
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn forty_bookings_at_once_then_kill_9_still_email_each_patient_once() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (mut process, base) = serve(data_dir.path());
    let token = admin_token(data_dir.path(), "pe");
    let client = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        let (client, token, base) = (client.clone(), token.clone(), base.clone());
        async move {
            client
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("request")
        }
    };
    let put = |path: String, body: serde_json::Value| {
        let (client, token, base) = (client.clone(), token.clone(), base.clone());
        async move {
            client
                .put(format!("{base}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("request")
        }
    };
    // A doctor of a speciality of their own, working every day: plenty of slots.
    let doctor = post(
        "/pe/doctor".into(),
        json!({ "document": "7712345", "name": "Dra. Prisa", "speciality": "Medicina del sueño" }),
    )
    .await;
    assert!(doctor.status().is_success());
    let doctor: serde_json::Value = doctor.json().await.expect("json");
    let doctor_id = doctor["id"].as_str().expect("id").to_owned();
    let weekly: Vec<serde_json::Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({ "weekday": day, "from": "08:00", "to": "20:00" }))
        .collect();
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("America/Lima").expect("tz"))
        .date();
    let plan = put(
        format!("/pe/doctor/{doctor_id}/availability"),
        json!({ "slot_minutes": 30, "weekly": weekly, "valid_from": today.to_string() }),
    )
    .await;
    assert_eq!(plan.status().as_u16(), 200, "{:?}", plan.text().await);
    let mut ids = Vec::new();
    for n in 0..40 {
        let document = format!("{}", 48_000_000 + n);
        let patient = post(
            "/pe/patient".into(),
            json!({ "document": document, "name": format!("Paciente {n}"), "email": format!("p{n}@example.pe") }),
        )
        .await;
        assert!(patient.status().is_success());
        let created = post(
            "/pe/appointment".into(),
            json!({ "document": document, "speciality": "medicina-del-sueno" }),
        )
        .await;
        assert_eq!(created.status().as_u16(), 201);
        let created: serde_json::Value = created.json().await.expect("json");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    // Forty bookings at once; the process dies right after the answers.
    let bookings: Vec<_> = ids
        .iter()
        .map(|id| tokio::spawn(post(format!("/pe/appointment/{id}/assign"), json!({}))))
        .collect();
    for booking in bookings {
        let answer = booking.await.expect("the booking ran");
        assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
    }
    process.0.kill().expect("kill -9");
    process.0.wait().expect("reaped");

    let (_process, _base) = serve(data_dir.path());
    let outbox = data_dir.path().join("outbox");
    let emails = || -> Vec<String> {
        std::fs::read_dir(&outbox)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).expect("eml"))
                    .collect()
            })
            .unwrap_or_default()
    };
    for _ in 0..300 {
        if emails().len() >= 40 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A moment more, for any copy that would follow.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let emails = emails();
    let mut recipients: Vec<String> = emails
        .iter()
        .filter_map(|mime| {
            mime.lines().find_map(|l| {
                l.strip_prefix("To: <")
                    .map(|to| to.trim_end_matches('>').to_owned())
            })
        })
        .collect();
    recipients.sort();
    let total = recipients.len();
    recipients.dedup();
    assert_eq!(
        (total, recipients.len()),
        (40, 40),
        "forty emails, one each"
    );
    assert!(
        !data_dir.path().join("dead-letter.jsonl").exists()
            || std::fs::read_to_string(data_dir.path().join("dead-letter.jsonl"))
                .expect("read")
                .trim()
                .is_empty(),
        "nothing dead-lettered"
    );
}

/// The mode bits of a path (permissions only).
#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Waits for a process that should exit on its own; kills it (and fails) if it does not.
fn exits_within(mut child: std::process::Child, seconds: u64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process kept running: it did not refuse to start");
}

#[cfg(unix)]
#[test]
fn an_empty_short_or_shared_token_secret_is_refused_by_serve_and_token() {
    use std::os::unix::fs::PermissionsExt;
    let cases: [(&str, &str, u32, &str); 3] = [
        ("empty", "", 0o600, "fewer than 32"),
        ("short", "0123456789", 0o600, "fewer than 32"),
        (
            "readable by others",
            "0123456789abcdef0123456789abcdef0123456789abcdef",
            0o644,
            "read by other users",
        ),
    ];
    for (case, secret, mode, says) in cases {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let path = data_dir.path().join("token-secret");
        std::fs::write(&path, secret).expect("secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
        let output = run_token(data_dir.path(), &["--role", "admin", "--country", "pe"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: token was signed");
        assert!(output.stdout.is_empty(), "{case}: a token was printed");
        assert!(stderr.contains(says), "{case}: {stderr}");
        let serve = citas()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("citas serve");
        let output = exits_within(serve, 20);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: serve started");
        assert!(stderr.contains(says), "{case}: {stderr}");
        // The file is left as it was, for its owner to look at.
        assert_eq!(std::fs::read_to_string(&path).expect("secret"), secret);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_the_owners_only() {
    let parent = tempfile::tempdir().expect("temp dir");
    let data_dir = parent.path().join("fresh").join(".data");
    let (_process, base) = serve(&data_dir);
    let token = admin_token(&data_dir, "pe");
    let client = reqwest::Client::new();
    for (path, body) in [
        (
            "/pe/patient",
            json!({"document": "47000101", "name": "Rosa", "email": "rosa@example.pe"}),
        ),
        (
            "/pe/appointment",
            json!({"document": "47000101", "speciality": "Medicina interna"}),
        ),
    ] {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{path}");
    }
    let id = format!(
        "{}-47000101",
        jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::get("America/Lima").expect("zone"))
            .strftime("%Y%m%d")
    );
    let assigned = client
        .post(format!("{base}/pe/appointment/{id}/assign"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect("assign");
    assert_eq!(assigned.status(), 200);
    // The assignment's email reaches the outbox.
    let outbox = data_dir.join("outbox");
    let mut emails = Vec::new();
    for _ in 0..100 {
        emails = std::fs::read_dir(&outbox)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !emails.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!emails.is_empty(), "no email in {}", outbox.display());
    assert_eq!(mode_of(&data_dir), 0o700, "the data directory");
    assert_eq!(mode_of(&data_dir.join("token-secret")), 0o600);
    assert_eq!(mode_of(&data_dir.join("store.redb")), 0o600);
    assert_eq!(mode_of(&data_dir.join("accounts.redb")), 0o600);
    assert_eq!(mode_of(&outbox), 0o700, "the outbox");
    for email in emails {
        assert_eq!(mode_of(&email), 0o600, "{}", email.display());
    }
}
