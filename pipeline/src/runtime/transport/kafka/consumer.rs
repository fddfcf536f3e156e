//! A group member. librdkafka runs the group protocol in its own threads;
//! rebalance callbacks run inside `poll`, which the runner calls only after
//! it has committed (or abandoned) its previous batch, so a revoked
//! partition never has work in flight when it is released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, blocking, broker_error, to_message};
use crate::runtime::transport::{Consumer, Message, Position, Result, TransportError};

/// Observes rebalances for the runner.
#[derive(Default)]
pub(super) struct GroupContext {
    group: String,
    revoked: Mutex<Vec<(String, u32)>>,
    /// The first assignment arrived (until then the member's share is unknown).
    assigned: AtomicBool,
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, u32)> {
    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition() as u32)).collect()
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = partitions(tpl);
            tracing::info!(group = self.group.as_str(), ?revoked, "partitions revoked");
            self.revoked.lock().expect("revoked list").extend(revoked);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(group = self.group.as_str(), assigned = ?partitions(tpl), "partitions assigned");
                self.assigned.store(true, Ordering::Release);
            }
            Rebalance::Error(e) => tracing::warn!(group = self.group.as_str(), error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

pub(super) struct KafkaConsumer {
    /// Some until dropped.
    inner: Option<Arc<BaseConsumer<GroupContext>>>,
    topics: Vec<String>,
    timeout: Duration,
}

impl KafkaConsumer {
    pub(super) fn start(config: &KafkaConfig, group: &str, topics: &[String]) -> Result<Self> {
        let context = GroupContext { group: group.to_owned(), ..GroupContext::default() };
        let inner: BaseConsumer<GroupContext> = config
            .group_consumer(group)
            .create_with_context(context)
            .map_err(|e| broker_error("creating a consumer", e))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        inner.subscribe(&names).map_err(|e| broker_error("subscribing", e))?;
        Ok(KafkaConsumer { inner: Some(Arc::new(inner)), topics: topics.to_vec(), timeout: config.timeout() })
    }
}

impl KafkaConsumer {
    fn client(&self) -> Arc<BaseConsumer<GroupContext>> {
        Arc::clone(self.inner.as_ref().expect("a consumer is open until dropped"))
    }
}

/// Commit failures that mean "these partitions moved": the work is durable,
/// the next owner redelivers it and idempotent sinks absorb that.
fn partitions_moved(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        e.rdkafka_error_code(),
        Some(RebalanceInProgress | IllegalGeneration | UnknownMemberId | FencedInstanceId | AssignmentLost | State)
    )
}

/// How long dropping a consumer waits for it to leave its group.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

