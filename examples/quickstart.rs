//! Quickstart: page views per user per minute, on Kafka.
//!
//! Writes sample page views (five users, five minutes of event time) to `page-views`,
//! runs a processor that groups them by user into one-minute tumbling windows and counts
//! them, prints each window result as a listener receives it, and exits.
//!
//! `cargo run --example quickstart` runs on an embedded Kafka-protocol broker in this
//! process (no set-up). Set `KAFKA_BROKERS=host:port` to run against a real cluster.

use std::sync::Mutex;
use std::time::Duration;

use kflow::kafka::{KafkaTransport, ProduceRecord, ProducerOptions, TopicSettings, TypedProducer};
use kflow::prelude::*;

/// A page view as it arrives on `page-views`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PageView {
    user: String,
    page: String,
}

/// What the processor writes to `views-per-minute`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserMinute {
    user: String,
    minute_start_ms: i64,
    views: u64,
}

/// The pipeline: drop health checks, group by user (through a repartition topic), count
/// per minute.
#[kflow::processor(input = "page-views", output = "views-per-minute")]
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

/// Event times start here (2023-11-14 22:14 UTC, a whole minute); Kafka clients read a
/// timestamp of 0 as "now", so sample data avoids it.
const BASE: i64 = 1_700_000_040_000;
/// Window results as the listener received them.
static ROWS: Mutex<Vec<UserMinute>> = Mutex::new(Vec::new());

/// Prints nothing yet: collects each result for the table at the end.
#[kflow::listener(topics = "views-per-minute")]
async fn print(row: UserMinute, _meta: Meta) {
    ROWS.lock().expect("rows").push(row);
}

const USERS: [&str; 5] = ["ana", "ben", "chen", "dara", "eli"];
const PAGES: [&str; 4] = ["/", "/cart", "/checkout", "/health"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "kflow=info,kflow_core=warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let transport = KafkaTransport::from_env_or_embedded()?;
    println!("running on {}", transport.describe());
    let admin = transport.kafka_admin();
    admin
        .create_topics(&[TopicSettings::new().partitions(3).topic("page-views")])
        .await?;

    // Sample input: one view every 700 ms of event time for five minutes, then one more
    // view per user at minute 7, which (as newer data does in a live stream) moves stream
    // time past minutes 0 to 4 so their windows close.
    let mut views: Vec<(i64, PageView)> = (0..430i64)
        .map(|i| {
            (
                BASE + i * 700,
                PageView {
                    user: USERS[(i * 7 % 5) as usize].into(),
                    page: PAGES[(i % 4) as usize].into(),
                },
            )
        })
        .collect();
    views.extend(USERS.iter().map(|u| {
        (
            BASE + 7 * 60_000,
            PageView {
                user: u.to_string(),
                page: "/".into(),
            },
        )
    }));
    let producer = TypedProducer::<String, PageView>::json(transport.config(), ProducerOptions::new())?;
    let records = views.iter().map(|(ts, view)| {
        ProduceRecord::new("page-views", view.clone())
            .key(view.user.clone())
            .timestamp(*ts)
    });
    for sent in producer.send_batch(records).await {
        sent?;
    }
    println!("wrote {} page views to `page-views`", views.len());

    let handle = App::new("quickstart")
        .transport(transport.clone())
        .commit_interval(Duration::from_millis(200))
        .processor(views_per_minute)
        .listener(print)
        .start()
        .await?;

    // Every view but the health checks, in windows that closed.
    let expected: u64 = (0..430).filter(|i| i % 4 != 3).count() as u64;
    let counted = || ROWS.lock().expect("rows").iter().map(|r| r.views).sum::<u64>();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while counted() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown().await?;

    let mut rows = ROWS.lock().expect("rows").clone();
    rows.sort_by(|a, b| (a.minute_start_ms, &a.user).cmp(&(b.minute_start_ms, &b.user)));
    println!("\n{:<6} {:>8} {:>6}", "user", "minute", "views");
    for row in &rows {
        println!(
            "{:<6} {:>8} {:>6}",
            row.user,
            (row.minute_start_ms - BASE) / 60_000,
            row.views
        );
    }
    let total: u64 = rows.iter().map(|r| r.views).sum();
    let health = (0..430).filter(|i| i % 4 == 3).count();
    println!(
        "\n{} windows closed, {total} views counted, {health} health checks filtered out",
        rows.len()
    );
    let lag = admin.group_lag("quickstart-views_per_minute", &["page-views"]).await?;
    let committed: i64 = lag.iter().filter_map(|l| l.committed.map(|o| o.0)).sum();
    let repartition = "quickstart-views_per_minute-repartition";
    let lag = admin.group_lag("quickstart-views_per_minute", &[repartition]).await?;
    let (done, written): (i64, i64) = lag
        .iter()
        .fold((0, 0), |(c, e), l| (c + l.committed.map_or(0, |o| o.0), e + l.end.0));
    println!(
        "committed {committed} of {} input offsets and {done} of {written} offsets of `{repartition}` (the open minute-7 windows hold none: their counts are in `quickstart-views_per_minute-window-changelog`)",
        views.len()
    );
    anyhow::ensure!(
        total == expected,
        "expected {expected} views in closed windows, counted {total}"
    );
    Ok(())
}
