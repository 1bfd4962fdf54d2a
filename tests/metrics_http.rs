//! `/metrics`, `/health/live` and `/health/ready` over HTTP after a run on the embedded
//! broker: the values match what the test produced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kflow::kafka::KafkaTransport;
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prelude::*;
use kflow::prometheus::Prometheus;

fn evens(numbers: Flow<u64>) -> Flow<u64> {
    numbers.filter(|n| n % 2 == 0).map(|n| n * 10)
}

/// The value of the sample `name{labels}` in a Prometheus text page (labels in any order).
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let wanted = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (metric == name && wanted).then(|| value.parse().ok())?
    })
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the metrics server answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

static SLOW: AtomicBool = AtomicBool::new(false);
static SLOW_CALL_STARTED: AtomicBool = AtomicBool::new(false);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_reflect_the_run() {
    let t = KafkaTransport::embedded().unwrap();
    let admin = t.admin();
    for topic in ["m-numbers", "m-evens"] {
        admin.create_topic(NewTopic::new(topic, 2)).await.unwrap();
    }
    let producer = t.producer().unwrap();
    for i in 0..100u64 {
        let value = if i % 25 == 24 {
            "oops".to_string()
        } else {
            i.to_string()
        };
        producer
            .send(
                OutRecord::new("m-numbers", value).with_key(format!("k{i}")),
                Ack::none(),
            )
            .await
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).await.unwrap();

    let prometheus = Prometheus::on("127.0.0.1:0");
    let addr = prometheus.local_addr();
    let listener = Listener::new("m_sink", ["m-evens"], |_v: u64, _m: Meta| async {
        if SLOW.load(Ordering::SeqCst) {
            SLOW_CALL_STARTED.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok::<(), HandlerError>(())
    })
    .property("statistics.interval.ms", "200");
    let handle = App::new("metrics-test")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .service(prometheus)
        .processor(
            Processor::new("m_evens", evens)
                .input(["m-numbers"])
                .output("m-evens")
                .property("statistics.interval.ms", "200"),
        )
        .listener(listener)
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", addr.get().expect("bound"));

    // 100 inputs: 4 poison pills, 48 evens, 48 odds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let (_, page) = get(&format!("{base}/metrics")).await;
        let handled = sample(
            &page,
            "kflow_handler_duration_seconds_count",
            &[("processor", "m_sink")],
        );
        let lag_known = sample(&page, "kflow_consumer_lag", &[("group", "metrics-test-m_evens")]).is_some();
        let committed = sample(&page, "kflow_committed_offset", &[("group", "metrics-test-m_sink")]).is_some();
        if (handled == Some(48.0) && lag_known && committed) || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, body) = get(&format!("{base}/health/ready")).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(get(&format!("{base}/health/live")).await.0, 200);

    let v = |name: &str, labels: &[(&str, &str)]| {
        sample(&page, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in\n{page}"))
    };
    assert_eq!(
        v(
            "kflow_records_in_total",
            &[("processor", "m_evens"), ("topic", "m-numbers")]
        ),
        100.0
    );
    assert_eq!(
        v(
            "kflow_records_out_total",
            &[("processor", "m_evens"), ("topic", "m-evens")]
        ),
        48.0
    );
    assert_eq!(
        v(
            "kflow_records_dropped_total",
            &[("processor", "m_evens"), ("reason", "filtered")]
        ),
        48.0
    );
    assert_eq!(
        v(
            "kflow_records_dropped_total",
            &[("processor", "m_evens"), ("reason", "dead_lettered")]
        ),
        4.0
    );
    assert_eq!(
        v(
            "kflow_dead_letters_total",
            &[("processor", "m_evens"), ("topic", "m-numbers.dlq")]
        ),
        4.0
    );
    assert_eq!(
        v(
            "kflow_records_in_total",
            &[("processor", "m_sink"), ("topic", "m-evens")]
        ),
        48.0
    );
    assert_eq!(
        v("kflow_handler_duration_seconds_count", &[("processor", "m_sink")]),
        48.0
    );
    assert!(v("kflow_commits_total", &[("group", "metrics-test-m_evens")]) >= 1.0);
    assert_eq!(
        v("kflow_partitions_assigned", &[("group", "metrics-test-m_evens")]),
        2.0
    );
    assert_eq!(
        v(
            "kflow_rebalances_total",
            &[("group", "metrics-test-m_evens"), ("event", "assigned")]
        ),
        1.0
    );
    let committed: f64 = (0..2)
        .map(|p| {
            let p = p.to_string();
            sample(
                &page,
                "kflow_committed_offset",
                &[
                    ("group", "metrics-test-m_evens"),
                    ("topic", "m-numbers"),
                    ("partition", &p),
                ],
            )
            .unwrap_or(0.0)
        })
        .sum();
    assert_eq!(committed, 100.0, "every input committed");
    let lag: f64 = (0..2)
        .filter_map(|p| {
            let p = p.to_string();
            sample(
                &page,
                "kflow_consumer_lag",
                &[
                    ("group", "metrics-test-m_evens"),
                    ("topic", "m-numbers"),
                    ("partition", &p),
                ],
            )
        })
        .sum();
    assert_eq!(lag, 0.0, "caught up");
    assert_eq!(v("kflow_in_flight_records", &[("processor", "m_evens")]), 0.0);

    // During shutdown the app is not ready: a slow handler keeps the drain going.
    SLOW.store(true, Ordering::SeqCst);
    producer
        .send(OutRecord::new("m-numbers", "2000"), Ack::none())
        .await
        .unwrap();
    producer.flush(Duration::from_secs(10)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !SLOW_CALL_STARTED.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        SLOW_CALL_STARTED.load(Ordering::SeqCst),
        "the slow handler call started"
    );
    let stopping = tokio::spawn(handle.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = get(&format!("{base}/health/ready")).await;
    assert_eq!((status, body.as_str()), (503, "not ready: shutting down\n"));
    stopping.await.unwrap().unwrap();
    assert!(
        reqwest::get(format!("{base}/health/live")).await.is_err(),
        "the server stops with the app"
    );
}
