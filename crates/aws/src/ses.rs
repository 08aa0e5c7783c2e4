//! Emails through SES v2, sent raw so text, HTML and attachments travel in one MIME message.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use citas_domain::{Email, MailError, Mailer};

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    /// The verified identity emails are sent from.
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, from: String, configuration_set: Option<String>) -> Self {
        Self {
            client,
            from,
            configuration_set,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let mime = citas_mail::to_mime(email, &self.from)
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let raw = RawMessage::builder()
            .data(Blob::new(mime))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.message_id.unwrap_or_default()),
            Err(error) => {
                // The code only: SES's texts can name the recipient, and
                // this one is logged and may reach a history note.
                let message = ses_error_code(&error);
                Err(match error.as_service_error() {
                    Some(
                        SendEmailError::TooManyRequestsException(_)
                        | SendEmailError::LimitExceededException(_),
                    ) => MailError::Throttled(message),
                    Some(
                        SendEmailError::MessageRejected(_)
                        | SendEmailError::BadRequestException(_)
                        | SendEmailError::MailFromDomainNotVerifiedException(_)
                        | SendEmailError::NotFoundException(_),
                    ) => MailError::Rejected(message),
                    _ => MailError::Unavailable(message),
                })
            }
        }
    }
}

/// What went wrong, by SES's error code or the kind of failure, never SES's text.
fn ses_error_code<E: aws_sdk_sesv2::error::ProvideErrorMetadata, R>(
    error: &aws_sdk_sesv2::error::SdkError<E, R>,
) -> String {
    use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
    match error {
        SdkError::ServiceError(_) => error.code().unwrap_or("unknown service error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch failure".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request not built".to_owned(),
        _ => "unknown failure".to_owned(),
    }
}
