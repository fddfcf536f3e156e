//! A consumer of the embedded log: its own connection, its partitions, its
//! read positions (starting at the group's committed offsets).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::watch;

use super::{TopicMeta, blocking, storage, table};
use crate::runtime::transport::{Consumer, Headers, Message, Position, Result};

struct Assigned {
    topic: String,
    topic_id: i64,
    partition: u32,
    position: u64,
}

pub(super) struct EmbeddedConsumer {
    conn: Arc<Mutex<Connection>>,
    group: String,
    partitions: Vec<Assigned>,
    /// Which partition the next poll starts with, so none starves.
    next_start: usize,
    appended: watch::Receiver<u64>,
}

pub(super) fn read_partition(
    conn: &Connection,
    topic: &str,
    topic_id: i64,
    partition: u32,
    from: u64,
    max: usize,
) -> Result<Vec<Message>> {
    let name = table(TopicMeta { id: topic_id, partitions: 0 }, partition);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT offset, key, value, ts_ms FROM {name} WHERE offset >= ?1 ORDER BY offset LIMIT ?2"
        ))
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![from, max as i64], |r| {
            Ok(Message {
                topic: topic.to_owned(),
                partition,
                offset: r.get(0)?,
                key: r.get(1)?,
                value: r.get(2)?,
                timestamp_ms: r.get(3)?,
                headers: Headers::default(),
            })
        })
        .map_err(storage)?;
    rows.collect::<rusqlite::Result<_>>().map_err(storage)
}

impl EmbeddedConsumer {
    pub(super) async fn start(
        conn: Arc<Mutex<Connection>>,
        group: String,
        assigned: Vec<(String, i64, u32)>,
        appended: watch::Receiver<u64>,
    ) -> Result<Self> {
        let grp = group.clone();
        let partitions = blocking(&conn, move |conn| {
            assigned
                .into_iter()
                .map(|(topic, topic_id, partition)| {
                    let committed: Option<u64> = conn
                        .query_row(
                            "SELECT next_offset FROM group_offsets WHERE grp = ?1 AND topic_id = ?2 AND partition = ?3",
                            params![grp, topic_id, partition],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(storage)?;
                    Ok(Assigned { topic, topic_id, partition, position: committed.unwrap_or(0) })
                })
                .collect()
        })
        .await?;
        Ok(EmbeddedConsumer { conn, group, partitions, next_start: 0, appended })
    }

    async fn fetch(&mut self, max: usize) -> Result<Vec<Message>> {
        let wanted: Vec<(String, i64, u32, u64)> = (0..self.partitions.len())
            .map(|i| &self.partitions[(self.next_start + i) % self.partitions.len()])
            .map(|a| (a.topic.clone(), a.topic_id, a.partition, a.position))
            .collect();
        self.next_start = (self.next_start + 1) % self.partitions.len().max(1);
        let messages = blocking(&self.conn, move |conn| {
            let mut out = Vec::new();
            for (topic, topic_id, partition, position) in wanted {
                if out.len() >= max {
                    break;
                }
                out.extend(read_partition(conn, &topic, topic_id, partition, position, max - out.len())?);
            }
            Ok(out)
        })
        .await?;
        for m in &messages {
            let a = self
                .partitions
                .iter_mut()
                .find(|a| a.partition == m.partition && a.topic == m.topic)
                .expect("message from an assigned partition");
            a.position = m.offset + 1;
        }
        Ok(messages)
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>> {
        if self.partitions.is_empty() {
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        // Mark the current append count seen before reading, so an append
        // between the read and the wait still wakes us.
        self.appended.borrow_and_update();
        let messages = self.fetch(max).await?;
        if !messages.is_empty() {
            return Ok(messages);
        }
        // Appends by other processes do not notify: the wait bounds how late we see them.
        let _ = tokio::time::timeout(wait, self.appended.changed()).await;
        self.fetch(max).await
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<()> {
        let rows: Vec<(i64, u32, u64)> = positions
            .iter()
            .filter_map(|p| {
                self.partitions
                    .iter()
                    .find(|a| a.topic == p.topic && a.partition == p.partition)
                    .map(|a| (a.topic_id, p.partition, p.next_offset))
            })
            .collect();
        let group = self.group.clone();
        blocking(&self.conn, move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage)?;
            for (topic_id, partition, next_offset) in rows {
                tx.execute(
                    "INSERT INTO group_offsets (grp, topic_id, partition, next_offset) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (grp, topic_id, partition) DO UPDATE SET next_offset = excluded.next_offset",
                    params![group, topic_id, partition, next_offset],
                )
                .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn lag(&mut self) -> Result<Vec<(Position, u64)>> {
        let wanted: Vec<(String, i64, u32, u64)> =
            self.partitions.iter().map(|a| (a.topic.clone(), a.topic_id, a.partition, a.position)).collect();
        blocking(&self.conn, move |conn| {
            wanted
                .into_iter()
                .map(|(topic, topic_id, partition, position)| {
                    let end: u64 = conn
                        .query_row(
                            "SELECT next_offset FROM partition_ends WHERE topic_id = ?1 AND partition = ?2",
                            params![topic_id, partition],
                            |r| r.get(0),
                        )
                        .map_err(storage)?;
                    Ok((Position { topic, partition, next_offset: position }, end.saturating_sub(position)))
                })
                .collect()
        })
        .await
    }
}
