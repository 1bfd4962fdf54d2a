//! One kflow app, configured by the environment (see `kflow_crash::Child`), run until
//! SIGTERM, or until the crash tests kill it.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kflow_core::transport::StartFrom;
use kflow_core::window::{Session, Sliding, Tumbling, WindowResult};
use kflow_core::{policy, App, Flow, HandlerError, Listener, Meta, Processor};
use kflow_crash::Child;
use kflow_kafka::{KafkaConfig, KafkaTransport};

/// Consumer settings for short group joins on the test broker.
const PROPS: [(&str, &str); 2] = [("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")];

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v}")))
}

fn copy(values: Flow<u64>) -> Flow<u64> {
    values.map(|v| v)
}

/// Counts per key (the value mod 100) in 10 s tumbling windows of event time, through a
/// repartition topic. An hour of grace: the input partitions' event times drift apart
/// after each kill, and no record of the test may be late (lateness is not what the kill
/// test checks).
fn windowed(values: Flow<u64>) -> Flow<WindowResult<String, u64>> {
    values
        .group_by(|v| (v % 100).to_string())
        .window(Tumbling::of(Duration::from_secs(10)).grace(Duration::from_secs(3_600)))
        .count()
}

/// Counts per key (the value mod 100) in sessions with a 5 s gap, through a repartition
/// topic; an hour of grace, as for `windowed`.
fn sessions(values: Flow<u64>) -> Flow<WindowResult<String, u64>> {
    values
        .group_by(|v| (v % 100).to_string())
        .window(Session::with_gap(Duration::from_secs(5)).grace(Duration::from_secs(3_600)))
        .count()
}

/// Counts per key (the value mod 100) in 10 s sliding windows (one per record, reaching
/// 10 s back), through a repartition topic; an hour of grace, as for `windowed`.
fn sliding(values: Flow<u64>) -> Flow<WindowResult<String, u64>> {
    values
        .group_by(|v| (v % 100).to_string())
        .window(Sliding::of(Duration::from_secs(10)).grace(Duration::from_secs(3_600)))
        .count()
}

/// A running count per key (the value mod 100) in custom state, through a repartition
/// topic: emits (key, count so far) for each record.
fn tally(values: Flow<u64>) -> Flow<(String, u64)> {
    values
        .group_by(|v| (v % 100).to_string())
        .stateful(|key, n: &mut Option<u64>, _| {
            let n = n.get_or_insert(0);
            *n += 1;
            [(key.clone(), *n)]
        })
}

fn tag(values: Flow<u64>) -> Flow<u64> {
    values.map(|v| v + 1_000_000)
}

/// Appends each handled value to a file, one line each, before the handler returns.
#[derive(Clone)]
struct Journal(Arc<Mutex<std::fs::File>>);

impl Journal {
    fn open(path: &str) -> Journal {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        Journal(Arc::new(Mutex::new(file)))
    }

    fn handled(&self, value: u64) -> std::io::Result<()> {
        self.0
            .lock()
            .expect("journal")
            .write_all(format!("{value}\n").as_bytes())
    }
}

fn listener(name: &str, input: &str, journal: Journal) -> Listener<u64> {
    let l = Listener::new(name, [input], move |value: u64, _meta: Meta| {
        let journal = journal.clone();
        async move { journal.handled(value).map_err(HandlerError::from) }
    });
    PROPS.iter().fold(l, |l, (k, v)| l.property(k, v))
}

/// A listener that starts from the latest offset and sends the first delivery of one
/// value to a retry topic.
fn retrying_listener(input: &str, journal: Journal) -> Listener<u64> {
    let fail = number(Child::FAIL_VALUE, 13);
    let delay = Duration::from_millis(number(Child::RETRY_DELAY_MS, 10_000));
    let origin = input.to_string();
    let l = Listener::new("late", [input], move |value: u64, meta: Meta| {
        let (journal, first) = (journal.clone(), *meta.topic == *origin);
        async move {
            if value == fail && first {
                return Err(HandlerError::from(format!("{value} fails on its first delivery")));
            }
            journal.handled(value).map_err(HandlerError::from)
        }
    })
    .start_from(StartFrom::Latest)
    .on_error(policy::retry_topics([delay]).then_dead_letter());
    PROPS.iter().fold(l, |l, (k, v)| l.property(k, v))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Restores are logged (the rebalance test counts them), and the runtime's steps (joins,
    // drains, the stop) for a failure's report; the rest only from warnings.
    let filter = tracing_subscriber::EnvFilter::new(
        "warn,kflow_core::window::operator=info,kflow_core::state=info,kflow_core::runtime=info",
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    // A SIGTERM while connecting stops the child gracefully too.
    let stop = match kflow_core::runtime::shutdown_signal() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("child: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mode, app_id, input, output) = (var(Child::MODE), var(Child::APP), var(Child::INPUT), var(Child::OUTPUT));
    // Writes linger: a kill then always finds outputs queued but not yet acknowledged,
    // which is when a commit that ran ahead of delivery would lose their inputs.
    let config = KafkaConfig::new(&var("KAFKA_BROKERS")).producer_property("linger.ms", "250");
    let transport = match KafkaTransport::connect(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("child: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = App::new(app_id)
        .transport(transport)
        .commit_interval(Duration::from_millis(number(Child::COMMIT_MS, 200)))
        // The tests run many children on two cores: a graceful stop may take longer than
        // the default 10 s to drain there, and the disk run checks what that stop left.
        .drain_timeout(Duration::from_secs(30));
    let app = match mode.as_str() {
        "processor" => {
            let p = Processor::new("copy", copy).input([input.as_str()]).output(&output);
            app.processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "windowed" => {
            let p = Processor::new("counts", windowed)
                .input([input.as_str()])
                .output(&output);
            app.processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "windowed-disk" => {
            // On-disk stores with a cache far smaller than the open slots (100 keys, a
            // window every 10 s, an hour of grace): most slots are read back from the
            // database, and each restart restores from the last checkpoint.
            let p = Processor::new("counts", windowed)
                .input([input.as_str()])
                .output(&output);
            app.state_dir(var(Child::STATE_DIR))
                .state_cache(500)
                .processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "windowed-eos" => {
            let p = Processor::new("counts", windowed)
                .input([input.as_str()])
                .output(&output)
                .exactly_once();
            app.instance_id("node-1")
                .processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "sessions" => {
            let p = Processor::new("counts", sessions)
                .input([input.as_str()])
                .output(&output);
            app.processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "sliding" => {
            let p = Processor::new("counts", sliding)
                .input([input.as_str()])
                .output(&output);
            app.processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "stateful" => {
            let p = Processor::new("tally", tally).input([input.as_str()]).output(&output);
            app.processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "exactly-once" => {
            let p = Processor::new("p", tag)
                .input([input.as_str()])
                .output(&output)
                .exactly_once();
            // A stable instance id: the restarted instance fences its killed
            // predecessor's open transaction at once.
            app.instance_id("node-1")
                .processor(PROPS.iter().fold(p, |p, (k, v)| p.property(k, v)))
        }
        "listener" => app.listener(listener("journal", &input, Journal::open(&output))),
        "retry-latest" => app.listener(retrying_listener(&input, Journal::open(&output))),
        other => {
            eprintln!("child: unknown {}: {other}", Child::MODE);
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child: {e}");
            ExitCode::FAILURE
        }
    }
}
