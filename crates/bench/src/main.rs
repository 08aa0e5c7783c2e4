//! `citas-bench`: the measurements behind docs/BENCHMARKS.md. Each subcommand
//! prints a Markdown section; `scripts/bench` runs them on a release build and
//! writes the report. Not part of the tests: figures are measured, not asserted.

mod calls;
mod cost;
mod functions;
mod handlers;
mod peak;
mod scheduling;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use citas_aws::{
    DynamoIdempotency, DynamoStore, OperationCounter, SesMailer, SqsQueue, TableNames,
};
use citas_domain::appointment::notification::key;
use citas_domain::{
    Appointment, Clock, EmailAddress, IdempotencyStore, Mailer, ManualClock, Notification,
    NotificationKind, PERU, Patient, Services, SlotId, Store, testkit,
};
use citas_embedded::EmbeddedStore;
use citas_embedded::outbox::OutboxMailer;
use citas_notify::EmailPipeline;
use citas_provision::template::Variables;
use clap::{Parser, Subcommand};
use futures::stream::{self, StreamExt};
use jiff::Timestamp;

#[derive(Parser)]
#[command(about = "Measurements for docs/BENCHMARKS.md")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The email function's throughput per SQS batch of 10, on the embedded
    /// pipeline and on moto, and the reminder job for one busy day on moto.
    Notifications {
        /// A moto server (`scripts/moto_server.py`).
        #[arg(long)]
        moto_endpoint: String,
        /// Messages through the email function on each backend.
        #[arg(long, default_value_t = 500)]
        messages: u32,
        /// Assigned appointments on the reminded day.
        #[arg(long, default_value_t = 2500)]
        reminders: u32,
    },
    /// Cold start and peak RSS of each function's release binary, and of the
    /// Node.js 20 peer, under a local Lambda Runtime API with moto behind it.
    Functions {
        #[arg(long)]
        moto_endpoint: String,
        /// Fresh processes per function.
        #[arg(long, default_value_t = 10)]
        runs: u32,
        /// Requests one process answers before its peak RSS is read.
        #[arg(long, default_value_t = 1000)]
        requests: u32,
        /// The Node.js peer (bench/node, with its node_modules installed).
        #[arg(long)]
        node_dir: std::path::PathBuf,
        /// Where to write each function's warm median duration (JSON), for `cost`.
        #[arg(long)]
        durations_out: Option<std::path::PathBuf>,
        /// Measure only the rows named by one of these (comma-separated), or whose
        /// name is one and a space and more: `create-appointment,floor-create-appointment,floor`
        /// is create-appointment and the floor, each with its `/health` row.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// What one million appointment lifecycles cost on AWS (us-east-1,
    /// on-demand prices), from the counted requests of one lifecycle and the
    /// warm durations `functions` measured.
    Cost {
        /// The JSON `functions --durations-out` wrote.
        #[arg(long)]
        durations: std::path::PathBuf,
        /// Lifecycles replayed to count DynamoDB capacity units.
        #[arg(long, default_value_t = 200)]
        lifecycles: u32,
    },
    /// DynamoDB and SQS calls per use case, on moto.
    Calls {
        #[arg(long)]
        moto_endpoint: String,
    },
    /// Slot search and auto-assignment against the number of doctors (calls on
    /// moto), and the time to turn a working plan into slots.
    Scheduling {
        #[arg(long)]
        moto_endpoint: String,
    },
    /// A simulated peak through the store, counting the DynamoDB partition of
    /// every read and write per second.
    Peak {
        #[arg(long, default_value_t = 20_000)]
        patients: u32,
        /// Seconds over which the patients arrive.
        #[arg(long, default_value_t = 600)]
        window: i64,
        #[arg(long, default_value_t = 20)]
        popular: u32,
    },
    /// Per-request latency and CPU time of each HTTP handler on the embedded
    /// store, in process (no network): the Lambda's own overhead.
    Handlers {
        #[arg(long, default_value_t = 5000)]
        iterations: u32,
    },
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Command::Notifications {
            moto_endpoint,
            messages,
            reminders,
        } => notifications(&moto_endpoint, messages, reminders).await,
        Command::Functions {
            moto_endpoint,
            runs,
            requests,
            node_dir,
            durations_out,
            only,
        } => {
            functions_report(
                &moto_endpoint,
                runs,
                requests,
                &node_dir,
                durations_out.as_deref(),
                &only,
            )
            .await
        }
        Command::Cost {
            durations,
            lifecycles,
        } => cost::report(&durations, lifecycles).await,
        Command::Handlers { iterations } => handlers::report(iterations).await,
        Command::Calls { moto_endpoint } => calls::report(&moto_endpoint).await,
        Command::Scheduling { moto_endpoint } => scheduling::report(&moto_endpoint).await,
        Command::Peak {
            patients,
            window,
            popular,
        } => peak::peak(patients, window, popular).await,
    }
}

