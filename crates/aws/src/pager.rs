//! Pages over a global secondary index whose entries are spread over several
//! partitions (shards): one `Query` per partition still in play, sent
//! concurrently, merged in sort-key order, with an opaque cursor holding where
//! each partition left off.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use citas_domain::StoreError;
use citas_domain::ports::cursor;
use citas_domain::ports::{Page, PageRequest};
use futures::future::try_join_all;
use serde_json::{Value, json};

use crate::errors::backend;

pub type Item = HashMap<String, AttributeValue>;

/// One index, walked over some of its partitions.
pub struct ShardedIndex<'a> {
    pub client: &'a Client,
    pub table: String,
    pub index: &'static str,
    pub partition_attribute: &'static str,
    pub sort_attribute: &'static str,
    /// The partitions to merge, e.g. `registered#0` … `registered#3`.
    pub partitions: Vec<String>,
    /// Ascending sort-key order (earliest first) or descending (newest first).
    pub forward: bool,
    /// Ties cursors to this list.
    pub scope: String,
    /// Only entries whose sort key is between these two strings, both included.
    pub sort_between: Option<(String, String)>,
    /// Only entries that pass all of these (a filter: pages may come back
    /// short, never wrong).
    pub only_where: Vec<Filter>,
}

/// A condition on an attribute of the entries a list keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The attribute has this value.
    Equals(&'static str, AttributeValue),
    /// The attribute is not there.
    Absent(&'static str),
}

/// Where a list left off in one partition.
#[derive(Debug, Clone, PartialEq)]
enum Position {
    Start,
    After(Item),
    Done,
}

impl ShardedIndex<'_> {
    /// One page of items in index order, and the cursor of the next page.
    pub async fn page(&self, request: &PageRequest) -> Result<Page<Item>, StoreError> {
        let positions = self.positions(request.cursor.as_deref())?;
        let limit = request.limit;
        // Each partition is asked for one item more than the page, so the page
        // knows whether anything follows.
        let streams = try_join_all(
            self.partitions
                .iter()
                .zip(&positions)
                .map(|(partition, position)| self.query(partition, position, limit + 1)),
        )
        .await?;
        let (items, consumed) = self.merge(&streams, limit);
        let mut next = Vec::with_capacity(streams.len());
        let mut anything_left = false;
        for (n, (items, read_up_to)) in streams.iter().enumerate() {
            let taken = consumed[n];
            // A finished partition reads no items and reports nothing more, so it
            // stays done; one whose every item was taken resumes where the query
            // stopped reading (past entries a filter left out).
            let position = if taken == items.len() {
                match read_up_to {
                    Some(key) => Position::After(key.clone()),
                    None => Position::Done,
                }
            } else if taken > 0 {
                Position::After(self.key_of(&items[taken - 1]))
            } else {
                positions[n].clone()
            };
            anything_left |= position != Position::Done;
            next.push(position_to_json(&position));
        }
        let next_cursor = anything_left.then(|| cursor::encode(&self.scope, Value::Array(next)));
        Ok(Page { items, next_cursor })
    }

    fn positions(&self, cursor: Option<&str>) -> Result<Vec<Position>, StoreError> {
        let Some(raw) = cursor else {
            return Ok(vec![Position::Start; self.partitions.len()]);
        };
        match cursor::decode(&self.scope, raw)? {
            Value::Array(values) if values.len() == self.partitions.len() => values
                .iter()
                .zip(&self.partitions)
                .map(|(value, partition)| self.position_from_json(value, partition))
                .collect(),
            _ => Err(StoreError::InvalidCursor),
        }
    }

    /// Up to `limit` items of one partition after `position`, and the key the
    /// query stopped reading at if the partition may hold more.
    async fn query(
        &self,
        partition: &str,
        position: &Position,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let start = match position {
            Position::Done => return Ok((Vec::new(), None)),
            Position::Start => None,
            Position::After(key) => Some(key.clone()),
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(self.index)
            .expression_attribute_names("#p", self.partition_attribute)
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(self.forward)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        let output = self.conditions(query).send().await.map_err(backend)?;
        let read_up_to = output.last_evaluated_key().map(|key| {
            // Kept as a cursor holds it: the key attributes only.
            key.iter()
                .filter(|(name, _)| self.key_names().contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect::<Item>()
        });
        let items = output.items.unwrap_or_default();
        Ok((items, read_up_to))
    }

    /// How many entries the partitions hold (within `sort_between`, passing
    /// `only_where`): one counting query per partition, paged only where
    /// DynamoDB stops reading at a megabyte.
    pub async fn count(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        for partition in &self.partitions {
            let mut start: Option<Item> = None;
            loop {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(self.index)
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .expression_attribute_names("#p", self.partition_attribute)
                    .expression_attribute_values(":p", AttributeValue::S(partition.clone()))
                    .set_exclusive_start_key(start.take());
                let output = self.conditions(query).send().await.map_err(backend)?;
                total += usize::try_from(output.count()).unwrap_or(0);
                match output.last_evaluated_key() {
                    Some(key) => start = Some(key.clone()),
                    None => break,
                }
            }
        }
        Ok(total)
    }

    /// The key condition (`#p = :p`, and the sort key's range) and the
    /// filter of a query over one partition, whatever it reads.
    fn conditions(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let query = match &self.sort_between {
            Some((low, high)) => query
                .key_condition_expression("#p = :p AND #s BETWEEN :low AND :high")
                .expression_attribute_names("#s", self.sort_attribute)
                .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(high.clone())),
            None => query.key_condition_expression("#p = :p"),
        };
        if self.only_where.is_empty() {
            return query;
        }
        let mut query = query;
        let mut terms = Vec::with_capacity(self.only_where.len());
        for (n, filter) in self.only_where.iter().enumerate() {
            match filter {
                Filter::Equals(attribute, value) => {
                    terms.push(format!("#f{n} = :f{n}"));
                    query = query
                        .expression_attribute_names(format!("#f{n}"), *attribute)
                        .expression_attribute_values(format!(":f{n}"), value.clone());
                }
                Filter::Absent(attribute) => {
                    terms.push(format!("attribute_not_exists(#f{n})"));
                    query = query.expression_attribute_names(format!("#f{n}"), *attribute);
                }
            }
        }
        query.filter_expression(terms.join(" AND "))
    }

    /// The attributes of an index entry's key: `id`, partition and sort attributes.
    fn key_names(&self) -> Vec<&'static str> {
        let mut names = vec!["id", self.partition_attribute, self.sort_attribute];
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The first `limit` items of the streams in index order, and how many each gave.
    fn merge(
        &self,
        streams: &[(Vec<Item>, Option<Item>)],
        limit: usize,
    ) -> (Vec<Item>, Vec<usize>) {
        let mut heads = vec![0usize; streams.len()];
        let mut picked = Vec::with_capacity(limit);
        while picked.len() < limit {
            let next = streams
                .iter()
                .enumerate()
                .filter_map(|(n, (items, _))| items.get(heads[n]).map(|item| (n, self.order(item))))
                .reduce(|best, candidate| {
                    let better = if self.forward {
                        candidate.1 < best.1
                    } else {
                        candidate.1 > best.1
                    };
                    if better { candidate } else { best }
                });
            let Some((n, _)) = next else { break };
            picked.push(streams[n].0[heads[n]].clone());
            heads[n] += 1;
        }
        (picked, heads)
    }

    /// The text an entry sorts by: its sort key, then its id.
    fn order(&self, item: &Item) -> String {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        format!("{}\u{0}{}", text(self.sort_attribute), text("id"))
    }

    /// The key of an index entry, as a cursor keeps it: `id`, partition and sort attributes.
    fn key_of(&self, item: &Item) -> Item {
        self.key_names()
            .into_iter()
            .filter_map(|name| item.get(name).map(|v| (name.to_owned(), v.clone())))
            .collect()
    }

    /// A position from a cursor, accepted only if it is a key of the expected partition.
    fn position_from_json(&self, value: &Value, partition: &str) -> Result<Position, StoreError> {
        match value {
            Value::Null => Ok(Position::Start),
            Value::String(done) if done == "done" => Ok(Position::Done),
            Value::Object(map) => {
                let expected = self.key_names();
                let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
                names.sort_unstable();
                if names != expected || map.get(self.partition_attribute) != Some(&json!(partition))
                {
                    return Err(StoreError::InvalidCursor);
                }
                map.iter()
                    .map(|(k, v)| match v {
                        Value::String(text) if text.len() <= 256 => {
                            Ok((k.clone(), AttributeValue::S(text.clone())))
                        }
                        _ => Err(StoreError::InvalidCursor),
                    })
                    .collect::<Result<Item, _>>()
                    .map(|key| self.within_bounds(key))
            }
            _ => Err(StoreError::InvalidCursor),
        }
    }
}

impl ShardedIndex<'_> {
    /// A position before the list's range (the list's moment has moved on
    /// since the cursor was made, or the cursor was made by hand) reads from
    /// the start; DynamoDB refuses a start key outside the key condition.
    fn within_bounds(&self, key: Item) -> Position {
        let Some((low, high)) = &self.sort_between else {
            return Position::After(key);
        };
        match key.get(self.sort_attribute) {
            Some(AttributeValue::S(sort)) if sort < low || sort > high => {
                let before_range = if self.forward {
                    sort < low
                } else {
                    sort > high
                };
                if before_range {
                    Position::Start
                } else {
                    Position::Done
                }
            }
            _ => Position::After(key),
        }
    }
}

