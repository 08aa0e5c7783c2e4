//! One-off upgrades of data directories written by earlier versions, each
//! run once and recorded in `META`.

use super::*;

/// Data directories written before slots had a doctor and a free-slot index
/// (one table of available slots by doctor) get those indexes, once.
pub(super) fn reindex_slots_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "slot_indexes", reindex_slots)
}

pub(super) fn reindex_slots(txn: &WriteTransaction) -> Result<(), Failure> {
    let mut slots = Vec::new();
    for entry in txn.open_table(SLOTS)?.iter()? {
        let (_, bytes) = entry?;
        let item: SlotItem = decode(bytes.value())?;
        slots.push(item.into_domain()?);
    }
    for slot in &slots {
        index_slot(txn, &slot.id, Some(slot.available))?;
    }
    let old: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("available_slots");
    txn.delete_table(old).map_err(redb::Error::from)?;
    Ok(())
}

/// Runs a one-off upgrade of the data unless `META` records it was done.
pub(super) fn once(
    txn: &WriteTransaction,
    marker: &str,
    upgrade: impl FnOnce(&WriteTransaction) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if txn.open_table(META)?.get(marker)?.is_some() {
        return Ok(());
    }
    upgrade(txn)?;
    txn.open_table(META)?.insert(marker, "done")?;
    Ok(())
}

/// Data directories written before doctors' lists had their own index get
/// it, once: every booked appointment's entry.
pub(super) fn index_doctor_lists_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "doctor_status_index", index_doctor_lists)
}

pub(super) fn index_doctor_lists(txn: &WriteTransaction) -> Result<(), Failure> {
    let mut entries = Vec::new();
    for entry in txn.open_table(APPOINTMENTS)?.iter()? {
        let (key, bytes) = entry?;
        let (code, _) = key.value();
        let item: AppointmentItem = decode(bytes.value())?;
        if let Ok(country) = Country::from_code(code) {
            entries.push((country.code, IndexEntries::of(&item.into_domain(country)?)));
        }
    }
    for (code, entries) in entries {
        if let Some(key) = &entries.doctor_status {
            txn.open_table(BY_DOCTOR_STATUS)?.insert(
                (code, key.as_str(), entries.created_ms, entries.id.as_str()),
                (),
            )?;
        }
    }
    Ok(())
}

/// Data directories written before visits to come had their own index get
/// it, once: every pending or assigned appointment's entries.
pub(super) fn index_upcoming_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "upcoming_index", |txn| {
        let mut entries = Vec::new();
        for entry in txn.open_table(APPOINTMENTS)?.iter()? {
            let (key, bytes) = entry?;
            let (code, _) = key.value();
            let item: AppointmentItem = decode(bytes.value())?;
            if let Ok(country) = Country::from_code(code) {
                entries.push((country.code, IndexEntries::of(&item.into_domain(country)?)));
            }
        }
        let mut upcoming = txn.open_table(UPCOMING)?;
        for (code, entries) in entries {
            for (key, start) in &entries.upcoming {
                upcoming.insert((code, key.as_str(), *start, entries.id.as_str()), ())?;
            }
        }
        Ok(())
    })
}

/// Data directories written before doctors were found by place get their
/// doctors' cells, once.
pub(super) fn index_geo_cells_once(txn: &WriteTransaction) -> Result<(), Failure> {
    once(txn, "doctor_geo_cells", |txn| {
        let mut cells = Vec::new();
        for entry in txn.open_table(DOCTORS)?.iter()? {
            let (_, bytes) = entry?;
            let item: DoctorItem = decode(bytes.value())?;
            // Items written before carry no cell: it is derived from the place.
            let item = DoctorItem::from_domain(&item.into_domain()?);
            if let Some(cell) = item.geo_cell {
                cells.push((cell, item.id));
            }
        }
        let mut index = txn.open_table(DOCTORS_BY_GEO_CELL)?;
        for (cell, id) in &cells {
            index.insert((cell.as_str(), id.as_str()), ())?;
        }
        Ok(())
    })
}
