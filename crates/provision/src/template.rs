//! template.yaml is the one source of truth for tables and queues. This reads
//! their definitions from it, to create them on an AWS-compatible endpoint
//! (moto, DynamoDB Local) for tests and local runs.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::{Mapping, Value};

/// The project's template, built into the binary.
pub const TEMPLATE_YAML: &str = include_str!("../../../template.yaml");

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml: {0}")]
    Invalid(String),
    #[error("creating {resource}: {message}")]
    Create { resource: String, message: String },
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

/// Values for the template's parameters and pseudo parameters.
#[derive(Debug, Clone)]
pub struct Variables {
    pub table_prefix: String,
    pub stack_name: String,
    pub stage: String,
}

impl Default for Variables {
    fn default() -> Self {
        Self {
            table_prefix: String::new(),
            stack_name: "citas".into(),
            stage: "dev".into(),
        }
    }
}

impl Variables {
    fn lookup(&self, name: &str) -> Option<&str> {
        match name {
            "TablePrefix" => Some(&self.table_prefix),
            "AWS::StackName" => Some(&self.stack_name),
            "Stage" => Some(&self.stage),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPart {
    pub attribute: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key: Vec<KeyPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: String,
    /// Attribute name → type (`S`, `N`, `B`).
    pub attributes: BTreeMap<String, String>,
    pub key: Vec<KeyPart>,
    pub indexes: Vec<IndexSpec>,
    /// `StreamSpecification.StreamViewType`, if the table has a stream.
    pub stream_view: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub target_logical_id: String,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub name: String,
    /// SQS attributes set at creation (`VisibilityTimeout`, `MessageRetentionPeriod`).
    pub attributes: BTreeMap<String, String>,
    pub dead_letter: Option<DeadLetter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
}

impl Template {
    /// The project's template.yaml with these parameter values.
    pub fn project(variables: &Variables) -> Result<Self, TemplateError> {
        Self::parse(TEMPLATE_YAML, variables)
    }

    pub fn parse(yaml: &str, variables: &Variables) -> Result<Self, TemplateError> {
        let root = expanded(yaml)?;
        let resources = root
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| invalid("no Resources"))?;
        let mut template = Template {
            tables: Vec::new(),
            queues: Vec::new(),
        };
        for (logical_id, resource) in resources {
            let logical_id = logical_id
                .as_str()
                .ok_or_else(|| invalid("a resource id is not text"))?;
            let properties = resource.get("Properties").and_then(Value::as_mapping);
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => {
                    let properties = properties
                        .ok_or_else(|| invalid(format!("{logical_id} has no Properties")))?;
                    template
                        .tables
                        .push(table(logical_id, properties, variables)?);
                }
                Some("AWS::SQS::Queue") => {
                    let properties = properties
                        .ok_or_else(|| invalid(format!("{logical_id} has no Properties")))?;
                    template
                        .queues
                        .push(queue(logical_id, properties, variables)?);
                }
                _ => {}
            }
        }
        Ok(template)
    }
}

/// A template as CloudFormation will read it: its `Fn::ForEach` loops expanded.
///
/// # Errors
/// Not YAML, or a loop that cannot be expanded.
pub fn expanded(yaml: &str) -> Result<Value, TemplateError> {
    let root: Value = serde_norway::from_str(yaml).map_err(|e| invalid(e.to_string()))?;
    crate::foreach::expand(&root)
}

/// The project's template.yaml, expanded.
///
/// # Errors
/// As [`expanded`].
pub fn project_expanded() -> Result<Value, TemplateError> {
    expanded(TEMPLATE_YAML)
}

/// A string property: plain, `!Sub`, `Fn::Sub`, or `!Ref` to a parameter.
fn text(value: &Value, variables: &Variables) -> Result<String, TemplateError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Tagged(tagged) if tagged.tag == "Sub" => {
            substitute(&text(&tagged.value, variables)?, variables)
        }
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = text(&tagged.value, variables)?;
            variables
                .lookup(&name)
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("cannot resolve !Ref {name}")))
        }
        Value::Mapping(map) if map.len() == 1 => match map.get("Fn::Sub") {
            Some(inner) => substitute(&text(inner, variables)?, variables),
            None => Err(invalid(format!("unsupported value {value:?}"))),
        },
        _ => Err(invalid(format!("unsupported value {value:?}"))),
    }
}

