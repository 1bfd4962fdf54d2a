//! The admin endpoints of the app's HTTP server on a running app, against the real broker
//! (tansu): units and their partitions, a unit and a partition paused and resumed over
//! HTTP with the records held back and then handled, bad requests, and the token; lag (in
//! `/admin/units` too) and topic statistics on librdkafka's mock cluster.

mod admin_common;
#[path = "../connectors/kafka/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use admin_common::{journal_app, post, produce, units, until, until_units};
use common::{create, real, unique};
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{OutRecord, Transport};
use kflow::prelude::*;
use kflow::prometheus::Prometheus;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_unit_and_a_partition_are_paused_and_resumed_over_http() {
    let topic = unique("admin-in");
    create(&real(), &topic, 2).await;
    let server = Prometheus::on("127.0.0.1:0");
    let addr = server.local_addr();
    let (handle, seen) = journal_app(&topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));

    // The unit, once it holds both partitions.
    let listed = until_units(&base, Duration::from_secs(30), |u| {
        u[0]["partitions"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    assert_eq!(listed[0]["name"], "journal");
    assert_eq!(listed[0]["kind"], "listener");
    assert_eq!(listed[0]["topics"], json!([topic]));
    assert_eq!(listed[0]["partitions"].as_array().map(Vec::len), Some(2), "{listed}");

    // The whole unit paused: records wait.
    let (status, body) = post(&format!("{base}/admin/pause"), r#"{"unit": "journal"}"#, None).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("pause")), "{body}");
    produce(&topic, 0, 0..5).await;
    produce(&topic, 1, 5..10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(seen.lock().unwrap().is_empty(), "a paused unit handles nothing");
    let listed = units(&base).await;
    assert_eq!(listed[0]["paused"], true);
    assert!(listed[0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["paused"] == true));

    // One partition paused, the unit resumed: only the other partition's records come.
    let (status, _) = post(
        &format!("{base}/admin/pause"),
        &json!({"topic": topic, "partition": 0}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        post(&format!("{base}/admin/resume"), r#"{"unit": "journal"}"#, None)
            .await
            .0,
        200
    );
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 5).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, [5, 6, 7, 8, 9], "partition 1's records only");

    // The partition resumed: the rest come, and the commits show.
    let (status, _) = post(
        &format!("{base}/admin/resume"),
        &json!({"topic": topic, "partition": 0}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 10).await);
    let listed = until_units(&base, Duration::from_secs(10), |u| {
        u[0]["partitions"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["committed"] == 5 && p["paused"] == false))
    })
    .await;
    assert!(
        listed[0]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["committed"] == 5),
        "five records committed on each partition: {listed}"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_requests_get_a_4xx_naming_the_field() {
    let topic = unique("admin-bad");
    create(&real(), &topic, 1).await;
    let server = Prometheus::on("127.0.0.1:0");
    let addr = server.local_addr();
    let (handle, _) = journal_app(&topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));
    let pause = format!("{base}/admin/pause");
    for (body, status, field) in [
        (r#"{"topik": "x"}"#, 400, Some("topik")),
        (r#"{"topic": 7}"#, 400, Some("topic")),
        (r#"{"topic": "x", "partition": "one"}"#, 400, Some("partition")),
        (r#"{"partition": 1}"#, 400, Some("topic")),
        (r#"{"unit": "nope"}"#, 404, Some("unit")),
        ("not json", 400, None),
        ("[1]", 400, None),
    ] {
        let (got, reply) = post(&pause, body, None).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["error"].is_string(), "{body}: {reply}");
        assert_eq!(reply["field"].as_str(), field, "{body}: {reply}");
    }
    let wrong_method = reqwest::get(&pause).await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_eq!(
        reqwest::get(format!("{base}/admin/nothing"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_changes_need_it_and_reads_do_not() {
    let topic = unique("admin-token");
    create(&real(), &topic, 1).await;
    let server = Prometheus::on("127.0.0.1:0").admin_token("s3cret-token");
    assert!(
        !format!("{server:?}").contains("s3cret"),
        "the token stays out of Debug"
    );
    let addr = server.local_addr();
    let (handle, _) = journal_app(&topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));
    let pause = format!("{base}/admin/pause");
    let body = r#"{"unit": "journal"}"#;
    let (status, reply) = post(&pause, body, None).await;
    assert_eq!(
        (status, reply["field"].as_str()),
        (401, Some("Authorization")),
        "{reply}"
    );
    assert_eq!(post(&pause, body, Some("guess")).await.0, 401);
    assert_eq!(units(&base).await[0]["paused"], false, "nothing changed");
    assert_eq!(post(&pause, body, Some("s3cret-token")).await.0, 200);
    assert_eq!(units(&base).await[0]["paused"], true, "reads need no token");
    handle.shutdown().await.unwrap();
}

/// On librdkafka's mock cluster, whose end offsets are right (tansu's are not): a group's
/// lag and a topic's statistics over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_and_topic_statistics_come_from_the_cluster() {
    let t = kflow::kafka::KafkaTransport::embedded().unwrap();
    let topic = "admin-stats";
    t.admin()
        .create_topic(kflow::plumbing::transport::NewTopic::new(topic, 2))
        .await
        .unwrap();
    let producer = t.producer().unwrap();
    let send = |from: u64, to: u64| {
        let producer = producer.clone();
        async move {
            for v in from..to {
                let record = OutRecord::new(topic, v.to_string()).with_partition((v % 2) as i32);
                producer.send(record, Ack::none()).await.unwrap();
            }
            producer.flush(Duration::from_secs(10)).await.unwrap();
        }
    };
    send(0, 10).await;
    let server = Prometheus::on("127.0.0.1:0").kafka(t.kafka_admin().clone());
    let addr = server.local_addr();
    let seen = Arc::new(Mutex::new(0usize));
    let noted = seen.clone();
    let handle = App::new("stats")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .service(server)
        .listener(Listener::new("count", [topic], move |_: u64, _m: Meta| {
            let noted = noted.clone();
            async move {
                *noted.lock().unwrap() += 1;
                Ok::<(), HandlerError>(())
            }
        }))
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", addr.get().expect("bound"));
    let get = |path: String| async move {
        let r = reqwest::get(path).await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, stats) = get(format!("{base}/admin/topics/{topic}")).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["messages"], 10);
    assert_eq!(stats["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(stats["partitions"][0]["high"], 5);
    assert!(until(Duration::from_secs(20), || *seen.lock().unwrap() == 10).await);
    let lag_url = format!("{base}/admin/groups/stats-count/lag");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lag = Value::Null;
    while Instant::now() < deadline {
        lag = get(lag_url.clone()).await.1;
        if lag["total"] == 0 && lag["partitions"].as_array().is_some_and(|p| p.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lag["total"], 0, "everything handled and committed: {lag}");
    post(&format!("{base}/admin/pause"), r#"{"unit": "count"}"#, None).await;
    send(10, 14).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, lag) = get(lag_url).await;
    assert_eq!(lag["total"], 4, "four records wait behind the pause: {lag}");
    let (_, listed) = get(format!("{base}/admin/units")).await;
    let held = listed[0]["partitions"].as_array().cloned().unwrap_or_default();
    assert_eq!(held.len(), 2, "{listed}");
    let lag_of = |p: i64| {
        held.iter()
            .find(|h| h["partition"] == p)
            .map(|h| (h["end"].clone(), h["lag"].clone()))
    };
    assert_eq!(
        lag_of(0),
        Some((json!(7), json!(2))),
        "units show each partition's end and lag: {listed}"
    );
    assert_eq!(lag_of(1), Some((json!(7), json!(2))), "{listed}");
    let (status, missing) = get(format!("{base}/admin/topics/no-such-topic")).await;
    assert_eq!((status, missing["field"].as_str()), (404, Some("topic")), "{missing}");
    handle.shutdown().await.unwrap();
}
