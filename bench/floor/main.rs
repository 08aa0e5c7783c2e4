//! The floor under create-appointment's cold start: a Lambda bootstrap that
//! reads the patient (GetItem) and puts the appointment on condition it does
//! not exist (PutItem), with the SDK's defaults and nothing else (no logs,
//! metrics, settings, breakers or routing). A `/health` event is answered
//! without a call: its cold start is init alone.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let prefix = std::env::var("TABLE_PREFIX").unwrap_or_default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&dynamodb, &prefix, event.payload)
    }))
    .await
}

fn answer(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
    })
}

async fn handle(
    dynamodb: &aws_sdk_dynamodb::Client,
    prefix: &str,
    event: Value,
) -> Result<Value, Error> {
    if event["rawPath"] == "/health" {
        return Ok(answer(200, json!({ "status": "ok" })));
    }
    let body = event["body"].as_str().unwrap_or("{}");
    let country = event["pathParameters"]["country"].as_str().unwrap_or("pe");
    let input: Value = serde_json::from_str(body)?;
    let document = input["document"].as_str().unwrap_or_default().to_owned();
    let patient = dynamodb
        .get_item()
        .table_name(format!("{prefix}{country}-patient"))
        .key("document", AttributeValue::S(document.clone()))
        .send()
        .await?;
    let Some(name) = patient
        .item
        .as_ref()
        .and_then(|item| item.get("name"))
        .cloned()
    else {
        return Ok(answer(404, json!({ "code": "patient_not_found" })));
    };
    let put = dynamodb
        .put_item()
        .table_name(format!("{prefix}{country}-appointment"))
        .item("id", AttributeValue::S(format!("floor-{document}")))
        .item("country", AttributeValue::S(country.to_owned()))
        .item("document", AttributeValue::S(document.clone()))
        .item("patient", name)
        .item("status", AttributeValue::S("registered".into()))
        .condition_expression("attribute_not_exists(id)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(answer(201, json!({ "id": format!("floor-{document}") }))),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_conditional_check_failed_exception()) =>
        {
            Ok(answer(409, json!({ "code": "appointment_exists" })))
        }
        Err(error) => Err(error.into()),
    }
}
