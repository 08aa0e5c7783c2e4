//! What the adapters need to know about the deployment, from the environment
//! template.yaml gives each function.

use std::collections::HashMap;

use citas_domain::SlotHorizon;
use citas_domain::values::country::{COUNTRIES, Country};

/// Table names: the seed's names, behind an optional prefix (e.g. `dev-`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableNames {
    pub prefix: String,
}

impl TableNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }
    pub fn appointment(&self, country: &Country) -> String {
        format!("{}{}-appointment", self.prefix, country.code)
    }
    pub fn patient(&self, country: &Country) -> String {
        format!("{}{}-patient", self.prefix, country.code)
    }
    pub fn doctor(&self) -> String {
        format!("{}doctor", self.prefix)
    }
    pub fn speciality(&self) -> String {
        format!("{}speciality", self.prefix)
    }
    pub fn slot(&self) -> String {
        format!("{}appointment-doctor", self.prefix)
    }
    /// Every appointment's history, both countries (`{country}#{id}` partitions).
    pub fn history(&self) -> String {
        format!("{}appointment-history", self.prefix)
    }
    pub fn idempotency(&self) -> String {
        format!("{}notification-idempotency", self.prefix)
    }
    /// Reviews of visits, both countries (and which appointments have one).
    pub fn review(&self) -> String {
        format!("{}review", self.prefix)
    }
}

/// Index names, as template.yaml declares them.
pub use citas_layout::keys::index;

/// The environment variable holding every country's notification queue URL,
/// `{country}` standing for the code; its dead-letter queue is the same URL
/// with `-dlq` (template.yaml's queue names).
pub const NOTIFICATION_QUEUE_URL: &str = "NOTIFICATION_QUEUE_URL";

/// What [`NOTIFICATION_QUEUE_URL`] holds for queues under `base` (the SQS
/// endpoint and account, e.g. `https://sqs.us-east-1.amazonaws.com/123456789012`).
pub fn notification_queue_url_setting(base: &str, stack: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        queue_name_of(stack, COUNTRY_PLACEHOLDER)
    )
}

/// Each country's queue and dead-letter queue URLs from [`NOTIFICATION_QUEUE_URL`]'s value.
fn queue_urls_from(setting: &str) -> [HashMap<&'static str, String>; 2] {
    let queues: HashMap<&'static str, String> = COUNTRIES
        .iter()
        .map(|c| (c.code, setting.replace(COUNTRY_PLACEHOLDER, c.code)))
        .collect();
    let dead_letters = queues
        .iter()
        .map(|(code, url)| (*code, format!("{url}-dlq")))
        .collect();
    [queues, dead_letters]
}

/// The queue name template.yaml gives a country, e.g. `citas-pe-notifications`.
pub fn queue_name(stack: &str, country: &Country) -> String {
    queue_name_of(stack, country.code)
}

fn queue_name_of(stack: &str, code: &str) -> String {
    format!("{stack}-{code}-notifications")
}

/// Where a country's code goes in [`NOTIFICATION_QUEUE_URL`].
const COUNTRY_PLACEHOLDER: &str = "{country}";

/// The dead-letter queue name template.yaml gives a country, e.g. `citas-pe-notifications-dlq`.
pub fn dead_letter_queue_name(stack: &str, country: &Country) -> String {
    format!("{}-dlq", queue_name(stack, country))
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub tables: TableNames,
    /// Notification queue URL per country code.
    pub queue_urls: HashMap<&'static str, String>,
    /// Dead-letter queue URL per country code (where rejected emails go at once).
    pub dead_letter_urls: HashMap<&'static str, String>,
    /// Verified SES identity emails are sent from.
    pub ses_sender: Option<String>,
    pub ses_configuration_set: Option<String>,
    /// `CALENDAR_KEY`: the secret invitation UIDs and booking references are
    /// derived with (the email consumer's only).
    pub calendar_key: Option<String>,
    /// `SLOT_HORIZON_DAYS`: how far ahead working plans' slots are generated.
    pub slot_horizon: SlotHorizon,
    /// Where virtual visits meet.
    pub meetings: MeetingSettings,
}

