//! AWS adapters of the citas ports: the DynamoDB store, the SQS notification
//! queues and the SES v2 mailer, plus the tables and queues of template.yaml.

pub mod counting;
pub mod dynamo;
pub mod idempotency;
pub mod sdk;
pub mod ses;
pub mod settings;
pub mod sqs;
pub mod template;

pub use counting::OperationCounter;
pub use dynamo::DynamoStore;
pub use idempotency::DynamoIdempotency;
pub use ses::SesMailer;
pub use settings::{AwsSettings, TableNames};
pub use sqs::SqsQueue;
