//! The JSON of the doctor's side: doctors, specialities and working plans,
//! parsed once into the domain's types and shown for a screen. Slots, free
//! days and agendas are `slot_body`'s.

use citas_domain::Field;
use std::collections::BTreeMap;

use citas_domain::scheduling::catalogue::display_name;
use citas_domain::scheduling::doctor::{DoctorProfile, Modality, Place};
use citas_domain::scheduling::plan::{
    Availability, DayException, TimeRange, WeeklyRange, WorkingPlan, format_time, parse_time,
    parse_weekday, weekday_code,
};
use citas_domain::use_cases::{NewDoctor, PlanApplied};
use citas_domain::values::money::Price;
use citas_domain::values::place::Coordinates;
use citas_domain::{
    Country, Doctor, DoctorDocument, DoctorId, DomainError, EmailAddress, OfferedSpeciality,
    Speciality,
};
use citas_domain::{values::text::MAX_TEXT_LEN, values::text::clean_text};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::body::invalid;
use crate::slot_body::SlotTime;

/// `POST /{country}/doctor`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorRequest {
    pub document: String,
    pub name: String,
    pub speciality: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub requires_confirmation: Option<bool>,
    /// `{"amount": "120.00", "currency": "PEN"}`: exact decimals as a string.
    #[serde(default)]
    pub price: Option<PriceBody>,
    /// `in_person`, `virtual`.
    #[serde(default)]
    pub modalities: Option<Vec<String>>,
    #[serde(default)]
    pub place: Option<PlaceBody>,
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    #[serde(default)]
    pub bio: Option<String>,
}

/// A price as the API writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    /// A string, so no float ever rounds it; a number is refused.
    pub amount: serde_json::Value,
    pub currency: String,
}

/// A place as the API writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    pub name: String,
    pub address: String,
    pub district: String,
    pub lat: f64,
    pub lon: f64,
}

/// Most languages a profile lists, and the longest name of one.
const MAX_LANGUAGES: usize = 10;
const MAX_LANGUAGE_LEN: usize = 40;
/// The longest bio.
const MAX_BIO_LEN: usize = 1_000;

impl PriceBody {
    fn try_into_domain(self, country: &'static Country) -> Result<Price, DomainError> {
        let amount = self.amount.as_str().ok_or_else(|| {
            invalid(
                Field::Price,
                "price: the amount is a decimal string, such as \"120.00\", not a number",
            )
        })?;
        Price::parse(country.currency, amount, &self.currency)
            .map_err(|e| invalid(Field::Price, format!("price: {e}")))
    }
}

impl PlaceBody {
    fn try_into_domain(self) -> Result<Place, DomainError> {
        let text = |raw: &str, what: &str| {
            clean_text(raw, MAX_TEXT_LEN)
                .map_err(|e| invalid(Field::Place, format!("place: the {what} {e}")))
        };
        Ok(Place {
            name: text(&self.name, "name")?,
            address: text(&self.address, "address")?,
            district: text(&self.district, "district")?,
            coordinates: Coordinates::new(self.lat, self.lon)
                .map_err(|e| invalid(Field::Place, format!("place: {e}")))?,
        })
    }
}

