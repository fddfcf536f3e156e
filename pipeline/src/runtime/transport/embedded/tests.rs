use std::sync::Arc;

use async_trait::async_trait;

use super::{EmbeddedConfig, EmbeddedLog};
use crate::runtime::transport::contract::TransportFixture;
use crate::runtime::transport::{Membership, Outgoing, Transport};

struct EmbeddedFixture {
    dir: tempfile::TempDir,
}

#[async_trait]
impl TransportFixture for EmbeddedFixture {
    async fn connect(&self) -> Arc<dyn Transport> {
        Arc::new(EmbeddedLog::open(&EmbeddedConfig::new(self.dir.path())).unwrap())
    }
}

crate::transport_contract_suite!(EmbeddedFixture { dir: tempfile::tempdir().unwrap() });

#[tokio::test]
async fn another_process_handle_sees_appends_and_topics() {
    // Two handles on one directory stand for `run` and an admin command.
    let dir = tempfile::tempdir().unwrap();
    let run = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    let admin = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    admin.create_topic("t", 1).await.unwrap();
    admin.send("t", vec![Outgoing::new("k", b"v".to_vec())]).await.unwrap();
    let mut consumer = run.subscribe("g", &["t".to_owned()], Membership::ALONE).await.unwrap();
    assert_eq!(crate::runtime::transport::contract::consume(&mut *consumer, 1).await.len(), 1);
}

#[tokio::test]
async fn retention_deletes_old_messages_but_keeps_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    log.create_topic("t", 1).await.unwrap();
    log.send("t", (0..5).map(|i| Outgoing::new("k", vec![i])).collect()).await.unwrap();
    let before_any = chrono::Utc::now().timestamp_millis() - 60_000;
    assert_eq!(log.delete_before(before_any).await.unwrap(), 0);
    let after_all = chrono::Utc::now().timestamp_millis() + 1;
    assert_eq!(log.delete_before(after_all).await.unwrap(), 5);
    log.send("t", vec![Outgoing::new("k", vec![9])]).await.unwrap();
    let info = &log.topics().await.unwrap()[0];
    assert_eq!(
        (info.partitions[0].start_offset, info.partitions[0].end_offset),
        (5, 6),
        "offsets continue after deletes"
    );
}

#[tokio::test]
async fn a_compacted_topic_keeps_the_last_message_of_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    log.create_topic("g.stages.changelog", 1).await.unwrap();
    log.create_topic("history", 1).await.unwrap();
    for topic in ["g.stages.changelog", "history"] {
        let batch =
            |i: u8| vec![Outgoing::new("a", vec![i]), Outgoing::new("b", vec![i]), Outgoing::new("a", vec![i + 1])];
        log.send(topic, batch(0)).await.unwrap();
        log.send(topic, batch(10)).await.unwrap();
    }
    assert_eq!(log.compact().await.unwrap(), 4, "every message a later one of its key replaces");
    let kept = |messages: Vec<crate::runtime::transport::Message>| -> Vec<(u64, String, Vec<u8>)> {
        messages.into_iter().map(|m| (m.offset, m.key, m.value)).collect()
    };
    assert_eq!(
        kept(log.read("g.stages.changelog", 0, 0, 100).await.unwrap()),
        [(4, "b".to_owned(), vec![10]), (5, "a".to_owned(), vec![11])],
        "offsets keep counting; older messages of a key are gone"
    );
    assert_eq!(log.read("history", 0, 0, 100).await.unwrap().len(), 6, "other topics keep everything");
    let info = log.topics().await.unwrap().into_iter().find(|t| t.name == "g.stages.changelog").unwrap();
    assert_eq!((info.partitions[0].start_offset, info.partitions[0].end_offset), (4, 6));
}
