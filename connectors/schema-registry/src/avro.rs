//! `Avro<T>` and `AvroValue`: Avro in the Confluent wire format.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use apache_avro::types::Value;
use apache_avro::{AvroSchema, Schema};
use bytes::Bytes;
use dashmap::DashMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::codec::{Decode, DecodeError, Encode, EncodeError};
use kflow_core::{Error, Result};
use schema_registry_converter::async_impl::avro::AvroEncoder;
use schema_registry_converter::avro_common::{get_supplied_schema, AvroSchema as Registered, DecodeResultWithSchema};
use schema_registry_converter::schema_registry_common::{get_payload, SubjectNameStrategy};
use serde::{de::DeserializeOwned, Serialize};

use crate::config::SubjectNaming;
use crate::registry::{describe, SchemaRegistry, Source};

const CODEC: &str = "avro";

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What the Avro codecs share: where the registry is, how subjects are named, and the
/// schemas registered (or looked up) per topic for writing.
#[derive(Clone)]
struct Core {
    source: Source,
    naming: Option<SubjectNaming>,
    auto_register: Option<bool>,
    /// Writer schemas by topic, filled by `prepare`.
    writers: Arc<DashMap<String, Arc<Registered>>>,
    /// The first topic prepared and its schema: most codecs write to one topic, which
    /// then costs a string comparison instead of a map lookup.
    first: Arc<OnceLock<(String, Arc<Registered>)>>,
    /// This codec's own encoder (see [`SchemaRegistry::avro_encoder`]).
    encoder: Arc<OnceLock<AvroEncoder<'static>>>,
    /// Writer schemas by id, seen while decoding, and whether each equals the reader's.
    readers: Arc<DashMap<u32, (Arc<Registered>, bool)>>,
}

impl Core {
    fn new(source: Source) -> Self {
        Core {
            source,
            naming: None,
            auto_register: None,
            writers: Arc::default(),
            first: Arc::default(),
            encoder: Arc::default(),
            readers: Arc::default(),
        }
    }

    /// Decodes with the registry's cached schema; a transient error when the schema still
    /// has to be fetched or the registry is unreachable.
    fn decode<T>(&self, data: Option<&[u8]>) -> std::result::Result<DecodeResultWithSchema, DecodeError> {
        let registry = self.source.get().map_err(|e| DecodeError::transient::<T>(CODEC, e))?;
        match registry.0.avro_decoder.decode_with_schema(data).now_or_never() {
            None => Err(DecodeError::transient::<T>(
                CODEC,
                "the writer schema is not fetched yet",
            )),
            Some(Ok(Some(decoded))) => Ok(decoded),
            Some(Ok(None)) => Err(DecodeError::new::<T>(
                CODEC,
                "a null value (tombstone) has no Avro data",
            )),
            Some(Err(e)) if e.retriable => Err(DecodeError::transient::<T>(CODEC, describe(&e))),
            Some(Err(e)) => Err(DecodeError::new::<T>(CODEC, describe(&e))),
        }
    }

