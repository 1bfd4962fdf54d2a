//! raw-metrics → processed-metrics: filter, map and batch, with the app's own metrics
//! served on `/metrics` and printed at the end.
//!
//! `cargo run --example metrics_pipeline` (embedded broker; `--brokers host:port` or
//! `KAFKA_BROKERS` for a real cluster).

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kflow::prelude::*;
use kflow::prometheus::Prometheus;

/// A sample as hosts send it: a gauge in bytes or a percentage.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawMetric {
    host: String,
    name: String,
    value: f64,
}

/// What the pipeline writes: megabytes, rounded, tagged with the host's datacenter.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Metric {
    host: String,
    datacenter: String,
    name: String,
    value: f64,
}

/// Drop invalid samples, convert units, and write in batches of up to 50 (or every 500 ms).
#[kflow::processor(input = "raw-metrics", output = "processed-metrics")]
fn process(raw: Flow<RawMetric>) -> Flow<Vec<Metric>> {
    raw.filter(|m| m.value.is_finite() && m.value >= 0.0)
        .map(|m| {
            let (name, value) = match m.name.strip_suffix("_bytes") {
                Some(base) => (format!("{base}_mb"), (m.value / 1_048_576.0 * 10.0).round() / 10.0),
                None => (m.name, m.value),
            };
            let datacenter = if m.host.ends_with(['1', '2']) { "fra" } else { "ams" };
            Metric {
                datacenter: datacenter.into(),
                host: m.host,
                name,
                value,
            }
        })
        .batch(50, Duration::from_millis(500))
}

static BATCHES: AtomicUsize = AtomicUsize::new(0);
static METRICS: AtomicUsize = AtomicUsize::new(0);

#[kflow::listener(topics = "processed-metrics")]
async fn store(batch: Vec<Metric>) {
    if BATCHES.fetch_add(1, Ordering::SeqCst) == 0 {
        println!("first batch: {} metrics, e.g. {:?}", batch.len(), batch[0]);
    }
    METRICS.fetch_add(batch.len(), Ordering::SeqCst);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::logs();
    let t = common::transport()?;
    common::topic(&t, "raw-metrics", 2).await?;
    let samples = (0..1_000).map(|i| {
        let host = format!("host-{}", i % 4 + 1);
        let (name, value) = match i % 5 {
            0 => ("mem_used_bytes", 3.5e9 + i as f64 * 1e6),
            1 => ("disk_free_bytes", 1.2e11),
            2 => ("cpu_percent", (i % 100) as f64),
            3 => ("cpu_percent", -1.0),      // a broken sensor: filtered out
            _ => ("net_in_bytes", f64::NAN), // JSON has no NaN: written as null, undecodable
        };
        let raw = RawMetric {
            host: host.clone(),
            name: name.into(),
            value,
        };
        (host, raw, common::BASE + i * 100)
    });
    let n = common::produce(&t, "raw-metrics", samples).await?;
    println!("wrote {n} raw samples to `raw-metrics`");

    let prometheus = Prometheus::on("127.0.0.1:0");
    let metrics_addr = prometheus.local_addr();
    let handle = App::new("metrics-pipeline")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .service(prometheus)
        .processor(process)
        .listener(store)
        .start()
        .await?;
    common::wait_until(Duration::from_secs(60), || METRICS.load(Ordering::SeqCst) >= 600).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // one more commit
    let page = match metrics_addr.get() {
        Some(addr) => {
            reqwest::get(format!("http://{addr}/metrics"))
                .await
                .and_then(|r| r.error_for_status())?
                .text()
                .await?
        }
        None => String::new(),
    };
    let stats = handle.stats().clone();
    handle.shutdown().await?;

    println!(
        "\n{} metrics in {} batches; {} samples filtered, {} dead-lettered (null values)",
        METRICS.load(Ordering::SeqCst),
        BATCHES.load(Ordering::SeqCst),
        stats.dropped("process", DropReason::Filtered),
        stats.dropped("process", DropReason::DeadLettered),
    );
    println!("\nfrom /metrics:");
    for line in page.lines().filter(|l| {
        !l.starts_with('#')
            && l.contains("processor=\"process\"")
            && (l.starts_with("kflow_records_") || l.starts_with("kflow_dead_letters"))
    }) {
        println!("  {line}");
    }
    if METRICS.load(Ordering::SeqCst) != 600 {
        anyhow::bail!("expected 600 processed metrics");
    }
    Ok(())
}
