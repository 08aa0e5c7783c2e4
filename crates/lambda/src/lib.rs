//! What every citas Lambda function does: JSON logs, settings from the
//! environment, AWS clients built once (at init, or at first use for the few
//! that most functions never call: `lazy`), and the
//! table of which HTTP actions each function serves.

pub mod cognito;
pub mod jobs;
pub mod lazy;

use std::sync::Arc;

use citas_api::Action;
use citas_aws::ChimeMeetings;
use citas_aws::{
    AwsSettings, Breakers, CallRecorder, DynamoIdempotency, DynamoStore, SesMailer, SqsQueue,
    XrayInterceptor,
};
use citas_domain::meeting::{JitsiRooms, MeetingProvider};
use citas_domain::ports::{Meetings, NotificationQueue};
use citas_domain::verification::Verifier;
use citas_domain::{Clock, Services, SystemClock};
use lambda_http::{Body, Error, Request, Response};

/// The HTTP actions each API function serves; template.yaml routes exactly these to it.
pub mod functions {
    use citas_api::Action;

    pub const REGISTER_PATIENT: &[Action] = &[
        Action::UpsertPatient,
        Action::GetPatient,
        Action::ExportPatient,
        Action::ErasePatient,
        Action::ResendVerification,
        Action::VerifyEmail,
    ];
    pub const CREATE_APPOINTMENT: &[Action] = &[Action::CreateAppointment];
    pub const QUERY_APPOINTMENTS: &[Action] = &[
        Action::Health,
        Action::GetAppointment,
        Action::ListAppointments,
        Action::AppointmentHistory,
    ];
    pub const ASSIGN_APPOINTMENT: &[Action] =
        &[Action::AssignAppointment, Action::RescheduleAppointment];
    pub const NOTIFY_APPOINTMENT: &[Action] = &[Action::NotifyAppointment];
    /// Entering a virtual visit's meeting: the only function with Chime's permissions.
    pub const JOIN_APPOINTMENT: &[Action] = &[Action::JoinAppointment];
    pub const CLOSE_APPOINTMENT: &[Action] = &[
        Action::ConfirmAppointment,
        Action::RefuseAppointment,
        Action::CompleteAppointment,
        Action::NoShowAppointment,
        Action::CancelAppointment,
        Action::ReviewAppointment,
    ];
    /// The doctor's and the staff's writes: doctors, working plans, slots taken out, reviews hidden.
    pub const MANAGE_DOCTORS: &[Action] = &[
        Action::UpsertDoctor,
        Action::SetAvailability,
        Action::RemoveSlot,
        Action::HideReview,
    ];
    /// Reading the schedule: specialities, doctors, plans, agendas, free slots.
    pub const BROWSE_SCHEDULE: &[Action] = &[
        Action::ListSpecialities,
        Action::ListDoctors,
        Action::GetDoctor,
        Action::DoctorReviews,
        Action::GetAvailability,
        Action::GetAgenda,
        Action::SearchSlots,
        Action::FreeDays,
        Action::WhoAmI,
    ];

    /// Binary name (template.yaml's `BuildProperties.Binary`) → actions.
    pub const HTTP: &[(&str, &[Action])] = &[
        ("register-patient", REGISTER_PATIENT),
        ("create-appointment", CREATE_APPOINTMENT),
        ("query-appointments", QUERY_APPOINTMENTS),
        ("assign-appointment", ASSIGN_APPOINTMENT),
        ("notify-appointment", NOTIFY_APPOINTMENT),
        ("close-appointment", CLOSE_APPOINTMENT),
        ("join-appointment", JOIN_APPOINTMENT),
        ("manage-doctors", MANAGE_DOCTORS),
        ("browse-schedule", BROWSE_SCHEDULE),
    ];
}

/// Starts the Lambda runtime with a handler of events, flushing the
/// invocation's metrics after each (the runtime's tracing span names the
/// request and trace ids).
pub use metrics_cloudwatch_embedded::lambda::handler::{run, run_http};

/// The join page emails of virtual visits link to when `JOIN_PAGE_URL` is
/// unset on Chime (template.yaml always sets it).
pub const DEFAULT_JOIN_PAGE: &str = "https://citas.example/consulta/{room}";

/// The namespace of the service's metrics when `METRICS_NAMESPACE` is unset
/// (template.yaml sets one per stack).
pub const METRICS_NAMESPACE: &str = "Citas";
/// The dimension naming the function (its binary) on every metric.
pub const FUNCTION_DIMENSION: &str = "function";

