//! The emails patients receive, in Spanish, with dates and times in their
//! country's local time and usual format. Subjects carry no document numbers.

use citas_domain::{
    Appointment, Attachment, Country, Doctor, Email, EmailAddress, NotificationKind,
};
use jiff::Timestamp;
use jiff::civil::Weekday;

use crate::ics::{Invitation, Method};

/// What an email is about.
pub struct Context<'a> {
    pub country: &'a Country,
    pub kind: NotificationKind,
    pub appointment: &'a Appointment,
    /// Whom it greets: the patient, or the doctor for messages to doctors.
    pub patient_name: &'a str,
    pub to: &'a EmailAddress,
    pub doctor: Option<&'a Doctor>,
    /// The invitation's DTSTAMP: when the change it announces was made, so
    /// a copy sent again is the same invitation.
    pub stamp: Timestamp,
    /// The country's local day the email is written on: a reminder says
    /// "mañana" only when the visit is the next day.
    pub today: jiff::civil::Date,
    /// Derives the invitation's UID and the booking reference, so neither
    /// carries the appointment id (and its document).
    pub key: &'a crate::CalendarKey,
    /// A virtual visit's link to its join page (or Jitsi room): never a
    /// credential. None for an in-person visit.
    pub join_link: Option<&'a str>,
}

/// When a visit is, said from `today`: "hoy", "mañana" or its date.
fn day_from(country: &Country, today: jiff::civil::Date, at: Timestamp) -> String {
    let day = country.local_date(at);
    if day == today {
        "hoy".to_owned()
    } else if today.tomorrow().ok() == Some(day) {
        "mañana".to_owned()
    } else {
        let local = country.local(at);
        format!(
            "el {} {}",
            weekday(local.weekday()),
            local.strftime(country.date_format)
        )
    }
}

fn weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "lunes",
        Weekday::Tuesday => "martes",
        Weekday::Wednesday => "miércoles",
        Weekday::Thursday => "jueves",
        Weekday::Friday => "viernes",
        Weekday::Saturday => "sábado",
        Weekday::Sunday => "domingo",
    }
}

