//! `App::from_env()`: the one way to configure an app from the environment. One test:
//! the environment is process-wide.

use kflow::prelude::*;

#[test]
fn an_app_from_the_environment_needs_a_broker_or_an_explicit_embedded_one() {
    std::env::remove_var("KAFKA_BROKERS");
    std::env::remove_var("KFLOW_EMBEDDED");
    let err = App::from_env()
        .err()
        .expect("no silent fallback to a broker that keeps nothing");
    assert!(
        matches!(&err, kflow::Error::Config { key, .. } if key == "KAFKA_BROKERS"),
        "{err}"
    );
    assert!(
        err.to_string().contains("KFLOW_EMBEDDED=1"),
        "says how to opt in: {err}"
    );

    std::env::set_var("KFLOW_EMBEDDED", "1");
    std::env::set_var("KFLOW_APP_ID", "from-env");
    let app = App::from_env().expect("the embedded broker, asked for");
    assert_eq!(app.id(), "from-env");
    std::env::remove_var("KFLOW_EMBEDDED");
    std::env::remove_var("KFLOW_APP_ID");
}
