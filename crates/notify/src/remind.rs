//! The reminder job: every appointment assigned on a local day gets one
//! reminder message. Running it twice enqueues the same keys again, which the
//! email consumer sends once.

use citas_domain::appointment::notification::key;
use citas_domain::ports::{ListFilter, PageRequest};
use citas_domain::{Country, DomainError, Notification, NotificationKind, Services};
use jiff::civil::Date;

/// Appointments read per index page (and enqueued per round of batches).
const PAGE: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReminderReport {
    pub country: String,
    pub day: String,
    pub appointments: usize,
    pub enqueued: usize,
    pub failed: usize,
}

/// The local day whose appointments a run at `now` reminds: tomorrow.
pub fn next_day(country: &Country, now: jiff::Timestamp) -> Date {
    let today = country.local_date(now);
    today.tomorrow().unwrap_or(today)
}

pub async fn remind(
    services: &Services,
    country: &'static Country,
    day: Date,
) -> Result<ReminderReport, DomainError> {
    let mut report = ReminderReport {
        country: country.code.to_owned(),
        day: day.to_string(),
        ..ReminderReport::default()
    };
    let filter = ListFilter::AssignedOn(day);
    let mut cursor = None;
    loop {
        let page = services
            .store
            .list_appointments(
                country,
                &filter,
                &PageRequest {
                    limit: PAGE,
                    cursor,
                },
            )
            .await?;
        let messages: Vec<Notification> = page
            .items
            .iter()
            .map(|a| Notification::about(a, NotificationKind::Reminder, key::reminder(a, day)))
            .collect();
        report.appointments += messages.len();
        let failed = services.queue.enqueue_batch(country, &messages).await;
        for (message, error) in &failed {
            tracing::error!(appointment_id = %citas_domain::privacy::masked_appointment(&message.appointment_id), %error, "reminder not enqueued");
        }
        report.failed += failed.len();
        report.enqueued += messages.len() - failed.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    citas_domain::metrics::count(
        citas_domain::metrics::REMINDERS_ENQUEUED,
        country,
        report.enqueued as u64,
    );
    tracing::info!(country = country.code, %day, appointments = report.appointments, enqueued = report.enqueued, failed = report.failed, "reminders enqueued");
    Ok(report)
}
