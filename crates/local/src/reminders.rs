//! Reminders in local mode: the same job the scheduled function runs, fired
//! by `citas remind` (through a local-only route) or by the server's own clock
//! at the configured local hour of each country.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use citas_api::Problem;
use citas_api::handlers::json_response;
use citas_domain::access::{Access, authorize};
use citas_domain::{Caller, Country, Services};
use citas_lambda::jobs::{ReminderError, send_reminders};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use tokio::sync::watch;

/// Local only; not an API route, never deployed.
pub const LOCAL_REMIND_PATH: &str = "/_local/remind";

/// `POST /_local/remind {"country": "pe", "date": "2026-12-07"}`, for an admin of that country.
pub async fn on_request(
    services: &Services,
    claims: &HashMap<String, String>,
    body: &[u8],
) -> Response<Body> {
    let input: serde_json::Value = match serde_json::from_slice(body) {
        Ok(input) => input,
        Err(error) => {
            return Problem::bad_request("invalid_body", error.to_string()).into_response(None);
        }
    };
    let country = input["country"]
        .as_str()
        .and_then(|c| Country::from_code(c).ok());
    let allowed = match (Caller::from_claims(claims), country) {
        (Ok(caller), Some(country)) => authorize(&caller, country, Access::SendReminders).is_ok(),
        _ => false,
    };
    if !allowed {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "reminders are sent by an admin of the country",
        )
        .into_response(None);
    }
    match send_reminders(services, input).await {
        Ok(report) => json_response(StatusCode::OK, &report),
        Err(ReminderError::Input(message)) => {
            Problem::bad_request("invalid_body", message).into_response(None)
        }
        Err(error) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reminders_incomplete",
            error.to_string(),
        )
        .into_response(None),
    }
}

/// Every day at `hour` local time in `country`, the next day's reminders.
pub async fn daily(
    services: Arc<Services>,
    country: &'static Country,
    hour: i8,
    stopped: watch::Receiver<bool>,
) {
    every_day_at(services, country, hour, stopped, |services| async move {
        let input = json!({ "country": country.code });
        if let Err(error) = send_reminders(&services, input).await {
            tracing::error!(country = country.code, %error, "scheduled reminders failed");
        }
    })
    .await
}

/// Every day at `hour` local time in `country`, and once at start (a server
/// started after days off catches up), the slot horizon of every plan.
pub async fn daily_horizon(
    services: Arc<Services>,
    country: &'static Country,
    hour: i8,
    stopped: watch::Receiver<bool>,
) {
    let extend = |services: Arc<Services>| async move {
        if let Err(error) = citas_domain::use_cases::extend_horizons(&services, country).await {
            tracing::error!(country = country.code, %error, "extending the slot horizon failed");
        }
    };
    extend(services.clone()).await;
    every_day_at(services, country, hour, stopped, extend).await
}

