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
const COMPLETE: &str = "complete";
const CANCEL: &str = "cancel";

/// One request per route (health aside), by name, all aimed at Ana's appointment `id`.
fn every_route(id: &str) -> BTreeMap<&'static str, Case> {
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
    BTreeMap::from([
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
        (
            COMPLETE,
            post(format!("/pe/appointment/{id}/complete"), json!({})),
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
async fn snapshot(app: &TestApp, id: &str) -> (Value, Value, usize) {
    let (_, appointment) = app.get(&format!("/pe/appointment/{id}")).await;
    let (_, list) = app.get(&format!("/pe/appointment?document={ANA}")).await;
    let outbox = std::fs::read_dir(app.data_dir.path().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    (appointment, list, outbox)
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
    let doctor_document = assigned["doctor"]
        .as_str()
        .and_then(|d| d.rsplit('-').next())
        .expect("doctor")
        .to_owned();
    common::wait_for_emails(&app, 1).await;
    let before = snapshot(&app, &id).await;

    let cases = every_route(&id);
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
                (COMPLETE, 403),
                (CANCEL, 403),
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
                (COMPLETE, 404),
                (CANCEL, 404),
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
                (COMPLETE, 404),
                (CANCEL, 404),
            ],
            not_run: &[],
        },
        // Her doctor may read, complete and cancel; assign and notify are not theirs.
        Row {
            who: "her doctor",
            authorization: &her_doctor,
            expected: &[
                (REGISTER_PATIENT, 403),
                (CREATE, 403),
                (GET, 200),
                (LIST_BY_STATUS, 200),
                (LIST_BY_DOCUMENT, 403),
                (ASSIGN, 403),
                (NOTIFY, 403),
            ],
            not_run: &[COMPLETE, CANCEL],
        },
        // Ana may not list by status, nor complete her own appointment.
        Row {
            who: "Ana",
            authorization: &ana,
            expected: &[
                (CREATE, 409),
                (GET, 200),
                (LIST_BY_STATUS, 403),
                (LIST_BY_DOCUMENT, 200),
                (ASSIGN, 409),
                (COMPLETE, 403),
            ],
            not_run: &[REGISTER_PATIENT, NOTIFY, CANCEL],
        },
    ];
    for row in &matrix {
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
                404 => assert_problem((status, &body), 404, "appointment_not_found"),
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
    let after = snapshot(&app, &id).await;
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
