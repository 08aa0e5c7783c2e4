//! Every route against every kind of bad or insufficient token: 401 before any
//! handler runs, 403 for another country or a role that may not, 404 for
//! someone else's appointment; and the data is left as it was.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use citas_domain::{PERU, Role};
use citas_e2e::assert_problem;
use citas_local::auth::{TokenAuthority, TokenRequest};
use common::TestApp;
use serde_json::{Value, json};

const ANA: &str = "45678912";
const JOSE: &str = "70123456";

struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

/// Route names of the security matrix below.
const REGISTER_PATIENT: &str = "register patient";
const CREATE: &str = "create appointment";
const GET: &str = "get appointment";
const LIST_BY_STATUS: &str = "list by status";
const LIST_BY_DOCUMENT: &str = "list by document";
const ASSIGN: &str = "assign";
const NOTIFY: &str = "notify";
const HISTORY: &str = "history";
const CONFIRM: &str = "confirm";
const REFUSE: &str = "refuse";
const RESCHEDULE: &str = "reschedule";
const COMPLETE: &str = "complete";
const NO_SHOW: &str = "no-show";
const CANCEL: &str = "cancel";
const SPECIALITIES: &str = "list specialities";
const REGISTER_DOCTOR: &str = "register doctor";
const LIST_DOCTORS: &str = "list doctors";
const GET_DOCTOR: &str = "get doctor";
const SET_PLAN: &str = "set working plan";
const GET_PLAN: &str = "get working plan";
const AGENDA: &str = "agenda";
const REMOVE_SLOT: &str = "remove slot";
const SEARCH: &str = "search slots";
const GET_PATIENT: &str = "get patient";
const EXPORT_PATIENT: &str = "export patient";
const ERASE_PATIENT: &str = "erase patient";
const RESEND_CODE: &str = "resend verification code";
const VERIFY_EMAIL: &str = "verify email";
const FREE_DAYS: &str = "free days";
const WHO_AM_I: &str = "who am I";
const REVIEW: &str = "review a visit";
const DOCTOR_REVIEWS: &str = "doctor's reviews";
const HIDE_REVIEW: &str = "hide a review";
const JOIN: &str = "join a visit's meeting";

/// Ana's appointment, and the doctor, slot and local day it is booked on.
struct Target<'a> {
    id: &'a str,
    doctor: &'a str,
    slot: &'a str,
    day: &'a str,
}

