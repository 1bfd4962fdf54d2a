//! Poison on the Kafka path: records that cannot be read as text, and outputs that can
//! never be written. Each is handled by policy, or stops the app loudly; none stalls it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::ack::Ack;
use kflow_core::policy::names;
use kflow_core::transport::{OutRecord, Transport};
use kflow_core::{DropReason, Flow, HandlerError, Headers, Listener, Processor};
use kflow_kafka::KafkaTransport;
use rdkafka::types::RDKafkaRespErr;

/// A header name that is not UTF-8 (legal in Kafka, and rust-rdkafka's accessors panic on
/// it): the listener handles every record, the record's headers arrive as bytes, and
/// everything commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_name_that_is_not_utf8_is_kept_as_bytes_and_stops_nothing() {
    const N: u64 = 2_001;
    let t = real();
    let topic = unique("poison-header");
    create(&t, &topic, 1).await;
    let producer = t.producer().unwrap();
    for i in 0..N {
        let mut record = OutRecord::new(topic.as_str(), i.to_string()).with_key(format!("k{i}"));
        if i == 740 {
            record.headers.insert(&b"\xff\xfe-trace"[..], &b"\xc3\x28"[..]);
            record.headers.insert("plain", "text");
        }
        producer.send(record, Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();

    let seen: Arc<Mutex<Vec<(u64, Headers)>>> = Arc::default();
    let record = seen.clone();
    let listener = Listener::handler("l", [topic.as_str()], move |v: u64, headers: Headers| {
        record.lock().unwrap().push((v, headers));
        async { Ok::<(), HandlerError>(()) }
    });
    let app_id = unique("poison-app");
    let handle = start_app(&t, &app_id, |app| app.listener(listener_props(listener))).await;
    let group = format!("{app_id}-l");
    let all = committed_reaches(&t, &group, &topic, 1, N as i64, Duration::from_secs(60)).await;
    let ready = handle.health().why_not_ready();
    handle.shutdown().await.unwrap();
    assert!(
        all,
        "every record is committed: {:?}",
        committed(&t, &group, &topic, 1).await
    );
    assert_eq!(ready, None, "ready all along");
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    let headers = &seen[740].1;
    assert_eq!(
        headers.get(&b"\xff\xfe-trace"[..]).map(|v| &v[..]),
        Some(&b"\xc3\x28"[..])
    );
    assert_eq!(headers.get_str("plain"), Some("text"));
    let names: Vec<String> = headers.iter_lossy().map(|(n, _)| n.into_owned()).collect();
    assert_eq!(names, ["\u{fffd}\u{fffd}-trace", "plain"]);
}

/// Value 7 becomes an output larger than the client accepts (`message.max.bytes`, 1 MB).
fn inflate(values: Flow<u64>) -> Flow<String> {
    values.map(|v| match v {
        7 => "x".repeat(1_500_000),
        v => v.to_string(),
    })
}

/// An output the client rejects for good (too large) is dead-lettered without its value,
/// counted, and the app goes on: every other output is written and every input commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_too_large_to_write_is_dead_lettered_without_its_value_and_the_app_goes_on() {
    let t = real();
    let (input, output) = (unique("big-in"), unique("big-out"));
    create(&t, &input, 1).await;
    produce(&t, &input, numbers(0..20)).await;
    let app_id = unique("big-app");
    let handle = start_app(&t, &app_id, |app| {
        app.processor(props(
            Processor::new("p", inflate).input([input.as_str()]).output(&output),
        ))
    })
    .await;
    let group = format!("{app_id}-p");
    let all = committed_reaches(&t, &group, &input, 1, 20, Duration::from_secs(60)).await;
    let dlq = read_full(&t, &format!("{input}.dlq"), 1, Duration::from_secs(30));
    let out = read(&t, &output, 19, Duration::from_secs(30));
    let mut handle = handle;
    assert_eq!(handle.error(), None, "the app keeps running");
    let dead = handle.stats().dropped("p", DropReason::DeadLettered);
    handle.shutdown().await.unwrap();
    assert!(all, "every input commits");
    assert_eq!(out.len(), 19, "every other output is written");
    assert!(out.iter().all(|r| r.3.len() < 10));
    assert_eq!(dlq.len(), 1);
    let dl = &dlq[0];
    assert_eq!(dl.value, None, "no value: it was the problem");
    assert_eq!(
        dl.header(names::VALUE_DROPPED),
        Some("1500002"),
        "the JSON string's size"
    );
    assert_eq!(dl.header(names::ERROR_KIND), Some("produce"));
    assert_eq!(dl.header(names::OUTPUT_TOPIC), Some(output.as_str()));
    assert_eq!(dl.header(names::ORIGINAL_TOPIC), Some(input.as_str()));
    assert_eq!(dl.header(names::ORIGINAL_OFFSET), Some("7"));
    assert!(
        dl.header(names::ERROR_MESSAGE).unwrap().contains("too large"),
        "{:?}",
        dl.header(names::ERROR_MESSAGE)
    );
    assert_eq!(dead, 1, "counted");
}

fn double(values: Flow<u64>) -> Flow<u64> {
    values.map(|v| v * 2)
}

/// The broker rejecting a batch for good (its size limit: injected on the embedded
/// broker) reaches kflow through delivery reports: those records are dead-lettered, the
/// rest written, everything commits, and the app goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_the_broker_rejects_for_good_are_dead_lettered_and_the_app_goes_on() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("rej-in"), unique("rej-out"));
    create(&t, &input, 1).await;
    create(&t, &output, 1).await;
    produce(&t, &input, numbers(0..200)).await;
    t.embedded_broker()
        .unwrap()
        .inject_produce_errors(&[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE])
        .unwrap();
    let app_id = unique("rej-app");
    let mut handle = start_app(&t, &app_id, |app| {
        app.processor(props(
            Processor::new("p", double).input([input.as_str()]).output(&output),
        ))
    })
    .await;
    let group = format!("{app_id}-p");
    let all = committed_reaches(&t, &group, &input, 1, 200, Duration::from_secs(60)).await;
    let stopped = handle.error().map(str::to_string);
    let dead = handle.stats().dropped("p", DropReason::DeadLettered);
    handle.shutdown().await.unwrap();
    assert!(all, "every input commits");
    assert_eq!(stopped, None, "the app keeps running");
    let out: Vec<u64> = read(&t, &output, 200, Duration::from_secs(10))
        .iter()
        .map(|r| r.3.parse::<u64>().unwrap() / 2)
        .collect();
    let dlq = read_full(&t, &format!("{input}.dlq"), dead as usize, Duration::from_secs(10));
    assert!(dead >= 1, "the rejected batch was dead-lettered");
    assert_eq!(dlq.len() as u64, dead);
    let mut accounted: Vec<u64> = out.clone();
    accounted.extend(
        dlq.iter()
            .map(|d| d.header(names::ORIGINAL_OFFSET).unwrap().parse::<u64>().unwrap()),
    );
    accounted.sort();
    assert_eq!(
        accounted,
        (0..200).collect::<Vec<_>>(),
        "each input once: an output or a dead letter"
    );
    assert!(dlq
        .iter()
        .all(|d| d.value.is_none() && d.header(names::ERROR_KIND) == Some("produce")));
}