/// Logs and metrics of a function instance, once at init: JSON log lines
/// and business counters in CloudWatch's embedded metric format, written to
/// standard output after each invocation (no network call), with the
/// function's name as a dimension, the request and X-Ray trace ids as
/// properties, and one cold start counted per instance.
pub fn init_telemetry(
    function: &'static str,
) -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    init_logging();
    let namespace =
        std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| METRICS_NAMESPACE.to_owned());
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(FUNCTION_DIMENSION, function)
        .lambda_cold_start_metric(citas_domain::metrics::COLD_STARTS)
        .with_lambda_request_id("requestId")
        .with_lambda_xray_trace_id("xrayTraceId")
        .init()
        .map_err(|error| Error::from(error.to_string()))
}

/// JSON log lines (Lambda's JSON log format keeps them searchable); levels
/// from `RUST_LOG` as `info` or `citas_notify=debug,warn`. (A `Targets`
/// filter, not `EnvFilter`, which brings a regex engine into every zip.)
/// Each line lists its spans, the first being the runtime's invocation span
/// with `requestId` and `xrayTraceId`.
pub fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .init();
}

/// The composition root of the AWS adapters: the SDK configuration, the
/// deployment's settings, the clock and the instance's circuit breakers, from
/// which every function (and `citas serve --aws-endpoint`) builds its clients once.
#[derive(Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub settings: AwsSettings,
    pub clock: Arc<dyn Clock>,
    pub breakers: Breakers,
    /// Records each SDK call as an X-Ray subsegment where a daemon listens
    /// (in Lambda with active tracing); `None` elsewhere.
    pub xray: Option<XrayInterceptor>,
    /// Records what each SDK call names, for the test that holds the
    /// functions' IAM policies to their calls; `None` when deployed.
    pub recorder: Option<CallRecorder>,
}

