//! AWS calls per use case, counted by an SDK interceptor on moto: what each
//! request costs in DynamoDB and SQS round trips (and so in latency and money).

use std::collections::BTreeMap;
use std::sync::Arc;

use citas_api::body::{AppointmentRequest, ListQuery, PatientRequest};
use citas_aws::{DynamoStore, OperationCounter, SqsQueue, TableNames};
use citas_domain::ports::stores::*;
use citas_domain::use_cases;
use citas_domain::{AppointmentId, ManualClock, PERU, Services};
use citas_provision::template::Variables;
use jiff::civil::{date, time};

use crate::Error;

type Counts = BTreeMap<String, usize>;

fn summary(counts: &Counts) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(operation, n)| format!("{n} {operation}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn report(endpoint: &str) -> Result<(), Error> {
    let suffix = jiff::Timestamp::now().as_millisecond() % 10_000_000;
    let variables = Variables {
        table_prefix: format!("calls{suffix}-"),
        stack_name: format!("calls{suffix}"),
        ..Variables::default()
    };
    let sdk = citas_provision::sdk_config(endpoint).await;
    let prepared = citas_provision::prepare(&sdk, &variables).await?;
    let dynamodb_calls = OperationCounter::default();
    let sqs_calls = OperationCounter::default();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(dynamodb_calls.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(sqs_calls.clone())
            .build(),
    );
    let store = Arc::new(DynamoStore::new(
        dynamodb,
        TableNames::new(variables.table_prefix.clone()),
    ));
    let clock = Arc::new(ManualClock::new("2026-11-22T15:00:00Z".parse()?));
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: store.clone(),
        queue: Arc::new(SqsQueue::new(sqs, prepared.queue_urls.clone())),
        clock: clock.clone(),
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    let admin = citas_domain::testkit::callers::admin();
    // Three cardiologists with a free slot each.
    let doctors = 3;
    let mut slots = Vec::new();
    for n in 0..doctors {
        let doctor = citas_domain::testkit::doctor(&PERU, "cardiologia", &format!("4000000{n}"));
        store.put_doctor(&doctor).await?;
        for day in [7, 8] {
            let slot =
                citas_domain::testkit::slot(&doctor.id, date(2026, 12, day), time(9, 0, 0, 0));
            store.put_slot(&slot).await?;
            slots.push(slot);
        }
    }
    let documents = ["45678912", "70123456", "41234567"];
    for document in documents {
        let input = PatientRequest {
            document: document.into(),
            name: "Paciente".into(),
            email: "paciente@example.pe".into(),
        }
        .try_into_domain(&PERU)?;
        use_cases::register_patient(&services, &admin, &PERU, input).await?;
    }
    let id = |document: &str| AppointmentId::parse(&PERU, &format!("20261122-{document}"));
    let take = || (dynamodb_calls.take(), sqs_calls.take());
    take();

    let mut rows: Vec<(&str, Counts, Counts)> = Vec::new();
    let input = PatientRequest {
        document: "45678912".into(),
        name: "Ana".into(),
        email: "ana@example.pe".into(),
    }
    .try_into_domain(&PERU)?;
    use_cases::register_patient(&services, &admin, &PERU, input).await?;
    let (d, s) = take();
    rows.push(("register or update a patient", d, s));
    for document in documents {
        let input = AppointmentRequest {
            document: document.into(),
            speciality: "cardiologia".into(),
        }
        .try_into_domain(&PERU)?;
        use_cases::create_appointment(&services, &admin, &PERU, input).await?;
        let (d, s) = take();
        if document == documents[0] {
            rows.push(("create an appointment", d, s));
        }
    }
    use_cases::get_appointment(&services, &admin, &PERU, &id(documents[0])?).await?;
    let (d, s) = take();
    rows.push(("get one", d, s));
    let list = |status: Option<&str>, document: Option<&str>| {
        ListQuery {
            status: status.map(str::to_owned),
            document: document.map(str::to_owned),
            upcoming: None,
            limit: Some("20".into()),
            cursor: None,
        }
        .try_into_domain(&PERU)
    };
    use_cases::list_appointments(&services, &admin, &PERU, list(Some("registered"), None)?).await?;
    let (d, s) = take();
    rows.push(("list by status, one page", d, s));
    use_cases::list_appointments(&services, &admin, &PERU, list(None, Some(documents[0]))?).await?;
    let (d, s) = take();
    rows.push(("list by patient, one page", d, s));
    use_cases::assign(
        &services,
        &admin,
        &PERU,
        &id(documents[0])?,
        Some(slots[0].id.clone()),
    )
    .await?;
    let (d, s) = take();
    rows.push((
        "assign a given slot (its email leaves from the history stream)",
        d,
        s,
    ));
    use_cases::assign(&services, &admin, &PERU, &id(documents[1])?, None).await?;
    let (d, s) = take();
    rows.push(("assign the earliest slot, 3 cardiologists", d, s));
    use_cases::notify(&services, &admin, &PERU, &id(documents[0])?).await?;
    let (d, s) = take();
    rows.push(("notify", d, s));
    let reason = "viaje".to_owned();
    use_cases::cancel(&services, &admin, &PERU, &id(documents[1])?, reason).await?;
    let (d, s) = take();
    rows.push((
        "cancel an assigned one (frees the slot; its email leaves from the history stream)",
        d,
        s,
    ));
    // A visit is completed once it has started (the slots are on 2026-12-07 and 08).
    clock.set("2026-12-09T15:00:00Z".parse()?);
    use_cases::complete(&services, &admin, &PERU, &id(documents[0])?).await?;
    let (d, s) = take();
    rows.push(("complete", d, s));

    println!("## AWS calls per operation\n");
    println!(
        "Counted by an SDK interceptor (`citas_aws::OperationCounter`) on moto, one call of each \
         use case as the functions run it. `scripts/test` holds the same budgets in \
         tests/tests/budget.rs.\n"
    );
    println!("| use case | DynamoDB | SQS |\n|---|---|---|");
    let mut scans = 0;
    for (name, dynamodb, sqs) in &rows {
        scans += dynamodb.get("Scan").copied().unwrap_or(0);
        println!("| {name} | {} | {} |", summary(dynamodb), summary(sqs));
    }
    println!(
        "\nScans: {scans}. Every request path is a GetItem, a Query on a key or an index, or a \
         conditional write."
    );
    Ok(())
}
