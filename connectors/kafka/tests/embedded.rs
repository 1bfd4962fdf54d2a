//! The embedded broker: the default when no broker is configured, and the place to
//! inject produce errors and outages.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Processor};
use kflow_kafka::KafkaTransport;

fn shout(words: Flow<String>) -> Flow<String> {
    words.filter(|w| !w.is_empty()).map(|w| w.to_uppercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_runs_on_the_embedded_broker() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("in"), unique("out"));
    create(&t, &input, 2).await;
    produce(
        &t,
        &input,
        ["a", "", "b", "c"].map(|s| serde_json::to_string(s).unwrap()),
    )
    .await;
    let mut p = Processor::new("shout", shout).input([input.as_str()]).output(&output);
    for (k, v) in TEST_PROPS {
        p = p.property(k, v);
    }
    let app = App::new("emb")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(p);
    let handle = app.start().await.unwrap();
    let out = read(&t, &output, 3, Duration::from_secs(30));
    handle.shutdown().await.unwrap();
    let mut values: Vec<String> = out.into_iter().map(|r| r.3).collect();
    values.sort();
    assert_eq!(values, ["\"A\"", "\"B\"", "\"C\""]);
    let offsets = committed(&t, "emb-shout", &input, 2).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 4, "{offsets:?}");
}
