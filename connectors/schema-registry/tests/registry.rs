//! Avro and JSON Schema through a real Confluent-compatible registry (rivven-schema) and a
//! real broker (tansu): round trips, compatible evolution, a rejected incompatible schema,
//! corrupt payloads in the dead-letter topic, and an unreachable registry.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::AvroSchema;
use common::kafka::*;
use common::registry;
use kflow_core::ack::Ack;
use kflow_core::codec::{Decode, Encode};
use kflow_core::policy::names;
use kflow_core::transport::{OutRecord, Transport};
use kflow_core::{App, Error, Flow, HandlerError, Listener, Meta, Processor};
use kflow_kafka::KafkaTransport;
use kflow_schema_registry::{RegistryConfig, SchemaRegistry, SubjectNaming};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "kflow.test")]
struct Order {
    id: i64,
    cents: i64,
    customer: String,
}

fn registry() -> SchemaRegistry {
    SchemaRegistry::new(RegistryConfig::new(&registry::url())).unwrap()
}

/// Encodes `values` with `codec` for `topic` and writes them, keyed `k<i>`.
async fn produce_with<T, C: Encode<T>>(t: &KafkaTransport, topic: &str, codec: &C, values: &[T]) {
    if let Some(prepare) = codec.prepare(topic) {
        prepare.await.expect("schema registered");
    }
    let producer = t.producer().unwrap();
    for (i, v) in values.iter().enumerate() {
        let bytes = codec.encode_to(topic, v).expect("encoded").unwrap();
        let rec = OutRecord::new(topic, bytes).with_key(format!("k{i}"));
        producer.send(rec, Ack::none()).await.expect("queued");
    }
    producer.flush(Duration::from_secs(30)).await.expect("flushed");
}

/// Decodes raw record values with `codec`, fetching schemas as kflow does.
async fn decode_all<T, C: Decode<T>>(codec: &C, values: Vec<Vec<u8>>) -> Vec<T> {
    let mut out = Vec::new();
    for v in values {
        let decoded = match codec.decode(Some(&v)) {
            Err(e) if e.transient => {
                codec.fetch(Some(&v)).expect("a fetch").await.expect("fetched");
                codec.decode(Some(&v))
            }
            other => other,
        };
        out.push(decoded.expect("decodes"));
    }
    out
}

fn raw(t: &KafkaTransport, topic: &str, n: usize) -> Vec<Vec<u8>> {
    read_full(t, topic, n, Duration::from_secs(60))
        .into_iter()
        .map(|r| r.bytes.unwrap_or_default())
        .collect()
}

fn orders(n: i64) -> Vec<Order> {
    (0..n)
        .map(|i| Order {
            id: i,
            cents: 100 * i,
            customer: format!("c{}", i % 3),
        })
        .collect()
}