/// 2026-11-22 10:00 in Lima; the appointments are on 2026-12-07.
const NOW: &str = "2026-11-22T15:00:00Z";

fn timestamp(text: &str) -> Result<Timestamp, Error> {
    Ok(text.parse()?)
}

/// Patient `n` and their appointment, assigned at `starts_at`.
fn patient_and_appointment(n: u32, starts_at: Timestamp) -> Result<(Patient, Appointment), Error> {
    let document = format!("{}", 60_000_000 + n);
    let doctor = testkit::doctor_id(&PERU, "cardiologia", "40000001");
    let appointment = testkit::appointment(&PERU, &document)
        .created_at(NOW)
        .patient_name(&format!("Paciente {n}"))
        .assigned(&SlotId::new(doctor, starts_at))
        .build();
    let patient = Patient {
        email: Some(EmailAddress::parse(&format!("paciente{n}@example.pe"))?),
        name: format!("Paciente {n}"),
        ..testkit::patient(&PERU, &document)
    };
    Ok((patient, appointment))
}

/// Writes `count` patients and assigned appointments, eight requests at a time.
async fn populate(store: &Arc<dyn Store>, count: u32, with_patients: bool) -> Result<(), Error> {
    let start = timestamp("2026-12-07T13:00:00Z")?;
    let results: Vec<Result<(), Error>> = stream::iter(0..count)
        .map(|n| {
            let store = store.clone();
            async move {
                let (patient, appointment) = patient_and_appointment(
                    n,
                    start + jiff::SignedDuration::from_secs(i64::from(n) * 20),
                )?;
                if with_patients {
                    store.upsert_patient(&PERU, &patient).await?;
                }
                store.insert_appointment(&appointment).await?;
                Ok(())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// SQS events of 10 assignment messages each, as Lambda delivers them.
fn batches(count: u32) -> Result<Vec<SqsEvent>, Error> {
    let mut events = Vec::new();
    let mut event = SqsEvent::default();
    for n in 0..count {
        let (_, appointment) = patient_and_appointment(n, timestamp("2026-12-07T13:00:00Z")?)?;
        let message = Notification::about(
            &appointment,
            NotificationKind::Assigned,
            key::change(
                &appointment.id,
                NotificationKind::Assigned,
                appointment.revision,
                appointment.updated_at,
            ),
        );
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("bench-{n}"));
        record.body = Some(message.to_json());
        event.records.push(record);
        if event.records.len() == 10 {
            events.push(std::mem::take(&mut event));
        }
    }
    if !event.records.is_empty() {
        events.push(event);
    }
    Ok(events)
}

struct Throughput {
    messages: usize,
    batches: Vec<Duration>,
    total: Duration,
}

impl Throughput {
    fn row(&self, backend: &str) -> String {
        let mut sorted = self.batches.clone();
        sorted.sort();
        let percentile = |p: f64| {
            let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted.get(index).copied().unwrap_or_default()
        };
        format!(
            "| {backend} | {} | {} | {:.0} | {:.1} | {:.1} |",
            self.messages,
            self.batches.len(),
            self.messages as f64 / self.total.as_secs_f64(),
            percentile(0.5).as_secs_f64() * 1000.0,
            percentile(0.99).as_secs_f64() * 1000.0,
        )
    }
}

/// The email function's handler over every batch, one batch at a time (as one Lambda instance).
async fn drive(pipeline: &EmailPipeline, events: Vec<SqsEvent>) -> Result<Throughput, Error> {
    let messages = events.iter().map(|e| e.records.len()).sum();
    let mut batches = Vec::new();
    let started = Instant::now();
    for event in events {
        let began = Instant::now();
        let response = citas_lambda::jobs::send_emails(pipeline, event).await;
        batches.push(began.elapsed());
        if !response.batch_item_failures.is_empty() {
            return Err(format!("{} records failed", response.batch_item_failures.len()).into());
        }
    }
    Ok(Throughput {
        messages,
        batches,
        total: started.elapsed(),
    })
}

async fn notifications(endpoint: &str, messages: u32, reminders: u32) -> Result<(), Error> {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(timestamp(NOW)?));

    // The embedded pipeline: redb store and idempotency records, .eml outbox.
    let dir = tempfile::tempdir()?;
    let embedded = Arc::new(EmbeddedStore::open(dir.path())?);
    let store: Arc<dyn Store> = embedded.clone();
    populate(&store, messages, true).await?;
    let local = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store,
        idempotency: embedded,
        mailer: Arc::new(OutboxMailer::new(dir.path().join("outbox"))),
        clock: clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_embedded::queue::DeadLetterFile::new(dir.path())),
    };
    let embedded_run = drive(&local, batches(messages)?).await?;

    // moto: DynamoDB store and idempotency table, SES v2, on fresh tables.
    let suffix = Timestamp::now().as_millisecond() % 10_000_000;
    let variables = Variables {
        table_prefix: format!("bench{suffix}-"),
        stack_name: format!("bench{suffix}"),
        ..Variables::default()
    };
    let sdk = citas_provision::sdk_config(endpoint).await;
    let prepared = citas_provision::prepare(&sdk, &variables).await?;
    let tables = TableNames::new(variables.table_prefix.clone());
    let dynamodb_calls = OperationCounter::default();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(dynamodb_calls.clone())
            .build(),
    );
    let sqs_calls = OperationCounter::default();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(sqs_calls.clone())
            .build(),
    );
    let sender = format!("bench{suffix}@example.com");
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity(&sender)
        .send()
        .await?;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(dynamodb.clone(), tables.clone()));
    populate(&store, messages, true).await?;
    let idempotency: Arc<dyn IdempotencyStore> =
        Arc::new(DynamoIdempotency::new(dynamodb.clone(), &tables));
    let mailer: Arc<dyn Mailer> = Arc::new(SesMailer::new(ses, sender, None));
    let on_moto = EmailPipeline {
        meetings: citas_domain::testkit::jitsi_rooms(),
        calendar_key: citas_notify::CalendarKey::new(&[7; 32]).expect("a 32-byte key"),
        store: store.clone(),
        idempotency,
        mailer,
        clock: clock.clone(),
        claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
        dead_letters: Arc::new(citas_aws::SqsQueue::new(
            sqs.clone(),
            prepared.dead_letter_urls.clone(),
        )),
    };
    dynamodb_calls.take();
    let moto_run = drive(&on_moto, batches(messages)?).await?;
    let calls_per_message = dynamodb_calls.take();

    // The reminder job for one day with `reminders` appointments (fresh tables: only they are on it).
    let day_variables = Variables {
        table_prefix: format!("bench{suffix}r-"),
        stack_name: format!("bench{suffix}r"),
        ..Variables::default()
    };
    citas_provision::prepare(&sdk, &day_variables).await?;
    let day_store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        dynamodb.clone(),
        TableNames::new(day_variables.table_prefix.clone()),
    ));
    populate(&day_store, reminders, false).await?;
    let services = Services {
        meetings: citas_domain::testkit::jitsi_rooms(),
        store: day_store,
        queue: Arc::new(SqsQueue::new(sqs, prepared.queue_urls.clone())),
        clock,
        horizon: Default::default(),
        verifier: std::sync::Arc::new(citas_domain::testkit::RecordingVerifier::default()),
    };
    dynamodb_calls.take();
    sqs_calls.take();
    let started = Instant::now();
    let report = citas_notify::remind(&services, &PERU, jiff::civil::date(2026, 12, 7)).await?;
    let reminder_time = started.elapsed();
    let reminder_dynamodb = dynamodb_calls.take();
    let reminder_sqs = sqs_calls.take();

    println!("## Notifications\n");
    println!(
        "The email function's handler (`citas_lambda::jobs::send_emails`, as the `send-email` \
         Lambda runs it) over SQS batches of 10 assignment messages, one batch at a time as one \
         Lambda instance would: each record loads the appointment, patient and doctor, takes and \
         completes an idempotency record, renders the email with its invitation and sends it.\n"
    );
    println!("| pipeline | messages | batches | messages/s | batch p50 (ms) | batch p99 (ms) |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "{}",
        embedded_run.row("embedded (redb store and idempotency, .eml outbox)")
    );
    println!(
        "{}",
        moto_run.row("AWS adapters on moto (DynamoDB, DynamoDB idempotency, SES v2)")
    );
    let total: usize = calls_per_message.values().sum();
    println!(
        "\nDynamoDB calls per message on moto: {:.1} ({}).\n",
        total as f64 / moto_run.messages as f64,
        calls_summary(&calls_per_message)
    );
    println!(
        "The reminder job (`citas_notify::remind`) for a day with {} assigned appointments in Peru, \
         on moto: {} enqueued, {} failed, in {:.2} s.\n",
        report.appointments,
        report.enqueued,
        report.failed,
        reminder_time.as_secs_f64()
    );
    println!("| service | calls |\n|---|---|");
    println!("| DynamoDB | {} |", calls_summary(&reminder_dynamodb));
    println!("| SQS | {} |", calls_summary(&reminder_sqs));
    println!(
        "\nNo `Scan`: {}.",
        if reminder_dynamodb.contains_key("Scan") || calls_per_message.contains_key("Scan") {
            "**a Scan was sent**"
        } else {
            "none was sent"
        }
    );
    Ok(())
}