fn substitute(template: &str, variables: &Variables) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(format!("unclosed ${{ in {template}")))?;
        let name = &after[..end];
        out.push_str(
            variables
                .lookup(name)
                .ok_or_else(|| invalid(format!("cannot resolve ${{{name}}}")))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn field<'a>(map: &'a Mapping, name: &str, owner: &str) -> Result<&'a Value, TemplateError> {
    map.get(name)
        .ok_or_else(|| invalid(format!("{owner} has no {name}")))
}

fn list<'a>(map: &'a Mapping, name: &str, owner: &str) -> Result<&'a [Value], TemplateError> {
    field(map, name, owner)?
        .as_sequence()
        .map(Vec::as_slice)
        .ok_or_else(|| invalid(format!("{owner}.{name} is not a list")))
}

fn key_schema(
    values: &[Value],
    owner: &str,
    variables: &Variables,
) -> Result<Vec<KeyPart>, TemplateError> {
    values
        .iter()
        .map(|part| {
            let map = part
                .as_mapping()
                .ok_or_else(|| invalid(format!("{owner}: bad KeySchema")))?;
            Ok(KeyPart {
                attribute: text(field(map, "AttributeName", owner)?, variables)?,
                key_type: text(field(map, "KeyType", owner)?, variables)?,
            })
        })
        .collect()
}

fn table(
    logical_id: &str,
    properties: &Mapping,
    variables: &Variables,
) -> Result<TableSpec, TemplateError> {
    let attributes = list(properties, "AttributeDefinitions", logical_id)?
        .iter()
        .map(|definition| {
            let map = definition
                .as_mapping()
                .ok_or_else(|| invalid(format!("{logical_id}: bad AttributeDefinitions")))?;
            Ok((
                text(field(map, "AttributeName", logical_id)?, variables)?,
                text(field(map, "AttributeType", logical_id)?, variables)?,
            ))
        })
        .collect::<Result<_, TemplateError>>()?;
    let indexes = match properties.get("GlobalSecondaryIndexes") {
        None => Vec::new(),
        Some(value) => value
            .as_sequence()
            .ok_or_else(|| invalid(format!("{logical_id}.GlobalSecondaryIndexes is not a list")))?
            .iter()
            .map(|index| {
                let map = index
                    .as_mapping()
                    .ok_or_else(|| invalid(format!("{logical_id}: bad index")))?;
                Ok(IndexSpec {
                    name: text(field(map, "IndexName", logical_id)?, variables)?,
                    key: key_schema(list(map, "KeySchema", logical_id)?, logical_id, variables)?,
                })
            })
            .collect::<Result<_, TemplateError>>()?,
    };
    Ok(TableSpec {
        logical_id: logical_id.to_owned(),
        name: text(field(properties, "TableName", logical_id)?, variables)?,
        attributes,
        key: key_schema(
            list(properties, "KeySchema", logical_id)?,
            logical_id,
            variables,
        )?,
        indexes,
        stream_view: properties
            .get("StreamSpecification")
            .and_then(Value::as_mapping)
            .map(|stream| text(field(stream, "StreamViewType", logical_id)?, variables))
            .transpose()?,
    })
}

fn queue(
    logical_id: &str,
    properties: &Mapping,
    variables: &Variables,
) -> Result<QueueSpec, TemplateError> {
    let mut attributes = BTreeMap::new();
    for name in ["VisibilityTimeout", "MessageRetentionPeriod"] {
        if let Some(value) = properties.get(name) {
            attributes.insert(name.to_owned(), text(value, variables)?);
        }
    }
    let dead_letter = match properties.get("RedrivePolicy").and_then(Value::as_mapping) {
        None => None,
        Some(policy) => {
            let target = field(policy, "deadLetterTargetArn", logical_id)?;
            let target_logical_id = match target {
                Value::Tagged(tagged) if tagged.tag == "GetAtt" => text(&tagged.value, variables)?
                    .strip_suffix(".Arn")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{logical_id}: deadLetterTargetArn must be !GetAtt X.Arn"
                        ))
                    })?,
                _ => {
                    return Err(invalid(format!(
                        "{logical_id}: deadLetterTargetArn must be !GetAtt X.Arn"
                    )));
                }
            };
            let max_receive_count = text(field(policy, "maxReceiveCount", logical_id)?, variables)?
                .parse()
                .map_err(|_| invalid(format!("{logical_id}: maxReceiveCount is not a number")))?;
            Some(DeadLetter {
                target_logical_id,
                max_receive_count,
            })
        }
    };
    Ok(QueueSpec {
        logical_id: logical_id.to_owned(),
        name: text(field(properties, "QueueName", logical_id)?, variables)?,
        attributes,
        dead_letter,
    })
}

