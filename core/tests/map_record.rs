//! `Flow::map_record`: key, headers and metadata.

mod common;

use common::*;
use kflow_core::Flow;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Located {
    value: String,
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<String>,
}

fn locate(f: Flow<String>) -> Flow<Located> {
    f.map_record(|r| {
        let located = Located {
            value: r.value.clone(),
            topic: r.meta.topic.to_string(),
            partition: r.meta.partition.0,
            offset: r.meta.offset.0,
            key: r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
        };
        r.map_value(|_| located).with_header("located", "yes")
    })
}

#[test]
fn sees_key_headers_and_metadata() {
    let mut d = driver("locate", locate, 1);
    d.pipe_at("in", Some("k1"), &"a", 10);
    d.pipe_at("in", None, &"b", 20);
    let out = d.output::<Located>("out");
    assert_eq!(
        out.iter().map(|r| &r.value).collect::<Vec<_>>(),
        [
            &Located {
                value: "a".into(),
                topic: "in".into(),
                partition: 0,
                offset: 0,
                key: Some("k1".into())
            },
            &Located {
                value: "b".into(),
                topic: "in".into(),
                partition: 0,
                offset: 1,
                key: None
            },
        ]
    );
    assert_eq!(out[0].headers.get_str("located"), Some("yes"));
    assert_all_committed(&mut d, &group("locate"), "in");
}