    /// Fetches the writer schema `data` names, retrying an unreachable registry.
    fn fetch<T>(&self, data: Option<&[u8]>) -> Option<BoxFuture<'static, std::result::Result<(), DecodeError>>> {
        let registry = self.source.get().ok()?.clone();
        let data = data.map(<[u8]>::to_vec);
        Some(
            async move {
                let decoder = &registry.0.avro_decoder;
                let result = registry
                    .retrying(
                        || decoder.decode_with_schema(data.as_deref()),
                        || decoder.remove_errors_from_cache(),
                    )
                    .await;
                match result {
                    // A record-level problem (unknown id, bad bytes) is reported by `decode`.
                    Err(e) if e.retriable => Err(DecodeError::transient::<T>(CODEC, registry.unreachable(e))),
                    _ => Ok(()),
                }
            }
            .boxed(),
        )
    }

    fn strategy(&self, registry: &SchemaRegistry, topic: &str, schema: Option<&Schema>) -> SubjectNameStrategy {
        let naming = self.naming.unwrap_or(registry.config().naming());
        let register = self.auto_register.unwrap_or(registry.config().registers());
        let supplied = schema.filter(|_| register).map(get_supplied_schema);
        let full_name = || schema.map(get_supplied_schema).and_then(|s| s.name).unwrap_or_default();
        match (naming, supplied) {
            (SubjectNaming::Topic, Some(s)) => SubjectNameStrategy::TopicNameStrategyWithSchema(topic.into(), false, s),
            (SubjectNaming::Topic, None) => SubjectNameStrategy::TopicNameStrategy(topic.into(), false),
            (SubjectNaming::Record, Some(s)) => SubjectNameStrategy::RecordNameStrategyWithSchema(s),
            (SubjectNaming::Record, None) => SubjectNameStrategy::RecordNameStrategy(full_name()),
            (SubjectNaming::TopicRecord, Some(s)) => {
                SubjectNameStrategy::TopicRecordNameStrategyWithSchema(topic.into(), s)
            }
            (SubjectNaming::TopicRecord, None) => {
                SubjectNameStrategy::TopicRecordNameStrategy(topic.into(), full_name())
            }
        }
    }

    /// Registers `schema` (or looks up the subject's latest version) for `topic`.
    fn prepare(&self, topic: &str, schema: Option<Schema>) -> Option<BoxFuture<'static, Result<()>>> {
        if self.writers.contains_key(topic) {
            return None;
        }
        let this = self.clone();
        let topic = topic.to_string();
        Some(
            async move {
                let registry = this.source.get().map_err(|reason| Error::Config {
                    key: "schema registry".into(),
                    reason,
                })?;
                let strategy = this.strategy(registry, &topic, schema.as_ref());
                let subject = strategy.get_subject().map_err(|e| Error::Config {
                    key: format!("schema registry subject for `{topic}`"),
                    reason: describe(&e),
                })?;
                let encoder = this.encoder.get_or_init(|| registry.avro_encoder());
                let found = registry
                    .retrying(
                        || encoder.get_schema_and_id(&subject, strategy.clone()),
                        || encoder.remove_errors_from_cache(),
                    )
                    .await;
                let registered = match found {
                    Ok(r) => r,
                    Err(e) if e.retriable => return Err(registry.unreachable(e)),
                    Err(e) => {
                        return Err(Error::Config {
                            key: format!("schema registry subject `{subject}`"),
                            reason: describe(&e),
                        })
                    }
                };
                tracing::info!(%topic, %subject, id = registered.id, "Avro schema ready");
                let _ = this.first.set((topic.clone(), registered.clone()));
                this.writers.insert(topic, registered);
                Ok(())
            }
            .boxed(),
        )
    }

    /// `topic`'s writer schema.
    fn writer<T: ?Sized>(&self, topic: &str) -> std::result::Result<Arc<Registered>, EncodeError> {
        self.writers
            .get(topic)
            .map(|w| w.clone())
            .ok_or_else(|| EncodeError::new::<T>(CODEC, format!("no schema prepared for topic `{topic}`")))
    }

    /// Encodes a serde value with `topic`'s writer schema, in the Confluent wire format:
    /// straight from serde into the buffer after the header, or (when the schema-aware
    /// serializer cannot, e.g. for a registered schema that differs from `T`'s) through
    /// an Avro value resolved against the schema.
    fn encode_serde<T: Serialize>(&self, topic: &str, value: &T) -> std::result::Result<Option<Bytes>, EncodeError> {
        let first = self.first.get().filter(|(t, _)| t == topic);
        let other;
        let writer = match first {
            Some((_, w)) => w,
            None => {
                other = self.writer::<T>(topic)?;
                &other
            }
        };
        // One reusable buffer per thread: the record is copied out once, at its size.
        let direct = BUFFER.with_borrow_mut(|buf| {
            buf.clear();
            // The Confluent header: magic byte 0, then the schema id, big-endian.
            buf.push(0);
            buf.extend_from_slice(&writer.id.to_be_bytes());
            apache_avro::write_avro_datum_ref(&writer.parsed, value, buf)
                .ok()
                .map(|_| Bytes::copy_from_slice(buf))
        });
        if let Some(bytes) = direct {
            return Ok(Some(bytes));
        }
        let value = apache_avro::to_value(value).map_err(|e| EncodeError::new::<T>(CODEC, e))?;
        self.encode_value::<T>(writer, value)
    }

    /// Encodes an Avro value resolved against `writer`, in the Confluent wire format.
    fn encode_value<T: ?Sized>(
        &self,
        writer: &Registered,
        value: Value,
    ) -> std::result::Result<Option<Bytes>, EncodeError> {
        let value = value
            .resolve(&writer.parsed)
            .map_err(|e| EncodeError::new::<T>(CODEC, e))?;
        let body = apache_avro::to_avro_datum(&writer.parsed, value).map_err(|e| EncodeError::new::<T>(CODEC, e))?;
        Ok(Some(Bytes::from(get_payload(writer.id, body))))
    }

    /// The hot path of decoding: a record in the wire format whose writer schema is in
    /// this codec's cache decodes straight from the bytes (resolved into `reader` when
    /// the writer's schema differs). `None` sends the record through the registry client,
    /// which fetches schemas and reports malformed bytes.
    fn decode_cached(&self, data: Option<&[u8]>, reader: Option<&Schema>) -> Option<apache_avro::AvroResult<Value>> {
        let data = data?;
        let (magic, id, body) = (data.first()?, data.get(1..5)?, data.get(5..)?);
        if *magic != 0 {
            return None;
        }
        let id = u32::from_be_bytes(id.try_into().ok()?);
        let (writer, same) = self.readers.get(&id).map(|e| e.value().clone())?;
        let reader = if same { None } else { reader };
        Some(apache_avro::from_avro_datum(&writer.parsed, &mut &body[..], reader))
    }

    /// Remembers a writer schema the registry client decoded with, and whether it equals
    /// `reader` (then decoding with it needs no resolution).
    fn remember(&self, writer: &Arc<Registered>, reader: Option<&Schema>) -> bool {
        let same = reader.is_none_or(|r| writer.parsed == *r);
        self.readers.insert(writer.id, (writer.clone(), same));
        same
    }
}