/// Runs `job` every day at `hour` local time in `country`, by the injected clock.
async fn every_day_at<F, Fut>(
    services: Arc<Services>,
    country: &'static Country,
    hour: i8,
    mut stopped: watch::Receiver<bool>,
    job: F,
) where
    F: Fn(Arc<Services>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        // The injected clock, as every other use of "now".
        let now = services.clock.now();
        let local = country.local(now);
        let today_at = local
            .date()
            .at(hour, 0, 0, 0)
            .to_zoned(country.time_zone().clone());
        let next = match today_at {
            Ok(at) if at.timestamp() > now => at.timestamp(),
            Ok(at) => at.timestamp() + jiff::SignedDuration::from_hours(24),
            Err(_) => now + jiff::SignedDuration::from_hours(24),
        };
        let wait = Duration::try_from(next - now).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep(wait) => job(services.clone()).await,
            _ = stopped.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::{ManualClock, PERU, testkit};

    /// The clock decides both when the job fires and which day it reminds:
    /// one second before 18:00 in Lima by the injected clock, whatever the
    /// machine's date, the next (injected) day's appointment is reminded.
    /// (With the machine's clock instead, nothing is sent in 5 s.)
    #[tokio::test]
    async fn the_daily_job_runs_on_the_injected_clock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(citas_embedded::EmbeddedStore::open(dir.path()).expect("store"));
        let doctor = testkit::doctor_id(&PERU, "cardiologia", "1");
        let tomorrow = testkit::appointment(&PERU, "45678912")
            .created_at("2031-05-01T15:00:00Z")
            .assigned(&testkit::slot_at(&doctor, "2031-05-02T14:00:00Z").id)
            .build();
        citas_domain::AppointmentStore::insert_appointment(store.as_ref(), &tomorrow)
            .await
            .expect("insert");
        let queue = Arc::new(testkit::RecordingQueue::default());
        let services = Arc::new(Services {
            meetings: citas_domain::testkit::jitsi_rooms(),
            store,
            queue: queue.clone(),
            // 17:59:59 in Lima on 2031-05-01.
            clock: Arc::new(ManualClock::new(testkit::at("2031-05-01T22:59:59Z"))),
            horizon: Default::default(),
            verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
        });
        let (stop, stopped) = watch::channel(false);
        let job = tokio::spawn(daily(services, &PERU, 18, stopped));
        let mut sent = Vec::new();
        for _ in 0..100 {
            sent.extend(queue.take());
            if !sent.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop.send(true);
        let _ = job.await;
        sent.extend(queue.take());
        assert_eq!(sent.len(), 1, "one reminder within 5 s: {sent:?}");
        assert_eq!(sent[0].appointment_id, tomorrow.id);
    }

    /// The local server's horizon job runs once at start on the injected
    /// clock (a server back after days off catches up), then waits for 01:00.
    #[tokio::test]
    async fn the_horizon_job_catches_up_at_start_on_the_injected_clock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(citas_embedded::EmbeddedStore::open(dir.path()).expect("store"));
        let doctor = testkit::doctor(&PERU, "cardiologia", "1");
        citas_domain::DoctorStore::put_doctor(store.as_ref(), &doctor)
            .await
            .expect("doctor");
        // Every day 09:00–10:00, generated through 4 January 2031 only.
        let every_day: Vec<(jiff::civil::Weekday, &str, &str)> =
            citas_domain::scheduling::plan::WEEKDAYS
                .iter()
                .map(|day| (*day, "09:00", "10:00"))
                .collect();
        testkit::store_plan(
            store.as_ref(),
            &doctor.id,
            testkit::plan(&every_day, "2031-01-01", None),
            jiff::civil::date(2031, 1, 4),
        )
        .await
        .expect("plan");
        let services = Arc::new(Services {
            meetings: citas_domain::testkit::jitsi_rooms(),
            store: store.clone(),
            queue: Arc::new(testkit::RecordingQueue::default()),
            // 2031-01-10 12:00 in Lima, a week later; a 7-day horizon.
            clock: Arc::new(ManualClock::new(testkit::at("2031-01-10T17:00:00Z"))),
            horizon: citas_domain::SlotHorizon::days(7).expect("horizon"),
            verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
        });
        let (stop, stopped) = watch::channel(false);
        let job = tokio::spawn(daily_horizon(services, &PERU, 1, stopped));
        let mut generated_until = None;
        for _ in 0..100 {
            let stored = citas_domain::DoctorStore::get_availability(store.as_ref(), &doctor.id)
                .await
                .expect("read");
            generated_until = stored.map(|a| a.generated_until);
            if generated_until != Some(jiff::civil::date(2031, 1, 4)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop.send(true);
        let _ = job.await;
        // Through 16 January (7 days from the injected today), from today's later slots on.
        assert_eq!(generated_until, Some(jiff::civil::date(2031, 1, 16)));
        let slots = citas_domain::SlotStore::doctor_slots(
            store.as_ref(),
            &doctor.id,
            testkit::at("2031-01-01T00:00:00Z"),
            testkit::at("2031-02-01T00:00:00Z"),
        )
        .await
        .expect("slots");
        // 11 to 16 January (today's 09:00 slots have passed at noon): 6 days of 2.
        assert_eq!(slots.len(), 6 * 2, "{slots:?}");
    }
}
