//! Appointments this instance read lately, shown (marked) while DynamoDB
//! cannot be reached.

use super::*;

/// How long a read appointment may be shown from this instance's copy.
pub const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// Appointments kept at most (per instance).
const RECENT_READS: usize = 1000;

/// A country's code and an appointment of it.
type RecentKey = (&'static str, AppointmentId);

#[derive(Debug, Default)]
pub(super) struct RecentReads {
    entries: Mutex<HashMap<RecentKey, (Appointment, std::time::Instant)>>,
}

impl RecentReads {
    fn key(country: &Country, id: &AppointmentId) -> RecentKey {
        (country.code, id.clone())
    }

    pub(super) fn remember(&self, appointment: &Appointment) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= RECENT_READS {
            entries.retain(|_, (_, at)| at.elapsed() < RECENT_FOR);
            if entries.len() >= RECENT_READS {
                entries.clear();
            }
        }
        entries.insert(
            Self::key(appointment.country, &appointment.id),
            (appointment.clone(), std::time::Instant::now()),
        );
    }

    pub(super) fn recall(
        &self,
        country: &Country,
        id: &AppointmentId,
    ) -> Option<(Appointment, Freshness)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (appointment, at) = entries.get(&Self::key(country, id))?;
        let age = at.elapsed();
        (age < RECENT_FOR).then(|| {
            (
                appointment.clone(),
                Freshness::PossiblyStale {
                    age: jiff::SignedDuration::try_from(age).unwrap_or_default(),
                },
            )
        })
    }
}