/// A required setting is missing: the function cannot start.
#[derive(Debug, thiserror::Error)]
#[error("the environment variable {0} must be set")]
pub struct MissingSetting(pub &'static str);

impl Aws {
    /// A deployed function's: the standard AWS variables and template.yaml's environment.
    pub async fn from_env() -> Self {
        Self {
            sdk: citas_aws::sdk::config_loader().load().await,
            settings: AwsSettings::from_env(),
            clock: Arc::new(SystemClock),
            breakers: Breakers::default(),
            xray: XrayInterceptor::from_env(),
            recorder: None,
        }
    }

    /// A user pool trigger's: as [`Aws::from_env`], with calls that give up
    /// within Cognito's 5 s.
    pub async fn for_trigger() -> Self {
        let mut aws = Self::from_env().await;
        aws.sdk = aws
            .sdk
            .into_builder()
            .timeout_config(citas_aws::sdk::trigger_timeouts())
            .build();
        aws
    }

    /// A DynamoDB client behind the instance's DynamoDB circuit breaker, traced.
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .interceptor(self.breakers.dynamodb.clone());
        if let Some(xray) = &self.xray {
            config = config.interceptor(xray.clone());
        }
        if let Some(recorder) = &self.recorder {
            config = config.interceptor(recorder.clone());
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    /// An SQS client behind the instance's SQS circuit breaker, traced.
    fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut config =
            aws_sdk_sqs::config::Builder::from(&self.sdk).interceptor(self.breakers.sqs.clone());
        if let Some(xray) = &self.xray {
            config = config.interceptor(xray.clone());
        }
        if let Some(recorder) = &self.recorder {
            config = config.interceptor(recorder.clone());
        }
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    /// An SES v2 client behind the instance's SES circuit breaker, traced.
    fn ses(&self) -> aws_sdk_sesv2::Client {
        let mut config =
            aws_sdk_sesv2::config::Builder::from(&self.sdk).interceptor(self.breakers.ses.clone());
        if let Some(xray) = &self.xray {
            config = config.interceptor(xray.clone());
        }
        if let Some(recorder) = &self.recorder {
            config = config.interceptor(recorder.clone());
        }
        aws_sdk_sesv2::Client::from_conf(config.build())
    }

    /// The user pool's administrator API, traced (only the post
    /// confirmation trigger calls it, once per confirmed sign-up: no breaker).
    pub fn user_directory(&self) -> citas_aws::CognitoDirectory {
        let mut config = aws_sdk_cognitoidentityprovider::config::Builder::from(&self.sdk);
        if let Some(xray) = &self.xray {
            config = config.interceptor(xray.clone());
        }
        if let Some(recorder) = &self.recorder {
            config = config.interceptor(recorder.clone());
        }
        citas_aws::CognitoDirectory::new(aws_sdk_cognitoidentityprovider::Client::from_conf(
            config.build(),
        ))
    }

    pub fn store(&self) -> Arc<DynamoStore> {
        Arc::new(DynamoStore::new(
            self.dynamodb(),
            self.settings.tables.clone(),
        ))
    }

    /// The country notification queues.
    pub fn queue(&self) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::new(self.sqs(), self.settings.queue_urls.clone()))
    }

    /// The meetings of virtual visits, built on first use (only joins, moves
    /// and cancellations of virtual visits, and their emails, need them):
    /// Chime as deployed, or Jitsi rooms by `MEETING_PROVIDER`.
    pub fn meetings(&self) -> Arc<dyn Meetings> {
        let aws = self.clone();
        Arc::new(lazy::OnFirstUse::<dyn Meetings>::new(move || {
            let settings = &aws.settings.meetings;
            match settings.provider {
                MeetingProvider::Chime => Arc::new(ChimeMeetings::new(
                    aws.chime(),
                    settings.chime_media_region.clone(),
                    settings
                        .join_page
                        .clone()
                        .unwrap_or_else(|| DEFAULT_JOIN_PAGE.to_owned()),
                )),
                MeetingProvider::Jitsi => Arc::new(JitsiRooms::new(
                    &settings.jitsi_server,
                    settings.join_page.clone(),
                )),
            }
        }))
    }

    /// A Chime SDK Meetings client, traced.
    fn chime(&self) -> aws_sdk_chimesdkmeetings::Client {
        let mut config = aws_sdk_chimesdkmeetings::config::Builder::from(&self.sdk);
        if let Some(endpoint) = &self.settings.meetings.chime_endpoint {
            config = config.endpoint_url(endpoint);
        }
        if let Some(xray) = &self.xray {
            config = config.interceptor(xray.clone());
        }
        if let Some(recorder) = &self.recorder {
            config = config.interceptor(recorder.clone());
        }
        aws_sdk_chimesdkmeetings::Client::from_conf(config.build())
    }

    /// The use cases' dependencies: DynamoDB, SQS, the verifier's SES. The queue and the
    /// verifier are built on first use: only a few routes need them.
    pub fn services(&self) -> Services {
        let aws = self.clone();
        let queue = lazy::OnFirstUse::<dyn NotificationQueue>::new(move || aws.queue());
        let aws = self.clone();
        let verifier = lazy::OnFirstUse::<dyn Verifier>::new(move || aws.verifier());
        Services {
            meetings: self.meetings(),
            // The API shows recent copies while DynamoDB cannot be reached.
            store: Arc::new(
                DynamoStore::new(self.dynamodb(), self.settings.tables.clone()).remembering_reads(),
            ),
            queue: Arc::new(queue),
            clock: self.clock.clone(),
            horizon: self.settings.slot_horizon,
            verifier: Arc::new(verifier),
        }
    }

    /// Sends verification codes through SES as the configured sender,
    /// counted in the idempotency table.
    fn verifier(&self) -> Arc<dyn Verifier> {
        match &self.settings.ses_sender {
            Some(sender) => Arc::new(citas_notify::MailVerifier::new(
                Arc::new(SesMailer::new(
                    self.ses(),
                    sender.clone(),
                    self.settings.ses_configuration_set.clone(),
                )),
                Arc::new(DynamoIdempotency::new(
                    self.dynamodb(),
                    &self.settings.tables,
                )),
            )),
            None => Arc::new(citas_notify::verify::NoSender),
        }
    }

    /// The email consumer's dependencies: DynamoDB, the idempotency table, SES v2.
    pub fn email_pipeline(&self) -> Result<citas_notify::EmailPipeline, MissingSetting> {
        let sender = self
            .settings
            .ses_sender
            .clone()
            .ok_or(MissingSetting("SES_SENDER"))?;
        let calendar_key = self
            .settings
            .calendar_key
            .as_deref()
            .and_then(|key| citas_notify::CalendarKey::new(key.as_bytes()).ok())
            .ok_or(MissingSetting("CALENDAR_KEY (at least 32 bytes)"))?;
        // One client for both tables: a client is cheap to clone, not to build.
        let dynamodb = self.dynamodb();
        Ok(citas_notify::EmailPipeline {
            meetings: self.meetings(),
            calendar_key,
            store: Arc::new(DynamoStore::new(
                dynamodb.clone(),
                self.settings.tables.clone(),
            )),
            idempotency: Arc::new(DynamoIdempotency::new(dynamodb, &self.settings.tables)),
            mailer: Arc::new(SesMailer::new(
                self.ses(),
                sender,
                self.settings.ses_configuration_set.clone(),
            )),
            clock: self.clock.clone(),
            claim_lapses_after: citas_notify::CLAIM_LAPSES_AFTER,
            dead_letters: Arc::new(SqsQueue::new(
                self.sqs(),
                self.settings.dead_letter_urls.clone(),
            )),
        })
    }
}

/// Handles one API Gateway request with the actions this function serves.
pub async fn http(
    services: &Services,
    serves: &[Action],
    request: Request,
) -> Result<Response<Body>, Error> {
    Ok(citas_api::handle_routed(services, serves, request).await)
}
