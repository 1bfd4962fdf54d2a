//! Error policies on the in-memory transport: in-place retries, retry topics, dead-letter
//! records and their headers, skip, fail, start-up checks and replay.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::policy::{self, names, Backoff, DeadLetter, Policy, Replay};
use kflow_core::transport::OutRecord;
use kflow_core::{App, DropReason, ErrorKind, Flow, HandlerError, Listener, Meta, Processor, RawRecord, TestDriver};

type Seen = Arc<Mutex<Vec<String>>>;

/// A listener on `in` that records values; "bad…" values fail, "boom…" values panic, and
/// "flaky…" values fail on their first two calls.
fn listener(seen: &Seen, policy: Option<Policy>) -> App {
    let seen = seen.clone();
    let calls: Arc<Mutex<HashMap<String, u32>>> = Default::default();
    let l = Listener::new("rec", ["in"], move |value: String, _meta: Meta| {
        let (seen, calls) = (seen.clone(), calls.clone());
        async move {
            let n = {
                let mut calls = calls.lock().unwrap();
                let n = calls.entry(value.clone()).or_default();
                *n += 1;
                *n
            };
            if value.starts_with("boom") {
                panic!("exploded on {value}");
            }
            if value.starts_with("bad") || (value.starts_with("flaky") && n <= 2) {
                return Err(HandlerError::from(format!("cannot handle {value} (call {n})")));
            }
            seen.lock().unwrap().push(value);
            Ok(())
        }
    });
    App::new(APP).listener(match policy {
        Some(p) => l.on_error(p),
        None => l,
    })
}

fn header<'a>(r: &'a RawRecord, name: &str) -> &'a str {
    r.headers
        .get_str(name)
        .unwrap_or_else(|| panic!("header {name} missing on {r:?}"))
}

