//! `citas`: run the API locally, or write seed files of doctors' slots.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use citas_domain::{Country, DoctorDocument, DoctorId, Role, SlotHorizon};
use citas_local::auth::{TokenAuthority, TokenRequest};
use citas_local::seed::{SlotPlan, plan_slots, require_seeded_doctors, write_slot_files};
use citas_local::server::AwsTarget;
use citas_local::{LocalConfig, start};
use citas_provision::Variables;
use clap::{Parser, Subcommand};
use jiff::civil::{Date, Time, Weekday};

#[derive(Parser)]
#[command(
    name = "citas",
    version,
    about = "Medical appointments API (Peru, Chile): local server and tools"
)]
struct Cli {
    /// Log as JSON lines (as in Lambda) instead of text.
    #[arg(long, global = true)]
    json_logs: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole API on this machine with the embedded store.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Where the store, and the notifications it enqueues, live.
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
        /// Batch-write-item files loaded into an empty store on first start.
        #[arg(long, default_value = default_seed_dir())]
        seed_dir: PathBuf,
        /// Use the AWS adapters against this AWS-compatible endpoint (moto,
        /// DynamoDB Local) instead of the embedded store; missing tables and
        /// queues are created from template.yaml first.
        #[arg(long, value_name = "URL")]
        aws_endpoint: Option<String>,
        /// template.yaml's TablePrefix parameter on that endpoint.
        #[arg(long, default_value = "", requires = "aws_endpoint")]
        table_prefix: String,
        /// Local hour (0-23, in each country's time zone) at which the next
        /// day's reminders go out, as the deployed schedules do.
        #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(i8).range(0..=23))]
        reminder_hour: i8,
        /// How many local days ahead working plans' slots are generated (1-366).
        #[arg(long, default_value_t = SlotHorizon::DEFAULT_DAYS, value_parser = parse_horizon)]
        slot_horizon_days: u16,
        /// Seconds a client may take to send a request's headers, and then its
        /// body (1-300); past them the answer is 408 or the connection is closed.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
        read_timeout_secs: u64,
        /// A browser origin that may call the API (repeat for more; by default
        /// http://localhost:5173, http://127.0.0.1:5173 and the same on port 3000).
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// The Jitsi server virtual visits meet on.
        #[arg(long, default_value = citas_domain::meeting::DEFAULT_JITSI_SERVER, value_name = "URL",
              value_parser = citas_domain::meeting::parse_jitsi_server)]
        jitsi_server: String,
        /// The frontend's join page that emails of virtual visits link to,
        /// `{room}` standing for the room (by default the Jitsi room itself).
        #[arg(long, value_name = "URL", value_parser = citas_domain::meeting::parse_join_page)]
        join_page: Option<String>,
    },
    /// Make a running local server send the reminders of a local day's appointments.
    Remind {
        /// The local server, e.g. http://127.0.0.1:3000.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        server: String,
        /// The country's code, e.g. pe.
        #[arg(long, value_parser = parse_country)]
        country: &'static Country,
        /// The local day whose appointments are reminded, YYYY-MM-DD.
        #[arg(long)]
        date: Date,
        /// The server's data directory: an admin token of the country is signed with its secret.
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
    },
    /// Send a country's dead-lettered notifications (`<data dir>/dead-letter.jsonl`)
    /// back to a running local server's queue.
    Redrive {
        /// The local server, e.g. http://127.0.0.1:3000.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        server: String,
        /// The country's code, e.g. pe.
        #[arg(long, value_parser = parse_country)]
        country: &'static Country,
        /// The server's data directory: an admin token of the country is signed with its secret.
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
    },
    /// Print a bearer token the local server accepts (what Cognito issues in AWS).
    Token {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The country's code (e.g. pe): the only country the token may act in.
        #[arg(long, value_parser = parse_country)]
        country: &'static Country,
        /// The patient's document, or the doctor's; required for those roles.
        #[arg(long)]
        document: Option<String>,
        /// How long the token is valid, e.g. 1h, 30m, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: jiff::SignedDuration,
        /// The server's data directory, whose secret signs the token.
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
    },
    /// Write batch-write-item files (≤ 25 items each) of available slots.
    Slots {
        /// Doctor id, `{country}-{speciality}-{document}`; repeat for several.
        #[arg(long = "doctor", required = true, value_parser = parse_doctor)]
        doctors: Vec<DoctorId>,
        /// First local date, YYYY-MM-DD.
        #[arg(long)]
        from: Date,
        /// Last local date, YYYY-MM-DD (inclusive).
        #[arg(long)]
        to: Date,
        /// Local times, comma-separated HH:MM.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "09:00,10:00,11:00,15:00,16:00"
        )]
        times: Vec<Time>,
        /// Days of the week, comma-separated (mon,tue,…).
        #[arg(long, value_delimiter = ',', default_value = "mon,tue,wed,thu,fri", value_parser = parse_weekday)]
        weekdays: Vec<Weekday>,
        /// Length of each slot in minutes.
        #[arg(long, default_value_t = 30)]
        minutes: u16,
        /// Where the files go; its seed files must register the doctors.
        #[arg(long, default_value = "seed")]
        out_dir: PathBuf,
        /// File name prefix: `<name>-001.json`, …
        #[arg(long, default_value = "slots")]
        name: String,
    },
}

fn default_seed_dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../seed")
}

fn parse_doctor(raw: &str) -> Result<DoctorId, String> {
    DoctorId::parse(raw).map_err(|e| e.to_string())
}

fn parse_horizon(raw: &str) -> Result<u16, String> {
    SlotHorizon::parse(raw).map(SlotHorizon::get)
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("'{raw}' is not a role: patient, doctor or admin"))
}

