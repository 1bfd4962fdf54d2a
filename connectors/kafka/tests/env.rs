//! Configuration from the environment, and the start-up checks of the Kafka transport.
//! One test for the environment: it is process-wide.

mod common;

use std::time::Duration;

use kflow_core::{App, Error, Flow, HandlerError, Listener, Meta, Processor};
use kflow_kafka::{KafkaConfig, KafkaTransport};

fn key_of(err: &Error) -> &str {
    match err {
        Error::Config { key, .. } => key,
        other => panic!("not a configuration error: {other}"),
    }
}

#[test]
fn configuration_comes_from_the_environment() {
    std::env::remove_var("KAFKA_BROKERS");
    std::env::remove_var("KFLOW_EMBEDDED");
    // No broker configured: a start-up error that says how to set one or opt in.
    let err = KafkaTransport::from_env().err().expect("no silent fallback");
    assert_eq!(key_of(&err), "KAFKA_BROKERS", "{err}");
    assert!(err.to_string().contains("KFLOW_EMBEDDED=1"), "{err}");

    // The embedded broker is an explicit choice.
    std::env::set_var("KFLOW_EMBEDDED", "1");
    let t = KafkaTransport::from_env().unwrap();
    assert!(t.embedded_broker().is_some());
    assert!(t.config().brokers().starts_with("127.0.0.1:"));
    drop(t);
    let app = App::new_from_env().unwrap();
    assert_eq!(app.id(), "kflow-app");
    std::env::set_var("KFLOW_EMBEDDED", "maybe");
    assert_eq!(key_of(&KafkaTransport::from_env().err().unwrap()), "KFLOW_EMBEDDED");
    std::env::remove_var("KFLOW_EMBEDDED");
    // Examples and tools may choose it in code.
    assert!(KafkaTransport::from_env_or_embedded()
        .unwrap()
        .embedded_broker()
        .is_some());

    // A malformed pass-through property names the key.
    std::env::set_var("KAFKA_BROKERS", "127.0.0.1:9");
    std::env::set_var("KAFKA_PROPERTIES", "linger.ms=5,bogus.key=1");
    let err = KafkaTransport::from_env().err().unwrap();
    assert_eq!(key_of(&err), "bogus.key", "{err}");
    std::env::set_var("KAFKA_PROPERTIES", "linger.ms");
    let err = KafkaTransport::from_env().err().unwrap();
    assert_eq!(key_of(&err), "KAFKA_PROPERTIES", "{err}");

    // A producer setting that breaks at-least-once, unless the operator accepts it.
    std::env::set_var("KAFKA_PROPERTIES", "acks=1");
    let err = KafkaTransport::from_env().err().unwrap();
    assert_eq!(key_of(&err), "acks", "{err}");
    assert!(err.to_string().contains("KFLOW_ALLOW_WEAK_DURABILITY"), "{err}");
    std::env::set_var("KFLOW_ALLOW_WEAK_DURABILITY", "1");
    let config = KafkaConfig::from_env().unwrap().unwrap();
    assert!(config.check_durability().is_ok());
    std::env::remove_var("KFLOW_ALLOW_WEAK_DURABILITY");
    std::env::remove_var("KAFKA_PROPERTIES");

    // Properties of one kind of client reach that kind only; the weak-durability check
    // and the errors cover them too.
    std::env::set_var("KAFKA_PRODUCER_PROPERTIES", "linger.ms=20");
    std::env::set_var("KAFKA_CONSUMER_PROPERTIES", "fetch.min.bytes=2048");
    let config = KafkaConfig::from_env().unwrap().unwrap();
    let (producer, consumer) = (
        config.producer_config(&[]).unwrap(),
        config.consumer_config(&[]).unwrap(),
    );
    assert_eq!(
        (producer.get("linger.ms"), producer.get("fetch.min.bytes")),
        (Some("20"), None)
    );
    assert_eq!(
        (consumer.get("linger.ms"), consumer.get("fetch.min.bytes")),
        (None, Some("2048"))
    );
    std::env::set_var("KAFKA_PRODUCER_PROPERTIES", "acks=0");
    assert_eq!(key_of(&KafkaTransport::from_env().err().unwrap()), "acks");
    std::env::set_var("KAFKA_CONSUMER_PROPERTIES", "fetch.min.bytes");
    assert_eq!(
        key_of(&KafkaTransport::from_env().err().unwrap()),
        "KAFKA_CONSUMER_PROPERTIES"
    );
    std::env::set_var("KAFKA_PRODUCER_PROPERTIES", "bogus.producer.key=1");
    std::env::remove_var("KAFKA_CONSUMER_PROPERTIES");
    assert_eq!(key_of(&KafkaTransport::from_env().err().unwrap()), "bogus.producer.key");
    std::env::remove_var("KAFKA_PRODUCER_PROPERTIES");
    std::env::remove_var("KAFKA_BROKERS");

    // Runtime settings.
    std::env::set_var("KFLOW_COMMIT_INTERVAL_MS", "soon");
    let err = App::new_from_env().err().unwrap();
    assert_eq!(key_of(&err), "KFLOW_COMMIT_INTERVAL_MS", "{err}");
    std::env::remove_var("KFLOW_COMMIT_INTERVAL_MS");
    std::env::set_var("KFLOW_STALL_TIMEOUT_MS", "-3");
    let err = App::new_from_env().err().unwrap();
    assert_eq!(key_of(&err), "KFLOW_STALL_TIMEOUT_MS", "{err}");
    std::env::remove_var("KFLOW_STALL_TIMEOUT_MS");
}