fn create_error(resource: &str, error: impl std::error::Error + 'static) -> TemplateError {
    TemplateError::Create {
        resource: resource.to_owned(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// Creates the tables that do not exist yet; returns the names it created.
pub async fn ensure_tables(
    client: &aws_sdk_dynamodb::Client,
    tables: &[TableSpec],
) -> Result<Vec<String>, TemplateError> {
    let mut existing = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = client
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|e| create_error("table list", e))?;
        existing.extend(page.table_names().iter().cloned());
        start = page.last_evaluated_table_name().map(str::to_owned);
        if start.is_none() {
            break;
        }
    }
    let mut created = Vec::new();
    for table in tables.iter().filter(|t| !existing.contains(&t.name)) {
        let build = |e| create_error(&table.name, e);
        let key = |parts: &[KeyPart]| -> Result<Vec<KeySchemaElement>, TemplateError> {
            parts
                .iter()
                .map(|p| {
                    KeySchemaElement::builder()
                        .attribute_name(&p.attribute)
                        .key_type(KeyType::from(p.key_type.as_str()))
                        .build()
                        .map_err(build)
                })
                .collect()
        };
        let mut request = client
            .create_table()
            .table_name(&table.name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key(&table.key)?));
        for (name, kind) in &table.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        for index in &table.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key(&index.key)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build)?,
            );
        }
        if let Some(view) = &table.stream_view {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        match request.send().await {
            Ok(_) => created.push(table.name.clone()),
            // A retried attempt (the first timed out, but was applied, as a
            // busy moto does) finds its own table: it exists, as wanted.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(error) => return Err(create_error(&table.name, error)),
        }
    }
    Ok(created)
}

