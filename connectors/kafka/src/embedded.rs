//! The embedded broker: librdkafka's mock cluster, a Kafka-protocol broker in this process
//! on loopback. Nothing is persisted. Used when no broker is configured, and by tests that
//! inject errors.

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use kflow_core::{Error, Result};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

enum Command {
    CreateTopic(String, i32, mpsc::Sender<Result<()>>),
    ProduceErrors(Vec<RDKafkaRespErr>, mpsc::Sender<Result<()>>),
    BrokerDown(bool, mpsc::Sender<Result<()>>),
    Stop,
}

/// A running mock cluster with one broker. Stops when dropped.
///
/// ```
/// use kflow_kafka::EmbeddedBroker;
/// let broker = EmbeddedBroker::start().unwrap();
/// assert!(broker.bootstrap_servers().starts_with("127.0.0.1:"));
/// broker.create_topic("orders", 3).unwrap();
/// ```
pub struct EmbeddedBroker {
    bootstrap: String,
    commands: Mutex<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the cluster on its own thread (the mock cluster lives where it was made).
    pub fn start() -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Command>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let thread = std::thread::Builder::new()
            .name("kflow-embedded-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::transport(
                            "embedded broker",
                            "cannot start the embedded broker",
                        )
                        .caused_by(e)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                for command in rx {
                    match command {
                        Command::CreateTopic(name, partitions, reply) => {
                            let r = cluster
                                .create_topic(&name, partitions, 1)
                                .map_err(|e| Error::topic(name, e.to_string()));
                            let _ = reply.send(r);
                        }
                        Command::ProduceErrors(errors, reply) => {
                            cluster.request_errors(RDKafkaApiKey::Produce, &errors);
                            let _ = reply.send(Ok(()));
                        }
                        Command::BrokerDown(down, reply) => {
                            let r = if down {
                                cluster.broker_down(1)
                            } else {
                                cluster.broker_up(1)
                            };
                            let _ = reply.send(r.map_err(|e| {
                                Error::transport("embedded broker", "a blocking call did not finish").caused_by(e)
                            }));
                        }
                        Command::Stop => break,
                    }
                }
            })
            .map_err(Error::Io)?;
        let bootstrap = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::transport("embedded broker", "did not start"))??;
        Ok(EmbeddedBroker {
            bootstrap,
            commands: Mutex::new(tx),
            thread: Some(thread),
        })
    }

    /// Its address (`127.0.0.1:PORT`).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    fn call(&self, make: impl FnOnce(mpsc::Sender<Result<()>>) -> Command) -> Result<()> {
        let (tx, rx) = mpsc::channel();
        self.commands
            .lock()
            .map_err(|_| Error::transport("embedded broker", "its lock is poisoned"))?
            .send(make(tx))
            .map_err(|_| Error::transport("embedded broker", "stopped"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::transport("embedded broker", "did not answer"))?
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.call(|tx| Command::CreateTopic(name.to_string(), partitions, tx))
    }

    /// Makes the next produce requests fail with these errors, one each, in order.
    pub fn inject_produce_errors(&self, errors: &[RDKafkaRespErr]) -> Result<()> {
        self.call(|tx| Command::ProduceErrors(errors.to_vec(), tx))
    }

    /// Takes the broker down (`true`) or brings it back (`false`).
    pub fn set_down(&self, down: bool) -> Result<()> {
        self.call(|tx| Command::BrokerDown(down, tx))
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Ok(tx) = self.commands.lock() {
            let _ = tx.send(Command::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
