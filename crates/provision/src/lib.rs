//! Provisioning for local runs and tests: what template.yaml declares (tables,
//! queues) and the sender's SES identity, created on an AWS-compatible
//! endpoint (moto, DynamoDB Local) that lacks them. Deployed stacks get all
//! of this from CloudFormation; the functions never link this crate.

pub mod foreach;
pub mod template;

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use citas_aws::{AwsSettings, TableNames, settings};
use citas_domain::COUNTRIES;
pub use citas_mail::LOCAL_SENDER;

pub use template::{Template, TemplateError, Variables};

/// SDK configuration for a local endpoint, with the project's retry and
/// timeout settings. Standard variables still apply; emulators accept any
/// credentials, so dummy ones stand in when none are set.
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

/// Creates what template.yaml declares and is missing, and registers
/// [`LOCAL_SENDER`] with SES; returns the settings a deployed function would
/// read from its environment for these tables and queues.
pub async fn prepare(
    config: &SdkConfig,
    variables: &Variables,
) -> Result<AwsSettings, TemplateError> {
    let template = Template::project(variables)?;
    let created =
        template::ensure_tables(&aws_sdk_dynamodb::Client::new(config), &template.tables).await?;
    if !created.is_empty() {
        tracing::info!(tables = ?created, "created tables from template.yaml");
    }
    let urls = template::ensure_queues(&aws_sdk_sqs::Client::new(config), &template.queues).await?;
    ensure_sender(config).await?;
    let by_country =
        |name: fn(&str, &citas_domain::Country) -> String| -> HashMap<&'static str, String> {
            COUNTRIES
                .iter()
                .filter_map(|c| {
                    urls.get(&name(&variables.stack_name, c))
                        .map(|url| (c.code, url.clone()))
                })
                .collect()
        };
    Ok(AwsSettings {
        meetings: Default::default(),
        tables: TableNames::new(&variables.table_prefix),
        queue_urls: by_country(settings::queue_name),
        dead_letter_urls: by_country(settings::dead_letter_queue_name),
        ses_sender: Some(LOCAL_SENDER.to_owned()),
        ses_configuration_set: None,
        calendar_key: None,
        slot_horizon: Default::default(),
    })
}

/// An emulator's SES sends only from a known identity.
async fn ensure_sender(config: &SdkConfig) -> Result<(), TemplateError> {
    let created = aws_sdk_sesv2::Client::new(config)
        .create_email_identity()
        .email_identity(LOCAL_SENDER)
        .send()
        .await;
    match created {
        Err(error)
            if !error
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Err(TemplateError::Create {
                resource: format!("SES identity {LOCAL_SENDER}"),
                message: aws_sdk_sesv2::error::DisplayErrorContext(error).to_string(),
            })
        }
        _ => Ok(()),
    }
}
