//! `Flow::key_by` and the output partitioner.

mod common;

use common::*;
use kflow_core::transport::partition_for_key;
use kflow_core::{App, Flow, Processor, TestDriver};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Click {
    user: String,
    page: String,
}

fn by_user(f: Flow<Click>) -> Flow<Click> {
    f.key_by(|c| c.user.clone())
}

#[test]
fn sets_the_key_and_output_partitions_follow_kafka_default_partitioner() {
    let app = App::new(APP).processor(Processor::new("by-user", by_user).input(["in"]).output("out"));
    let mut d = TestDriver::new(app, &[("in", 1), ("out", 4)]).unwrap();
    let users = ["alice", "bob", "carol", "dave", "erin", "frank"];
    for u in users {
        d.pipe(
            "in",
            &Click {
                user: u.into(),
                page: "/".into(),
            },
        );
    }
    let out = d.output::<Click>("out");
    assert_eq!(out.len(), users.len());
    for r in &out {
        let key = r.key.as_deref().expect("keyed");
        assert_eq!(key, r.value.user.as_bytes());
        assert_eq!(r.meta.partition.0, partition_for_key(key, 4), "{}", r.value.user);
    }
    assert_all_committed(&mut d, &group("by-user"), "in");
}

#[test]
fn integer_keys_use_big_endian_bytes() {
    let out = Flow::from_iter([7u32]).key_by(|v| *v as i32).collect_blocking();
    assert_eq!(out[0].key.as_deref(), Some(&[0, 0, 0, 7][..]));
}