/// One request per route (health aside), by name, all aimed at Ana's
/// appointment and the doctor and slot it is booked on.
fn every_route(target: &Target<'_>) -> BTreeMap<&'static str, Case> {
    let Target {
        id,
        doctor,
        slot,
        day,
    } = target;
    let post = |path: String, body: Value| Case {
        method: "POST",
        path,
        body: Some(body),
    };
    let get = |path: String| Case {
        method: "GET",
        path,
        body: None,
    };
    let document = doctor.rsplit('-').next().unwrap_or_default();
    BTreeMap::from([
        (SPECIALITIES, get("/pe/speciality".into())),
        (WHO_AM_I, get("/pe/me".into())),
        (
            REGISTER_DOCTOR,
            post(
                "/pe/doctor".into(),
                json!({ "document": document, "name": "Intruso", "speciality": "medicina-interna" }),
            ),
        ),
        (
            LIST_DOCTORS,
            get("/pe/doctor?speciality=medicina-interna".into()),
        ),
        (GET_DOCTOR, get(format!("/pe/doctor/{doctor}"))),
        (DOCTOR_REVIEWS, get(format!("/pe/doctor/{doctor}/review"))),
        (
            REVIEW,
            post(
                format!("/pe/appointment/{id}/review"),
                json!({ "stars": 5 }),
            ),
        ),
        (JOIN, post(format!("/pe/appointment/{id}/join"), json!({}))),
        (
            HIDE_REVIEW,
            post(
                "/pe/review/00000000-0000-4000-8000-000000000000/hide".into(),
                json!({ "reason": "spam" }),
            ),
        ),
        (
            SET_PLAN,
            Case {
                method: "PUT",
                path: format!("/pe/doctor/{doctor}/availability"),
                body: Some(json!({
                    "slot_minutes": 30,
                    "weekly": [{ "weekday": "sun", "from": "03:00", "to": "04:00" }],
                    "valid_from": "2026-11-22"
                })),
            },
        ),
        (GET_PLAN, get(format!("/pe/doctor/{doctor}/availability"))),
        (
            AGENDA,
            get(format!("/pe/doctor/{doctor}/agenda?date={day}")),
        ),
        (
            REMOVE_SLOT,
            Case {
                method: "DELETE",
                path: format!("/pe/doctor/{doctor}/slot/{slot}"),
                body: None,
            },
        ),
        (SEARCH, get("/pe/slot?speciality=medicina-interna".into())),
        (GET_PATIENT, get(format!("/pe/patient/{ANA}"))),
        (EXPORT_PATIENT, get(format!("/pe/patient/{ANA}/export"))),
        (
            RESEND_CODE,
            post(format!("/pe/patient/{ANA}/email/verification"), json!({})),
        ),
        (
            VERIFY_EMAIL,
            post(
                format!("/pe/patient/{ANA}/email/verify"),
                json!({ "code": "0123456789abcdef0123456789abcdef" }),
            ),
        ),
        (
            ERASE_PATIENT,
            Case {
                method: "DELETE",
                path: format!("/pe/patient/{ANA}"),
                body: None,
            },
        ),
        (
            FREE_DAYS,
            get(format!(
                "/pe/slot/days?speciality=medicina-interna&month={}",
                &day[..7]
            )),
        ),
        (
            REGISTER_PATIENT,
            post(
                "/pe/patient".into(),
                json!({ "document": ANA, "name": "Intrusa", "email": "intrusa@example.pe" }),
            ),
        ),
        (
            CREATE,
            post(
                "/pe/appointment".into(),
                json!({ "document": ANA, "speciality": "cardiologia" }),
            ),
        ),
        (GET, get(format!("/pe/appointment/{id}"))),
        (
            LIST_BY_STATUS,
            get("/pe/appointment?status=assigned".into()),
        ),
        (
            LIST_BY_DOCUMENT,
            get(format!("/pe/appointment?document={ANA}")),
        ),
        (
            ASSIGN,
            post(format!("/pe/appointment/{id}/assign"), json!({})),
        ),
        (
            NOTIFY,
            post(format!("/pe/appointment/{id}/notify"), json!({})),
        ),
        (HISTORY, get(format!("/pe/appointment/{id}/history"))),
        (
            CONFIRM,
            post(format!("/pe/appointment/{id}/confirm"), json!({})),
        ),
        (
            REFUSE,
            post(
                format!("/pe/appointment/{id}/refuse"),
                json!({ "reason": "no" }),
            ),
        ),
        (
            RESCHEDULE,
            post(format!("/pe/appointment/{id}/reschedule"), json!({})),
        ),
        (
            COMPLETE,
            post(format!("/pe/appointment/{id}/complete"), json!({})),
        ),
        (
            NO_SHOW,
            post(format!("/pe/appointment/{id}/no-show"), json!({})),
        ),
        (
            CANCEL,
            post(
                format!("/pe/appointment/{id}/cancel"),
                json!({ "reason": "no" }),
            ),
        ),
    ])
}

/// What a caller gets from a route: a refusal, or an answer that changes nothing.
/// Requests a caller may make and that change data are left out of the matrix
/// (they are the API tests' business) and named in its `not_run` list.
#[derive(Clone, Copy)]
struct Row<'a> {
    who: &'static str,
    authorization: &'a str,
    expected: &'a [(&'static str, u16)],
    not_run: &'a [&'static str],
}

