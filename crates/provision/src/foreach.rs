//! `Fn::ForEach` of the `AWS::LanguageExtensions` transform, expanded as
//! CloudFormation expands it, so whatever reads template.yaml here (the
//! provisioner, the template and IAM drift tests) sees the resources the
//! stack will have: one per country where the template has one loop.
//!
//! `'Fn::ForEach::Name': [Identifier, [Value, ...], {OutputKey: OutputValue}]`
//! becomes, for each value, the fragment with every `${Identifier}` and
//! `&{Identifier}` in its keys and strings replaced by the value (`&{}`
//! keeps only its letters and digits). Loops may nest and may sit in a
//! resource's properties.

use serde_norway::value::TaggedValue;
use serde_norway::{Mapping, Value};

use crate::template::TemplateError;

const LOOP: &str = "Fn::ForEach::";

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

/// The document with every loop expanded.
///
/// # Errors
/// A loop that is not `[identifier, [values], {fragment}]`, or two entries
/// that expand to one key.
pub fn expand(value: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::Mapping(map) => Value::Mapping(expand_mapping(map)?),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(expand).collect::<Result<_, _>>()?)
        }
        Value::Tagged(tagged) => Value::Tagged(Box::new(TaggedValue {
            tag: tagged.tag.clone(),
            value: expand(&tagged.value)?,
        })),
        other => other.clone(),
    })
}

fn expand_mapping(map: &Mapping) -> Result<Mapping, TemplateError> {
    let mut out = Mapping::new();
    let mut insert = |key: Value, value: Value| match out.insert(key.clone(), value) {
        None => Ok(()),
        Some(_) => Err(invalid(format!("{key:?} is defined twice"))),
    };
    for (key, value) in map {
        match key.as_str().and_then(|k| k.strip_prefix(LOOP)) {
            Some(name) => {
                for (key, value) in expand_loop(name, value)? {
                    insert(key, value)?;
                }
            }
            None => insert(key.clone(), expand(value)?)?,
        }
    }
    Ok(out)
}

/// One loop's entries, expanded (their own loops too).
fn expand_loop(name: &str, body: &Value) -> Result<Mapping, TemplateError> {
    let shape = || {
        invalid(format!(
            "{LOOP}{name} is not [identifier, [values], {{fragment}}]"
        ))
    };
    let parts = body
        .as_sequence()
        .filter(|p| p.len() == 3)
        .ok_or_else(shape)?;
    let identifier = parts[0].as_str().ok_or_else(shape)?;
    let values = parts[1].as_sequence().ok_or_else(shape)?;
    let fragment = parts[2].as_mapping().ok_or_else(shape)?;
    let mut out = Mapping::new();
    for item in values {
        let item = item.as_str().ok_or_else(shape)?;
        let replaced = replace(&Value::Mapping(fragment.clone()), identifier, item);
        let Value::Mapping(entries) = expand(&replaced)? else {
            return Err(shape());
        };
        for (key, value) in entries {
            if out.insert(key.clone(), value).is_some() {
                return Err(invalid(format!("{LOOP}{name} makes {key:?} twice")));
            }
        }
    }
    Ok(out)
}

/// The value with `${identifier}` and `&{identifier}` replaced in every key and string.
fn replace(value: &Value, identifier: &str, item: &str) -> Value {
    let text = |text: &str| {
        let alphanumeric: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
        text.replace(&format!("${{{identifier}}}"), item)
            .replace(&format!("&{{{identifier}}}"), &alphanumeric)
    };
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|v| replace(v, identifier, item)).collect())
        }
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| (replace(k, identifier, item), replace(v, identifier, item)))
                .collect(),
        ),
        Value::Tagged(tagged)
            if tagged.tag == "Ref" && tagged.value.as_str() == Some(identifier) =>
        {
            Value::String(item.to_owned())
        }
        Value::Tagged(tagged) => folded(TaggedValue {
            tag: tagged.tag.clone(),
            value: replace(&tagged.value, identifier, item),
        }),
        other => other.clone(),
    }
}

