//! Teleconsultation (issue 27): a virtual visit's two parties enter its
//! meeting, from a little before the start until the meeting's end.

use crate::Services;
use crate::access::{Caller, Identity, Operation};
use crate::appointment::Appointment;
use crate::appointment::status::Status;
use crate::error::DomainError;
use crate::meeting::{Entry, MeetingRoom, Participant, WindowState};
use crate::ports::{MeetingError, StoreError};
use crate::privacy::masked_appointment;
use crate::scheduling::doctor::Modality;
use crate::values::country::Country;
use crate::values::ids::AppointmentId;

use super::appointments::load;

/// `POST /{country}/appointment/{id}/join`: what the caller's frontend needs
/// to enter the visit's meeting. The first join opens it (where the
/// provider makes meetings) and keeps it on the appointment, so the other
/// party, joining in any order and as often as they like, enters the same one.
pub async fn join_meeting(
    services: &Services,
    caller: &Caller,
    country: &'static Country,
    id: &AppointmentId,
) -> Result<Entry, DomainError> {
    let appointment = load(services, caller, country, id, Operation::Join).await?;
    let not_assigned = || DomainError::NotAssigned {
        id: id.to_string(),
        current: appointment.status,
    };
    // No slot yet (or refused): nothing booked to meet about.
    let Some(starts_at) = appointment.starts_at() else {
        return Err(not_assigned());
    };
    let room = match (&appointment.meeting, appointment.modality) {
        (Some(room), Modality::Virtual) => room.clone(),
        _ => return Err(not_virtual(&appointment)),
    };
    if appointment.status != Status::Assigned {
        return Err(not_assigned());
    }
    let window = country.meeting.window(starts_at);
    match window.state(services.now()) {
        WindowState::NotOpen => {
            return Err(DomainError::MeetingNotOpen {
                id: id.to_string(),
                opens_at: country.local(window.opens_at),
            });
        }
        WindowState::Over => {
            return Err(DomainError::MeetingOver {
                id: id.to_string(),
                closes_at: country.local(window.closes_at),
            });
        }
        WindowState::Open => {}
    }
    let room = match room.session {
        Some(_) => room,
        None => open_room(services, &appointment, room, None).await?,
    };
    let who = match &caller.identity {
        Identity::Doctor(_) => match appointment.doctor() {
            Some(doctor) => Participant::Doctor(doctor.clone()),
            None => return Err(not_virtual(&appointment)),
        },
        _ => Participant::patient(&room.key, appointment.document()),
    };
    let entry = match services.meetings.admit(&room, &who, window).await {
        // Chime ended it (everyone had left a while): a new one, once, for both parties.
        Err(MeetingError::Gone) => {
            let ended = room.session.clone();
            let room = open_room(services, &appointment, room, ended.as_deref()).await?;
            services
                .meetings
                .admit(&room, &who, window)
                .await
                .map_err(unavailable)?
        }
        other => other.map_err(unavailable)?,
    };
    tracing::info!(
        country = country.code,
        appointment_id = %masked_appointment(id),
        provider = entry.provider.as_str(),
        role = caller.role().as_str(),
        "meeting joined"
    );
    Ok(entry)
}

/// Opens the room's meeting (or one to replace an ended one) and keeps it,
/// or takes the one another party's join kept first.
async fn open_room(
    services: &Services,
    appointment: &Appointment,
    room: MeetingRoom,
    replacing: Option<&str>,
) -> Result<MeetingRoom, DomainError> {
    let replaced_id = replacing.and_then(session_id);
    let Some(session) = services
        .meetings
        .open(&room.key, replaced_id.as_deref())
        .await
        .map_err(unavailable)?
    else {
        return Ok(room);
    };
    match services
        .store
        .keep_meeting(
            appointment.country,
            &appointment.id,
            &room.key,
            replacing,
            &session,
        )
        .await
    {
        Ok(kept) => Ok(MeetingRoom {
            key: room.key,
            session: Some(kept),
        }),
        // Moved or cancelled while the meeting was being opened.
        Err(StoreError::NotFound) => Err(DomainError::ChangedMeanwhile {
            id: appointment.id.to_string(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// The provider's id of a kept meeting (`MeetingId` of Chime's JSON).
fn session_id(session: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(session)
        .ok()
        .and_then(|meeting| meeting["MeetingId"].as_str().map(str::to_owned))
}

fn not_virtual(appointment: &Appointment) -> DomainError {
    DomainError::NotVirtual {
        id: appointment.id.to_string(),
    }
}

fn unavailable(error: MeetingError) -> DomainError {
    DomainError::Unavailable(error.to_string())
}
