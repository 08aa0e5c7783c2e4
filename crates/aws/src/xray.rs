//! X-Ray subsegments for the SDK's calls, as the X-Ray SDKs of other
//! languages record them: each call of a traced invocation becomes a
//! subsegment of the function's segment, named after the service (DynamoDB,
//! SQS, SESv2), with the operation, the tables it touched, the region, the
//! AWS request id, the HTTP status and whether it was an error, a throttle or
//! a fault. It is sent as one UDP datagram to the X-Ray daemon Lambda runs
//! beside the function (`AWS_XRAY_DAEMON_ADDRESS`): no call waits on it.
//! There is no X-Ray SDK for Rust, and the format is small (AWS's X-Ray
//! segment documents).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{Value, json};

/// Where the current invocation's trace header comes from (Lambda's runtime
/// sets `_X_AMZN_TRACE_ID` for each invocation).
pub type TraceHeader = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Sends a subsegment per SDK call of a sampled invocation; clone it into
/// every client of the instance.
#[derive(Clone)]
pub struct XrayInterceptor {
    socket: Arc<UdpSocket>,
    daemon: SocketAddr,
    trace_header: TraceHeader,
}

impl std::fmt::Debug for XrayInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XrayInterceptor")
            .field("daemon", &self.daemon)
            .finish()
    }
}

impl XrayInterceptor {
    /// In a traced Lambda function: the daemon Lambda names, the trace of
    /// the invocation under way. `None` where there is no daemon (locally).
    pub fn from_env() -> Option<Self> {
        let address = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
        let daemon = daemon_address(&address)?;
        Self::new(daemon, Arc::new(|| std::env::var("_X_AMZN_TRACE_ID").ok())).ok()
    }

    pub fn new(daemon: SocketAddr, trace_header: TraceHeader) -> std::io::Result<Self> {
        let local: SocketAddr = if daemon.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket: Arc::new(socket),
            daemon,
            trace_header,
        })
    }

    fn send(&self, document: &Value) {
        let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
        if let Err(error) = self.socket.send_to(datagram.as_bytes(), self.daemon) {
            tracing::debug!(%error, "X-Ray subsegment not sent");
        }
    }
}

/// `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or `udp:host:port tcp:host:port`.
fn daemon_address(text: &str) -> Option<SocketAddr> {
    let udp = text
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(text.trim());
    udp.parse().ok()
}

/// The trace and parent ids of a sampled trace header
/// (`Root=1-…;Parent=…;Sampled=1`); `None` when it is not sampled.
fn sampled(header: &str) -> Option<(String, String)> {
    let field = |name: &str| {
        header.split(';').find_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    };
    if field("Sampled").as_deref() != Some("1") {
        return None;
    }
    Some((field("Root")?, field("Parent")?))
}

/// A call of a sampled invocation: when it started, under which trace and parent.
#[derive(Debug, Clone)]
struct Traced {
    started: SystemTime,
    trace_id: String,
    parent_id: String,
}
impl Storable for Traced {
    type Storer = StoreReplace<Self>;
}

/// The tables a DynamoDB request names.
#[derive(Debug, Clone)]
struct Tables(Vec<String>);
impl Storable for Tables {
    type Storer = StoreReplace<Self>;
}

