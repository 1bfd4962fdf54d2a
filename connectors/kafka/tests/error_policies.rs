//! Error policies against the real broker (tansu): poison pills, handler errors and panics
//! ending in the dead-letter topic, in-place retries, retry topics with their delays,
//! `fail` with a restart; and an unwritable dead-letter topic on the mock cluster.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kflow_core::policy::{self, names, Policy};
use kflow_core::{App, AppHandle, DropReason, ErrorKind, HandlerError, Listener, Meta};
use kflow_kafka::KafkaTransport;

type Calls = Arc<Mutex<BTreeMap<u64, Vec<Instant>>>>;

/// Starts a listener `l` on `topic` whose handler records each call, then runs `outcome`
/// on the value and its call count to decide what the call does.
async fn start(
    t: &KafkaTransport,
    topic: &str,
    policy: Option<Policy>,
    outcome: fn(u64, usize) -> Result<(), String>,
) -> (AppHandle, String, Calls) {
    let calls: Calls = Default::default();
    let recorded = calls.clone();
    let mut l = Listener::new("l", [topic], move |v: u64, _meta: Meta| {
        let calls = recorded.clone();
        async move {
            let n = {
                let mut calls = calls.lock().unwrap();
                let c = calls.entry(v).or_default();
                c.push(Instant::now());
                c.len()
            };
            outcome(v, n).map_err(HandlerError::from)
        }
    });
    for (k, v) in TEST_PROPS {
        l = l.property(k, v);
    }
    if let Some(p) = policy {
        l = l.on_error(p);
    }
    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .listener(l);
    let group = format!("{}-l", app.id());
    (app.start().await.unwrap(), group, calls)
}

/// Values 3, 28, 53, … panic.
fn cursed(v: u64) -> bool {
    v % 25 == 3
}

/// Every 10th value fails, cursed values panic; the rest succeed.
fn mixed(v: u64, _call: usize) -> Result<(), String> {
    if cursed(v) {
        panic!("value {v} is cursed");
    }
    if v % 10 == 0 {
        return Err(format!("every 10th fails: {v}"));
    }
    Ok(())
}

