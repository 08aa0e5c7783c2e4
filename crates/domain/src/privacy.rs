//! Personal data stays out of the logs: documents (and appointment ids, which
//! contain them) and email addresses are masked, keeping enough to correlate
//! a line with a request (the day, the last characters, the mail domain).

/// `20261122-45678912` → `20261122-*****912`; a bare document keeps its last 3 characters.
pub fn masked_id(id: &str) -> String {
    match id.split_once('-') {
        Some((day, document)) if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{day}-{}", masked_document(document))
        }
        _ => masked_document(id),
    }
}

/// An appointment id with its document masked: `20261122-*****912`.
pub fn masked_appointment(id: &crate::values::ids::AppointmentId) -> String {
    format!(
        "{}-{}",
        id.day.strftime("%Y%m%d"),
        masked_document(id.document.as_str())
    )
}

/// All but the last 3 characters hidden.
pub fn masked_document(document: &str) -> String {
    let count = document.chars().count();
    document
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 3 < count { '*' } else { c })
        .collect()
}

/// An idempotency key (`{appointment id}:{event}…`) with its appointment id masked.
pub fn masked_key(key: &str) -> String {
    match key.split_once(':') {
        Some((id, rest)) => format!("{}:{rest}", masked_id(id)),
        None => masked_id(key),
    }
}

/// `ana.torres@example.pe` → `a***@example.pe`.
pub fn masked_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_addresses_do_not_survive_masking() {
        assert_eq!(masked_id("20261122-45678912"), "20261122-*****912");
        assert_eq!(masked_id("20261122-12345678-5"), "20261122-*******8-5");
        assert_eq!(masked_id("45678912"), "*****912");
        assert_eq!(
            masked_key("20261122-45678912:assigned:pe-cardiologia-1-1796652000"),
            "20261122-*****912:assigned:pe-cardiologia-1-1796652000"
        );
        assert_eq!(masked_email("ana.torres@example.pe"), "a***@example.pe");
        assert_eq!(masked_email("nonsense"), "***");
        assert_eq!(masked_document("ab"), "ab");
    }
}
