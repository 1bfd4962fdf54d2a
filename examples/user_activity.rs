//! Two inputs, grouped by user, in one-minute tumbling windows: page views and orders
//! become one activity summary per user and minute.
//!
//! `cargo run --example user_activity` (embedded broker; `--brokers host:port` or
//! `KAFKA_BROKERS` for a real cluster).

#[path = "common/mod.rs"]
mod common;

use std::sync::Mutex;
use std::time::Duration;

use kflow::prelude::*;

/// What arrives on `page-views` and `orders` (each record says which it is).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Activity {
    View { user: String, page: String },
    Order { user: String, cents: u64 },
}

impl Activity {
    fn user(&self) -> &str {
        match self {
            Activity::View { user, .. } | Activity::Order { user, .. } => user,
        }
    }
}

/// One user's minute.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Summary {
    user: String,
    minute: i64,
    views: u32,
    orders: u32,
    cents: u64,
}

/// Both topics merge into one flow, are grouped by user (through a repartition topic) and
/// summed per minute; a window closes 10 s after its end, in event time.
#[kflow::processor(input = ["page-views", "orders"], output = "user-activity")]
fn user_activity(events: Flow<Activity>) -> Flow<Summary> {
    events
        .group_by(|e| e.user().to_string())
        .window(Tumbling::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
        .aggregate(Summary::default, |s, e| match e {
            Activity::View { .. } => s.views += 1,
            Activity::Order { cents, .. } => {
                s.orders += 1;
                s.cents += cents;
            }
        })
        .map(|w| Summary {
            user: w.key,
            minute: (w.window.start - common::BASE) / 60_000,
            ..w.value
        })
}

static ROWS: Mutex<Vec<Summary>> = Mutex::new(Vec::new());

#[kflow::listener(topics = "user-activity")]
async fn collect(summary: Summary) {
    ROWS.lock().unwrap().push(summary);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::logs();
    let t = common::transport()?;
    common::topic(&t, "page-views", 2).await?;
    common::topic(&t, "orders", 2).await?;
    let users = ["ana", "ben", "chen"];
    // Three minutes of activity.
    let views = (0..180).map(|i: i64| {
        let user = users[(i % 3) as usize].to_string();
        let view = Activity::View {
            user: user.clone(),
            page: format!("/p/{}", i % 7),
        };
        (user, view, common::BASE + i * 1_000)
    });
    let closers = users.iter().map(|u| {
        let view = Activity::View {
            user: u.to_string(),
            page: "/".into(),
        };
        (u.to_string(), view, common::BASE + 5 * 60_000)
    });
    let orders = (0..30).map(|i: i64| {
        let user = users[(i % 2) as usize].to_string();
        let order = Activity::Order {
            user: user.clone(),
            cents: 1_000 + i as u64 * 10,
        };
        (user, order, common::BASE + i * 6_000)
    });
    let handle = App::new("user-activity")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .processor(user_activity)
        .listener(collect)
        .start()
        .await?;
    // A live stream: both topics written in event-time order, a few records at a time.
    // (Stream time is the newest event time a task has seen, so records loaded long
    // before the app starts could be read out of order across the two topics.)
    let mut events: Vec<(&str, (String, Activity, i64))> = views
        .map(|v| ("page-views", v))
        .chain(orders.map(|o| ("orders", o)))
        .collect();
    events.sort_by_key(|(_, (_, _, ts))| *ts);
    for chunk in events.chunks(10) {
        for (topic, record) in chunk {
            common::produce(&t, topic, [record.clone()]).await?;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "wrote {} page views and orders over three minutes of event time",
        events.len()
    );
    // One view per user at minute 5 moves stream time on: minutes 0 to 2 close.
    common::produce(&t, "page-views", closers).await?;
    let total = || ROWS.lock().unwrap().iter().map(|r| r.views + r.orders).sum::<u32>();
    common::wait_until(Duration::from_secs(60), || total() >= 210).await;
    handle.shutdown().await?;

    let mut rows = ROWS.lock().unwrap().clone();
    rows.sort_by(|a, b| (a.minute, &a.user).cmp(&(b.minute, &b.user)));
    println!(
        "\n{:<6} {:>6} {:>6} {:>7} {:>9}",
        "user", "minute", "views", "orders", "EUR"
    );
    for r in &rows {
        println!(
            "{:<6} {:>6} {:>6} {:>7} {:>9.2}",
            r.user,
            r.minute,
            r.views,
            r.orders,
            r.cents as f64 / 100.0
        );
    }
    println!(
        "\n{} windows closed; minute 5 stays open (no later event closes it)",
        rows.len()
    );
    anyhow::ensure!(total() == 210, "expected 210 events in closed windows, got {}", total());
    Ok(())
}
