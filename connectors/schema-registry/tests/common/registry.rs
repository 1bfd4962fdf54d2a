//! The real schema registry for integration tests: `rivven-schema` (Confluent-compatible).
//!
//! `scripts/test.sh` starts one and exports `KFLOW_TEST_SCHEMA_REGISTRY`. Without that
//! variable, the first test that needs it starts `rivven-schema` on a free loopback port
//! for this test process (it stops when the process exits). If it cannot, the test fails
//! and says how to get it.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const INSTALL: &str = "cargo install rivven-schema --version 0.0.22 --locked";

/// The test registry's URL, starting it if needed.
pub fn url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| std::env::var("KFLOW_TEST_SCHEMA_REGISTRY").unwrap_or_else(|_| start()))
        .clone()
}

/// A loopback port nothing listens on (for "registry unreachable" tests).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start() -> String {
    let port = closed_port();
    // A shell parent that kills the registry when our stdin closes (when this process exits).
    let script =
        format!("rivven-schema serve --host 127.0.0.1 --port {port} >/dev/null 2>&1 & r=$!; cat >/dev/null; kill $r");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bash to start the schema registry: {e}"));
    std::mem::forget(child.stdin.take().expect("stdin"));
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return format!("http://127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let found = Command::new("bash")
        .arg("-c")
        .arg("command -v rivven-schema")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        panic!("the test schema registry (rivven-schema) did not accept connections on 127.0.0.1:{port} within 30 s");
    }
    panic!("the test schema registry `rivven-schema` is not installed: run `{INSTALL}`, or run the tests with `bash scripts/test.sh`, which installs and starts it");
}
