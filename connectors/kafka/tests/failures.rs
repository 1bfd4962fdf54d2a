//! Start-up errors, injected produce errors and a broker outage.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kflow_core::{App, Error, Flow, Processor};
use kflow_kafka::{KafkaConfig, KafkaTransport};
use rdkafka::types::RDKafkaRespErr;

#[test]
fn an_unreachable_broker_is_an_error_naming_it_within_the_bound() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let err = KafkaTransport::connect(KafkaConfig::new(&address).connect_timeout(Duration::from_secs(2)))
        .err()
        .expect("no broker there");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(err.to_string().contains(&address), "{err}");
}

#[test]
fn an_invalid_property_is_an_error_naming_the_key() {
    for (key, value) in [("no.such.property", "1"), ("acks", "banana")] {
        let err = KafkaConfig::new("127.0.0.1:9092")
            .property(key, value)
            .validate()
            .unwrap_err();
        assert!(matches!(&err, Error::Config { key: k, .. } if k == key), "{err}");
    }
}

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

async fn run_with(
    t: &KafkaTransport,
    input: &str,
    output: &str,
    n: u64,
    during: impl std::future::Future<Output = ()>,
) -> Vec<u64> {
    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(props(Processor::new("p", double).input([input]).output(output)));
    let handle = app.start().await.unwrap();
    produce(t, input, numbers(0..n / 2)).await;
    during.await;
    produce(t, input, numbers(n / 2..n)).await;
    let out = read(t, output, n as usize, Duration::from_secs(60));
    handle.shutdown().await.unwrap();
    let mut values: Vec<u64> = out.iter().map(|r| r.3.parse().unwrap()).collect();
    values.sort();
    values
}

/// Writes the input, then injects errors (the mock cluster fails the next produce
/// requests of any client), then starts the app: its output writes meet the errors.
async fn start_after_injecting(
    t: &KafkaTransport,
    input: &str,
    output: &str,
    n: u64,
    errors: &[RDKafkaRespErr],
) -> (String, kflow_core::AppHandle) {
    create(t, input, 1).await;
    create(t, output, 1).await;
    produce(t, input, numbers(0..n)).await;
    t.embedded_broker().unwrap().inject_produce_errors(errors).unwrap();
    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(props(Processor::new("p", double).input([input]).output(output)));
    let group = format!("{}-p", app.id());
    (group, app.start().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_produce_errors_are_retried_and_nothing_is_lost_or_duplicated() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("inj-in"), unique("inj-out"));
    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3];
    let (group, handle) = start_after_injecting(&t, &input, &output, 300, &errors).await;
    let out = read(&t, &output, 300, Duration::from_secs(60));
    handle.shutdown().await.unwrap();
    let mut values: Vec<u64> = out.iter().map(|r| r.3.parse().unwrap()).collect();
    values.sort();
    assert_eq!(
        values,
        (0..300).map(|v| v * 2).collect::<Vec<_>>(),
        "all outputs, once each"
    );
    assert_eq!(committed(&t, &group, &input, 1).await[&0], Some(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_delays_but_loses_nothing() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("down-in"), unique("down-out"));
    create(&t, &input, 2).await;
    create(&t, &output, 2).await;
    let broker = t.embedded_broker().unwrap();
    let values = run_with(&t, &input, &output, 400, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        broker.set_down(true).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        broker.set_down(false).unwrap();
    })
    .await;
    let distinct: std::collections::BTreeSet<u64> = values.iter().copied().collect();
    assert_eq!(
        distinct,
        (0..400).map(|v| v * 2).collect(),
        "every input is in the output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_for_good_stops_the_app_and_commits_nothing_past_it() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("fail-in"), unique("fail-out"));
    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED];
    let (group, mut handle) = start_after_injecting(&t, &input, &output, 10, &errors).await;
    tokio::time::timeout(Duration::from_secs(30), handle.stopped())
        .await
        .expect("the app stops by itself");
    let err = handle.shutdown().await.unwrap_err();
    assert!(err.to_string().contains(&output), "names the topic: {err}");
    // The first write request carried the first records: nothing may be committed past
    // the first one that failed.
    let out = read(&t, &output, 10, Duration::from_secs(2)).len() as i64;
    let committed = committed(&t, &group, &input, 1).await[&0].unwrap_or(0);
    assert!(
        committed <= out,
        "committed {committed} but only {out} outputs were written"
    );
    assert!(committed < 10, "the failed record is not committed");
}
