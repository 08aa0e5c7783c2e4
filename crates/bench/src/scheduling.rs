//! The doctor's side: what a slot search and an auto-assignment cost as a
//! speciality grows (DynamoDB calls on moto), and how long a working plan
//! takes to become slots.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use citas_api::slot_body::SlotSearchQuery;
use citas_aws::{DynamoStore, OperationCounter, TableNames};
use citas_domain::ports::stores::*;
use citas_domain::scheduling::plan::WEEKDAYS;
use citas_domain::use_cases::{self, NewAppointment, NewDoctor, NewPatient};
use citas_domain::{
    Caller, DoctorDocument, EmailAddress, ManualClock, OfferedSpeciality, PERU, Services, Slot,
    SlotId, Speciality, testkit,
};
use citas_embedded::EmbeddedStore;
use citas_provision::template::Variables;
use jiff::civil::Weekday;

use crate::Error;

pub(crate) fn admin() -> Caller {
    citas_domain::testkit::callers::admin()
}

fn summary(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(operation, n)| format!("{n} {operation}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A DynamoDB store on fresh tables of moto, with its call counter.
async fn moto_store(
    endpoint: &str,
    name: &str,
) -> Result<(Arc<DynamoStore>, OperationCounter), Error> {
    let suffix = jiff::Timestamp::now().as_millisecond() % 10_000_000;
    let variables = Variables {
        table_prefix: format!("{name}{suffix}-"),
        stack_name: format!("{name}{suffix}"),
        ..Variables::default()
    };
    let sdk = citas_provision::sdk_config(endpoint).await;
    citas_provision::prepare(&sdk, &variables).await?;
    let counter = OperationCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    Ok((
        Arc::new(DynamoStore::new(
            client,
            TableNames::new(variables.table_prefix),
        )),
        counter,
    ))
}

pub(crate) fn services(store: Arc<dyn Store>, now: &str) -> Result<Services, Error> {
    Ok(Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store,
        queue: Arc::new(citas_domain::testkit::NullQueue),
        clock: Arc::new(ManualClock::new(now.parse()?)),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    })
}

pub(crate) async fn patient_with_appointment(
    services: &Services,
    document: &str,
    speciality: &str,
) -> Result<citas_domain::AppointmentId, Error> {
    let document = PERU.parse_document(document)?;
    use_cases::register_patient(
        services,
        &admin(),
        &PERU,
        NewPatient {
            document: document.clone(),
            name: "Paciente".into(),
            email: EmailAddress::parse("p@example.pe")?,
        },
    )
    .await?;
    let appointment = use_cases::create_appointment(
        services,
        &admin(),
        &PERU,
        NewAppointment {
            document,
            speciality: Speciality::parse(speciality)?,
        },
    )
    .await?;
    Ok(appointment.id)
}

/// A 40-hour week (Monday to Friday, 09:00–17:00) of 30-minute slots.
pub(crate) fn forty_hours() -> Result<citas_domain::WorkingPlan, Error> {
    let ranges: Vec<(Weekday, &str, &str)> = WEEKDAYS[..5]
        .iter()
        .map(|d| (*d, "09:00", "17:00"))
        .collect();
    Ok(testkit::plan(&ranges, "2026-11-23", None))
}

pub async fn report(endpoint: &str) -> Result<(), Error> {
    println!("## Slot search, month view and auto-assignment against the number of doctors\n");
    println!(
        "DynamoDB calls counted by an SDK interceptor on moto, with N cardiologists each holding \
         one free slot (a minute apart, so a page mixes doctors): a search of a month (page of \
         20) and an auto-assignment. The search is one query of the free-slot index \
         (`by-free-speciality`, partition `{{country}}-{{speciality}}`, sorted by start) and one \
         `BatchGetItem` for the page's doctors; auto-assignment reads the appointment, queries \
         the same index, reads the page's doctors (one `BatchGetItem`, for the name the \
         appointment keeps) and books in one transaction. The month view \
         (`GET …/slot/days?month=`) counts each local day's free slots with one `Query` of the \
         same index (`Select: COUNT`, 8 days in flight): 31 for March, whatever the number of \
         doctors or slots. tests/tests/budget.rs holds 3 and 300 to the same counts.\n"
    );
    println!(
        "| doctors in the speciality | search | search time on moto (median of 5) | month view | month view time on moto (median of 5) | auto-assign |\n|---:|---|---:|---|---:|---|"
    );
    for doctors in [3u32, 30, 300] {
        let (store, counter) = moto_store(endpoint, "sched").await?;
        let services = services(store.clone(), "2030-01-02T15:00:00Z")?;
        for n in 0..doctors {
            let doctor = testkit::doctor(&PERU, "cardiologia", &format!("{}", 1000 + n));
            store.put_doctor(&doctor).await?;
            let start: jiff::Timestamp = "2030-03-04T14:00:00Z".parse()?;
            let slot = Slot {
                modality: Default::default(),
                id: SlotId::new(
                    doctor.id.clone(),
                    start + jiff::SignedDuration::from_mins(i64::from(n)),
                ),
                available: true,
                booked_by: None,
                minutes: citas_domain::scheduling::slot::DEFAULT_SLOT_MINUTES,
            };
            store.put_slot(&slot).await?;
        }
        let id = patient_with_appointment(&services, "45678912", "cardiologia").await?;
        counter.take();
        let mut times = Vec::new();
        let mut search_calls = BTreeMap::new();
        for _ in 0..5 {
            let query = SlotSearchQuery {
                speciality: Some("cardiologia".into()),
                from: Some("2030-03-01".into()),
                to: Some("2030-03-31".into()),
                limit: Some("20".into()),
                ..Default::default()
            }
            .try_into_domain(&PERU)?;
            let started = Instant::now();
            use_cases::search_slots(&services, &admin(), &PERU, query).await?;
            times.push(started.elapsed());
            search_calls = counter.take();
        }
        times.sort();
        let mut month_times = Vec::new();
        let mut month_calls = BTreeMap::new();
        for _ in 0..5 {
            let query = citas_api::slot_body::DaysSearchQuery {
                modality: Default::default(),
                speciality: Some("cardiologia".into()),
                month: Some("2030-03".into()),
                doctor: None,
            }
            .try_into_domain(&PERU)?;
            let started = Instant::now();
            use_cases::free_days(&services, &admin(), &PERU, query).await?;
            month_times.push(started.elapsed());
            month_calls = counter.take();
        }
        month_times.sort();
        use_cases::assign(&services, &admin(), &PERU, &id, None).await?;
        let assign_calls = counter.take();
        println!(
            "| {doctors} | {} | {:.1} ms | {} | {:.1} ms | {} |",
            summary(&search_calls),
            times[2].as_secs_f64() * 1000.0,
            summary(&month_calls),
            month_times[2].as_secs_f64() * 1000.0,
            summary(&assign_calls)
        );
    }

    finding_report(endpoint).await?;

    println!("\n## Turning a working plan into slots\n");
    let plan = forty_hours()?;
    let doctor = testkit::doctor_id(&PERU, "cardiologia", "2000");
    let from = jiff::civil::date(2026, 11, 23);
    let until = jiff::civil::date(2027, 1, 17);
    let started = Instant::now();
    let rounds = 200;
    let mut generated = 0;
    for _ in 0..rounds {
        generated = plan.slots(&doctor, from, until).len();
    }
    let generation = started.elapsed() / rounds;
    println!(
        "A 40-hour week (Monday to Friday, 09:00–17:00, 30-minute slots) over the default \
         56-day horizon is {generated} slots. Generating them in the domain takes {:.0} µs \
         (mean of {rounds}). Applying the plan (`PUT …/availability`: read the doctor's future \
         slots, write the new ones with a condition each, 16 in flight on DynamoDB, one \
         transaction on redb), first time and again:\n",
        generation.as_secs_f64() * 1e6
    );
    println!(
        "| store | first apply | slots added | calls | applying it again | calls |\n|---|---:|---:|---|---:|---|"
    );
    // The embedded store's directory lives until the measurements end.
    let embedded_dir = tempfile::tempdir()?;
    for backend in ["embedded (redb)", "DynamoDB on moto"] {
        let (store, counter): (Arc<dyn Store>, Option<OperationCounter>) =
            if backend.starts_with("embedded") {
                let store = EmbeddedStore::open(embedded_dir.path())?;
                (Arc::new(store), None)
            } else {
                let (store, counter) = moto_store(endpoint, "plan").await?;
                (store, Some(counter))
            };
        let services = services(store.clone(), "2026-11-22T15:00:00Z")?;
        let (registered, _) = use_cases::register_doctor(
            &services,
            &admin(),
            &PERU,
            NewDoctor {
                document: DoctorDocument::parse("2000")?,
                name: "Dra. Plan".into(),
                speciality: OfferedSpeciality::named("cardiologia")?,
                email: None,
                requires_confirmation: false,
                profile: Default::default(),
            },
        )
        .await?;
        let id = registered.id.clone();
        let take = |counter: &Option<OperationCounter>| {
            counter
                .as_ref()
                .map(|c| summary(&c.take()))
                .unwrap_or_else(|| "in process".into())
        };
        take(&counter);
        let started = Instant::now();
        let applied =
            use_cases::set_availability(&services, &admin(), &PERU, &id, plan.clone()).await?;
        let first = started.elapsed();
        let first_calls = take(&counter);
        let started = Instant::now();
        use_cases::set_availability(&services, &admin(), &PERU, &id, plan.clone()).await?;
        let again = started.elapsed();
        let again_calls = take(&counter);
        println!(
            "| {backend} | {:.0} ms | {} | {first_calls} | {:.0} ms | {again_calls} |",
            first.as_secs_f64() * 1000.0,
            applied.added,
            again.as_secs_f64() * 1000.0
        );
    }
    println!(
        "\nThe manage-doctors function has 30 s; moto applies DynamoDB requests one at a time, \
         so DynamoDB itself, serving the 16 conditional puts in flight concurrently, is faster."
    );
    Ok(())
}

/// Median of five timed runs of `search`, with the calls of the last.
async fn timed_search(
    services: &Services,
    counter: &OperationCounter,
    search: &citas_domain::use_cases::DoctorSearch,
) -> Result<(BTreeMap<String, usize>, f64, usize), Error> {
    let patient = citas_domain::testkit::callers::patient("45678912");
    let page = citas_domain::PageRequest {
        limit: 20,
        cursor: None,
    };
    let (mut times, mut calls, mut found) = (Vec::new(), BTreeMap::new(), 0);
    counter.take();
    for _ in 0..5 {
        let started = Instant::now();
        found = use_cases::find_doctors(services, &patient, &PERU, search, &page)
            .await?
            .items
            .len();
        times.push(started.elapsed());
        calls = counter.take();
    }
    times.sort();
    Ok((calls, times[2].as_secs_f64() * 1000.0, found))
}

/// `GET /{country}/doctor?near=…` as the speciality grows: three doctors
/// near Lima's Plaza de Armas, the rest 30 km and more south of it.
async fn finding_report(endpoint: &str) -> Result<(), Error> {
    use citas_domain::scheduling::doctor::{DoctorProfile, Modality, Place};
    use citas_domain::use_cases::{DoctorSearch, DoctorSort, Near};
    use citas_domain::values::place::Coordinates;
    println!("\n## Finding a doctor near a point against the number of doctors\n");
    println!(
        "`GET /pe/doctor?speciality=cardiologia&near=-12.0464,-77.0300&within_km=5` on moto, \
         with N cardiologists: three within 2 km of Lima's Plaza de Armas, each with a free \
         slot, and the rest 30 km and more to the south. Near a point the search queries the \
         geohash cells covering the circle (`by-geo-cell`, partition \
         `{{country}}-{{speciality}}#{{geohash5}}`) and then each doctor found for their next \
         free slot (`by-doctor`), so its calls depend on the circle and the doctors in it, not \
         on the speciality's size (tests/tests/budget.rs holds 3 and 300 to the same counts). \
         Without a point it reads the speciality's first 200 doctors in one query and sorts \
         them: its cost grows with the speciality up to that bound, plus one next-slot query \
         per doctor of the page (20).\n"
    );
    println!(
        "| doctors in the speciality | near, by distance | time (median of 5) | near, earliest slot first | time | without a point, by rating | time | found without a point |\n|---:|---|---:|---|---:|---|---:|---:|"
    );
    let plaza = Coordinates::new(-12.0464, -77.0300)?;
    let near = Some(Near {
        point: plaza,
        within_km: 5.0,
    });
    let speciality = Speciality::parse("cardiologia")?;
    for doctors in [3u32, 30, 300, 1000] {
        let (store, counter) = moto_store(endpoint, "find").await?;
        let services = services(store.clone(), "2030-01-02T15:00:00Z")?;
        for n in 0..doctors {
            let (lat, lon) = if n < 3 {
                (-12.0464 - 0.005 * f64::from(n), -77.0300)
            } else {
                (
                    -12.32 - 0.01 * f64::from(n % 60),
                    -77.03 + 0.01 * f64::from(n / 60),
                )
            };
            let doctor = citas_domain::Doctor {
                profile: DoctorProfile::new(
                    None,
                    vec![Modality::InPerson],
                    Some(Place {
                        name: "Consultorio".into(),
                        address: "Av. Arequipa 100".into(),
                        district: "Lima".into(),
                        coordinates: Coordinates::new(lat, lon)?,
                    }),
                    vec![],
                    None,
                )?,
                ..testkit::doctor(&PERU, "cardiologia", &format!("{}", 1000 + n))
            };
            store.put_doctor(&doctor).await?;
            if n < 3 {
                store
                    .put_slot(&testkit::slot_at(&doctor.id, "2030-03-04T14:00:00Z"))
                    .await?;
            }
        }
        let mut row = vec![doctors.to_string()];
        let mut found_without = 0;
        for (point, sort) in [
            (near, DoctorSort::Distance),
            (near, DoctorSort::Earliest),
            (None, DoctorSort::Rating),
        ] {
            let search =
                DoctorSearch::new(speciality.clone(), point, None, None, None, Some(sort))?;
            let (calls, millis, found) = timed_search(&services, &counter, &search).await?;
            if point.is_none() {
                found_without = found;
            } else if found != 3 {
                return Err(format!("{found} doctors found near the plaza, not 3").into());
            }
            row.push(summary(&calls));
            row.push(format!("{millis:.1} ms"));
        }
        row.push(found_without.to_string());
        println!("| {} |", row.join(" | "));
    }
    Ok(())
}
