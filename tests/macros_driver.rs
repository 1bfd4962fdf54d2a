//! `#[listener]` and `#[processor]` through the TestDriver: records in, records out,
//! offsets committed, group ids as documented.

use std::sync::{Arc, Mutex};

use kflow::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
    cents: u64,
}

/// Orders over a euro, as euros.
#[kflow::processor(input = ["orders"], output = "big-orders")]
fn big_orders(orders: Flow<Order>) -> Flow<f64> {
    orders.filter(|o| o.cents >= 100).map(|o| o.cents as f64 / 100.0)
}

#[kflow::processor(input = "lines", output = "words", value_format = string, group_id = "word-splitter")]
fn words(lines: Flow<String>) -> Flow<String> {
    lines.flat_map(|l| l.split_whitespace().map(str::to_uppercase).collect::<Vec<_>>())
}

type Seen = Arc<Mutex<Vec<(String, u32, i64, Option<String>)>>>;

fn seen() -> &'static Seen {
    static SEEN: std::sync::OnceLock<Seen> = std::sync::OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Arguments in any order: key, headers, value, metadata.
#[kflow::listener(topics = ["orders"], concurrency = 2, on_error = skip)]
async fn audit(key: Key<String>, headers: Headers, order: Order, meta: Meta) -> Result<(), HandlerError> {
    if order.cents == 0 {
        return Err("free orders are not allowed".into());
    }
    let trace = headers.get_str("trace").map(str::to_string);
    seen().lock().unwrap().push((key.0, order.id, meta.offset.0, trace));
    Ok(())
}

#[test]
fn annotated_processors_and_listeners_run_and_commit() {
    let app = App::new("shop").processor(big_orders).processor(words).listener(audit);
    let mut d = TestDriver::new(app, &[("orders", 1), ("lines", 1)]).unwrap();
    for (i, cents) in [250u64, 50, 0, 1999].iter().enumerate() {
        let value = serde_json::to_vec(&Order {
            id: i as u32,
            cents: *cents,
        })
        .unwrap();
        let record = kflow::plumbing::transport::OutRecord::new("orders", value).with_key(format!("c{i}"));
        let mut record = record;
        record.headers.insert("trace", format!("t{i}"));
        d.pipe_record(record);
    }
    d.pipe_record(kflow::plumbing::transport::OutRecord::new("lines", "to be or"));

    assert_eq!(d.output_values::<f64>("big-orders"), vec![2.5, 19.99]);
    // (The annotated `words` is a value now: a local of that name would be a pattern.)
    let written: Vec<String> = d
        .broker()
        .records("words")
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(
        written,
        ["TO", "BE", "OR"],
        "value_format = string reads and writes plain text"
    );

    let seen = seen().lock().unwrap().clone();
    let ids: Vec<u32> = seen.iter().map(|s| s.1).collect();
    assert_eq!(ids, [0, 1, 3], "the free order failed and was skipped");
    assert_eq!(seen[0], ("c0".to_string(), 0, 0, Some("t0".to_string())));
    assert_eq!(d.dropped("audit", DropReason::Skipped), 1);

    // Group ids: `<app>-<function name>` unless set.
    assert_eq!(d.committed_total("shop-big_orders", "orders"), 4);
    assert_eq!(d.committed_total("shop-audit", "orders"), 4);
    assert_eq!(d.committed_total("word-splitter", "lines"), 1);
}

#[test]
fn the_generated_values_describe_themselves() {
    use kflow::{IntoListener, IntoProcessor};
    let l = audit.into_listener();
    assert_eq!((l.name(), l.topics()), ("audit", &["orders".to_string()][..]));
    assert_eq!(l.group_id_in("shop"), "shop-audit");
    let p = words.into_processor();
    assert_eq!(p.name(), "words");
    assert_eq!(p.group_id_in("shop"), "word-splitter");
}

/// Fails until its third call for an order, and always for order 13.
#[kflow::listener(topics = ["payments"],
                  on_error = retry(max_attempts = 3, backoff = fixed(50ms)).then_dead_letter(suffix = ".DLT"))]
async fn pay(order: Order) -> Result<(), HandlerError> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if order.id == 13 || n < 2 {
        return Err(format!("payment {} declined", order.id).into());
    }
    Ok(())
}

#[test]
fn the_on_error_argument_sets_retries_and_the_dead_letter_topic() {
    let mut d = TestDriver::new(App::new("shop").listener(pay), &[("payments", 1)]).unwrap();
    d.pipe("payments", &Order { id: 1, cents: 5 });
    d.pipe("payments", &Order { id: 13, cents: 5 });
    d.advance_time(std::time::Duration::from_secs(1));
    // Order 1: two failures, then success on the third call. Order 13: three attempts.
    assert_eq!(d.retries("pay", ErrorKind::Handler), 2 + 2);
    let dead = d.broker().records("payments.DLT");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].headers.get_str(policy::names::ERROR_MESSAGE),
        Some("payment 13 declined")
    );
    assert_eq!(dead[0].headers.get_str(policy::names::ATTEMPTS), Some("3"));
    assert_eq!(d.committed_total("shop-pay", "payments"), 2);
}