/// `lunes 07/12/2026 a las 09:00 (hora de Lima)`.
pub fn when(country: &Country, at: Timestamp) -> String {
    let local = country.local(at);
    format!(
        "{} {} a las {} ({})",
        weekday(local.weekday()),
        local.strftime(country.date_format),
        local.strftime("%H:%M"),
        country.time_zone_label
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(context: &Context<'_>) -> Email {
    let appointment = context.appointment;
    // The name the patient was shown: "Cardiología", not the slug.
    let speciality = appointment.speciality_name.clone();
    let doctor = context.doctor.map(|d| d.name.as_str());
    let when = appointment.starts_at().map(|at| when(context.country, at));
    let (subject, lead) = match context.kind {
        NotificationKind::Registered => (
            format!("Recibimos tu solicitud de cita de {speciality}"),
            "Recibimos tu solicitud de cita. Te avisaremos cuando te asignemos un médico y un horario.".to_owned(),
        ),
        NotificationKind::Pending => (
            format!("Tu cita de {speciality} está reservada y espera la confirmación del médico"),
            "Reservamos tu horario. El médico debe confirmarlo; te avisaremos cuando lo haga.".to_owned(),
        ),
        NotificationKind::AwaitingAnswer => (
            format!("Una reserva de {speciality} espera tu respuesta"),
            format!(
                "{} reservó un horario contigo. Confírmalo o recházalo desde tu agenda.",
                appointment.patient_name
            ),
        ),
        NotificationKind::Assigned => (
            format!("Tu cita de {speciality} está confirmada"),
            "Tu cita está confirmada.".to_owned(),
        ),
        NotificationKind::Refused => (
            format!("Tu cita de {speciality} no fue aceptada: elige otro horario"),
            match &appointment.refusal_reason {
                Some(reason) => format!(
                    "El médico no puede atenderte en el horario que elegiste. Motivo: {reason}. Tu solicitud sigue registrada: elige otro horario disponible."
                ),
                None => "El médico no puede atenderte en el horario que elegiste. Tu solicitud sigue registrada: elige otro horario disponible.".to_owned(),
            },
        ),
        NotificationKind::Rescheduled => (
            format!("Tu cita de {speciality} cambió de horario"),
            "Tu cita se movió a un nuevo horario; el anterior quedó libre.".to_owned(),
        ),
        NotificationKind::NoShow => (
            format!("No registramos tu asistencia a la cita de {speciality}"),
            "El médico registró que no asististe a tu cita. Si fue un error, comunícate con nosotros.".to_owned(),
        ),
        NotificationKind::Reminder => {
            let day = appointment
                .starts_at()
                .map(|at| day_from(context.country, context.today, at))
                .unwrap_or_else(|| "pronto".to_owned());
            (
                format!("Recordatorio: tu cita de {speciality} es {day}"),
                format!("Te recordamos que tu cita es {day}."),
            )
        }
        NotificationKind::Cancelled => (
            format!("Tu cita de {speciality} fue cancelada"),
            match &appointment.cancel_reason {
                Some(reason) => format!("Tu cita fue cancelada. Motivo: {reason}."),
                None => "Tu cita fue cancelada.".to_owned(),
            },
        ),
        NotificationKind::VisitCancelled => (
            format!("Se canceló una cita de {speciality} de tu agenda"),
            match &appointment.cancel_reason {
                Some(reason) => format!(
                    "La cita de {} fue cancelada y su horario quedó libre. Motivo: {reason}.",
                    appointment.patient_name
                ),
                None => format!(
                    "La cita de {} fue cancelada y su horario quedó libre.",
                    appointment.patient_name
                ),
            },
        ),
        NotificationKind::Completed => (
            format!("Gracias por asistir a tu cita de {speciality}"),
            "Gracias por asistir a tu cita.".to_owned(),
        ),
    };
    // A virtual visit's booking, move and reminder say it is online and
    // where to enter; its other emails need no link.
    let online = match context.kind {
        NotificationKind::Assigned
        | NotificationKind::Pending
        | NotificationKind::Rescheduled
        | NotificationKind::Reminder => context.join_link,
        _ => None,
    };
    let lead = match online {
        Some(_) => format!(
            "{lead} Es una teleconsulta: entra a la videollamada con el enlace de este correo desde {} minutos antes de la hora.",
            context.country.meeting.opens_before.as_mins()
        ),
        None => lead,
    };
    let mut details = vec![("Especialidad", speciality.clone())];
    if let Some(doctor) = doctor {
        details.push(("Médico", doctor.to_owned()));
    }
    if let Some(when) = &when {
        details.push(("Fecha y hora", when.clone()));
    }
    if let Some(link) = online {
        details.push(("Modalidad", "Teleconsulta (en línea)".to_owned()));
        details.push(("Enlace", link.to_owned()));
    }
    details.push(("Referencia", context.key.reference(appointment)));

    let greeting = format!("Hola {},", context.patient_name);
    let mut text = format!("{greeting}\n\n{lead}\n\n");
    for (label, value) in &details {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str("\nEste es un mensaje automático; no respondas a este correo.\n");

    let mut html = format!(
        "<!DOCTYPE html><html lang=\"es\"><body><p>{}</p><p>{}</p><table>",
        html_escape(&greeting),
        html_escape(&lead)
    );
    for (label, value) in &details {
        let cell = match online {
            Some(link) if value == link => format!(
                "<a href=\"{}\">{}</a>",
                html_escape(link),
                html_escape(link)
            ),
            _ => html_escape(value),
        };
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{cell}</td></tr>",
            html_escape(label)
        ));
    }
    html.push_str(
        "</table><p>Este es un mensaje automático; no respondas a este correo.</p></body></html>",
    );

    // Calendar updates: the event is published on booking, updated on a
    // move, removed on a cancellation or refusal.
    let method = match context.kind {
        NotificationKind::Assigned | NotificationKind::Rescheduled | NotificationKind::Reminder => {
            appointment.starts_at().map(|_| Method::Publish)
        }
        NotificationKind::Cancelled => appointment.starts_at().map(|_| Method::Cancel),
        NotificationKind::Refused => Some(Method::Cancel),
        _ => None,
    };
    let mut attachments = Vec::new();
    if let Some(method) = method {
        let invitation = Invitation {
            country: context.country,
            appointment,
            method,
            starts_at: appointment.starts_at(),
            summary: format!("Cita de {speciality}"),
            description: details
                .iter()
                .map(|(l, v)| format!("{l}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            // An online visit happens at its link (RFC 7986's CONFERENCE too).
            location: match online {
                Some(link) => link.to_owned(),
                None => doctor.map(str::to_owned).unwrap_or_default(),
            },
            conference: online.map(str::to_owned),
            stamp: context.stamp,
            uid: context.key.uid(appointment),
        };
        attachments.push(Attachment {
            filename: "cita.ics".to_owned(),
            content_type: format!("text/calendar; charset=utf-8; method={}", method.as_str()),
            content: invitation.render().into_bytes(),
        });
    }
    Email {
        message_id: None,
        to: context.to.clone(),
        subject,
        text,
        html,
        attachments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_domain::{CHILE, PERU, Status};

    use citas_domain::testkit;

    fn appointment(country: &'static Country, document: &str, starts_at: &str) -> Appointment {
        let doctor = testkit::doctor_id(country, "medicina-interna", "1");
        testkit::appointment(country, document)
            .speciality("medicina-interna")
            .patient_name("Ana")
            .assigned(&testkit::slot_at(&doctor, starts_at).id)
            .build()
    }

    fn test_key() -> crate::CalendarKey {
        crate::CalendarKey::new(&[42; 32]).unwrap()
    }

    fn doctor() -> Doctor {
        Doctor {
            name: "Dr. ANDRES PERICH DIAS".into(),
            ..testkit::doctor(&PERU, "medicina-interna", "9999234")
        }
    }

    fn address(text: &str) -> EmailAddress {
        EmailAddress::parse(text).unwrap()
    }

    #[test]
    fn specialities_are_named_in_proper_spanish() {
        let doctor = testkit::doctor_id(&PERU, "dermatologia", "1");
        let a = testkit::appointment(&PERU, "45678912")
            .speciality("dermatologia")
            .assigned(&testkit::slot_at(&doctor, "2026-12-07T14:00:00Z").id)
            .build();
        let email = render(&Context {
            join_link: Default::default(),
            country: &PERU,
            kind: NotificationKind::Assigned,
            appointment: &a,
            patient_name: "Ana",
            to: &address("ana@example.pe"),
            doctor: None,
            stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
            today: jiff::civil::date(2026, 11, 22),
            key: &test_key(),
        });
        assert_eq!(email.subject, "Tu cita de Dermatología está confirmada");
        assert!(email.text.contains("Dermatología"), "{}", email.text);
    }

    #[test]
    fn an_assignment_in_lima_shows_local_time_and_carries_an_invitation() {
        let a = appointment(&PERU, "45678912", "2026-12-07T14:00:00Z");
        let d = doctor();
        let email = render(&Context {
            join_link: Default::default(),
            country: &PERU,
            kind: NotificationKind::Assigned,
            appointment: &a,
            patient_name: "Ana Lucía",
            to: &address("ana@example.pe"),
            doctor: Some(&d),
            stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
            today: jiff::civil::date(2026, 11, 22),
            key: &test_key(),
        });
        assert_eq!(email.subject, "Tu cita de Medicina interna está confirmada");
        assert!(
            !email.subject.contains("45678912"),
            "no document numbers in the subject"
        );
        assert!(email.text.contains("Hola Ana Lucía,"));
        assert!(
            email
                .text
                .contains("Fecha y hora: lunes 07/12/2026 a las 09:00 (hora de Lima)"),
            "{}",
            email.text
        );
        assert!(email.text.contains("Médico: Dr. ANDRES PERICH DIAS"));
        // A booking reference, never the appointment id and its document.
        let reference = test_key().reference(&a);
        assert!(
            email.text.contains(&format!("Referencia: {reference}")),
            "{}",
            email.text
        );
        assert!(!email.text.contains("45678912") && !email.html.contains("45678912"));
        assert!(email.html.contains("<th align=\"left\">Fecha y hora</th><td>lunes 07/12/2026 a las 09:00 (hora de Lima)</td>"));
        let ics = String::from_utf8(email.attachments[0].content.clone()).unwrap();
        assert!(
            ics.contains("DTSTART;TZID=America/Lima:20261207T090000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("DTEND;TZID=America/Lima:20261207T093000\r\n"));
        assert!(ics.contains("TZOFFSETTO:-0500\r\n"));
        assert!(
            ics.contains(&format!("UID:{}\r\n", test_key().uid(&a))),
            "{ics}"
        );
        assert!(!ics.contains("45678912"), "{ics}");
    }

    #[test]
    fn santiago_times_follow_daylight_saving_time() {
        // 2027-01-11 12:00 UTC is 09:00 in Santiago's summer (UTC-3); 2027-07-12 13:00 UTC is 09:00 in winter (UTC-4).
        for (at, offset, date) in [
            (
                "2027-01-11T12:00:00Z",
                "-0300",
                "lunes 11-01-2027 a las 09:00",
            ),
            (
                "2027-07-12T13:00:00Z",
                "-0400",
                "lunes 12-07-2027 a las 09:00",
            ),
        ] {
            let a = appointment(&CHILE, "12345678-5", at);
            let day_before = CHILE.local_date(at.parse().unwrap()).yesterday().unwrap();
            let email = render(&Context {
                join_link: Default::default(),
                country: &CHILE,
                kind: NotificationKind::Reminder,
                appointment: &a,
                patient_name: "Valentina",
                to: &address("v@example.cl"),
                doctor: None,
                stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
                today: day_before,
                key: &test_key(),
            });
            assert!(email.text.contains(date), "{}", email.text);
            assert_eq!(
                email.subject,
                "Recordatorio: tu cita de Medicina interna es mañana"
            );
            let ics = String::from_utf8(email.attachments[0].content.clone()).unwrap();
            assert!(ics.contains(&format!("TZOFFSETTO:{offset}\r\n")), "{ics}");
            assert!(ics.contains("DTSTART;TZID=America/Santiago:"));
        }
    }

    #[test]
    fn a_virtual_visits_booking_move_and_reminder_carry_its_link_and_other_emails_do_not() {
        let a = appointment(&PERU, "45678912", "2026-12-07T14:00:00Z");
        let link = "https://meet.example/citas-0123456789abcdef0123456789abcdef";
        let email = |kind| {
            render(&Context {
                join_link: Some(link),
                country: &PERU,
                kind,
                appointment: &a,
                patient_name: "Ana",
                to: &address("ana@example.pe"),
                doctor: Some(&doctor()),
                stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
                today: jiff::civil::date(2026, 12, 6),
                key: &test_key(),
            })
        };
        for kind in [
            NotificationKind::Assigned,
            NotificationKind::Rescheduled,
            NotificationKind::Reminder,
        ] {
            let sent = email(kind);
            assert!(
                sent.text.contains("teleconsulta"),
                "{kind:?}: {}",
                sent.text
            );
            assert!(sent.text.contains(link), "{kind:?}");
            assert!(
                sent.html.contains(&format!("<a href=\"{link}\">")),
                "{kind:?}"
            );
            let ics = String::from_utf8(sent.attachments[0].content.clone()).unwrap();
            let unfolded = ics.replace("\r\n ", "");
            assert!(
                unfolded.contains(&format!("LOCATION:{link}\r\n")),
                "{unfolded}"
            );
            assert!(
                unfolded.contains(&format!(
                    "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Teleconsulta:{link}\r\n"
                )),
                "{unfolded}"
            );
        }
        // A cancellation removes the event: no link to a meeting that is over.
        let cancelled = email(NotificationKind::Cancelled);
        assert!(!cancelled.text.contains(link), "{}", cancelled.text);
        let ics = String::from_utf8(cancelled.attachments[0].content.clone()).unwrap();
        assert!(!ics.contains("CONFERENCE"), "{ics}");
        // An in-person visit's invitation is at the doctor, with no conference.
        let in_person = render(&Context {
            join_link: None,
            country: &PERU,
            kind: NotificationKind::Assigned,
            appointment: &a,
            patient_name: "Ana",
            to: &address("ana@example.pe"),
            doctor: Some(&doctor()),
            stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
            today: jiff::civil::date(2026, 12, 6),
            key: &test_key(),
        });
        let ics = String::from_utf8(in_person.attachments[0].content.clone()).unwrap();
        assert!(!ics.contains("CONFERENCE") && !in_person.text.contains("teleconsulta"));
    }

    #[test]
    fn a_reminder_says_tomorrow_only_when_the_visit_is_tomorrow() {
        // Monday 2026-12-07 09:00 in Lima.
        let a = appointment(&PERU, "45678912", "2026-12-07T14:00:00Z");
        let reminder = |today: jiff::civil::Date| {
            render(&Context {
                join_link: Default::default(),
                country: &PERU,
                kind: NotificationKind::Reminder,
                appointment: &a,
                patient_name: "Ana",
                to: &address("ana@example.pe"),
                doctor: None,
                stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
                today,
                key: &test_key(),
            })
        };
        let cases = [
            (jiff::civil::date(2026, 12, 6), "es mañana"),
            (jiff::civil::date(2026, 12, 7), "es hoy"),
            (jiff::civil::date(2026, 12, 3), "es el lunes 07/12/2026"),
        ];
        for (today, said) in cases {
            let email = reminder(today);
            assert_eq!(
                email.subject,
                format!("Recordatorio: tu cita de Medicina interna {said}"),
                "on {today}"
            );
            assert!(
                email.text.contains(&format!("tu cita {said}.")),
                "{}",
                email.text
            );
        }
    }

    #[test]
    fn cancellations_say_why_and_remove_the_calendar_event() {
        let mut a = appointment(&PERU, "45678912", "2026-12-07T14:00:00Z");
        a.status = Status::Cancelled;
        a.cancel_reason = Some("viaje <imprevisto>".into());
        let email = render(&Context {
            join_link: Default::default(),
            country: &PERU,
            kind: NotificationKind::Cancelled,
            appointment: &a,
            patient_name: "Ana",
            to: &address("ana@example.pe"),
            doctor: None,
            stamp: "2026-11-22T15:00:00Z".parse().unwrap(),
            today: jiff::civil::date(2026, 11, 22),
            key: &test_key(),
        });
        assert_eq!(email.subject, "Tu cita de Medicina interna fue cancelada");
        let ics = String::from_utf8(email.attachments[0].content.clone()).unwrap();
        assert!(ics.contains("METHOD:CANCEL\r\n"), "{ics}");
        assert!(ics.contains("STATUS:CANCELLED\r\n"), "{ics}");
        assert!(
            ics.contains(&format!("UID:{}\r\n", test_key().uid(&a))),
            "{ics}"
        );
        assert!(
            email.attachments[0].content_type.ends_with("method=CANCEL"),
            "{}",
            email.attachments[0].content_type
        );
        assert!(email.html.contains("viaje &lt;imprevisto&gt;"));
    }
}
