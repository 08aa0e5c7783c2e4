//! The notification idempotency records.

use super::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    completed: bool,
    /// Epoch seconds after which the record is forgotten.
    expires_at: i64,
    /// Epoch seconds after which an in-progress claim is taken as abandoned.
    #[serde(default)]
    lapses_at: Option<i64>,
    /// Closed without knowing whether its email went out.
    #[serde(default)]
    uncertain: bool,
    /// How many claims of the key reached the send.
    #[serde(default = "one_send")]
    sends: u32,
}

fn one_send() -> u32 {
    1
}

impl IdempotencyRecord {
    /// An in-progress claim whose consumer never said how its send ended.
    fn lapsed(&self, now: Timestamp) -> bool {
        !self.completed && self.lapses_at.is_some_and(|at| at <= now.as_second())
    }
}

impl EmbeddedStore {
    /// Marks every claim still in progress as lapsed at `now`: at start, no
    /// consumer of this store is sending (redb lets one process open it), so
    /// such claims belong to a run that died. Returns how many there were.
    pub async fn lapse_claims_of_earlier_runs(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let mut open = Vec::new();
            for entry in table.iter()? {
                let (key, value) = entry?;
                let record: IdempotencyRecord = decode(value.value())?;
                if !record.completed && record.lapses_at.is_some_and(|at| at > now.as_second()) {
                    open.push((key.value().to_owned(), record));
                }
            }
            for (key, record) in &open {
                let lapsed = IdempotencyRecord {
                    lapses_at: Some(now.as_second()),
                    ..record.clone()
                };
                table.insert(key.as_str(), encode(&lapsed)?.as_slice())?;
            }
            Ok(open.len())
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(
        &self,
        key: &str,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<Claim, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            match existing {
                Some(record) if record.expires_at > now.as_second() => {
                    return Ok(if record.completed {
                        Claim::Completed
                    } else if record.lapsed(now) {
                        Claim::Lapsed {
                            sends: record.sends,
                        }
                    } else {
                        Claim::InProgress
                    });
                }
                _ => {}
            }
            let record = IdempotencyRecord {
                completed: false,
                expires_at: (now + keep_for).as_second(),
                lapses_at: Some((now + lapse_after).as_second()),
                uncertain: false,
                sends: 1,
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(Claim::Acquired)
        })
        .await
    }

    async fn reclaim_lapsed(
        &self,
        key: &str,
        sends: u32,
        now: Timestamp,
        lapse_after: jiff::SignedDuration,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let Some(record) = existing.filter(|r| r.lapsed(now) && r.sends == sends) else {
                return Ok(false);
            };
            let record = IdempotencyRecord {
                expires_at: (now + keep_for).as_second(),
                lapses_at: Some((now + lapse_after).as_second()),
                sends: sends + 1,
                ..record
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn settle_lapsed(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let Some(record) = existing.filter(|r| r.lapsed(now)) else {
                return Ok(false);
            };
            let record = IdempotencyRecord {
                completed: true,
                expires_at: (now + keep_for).as_second(),
                lapses_at: None,
                uncertain: true,
                ..record
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn complete(
        &self,
        key: &str,
        now: Timestamp,
        keep_for: jiff::SignedDuration,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            let record = IdempotencyRecord {
                completed: true,
                expires_at: (now + keep_for).as_second(),
                lapses_at: None,
                uncertain: false,
                sends: existing.map_or(1, |r| r.sends),
            };
            table.insert(key.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY)?;
            let existing: Option<IdempotencyRecord> = get_json(&table, key.as_str())?;
            if existing.is_some_and(|r| !r.completed) {
                table.remove(key.as_str())?;
            }
            Ok(())
        })
        .await
    }
}