/// Values of a serde type with an Avro schema (derive `apache_avro::AvroSchema`), in the
/// Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro body.
///
/// Reading fetches the writer's schema by id (cached) and resolves the data into `T`'s
/// schema, so a reader whose schema evolved compatibly (say, a new field with a default)
/// reads older data. Writing registers `T`'s schema under the subject of the topic (or
/// uses the subject's latest version when auto-registration is off) once per topic,
/// before the first record; an incompatible schema is then an error naming the subject.
///
/// ```no_run
/// use kflow_core::Processor;
/// use kflow_schema_registry::{Avro, SchemaRegistry};
/// #[derive(serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
/// struct Order { id: i64, cents: i64 }
/// let registry = SchemaRegistry::from_env().unwrap();
/// let p = Processor::with_codecs("orders", |f| f, registry.avro::<Order>(), registry.avro::<Order>())
///     .input(["orders"])
///     .output("orders-copy");
/// ```
pub struct Avro<T> {
    core: Core,
    reader: Arc<Schema>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Avro<T> {
    fn clone(&self) -> Self {
        Avro {
            core: self.core.clone(),
            reader: self.reader.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: AvroSchema> Avro<T> {
    pub(crate) fn with(source: Source) -> Self {
        Avro {
            core: Core::new(source),
            reader: Arc::new(T::get_schema()),
            _type: PhantomData,
        }
    }

    /// An Avro codec whose registry comes from the environment on first use
    /// ([`crate::RegistryConfig::from_env`]); what `value_format = avro` uses.
    pub fn from_env() -> Self {
        Self::with(Source::env())
    }

    /// Overrides the registry's subject naming for this codec.
    pub fn subject_naming(mut self, naming: SubjectNaming) -> Self {
        self.core.naming = Some(naming);
        self
    }

    /// Overrides the registry's auto-registration setting for this codec.
    pub fn auto_register(mut self, on: bool) -> Self {
        self.core.auto_register = Some(on);
        self
    }

    /// `T`'s schema.
    pub fn schema(&self) -> &Schema {
        &self.reader
    }
}

impl<T> Decode<T> for Avro<T>
where
    T: AvroSchema + DeserializeOwned + 'static,
{
    fn decode(&self, data: Option<&[u8]>) -> std::result::Result<T, DecodeError> {
        if let Some(value) = self.core.decode_cached(data, Some(&self.reader)) {
            let value = value.map_err(|e| DecodeError::new::<T>(CODEC, e))?;
            return apache_avro::from_value(&value).map_err(|e| DecodeError::new::<T>(CODEC, e));
        }
        let decoded = self.core.decode::<T>(data)?;
        let id = decoded.schema.id;
        let value = match self.core.remember(&decoded.schema, Some(&self.reader)) {
            true => decoded.value,
            false => decoded
                .value
                .resolve(&self.reader)
                .map_err(|e| DecodeError::new::<T>(CODEC, format!("writer schema {id} does not resolve: {e}")))?,
        };
        apache_avro::from_value(&value).map_err(|e| DecodeError::new::<T>(CODEC, e))
    }

    fn fetch(&self, data: Option<&[u8]>) -> Option<BoxFuture<'static, std::result::Result<(), DecodeError>>> {
        self.core.fetch::<T>(data)
    }

    fn check(&self) -> Option<BoxFuture<'static, Result<()>>> {
        Some(self.core.source.clone().check().boxed())
    }
}

impl<T> Encode<T> for Avro<T>
where
    T: AvroSchema + Serialize + 'static,
{
    fn encode(&self, _value: &T) -> std::result::Result<Option<Bytes>, EncodeError> {
        Err(EncodeError::new::<T>(
            CODEC,
            "Avro needs the destination topic: use the codec for a processor output or in `to_with(topic, ..)`",
        ))
    }

    fn encode_to(&self, topic: &str, value: &T) -> std::result::Result<Option<Bytes>, EncodeError> {
        self.core.encode_serde(topic, value)
    }

    fn prepare(&self, topic: &str) -> Option<BoxFuture<'static, Result<()>>> {
        self.core.prepare(topic, Some((*self.reader).clone()))
    }
}

/// Generic Avro values (`apache_avro::types::Value`) in the Confluent wire format: read
/// as the writer wrote them (or resolved into a reader schema, if one is set); written with
/// the schema set here (registered like [`Avro`]'s) or, without one, the subject's latest
/// registered version.
#[derive(Clone)]
pub struct AvroValue {
    core: Core,
    schema: Option<Arc<Schema>>,
}

impl AvroValue {
    pub(crate) fn with(source: Source) -> Self {
        AvroValue {
            core: Core::new(source),
            schema: None,
        }
    }