#[test]
fn by_default_handler_errors_are_retried_then_dead_lettered_with_headers() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(listener(&seen, None), &[("in", 1)]).unwrap();
    let mut trace = OutRecord::new("in", &b"\"bad-1\""[..])
        .with_key("k1")
        .with_timestamp(1_700_000_000_000);
    trace.headers.insert("trace-id", "abc");
    d.pipe_record(trace);
    d.pipe("in", &"ok-2");
    d.advance_time(Duration::from_secs(1));

    assert_eq!(*seen.lock().unwrap(), ["ok-2"]);
    let dlq = d.broker().records("in.dlq");
    assert_eq!(dlq.len(), 1);
    let r = &dlq[0];
    assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(r.value.as_deref(), Some(&b"\"bad-1\""[..]));
    assert_eq!(r.meta.timestamp, 1_700_000_000_000);
    assert_eq!(
        r.headers.get_str("trace-id"),
        Some("abc"),
        "the user's headers are kept"
    );
    assert_eq!(header(r, names::ORIGINAL_TOPIC), "in");
    assert_eq!(header(r, names::ORIGINAL_PARTITION), "0");
    assert_eq!(header(r, names::ORIGINAL_OFFSET), "0");
    assert_eq!(header(r, names::ORIGINAL_TIMESTAMP), "1700000000000");
    assert_eq!(header(r, names::CONSUMER_GROUP), group("rec"));
    assert_eq!(header(r, names::PROCESSOR), "rec");
    assert_eq!(header(r, names::ERROR_KIND), "handler");
    assert_eq!(header(r, names::ERROR_MESSAGE), "cannot handle bad-1 (call 4)");
    assert_eq!(header(r, names::ATTEMPTS), "4", "the first call and 3 retries");
    let first: i64 = header(r, names::FIRST_FAILURE).parse().unwrap();
    let last: i64 = header(r, names::LAST_FAILURE).parse().unwrap();
    assert!(first > 0 && last >= first);
    assert_eq!(d.retries("rec", ErrorKind::Handler), 3);
    assert_eq!(d.dropped("rec", DropReason::DeadLettered), 1);
    assert!(d.app_error(0).is_none(), "the app keeps running");
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn a_handler_that_fails_twice_then_succeeds_is_not_dead_lettered() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(listener(&seen, None), &[("in", 1)]).unwrap();
    d.pipe("in", &"flaky-1");
    d.advance_time(Duration::from_secs(1));
    assert_eq!(*seen.lock().unwrap(), ["flaky-1"]);
    assert_eq!(d.retries("rec", ErrorKind::Handler), 2);
    assert!(d.broker().records("in.dlq").is_empty());
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn panics_and_poison_pills_are_dead_lettered_and_the_app_keeps_running() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(listener(&seen, None), &[("in", 2)]).unwrap();
    d.pipe_at("in", Some("a"), &"boom-1", 1);
    d.pipe_record(OutRecord::new("in", &b"{not json"[..]).with_key("b"));
    d.pipe_at("in", Some("c"), &"ok-3", 3);
    d.advance_time(Duration::from_secs(1));

    assert_eq!(*seen.lock().unwrap(), ["ok-3"]);
    let dlq = d.broker().records("in.dlq");
    let kinds: HashMap<&str, &str> = dlq
        .iter()
        .map(|r| (header(r, names::ERROR_KIND), header(r, names::ERROR_MESSAGE)))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds["handler"].contains("panicked: exploded on boom-1"), "{kinds:?}");
    assert!(kinds["deserialization"].starts_with("cannot decode"), "{kinds:?}");
    let poison = dlq
        .iter()
        .find(|r| header(r, names::ERROR_KIND) == "deserialization")
        .unwrap();
    assert_eq!(poison.value.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(
        header(poison, names::ATTEMPTS),
        "1",
        "deserialization is not retried by default"
    );
    assert_eq!(d.retries("rec", ErrorKind::Deserialization), 0);
    assert_eq!(d.dropped("rec", DropReason::DeadLettered), 2);
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn spring_headers_and_a_custom_suffix() {
    let seen: Seen = Default::default();
    let p = policy::dead_letter_with(DeadLetter::new().suffix(".DLT").spring_headers());
    let mut d = TestDriver::new(listener(&seen, Some(p)), &[("in", 1)]).unwrap();
    d.pipe("in", &"ok-0");
    d.pipe_at("in", None, &"bad-1", 1_234);
    let dlq = d.broker().records("in.DLT");
    assert_eq!(dlq.len(), 1);
    let h = &dlq[0].headers;
    use names::spring::*;
    assert_eq!(h.get_str(ORIGINAL_TOPIC), Some("in"));
    assert_eq!(h.get(ORIGINAL_PARTITION).unwrap().as_ref(), 0i32.to_be_bytes());
    assert_eq!(h.get(ORIGINAL_OFFSET).unwrap().as_ref(), 1i64.to_be_bytes());
    assert_eq!(h.get(ORIGINAL_TIMESTAMP).unwrap().as_ref(), 1_234i64.to_be_bytes());
    assert_eq!(h.get_str(ORIGINAL_TIMESTAMP_TYPE), Some("CreateTime"));
    assert_eq!(h.get_str(ORIGINAL_CONSUMER_GROUP), Some(group("rec").as_str()));
    assert_eq!(h.get_str(EXCEPTION_FQCN), Some("kflow.handler"));
    assert_eq!(h.get_str(EXCEPTION_MESSAGE), Some("cannot handle bad-1 (call 1)"));
    assert!(h.get(names::ATTEMPTS).is_none(), "Spring's family replaces kflow's");
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn retry_topics_take_a_record_through_each_level_then_to_the_dead_letter_topic() {
    let seen: Seen = Default::default();
    let p = policy::retry(2, Backoff::fixed(Duration::from_millis(10)))
        .then_retry_topics([Duration::from_millis(50), Duration::from_millis(100)])
        .then_dead_letter();
    let mut d = TestDriver::new(listener(&seen, Some(p)), &[("in", 1)]).unwrap();
    d.pipe("in", &"bad-1");
    d.pipe("in", &"flaky-2");
    d.advance_time(Duration::from_secs(1));

    // flaky-2 fails twice in place, goes to .retry.1 and succeeds there.
    assert_eq!(*seen.lock().unwrap(), ["flaky-2"]);
    let retry_1 = policy::retry_topic("in", &group("rec"), 1);
    let retry_2 = policy::retry_topic("in", &group("rec"), 2);
    let r1 = d.broker().records(&retry_1);
    assert_eq!(r1.len(), 2);
    assert_eq!(header(&r1[0], names::RETRY_LEVEL), "1");
    assert_eq!(header(&r1[0], names::ATTEMPTS), "2");
    let due: i64 = header(&r1[0], names::RETRY_DUE).parse().unwrap();
    let failed: i64 = header(&r1[0], names::LAST_FAILURE).parse().unwrap();
    assert!(due >= failed + 50, "due {due} is the delay after the failure {failed}");
    let r2 = d.broker().records(&retry_2);
    assert_eq!(r2.len(), 1);
    assert_eq!(header(&r2[0], names::ATTEMPTS), "4");
    let dlq = d.broker().records("in.dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].value.as_deref(), Some(&b"\"bad-1\""[..]));
    assert_eq!(
        header(&dlq[0], names::ORIGINAL_TOPIC),
        "in",
        "the original topic, not the retry topic"
    );
    assert_eq!(header(&dlq[0], names::ORIGINAL_OFFSET), "0");
    assert_eq!(
        header(&dlq[0], names::ATTEMPTS),
        "6",
        "2 attempts on each of 3 deliveries"
    );
    assert!(dlq[0].headers.get(names::RETRY_LEVEL).is_none());
    // 1 in-place retry per delivery (4 deliveries) and 3 hops to retry topics.
    assert_eq!(d.retries("rec", ErrorKind::Handler), 7);
    for topic in ["in", retry_1.as_str(), retry_2.as_str()] {
        assert_all_committed(&mut d, &group("rec"), topic);
    }
}

/// A processor output that JSON cannot hold when its map has non-string keys.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Ratio {
    Value(f64),
    Broken(BTreeMap<(i64, i64), i64>),
}

