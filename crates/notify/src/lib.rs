//! Notifications: emails rendered in Spanish with an iCalendar invitation,
//! sent once per message however often it is delivered, and the daily
//! reminders of each country.

pub mod ics;
pub mod process;
pub mod reference;
pub mod remind;
pub mod render;
pub mod verify;

pub use process::{CLAIM_LAPSES_AFTER, Done, EmailPipeline, Retry};
pub use reference::CalendarKey;
pub use remind::{ReminderReport, next_day, remind};
pub use verify::MailVerifier;
