//! The Kafka transport (rdkafka with its bundled librdkafka). Sends use an
//! idempotent producer with `acks=all` and return only when the broker has
//! acknowledged every message; consumers join consumer groups with the
//! cooperative-sticky assignor and commit only what the runner hands them
//! (positions after durable work). Source checkpoints live in a compacted
//! topic `<group_id>.checkpoints`.

mod consumer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::{
    Consumer, GroupLag, Headers, Membership, Message, Outgoing, PartitionInfo, Result, TopicInfo, Transport,
    TransportError, is_compacted,
};
use consumer::KafkaConsumer;

/// Record header names.
const SCHEMA_HEADER: &str = "socialpipe-schema";
const TRACE_HEADER: &str = "socialpipe-trace-id";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Prefix of the consumer groups (`<group_id>.stages`, `<group_id>.sink.<name>`)
    /// and of the checkpoint topic: deployments sharing a cluster use different ones.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Replication factor of the topics socialpipe creates.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: u32,
    /// Producer compression: none, gzip, snappy or lz4.
    #[serde(default)]
    pub compression: Compression,
    /// How long the producer waits to fill a batch (`linger.ms`).
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u32,
    /// Upper size of one produce batch per partition (`batch.size`).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u32,
    /// Bound of the producer's unacknowledged messages (`queue.buffering.max.kbytes`).
    #[serde(default = "default_producer_buffer_kib")]
    pub producer_buffer_kib: u32,
    /// Bound of messages a consumer prefetches, over all its partitions
    /// (`queued.max.messages.kbytes`): memory stays flat however large the lag.
    #[serde(default = "default_consumer_buffer_kib")]
    pub consumer_buffer_kib: u32,
    /// Upper size of one fetch response (`fetch.max.bytes`).
    #[serde(default = "default_fetch_max_bytes")]
    pub fetch_max_bytes: u32,
    /// A member that sends no heartbeat for this long leaves the group and its
    /// partitions move (`session.timeout.ms`).
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u32,
    /// How often a member tells the group it is alive (`heartbeat.interval.ms`).
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u32,
    /// A member that does not poll for this long (e.g. a sink stuck retrying)
    /// leaves the group (`max.poll.interval.ms`).
    #[serde(default = "default_max_poll_interval_ms")]
    pub max_poll_interval_ms: u32,
    /// How long one send may wait for acknowledgement before it is retried (`message.timeout.ms`).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u32,
    /// Timeout of metadata and admin requests.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u32,
    /// Any other librdkafka property, passed to every client as is
    /// (`security.protocol`, `sasl.mechanisms`, `sasl.username`, `ssl.ca.location`, …).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    /// Fast, and accepted by every broker including tansu.
    #[default]
    Lz4,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
        }
    }
}

fn default_group_id() -> String {
    "socialpipe".into()
}
fn default_replication_factor() -> u32 {
    3
}
fn default_linger_ms() -> u32 {
    5
}
fn default_batch_bytes() -> u32 {
    1 << 20
}
fn default_producer_buffer_kib() -> u32 {
    64 * 1024
}
fn default_consumer_buffer_kib() -> u32 {
    64 * 1024
}
fn default_fetch_max_bytes() -> u32 {
    16 << 20
}
fn default_session_timeout_ms() -> u32 {
    45_000
}
fn default_heartbeat_interval_ms() -> u32 {
    3_000
}
fn default_max_poll_interval_ms() -> u32 {
    300_000
}
fn default_delivery_timeout_ms() -> u32 {
    120_000
}
fn default_request_timeout_ms() -> u32 {
    30_000
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        toml::from_str(&format!("brokers = {:?}", brokers.into())).expect("defaults")
    }

    pub fn checkpoint_topic(&self) -> String {
        format!("{}.checkpoints", self.group_id)
    }

    /// What every client shares: brokers, pass-through options, no topic auto-creation.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("allow.auto.create.topics", "false");
        for (key, value) in &self.options {
            c.set(key, value);
        }
        c
    }

    fn producer(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("queue.buffering.max.kbytes", self.producer_buffer_kib.to_string())
            .set("message.timeout.ms", self.delivery_timeout_ms.to_string());
        c
    }

    fn group_consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.client();
        c.set("group.id", group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("heartbeat.interval.ms", self.heartbeat_interval_ms.to_string())
            .set("max.poll.interval.ms", self.max_poll_interval_ms.to_string())
            .set("queued.max.messages.kbytes", self.consumer_buffer_kib.to_string())
            .set("fetch.max.bytes", self.fetch_max_bytes.to_string());
        c
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.into())
    }
}

