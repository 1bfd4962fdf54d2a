//! The admin endpoints of the app's HTTP server: `GET /admin/units`, `POST /admin/pause`
//! and `POST /admin/resume` with a JSON target, `POST /admin/seek`, and the cluster's
//! lag and topic statistics.
//!
//! Requests that change state need `Authorization: Bearer <token>` when a token is set
//! ([`super::Prometheus::admin_token`], `KFLOW_ADMIN_TOKEN`); without one they are
//! accepted only on a loopback address. Every change is logged with the caller's
//! address. Errors are JSON: `{"error": "...", "field": "..."}`.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use kflow_core::runtime::{AppContext, PauseTarget, SeekError};
use kflow_core::transport::SeekTo;
use kflow_core::TopicPartition;
use serde_json::{json, Map, Value};

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// Who may change state: the token, and whether the server listens on loopback only;
/// and the cluster's admin client, for lag and topic statistics.
#[derive(Clone)]
pub(crate) struct Access {
    pub token: Option<String>,
    pub loopback: bool,
    #[cfg(feature = "kafka")]
    pub kafka: Option<kflow_kafka::KafkaAdmin>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("loopback", &self.loopback)
            .finish()
    }
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response<Full<Bytes>> {
    Bad::new(status, message, field).response()
}

/// A request refused: its status, why, and the field at fault.
#[derive(Debug)]
struct Bad {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl Bad {
    fn new(status: StatusCode, message: &str, field: Option<&str>) -> Self {
        Bad {
            status,
            message: message.to_string(),
            field: field.map(str::to_string),
        }
    }

    fn response(self) -> Response<Full<Bytes>> {
        let mut body = json!({ "error": self.message });
        if let Some(f) = self.field {
            body["field"] = json!(f);
        }
        json_response(self.status, &body)
    }
}

/// Answers `/admin/...`.
pub(crate) async fn respond(
    req: Request<Incoming>,
    peer: SocketAddr,
    app: &AppContext,
    access: &Access,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/admin/units") => {
            let mut units = serde_json::to_value(app.units()).unwrap_or_default();
            with_lag(&mut units, access).await;
            json_response(StatusCode::OK, &units)
        }
        (Method::POST, "/admin/pause") | (Method::POST, "/admin/resume") => {
            let pause = path == "/admin/pause";
            if let Err(denied) = authorize(&req, access) {
                return denied.response();
            }
            let target = match read_target(req).await {
                Ok(t) => t,
                Err(bad) => return bad.response(),
            };
            let done = if pause { app.pause(&target) } else { app.resume(&target) };
            match done {
                Ok(()) => {
                    let action = if pause { "pause" } else { "resume" };
                    tracing::info!(%peer, action, target = %target, "admin: {action} {target}");
                    json_response(
                        StatusCode::OK,
                        &json!({ "action": action, "target": target.to_string() }),
                    )
                }
                Err(reason) => error(StatusCode::NOT_FOUND, &reason, Some("unit")),
            }
        }
        (Method::POST, "/admin/seek") => {
            if let Err(denied) = authorize(&req, access) {
                return denied.response();
            }
            let order = match read_object(req).await.and_then(|fields| seek_order(&fields)) {
                Ok(o) => o,
                Err(bad) => return bad.response(),
            };
            match app.seek(&order.unit, &order.topic, order.partition, order.to).await {
                Ok(moved) => {
                    tracing::info!(%peer, action = "seek", unit = %order.unit, topic = %order.topic, partition = ?order.partition, to = %order.to, "admin: seek");
                    json_response(
                        StatusCode::OK,
                        &json!({ "action": "seek", "unit": order.unit, "to": order.to.to_string(), "moved": moved }),
                    )
                }
                Err(SeekError::Unknown { field, reason }) => error(StatusCode::NOT_FOUND, &reason, Some(field)),
                Err(SeekError::NotHeld(reason)) => error(StatusCode::CONFLICT, &reason, Some("partition")),
                Err(SeekError::Failed(reason)) => error(StatusCode::BAD_GATEWAY, &reason, None),
            }
        }
        (Method::GET, p) if p.starts_with("/admin/groups/") || p.starts_with("/admin/topics/") => {
            cluster(p, access).await
        }
        (_, "/admin/units") => not_allowed("GET"),
        (_, "/admin/pause") | (_, "/admin/resume") | (_, "/admin/seek") => not_allowed("POST"),
        _ => error(
            StatusCode::NOT_FOUND,
            "no such admin endpoint: try GET /admin/units, GET /admin/groups/{group}/lag, GET /admin/topics/{topic}, POST /admin/pause, POST /admin/resume, POST /admin/seek",
            None,
        ),
    }
}

