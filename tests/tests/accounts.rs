//! Patients and doctors sign themselves up and sign in with the local
//! identity provider (`/auth/*`), as a frontend or `curl` would: the code
//! arrives as an email in the outbox; the ID token it gives works on every
//! route as a Cognito one does in AWS. Over HTTP on the embedded store.

mod common;

use citas_domain::Role;
use citas_e2e::{assert_problem, claims_of};
use common::{TestApp, code_in, emails_to};
use serde_json::{Value, json};

const PASSWORD: &str = "Secreto-2026";

/// A request to the identity provider (no token: these routes give them).
async fn auth(app: &TestApp, action: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/auth/{action}", app.base))
        .json(&body)
        .send()
        .await
        .expect("request");
    common::read(response).await
}

fn patient(country: &str, document: &str, email: &str) -> Value {
    json!({
        "role": "patient", "country": country, "document": document,
        "name": "Lucía Ramos", "email": email, "password": PASSWORD,
    })
}

/// The code of the last sign-up email sent to `email`.
fn code_sent_to(app: &TestApp, email: &str) -> String {
    let emails = emails_to(app, email);
    code_in(emails.last().expect("a confirmation email"))
}

/// Signs up and confirms; answers the sign-in's tokens.
async fn signed_up_patient(app: &TestApp, country: &str, document: &str, email: &str) -> Value {
    let (status, body) = auth(app, "sign-up", patient(country, document, email)).await;
    assert_eq!(status, 201, "{body}");
    let code = code_sent_to(app, email);
    let (status, body) = auth(app, "confirm", json!({"email": email, "code": code})).await;
    assert_eq!(status, 200, "{body}");
    sign_in_patient(app, email, document, PASSWORD).await
}

