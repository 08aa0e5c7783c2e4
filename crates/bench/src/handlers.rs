//! The HTTP handlers' own cost per request, in process, on the embedded store:
//! parsing the API Gateway event (as lambda_http does in Lambda) and handling
//! it. No network, no AWS: what a request costs besides its I/O.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use citas_domain::{ManualClock, Services};
use citas_embedded::EmbeddedStore;
use citas_local::seed;

use crate::Error;

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name; 100 ticks/s.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn fixture(name: &str) -> Result<String, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    Ok(std::fs::read_to_string(path)?)
}

pub async fn report(iterations: u32) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(dir.path())?);
    let seed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seed");
    seed::load_dir(store.as_ref(), &seed_dir).await?;
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store,
        queue: Arc::new(citas_domain::testkit::NullQueue),
        clock: Arc::new(ManualClock::new("2026-11-22T15:00:00Z".parse()?)),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    // The appointment the get and notify fixtures name.
    let setup = lambda_http::request::from_str(&fixture("apigw-create-appointment.json")?)?;
    citas_api::handle(&services, citas_api::Action::CreateAppointment, setup).await;

    let cases = [
        ("GET /health", "apigw-health.json", "200"),
        (
            "GET /{country}/appointment/{id}",
            "apigw-get-appointment.json",
            "200",
        ),
        (
            "GET /{country}/appointment?status=",
            "apigw-list-appointments.json",
            "200",
        ),
        (
            "POST /{country}/patient (update)",
            "apigw-register-patient.json",
            "200",
        ),
        (
            "POST /{country}/appointment (same day again)",
            "apigw-create-appointment.json",
            "409",
        ),
        (
            "POST /{country}/appointment/{id}/notify",
            "apigw-notify-appointment.json",
            "202",
        ),
    ];
    println!("## Warm request cost of the HTTP handlers\n");
    println!(
        "Per request, in process, on the embedded store: `lambda_http::request::from_str` of the \
         fixture event (what the runtime does with each invocation) and `citas_api::handle`, \
         {iterations} times each after 100 warm-up requests; CPU is the process's user + system \
         time over the loop divided by the requests. No network and no AWS calls: the function's \
         own overhead (the DynamoDB round trips of a deployed function come on top).\n"
    );
    println!("| route | status | p50 (µs) | p99 (µs) | CPU per request (µs) |");
    println!("|---|---|---:|---:|---:|");
    for (route, file, expected) in cases {
        let event = fixture(file)?;
        let action = {
            let request = lambda_http::request::from_str(&event)?;
            citas_api::routed_action(&request).ok_or("no route")?
        };
        let mut samples = Vec::with_capacity(iterations as usize);
        let mut status = 0;
        for n in 0..(iterations + 100) {
            let began = Instant::now();
            let request = lambda_http::request::from_str(&event)?;
            let response = citas_api::handle(&services, action, request).await;
            if n >= 100 {
                samples.push(began.elapsed());
            }
            status = response.status().as_u16();
        }
        let cpu_began = cpu_time();
        for _ in 0..iterations {
            let request = lambda_http::request::from_str(&event)?;
            citas_api::handle(&services, action, request).await;
        }
        let cpu = cpu_time().saturating_sub(cpu_began);
        samples.sort();
        let at = |p: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e6
        };
        if status.to_string() != expected {
            return Err(format!("{route}: status {status}, expected {expected}").into());
        }
        println!(
            "| `{route}` | {status} | {:.0} | {:.0} | {:.0} |",
            at(0.5),
            at(0.99),
            cpu.as_secs_f64() * 1e6 / f64::from(iterations)
        );
    }
    Ok(())
}