/// Adds each held partition's end offset and lag (`end`, `lag`) from the cluster, when
/// the server has it; a unit whose lag could not be read gets `lag_error` instead.
#[cfg(feature = "kafka")]
async fn with_lag(units: &mut Value, access: &Access) {
    let Some(kafka) = access.kafka.as_ref() else {
        return;
    };
    let Some(units) = units.as_array_mut() else {
        return;
    };
    for unit in units {
        let group = unit["group"].as_str().unwrap_or_default().to_string();
        let lag = match kafka.group_lag(&group, &[]).await {
            Ok(lag) => lag,
            Err(e) => {
                unit["lag_error"] = json!(e.to_string());
                continue;
            }
        };
        for p in unit["partitions"].as_array_mut().into_iter().flatten() {
            let found = lag
                .iter()
                .find(|l| p["topic"] == *l.partition.topic && p["partition"] == l.partition.partition.0);
            if let Some(l) = found {
                p["end"] = json!(l.end.0);
                p["lag"] = json!(l.lag);
            }
        }
    }
}

#[cfg(not(feature = "kafka"))]
async fn with_lag(_units: &mut Value, _access: &Access) {}

/// `GET /admin/groups/{group}/lag` and `GET /admin/topics/{topic}`: from the cluster.
#[cfg(feature = "kafka")]
async fn cluster(path: &str, access: &Access) -> Response<Full<Bytes>> {
    let Some(kafka) = access.kafka.as_ref() else {
        return error(
            StatusCode::NOT_FOUND,
            "lag and topic statistics need the cluster: give the server one with `Prometheus::kafka`",
            None,
        );
    };
    let parts: Vec<&str> = path.trim_start_matches("/admin/").split('/').collect();
    match parts.as_slice() {
        ["groups", group, "lag"] if !group.is_empty() => match kafka.group_lag(group, &[]).await {
            Ok(lag) => json_response(StatusCode::OK, &kflow_kafka::lag_json(group, &lag)),
            Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string(), None),
        },
        ["topics", topic] if !topic.is_empty() => match kafka.topic_stats(topic).await {
            Ok(stats) => json_response(StatusCode::OK, &serde_json::to_value(stats).unwrap_or_default()),
            Err(e) if e.to_string().contains("does not exist") => {
                error(StatusCode::NOT_FOUND, &e.to_string(), Some("topic"))
            }
            Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string(), None),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "try GET /admin/groups/{group}/lag or GET /admin/topics/{topic}",
            None,
        ),
    }
}

#[cfg(not(feature = "kafka"))]
async fn cluster(_path: &str, _access: &Access) -> Response<Full<Bytes>> {
    error(
        StatusCode::NOT_FOUND,
        "lag and topic statistics need kflow's `kafka` feature",
        None,
    )
}

fn not_allowed(method: &'static str) -> Response<Full<Bytes>> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("this endpoint takes {method}"),
        None,
    );
    response
        .headers_mut()
        .insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static(method));
    response
}

/// Checks the bearer token of a request that changes state.
fn authorize<B>(req: &Request<B>, access: &Access) -> Result<(), Bad> {
    let Some(token) = access.token.as_deref() else {
        if access.loopback {
            return Ok(());
        }
        return Err(Bad::new(
            StatusCode::FORBIDDEN,
            "changes over a non-loopback address need a token: set KFLOW_ADMIN_TOKEN",
            Some("Authorization"),
        ));
    };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(Bad::new(
            StatusCode::UNAUTHORIZED,
            "wrong bearer token",
            Some("Authorization"),
        )),
        None => Err(Bad::new(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required: `Authorization: Bearer <token>`",
            Some("Authorization"),
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads `{"unit": ..}`, `{"topic": ..}` or `{"topic": .., "partition": ..}`.
async fn read_target(req: Request<Incoming>) -> Result<PauseTarget, Bad> {
    target(&read_object(req).await?)
}

/// Reads a JSON object body.
async fn read_object(req: Request<Incoming>) -> Result<Map<String, Value>, Bad> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            Bad::new(
                StatusCode::BAD_REQUEST,
                &format!("the body could not be read: {e}"),
                None,
            )
        })?
        .to_bytes();
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Bad::new(StatusCode::BAD_REQUEST, &format!("the body is not JSON: {e}"), None))?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object (see docs/admin-api.md)",
            None,
        )),
    }
}