/// Maps a librdkafka error: unreachable brokers and moving leaders are
/// transient (retried with backoff), the rest is fatal for the component.
fn broker_error(context: &str, e: KafkaError) -> TransportError {
    use RDKafkaErrorCode::*;
    let code = match &e {
        KafkaError::AdminOp(code) => Some(*code),
        e => e.rdkafka_error_code(),
    };
    let transient = matches!(
        code,
        Some(
            BrokerTransportFailure
                | AllBrokersDown
                | MessageTimedOut
                | RequestTimedOut
                | OperationTimedOut
                | QueueFull
                | LeaderNotAvailable
                | NotLeaderForPartition
                | NotCoordinator
                | CoordinatorNotAvailable
                | CoordinatorLoadInProgress
                | RebalanceInProgress
                | NetworkException
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | Resolve
        )
    );
    let message = format!("{context}: {e}");
    if transient { TransportError::Unavailable(message) } else { TransportError::Storage(message) }
}

/// Runs a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| TransportError::Storage(format!("kafka client task: {e}")))?
}

/// A group-less consumer; `reading` serialises the assign-and-poll of reads.
struct Reader {
    consumer: BaseConsumer,
    reading: Mutex<()>,
}

struct TopicShape {
    partitions: Vec<u32>,
    /// The smallest replica count over the partitions.
    replication: u32,
}

pub struct KafkaTransport {
    config: KafkaConfig,
    /// Made on first send: admin commands that only read never start one.
    producer: std::sync::OnceLock<FutureProducer>,
    admin: AdminClient<DefaultClientContext>,
    /// Partition counts of topics sent to, so a key's partition is computed once per topic.
    partitions: Mutex<HashMap<String, u32>>,
    reader: Mutex<Option<Arc<Reader>>>,
}

impl KafkaTransport {
    /// Creates the clients; brokers are contacted on first use.
    pub fn connect(config: &KafkaConfig) -> Result<Self> {
        let create = |e: KafkaError| TransportError::Storage(format!("kafka client configuration: {e}"));
        Ok(KafkaTransport {
            producer: std::sync::OnceLock::new(),
            admin: config.client().create().map_err(create)?,
            config: config.clone(),
            partitions: Mutex::default(),
            reader: Mutex::default(),
        })
    }

    /// The consumer for metadata, watermarks and direct reads, made on first
    /// use and kept: closing a consumer costs a coordinator round trip.
    fn reader(&self) -> Result<Arc<Reader>> {
        let mut reader = self.reader.lock().expect("reader");
        if let Some(reader) = &*reader {
            return Ok(Arc::clone(reader));
        }
        let mut c = self.config.client();
        // It never joins its group nor commits; librdkafka wants a group id to assign.
        c.set("group.id", format!("{}.reader", self.config.group_id))
            .set("enable.auto.commit", "false")
            // Reads end at the end offset, which may hold no message (a marker).
            .set("enable.partition.eof", "true");
        let consumer = c.create().map_err(|e| broker_error("creating a reader", e))?;
        let created = Arc::new(Reader { consumer, reading: Mutex::new(()) });
        *reader = Some(Arc::clone(&created));
        Ok(created)
    }

