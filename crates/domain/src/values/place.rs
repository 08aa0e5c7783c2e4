//! Where a doctor sees patients, and how far it is: coordinates checked
//! once, great-circle distances, and the geohash cells that cover a circle,
//! so a search by distance reads a few cells' keys whatever the number of
//! doctors (issue 26).

use std::collections::BTreeSet;

/// A point on the Earth (WGS 84), range-checked, held exactly in
/// millionths of a degree (about 11 cm): stored and compared as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coordinates {
    lat_e6: i32,
    lon_e6: i32,
}

/// Coordinates out of range, or not numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a latitude is between -90 and 90 and a longitude between -180 and 180, in degrees")]
pub struct InvalidCoordinates;

/// Geohash characters of the cells doctors are found by: 5 is a cell of
/// about 4.9 km north-south (and as much east-west at the equator, less
/// further south), so a search within a few kilometres covers a few cells.
pub const CELL_PRECISION: usize = 5;

/// The mean Earth radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6_371.008_8;

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

impl Coordinates {
    /// # Errors
    /// `InvalidCoordinates` for a value out of range or not finite.
    pub fn new(lat: f64, lon: f64) -> Result<Self, InvalidCoordinates> {
        if lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon)
        {
            // In range, so the rounded millionths fit an i32 (at most 180 000 000).
            Ok(Self {
                lat_e6: (lat * 1e6).round() as i32,
                lon_e6: (lon * 1e6).round() as i32,
            })
        } else {
            Err(InvalidCoordinates)
        }
    }

    /// `"LAT,LON"`, as a search's `near` gives it.
    ///
    /// # Errors
    /// `InvalidCoordinates` when it is not two numbers in range.
    pub fn parse(text: &str) -> Result<Self, InvalidCoordinates> {
        let (lat, lon) = text.split_once(',').ok_or(InvalidCoordinates)?;
        let number = |part: &str| part.trim().parse::<f64>().map_err(|_| InvalidCoordinates);
        Self::new(number(lat)?, number(lon)?)
    }

    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e6) / 1e6
    }

    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e6) / 1e6
    }

    /// The great-circle distance (haversine), in kilometres.
    pub fn distance_km(&self, other: &Coordinates) -> f64 {
        let (lat1, lat2) = (self.lat().to_radians(), other.lat().to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon() - self.lon()).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// The geohash of the point with `precision` characters (5: cells of
    /// about 4.9 × 4.9 km at the equator).
    pub fn geohash(&self, precision: usize) -> String {
        geohash_of(self.lat(), self.lon(), precision)
    }
}

/// The geohash of degrees as they are (no rounding: the covering cells'
/// grid samples must not step across a cell edge).
fn geohash_of(lat: f64, lon: f64, precision: usize) -> String {
    let (mut lat_range, mut lon_range) = ((-90.0_f64, 90.0_f64), (-180.0_f64, 180.0_f64));
    let mut hash = String::with_capacity(precision);
    let (mut bits, mut value, mut even) = (0, 0_usize, true);
    while hash.len() < precision {
        let (range, coordinate) = if even {
            (&mut lon_range, lon)
        } else {
            (&mut lat_range, lat)
        };
        let middle = (range.0 + range.1) / 2.0;
        value <<= 1;
        if coordinate >= middle {
            value |= 1;
            range.0 = middle;
        } else {
            range.1 = middle;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            hash.push(char::from(BASE32[value]));
            (bits, value) = (0, 0);
        }
    }
    hash
}

/// The size of a geohash cell of `precision` characters, in degrees (latitude, longitude).
fn cell_degrees(precision: usize) -> (f64, f64) {
    let bits = 5 * precision;
    let lon_bits = bits.div_ceil(2);
    let lat_bits = bits / 2;
    (
        180.0 / f64::from(1_u32 << lat_bits),
        360.0 / f64::from(1_u32 << lon_bits),
    )
}