/// A seek as `POST /admin/seek` asks for it.
struct SeekOrder {
    unit: String,
    topic: String,
    partition: Option<i32>,
    to: SeekTo,
}

/// Reads `{"unit", "topic", "partition"?}` and one of `"to": "earliest"|"latest"`,
/// `"offset": N`, `"timestamp": ms or RFC 3339`.
fn seek_order(fields: &Map<String, Value>) -> Result<SeekOrder, Bad> {
    only_fields(fields, &["unit", "topic", "partition", "to", "offset", "timestamp"])?;
    let required = |name: &str| {
        optional_text(fields, name)?.ok_or_else(|| {
            Bad::new(
                StatusCode::BAD_REQUEST,
                &format!("`{name}` is missing: a seek needs `unit` and `topic`"),
                Some(name),
            )
        })
    };
    let (unit, topic) = (required("unit")?, required("topic")?);
    let partition = optional_partition(fields)?;
    let given: Vec<&str> = ["to", "offset", "timestamp"]
        .into_iter()
        .filter(|k| fields.contains_key(*k))
        .collect();
    let to = match given.as_slice() {
        ["to"] => match fields.get("to").and_then(Value::as_str) {
            Some("earliest") => SeekTo::Earliest,
            Some("latest") => SeekTo::Latest,
            _ => {
                return Err(Bad::new(
                    StatusCode::BAD_REQUEST,
                    "`to` must be \"earliest\" or \"latest\" (or give `offset` or `timestamp` instead)",
                    Some("to"),
                ))
            }
        },
        ["offset"] => match fields.get("offset").and_then(Value::as_i64).filter(|n| *n >= 0) {
            Some(n) => SeekTo::Offset(kflow_core::Offset(n)),
            None => {
                return Err(Bad::new(
                    StatusCode::BAD_REQUEST,
                    "`offset` must be an offset (0 or more)",
                    Some("offset"),
                ))
            }
        },
        [_] => SeekTo::Timestamp(timestamp(&fields["timestamp"])?),
        [] => {
            return Err(Bad::new(
                StatusCode::BAD_REQUEST,
                "where to is missing: `to` (\"earliest\" or \"latest\"), `offset` or `timestamp`",
                Some("to"),
            ))
        }
        [_, second, ..] => {
            return Err(Bad::new(
                StatusCode::BAD_REQUEST,
                "give one of `to`, `offset` and `timestamp`",
                Some(second),
            ))
        }
    };
    Ok(SeekOrder {
        unit,
        topic,
        partition,
        to,
    })
}

/// Milliseconds since the epoch, or an RFC 3339 datetime (`2026-12-03T10:00:00+01:00`).
fn timestamp(v: &Value) -> Result<i64, Bad> {
    let bad = || {
        Bad::new(
            StatusCode::BAD_REQUEST,
            "`timestamp` must be milliseconds since the epoch or an RFC 3339 datetime such as 2026-12-03T10:00:00Z",
            Some("timestamp"),
        )
    };
    match v {
        Value::Number(n) => n.as_i64().filter(|ms| *ms >= 0).ok_or_else(bad),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Refuses a body with a field not in `valid`, naming it and listing the valid ones.
fn only_fields(fields: &Map<String, Value>, valid: &[&str]) -> Result<(), Bad> {
    match fields.keys().find(|k| !valid.contains(&k.as_str())) {
        Some(unknown) => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            &format!("unknown field `{unknown}`; valid: {}", valid.join(", ")),
            Some(unknown),
        )),
        None => Ok(()),
    }
}

/// A field that must be a non-empty string when given.
fn optional_text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Bad> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            &format!("`{name}` must be a non-empty string"),
            Some(name),
        )),
    }
}

/// `partition`, when given: a partition number.
fn optional_partition(fields: &Map<String, Value>) -> Result<Option<i32>, Bad> {
    let Some(v) = fields.get("partition") else {
        return Ok(None);
    };
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| {
            Bad::new(
                StatusCode::BAD_REQUEST,
                "`partition` must be a partition number (0 or more)",
                Some("partition"),
            )
        })
}

