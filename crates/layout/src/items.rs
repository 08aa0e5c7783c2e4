//! Items of seed 000's tables, with its attribute names, and their mapping to
//! and from the domain's entities. The DynamoDB store writes and reads these;
//! the seed files are lists of them; the embedded store keeps the same shapes,
//! so there is one storage mapping.

use std::collections::BTreeMap;

use citas_domain::scheduling::catalogue::display_name;
use citas_domain::scheduling::doctor::Modality;
use citas_domain::scheduling::plan::{
    Availability, DayException, TimeRange, WeeklyRange, WorkingPlan, format_time, parse_time,
    parse_weekday, weekday_code,
};
use citas_domain::scheduling::slot::DEFAULT_SLOT_MINUTES;
use citas_domain::values::timestamp;
use citas_domain::verification::PendingVerification;
use citas_domain::{
    Actor, ActorRole, Appointment, AppointmentId, Country, Doctor, DoctorId, EmailAddress,
    HistoryEntry, OfferedSpeciality, Patient, Slot, SlotId, Speciality, Status, StoreError,
};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A stored item that does not hold what its table promises.
pub fn corrupt(table: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("a stored {table} item is not valid: {message}"))
}

/// `pe-patient` / `cl-patient`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientItem {
    pub document: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Absent on records from before addresses were verified (staff's and
    /// the seed's): those count as verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The SHA-256 (hex) of the code sent to an address not verified yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_code_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_expires_at: Option<String>,
}

impl PatientItem {
    pub fn from_domain(patient: &Patient) -> Self {
        let pending = patient.verification.as_ref();
        Self {
            document: patient.document.to_string(),
            name: patient.name.clone(),
            email: patient.email.as_ref().map(ToString::to_string),
            email_verified: Some(patient.email_verified),
            verification_code_hash: pending.map(|p| p.code_hash.clone()),
            verification_expires_at: pending.map(|p| timestamp::format(p.expires_at)),
        }
    }

    pub fn into_domain(self, country: &Country) -> Result<Patient, StoreError> {
        let bad = |e: &dyn std::fmt::Display| corrupt("patient", e);
        let verification = match (self.verification_code_hash, self.verification_expires_at) {
            (Some(code_hash), Some(expires_at)) => Some(PendingVerification {
                code_hash,
                expires_at: expires_at.parse().map_err(|e| bad(&e))?,
            }),
            _ => None,
        };
        Ok(Patient {
            document: country
                .parse_document(&self.document)
                .map_err(|e| bad(&e))?,
            name: self.name,
            email: self
                .email
                .map(|e| EmailAddress::parse(&e))
                .transpose()
                .map_err(|e| bad(&format!("email {e}")))?,
            email_verified: self.email_verified.unwrap_or(true),
            verification,
        })
    }
}

/// `doctor`: `id` is `{country}-{speciality}-{document}`. The working plan
/// is stored beside these attributes ([`AvailabilityItem`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoctorItem {
    pub id: String,
    pub country: String,
    pub document: String,
    pub name: String,
    pub speciality: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_confirmation: bool,
    /// The profile (issue 26); items written before have none of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_currency: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<PlaceItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// `{country}-{speciality}#{geohash}` when the doctor has a place: their
    /// cell in the search index ([`crate::keys::geo_cell`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_cell: Option<String>,
    /// The rating: only a review's write (or hiding one) changes these, so
    /// [`DoctorItem::from_domain`] leaves them out and a registration keeps them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rating_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rating_sum: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A doctor's place: its coordinates as the degrees given (exact to a millionth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceItem {
    pub name: String,
    pub address: String,
    pub district: String,
    pub lat: f64,
    pub lon: f64,
}