fn ratio(values: Flow<i64>) -> Flow<Ratio> {
    values.map(|v| match v {
        0 => Ratio::Broken(BTreeMap::from([((0, 0), 0)])),
        v => Ratio::Value(1.0 / v as f64),
    })
}

#[test]
fn processors_dead_letter_undecodable_input_and_unencodable_output() {
    let mut d = driver("ratio", ratio, 1);
    d.pipe_at("in", Some("a"), &2, 10);
    d.pipe_at("in", Some("b"), &"two", 11);
    d.pipe_at("in", Some("c"), &0, 12);
    d.pipe_at("in", Some("d"), &4, 13);
    assert_eq!(d.output_values::<f64>("out"), vec![0.5, 0.25]);
    let dlq = d.broker().records("in.dlq");
    assert_eq!(dlq.len(), 2);
    assert_eq!(header(&dlq[0], names::ERROR_KIND), "deserialization");
    assert_eq!(dlq[0].value.as_deref(), Some(&b"\"two\""[..]));
    assert_eq!(header(&dlq[1], names::ERROR_KIND), "serialization");
    assert_eq!(header(&dlq[1], names::ORIGINAL_OFFSET), "2");
    assert_eq!(
        dlq[1].value, None,
        "the input bytes are gone after map: the headers point at them"
    );
    assert_eq!(dlq[1].key.as_deref(), Some(&b"c"[..]));
    assert_eq!(d.dropped("ratio", DropReason::DeadLettered), 2);
    assert_all_committed(&mut d, &group("ratio"), "in");
}

