//! Transports: topics with partitions, keys, offsets and consumer groups.
//! Stage code sees only these traits. `embedded` is a durable log on local
//! disk, `kafka` a Kafka cluster; the `contract` module (tests) is the suite
//! every transport must pass. `open` makes the configured one.

#[cfg(test)]
pub mod contract;
pub mod embedded;
pub mod kafka;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use socialpipe_schemas::{Envelope, ErrorDomain};

use embedded::{EmbeddedConfig, EmbeddedLog};
use kafka::{KafkaConfig, KafkaTransport};

/// The `[transport]` section: where topics live.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransportConfig {
    /// A durable log on local disk (one SQLite database): the default on one machine.
    Embedded(EmbeddedConfig),
    /// A Kafka cluster (librdkafka, bundled; SSL and SASL PLAIN/SCRAM built
    /// in). The producer is idempotent with `acks=all`: a batch counts as
    /// written only when the brokers acknowledged every record. Consumers
    /// commit only offsets whose output is durable. Records carry the
    /// headers `socialpipe-schema` (e.g. `post/v1`) and `socialpipe-trace-id`
    /// (set at ingest, kept by every hop and by dead letters).
    Kafka(KafkaConfig),
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig::Embedded(EmbeddedConfig::new("var/socialpipe/log"))
    }
}

impl TransportConfig {
    /// Checks what can be checked before connecting; returns (key, message).
    pub fn check(&self) -> std::result::Result<(), (String, String)> {
        if let TransportConfig::Kafka(k) = self {
            if k.brokers.trim().is_empty() {
                return Err(("brokers".into(), "must name at least one broker".into()));
            }
            if k.replication_factor == 0 {
                return Err(("replication_factor".into(), "must be at least 1".into()));
            }
        }
        Ok(())
    }

    /// The embedded log's directory (None on Kafka).
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            TransportConfig::Embedded(c) => Some(c.path.clone()),
            TransportConfig::Kafka(_) => None,
        }
    }

    /// What consumer groups and the changelog are named after.
    pub fn group_prefix(&self) -> &str {
        match self {
            TransportConfig::Embedded(_) => "socialpipe",
            TransportConfig::Kafka(c) => &c.group_id,
        }
    }
}

/// The configured transport.
pub struct Opened {
    pub transport: Arc<dyn Transport>,
    /// The embedded log itself when it is one (retention runs on it).
    pub embedded: Option<Arc<EmbeddedLog>>,
}

pub fn open(config: &TransportConfig) -> Result<Opened> {
    Ok(match config {
        TransportConfig::Embedded(c) => {
            let log = Arc::new(EmbeddedLog::open(c)?);
            Opened { transport: log.clone(), embedded: Some(log) }
        }
        TransportConfig::Kafka(c) => Opened { transport: Arc::new(KafkaTransport::connect(c)?), embedded: None },
    })
}

/// A message read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub key: String,
    pub value: Vec<u8>,
    pub timestamp_ms: i64,
    pub headers: Headers,
}

impl Message {
    /// Whether the message is from one of these (topic, partition) pairs.
    pub fn is_in(&self, partitions: &[(String, u32)]) -> bool {
        partitions.iter().any(|(topic, partition)| *topic == self.topic && *partition == self.partition)
    }
}

/// A message to append; its partition follows from its key unless set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub key: String,
    pub value: Vec<u8>,
    pub headers: Headers,
    /// Overrides the key's partition (state changelogs follow their input's partitions).
    pub partition: Option<u32>,
}

impl Outgoing {
    pub fn new(key: impl Into<String>, value: Vec<u8>) -> Self {
        Outgoing { key: key.into(), value, headers: Headers::default(), partition: None }
    }

    /// Where the message goes in a topic of `partitions`.
    pub fn partition_in(&self, partitions: u32) -> u32 {
        self.partition.map_or_else(|| partition_for(&self.key, partitions), |p| p % partitions.max(1))
    }

    /// Bytes the message takes against a transport's size limit: key, value,
    /// headers, and room for the record's framing (librdkafka counts it).
    pub fn wire_size(&self) -> usize {
        let headers = [&self.headers.schema, &self.headers.trace_id].into_iter().flatten().map(|h| h.len() + 32);
        self.key.len() + self.value.len() + headers.sum::<usize>() + 256
    }

    /// A record keyed by its key, with its schema and `trace_id` in the headers.
    pub fn record(envelope: &Envelope, trace_id: Option<&str>) -> Self {
        Outgoing {
            key: envelope.key.clone(),
            value: envelope.to_bytes(),
            headers: Headers { schema: Some(envelope.schema.clone()), trace_id: trace_id.map(str::to_owned) },
            partition: None,
        }
    }
}

/// What a consumer can learn without decoding the value. Kafka carries them
/// as record headers; the embedded log does not store them (its readers
/// decode the envelope, which holds the schema).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// The envelope's `schema` (kind and version), e.g. `post/v1`.
    pub schema: Option<String>,
    /// Set when a source ingests a record and kept by every hop after it.
    pub trace_id: Option<String>,
}

/// Topics whose latest value per key is what matters (state changelogs,
/// checkpoints): compacted on Kafka, exempt from retention on the embedded log.
pub fn is_compacted(topic: &str) -> bool {
    topic.ends_with(".checkpoints") || topic.ends_with(".changelog")
}

/// A fresh trace id: 128 random bits in hex.
pub fn new_trace_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: u32,
    /// First offset still stored (retention moves it).
    pub start_offset: u64,
    /// Offset the next message will get.
    pub end_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Messages stored over all partitions.
    pub fn len(&self) -> u64 {
        self.partitions.iter().map(|p| p.end_offset - p.start_offset).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A group's committed position in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub committed: u64,
    pub end_offset: u64,
}

