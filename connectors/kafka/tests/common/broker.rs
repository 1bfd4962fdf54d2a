//! The real Kafka-protocol broker for integration tests: tansu, installed as `nisshi`.
//!
//! `scripts/test.sh` starts one and exports `KFLOW_TEST_BROKERS`. Without that variable,
//! the first test that needs it starts `nisshi` on a free loopback port for this test
//! process (it stops when the process exits). If it cannot, the test fails and says how
//! to get it.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const INSTALL: &str = "cargo install nisshi --version 0.7.0-pre.2 --locked --features dynostore";

/// A topic (or group) name no other test uses, on a broker that may outlive the test run.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// `host:port` of the test broker, starting it if needed.
pub fn address() -> String {
    static ADDRESS: OnceLock<String> = OnceLock::new();
    ADDRESS
        .get_or_init(|| std::env::var("KFLOW_TEST_BROKERS").unwrap_or_else(|_| start()))
        .clone()
}

/// A broker of the test's own, which it may stop: the address and the process.
#[allow(dead_code)]
pub fn start_own() -> (String, std::process::Child) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut child = Command::new("nisshi")
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the test broker `nisshi` cannot start ({e}): run `{INSTALL}`, or `bash scripts/test.sh`")
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (format!("127.0.0.1:{port}"), child);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the test broker (nisshi) did not accept connections on 127.0.0.1:{port} within 30 s");
}

fn start() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    // A shell parent that kills the broker when our stdin closes, i.e. when this test
    // process exits, however it exits.
    let script = format!(
        "nisshi broker --listener-url {url} --advertised-listener-url {url} --storage-engine memory://tansu/ >/dev/null 2>&1 & b=$!; cat >/dev/null; kill $b"
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bash to start the broker: {e}"));
    let stdin = child.stdin.take().expect("stdin");
    // Keep the pipe open for the life of the process.
    std::mem::forget(stdin);
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return format!("127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let found = Command::new("bash")
        .arg("-c")
        .arg("command -v nisshi")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let _ = std::io::stderr().flush();
    if found {
        panic!("the test broker (nisshi) did not accept connections on 127.0.0.1:{port} within 30 s");
    }
    panic!("the test broker `nisshi` is not installed: run `{INSTALL}`, or run the tests with `bash scripts/test.sh`, which installs and starts it");
}