async fn send(app: &TestApp, case: &Case, authorization: Option<&str>) -> (u16, Value) {
    let url = format!("{}{}", app.base, case.path);
    let mut request = match case.method {
        "GET" => app.client.get(url),
        "PUT" => app.client.put(url),
        "DELETE" => app.client.delete(url),
        _ => app.client.post(url),
    };
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = &case.body {
        request = request.json(body);
    }
    common::read(request.send().await.expect("request")).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// What can be seen of the data through an admin's eyes.
async fn snapshot(app: &TestApp, target: &Target<'_>) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        format!("/pe/appointment/{}", target.id),
        format!("/pe/appointment/{}/history", target.id),
        format!("/pe/appointment?document={ANA}"),
        format!("/pe/doctor/{}", target.doctor),
        format!("/pe/doctor/{}/review", target.doctor),
        format!("/pe/doctor/{}/availability", target.doctor),
        format!("/pe/doctor/{}/agenda?date={}", target.doctor, target.day),
        "/pe/doctor?speciality=medicina-interna".to_owned(),
        "/pe/slot?speciality=medicina-interna&limit=100".to_owned(),
        "/pe/speciality".to_owned(),
    ] {
        let (status, mut body) = app.get(&path).await;
        // A problem's request id differs on every request.
        if let Some(problem) = body.as_object_mut() {
            problem.remove("request_id");
        }
        seen.push(json!([path, status, body]));
    }
    let outbox = std::fs::read_dir(app.data_dir.path().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    seen.push(json!(outbox));
    seen
}

/// The code of a 404 on each route: what a caller may not see is not found.
fn not_found_code(route: &str) -> &'static str {
    match route {
        GET_PLAN => "availability_not_found",
        HIDE_REVIEW => "review_not_found",
        GET_PATIENT | EXPORT_PATIENT | ERASE_PATIENT | RESEND_CODE | VERIFY_EMAIL => {
            "patient_not_found"
        }
        _ => "appointment_not_found",
    }
}

const PASSWORD: &str = "Secreto-2026";

fn patient_sign_up(document: &str) -> Value {
    json!({ "role": "patient", "country": "pe", "document": document, "name": "Inés Paredes",
            "email": format!("p{document}@example.pe"), "password": PASSWORD })
}

/// Signs up with the local identity provider, confirms with the emailed
/// code and signs in: the ID token.
async fn signed_in(app: &TestApp, sign_up: Value) -> String {
    let email = sign_up["email"].as_str().expect("email").to_owned();
    let call = |action: &str, body: Value| {
        let request = app
            .client
            .post(format!("{}/auth/{action}", app.base))
            .json(&body);
        async move { common::read(request.send().await.expect("request")).await }
    };
    let (status, body) = call("sign-up", sign_up.clone()).await;
    assert_eq!(status, 201, "{body}");
    let email_sent = common::emails_to(app, &email);
    let code = common::code_in(email_sent.last().expect("the code's email"));
    let (status, body) = call("confirm", json!({ "email": email, "code": code })).await;
    assert_eq!(status, 200, "{body}");
    let sign_in = match sign_up["role"].as_str() {
        Some("doctor") => json!({
            "username": format!("pe-{}", sign_up["registry_number"].as_str().unwrap_or_default()),
            "password": PASSWORD,
        }),
        _ => json!({ "email": email, "document": sign_up["document"], "password": PASSWORD }),
    };
    let (status, tokens) = call("sign-in", sign_in).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["id_token"].as_str().expect("an ID token").to_owned()
}

