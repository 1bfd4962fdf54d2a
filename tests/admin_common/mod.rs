//! Helpers of the admin endpoint tests: an app with the HTTP server that notes what its
//! listener handles, records to produce, and requests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{OutRecord, Transport};
use kflow::prelude::*;
use kflow::prometheus::Prometheus;
use kflow::AppHandle;
use serde_json::Value;

use super::common::{real, unique, TEST_PROPS};

/// A listener app on `topic` that notes every value it handles, with the HTTP server.
pub async fn journal_app(topic: &str, server: Prometheus) -> (AppHandle, Arc<Mutex<Vec<u64>>>) {
    journal_app_on(real(), topic, server).await
}

/// [`journal_app`] on a given transport.
pub async fn journal_app_on(
    transport: kflow::kafka::KafkaTransport,
    topic: &str,
    server: Prometheus,
) -> (AppHandle, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noted = seen.clone();
    let listener = Listener::new("journal", [topic], move |v: u64, _m: Meta| {
        let noted = noted.clone();
        async move {
            noted.lock().unwrap().push(v);
            Ok::<(), HandlerError>(())
        }
    });
    let listener = TEST_PROPS.iter().fold(listener, |l, (k, v)| l.property(k, v));
    let handle = App::new(unique("admin"))
        .transport(transport)
        .commit_interval(Duration::from_millis(200))
        .service(server)
        .listener(listener)
        .start()
        .await
        .expect("the app starts");
    (handle, seen)
}

pub async fn produce(topic: &str, partition: i32, values: std::ops::Range<u64>) {
    let producer = real().producer().unwrap();
    for v in values {
        let record = OutRecord::new(topic, v.to_string()).with_partition(partition);
        producer.send(record, Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
}

pub async fn post(url: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let response = req.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn units(base: &str) -> Value {
    reqwest::get(format!("{base}/admin/units"))
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("JSON")
}

/// Waits until `done` holds, at most `within`.
pub async fn until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

pub async fn until_units(base: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let u = units(base).await;
        if done(&u) || Instant::now() > deadline {
            return u;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
