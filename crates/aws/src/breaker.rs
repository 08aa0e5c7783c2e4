//! A circuit breaker per function instance and dependency (seed 000): after
//! repeated failures of a service (5xx, throttling past the SDK's retries,
//! timeouts, refused connections) its calls fail at once, for a cool-down,
//! instead of each waiting out the SDK's retries and timeouts; the API
//! answers them as a 503 with `Retry-After`. After the cool-down one call is
//! let through as a probe: its success closes the circuit, its failure opens
//! it again. It is an SDK interceptor, so it sees every call of the clients
//! it is given to, and the SDK's own retries run inside it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Consecutive failed calls that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;
/// How long an open circuit fails calls at once before it lets a probe through.
pub const COOL_DOWN: Duration = Duration::from_secs(5);

/// Why a call was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the circuit to {0} is open after repeated failures; retry shortly")]
pub struct CircuitOpen(pub &'static str);

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// Shared by the clones given to one instance's clients of one dependency.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    dependency: &'static str,
    failures_to_open: u32,
    cool_down: Duration,
    state: Arc<Mutex<State>>,
}

/// One breaker per dependency of a function instance.
#[derive(Debug, Clone)]
pub struct Breakers {
    pub dynamodb: CircuitBreaker,
    pub sqs: CircuitBreaker,
    pub ses: CircuitBreaker,
}

impl Default for Breakers {
    fn default() -> Self {
        Self::cooling_down_for(COOL_DOWN)
    }
}

impl Breakers {
    pub fn cooling_down_for(cool_down: Duration) -> Self {
        Self {
            dynamodb: CircuitBreaker::with("dynamodb", FAILURES_TO_OPEN, cool_down),
            sqs: CircuitBreaker::with("sqs", FAILURES_TO_OPEN, cool_down),
            ses: CircuitBreaker::with("ses", FAILURES_TO_OPEN, cool_down),
        }
    }
}

/// Marks a call the breaker refused, so its own refusal is not counted as a failure.
#[derive(Debug, Clone)]
struct Refused;

impl Storable for Refused {
    type Storer = StoreReplace<Self>;
}

impl CircuitBreaker {
    pub fn new(dependency: &'static str) -> Self {
        Self::with(dependency, FAILURES_TO_OPEN, COOL_DOWN)
    }

    pub fn with(dependency: &'static str, failures_to_open: u32, cool_down: Duration) -> Self {
        Self {
            dependency,
            failures_to_open,
            cool_down,
            state: Arc::default(),
        }
    }

    /// Whether calls are failing at once now.
    pub fn is_open(&self) -> bool {
        self.lock()
            .open_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for CircuitBreaker {
    fn name(&self) -> &'static str {
        "CircuitBreaker"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut state = self.lock();
        let refuse = match state.open_until {
            None => false,
            Some(until) if Instant::now() < until => true,
            // Cooled down: one probe at a time.
            Some(_) if state.probing => true,
            Some(_) => {
                state.probing = true;
                false
            }
        };
        if refuse {
            cfg.interceptor_state().store_put(Refused);
            return Err(CircuitOpen(self.dependency).into());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Refused>().is_some() {
            return Ok(());
        }
        let failed = match context.output_or_error() {
            None | Some(Ok(_)) => false,
            Some(Err(_)) => match context.response() {
                // No answer: a timeout or a connection that failed.
                None => true,
                Some(response) => {
                    let status = response.status().as_u16();
                    let body = response.body().bytes().unwrap_or_default();
                    let throttled = String::from_utf8_lossy(body).contains("Throttl");
                    status >= 500 || status == 429 || throttled
                }
            },
        };
        let mut state = self.lock();
        let was_open = state.open_until.is_some();
        state.probing = false;
        if failed {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            if was_open || state.consecutive_failures >= self.failures_to_open {
                state.open_until = Some(Instant::now() + self.cool_down);
                tracing::warn!(
                    dependency = self.dependency,
                    failures = state.consecutive_failures,
                    "circuit open: calls fail at once for the cool-down"
                );
            }
        } else {
            if was_open {
                tracing::info!(
                    dependency = self.dependency,
                    "circuit closed after a successful probe"
                );
            }
            *state = State::default();
        }
        Ok(())
    }
}