impl DoctorRequest {
    fn profile(
        price: Option<PriceBody>,
        modalities: Option<Vec<String>>,
        place: Option<PlaceBody>,
        languages: Option<Vec<String>>,
        bio: Option<String>,
        country: &'static Country,
    ) -> Result<DoctorProfile, DomainError> {
        let modalities = modalities
            .unwrap_or_default()
            .iter()
            .map(|raw| {
                Modality::parse(raw).ok_or_else(|| {
                    invalid(
                        Field::Modalities,
                        format!(
                            "modalities: '{}' is not one; they are in_person and virtual",
                            raw.chars().take(40).collect::<String>()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let languages = languages.unwrap_or_default();
        if languages.len() > MAX_LANGUAGES {
            return Err(invalid(
                Field::Languages,
                format!("languages: at most {MAX_LANGUAGES}"),
            ));
        }
        let languages = languages
            .iter()
            .map(|raw| {
                clean_text(raw, MAX_LANGUAGE_LEN)
                    .map_err(|e| invalid(Field::Languages, format!("a language {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bio = bio
            .map(|raw| clean_text(&raw, MAX_BIO_LEN))
            .transpose()
            .map_err(|e| invalid(Field::Bio, format!("bio {e}")))?;
        DoctorProfile::new(
            price
                .map(|price| price.try_into_domain(country))
                .transpose()?,
            modalities,
            place.map(PlaceBody::try_into_domain).transpose()?,
            languages,
            bio,
        )
        .map_err(|e| invalid(Field::Place, e))
    }

    pub fn try_into_domain(self, country: &'static Country) -> Result<NewDoctor, DomainError> {
        let profile = Self::profile(
            self.price,
            self.modalities,
            self.place,
            self.languages,
            self.bio,
            country,
        )?;
        Ok(NewDoctor {
            profile,
            document: DoctorDocument::parse(&self.document)
                .map_err(|e| invalid(Field::Document, e))?,
            name: clean_text(&self.name, MAX_TEXT_LEN)
                .map_err(|e| invalid(Field::Name, format!("name {e}")))?,
            speciality: OfferedSpeciality::named(&self.speciality)
                .map_err(|e| invalid(Field::Speciality, format!("speciality {e}")))?,
            email: self
                .email
                .map(|raw| EmailAddress::parse(&raw))
                .transpose()
                .map_err(|e| invalid(Field::Email, format!("email {e}")))?,
            requires_confirmation: self.requires_confirmation.unwrap_or(false),
        })
    }
}

/// A doctor as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorResponse {
    pub id: String,
    pub country: &'static str,
    pub document: String,
    pub name: String,
    pub speciality: String,
    pub speciality_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub requires_confirmation: bool,
    /// The profile: null and empty for doctors registered without one.
    pub price: Option<PriceResponse>,
    pub modalities: Vec<&'static str>,
    pub place: Option<PlaceBody>,
    pub languages: Vec<String>,
    pub bio: Option<String>,
    /// Its shown reviews' average and count.
    pub rating: crate::finding_body::RatingResponse,
}

/// `{"amount": "120.00", "currency": "PEN"}`.
#[derive(Debug, Clone, Serialize)]
pub struct PriceResponse {
    pub amount: String,
    pub currency: &'static str,
}

impl From<&Price> for PriceResponse {
    fn from(price: &Price) -> Self {
        Self {
            amount: price.to_string(),
            currency: price.currency.code,
        }
    }
}

impl DoctorResponse {
    /// The doctor as `caller` may see them: the email only for staff and the doctor.
    pub fn for_caller(doctor: &Doctor, caller: &citas_domain::Caller) -> Self {
        let mut response = Self::from(doctor);
        if !caller.may_see_contact_of(&doctor.id) {
            response.email = None;
        }
        response
    }
}

impl From<&Doctor> for DoctorResponse {
    fn from(doctor: &Doctor) -> Self {
        Self {
            id: doctor.id.to_string(),
            country: doctor.id.country.code,
            document: doctor.id.document.to_string(),
            name: doctor.name.clone(),
            speciality: doctor.id.speciality.to_string(),
            speciality_name: display_name(&doctor.id.speciality),
            email: doctor.email.as_ref().map(ToString::to_string),
            requires_confirmation: doctor.requires_confirmation,
            price: doctor.profile.price.as_ref().map(PriceResponse::from),
            modalities: doctor
                .profile
                .modalities
                .iter()
                .map(|m| m.as_str())
                .collect(),
            place: doctor.profile.place.as_ref().map(|place| PlaceBody {
                name: place.name.clone(),
                address: place.address.clone(),
                district: place.district.clone(),
                lat: place.coordinates.lat(),
                lon: place.coordinates.lon(),
            }),
            languages: doctor.profile.languages.clone(),
            bio: doctor.profile.bio.clone(),
            rating: doctor.rating.into(),
        }
    }
}

pub(crate) fn required_speciality(raw: Option<String>) -> Result<Speciality, DomainError> {
    let raw =
        raw.ok_or_else(|| invalid(Field::Speciality, "give the query parameter 'speciality'"))?;
    Speciality::parse(&raw).map_err(|e| invalid(Field::Speciality, format!("speciality {e}")))
}

#[derive(Debug, Clone, Serialize)]
pub struct SpecialityResponse {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpecialityList {
    pub items: Vec<SpecialityResponse>,
}

impl From<Vec<OfferedSpeciality>> for SpecialityList {
    fn from(offered: Vec<OfferedSpeciality>) -> Self {
        Self {
            items: offered
                .into_iter()
                .map(|s| SpecialityResponse {
                    slug: s.slug.to_string(),
                    name: s.name,
                })
                .collect(),
        }
    }
}

/// `PUT /{country}/doctor/{id}/availability`, and what `GET` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    pub slot_minutes: u16,
    pub weekly: Vec<WeeklyBody>,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionBody>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyBody {
    pub weekday: String,
    pub from: String,
    pub to: String,
    /// `in_person` (the default) or `virtual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeBody {
    pub from: String,
    pub to: String,
    /// `in_person` (the default) or `virtual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

/// A day off (`"off": true`) or other hours (`"ranges"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionBody {
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<RangeBody>>,
}

pub(crate) fn date(field: Field, raw: &str) -> Result<Date, DomainError> {
    if raw.len() != 10 {
        return Err(invalid(field, format!("{field} must be a date YYYY-MM-DD")));
    }
    raw.parse::<Date>()
        .map_err(|_| invalid(field, format!("{field} must be a date YYYY-MM-DD")))
}

/// A range's modality as a plan shows it: only `virtual` is written, as
/// it is given (in person is the default).
fn shown_modality(modality: Modality) -> Option<String> {
    (modality == Modality::Virtual).then(|| modality.as_str().to_owned())
}

fn time_range(
    field: Field,
    from: &str,
    to: &str,
    modality: Option<&str>,
) -> Result<TimeRange, DomainError> {
    let time = |raw: &str| {
        parse_time(raw).ok_or_else(|| {
            invalid(
                field,
                format!(
                    "'{}' is not a time HH:MM",
                    raw.chars().take(16).collect::<String>()
                ),
            )
        })
    };
    let modality = match modality {
        None => Modality::InPerson,
        Some(raw) => Modality::parse(raw).ok_or_else(|| {
            invalid(
                field,
                "a range's modality must be \"in_person\" or \"virtual\"",
            )
        })?,
    };
    Ok(TimeRange {
        from: time(from)?,
        to: time(to)?,
        modality,
    })
}

impl AvailabilityBody {
    pub fn try_into_domain(self) -> Result<WorkingPlan, DomainError> {
        let weekly = self
            .weekly
            .iter()
            .map(|w| {
                Ok(WeeklyRange {
                    weekday: parse_weekday(&w.weekday).ok_or_else(|| {
                        invalid(
                            Field::Weekly,
                            "weekday must be one of mon, tue, wed, thu, fri, sat, sun",
                        )
                    })?,
                    range: time_range(Field::Weekly, &w.from, &w.to, w.modality.as_deref())?,
                })
            })
            .collect::<Result<Vec<_>, DomainError>>()?;
        let mut exceptions = BTreeMap::new();
        for exception in &self.exceptions {
            let day = date(Field::Exceptions, &exception.date)?;
            let change = match (exception.off, &exception.ranges) {
                (Some(true), None) => DayException::Off,
                (None | Some(false), Some(ranges)) if !ranges.is_empty() => DayException::Ranges(
                    ranges
                        .iter()
                        .map(|r| {
                            time_range(Field::Exceptions, &r.from, &r.to, r.modality.as_deref())
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => {
                    return Err(invalid(
                        Field::Exceptions,
                        format!(
                            "the exception of {day} needs either \"off\": true or non-empty \"ranges\""
                        ),
                    ));
                }
            };
            if exceptions.insert(day, change).is_some() {
                return Err(invalid(
                    Field::Exceptions,
                    format!("{day} has more than one exception"),
                ));
            }
        }
        WorkingPlan::new(
            self.slot_minutes,
            weekly,
            date(Field::ValidFrom, &self.valid_from)?,
            self.valid_until
                .as_deref()
                .map(|raw| date(Field::ValidUntil, raw))
                .transpose()?,
            exceptions,
        )
        .map_err(|e| invalid(e.field, e.message))
    }

    pub fn from_domain(plan: &WorkingPlan) -> Self {
        let range = |r: &TimeRange| RangeBody {
            from: format_time(r.from),
            to: format_time(r.to),
            modality: shown_modality(r.modality),
        };
        Self {
            slot_minutes: plan.slot_minutes(),
            weekly: plan
                .weekly()
                .iter()
                .map(|w| WeeklyBody {
                    weekday: weekday_code(w.weekday).to_owned(),
                    from: format_time(w.range.from),
                    to: format_time(w.range.to),
                    modality: shown_modality(w.range.modality),
                })
                .collect(),
            valid_from: plan.valid_from().to_string(),
            valid_until: plan.valid_until().map(|d| d.to_string()),
            exceptions: plan
                .exceptions()
                .iter()
                .map(|(day, change)| match change {
                    DayException::Off => ExceptionBody {
                        date: day.to_string(),
                        off: Some(true),
                        ranges: None,
                    },
                    DayException::Ranges(ranges) => ExceptionBody {
                        date: day.to_string(),
                        off: None,
                        ranges: Some(ranges.iter().map(range).collect()),
                    },
                })
                .collect(),
        }
    }
}

/// A stored plan: the plan and the last local day its slots are generated for.
#[derive(Debug, Clone, Serialize)]
pub struct AvailabilityResponse {
    pub doctor: String,
    #[serde(flatten)]
    pub plan: AvailabilityBody,
    pub generated_until: String,
    pub time_zone: &'static str,
    /// How long a virtual visit's meeting lasts (the country's rule).
    pub meeting_minutes: i64,
    /// How many times the plan was saved.
    pub revision: u32,
}

impl AvailabilityResponse {
    pub fn new(doctor: &DoctorId, availability: &Availability) -> Self {
        Self {
            doctor: doctor.to_string(),
            plan: AvailabilityBody::from_domain(&availability.plan),
            generated_until: availability.generated_until.to_string(),
            time_zone: doctor.country.time_zone_name,
            meeting_minutes: doctor.country.meeting.minutes(),
            revision: availability.revision,
        }
    }
}

/// What `PUT …/availability` answers: the plan and what it changed.
#[derive(Debug, Clone, Serialize)]
pub struct PlanAppliedResponse {
    #[serde(flatten)]
    pub availability: AvailabilityResponse,
    pub slots: SlotChanges,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotChanges {
    pub added: usize,
    pub removed: usize,
    /// Booked slots outside the new plan, kept: their appointments need moving.
    pub booked_outside_plan: Vec<SlotTime>,
}

impl PlanAppliedResponse {
    pub fn new(doctor: &DoctorId, applied: &PlanApplied) -> Self {
        Self {
            availability: AvailabilityResponse::new(doctor, &applied.availability),
            slots: SlotChanges {
                added: applied.added,
                removed: applied.removed,
                booked_outside_plan: applied
                    .booked_outside_plan
                    .iter()
                    .map(SlotTime::of)
                    .collect(),
            },
        }
    }
}
