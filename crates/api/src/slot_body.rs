//! The JSON of slots: free-slot searches, a month's free days, a booked
//! slot as an appointment shows it, and a doctor's agenda, in the country's
//! local dates and times.

use citas_domain::Field;
use citas_domain::scheduling::plan::format_time;
use citas_domain::use_cases::{Agenda, DaysQuery, FreeDay, FreeSlot, SlotQuery};
use citas_domain::{Country, DoctorId, DomainError, PageRequest, Slot, SlotId};
use jiff::civil::Date;
use serde::Serialize;

use crate::body::{invalid, page_limit};

use crate::schedule_body::{date, required_speciality};

/// An instant as RFC 3339 with the country's offset at it.
pub fn local_rfc3339(country: &citas_domain::Country, at: jiff::Timestamp) -> String {
    country
        .local(at)
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// When a slot is, in UTC and on the country's wall clock, and how long it lasts.
#[derive(Debug, Clone, Serialize)]
pub struct SlotTime {
    pub id: String,
    /// RFC 3339 with the country's offset at that instant.
    pub starts_at: String,
    /// RFC 3339 with the country's offset at that instant.
    pub ends_at: String,
    pub minutes: u16,
    pub local_date: String,
    pub local_time: String,
    pub time_zone: &'static str,
}

impl SlotTime {
    pub fn of(slot: &Slot) -> Self {
        Self::at(&slot.id, slot.minutes)
    }

    pub fn at(id: &SlotId, minutes: u16) -> Self {
        let country = id.country();
        let local = country.local(id.starts_at);
        Self {
            id: id.to_string(),
            starts_at: local_rfc3339(country, id.starts_at),
            ends_at: local_rfc3339(
                country,
                citas_domain::scheduling::slot::ends_at(id.starts_at, minutes),
            ),
            minutes,
            local_date: local.date().to_string(),
            local_time: format_time(local.time()),
            time_zone: country.time_zone_name,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorRef {
    pub id: String,
    /// Null for a slot whose doctor is not registered.
    pub name: Option<String>,
}

/// A booked slot as an appointment shows it: when, and with whom.
#[derive(Debug, Clone, Serialize)]
pub struct BookedSlot {
    #[serde(flatten)]
    pub time: SlotTime,
    pub doctor: DoctorRef,
}

impl BookedSlot {
    pub fn of(appointment: &citas_domain::Appointment) -> Option<Self> {
        appointment.slot.as_ref().map(|slot| Self {
            time: SlotTime::at(slot, appointment.slot_minutes),
            doctor: DoctorRef {
                id: slot.doctor.to_string(),
                name: appointment.doctor_name.clone(),
            },
        })
    }
}

/// A free slot as a search shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FreeSlotResponse {
    #[serde(flatten)]
    pub time: SlotTime,
    pub doctor: DoctorRef,
    /// The doctor's price, where the patient decides; null when they have none.
    pub price: Option<crate::schedule_body::PriceResponse>,
    /// `in_person` or `virtual`.
    pub modality: &'static str,
}

impl From<&FreeSlot> for FreeSlotResponse {
    fn from(free: &FreeSlot) -> Self {
        Self {
            time: SlotTime::of(&free.slot),
            doctor: DoctorRef {
                id: free.slot.doctor().to_string(),
                name: free.doctor.as_ref().map(|d| d.name.clone()),
            },
            price: free
                .doctor
                .as_ref()
                .and_then(|d| d.profile.price.as_ref())
                .map(crate::schedule_body::PriceResponse::from),
            modality: free.slot.modality.as_str(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FreeSlotPage {
    pub items: Vec<FreeSlotResponse>,
    pub next_cursor: Option<String>,
}

/// `GET /{country}/slot?speciality=&from=&to=&doctor=&limit=&cursor=`.
#[derive(Debug, Clone, Default)]
pub struct SlotSearchQuery {
    pub speciality: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub doctor: Option<String>,
    /// `in_person` or `virtual`.
    pub modality: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl SlotSearchQuery {
    pub fn try_into_domain(self, country: &Country) -> Result<SlotQuery, DomainError> {
        let doctor = self
            .doctor
            .map(|raw| doctor_filter(country, &raw))
            .transpose()?;
        Ok(SlotQuery {
            speciality: required_speciality(self.speciality)?,
            from: self.from.map(|raw| date(Field::From, &raw)).transpose()?,
            to: self.to.map(|raw| date(Field::To, &raw)).transpose()?,
            doctor,
            modality: crate::finding_body::parse_modality(self.modality.as_deref())?,
            page: PageRequest {
                limit: page_limit(self.limit)?,
                cursor: self.cursor.filter(|c| !c.is_empty()),
            },
        })
    }
}

/// `?doctor=` of a slot search or a month view: a doctor id of the country.
fn doctor_filter(country: &Country, raw: &str) -> Result<DoctorId, DomainError> {
    DoctorId::parse(raw)
        .ok()
        .filter(|id| id.country == country)
        .ok_or_else(|| invalid(Field::Doctor, "doctor must be a doctor id of this country"))
}

/// `GET /{country}/slot/days?speciality=&month=YYYY-MM&doctor=`.
#[derive(Debug, Clone, Default)]
pub struct DaysSearchQuery {
    pub speciality: Option<String>,
    pub month: Option<String>,
    pub doctor: Option<String>,
    /// `in_person` or `virtual`.
    pub modality: Option<String>,
}

impl DaysSearchQuery {
    pub fn try_into_domain(self, country: &Country) -> Result<DaysQuery, DomainError> {
        let doctor = self
            .doctor
            .map(|raw| doctor_filter(country, &raw))
            .transpose()?;
        let month = self
            .month
            .ok_or_else(|| invalid(Field::Month, "give the query parameter 'month' (YYYY-MM)"))?;
        let first = month
            .split_once('-')
            .filter(|(year, month)| year.len() == 4 && month.len() == 2)
            .and_then(|(year, month)| Some((year.parse::<i16>().ok()?, month.parse::<i8>().ok()?)))
            .and_then(|(year, month)| Date::new(year, month, 1).ok())
            .ok_or_else(|| invalid(Field::Month, "month must be YYYY-MM, e.g. 2027-01"))?;
        Ok(DaysQuery {
            speciality: required_speciality(self.speciality)?,
            month: first,
            doctor,
            modality: crate::finding_body::parse_modality(self.modality.as_deref())?,
        })
    }
}

/// The month view: each local day and how many free slots it has.
#[derive(Debug, Clone, Serialize)]
pub struct FreeDaysResponse {
    pub month: String,
    pub time_zone: &'static str,
    pub days: Vec<FreeDayResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FreeDayResponse {
    pub date: String,
    pub free: usize,
}

impl FreeDaysResponse {
    pub fn new(country: &Country, month: Date, days: &[FreeDay]) -> Self {
        Self {
            month: month.strftime("%Y-%m").to_string(),
            time_zone: country.time_zone_name,
            days: days
                .iter()
                .map(|day| FreeDayResponse {
                    date: day.date.to_string(),
                    free: day.free,
                })
                .collect(),
        }
    }
}

/// `?date=` (one local day) or `?from=&to=` (local days, both included).
pub fn agenda_days(
    day: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<(Date, Date), DomainError> {
    match (day, from, to) {
        (Some(day), None, None) => {
            let day = date(Field::Date, &day)?;
            Ok((day, day))
        }
        (None, Some(from), Some(to)) => Ok((date(Field::From, &from)?, date(Field::To, &to)?)),
        (Some(_), _, _) => Err(invalid(
            Field::Date,
            "give 'date', or 'from' and 'to', not both",
        )),
        _ => Err(invalid(
            Field::Date,
            "give the query parameter 'date' (YYYY-MM-DD), or 'from' and 'to'",
        )),
    }
}

/// The appointment on a booked slot, as a doctor's agenda shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgendaAppointment {
    pub id: String,
    pub status: &'static str,
    pub patient: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgendaSlot {
    #[serde(flatten)]
    pub time: SlotTime,
    pub available: bool,
    /// `in_person` or `virtual`.
    pub modality: &'static str,
    /// The appointment holding a booked slot; null if free (or unknown, for pasted data).
    pub appointment: Option<AgendaAppointment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgendaResponse {
    pub doctor: DoctorRef,
    /// The day, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub from: String,
    pub to: String,
    pub time_zone: &'static str,
    pub slots: Vec<AgendaSlot>,
}

impl From<&Agenda> for AgendaResponse {
    fn from(agenda: &Agenda) -> Self {
        Self {
            doctor: DoctorRef {
                id: agenda.doctor.id.to_string(),
                name: Some(agenda.doctor.name.clone()),
            },
            date: (agenda.from == agenda.to).then(|| agenda.from.to_string()),
            from: agenda.from.to_string(),
            to: agenda.to.to_string(),
            time_zone: agenda.doctor.id.country.time_zone_name,
            slots: agenda
                .entries
                .iter()
                .map(|entry| AgendaSlot {
                    time: SlotTime::of(&entry.slot),
                    modality: entry.slot.modality.as_str(),
                    available: entry.slot.available,
                    appointment: entry.appointment.as_ref().map(|a| AgendaAppointment {
                        id: a.id.to_string(),
                        status: a.status.as_str(),
                        patient: a.patient_name.clone(),
                    }),
                })
                .collect(),
        }
    }
}
