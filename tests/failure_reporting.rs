//! What an operator sees when something fails, and what they never see: a fatal failure
//! turns `/health/live` and `/health/ready` into 503s that say why, and no secret from
//! the configuration reaches logs, errors, `Debug` output or `/metrics`.
//! One test: it installs the process's log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::plumbing::transport::{NewTopic, Transport};
use kflow::prelude::*;
use kflow::prometheus::Prometheus;
use kflow::schema_registry::{RegistryConfig, SchemaRegistry};

/// Every log line, kept for inspection.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRETS: [&str; 4] = ["kafka-pw-71", "key-pw-72", "registry-pw-73", "url-pw-74"];

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_reported_on_the_health_endpoints_and_secrets_appear_nowhere() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    // A configuration full of secrets (ignored over plaintext, but set).
    let embedded = KafkaTransport::embedded().unwrap();
    let config = KafkaConfig::new(embedded.config().brokers())
        .property("sasl.username", "svc")
        .property("sasl.password", SECRETS[0])
        .property("ssl.key.password", SECRETS[1]);
    let t = KafkaTransport::connect(config.clone()).unwrap();
    // This transport does not know it talks to the embedded broker, whose topics are
    // created through its own handle.
    for topic in ["fr-in", "fr-in.dlq"] {
        embedded.admin().create_topic(NewTopic::new(topic, 1)).await.unwrap();
    }
    let mut shown = vec![format!("{config:?}"), format!("{:?}", t.config())];

    // A registry with basic auth and credentials in its URL, unreachable.
    let registry_config = RegistryConfig::new(&format!("http://svc:{}@127.0.0.1:1", SECRETS[3]))
        .basic_auth("svc", SECRETS[2])
        .retries(0);
    shown.push(format!("{registry_config:?}"));
    let registry = SchemaRegistry::new(registry_config).unwrap();
    shown.push(format!("{registry:?}"));
    let err = registry.check().await.expect_err("nothing listens on port 1");
    shown.push(err.to_string());
    assert!(
        err.to_string().contains("127.0.0.1:1"),
        "the error still says where: {err}"
    );

    let prometheus = Prometheus::on("127.0.0.1:0");
    let addr = prometheus.local_addr();
    let listener = Listener::new("fr_l", ["fr-in"], |_: u64, _: Meta| async {
        Ok::<(), HandlerError>(())
    })
    .property("session.timeout.ms", "6000");
    let mut handle = App::new("failure-reporting")
        .transport(t.clone())
        .service(prometheus)
        .listener(listener)
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", addr.get().expect("bound"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get(&format!("{base}/health/ready")).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "ready once joined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&format!("{base}/health/live")).await, (200, "live\n".to_string()));

    // A panic on the consumer's poll thread: the app stops, and says so.
    t.faults().panic_next_poll();
    tokio::time::timeout(Duration::from_secs(10), handle.stopped())
        .await
        .expect("the app stops by itself");
    let (live, live_body) = get(&format!("{base}/health/live")).await;
    let (ready, ready_body) = get(&format!("{base}/health/ready")).await;
    assert_eq!(live, 503, "{live_body}");
    assert!(
        live_body.contains("poll thread") && live_body.contains("failure-reporting-fr_l"),
        "{live_body}"
    );
    assert_eq!(ready, 503, "{ready_body}");
    assert!(ready_body.contains("panicked"), "{ready_body}");
    shown.push(get(&format!("{base}/metrics")).await.1);
    let err = handle.shutdown().await.unwrap_err();
    shown.push(err.to_string());

    shown.push(String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned());
    assert!(
        shown.last().unwrap().contains("poll thread"),
        "the logs say what happened"
    );
    for text in &shown {
        for secret in SECRETS {
            assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
        }
    }
}
