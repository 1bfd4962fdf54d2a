//! Consumer-group operations against the real broker: list, describe with assignments,
//! lag, and offset resets that only an inactive group allows.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kflow_core::transport::{Admin, NewTopic};
use kflow_core::{App, HandlerError, Listener, Offset, TopicPartition};
use kflow_kafka::{KafkaTransport, ProduceRecord, ProducerOptions, ResetTo, TypedProducer};

/// A listener app counting what it handles.
fn counting(t: &KafkaTransport, app: &str, topic: &str, count: &Arc<AtomicUsize>) -> App {
    let count = count.clone();
    let mut listener = Listener::new("count", [topic], move |_: String, _: kflow_core::Meta| {
        count.fetch_add(1, Ordering::SeqCst);
        async { Ok::<(), HandlerError>(()) }
    });
    for (k, v) in TEST_PROPS {
        listener = listener.property(k, v);
    }
    App::new(app)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .listener(listener)
}

/// Writes `n` JSON strings at timestamps `base + i`, alternating partitions 0 and 1.
async fn write(t: &KafkaTransport, topic: &str, n: i64, base: i64) {
    let producer = TypedProducer::<String, String>::json(t.config(), ProducerOptions::new()).unwrap();
    let reports = producer
        .send_batch((0..n).map(|i| {
            ProduceRecord::new(topic, format!("v{i}"))
                .partition((i % 2) as i32)
                .timestamp(base + i)
        }))
        .await;
    assert!(reports.iter().all(Result::is_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_described_and_reset_only_when_inactive() {
    let t = real();
    let admin = t.kafka_admin();
    let topic = unique("groups-in");
    admin.create_topics(&[NewTopic::new(&topic, 2)]).await.unwrap();
    let base = 1_700_000_000_000;
    write(&t, &topic, 20, base).await;

    let app_id = unique("groups-app");
    let group = format!("{app_id}-count");
    let count = Arc::new(AtomicUsize::new(0));
    let handle = counting(&t, &app_id, &topic, &count).start().await.unwrap();
    assert!(
        eventually(Duration::from_secs(60), || count.load(Ordering::SeqCst) >= 20).await,
        "the app handled the records"
    );
    assert!(
        committed_reaches(&t, &group, &topic, 2, 20, Duration::from_secs(10)).await,
        "all 20 committed"
    );

    let listed = admin.list_groups().await.unwrap();
    let summary = listed.iter().find(|g| g.name == group).expect("the group is listed");
    assert_eq!(summary.members, 1);
    let described = admin.describe_group(&group).await.unwrap();
    assert_eq!((described.state.as_str(), described.members.len()), ("Stable", 1));
    // tansu does not report member assignments (Kafka does; the parser has a unit test).
    let mut assigned = described.members[0].assignment.clone();
    assigned.sort();
    let both = [
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    ];
    assert!(assigned.is_empty() || assigned == both, "{assigned:?}");

    let lag = admin.group_lag(&group, &[]).await.unwrap();
    let mut by_partition: Vec<(String, i32, Option<i64>)> = lag
        .iter()
        .map(|l| {
            (
                l.partition.topic.to_string(),
                l.partition.partition.0,
                l.committed.map(|o| o.0),
            )
        })
        .collect();
    by_partition.sort();
    assert_eq!(
        by_partition,
        [(topic.clone(), 0, Some(10)), (topic.clone(), 1, Some(10))],
        "lag covers the topics the group committed on"
    );

    let refused = admin
        .reset_offsets(&group, &[&topic], ResetTo::Earliest)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("active member"), "{refused}");
    assert_eq!(
        committed(&t, &group, &topic, 2)
            .await
            .values()
            .map(|o| o.unwrap())
            .sum::<i64>(),
        20
    );

    handle.shutdown().await.unwrap();
    assert!(admin.wait_group_empty(&group, Duration::from_secs(30)).await.unwrap());

    let plan = admin.plan_reset(&group, &[&topic], ResetTo::Earliest).await.unwrap();
    assert!(
        plan.iter().all(|c| c.from == Some(Offset(10)) && c.to == Offset(0)),
        "{plan:?}"
    );
    assert_eq!(
        committed(&t, &group, &topic, 2).await[&0],
        Some(10),
        "a plan changes nothing"
    );

    let changes = admin.reset_offsets(&group, &[&topic], ResetTo::Earliest).await.unwrap();
    assert!(changes.iter().all(|c| c.to == Offset(0)), "{changes:?}");
    assert_eq!(
        committed(&t, &group, &topic, 2)
            .await
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [Some(0), Some(0)]
    );
    // The library's own look-up (the tests' helper keeps a client of its own).
    let partitions = (0..2).map(|p| TopicPartition::new(topic.as_str(), p)).collect();
    assert_eq!(
        admin.committed(&group, partitions).await.unwrap(),
        [
            (TopicPartition::new(topic.as_str(), 0), Some(Offset(0))),
            (TopicPartition::new(topic.as_str(), 1), Some(Offset(0))),
        ],
        "Admin::committed reads the reset offsets"
    );

    let changes = admin.reset_offsets(&group, &[&topic], ResetTo::Earliest).await.unwrap();
    assert!(
        changes.iter().all(|c| c.from == Some(Offset(0)) && c.to == Offset(0)),
        "{changes:?}"
    );
    // From offset 6 on each partition (tansu's end offsets are wrong: resets to an
    // offset or the end are tested on the embedded broker below).
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(&topic, p, rdkafka::Offset::Offset(6)).unwrap();
    }
    commit_as(&t, &group, &tpl);

    // Restarted, the group reads from the reset offsets: 4 + 4 records again.
    count.store(0, Ordering::SeqCst);
    let handle = counting(&t, &app_id, &topic, &count).start().await.unwrap();
    assert!(eventually(Duration::from_secs(60), || count.load(Ordering::SeqCst) >= 8).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        8,
        "exactly the records after the reset point"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_operations_name_a_missing_topic() {
    let t = real();
    let missing = unique("groups-missing");
    let err = t
        .kafka_admin()
        .reset_offsets(&unique("nobody"), &[&missing], ResetTo::Earliest)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

/// On the embedded broker, whose end offsets are right (tansu's are not): lag, and
/// resets to an offset (clamped to the log) and to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_and_resets_to_an_offset_or_the_end_on_the_embedded_broker() {
    let t = KafkaTransport::embedded().unwrap();
    let admin = t.kafka_admin();
    let topic = unique("groups-embedded");
    admin.create_topics(&[NewTopic::new(&topic, 2)]).await.unwrap();
    write(&t, &topic, 20, 1_700_000_000_000).await;
    let group = unique("groups-embedded-g");

    let lag = admin.group_lag(&group, &[&topic]).await.unwrap();
    let summary: Vec<(i32, Option<i64>, i64, i64)> = lag
        .iter()
        .map(|l| (l.partition.partition.0, l.committed.map(|o| o.0), l.end.0, l.lag))
        .collect();
    assert_eq!(summary, [(0, None, 10, 10), (1, None, 10, 10)], "nothing committed yet");

    let changes = admin
        .reset_offsets(&group, &[&topic], ResetTo::Offset(Offset(4)))
        .await
        .unwrap();
    assert!(
        changes.iter().all(|c| c.from.is_none() && c.to == Offset(4)),
        "{changes:?}"
    );
    let lag = admin.group_lag(&group, &[&topic]).await.unwrap();
    assert!(
        lag.iter().all(|l| l.committed == Some(Offset(4)) && l.lag == 6),
        "{lag:?}"
    );

    let changes = admin
        .reset_offsets(&group, &[&topic], ResetTo::Offset(Offset(99)))
        .await
        .unwrap();
    assert!(
        changes.iter().all(|c| c.to == Offset(10)),
        "clamped to the end: {changes:?}"
    );

    admin.reset_offsets(&group, &[&topic], ResetTo::Earliest).await.unwrap();
    let changes = admin.reset_offsets(&group, &[&topic], ResetTo::Latest).await.unwrap();
    assert!(
        changes.iter().all(|c| c.from == Some(Offset(0)) && c.to == Offset(10)),
        "{changes:?}"
    );

    let lag = admin.group_lag(&group, &[]).await.unwrap();
    assert_eq!(lag.iter().map(|l| l.lag).sum::<i64>(), 0, "{lag:?}");
}

/// Commits offsets for `group` from outside it, as `kafka-consumer-groups` would.
fn commit_as(t: &KafkaTransport, group: &str, tpl: &rdkafka::TopicPartitionList) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", t.config().brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    consumer.commit(tpl, CommitMode::Sync).unwrap();
}