impl DoctorItem {
    pub fn from_domain(doctor: &Doctor) -> Self {
        Self {
            id: doctor.id.to_string(),
            country: doctor.id.country.code.to_owned(),
            document: doctor.id.document.to_string(),
            name: doctor.name.clone(),
            speciality: doctor.id.speciality.to_string(),
            email: doctor.email.as_ref().map(ToString::to_string),
            requires_confirmation: doctor.requires_confirmation,
            price_amount: doctor.profile.price.map(|price| price.to_string()),
            price_currency: doctor
                .profile
                .price
                .map(|price| price.currency.code.to_owned()),
            modalities: doctor
                .profile
                .modalities
                .iter()
                .map(|modality| modality.as_str().to_owned())
                .collect(),
            place: doctor.profile.place.as_ref().map(|place| PlaceItem {
                name: place.name.clone(),
                address: place.address.clone(),
                district: place.district.clone(),
                lat: place.coordinates.lat(),
                lon: place.coordinates.lon(),
            }),
            languages: doctor.profile.languages.clone(),
            bio: doctor.profile.bio.clone(),
            geo_cell: doctor.profile.place.as_ref().map(|place| {
                crate::keys::geo_cell(
                    doctor.id.country,
                    &doctor.id.speciality,
                    &place.coordinates.geohash(crate::keys::GEO_PRECISION),
                )
            }),
            rating_count: 0,
            rating_sum: 0,
        }
    }

    /// The same item with the rating `stored` already held.
    #[must_use]
    pub fn keeping_rating_of(self, stored: Option<&DoctorItem>) -> Self {
        Self {
            rating_count: stored.map_or(0, |s| s.rating_count),
            rating_sum: stored.map_or(0, |s| s.rating_sum),
            ..self
        }
    }

