//! Against a real broker: `scripts/services.sh start kafka` (tansu on
//! 127.0.0.1:9092, or `SOCIALPIPE_KAFKA_BROKERS`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{KafkaConfig, KafkaTransport};
use crate::runtime::transport::contract::{TransportFixture, consume};
use crate::runtime::transport::{Headers, Membership, Outgoing, Transport, TransportError};

/// The broker the tests use, with group timeouts short enough for tests.
pub(crate) fn test_config() -> KafkaConfig {
    let brokers = std::env::var("SOCIALPIPE_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut config = KafkaConfig::new(brokers);
    config.group_id = format!("test-{:08x}", fastrand::u32(..));
    config.replication_factor = 1;
    config.session_timeout_ms = 6_000;
    config.heartbeat_interval_ms = 1_000;
    config.max_poll_interval_ms = 10_000;
    config.request_timeout_ms = 10_000;
    config
}

struct KafkaFixture {
    config: KafkaConfig,
}

#[async_trait]
impl TransportFixture for KafkaFixture {
    async fn connect(&self) -> Arc<dyn Transport> {
        Arc::new(
            KafkaTransport::connect(&self.config).expect("kafka client (start it: scripts/services.sh start kafka)"),
        )
    }
}

crate::transport_contract_suite!(KafkaFixture { config: test_config() });

fn unique(name: &str) -> String {
    format!("kafka-test.{name}.{:08x}", fastrand::u32(..))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_carry_the_schema_and_trace_id() {
    let t = KafkaTransport::connect(&test_config()).unwrap();
    let topic = unique("headers");
    t.create_topic(&topic, 1).await.unwrap();
    let headers = Headers { schema: Some("post/v1".into()), trace_id: Some("abc123".into()) };
    t.send(&topic, vec![Outgoing { headers: headers.clone(), ..Outgoing::new("k", b"v".to_vec()) }]).await.unwrap();
    let read = t.read(&topic, 0, 0, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].headers, headers);
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&topic), Membership::ALONE).await.unwrap();
    assert_eq!(consume(&mut *consumer, 1).await[0].headers, headers, "group consumers see them too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_topic_with_another_replication_factor_is_reported() {
    let config = test_config();
    let t = KafkaTransport::connect(&config).unwrap();
    let topic = unique("replication");
    t.create_topic(&topic, 2).await.unwrap();
    let wanting_three = KafkaTransport::connect(&KafkaConfig { replication_factor: 3, ..config }).unwrap();
    match wanting_three.create_topic(&topic, 2).await {
        Err(TransportError::ReplicationMismatch { actual: 1, wanted: 3, .. }) => {}
        other => panic!("expected a replication mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_a_transient_error() {
    let mut config = test_config();
    config.brokers = "127.0.0.1:1".into();
    config.request_timeout_ms = 1_000;
    let t = KafkaTransport::connect(&config).unwrap();
    let error = tokio::time::timeout(Duration::from_secs(30), t.topics()).await.expect("bounded").unwrap_err();
    assert_eq!(error.domain(), socialpipe_schemas::ErrorDomain::Transient, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_member_keeps_its_partitions_past_the_session_timeout() {
    let config = test_config();
    let t = KafkaTransport::connect(&config).unwrap();
    let topic = unique("steady");
    t.create_topic(&topic, 2).await.unwrap();
    t.send(&topic, (0..50).map(|i| Outgoing::new(format!("k{i}"), vec![i as u8])).collect()).await.unwrap();
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&topic), Membership::ALONE).await.unwrap();
    let got = consume(&mut *consumer, 50).await;
    assert_eq!(got.len(), 50);
    consumer.commit(&crate::runtime::transport::positions_after(&got)).await.unwrap();
    consumer.lag().await.unwrap();
    // Three session timeouts of polling: heartbeats must keep the membership.
    let until = std::time::Instant::now() + Duration::from_millis(3 * u64::from(config.session_timeout_ms));
    while std::time::Instant::now() < until {
        assert!(consumer.poll(10, Duration::from_millis(200)).await.unwrap().is_empty());
        assert_eq!(consumer.take_revoked(), Vec::<(String, u32)>::new(), "no rebalance took the partitions");
    }
}

/// Appends a transaction's commit marker to partition 0 of `topic`: a
/// control batch that takes an offset and holds no message, the gap that
/// compaction also leaves. tansu 0.6 has no EndTxn (librdkafka cannot commit
/// a transaction on it), so the marker is produced as Kafka's protocol
/// spells it: Produce v3 with one RecordBatch v2, control and transactional.
fn write_commit_marker(config: &KafkaConfig, topic: &str) {
    use std::io::{Read, Write};

    fn varint(out: &mut Vec<u8>, value: i64) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn crc32c(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            }
        }
        !crc
    }
    // The control record: key (version 0, type 1 = commit), value (version 0, coordinator epoch 0).
    let mut record = vec![0u8]; // attributes
    varint(&mut record, 0); // timestamp delta
    varint(&mut record, 0); // offset delta
    varint(&mut record, 4);
    record.extend([0, 0, 0, 1]);
    varint(&mut record, 6);
    record.extend([0, 0, 0, 0, 0, 0]);
    varint(&mut record, 0); // headers
    let mut records = Vec::new();
    varint(&mut records, record.len() as i64);
    records.extend(record);
    let now = chrono::Utc::now().timestamp_millis();
    let mut after_crc = Vec::new();
    after_crc.extend(0x30i16.to_be_bytes()); // attributes: transactional | control
    after_crc.extend(0i32.to_be_bytes()); // last offset delta
    after_crc.extend(now.to_be_bytes());
    after_crc.extend(now.to_be_bytes());
    after_crc.extend(4242i64.to_be_bytes()); // producer id
    after_crc.extend(0i16.to_be_bytes()); // producer epoch
    after_crc.extend((-1i32).to_be_bytes()); // base sequence
    after_crc.extend(1i32.to_be_bytes());
    after_crc.extend(records);
    let mut batch = Vec::new();
    batch.extend(0i64.to_be_bytes());
    batch.extend((4 + 1 + 4 + after_crc.len() as i32).to_be_bytes());
    batch.extend(0i32.to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend(crc32c(&after_crc).to_be_bytes());
    batch.extend(after_crc);
    let string = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as i16).to_be_bytes());
        out.extend(s.as_bytes());
    };
    let mut request = Vec::new();
    request.extend(0i16.to_be_bytes()); // Produce
    request.extend(3i16.to_be_bytes());
    request.extend(7i32.to_be_bytes()); // correlation id
    string(&mut request, "socialpipe-test");
    request.extend((-1i16).to_be_bytes()); // no transactional id
    request.extend((-1i16).to_be_bytes()); // acks = all
    request.extend(10_000i32.to_be_bytes());
    request.extend(1i32.to_be_bytes());
    string(&mut request, topic);
    request.extend(1i32.to_be_bytes());
    request.extend(0i32.to_be_bytes()); // partition
    request.extend((batch.len() as i32).to_be_bytes());
    request.extend(batch);
    let mut broker = std::net::TcpStream::connect(config.brokers.split(',').next().unwrap()).unwrap();
    broker.write_all(&(request.len() as i32).to_be_bytes()).unwrap();
    broker.write_all(&request).unwrap();
    let mut length = [0u8; 4];
    broker.read_exact(&mut length).unwrap();
    let mut response = vec![0u8; i32::from_be_bytes(length) as usize];
    broker.read_exact(&mut response).unwrap();
    // correlation id, one topic (count, name), one partition (count, index), then its error code.
    let error_at = 4 + 4 + 2 + topic.len() + 4 + 4;
    let error = i16::from_be_bytes([response[error_at], response[error_at + 1]]);
    assert_eq!(error, 0, "the broker refused the commit marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_across_offsets_without_messages_completes() {
    let config = test_config();
    let t = KafkaTransport::connect(&config).unwrap();
    let topic = unique("gaps");
    t.create_topic(&topic, 1).await.unwrap();
    t.send(&topic, vec![Outgoing::new("a", b"a".to_vec()), Outgoing::new("b", b"b".to_vec())]).await.unwrap();
    write_commit_marker(&config, &topic);
    t.send(&topic, vec![Outgoing::new("c", b"c".to_vec())]).await.unwrap();
    let end = t.watermarks(&topic, vec![0]).await.unwrap()[0].end_offset;
    assert_eq!(end, 4, "the commit marker took an offset: the partition has a gap");
    let read = tokio::time::timeout(Duration::from_secs(60), t.read(&topic, 0, 0, 100)).await.expect("bounded");
    let keys: Vec<String> = read.expect("the read completes").into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    // A read of fewer messages than the range holds offsets for returns what is there.
    let first = t.read(&topic, 0, 1, 2).await.unwrap();
    assert_eq!(first.iter().map(|m| m.offset).collect::<Vec<_>>(), [1, 3], "the marker's offset is skipped");
    // A marker at the very end: the read ends there too.
    t.send(&topic, vec![Outgoing::new("d", b"d".to_vec())]).await.unwrap();
    write_commit_marker(&config, &topic);
    let last = tokio::time::timeout(Duration::from_secs(60), t.read(&topic, 0, 4, 100)).await.expect("bounded");
    assert_eq!(last.expect("the read completes").iter().map(|m| m.offset).collect::<Vec<_>>(), [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_after_a_gap_is_read() {
    let config = test_config();
    let t = KafkaTransport::connect(&config).unwrap();
    t.write_checkpoint("source.a", "1").await.unwrap();
    write_commit_marker(&config, &config.checkpoint_topic());
    t.write_checkpoint("source.a", "2").await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(60), t.read_checkpoint("source.a")).await.expect("bounded");
    assert_eq!(read.expect("the checkpoint is read").as_deref(), Some("2"));
}

/// A member that stops polling for longer than `max.poll.interval.ms` loses
/// its partitions; its next poll rejoins and gets them back. The offsets it
/// hands out from then on start at the committed one, without a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_lost_and_regained_its_partitions_hands_out_every_offset() {
    let mut config = test_config();
    config.max_poll_interval_ms = config.session_timeout_ms;
    let t = KafkaTransport::connect(&config).unwrap();
    let topic = unique("regained");
    t.create_topic(&topic, 1).await.unwrap();
    t.send(&topic, (0..100).map(|i| Outgoing::new(format!("k{i}"), vec![i as u8])).collect()).await.unwrap();
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&topic), Membership::ALONE).await.unwrap();
    let first = consume(&mut *consumer, 10).await;
    let committed = crate::runtime::transport::positions_after(&first[..10]);
    consumer.commit(&committed).await.unwrap();
    // The fault: a member stuck (say, in a sink write) past its poll interval.
    tokio::time::sleep(Duration::from_millis(u64::from(config.max_poll_interval_ms) + 3_000)).await;
    t.send(&topic, (100..200).map(|i| Outgoing::new(format!("k{i}"), vec![i as u8])).collect()).await.unwrap();
    let mut offsets: Vec<u64> = Vec::new();
    let mut empty = 0;
    while offsets.last() != Some(&199) && empty < 6 {
        let batch = consumer.poll(1_000, Duration::from_secs(5)).await.unwrap();
        empty = if batch.is_empty() { empty + 1 } else { 0 };
        offsets.extend(batch.into_iter().map(|m| m.offset));
    }
    // Messages handed out before the member noticed may come again from the
    // committed offset (at least once); none may be skipped.
    let restart = offsets.iter().rposition(|&o| o == 10).unwrap_or_else(|| panic!("never from 10: {offsets:?}"));
    assert_eq!(offsets[restart..], (10..200).collect::<Vec<u64>>(), "every offset from the committed one, in order");
    for pair in offsets[..restart].windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no hole before the rejoin either: {offsets:?}");
    }
}