fn discount(orders: Flow<Order>) -> Flow<Order> {
    orders.map(|o| Order {
        cents: o.cents / 2,
        ..o
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_round_trips_through_a_processor_in_the_confluent_wire_format() {
    let (t, reg) = (real(), registry());
    let (input, output) = (unique("avro-in"), unique("avro-out"));
    create(&t, &input, 2).await;
    produce_with(&t, &input, &reg.avro::<Order>(), &orders(20)).await;

    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(props(
            Processor::with_codecs("discount", discount, reg.avro::<Order>(), reg.avro::<Order>())
                .input([input.as_str()])
                .output(&output),
        ));
    let group = format!("{}-discount", app.id());
    let handle = app.start().await.unwrap();
    let bytes = raw(&t, &output, 20);
    handle.shutdown().await.unwrap();

    assert_eq!(bytes.len(), 20);
    for b in &bytes {
        assert_eq!(b[0], 0, "magic byte");
    }
    let ids: std::collections::BTreeSet<u32> = bytes
        .iter()
        .map(|b| u32::from_be_bytes(b[1..5].try_into().unwrap()))
        .collect();
    assert_eq!(ids.len(), 1, "one registered schema id: {ids:?}");
    // A reader that knows nothing of kflow's types: the generic value codec.
    let generic = decode_all(&reg.avro_value(), bytes.clone()).await;
    assert!(matches!(&generic[0], apache_avro::types::Value::Record(fields) if fields.len() == 3));
    let mut got = decode_all(&reg.avro::<Order>(), bytes).await;
    got.sort_by_key(|o| o.id);
    let want: Vec<Order> = orders(20)
        .into_iter()
        .map(|o| Order {
            cents: o.cents / 2,
            ..o
        })
        .collect();
    assert_eq!(got, want);
    let committed: i64 = committed(&t, &group, &input, 2)
        .await
        .values()
        .map(|o| o.unwrap_or(0))
        .sum();
    assert_eq!(committed, 20);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Click {
    page: String,
    ms: u64,
}

const CLICK_SCHEMA: &str =
    r#"{"type":"object","properties":{"page":{"type":"string"},"ms":{"type":"integer"}},"required":["page","ms"]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_round_trips_and_invalid_values_are_not_written() {
    let (t, reg) = (real(), registry());
    let topic = unique("clicks");
    create(&t, &topic, 1).await;
    let codec = reg.json_schema::<Click>().schema(CLICK_SCHEMA);
    let clicks: Vec<Click> = (0..5)
        .map(|i| Click {
            page: format!("/p{i}"),
            ms: i * 10,
        })
        .collect();
    produce_with(&t, &topic, &codec, &clicks).await;

    let bytes = raw(&t, &topic, 5);
    assert_eq!(bytes[0][0], 0, "magic byte");
    assert_eq!(
        &bytes[0][5..],
        br#"{"ms":0,"page":"/p0"}"#,
        "JSON text after the header"
    );
    let back = decode_all(&reg.json_schema::<Click>(), bytes.clone()).await;
    assert_eq!(back, clicks);
    let generic = decode_all(&reg.json_schema::<serde_json::Value>(), bytes).await;
    assert_eq!(generic[1]["page"], "/p1");

    // A value the schema rejects is a serialization error, not a write.
    #[derive(Serialize)]
    struct NoMs {
        page: String,
    }
    let strict = reg.json_schema::<NoMs>().schema(CLICK_SCHEMA);
    strict.prepare(&topic).unwrap().await.unwrap();
    let err = strict.encode_to(&topic, &NoMs { page: "/x".into() }).unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
}

mod v1 {
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
    #[avro(namespace = "kflow.test.evolve")]
    pub struct Customer {
        pub id: i64,
        pub name: String,
    }
}

mod v2 {
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
    #[avro(namespace = "kflow.test.evolve")]
    pub struct Customer {
        pub id: i64,
        pub name: String,
        #[avro(default = "\"unknown\"")]
        pub tier: String,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_with_a_newer_compatible_schema_reads_old_records() {
    let (t, reg) = (real(), registry());
    let topic = unique("customers");
    create(&t, &topic, 1).await;
    let old = vec![v1::Customer {
        id: 1,
        name: "Ada".into(),
    }];
    produce_with(&t, &topic, &reg.avro::<v1::Customer>(), &old).await;
    // The new version registers (compatible: the new field has a default) and writes too.
    let new = vec![v2::Customer {
        id: 2,
        name: "Bob".into(),
        tier: "gold".into(),
    }];
    produce_with(&t, &topic, &reg.avro::<v2::Customer>(), &new).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut l = Listener::new("customers", [topic.as_str()], move |c: v2::Customer, _m: Meta| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(c);
            Ok::<(), HandlerError>(())
        }
    })
    .value_decoder(reg.avro::<v2::Customer>());
    for (k, v) in TEST_PROPS {
        l = l.property(k, v);
    }
    let handle = App::new(unique("app"))
        .transport(t.clone())
        .listener(l)
        .start()
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(30), || seen.lock().unwrap().len() == 2).await);
    handle.shutdown().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        v2::Customer {
            id: 1,
            name: "Ada".into(),
            tier: "unknown".into()
        },
        "the default fills in"
    );
    assert_eq!(seen[1].tier, "gold");
}

mod incompatible {
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
    #[avro(namespace = "kflow.test.incompatible")]
    pub struct Invoice {
        pub number: i64,
    }

