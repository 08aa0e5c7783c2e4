//! AWS adapters of the citas ports: the DynamoDB store, the SQS notification
//! queues and the SES v2 mailer, the deployment's settings and the SDK's configuration.

pub mod breaker;
pub mod cognito;
pub mod counting;
pub mod dynamo;
pub mod errors;
pub mod idempotency;
pub mod meetings;
pub mod pager;
pub mod sdk;
pub mod ses;
pub mod settings;
pub mod sqs;
pub mod xray;

pub use breaker::{Breakers, CircuitBreaker};
pub use cognito::CognitoDirectory;
pub use counting::{CallRecorder, Named, OperationCounter, RecordedCall};
pub use dynamo::DynamoStore;
pub use idempotency::DynamoIdempotency;
pub use meetings::ChimeMeetings;
pub use ses::SesMailer;
pub use settings::{AwsSettings, TableNames};
pub use sqs::SqsQueue;
pub use xray::XrayInterceptor;