async fn sign_in_patient(app: &TestApp, email: &str, document: &str, password: &str) -> Value {
    let (status, tokens) = auth(
        app,
        "sign-in",
        json!({"email": email, "document": document, "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn id_token(tokens: &Value) -> String {
    tokens["id_token"].as_str().expect("an ID token").to_owned()
}

#[tokio::test]
async fn a_peruvian_patient_signs_up_confirms_signs_in_and_books() {
    let app = TestApp::spawn().await;
    let email = "lucia.ramos@example.pe";
    let (status, created) = auth(&app, "sign-up", patient("pe", "70112233", email)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["username"], email);
    assert_eq!(created["confirmed"], false);
    let code = code_sent_to(&app, email);
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    // Before confirming: the right password is told the account waits for its code.
    let (status, problem) = auth(
        &app,
        "sign-in",
        json!({"email": email, "document": "70112233", "password": PASSWORD}),
    )
    .await;
    assert_problem((status, &problem), 403, "not_confirmed");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, problem) = auth(&app, "confirm", json!({"email": email, "code": wrong})).await;
    assert_problem((status, &problem), 400, "invalid_code");
    let (status, confirmed) = auth(&app, "confirm", json!({"email": email, "code": code})).await;
    assert_eq!(status, 200, "{confirmed}");
    let (status, problem) = auth(&app, "confirm", json!({"email": email, "code": code})).await;
    assert_problem((status, &problem), 409, "already_confirmed");

    let tokens = sign_in_patient(&app, email, "70112233", PASSWORD).await;
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let token = id_token(&tokens);
    let claims = claims_of(&token);
    assert_eq!(claims["cognito:groups"], json!(["patient"]));
    assert_eq!(claims["custom:country"], "pe");
    assert_eq!(claims["custom:document"], "70112233");
    assert_eq!(claims["email"], email);
    assert!(claims["sub"].is_string());

    // Who am I: the record confirmation created, with the verified address.
    let (status, me) = app.send_as("GET", "/pe/me", &token, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["document"], &me["name"], &me["email"]),
        (
            &json!("patient"),
            &json!("70112233"),
            &json!("Lucía Ramos"),
            &json!(email)
        )
    );
    let (status, record) = app
        .send_as("GET", "/pe/patient/70112233", &token, None)
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["email_verified"], true, "{record}");

    // The token books and reads the patient's own appointment.
    let (status, booked) = app
        .send_as(
            "POST",
            "/pe/appointment",
            &token,
            Some(json!({"document": "70112233", "speciality": "Medicina interna"})),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().expect("an id");
    let (status, read) = app
        .send_as("GET", &format!("/pe/appointment/{id}"), &token, None)
        .await;
    assert_eq!((status, &read["document"]), (200, &json!("70112233")));
    // Not someone else's.
    let (status, problem) = app
        .send_as("GET", "/pe/patient/45678912", &token, None)
        .await;
    assert!(status == 403 || status == 404, "{status} {problem}");
}

#[tokio::test]
async fn a_chilean_rut_is_one_account_in_its_three_written_forms() {
    let app = TestApp::spawn().await;
    let tokens = signed_up_patient(&app, "cl", "16.543.210-K", "ana.rut@example.cl").await;
    assert_eq!(
        claims_of(&id_token(&tokens))["custom:document"],
        "16543210-K"
    );
    // Signing in with the RUT written another way is the same second fact.
    for written in ["16543210-K", "16543210k"] {
        sign_in_patient(&app, "ana.rut@example.cl", written, PASSWORD).await;
    }
    // Another person with the same RUT, in any form, is refused without
    // learning whose account it is.
    for (written, email) in [
        ("16543210-K", "otra@example.cl"),
        ("16543210K", "otra2@example.cl"),
        ("16.543.210-k", "otra3@example.cl"),
    ] {
        let (status, problem) = auth(&app, "sign-up", patient("cl", written, email)).await;
        assert_problem((status, &problem), 409, "document_taken");
        let text = problem.to_string();
        assert!(
            !text.contains("ana.rut") && !text.contains("Lucía"),
            "{text}"
        );
    }
    // A wrong check digit is no RUT.
    let (status, problem) = auth(
        &app,
        "sign-up",
        patient("cl", "16.543.210-5", "mal@example.cl"),
    )
    .await;
    assert_problem((status, &problem), 400, "invalid_document");
}

#[tokio::test]
async fn two_sign_ups_at_once_for_one_document_make_one_account() {
    let app = TestApp::spawn().await;
    let attempts = (0..6).map(|n| {
        let app = &app;
        async move {
            auth(
                app,
                "sign-up",
                patient("pe", "70998877", &format!("persona{n}@example.pe")),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, problem) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_problem((*status, problem), 409, "document_taken");
    }
}

#[tokio::test]
async fn sign_up_refusals_name_the_rule() {
    let app = TestApp::spawn().await;
    let cases = [
        ("weak_password", json!({"password": "secreto"})),
        ("weak_password", json!({"password": "secreto-2026"})),
        ("invalid_document", json!({"document": "1234"})),
        ("invalid_role", json!({"role": "admin"})),
        ("invalid_email", json!({"email": "no-es-un-correo"})),
    ];
    for (code, change) in cases {
        let mut body = patient("pe", "70554433", "caso@example.pe");
        for (key, value) in change.as_object().expect("object") {
            body[key] = value.clone();
        }
        let (status, problem) = auth(&app, "sign-up", body).await;
        assert_problem((status, &problem), 400, code);
    }
    let (status, problem) = auth(&app, "sign-up", json!({"role": "patient"})).await;
    assert_problem((status, &problem), 400, "invalid_body");
    // A field of the other role is refused, not ignored.
    let mut with_registry = patient("pe", "70554433", "caso@example.pe");
    with_registry["registry_number"] = json!("7700009");
    let (status, problem) = auth(&app, "sign-up", with_registry).await;
    assert_problem((status, &problem), 400, "invalid_body");
    assert_eq!(problem["field"], "registry_number");
    // Only a body declared JSON: a form or text another site's page could send is refused.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = app
            .client
            .post(format!("{}/auth/sign-up", app.base))
            .header("content-type", content_type)
            .body(patient("pe", "70554433", "caso@example.pe").to_string())
            .send()
            .await
            .expect("request");
        let (status, problem) = common::read(response).await;
        assert_problem((status, &problem), 415, "unsupported_media_type");
    }
    let response = app
        .client
        .get(format!("{}/auth/sign-in", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
}

async fn register_doctor(app: &TestApp, country: &str, registry: &str, email: &str) -> String {
    let (status, doctor) = app
        .post(
            &format!("/{country}/doctor"),
            json!({"document": registry, "name": "Dra. Elena Torres", "speciality": "Cardiología", "email": email}),
        )
        .await;
    assert!(status == 201 || status == 200, "{doctor}");
    doctor["id"].as_str().expect("an id").to_owned()
}

fn doctor_sign_up(country: &str, registry: &str, email: &str) -> Value {
    json!({
        "role": "doctor", "country": country, "registry_number": registry,
        "email": email, "password": PASSWORD,
    })
}

#[tokio::test]
async fn a_registered_doctor_claims_their_account_and_reads_their_agenda() {
    let app = TestApp::spawn().await;
    let email = "elena.torres@clinica.pe";
    let id = register_doctor(&app, "pe", "4455667", email).await;
    // Another email, an unregistered number, or another country: refused alike.
    for body in [
        doctor_sign_up("pe", "4455667", "otra@clinica.pe"),
        doctor_sign_up("pe", "4455668", email),
        doctor_sign_up("cl", "4455667", email),
    ] {
        let (status, problem) = auth(&app, "sign-up", body).await;
        assert_problem((status, &problem), 403, "not_a_registered_doctor");
    }
    // Letter case of the address aside.
    let (status, created) = auth(
        &app,
        "sign-up",
        doctor_sign_up("pe", "4455667", "Elena.Torres@Clinica.pe"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["username"], "pe-4455667");
    let code = code_sent_to(&app, "Elena.Torres@Clinica.pe");
    let (status, body) = auth(
        &app,
        "confirm",
        json!({"email": "Elena.Torres@Clinica.pe", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, tokens) = auth(
        &app,
        "sign-in",
        json!({"username": "PE-4455667", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let token = id_token(&tokens);
    let claims = claims_of(&token);
    assert_eq!(claims["cognito:groups"], json!(["doctor"]));
    assert_eq!(claims["custom:document"], "4455667");
    let (status, agenda) = app
        .send_as(
            "GET",
            &format!("/pe/doctor/{id}/agenda?date=2026-11-23"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{agenda}");
    let (status, me) = app.send_as("GET", "/pe/me", &token, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["registry_number"], &me["doctor_id"]),
        (&json!("doctor"), &json!("4455667"), &json!(id))
    );
    // A second claim of the same registration is refused.
    let (status, problem) = auth(&app, "sign-up", doctor_sign_up("pe", "4455667", email)).await;
    assert_problem((status, &problem), 409, "account_exists");
}

#[tokio::test]
async fn five_wrong_passwords_make_the_account_wait() {
    let app = TestApp::spawn().await;
    let (email, document) = ("espera@example.pe", "70445566");
    signed_up_patient(&app, "pe", document, email).await;
    let attempt = |password: &'static str, document: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/auth/sign-in", app.base))
                .json(&json!({"email": email, "document": document, "password": password}))
                .send()
                .await
                .expect("request")
        }
    };
    // Five wrong ones at once all count (a wrong document counts as well).
    let wrong = futures::future::join_all(
        (0..4)
            .map(|_| attempt("Otra-Clave-1", document))
            .chain([attempt(PASSWORD, "70445567")]),
    )
    .await;
    for response in wrong {
        assert_eq!(response.status().as_u16(), 401);
    }
    let locked = attempt(PASSWORD, document).await;
    assert_eq!(locked.status().as_u16(), 429);
    let retry_after: u64 = locked
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, problem) = common::read(locked).await;
    assert_problem((status, &problem), 429, "too_many_attempts");
    // Once the wait is over, the right password signs in.
    app.set_now("2026-11-22T15:01:01Z");
    sign_in_patient(&app, email, document, PASSWORD).await;
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    signed_up_patient(&app, "pe", "70223344", "igual@example.pe").await;
    let (status, wrong_password) = auth(
        &app,
        "sign-in",
        json!({"email": "igual@example.pe", "document": "70223344", "password": "Otra-Clave-1"}),
    )
    .await;
    assert_problem((status, &wrong_password), 401, "invalid_credentials");
    let (status, unknown) = auth(
        &app,
        "sign-in",
        json!({"email": "nadie@example.pe", "document": "70223344", "password": PASSWORD}),
    )
    .await;
    assert_problem((status, &unknown), 401, "invalid_credentials");
    assert_eq!(wrong_password["detail"], unknown["detail"]);
    let (status, as_doctor) = auth(
        &app,
        "sign-in",
        json!({"username": "igual@example.pe", "password": PASSWORD}),
    )
    .await;
    assert_problem((status, &as_doctor), 401, "invalid_credentials");
}

#[tokio::test]
async fn refresh_gives_new_id_tokens_until_sign_out() {
    let mut app = TestApp::spawn().await;
    let tokens = signed_up_patient(&app, "pe", "70667788", "sesion@example.pe").await;
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    // Accounts and sessions survive a restart.
    app.restart().await;
    let (status, refreshed) = auth(&app, "refresh", json!({"refresh_token": refresh_token})).await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed.get("refresh_token").is_none(), "{refreshed}");
    assert_eq!(
        claims_of(&id_token(&refreshed))["sub"],
        claims_of(&id_token(&tokens))["sub"]
    );
    let (status, _) = app
        .send_as("GET", "/pe/me", &id_token(&refreshed), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = auth(&app, "sign-out", json!({"refresh_token": refresh_token})).await;
    assert_eq!(status, 204);
    let (status, problem) = auth(&app, "refresh", json!({"refresh_token": refresh_token})).await;
    assert_problem((status, &problem), 401, "invalid_refresh_token");
    // Signing out again is no error; a made-up token refreshes nothing.
    let (status, _) = auth(&app, "sign-out", json!({"refresh_token": refresh_token})).await;
    assert_eq!(status, 204);
    let (status, problem) = auth(&app, "refresh", json!({"refresh_token": "inventado"})).await;
    assert_problem((status, &problem), 401, "invalid_refresh_token");
    sign_in_patient(&app, "sesion@example.pe", "70667788", PASSWORD).await;
}

#[tokio::test]
async fn who_am_i_answers_for_staff_tokens_too() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, "cl", None);
    let (status, me) = app.send_as("GET", "/cl/me", &admin, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["country"]),
        (&json!("admin"), &json!("cl"))
    );
    let (status, problem) = app.send_as("GET", "/pe/me", &admin, None).await;
    assert_eq!(status, 403, "{problem}");
}

/// Seed 000's Ana has a record whose address staff entered: only that
/// address may claim her document. And a token always carries the
/// account's own document, whatever a sign-in sends.
#[tokio::test]
async fn a_patient_can_never_obtain_another_patients_document_in_a_token() {
    let app = TestApp::spawn().await;
    let (status, problem) = auth(
        &app,
        "sign-up",
        patient("pe", "45678912", "intrusa@example.pe"),
    )
    .await;
    assert_problem((status, &problem), 409, "document_taken");
    assert!(!problem.to_string().contains("ana.torres"), "{problem}");
    // Another patient's account, signed in with Ana's document as the second fact.
    signed_up_patient(&app, "pe", "70334455", "intrusa@example.pe").await;
    let (status, problem) = auth(
        &app,
        "sign-in",
        json!({"email": "intrusa@example.pe", "document": "45678912", "password": PASSWORD}),
    )
    .await;
    assert_problem((status, &problem), 401, "invalid_credentials");
    let tokens = sign_in_patient(&app, "intrusa@example.pe", "70334455", PASSWORD).await;
    let token = id_token(&tokens);
    assert_eq!(claims_of(&token)["custom:document"], "70334455");
    let (status, problem) = app
        .send_as("GET", "/pe/patient/45678912", &token, None)
        .await;
    assert_problem((status, &problem), 404, "patient_not_found");
    // Ana herself, from the address on her record, claims it.
    let tokens = signed_up_patient(&app, "pe", "45678912", "Ana.Torres@example.pe").await;
    assert_eq!(claims_of(&id_token(&tokens))["custom:document"], "45678912");
    let (status, me) = app.send_as("GET", "/pe/me", &id_token(&tokens), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["name"], "Ana Lucía Torres Vega",
        "the record's name stays"
    );
}

/// Every attempt is counted before its password is checked: of a burst of
/// wrong passwords at once, at most five are checked; the rest, and then
/// the right password, wait.
#[tokio::test]
async fn a_burst_of_guesses_at_once_checks_at_most_five() {
    let app = TestApp::spawn().await;
    let (email, document) = ("rafaga@example.pe", "70889900");
    signed_up_patient(&app, "pe", document, email).await;
    let guesses = (0..16).map(|n| {
        let app = &app;
        async move {
            auth(
                app,
                "sign-in",
                json!({"email": email, "document": document, "password": format!("Clave-Mala-{n}")}),
            )
            .await
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|(status, _)| *status == 401).count();
    let waited = answers.iter().filter(|(status, _)| *status == 429).count();
    assert_eq!((checked, waited), (5, 11), "{answers:?}");
    let (status, problem) = auth(
        &app,
        "sign-in",
        json!({"email": email, "document": document, "password": PASSWORD}),
    )
    .await;
    assert_problem((status, &problem), 429, "too_many_attempts");
}

/// Wrong codes at once are each counted: after five, even the right code
/// is refused, and a new code (`/auth/resend-code`) confirms the account.
#[tokio::test]
async fn wrong_codes_at_once_are_each_counted_and_a_new_code_confirms() {
    let app = TestApp::spawn().await;
    let email = "codigos@example.pe";
    let (status, body) = auth(&app, "sign-up", patient("pe", "70112299", email)).await;
    assert_eq!(status, 201, "{body}");
    let code = code_sent_to(&app, email);
    let wrong: Vec<String> = (0..8)
        .map(|n| {
            format!(
                "{:06}",
                (code.parse::<u32>().unwrap_or(0) + 1 + n) % 1_000_000
            )
        })
        .collect();
    let answers = futures::future::join_all(wrong.iter().map(|guess| {
        let app = &app;
        async move { auth(app, "confirm", json!({"email": email, "code": guess})).await }
    }))
    .await;
    for (status, problem) in &answers {
        assert_problem((*status, problem), 400, "invalid_code");
    }
    let (status, problem) = auth(&app, "confirm", json!({"email": email, "code": code})).await;
    assert_problem((status, &problem), 400, "invalid_code");
    // Signing up again while the account waits for its code is refused; a new code is the way.
    let (status, problem) = auth(&app, "sign-up", patient("pe", "70112299", email)).await;
    assert_problem((status, &problem), 409, "account_exists");
    let (status, _) = auth(&app, "resend-code", json!({"email": email})).await;
    assert_eq!(status, 202);
    let fresh = code_sent_to(&app, email);
    assert_ne!(fresh, code);
    let (status, body) = auth(&app, "confirm", json!({"email": email, "code": fresh})).await;
    assert_eq!(status, 200, "{body}");
    // An address with no account waiting gets the same answer, and no email.
    let (status, _) = auth(&app, "resend-code", json!({"email": "nadie@example.pe"})).await;
    assert_eq!(status, 202);
    assert!(emails_to(&app, "nadie@example.pe").is_empty());
    // Nor does an address that had its 3 codes of the day: the answer stays 202.
    let (status, body) = auth(
        &app,
        "sign-up",
        patient("pe", "70112288", "tres@example.pe"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..3 {
        let (status, _) = auth(&app, "resend-code", json!({"email": "tres@example.pe"})).await;
        assert_eq!(status, 202);
    }
    assert_eq!(emails_to(&app, "tres@example.pe").len(), 3);
}
