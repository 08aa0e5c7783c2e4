//! The local server: plays API Gateway in front of the shared handlers. Each
//! HTTP request becomes the HTTP API (payload v2) event API Gateway would send,
//! is turned into a `lambda_http` request by the same code Lambda uses, and is
//! handled by `citas_api`. CORS is answered here, as API Gateway does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use citas_domain::{Clock, Services, SlotHorizon, SystemClock};
use http_body_util::Full;
use hyper::Method;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use citas_provision::Variables;

use crate::auth::TokenAuthority;
use crate::gateway::{forward, preflight};
use crate::seed;
use citas_embedded::queue::InProcessQueue;
use citas_embedded::store::EmbeddedStore;

#[derive(Clone)]
pub struct LocalConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Loaded into an empty embedded store on first start.
    pub seed_dir: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    /// Run on the AWS adapters against this endpoint instead of the embedded store.
    pub aws: Option<AwsTarget>,
    /// Local hour at which each country's next-day reminders go out, as the
    /// deployed schedules do; `None` leaves reminders to `citas remind`.
    pub reminder_hour: Option<i8>,
    /// How far ahead working plans' slots are generated (`--slot-horizon-days`).
    pub slot_horizon: SlotHorizon,
    /// How long a client may take to send a request's headers, and then
    /// its body (`--read-timeout-secs`): a stalled one gets a 408 or its
    /// connection closed, instead of holding a connection forever.
    pub read_timeout: std::time::Duration,
    /// Browser origins that may call the API (`--cors-origin`), as
    /// template.yaml's `CorsAllowedOrigins` does in AWS: others get no CORS headers.
    pub cors_origins: Vec<String>,
    /// How long a request may take before it is answered with a 503, as
    /// the API functions' deadline ([`citas_api::handlers::REQUEST_DEADLINE`]).
    /// Tests on moto give it more: moto applies requests one at a time and
    /// a loaded machine makes it slower than any deadline AWS is held to.
    pub request_deadline: std::time::Duration,
    /// The SDK's timeouts on `aws`, instead of the functions' (`citas_aws::sdk`),
    /// for the same reason: tests on a loaded moto give each call longer.
    pub aws_timeouts: Option<aws_config::timeout::TimeoutConfig>,
    /// The Jitsi server virtual visits meet on (`--jitsi-server`).
    pub jitsi_server: String,
    /// The join page emails link to, `{room}` for the room's key
    /// (`--join-page`); by default the Jitsi room's own address.
    pub join_page: Option<String>,
}

/// [`LocalConfig::cors_origins`] by default: a frontend's development servers on this machine.
pub const LOCAL_ORIGINS: [&str; 4] = [
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:3000",
    "http://127.0.0.1:3000",
];

/// The request headers a browser may send, as template.yaml's `AllowHeaders`.
pub(crate) const ALLOWED_HEADERS: &str = "authorization, content-type";

/// [`LocalConfig::read_timeout`] by default.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Local hour at which plans' slot horizons are extended, as the deployed schedule does.
pub const HORIZON_HOUR: i8 = 1;

/// An AWS-compatible endpoint (moto, DynamoDB Local) and the template's parameters there.
#[derive(Debug, Clone)]
pub struct AwsTarget {
    pub endpoint: String,
    pub variables: Variables,
}

