//! The cluster's controller. librdkafka keeps the controller's id from its metadata
//! (`rd_kafka_controllerid`), but the rdkafka crate does not wrap that call, so this
//! module makes it (with `convert::headers`, the only `unsafe` code of the workspace).
#![allow(unsafe_code)]

use std::time::Duration;

use rdkafka::client::{Client, ClientContext};

/// The id of the cluster's controller broker, waiting at most `timeout` for metadata
/// that names it; `None` if the cluster does not say.
pub(super) fn controller_id<C: ClientContext>(client: &Client<C>, timeout: Duration) -> Option<i32> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `native_ptr` is the `rd_kafka_t` handle `client` owns, alive for the whole
    // call since `client` is borrowed; `rd_kafka_controllerid` is thread-safe, only reads
    // the handle's metadata (requesting it if needed, for at most `ms`) and keeps no
    // pointer.
    let id = unsafe { rdkafka::bindings::rd_kafka_controllerid(client.native_ptr(), ms) };
    (id >= 0).then_some(id)
}