    pub fn into_domain(self) -> Result<Doctor, StoreError> {
        use citas_domain::scheduling::doctor::{DoctorProfile, Place};
        use citas_domain::values::money::Price;
        use citas_domain::values::place::Coordinates;
        let id = DoctorId::parse(&self.id).map_err(|e| corrupt("doctor", e))?;
        let price = match (&self.price_amount, &self.price_currency) {
            (Some(amount), Some(currency)) => Some(
                Price::parse(id.country.currency, amount, currency)
                    .map_err(|e| corrupt("doctor", format!("price {e}")))?,
            ),
            (None, None) => None,
            _ => return Err(corrupt("doctor", "a price needs its amount and currency")),
        };
        let modalities = self
            .modalities
            .iter()
            .map(|m| Modality::parse(m).ok_or_else(|| corrupt("doctor", format!("modality {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let place = self
            .place
            .map(|place| {
                Ok::<_, StoreError>(Place {
                    coordinates: Coordinates::new(place.lat, place.lon)
                        .map_err(|e| corrupt("doctor", e))?,
                    name: place.name,
                    address: place.address,
                    district: place.district,
                })
            })
            .transpose()?;
        let profile = DoctorProfile::new(price, modalities, place, self.languages, self.bio)
            .map_err(|e| corrupt("doctor", e))?;
        Ok(Doctor {
            id,
            name: self.name,
            email: self
                .email
                .map(|e| EmailAddress::parse(&e))
                .transpose()
                .map_err(|e| corrupt("doctor", format!("email {e}")))?,
            requires_confirmation: self.requires_confirmation,
            profile,
            rating: citas_domain::review::Rating {
                count: self.rating_count,
                sum: self.rating_sum,
            },
        })
    }
}

/// `review`: a patient's review of a visit, by its random `id`. It holds no
/// link to the appointment (whose id holds the patient's document): the
/// appointment's item carries `reviewed` (the review's id) instead, which
/// holds it to one review and goes with it when the patient is erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub id: String,
    pub doctor: String,
    pub stars: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub first_name: String,
    pub created_at: String,
    /// The doctor's id while the review is shown: the list's index key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown_doctor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_at: Option<String>,
}

impl ReviewItem {
    pub fn from_domain(review: &citas_domain::review::Review) -> Self {
        Self {
            id: review.id.to_string(),
            doctor: review.doctor.to_string(),
            stars: review.stars.get(),
            comment: review.comment.clone(),
            first_name: review.first_name.clone(),
            created_at: timestamp::format(review.created_at),
            shown_doctor: review.hidden.is_none().then(|| review.doctor.to_string()),
            hidden_reason: review.hidden.as_ref().map(|h| h.reason.clone()),
            hidden_at: review.hidden.as_ref().map(|h| timestamp::format(h.at)),
        }
    }

    pub fn into_domain(self) -> Result<citas_domain::review::Review, StoreError> {
        use citas_domain::review::{Hidden, Review, ReviewId, Stars};
        let bad = |e: &dyn std::fmt::Display| corrupt("review", e);
        let hidden = match (self.hidden_reason, self.hidden_at) {
            (Some(reason), Some(at)) => Some(Hidden {
                reason,
                at: at.parse().map_err(|e| bad(&e))?,
            }),
            _ => None,
        };
        let doctor = DoctorId::parse(&self.doctor).map_err(|e| bad(&e))?;
        Ok(Review {
            id: ReviewId::parse(&self.id).map_err(|e| bad(&e))?,
            doctor,
            stars: Stars::new(self.stars).map_err(|e| bad(&e))?,
            comment: self.comment,
            first_name: self.first_name,
            created_at: self.created_at.parse().map_err(|e| bad(&e))?,
            hidden,
        })
    }
}

/// A speciality a country added (`speciality` table: `country`, `slug`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialityItem {
    pub country: String,
    pub slug: String,
    pub name: String,
}

impl SpecialityItem {
    pub fn from_domain(country: &Country, speciality: &OfferedSpeciality) -> Self {
        Self {
            country: country.code.to_owned(),
            slug: speciality.slug.to_string(),
            name: speciality.name.clone(),
        }
    }

    pub fn into_domain(self) -> Result<OfferedSpeciality, StoreError> {
        Ok(OfferedSpeciality {
            slug: Speciality::parse(&self.slug).map_err(|e| corrupt("speciality", e))?,
            name: self.name,
        })
    }
}

/// A doctor's working plan as stored with the doctor (attribute `availability`),
/// and the last local day its slots are generated for (`generated_until`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityItem {
    pub slot_minutes: u16,
    pub weekly: Vec<WeeklyItem>,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionItem>,
    pub generated_until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyItem {
    pub weekday: String,
    pub from: String,
    pub to: String,
    /// `virtual`; absent for in person (and on plans stored before ranges had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeItem {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

/// A modality as items keep it: only `virtual` is written, in person is the default.
pub fn modality_attribute(modality: Modality) -> Option<String> {
    match modality {
        Modality::InPerson => None,
        Modality::Virtual => Some(modality.as_str().to_owned()),
    }
}

/// Reads what [`modality_attribute`] wrote.
pub fn parse_modality_attribute(raw: Option<&str>) -> Result<Modality, StoreError> {
    match raw {
        None => Ok(Modality::InPerson),
        Some(text) => Modality::parse(text).ok_or_else(|| corrupt("modality", text)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionItem {
    pub date: String,
    /// Empty on a day off.
    #[serde(default)]
    pub ranges: Vec<RangeItem>,
}

impl AvailabilityItem {
    pub fn from_domain(availability: &Availability) -> Self {
        let plan = &availability.plan;
        let range = |r: &TimeRange| RangeItem {
            from: format_time(r.from),
            to: format_time(r.to),
            modality: modality_attribute(r.modality),
        };
        Self {
            slot_minutes: plan.slot_minutes(),
            weekly: plan
                .weekly()
                .iter()
                .map(|w| WeeklyItem {
                    weekday: weekday_code(w.weekday).to_owned(),
                    from: format_time(w.range.from),
                    to: format_time(w.range.to),
                    modality: modality_attribute(w.range.modality),
                })
                .collect(),
            valid_from: plan.valid_from().to_string(),
            valid_until: plan.valid_until().map(|d| d.to_string()),
            exceptions: plan
                .exceptions()
                .iter()
                .map(|(date, change)| ExceptionItem {
                    date: date.to_string(),
                    ranges: match change {
                        DayException::Off => Vec::new(),
                        DayException::Ranges(ranges) => ranges.iter().map(range).collect(),
                    },
                })
                .collect(),
            generated_until: availability.generated_until.to_string(),
        }
    }

    pub fn into_domain(self) -> Result<Availability, StoreError> {
        let bad = |e: &dyn std::fmt::Display| corrupt("availability", e);
        let date = |text: &str| text.parse::<Date>().map_err(|e| bad(&e));
        let time = |text: &str| parse_time(text).ok_or_else(|| bad(&format!("time {text}")));
        let range = |r: &RangeItem| {
            Ok::<_, StoreError>(TimeRange {
                from: time(&r.from)?,
                to: time(&r.to)?,
                modality: parse_modality_attribute(r.modality.as_deref())?,
            })
        };
        let weekly = self
            .weekly
            .iter()
            .map(|w| {
                Ok(WeeklyRange {
                    weekday: parse_weekday(&w.weekday)
                        .ok_or_else(|| bad(&format!("weekday {}", w.weekday)))?,
                    range: range(&RangeItem {
                        from: w.from.clone(),
                        to: w.to.clone(),
                        modality: w.modality.clone(),
                    })?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut exceptions = BTreeMap::new();
        for exception in &self.exceptions {
            let change = if exception.ranges.is_empty() {
                DayException::Off
            } else {
                DayException::Ranges(
                    exception
                        .ranges
                        .iter()
                        .map(range)
                        .collect::<Result<_, _>>()?,
                )
            };
            exceptions.insert(date(&exception.date)?, change);
        }
        let plan = WorkingPlan::new(
            self.slot_minutes,
            weekly,
            date(&self.valid_from)?,
            self.valid_until.as_deref().map(date).transpose()?,
            exceptions,
        )
        .map_err(|e| bad(&e))?;
        Ok(Availability {
            plan,
            generated_until: date(&self.generated_until)?,
            // Kept beside the plan by each store.
            revision: 0,
        })
    }
}

/// `appointment-doctor`: a doctor's bookable slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotItem {
    /// `{doctor id}-{epoch seconds of the local date and time}`.
    pub id: String,
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    pub doctor: String,
    #[serde(rename = "isAvailable")]
    pub is_available: bool,
    /// Local time, `HH:MM`.
    pub time: String,
    /// The appointment holding the slot while it is booked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<String>,
    /// How long the visit lasts; absent on items written before slots kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u16>,
    /// `virtual`; absent for in person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

impl SlotItem {
    pub fn from_domain(slot: &Slot) -> Self {
        let (date, time) = slot.local_start();
        Self {
            id: slot.id.to_string(),
            date: date.strftime("%Y-%m-%d").to_string(),
            doctor: slot.doctor().to_string(),
            is_available: slot.available,
            time: time.strftime("%H:%M").to_string(),
            appointment: slot.booked_by.as_ref().map(ToString::to_string),
            minutes: Some(slot.minutes),
            modality: modality_attribute(slot.modality),
        }
    }

    pub fn into_domain(self) -> Result<Slot, StoreError> {
        let id = SlotId::parse(&self.id).map_err(|e| corrupt("slot", e))?;
        let booked_by = self
            .appointment
            .map(|raw| AppointmentId::parse(id.country(), &raw))
            .transpose()
            .map_err(|e| corrupt("slot", e))?;
        Ok(Slot {
            id,
            available: self.is_available,
            booked_by,
            minutes: self.minutes.unwrap_or(DEFAULT_SLOT_MINUTES),
            modality: parse_modality_attribute(self.modality.as_deref())?,
        })
    }
}

/// `pe-appointment` / `cl-appointment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentItem {
    /// `YYYYMMDD-{document}`.
    pub id: String,
    /// The table says it too; items pasted without it are still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub document: String,
    /// The patient's name.
    pub patient: String,
    pub speciality: String,
    /// The speciality's name when the appointment was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speciality_name: Option<String>,
    pub status: String,
    pub created_at: String,
    /// The booked `appointment-doctor` slot's id, once assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub update_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor: Option<String>,
    /// The slot's doctor's name when it was booked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_name: Option<String>,
    /// The doctor's price when it was booked, as written (`"120.00"`), in the country's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_amount: Option<String>,
    /// The booked slot's length; absent on items written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_minutes: Option<u16>,
    /// `virtual` for an online visit; absent for in person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// An online visit's room key (a secret: never shown or logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_room: Option<String>,
    /// The provider's meeting once opened (Chime's `Meeting`, JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_session: Option<String>,
    /// The local day of the patient's last changes, and how many they made that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_changes_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_changes: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_reason: Option<String>,
    /// Changes so far; absent (0) on items pasted from seed 000.
    #[serde(default)]
    pub revision: u32,
    /// Who created it (the first entry of its history); absent on pasted items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by_id: Option<String>,
}

impl AppointmentItem {
    pub fn from_domain(appointment: &Appointment) -> Self {
        Self {
            id: appointment.id.to_string(),
            country: Some(appointment.country.code.to_owned()),
            document: appointment.document().to_string(),
            patient: appointment.patient_name.clone(),
            speciality: appointment.speciality.to_string(),
            speciality_name: Some(appointment.speciality_name.clone()),
            status: appointment.status.as_str().to_owned(),
            created_at: timestamp::format(appointment.created_at),
            date: appointment.slot.as_ref().map(ToString::to_string),
            update_at: timestamp::format(appointment.updated_at),
            doctor: appointment.doctor().map(ToString::to_string),
            doctor_name: appointment.doctor_name.clone(),
            price_amount: appointment.price.map(|price| price.to_string()),
            slot_minutes: appointment.slot.as_ref().map(|_| appointment.slot_minutes),
            modality: modality_attribute(appointment.modality),
            meeting_room: appointment
                .meeting
                .as_ref()
                .map(|room| room.key.as_str().to_owned()),
            meeting_session: appointment
                .meeting
                .as_ref()
                .and_then(|room| room.session.clone()),
            patient_changes_on: appointment.patient_changes.day.map(|day| day.to_string()),
            patient_changes: appointment
                .patient_changes
                .day
                .map(|_| appointment.patient_changes.count),
            starts_at: appointment.starts_at().map(timestamp::format),
            cancel_reason: appointment.cancel_reason.clone(),
            refusal_reason: appointment.refusal_reason.clone(),
            revision: appointment.revision,
            created_by_role: appointment
                .created_by
                .as_ref()
                .map(|by| by.role.as_str().to_owned()),
            created_by_id: appointment.created_by.as_ref().map(|by| by.id.clone()),
        }
    }

    pub fn into_domain(self, country: &'static Country) -> Result<Appointment, StoreError> {
        let bad = |e: &dyn std::fmt::Display| corrupt("appointment", e);
        let id = AppointmentId::parse(country, &self.id).map_err(|e| bad(&e))?;
        let time = |text: &str| {
            text.parse::<jiff::Timestamp>()
                .map_err(|e| bad(&format!("{text}: {e}")))
        };
        let speciality = Speciality::parse(&self.speciality).map_err(|e| bad(&e))?;
        Ok(Appointment {
            country,
            patient_name: self.patient,
            speciality_name: self
                .speciality_name
                .unwrap_or_else(|| display_name(&speciality)),
            speciality,
            status: self.status.parse::<Status>().map_err(|e| bad(&e))?,
            created_at: time(&self.created_at)?,
            updated_at: time(&self.update_at)?,
            slot: self
                .date
                .map(|slot| SlotId::parse(&slot))
                .transpose()
                .map_err(|e| bad(&e))?,
            doctor_name: self.doctor_name,
            price: self
                .price_amount
                .map(|amount| {
                    citas_domain::values::money::Price::parse(
                        country.currency,
                        &amount,
                        country.currency.code,
                    )
                })
                .transpose()
                .map_err(|e| bad(&e))?,
            slot_minutes: self.slot_minutes.unwrap_or(DEFAULT_SLOT_MINUTES),
            modality: parse_modality_attribute(self.modality.as_deref())?,
            meeting: self
                .meeting_room
                .as_deref()
                .map(|key| {
                    citas_domain::meeting::RoomKey::parse(key).map(|key| {
                        citas_domain::meeting::MeetingRoom {
                            key,
                            session: self.meeting_session.clone(),
                        }
                    })
                })
                .transpose()
                .map_err(|e| bad(&e))?,
            patient_changes: citas_domain::appointment::PatientChanges {
                day: self
                    .patient_changes_on
                    .as_deref()
                    .map(|text| text.parse::<Date>().map_err(|e| bad(&e)))
                    .transpose()?,
                count: self.patient_changes.unwrap_or(0),
            },
            cancel_reason: self.cancel_reason,
            refusal_reason: self.refusal_reason,
            revision: self.revision,
            created_by: match (self.created_by_role, self.created_by_id) {
                (Some(role), Some(id)) => Some(Actor {
                    role: ActorRole::parse(&role).ok_or_else(|| bad(&format!("role {role}")))?,
                    id,
                }),
                _ => None,
            },
            id,
        })
    }
}

/// `appointment-history`: one item per entry of an appointment's history.
/// `appointment` is `{country}#{id}`; `entry` sorts the entries: the
/// revision, zero-padded, then for notes a `~` and the note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub appointment: String,
    pub entry: String,
    pub revision: u32,
    pub at: String,
    pub by_role: String,
    pub by_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The slot id the appointment holds after the change (absent on
    /// entries written before it was recorded, and once refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_minutes: Option<u16>,
    /// The slot id held before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_slot: Option<String>,
}

/// The partition of an appointment's history.
pub fn history_partition(country: &Country, id: &AppointmentId) -> String {
    format!("{}#{id}", country.code)
}

impl HistoryItem {
    pub fn from_domain(country: &Country, id: &AppointmentId, entry: &HistoryEntry) -> Self {
        let mut sort = format!("{:010}", entry.revision);
        if let Some(note) = &entry.note {
            sort.push('~');
            sort.extend(note.chars().take(200));
        }
        Self {
            appointment: history_partition(country, id),
            entry: sort,
            revision: entry.revision,
            at: timestamp::format(entry.at),
            by_role: entry.by.role.as_str().to_owned(),
            by_id: entry.by.id.clone(),
            from: entry.from.map(|s| s.as_str().to_owned()),
            to: entry.to.as_str().to_owned(),
            reason: entry.reason.clone(),
            note: entry.note.clone(),
            slot: entry.slot.as_ref().map(ToString::to_string),
            doctor_name: entry.doctor_name.clone(),
            slot_minutes: entry.slot.as_ref().map(|_| entry.slot_minutes),
            from_slot: entry.from_slot.as_ref().map(ToString::to_string),
        }
    }

    /// The appointment the entry belongs to, from its partition `{country}#{id}`.
    pub fn appointment_id(&self) -> Result<(&'static Country, AppointmentId), StoreError> {
        let bad = |e: &dyn std::fmt::Display| corrupt("history", e);
        let (code, id) = self
            .appointment
            .split_once('#')
            .ok_or_else(|| bad(&"a partition without '#'"))?;
        let country = Country::from_code(code).map_err(|e| bad(&e))?;
        Ok((
            country,
            AppointmentId::parse(country, id).map_err(|e| bad(&e))?,
        ))
    }

    /// The messages the committed change of this entry sends.
    pub fn notifications(self) -> Result<Vec<citas_domain::Notification>, StoreError> {
        let (country, id) = self.appointment_id()?;
        let entry = self.into_domain()?;
        Ok(citas_domain::Notification::of_change(country, &id, &entry))
    }

    pub fn into_domain(self) -> Result<HistoryEntry, StoreError> {
        let bad = |e: &dyn std::fmt::Display| corrupt("history", e);
        let status = |text: &str| text.parse::<Status>().map_err(|e| bad(&e));
        Ok(HistoryEntry {
            revision: self.revision,
            at: self.at.parse::<jiff::Timestamp>().map_err(|e| bad(&e))?,
            by: Actor {
                role: ActorRole::parse(&self.by_role)
                    .ok_or_else(|| bad(&format!("role {}", self.by_role)))?,
                id: self.by_id,
            },
            from: self.from.as_deref().map(status).transpose()?,
            to: status(&self.to)?,
            reason: self.reason,
            note: self.note,
            slot: self
                .slot
                .as_deref()
                .map(SlotId::parse)
                .transpose()
                .map_err(|e| bad(&e))?,
            doctor_name: self.doctor_name,
            slot_minutes: self.slot_minutes.unwrap_or(DEFAULT_SLOT_MINUTES),
            from_slot: self
                .from_slot
                .as_deref()
                .map(SlotId::parse)
                .transpose()
                .map_err(|e| bad(&e))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::{CHILE, PERU};

    #[test]
    fn items_map_to_entities_and_back() {
        let slot = SlotItem {
            modality: Default::default(),
            id: "pe-medicina-interna-9999234-1732629600".into(),
            date: "2024-11-26".into(),
            doctor: "pe-medicina-interna-9999234".into(),
            is_available: true,
            time: "09:00".into(),
            appointment: None,
            minutes: Some(20),
        };
        assert_eq!(
            SlotItem::from_domain(&slot.clone().into_domain().unwrap()),
            slot
        );
        let doctor = DoctorItem {
            id: "cl-medicina-interna-9999234".into(),
            country: "cl".into(),
            document: "9999234".into(),
            name: "Dr. ANDRES PERICH DIAS".into(),
            speciality: "medicina-interna".into(),
            email: None,
            requires_confirmation: false,
            price_amount: None,
            price_currency: None,
            modalities: Vec::new(),
            place: None,
            languages: Vec::new(),
            bio: None,
            geo_cell: None,
            rating_count: 0,
            rating_sum: 0,
        };
        assert_eq!(
            DoctorItem::from_domain(&doctor.clone().into_domain().unwrap()),
            doctor
        );
        // A profile round-trips exactly: the price as written, the coordinates to a millionth.
        let profiled = DoctorItem {
            id: "cl-pediatria-20000000".into(),
            country: "cl".into(),
            document: "20000000".into(),
            price_amount: Some("45000".into()),
            price_currency: Some("CLP".into()),
            modalities: vec!["in_person".into(), "virtual".into()],
            place: Some(PlaceItem {
                name: "Clínica Alemana".into(),
                address: "Av. Vitacura 5951".into(),
                district: "Vitacura".into(),
                lat: -33.392_123,
                lon: -70.572_456,
            }),
            languages: vec!["español".into(), "inglés".into()],
            bio: Some("Pediatra".into()),
            speciality: "pediatria".into(),
            // The place's cell, derived (the geohash computed independently).
            geo_cell: Some("cl-pediatria#66jf4".into()),
            ..doctor.clone()
        };
        assert_eq!(
            DoctorItem::from_domain(&profiled.clone().into_domain().unwrap()),
            profiled
        );
        // A rating is read, and never written by a registration.
        let rated = DoctorItem {
            rating_count: 3,
            rating_sum: 13,
            ..profiled.clone()
        };
        let read = rated.clone().into_domain().unwrap();
        assert_eq!(read.rating.average().as_deref(), Some("4.3"));
        assert_eq!(DoctorItem::from_domain(&read), profiled);
        assert_eq!(
            DoctorItem::from_domain(&read).keeping_rating_of(Some(&rated)),
            rated
        );
        let appointment = AppointmentItem {
            modality: Default::default(),
            meeting_session: Default::default(),
            meeting_room: Default::default(),
            id: "20261122-45678912".into(),
            country: Some("pe".into()),
            document: "45678912".into(),
            patient: "Ana".into(),
            speciality: "cardiologia".into(),
            speciality_name: Some("Cardiología".into()),
            status: "assigned".into(),
            created_at: "2026-11-22T15:00:00.000Z".into(),
            date: Some("pe-cardiologia-1-1796652000".into()),
            update_at: "2026-11-22T15:00:00.000Z".into(),
            doctor: Some("pe-cardiologia-1".into()),
            doctor_name: Some("Dra. Uno".into()),
            price_amount: Some("120.00".into()),
            slot_minutes: Some(45),
            patient_changes_on: Some("2026-11-22".into()),
            patient_changes: Some(2),
            starts_at: Some("2026-12-07T14:00:00.000Z".into()),
            cancel_reason: None,
            refusal_reason: None,
            revision: 2,
            created_by_role: Some("patient".into()),
            created_by_id: Some("45678912".into()),
        };
        let entity = appointment.clone().into_domain(&PERU).unwrap();
        assert_eq!(AppointmentItem::from_domain(&entity), appointment);
        assert_eq!(
            entity.ends_at().map(timestamp::format).as_deref(),
            Some("2026-12-07T14:45:00.000Z")
        );
        // Items from before slots kept their length last the default.
        let seeded = SlotItem {
            minutes: None,
            ..slot
        }
        .into_domain()
        .unwrap();
        assert_eq!(seeded.minutes, DEFAULT_SLOT_MINUTES);
        // A RUT-less Chilean table cannot hold a Peruvian id.
        assert!(appointment.into_domain(&CHILE).is_err());
        let note = HistoryEntry {
            revision: 2,
            at: "2026-11-22T15:00:00Z".parse().unwrap(),
            by: Actor::system("send-email"),
            from: Some(Status::Assigned),
            to: Status::Assigned,
            reason: None,
            note: Some("appointment.assigned not sent: no email on file".into()),
            slot: entity.slot.clone(),
            doctor_name: entity.doctor_name.clone(),
            slot_minutes: entity.slot_minutes,
            from_slot: entity.slot.clone(),
        };
        let item = HistoryItem::from_domain(&PERU, &entity.id, &note);
        assert_eq!(item.appointment, "pe#20261122-45678912");
        assert_eq!(item.appointment_id().unwrap(), (&PERU, entity.id.clone()));
        // Notes sort after the change of their revision, before the next one.
        assert!("0000000002" < item.entry.as_str() && item.entry.as_str() < "0000000003");
        assert_eq!(item.into_domain().unwrap(), note);
    }
}
