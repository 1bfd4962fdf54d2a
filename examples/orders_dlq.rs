//! Poison pills and handler failures end in `orders.dlq` with headers saying why; after a
//! fix, the dead letters are replayed to `orders` and handled.
//!
//! `cargo run --example orders_dlq` (embedded broker; `--brokers host:port` or
//! `KAFKA_BROKERS` for a real cluster).

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kflow::plumbing::transport::Transport;
use kflow::policy::{names, Replay};
use kflow::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u32,
    sku: String,
    quantity: u32,
}

/// Before the fix, the warehouse service rejects unknown SKUs ("sku-9").
static FIXED: AtomicBool = AtomicBool::new(false);
static SHIPPED: AtomicUsize = AtomicUsize::new(0);

/// Retried 3 times in place (50 ms, then 100 ms), then dead-lettered.
#[kflow::listener(topics = "orders",
                  on_error = retry(max_attempts = 3, backoff = exponential(50ms, 2.0)).then_dead_letter())]
async fn ship(order: Order) -> Result<(), HandlerError> {
    if order.sku == "sku-9" && !FIXED.load(Ordering::SeqCst) {
        return Err(format!("warehouse does not know {}", order.sku).into());
    }
    SHIPPED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::logs();
    let t = common::transport()?;
    common::topic(&t, "orders", 2).await?;
    let orders = (0..40u32).map(|id| {
        let order = Order {
            id,
            sku: format!("sku-{}", id % 10),
            quantity: 1 + id % 3,
        };
        (format!("order-{id}"), order, common::BASE + i64::from(id) * 1_000)
    });
    let n = common::produce(&t, "orders", orders).await?;
    // Two poison pills: not JSON, and JSON of the wrong shape.
    common::produce_raw(
        &t,
        "orders",
        &[("order-41", b"<order id=41/>"), ("order-42", br#"{"id":"42"}"#)],
    )
    .await?;
    println!("wrote {n} orders and 2 poison pills to `orders`");

    let handle = App::new("orders-dlq")
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .listener(ship)
        .start()
        .await?;
    common::wait_until(Duration::from_secs(60), || {
        handle.stats().dropped("ship", DropReason::DeadLettered) >= 6
    })
    .await;
    println!("\nshipped {}; in `orders.dlq`:", SHIPPED.load(Ordering::SeqCst));
    let dead = read_dead_letters(&t, 6).await?;
    for r in &dead {
        let h = |n: &str| r.headers.get_str(n).unwrap_or("-").to_string();
        println!(
            "  {:<9} {:<15} attempts {} from {}-{}@{}: {}",
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()),
            h(names::ERROR_KIND),
            h(names::ATTEMPTS),
            h(names::ORIGINAL_TOPIC),
            h(names::ORIGINAL_PARTITION),
            h(names::ORIGINAL_OFFSET),
            h(names::ERROR_MESSAGE),
        );
    }

    // The fix ships (the warehouse learned sku-9): replay the dead letters. The poison
    // pills fail again and go back to `orders.dlq`; the replay leaves those for next time.
    FIXED.store(true, Ordering::SeqCst);
    let report = Replay::new("orders.dlq")
        .idle_timeout(Duration::from_secs(2))
        .run(&t)
        .await?;
    println!("\nreplayed {} dead letters to {:?}", report.replayed, report.by_topic);
    common::wait_until(Duration::from_secs(30), || SHIPPED.load(Ordering::SeqCst) >= 40).await;
    // The poison pills come back as dead letters again: they need a fix of the data.
    common::wait_until(Duration::from_secs(30), || {
        handle.stats().dropped("ship", DropReason::DeadLettered) >= 8
    })
    .await;
    let stats = handle.stats().clone();
    handle.shutdown().await?;
    println!(
        "shipped {} of 40 orders; {} dead letters in all (the 2 poison pills twice)",
        SHIPPED.load(Ordering::SeqCst),
        stats.dropped("ship", DropReason::DeadLettered)
    );
    if SHIPPED.load(Ordering::SeqCst) != 40 {
        anyhow::bail!("not every order shipped");
    }
    Ok(())
}

/// The first `n` records of `orders.dlq`, read with a throwaway consumer group.
async fn read_dead_letters(t: &kflow::kafka::KafkaTransport, n: usize) -> kflow::Result<Vec<kflow::RawRecord>> {
    use futures::StreamExt;
    use kflow::plumbing::transport::{ConsumerConfig, GroupEvent};
    let mut consumer = t.consumer(ConsumerConfig {
        client_id: "orders-dlq-reader".into(),
        ..ConsumerConfig::new("orders-dlq-reader")
    })?;
    consumer.subscribe(&["orders.dlq".to_string()])?;
    let mut streams = futures::stream::SelectAll::new();
    let mut out = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    while out.len() < n {
        tokio::select! {
            event = consumer.next_event() => {
                if let GroupEvent::Assigned(parts) = event? {
                    streams.extend(parts.into_iter().map(|p| p.records));
                }
            }
            Some(r) = streams.next(), if !streams.is_empty() => out.push(r),
            _ = &mut deadline => break,
        }
    }
    consumer.close().await;
    Ok(out)
}
