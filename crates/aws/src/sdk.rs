//! AWS SDK client configuration, as AWS recommends for Lambda: clients are
//! built once per process, with the standard retry mode (exponential backoff
//! with jitter, throttling included) and timeouts well inside a function's.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};

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
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
}
