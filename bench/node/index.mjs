// The Node.js 20 peer of `create-appointment`, as a team would ship it with
// the AWS SDK for JavaScript v3: the same work (read the patient, put the
// appointment on condition it does not exist) against the same tables, run by
// a minimal Lambda Runtime API loop (what aws-lambda-ric does, without its
// native build). Configuration comes from the same environment variables.
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const prefix = process.env.TABLE_PREFIX ?? "";
// Built once, outside the handler, as the Rust functions do.
const dynamodb = new DynamoDBClient({});

function localDay(timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}${get("month")}${get("day")}`;
}

const zones = { pe: "America/Lima", cl: "America/Santiago" };

async function handle(event) {
  const country = event.pathParameters?.country;
  if (!zones[country]) {
    return { statusCode: 404, body: JSON.stringify({ code: "unsupported_country" }) };
  }
  const input = JSON.parse(event.body ?? "{}");
  const patient = await dynamodb.send(new GetItemCommand({
    TableName: `${prefix}${country}-patient`,
    Key: { document: { S: String(input.document) } },
  }));
  if (!patient.Item) {
    return { statusCode: 404, body: JSON.stringify({ code: "patient_not_found" }) };
  }
  const now = new Date().toISOString();
  const item = {
    id: { S: `${localDay(zones[country])}-${input.document}` },
    country: { S: country },
    document: { S: String(input.document) },
    patient: patient.Item.name,
    speciality: { S: String(input.speciality).toLowerCase().replace(/\s+/g, "-") },
    status: { S: "registered" },
    created_at: { S: now },
    update_at: { S: now },
  };
  try {
    await dynamodb.send(new PutItemCommand({
      TableName: `${prefix}${country}-appointment`,
      Item: item,
      ConditionExpression: "attribute_not_exists(id)",
    }));
  } catch (error) {
    if (error.name === "ConditionalCheckFailedException") {
      return { statusCode: 409, body: JSON.stringify({ code: "appointment_exists" }) };
    }
    throw error;
  }
  return { statusCode: 201, headers: { "content-type": "application/json" }, body: JSON.stringify(item) };
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  let response;
  try {
    response = await handle(event);
  } catch (error) {
    await fetch(`${api}/invocation/${requestId}/error`, {
      method: "POST",
      body: JSON.stringify({ errorType: error.name, errorMessage: error.message }),
    });
    continue;
  }
  await fetch(`${api}/invocation/${requestId}/response`, { method: "POST", body: JSON.stringify(response) });
}
