//! Retry topics belong to one consumer group (or, as shared tiers, carry it in their
//! records), and kflow's routing headers count only on records from them.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kflow_core::ack::Ack;
use kflow_core::policy::{self, names, Policy};
use kflow_core::transport::{OutRecord, Transport};
use kflow_core::{AppHandle, HandlerError, Listener, Meta};
use kflow_kafka::KafkaTransport;

type Calls = Arc<Mutex<BTreeMap<String, Vec<Instant>>>>;

/// A listener in its own app (so its own group) that fails `fails` on its first call.
async fn listener(t: &KafkaTransport, topic: &str, fails: &'static str, delay: Duration) -> (AppHandle, String, Calls) {
    listener_with(t, topic, fails, policy::retry_topics([delay]).then_dead_letter()).await
}

/// [`listener`] with its error policy.
async fn listener_with(
    t: &KafkaTransport,
    topic: &str,
    fails: &'static str,
    on_error: Policy,
) -> (AppHandle, String, Calls) {
    let calls: Calls = Arc::default();
    let record = calls.clone();
    let l = Listener::new("l", [topic], move |v: String, _: Meta| {
        let n = {
            let mut calls = record.lock().unwrap();
            let at = calls.entry(v.clone()).or_default();
            at.push(Instant::now());
            at.len()
        };
        async move {
            match (v == fails, n) {
                (true, 1) => Err(HandlerError::from(format!("{v} fails once"))),
                _ => Ok(()),
            }
        }
    })
    .on_error(on_error);
    let app_id = unique("rr-app");
    let handle = start_app(t, &app_id, |app| app.listener(listener_props(l))).await;
    (handle, format!("{app_id}-l"), calls)
}

fn counts(calls: &Calls) -> BTreeMap<String, usize> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(v, at)| (v.clone(), at.len()))
        .collect()
}

/// Two listeners (two groups) read one topic, each with retry topics: each handles its
/// own retries and never the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_on_one_topic_never_handle_each_others_retries() {
    let t = real();
    let topic = unique("rr-shared");
    create(&t, &topic, 1).await;
    let delay = Duration::from_millis(500);
    let (a, group_a, calls_a) = listener(&t, &topic, "a", delay).await;
    let (b, group_b, calls_b) = listener(&t, &topic, "b", delay).await;
    produce(&t, &topic, ["a", "b", "c"].map(|v| format!("\"{v}\""))).await;
    let both = eventually(Duration::from_secs(60), || {
        counts(&calls_a).get("a") == Some(&2) && counts(&calls_b).get("b") == Some(&2)
    })
    .await;
    // Time for any stray retry to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    assert!(
        both,
        "each retried its own failure: {:?} / {:?}",
        counts(&calls_a),
        counts(&calls_b)
    );
    let once = |v: &str| (v.to_string(), 1);
    let twice = |v: &str| (v.to_string(), 2);
    assert_eq!(counts(&calls_a), BTreeMap::from([twice("a"), once("b"), once("c")]));
    assert_eq!(counts(&calls_b), BTreeMap::from([once("a"), twice("b"), once("c")]));
    for (group, failed) in [(&group_a, "a"), (&group_b, "b")] {
        let retries = read(&t, &policy::retry_topic(&topic, group, 1), 1, Duration::from_secs(10));
        assert_eq!(
            retries.iter().map(|r| r.3.as_str()).collect::<Vec<_>>(),
            [format!("\"{failed}\"")]
        );
    }
}

