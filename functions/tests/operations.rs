//! What template.yaml gives the people who run the service: a dashboard that
//! names only metrics and resources that exist, a backlog alarm on every
//! queue, a latency alarm on every API function, alarms that reach the
//! stack's alert topic, backups of every table in prod and of none in dev,
//! and the alert email subscription only when its parameter is set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use citas_lambda::functions;
use serde_norway::Value;

/// template.yaml as CloudFormation reads it: its country loops expanded.
fn template() -> Value {
    citas_provision::template::project_expanded().expect("template.yaml")
}

/// (logical id, resource) of every resource of `kind`.
fn resources_of(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str().expect("id").to_owned(), r.clone()))
        .collect()
}

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// The logical id a `!Ref X`, `!GetAtt X.Attr` or `!Sub "${X}"` names.
fn named(value: &Value) -> Option<String> {
    if let Some(Value::String(id)) = tagged(value, "Ref") {
        return Some(id.clone());
    }
    if let Some(Value::String(path)) = tagged(value, "GetAtt") {
        return path.split('.').next().map(str::to_owned);
    }
    None
}

/// Whether a condition holds for these parameter values (the few intrinsic
/// functions the template's conditions use: Equals, Not, Ref).
fn holds(template: &Value, condition: &str, parameters: &BTreeMap<&str, &str>) -> bool {
    fn evaluate(value: &Value, template: &Value, parameters: &BTreeMap<&str, &str>) -> Value {
        if let Some(Value::String(name)) = tagged(value, "Ref") {
            let given = parameters.get(name.as_str()).map(|v| Value::from(*v));
            return given.unwrap_or_else(|| template["Parameters"][name]["Default"].clone());
        }
        if let Some(Value::Sequence(pair)) = tagged(value, "Equals") {
            let [a, b] = [&pair[0], &pair[1]].map(|v| evaluate(v, template, parameters));
            let text = |v: &Value| match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            };
            return Value::Bool(text(&a) == text(&b));
        }
        if let Some(Value::Sequence(one)) = tagged(value, "Not") {
            let inner = evaluate(&one[0], template, parameters);
            return Value::Bool(inner == Value::Bool(false));
        }
        value.clone()
    }
    let definition = &template["Conditions"][condition];
    assert!(!definition.is_null(), "no condition {condition}");
    evaluate(definition, template, parameters) == Value::Bool(true)
}

/// The resources a stack made with these parameters has, by logical id.
fn deployed(template: &Value, parameters: &BTreeMap<&str, &str>) -> BTreeSet<String> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| {
            r["Condition"]
                .as_str()
                .is_none_or(|c| holds(template, c, parameters))
        })
        .map(|(id, _)| id.as_str().expect("id").to_owned())
        .collect()
}

/// Each samconfig.toml environment's parameter overrides.
fn environments() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samconfig.toml");
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(path).expect("samconfig.toml")).expect("TOML");
    ["dev", "prod"]
        .into_iter()
        .map(|env| {
            let overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
                .as_str()
                .expect("parameter_overrides")
                .to_owned();
            (env.to_owned(), overrides)
        })
        .collect()
}

/// `Stage="prod" TablePrefix="prod-"` → {Stage: prod, TablePrefix: prod-}.
fn parse_overrides(text: &str) -> BTreeMap<&str, &str> {
    text.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('"')))
        .collect()
}

