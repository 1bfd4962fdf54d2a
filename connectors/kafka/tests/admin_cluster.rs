//! The cluster and topic changes on the real broker (tansu): describe the cluster, its
//! health (and a stopped broker's), delete groups. tansu implements neither
//! `CreatePartitions` nor `AlterConfigs` (nor does librdkafka's mock cluster), so for
//! adding partitions and altering configs these tests check what kflow does before the
//! broker call and that the broker's refusal comes back plainly, naming the topic; the
//! incremental merge of configs is unit-tested in `toolkit/admin/topic_changes.rs`.

mod common;

use std::time::Duration;

use common::*;
use kflow_kafka::{KafkaConfig, KafkaTransport, TopicSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_is_described_and_a_topic_is_healthy() {
    let t = real();
    let topic = unique("health");
    create(&t, &topic, 3).await;
    let admin = t.kafka_admin();
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1, "{cluster:?}");
    assert_eq!(
        format!("{}:{}", cluster.brokers[0].host, cluster.brokers[0].port),
        broker::address(),
        "the advertised listener"
    );
    assert!(cluster.topics >= 1);
    assert_eq!(
        cluster.controller,
        Some(cluster.brokers[0].id),
        "the one broker controls: {cluster:?}"
    );
    let health = admin.cluster_health(&[&topic]).await.unwrap();
    assert_eq!(health.partitions, 3);
    assert!(health.is_healthy(), "{health:?}");
    assert_eq!(health.brokers, 1);
    assert!(health.ping_ms > 0.0);
    let err = admin.cluster_health(&["no-such-topic-here"]).await.unwrap_err();
    assert!(err.to_string().contains("no-such-topic-here"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflects_a_stopped_broker() {
    let (address, mut broker) = broker::start_own();
    let t = KafkaTransport::connect(KafkaConfig::new(&address).connect_timeout(Duration::from_secs(3))).unwrap();
    let admin = t.kafka_admin();
    assert!(admin.ping().await.is_ok());
    broker.kill().unwrap();
    broker.wait().unwrap();
    let err = admin.ping().await.expect_err("a stopped broker does not answer");
    assert!(err.to_string().contains(&address), "the error names the address: {err}");
    assert!(admin.cluster_health(&[]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_partitions_is_checked_first_and_a_refusal_names_the_topic() {
    let t = real();
    let topic = unique("grow");
    create(&t, &topic, 2).await;
    let admin = t.kafka_admin();
    let err = admin.add_partitions(&topic, 2).await.unwrap_err();
    assert!(
        err.to_string().contains(&topic) && err.to_string().contains("only be added"),
        "{err}"
    );
    let err = admin.add_partitions("no-such-topic-grow", 3).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // tansu has no CreatePartitions: the refusal says so, and nothing changed.
    let err = admin.add_partitions(&topic, 4).await.unwrap_err();
    assert!(
        err.to_string().contains(&topic) && err.to_string().contains("does not support CreatePartitions"),
        "{err}"
    );
    assert_eq!(admin.describe(&topic).await.unwrap().partitions.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_the_broker_refuses_names_the_topic_and_changes_nothing() {
    let t = real();
    let topic = unique("alter");
    t.kafka_admin()
        .create_topics(&[TopicSettings::new()
            .partitions(1)
            .config("retention.ms", "600000")
            .topic(&topic)])
        .await
        .unwrap();
    let admin = t.kafka_admin();
    let err = admin
        .alter_topic_config(&topic, &[("retention.ms", "900000")], &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&topic) && err.to_string().contains("does not support AlterConfigs"),
        "{err}"
    );
    let described = admin.describe(&topic).await.unwrap();
    assert_eq!(
        described.configs.get("retention.ms").map(String::as_str),
        Some("600000")
    );
    assert!(admin.alter_topic_config("no-such-topic-alter", &[], &[]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_members_is_deleted_with_its_offsets() {
    let t = real();
    let topic = unique("delgroup");
    create(&t, &topic, 1).await;
    let group = unique("group-to-delete");
    let admin = t.kafka_admin();
    admin
        .reset_offsets(&group, &[&topic], kflow_kafka::ResetTo::Offset(kflow_core::Offset(0)))
        .await
        .unwrap();
    assert!(admin.list_groups().await.unwrap().iter().any(|g| g.name == group));
    admin.delete_groups(&[&group]).await.unwrap();
    assert!(
        !admin.list_groups().await.unwrap().iter().any(|g| g.name == group),
        "the group is gone"
    );
    // tansu answers a deletion of an unknown group with success (Kafka says
    // GroupIdNotFound, which kflow reports as "does not exist").
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_health_check_takes_readiness_away_when_the_broker_stops() {
    let (address, mut broker) = broker::start_own();
    let t = KafkaTransport::connect(KafkaConfig::new(&address).connect_timeout(Duration::from_secs(2))).unwrap();
    let topic = unique("hc");
    create(&t, &topic, 1).await;
    let check = kflow_kafka::ClusterHealthCheck::new(t.kafka_admin().clone())
        .topics([topic.as_str()])
        .every(Duration::from_millis(200))
        .gate_readiness();
    let handle = kflow_core::App::new(unique("hc-app"))
        .transport(t.clone())
        .service(check)
        .start()
        .await
        .unwrap();
    let health = handle.health().clone();
    assert!(
        eventually(Duration::from_secs(10), || health.is_ready()).await,
        "ready while the cluster is healthy: {:?}",
        health.why_not_ready()
    );
    broker.kill().unwrap();
    broker.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(30), || health
            .why_not_ready()
            .is_some_and(|why| why.starts_with("cluster: the cluster does not answer")))
        .await,
        "{:?}",
        health.why_not_ready()
    );
    drop(handle);
}