/// Creates the queues (dead-letter queues first) and returns every queue's URL by name.
/// Creating a queue that exists with the same attributes is a no-op in SQS.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    queues: &[QueueSpec],
) -> Result<HashMap<String, String>, TemplateError> {
    let mut ordered: Vec<&QueueSpec> = queues.iter().filter(|q| q.dead_letter.is_none()).collect();
    ordered.extend(queues.iter().filter(|q| q.dead_letter.is_some()));
    let mut urls = HashMap::new();
    let mut arns: HashMap<&str, String> = HashMap::new();
    for queue in ordered {
        let mut request = client.create_queue().queue_name(&queue.name);
        for (name, value) in &queue.attributes {
            request = request.attributes(QueueAttributeName::from(name.as_str()), value);
        }
        if let Some(dead_letter) = &queue.dead_letter {
            let target = arns
                .get(dead_letter.target_logical_id.as_str())
                .ok_or_else(|| {
                    invalid(format!("{}: unknown dead-letter queue", queue.logical_id))
                })?;
            let policy = serde_json::json!({
                "deadLetterTargetArn": target,
                "maxReceiveCount": dead_letter.max_receive_count,
            });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(|e| create_error(&queue.name, e))?
            .queue_url
            .ok_or_else(|| invalid(format!("{}: no URL returned", queue.name)))?;
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| create_error(&queue.name, e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| invalid(format!("{}: no ARN returned", queue.name)))?;
        arns.insert(queue.logical_id.as_str(), arn);
        urls.insert(queue.name.clone(), url);
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use citas_aws::settings::{TableNames, index, queue_name};
    use citas_domain::COUNTRIES;

    fn project() -> Template {
        Template::project(&Variables {
            table_prefix: "t1-".into(),
            ..Variables::default()
        })
        .unwrap()
    }

    #[test]
    fn the_template_declares_every_table_the_adapters_use() {
        let template = project();
        let names = TableNames::new("t1-");
        let table = |name: String| {
            template
                .tables
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .clone()
        };
        for country in COUNTRIES {
            let appointments = table(names.appointment(country));
            let indexes: Vec<&str> = appointments
                .indexes
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            assert_eq!(
                indexes,
                [
                    index::BY_STATUS,
                    index::BY_DOCUMENT,
                    index::BY_ASSIGNED_DAY,
                    index::BY_DOCTOR_STATUS,
                    index::BY_DOCUMENT_UPCOMING,
                    index::BY_DOCTOR_UPCOMING
                ]
            );
            assert_eq!(table(names.patient(country)).key[0].attribute, "document");
        }
        let doctors = table(names.doctor());
        assert_eq!(doctors.indexes[0].name, index::DOCTOR_BY_SPECIALITY);
        // Seed 000's doctor and slot items carry these attributes: pasted items are indexed.
        let keys: Vec<&str> = doctors.indexes[0]
            .key
            .iter()
            .map(|k| k.attribute.as_str())
            .collect();
        assert_eq!(keys, ["speciality", "country"]);
        let slots = table(names.slot());
        let keys: Vec<&str> = slots.indexes[0]
            .key
            .iter()
            .map(|k| k.attribute.as_str())
            .collect();
        assert_eq!(
            (slots.indexes[0].name.as_str(), keys),
            (index::SLOT_BY_DOCTOR, vec!["doctor", "id"])
        );
        let free: Vec<&str> = slots.indexes[1]
            .key
            .iter()
            .map(|k| k.attribute.as_str())
            .collect();
        assert_eq!(
            (slots.indexes[1].name.as_str(), free),
            (index::FREE_SLOTS, vec!["free", "starts"])
        );
        // Pasted slots are completed from the stream for that index.
        assert_eq!(slots.stream_view.as_deref(), Some("NEW_IMAGE"));
        assert_eq!(doctors.indexes[1].name, index::PLAN_DUE);
        let key_of = |index: &IndexSpec| -> Vec<String> {
            index.key.iter().map(|k| k.attribute.clone()).collect()
        };
        assert_eq!(
            (
                doctors.indexes[2].name.as_str(),
                key_of(&doctors.indexes[2])
            ),
            (
                index::DOCTOR_BY_GEO_CELL,
                vec!["geo_cell".to_owned(), "id".to_owned()]
            )
        );
        let reviews = table(names.review());
        assert_eq!(reviews.key[0].attribute, "id");
        assert_eq!(
            (
                reviews.indexes[0].name.as_str(),
                key_of(&reviews.indexes[0])
            ),
            (
                index::REVIEW_BY_DOCTOR,
                vec!["shown_doctor".to_owned(), "created_at".to_owned()]
            )
        );
        assert_eq!(table(names.speciality()).key[0].attribute, "country");
        let history = table(names.history());
        let history: Vec<&str> = history.key.iter().map(|k| k.attribute.as_str()).collect();
        assert_eq!(history, ["appointment", "entry"]);
    }

    #[test]
    fn every_country_queue_has_a_dead_letter_queue() {
        let template = project();
        for country in COUNTRIES {
            let name = queue_name("citas", country);
            let queue = template
                .queues
                .iter()
                .find(|q| q.name == name)
                .expect("queue");
            let dead_letter = queue.dead_letter.as_ref().expect("redrive policy");
            assert!(dead_letter.max_receive_count >= 2);
            assert!(
                template
                    .queues
                    .iter()
                    .any(|q| q.logical_id == dead_letter.target_logical_id)
            );
        }
    }

    #[test]
    fn substitution_and_errors() {
        let variables = Variables::default();
        assert_eq!(
            substitute("${AWS::StackName}-x-${TablePrefix}y", &variables).unwrap(),
            "citas-x-y"
        );
        assert!(substitute("${Nope}", &variables).is_err());
        assert!(Template::parse("Resources: 5", &variables).is_err());
        assert!(Template::parse("[", &variables).is_err());
    }
}
