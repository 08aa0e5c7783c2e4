//! AWS SDK client configuration, as AWS recommends for Lambda: clients are
//! built once per process, with the standard retry mode (exponential backoff
//! with jitter, throttling included) and timeouts well inside a function's.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};

/// The longest one SDK operation may take, all its retries included. The API
/// functions run for at most 10 s (template.yaml's `Globals`): a hung
/// dependency must end as a problem+json answer, not a Lambda timeout, so
/// this stays well inside it (functions/tests/template.rs holds the two together).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(6);
/// The same for the user pool's triggers: Cognito waits 5 s for an answer
/// (and retries), so one of their calls gives up well inside that.
pub const TRIGGER_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest one attempt may take before it is retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A loader with the project's retry and timeout settings. It honours the
/// standard `AWS_REGION`, `AWS_ENDPOINT_URL*` and credential variables.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(40)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

/// The timeouts of the user pool's triggers ([`TRIGGER_OPERATION_TIMEOUT`]).
pub fn trigger_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(TRIGGER_OPERATION_TIMEOUT)
        .build()
}