#[test]
fn an_unwritable_dead_letter_topic_stops_the_app_before_the_record() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(listener(&seen, Some(policy::dead_letter())), &[("in", 1)]).unwrap();
    d.pipe("in", &"ok-0");
    d.broker().inject_produce_errors("in.dlq", 1);
    d.pipe("in", &"bad-1");
    d.pipe("in", &"ok-2");
    d.advance_time(Duration::from_secs(10));
    let error = d.app_error(0).expect("the app stopped");
    assert!(error.contains("in.dlq"), "{error}");
    assert_eq!(d.committed(&group("rec"), "in", 0), Some(kflow_core::Offset(1)));
}

#[test]
fn policies_that_cannot_apply_are_start_up_errors_naming_the_key() {
    fn id(v: Flow<i64>) -> Flow<i64> {
        v
    }
    let cases: Vec<(App, &str)> = vec![
        (
            App::new(APP).processor(
                Processor::new("p", id)
                    .input(["in"])
                    .output("out")
                    .on_error(policy::retry_topics([Duration::from_secs(1)])),
            ),
            "processor `p` on_error (deserialization errors)",
        ),
        (
            App::new(APP).processor(
                Processor::new("p", id)
                    .input(["in"])
                    .output("out")
                    .on_error_for(ErrorKind::Produce, policy::retry(2, Backoff::fixed(Duration::ZERO))),
            ),
            "processor `p` on_error (produce errors)",
        ),
        (
            listener(
                &Default::default(),
                Some(policy::retry(0, Backoff::fixed(Duration::ZERO))),
            ),
            "listener `rec` on_error (deserialization errors)",
        ),
        (
            listener(
                &Default::default(),
                Some(policy::dead_letter_with(DeadLetter::new().suffix("/x"))),
            ),
            "listener `rec` on_error",
        ),
    ];
    for (app, key) in cases {
        let error = TestDriver::new(app, &[("in", 1)])
            .err()
            .expect("start-up fails")
            .to_string();
        assert!(error.contains(key), "{error} should name {key}");
    }
}

#[test]
fn replay_writes_dead_letters_back_to_their_topic_without_failure_headers() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(listener(&seen, Some(policy::dead_letter())), &[("in", 1)]).unwrap();
    let mut rec = OutRecord::new("in", &b"\"bad-1\""[..]).with_key("k").with_timestamp(77);
    rec.headers.insert("trace-id", "t1");
    d.pipe_record(rec);
    d.pipe("in", &"bad-2");
    d.stop(0).unwrap();
    assert_eq!(d.broker().records("in.dlq").len(), 2);

    let broker = d.broker().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replay = || {
        Replay::new("in.dlq")
            .idle_timeout(Duration::from_millis(200))
            .run(&broker)
    };
    let report = rt.block_on(replay()).unwrap();
    assert_eq!(report.replayed, 2);
    assert_eq!(report.by_topic["in"], 2);
    let back = d.broker().records("in");
    assert_eq!(back.len(), 4);
    let r = &back[2];
    assert_eq!(r.value.as_deref(), Some(&b"\"bad-1\""[..]));
    assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r.meta.timestamp, 77);
    assert_eq!(r.headers.get_str("trace-id"), Some("t1"));
    assert!(
        r.headers.iter().all(|(n, _)| !n.starts_with(b"kflow.")),
        "{:?}",
        r.headers
    );
    // A second run finds nothing new: the first one committed.
    assert_eq!(rt.block_on(replay()).unwrap().replayed, 0);
}

