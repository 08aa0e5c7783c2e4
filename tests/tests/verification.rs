//! Emails go only to verified addresses: an address a patient gives gets a
//! code first and nothing else until the code comes back; staff-entered
//! addresses count as verified; codes a day are bounded. Over HTTP on the
//! embedded store, whose outbox directory holds every email sent.

mod common;

use std::time::Duration;

use citas_domain::Role;
use citas_e2e::assert_problem;
use common::{TestApp, code_in, emails_to};
use serde_json::json;

const MARTA: &str = "41112222";
const MARTA_EMAIL: &str = "marta.nueva@example.pe";

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

    // Erasing her data cancels her booking without a word to her.
    let (status, erasure) = app
        .send_as("DELETE", &format!("/pe/patient/{MARTA}"), &marta, None)
        .await;
    assert_eq!(
        (status, &erasure["cancelled"]),
        (200, &json!(1)),
        "{erasure}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        emails_to(&app, MARTA_EMAIL).len(),
        2,
        "no email after erasure"
    );
    // And no history of the erased appointment outlives it: asked again
    // the same day, the new request's history is its own.
    app.register("pe", MARTA, "Marta Quispe").await;
    let again = app.create("pe", MARTA, "medicina-interna").await;
    assert_eq!(again["id"], id.as_str());
    let (_, history) = app.get(&format!("/pe/appointment/{id}/history")).await;
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
}

#[tokio::test]
async fn codes_a_day_are_bounded_per_address_whoever_asks_and_staff_addresses_need_none() {
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
    let resend = || {
        let (app, marta) = (&app, &marta);
        async move {
            app.send_as(
                "POST",
                &format!("/pe/patient/{MARTA}/email/verification"),
                marta,
                Some(json!({})),
            )
            .await
        }
    };
    // One address: its code and two more, then no more today.
    let (status, record) = give("uno@example.pe").await;
    assert_eq!(status, 201, "{record}");
    for _ in 0..2 {
        let (status, body) = resend().await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, problem) = resend().await;
    assert_problem((status, &problem), 429, "too_many_codes");
    assert_eq!(problem["limit"], 3, "{problem}");
    eventually(
        || emails_to(&app, "uno@example.pe").len() == 3,
        "three codes",
    )
    .await;
    // Another address has codes of its own: she is not locked out.
    let (status, record) = give("dos@example.pe").await;
    assert_eq!(status, 200, "{record}");
    // Back to the first: refused, and nothing changed.
    let (status, problem) = give("uno@example.pe").await;
    assert_problem((status, &problem), 429, "too_many_codes");
    let (_, record) = app
        .send_as("GET", &format!("/pe/patient/{MARTA}"), &marta, None)
        .await;
    assert_eq!(record["email"], "dos@example.pe", "{record}");
    // Nor does erasing her record and starting again help.
    let (status, _) = app
        .send_as("DELETE", &format!("/pe/patient/{MARTA}"), &marta, None)
        .await;
    assert_eq!(status, 200);
    let (status, problem) = give("uno@example.pe").await;
    assert_problem((status, &problem), 429, "too_many_codes");
    // Requests at once cannot count past the limit: one code was sent with
    // the address, and of twelve asking at once, two more.
    let (status, _) = give("tres@example.pe").await;
    assert_eq!(status, 201);
    let at_once = futures::future::join_all((0..12).map(|_| resend())).await;
    let sent = at_once.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(sent, 2, "{at_once:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emails_to(&app, "tres@example.pe").len(), 3);
    // An admin asking is bound too: the limit is the address's.
    let admin = app.token(Role::Admin, "pe", None);
    let (status, problem) = app
        .send_as(
            "POST",
            &format!("/pe/patient/{MARTA}/email/verification"),
            &admin,
            Some(json!({})),
        )
        .await;
    assert_problem((status, &problem), 429, "too_many_codes");
    // The next day the first address may have a code again.
    app.set_now("2026-11-23T15:00:00Z");
    let (status, record) = give("uno@example.pe").await;
    assert_eq!(status, 200, "{record}");
    eventually(
        || emails_to(&app, "uno@example.pe").len() == 4,
        "a new code",
    )
    .await;

    // Staff giving the address on file again do not verify it; a new one
    // they enter is verified, with no code.
    let (status, record) = app
        .post(
            "/pe/patient",
            json!({ "document": MARTA, "name": "Marta Quispe Rojas", "email": "uno@example.pe" }),
        )
        .await;
    assert_eq!(
        (status, &record["email_verified"]),
        (200, &json!(false)),
        "{record}"
    );
    // Nor in other capitals: it is the same mailbox.
    let (status, record) = app
        .post(
            "/pe/patient",
            json!({ "document": MARTA, "name": "Marta Quispe Rojas", "email": "Uno@Example.PE" }),
        )
        .await;
    assert_eq!(
        (status, &record["email_verified"]),
        (200, &json!(false)),
        "{record}"
    );
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
    let (status, problem) = resend().await;
    assert_problem((status, &problem), 409, "nothing_to_verify");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(emails_to(&app, "staff@example.pe").is_empty());
}

/// An appointment made again under an erased one's id (its patient
/// registered anew and booked on the same day) is emailed as the first
/// was: its changes and reminders are its own, not the erased one's
/// already sent.
#[tokio::test]
async fn a_patient_erased_and_registered_again_hears_of_the_new_booking() {
    const RENATA: &str = "42223333";
    const RENATA_EMAIL: &str = "renata@example.pe";
    let app = TestApp::spawn().await;
    let id = format!("20261122-{RENATA}");
    let book_and_remind = || async {
        let (status, record) = app
            .post(
                "/pe/patient",
                json!({ "document": RENATA, "name": "Renata Salas", "email": RENATA_EMAIL }),
            )
            .await;
        assert_eq!(
            (status, &record["email_verified"]),
            (201, &json!(true)),
            "{record}"
        );
        let created = app.create("pe", RENATA, "Medicina interna").await;
        assert_eq!(created["id"], id.as_str());
        let (status, assigned) = app
            .post(&format!("/pe/appointment/{id}/assign"), json!({}))
            .await;
        assert_eq!(status, 200, "{assigned}");
        let day = assigned["slot"]["local_date"].as_str().expect("a slot");
        let admin = app.token(Role::Admin, "pe", None);
        let reminded = app
            .client
            .post(format!("{}/_local/remind", app.base))
            .bearer_auth(admin)
            .json(&json!({ "country": "pe", "date": day }))
            .send()
            .await
            .expect("remind");
        assert_eq!(reminded.status().as_u16(), 200);
    };

    book_and_remind().await;
    // The booking's and the reminder's.
    eventually(
        || emails_to(&app, RENATA_EMAIL).len() >= 2,
        "the first booking's emails",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = emails_to(&app, RENATA_EMAIL).len();
    let (status, erasure) = app.delete(&format!("/pe/patient/{RENATA}")).await;
    assert_eq!(status, 200, "{erasure}");

    app.set_now("2026-11-22T15:10:00Z");
    book_and_remind().await;
    eventually(
        || emails_to(&app, RENATA_EMAIL).len() == 2 * first,
        "the new booking's emails, as many as the first's",
    )
    .await;
    assert_eq!(notes(&app, &id).await, Vec::<String>::new());
}
