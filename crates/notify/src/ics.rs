//! An iCalendar (RFC 5545) invitation for one appointment, in the country's
//! time zone, so the patient's calendar shows the local time whatever its own zone.

use citas_domain::{Appointment, Country};
use jiff::Timestamp;

/// What the invitation asks of the calendar (iTIP, RFC 5546).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Add the event, or update it if the UID is known and SEQUENCE is higher.
    Publish,
    /// Remove the event with this UID.
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Cancel => "CANCEL",
        }
    }
}

/// One event per appointment: the UID is the appointment's, and SEQUENCE its
/// revision, so each change supersedes the invitation sent before it.
pub struct Invitation<'a> {
    pub country: &'a Country,
    pub appointment: &'a Appointment,
    pub method: Method,
    /// Unknown on a cancellation of a booking that was refused (its slot is gone).
    pub starts_at: Option<Timestamp>,
    pub summary: String,
    pub description: String,
    pub location: String,
    /// An online visit's link (RFC 7986 `CONFERENCE`).
    pub conference: Option<String>,
    pub stamp: Timestamp,
    /// Stable per appointment (updates and cancellations match it), and
    /// without its document: [`crate::CalendarKey::uid`].
    pub uid: String,
}

impl Invitation<'_> {
    pub fn render(&self) -> String {
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_owned(),
            "VERSION:2.0".to_owned(),
            "PRODID:-//citas//citas medicas//ES".to_owned(),
            "CALSCALE:GREGORIAN".to_owned(),
            format!("METHOD:{}", self.method.as_str()),
        ];
        let zone = self.country.time_zone_name;
        let times = self.starts_at.map(|starts_at| {
            let start = self.country.local(starts_at);
            let end = self.country.local(citas_domain::scheduling::slot::ends_at(
                starts_at,
                self.appointment.slot_minutes,
            ));
            (starts_at, start, end)
        });
        if let Some((starts_at, start, _)) = &times {
            let seconds = start.offset().seconds();
            let dst = start.time_zone().to_offset_info(*starts_at).dst().is_dst();
            let observance = if dst { "DAYLIGHT" } else { "STANDARD" };
            let sign = if seconds < 0 { '-' } else { '+' };
            let utc_offset = format!(
                "{sign}{:02}{:02}",
                seconds.abs() / 3600,
                (seconds.abs() % 3600) / 60
            );
            // The observance in force at the appointment, which is all a single event needs.
            lines.extend([
                "BEGIN:VTIMEZONE".to_owned(),
                format!("TZID:{zone}"),
                format!("BEGIN:{observance}"),
                "DTSTART:19700101T000000".to_owned(),
                format!("TZOFFSETFROM:{utc_offset}"),
                format!("TZOFFSETTO:{utc_offset}"),
                format!("END:{observance}"),
                "END:VTIMEZONE".to_owned(),
            ]);
        }
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}", self.uid),
            format!("SEQUENCE:{}", self.appointment.revision),
            format!("DTSTAMP:{}", self.stamp.strftime("%Y%m%dT%H%M%SZ")),
        ]);
        if let Some((_, start, end)) = &times {
            let local = |z: &jiff::Zoned| z.strftime("%Y%m%dT%H%M%S").to_string();
            lines.push(format!("DTSTART;TZID={zone}:{}", local(start)));
            lines.push(format!("DTEND;TZID={zone}:{}", local(end)));
        }
        lines.extend([
            format!("SUMMARY:{}", escape(&self.summary)),
            format!("DESCRIPTION:{}", escape(&self.description)),
            format!("LOCATION:{}", escape(&self.location)),
        ]);
        if let Some(link) = &self.conference {
            // A URI value, not TEXT: not escaped (RFC 7986 §5.11).
            lines.push(format!(
                "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Teleconsulta:{link}"
            ));
        }
        lines.extend([
            match self.method {
                Method::Publish => "STATUS:CONFIRMED".to_owned(),
                Method::Cancel => "STATUS:CANCELLED".to_owned(),
            },
            "END:VEVENT".to_owned(),
            "END:VCALENDAR".to_owned(),
        ]);
        lines.iter().map(|line| fold(line)).collect()
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