#[test]
fn the_backup_plan_covers_every_table_in_prod_and_none_in_dev() {
    let template = template();
    let tables: BTreeSet<String> = resources_of(&template, "AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(tables.len() >= 9, "{tables:?}");
    // One selection for the shared tables, one per country for its own.
    let selections = resources_of(&template, "AWS::Backup::BackupSelection");
    assert_eq!(selections.len(), 1 + citas_domain::COUNTRIES.len());
    let covered: BTreeSet<String> = selections
        .iter()
        .flat_map(|(_, selection)| {
            selection["Properties"]["BackupSelection"]["Resources"]
                .as_sequence()
                .expect("Resources")
                .iter()
                .filter_map(named)
        })
        .collect();
    assert_eq!(covered, tables);
    let (_, plan) = &resources_of(&template, "AWS::Backup::BackupPlan")[0];
    let rule = &plan["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    assert_eq!(rule["ScheduleExpression"], "cron(0 5 * * ? *)", "daily");
    assert_eq!(
        named(&rule["Lifecycle"]["DeleteAfterDays"]).as_deref(),
        Some("BackupRetentionDays")
    );
    for (env, overrides) in environments() {
        let present = deployed(&template, &parse_overrides(&overrides));
        let backups: BTreeSet<String> = present
            .iter()
            .filter(|id| id.contains("Backup"))
            .cloned()
            .collect();
        match env.as_str() {
            "prod" => assert_eq!(
                backups,
                ["BackupPlan", "BackupRole", "BackupSelection", "BackupVault"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain(selections.iter().map(|(id, _)| id.clone()))
                    .collect()
            ),
            _ => assert!(backups.is_empty(), "{env}: {backups:?}"),
        }
        // Point-in-time recovery stays on for every table, in every stage.
        for table in &tables {
            let resource = &template["Resources"][table.as_str()];
            assert_eq!(
                resource["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
                true,
                "{table}"
            );
        }
    }
}

#[test]
fn the_alert_email_is_subscribed_only_when_given_and_every_alarm_reaches_the_topic() {
    let template = template();
    let without = deployed(&template, &BTreeMap::new());
    let with = deployed(
        &template,
        &BTreeMap::from([("AlertEmail", "oncall@example.com")]),
    );
    assert!(without.contains("AlertTopic") && with.contains("AlertTopic"));
    assert!(!without.contains("AlertEmailSubscription"));
    assert!(with.contains("AlertEmailSubscription"));
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 30, "{}", alarms.len());
    for (id, alarm) in alarms {
        // !If [HasAlarmTopic, [AlertTopic, AlarmTopicArn], [AlertTopic]]: the stack's topic either way.
        let choice = tagged(&alarm["Properties"]["AlarmActions"], "If")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{id}: alarm actions"));
        for branch in &choice[1..] {
            let targets: Vec<Option<String>> = branch
                .as_sequence()
                .expect("a list")
                .iter()
                .map(named)
                .collect();
            assert_eq!(targets[0].as_deref(), Some("AlertTopic"), "{id}");
        }
    }
}

/// A metric an alarm watches: namespace, name, and each dimension's name
/// with the logical id (or literal value) it names.
type Watched = (String, String, Vec<(String, Option<String>)>);

fn watched(alarm: &Value) -> Vec<Watched> {
    let properties = &alarm["Properties"];
    let single = (!properties["MetricName"].is_null()).then(|| properties.clone());
    let queries = properties["Metrics"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|m| !m["MetricStat"].is_null())
        .map(|m| m["MetricStat"]["Metric"].clone());
    single
        .into_iter()
        .chain(queries)
        .map(|metric| {
            let dimensions = metric["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|d| {
                    let value =
                        named(&d["Value"]).or_else(|| d["Value"].as_str().map(str::to_owned));
                    (d["Name"].as_str().expect("Name").to_owned(), value)
                })
                .collect();
            let namespace = match &metric["Namespace"] {
                Value::String(ns) => ns.clone(),
                other => tagged(other, "Sub")
                    .and_then(Value::as_str)
                    .expect("a namespace")
                    .to_owned(),
            };
            (
                namespace,
                metric["MetricName"]
                    .as_str()
                    .expect("MetricName")
                    .to_owned(),
                dimensions,
            )
        })
        .collect()
}

#[test]
fn every_queue_has_a_backlog_alarm_and_every_api_function_a_latency_alarm() {
    let template = template();
    let alarms: Vec<_> = resources_of(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .flat_map(|(_, alarm)| watched(&alarm))
        .collect();
    let watching = |namespace: &str, names: &[&str], dimension: &str, id: &str| {
        alarms.iter().any(|(ns, name, dimensions)| {
            ns == namespace
                && names.contains(&name.as_str())
                && dimensions
                    .iter()
                    .any(|(d, value)| d == dimension && value.as_deref() == Some(id))
        })
    };
    let queues = resources_of(&template, "AWS::SQS::Queue");
    // Each country's queue and dead letters, the publisher's and the slot index's failures.
    assert_eq!(queues.len(), 2 * citas_domain::COUNTRIES.len() + 2);
    for (queue, _) in &queues {
        assert!(
            watching(
                "AWS/SQS",
                &[
                    "ApproximateAgeOfOldestMessage",
                    "ApproximateNumberOfMessagesVisible"
                ],
                "QueueName",
                queue
            ),
            "{queue} has no backlog alarm"
        );
    }
    let binaries: BTreeSet<&str> = functions::HTTP.iter().map(|(binary, _)| *binary).collect();
    let api_functions: Vec<String> = resources_of(&template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .is_some_and(|b| binaries.contains(b))
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(api_functions.len(), binaries.len());
    for function in &api_functions {
        let latency = resources_of(&template, "AWS::CloudWatch::Alarm")
            .into_iter()
            .any(|(_, alarm)| {
                alarm["Properties"]["ExtendedStatistic"] == "p99"
                    && watched(&alarm).iter().any(|(ns, name, dims)| {
                        ns == "AWS/Lambda"
                            && name == "Duration"
                            && dims.iter().any(|(_, v)| v.as_deref() == Some(function))
                    })
            });
        assert!(latency, "{function} has no p99 latency alarm");
    }
    for table in resources_of(&template, "AWS::DynamoDB::Table") {
        assert!(
            watching(
                "AWS/DynamoDB",
                &["WriteThrottleEvents"],
                "TableName",
                &table.0
            ),
            "{} has no throttling alarm",
            table.0
        );
    }
    assert!(watching("AWS/ApiGateway", &["5xx"], "ApiId", "HttpApi"));
    // The email failures alarm watches the email function's own counters, of each country.
    for country in citas_domain::COUNTRIES.iter().map(|c| c.code) {
        assert!(alarms.iter().any(|(ns, name, dims)| {
            ns == "Citas/${AWS::StackName}"
                && name == citas_domain::metrics::EMAILS_FAILED
                && dims.contains(&("function".into(), Some("send-email".into())))
                && dims.contains(&("country".into(), Some(country.into())))
        }));
    }
}

/// The AWS metrics the dashboard may name, by namespace (CloudWatch's documented metrics).
const AWS_METRICS: &[(&str, &[&str])] = &[
    (
        "AWS/ApiGateway",
        &["Count", "4xx", "5xx", "Latency", "IntegrationLatency"],
    ),
    (
        "AWS/SQS",
        &[
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
        ],
    ),
    (
        "AWS/DynamoDB",
        &["ReadThrottleEvents", "WriteThrottleEvents"],
    ),
    (
        "AWS/Lambda",
        &["Invocations", "Errors", "Duration", "Throttles"],
    ),
];

/// The names the template gives its queues and tables, as `!Sub` text
/// (`${AWS::StackName}-pe-notifications`, `${TablePrefix}pe-appointment`).
fn declared_names(template: &Value) -> BTreeSet<String> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .flat_map(|r| [&r["Properties"]["QueueName"], &r["Properties"]["TableName"]])
        .filter_map(|name| tagged(name, "Sub").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// One dashboard's widget titles, once every metric it shows is checked:
/// a documented AWS metric or one of our counters (of `country`'s, for a
/// country's dashboard), on a resource, parameter or name the template has.
fn checked_dashboard(template: &Value, dashboard: &Value, country: Option<&str>) -> Vec<String> {
    let body = tagged(&dashboard["Properties"]["DashboardBody"], "Sub")
        .and_then(Value::as_str)
        .expect("a !Sub body");
    let parsed: serde_json::Value = serde_json::from_str(body).expect("the body is JSON");
    // Every ${X} or ${X.Attr} names a resource, a parameter or a pseudo parameter.
    let known_names: BTreeSet<String> = ["Resources", "Parameters"]
        .into_iter()
        .flat_map(|section| template[section].as_mapping().expect(section).keys())
        .map(|k| k.as_str().expect("id").to_owned())
        .collect();
    for reference in body.split("${").skip(1) {
        let name = reference.split(['}', '.']).next().expect("a name");
        if name.starts_with('!') || name.starts_with("AWS::") {
            continue;
        }
        assert!(known_names.contains(name), "the dashboard names {name}");
    }
    let declared = declared_names(template);
    let ours: BTreeSet<&str> = citas_domain::metrics::BY_COUNTRY.iter().copied().collect();
    let codes: BTreeSet<&str> = citas_domain::COUNTRIES.iter().map(|c| c.code).collect();
    let mut titles = Vec::new();
    for widget in parsed["widgets"].as_array().expect("widgets") {
        let properties = &widget["properties"];
        titles.push(properties["title"].as_str().expect("title").to_owned());
        for metric in properties["metrics"].as_array().expect("metrics") {
            let parts = metric.as_array().expect("a metric row");
            if let Some(expression) = parts[0]["expression"].as_str() {
                // SEARCH('{AWS/ApiGateway,...} ... MetricName="Count"', ...)
                let namespace = expression
                    .split_once('{')
                    .and_then(|(_, rest)| rest.split(',').next())
                    .expect("a namespace");
                let name = expression
                    .split_once("MetricName=\"")
                    .and_then(|(_, rest)| rest.split('"').next())
                    .expect("a metric name");
                let known = AWS_METRICS.iter().find(|(ns, _)| *ns == namespace);
                assert!(
                    known.is_some_and(|(_, names)| names.contains(&name)),
                    "{expression}"
                );
                continue;
            }
            let namespace = parts[0].as_str().expect("namespace");
            let name = parts[1].as_str().expect("metric name");
            let dimensions: BTreeMap<&str, &str> = parts[2..]
                .chunks(2)
                .filter_map(|pair| Some((pair[0].as_str()?, pair.get(1)?.as_str()?)))
                .collect();
            if namespace == "Citas/${AWS::StackName}" {
                assert!(ours.contains(name), "no counter named {name}");
                assert!(
                    binaries().contains(dimensions["function"]),
                    "{dimensions:?}"
                );
                match country {
                    Some(code) => assert_eq!(dimensions["country"], code, "{name}"),
                    None => assert!(codes.contains(&dimensions["country"])),
                }
            } else {
                let known = AWS_METRICS.iter().find(|(ns, _)| *ns == namespace);
                assert!(
                    known.is_some_and(|(_, names)| names.contains(&name)),
                    "{namespace} {name}"
                );
                // A queue or table named outright is one the template declares.
                for value in dimensions.values().filter(|v| !v.ends_with('}')) {
                    assert!(declared.contains(*value), "the dashboard names {value}");
                }
            }
        }
    }
    titles
}

#[test]
fn the_dashboards_name_only_metrics_and_resources_that_exist() {
    let template = template();
    let dashboards: BTreeMap<String, Value> = resources_of(&template, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .collect();
    assert_eq!(dashboards.len(), 1 + citas_domain::COUNTRIES.len());
    let titles = checked_dashboard(&template, &dashboards["Dashboard"], None);
    for wanted in [
        "API requests per route",
        "API 5xx per route",
        "API p99 latency per route (ms)",
        "Unpublished changes and unindexed slots",
        "DynamoDB throttled requests (shared tables)",
    ] {
        assert!(titles.iter().any(|t| t == wanted), "no widget {wanted}");
    }
    for country in citas_domain::COUNTRIES {
        let id = format!("{}Dashboard", country.code);
        let dashboard = dashboards
            .get(&id)
            .unwrap_or_else(|| panic!("{} has no dashboard", country.code));
        assert_eq!(
            tagged(&dashboard["Properties"]["DashboardName"], "Sub").and_then(Value::as_str),
            Some(format!("${{AWS::StackName}}-{}", country.code).as_str())
        );
        let titles = checked_dashboard(&template, dashboard, Some(country.code));
        for wanted in [
            "Bookings",
            "Appointment changes",
            "Emails",
            "Notification queue: depth and dead letters",
            "Notification queue: age of oldest message (s)",
            "DynamoDB throttled requests",
        ] {
            assert!(
                titles.iter().any(|t| t == wanted),
                "{id}: no widget {wanted}"
            );
        }
    }
}

/// Every function binary's name (the `function` dimension of the counters).
fn binaries() -> BTreeSet<String> {
    resources_of(&template(), "AWS::Serverless::Function")
        .into_iter()
        .filter_map(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn api_functions_may_keep_instances_warm_on_their_alias() {
    let template = template();
    let binaries: BTreeSet<&str> = functions::HTTP.iter().map(|(binary, _)| *binary).collect();
    for (id, function) in resources_of(&template, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("binary");
        if !binaries.contains(binary) {
            continue;
        }
        let properties = &function["Properties"];
        assert_eq!(properties["AutoPublishAlias"], "live", "{id}");
        // !If [HasXApiConcurrency, {ProvisionedConcurrentExecutions: !Ref XApiProvisionedConcurrency}, NoValue]
        let choice = tagged(&properties["ProvisionedConcurrencyConfig"], "If")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{id}: provisioned concurrency"));
        let condition = choice[0].as_str().expect("condition");
        let parameter = named(&choice[1]["ProvisionedConcurrentExecutions"]).expect("parameter");
        assert_eq!(
            template["Parameters"][&parameter]["Default"], 0,
            "{id}: off by default"
        );
        assert!(!holds(&template, condition, &BTreeMap::new()), "{id}");
        assert!(holds(
            &template,
            condition,
            &BTreeMap::from([(parameter.as_str(), "2")])
        ));
    }
}

/// Prod cannot keep the local development frontend: template.yaml's rule
/// refuses the defaults when Stage is prod, and samconfig.toml's prod
/// environment names https origins and callbacks of its own.
#[test]
fn prod_names_its_frontends_origins_and_callbacks() {
    let template = template();
    let rule = &template["Rules"]["ProdNamesItsFrontend"];
    let text = serde_norway::to_string(rule).expect("rule");
    for parameter in ["CorsAllowedOrigins", "FrontendCallbackUrls"] {
        let default = template["Parameters"][parameter]["Default"]
            .as_str()
            .expect("a default");
        assert!(default.contains("localhost"), "{parameter}: {default}");
        assert!(
            text.contains(parameter) && text.contains(default),
            "the prod rule refuses {parameter}'s default {default}: {text}"
        );
    }
    assert!(text.contains("Stage") && text.contains("prod"), "{text}");
    let environments = environments();
    let prod = parse_overrides(&environments["prod"]);
    for parameter in ["CorsAllowedOrigins", "FrontendCallbackUrls"] {
        let given = prod
            .get(parameter)
            .unwrap_or_else(|| panic!("prod gives no {parameter}"));
        for value in given.split(',') {
            assert!(
                value.starts_with("https://") && !value.contains("localhost"),
                "prod {parameter}: {value}"
            );
        }
    }
}