    /// Reads into, and writes with, this schema.
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = Some(Arc::new(schema));
        self
    }

    /// Overrides the registry's subject naming for this codec.
    pub fn subject_naming(mut self, naming: SubjectNaming) -> Self {
        self.core.naming = Some(naming);
        self
    }
}

impl Decode<Value> for AvroValue {
    fn decode(&self, data: Option<&[u8]>) -> std::result::Result<Value, DecodeError> {
        let decoded = self.core.decode::<Value>(data)?;
        match &self.schema {
            Some(schema) => decoded
                .value
                .resolve(schema)
                .map_err(|e| DecodeError::new::<Value>(CODEC, e)),
            None => Ok(decoded.value),
        }
    }

    fn fetch(&self, data: Option<&[u8]>) -> Option<BoxFuture<'static, std::result::Result<(), DecodeError>>> {
        self.core.fetch::<Value>(data)
    }

    fn check(&self) -> Option<BoxFuture<'static, Result<()>>> {
        Some(self.core.source.clone().check().boxed())
    }
}

impl Encode<Value> for AvroValue {
    fn encode(&self, _value: &Value) -> std::result::Result<Option<Bytes>, EncodeError> {
        Err(EncodeError::new::<Value>(CODEC, "Avro needs the destination topic"))
    }

    fn encode_to(&self, topic: &str, value: &Value) -> std::result::Result<Option<Bytes>, EncodeError> {
        let writer = self.core.writer::<Value>(topic)?;
        self.core.encode_value::<Value>(&writer, value.clone())
    }

    fn prepare(&self, topic: &str) -> Option<BoxFuture<'static, Result<()>>> {
        self.core.prepare(topic, self.schema.as_deref().cloned())
    }
}
