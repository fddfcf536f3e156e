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