fn position_to_json(position: &Position) -> Value {
    match position {
        Position::Start => Value::Null,
        Position::Done => json!("done"),
        Position::After(key) => Value::Object(
            key.iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), json!(v))))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(client: &Client) -> ShardedIndex<'_> {
        ShardedIndex {
            client,
            table: "t".into(),
            index: "by-status",
            partition_attribute: "status_shard",
            sort_attribute: "created_at",
            partitions: vec!["registered#1".into()],
            forward: false,
            scope: "pe/status/registered".into(),
            sort_between: None,
            only_where: Vec::new(),
        }
    }

    #[test]
    fn cursor_positions_must_belong_to_their_partition() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let client = Client::from_conf(config);
        let index = index(&client);
        let key = json!({ "id": "20261122-45678912", "status_shard": "registered#1", "created_at": "2026-11-22T15:00:00.000Z" });
        assert!(matches!(
            index.position_from_json(&key, "registered#1"),
            Ok(Position::After(_))
        ));
        assert_eq!(
            index.position_from_json(&key, "registered#2"),
            Err(StoreError::InvalidCursor)
        );
        let extra = json!({ "id": "x", "status_shard": "registered#1", "created_at": "t", "document": "y" });
        assert_eq!(
            index.position_from_json(&extra, "registered#1"),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            index.position_from_json(&json!(5), "registered#1"),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            index.position_from_json(&json!("done"), "registered#1"),
            Ok(Position::Done)
        );
    }
}