/// The document a token of `role` carries: a patient's follows the country's
/// rules; a doctor's is their professional registry number (seed 000's
/// `9999234`, digits), never a RUT or a DNI; an admin needs none.
fn token_document(
    role: Role,
    country: &Country,
    document: Option<String>,
) -> Result<Option<String>, String> {
    match (role, document) {
        (Role::Admin, document) => Ok(document),
        (_, None) => Err(format!("a {} token needs --document", role.as_str())),
        (Role::Patient, Some(raw)) => country
            .parse_document(&raw)
            .map(|d| Some(d.into_string()))
            .map_err(|e| format!("--document: {e}")),
        (Role::Doctor, Some(raw)) => DoctorDocument::parse(&raw)
            .map(|d| Some(d.to_string()))
            .map_err(|e| format!("--document: {e}")),
    }
}

fn parse_country(raw: &str) -> Result<&'static Country, String> {
    Country::from_code(raw).map_err(|e| e.to_string())
}

fn parse_ttl(raw: &str) -> Result<jiff::SignedDuration, String> {
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration like 30m, 1h or 7d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("'{raw}' is not a duration like 30m, 1h or 7d")),
    };
    if !(60..=30 * 86_400).contains(&seconds) {
        return Err("a token lives from 1 minute to 30 days".into());
    }
    Ok(jiff::SignedDuration::from_secs(seconds))
}

fn parse_weekday(raw: &str) -> Result<Weekday, String> {
    Ok(match raw.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        other => return Err(format!("'{other}' is not a day of the week")),
    })
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.json_logs);
    match cli.command {
        Command::Serve {
            addr,
            data_dir,
            seed_dir,
            aws_endpoint,
            table_prefix,
            reminder_hour,
            slot_horizon_days,
            read_timeout_secs,
            cors_origins,
            jitsi_server,
            join_page,
        } => {
            let mut config = LocalConfig::new(addr, data_dir);
            config.reminder_hour = Some(reminder_hour);
            config.slot_horizon = SlotHorizon::days(slot_horizon_days).unwrap_or_default();
            config.read_timeout = std::time::Duration::from_secs(read_timeout_secs);
            config.jitsi_server = jitsi_server;
            config.join_page = join_page;
            if !cors_origins.is_empty() {
                config.cors_origins = cors_origins;
            }
            config.seed_dir = seed_dir.is_dir().then_some(seed_dir);
            config.aws = aws_endpoint.map(|endpoint| AwsTarget {
                endpoint,
                variables: Variables {
                    table_prefix,
                    ..Variables::default()
                },
            });
            let server = match start(config).await {
                Ok(server) => server,
                Err(error) => {
                    eprintln!("citas: {error}");
                    return ExitCode::FAILURE;
                }
            };
            println!("citas listening on http://{}", server.addr);
            tokio::select! {
                _ = tokio::signal::ctrl_c() => server.stop().await,
            }
            ExitCode::SUCCESS
        }
        Command::Token {
            role,
            country,
            document,
            ttl,
            data_dir,
        } => {
            let document = match token_document(role, country, document) {
                Ok(document) => document,
                Err(error) => {
                    eprintln!("citas: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let request = TokenRequest {
                role,
                country,
                document,
                ttl,
            };
            match TokenAuthority::open(&data_dir).and_then(|a| a.mint(&request)) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("citas: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Remind {
            server,
            country,
            date,
            data_dir,
        } => {
            let body = serde_json::json!({ "country": country.code, "date": date });
            as_admin(
                &server,
                citas_local::reminders::LOCAL_REMIND_PATH,
                country.code,
                &data_dir,
                body,
            )
            .await
        }
        Command::Redrive {
            server,
            country,
            data_dir,
        } => {
            let body = serde_json::json!({ "country": country.code });
            as_admin(
                &server,
                citas_local::redrive::LOCAL_REDRIVE_PATH,
                country.code,
                &data_dir,
                body,
            )
            .await
        }
        Command::Slots {
            doctors,
            from,
            to,
            times,
            weekdays,
            minutes,
            out_dir,
            name,
        } => {
            let plan = SlotPlan {
                doctors,
                from,
                to,
                times,
                weekdays,
                minutes,
            };
            let written = require_seeded_doctors(&out_dir, &plan.doctors)
                .and_then(|()| plan_slots(&plan))
                .and_then(|slots| write_slot_files(&slots, &out_dir, &name));
            match written {
                Ok(paths) => {
                    for path in paths {
                        println!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("citas: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Posts `body` to a running local server's local-only `path` with an admin
/// token of `country` signed by the data directory's secret; prints the answer.
async fn as_admin(
    server: &str,
    path: &str,
    country: &str,
    data_dir: &std::path::Path,
    body: serde_json::Value,
) -> ExitCode {
    let token = Country::from_code(country)
        .map_err(|e| e.to_string())
        .and_then(|country| {
            TokenAuthority::open(data_dir)
                .and_then(|authority| {
                    authority.mint(&TokenRequest {
                        role: Role::Admin,
                        country,
                        document: None,
                        ttl: jiff::SignedDuration::from_mins(5),
                    })
                })
                .map_err(|e| e.to_string())
        });
    let token = match token {
        Ok(token) => token,
        Err(error) => {
            eprintln!("citas: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}{path}", server.trim_end_matches('/'));
    match reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
    {
        Ok(response) => {
            let ok = response.status().is_success();
            println!("{}", response.text().await.unwrap_or_default());
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("citas: {url}: {error}");
            ExitCode::FAILURE
        }
    }
}