    /// Every topic's shape, from the cluster's metadata (internal topics left out).
    async fn metadata(&self, topic: Option<&str>) -> Result<BTreeMap<String, TopicShape>> {
        let reader = self.reader()?;
        let (topic, timeout) = (topic.map(str::to_owned), self.config.timeout());
        blocking(move || {
            let metadata =
                reader.consumer.fetch_metadata(topic.as_deref(), timeout).map_err(|e| broker_error("metadata", e))?;
            let mut topics = BTreeMap::new();
            for t in metadata.topics() {
                if t.error().is_some() || t.name().starts_with("__") {
                    continue;
                }
                let mut partitions: Vec<u32> = t.partitions().iter().map(|p| p.id() as u32).collect();
                partitions.sort_unstable();
                let replication = t.partitions().iter().map(|p| p.replicas().len() as u32).min().unwrap_or(0);
                topics.insert(t.name().to_owned(), TopicShape { partitions, replication });
            }
            Ok(topics)
        })
        .await
    }

    async fn describe(&self, topic: &str) -> Result<Option<TopicShape>> {
        Ok(self.metadata(Some(topic)).await?.remove(topic))
    }

    async fn partition_count(&self, topic: &str) -> Result<u32> {
        if let Some(n) = self.partitions.lock().expect("partition cache").get(topic) {
            return Ok(*n);
        }
        let shape = self.describe(topic).await?.ok_or_else(|| TransportError::UnknownTopic(topic.to_owned()))?;
        let count = shape.partitions.len() as u32;
        self.partitions.lock().expect("partition cache").insert(topic.to_owned(), count);
        Ok(count)
    }

    async fn watermarks(&self, topic: &str, partitions: Vec<u32>) -> Result<Vec<PartitionInfo>> {
        let reader = self.reader()?;
        let (topic, timeout) = (topic.to_owned(), self.config.timeout());
        blocking(move || {
            partitions
                .into_iter()
                .map(|p| {
                    let (low, high) = reader
                        .consumer
                        .fetch_watermarks(&topic, p as i32, timeout)
                        .map_err(|e| broker_error("reading end offsets", e))?;
                    Ok(PartitionInfo { partition: p, start_offset: low.max(0) as u64, end_offset: high.max(0) as u64 })
                })
                .collect()
        })
        .await
    }

    /// The topic of checkpoints, created on first use.
    async fn checkpoints(&self) -> Result<String> {
        let topic = self.config.checkpoint_topic();
        if !self.partitions.lock().expect("partition cache").contains_key(&topic) {
            self.create_topic(&topic, 1).await?;
        }
        Ok(topic)
    }
}

impl Drop for KafkaTransport {
    /// The reader never joins its group, yet librdkafka's close still waits
    /// on the group coordinator (~10 s on tansu): an admin command would sit
    /// that long after printing. It closes on a thread nobody waits for.
    fn drop(&mut self) {
        if let Some(reader) = self.reader.get_mut().ok().and_then(Option::take) {
            std::thread::spawn(move || drop(reader));
        }
    }
}

fn to_message(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let mut headers = Headers::default();
    if let Some(h) = m.headers() {
        for header in h.iter() {
            let value = header.value.map(|v| String::from_utf8_lossy(v).into_owned());
            match header.key {
                SCHEMA_HEADER => headers.schema = value,
                TRACE_HEADER => headers.trace_id = value,
                _ => {}
            }
        }
    }
    Message {
        topic: m.topic().to_owned(),
        partition: m.partition() as u32,
        offset: m.offset() as u64,
        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
        value: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
        headers,
    }
}

fn kafka_headers(headers: &Headers) -> Option<OwnedHeaders> {
    let pairs = [(SCHEMA_HEADER, &headers.schema), (TRACE_HEADER, &headers.trace_id)];
    let present: Vec<(&str, &String)> = pairs.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v))).collect();
    (!present.is_empty()).then(|| {
        present.into_iter().fold(OwnedHeaders::new(), |h, (key, value)| h.insert(Header { key, value: Some(value) }))
    })
}