fn succeeds(v: u64) -> bool {
    !cursed(v) && v % 10 != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_ends_in_the_handler_or_the_dead_letter_topic_exactly_once() {
    let t = real();
    let topic = unique("mixed");
    create(&t, &topic, 3).await;
    let (mut handle, group, calls) = start(&t, &topic, None, mixed).await;
    let poison = |i: u64| i % 40 == 7;
    let inputs: Vec<String> = (0..200)
        .map(|i| {
            if poison(i) {
                format!("not json {i}")
            } else {
                i.to_string()
            }
        })
        .collect();
    produce(&t, &topic, inputs.clone()).await;

    let dlq = read_full(&t, &format!("{topic}.dlq"), 33, Duration::from_secs(60));
    assert!(handle.error().is_none(), "the app keeps running");
    let stats = handle.stats().clone();
    let handled_ok = |calls: &Calls| {
        let calls = calls.lock().unwrap();
        calls.keys().filter(|v| succeeds(**v)).count()
    };
    assert!(
        eventually(Duration::from_secs(30), || handled_ok(&calls) == 167).await,
        "handled {}",
        handled_ok(&calls)
    );
    handle.shutdown().await.unwrap();

    // 5 poison pills, 20 errors, 8 panics: in the dead-letter topic once each, with headers.
    assert_eq!(dlq.len(), 33, "{dlq:#?}");
    let mut dead: BTreeSet<String> = BTreeSet::new();
    for r in &dlq {
        let value = r.value.clone().unwrap();
        assert!(dead.insert(value.clone()), "{value} dead-lettered twice");
        let i: u64 = r.key.as_deref().unwrap()[1..].parse().unwrap();
        assert_eq!(value, inputs[i as usize], "original key and value");
        assert_eq!(r.header(names::ORIGINAL_TOPIC), Some(topic.as_str()));
        assert_eq!(r.header(names::CONSUMER_GROUP), Some(group.as_str()));
        assert_eq!(r.header(names::PROCESSOR), Some("l"));
        assert!(r.header(names::ORIGINAL_PARTITION).is_some() && r.header(names::ORIGINAL_OFFSET).is_some());
        assert_eq!(
            r.header(names::ORIGINAL_TIMESTAMP).map(|t| t.parse::<i64>().unwrap()),
            r.timestamp
        );
        let (kind, message, attempts) = (
            r.header(names::ERROR_KIND).unwrap(),
            r.header(names::ERROR_MESSAGE).unwrap(),
            r.header(names::ATTEMPTS).unwrap(),
        );
        match () {
            _ if poison(i) => assert_eq!((kind, attempts), ("deserialization", "1"), "{message}"),
            _ if cursed(i) => {
                assert_eq!((kind, attempts), ("handler", "4"));
                assert!(message.contains(&format!("panicked: value {i} is cursed")), "{message}");
            }
            _ => {
                assert_eq!((kind, attempts), ("handler", "4"));
                assert_eq!(message, format!("every 10th fails: {i}"));
            }
        }
    }
    // Every input is in exactly one place.
    let ok: BTreeSet<u64> = calls.lock().unwrap().keys().copied().filter(|v| succeeds(*v)).collect();
    assert_eq!(ok.len() + dead.len(), 200);
    assert_eq!(stats.dropped("l", DropReason::DeadLettered), 33);
    assert_eq!(stats.retries("l", ErrorKind::Handler), 28 * 3);
    assert_eq!(stats.retries("l", ErrorKind::Deserialization), 0);
    let committed: i64 = committed(&t, &group, &topic, 3)
        .await
        .values()
        .map(|o| o.unwrap_or(0))
        .sum();
    assert_eq!(committed, 200, "every input committed, dead-lettered ones included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_fails_twice_then_succeeds_is_retried_in_place_only() {
    let t = real();
    let topic = unique("flaky");
    create(&t, &topic, 1).await;
    let (handle, group, calls) = start(&t, &topic, None, |v, n| match (v, n) {
        (3, 1 | 2) => Err(format!("transient failure {n}")),
        _ => Ok(()),
    })
    .await;
    produce(&t, &topic, numbers(0..6)).await;
    assert!(eventually(Duration::from_secs(30), || calls.lock().unwrap().len() == 6).await);
    let stats = handle.stats().clone();
    handle.shutdown().await.unwrap();

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls[&3].len(), 3);
    let gaps: Vec<Duration> = calls[&3].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(100) && gaps[1] >= Duration::from_millis(200),
        "{gaps:?}"
    );
    assert_eq!(stats.retries("l", ErrorKind::Handler), 2);
    assert!(read(&t, &format!("{topic}.dlq"), 1, Duration::from_secs(2)).is_empty());
    assert_eq!(committed(&t, &group, &topic, 1).await[&0], Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_topics_respect_their_delays_then_dead_letter() {
    let t = real();
    let topic = unique("later");
    create(&t, &topic, 1).await;
    let p = policy::retry_topics([Duration::from_secs(1), Duration::from_secs(2)]).then_dead_letter();
    let (handle, group, calls) = start(&t, &topic, Some(p), |v, n| match (v, n) {
        (1, _) => Err("always fails".into()),
        (2, 1) => Err("fails once".into()),
        _ => Ok(()),
    })
    .await;
    produce(&t, &topic, numbers(0..4)).await;
    let dlq = read_full(&t, &format!("{topic}.dlq"), 1, Duration::from_secs(60));
    assert!(
        eventually(Duration::from_secs(10), || calls.lock().unwrap().get(&2).map(Vec::len)
            == Some(2))
        .await
    );
    let stats = handle.stats().clone();
    handle.shutdown().await.unwrap();

    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        (calls[&0].len(), calls[&3].len()),
        (1, 1),
        "other records are not held up"
    );
    let gap = |v: u64, i: usize| calls[&v][i + 1] - calls[&v][i];
    let within =
        |d: Duration, want: u64| d >= Duration::from_millis(want - 20) && d < Duration::from_millis(want + 5_000);
    assert_eq!(calls[&2].len(), 2, "succeeds on .retry.1");
    assert!(within(gap(2, 0), 1_000), "{:?}", gap(2, 0));
    assert_eq!(calls[&1].len(), 3);
    assert!(within(gap(1, 0), 1_000), "{:?}", gap(1, 0));
    assert!(within(gap(1, 1), 2_000), "{:?}", gap(1, 1));

    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].value.as_deref(), Some("1"));
    assert_eq!(dlq[0].header(names::ORIGINAL_TOPIC), Some(topic.as_str()));
    assert_eq!(dlq[0].header(names::ORIGINAL_OFFSET), Some("1"));
    assert_eq!(dlq[0].header(names::ATTEMPTS), Some("3"));
    assert_eq!(dlq[0].header(names::RETRY_LEVEL), None);
    let (retry_1, retry_2) = (
        policy::retry_topic(&topic, &group, 1),
        policy::retry_topic(&topic, &group, 2),
    );
    assert_eq!(read(&t, &retry_1, 2, Duration::from_secs(10)).len(), 2);
    assert_eq!(read(&t, &retry_2, 1, Duration::from_secs(10)).len(), 1);
    assert_eq!(stats.retries("l", ErrorKind::Handler), 3, "three hops to retry topics");
    for (t2, n) in [(topic.clone(), 4), (retry_1, 2), (retry_2, 1)] {
        assert_eq!(committed(&t, &group, &t2, 1).await[&0], Some(n), "{t2}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_stops_the_app_before_the_record_and_a_restart_resumes_there() {
    let t = real();
    let topic = unique("fail");
    create(&t, &topic, 1).await;
    let (mut handle, group, calls) = start(&t, &topic, Some(policy::fail()), |v, _| match v {
        5 => Err("cannot handle 5".into()),
        _ => Ok(()),
    })
    .await;
    produce(&t, &topic, numbers(0..10)).await;
    tokio::time::timeout(Duration::from_secs(30), handle.stopped())
        .await
        .expect("the app stops by itself");
    let error = handle.shutdown().await.unwrap_err().to_string();
    assert!(
        error.contains("handler error") && error.contains("cannot handle 5"),
        "{error}"
    );
    assert_eq!(
        calls.lock().unwrap().keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(committed(&t, &group, &topic, 1).await[&0], Some(5));

    // The fixed app, same group: starts at the failed record.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let mut l = Listener::new("l", [topic.as_str()], move |v: u64, _m: Meta| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(v);
            Ok::<(), HandlerError>(())
        }
    })
    .group_id(&group);
    for (k, v) in TEST_PROPS {
        l = l.property(k, v);
    }
    let handle = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .listener(l)
        .start()
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(30), || calls.lock().unwrap().len() == 5).await);
    handle.shutdown().await.unwrap();
    assert_eq!(*calls.lock().unwrap(), [5, 6, 7, 8, 9]);
    assert_eq!(committed(&t, &group, &topic, 1).await[&0], Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_dead_letter_topic_stops_the_app_and_commits_nothing_past_the_record() {
    use rdkafka::types::RDKafkaRespErr;
    let t = KafkaTransport::embedded().unwrap();
    let topic = unique("nodlq");
    create(&t, &topic, 1).await;
    create(&t, &format!("{topic}.dlq"), 1).await;
    produce(&t, &topic, ["1", "2", "poison", "4"].map(String::from)).await;
    // The next write request of any client fails for good: the app's dead-letter write.
    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED];
    t.embedded_broker().unwrap().inject_produce_errors(&errors).unwrap();
    let (mut handle, group, _calls) = start(&t, &topic, None, |_, _| Ok(())).await;
    tokio::time::timeout(Duration::from_secs(30), handle.stopped())
        .await
        .expect("the app stops by itself");
    let error = handle.shutdown().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("{topic}.dlq")),
        "names the dead-letter topic: {error}"
    );
    let committed = committed(&t, &group, &topic, 1).await[&0].unwrap_or(0);
    assert!(
        committed <= 2,
        "committed {committed}: past the record that could not be dead-lettered"
    );
    assert!(read(&t, &format!("{topic}.dlq"), 1, Duration::from_secs(2)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_republishes_dead_letters_and_leaves_new_failures_for_the_next_run() {
    let t = real();
    let topic = unique("replay");
    create(&t, &topic, 1).await;
    // 2 always fails: replayed, it fails again while the replay runs.
    let (handle, _group, calls) = start(&t, &topic, Some(policy::dead_letter()), |v, _| match v {
        2 => Err("not today".into()),
        _ => Ok(()),
    })
    .await;
    produce(&t, &topic, numbers(0..4)).await;
    let dlq_topic = format!("{topic}.dlq");
    assert_eq!(read(&t, &dlq_topic, 1, Duration::from_secs(30)).len(), 1);

    let replay = || {
        let mut r = policy::Replay::new(&dlq_topic).idle_timeout(Duration::from_secs(3));
        for (k, v) in TEST_PROPS {
            r = r.property(k, v);
        }
        r.run(&t)
    };
    let report = tokio::time::timeout(Duration::from_secs(60), replay())
        .await
        .expect("the replay ends although its record fails again")
        .unwrap();
    assert_eq!(report.replayed, 1);
    assert_eq!(report.by_topic[&topic], 1);
    assert!(eventually(Duration::from_secs(30), || calls.lock().unwrap()[&2].len() == 2).await);
    assert_eq!(
        read(&t, &dlq_topic, 2, Duration::from_secs(30)).len(),
        2,
        "dead-lettered again"
    );
    handle.shutdown().await.unwrap();

    let back = read_full(&t, &topic, 5, Duration::from_secs(30));
    assert_eq!(back.len(), 5);
    let last = &back[4];
    assert_eq!((last.key.as_deref(), last.value.as_deref()), (Some("k2"), Some("2")));
    assert_eq!(last.timestamp, back[2].timestamp, "the original timestamp");
    assert!(
        last.headers.iter().all(|(n, _)| !n.starts_with(b"kflow.")),
        "{:?}",
        last.headers
    );
    // The next run takes the new dead letter, and the one after finds nothing.
    assert_eq!(replay().await.unwrap().replayed, 1);
    assert_eq!(replay().await.unwrap().replayed, 0, "each run committed");
}