impl GroupLag {
    pub fn lag(&self) -> u64 {
        self.end_offset.saturating_sub(self.committed)
    }
}

/// The lag of `group` over every partition of `topics` (as `Transport::topics`
/// reported them): a partition the group has not committed yet counts from
/// its first stored offset (group listings leave such partitions out, which
/// would hide unread input).
pub async fn lag_over(transport: &dyn Transport, group: &str, topics: &[&TopicInfo]) -> Result<Vec<GroupLag>> {
    let committed = transport.group_lag(&[group.to_owned()]).await?;
    let mut lags = Vec::new();
    for info in topics {
        for p in &info.partitions {
            let found = committed.iter().find(|l| l.topic == info.name && l.partition == p.partition);
            lags.push(GroupLag {
                group: group.to_owned(),
                topic: info.name.clone(),
                partition: p.partition,
                committed: found.map_or(p.start_offset, |l| l.committed),
                end_offset: p.end_offset,
            });
        }
    }
    Ok(lags)
}

/// Where a consumer resumes: the offset after the last processed message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: u32,
    pub next_offset: u64,
}

/// The highest position per partition reached by `messages`.
pub fn positions_after(messages: &[Message]) -> Vec<Position> {
    let mut next: BTreeMap<(&str, u32), u64> = BTreeMap::new();
    for m in messages {
        let entry = next.entry((&m.topic, m.partition)).or_default();
        *entry = (*entry).max(m.offset + 1);
    }
    next.into_iter()
        .map(|((topic, partition), next_offset)| Position { topic: topic.to_owned(), partition, next_offset })
        .collect()
}

/// Which share of a group's partitions a consumer takes: partition `p` of
/// each topic goes to member `p % members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub member: u32,
    pub members: u32,
}

impl Membership {
    pub const ALONE: Membership = Membership { member: 0, members: 1 };

    pub fn owns(self, partition: u32) -> bool {
        partition % self.members.max(1) == self.member
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("topic {topic:?} has {actual} partitions but {wanted} are configured")]
    PartitionMismatch { topic: String, actual: u32, wanted: u32 },
    #[error("log storage: {0}")]
    Storage(String),
    #[error("log storage busy: {0}")]
    Busy(String),
    #[error("topic {topic:?} has replication factor {actual} but {wanted} is configured")]
    ReplicationMismatch { topic: String, actual: u32, wanted: u32 },
    /// The broker cannot be reached or is moving leaders/coordinators, or the
    /// log's disk is full: retried.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl TransportError {
    pub fn domain(&self) -> ErrorDomain {
        match self {
            TransportError::Busy(_) | TransportError::Unavailable(_) => ErrorDomain::Transient,
            _ => ErrorDomain::Fatal,
        }
    }
}

pub type Result<T, E = TransportError> = std::result::Result<T, E>;

#[async_trait]
pub trait Transport: Send + Sync {
    /// Creates the topic, or checks that an existing one has `partitions`.
    async fn create_topic(&self, name: &str, partitions: u32) -> Result<()>;

    async fn topics(&self) -> Result<Vec<TopicInfo>>;

    /// Appends messages; when it returns Ok they are durable.
    async fn send(&self, topic: &str, messages: Vec<Outgoing>) -> Result<()>;

    /// Joins `group` for `topics`, resuming at the group's committed offsets
    /// (the earliest stored offset where none is committed).
    async fn subscribe(&self, group: &str, topics: &[String], membership: Membership) -> Result<Box<dyn Consumer>>;

    /// Committed positions of these groups with their end offsets (a group
    /// that has committed nothing is left out).
    async fn group_lag(&self, groups: &[String]) -> Result<Vec<GroupLag>>;

    /// The largest message `send` accepts, as `Outgoing::wire_size` counts
    /// it: larger records become dead letters, and dead letters are cut to fit.
    fn max_message_bytes(&self) -> usize;

    /// Reads a partition without a group (for `tail`, `dlq show`).
    async fn read(&self, topic: &str, partition: u32, from_offset: u64, max: usize) -> Result<Vec<Message>>;

    /// A source's resume state, stored beside the log.
    async fn read_checkpoint(&self, name: &str) -> Result<Option<String>>;

    async fn write_checkpoint(&self, name: &str, value: &str) -> Result<()>;
}

#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` messages from the assigned partitions, in offset order per
    /// partition; waits up to `wait` when none is there (then returns empty).
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>>;

    /// Records that everything before each position is processed durably.
    async fn commit(&mut self, positions: &[Position]) -> Result<()>;

    /// Messages after the consumer's read position in its assigned partitions.
    async fn lag(&mut self) -> Result<Vec<(Position, u64)>>;

    /// Like `lag`, but from what the client already knows where it keeps
    /// end offsets (no broker round trip; possibly a fetch behind, and
    /// partitions not fetched from yet left out): for metrics, never for
    /// deciding that the input is done.
    async fn recent_lag(&mut self) -> Result<Vec<(Position, u64)>> {
        self.lag().await
    }

    /// Partitions taken from this consumer (by a group rebalance) since the
    /// last call; state kept for them is stale from now on.
    fn take_revoked(&mut self) -> Vec<(String, u32)> {
        Vec::new()
    }
}

/// Kafka's default partitioner (murmur2 of the key, positive, modulo the
/// partition count), so a key lands in the same partition on every transport.
pub fn partition_for(key: &str, partitions: u32) -> u32 {
    (murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions.max(1)
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioner_matches_kafka_murmur2() {
        // Values of org.apache.kafka.common.utils.Utils.murmur2 (Kafka's own tests).
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