impl LocalConfig {
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            addr,
            data_dir,
            seed_dir: None,
            clock: Arc::new(SystemClock),
            aws: None,
            reminder_hour: None,
            slot_horizon: SlotHorizon::default(),
            read_timeout: READ_TIMEOUT,
            cors_origins: LOCAL_ORIGINS.map(str::to_owned).to_vec(),
            request_deadline: citas_api::handlers::REQUEST_DEADLINE,
            aws_timeouts: None,
            jitsi_server: citas_domain::meeting::DEFAULT_JITSI_SERVER.to_owned(),
            join_page: None,
        }
    }

    /// Virtual visits meet in Jitsi rooms on a laptop (no account needed).
    pub fn meetings(&self) -> Arc<dyn citas_domain::ports::Meetings> {
        Arc::new(citas_domain::meeting::JitsiRooms::new(
            &self.jitsi_server,
            self.join_page.clone(),
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] citas_embedded::store::OpenError),
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Passwords(#[from] citas_embedded::passwords::HashError),
    #[error("the calendar key: {0}")]
    CalendarKey(#[from] citas_embedded::private::SecretError),
    #[error("storage: {0}")]
    Store(#[from] citas_domain::StoreError),
    #[error(transparent)]
    Template(#[from] citas_provision::TemplateError),
    #[error("composing the AWS adapters: {0}")]
    Ses(String),
}

/// A started server; [`RunningServer::stop`] shuts it down gracefully.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops on its own (it does not, short of a failure).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Opens the store (seeding it on first start), binds and starts serving,
/// with the notification pipeline and the reminder clock beside it.
pub async fn start(config: LocalConfig) -> Result<RunningServer, StartError> {
    let (shutdown, stopped) = watch::channel(false);
    let (services, mut background) = match &config.aws {
        None => embedded_services(&config).await?,
        Some(target) => aws_services(&config, target, &stopped).await?,
    };
    let services = Arc::new(services);
    let tokens = TokenAuthority::open(&config.data_dir)?;
    let identity = crate::identity::LocalIdentity {
        accounts: citas_domain::use_cases::accounts::AccountServices {
            accounts: Arc::new(citas_embedded::accounts::AccountFile::open(
                &config.data_dir,
            )?),
            passwords: Arc::new(citas_embedded::accounts::Argon2Passwords::new()?),
        },
        tokens: tokens.clone(),
    };
    let local = Arc::new(Local {
        tokens,
        identity,
        // The embedded mode's dead-letter queue; on the AWS adapters it is SQS's.
        dead_letters: config
            .aws
            .is_none()
            .then(|| citas_embedded::queue::DeadLetterFile::new(&config.data_dir)),
        read_timeout: config.read_timeout,
        request_deadline: config.request_deadline,
        cors_origins: config.cors_origins.clone(),
    });
    if let Some(hour) = config.reminder_hour {
        for country in citas_domain::COUNTRIES {
            background.push(tokio::spawn(crate::reminders::daily(
                services.clone(),
                country,
                hour,
                stopped.clone(),
            )));
            background.push(tokio::spawn(crate::reminders::daily_horizon(
                services.clone(),
                country,
                HORIZON_HOUR,
                stopped.clone(),
            )));
        }
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.addr,
        source,
    })?;
    let task = tokio::spawn(async move {
        accept_loop(listener, services, local, stopped).await;
        // The services (and with them the queue's sender) are gone: let the
        // pipeline finish what it holds, and the pollers and clocks stop.
        for task in background {
            let _ = task.await;
        }
    });
    tracing::info!(%addr, "citas is listening");
    Ok(RunningServer {
        addr,
        shutdown,
        task,
    })
}

/// The embedded store (seeded on first start), the in-process queue and the
/// email pipeline writing to the outbox.
async fn embedded_services(
    config: &LocalConfig,
) -> Result<(Services, Vec<JoinHandle<()>>), StartError> {
    let store = Arc::new(EmbeddedStore::open(&config.data_dir)?);
    // Only this process has the store open: a send a claim says is in
    // progress was cut off when the last one died, so its claim is lapsed
    // now (the outbox then tells whether the email was written).
    let cut_off = store
        .lapse_claims_of_earlier_runs(config.clock.now())
        .await?;
    if cut_off > 0 {
        tracing::warn!(
            cut_off,
            "emails a previous run was sending when it stopped are looked at again"
        );
    }
    if let Some(dir) = &config.seed_dir
        && !store.is_seeded().await?
    {
        let count = seed::load_dir(store.as_ref(), dir).await?;
        store.mark_seeded().await?;
        tracing::info!(items = count, dir = %dir.display(), "seed data loaded");
    }
    let (queue, consumer) = InProcessQueue::with_outbox(
        store.clone(),
        &config.data_dir,
        config.clock.clone(),
        config.meetings(),
    )?;
    tracing::info!(data_dir = %config.data_dir.display(), "running on the embedded store");
    let counts: Arc<dyn citas_domain::IdempotencyStore> = store.clone();
    let services = Services {
        meetings: config.meetings(),
        store,
        queue: Arc::new(queue),
        clock: config.clock.clone(),
        horizon: config.slot_horizon,
        // Codes land in the outbox directory with the other emails.
        verifier: Arc::new(citas_notify::MailVerifier::new(
            Arc::new(citas_embedded::outbox::OutboxMailer::new(
                config.data_dir.join("outbox"),
            )),
            counts,
        )),
    };
    Ok((services, vec![consumer]))
}

/// The AWS adapters on the endpoint (tables, queues and the sender created
/// from template.yaml first), composed as the functions compose them, and
/// pollers that hand the country queues' messages to the email function's
/// handler as SQS batches.
async fn aws_services(
    config: &LocalConfig,
    target: &AwsTarget,
    stopped: &watch::Receiver<bool>,
) -> Result<(Services, Vec<JoinHandle<()>>), StartError> {
    let mut sdk = citas_provision::sdk_config(&target.endpoint).await;
    if let Some(timeouts) = &config.aws_timeouts {
        sdk = sdk.into_builder().timeout_config(timeouts.clone()).build();
    }
    let mut settings = citas_provision::prepare(&sdk, &target.variables).await?;
    settings.slot_horizon = config.slot_horizon;
    // moto serves no Chime: virtual visits meet in Jitsi rooms here too.
    settings.meetings.jitsi_server = config.jitsi_server.clone();
    settings.meetings.join_page = config.join_page.clone();
    settings.calendar_key = Some(citas_embedded::private::secret_file(
        &config.data_dir.join("calendar-key"),
    )?);
    tracing::info!(endpoint = %target.endpoint, queues = ?settings.queue_urls, "running on the AWS adapters");
    let aws = citas_lambda::Aws {
        sdk,
        settings,
        clock: config.clock.clone(),
        breakers: Default::default(),
        xray: None,
        recorder: None,
    };
    let pipeline = aws
        .email_pipeline()
        .map_err(|e| StartError::Ses(e.to_string()))?;
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let mut pollers: Vec<JoinHandle<()>> = aws
        .settings
        .queue_urls
        .values()
        .map(|url| {
            tokio::spawn(crate::aws::poll(
                sqs.clone(),
                url.clone(),
                pipeline.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let services = aws.services();
    let stream_stopped = stopped.clone();
    let history_stopped = stopped.clone();
    let publisher = aws.clone();
    pollers.push(tokio::spawn(async move {
        crate::aws::poll_slot_stream(&aws, stream_stopped).await
    }));
    pollers.push(tokio::spawn(async move {
        crate::aws::poll_history_stream(&publisher, history_stopped).await
    }));
    Ok((services, pollers))
}

async fn accept_loop(
    listener: TcpListener,
    services: Arc<Services>,
    local: Arc<Local>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let services = services.clone();
                let read_timeout = local.read_timeout;
                let local = local.clone();
                let service = hyper::service::service_fn(move |request| {
                    let services = services.clone();
                    let local = local.clone();
                    async move { Ok::<_, Infallible>(serve(&services, &local, request, peer).await) }
                });
                // Headers not sent in time: the connection is closed.
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection closed with an error");
                    }
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    drop(services);
    graceful.shutdown().await;
}

pub(crate) type LocalResponse = hyper::Response<Full<Bytes>>;

/// What the local server adds to the API: its token verifier, its identity
/// provider and, in the embedded mode, its dead-letter file.
pub(crate) struct Local {
    pub(crate) tokens: TokenAuthority,
    /// The `/auth/*` routes' accounts and signer.
    pub(crate) identity: crate::identity::LocalIdentity,
    pub(crate) dead_letters: Option<citas_embedded::queue::DeadLetterFile>,
    pub(crate) read_timeout: std::time::Duration,
    pub(crate) request_deadline: std::time::Duration,
    pub(crate) cors_origins: Vec<String>,
}

async fn serve(
    services: &Services,
    local: &Local,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> LocalResponse {
    // Only an allowed origin is answered with CORS headers, as API Gateway does.
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|origin| {
            origin
                .to_str()
                .is_ok_and(|origin| local.cors_origins.iter().any(|allowed| allowed == origin))
        })
        .cloned();
    let mut response = if request.method() == Method::OPTIONS {
        preflight(origin.is_some())
    } else if request.method() == Method::HEAD {
        // HEAD is GET without the body (RFC 9110): same status and headers.
        let (mut parts, body) = request.into_parts();
        parts.method = Method::GET;
        let got = forward(
            services,
            local,
            hyper::Request::from_parts(parts, body),
            peer,
        )
        .await;
        let (parts, _) = got.into_parts();
        hyper::Response::from_parts(parts, Full::new(Bytes::new()))
    } else {
        forward(services, local, request, peer).await
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        if let Ok(exposed) = HeaderValue::from_str(&citas_api::EXPOSED_HEADERS.join(", ")) {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
        }
    }
    response
}