    pub mod changed {
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
        #[avro(namespace = "kflow.test.incompatible")]
        pub struct Invoice {
            pub number: String,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_schema_is_a_start_up_error_naming_the_subject() {
    let (t, reg) = (real(), registry());
    let (input, output) = (unique("inv-in"), unique("inv-out"));
    create(&t, &input, 1).await;
    reg.avro::<incompatible::Invoice>()
        .prepare(&output)
        .unwrap()
        .await
        .unwrap();

    fn stringify(f: Flow<incompatible::Invoice>) -> Flow<incompatible::changed::Invoice> {
        f.map(|i| incompatible::changed::Invoice {
            number: i.number.to_string(),
        })
    }
    let app = App::new(unique("app")).transport(t.clone()).processor(
        Processor::with_codecs("stringify", stringify, reg.avro(), reg.avro())
            .input([input.as_str()])
            .output(&output),
    );
    let err = app.start().await.err().expect("start-up fails").to_string();
    assert!(err.contains(&format!("subject `{output}-value`")), "{err}");
    assert!(
        err.contains("409") || err.to_lowercase().contains("incompatible"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_payloads_end_in_the_dead_letter_topic() {
    let (t, reg) = (real(), registry());
    let topic = unique("corrupt");
    create(&t, &topic, 1).await;
    let codec = reg.avro::<Order>();
    produce_with(&t, &topic, &codec, &orders(1)).await;
    let good = raw(&t, &topic, 1).remove(0);
    let mut wrong_magic = good.clone();
    wrong_magic[0] = 7;
    let truncated = good[..3].to_vec();
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&987_654u32.to_be_bytes());
    let producer = t.producer().unwrap();
    for (i, v) in [wrong_magic, truncated, unknown_id, good].into_iter().enumerate() {
        let rec = OutRecord::new(topic.as_str(), v).with_key(format!("bad{i}"));
        producer.send(rec, Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut l = Listener::new("orders", [topic.as_str()], move |o: Order, _m: Meta| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(o.id);
            Ok::<(), HandlerError>(())
        }
    })
    .value_decoder(reg.avro::<Order>());
    for (k, v) in TEST_PROPS {
        l = l.property(k, v);
    }
    let handle = App::new(unique("app"))
        .transport(t.clone())
        .listener(l)
        .start()
        .await
        .unwrap();
    let dlq = read_full(&t, &format!("{topic}.dlq"), 3, Duration::from_secs(60));
    assert!(eventually(Duration::from_secs(30), || seen.lock().unwrap().len() == 2).await);
    handle.shutdown().await.unwrap();

    assert_eq!(*seen.lock().unwrap(), [0, 0], "the first good record and the good copy");
    assert_eq!(dlq.len(), 3, "{dlq:#?}");
    for (r, key) in dlq.iter().zip(["bad0", "bad1", "bad2"]) {
        assert_eq!(r.key.as_deref(), Some(key));
        assert_eq!(r.header(names::ERROR_KIND), Some("deserialization"));
        assert!(
            r.header(names::ERROR_MESSAGE).unwrap().contains("avro"),
            "{:?}",
            r.header(names::ERROR_MESSAGE)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_is_retried_then_a_clear_start_up_error() {
    let t = real();
    let url = format!("http://127.0.0.1:{}", registry::closed_port());
    let reg = SchemaRegistry::new(RegistryConfig::new(&url).retries(2)).unwrap();
    let topic = unique("unreachable");
    create(&t, &topic, 1).await;
    let l = Listener::new("l", [topic.as_str()], |_o: Order, _m: Meta| async {
        Ok::<(), HandlerError>(())
    })
    .value_decoder(reg.avro::<Order>());
    let started = std::time::Instant::now();
    let err = App::new(unique("app"))
        .transport(t.clone())
        .listener(l)
        .start()
        .await
        .err()
        .expect("fails");
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&url) && text.contains("2 retries"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "waited 200 + 400 ms between attempts"
    );
}

#[test]
fn configuration_from_the_environment_names_the_bad_key() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let err = RegistryConfig::from_lookup(env(&[])).unwrap_err().to_string();
    assert!(err.contains("SCHEMA_REGISTRY_URL"), "{err}");
    for (pairs, key) in [
        (&[("SCHEMA_REGISTRY_URL", "127.0.0.1:8081")][..], "SCHEMA_REGISTRY_URL"),
        (
            &[
                ("SCHEMA_REGISTRY_URL", "http://r"),
                ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "nopassword"),
            ][..],
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        ),
        (
            &[
                ("SCHEMA_REGISTRY_URL", "http://r"),
                ("SCHEMA_REGISTRY_SUBJECT_NAMING", "by_team"),
            ][..],
            "SCHEMA_REGISTRY_SUBJECT_NAMING",
        ),
        (
            &[
                ("SCHEMA_REGISTRY_URL", "http://r"),
                ("SCHEMA_REGISTRY_TIMEOUT_MS", "soon"),
            ][..],
            "SCHEMA_REGISTRY_TIMEOUT_MS",
        ),
    ] {
        let err = RegistryConfig::from_lookup(env(pairs)).unwrap_err().to_string();
        assert!(err.contains(key), "{err} should name {key}");
    }
    let ok = RegistryConfig::from_lookup(env(&[
        ("SCHEMA_REGISTRY_URL", "http://a:1, http://b:2/"),
        ("SCHEMA_REGISTRY_SUBJECT_NAMING", "topic_record"),
        ("SCHEMA_REGISTRY_AUTO_REGISTER", "false"),
    ]))
    .unwrap();
    assert_eq!(ok.urls(), ["http://a:1", "http://b:2"]);
    assert_eq!(ok.naming(), SubjectNaming::TopicRecord);
    assert!(!ok.registers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_name_subjects_and_the_latest_registered_version() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
    #[avro(namespace = "kflow.test.naming")]
    struct Shipment {
        id: i64,
    }
    let reg = registry();
    let topic = unique("ship");
    let writer = reg.avro::<Shipment>().subject_naming(SubjectNaming::Record);
    writer.prepare(&topic).unwrap().await.unwrap();
    // Without auto-registration a second writer finds the latest version of the subject.
    let latest = reg
        .avro::<Shipment>()
        .subject_naming(SubjectNaming::Record)
        .auto_register(false);
    latest.prepare(&topic).unwrap().await.unwrap();
    let a = writer.encode_to(&topic, &Shipment { id: 7 }).unwrap().unwrap();
    let b = latest.encode_to(&topic, &Shipment { id: 7 }).unwrap().unwrap();
    assert_eq!(a, b, "same subject `kflow.test.naming.Shipment`, same schema id");
    // A topic-named subject that nobody registered: a start-up style error naming it.
    let missing = reg.avro::<Shipment>().auto_register(false);
    let nobody = unique("nobody");
    let err = missing.prepare(&nobody).unwrap().await.unwrap_err().to_string();
    assert!(err.contains(&format!("subject `{nobody}-value`")), "{err}");
}
