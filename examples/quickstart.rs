//! Quickstart: page views per user per minute.
//!
//! Writes a few hundred sample page views (five users, five minutes of event time) to the
//! `page-views` topic, runs a processor that groups them by user into one-minute tumbling
//! windows and counts them, prints every window result, and exits.
//!
//! Run it with `cargo run --example quickstart`. It runs on kflow's in-memory broker (no
//! set-up); the Kafka connector will run the same code on a broker.

use std::time::Duration;

use kflow::prelude::*;
use kflow::transport::memory::MemoryBroker;
use kflow::transport::OutRecord;

/// A page view as it arrives on `page-views`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PageView {
    user: String,
    page: String,
}

/// What the processor writes to `views-per-minute`.
#[derive(Debug, Serialize, Deserialize)]
struct UserMinute {
    user: String,
    minute_start_ms: i64,
    views: u64,
}

/// The pipeline: group by user (through a repartition topic), count per minute.
fn views_per_minute(views: Flow<PageView>) -> Flow<UserMinute> {
    views
        .filter(|v| !v.page.starts_with("/health"))
        .group_by(|v| v.user.clone())
        .window(Tumbling::of(Duration::from_secs(60)).grace(Duration::from_secs(5)))
        .count()
        .map(|w| UserMinute {
            user: w.key,
            minute_start_ms: w.window.start,
            views: w.value,
        })
}

const USERS: [&str; 5] = ["ana", "ben", "chen", "dara", "eli"];
const PAGES: [&str; 4] = ["/", "/cart", "/checkout", "/health"];

#[tokio::main]
async fn main() -> kflow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "kflow=info".into()))
        .init();

    let broker = MemoryBroker::new();
    broker.create_topic("page-views", 3)?;
    // Sample input: one view every 700 ms of event time, for five minutes.
    let mut written = 0;
    for i in 0..430i64 {
        let view = PageView {
            user: USERS[(i * 7 % 5) as usize].into(),
            page: PAGES[(i % 4) as usize].into(),
        };
        let value = serde_json::to_vec(&view).expect("json");
        broker.produce(
            OutRecord::new("page-views", value)
                .with_key(view.user.clone())
                .with_timestamp(i * 700),
        )?;
        written += 1;
    }
    println!("wrote {written} page views to `page-views`");

    let app = App::new("quickstart")
        .transport(broker.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(
            Processor::new("views-per-minute", views_per_minute)
                .input(["page-views"])
                .output("views-per-minute"),
        );
    let handle = app.start().await?;

    // The input is finite: once it is consumed, move stream time past the last window so
    // every window closes (a live stream closes them as newer records arrive).
    wait_until(|| broker.records("quickstart-views-per-minute-repartition").len() >= expected_repartitioned(written))
        .await;
    handle.advance_stream_time(10 * 60_000);
    let counted = |b: &MemoryBroker| -> usize {
        b.records("views-per-minute")
            .iter()
            .filter_map(|r| serde_json::from_slice::<UserMinute>(r.value.as_deref()?).ok())
            .map(|m| m.views as usize)
            .sum()
    };
    wait_until(|| counted(&broker) >= expected_repartitioned(written)).await;
    handle.commit_now().await;

    let mut rows: Vec<UserMinute> = broker
        .records("views-per-minute")
        .iter()
        .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok())
        .collect();
    rows.sort_by(|a, b| (a.minute_start_ms, &a.user).cmp(&(b.minute_start_ms, &b.user)));
    println!("\n{:<6} {:>8} {:>6}", "user", "minute", "views");
    for row in &rows {
        println!("{:<6} {:>8} {:>6}", row.user, row.minute_start_ms / 60_000, row.views);
    }
    let total: u64 = rows.iter().map(|r| r.views).sum();
    let health = (0..written).filter(|i| i % 4 == 3).count();
    println!(
        "\n{} windows, {total} views counted, {health} health checks filtered out",
        rows.len()
    );
    handle.shutdown().await?;
    let committed: i64 = (0..3)
        .filter_map(|p| broker.committed("quickstart-views-per-minute", &TopicPartition::new("page-views", p)))
        .map(|o| o.0)
        .sum();
    println!("committed {committed} of {written} input offsets");
    Ok(())
}

/// Views that pass the filter (every 4th is a health check).
fn expected_repartitioned(written: i64) -> usize {
    (0..written).filter(|i| i % 4 != 3).count()
}

/// Polls `done` every 10 ms, for at most 10 s.
async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