#[test]
fn in_place_retry_waits_follow_the_backoff() {
    let calls = Arc::new(AtomicU32::new(0));
    let times: Arc<Mutex<Vec<tokio::time::Instant>>> = Default::default();
    let (c, t) = (calls.clone(), times.clone());
    let app = App::new(APP).listener(
        Listener::new("slow", ["in"], move |_v: String, _m: Meta| {
            let (c, t) = (c.clone(), t.clone());
            async move {
                t.lock().unwrap().push(tokio::time::Instant::now());
                c.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(HandlerError::from("always"))
            }
        })
        .on_error(
            policy::retry(
                4,
                Backoff::exponential(Duration::from_millis(100), 3.0).max_delay(Duration::from_millis(500)),
            )
            .then_skip(),
        ),
    );
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    d.pipe("in", &"x");
    d.advance_time(Duration::from_secs(2));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let times = times.lock().unwrap();
    let gaps: Vec<u128> = times.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert_eq!(gaps, [100, 300, 500], "exponential from 100 ms ×3, capped at 500 ms");
    assert_eq!(d.dropped("slow", DropReason::Skipped), 1);
}

#[test]
fn the_app_sets_default_policies_and_a_unit_setting_wins() {
    let seen: Seen = Default::default();
    let skip_all = listener(&seen, None).on_error(policy::skip());
    let mut d = TestDriver::new(skip_all, &[("in", 1)]).unwrap();
    d.pipe("in", &"bad-1");
    assert_eq!(d.dropped("rec", DropReason::Skipped), 1, "the app's default applies");
    assert_eq!(d.retries("rec", ErrorKind::Handler), 0);
    assert!(d.broker().records("in.dlq").is_empty());

    let seen: Seen = Default::default();
    let own = listener(&seen, Some(policy::dead_letter())).on_error(policy::skip());
    let mut d = TestDriver::new(own, &[("in", 1)]).unwrap();
    d.pipe("in", &"bad-1");
    assert_eq!(d.broker().records("in.dlq").len(), 1, "the listener's own policy wins");
    assert_eq!(d.dropped("rec", DropReason::Skipped), 0);
}

#[test]
fn a_shared_dead_letter_topic_takes_the_failures_of_every_topic_with_their_origin() {
    let seen: Seen = Default::default();
    let noted = seen.clone();
    let l = Listener::new("rec", ["in", "other"], move |value: String, _meta: Meta| {
        let noted = noted.clone();
        async move {
            if value.starts_with("bad") {
                return Err(HandlerError::from(format!("cannot handle {value}")));
            }
            noted.lock().unwrap().push(value);
            Ok(())
        }
    })
    .on_error(policy::dead_letter_with(
        policy::DeadLetter::new().topic("internal.dlq"),
    ));
    let mut d = TestDriver::new(App::new(APP).listener(l), &[("in", 1), ("other", 1)]).unwrap();
    assert!(d.broker().partitions("internal.dlq").is_some(), "created at start-up");
    d.pipe("in", &"bad-a");
    d.pipe("other", &"bad-b");
    d.pipe("in", &"ok");
    let dlq = d.broker().records("internal.dlq");
    let origins: Vec<String> = dlq
        .iter()
        .map(|r| {
            String::from_utf8_lossy(r.headers.get("kflow.original.topic").expect("the origin header")).into_owned()
        })
        .collect();
    assert_eq!(origins, ["in", "other"]);
    assert!(d.broker().records("in.dlq").is_empty() && d.broker().records("other.dlq").is_empty());
    assert_eq!(seen.lock().unwrap().as_slice(), ["ok"]);
    assert_all_committed(&mut d, &group("rec"), "in");
    assert_all_committed(&mut d, &group("rec"), "other");
}

/// A listener `name` on `topics` whose "flaky…" values fail on their first `fails` calls
/// (counted per listener), with shared retry tiers of 1 s and 1 min under
/// `internal.retry`, then the dead-letter topic.
fn tiered(name: &str, topics: &[&str], fails: u32, calls: &Arc<Mutex<Vec<(String, String)>>>) -> Listener<String> {
    let (calls, me) = (calls.clone(), name.to_string());
    let counts: Arc<Mutex<HashMap<String, u32>>> = Default::default();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    Listener::new(name, topics, move |value: String, _meta: Meta| {
        let (calls, me, counts) = (calls.clone(), me.clone(), counts.clone());
        async move {
            calls.lock().unwrap().push((me, value.clone()));
            let n = {
                let mut counts = counts.lock().unwrap();
                let n = counts.entry(value.clone()).or_default();
                *n += 1;
                *n
            };
            if n <= fails {
                return Err(HandlerError::from(format!("{value} failed (call {n})")));
            }
            Ok(())
        }
    })
    .on_error(
        policy::retry_topics([Duration::from_secs(1), Duration::from_secs(60)])
            .shared_retry_topics("internal.retry")
            .then_dead_letter(),
    )
}

