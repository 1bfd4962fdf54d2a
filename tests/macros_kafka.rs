//! `#[processor]` and `#[listener]` against the real broker: records in, records out,
//! offsets committed under the documented group ids. Topic names are literals in the
//! attributes, so this test needs a fresh broker (as `scripts/test.sh` and the test
//! harness provide).

#[path = "../connectors/kafka/tests/common/mod.rs"]
mod common;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;
use kflow::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
}

#[kflow::processor(input = "macro-readings", output = "macro-fahrenheit", properties = [("session.timeout.ms", "6000")])]
fn to_fahrenheit(readings: Flow<Reading>) -> Flow<f64> {
    readings
        .filter(|r| r.sensor != "broken")
        .map(|r| r.celsius * 9.0 / 5.0 + 32.0)
}

fn received() -> &'static Mutex<Vec<(f64, i32)>> {
    static R: OnceLock<Mutex<Vec<(f64, i32)>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

#[kflow::listener(topics = ["macro-fahrenheit"], group_id = "macro-printer", properties = [("session.timeout.ms", "6000")])]
async fn print(value: f64, meta: Meta) {
    received().lock().unwrap().push((value, meta.partition.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_functions_run_against_the_broker() {
    let t = real();
    create(&t, "macro-readings", 2).await;
    let readings = [("a", 0.0), ("broken", 99.0), ("b", 100.0), ("c", -40.0)];
    produce(
        &t,
        "macro-readings",
        readings.iter().map(|(s, c)| {
            serde_json::to_string(&Reading {
                sensor: s.to_string(),
                celsius: *c,
            })
            .unwrap()
        }),
    )
    .await;
    let app_id = unique("macros");
    let handle = App::new(&app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(to_fahrenheit)
        .listener(print)
        .start()
        .await
        .unwrap();
    let done = eventually(Duration::from_secs(60), || received().lock().unwrap().len() >= 3).await;
    handle.shutdown().await.unwrap();
    assert!(done, "the listener received the processor's outputs");
    let mut values: Vec<f64> = received().lock().unwrap().iter().map(|(v, _)| *v).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, [-40.0, 32.0, 212.0]);
    let inputs = committed(&t, &format!("{app_id}-to_fahrenheit"), "macro-readings", 2).await;
    assert_eq!(inputs.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 4, "{inputs:?}");
    let outputs = committed(&t, "macro-printer", "macro-fahrenheit", 2).await;
    assert_eq!(outputs.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 3, "{outputs:?}");
}
