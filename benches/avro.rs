//! Avro encode and decode throughput through kflow's codec (schemas cached, Confluent wire
//! format) beside apache-avro called directly on the same records, in the same run.
//!
//! `cargo bench --bench avro` registers the schema in the registry at
//! `KFLOW_TEST_SCHEMA_REGISTRY` (or starts `rivven-schema` on a free loopback port), then
//! prints records/s of each side (median of 7 interleaved runs of 200 000 records, one
//! thread) and the ratio kflow / direct. The registry is only used before the timed loops.

#[path = "../connectors/schema-registry/tests/common/registry.rs"]
mod registry;

use std::hint::black_box;
use std::time::Instant;

use kflow::codec::{Decode, Encode};
use kflow::schema_registry::apache_avro::{self, AvroSchema, Schema};
use kflow::schema_registry::{Avro, RegistryConfig, SchemaRegistry};
use serde::{Deserialize, Serialize};

const N: usize = 200_000;
const TOPIC: &str = "bench-orders";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "kflow.bench")]
struct Order {
    id: i64,
    customer: String,
    country: String,
    cents: i64,
    quantity: i32,
    paid: bool,
}

fn orders() -> Vec<Order> {
    (0..N as i64)
        .map(|i| Order {
            id: i,
            customer: format!("customer-{}", i % 977),
            country: ["DE", "FR", "NL", "PL"][(i % 4) as usize].into(),
            cents: (i * 7_919) % 25_000,
            quantity: (i % 9) as i32 + 1,
            paid: i % 3 != 0,
        })
        .collect()
}

/// One pass over the `N` records.
type Pass<'a> = dyn FnMut() -> usize + 'a;

/// Records per second of one pass over the `N` records.
fn rate(f: &mut Pass<'_>) -> f64 {
    let t = Instant::now();
    black_box(f());
    N as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo test --all-targets` runs this binary in test mode: only time under `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let registry = SchemaRegistry::new(RegistryConfig::new(&registry::url())).expect("registry client");
    let codec: Avro<Order> = registry.avro();
    codec
        .prepare(TOPIC)
        .expect("first use")
        .await
        .expect("schema registered");
    let schema: Schema = Order::get_schema();
    let input = orders();

    // Both sides produce the same Avro body; kflow adds the 5-byte header.
    let wire: Vec<Vec<u8>> = input
        .iter()
        .map(|o| codec.encode_to(TOPIC, o).unwrap().unwrap().to_vec())
        .collect();
    // The direct side uses apache-avro's fastest calls: serde straight to and from bytes.
    let direct = |o: &Order| {
        let mut buf = Vec::with_capacity(64);
        apache_avro::write_avro_datum_ref(&schema, o, &mut buf).unwrap();
        buf
    };
    let direct_bytes: Vec<Vec<u8>> = input.iter().map(direct).collect();
    assert_eq!(&wire[0][5..], &direct_bytes[0][..], "same body");
    // Fetch the writer schema once (what kflow does on the first record of an unknown id).
    if let Err(e) = codec.decode(Some(&wire[0])) {
        assert!(e.transient, "{e}");
        codec.fetch(Some(&wire[0])).unwrap().await.unwrap();
    }
    assert_eq!(
        codec.decode(Some(&wire[7])).unwrap(),
        input[7],
        "decodes from the cache now"
    );

    let mut kflow_encode = || {
        input
            .iter()
            .map(|o| codec.encode_to(TOPIC, o).unwrap().unwrap().len())
            .sum()
    };
    let mut direct_encode = || input.iter().map(|o| direct(o).len()).sum();
    let mut kflow_decode = || {
        wire.iter()
            .map(|b| codec.decode(Some(b)).unwrap().quantity as usize)
            .sum()
    };
    let mut direct_decode = || {
        direct_bytes
            .iter()
            .map(|b| {
                let value = apache_avro::from_avro_datum(&schema, &mut &b[..], None).unwrap();
                apache_avro::from_value::<Order>(&value).unwrap().quantity as usize
            })
            .sum()
    };
    let sides: [(&str, &mut Pass<'_>, &mut Pass<'_>); 2] = [
        ("encode", &mut kflow_encode, &mut direct_encode),
        ("decode", &mut kflow_decode, &mut direct_decode),
    ];
    println!(
        "\n{:<8} {:>14} {:>14} {:>8}",
        "avro", "kflow rec/s", "direct rec/s", "ratio"
    );
    for (name, kflow, direct) in sides {
        let (mut k, mut d) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            k.push(rate(kflow));
            d.push(rate(direct));
        }
        let (k, d) = (median(k), median(d));
        println!("{name:<8} {:>12.2} M {:>12.2} M {:>8.2}", k / 1e6, d / 1e6, k / d);
    }
}
