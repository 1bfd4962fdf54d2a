//! Helpers for the schema-registry tests: the registry, and the Kafka test helpers.
#![allow(dead_code)]

pub mod registry;

#[path = "../../../kafka/tests/common/mod.rs"]
pub mod kafka;
