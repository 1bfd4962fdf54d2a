//! `value_format = avro` in the macros, end to end: the codec finds the registry through
//! `SCHEMA_REGISTRY_URL` (rivven-schema, started like the other integration tests), Kafka
//! is the embedded broker.

#[path = "../connectors/schema-registry/tests/common/registry.rs"]
mod registry;

use std::sync::Mutex;
use std::time::Duration;

use kflow::codec::Encode;
use kflow::kafka::KafkaTransport;
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prelude::*;
use kflow::schema_registry::apache_avro::{self, AvroSchema};
use kflow::schema_registry::Avro;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "kflow.test.macros")]
struct Reading {
    sensor: String,
    celsius: f64,
}

#[kflow::processor(input = "readings", output = "hot-readings", value_format = avro)]
fn hot(readings: Flow<Reading>) -> Flow<Reading> {
    readings.filter(|r| r.celsius > 30.0)
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[kflow::listener(topics = "hot-readings", value_format = avro)]
async fn alarm(reading: Reading) {
    SEEN.lock().unwrap().push(reading.sensor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_functions_read_and_write_avro_through_the_registry() {
    // Read by the codecs on first use (the app has not started yet).
    std::env::set_var("SCHEMA_REGISTRY_URL", registry::url());
    let t = KafkaTransport::embedded().unwrap();
    t.admin().create_topic(NewTopic::new("readings", 1)).await.unwrap();
    let codec = Avro::<Reading>::from_env();
    codec.prepare("readings").unwrap().await.unwrap();
    let producer = t.producer().unwrap();
    for (i, celsius) in [21.5, 35.0, 29.9, 41.2].into_iter().enumerate() {
        let r = Reading {
            sensor: format!("s{i}"),
            celsius,
        };
        let value = codec.encode_to("readings", &r).unwrap().unwrap();
        producer
            .send(OutRecord::new("readings", value), Ack::none())
            .await
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).await.unwrap();

    let handle = App::new("avro-macros")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(hot)
        .listener(alarm)
        .start()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while SEEN.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown().await.unwrap();
    assert_eq!(*SEEN.lock().unwrap(), ["s1", "s3"]);

    let committed = t
        .admin()
        .committed("avro-macros-hot", vec![TopicPartition::new("readings", 0)])
        .await
        .unwrap();
    assert_eq!(committed[0].1.map(|o| o.0), Some(4), "every input committed");
}
