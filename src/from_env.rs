//! `App::from_env()` with everything the facade's features bring.

use kflow_core::{App, Result};

/// `App::from_env()`, the one way to configure an app from the environment: the app id
/// from `KFLOW_APP_ID` (default `kflow-app`), runtime settings from `KFLOW_*`
/// ([`App::new_from_env`]), Kafka from `KAFKA_BROKERS` and friends
/// ([`kflow_kafka::KafkaTransport::from_env`]: without `KAFKA_BROKERS` a start-up error,
/// unless `KFLOW_EMBEDDED=1` asks for the embedded broker), and, when
/// `KFLOW_METRICS_ADDR` is set (e.g. `0.0.0.0:9464`), the metrics and health server there.
///
/// ```no_run
/// use kflow::prelude::*;
/// # async fn f() -> kflow::Result<()> {
/// App::from_env()?.run().await
/// # }
/// ```
pub trait AppFromEnv: Sized {
    /// Builds the app from the environment.
    fn from_env() -> Result<Self>;
}

impl AppFromEnv for App {
    fn from_env() -> Result<App> {
        let transport = kflow_kafka::KafkaTransport::from_env()?;
        #[cfg(feature = "prometheus")]
        let server = match std::env::var("KFLOW_METRICS_ADDR") {
            Ok(addr) if !addr.trim().is_empty() => {
                Some(crate::prometheus::Prometheus::on(addr.trim()).kafka(transport.kafka_admin().clone()))
            }
            _ => None,
        };
        let app = App::new_from_env()?.transport(transport);
        #[cfg(feature = "prometheus")]
        let app = match server {
            Some(server) => app.service(server),
            None => app,
        };
        Ok(app)
    }
}
