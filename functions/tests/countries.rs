//! Every country of the domain has all of its part of template.yaml: its
//! tables, queues, the queue setting, policies that reach them, its email
//! source, its schedules in its own time zone, alarms, dashboard, backups and
//! output; and every loop of the template runs over exactly the domain's
//! countries. Each check is shown to fail when a country's part is taken out.

use citas_aws::settings::{self, TableNames};
use citas_domain::{COUNTRIES, Country};
use citas_provision::{foreach, template};
use serde_norway::Value;

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn sub_text(value: &Value) -> Option<&str> {
    tagged(value, "Sub").and_then(Value::as_str)
}

fn resources(template: &Value) -> &serde_norway::Mapping {
    template["Resources"].as_mapping().expect("Resources")
}

/// The names tables and queues are given, as `!Sub` text.
fn declared_names(template: &Value) -> Vec<String> {
    resources(template)
        .values()
        .flat_map(|r| [&r["Properties"]["TableName"], &r["Properties"]["QueueName"]])
        .filter_map(sub_text)
        .map(str::to_owned)
        .collect()
}

/// Every `!Sub` resource of every policy statement of every function.
fn policy_resources(template: &Value) -> Vec<String> {
    resources(template)
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .flat_map(|f| {
            f["Properties"]["Policies"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
        .flat_map(|s| s["Resource"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|r| sub_text(&r).map(str::to_owned))
        .collect()
}

const TABLE_ARN: &str = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/";
const QUEUE_ARN: &str = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:";
const QUEUE_ENDPOINT: &str = "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}";
const STACK: &str = "${AWS::StackName}";

/// What of `country`'s part of the (expanded) template is missing or wrong.
fn country_problems(template: &Value, country: &Country) -> Vec<String> {
    let code = country.code;
    let mut problems = Vec::new();
    let mut expect = |holds: bool, what: String| {
        if !holds {
            problems.push(format!("{code}: {what}"));
        }
    };
    let resource = |id: &str| &template["Resources"][id];
    let of_type = |id: &str, kind: &str| resource(id)["Type"] == kind;

    let tables = TableNames::new("${TablePrefix}");
    for (id, name) in [
        (
            format!("{code}AppointmentTable"),
            tables.appointment(country),
        ),
        (format!("{code}PatientTable"), tables.patient(country)),
    ] {
        expect(
            of_type(&id, "AWS::DynamoDB::Table")
                && sub_text(&resource(&id)["Properties"]["TableName"]) == Some(name.as_str()),
            format!("no table {id} named {name}"),
        );
    }
    let queue = format!("{code}NotificationsQueue");
    let dead_letters = format!("{code}NotificationsDeadLetterQueue");
    for (id, name) in [
        (&queue, settings::queue_name(STACK, country)),
        (
            &dead_letters,
            settings::dead_letter_queue_name(STACK, country),
        ),
    ] {
        expect(
            of_type(id, "AWS::SQS::Queue")
                && sub_text(&resource(id)["Properties"]["QueueName"]) == Some(name.as_str()),
            format!("no queue {id} named {name}"),
        );
    }
    expect(
        tagged(
            &resource(&queue)["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
            "GetAtt",
        )
        .and_then(Value::as_str)
            == Some(format!("{dead_letters}.Arn").as_str()),
        format!("{queue} does not redrive to {dead_letters}"),
    );

    // The name patterns of the policies reach this country's tables and queues.
    let declared = declared_names(template);
    for pattern in policy_resources(template)
        .iter()
        .filter(|p| p.contains("??"))
    {
        let arn = pattern.replace("??", code);
        let name = arn
            .strip_prefix(TABLE_ARN)
            .map(|table| table.split("/index/").next().unwrap_or(table))
            .or_else(|| arn.strip_prefix(QUEUE_ARN));
        expect(
            name.is_some_and(|name| declared.iter().any(|d| d == name)),
            format!("the policy resource {pattern} does not name its {arn}"),
        );
    }

    let function = |binary: &str| {
        resources(template)
            .values()
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == binary)
            .map(|r| r["Properties"]["Events"].clone())
            .unwrap_or(Value::Null)
    };
    let events_of = |binary: &str, kind: &str| -> Vec<Value> {
        function(binary)
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|e| e["Type"] == kind)
            .map(|e| e["Properties"].clone())
            .collect()
    };
    expect(
        events_of("send-email", "SQS").iter().any(|e| {
            tagged(&e["Queue"], "GetAtt").and_then(Value::as_str)
                == Some(format!("{queue}.Arn").as_str())
        }),
        format!("send-email does not read {queue}"),
    );
    let input = format!(r#"{{"country":"{code}"}}"#);
    for binary in ["send-reminders", "extend-slots"] {
        expect(
            events_of(binary, "ScheduleV2").iter().any(|e| {
                e["Input"].as_str() == Some(input.as_str())
                    && e["ScheduleExpressionTimezone"].as_str() == Some(country.time_zone_name)
            }),
            format!(
                "{binary} has no daily schedule in {}",
                country.time_zone_name
            ),
        );
    }

    for alarm in [
        "DeadLetterAlarm",
        "NotificationsQueueAge",
        "AppointmentTableThrottles",
        "PatientTableThrottles",
        "EmailFailuresAlarm",
    ] {
        let id = format!("{code}{alarm}");
        expect(
            of_type(&id, "AWS::CloudWatch::Alarm"),
            format!("no alarm {id}"),
        );
    }
    let dashboard = format!("{code}Dashboard");
    expect(
        of_type(&dashboard, "AWS::CloudWatch::Dashboard"),
        format!("no dashboard {dashboard}"),
    );
    let backups = format!("{code}BackupSelection");
    expect(
        of_type(&backups, "AWS::Backup::BackupSelection"),
        format!("no backup selection {backups}"),
    );
    let output = format!("{code}NotificationsQueueUrl");
    expect(
        !template["Outputs"][output.as_str()].is_null(),
        format!("no output {output}"),
    );
    problems
}

/// What of the template's country parts disagrees with the domain's countries.
fn problems(raw: &Value, template: &Value) -> Vec<String> {
    let codes: Vec<String> = COUNTRIES.iter().map(|c| c.code.to_owned()).collect();
    let mut problems: Vec<String> = foreach::loops(raw)
        .into_iter()
        .filter(|(_, values)| *values != codes)
        .map(|(name, values)| format!("the loop {name} runs over {values:?}, not {codes:?}"))
        .collect();
    // One setting names every country's queue.
    let setting = &template["Globals"]["Function"]["Environment"]["Variables"]
        [settings::NOTIFICATION_QUEUE_URL];
    let wanted = settings::notification_queue_url_setting(QUEUE_ENDPOINT, STACK);
    if sub_text(setting) != Some(wanted.as_str()) {
        problems.push(format!(
            "{} is {setting:?}, not {wanted}",
            settings::NOTIFICATION_QUEUE_URL
        ));
    }
    for country in COUNTRIES {
        problems.extend(country_problems(template, country));
    }
    problems
}

fn raw_template() -> Value {
    serde_norway::from_str(template::TEMPLATE_YAML).expect("template.yaml")
}

fn expanded(raw: &Value) -> Value {
    foreach::expand(raw).expect("the loops expand")
}

#[test]
fn every_country_has_its_whole_part_of_the_template() {
    let raw = raw_template();
    let problems = problems(&raw, &expanded(&raw));
    assert!(problems.is_empty(), "{problems:#?}");
}

fn remove(value: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().expect("a path");
    let mut at = value;
    for key in parents {
        at = &mut at[*key];
    }
    let removed = at.as_mapping_mut().and_then(|m| m.remove(*last));
    assert!(removed.is_some(), "nothing at {path:?}");
}

/// The code of the last country, whose part each mutation takes out.
fn last() -> &'static str {
    COUNTRIES.last().expect("a country").code
}

#[test]
fn taking_out_any_part_of_a_country_is_reported() {
    let code = last();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let on_expanded: Vec<(&str, Mutation)> = vec![
        (
            "its slot-horizon schedule",
            Box::new(move |t| {
                remove(
                    t,
                    &[
                        "Resources",
                        "ExtendSlotsFunction",
                        "Properties",
                        "Events",
                        &format!("{code}Daily"),
                    ],
                )
            }),
        ),
        (
            "its reminders schedule",
            Box::new(move |t| {
                remove(
                    t,
                    &[
                        "Resources",
                        "SendRemindersFunction",
                        "Properties",
                        "Events",
                        &format!("{code}Daily"),
                    ],
                )
            }),
        ),
        (
            "its email source",
            Box::new(move |t| {
                remove(
                    t,
                    &[
                        "Resources",
                        "SendEmailFunction",
                        "Properties",
                        "Events",
                        &format!("{code}Notifications"),
                    ],
                )
            }),
        ),
        (
            "its email failures alarm",
            Box::new(move |t| remove(t, &["Resources", &format!("{code}EmailFailuresAlarm")])),
        ),
        (
            "its patient table",
            Box::new(move |t| remove(t, &["Resources", &format!("{code}PatientTable")])),
        ),
        (
            "its output",
            Box::new(move |t| remove(t, &["Outputs", &format!("{code}NotificationsQueueUrl")])),
        ),
        (
            "the queue setting",
            Box::new(|t| {
                remove(
                    t,
                    &[
                        "Globals",
                        "Function",
                        "Environment",
                        "Variables",
                        settings::NOTIFICATION_QUEUE_URL,
                    ],
                )
            }),
        ),
    ];
    let raw = raw_template();
    for (name, mutate) in on_expanded {
        let mut template = expanded(&raw);
        mutate(&mut template);
        assert!(
            !problems(&raw, &template).is_empty(),
            "without {name}: nothing reported"
        );
    }
    // A country left out of one loop of the template as written.
    let text = template::TEMPLATE_YAML;
    let all = format!(
        "[{}]",
        COUNTRIES
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let fewer = format!(
        "[{}]",
        COUNTRIES[..COUNTRIES.len() - 1]
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let loops = text.matches(&all).count();
    assert!(loops >= 2, "the loops list {all}: {loops}");
    for nth in 0..loops {
        let mut seen = 0;
        let mutated: String = text
            .split_inclusive('\n')
            .map(|line| {
                if line.contains(&all) {
                    seen += 1;
                    if seen == nth + 1 {
                        return line.replace(&all, &fewer);
                    }
                }
                line.to_owned()
            })
            .collect();
        let raw: Value = serde_norway::from_str(&mutated).expect("YAML");
        let problems = problems(&raw, &expanded(&raw));
        assert!(
            problems.iter().any(|p| p.contains("loop")),
            "loop {nth} without {code}: {problems:?}"
        );
    }
}