#[test]
fn shared_retry_tiers_serve_every_topic_and_listener_and_each_retry_goes_back_to_its_own() {
    let calls: Arc<Mutex<Vec<(String, String)>>> = Default::default();
    // "billing" succeeds on its second call (after the 1 s tier); "audit" never does.
    let app = App::new(APP)
        .listener(tiered("billing", &["orders", "refunds"], 1, &calls))
        .listener(tiered("audit", &["orders"], 10, &calls));
    let mut d = TestDriver::new(app, &[("orders", 1), ("refunds", 1)]).unwrap();
    for tier in ["internal.retry.1s", "internal.retry.1min"] {
        assert!(d.broker().partitions(tier).is_some(), "{tier} created at start-up");
    }
    assert!(
        d.broker().partitions("orders.t-billing.retry.1").is_none(),
        "no per-topic retry topics"
    );
    d.pipe("orders", &"o-1");
    d.pipe("refunds", &"r-1");
    d.advance_time(Duration::from_secs(2));
    d.advance_time(Duration::from_secs(61));
    d.advance_time(Duration::from_secs(1));

    let of = |who: &str| -> Vec<String> {
        calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == who)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut billing = of("billing");
    billing.sort();
    assert_eq!(
        billing,
        ["o-1", "o-1", "r-1", "r-1"],
        "each of its records once more, from the 1 s tier"
    );
    assert_eq!(
        of("audit"),
        ["o-1", "o-1", "o-1"],
        "its own record, through both tiers, and none of billing's"
    );

    let tier_1s = d.broker().records("internal.retry.1s");
    let groups: Vec<(&str, &str)> = tier_1s
        .iter()
        .map(|r| (header(r, names::CONSUMER_GROUP), header(r, names::ORIGINAL_TOPIC)))
        .collect();
    assert_eq!(
        groups.len(),
        3,
        "billing's two records and audit's one share the 1 s tier"
    );
    assert!(groups.contains(&("t-billing", "orders")) && groups.contains(&("t-billing", "refunds")));
    assert!(groups.contains(&("t-audit", "orders")));
    assert_eq!(
        d.broker().records("internal.retry.1min").len(),
        1,
        "only audit's record went on"
    );
    let dlq = d.broker().records("orders.dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(header(&dlq[0], names::CONSUMER_GROUP), "t-audit");
    assert_eq!(
        header(&dlq[0], names::ORIGINAL_TOPIC),
        "orders",
        "the input, not the tier"
    );
    assert_eq!(
        d.dropped("billing", DropReason::ForeignRetry),
        2,
        "billing skipped audit's retry in each tier"
    );
    assert_eq!(
        d.dropped("audit", DropReason::ForeignRetry),
        2,
        "audit skipped billing's two"
    );
    for tier in ["internal.retry.1s", "internal.retry.1min"] {
        assert_all_committed(&mut d, &group("billing"), tier);
        assert_all_committed(&mut d, &group("audit"), tier);
    }
}

#[test]
fn a_bad_shared_retry_prefix_is_a_start_up_error() {
    let l = Listener::new("rec", ["in"], |_: String, _: Meta| async { Ok::<(), HandlerError>(()) })
        .on_error(policy::retry_topics([Duration::from_secs(1)]).shared_retry_topics("internal retry"));
    let err = TestDriver::new(App::new(APP).listener(l), &[("in", 1)])
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("rec") && text.contains("prefix `internal retry`"),
        "{text}"
    );
}
