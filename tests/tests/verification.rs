//! Emails go only to verified addresses: an address a patient gives gets a
//! code first and nothing else until the code comes back; staff-entered
//! addresses count as verified; codes a day are bounded. Over HTTP on the
//! embedded store, whose outbox directory holds every email sent.

mod common;

use std::time::Duration;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::TestApp;
use serde_json::json;

const MARTA: &str = "41112222";
const MARTA_EMAIL: &str = "marta.nueva@example.pe";

/// The emails in the outbox addressed to `to`, as written.
fn emails_to(app: &TestApp, to: &str) -> Vec<String> {
    citas_e2e::outbox_files(&app.data_dir.path().join("outbox"))
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .filter(|email| email.contains(&format!("<{to}>")) || email.contains(&format!("To: {to}")))
        .collect()
}

/// The code in a verification email (its HTML part shows it in `<code>`).
fn code_in(email: &str) -> String {
    // Quoted-printable lines end in a soft break that is not part of the text.
    let joined = email.replace("=\r\n", "").replace("=\n", "");
    let start = joined.find("<code>").expect("a code in the email") + "<code>".len();
    let end = joined[start..].find("</code>").expect("the code's end") + start;
    joined[start..end].to_owned()
}

/// Waits until `check` holds (up to 5 s).
async fn eventually(mut check: impl FnMut() -> bool, what: &str) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within 5 s");
}

/// The notes of an appointment's history: emails that could not be sent.
async fn notes(app: &TestApp, id: &str) -> Vec<String> {
    let (_, history) = app.get(&format!("/pe/appointment/{id}/history")).await;
    history["items"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["note"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_address_a_patient_gives_receives_only_its_code_until_verified() {
    let app = TestApp::spawn().await;
    let marta = app.token(Role::Patient, "pe", Some(MARTA));
    let (status, record) = app
        .send_as(
            "POST",
            "/pe/patient",
            &marta,
            Some(json!({ "document": MARTA, "name": "Marta Quispe", "email": MARTA_EMAIL })),
        )
        .await;
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["email_verified"], false, "{record}");
    assert!(record["verification_expires_at"].is_string(), "{record}");
    eventually(
        || emails_to(&app, MARTA_EMAIL).len() == 1,
        "the code's email",
    )
    .await;
    let code = code_in(&emails_to(&app, MARTA_EMAIL)[0]);
    assert_eq!(code.len(), 32, "{code}");

    // She books: the booking's email is not sent, and her history says why.
    let created = app.create("pe", MARTA, "medicina-interna").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, booked) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/assign"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    for _ in 0..250 {
        if notes(&app, &id)
            .await
            .iter()
            .any(|n| n.contains("not sent: email address not verified"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        notes(&app, &id)
            .await
            .iter()
            .any(|n| n.contains("not sent: email address not verified")),
        "{:?}",
        notes(&app, &id).await
    );
    assert_eq!(
        emails_to(&app, MARTA_EMAIL).len(),
        1,
        "only the code's email"
    );
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/notify"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_problem((status, &problem), 422, "email_not_verified");

    // A wrong code verifies nothing; the one sent does.
    let verify = |code: String| {
        let (app, marta) = (&app, &marta);
        async move {
            app.send_as(
                "POST",
                &format!("/pe/patient/{MARTA}/email/verify"),
                marta,
                Some(json!({ "code": code })),
            )
            .await
        }
    };
    let (status, problem) = verify("0".repeat(32)).await;
    assert_problem((status, &problem), 422, "invalid_code");
    let (status, verified) = verify(code.clone()).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["email_verified"], true, "{verified}");
    // Used once.
    let (status, problem) = verify(code).await;
    assert_problem((status, &problem), 422, "invalid_code");

    // Now her notifications reach her.
    let (status, sent) = app
        .send_as(
            "POST",
            &format!("/pe/appointment/{id}/notify"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    eventually(
        || emails_to(&app, MARTA_EMAIL).len() == 2,
        "the booking's email",
    )
    .await;

    // Giving the same address again keeps it verified, and sends nothing.
    let (status, same) = app
        .send_as(
            "POST",
            "/pe/patient",
            &marta,
            Some(json!({ "document": MARTA, "name": "Marta Quispe", "email": MARTA_EMAIL })),
        )
        .await;
    assert_eq!(
        (status, &same["email_verified"]),
        (200, &json!(true)),
        "{same}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emails_to(&app, MARTA_EMAIL).len(), 2);
}

#[tokio::test]
async fn codes_a_day_are_bounded_and_staff_addresses_need_none() {
    let app = TestApp::spawn().await;
    let marta = app.token(Role::Patient, "pe", Some(MARTA));
    let give = |email: &'static str| {
        let (app, marta) = (&app, &marta);
        async move {
            app.send_as(
                "POST",
                "/pe/patient",
                marta,
                Some(json!({ "document": MARTA, "name": "Marta Quispe", "email": email })),
            )
            .await
        }
    };
    // Three addresses in a day, each with its code: a stranger's inbox gets
    // at most the one code meant for it.
    for email in ["uno@example.pe", "dos@example.pe", "tres@example.pe"] {
        let (status, record) = give(email).await;
        assert!(status == 201 || status == 200, "{record}");
        eventually(|| emails_to(&app, email).len() == 1, "a code").await;
    }
    let (status, problem) = give("cuatro@example.pe").await;
    assert_problem((status, &problem), 429, "too_many_codes");
    assert_eq!(problem["limit"], 3, "{problem}");
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("/pe/patient/{MARTA}/email/verification"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_problem((status, &problem), 429, "too_many_codes");
    // Nothing changed: the record still has the third address.
    let (_, record) = app
        .send_as("GET", &format!("/pe/patient/{MARTA}"), &marta, None)
        .await;
    assert_eq!(
        (&record["email"], &record["email_verified"]),
        (&json!("tres@example.pe"), &json!(false)),
        "{record}"
    );
    // The next day she may ask again.
    app.set_now("2026-11-23T15:00:00Z");
    let (status, resent) = app
        .send_as(
            "POST",
            &format!("/pe/patient/{MARTA}/email/verification"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{resent}");
    eventually(
        || emails_to(&app, "tres@example.pe").len() == 2,
        "a new code",
    )
    .await;

    // An address staff enter is verified, with no code.
    let (status, record) = app
        .post(
            "/pe/patient",
            json!({ "document": MARTA, "name": "Marta Quispe", "email": "staff@example.pe" }),
        )
        .await;
    assert_eq!(
        (status, &record["email_verified"]),
        (200, &json!(true)),
        "{record}"
    );
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("/pe/patient/{MARTA}/email/verification"),
            &marta,
            Some(json!({})),
        )
        .await;
    assert_problem((status, &problem), 409, "nothing_to_verify");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(emails_to(&app, "staff@example.pe").is_empty());
}
