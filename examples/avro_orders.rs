//! Avro orders through a schema registry.
//!
//! Writes 200 orders as Avro (Confluent wire format, schema registered under
//! `orders-value`) plus two corrupt payloads, runs a processor that keeps the orders of
//! 100 euros and more and writes them as Avro to `big-orders` (schema registered at
//! start-up), prints what a listener reads back, and where the corrupt payloads went.
//!
//! Needs a Confluent-compatible schema registry: `SCHEMA_REGISTRY_URL`, e.g.
//! `rivven-schema serve --host 127.0.0.1 --port 8081` and
//! `SCHEMA_REGISTRY_URL=http://127.0.0.1:8081 cargo run --example avro_orders`.
//! Kafka is the embedded broker unless `KAFKA_BROKERS` is set.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kflow::kafka::{KafkaTransport, ProduceRecord, ProducerOptions, TypedProducer};
use kflow::prelude::*;
use kflow::schema_registry::apache_avro::{self, AvroSchema};
use kflow::schema_registry::Avro;

/// An order, with its Avro schema derived from the type (record `shop.Order`).
#[derive(Debug, Clone, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "shop")]
struct Order {
    id: i64,
    customer: String,
    cents: i64,
}

/// Orders of 100 euros and more, in Avro in and out.
#[kflow::processor(input = "orders", output = "big-orders", value_format = avro)]
fn big_orders(orders: Flow<Order>) -> Flow<Order> {
    orders.filter(|o| o.cents >= 10_000)
}

static BIG: AtomicU64 = AtomicU64::new(0);
static BIG_CENTS: AtomicU64 = AtomicU64::new(0);

/// Reads the Avro output back.
#[kflow::listener(topics = "big-orders", value_format = avro)]
async fn audit(order: Order) {
    if BIG.fetch_add(1, Ordering::SeqCst) < 3 {
        println!(
            "  big order {:>3} from {:<5} {:>7.2} EUR",
            order.id,
            order.customer,
            order.cents as f64 / 100.0
        );
    }
    BIG_CENTS.fetch_add(order.cents as u64, Ordering::SeqCst);
}

const CUSTOMERS: [&str; 4] = ["ana", "ben", "chen", "dara"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "kflow=info,kflow_core=warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if std::env::var("SCHEMA_REGISTRY_URL").is_err() {
        eprintln!("avro_orders needs a schema registry: start one with `rivven-schema serve --host 127.0.0.1 --port 8081` (cargo install rivven-schema --version 0.0.22 --locked), then run with SCHEMA_REGISTRY_URL=http://127.0.0.1:8081");
        std::process::exit(2);
    }
    let transport = KafkaTransport::from_env_or_embedded()?;
    println!(
        "running on {}, registry at {}",
        transport.describe(),
        std::env::var("SCHEMA_REGISTRY_URL").unwrap_or_default()
    );
    common::topic(&transport, "orders", 2).await?;

    // Input: 200 orders as Avro, written with the same codec the processor reads with.
    let producer = TypedProducer::new(
        transport.config(),
        ProducerOptions::new(),
        Utf8,
        Avro::<Order>::from_env(),
    )?;
    let mut expected_cents = 0u64;
    let mut expected = 0u64;
    for id in 0..200i64 {
        let order = Order {
            id,
            customer: CUSTOMERS[id as usize % 4].into(),
            cents: (id * 7_919) % 25_000,
        };
        if order.cents >= 10_000 {
            expected += 1;
            expected_cents += order.cents as u64;
        }
        let key = order.customer.clone();
        producer.send(ProduceRecord::new("orders", order).key(key)).await?;
    }
    // Two corrupt payloads: not the Confluent magic byte, and a schema id nobody registered.
    let corrupt: [(&str, &[u8]); 2] = [("bad-1", b"{\"id\": 1}"), ("bad-2", &[0u8, 0, 0x0f, 0x42, 0x40, 2])];
    common::produce_raw(&transport, "orders", &corrupt).await?;
    println!("wrote 200 Avro orders and 2 corrupt payloads to `orders`");

    let handle = App::new("avro-orders")
        .transport(transport.clone())
        .commit_interval(Duration::from_millis(200))
        .processor(big_orders)
        .listener(audit)
        .start()
        .await?;
    common::wait_until(Duration::from_secs(60), || {
        BIG.load(Ordering::SeqCst) >= expected && handle.stats().dropped("big_orders", DropReason::DeadLettered) >= 2
    })
    .await;
    let stats = handle.stats().clone();
    handle.shutdown().await?;

    let (big, cents) = (BIG.load(Ordering::SeqCst), BIG_CENTS.load(Ordering::SeqCst));
    println!(
        "\n{big} big orders read back from `big-orders` ({:.2} EUR in all)",
        cents as f64 / 100.0
    );
    println!(
        "{} orders filtered out, {} corrupt payloads in `orders.dlq`",
        stats.dropped("big_orders", DropReason::Filtered),
        stats.dropped("big_orders", DropReason::DeadLettered)
    );
    anyhow::ensure!(
        big == expected && cents == expected_cents,
        "expected {expected} big orders, read {big}"
    );
    Ok(())
}