fn calls_summary(calls: &std::collections::BTreeMap<String, usize>) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls
        .iter()
        .map(|(operation, count)| format!("{count} {operation}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn functions_report(
    endpoint: &str,
    runs: u32,
    requests: u32,
    node_dir: &std::path::Path,
    durations_out: Option<&std::path::Path>,
    only: &[String],
) -> Result<(), Error> {
    let per_subject = runs + requests;
    let mut subjects = functions::subjects(&functions::release_dir(), node_dir, per_subject)?;
    if !only.is_empty() {
        subjects.retain(|subject| {
            only.iter()
                .any(|name| subject.name == *name || subject.name.starts_with(&format!("{name} ")))
        });
        if subjects.is_empty() {
            return Err(format!("--only {} names no row", only.join(",")).into());
        }
        if durations_out.is_some() {
            return Err(
                "--durations-out needs every row (cost reads them all): drop --only".into(),
            );
        }
    }
    let environment =
        functions::prepare(endpoint, functions::patients_needed(&subjects, per_subject)).await?;
    let rows = functions::measure_all(&subjects, &environment, runs, requests).await?;
    println!("## Cold start and memory of each function\n");
    println!(
        "Each function's release binary (this machine's architecture) started as Lambda starts \
         `bootstrap`: a fresh process under a local Lambda Runtime API (crates/emulator), \
         configured by environment variables, moto behind it. Cold start is the time from \
         spawning the process to its first response, that first request's AWS calls included \
         ({runs} fresh processes each). Peak RSS is the process's high-water mark (VmHWM) \
         after {requests} more requests. The events are the fixtures in tests/fixtures \
         (create-appointment: a new patient each time). The Node.js 20 peer (bench/node: \
         `@aws-sdk/client-dynamodb` v3, the same GetItem and conditional PutItem as \
         create-appointment, a minimal Runtime API loop) runs the same way, in the same run. \
         The floor (bench/floor, built on its own with the same release profile) is the \
         smallest Rust function that does create-appointment's work: aws-config's defaults, \
         one DynamoDB client, the GetItem and the conditional PutItem, lambda_runtime, and \
         nothing else (no logs, metrics, settings, breakers or routing). Each function's cold \
         start is also shown divided by the floor's. The two `/health` rows are \
         create-appointment and the floor answering an event for which neither calls AWS \
         (create-appointment does not serve `/health`: its answer is a 404 problem): their \
         init alone. The floor's item has the appointment's identity, patient and status but \
         not the index attributes create-appointment writes, so it is a little smaller. Cold starts are taken in turns, one of each row and then the next \
         round, so that the machine's drift over the run touches every row alike.\n"
    );
    println!(
        "Warm is each later request's time from handing the event to the runtime API to the \
         answer, moto's round trips included (median and p99 of {} requests).\n",
        requests.saturating_sub(1)
    );
    println!(
        "| function | cold start median (ms) | ÷ floor | min | max | warm median (ms) | warm p99 (ms) | peak RSS (MiB) | answers |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let cold_median = |name: &str| {
        rows.iter()
            .find(|row| row.name == name)
            .map(|row| functions::median(&row.cold_ms))
    };
    // Without the floor's row (`--only`), there is nothing to divide by.
    let floor = cold_median(functions::FLOOR);
    for row in &rows {
        let min = row.cold_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = row.cold_ms.iter().copied().fold(0.0, f64::max);
        let median = functions::median(&row.cold_ms);
        println!(
            "| {} | {:.1} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {} |",
            row.name,
            median,
            floor.map_or("–".to_owned(), |floor| format!("{:.2}", median / floor)),
            min,
            max,
            functions::median(&row.warm_ms),
            functions::quantile(&row.warm_ms, 0.99),
            row.peak_rss_kib as f64 / 1024.0,
            row.statuses
        );
    }
    if let Some(path) = durations_out {
        let durations: std::collections::BTreeMap<&str, f64> = rows
            .iter()
            .map(|row| (row.name.as_str(), functions::median(&row.warm_ms)))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&durations)?)?;
    }
    if let (Some(create), Some(floor), Some(create_init), Some(floor_init)) = (
        cold_median("create-appointment"),
        floor,
        cold_median(functions::CREATE_INIT),
        cold_median(functions::FLOOR_INIT),
    ) {
        println!(
            "\nCold start, create-appointment ÷ the floor (medians, same run): **{:.2}×**; \
             init alone (the `/health` rows), create-appointment's minus the floor's: {:+.1} ms.",
            create / floor,
            create_init - floor_init
        );
    }
    let rust = rows.iter().find(|r| r.name == "create-appointment");
    let node = rows.iter().find(|r| r.name == functions::NODE_PEER);
    if let (Some(rust), Some(node)) = (rust, node) {
        println!(
            "\nCold start, Node.js 20 peer ÷ Rust create-appointment (medians, same run): **{:.1}×**; \
             peak RSS ratio {:.1}×.",
            functions::median(&node.cold_ms) / functions::median(&rust.cold_ms),
            node.peak_rss_kib as f64 / rust.peak_rss_kib.max(1) as f64
        );
    }
    Ok(())
}
