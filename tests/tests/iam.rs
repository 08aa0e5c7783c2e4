//! IAM that cannot drift from the code: each Lambda function's use cases run
//! on moto through the AWS adapters, composed as the function composes them
//! (`citas_lambda::Aws`), with an SDK interceptor recording what every call
//! names. Each recorded call must be granted by that function's policy in
//! template.yaml (action and resource), and each grant must be used by some
//! call of the function (or by its event source), so a missing permission and
//! an over-grant both fail.
//!
//! How IAM authorizes what the code calls (the rules [`needs_of`] applies):
//! - DynamoDB: an operation on a table needs `dynamodb:<Operation>` on the
//!   table's ARN; a `Query`/`Scan` of a secondary index needs it on
//!   `table/NAME/index/INDEX` (or a `table/NAME/index/*` that covers it), not on the table.
//! - `TransactWriteItems` is not authorized as itself: each item needs its
//!   own action on its table (`PutItem`, `UpdateItem`, `DeleteItem`,
//!   `ConditionCheckItem`); `TransactGetItems` needs `GetItem` on each table.
//! - `BatchGetItem` and `BatchWriteItem` are actions of their own, needed on each table of `RequestItems`.
//! - SQS: the batch operations are authorized as their single ones
//!   (`SendMessageBatch` needs `sqs:SendMessage`) on the queue's ARN.
//! - SES v2 `SendEmail` is authorized by its content: `ses:SendEmail` for
//!   simple content, `ses:SendRawEmail` for raw, `ses:SendTemplatedEmail`
//!   for a template; on the sending identity's ARN and on the configuration
//!   set's when one is named; `ses:FromAddress` is the request's `FromEmailAddress`.
//! - Cognito's administrator calls (`cognito-idp:AdminAddUserToGroup`…) need
//!   their action on the user pool's ARN; the post confirmation trigger's
//!   policy names the pool by a pattern and an `aws:ResourceTag` condition,
//!   which grants the stack's pool only when the pool carries that tag.
//! - Chime SDK Meetings: `chime:<Operation>` on the meetings' ARN
//!   (`meeting/*`: a meeting's id is Chime's to choose). moto serves no
//!   Chime, so the functions' Chime calls go to the stand-in of
//!   `chime_stand_in` and are recorded as any other call.
//! - A function's DynamoDB stream event source reads the stream with the
//!   function's role (`DescribeStream`, `GetRecords`, `GetShardIterator`,
//!   `ListStreams` on the stream ARN), and an SQS on-failure destination
//!   receives failed batches with it (`sqs:SendMessage`): those are needs of
//!   the function too, read from its `Events`. (SQS event sources poll with
//!   what SAM's `AWSLambdaSQSQueueExecutionRole` grants; the template restates none of it.)

mod backends;
mod chime_stand_in;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use citas_aws::{CallRecorder, Named, RecordedCall};
use citas_domain::{COUNTRIES, Clock, Country, ManualClock};
use citas_e2e::cognito_event;
use citas_provision::template::{Template, Variables};
use lambda_http::Body;
use serde_json::{Value, json};
use serde_norway::Value as Yaml;

// ---------------------------------------------------------------------------
// The policies of template.yaml, resolved to the stack's logical resources.

/// A resource of the stack, as a policy names it and a call touches it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    /// A table by logical id.
    Table(String),
    /// An index of a table (logical id, index name); `*` stands for all of the table's indexes.
    Index(String, String),
    /// A table's stream, by the table's logical id.
    Stream(String),
    /// A queue by logical id.
    Queue(String),
    /// An SES identity, by its name (an address or a domain).
    SesIdentity(String),
    SesConfigurationSet(String),
    /// A Cognito user pool, by logical id.
    UserPool(String),
    /// Chime SDK meetings (`meeting/*` of the stack's account and region).
    ChimeMeetings,
    /// Something the stack does not declare (a call to it can never be granted).
    Unknown(String),
}

/// One (action, resource) pair a policy grants, with its `ses:FromAddress` condition if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    action: String,
    resource: Resource,
    from_address: Option<String>,
}

/// One (action, resource) pair a function needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Need {
    action: String,
    resource: Resource,
    from_address: Option<String>,
}

impl Grant {
    fn covers(&self, need: &Need) -> bool {
        let resource = match (&self.resource, &need.resource) {
            (Resource::Index(table, all), Resource::Index(of, _)) if all == "*" => table == of,
            (granted, needed) => granted == needed,
        };
        let condition = self
            .from_address
            .as_ref()
            .is_none_or(|from| need.from_address.as_ref() == Some(from));
        self.action == need.action && resource && condition
    }
}

/// The template's parameters as this test deploys them.
struct Parameters(HashMap<&'static str, String>);

impl Parameters {
    fn get(&self, name: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the test gives no value to the parameter {name}"))
    }
}

struct Policies {
    /// Logical id → Type of every resource.
    kinds: BTreeMap<String, String>,
    /// Function logical id → its grants.
    grants: BTreeMap<String, BTreeSet<Grant>>,
    /// Function logical id → what its event sources need.
    event_needs: BTreeMap<String, BTreeSet<Need>>,
    /// Function logical id → binary.
    binaries: BTreeMap<String, String>,
}

/// template.yaml as CloudFormation reads it: its country loops expanded.
fn template_yaml() -> Yaml {
    citas_provision::template::project_expanded().expect("template.yaml")
}

fn tagged<'a>(value: &'a Yaml, tag: &str) -> Option<&'a Yaml> {
    match value {
        Yaml::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// A condition of the template (`!Not`, `!Equals`, `!Ref` to a parameter), evaluated.
fn condition_holds(template: &Yaml, name: &str, parameters: &Parameters) -> bool {
    fn text(value: &Yaml, parameters: &Parameters) -> String {
        // The reference first: `as_str` sees through tags.
        match (tagged(value, "Ref").and_then(Yaml::as_str), value.as_str()) {
            (Some(parameter), _) => parameters.get(parameter),
            (None, Some(text)) => text.to_owned(),
            _ => panic!("unsupported condition operand {value:?}"),
        }
    }
    fn eval(value: &Yaml, parameters: &Parameters) -> bool {
        if let Some(inner) = tagged(value, "Not") {
            return !eval(&inner[0], parameters);
        }
        if let Some(pair) = tagged(value, "Equals") {
            return text(&pair[0], parameters) == text(&pair[1], parameters);
        }
        panic!("unsupported condition {value:?}")
    }
    eval(&template["Conditions"][name], parameters)
}

/// Whether `name` matches an IAM resource pattern (`?` one character, `*` any run).
fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.chars().next() {
        None => name.is_empty(),
        Some('*') => (0..=name.len())
            .filter(|i| name.is_char_boundary(*i))
            .any(|i| matches_pattern(&pattern[1..], &name[i..])),
        Some(c) => name.chars().next().is_some_and(|n| {
            (c == '?' || c == n) && matches_pattern(&pattern[c.len_utf8()..], &name[n.len_utf8()..])
        }),
    }
}

