//! Finding a doctor (issue 26): by speciality, near a point, by rating,
//! modality and price, sorted by distance, rating, price or the earliest
//! free slot. Every request is bounded whatever the number of doctors: a
//! search near a point reads the few geohash cells covering its circle
//! (at most [`PER_CELL`] doctors each), one without a point the first
//! [`WITHOUT_NEAR`] doctors of the speciality; filters and the sort apply
//! to what those reads return, and `complete` says whether they read all.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt, stream};
use jiff::{SignedDuration, Timestamp};

use crate::Services;
use crate::access::{Access, Caller, authorize};
use crate::error::{DomainError, Field};
use crate::ports::{PageRequest, cursor};
use crate::scheduling::doctor::{Doctor, Modality};
use crate::scheduling::slot::Slot;
use crate::values::country::Country;
use crate::values::money::Price;
use crate::values::place::{CELL_PRECISION, Coordinates, cells_covering};
use crate::values::speciality::Speciality;

/// The radius a search near a point takes when none is given.
pub const DEFAULT_WITHIN_KM: f64 = 5.0;
/// The widest radius: its circle is covered by at most [`MAX_CELLS`] cells.
pub const MAX_WITHIN_KM: f64 = 10.0;
/// The most geohash cells one search queries.
pub const MAX_CELLS: usize = 64;
/// The most doctors read from one cell.
pub const PER_CELL: usize = 100;
/// The most doctors a search without a point reads.
pub const WITHOUT_NEAR: usize = 200;
/// How far ahead a doctor's next free slot is looked for.
pub const NEXT_SLOT_WITHIN: SignedDuration = SignedDuration::from_hours(24 * 7 * 9);
/// Next-slot lookups in flight at once.
const LOOKUPS_AT_ONCE: usize = 8;
/// The most candidates `sort=earliest` looks up next slots for (the
/// nearest ones near a point, else the first by id); `complete` says when
/// there were more.
pub const EARLIEST_CANDIDATES: usize = 50;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoctorSort {
    /// Nearest first (needs a point).
    Distance,
    /// Best average first; doctors without reviews last.
    Rating,
    /// Cheapest first; doctors without a price last.
    Price,
    /// Earliest next free slot first; doctors without one last.
    Earliest,
}

impl DoctorSort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "distance" => Some(Self::Distance),
            "rating" => Some(Self::Rating),
            "price" => Some(Self::Price),
            "earliest" => Some(Self::Earliest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distance => "distance",
            Self::Rating => "rating",
            Self::Price => "price",
            Self::Earliest => "earliest",
        }
    }
}

/// A circle to search in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub point: Coordinates,
    pub within_km: f64,
}

/// `GET /{country}/doctor` with any search parameter, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct DoctorSearch {
    pub speciality: Speciality,
    pub near: Option<Near>,
    /// The least average, in tenths of a star (10 to 50).
    pub min_rating_tenths: Option<u64>,
    pub modality: Option<Modality>,
    /// In the country's currency.
    pub max_price: Option<Price>,
    pub sort: DoctorSort,
}

impl DoctorSearch {
    /// A search from its parts: `sort` defaults to distance with a point and
    /// to rating without.
    ///
    /// # Errors
    /// `InvalidInput` (`sort`) for the distance sort without a point;
    /// (`within_km`) for a radius outside (0, [`MAX_WITHIN_KM`]].
    pub fn new(
        speciality: Speciality,
        near: Option<Near>,
        min_rating_tenths: Option<u64>,
        modality: Option<Modality>,
        max_price: Option<Price>,
        sort: Option<DoctorSort>,
    ) -> Result<Self, DomainError> {
        if let Some(near) = &near
            && !(near.within_km > 0.0 && near.within_km <= MAX_WITHIN_KM)
        {
            return Err(DomainError::InvalidInput {
                field: Field::WithinKm,
                message: format!(
                    "within_km is a distance in km above 0 and at most {MAX_WITHIN_KM}"
                ),
            });
        }
        let sort = match (sort, &near) {
            (Some(DoctorSort::Distance), None) => {
                return Err(DomainError::InvalidInput {
                    field: Field::Sort,
                    message: "sort=distance needs near=LAT,LON".into(),
                });
            }
            (Some(sort), _) => sort,
            (None, Some(_)) => DoctorSort::Distance,
            (None, None) => DoctorSort::Rating,
        };
        Ok(Self {
            speciality,
            near,
            min_rating_tenths,
            modality,
            max_price,
            sort,
        })
    }

