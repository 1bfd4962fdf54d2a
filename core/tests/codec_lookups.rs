//! Codecs that look things up (as a schema registry does): transient decode errors are
//! fetched and decoded again, never dead-lettered; encoders are prepared per topic before
//! the first write, and a failed preparation is a start-up error.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::codec::{Decode, DecodeError, Encode, EncodeError};
use kflow_core::{App, Error, Flow, Processor, TestDriver, TopicPartition};

/// Decodes decimal text once "fetched"; a fetch fails while `down` is set.
#[derive(Clone, Default)]
struct Lookup {
    fetched: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicU32>,
}

impl Decode<u64> for Lookup {
    fn decode(&self, data: Option<&[u8]>) -> Result<u64, DecodeError> {
        if !self.fetched.load(Ordering::SeqCst) {
            return Err(DecodeError::transient::<u64>("lookup", "not fetched yet"));
        }
        let text = std::str::from_utf8(data.unwrap_or_default()).map_err(|e| DecodeError::new::<u64>("lookup", e))?;
        text.parse().map_err(|e| DecodeError::new::<u64>("lookup", e))
    }

    fn fetch(&self, _data: Option<&[u8]>) -> Option<BoxFuture<'static, Result<(), DecodeError>>> {
        let this = self.clone();
        Some(
            async move {
                this.fetches.fetch_add(1, Ordering::SeqCst);
                if this.down.load(Ordering::SeqCst) {
                    return Err(DecodeError::transient::<u64>("lookup", "registry unreachable"));
                }
                this.fetched.store(true, Ordering::SeqCst);
                Ok(())
            }
            .boxed(),
        )
    }
}

/// Writes `<prefix>:<value>`, where the prefix is what `prepare` found for the topic.
#[derive(Clone, Default)]
struct Prefixed {
    prepared: Arc<std::sync::Mutex<Vec<String>>>,
    refuse: bool,
}

impl Encode<u64> for Prefixed {
    fn encode(&self, _value: &u64) -> Result<Option<Bytes>, EncodeError> {
        Err(EncodeError::new::<u64>("prefixed", "needs a topic"))
    }

    fn encode_to(&self, topic: &str, value: &u64) -> Result<Option<Bytes>, EncodeError> {
        match self.prepared.lock().unwrap().contains(&topic.to_string()) {
            true => Ok(Some(format!("{topic}:{value}").into())),
            false => Err(EncodeError::new::<u64>("prefixed", "not prepared")),
        }
    }

    fn prepare(&self, topic: &str) -> Option<BoxFuture<'static, kflow_core::Result<()>>> {
        if self.prepared.lock().unwrap().iter().any(|t| t == topic) {
            return None; // cached
        }
        let (this, topic) = (self.clone(), topic.to_string());
        Some(
            async move {
                if this.refuse {
                    return Err(Error::Config {
                        key: format!("subject `{topic}-value`"),
                        reason: "incompatible".into(),
                    });
                }
                this.prepared.lock().unwrap().push(topic);
                Ok(())
            }
            .boxed(),
        )
    }
}

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

fn app(decoder: Lookup, encoder: Prefixed) -> App {
    App::new(APP).processor(
        Processor::with_codecs("p", double, decoder, encoder)
            .input(["in"])
            .output("out"),
    )
}

fn texts(d: &TestDriver, topic: &str) -> Vec<String> {
    d.broker()
        .records(topic)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn a_transient_error_is_fetched_once_and_the_record_decoded() {
    let (decoder, encoder) = (Lookup::default(), Prefixed::default());
    let mut d = TestDriver::new(app(decoder.clone(), encoder), &[("in", 1)]).unwrap();
    for v in ["1", "2", "x", "3"] {
        d.pipe_record(kflow_core::transport::OutRecord::new("in", v));
    }
    assert_eq!(texts(&d, "out"), ["out:2", "out:4", "out:6"]);
    assert_eq!(decoder.fetches.load(Ordering::SeqCst), 1, "fetched once, then cached");
    assert_eq!(
        d.broker().records("in.dlq").len(),
        1,
        "the record's own error is dead-lettered"
    );
    assert_all_committed(&mut d, &group("p"), "in");
}

#[test]
fn a_lookup_that_keeps_failing_stops_the_app_instead_of_dead_lettering() {
    let (decoder, encoder) = (Lookup::default(), Prefixed::default());
    decoder.down.store(true, Ordering::SeqCst);
    let mut d = TestDriver::new(app(decoder.clone(), encoder), &[("in", 1)]).unwrap();
    d.pipe_record(kflow_core::transport::OutRecord::new("in", "1"));
    let error = d.app_error(0).expect("the app stopped");
    assert!(error.contains("registry unreachable"), "{error}");
    assert!(d.broker().records("in.dlq").is_empty());
    let committed = d.broker().committed(&group("p"), &TopicPartition::new("in", 0));
    assert_eq!(committed.map_or(0, |o| o.0), 0, "nothing committed past the record");
}

#[test]
fn encoders_are_prepared_for_each_topic_and_a_refusal_stops_the_start() {
    let encoder = Prefixed::default();
    let decoder = Lookup::default();
    decoder.fetched.store(true, Ordering::SeqCst);
    let mut d = TestDriver::new(app(decoder, encoder.clone()), &[("in", 1)]).unwrap();
    assert_eq!(*encoder.prepared.lock().unwrap(), ["out"], "prepared at start-up");
    d.pipe_record(kflow_core::transport::OutRecord::new("in", "5"));
    assert_eq!(texts(&d, "out"), ["out:10"]);

    let refusing = Prefixed {
        refuse: true,
        ..Default::default()
    };
    let error = TestDriver::new(app(Lookup::default(), refusing), &[("in", 1)])
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(
        error.contains("output `out`") && error.contains("subject `out-value`"),
        "{error}"
    );
}

#[test]
fn to_prepares_its_topic_before_the_first_record() {
    let encoder = Prefixed::default();
    let decoder = Lookup::default();
    decoder.fetched.store(true, Ordering::SeqCst);
    let side = encoder.clone();
    let routed = move |f: Flow<u64>| f.to_with("side", side.clone());
    let app =
        App::new(APP).processor(Processor::with_codecs("p", routed, decoder, kflow_core::codec::Json).input(["in"]));
    let mut d = TestDriver::new(app, &[("in", 1), ("side", 1)]).unwrap();
    d.pipe_record(kflow_core::transport::OutRecord::new("in", "7"));
    assert_eq!(texts(&d, "side"), ["side:7"]);
    assert_eq!(*encoder.prepared.lock().unwrap(), ["side"]);
}