#[async_trait]
impl Transport for KafkaTransport {
    async fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        let wanted_rf = self.config.replication_factor;
        let mut topic = NewTopic::new(name, partitions as i32, TopicReplication::Fixed(wanted_rf as i32));
        if is_compacted(name) {
            topic = topic.set("cleanup.policy", "compact");
        }
        let options = AdminOptions::new().operation_timeout(Some(self.config.timeout()));
        let results =
            self.admin.create_topics([&topic], &options).await.map_err(|e| broker_error("creating topics", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(broker_error(&format!("creating topic {name:?}"), KafkaError::AdminOp(code)));
                }
            }
        }
        // A new topic may take a moment to appear in metadata; an existing one is checked.
        let deadline = Instant::now() + self.config.timeout();
        let shape = loop {
            if let Some(found) = self.describe(name).await? {
                break found;
            }
            if Instant::now() > deadline {
                return Err(TransportError::Unavailable(format!("topic {name:?} was created but is not in metadata")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (actual, actual_rf) = (shape.partitions.len() as u32, shape.replication);
        if actual != partitions {
            return Err(TransportError::PartitionMismatch { topic: name.to_owned(), actual, wanted: partitions });
        }
        if actual_rf != wanted_rf {
            return Err(TransportError::ReplicationMismatch {
                topic: name.to_owned(),
                actual: actual_rf,
                wanted: wanted_rf,
            });
        }
        self.partitions.lock().expect("partition cache").insert(name.to_owned(), actual);
        Ok(())
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>> {
        let mut out = Vec::new();
        for (name, shape) in self.metadata(None).await? {
            let partitions = self.watermarks(&name, shape.partitions).await?;
            out.push(TopicInfo { name, partitions });
        }
        Ok(out)
    }

    async fn send(&self, topic: &str, messages: Vec<Outgoing>) -> Result<()> {
        let partitions = self.partition_count(topic).await?;
        let producer = match self.producer.get() {
            Some(producer) => producer,
            None => {
                let created =
                    self.config.producer().create().map_err(|e: KafkaError| {
                        TransportError::Storage(format!("kafka producer configuration: {e}"))
                    })?;
                self.producer.get_or_init(|| created)
            }
        };
        let mut pending = std::collections::VecDeque::with_capacity(messages.len());
        for m in &messages {
            let partition = m.partition_in(partitions) as i32;
            loop {
                let mut record = FutureRecord::to(topic).partition(partition).key(&m.key).payload(&m.value);
                if let Some(headers) = kafka_headers(&m.headers) {
                    record = record.headers(headers);
                }
                match producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back(delivery);
                        break;
                    }
                    // The bounded producer queue is full: wait for the oldest acknowledgement.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => match pending.pop_front() {
                        Some(oldest) => delivered(topic, oldest.await)?,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    },
                    Err((e, _)) => return Err(send_error(topic, e)),
                }
            }
        }
        for delivery in pending {
            delivered(topic, delivery.await)?;
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str, topics: &[String], _membership: Membership) -> Result<Box<dyn Consumer>> {
        // The group coordinator assigns partitions; a static membership has no meaning here.
        Ok(Box::new(KafkaConsumer::start(&self.config, group, topics)?))
    }

    async fn group_lag(&self, groups: &[String]) -> Result<Vec<GroupLag>> {
        let timeout = self.config.timeout();
        let mut ends = Vec::new();
        for (topic, shape) in self.metadata(None).await? {
            for p in self.watermarks(&topic, shape.partitions).await? {
                ends.push((topic.clone(), p.partition, p.end_offset));
            }
        }
        let mut lags = Vec::new();
        for group in groups {
            let consumer: BaseConsumer =
                self.config.group_consumer(group).create().map_err(|e| broker_error("creating a reader", e))?;
            let mut tpl = TopicPartitionList::new();
            for (topic, partition, _) in &ends {
                tpl.add_partition(topic, *partition as i32);
            }
            let committed = blocking(move || {
                let committed = consumer.committed_offsets(tpl, timeout);
                // Closing a group consumer waits for its coordinator; nobody needs to wait for that.
                std::thread::spawn(move || drop(consumer));
                committed.map_err(|e| broker_error("reading committed offsets", e))
            })
            .await?;
            for ((topic, partition, end), element) in ends.iter().zip(committed.elements()) {
                if let Offset::Offset(offset) = element.offset() {
                    let (topic, partition, end_offset) = (topic.clone(), *partition, *end);
                    lags.push(GroupLag {
                        group: group.clone(),
                        topic,
                        partition,
                        committed: offset as u64,
                        end_offset,
                    });
                }
            }
        }
        lags.sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
        Ok(lags)
    }

    /// librdkafka's `message.max.bytes` (1,000,000 unless `options` says otherwise).
    fn max_message_bytes(&self) -> usize {
        self.config.options.get("message.max.bytes").and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
    }

    async fn read(&self, topic: &str, partition: u32, from_offset: u64, max: usize) -> Result<Vec<Message>> {
        let reader = self.reader()?;
        let (topic, timeout) = (topic.to_owned(), self.config.timeout());
        blocking(move || {
            let _reading = reader.reading.lock().expect("reader");
            let consumer = &reader.consumer;
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition as i32, timeout)
                .map_err(|e| broker_error("reading end offsets", e))?;
            let (from, end) = (from_offset.max(low.max(0) as u64), high.max(0) as u64);
            if from >= end || max == 0 {
                return Ok(Vec::new());
            }
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition as i32, Offset::Offset(from as i64))
                .map_err(|e| broker_error("assigning", e))?;
            consumer.assign(&tpl).map_err(|e| broker_error("assigning", e))?;
            let deadline = Instant::now() + timeout;
            let mut out = Vec::with_capacity(max.min((end - from) as usize));
            // Offsets without a message (compacted away, transaction markers)
            // are skipped: the read is done at `max` messages, at the end
            // offset's last message, or at the partition's EOF (markers after
            // the last message), whatever the count.
            let result = loop {
                if out.len() >= max {
                    break Ok(out);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Err(TransportError::Unavailable(format!("reading {topic}[{partition}] timed out")));
                }
                match consumer.poll(left) {
                    // A message of an earlier read may still be queued: only this range counts.
                    Some(Ok(m)) if m.topic() != topic || m.partition() as u32 != partition => {}
                    Some(Ok(m)) if (from..end).contains(&(m.offset() as u64)) => {
                        out.push(to_message(&m));
                        if m.offset() as u64 + 1 == end {
                            break Ok(out);
                        }
                    }
                    Some(Ok(m)) if m.offset() as u64 >= end => break Ok(out),
                    Some(Ok(_)) => {}
                    // The fetch reached the end, markers after the last message included.
                    Some(Err(KafkaError::PartitionEOF(p))) if p as u32 == partition => break Ok(out),
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(e)) => break Err(broker_error("reading", e)),
                    None => {}
                }
            };
            consumer.unassign().map_err(|e| broker_error("unassigning", e))?;
            result
        })
        .await
    }

    async fn read_checkpoint(&self, name: &str) -> Result<Option<String>> {
        let topic = self.checkpoints().await?;
        let info = self.watermarks(&topic, vec![0]).await?.remove(0);
        let mut latest = None;
        let mut offset = info.start_offset;
        while offset < info.end_offset {
            let messages = self.read(&topic, 0, offset, 1000).await?;
            let Some(last) = messages.last() else { break };
            offset = last.offset + 1;
            if let Some(m) = messages.iter().rev().find(|m| m.key == name) {
                latest = Some(String::from_utf8_lossy(&m.value).into_owned());
            }
        }
        Ok(latest)
    }

    async fn write_checkpoint(&self, name: &str, value: &str) -> Result<()> {
        let topic = self.checkpoints().await?;
        self.send(&topic, vec![Outgoing::new(name, value.as_bytes().to_vec())]).await
    }
}

fn send_error(topic: &str, e: KafkaError) -> TransportError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            TransportError::UnknownTopic(topic.to_owned())
        }
        _ => broker_error(&format!("sending to {topic:?}"), e),
    }
}

/// Whether the broker acknowledged one message.
fn delivered<E>(topic: &str, outcome: std::result::Result<OwnedDeliveryResult, E>) -> Result<()> {
    match outcome {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(send_error(topic, e)),
        Err(_) => Err(TransportError::Unavailable(format!("sending to {topic:?}: the producer was dropped"))),
    }
}
