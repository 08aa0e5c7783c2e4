//! template.yaml and the code must not drift: the API routes are the local
//! server's routes, each function serves what the template routes to it,
//! every binary exists, each schedule runs in its country's time zone, and
//! every function's policy names its actions and resources.

use std::collections::BTreeSet;
use std::path::Path;

use citas_api::ROUTES;
use citas_lambda::functions;
use serde_norway::Value;

/// template.yaml as CloudFormation reads it: its country loops expanded.
fn template() -> Value {
    citas_provision::template::project_expanded().expect("template.yaml")
}

/// (logical id, properties, binary) of every function.
fn functions_of(template: &Value) -> Vec<(String, Value, String)> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("Binary")
                .to_owned();
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
            (
                id.as_str().expect("id").to_owned(),
                r["Properties"].clone(),
                binary,
            )
        })
        .collect()
}

fn events(properties: &Value, kind: &str) -> Vec<Value> {
    properties["Events"]
        .as_mapping()
        .map(|m| {
            m.values()
                .filter(|e| e["Type"] == kind)
                .map(|e| e["Properties"].clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A function's timeout in seconds: its own, else the template's global one.
fn timeout_of(template: &Value, properties: &Value) -> u64 {
    properties["Timeout"]
        .as_u64()
        .or_else(|| template["Globals"]["Function"]["Timeout"].as_u64())
        .expect("a timeout")
}

#[test]
fn an_sdk_call_ends_well_before_the_function_that_makes_it() {
    let template = template();
    let operation = citas_aws::sdk::OPERATION_TIMEOUT;
    for (logical_id, properties, binary) in functions_of(&template) {
        let timeout = std::time::Duration::from_secs(timeout_of(&template, &properties));
        // The user pool's triggers build their clients with shorter calls
        // (`Aws::for_trigger`), and answer within Cognito's 5 s.
        let operation = if binary.starts_with("cognito-") {
            assert!(timeout.as_secs() <= 5, "{logical_id}: Cognito waits 5 s");
            citas_aws::sdk::TRIGGER_OPERATION_TIMEOUT
        } else {
            operation
        };
        // Room left to answer with a problem+json after a hung call gives up.
        assert!(
            operation + std::time::Duration::from_secs(2) <= timeout,
            "{logical_id}: the SDK may take {operation:?} of its {timeout:?}"
        );
    }
    assert!(citas_aws::sdk::ATTEMPT_TIMEOUT < operation);
    // However many calls a request makes, it is answered before its function times out.
    for (logical_id, properties, _) in functions_of(&template) {
        if events(&properties, "HttpApi").is_empty() {
            continue;
        }
        let timeout = std::time::Duration::from_secs(timeout_of(&template, &properties));
        assert!(
            citas_api::handlers::REQUEST_DEADLINE + std::time::Duration::from_secs(1) <= timeout,
            "{logical_id}: a request may take {:?} of its {timeout:?}",
            citas_api::handlers::REQUEST_DEADLINE
        );
    }
}

#[test]
fn the_api_routes_are_the_local_servers_routes_and_go_to_the_right_function() {
    let template = template();
    let mut routed = BTreeSet::new();
    for (logical_id, properties, binary) in functions_of(&template) {
        let serves = functions::HTTP
            .iter()
            .find(|(name, _)| *name == binary)
            .map(|(_, actions)| *actions);
        for event in events(&properties, "HttpApi") {
            let key = format!(
                "{} {}",
                event["Method"].as_str().expect("Method"),
                event["Path"].as_str().expect("Path")
            );
            let route = ROUTES
                .iter()
                .find(|r| r.key() == key)
                .unwrap_or_else(|| panic!("{logical_id}: {key} is not a local route"));
            let serves = serves.unwrap_or_else(|| panic!("{binary} serves no HTTP action"));
            assert!(
                serves.contains(&route.action),
                "{binary} does not serve {key}"
            );
            assert!(routed.insert(key.clone()), "{key} is routed twice");
        }
    }
    let local: BTreeSet<String> = ROUTES.iter().map(|r| r.key()).collect();
    assert_eq!(
        routed, local,
        "template.yaml's routes and the local server's"
    );
    // And every action a function claims is routed to it.
    let claimed: usize = functions::HTTP
        .iter()
        .map(|(_, actions)| actions.len())
        .sum();
    assert_eq!(claimed, ROUTES.len());
}

#[test]
fn every_function_binary_exists() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    let manifest: toml::Table = manifest.parse().expect("TOML");
    let bins: Vec<&str> = manifest["bin"]
        .as_array()
        .map(|bins| bins.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    for (logical_id, _, binary) in functions_of(&template()) {
        assert!(
            bins.contains(&binary.as_str()),
            "{logical_id}: no [[bin]] named {binary} in functions/Cargo.toml"
        );
    }
}

#[test]
fn each_country_reminder_runs_in_its_time_zone() {
    let template = template();
    let schedules: Vec<Value> = functions_of(&template)
        .iter()
        .flat_map(|(_, p, _)| events(p, "ScheduleV2"))
        .collect();
    for country in citas_domain::COUNTRIES {
        let input = format!(r#"{{"country":"{}"}}"#, country.code);
        let schedule = schedules
            .iter()
            .find(|s| s["Input"].as_str() == Some(input.as_str()))
            .unwrap_or_else(|| panic!("no reminder schedule for {}", country.code));
        assert_eq!(
            schedule["ScheduleExpressionTimezone"].as_str(),
            Some(country.time_zone_name)
        );
    }
}

#[test]
fn every_policy_names_its_actions_and_resources() {
    for (logical_id, properties, _) in functions_of(&template()) {
        let policies = properties["Policies"]
            .as_sequence()
            .expect("inline policies");
        for policy in policies {
            let statements = policy["Statement"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{logical_id}: inline statements only"));
            for statement in statements {
                assert_eq!(statement["Effect"], "Allow");
                for action in statement["Action"].as_sequence().expect("Action list") {
                    let action = action.as_str().expect("action");
                    assert!(
                        !action.contains('*'),
                        "{logical_id}: wildcard action {action}"
                    );
                }
                for resource in statement["Resource"].as_sequence().expect("Resource list") {
                    // Each resource is an ARN of this stack's resources or parameters, never a literal.
                    match resource {
                        Value::Tagged(tagged) if tagged.tag == "GetAtt" => {}
                        Value::Tagged(tagged) if tagged.tag == "Sub" || tagged.tag == "If" => {
                            let text = serde_norway::to_string(&tagged.value).unwrap_or_default();
                            assert!(text.contains("${"), "{logical_id}: {text} names nothing");
                            assert!(
                                !text.contains(":*") && !text.contains("/*/"),
                                "{logical_id}: wildcard in {text}"
                            );
                        }
                        other => panic!(
                            "{logical_id}: resource {other:?} is not derived from a named resource"
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn every_route_but_health_needs_a_cognito_token() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"]["Auth"];
    assert_eq!(api["DefaultAuthorizer"], "CognitoJwt");
    let jwt = &api["Authorizers"]["CognitoJwt"];
    assert_eq!(jwt["IdentitySource"], "$request.header.Authorization");
    assert!(
        jwt["JwtConfiguration"]["audience"]
            .as_sequence()
            .is_some_and(|a| !a.is_empty()),
        "the ID token's audience (the app client) is checked"
    );
    let mut open = Vec::new();
    for (id, properties, _) in functions_of(&template) {
        for event in events(&properties, "HttpApi") {
            let path = event["Path"].as_str().unwrap_or_default().to_owned();
            match &event["Auth"]["Authorizer"] {
                Value::Null => {}
                Value::String(name) if name == "NONE" => open.push(path),
                other => panic!("{id} {path}: unexpected authorizer {other:?}"),
            }
        }
    }
    assert_eq!(open, ["/health"]);
    let groups: BTreeSet<String> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Cognito::UserPoolGroup")
        .filter_map(|r| r["Properties"]["GroupName"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        groups,
        ["admin", "doctor", "patient"].map(String::from).into()
    );
}

/// Tags CloudTrail, Cost Explorer and Config can filter by: project and stage on everything taggable.
#[test]
fn stored_data_logs_and_entry_points_are_tagged_with_project_and_stage() {
    let template = template();
    let tag_names = |tags: &Value| -> BTreeSet<String> {
        match tags {
            Value::Mapping(map) => map
                .keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            Value::Sequence(list) => list
                .iter()
                .filter_map(|t| t["Key"].as_str().map(str::to_owned))
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    let expected: BTreeSet<String> = ["project", "stage"].map(String::from).into();
    assert_eq!(
        tag_names(&template["Globals"]["Function"]["Tags"]),
        expected
    );
    let taggable = [
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
        "AWS::Serverless::HttpApi",
        "AWS::Cognito::UserPool",
    ];
    let mut checked = 0;
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if !taggable.contains(&kind) {
            continue;
        }
        let properties = &resource["Properties"];
        let tags = if kind == "AWS::Cognito::UserPool" {
            &properties["UserPoolTags"]
        } else {
            &properties["Tags"]
        };
        let mut names = tag_names(tags);
        // The pool also carries the tag its trigger's policy names it by.
        if kind == "AWS::Cognito::UserPool" {
            assert!(names.remove("citas-stack"), "{id:?}");
        }
        assert_eq!(names, expected, "{id:?}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} resources checked");
}

/// The resources a function may send SQS messages to, as template text
/// (the queues by name pattern: `<stack>-??-notifications[-dlq]`, every country's).
fn send_targets(properties: &Value) -> Vec<String> {
    properties["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            policy["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|statement| {
            statement["Action"]
                .as_sequence()
                .is_some_and(|actions| actions.iter().any(|a| a == "sqs:SendMessage"))
        })
        .flat_map(|statement| {
            statement["Resource"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .map(|resource| serde_norway::to_string(&resource).unwrap_or_default())
        .collect()
}

#[test]
fn only_the_outbox_publisher_notify_and_reminders_may_put_messages_on_the_queues() {
    let template = template();
    let senders: BTreeSet<String> = functions_of(&template)
        .into_iter()
        .filter(|(_, properties, _)| {
            send_targets(properties)
                .iter()
                .any(|target| target.trim_end().ends_with("-notifications"))
        })
        .map(|(_, _, binary)| binary)
        .collect();
    // The email function sends only to the dead-letter queues (rejected emails).
    let (_, emailer, _) = functions_of(&template)
        .into_iter()
        .find(|(_, _, binary)| binary == "send-email")
        .expect("the email function");
    assert!(
        send_targets(&emailer)
            .iter()
            .all(|target| target.trim_end().ends_with("-notifications-dlq")),
        "{:?}",
        send_targets(&emailer)
    );
    // A change's email leaves from its commit (the history table's stream),
    // never from the function that made the change.
    assert_eq!(
        senders,
        BTreeSet::from([
            "notify-appointment".to_owned(),
            "publish-notifications".to_owned(),
            "send-reminders".to_owned(),
        ])
    );
    let resources = template["Resources"].as_mapping().expect("Resources");
    let history = &resources
        .iter()
        .find(|(id, _)| id.as_str() == Some("HistoryTable"))
        .expect("the history table")
        .1;
    assert_eq!(
        history["Properties"]["StreamSpecification"]["StreamViewType"],
        "NEW_IMAGE"
    );
    let (_, publisher, _) = functions_of(&template)
        .into_iter()
        .find(|(_, _, binary)| binary == "publish-notifications")
        .expect("the publisher");
    let stream = &events(&publisher, "DynamoDB")[0];
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert_eq!(
        stream["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert!(
        matches!(
            &stream["DestinationConfig"]["OnFailure"]["Destination"],
            Value::Tagged(tagged) if tagged.tag == "GetAtt"
        ),
        "failed batches go to a queue of the stack"
    );
}

/// `!GetAtt Resource.Attribute` as `Resource.Attribute`.
fn get_att(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The queues some alarm of the template watches for visible messages.
fn watched_queues(template: &Value) -> BTreeSet<String> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter(|r| r["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible")
        .flat_map(|r| {
            r["Properties"]["Dimensions"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|dimension| get_att(&dimension["Value"]))
        .filter_map(|att| att.strip_suffix(".QueueName").map(str::to_owned))
        .collect()
}

#[test]
fn every_stream_and_queue_mapping_has_a_failure_destination_with_an_alarm() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let resource = |id: &str| -> Value {
        resources
            .iter()
            .find(|(key, _)| key.as_str() == Some(id))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no resource {id}"))
    };
    let watched = watched_queues(&template);
    let mut mappings = 0;
    for (logical_id, properties, _) in functions_of(&template) {
        // Streams: what still fails after the retries goes to a queue of the stack.
        for kind in ["DynamoDB", "Kinesis"] {
            for stream in events(&properties, kind) {
                mappings += 1;
                let destination = get_att(&stream["DestinationConfig"]["OnFailure"]["Destination"])
                    .unwrap_or_else(|| {
                        panic!("{logical_id}: a {kind} stream without an on-failure queue")
                    });
                let queue = destination
                    .strip_suffix(".Arn")
                    .unwrap_or_else(|| panic!("{logical_id}: {destination}"));
                assert_eq!(resource(queue)["Type"], "AWS::SQS::Queue", "{logical_id}");
                assert_eq!(stream["DestinationConfig"]["OnFailure"]["Type"], "SQS");
                assert!(
                    stream["MaximumRetryAttempts"].as_u64().is_some(),
                    "{logical_id}: retried without end, it would never reach its destination"
                );
                assert!(
                    watched.contains(queue),
                    "{logical_id}: no alarm watches {queue}"
                );
                assert!(
                    send_targets(&properties).contains(&format!("!GetAtt {destination}\n")),
                    "{logical_id} may not send to {queue}: {:?}",
                    send_targets(&properties)
                );
            }
        }
        // Queues: what still fails after the receives goes to the dead-letter queue.
        for source in events(&properties, "SQS") {
            mappings += 1;
            let queue = get_att(&source["Queue"]).expect("a queue of the stack");
            let queue = queue.strip_suffix(".Arn").expect("its Arn");
            let redrive = &resource(queue)["Properties"]["RedrivePolicy"];
            let dead_letters = get_att(&redrive["deadLetterTargetArn"])
                .unwrap_or_else(|| panic!("{logical_id}: {queue} has no dead-letter queue"));
            let dead_letters = dead_letters.strip_suffix(".Arn").expect("its Arn");
            assert!(redrive["maxReceiveCount"].as_u64().is_some(), "{queue}");
            assert!(
                watched.contains(dead_letters),
                "{logical_id}: no alarm watches {dead_letters}"
            );
        }
    }
    // The history stream's publisher, the slot stream's indexer, each country's email queue.
    assert_eq!(mappings, 2 + citas_domain::COUNTRIES.len());
}

#[test]
fn browsers_may_read_the_same_headers_on_aws_and_locally() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let api = resources
        .iter()
        .find(|(id, _)| id.as_str() == Some("HttpApi"))
        .expect("the HTTP API")
        .1;
    let exposed: Vec<&str> = api["Properties"]["CorsConfiguration"]["ExposeHeaders"]
        .as_sequence()
        .expect("ExposeHeaders")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(exposed, citas_api::EXPOSED_HEADERS);
    assert!(
        exposed.contains(&"retry-after"),
        "a 503's Retry-After is readable"
    );
}

/// The actions a function's inline policies grant.
fn granted_actions(properties: &Value) -> BTreeSet<String> {
    properties["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            policy["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|statement| {
            statement["Action"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|action| action.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn patients_and_doctors_sign_themselves_up_through_the_triggers() {
    let template = template();
    let resources = &template["Resources"];
    let pool = &resources["UserPool"]["Properties"];
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], false,
        "self sign-up is on"
    );
    // Cognito's password policy is the local identity provider's.
    let policy = &pool["Policies"]["PasswordPolicy"];
    assert_eq!(
        policy["MinimumLength"].as_u64(),
        u64::try_from(citas_domain::account::Password::MIN_LENGTH).ok()
    );
    for rule in [
        "RequireLowercase",
        "RequireUppercase",
        "RequireNumbers",
        "RequireSymbols",
    ] {
        assert_eq!(policy[rule], true, "{rule}");
    }
    // Each trigger is attached, may be invoked by this pool only, and is
    // granted exactly what it calls.
    let functions = functions_of(&template);
    let triggers = [
        (
            "PreSignUp",
            "cognito-pre-sign-up",
            vec![
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
            ],
        ),
        (
            "PostConfirmation",
            "cognito-post-confirmation",
            vec![
                "cognito-idp:AdminAddUserToGroup",
                "cognito-idp:AdminUpdateUserAttributes",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
            ],
        ),
        ("PreAuthentication", "cognito-pre-authentication", vec![]),
    ];
    for (trigger, binary, actions) in triggers {
        let (function, properties, _) = functions
            .iter()
            .find(|(_, _, name)| name == binary)
            .unwrap_or_else(|| panic!("no function runs {binary}"));
        assert_eq!(
            get_att(&pool["LambdaConfig"][trigger]),
            Some(format!("{function}.Arn")),
            "{trigger}"
        );
        assert_eq!(
            granted_actions(properties),
            actions.into_iter().map(String::from).collect(),
            "{function}"
        );
        let permitted = resources
            .as_mapping()
            .expect("Resources")
            .values()
            .filter(|r| r["Type"] == "AWS::Lambda::Permission")
            .map(|r| &r["Properties"])
            .any(|p| {
                get_att(&p["FunctionName"]) == Some(format!("{function}.Arn"))
                    && p["Principal"] == "cognito-idp.amazonaws.com"
                    && get_att(&p["SourceArn"]).as_deref() == Some("UserPool.Arn")
            });
        assert!(permitted, "{function}: invoked by the user pool only");
    }
    // The pool's administrator calls are held to this stack's pool by its tag.
    let (_, confirmation, _) = functions
        .iter()
        .find(|(_, _, name)| name == "cognito-post-confirmation")
        .expect("post confirmation");
    let condition = confirmation["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .find(|s| {
            s["Action"]
                .as_sequence()
                .is_some_and(|a| a.iter().any(|a| a == "cognito-idp:AdminAddUserToGroup"))
        })
        .map(|s| s["Condition"]["StringEquals"].clone())
        .expect("the pool's grant");
    let (key, value) = condition
        .as_mapping()
        .and_then(|m| m.iter().next())
        .expect("one condition");
    let tag = key
        .as_str()
        .and_then(|k| k.strip_prefix("aws:ResourceTag/"))
        .expect("a resource tag");
    assert_eq!(&pool["UserPoolTags"][tag], value);
    // The app client can never write a user's country, document or group.
    let client = &resources["UserPoolClient"]["Properties"];
    let writes: Vec<&str> = client["WriteAttributes"]
        .as_sequence()
        .expect("WriteAttributes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(writes, ["email", "name"]);
}