/// Which service holds the meetings of virtual visits, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSettings {
    /// `MEETING_PROVIDER`: `chime` (as deployed) or `jitsi` (the default
    /// off AWS: moto serves no Chime).
    pub provider: citas_domain::meeting::MeetingProvider,
    /// `CHIME_MEDIA_REGION`.
    pub chime_media_region: String,
    /// `CHIME_ENDPOINT`: another address for Chime's API (tests point it at
    /// their stand-in of the Chime wire: moto serves no Chime); unset when deployed.
    pub chime_endpoint: Option<String>,
    /// `JITSI_SERVER`.
    pub jitsi_server: String,
    /// `JOIN_PAGE_URL`: the frontend's join page emails link to, `{room}`
    /// standing for the room's key; by default a Jitsi room's own address.
    pub join_page: Option<String>,
}

impl Default for MeetingSettings {
    fn default() -> Self {
        Self {
            provider: citas_domain::meeting::MeetingProvider::Jitsi,
            chime_media_region: crate::meetings::DEFAULT_MEDIA_REGION.to_owned(),
            chime_endpoint: None,
            jitsi_server: citas_domain::meeting::DEFAULT_JITSI_SERVER.to_owned(),
            join_page: None,
        }
    }
}

impl AwsSettings {
    /// `TABLE_PREFIX`, `NOTIFICATION_QUEUE_URL`, `SES_SENDER`, `SES_CONFIGURATION_SET`, `CALENDAR_KEY`, `SLOT_HORIZON_DAYS`,
    /// `MEETING_PROVIDER`, `CHIME_MEDIA_REGION`, `JITSI_SERVER`, `JOIN_PAGE_URL`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let [queue_urls, dead_letter_urls] = var(NOTIFICATION_QUEUE_URL)
            .map(|setting| queue_urls_from(&setting))
            .unwrap_or_default();
        Self {
            tables: TableNames::new(var("TABLE_PREFIX").unwrap_or_default()),
            queue_urls,
            dead_letter_urls,
            ses_sender: var("SES_SENDER"),
            ses_configuration_set: var("SES_CONFIGURATION_SET"),
            calendar_key: var("CALENDAR_KEY"),
            slot_horizon: var("SLOT_HORIZON_DAYS")
                .and_then(|raw| match SlotHorizon::parse(&raw) {
                    Ok(horizon) => Some(horizon),
                    Err(error) => {
                        tracing::warn!(%error, "SLOT_HORIZON_DAYS ignored; using the default");
                        None
                    }
                })
                .unwrap_or_default(),
            meetings: MeetingSettings {
                provider: match var("MEETING_PROVIDER").as_deref() {
                    Some("chime") => citas_domain::meeting::MeetingProvider::Chime,
                    _ => citas_domain::meeting::MeetingProvider::Jitsi,
                },
                chime_media_region: var("CHIME_MEDIA_REGION")
                    .unwrap_or_else(|| crate::meetings::DEFAULT_MEDIA_REGION.to_owned()),
                chime_endpoint: var("CHIME_ENDPOINT"),
                jitsi_server: var("JITSI_SERVER")
                    .and_then(|raw| {
                        checked(
                            "JITSI_SERVER",
                            citas_domain::meeting::parse_jitsi_server(&raw),
                        )
                    })
                    .unwrap_or_else(|| citas_domain::meeting::DEFAULT_JITSI_SERVER.to_owned()),
                join_page: var("JOIN_PAGE_URL").and_then(|raw| {
                    checked(
                        "JOIN_PAGE_URL",
                        citas_domain::meeting::parse_join_page(&raw),
                    )
                }),
            },
        }
    }
}

/// A setting that does not parse is left out (its default used), said once at init.
fn checked(name: &str, parsed: Result<String, String>) -> Option<String> {
    match parsed {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(setting = name, %error, "setting ignored; using the default");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_setting_names_every_countrys_queue_and_dead_letter_queue() {
        let setting =
            notification_queue_url_setting("https://sqs.us-east-1.amazonaws.com/1234/", "citas");
        assert_eq!(
            setting,
            "https://sqs.us-east-1.amazonaws.com/1234/citas-{country}-notifications"
        );
        let [queues, dead_letters] = queue_urls_from(&setting);
        assert_eq!(queues.len(), COUNTRIES.len());
        for country in COUNTRIES {
            let base = "https://sqs.us-east-1.amazonaws.com/1234";
            assert_eq!(
                queues[country.code],
                format!("{base}/{}", queue_name("citas", country))
            );
            assert_eq!(
                dead_letters[country.code],
                format!("{base}/{}", dead_letter_queue_name("citas", country))
            );
        }
    }
}