fn target(fields: &Map<String, Value>) -> Result<PauseTarget, Bad> {
    only_fields(fields, &["unit", "topic", "partition"])?;
    let (unit, topic) = (optional_text(fields, "unit")?, optional_text(fields, "topic")?);
    let partition = optional_partition(fields)?;
    match (unit, topic, partition) {
        (Some(u), None, None) => Ok(PauseTarget::Unit(u)),
        (None, Some(t), None) => Ok(PauseTarget::Topic(t)),
        (None, Some(t), Some(p)) => Ok(PauseTarget::Partition(TopicPartition::new(t, p))),
        (None, None, Some(_)) => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            "`partition` needs the `topic` it belongs to",
            Some("topic"),
        )),
        (Some(_), _, _) => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            "give either `unit`, or `topic` (with an optional `partition`), not both",
            Some("unit"),
        )),
        (None, None, None) => Err(Bad::new(
            StatusCode::BAD_REQUEST,
            "what to pause is missing: `unit`, or `topic` (with an optional `partition`)",
            Some("topic"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<PauseTarget, (u16, Value)> {
        let Value::Object(fields) = v else { panic!("an object") };
        target(&fields).map_err(|bad| {
            let r = bad.response();
            let status = r.status().as_u16();
            let body = futures::executor::block_on(r.into_body().collect()).unwrap().to_bytes();
            (status, serde_json::from_slice(&body).unwrap())
        })
    }

    #[test]
    fn targets_and_bad_requests() {
        assert_eq!(parse(json!({"unit": "orders"})), Ok(PauseTarget::Unit("orders".into())));
        assert_eq!(parse(json!({"topic": "t"})), Ok(PauseTarget::Topic("t".into())));
        assert_eq!(
            parse(json!({"topic": "t", "partition": 2})),
            Ok(PauseTarget::Partition(TopicPartition::new("t", 2)))
        );
        let field = |v: Value| parse(v).unwrap_err().1["field"].as_str().unwrap().to_string();
        assert_eq!(field(json!({"topik": "t"})), "topik");
        assert_eq!(field(json!({"topic": 3})), "topic");
        assert_eq!(field(json!({"topic": "t", "partition": -1})), "partition");
        assert_eq!(field(json!({"partition": 1})), "topic");
        assert_eq!(field(json!({"unit": "u", "topic": "t"})), "unit");
        assert_eq!(field(json!({})), "topic");
        assert_eq!(parse(json!({})).unwrap_err().0, 400);
    }

    fn seek(v: Value) -> Result<(String, String, Option<i32>, SeekTo), String> {
        let Value::Object(fields) = v else { panic!("an object") };
        seek_order(&fields)
            .map(|o| (o.unit, o.topic, o.partition, o.to))
            .map_err(|bad| bad.field.unwrap_or_default())
    }

    #[test]
    fn seek_orders_and_bad_ones() {
        let (u, t, p, to) = seek(json!({"unit": "u", "topic": "t", "partition": 1, "offset": 5})).unwrap();
        assert_eq!(
            (u.as_str(), t.as_str(), p, to),
            ("u", "t", Some(1), SeekTo::Offset(kflow_core::Offset(5)))
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "to": "latest"})).unwrap().3,
            SeekTo::Latest
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "timestamp": "2026-12-03T10:00:00+01:00"}))
                .unwrap()
                .3,
            SeekTo::Timestamp(1_796_288_400_000)
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "timestamp": 5})).unwrap().3,
            SeekTo::Timestamp(5)
        );
        assert_eq!(seek(json!({"topic": "t", "to": "earliest"})).unwrap_err(), "unit");
        assert_eq!(seek(json!({"unit": "u", "to": "earliest"})).unwrap_err(), "topic");
        assert_eq!(seek(json!({"unit": "u", "topic": "t"})).unwrap_err(), "to");
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "to": "start"})).unwrap_err(),
            "to"
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "offset": -1})).unwrap_err(),
            "offset"
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "timestamp": "yesterday"})).unwrap_err(),
            "timestamp"
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "to": "latest", "offset": 1})).unwrap_err(),
            "offset"
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "partition": "0", "to": "latest"})).unwrap_err(),
            "partition"
        );
        assert_eq!(
            seek(json!({"unit": "u", "topic": "t", "to": "latest", "at": 1})).unwrap_err(),
            "at"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let access = Access {
            token: Some("s3cret".into()),
            loopback: true,
            #[cfg(feature = "kafka")]
            kafka: None,
        };
        assert!(!format!("{access:?}").contains("s3cret"));
    }
}