impl Drop for KafkaConsumer {
    /// Leaving the group lets the brokers move the partitions at once, but
    /// librdkafka's close waits for the coordinator without limit: with the
    /// brokers gone a shutdown would hang. So it closes on a thread of its
    /// own, waited for at most `CLOSE_WAIT`.
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else { return };
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(inner);
            let _ = done.send(());
        });
        if closed.recv_timeout(CLOSE_WAIT).is_err() {
            tracing::warn!("the consumer did not leave its group in time; the brokers will time its session out");
        }
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>> {
        let inner = self.client();
        blocking(move || {
            let deadline = Instant::now() + wait;
            let mut revoked_seen = inner.context().revoked.lock().expect("revoked list").len();
            let mut out: Vec<Message> = Vec::new();
            while out.len() < max {
                // Wait only while nothing has arrived; then take what is queued.
                let left =
                    if out.is_empty() { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
                let polled = inner.poll(left);
                // Messages fetched before a revocation belong to another member
                // now; those fetched after the partition came back (in this
                // same call) are the new assignment's, from its committed offset.
                let revoked = inner.context().revoked.lock().expect("revoked list")[revoked_seen..].to_vec();
                if !revoked.is_empty() {
                    revoked_seen += revoked.len();
                    out.retain(|m| !m.is_in(&revoked));
                }
                match polled {
                    Some(Ok(m)) => out.push(to_message(&m)),
                    Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                        return Err(TransportError::Storage(format!("consumer failed: {code}")));
                    }
                    // Informational (a broker connection dropped, …): librdkafka reconnects.
                    Some(Err(e)) => tracing::warn!(error = %e, "consumer"),
                    // A rebalance was served, or the wait is over.
                    None if left.is_zero() => break,
                    None => {}
                }
            }
            Ok(out)
        })
        .await
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<()> {
        let inner = self.client();
        let positions = positions.to_vec();
        blocking(move || {
            let assigned = inner.assignment().map_err(|e| broker_error("reading the assignment", e))?;
            let mut tpl = TopicPartitionList::new();
            let mut moved = Vec::new();
            for p in &positions {
                if assigned.find_partition(&p.topic, p.partition as i32).is_some() {
                    tpl.add_partition_offset(&p.topic, p.partition as i32, Offset::Offset(p.next_offset as i64))
                        .map_err(|e| broker_error("committing", e))?;
                } else {
                    moved.push((p.topic.clone(), p.partition));
                }
            }
            if !moved.is_empty() {
                tracing::warn!(
                    ?moved,
                    "not committing partitions this member no longer owns; their new owner redelivers"
                );
            }
            if tpl.count() == 0 {
                return Ok(());
            }
            match inner.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
                Ok(()) => Ok(()),
                Err(e) if partitions_moved(&e) => {
                    tracing::warn!(error = %e, "commit abandoned: the group rebalanced; the new owner redelivers");
                    Ok(())
                }
                Err(e) => Err(broker_error("committing", e)),
            }
        })
        .await
    }

    async fn lag(&mut self) -> Result<Vec<(Position, u64)>> {
        let inner = self.client();
        let (topics, timeout) = (self.topics.clone(), self.timeout);
        blocking(move || {
            let assigned = inner.context().assigned.load(Ordering::Acquire);
            // Until its share is known, a member counts everything its group has left.
            let partitions = if assigned {
                inner.assignment().map_err(|e| broker_error("reading the assignment", e))?
            } else {
                let mut all = TopicPartitionList::new();
                for topic in &topics {
                    let metadata =
                        inner.fetch_metadata(Some(topic), timeout).map_err(|e| broker_error("metadata", e))?;
                    for t in metadata.topics() {
                        for p in t.partitions() {
                            all.add_partition(topic, p.id());
                        }
                    }
                }
                all
            };
            if partitions.count() == 0 {
                return Ok(Vec::new());
            }
            let positions = inner.position().map_err(|e| broker_error("reading positions", e))?;
            let committed =
                inner.committed_offsets(partitions.clone(), timeout).map_err(|e| broker_error("reading commits", e))?;
            let mut out = Vec::new();
            for e in partitions.elements() {
                let (topic, partition) = (e.topic(), e.partition());
                let (low, high) =
                    inner.fetch_watermarks(topic, partition, timeout).map_err(|e| broker_error("end offsets", e))?;
                let offset_of =
                    |tpl: &TopicPartitionList| match tpl.find_partition(topic, partition).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => Some(o),
                        _ => None,
                    };
                let read = offset_of(&positions).filter(|_| assigned).or_else(|| offset_of(&committed)).unwrap_or(low);
                let position =
                    Position { topic: topic.to_owned(), partition: partition as u32, next_offset: read as u64 };
                out.push((position, high.saturating_sub(read).max(0) as u64));
            }
            Ok(out)
        })
        .await
    }

    /// Local reads only (assignment, read positions, cached end offsets):
    /// a partition not fetched from yet is left out until it has been.
    async fn recent_lag(&mut self) -> Result<Vec<(Position, u64)>> {
        let inner = self.client();
        if !inner.context().assigned.load(Ordering::Acquire) {
            return Ok(Vec::new());
        }
        let positions = inner.position().map_err(|e| broker_error("reading positions", e))?;
        Ok(positions
            .elements()
            .iter()
            .filter_map(|e| {
                let Offset::Offset(read) = e.offset() else { return None };
                let end = cached_end_offset(&inner, e.topic(), e.partition())?;
                let position =
                    Position { topic: e.topic().to_owned(), partition: e.partition() as u32, next_offset: read as u64 };
                Some((position, end.saturating_sub(read).max(0) as u64))
            })
            .collect())
    }

    fn take_revoked(&mut self) -> Vec<(String, u32)> {
        std::mem::take(&mut *self.client().context().revoked.lock().expect("revoked list"))
    }
}

/// The end offset librdkafka last saw for a partition (every fetch response
/// carries it); None before the first fetch. rdkafka has no safe wrapper for
/// this cached read, only for the round trip (`fetch_watermarks`).
fn cached_end_offset(consumer: &BaseConsumer<GroupContext>, topic: &str, partition: i32) -> Option<i64> {
    use rdkafka::bindings::{rd_kafka_get_watermark_offsets, rd_kafka_resp_err_t};
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client handle lives as long as `consumer`; the call only
    // reads librdkafka's cached offsets of the partition into the two locals.
    let err = unsafe {
        rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (err == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
