//! `citas serve --aws-endpoint URL`: the same local API on the AWS adapters,
//! against any AWS-compatible endpoint (moto, DynamoDB Local). Tables and
//! queues missing there are created from template.yaml first.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use citas_aws::template::{Template, TemplateError, Variables, ensure_queues, ensure_tables};
use citas_aws::{DynamoStore, SqsQueue, TableNames, settings};
use citas_domain::COUNTRIES;
use citas_notify::EmailPipeline;
use tokio::sync::watch;

/// The sender the local server registers with an emulator's SES.
pub const LOCAL_SENDER: &str = "citas@example.com";

/// SDK configuration for a local endpoint. Standard variables still apply;
/// emulators accept any credentials, so dummy ones stand in when none are set.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let mut loader = citas_aws::sdk::config_loader().endpoint_url(endpoint);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "citas-local",
        ));
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(Region::new("us-east-1"));
    }
    loader.load().await
}

/// The AWS adapters, on tables and queues that exist.
pub struct AwsBackend {
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsQueue>,
    pub queue_urls: HashMap<&'static str, String>,
}

/// Creates what template.yaml declares and is missing, then builds the adapters.
pub async fn prepare(
    config: &SdkConfig,
    variables: &Variables,
) -> Result<AwsBackend, TemplateError> {
    let template = Template::project(variables)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let created = ensure_tables(&dynamodb, &template.tables).await?;
    if !created.is_empty() {
        tracing::info!(tables = ?created, "created tables from template.yaml");
    }
    let urls = ensure_queues(&sqs, &template.queues).await?;
    let queue_urls: HashMap<&'static str, String> = COUNTRIES
        .iter()
        .filter_map(|c| {
            urls.get(&settings::queue_name(&variables.stack_name, c))
                .map(|url| (c.code, url.clone()))
        })
        .collect();
    Ok(AwsBackend {
        store: Arc::new(DynamoStore::new(
            dynamodb,
            TableNames::new(&variables.table_prefix),
        )),
        queue: Arc::new(SqsQueue::new(sqs, queue_urls.clone())),
        queue_urls,
    })
}

/// Long-polls one queue and hands each batch to the email function's handler,
/// as Lambda's SQS event source does, deleting only the records it did not
/// report as failed (the others come back after the visibility timeout).
pub async fn poll(
    sqs: aws_sdk_sqs::Client,
    url: String,
    pipeline: EmailPipeline,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1).send() => received,
            _ = stopped.changed() => return,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), %url, "receive failed");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        for message in &messages {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.event_source = Some("aws:sqs".into());
            event.records.push(record);
        }
        let response = citas_lambda::jobs::send_emails(&pipeline, event).await;
        for message in messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == message.message_id.as_ref());
            if let (false, Some(handle)) = (failed, message.receipt_handle)
                && let Err(error) = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "delete failed");
            }
        }
    }
}