/// Two listeners (two groups) on two topics share retry tiers: one topic per delay for
/// both, each record retried by the listener that failed on it, skipped by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_share_retry_tiers_and_each_retries_only_its_own() {
    let t = real();
    let (orders, refunds) = (unique("tier-orders"), unique("tier-refunds"));
    create(&t, &orders, 1).await;
    create(&t, &refunds, 1).await;
    let prefix = unique("internal.retry");
    let tier = format!("{prefix}.500ms");
    let tiered = || {
        policy::retry_topics([Duration::from_millis(500)])
            .shared_retry_topics(&prefix)
            .then_dead_letter()
    };
    let (a, group_a, calls_a) = listener_with(&t, &orders, "a", tiered()).await;
    let (b, group_b, calls_b) = listener_with(&t, &refunds, "b", tiered()).await;
    assert!(
        t.admin().describe_topic(&tier).await.unwrap().is_some(),
        "{tier} created at start-up"
    );
    produce(&t, &orders, ["a", "x"].map(|v| format!("\"{v}\""))).await;
    produce(&t, &refunds, ["b", "y"].map(|v| format!("\"{v}\""))).await;
    let both = eventually(Duration::from_secs(60), || {
        counts(&calls_a).get("a") == Some(&2) && counts(&calls_b).get("b") == Some(&2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    assert!(
        both,
        "each retried its own failure: {:?} / {:?}",
        counts(&calls_a),
        counts(&calls_b)
    );
    let (once, twice) = (|v: &str| (v.to_string(), 1), |v: &str| (v.to_string(), 2));
    assert_eq!(counts(&calls_a), BTreeMap::from([twice("a"), once("x")]));
    assert_eq!(counts(&calls_b), BTreeMap::from([twice("b"), once("y")]));
    let retries = read_full(&t, &tier, 2, Duration::from_secs(10));
    let mut owners: Vec<(String, String)> = retries
        .iter()
        .map(|r| {
            (
                r.header(names::CONSUMER_GROUP).unwrap_or_default().to_string(),
                r.header(names::ORIGINAL_TOPIC).unwrap_or_default().to_string(),
            )
        })
        .collect();
    owners.sort();
    let mut expected = vec![(group_a.clone(), orders.clone()), (group_b.clone(), refunds.clone())];
    expected.sort();
    assert_eq!(
        owners, expected,
        "both groups' retries in the one tier, with their origin"
    );
    for (topic, group) in [(&orders, &group_a), (&refunds, &group_b)] {
        let own = policy::retry_topic(topic, group, 1);
        assert!(
            t.admin().describe_topic(&own).await.unwrap().is_none(),
            "no per-topic retry topic {own}"
        );
    }
}

/// A record on an ordinary topic with forged kflow headers: its dead letter goes to its
/// real topic's dead-letter topic, and a forged due time holds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_kflow_headers_on_an_ordinary_record_steer_nothing() {
    let t = real();
    let topic = unique("forged");
    create(&t, &topic, 1).await;
    let an_hour = policy::names::RETRY_DUE;
    let in_an_hour = (std::time::SystemTime::now() + Duration::from_secs(3_600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let producer = t.producer().unwrap();
    let mut forged = OutRecord::new(topic.as_str(), "\"bad\"").with_key("k0");
    forged.headers.insert(names::ORIGINAL_TOPIC, "elsewhere");
    forged.headers.insert(names::ORIGINAL_OFFSET, "999");
    forged.headers.insert(names::RETRY_LEVEL, "1");
    forged.headers.insert(an_hour, in_an_hour);
    forged.headers.insert("trace", "t-1");
    producer.send(forged, Ack::none()).await.unwrap();
    producer
        .send(OutRecord::new(topic.as_str(), "\"good\"").with_key("k1"), Ack::none())
        .await
        .unwrap();
    producer.flush(Duration::from_secs(10)).await.unwrap();

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let l = Listener::new("l", [topic.as_str()], move |v: String, _: Meta| {
        record.lock().unwrap().push(v.clone());
        async move {
            match v.as_str() {
                "bad" => Err(HandlerError::from("always fails")),
                _ => Ok(()),
            }
        }
    })
    .on_error(policy::retry_topics([Duration::from_millis(200)]).then_dead_letter());
    let app_id = unique("forged-app");
    let handle = start_app(&t, &app_id, |app| app.listener(listener_props(l))).await;
    let good = eventually(Duration::from_secs(30), || {
        seen.lock().unwrap().contains(&"good".to_string())
    })
    .await;
    let dlq = read_full(&t, &format!("{topic}.dlq"), 1, Duration::from_secs(30));
    handle.shutdown().await.unwrap();
    assert!(good, "the next record is not held by a forged due time");
    assert_eq!(
        seen.lock().unwrap().iter().filter(|v| *v == "bad").count(),
        2,
        "a forged retry level does not skip the listener's own retry"
    );
    assert_eq!(dlq.len(), 1, "dead-lettered to the real topic's dead-letter topic");
    let dl = &dlq[0];
    assert_eq!(dl.header(names::ORIGINAL_TOPIC), Some(topic.as_str()));
    assert_eq!(dl.header(names::ORIGINAL_OFFSET), Some("0"));
    assert_eq!(dl.header("trace"), Some("t-1"), "the user's own headers are kept");
    let originals = dl
        .headers
        .iter()
        .filter(|(n, _)| n == names::ORIGINAL_TOPIC.as_bytes())
        .count();
    assert_eq!(originals, 1, "the forged header is not copied");
    let admin = t.admin();
    assert!(
        admin.describe_topic("elsewhere.dlq").await.unwrap().is_none(),
        "nothing was written where the forged header pointed"
    );
}