/// The geohash cells of `precision` characters that meet the circle of
/// `radius_km` around `center`: the cells of the geohash grid over the
/// circle's bounding box whose rectangle comes within the radius of the
/// centre. Their number depends on the radius, never on how many doctors
/// there are; `None` when more than `limit` cells would be needed (the
/// caller bounds the radius) or the circle reaches a pole or the 180th
/// meridian (no country of ours is there).
pub fn cells_covering(
    center: &Coordinates,
    radius_km: f64,
    precision: usize,
    limit: usize,
) -> Option<BTreeSet<String>> {
    let lat_span = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let widest = (center.lat().abs() + lat_span).to_radians().cos();
    if center.lat().abs() + lat_span >= 89.9 || widest <= 0.0 {
        return None;
    }
    let lon_span = lat_span / widest;
    if center.lon().abs() + lon_span >= 180.0 {
        return None;
    }
    let (cell_lat, cell_lon) = cell_degrees(precision);
    // Grid rows and columns are counted from the south-west corner of the world.
    let row = |lat: f64| ((lat + 90.0) / cell_lat).floor() as i64;
    let column = |lon: f64| ((lon + 180.0) / cell_lon).floor() as i64;
    let (rows, columns) = (
        row(center.lat() - lat_span)..=row(center.lat() + lat_span),
        column(center.lon() - lon_span)..=column(center.lon() + lon_span),
    );
    let candidates = (rows.end() - rows.start() + 1) * (columns.end() - columns.start() + 1);
    if candidates > i64::try_from(limit.saturating_mul(2)).unwrap_or(i64::MAX) {
        return None;
    }
    let mut cells = BTreeSet::new();
    for r in rows {
        let south = r as f64 * cell_lat - 90.0;
        for c in columns.clone() {
            let west = c as f64 * cell_lon - 180.0;
            // The cell's point nearest the centre: the centre, clamped into the cell.
            let nearest = Coordinates::new(
                center.lat().clamp(south, south + cell_lat),
                center.lon().clamp(west, west + cell_lon),
            );
            if nearest.is_ok_and(|point| center.distance_km(&point) <= radius_km) {
                cells.insert(geohash_of(
                    south + cell_lat / 2.0,
                    west + cell_lon / 2.0,
                    precision,
                ));
            }
        }
    }
    (cells.len() <= limit).then_some(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("coordinates in range")
    }

    #[test]
    fn geohashes_are_the_standard_ones() {
        // The algorithm's reference example (Niemeyer's), and its prefixes.
        assert_eq!(at(57.64911, 10.40744).geohash(11), "u4pruydqqvj");
        assert_eq!(at(57.64911, 10.40744).geohash(5), "u4pru");
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        // Lima's Plaza de Armas to Miraflores' Parque Kennedy: about 8.3 km.
        let plaza = at(-12.0464, -77.0300);
        let kennedy = at(-12.1211, -77.0297);
        let km = plaza.distance_km(&kennedy);
        assert!((8.2..8.4).contains(&km), "{km}");
        assert!(plaza.distance_km(&plaza) < 1e-9);
    }

    #[test]
    fn the_cells_cover_every_point_of_the_circle() {
        let center = at(-33.4489, -70.6693); // Santiago
        let cells = cells_covering(&center, 5.0, 5, 64).expect("a few cells");
        // The 10 km box spans 3 or 4 cells each way; its corners' cells lie outside.
        assert!(cells.len() <= 16, "{}", cells.len());
        // Points on rings inside the circle fall in a covering cell.
        for step in 0..72 {
            let bearing = f64::from(step) * 5.0_f64.to_radians();
            for km in [0.0, 0.5, 2.5, 4.0, 4.99] {
                let dlat = (km / EARTH_RADIUS_KM).to_degrees() * bearing.cos();
                let dlon = (km / EARTH_RADIUS_KM).to_degrees() * bearing.sin()
                    / center.lat().to_radians().cos();
                let point = at(center.lat() + dlat, center.lon() + dlon);
                assert!(
                    cells.contains(&point.geohash(5)),
                    "{km} km at {step}: {}",
                    point.geohash(5)
                );
            }
        }
        assert_eq!(cells_covering(&center, 500.0, 5, 64), None);
        // A circle around a pole spans every longitude: too many cells, not a partial set.
        assert_eq!(cells_covering(&at(89.99, 10.0), 5.0, 5, 64), None);
    }

    proptest::proptest! {
        /// Any point of any circle a search may ask for (Peru and Chile's
        /// latitudes, up to 10 km) lies in one of its cells.
        #[test]
        fn every_point_of_a_circle_is_in_its_cells(
            lat in -56.0..0.0_f64, lon in -82.0..-66.0_f64, radius in 0.1..10.0_f64,
            bearing in 0.0..std::f64::consts::TAU, fraction in 0.0..1.0_f64,
        ) {
            let center = at(lat, lon);
            let cells = cells_covering(&center, radius, 5, 64).expect("cells");
            let km = radius * fraction * 0.999;
            let dlat = (km / EARTH_RADIUS_KM).to_degrees() * bearing.cos();
            let dlon = (km / EARTH_RADIUS_KM).to_degrees() * bearing.sin() / lat.to_radians().cos();
            let point = at(lat + dlat, lon + dlon);
            proptest::prop_assume!(center.distance_km(&point) <= radius);
            proptest::prop_assert!(cells.contains(&point.geohash(5)));
        }
    }

    #[test]
    fn coordinates_out_of_range_are_refused() {
        for text in ["91,0", "0,181", "x,1", "1", "NaN,0", "-12.05,-77.04,3"] {
            assert_eq!(Coordinates::parse(text), Err(InvalidCoordinates), "{text}");
        }
        assert!(Coordinates::parse("-12.05, -77.04").is_ok());
    }
}
