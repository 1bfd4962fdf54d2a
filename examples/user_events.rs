//! A listener with metadata: user events from a 3-partition topic, handled with
//! `concurrency = 3`, each call seeing its key, headers, partition and offset.
//!
//! `cargo run --example user_events` (embedded broker; `--brokers host:port` or
//! `KAFKA_BROKERS` for a real cluster).

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use kflow::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserEvent {
    user: String,
    kind: String,
}

/// (partition, offset, user, kind) in the order the handler saw them.
static SEEN: Mutex<Vec<(i32, i64, String, String)>> = Mutex::new(Vec::new());

/// One call per record; up to 3 at once across partitions, in offset order within each.
#[kflow::listener(topics = "user-events", concurrency = 3)]
async fn on_user_event(event: UserEvent, key: Key<String>, meta: Meta, headers: Headers) -> Result<(), HandlerError> {
    if key.0 != event.user {
        return Err(format!("key {} does not match user {}", key.0, event.user).into());
    }
    let _trace = headers.get_str("trace-id");
    tokio::time::sleep(Duration::from_millis(5)).await; // pretend to call a service
    SEEN.lock()
        .unwrap()
        .push((meta.partition.0, meta.offset.0, event.user, event.kind));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::logs();
    let t = common::transport()?;
    common::topic(&t, "user-events", 3).await?;
    let users = ["ana", "ben", "chen", "dara", "eli", "fay"];
    let kinds = ["login", "view", "click", "logout"];
    let events = (0..60).map(|i| {
        let user = users[i % users.len()].to_string();
        let event = UserEvent {
            user: user.clone(),
            kind: kinds[i / users.len() % kinds.len()].into(),
        };
        (user, event, common::BASE + i as i64 * 1000)
    });
    let n = common::produce(&t, "user-events", events).await?;
    println!("wrote {n} user events to `user-events` (3 partitions, keyed by user)");

    let handle = App::new("user-events")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .listener(on_user_event)
        .start()
        .await?;
    common::wait_until(Duration::from_secs(60), || SEEN.lock().unwrap().len() >= n).await;
    handle.shutdown().await?;

    let seen = SEEN.lock().unwrap().clone();
    let mut per_user: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, _, user, kind) in &seen {
        per_user.entry(user).or_default().push(kind);
    }
    println!("\n{:<6} {:>9}  {:<}", "user", "partition", "events in order");
    for (user, kinds) in &per_user {
        let partition = seen.iter().find(|s| s.2 == *user).map(|s| s.0).unwrap_or_default();
        println!("{user:<6} {partition:>9}  {}", kinds.join(" → "));
    }
    let in_order = (0..3).all(|p| {
        let offsets: Vec<i64> = seen.iter().filter(|s| s.0 == p).map(|s| s.1).collect();
        offsets.windows(2).all(|w| w[0] < w[1])
    });
    println!(
        "\n{} events handled, offsets in order within each partition: {in_order}",
        seen.len()
    );
    if seen.len() != n || !in_order {
        anyhow::bail!("not every event was handled in order");
    }
    Ok(())
}
