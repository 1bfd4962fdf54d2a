//! Producer options: acknowledgements, compression, batching, idempotence, partitioning.

use std::time::Duration;

use kflow_core::{Error, Result};

/// How many replicas must have a record before the broker acknowledges it (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: no acknowledgement (offsets in [`crate::Delivered`] are then unknown, `-1`).
    None,
    /// `acks=1`: the partition leader wrote it.
    Leader,
    /// `acks=all`: every in-sync replica wrote it (the default; idempotence needs it).
    All,
}

/// Batch compression (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (the default).
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The librdkafka name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    ///
    /// ```
    /// use kflow_kafka::Compression;
    /// assert_eq!(Compression::parse("zstd").unwrap(), Compression::Zstd);
    /// assert!(Compression::parse("brotli").unwrap_err().to_string().contains("gzip"));
    /// ```
    pub fn parse(name: &str) -> Result<Self> {
        [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| Error::Config {
            key: "compression".into(),
            reason: format!("`{name}` is not one of none, gzip, snappy, lz4, zstd"),
        })
    }
}

/// Which partition a record without an explicit partition goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// Kafka's default: murmur2 of the key, as the Java client computes it, so a key lands
    /// where Kafka Streams, Spring Kafka and kflow processors expect it. Records without a
    /// key are spread by librdkafka (sticky per batch). The default.
    KeyHash,
    /// Each record to the next partition of its topic, whatever its key.
    RoundRobin,
    /// Every record to one partition of its topic, switching to another partition after
    /// `switch_after` records (fewer, larger batches), whatever its key.
    Sticky {
        /// Records sent to one partition before moving on (at least 1).
        switch_after: u32,
    },
}

/// Producer settings. Defaults: `acks=all`, idempotence on, no compression, a 5 ms
/// linger, librdkafka's batch size, [`Partitioning::KeyHash`], a 30-second delivery
/// timeout, and no automatic topic creation (a missing topic is an error).
///
/// ```
/// use std::time::Duration;
/// use kflow_kafka::{Acks, Compression, ProducerOptions};
/// let options = ProducerOptions::new()
///     .compression(Compression::Zstd)
///     .linger(Duration::from_millis(20))
///     .batch_size(256 * 1024);
/// assert!(options.properties().unwrap().contains(&("compression.type".into(), "zstd".into())));
/// // Idempotence needs acks=all: asking for less without turning it off is an error.
/// let err = ProducerOptions::new().acks(Acks::Leader).properties().unwrap_err();
/// assert!(err.to_string().contains("idempotence"));
/// ```
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub(crate) acks: Acks,
    pub(crate) compression: Compression,
    pub(crate) linger: Option<Duration>,
    pub(crate) batch_size: Option<usize>,
    pub(crate) idempotence: bool,
    pub(crate) partitioning: Partitioning,
    pub(crate) delivery_timeout: Duration,
    pub(crate) transactional_id: Option<String>,
    pub(crate) properties: Vec<(String, String)>,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            acks: Acks::All,
            compression: Compression::None,
            linger: Some(Duration::from_millis(5)),
            batch_size: None,
            idempotence: true,
            partitioning: Partitioning::KeyHash,
            delivery_timeout: Duration::from_secs(30),
            transactional_id: None,
            properties: Vec::new(),
        }
    }
}

impl ProducerOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// `compression.type`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// `linger.ms`: how long a batch waits for more records.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = Some(linger);
        self
    }

    /// `batch.size`: the most bytes in one partition's batch.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = Some(bytes);
        self
    }

    /// `enable.idempotence`: no duplicates or reordering from the producer's own retries.
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = on;
        self
    }

    /// How records without an explicit partition are placed.
    pub fn partitioning(mut self, partitioning: Partitioning) -> Self {
        self.partitioning = partitioning;
        self
    }

    /// `message.timeout.ms`: how long a record may take to be acknowledged, retries
    /// included, before its send fails.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// `transactional.id`: makes the producer transactional (see
    /// [`crate::TypedProducer::begin_transaction`]). Idempotence is then required.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// Any other librdkafka producer property (wins over the settings above).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// The librdkafka properties these options stand for; an error names a contradiction.
    pub fn properties(&self) -> Result<Vec<(String, String)>> {
        if self.idempotence && self.acks != Acks::All {
            return Err(Error::Config {
                key: "acks".into(),
                reason: "idempotence needs acks=all: set `.idempotence(false)` to use fewer acks".into(),
            });
        }
        if self.transactional_id.is_some() && !self.idempotence {
            return Err(Error::Config {
                key: "enable.idempotence".into(),
                reason: "a transactional producer is idempotent: remove `.idempotence(false)`".into(),
            });
        }
        if let Partitioning::Sticky { switch_after: 0 } = self.partitioning {
            return Err(Error::Config {
                key: "partitioning".into(),
                reason: "sticky partitioning needs switch_after of at least 1".into(),
            });
        }
        let acks = match self.acks {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        };
        let mut props = vec![
            ("acks".to_string(), acks.to_string()),
            ("compression.type".to_string(), self.compression.name().to_string()),
            ("enable.idempotence".to_string(), self.idempotence.to_string()),
            ("partitioner".to_string(), "murmur2_random".to_string()),
            // Sending to a missing topic is an error, not a way to create it.
            ("allow.auto.create.topics".to_string(), "false".to_string()),
            (
                "message.timeout.ms".to_string(),
                self.delivery_timeout.as_millis().to_string(),
            ),
        ];
        if let Some(linger) = self.linger {
            props.push(("linger.ms".into(), linger.as_millis().to_string()));
        }
        if let Some(bytes) = self.batch_size {
            props.push(("batch.size".into(), bytes.to_string()));
        }
        if let Some(id) = &self.transactional_id {
            props.push(("transactional.id".into(), id.clone()));
        }
        props.extend(self.properties.iter().cloned());
        Ok(props)
    }
}
