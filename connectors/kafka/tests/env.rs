//! Configuration from the environment. One test: the environment is process-wide.

use kflow_core::{App, Error};
use kflow_kafka::{AppFromEnv, KafkaTransport};

#[test]
fn configuration_comes_from_the_environment() {
    // No broker configured: the embedded one.
    std::env::remove_var("KAFKA_BROKERS");
    let t = KafkaTransport::from_env().unwrap();
    assert!(t.embedded_broker().is_some());
    assert!(t.config().brokers().starts_with("127.0.0.1:"));
    drop(t);
    let app = App::from_env().unwrap();
    assert_eq!(app.id(), "kflow-app");

    // A malformed pass-through property names the key.
    std::env::set_var("KAFKA_BROKERS", "127.0.0.1:9");
    std::env::set_var("KAFKA_PROPERTIES", "linger.ms=5,bogus.key=1");
    let err = KafkaTransport::from_env().err().unwrap();
    assert!(matches!(&err, Error::Config { key, .. } if key == "bogus.key"), "{err}");
    std::env::set_var("KAFKA_PROPERTIES", "linger.ms");
    let err = KafkaTransport::from_env().err().unwrap();
    assert!(
        matches!(&err, Error::Config { key, .. } if key == "KAFKA_PROPERTIES"),
        "{err}"
    );
    std::env::remove_var("KAFKA_PROPERTIES");
    std::env::remove_var("KAFKA_BROKERS");

    // Runtime settings.
    std::env::set_var("KFLOW_COMMIT_INTERVAL_MS", "soon");
    let err = App::new_from_env().err().unwrap();
    assert!(
        matches!(&err, Error::Config { key, .. } if key == "KFLOW_COMMIT_INTERVAL_MS"),
        "{err}"
    );
    std::env::remove_var("KFLOW_COMMIT_INTERVAL_MS");
}