/// `${Parameter}` replaced by the test's values (and the ARN's account parts kept as text).
fn substituted(text: &str, parameters: &Parameters) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        let (name, after) = after.split_once('}').expect("a closed ${");
        out.push_str(before);
        match name {
            "AWS::Partition" | "AWS::Region" | "AWS::AccountId" => out.push_str(name),
            _ => out.push_str(&parameters.get(name)),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The resources of `kind` whose deployed name (its `name_property`) matches `pattern`.
fn named_like(
    template: &Yaml,
    kind: &str,
    name_property: &str,
    pattern: &str,
    parameters: &Parameters,
) -> Vec<String> {
    let found: Vec<String> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .filter_map(|(id, r)| {
            let name = tagged(&r["Properties"][name_property], "Sub")?.as_str()?;
            matches_pattern(pattern, &substituted(name, parameters))
                .then(|| id.as_str().expect("id").to_owned())
        })
        .collect();
    assert!(!found.is_empty(), "{pattern} names no {kind}");
    found
}

/// A policy's resource as the stack's resources it names: one, or every
/// country's for a name pattern (`table/${TablePrefix}??-appointment`);
/// none for `!Ref AWS::NoValue`.
fn resolve_resource(
    value: &Yaml,
    template: &Yaml,
    kinds: &BTreeMap<String, String>,
    parameters: &Parameters,
) -> Vec<Resource> {
    if let Some(attribute) = tagged(value, "GetAtt").and_then(Yaml::as_str) {
        let (id, attribute) = attribute.split_once('.').expect("Resource.Attribute");
        return vec![match (kinds.get(id).map(String::as_str), attribute) {
            (Some("AWS::DynamoDB::Table"), "Arn") => Resource::Table(id.into()),
            (Some("AWS::DynamoDB::Table"), "StreamArn") => Resource::Stream(id.into()),
            (Some("AWS::SQS::Queue"), "Arn") => Resource::Queue(id.into()),
            _ => panic!("unsupported !GetAtt {id}.{attribute}"),
        }];
    }
    if let Some(text) = tagged(value, "Sub").and_then(Yaml::as_str) {
        if let Some(rest) = text.strip_prefix("${")
            && let Some((id, index)) = rest.split_once(".Arn}/index/")
        {
            return vec![Resource::Index(id.into(), index.into())];
        }
        let arn = substituted(text, parameters);
        if let Some((_, table)) = arn.split_once(":dynamodb:AWS::Region:AWS::AccountId:table/") {
            let (pattern, index) = match table.split_once("/index/") {
                Some((pattern, index)) => (pattern, Some(index)),
                None => (table, None),
            };
            let tables = named_like(
                template,
                "AWS::DynamoDB::Table",
                "TableName",
                pattern,
                parameters,
            );
            return tables
                .into_iter()
                .map(|id| match index {
                    Some(index) => Resource::Index(id, index.into()),
                    None => Resource::Table(id),
                })
                .collect();
        }
        if let Some((_, queue)) = arn.split_once(":sqs:AWS::Region:AWS::AccountId:") {
            return named_like(template, "AWS::SQS::Queue", "QueueName", queue, parameters)
                .into_iter()
                .map(Resource::Queue)
                .collect();
        }
        if arn.ends_with(":chime:AWS::Region:AWS::AccountId:meeting/*") {
            return vec![Resource::ChimeMeetings];
        }
        if arn.contains(":cognito-idp:AWS::Region:AWS::AccountId:userpool/") {
            // A pattern: the statement's tag condition says which pool it is.
            return vec![Resource::Unknown(format!("user pools {arn}"))];
        }
        let parameter = |marker: &str| {
            text.split_once(marker)
                .and_then(|(_, rest)| rest.strip_prefix("${"))
                .and_then(|rest| rest.strip_suffix('}'))
                .map(|name| parameters.get(name))
        };
        if let Some(identity) = parameter(":identity/") {
            return vec![Resource::SesIdentity(identity)];
        }
        if let Some(set) = parameter(":configuration-set/") {
            return vec![Resource::SesConfigurationSet(set)];
        }
        panic!("unsupported !Sub {text}");
    }
    if let Some(branches) = tagged(value, "If") {
        let condition = branches[0].as_str().expect("condition name");
        let chosen = if condition_holds(template, condition, parameters) {
            &branches[1]
        } else {
            &branches[2]
        };
        return resolve_resource(chosen, template, kinds, parameters);
    }
    if tagged(value, "Ref").and_then(Yaml::as_str) == Some("AWS::NoValue") {
        return Vec::new();
    }
    panic!("unsupported resource {value:?}")
}

/// A statement's condition, as understood here.
#[derive(Default)]
struct Condition {
    /// `ses:FromAddress`.
    from_address: Option<String>,
    /// `aws:ResourceTag/<key>`: the template's user pools whose tag has the value.
    tagged_pools: Option<Vec<Resource>>,
}

fn condition_of(statement: &Yaml, template: &Yaml, parameters: &Parameters) -> Condition {
    let Some(condition) = statement.get("Condition") else {
        return Condition::default();
    };
    let equals = condition
        .as_mapping()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.get("StringEquals"))
        .and_then(Yaml::as_mapping)
        .filter(|m| m.len() == 1)
        .unwrap_or_else(|| panic!("unsupported condition {condition:?}"));
    let (key, value) = equals.iter().next().expect("one key");
    let value = match tagged(value, "Ref").and_then(Yaml::as_str) {
        Some(parameter) => parameters.get(parameter),
        None => value.as_str().expect("a string").to_owned(),
    };
    let key = key.as_str().expect("a condition key");
    if key == "ses:FromAddress" {
        return Condition {
            from_address: Some(value),
            ..Condition::default()
        };
    }
    let tag = key
        .strip_prefix("aws:ResourceTag/")
        .unwrap_or_else(|| panic!("unsupported condition {condition:?}"));
    let pools = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Cognito::UserPool")
        .filter(|(_, r)| {
            let tagged_with = &r["Properties"]["UserPoolTags"][tag];
            let resolved = match tagged(tagged_with, "Ref").and_then(Yaml::as_str) {
                Some(parameter) => Some(parameters.get(parameter)),
                None => tagged_with.as_str().map(str::to_owned),
            };
            resolved.as_deref() == Some(value.as_str())
        })
        .map(|(id, _)| Resource::UserPool(id.as_str().expect("id").to_owned()))
        .collect();
    Condition {
        from_address: None,
        tagged_pools: Some(pools),
    }
}

/// The one resource an event source names.
fn only(mut resources: Vec<Resource>) -> Resource {
    assert_eq!(resources.len(), 1, "{resources:?}");
    resources.remove(0)
}

/// The stream-reading actions of a DynamoDB event source (those of AWS's
/// `AWSLambdaDynamoDBExecutionRole`).
const STREAM_READS: [&str; 4] = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

