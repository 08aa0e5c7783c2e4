//! An iCalendar (RFC 5545) invitation for one appointment, in the country's
//! time zone, so the patient's calendar shows the local time whatever its own zone.

use citas_domain::{Appointment, Country};
use jiff::{SignedDuration, Timestamp};

/// How long a calendar entry lasts; slots carry only their start.
pub const APPOINTMENT_LENGTH: SignedDuration = SignedDuration::from_mins(30);

pub struct Invitation<'a> {
    pub country: &'a Country,
    pub appointment: &'a Appointment,
    pub starts_at: Timestamp,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub stamp: Timestamp,
}

impl Invitation<'_> {
    pub fn render(&self) -> String {
        let zone = self.country.time_zone_name;
        let start = self.country.local(self.starts_at);
        let end = self.country.local(self.starts_at + APPOINTMENT_LENGTH);
        let offset = start.offset();
        let dst = start
            .time_zone()
            .to_offset_info(self.starts_at)
            .dst()
            .is_dst();
        let observance = if dst { "DAYLIGHT" } else { "STANDARD" };
        let local = |z: &jiff::Zoned| z.strftime("%Y%m%dT%H%M%S").to_string();
        let utc_offset = {
            let seconds = offset.seconds();
            let sign = if seconds < 0 { '-' } else { '+' };
            format!(
                "{sign}{:02}{:02}",
                seconds.abs() / 3600,
                (seconds.abs() % 3600) / 60
            )
        };
        let lines = [
            "BEGIN:VCALENDAR".to_owned(),
            "VERSION:2.0".to_owned(),
            "PRODID:-//citas//citas medicas//ES".to_owned(),
            "CALSCALE:GREGORIAN".to_owned(),
            "METHOD:PUBLISH".to_owned(),
            // The observance in force at the appointment, which is all a single event needs.
            "BEGIN:VTIMEZONE".to_owned(),
            format!("TZID:{zone}"),
            format!("BEGIN:{observance}"),
            "DTSTART:19700101T000000".to_owned(),
            format!("TZOFFSETFROM:{utc_offset}"),
            format!("TZOFFSETTO:{utc_offset}"),
            format!("END:{observance}"),
            "END:VTIMEZONE".to_owned(),
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}@citas", self.appointment.id),
            format!("DTSTAMP:{}", self.stamp.strftime("%Y%m%dT%H%M%SZ")),
            format!("DTSTART;TZID={zone}:{}", local(&start)),
            format!("DTEND;TZID={zone}:{}", local(&end)),
            format!("SUMMARY:{}", escape(&self.summary)),
            format!("DESCRIPTION:{}", escape(&self.description)),
            format!("LOCATION:{}", escape(&self.location)),
            "STATUS:CONFIRMED".to_owned(),
            "END:VEVENT".to_owned(),
            "END:VCALENDAR".to_owned(),
        ];
        lines
            .iter()
            .map(|line| fold(line))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// TEXT escaping of RFC 5545 §3.3.11.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Lines of at most 75 octets, continued with CRLF and a space (§3.1), never
/// splitting a UTF-8 character; each line ends with CRLF.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_lines_short_and_characters_whole() {
        let long = format!("DESCRIPTION:{}", "ñ".repeat(100));
        let folded = fold(&long);
        for line in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets", line.len());
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{long}\r\n"));
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