#[tokio::test]
async fn every_route_refuses_what_it_must_and_leaves_the_data_alone() {
    let app = TestApp::spawn().await;
    let created = app.create("pe", ANA, "medicina-interna").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, assigned) = app
        .post(&format!("/pe/appointment/{id}/assign"), json!({}))
        .await;
    assert_eq!(status, 200, "{assigned}");
    let doctor = assigned["doctor"].as_str().expect("doctor").to_owned();
    let doctor_document = doctor.rsplit('-').next().expect("document").to_owned();
    let starts_at: jiff::Timestamp = assigned["starts_at"]
        .as_str()
        .expect("starts_at")
        .parse()
        .expect("time");
    let target = Target {
        id: &id,
        doctor: &doctor,
        slot: assigned["date"].as_str().expect("slot"),
        day: &PERU.local_date(starts_at).to_string(),
    };
    common::wait_for_emails(&app, 1).await;
    // Tokens of the local identity provider: another patient who signed
    // herself up, and Ana's doctor, who claimed the registration staff gave
    // an address.
    let signed_in_patient = bearer(&signed_in(&app, patient_sign_up("70009999")).await);
    let (_, registered) = app.get(&format!("/pe/doctor/{doctor}")).await;
    let (status, body) = app
        .post(
            "/pe/doctor",
            json!({ "document": doctor_document, "name": registered["name"],
                    "speciality": registered["speciality"], "email": "su.doctora@clinica.pe" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let signed_in_doctor = bearer(
        &signed_in(
            &app,
            json!({ "role": "doctor", "country": "pe", "registry_number": doctor_document,
                    "email": "su.doctora@clinica.pe", "password": PASSWORD }),
        )
        .await,
    );
    let before = snapshot(&app, &target).await;

    let cases = every_route(&target);
    // The cases cover every route of the API but health.
    let covered: BTreeSet<String> = cases
        .values()
        .map(|c| {
            match citas_api::match_route(c.method, c.path.split('?').next().unwrap_or_default()) {
                citas_api::RouteMatch::Found { route, .. } => route.key(),
                _ => panic!("{} {} is not a route", c.method, c.path),
            }
        })
        .collect();
    let all: BTreeSet<String> = citas_api::ROUTES
        .iter()
        .filter(|r| r.action != citas_api::Action::Health)
        .map(|r| r.key())
        .collect();
    assert_eq!(covered, all);

    let stranger = TokenAuthority::from_secret("a-secret-this-server-never-had-0123456789");
    let ana = |ttl_secs: i64, tokens: &TokenAuthority| {
        tokens
            .mint(&TokenRequest {
                role: Role::Patient,
                country: &PERU,
                document: Some(ANA.into()),
                ttl: jiff::SignedDuration::from_secs(ttl_secs),
            })
            .expect("token")
    };
    let ana_token = ana(3600, &app.tokens);
    let unauthenticated = [
        None,
        Some(bearer(&ana(-300, &app.tokens))),    // expired
        Some(bearer(&ana(3600, &stranger))),      // signed with another secret
        Some(bearer("eyJhbGciOiJub25lIn0.e30.")), // alg none, no signature
        Some("Bearer".to_owned()),
        Some(format!("Basic {ana_token}")),
    ];
    for case in cases.values() {
        for authorization in &unauthenticated {
            let (status, problem) = send(&app, case, authorization.as_deref()).await;
            assert_problem((status, &problem), 401, "unauthenticated");
        }
    }

    let chilean_admin = bearer(&app.token(Role::Admin, "cl", None));
    let jose = bearer(&app.token(Role::Patient, "pe", Some(JOSE)));
    let other_doctor = bearer(&app.token(Role::Doctor, "pe", Some("11111111")));
    let her_doctor = bearer(&app.token(Role::Doctor, "pe", Some(&doctor_document)));
    let ana = bearer(&ana_token);
    let matrix = [
        Row {
            who: "admin of Chile",
            authorization: &chilean_admin,
            expected: &[
                (REGISTER_PATIENT, 403),
                (CREATE, 403),
                (GET, 403),
                (LIST_BY_STATUS, 403),
                (LIST_BY_DOCUMENT, 403),
                (ASSIGN, 403),
                (NOTIFY, 403),
                (HISTORY, 403),
                (CONFIRM, 403),
                (REFUSE, 403),
                (RESCHEDULE, 403),
                (COMPLETE, 403),
                (NO_SHOW, 403),
                (CANCEL, 403),
                (SPECIALITIES, 403),
                (REGISTER_DOCTOR, 403),
                (LIST_DOCTORS, 403),
                (GET_DOCTOR, 403),
                (SET_PLAN, 403),
                (GET_PLAN, 403),
                (AGENDA, 403),
                (REMOVE_SLOT, 403),
                (SEARCH, 403),
                (GET_PATIENT, 403),
                (EXPORT_PATIENT, 403),
                (ERASE_PATIENT, 403),
                (RESEND_CODE, 403),
                (VERIFY_EMAIL, 403),
                (FREE_DAYS, 403),
                (WHO_AM_I, 403),
                (REVIEW, 403),
                (DOCTOR_REVIEWS, 403),
                (HIDE_REVIEW, 403),
                (JOIN, 403),
            ],
            not_run: &[],
        },
        Row {
            who: "another patient",
            authorization: &jose,
            expected: &[
                (REGISTER_PATIENT, 403),
                (CREATE, 403),
                (GET, 404),
                (LIST_BY_STATUS, 403),
                (LIST_BY_DOCUMENT, 403),
                (ASSIGN, 404),
                (NOTIFY, 404),
                (HISTORY, 404),
                (CONFIRM, 404),
                (REFUSE, 404),
                (RESCHEDULE, 404),
                (COMPLETE, 404),
                (NO_SHOW, 404),
                (CANCEL, 404),
                (SPECIALITIES, 200),
                (REGISTER_DOCTOR, 403),
                (LIST_DOCTORS, 200),
                (GET_DOCTOR, 200),
                (SET_PLAN, 403),
                (GET_PLAN, 403),
                (AGENDA, 403),
                (REMOVE_SLOT, 403),
                (SEARCH, 200),
                (GET_PATIENT, 404),
                (EXPORT_PATIENT, 404),
                (ERASE_PATIENT, 404),
                (RESEND_CODE, 404),
                (VERIFY_EMAIL, 404),
                (FREE_DAYS, 200),
                (WHO_AM_I, 200),
                (REVIEW, 404),
                (DOCTOR_REVIEWS, 200),
                (HIDE_REVIEW, 403),
                (JOIN, 404),
            ],
            not_run: &[],
        },
        Row {
            who: "another doctor",
            authorization: &other_doctor,
            expected: &[
                (REGISTER_PATIENT, 403),
                (CREATE, 403),
                (GET, 404),
                (LIST_BY_STATUS, 200),
                (LIST_BY_DOCUMENT, 403),
                (ASSIGN, 404),
                (NOTIFY, 404),
                (HISTORY, 404),
                (CONFIRM, 404),
                (REFUSE, 404),
                (RESCHEDULE, 404),
                (COMPLETE, 404),
                (NO_SHOW, 404),
                (CANCEL, 404),
                (SPECIALITIES, 200),
                (REGISTER_DOCTOR, 403),
                (LIST_DOCTORS, 200),
                (GET_DOCTOR, 200),
                // Another doctor can neither change her doctor's plan nor read their agenda.
                (SET_PLAN, 403),
                (GET_PLAN, 403),
                (AGENDA, 403),
                (REMOVE_SLOT, 403),
                (SEARCH, 200),
                (GET_PATIENT, 404),
                (EXPORT_PATIENT, 404),
                (ERASE_PATIENT, 404),
                (RESEND_CODE, 404),
                (VERIFY_EMAIL, 404),
                (FREE_DAYS, 200),
                (WHO_AM_I, 200),
                (REVIEW, 404),
                (DOCTOR_REVIEWS, 200),
                (HIDE_REVIEW, 403),
                (JOIN, 404),
            ],
            not_run: &[],
        },
        // Her doctor may read, answer, close and cancel; assign, reschedule and
        // notify are not theirs. Confirming an assigned booking, or closing it
        // before it starts, is a conflict that changes nothing.
        Row {
            who: "her doctor",
            authorization: &her_doctor,
            expected: &[
                (REGISTER_PATIENT, 403),
                (CREATE, 403),
                (GET, 200),
                (HISTORY, 200),
                (CONFIRM, 409),
                (RESCHEDULE, 403),
                (NO_SHOW, 409),
                (LIST_BY_STATUS, 200),
                (LIST_BY_DOCUMENT, 403),
                (ASSIGN, 403),
                (NOTIFY, 403),
                (SPECIALITIES, 200),
                (REGISTER_DOCTOR, 403),
                (LIST_DOCTORS, 200),
                (GET_DOCTOR, 200),
                (GET_PLAN, 404),
                (AGENDA, 200),
                // Ana's slot is booked: it stays.
                (REMOVE_SLOT, 409),
                (SEARCH, 200),
                (GET_PATIENT, 404),
                (EXPORT_PATIENT, 404),
                (ERASE_PATIENT, 404),
                (RESEND_CODE, 404),
                (VERIFY_EMAIL, 404),
                (FREE_DAYS, 200),
                (WHO_AM_I, 200),
                (REVIEW, 403),
                (DOCTOR_REVIEWS, 200),
                (HIDE_REVIEW, 403),
                // Her visit is in person: there is no meeting to enter.
                (JOIN, 409),
            ],
            not_run: &[REFUSE, COMPLETE, CANCEL, SET_PLAN],
        },
        // Ana may not list by status, nor answer for or close her own appointment.
        Row {
            who: "Ana",
            authorization: &ana,
            expected: &[
                (CREATE, 409),
                (GET, 200),
                (HISTORY, 200),
                (CONFIRM, 403),
                (REFUSE, 403),
                (NO_SHOW, 403),
                (LIST_BY_STATUS, 403),
                (LIST_BY_DOCUMENT, 200),
                (ASSIGN, 409),
                (COMPLETE, 403),
                (SPECIALITIES, 200),
                (REGISTER_DOCTOR, 403),
                (LIST_DOCTORS, 200),
                (GET_DOCTOR, 200),
                (SET_PLAN, 403),
                (GET_PLAN, 403),
                (AGENDA, 403),
                (REMOVE_SLOT, 403),
                (SEARCH, 200),
                (GET_PATIENT, 200),
                (EXPORT_PATIENT, 200),
                // Her address was entered by staff: verified, nothing to send or check.
                (RESEND_CODE, 409),
                (VERIFY_EMAIL, 422),
                (FREE_DAYS, 200),
                (WHO_AM_I, 200),
                (REVIEW, 409), // an assigned visit is not reviewed yet
                (DOCTOR_REVIEWS, 200),
                (HIDE_REVIEW, 403),
                (JOIN, 409), // in person: not_virtual
            ],
            not_run: &[REGISTER_PATIENT, NOTIFY, CANCEL, RESCHEDULE, ERASE_PATIENT],
        },
    ];
    let by_name = |who: &str| {
        *matrix
            .iter()
            .find(|row| row.who == who)
            .unwrap_or_else(|| panic!("no row {who}"))
    };
    // A signed-in token is held to what a `citas token` of the same caller is.
    let signed_in_rows = [
        Row {
            who: "another patient, signed in",
            authorization: &signed_in_patient,
            ..by_name("another patient")
        },
        Row {
            who: "her doctor, signed in",
            authorization: &signed_in_doctor,
            ..by_name("her doctor")
        },
    ];
    for row in matrix.iter().chain(&signed_in_rows) {
        let named: BTreeSet<&str> = row
            .expected
            .iter()
            .map(|(route, _)| *route)
            .chain(row.not_run.iter().copied())
            .collect();
        assert_eq!(
            named,
            cases.keys().copied().collect(),
            "{}: every route is either expected or named as not run",
            row.who
        );
        for &(route, expected) in row.expected {
            let case = &cases[route];
            let (status, body) = send(&app, case, Some(row.authorization)).await;
            assert_eq!(status, expected, "{}: {route}: {body}", row.who);
            match status {
                403 if row.who == "admin of Chile" => {
                    assert_problem((status, &body), 403, "wrong_country")
                }
                403 => assert_problem((status, &body), 403, "forbidden"),
                404 => assert_problem((status, &body), 404, not_found_code(route)),
                _ => {}
            }
        }
    }
    // Another doctor's list by status shows none of Ana's; her doctor's shows hers.
    let (_, page) = send(&app, &cases[LIST_BY_STATUS], Some(&other_doctor)).await;
    assert_eq!(page["items"], json!([]), "{page}");
    let (_, page) = send(&app, &cases[LIST_BY_STATUS], Some(&her_doctor)).await;
    assert_eq!(page["items"][0]["id"], id.as_str(), "{page}");

    // Nothing any refused request touched has changed.
    let after = snapshot(&app, &target).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn health_and_openapi_need_no_token_and_local_reminders_need_an_admin_of_the_country() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status().as_u16(), 200);
    // The API's description is public too, and is the one in the repository.
    let served: Value = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let in_repo: Value = serde_json::from_str(citas_api::OPENAPI_JSON).expect("json");
    assert_eq!(served, in_repo);

    let remind = |authorization: Option<String>| {
        let mut request = app
            .client
            .post(format!("{}/_local/remind", app.base))
            .json(&json!({ "country": "pe", "date": "2026-12-07" }));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        async move { request.send().await.expect("remind").status().as_u16() }
    };
    assert_eq!(remind(None).await, 401);
    assert_eq!(
        remind(Some(bearer(&app.token(Role::Patient, "pe", Some(ANA))))).await,
        403
    );
    assert_eq!(
        remind(Some(bearer(&app.token(Role::Admin, "cl", None)))).await,
        403
    );
    assert_eq!(
        remind(Some(bearer(&app.token(Role::Admin, "pe", None)))).await,
        200
    );
}
