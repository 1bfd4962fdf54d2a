//! `POST /admin/seek` on a running app, end to end. On tansu: a partition paused, sent
//! back to an offset and resumed over HTTP, with the records from there handled again;
//! a topic sent back to its earliest offset; bad seeks. On librdkafka's mock cluster,
//! whose end offsets are right (tansu's are not): records skipped by a seek to the
//! latest offset. Seeks to a timestamp are tested in memory only (core/tests/seek.rs):
//! tansu answers every time lookup with offset 0 and the mock cluster with none.

mod admin_common;
#[path = "../connectors/kafka/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use admin_common::{journal_app, journal_app_on, post, produce, units, until, until_units};
use common::{create, real, unique};
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prometheus::Prometheus;
use serde_json::{json, Value};

fn committed(units: &Value, partition: i64) -> Value {
    units[0]["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["partition"] == partition))
        .map(|p| p["committed"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_partition_is_sent_back_to_an_offset_and_resumed_over_http() {
    let topic = unique("seek-in");
    create(&real(), &topic, 2).await;
    let server = Prometheus::on("127.0.0.1:0");
    let addr = server.local_addr();
    let (handle, seen) = journal_app(&topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));
    produce(&topic, 0, 0..5).await;
    produce(&topic, 1, 5..10).await;
    assert!(
        until(Duration::from_secs(30), || seen.lock().unwrap().len() == 10).await,
        "the first records arrive"
    );
    let listed = until_units(&base, Duration::from_secs(10), |u| {
        committed(u, 0) == 5 && committed(u, 1) == 5
    })
    .await;
    assert_eq!(committed(&listed, 0), 5, "{listed}");
    seen.lock().unwrap().clear();

    let pause = json!({"topic": topic, "partition": 0}).to_string();
    assert_eq!(post(&format!("{base}/admin/pause"), &pause, None).await.0, 200);
    let seek = json!({"unit": "journal", "topic": topic, "partition": 0, "offset": 2});
    let (status, body) = post(&format!("{base}/admin/seek"), &seek.to_string(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["moved"],
        json!([{"topic": topic, "partition": 0, "from": 5, "to": 2}]),
        "{body}"
    );
    let listed = units(&base).await;
    assert_eq!(committed(&listed, 0), 2, "the new position is committed: {listed}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(seen.lock().unwrap().is_empty(), "still paused after the seek");

    assert_eq!(post(&format!("{base}/admin/resume"), &pause, None).await.0, 200);
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 3).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [2, 3, 4],
        "offsets 2 to 4 of partition 0 again, nothing else"
    );
    let listed = until_units(&base, Duration::from_secs(10), |u| committed(u, 0) == 5).await;
    assert_eq!(committed(&listed, 0), 5, "committed to the end again: {listed}");

    // The whole topic back to the start, without a pause.
    seen.lock().unwrap().clear();
    let seek = json!({"unit": "journal", "topic": topic, "to": "earliest"});
    let (status, body) = post(&format!("{base}/admin/seek"), &seek.to_string(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["moved"].as_array().map(Vec::len), Some(2), "{body}");
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 10).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut again = seen.lock().unwrap().clone();
    again.sort();
    assert_eq!(again, (0..10).collect::<Vec<u64>>(), "every record once more");

    // New records still come after the seeks.
    produce(&topic, 1, 10..12).await;
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 12).await);

    // Past the end means the end: tansu's end offset is too low, what was read is not.
    let seek = json!({"unit": "journal", "topic": topic, "partition": 1, "offset": 1000});
    let (status, body) = post(&format!("{base}/admin/seek"), &seek.to_string(), None).await;
    assert_eq!((status, body["moved"][0]["to"].clone()), (200, json!(7)), "{body}");
    produce(&topic, 1, 12..13).await;
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 13).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(seen.lock().unwrap().last(), Some(&12), "the next record, nothing again");
    assert_eq!(seen.lock().unwrap().len(), 13);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seeks_get_a_4xx_naming_the_field() {
    let topic = unique("seek-bad");
    create(&real(), &topic, 1).await;
    let server = Prometheus::on("127.0.0.1:0");
    let addr = server.local_addr();
    let (handle, _) = journal_app(&topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));
    until_units(&base, Duration::from_secs(30), |u| {
        u[0]["partitions"].as_array().is_some_and(|p| p.len() == 1)
    })
    .await;
    let seek = format!("{base}/admin/seek");
    for (body, status, field) in [
        (json!({"unit": "nope", "topic": topic, "to": "earliest"}), 404, "unit"),
        (
            json!({"unit": "journal", "topic": "other", "to": "earliest"}),
            404,
            "topic",
        ),
        (
            json!({"unit": "journal", "topic": topic, "partition": 9, "to": "earliest"}),
            409,
            "partition",
        ),
        (json!({"unit": "journal", "topic": topic}), 400, "to"),
        (json!({"unit": "journal", "topic": topic, "to": "start"}), 400, "to"),
        (json!({"unit": "journal", "topic": topic, "offset": -3}), 400, "offset"),
        (
            json!({"unit": "journal", "topic": topic, "timestamp": "noon"}),
            400,
            "timestamp",
        ),
        (
            json!({"unit": "journal", "topic": topic, "offset": 1, "to": "latest"}),
            400,
            "offset",
        ),
        (json!({"unit": "journal", "topic": topic, "offst": 1}), 400, "offst"),
    ] {
        let (got, reply) = post(&seek, &body.to_string(), None).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert_eq!(reply["field"].as_str(), Some(field), "{body}: {reply}");
        assert!(reply["error"].is_string(), "{body}: {reply}");
    }
    assert_eq!(reqwest::get(&seek).await.unwrap().status().as_u16(), 405);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_to_the_latest_offset_skips_what_was_not_read() {
    let t = kflow::kafka::KafkaTransport::embedded().unwrap();
    let topic = "seek-latest";
    t.admin().create_topic(NewTopic::new(topic, 1)).await.unwrap();
    let server = Prometheus::on("127.0.0.1:0");
    let addr = server.local_addr();
    let (handle, seen) = journal_app_on(t.clone(), topic, server).await;
    let base = format!("http://{}", addr.get().expect("bound"));
    let producer = t.producer().unwrap();
    let send = |values: std::ops::Range<u64>| {
        let producer = producer.clone();
        async move {
            for v in values {
                producer
                    .send(OutRecord::new(topic, v.to_string()).with_partition(0), Ack::none())
                    .await
                    .unwrap();
            }
            producer.flush(Duration::from_secs(10)).await.unwrap();
        }
    };
    send(0..3).await;
    assert!(until(Duration::from_secs(30), || seen.lock().unwrap().len() == 3).await);
    assert_eq!(
        post(&format!("{base}/admin/pause"), r#"{"unit": "journal"}"#, None)
            .await
            .0,
        200
    );
    send(3..8).await;
    let seek = json!({"unit": "journal", "topic": topic, "to": "latest"});
    let (status, body) = post(&format!("{base}/admin/seek"), &seek.to_string(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["moved"][0]["to"], 8, "{body}");
    assert_eq!(
        post(&format!("{base}/admin/resume"), r#"{"unit": "journal"}"#, None)
            .await
            .0,
        200
    );
    send(8..10).await;
    assert!(until(Duration::from_secs(20), || seen.lock().unwrap().len() == 5).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 8, 9], "3 to 7 skipped");
    handle.shutdown().await.unwrap();
}