fn policies(template: &Yaml, parameters: &Parameters) -> Policies {
    let resources = template["Resources"].as_mapping().expect("Resources");
    let kinds: BTreeMap<String, String> = resources
        .iter()
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r["Type"].as_str()?.to_owned())))
        .collect();
    let mut policies = Policies {
        kinds: kinds.clone(),
        grants: BTreeMap::new(),
        event_needs: BTreeMap::new(),
        binaries: BTreeMap::new(),
    };
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().expect("id").to_owned();
        let properties = &resource["Properties"];
        let mut grants = BTreeSet::new();
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                assert_eq!(statement["Effect"], "Allow", "{id}");
                let condition = condition_of(statement, template, parameters);
                let from_address = condition.from_address;
                for action in statement["Action"].as_sequence().expect("Action list") {
                    for target in statement["Resource"].as_sequence().expect("Resource list") {
                        let mut resources = resolve_resource(target, template, &kinds, parameters);
                        // A pattern of user pools held to the tagged ones.
                        if let Some(pools) = &condition.tagged_pools
                            && resources
                                .iter()
                                .all(|r| matches!(r, Resource::Unknown(what) if what.starts_with("user pools")))
                        {
                            resources = pools.clone();
                        }
                        for resource in resources {
                            grants.insert(Grant {
                                action: action.as_str().expect("action").to_owned(),
                                resource,
                                from_address: from_address.clone(),
                            });
                        }
                    }
                }
            }
        }
        let mut needs = BTreeSet::new();
        for event in properties["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
        {
            if event["Type"] != "DynamoDB" {
                continue;
            }
            let event = &event["Properties"];
            let stream = only(resolve_resource(
                &event["Stream"],
                template,
                &kinds,
                parameters,
            ));
            for action in STREAM_READS {
                needs.insert(Need {
                    action: action.into(),
                    resource: stream.clone(),
                    from_address: None,
                });
            }
            let on_failure = &event["DestinationConfig"]["OnFailure"];
            if on_failure["Type"] == "SQS" {
                needs.insert(Need {
                    action: "sqs:SendMessage".into(),
                    resource: only(resolve_resource(
                        &on_failure["Destination"],
                        template,
                        &kinds,
                        parameters,
                    )),
                    from_address: None,
                });
            }
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_owned();
        policies.binaries.insert(id.clone(), binary);
        policies.event_needs.insert(id.clone(), needs);
        policies.grants.insert(id, grants);
    }
    policies
}

// ---------------------------------------------------------------------------
// From recorded calls to what IAM checks.

/// Deployed names → logical ids, for this test's tables and queues.
struct Names {
    tables: HashMap<String, String>,
    queues: HashMap<String, String>,
    /// The identity that verifies the sender (SES authorizes on it).
    ses_identity: String,
    /// The user pool's id on moto → its logical id.
    user_pools: HashMap<String, String>,
}

impl Names {
    fn table(&self, name: &str) -> String {
        self.tables
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("?table {name}"))
    }

    fn table_resource(&self, name: &str) -> Resource {
        match self.tables.get(name) {
            Some(id) => Resource::Table(id.clone()),
            None => Resource::Unknown(format!("table {name}")),
        }
    }

    fn queue_resource(&self, url: &str) -> Resource {
        let name = url.rsplit('/').next().unwrap_or(url);
        match self.queues.get(name) {
            Some(id) => Resource::Queue(id.clone()),
            None => Resource::Unknown(format!("queue {url}")),
        }
    }
}

/// What IAM checks for one call (see the module's documentation).
fn needs_of(call: &RecordedCall, names: &Names) -> Vec<Need> {
    let need = |action: String, resource: Resource| Need {
        action,
        resource,
        from_address: None,
    };
    let mut needs = Vec::new();
    match call.service.as_str() {
        "dynamodb" => {
            for named in &call.names {
                match named {
                    Named::Table(table) => needs.push(need(
                        format!("dynamodb:{}", call.operation),
                        names.table_resource(table),
                    )),
                    Named::Index { table, index } => needs.push(need(
                        format!("dynamodb:{}", call.operation),
                        Resource::Index(names.table(table), index.clone()),
                    )),
                    Named::TransactionItem { kind, table } => needs.push(need(
                        match kind.as_str() {
                            "Get" => "dynamodb:GetItem".to_owned(),
                            kind => format!("dynamodb:{kind}Item"),
                        },
                        names.table_resource(table),
                    )),
                    other => panic!("a DynamoDB call naming {other:?}"),
                }
            }
        }
        "sqs" => {
            let action = call
                .operation
                .strip_suffix("Batch")
                .unwrap_or(&call.operation);
            for named in &call.names {
                match named {
                    Named::Queue(url) => {
                        needs.push(need(format!("sqs:{action}"), names.queue_resource(url)))
                    }
                    other => panic!("an SQS call naming {other:?}"),
                }
            }
        }
        "ses" if call.operation == "SendEmail" => {
            let mut from = None;
            let mut content = None;
            let mut resources = Vec::new();
            for named in &call.names {
                match named {
                    Named::FromAddress(address) => from = Some(address.clone()),
                    Named::EmailContent(kind) => content = Some(kind.as_str()),
                    Named::ConfigurationSet(set) => {
                        resources.push(Resource::SesConfigurationSet(set.clone()))
                    }
                    Named::IdentityArn(arn) => resources.push(Resource::SesIdentity(
                        arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                    )),
                    other => panic!("an SES call naming {other:?}"),
                }
            }
            if !resources
                .iter()
                .any(|r| matches!(r, Resource::SesIdentity(_)))
            {
                resources.push(Resource::SesIdentity(names.ses_identity.clone()));
            }
            let action = match content {
                Some("Simple") => "ses:SendEmail",
                Some("Raw") => "ses:SendRawEmail",
                Some("Template") => "ses:SendTemplatedEmail",
                other => panic!("SendEmail with content {other:?}"),
            };
            for resource in resources {
                needs.push(Need {
                    action: action.into(),
                    resource,
                    from_address: from.clone(),
                });
            }
        }
        "cognito-idp" => {
            for named in &call.names {
                match named {
                    Named::UserPool(id) => needs.push(need(
                        format!("cognito-idp:{}", call.operation),
                        match names.user_pools.get(id) {
                            Some(logical_id) => Resource::UserPool(logical_id.clone()),
                            None => Resource::Unknown(format!("user pool {id}")),
                        },
                    )),
                    other => panic!("a Cognito call naming {other:?}"),
                }
            }
        }
        "chime" => needs.push(need(
            format!("chime:{}", call.operation),
            Resource::ChimeMeetings,
        )),
        _ => needs.push(need(
            format!("{}:{}", call.service, call.operation),
            Resource::Unknown(format!("{:?}", call.names)),
        )),
    }
    needs
}

/// What is wrong with a function's policy against what it needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Findings {
    /// Needed and not granted.
    missing: Vec<Need>,
    /// Granted and never needed.
    unused: Vec<Grant>,
}

fn check(grants: &BTreeSet<Grant>, needs: &BTreeSet<Need>) -> Findings {
    Findings {
        missing: needs
            .iter()
            .filter(|need| !grants.iter().any(|grant| grant.covers(need)))
            .cloned()
            .collect(),
        unused: grants
            .iter()
            .filter(|grant| !needs.iter().any(|need| grant.covers(need)))
            .cloned()
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// The functions' use cases on moto.

/// What the functions were deployed with, on moto.
struct Stack {
    aws: citas_lambda::Aws,
    recorder: CallRecorder,
    clock: Arc<ManualClock>,
    /// Unrecorded clients, for setting the scene (what no function does).
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    ses: aws_sdk_sesv2::Client,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    /// The user pool made on moto for the triggers, tagged as template.yaml tags it.
    user_pool: Option<String>,
    stack_name: String,
    sender: String,
    template: Template,
    /// Function logical id → the calls it made.
    calls: BTreeMap<String, Vec<RecordedCall>>,
    binaries: BTreeMap<String, String>,
    /// What the functions' Chime calls reach.
    chime: chime_stand_in::ChimeStandIn,
}

fn claims(role: &str, country: &Country, document: Option<&str>) -> Value {
    let mut claims = json!({
        "sub": format!("iam-{role}-{}", document.unwrap_or("staff")),
        "cognito:groups": format!("[{role}]"),
        "custom:country": country.code,
    });
    if let Some(document) = document {
        claims["custom:document"] = json!(document);
    }
    claims
}

/// An API Gateway HTTP API (v2) event, as lambda_http parses it in Lambda.
fn api_event(
    method: &str,
    target: &str,
    claims: &Value,
    body: Option<&Value>,
) -> lambda_http::Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let citas_api::RouteMatch::Found { route, params } = citas_api::match_route(method, path)
    else {
        panic!("{method} {path} is no route");
    };
    let query_parameters: serde_json::Map<String, Value> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), json!(value))
        })
        .collect();
    let path_parameters: serde_json::Map<String, Value> = params
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": path,
        "rawQueryString": query,
        "headers": { "content-type": "application/json", "host": "api.example" },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "iam",
            "domainName": "api.example",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "190.117.10.20", "userAgent": "iam-test" },
            "requestId": "iam-test",
            "routeKey": route.key(),
            "stage": "$default",
            "time": "22/Nov/2026:15:00:00 +0000",
            "timeEpoch": 1795359600000u64,
            "authorizer": { "jwt": { "claims": claims, "scopes": null } }
        },
        "isBase64Encoded": false,
        "pathParameters": path_parameters,
    });
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(query_parameters);
    }
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event")
}