#[test]
fn durability_overrides_are_start_up_errors_naming_the_key_unless_accepted() {
    let embedded = KafkaTransport::embedded().unwrap();
    let brokers = embedded.config().brokers().to_string();
    for (key, value) in [
        ("acks", "1"),
        ("acks", "0"),
        ("request.required.acks", "1"),
        ("enable.idempotence", "false"),
    ] {
        let err = KafkaTransport::connect(KafkaConfig::new(&brokers).property(key, value))
            .err()
            .unwrap_or_else(|| panic!("{key}={value} accepted"));
        assert_eq!(key_of(&err), key, "{err}");
    }
    for (key, value) in [("acks", "all"), ("acks", "-1"), ("enable.idempotence", "true")] {
        assert!(KafkaTransport::connect(KafkaConfig::new(&brokers).property(key, value)).is_ok());
    }
    // librdkafka's idempotence needs acks=all, so a weaker acks goes with it.
    let accepted = KafkaConfig::new(&brokers)
        .property("acks", "1")
        .property("enable.idempotence", "false")
        .allow_weak_durability();
    if let Err(e) = KafkaTransport::connect(accepted) {
        panic!("an explicit opt-in is accepted: {e}");
    }
}

fn id(f: Flow<u64>) -> Flow<u64> {
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_rebalance_protocols_and_poll_intervals_fail_app_start_naming_the_key() {
    let t = KafkaTransport::embedded().unwrap();
    common::create(&t, "proto-in", 1).await;
    // On the transport: every client gets it.
    let err = KafkaTransport::connect(
        KafkaConfig::new(t.config().brokers()).property("partition.assignment.strategy", "cooperative-sticky"),
    )
    .err()
    .unwrap();
    assert_eq!(key_of(&err), "partition.assignment.strategy", "{err}");
    // On one unit: App::start refuses it before any member starts.
    let cases = [
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("group.protocol", "consumer"),
        ("max.poll.interval.ms", "12000"),
    ];
    for (key, value) in cases {
        let app = App::new("proto")
            .transport(t.clone())
            .drain_timeout(Duration::from_secs(10))
            .processor(
                Processor::new("p", id)
                    .input(["proto-in"])
                    .output("proto-out")
                    .property(key, value),
            );
        let err = app
            .start()
            .await
            .err()
            .unwrap_or_else(|| panic!("{key}={value} accepted"));
        assert_eq!(key_of(&err), key, "{err}");
    }
    let listener = Listener::new("l", ["proto-in"], |_: u64, _: Meta| async {
        Ok::<(), HandlerError>(())
    })
    .property("max.poll.interval.ms", "60000");
    let app = App::new("proto").transport(t.clone()).listener(listener);
    app.start()
        .await
        .expect("a poll interval above the drain timeout")
        .shutdown()
        .await
        .unwrap();
}
