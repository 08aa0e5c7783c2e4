//! Timestamps are stored and sent as RFC 3339 UTC with exactly three decimals,
//! so their text sorts as their time does (DynamoDB sort keys compare text).

use jiff::Timestamp;

/// `2026-11-22T17:45:12.123Z`.
pub fn format(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Whole milliseconds; what every store keeps.
pub fn truncate(at: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_precision_text_sorts_like_time() {
        let a: Timestamp = "2026-11-22T17:45:12Z".parse().unwrap();
        let b: Timestamp = "2026-11-22T17:45:12.5Z".parse().unwrap();
        assert_eq!(format(a), "2026-11-22T17:45:12.000Z");
        assert_eq!(format(b), "2026-11-22T17:45:12.500Z");
        assert!(format(a) < format(b));
        assert_eq!(
            format(truncate("2026-11-22T17:45:12.123456Z".parse().unwrap())),
            "2026-11-22T17:45:12.123Z"
        );
    }
}