/// The tables named in a DynamoDB request body: `TableName`, the keys of
/// `RequestItems`, and each `TransactItems` entry's table.
pub fn tables_in(body: &Value) -> Vec<String> {
    let mut tables: Vec<String> = Vec::new();
    let mut add = |name: Option<&str>| {
        if let Some(name) = name
            && !tables.iter().any(|t| t == name)
        {
            tables.push(name.to_owned());
        }
    };
    add(body["TableName"].as_str());
    if let Some(items) = body["RequestItems"].as_object() {
        for name in items.keys() {
            add(Some(name));
        }
    }
    for item in body["TransactItems"].as_array().into_iter().flatten() {
        for action in ["Put", "Update", "Delete", "ConditionCheck", "Get"] {
            add(item[action]["TableName"].as_str());
        }
    }
    tables
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// X-Ray's names for the services, as its service map shows them.
fn service_name(service: &str) -> &str {
    match service.to_ascii_lowercase().as_str() {
        "dynamodb" => "DynamoDB",
        "sqs" => "SQS",
        "sesv2" => "SESv2",
        _ => service,
    }
}

impl Intercept for XrayInterceptor {
    fn name(&self) -> &'static str {
        "XrayInterceptor"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Decided once per call: an unsampled invocation's calls cost nothing more.
        if let Some((trace_id, parent_id)) = (self.trace_header)().as_deref().and_then(sampled) {
            cfg.interceptor_state().store_put(Traced {
                started: SystemTime::now(),
                trace_id,
                parent_id,
            });
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let traced_dynamodb = cfg.load::<Traced>().is_some()
            && cfg
                .load::<Metadata>()
                .is_some_and(|m| m.service().eq_ignore_ascii_case("dynamodb"));
        if !traced_dynamodb {
            return Ok(());
        }
        let body = context
            .request()
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
        if let Some(body) = body {
            let tables = tables_in(&body);
            if !tables.is_empty() {
                cfg.interceptor_state().store_put(Tables(tables));
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Traced {
            started,
            trace_id,
            parent_id,
        }) = cfg.load::<Traced>().cloned()
        else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        let status = context.response().map(|r| r.status().as_u16());
        let request_id = context.response().and_then(|r| {
            ["x-amzn-requestid", "x-amz-request-id"]
                .iter()
                .find_map(|name| r.headers().get(*name).map(str::to_owned))
        });
        let failed = matches!(context.output_or_error(), Some(Err(_)));
        let status_code = status.unwrap_or(0);
        let throttle = status_code == 429
            || (status_code == 400
                && context
                    .response()
                    .and_then(|r| r.body().bytes())
                    .is_some_and(|b| String::from_utf8_lossy(b).contains("Throttl")));
        let mut aws = json!({ "operation": operation });
        if let Some(region) = cfg.load::<aws_config::Region>() {
            aws["region"] = json!(region.as_ref());
        }
        if let Some(id) = request_id {
            aws["request_id"] = json!(id);
        }
        match cfg.load::<Tables>().map(|t| t.0.as_slice()) {
            Some([one]) => aws["table_name"] = json!(one),
            Some(many) => aws["table_names"] = json!(many),
            None => {}
        }
        let mut document = json!({
            "id": format!("{:016x}", fastrand::u64(..)),
            "name": service_name(&service),
            "trace_id": trace_id,
            "parent_id": parent_id,
            "type": "subsegment",
            "namespace": "aws",
            "start_time": seconds(started),
            "end_time": seconds(SystemTime::now()),
            "aws": aws,
        });
        if let Some(status) = status {
            document["http"] = json!({ "response": { "status": status } });
        }
        if failed {
            // X-Ray: error for 4xx, fault for 5xx (and calls that got no answer).
            let key = if (400..500).contains(&status_code) {
                "error"
            } else {
                "fault"
            };
            document[key] = json!(true);
            if throttle {
                document["throttle"] = json!(true);
            }
        }
        self.send(&document);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_address_is_read_in_both_forms() {
        let expected: SocketAddr = "169.254.79.129:2000".parse().expect("address");
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(expected));
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2000 udp:169.254.79.129:2000"),
            Some(expected)
        );
        assert_eq!(daemon_address("nonsense"), None);
    }

    #[test]
    fn only_sampled_traces_are_recorded() {
        assert_eq!(
            sampled("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            Some((
                "1-5759e988-bd862e3fe1be46a994272793".to_owned(),
                "53995c3f42cd8ad8".to_owned()
            ))
        );
        assert_eq!(
            sampled("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"),
            None
        );
    }

    #[test]
    fn a_transaction_names_each_table_once() {
        let body = json!({"TransactItems": [
            {"Update": {"TableName": "pe-appointment"}},
            {"Put": {"TableName": "appointment-history"}},
            {"Update": {"TableName": "slot"}},
            {"Update": {"TableName": "slot"}},
        ]});
        assert_eq!(
            tables_in(&body),
            ["pe-appointment", "appointment-history", "slot"]
        );
        let batch = json!({"RequestItems": {"doctor": {}}});
        assert_eq!(tables_in(&batch), ["doctor"]);
        assert_eq!(tables_in(&json!({"TableName": "slot"})), ["slot"]);
    }
}
