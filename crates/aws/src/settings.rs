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
}

/// Index names, as template.yaml declares them.
pub use citas_layout::keys::index;

/// The environment variable holding a country's queue URL, e.g. `QUEUE_URL_PE`.
pub fn queue_url_variable(country: &Country) -> String {
    format!("QUEUE_URL_{}", country.code.to_ascii_uppercase())
}

/// The environment variable holding a country's dead-letter queue URL, e.g. `DEAD_LETTER_QUEUE_URL_PE`.
pub fn dead_letter_url_variable(country: &Country) -> String {
    format!(
        "DEAD_LETTER_QUEUE_URL_{}",
        country.code.to_ascii_uppercase()
    )
}

/// The queue name template.yaml gives a country, e.g. `citas-pe-notifications`.
pub fn queue_name(stack: &str, country: &Country) -> String {
    format!("{stack}-{}-notifications", country.code)
}

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
}

impl AwsSettings {
    /// `TABLE_PREFIX`, `QUEUE_URL_<CC>`, `DEAD_LETTER_QUEUE_URL_<CC>`, `SES_SENDER`, `SES_CONFIGURATION_SET`, `CALENDAR_KEY`, `SLOT_HORIZON_DAYS`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            tables: TableNames::new(var("TABLE_PREFIX").unwrap_or_default()),
            queue_urls: COUNTRIES
                .iter()
                .filter_map(|c| var(&queue_url_variable(c)).map(|url| (c.code, url)))
                .collect(),
            dead_letter_urls: COUNTRIES
                .iter()
                .filter_map(|c| var(&dead_letter_url_variable(c)).map(|url| (c.code, url)))
                .collect(),
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
        }
    }
}