    /// Ties a cursor to this search.
    fn scope(&self, country: &Country) -> String {
        format!(
            "{}/doctor-search/{}/{}/{:?}/{:?}/{:?}/{}",
            country.code,
            self.speciality,
            self.near
                .map(|n| format!("{},{},{}", n.point.lat(), n.point.lon(), n.within_km))
                .unwrap_or_default(),
            self.min_rating_tenths,
            self.modality,
            self.max_price.map(|p| p.minor_units),
            self.sort.as_str()
        )
    }

    fn admits(&self, doctor: &Doctor) -> bool {
        let profile = &doctor.profile;
        self.modality
            .is_none_or(|wanted| profile.modalities.contains(&wanted))
            && self
                .min_rating_tenths
                .is_none_or(|least| doctor.rating.tenths().is_some_and(|tenths| tenths >= least))
            && self.max_price.is_none_or(|most| {
                profile
                    .price
                    .is_some_and(|price| price.minor_units <= most.minor_units)
            })
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundDoctor {
    pub doctor: Doctor,
    /// From the search's point, when it has one.
    pub distance_km: Option<f64>,
    pub next_slot: Option<Slot>,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundDoctors {
    pub items: Vec<FoundDoctor>,
    pub next_cursor: Option<String>,
    /// False when a read stopped at its bound: doctors beyond it were not
    /// considered (a smaller circle or more filters find them).
    pub complete: bool,
}

/// `GET /{country}/doctor?speciality=` without a search parameter: a page
/// of the speciality's doctors in id order, each with their next free slot.
pub async fn list_doctors(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    speciality: &Speciality,
    page: &PageRequest,
) -> Result<FoundDoctors, DomainError> {
    authorize(caller, country, Access::Browse)?;
    let page = services
        .store
        .list_doctors(country, speciality, page)
        .await?;
    let mut items: Vec<FoundDoctor> = page
        .items
        .into_iter()
        .map(|doctor| FoundDoctor {
            doctor,
            distance_km: None,
            next_slot: None,
        })
        .collect();
    fill_next_slots(services, &mut items, services.now(), None).await?;
    Ok(FoundDoctors {
        items,
        next_cursor: page.next_cursor,
        complete: true,
    })
}

/// Searches a country's doctors of a speciality.
pub async fn find_doctors(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    search: &DoctorSearch,
    page: &PageRequest,
) -> Result<FoundDoctors, DomainError> {
    authorize(caller, country, Access::Browse)?;
    let offset = match &page.cursor {
        Some(raw) => cursor::decode(&search.scope(country), raw)?
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(DomainError::InvalidCursor)?,
        None => 0,
    };
    let (doctors, complete) = candidates(services, country, search).await?;
    let mut found: Vec<FoundDoctor> = doctors
        .into_iter()
        .filter(|doctor| search.admits(doctor))
        .filter_map(|doctor| {
            let distance_km = match &search.near {
                None => None,
                Some(near) => {
                    let place = doctor.profile.place.as_ref()?;
                    let km = near.point.distance_km(&place.coordinates);
                    if km > near.within_km {
                        return None;
                    }
                    Some(km)
                }
            };
            Some(FoundDoctor {
                doctor,
                distance_km,
                next_slot: None,
            })
        })
        .collect();
    let now = services.now();
    let mut complete = complete;
    if search.sort == DoctorSort::Earliest {
        // The order needs the candidates' next slots: the nearest (or first) ones only.
        found.sort_by(|a, b| order(DoctorSort::Distance, a, b));
        if found.len() > EARLIEST_CANDIDATES {
            found.truncate(EARLIEST_CANDIDATES);
            complete = false;
        }
        fill_next_slots(services, &mut found, now, search.modality).await?;
    }
    found.sort_by(|a, b| order(search.sort, a, b));
    let total = found.len();
    let mut items: Vec<FoundDoctor> = found.into_iter().skip(offset).take(page.limit).collect();
    if search.sort != DoctorSort::Earliest {
        fill_next_slots(services, &mut items, now, search.modality).await?;
    }
    let next = offset + items.len();
    Ok(FoundDoctors {
        items,
        next_cursor: (next < total)
            .then(|| cursor::encode(&search.scope(country), serde_json::json!(next))),
        complete,
    })
}

/// The doctors the search reads before its filters, and whether that is all of them.
async fn candidates(
    services: &Services,
    country: &'static Country,
    search: &DoctorSearch,
) -> Result<(Vec<Doctor>, bool), DomainError> {
    match &search.near {
        Some(near) => {
            let cells: BTreeSet<String> =
                cells_covering(&near.point, near.within_km, CELL_PRECISION, MAX_CELLS).ok_or_else(
                    || DomainError::InvalidInput {
                        field: Field::WithinKm,
                        message: "the circle is too wide for one search, or reaches a pole or the 180th meridian; give a smaller within_km"
                            .into(),
                    },
                )?;
            let found = services
                .store
                .doctors_in_cells(country, &search.speciality, &cells, PER_CELL)
                .await?;
            Ok((found.items, found.complete))
        }
        None => {
            let page = services
                .store
                .list_doctors(
                    country,
                    &search.speciality,
                    &PageRequest {
                        limit: WITHOUT_NEAR,
                        cursor: None,
                    },
                )
                .await?;
            Ok((page.items, page.next_cursor.is_none()))
        }
    }
}

/// Each doctor's next free slot (of the modality searched for, if one was).
async fn fill_next_slots(
    services: &Services,
    found: &mut [FoundDoctor],
    now: Timestamp,
    modality: Option<Modality>,
) -> Result<(), DomainError> {
    // Collected first: a stream over a closure's futures is not `Send` (rustc #102211).
    let lookups: Vec<_> = found
        .iter()
        .map(|item| {
            services
                .store
                .next_free_slot(&item.doctor.id, now, now + NEXT_SLOT_WITHIN, modality)
        })
        .collect();
    let slots: Vec<Option<Slot>> = stream::iter(lookups)
        .buffered(LOOKUPS_AT_ONCE)
        .try_collect()
        .await?;
    for (item, slot) in found.iter_mut().zip(slots) {
        item.next_slot = slot;
    }
    Ok(())
}

/// The search's order, ties broken by the doctor's id so pages are stable.
fn order(sort: DoctorSort, a: &FoundDoctor, b: &FoundDoctor) -> Ordering {
    // `None` (no value to sort by) after every value.
    fn last_if_none<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let by = match sort {
        DoctorSort::Distance => a
            .distance_km
            .partial_cmp(&b.distance_km)
            .unwrap_or(Ordering::Equal),
        DoctorSort::Rating => last_if_none(
            a.doctor.rating.tenths().map(std::cmp::Reverse),
            b.doctor.rating.tenths().map(std::cmp::Reverse),
        )
        .then(b.doctor.rating.count.cmp(&a.doctor.rating.count)),
        DoctorSort::Price => last_if_none(
            a.doctor.profile.price.map(|p| p.minor_units),
            b.doctor.profile.price.map(|p| p.minor_units),
        ),
        DoctorSort::Earliest => last_if_none(
            a.next_slot.as_ref().map(|s| s.id.starts_at),
            b.next_slot.as_ref().map(|s| s.id.starts_at),
        ),
    };
    by.then_with(|| a.doctor.id.to_string().cmp(&b.doctor.id.to_string()))
}