/// `!GetAtt [!Sub "peQueue", Arn]` as `!GetAtt peQueue.Arn` and `!Ref !Sub "peQueue"`
/// as `!Ref peQueue` once the loop left nothing to substitute: the forms a
/// loop must use to name its own resources, read as the rest of the template
/// names them.
fn folded(tagged: TaggedValue) -> Value {
    let literal = |value: &Value| {
        let sub = match value {
            Value::String(text) => return Some(text.clone()),
            Value::Tagged(sub) if sub.tag == "Sub" => &sub.value,
            Value::Mapping(map) if map.len() == 1 => map.get("Fn::Sub")?,
            _ => return None,
        };
        sub.as_str()
            .filter(|text| !text.contains("${"))
            .map(str::to_owned)
    };
    let simpler = if tagged.tag == "GetAtt" {
        match tagged.value.as_sequence().map(Vec::as_slice) {
            Some([resource, attribute]) => literal(resource)
                .zip(attribute.as_str())
                .map(|(resource, attribute)| format!("{resource}.{attribute}")),
            _ => None,
        }
    } else if tagged.tag == "Ref" && !tagged.value.is_string() {
        literal(&tagged.value)
    } else {
        None
    };
    match simpler {
        Some(text) => Value::Tagged(Box::new(TaggedValue {
            tag: tagged.tag,
            value: Value::String(text),
        })),
        None => Value::Tagged(Box::new(tagged)),
    }
}

/// The collections of every loop, by loop name (for tests that hold them
/// to the domain's countries).
pub fn loops(value: &Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    collect_loops(value, &mut found);
    found
}

fn collect_loops(value: &Value, found: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                if let Some(name) = key.as_str().and_then(|k| k.strip_prefix(LOOP)) {
                    let values = value
                        .get(1)
                        .and_then(Value::as_sequence)
                        .map(|v| {
                            v.iter()
                                .filter_map(|s| s.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    found.push((name.to_owned(), values));
                }
                collect_loops(value, found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect_loops(v, found)),
        Value::Tagged(tagged) => collect_loops(&tagged.value, found),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).expect("YAML")
    }

    #[test]
    fn a_loop_makes_one_entry_per_value_with_the_identifier_replaced() {
        let expanded = expand(&yaml(
            r#"
Resources:
  Shared: { Type: A }
  Fn::ForEach::Country:
    - Code
    - [pe, cl]
    - ${Code}Table:
        Type: T
        Properties:
          TableName: !Sub "${TablePrefix}${Code}-appointment"
          Events:
            Fn::ForEach::Inner:
              - Kind
              - [a-b]
              - "&{Kind}${Code}": { Name: "${Kind}" }
"#,
        ))
        .expect("expanded");
        assert_eq!(
            expanded,
            yaml(
                r#"
Resources:
  Shared: { Type: A }
  peTable:
    Type: T
    Properties:
      TableName: !Sub "${TablePrefix}pe-appointment"
      Events:
        abpe: { Name: a-b }
  clTable:
    Type: T
    Properties:
      TableName: !Sub "${TablePrefix}cl-appointment"
      Events:
        abcl: { Name: a-b }
"#
            )
        );
        assert_eq!(
            loops(&yaml("R: {Fn::ForEach::X: [C, [pe, cl], {'${C}A': 1}]}")),
            vec![("X".to_owned(), vec!["pe".to_owned(), "cl".to_owned()])]
        );
    }

    #[test]
    fn a_loop_names_its_own_resources_as_the_rest_of_the_template_does() {
        let expanded = expand(&yaml(
            r#"
Fn::ForEach::Country:
  - Code
  - [pe]
  - ${Code}Queue:
      Redrive: !GetAtt [!Sub "${Code}DeadLetters", Arn]
      Url: !Ref { Fn::Sub: "${Code}Queue" }
      Zone: !FindInMap [Countries, !Ref Code, TimeZone]
      Other: !Ref Stage
"#,
        ))
        .expect("expanded");
        assert_eq!(
            expanded,
            yaml(
                r#"
peQueue:
  Redrive: !GetAtt peDeadLetters.Arn
  Url: !Ref peQueue
  Zone: !FindInMap [Countries, pe, TimeZone]
  Other: !Ref Stage
"#
            )
        );
    }

    #[test]
    fn a_malformed_loop_or_a_key_made_twice_is_an_error() {
        for text in [
            "R: {Fn::ForEach::X: [C, [pe]]}",
            "R: {Fn::ForEach::X: [C, pe, {'${C}A': 1}]}",
            "R: {Fn::ForEach::X: [C, [pe, pe], {'${C}A': 1}]}",
            "R: {peA: 1, Fn::ForEach::X: [C, [pe], {'${C}A': 1}]}",
        ] {
            assert!(expand(&yaml(text)).is_err(), "{text}");
        }
    }
}
