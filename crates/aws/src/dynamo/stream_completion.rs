//! Stream completion: slot items pasted without the free-slot index's
//! attributes get them from the table's stream.

use super::*;

impl DynamoStore {
    /// Adds the free-slot index's attributes to a slot item written without
    /// them (seed 000's items, pasted with `aws dynamodb batch-write-item`),
    /// given the item as a stream record shows it. Returns whether it wrote.
    /// The write holds only while `isAvailable` is still what the image says,
    /// so a booking made meanwhile is never undone (its own record follows).
    pub async fn complete_slot_index(&self, image: Item) -> Result<bool, StoreError> {
        let present = |name: &str| image.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (free, starts) = (present(attribute::FREE), present(attribute::STARTS));
        let slot = slot_from(image)?;
        let wanted: HashMap<&str, AttributeValue> =
            slot_index_attributes(&slot).into_iter().collect();
        let wanted_text = |name: &str| wanted.get(name).and_then(|v| v.as_s().ok()).cloned();
        if wanted_text(attribute::FREE) == free && wanted_text(attribute::STARTS) == starts {
            return Ok(false);
        }
        let mut values = HashMap::from([
            (":seen".to_owned(), AttributeValue::Bool(slot.available)),
            (":starts".to_owned(), s(timestamp::format(slot.starts_at()))),
        ]);
        let expression = match wanted.get(attribute::FREE) {
            Some(partition) => {
                values.insert(":free".to_owned(), partition.clone());
                "SET #starts = :starts, #free = :free"
            }
            None => "SET #starts = :starts REMOVE #free",
        };
        let result = self
            .client
            .update_item()
            .table_name(self.tables.slot())
            .key("id", s(slot.id.to_string()))
            .update_expression(expression)
            .condition_expression("isAvailable = :seen")
            .expression_attribute_names("#starts", attribute::STARTS)
            .expression_attribute_names("#free", attribute::FREE)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Changed or deleted since: the newer record settles it.
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(backend(error)),
        }
    }
}
