//! Every route against every kind of bad or insufficient token: 401 before any
//! handler runs, 403 for another country or a role that may not, 404 for
//! someone else's appointment; and the data is left as it was.

mod common;

use std::collections::BTreeSet;

use citas_domain::{PERU, Role};
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

/// One request per route (health aside), all aimed at Ana's appointment `id`.
fn every_route(id: &str) -> Vec<Case> {
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
    vec![
        post(
            "/pe/patient".into(),
            json!({ "document": ANA, "name": "Intrusa", "email": "intrusa@example.pe" }),
        ),
        post(
            "/pe/appointment".into(),
            json!({ "document": ANA, "speciality": "cardiologia" }),
        ),
        get(format!("/pe/appointment/{id}")),
        get("/pe/appointment?status=assigned".into()),
        get(format!("/pe/appointment?document={ANA}")),
        post(format!("/pe/appointment/{id}/assign"), json!({})),
        post(format!("/pe/appointment/{id}/notify"), json!({})),
        post(format!("/pe/appointment/{id}/complete"), json!({})),
        post(
            format!("/pe/appointment/{id}/cancel"),
            json!({ "reason": "no" }),
        ),
    ]
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
        .iter()
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
    for case in &cases {
        for authorization in &unauthenticated {
            let (status, problem) = send(&app, case, authorization.as_deref()).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (401, Some("unauthenticated")),
                "{} {} with {authorization:?}: {problem}",
                case.method,
                case.path
            );
        }
    }

    // Status per route, in the order of every_route, for each kind of caller.
    let chilean_admin = bearer(&app.token(Role::Admin, "cl", None));
    let jose = bearer(&app.token(Role::Patient, "pe", Some(JOSE)));
    let other_doctor = bearer(&app.token(Role::Doctor, "pe", Some("11111111")));
    let her_doctor = bearer(&app.token(Role::Doctor, "pe", Some(&doctor_document)));
    let ana = bearer(&ana_token);
    let expectations: [(&str, &str, [u16; 9]); 5] = [
        ("admin of Chile", &chilean_admin, [403; 9]),
        (
            "another patient",
            &jose,
            [403, 403, 404, 403, 403, 404, 404, 404, 404],
        ),
        (
            "another doctor",
            &other_doctor,
            [403, 403, 404, 200, 403, 404, 404, 404, 404],
        ),
        // Her doctor may read, complete and cancel; assign and notify are not theirs.
        (
            "her doctor",
            &her_doctor,
            [403, 403, 200, 200, 403, 403, 403, 0, 0],
        ),
        // Ana may not list by status, nor complete her own appointment (registering, notifying
        // and cancelling are hers to do, and not run here).
        ("Ana", &ana, [0, 409, 200, 403, 200, 409, 0, 403, 0]),
    ];
    for (who, authorization, statuses) in expectations {
        for (case, expected) in cases.iter().zip(statuses) {
            if expected == 0 {
                continue; // allowed and state-changing: not run here
            }
            let (status, body) = send(&app, case, Some(authorization)).await;
            assert_eq!(
                status, expected,
                "{who}: {} {}: {body}",
                case.method, case.path
            );
            if status == 403 {
                let code = if who == "admin of Chile" {
                    "wrong_country"
                } else {
                    "forbidden"
                };
                assert_eq!(body["code"], code, "{who}: {} {}", case.method, case.path);
            }
            if status == 404 {
                assert_eq!(body["code"], "appointment_not_found", "{body}");
            }
        }
    }
    // Another doctor's list by status shows none of Ana's; her doctor's shows hers.
    let (_, page) = send(&app, &cases[3], Some(&other_doctor)).await;
    assert_eq!(page["items"], json!([]), "{page}");
    let (_, page) = send(&app, &cases[3], Some(&her_doctor)).await;
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
