//! `JsonSchema<T>`: JSON values registered as JSON Schema, in the Confluent wire format.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use dashmap::DashSet;
use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::codec::{Decode, DecodeError, Encode, EncodeError};
use kflow_core::{Error, Result};
use schema_registry_converter::async_impl::json::JsonEncoder;
use schema_registry_converter::schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema};
use serde::{de::DeserializeOwned, Serialize};

use crate::registry::{describe, Source};

const CODEC: &str = "json-schema";

/// Values of a serde type (or `serde_json::Value`) as JSON with a registered JSON Schema,
/// in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, JSON text).
///
/// Reading fetches the schema by id (cached) and parses the JSON into `T`. Writing
/// validates each value against the schema. With [`JsonSchema::schema`] set, the schema is
/// registered under `<topic>-value` before the first record (an incompatible one is an
/// error naming the subject); without it, the subject's latest version is used.
///
/// ```no_run
/// use kflow_schema_registry::SchemaRegistry;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Click { page: String }
/// let registry = SchemaRegistry::from_env().unwrap();
/// let codec = registry.json_schema::<Click>().schema(
///     r#"{"type":"object","properties":{"page":{"type":"string"}},"required":["page"]}"#,
/// );
/// # let _ = codec;
/// ```
pub struct JsonSchema<T> {
    source: Source,
    schema: Option<Arc<str>>,
    prepared: Arc<DashSet<String>>,
    /// This codec's own encoder (encoders cache schemas by subject).
    encoder: Arc<OnceLock<JsonEncoder<'static>>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for JsonSchema<T> {
    fn clone(&self) -> Self {
        JsonSchema {
            source: self.source.clone(),
            schema: self.schema.clone(),
            prepared: self.prepared.clone(),
            encoder: self.encoder.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> JsonSchema<T> {
    pub(crate) fn with(source: Source) -> Self {
        JsonSchema {
            source,
            schema: None,
            prepared: Arc::default(),
            encoder: Arc::default(),
            _type: PhantomData,
        }
    }

    /// A codec whose registry comes from the environment on first use; what
    /// `value_format = json_schema` uses.
    pub fn from_env() -> Self {
        Self::with(Source::env())
    }

    /// The JSON Schema (JSON text) to register and validate against when writing.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(Arc::from(schema));
        self
    }
}

impl<T: DeserializeOwned + 'static> Decode<T> for JsonSchema<T> {
    fn decode(&self, data: Option<&[u8]>) -> std::result::Result<T, DecodeError> {
        let registry = self.source.get().map_err(|e| DecodeError::transient::<T>(CODEC, e))?;
        let decoded = match registry.0.json_decoder.decode(data).now_or_never() {
            None => return Err(DecodeError::transient::<T>(CODEC, "the schema is not fetched yet")),
            Some(Ok(Some(decoded))) => decoded,
            Some(Ok(None)) => return Err(DecodeError::new::<T>(CODEC, "a null value (tombstone)")),
            Some(Err(e)) if e.retriable => return Err(DecodeError::transient::<T>(CODEC, describe(&e))),
            Some(Err(e)) => return Err(DecodeError::new::<T>(CODEC, describe(&e))),
        };
        serde_json::from_value(decoded.value).map_err(|e| DecodeError::new::<T>(CODEC, e))
    }

    fn fetch(&self, data: Option<&[u8]>) -> Option<BoxFuture<'static, std::result::Result<(), DecodeError>>> {
        let registry = self.source.get().ok()?.clone();
        let data = data.map(<[u8]>::to_vec);
        Some(
            async move {
                let decoder = &registry.0.json_decoder;
                let result = registry
                    .retrying(
                        || decoder.decode(data.as_deref()),
                        || decoder.remove_errors_from_cache(),
                    )
                    .await;
                match result {
                    Err(e) if e.retriable => Err(DecodeError::transient::<T>(CODEC, registry.unreachable(e))),
                    _ => Ok(()),
                }
            }
            .boxed(),
        )
    }

    fn check(&self) -> Option<BoxFuture<'static, Result<()>>> {
        Some(self.source.clone().check().boxed())
    }
}

impl<T: Serialize + 'static> Encode<T> for JsonSchema<T> {
    fn encode(&self, _value: &T) -> std::result::Result<Option<Bytes>, EncodeError> {
        Err(EncodeError::new::<T>(CODEC, "JSON Schema needs the destination topic"))
    }

    fn encode_to(&self, topic: &str, value: &T) -> std::result::Result<Option<Bytes>, EncodeError> {
        let registry = self.source.get().map_err(|e| EncodeError::new::<T>(CODEC, e))?;
        let value = serde_json::to_value(value).map_err(|e| EncodeError::new::<T>(CODEC, e))?;
        // The schema was cached under the subject by `prepare`: this does not wait.
        let strategy = SubjectNameStrategy::TopicNameStrategy(topic.to_string(), false);
        let encoder = self.encoder.get_or_init(|| registry.json_encoder());
        match encoder.encode(&value, strategy).now_or_never() {
            Some(Ok(bytes)) => Ok(Some(Bytes::from(bytes))),
            Some(Err(e)) => Err(EncodeError::new::<T>(CODEC, describe(&e))),
            None => Err(EncodeError::new::<T>(
                CODEC,
                format!("no schema prepared for topic `{topic}`"),
            )),
        }
    }

    fn prepare(&self, topic: &str) -> Option<BoxFuture<'static, Result<()>>> {
        if self.prepared.contains(topic) {
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
                let strategy = match &this.schema {
                    Some(schema) => SubjectNameStrategy::TopicNameStrategyWithSchema(
                        topic.clone(),
                        false,
                        SuppliedSchema {
                            name: None,
                            schema_type: SchemaType::Json,
                            schema: schema.to_string(),
                            references: vec![],
                            properties: None,
                            tags: None,
                        },
                    ),
                    None => SubjectNameStrategy::TopicNameStrategy(topic.clone(), false),
                };
                let subject = format!("{topic}-value");
                let encoder = this.encoder.get_or_init(|| registry.json_encoder());
                // Encoding `null` loads (registers) the schema into the encoder's cache; the
                // validation error it may give is not a registry error.
                let result = registry
                    .retrying(
                        || async {
                            match encoder.encode(&serde_json::Value::Null, strategy.clone()).await {
                                Err(e) if e.error.contains("was not valid") => Ok(Vec::new()),
                                other => other,
                            }
                        },
                        || encoder.remove_errors_from_cache(),
                    )
                    .await;
                match result {
                    Ok(_) => {}
                    Err(e) if e.retriable => return Err(registry.unreachable(e)),
                    Err(e) => {
                        return Err(Error::Config {
                            key: format!("schema registry subject `{subject}`"),
                            reason: describe(&e),
                        })
                    }
                }
                tracing::info!(%topic, %subject, "JSON Schema ready");
                this.prepared.insert(topic);
                Ok(())
            }
            .boxed(),
        )
    }
}
