//! Topic administration against the real broker: create with configs (idempotently),
//! list, describe, delete, declarative topic sets and checked names.

mod common;

use std::time::Duration;

use common::*;
use kflow_kafka::{CleanupPolicy, Created, NamingRule, TopicSet, TopicSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_once_listed_described_and_deleted() {
    let t = real();
    let admin = t.kafka_admin();
    let name = unique("admin-topic");
    let settings = TopicSettings::new()
        .partitions(3)
        .retention(Duration::from_secs(3600))
        .cleanup(CleanupPolicy::Compact);
    let created = admin.create_topics(&[settings.topic(&name)]).await.unwrap();
    assert_eq!(created, vec![(name.clone(), Created::New)]);
    let again = admin.create_topics(&[settings.topic(&name)]).await.unwrap();
    assert_eq!(again, vec![(name.clone(), Created::Existed)], "creating twice is fine");

    let listed = admin.list_topics(false).await.unwrap();
    let found = listed.iter().find(|t| t.name == name).expect("listed");
    assert_eq!(found.partitions, 3);
    assert!(
        listed.iter().all(|t| !t.name.starts_with("__")),
        "internal topics hidden"
    );

    let described = admin.describe(&name).await.unwrap();
    assert_eq!(described.partitions.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(described
        .partitions
        .iter()
        .all(|p| p.leader >= 0 && !p.replicas.is_empty()));
    assert_eq!(
        described.configs.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert_eq!(
        described.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );

    admin.delete_topics(&[&name]).await.unwrap();
    let gone = async {
        for _ in 0..100 {
            if admin.describe(&name).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(gone.await, "deleted topics disappear");
    let err = admin.describe(&name).await.unwrap_err();
    assert!(
        err.to_string().contains(&name) && err.to_string().contains("does not exist"),
        "{err}"
    );
    assert!(
        admin.list_topics(false).await.unwrap().iter().all(|t| t.name != name),
        "looking a missing topic up did not create it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_missing_topic_names_it() {
    let t = real();
    let name = unique("admin-missing");
    let err = t.kafka_admin().delete_topics(&[&name]).await.unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_set_per_tenant_is_created_idempotently_and_reports_drift() {
    let t = real();
    let admin = t.kafka_admin();
    let tenant = unique("acme").replace('-', "");
    let set = |tenant: &str| {
        TopicSet::new(format!("tenant-{tenant}"))
            .var("tenant", tenant)
            .naming(NamingRule::convention(r"tenant\.[a-z0-9]+\.[a-z.]+").unwrap())
            .defaults(TopicSettings::new().partitions(3))
            .rule(
                "*.dlq",
                TopicSettings::new()
                    .partitions(1)
                    .retention(Duration::from_secs(86_400)),
            )
            .topic("tenant.${tenant}.orders")
            .topic("tenant.${tenant}.payments")
            .topic("tenant.${tenant}.orders.dlq")
    };
    let first = set(&tenant).ensure(admin).await.unwrap();
    let names = |suffix: &str| format!("tenant.{tenant}.{suffix}");
    assert_eq!(first.created, [names("orders"), names("payments"), names("orders.dlq")]);
    assert!(first.existing.is_empty() && first.drift.is_empty());
    assert_eq!(admin.describe(&names("orders")).await.unwrap().partitions.len(), 3);
    assert_eq!(admin.describe(&names("orders.dlq")).await.unwrap().partitions.len(), 1);

    let second = set(&tenant).ensure(admin).await.unwrap();
    assert!(second.created.is_empty(), "nothing new the second time");
    assert_eq!(second.existing.len(), 3);
    assert!(second.drift.is_empty(), "{:?}", second.drift);

    let wider = set(&tenant).defaults(TopicSettings::new().partitions(6));
    let report = wider.ensure(admin).await.unwrap();
    let drift: Vec<(String, String, String, String)> = report
        .drift
        .into_iter()
        .map(|d| (d.topic, d.setting, d.wanted, d.found))
        .collect();
    assert_eq!(
        drift,
        [
            (names("orders"), "partitions".into(), "6".into(), "3".into()),
            (names("payments"), "partitions".into(), "6".into(), "3".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_breaking_the_convention_creates_nothing() {
    let t = real();
    let admin = t.kafka_admin();
    let set = TopicSet::new("bad")
        .var("tenant", "Acme")
        .naming(NamingRule::convention(r"tenant\.[a-z]+\.[a-z]+").unwrap())
        .topic("tenant.${tenant}.orders");
    let err = set.ensure(admin).await.unwrap_err();
    assert!(err.to_string().contains("tenant.Acme.orders"), "{err}");
    assert!(err.to_string().contains("naming convention"), "{err}");
    assert!(admin.describe("tenant.Acme.orders").await.is_err());

    let err = TopicSet::new("missing-var")
        .topic("tenant.${tenant}.orders")
        .topics()
        .unwrap_err();
    assert!(err.to_string().contains("`tenant`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_set_is_checked_without_changes_and_fixing_drift_is_opt_in() {
    let t = real();
    let admin = t.kafka_admin();
    let tenant = unique("chk").replace('-', "");
    let set = |partitions: i32, replication: i16| {
        TopicSet::new(format!("check-{tenant}"))
            .var("tenant", &tenant)
            .naming(NamingRule::convention(r"check\.[a-z0-9]+\.[a-z]+").unwrap())
            .defaults(TopicSettings::new().partitions(partitions).replication(replication))
            .topic("check.${tenant}.orders")
            .topic("check.${tenant}.refunds")
    };
    let orders = format!("check.{tenant}.orders");
    let refunds = format!("check.{tenant}.refunds");
    let report = set(2, 1).check(admin).await.unwrap();
    assert_eq!(report.missing, [orders.clone(), refunds.clone()]);
    assert!(report.created.is_empty());
    assert!(admin.describe(&orders).await.is_err(), "check creates nothing");

    set(2, 1).ensure(admin).await.unwrap();
    let clean = set(2, 1).check(admin).await.unwrap();
    assert!(clean.missing.is_empty() && clean.drift.is_empty(), "{clean:?}");

    // The replication factor is compared too (one broker: every topic has one replica).
    let report = set(2, 3).check(admin).await.unwrap();
    let settings: Vec<(&str, &str, &str)> = report
        .drift
        .iter()
        .map(|d| (d.setting.as_str(), d.wanted.as_str(), d.found.as_str()))
        .collect();
    assert_eq!(settings, [("replication", "3", "1"), ("replication", "3", "1")]);

    // Fixing drift: more partitions would be added, but tansu has no CreatePartitions,
    // and the refusal comes back naming the topic.
    let err = set(4, 1).ensure_fixing_drift(admin).await.unwrap_err();
    assert!(
        err.to_string().contains(&orders) && err.to_string().contains("CreatePartitions"),
        "{err}"
    );
    // Fewer partitions cannot be fixed in place: it stays drift, and no call is made.
    let report = set(1, 1).ensure_fixing_drift(admin).await.unwrap();
    assert!(report.fixed.is_empty());
    assert_eq!(report.drift.len(), 2, "{:?}", report.drift);
}