impl Stack {
    async fn on_moto(parameters: &mut Parameters) -> Self {
        let prefix = backends::unique_prefix();
        let variables = Variables {
            table_prefix: prefix.clone(),
            stack_name: prefix.trim_end_matches('-').to_owned(),
            ..Variables::default()
        };
        let config = citas_provision::sdk_config(&backends::moto_endpoint()).await;
        let mut settings = citas_provision::prepare(&config, &variables)
            .await
            .expect("tables and queues on moto");
        // A sender of this test's own, so making it unverified disturbs no other test.
        let sender = format!("citas-{}@example.com", variables.stack_name);
        let ses = aws_sdk_sesv2::Client::new(&config);
        ses.create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .expect("identity");
        settings.ses_sender = Some(sender.clone());
        settings.calendar_key = Some("k".repeat(40));
        // As deployed, virtual visits meet on Chime: here on its stand-in.
        let chime = chime_stand_in::ChimeStandIn::start().await;
        settings.meetings.provider = citas_domain::meeting::MeetingProvider::Chime;
        settings.meetings.chime_endpoint = Some(chime.endpoint());
        parameters.0.insert("SesSender", sender.clone());
        parameters.0.insert("SesIdentity", sender.clone());
        parameters.0.insert("SesConfigurationSet", String::new());
        parameters
            .0
            .insert("TablePrefix", variables.table_prefix.clone());
        parameters
            .0
            .insert("AWS::StackName", variables.stack_name.clone());
        let clock = Arc::new(ManualClock::new(
            "2026-11-22T15:00:00Z".parse().expect("time"),
        ));
        let recorder = CallRecorder::default();
        let aws = citas_lambda::Aws {
            sdk: config.clone(),
            settings,
            clock: clock.clone(),
            breakers: citas_aws::Breakers::default(),
            xray: None,
            recorder: Some(recorder.clone()),
        };
        Self {
            aws,
            recorder,
            clock,
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            ses,
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&config),
            user_pool: None,
            stack_name: variables.stack_name.clone(),
            sender,
            template: Template::project(&variables).expect("template"),
            calls: BTreeMap::new(),
            binaries: BTreeMap::new(),
            chime,
        }
    }

    /// Gives the calls made since the last attribution to `function`.
    fn made_by(&mut self, function: &str) {
        let calls = self.recorder.take();
        self.calls
            .entry(function.to_owned())
            .or_default()
            .extend(calls);
    }

    /// Setting the scene: calls made so far belong to no function.
    fn forget_calls(&self) {
        self.recorder.take();
    }

    /// An API request handled by `function` (a template logical id) with the actions its binary serves.
    async fn api(
        &mut self,
        function: &str,
        method: &str,
        target: &str,
        claims: &Value,
        body: Option<Value>,
    ) -> (u16, Value) {
        let binary = &self.binaries[function];
        let serves = citas_lambda::functions::HTTP
            .iter()
            .find(|(name, _)| name == binary)
            .map(|(_, actions)| *actions)
            .unwrap_or_else(|| panic!("{function} serves no HTTP action"));
        self.forget_calls();
        let response = citas_lambda::http(
            &self.aws.services(),
            serves,
            api_event(method, target, claims, body.as_ref()),
        )
        .await
        .expect("handler never fails");
        self.made_by(function);
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, body)
    }

    fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }
}

/// A Chilean RUT's check digit (modulo 11).
fn rut(number: u32) -> String {
    let mut sum = 0;
    let mut factor = 2;
    let mut rest = number;
    while rest > 0 {
        sum += (rest % 10) * factor;
        rest /= 10;
        factor = if factor == 7 { 2 } else { factor + 1 };
    }
    let digit = match 11 - sum % 11 {
        11 => "0".to_owned(),
        10 => "K".to_owned(),
        d => d.to_string(),
    };
    format!("{number}-{digit}")
}

/// Patients' documents of a country (four of them).
fn patients_of(country: &Country) -> Vec<String> {
    (1..=4)
        .map(|n| match country.code {
            "cl" => rut(12_000_000 + n * 1_111),
            _ => format!("{}", 45_000_000 + n * 1_111),
        })
        .collect()
}

fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// The earliest free slot's id of a speciality (as the search shows it), other than `except`.
async fn free_slot(
    stack: &mut Stack,
    country: &Country,
    speciality: &str,
    except: &[String],
) -> String {
    let admin = claims("admin", country, None);
    let (status, page) = stack
        .api(
            "BrowseScheduleFunction",
            "GET",
            &format!(
                "/{}/slot?speciality={speciality}&from=2026-11-23&to=2026-12-31&limit=20",
                country.code
            ),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(id_of)
        .find(|id| !except.contains(id))
        .unwrap_or_else(|| panic!("no free slot in {page}"))
}

/// Every HTTP action of every API function, in one country: successes and
/// the error paths that reach the store.
async fn api_use_cases(stack: &mut Stack, country: &'static Country) -> Vec<String> {
    let c = country.code;
    let admin = claims("admin", country, None);
    let patients = patients_of(country);
    let patient = |n: usize| claims("patient", country, Some(&patients[n]));
    let doctor_a = claims("doctor", country, Some("7700001"));
    let doctor_b = claims("doctor", country, Some("7700002"));

    // The doctors, their plans and one slot taken out.
    let (status, a) = stack
        .api(
            "ManageDoctorsFunction",
            "POST",
            &format!("/{c}/doctor"),
            &admin,
            Some(
                json!({ "document": "7700001", "name": "Dr. Vega", "speciality": "cardiologia",
                         "email": format!("vega-{c}@example.com") }),
            ),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let a = id_of(&a);
    let (status, b) = stack
        .api("ManageDoctorsFunction", "POST", &format!("/{c}/doctor"), &admin,
            Some(json!({ "document": "7700002", "name": "Dra. Reyes", "speciality": "reumatologia",
                         "email": format!("reyes-{c}@example.com"), "requires_confirmation": true })))
        .await;
    assert_eq!(status, 201, "{b}");
    let b = id_of(&b);
    // A speciality outside the catalogue is added to the country's.
    let (status, body) = stack
        .api("ManageDoctorsFunction", "POST", &format!("/{c}/doctor"), &admin,
            Some(json!({ "document": "7700003", "name": "Dr. Soto", "speciality": "Medicina del sueño" })))
        .await;
    assert_eq!(status, 201, "{body}");
    let added = body["speciality"].as_str().expect("a slug").to_owned();
    // Updating a doctor reads and rewrites it.
    let (status, body) = stack
        .api(
            "ManageDoctorsFunction",
            "POST",
            &format!("/{c}/doctor"),
            &admin,
            Some(
                json!({ "document": "7700001", "name": "Dr. Juan Vega", "speciality": "cardiologia",
                         "email": format!("vega-{c}@example.com") }),
            ),
        )
        .await;
    assert!(status < 300, "{body}");
    for (doctor, who) in [(&a, &doctor_a), (&b, &doctor_b)] {
        let (status, plan) = stack
            .api(
                "ManageDoctorsFunction",
                "PUT",
                &format!("/{c}/doctor/{doctor}/availability"),
                who,
                Some(json!({ "slot_minutes": 30, "valid_from": "2026-11-23",
                             "weekly": [{ "weekday": "mon", "from": "09:00", "to": "11:00" },
                                        { "weekday": "tue", "from": "09:00", "to": "11:00" },
                                        { "weekday": "wed", "from": "09:00", "to": "11:00" }] })),
            )
            .await;
        assert_eq!(status, 200, "{plan}");
    }
    // A changed plan takes slots out of the generated ones.
    let (status, plan) = stack
        .api(
            "ManageDoctorsFunction",
            "PUT",
            &format!("/{c}/doctor/{a}/availability"),
            &admin,
            Some(json!({ "slot_minutes": 30, "valid_from": "2026-11-23",
                         "weekly": [{ "weekday": "mon", "from": "09:00", "to": "11:00" },
                                    { "weekday": "tue", "from": "09:00", "to": "10:00" }] })),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let removed = free_slot(stack, country, "cardiologia", &[]).await;
    let (status, body) = stack
        .api(
            "ManageDoctorsFunction",
            "DELETE",
            &format!("/{c}/doctor/{a}/slot/{removed}"),
            &admin,
            None,
        )
        .await;
    assert!(status < 300, "{body}");
    // A slot that does not exist.
    let (status, _) = stack
        .api(
            "ManageDoctorsFunction",
            "DELETE",
            &format!("/{c}/doctor/{a}/slot/{removed}"),
            &admin,
            None,
        )
        .await;
    assert!(status >= 400);

    // The patients.
    for (n, document) in patients.iter().enumerate() {
        let (status, body) = stack
            .api(
                "RegisterPatientFunction",
                "POST",
                &format!("/{c}/patient"),
                &admin,
                Some(
                    json!({ "document": document, "name": format!("Paciente {n}"),
                             "email": format!("paciente{n}-{c}@example.com") }),
                ),
            )
            .await;
        assert!(status < 300, "{body}");
    }
    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "POST",
            &format!("/{c}/patient"),
            &patient(0),
            Some(json!({ "document": patients[0], "name": "Paciente Cero",
                         "email": format!("paciente0-{c}@example.com") })),
        )
        .await;
    assert!(status < 300, "{body}");
    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "GET",
            &format!("/{c}/patient/{}", patients[0]),
            &patient(0),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Appointments: four patients, one of them asking twice; one unknown patient, one unknown speciality.
    let mut appointments = Vec::new();
    for (n, speciality) in ["cardiologia", "reumatologia", "reumatologia", "cardiologia"]
        .iter()
        .enumerate()
    {
        let (status, body) = stack
            .api(
                "CreateAppointmentFunction",
                "POST",
                &format!("/{c}/appointment"),
                &patient(n),
                Some(json!({ "document": patients[n], "speciality": speciality })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        appointments.push(id_of(&body));
    }
    let (status, _) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{c}/appointment"),
            &patient(0),
            Some(json!({ "document": patients[0], "speciality": "cardiologia" })),
        )
        .await;
    assert!(status >= 400 || status == 200, "asking twice");
    let stranger = match c {
        "cl" => rut(19_999_999),
        _ => "49999999".to_owned(),
    };
    let (status, _) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{c}/appointment"),
            &admin,
            Some(json!({ "document": stranger, "speciality": "cardiologia" })),
        )
        .await;
    assert!(status >= 400, "an unregistered patient");
    let (status, _) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{c}/appointment"),
            &admin,
            Some(json!({ "document": patients[1], "speciality": "especialidad-inexistente" })),
        )
        .await;
    assert!(status >= 400, "a speciality the country does not offer");
    let (status, body) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{c}/appointment"),
            &admin,
            Some(json!({ "document": patients[1], "speciality": added })),
        )
        .await;
    assert!(status < 500, "a speciality the country added: {body}");

    // Booking: automatic, a chosen slot, a move, and a slot already taken.
    let (status, booked) = stack
        .api(
            "AssignAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/assign", appointments[0]),
            &patient(0),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    let first_slot = booked["slot"]["id"].as_str().expect("a slot").to_owned();
    let other = free_slot(
        stack,
        country,
        "cardiologia",
        std::slice::from_ref(&first_slot),
    )
    .await;
    let (status, moved) = stack
        .api(
            "AssignAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/reschedule", appointments[0]),
            &patient(0),
            Some(json!({ "slot": other })),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let (status, taken) = stack
        .api(
            "AssignAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/assign", appointments[3]),
            &patient(3),
            Some(json!({ "slot": other })),
        )
        .await;
    assert!(status >= 400, "{taken}");
    let (status, chosen) = stack
        .api(
            "AssignAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/assign", appointments[3]),
            &patient(3),
            Some(json!({ "slot": first_slot })),
        )
        .await;
    assert_eq!(status, 200, "{chosen}");
    for n in [1, 2] {
        let (status, pending) = stack
            .api(
                "AssignAppointmentFunction",
                "POST",
                &format!("/{c}/appointment/{}/assign", appointments[n]),
                &patient(n),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (status, pending["status"].as_str()),
            (200, Some("pending")),
            "{pending}"
        );
    }

    // The doctor answers; a patient cancels.
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/confirm", appointments[1]),
            &doctor_b,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/refuse", appointments[2]),
            &doctor_b,
            Some(json!({ "reason": "fuera de mi especialidad" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/cancel", appointments[1]),
            &patient(1),
            Some(json!({ "reason": "viaje" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Cancelling again is refused after reading it.
    let (status, _) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/cancel", appointments[1]),
            &patient(1),
            Some(json!({ "reason": "viaje" })),
        )
        .await;
    assert!(status >= 400);
    // Asking again on the day of a cancellation reopens the request.
    let (status, body) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{c}/appointment"),
            &patient(1),
            Some(json!({ "document": patients[1], "speciality": "reumatologia" })),
        )
        .await;
    assert!(status < 300, "{body}");

    let (status, body) = stack
        .api(
            "NotifyAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/notify", appointments[0]),
            &admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // Reading appointments every way the API offers.
    let reads = [
        ("GET", "/health".to_owned(), admin.clone()),
        (
            "GET",
            format!("/{c}/appointment/{}", appointments[0]),
            patient(0),
        ),
        (
            "GET",
            format!("/{c}/appointment/{}/history", appointments[0]),
            admin.clone(),
        ),
        (
            "GET",
            format!("/{c}/appointment?status=registered"),
            admin.clone(),
        ),
        (
            "GET",
            format!("/{c}/appointment?status=assigned"),
            admin.clone(),
        ),
        (
            "GET",
            format!("/{c}/appointment?status=assigned"),
            doctor_a.clone(),
        ),
        (
            "GET",
            format!("/{c}/appointment?upcoming=true"),
            doctor_a.clone(),
        ),
        (
            "GET",
            format!("/{c}/appointment?document={}", patients[0]),
            patient(0),
        ),
        (
            "GET",
            format!("/{c}/appointment?document={}&upcoming=true", patients[0]),
            patient(0),
        ),
        (
            "GET",
            format!("/{c}/appointment?status=assigned&document={}", patients[0]),
            admin.clone(),
        ),
    ];
    for (method, target, who) in reads {
        let (status, body) = stack
            .api("QueryAppointmentsFunction", method, &target, &who, None)
            .await;
        assert!(status == 200 || status == 400, "{target}: {body}");
    }

    // Reading the schedule every way the API offers.
    let browse = [
        format!("/{c}/speciality"),
        format!("/{c}/doctor?speciality=cardiologia"),
        format!("/{c}/doctor/{a}"),
        format!("/{c}/doctor/{a}/availability"),
        format!("/{c}/doctor/{a}/agenda?from=2026-11-23&to=2026-11-29"),
        format!("/{c}/slot?speciality=cardiologia&from=2026-11-23&to=2026-11-30"),
        format!("/{c}/slot?speciality=cardiologia&doctor={a}&from=2026-11-23&to=2026-11-30"),
        format!("/{c}/slot/days?speciality=cardiologia&month=2026-11"),
        format!("/{c}/slot/days?speciality=cardiologia&month=2026-11&doctor={a}"),
    ];
    for target in browse {
        let (status, body) = stack
            .api("BrowseScheduleFunction", "GET", &target, &admin, None)
            .await;
        assert_eq!(status, 200, "{target}: {body}");
    }
    let (status, body) = stack
        .api(
            "BrowseScheduleFunction",
            "GET",
            &format!("/{c}/doctor/{a}/agenda?from=2026-11-23&to=2026-11-29"),
            &doctor_a,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Who am I, as a patient (their record) and as a doctor (their records).
    for who in [patient(0), doctor_a.clone()] {
        let (status, body) = stack
            .api(
                "BrowseScheduleFunction",
                "GET",
                &format!("/{c}/me"),
                &who,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "GET",
            &format!("/{c}/patient/{}/export", patients[0]),
            &patient(0),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A patient gives their own address: a code is sent; another on request;
    // a wrong one verifies nothing.
    let newcomer = match c {
        "cl" => rut(13_000_000),
        _ => "46000000".to_owned(),
    };
    let newcomer_claims = claims("patient", country, Some(&newcomer));
    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "POST",
            &format!("/{c}/patient"),
            &newcomer_claims,
            Some(json!({ "document": newcomer, "name": "Paciente Nueva",
                         "email": format!("nueva-{c}@example.com") })),
        )
        .await;
    assert_eq!(
        (status, &body["email_verified"]),
        (201, &json!(false)),
        "{body}"
    );
    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "POST",
            &format!("/{c}/patient/{newcomer}/email/verification"),
            &newcomer_claims,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = stack
        .api(
            "RegisterPatientFunction",
            "POST",
            &format!("/{c}/patient/{newcomer}/email/verify"),
            &newcomer_claims,
            Some(json!({ "code": "0".repeat(32) })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The next day's reminders.
    let day = moved["slot"]["local_date"]
        .as_str()
        .expect("a local date")
        .to_owned();
    stack.forget_calls();
    let report = citas_lambda::jobs::send_reminders(
        &stack.aws.services(),
        json!({ "country": c, "date": day }),
    )
    .await
    .expect("reminders");
    assert!(report.enqueued >= 1, "{report:?}");
    stack.made_by("SendRemindersFunction");
    vec![appointments[0].clone(), appointments[3].clone()]
}

/// After the consultations: completed, not attended; the plans extended.
async fn after_the_consultations(stack: &mut Stack, country: &'static Country, booked: &[String]) {
    let c = country.code;
    let doctor_a = claims("doctor", country, Some("7700001"));
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/complete", booked[0]),
            &doctor_a,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/no-show", booked[1]),
            &doctor_a,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The patient rates the completed visit; anyone reads the doctor's
    // reviews and finds doctors near a point; staff hide the review.
    let (_, document) = booked[0].split_once('-').expect("an appointment id");
    let patient = claims("patient", country, Some(document));
    let (status, review) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{}/review", booked[0]),
            &patient,
            Some(json!({ "stars": 5, "comment": "Muy amable" })),
        )
        .await;
    assert_eq!(status, 201, "{review}");
    let (status, body) = stack
        .api(
            "BrowseScheduleFunction",
            "GET",
            &format!("/{c}/doctor/{c}-cardiologia-7700001/review"),
            &patient,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "BrowseScheduleFunction",
            "GET",
            &format!("/{c}/doctor?speciality=cardiologia&near=-12.0464,-77.0300&within_km=3"),
            &patient,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "ManageDoctorsFunction",
            "POST",
            &format!("/{c}/review/{}/hide", review["id"].as_str().expect("an id")),
            &claims("admin", country, None),
            Some(json!({ "reason": "prueba" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    stack.forget_calls();
    citas_lambda::jobs::extend_slots(&stack.aws.services(), json!({ "country": c }))
        .await
        .expect("extended");
    stack.made_by("ExtendSlotsFunction");
}

/// Virtual visits: booked, joined (the meeting made at the first join),
/// moved and cancelled (each ends its meeting); one is left open with its
/// meeting for its patient's erasure, which ends it too.
async fn virtual_visits(stack: &mut Stack, country: &'static Country) {
    let c = country.code;
    let admin = claims("admin", country, None);
    let store =
        citas_aws::DynamoStore::new(stack.dynamodb.clone(), stack.aws.settings.tables.clone());
    let doctor = citas_e2e::build::doctor_id(country, "cardiologia", "7700009");
    let now = stack.now();
    // Slots starting within minutes, so their meetings are open now.
    let slots: Vec<citas_domain::Slot> = [3, 6, 9]
        .iter()
        .map(|minutes| citas_domain::Slot {
            modality: citas_domain::scheduling::doctor::Modality::Virtual,
            ..citas_e2e::build::slot_at(
                &doctor,
                &citas_domain::values::timestamp::format(
                    now + jiff::SignedDuration::from_mins(*minutes),
                ),
            )
        })
        .collect();
    let patients = patients_of(country);
    let ended_before = stack.chime.count("DeleteMeeting");
    let mut visits = Vec::new();
    for (patient, slot) in [(&patients[0], &slots[0]), (&patients[1], &slots[2])] {
        citas_domain::SlotStore::put_slot(&store, slot)
            .await
            .expect("a virtual slot");
        let appointment = citas_e2e::build::appointment(country, patient)
            .created_at(&citas_domain::values::timestamp::format(now))
            .build();
        citas_domain::AppointmentStore::insert_appointment(&store, &appointment)
            .await
            .expect("an appointment");
        stack.forget_calls();
        let id = appointment.id.to_string();
        let (status, body) = stack
            .api(
                "AssignAppointmentFunction",
                "POST",
                &format!("/{c}/appointment/{id}/assign"),
                &admin,
                Some(json!({ "slot": slot.id.to_string() })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = stack
            .api(
                "JoinAppointmentFunction",
                "POST",
                &format!("/{c}/appointment/{id}/join"),
                &claims("patient", country, Some(patient)),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        visits.push(id);
    }
    // The first is moved (its meeting ended), joined again and cancelled.
    citas_domain::SlotStore::put_slot(&store, &slots[1])
        .await
        .expect("a virtual slot");
    stack.forget_calls();
    let id = &visits[0];
    let (status, body) = stack
        .api(
            "AssignAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{id}/reschedule"),
            &admin,
            Some(json!({ "slot": slots[1].id.to_string() })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "JoinAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{id}/join"),
            &claims("patient", country, Some(&patients[0])),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .api(
            "CloseAppointmentFunction",
            "POST",
            &format!("/{c}/appointment/{id}/cancel"),
            &admin,
            Some(json!({ "reason": "el médico no puede" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Its two meetings were ended, by the move and by the cancellation.
    assert_eq!(stack.chime.count("DeleteMeeting"), ended_before + 2);
}

/// Last, patients erase their data: a completed visit is kept anonymised,
/// open appointments are cancelled, the rest deleted with their history.
async fn the_patients_erase_their_data(stack: &mut Stack, country: &'static Country) {
    let c = country.code;
    for document in patients_of(country).iter().take(3) {
        let (status, body) = stack
            .api(
                "RegisterPatientFunction",
                "DELETE",
                &format!("/{c}/patient/{document}"),
                &claims("patient", country, Some(document)),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Every item of a table, unrecorded (what a stream would show).
async fn items_of(stack: &Stack, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let name = stack
        .template
        .tables
        .iter()
        .find(|t| t.logical_id == table)
        .map(|t| t.name.clone())
        .expect("table");
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .dynamodb
            .scan()
            .table_name(&name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

fn stream_records(
    items: Vec<HashMap<String, AttributeValue>>,
) -> Vec<citas_lambda::jobs::StreamRecord> {
    items
        .into_iter()
        .enumerate()
        .map(|(n, image)| citas_lambda::jobs::StreamRecord {
            sequence_number: format!("{n:021}"),
            new_image: Some(image),
        })
        .collect()
}

/// The messages on the countries' notification queues, as an SQS event would bring them.
async fn queued_messages(stack: &Stack) -> Vec<SqsMessage> {
    let mut messages = Vec::new();
    for country in COUNTRIES {
        let url = &stack.aws.settings.queue_urls[country.code];
        loop {
            let received = stack
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if received.messages().is_empty() {
                break;
            }
            for message in received.messages() {
                let mut record = SqsMessage::default();
                record.message_id = message.message_id().map(str::to_owned);
                record.body = message.body().map(str::to_owned);
                messages.push(record);
                stack
                    .sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    messages
}

fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// The stream-triggered and queue-triggered functions on what the API made.
async fn background_use_cases(stack: &mut Stack) {
    // The outbox publisher on every committed change (the history table's stream).
    let records = stream_records(items_of(stack, "HistoryTable").await);
    assert!(!records.is_empty());
    stack.forget_calls();
    let response =
        citas_lambda::jobs::publish_notifications(stack.aws.queue().as_ref(), records).await;
    assert!(response.batch_item_failures.is_empty());
    stack.made_by("PublishNotificationsFunction");

    // Slots pasted with only seed 000's attributes, as the slot table's stream shows them.
    let pasted: HashMap<String, AttributeValue> = [
        (
            "id",
            AttributeValue::S("pe-cardiologia-7700001-1795957200".into()),
        ),
        ("date", AttributeValue::S("2026-12-01".into())),
        ("doctor", AttributeValue::S("pe-cardiologia-7700001".into())),
        ("isAvailable", AttributeValue::Bool(true)),
        ("time", AttributeValue::S("09:00".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let slot_table = stack
        .template
        .tables
        .iter()
        .find(|t| t.logical_id == "SlotTable")
        .map(|t| t.name.clone())
        .expect("slot table");
    stack
        .dynamodb
        .put_item()
        .table_name(&slot_table)
        .set_item(Some(pasted.clone()))
        .send()
        .await
        .expect("pasted slot");
    stack.forget_calls();
    let response =
        citas_lambda::jobs::index_slots(&stack.aws.store(), stream_records(vec![pasted])).await;
    assert!(response.batch_item_failures.is_empty());
    stack.made_by("IndexSlotsFunction");

    // The email consumer: the published messages, one of which SES first rejects.
    let messages = queued_messages(stack).await;
    assert!(messages.len() >= 3, "{}", messages.len());
    let pipeline = stack.aws.email_pipeline().expect("the email pipeline");
    stack
        .ses
        .delete_email_identity()
        .email_identity(&stack.sender)
        .send()
        .await
        .expect("sender unverified");
    stack.forget_calls();
    // One message of each country, so each country's dead-letter queue receives one.
    let mut first_of_each: Vec<SqsMessage> = Vec::new();
    for country in COUNTRIES {
        let of_country = |m: &&SqsMessage| {
            citas_domain::Notification::from_json(m.body.as_deref().unwrap_or_default())
                .is_ok_and(|n| n.country.code == country.code)
        };
        first_of_each.extend(messages.iter().find(of_country).cloned());
    }
    assert_eq!(first_of_each.len(), COUNTRIES.len());
    let rejected =
        citas_lambda::jobs::send_emails(&pipeline, sqs_event(first_of_each.clone())).await;
    assert!(
        rejected.batch_item_failures.is_empty(),
        "dead-lettered, not retried"
    );
    stack.made_by("SendEmailFunction");
    stack
        .ses
        .create_email_identity()
        .email_identity(&stack.sender)
        .send()
        .await
        .expect("sender verified again");
    // A consumer died holding a message's claim: the next takes it over once it lapses.
    let lapsing = messages
        .iter()
        .find(|m| !first_of_each.iter().any(|f| f.message_id == m.message_id))
        .expect("a message not rejected");
    let key = citas_domain::Notification::from_json(lapsing.body.as_deref().unwrap_or_default())
        .expect("a notification")
        .idempotency_key;
    let idempotency =
        citas_aws::DynamoIdempotency::new(stack.dynamodb.clone(), &stack.aws.settings.tables);
    let long_ago = stack.now() - citas_notify::CLAIM_LAPSES_AFTER * 2;
    citas_domain::IdempotencyStore::claim(
        &idempotency,
        &key,
        long_ago,
        citas_notify::CLAIM_LAPSES_AFTER,
        jiff::SignedDuration::from_hours(24 * 30),
    )
    .await
    .expect("claimed");
    stack.forget_calls();
    for _ in 0..2 {
        // Delivered twice (at least once): sent once.
        let response =
            citas_lambda::jobs::send_emails(&pipeline, sqs_event(messages.clone())).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    stack.made_by("SendEmailFunction");
}

/// A patient with no email on file: the unsent notification is noted on the appointment's history.
async fn an_unsendable_notification(stack: &mut Stack, country: &'static Country) {
    let document = match country.code {
        "cl" => rut(16_666_666),
        _ => "46666666".to_owned(),
    };
    let document = document.as_str();
    let store =
        citas_aws::DynamoStore::new(stack.dynamodb.clone(), stack.aws.settings.tables.clone());
    let patient = citas_domain::Patient {
        email: None,
        ..citas_e2e::build::patient(country, document)
    };
    citas_domain::PatientStore::upsert_patient(&store, country, &patient)
        .await
        .expect("patient");
    let (status, created) = stack
        .api(
            "CreateAppointmentFunction",
            "POST",
            &format!("/{}/appointment", country.code),
            &claims("admin", country, None),
            Some(json!({ "document": document, "speciality": "cardiologia" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let appointment = citas_domain::AppointmentStore::get_appointment(
        &store,
        country,
        &citas_domain::AppointmentId::parse(country, &id_of(&created)).expect("id"),
    )
    .await
    .expect("read")
    .expect("appointment");
    let message = citas_domain::Notification::about(
        &appointment,
        citas_domain::NotificationKind::Assigned,
        format!("iam-unsendable-{}", country.code),
    );
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("unsendable-{}", country.code));
    record.body = Some(message.to_json());
    let pipeline = stack.aws.email_pipeline().expect("the email pipeline");
    stack.forget_calls();
    let response = citas_lambda::jobs::send_emails(&pipeline, sqs_event(vec![record])).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    stack.made_by("SendEmailFunction");
}

/// The user pool's triggers: a patient's and a registered doctor's sign-up,
/// a confirmation on a pool of moto's tagged as template.yaml tags the
/// stack's, a patient's sign-in.
async fn the_user_pools_triggers(stack: &mut Stack) {
    use aws_lambda_events::event::cognito::{
        CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreAuthentication,
        CognitoEventUserPoolsPreSignup,
    };
    let pool = stack
        .cognito
        .create_user_pool()
        .pool_name(format!("{}-users", stack.stack_name))
        .user_pool_tags("citas-stack", stack.stack_name.clone())
        .send()
        .await
        .expect("a user pool")
        .user_pool
        .and_then(|pool| pool.id)
        .expect("its id");
    for group in ["patient", "doctor"] {
        stack
            .cognito
            .create_group()
            .user_pool_id(&pool)
            .group_name(group)
            .send()
            .await
            .expect("a group");
    }
    // A patient and a doctor of each country.
    let patients: Vec<String> = COUNTRIES
        .iter()
        .map(|country| {
            // Documents with no record yet: the confirmation creates it.
            let document = match country.code {
                "cl" => rut(14_000_001),
                _ => "46009999".to_owned(),
            };
            format!("{}-patient-{document}", country.code)
        })
        .collect();
    for patient in &patients {
        stack
            .cognito
            .admin_create_user()
            .user_pool_id(&pool)
            .username(patient)
            .send()
            .await
            .expect("a user");
    }
    stack.user_pool = Some(pool.clone());
    let services = stack.aws.services();
    stack.forget_calls();
    for (patient, country) in patients.iter().zip(COUNTRIES) {
        let doctor = format!("{}-7700001", country.code);
        for (user, fixture) in [
            (patient.as_str(), "cognito-pre-sign-up.json"),
            (doctor.as_str(), "cognito-pre-sign-up-doctor.json"),
        ] {
            let signing_up: CognitoEventUserPoolsPreSignup = cognito_event(fixture, user, &pool);
            // Whether or not the rules let them in, the trigger reads what it must.
            let _ = citas_lambda::cognito::pre_sign_up(&services, signing_up).await;
        }
    }
    stack.made_by("CognitoPreSignUpFunction");
    for patient in &patients {
        let confirmed: CognitoEventUserPoolsPostConfirmation =
            cognito_event("cognito-post-confirmation.json", patient, &pool);
        citas_lambda::cognito::post_confirmation(&services, &stack.aws.user_directory(), confirmed)
            .await
            .expect("confirmed");
    }
    stack.made_by("CognitoPostConfirmationFunction");
    let signing_in: CognitoEventUserPoolsPreAuthentication =
        cognito_event("cognito-pre-authentication.json", &patients[0], &pool);
    let _ = citas_lambda::cognito::pre_authentication(signing_in);
    stack.made_by("CognitoPreAuthenticationFunction");
}

/// Each function's use cases on moto; what each function needs, by logical id, and the policies.
async fn needs_and_policies() -> (BTreeMap<String, BTreeSet<Need>>, Policies) {
    let mut parameters = Parameters(HashMap::new());
    let mut stack = Stack::on_moto(&mut parameters).await;
    let policies = policies(&template_yaml(), &parameters);
    stack.binaries = policies.binaries.clone();
    let mut booked = Vec::new();
    for country in COUNTRIES {
        booked.push((country, api_use_cases(&mut stack, country).await));
    }
    // A week on: the consultations have taken place, the plans are due for more slots.
    stack
        .clock
        .set(stack.now() + jiff::SignedDuration::from_hours(24 * 9));
    for (country, booked) in &booked {
        after_the_consultations(&mut stack, country, booked).await;
    }
    background_use_cases(&mut stack).await;
    for country in COUNTRIES {
        an_unsendable_notification(&mut stack, country).await;
    }
    for country in COUNTRIES {
        virtual_visits(&mut stack, country).await;
    }
    for country in COUNTRIES {
        the_patients_erase_their_data(&mut stack, country).await;
    }
    the_user_pools_triggers(&mut stack).await;

    let names = Names {
        tables: stack
            .template
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.logical_id.clone()))
            .collect(),
        queues: stack
            .template
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.logical_id.clone()))
            .collect(),
        ses_identity: stack.sender.clone(),
        user_pools: stack
            .user_pool
            .iter()
            .map(|id| (id.clone(), "UserPool".to_owned()))
            .collect(),
    };
    let mut needs: BTreeMap<String, BTreeSet<Need>> = BTreeMap::new();
    for (function, event_needs) in &policies.event_needs {
        let calls = stack.calls.get(function).cloned().unwrap_or_default();
        assert!(
            !calls.is_empty() || !event_needs.is_empty() || policies.grants[function].is_empty(),
            "{function}: no scenario ran it"
        );
        let mut all: BTreeSet<Need> = calls
            .iter()
            .flat_map(|call| needs_of(call, &names))
            .collect();
        all.extend(event_needs.iter().cloned());
        needs.insert(function.clone(), all);
    }
    for function in stack.calls.keys() {
        assert!(
            policies.grants.contains_key(function),
            "{function} is not a function of template.yaml"
        );
    }
    assert!(
        policies
            .kinds
            .values()
            .filter(|k| *k == "AWS::Serverless::Function")
            .count()
            == needs.len()
    );
    (needs, policies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_a_function_makes_is_granted_and_every_grant_is_used() {
    let (needs, policies) = needs_and_policies().await;
    let mut wrong = BTreeMap::new();
    for (function, needed) in &needs {
        let findings = check(&policies.grants[function], needed);
        if findings != Findings::default() {
            wrong.insert(function.clone(), findings);
        }
    }
    assert!(
        wrong.is_empty(),
        "policies that drifted from the code: {wrong:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_any_grant_makes_the_check_fail() {
    let (needs, policies) = needs_and_policies().await;
    let mut removed = 0;
    for (function, grants) in &policies.grants {
        let needed = &needs[function];
        for grant in grants {
            let mut fewer = grants.clone();
            fewer.remove(grant);
            let findings = check(&fewer, needed);
            // An unused grant fails the first test already; a used one leaves a call ungranted.
            if needed.iter().any(|need| grant.covers(need)) {
                assert!(
                    !findings.missing.is_empty(),
                    "{function} without {grant:?}: nothing reported missing"
                );
                removed += 1;
            }
        }
    }
    assert!(removed > 30, "only {removed} grants tried");
}

#[test]
fn the_configuration_set_grant_follows_its_condition() {
    let template = template_yaml();
    let with = |set: &str| {
        let parameters = Parameters(HashMap::from([("SesConfigurationSet", set.to_owned())]));
        condition_holds(&template, "HasConfigurationSet", &parameters)
    };
    assert!(!with(""));
    assert!(with("citas"));
}
