//! The embedded transport: a durable log in one SQLite database (WAL mode),
//! one append-only table per partition. A send is one transaction, so what
//! `send` acknowledged survives kill -9; offsets, group commits and source
//! checkpoints live in the same file. Other processes (`tail`, `produce`,
//! `dlq replay`) may read and write while `run` holds it.

mod consumer;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Deserialize;
use tokio::sync::watch;

use super::{
    Consumer, GroupLag, Membership, Message, Outgoing, PartitionInfo, Result, TopicInfo, Transport, TransportError,
    is_compacted,
};
use consumer::EmbeddedConsumer;

/// The durable log on local disk (one SQLite database in WAL mode).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Directory of the log (`log.db` inside).
    pub path: PathBuf,
    /// `normal` survives a crash of the process (kill -9); `full` also a
    /// power loss, at a cost in throughput.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// Messages older than this are deleted hourly, consumed or not, as Kafka
    /// does (0 keeps everything); offsets keep counting. A consumer stopped
    /// for longer loses what it had not read: keep it above your longest
    /// outage. State changelogs and checkpoints are never deleted.
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u64,
    /// Upper size of the log's database file, in MiB (0: as much as the disk
    /// holds; the write-ahead log, bounded by its checkpoints, comes on top).
    /// An append that would pass it waits, retried as on a full disk
    /// (readiness `retrying`), until retention or a raised limit makes room.
    #[serde(default)]
    pub max_size_mib: u64,
}

/// How an append is made durable (the log's `PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a crash of the process.
    #[default]
    Normal,
    /// Survives a power loss too.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

fn default_retention_hours() -> u64 {
    168
}

impl EmbeddedConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EmbeddedConfig {
            path: path.into(),
            synchronous: Default::default(),
            retention_hours: default_retention_hours(),
            max_size_mib: 0,
        }
    }
}

/// How long a writer waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
struct TopicMeta {
    id: i64,
    partitions: u32,
}

pub struct EmbeddedLog {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    topics: Arc<Mutex<HashMap<String, TopicMeta>>>,
    /// Bumped after every append, to wake waiting consumers in this process.
    appended: watch::Sender<u64>,
    synchronous: &'static str,
}

fn storage(e: rusqlite::Error) -> TransportError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => TransportError::Busy(e.to_string()),
        // A full disk (or the log's size cap) may pass: retried with backoff,
        // the component `retrying` meanwhile. Other I/O errors (a failing
        // disk, a corrupt file) stop the component.
        Some(DiskFull) => TransportError::Unavailable(e.to_string()),
        _ => TransportError::Storage(e.to_string()),
    }
}

fn table(topic: TopicMeta, partition: u32) -> String {
    format!("log_{}_{}", topic.id, partition)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn open_connection(path: &Path, synchronous: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path.join("log.db"))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Large pages suit ~1 KB messages appended in batches: 1.7x the append
    // rate of the 4 KiB default (docs/decisions/001). Takes effect only when
    // the file is created.
    conn.pragma_update(None, "page_size", 65_536)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(conn)
}

/// The partitions' tables of the compacted topics, or of the others.
fn partition_tables(conn: &Connection, compacted: bool) -> Result<Vec<(i64, u32)>> {
    let tables: Vec<(i64, u32, String)> = conn
        .prepare("SELECT e.topic_id, e.partition, t.name FROM partition_ends e JOIN topics t ON t.id = e.topic_id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .map_err(storage)?;
    Ok(tables.into_iter().filter(|(_, _, name)| is_compacted(name) == compacted).map(|(id, p, _)| (id, p)).collect())
}

/// SQLite's `max_page_count` of the appending connection: appends past it
/// fail with SQLITE_FULL, as on a full disk.
fn set_max_size(conn: &Connection, bytes: Option<u64>) -> Result<()> {
    let page_size: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(storage)?;
    // SQLite's own ceiling; it raises a cap below the current size to that
    // size, and takes 0 as a question, not a cap.
    let pages = bytes.map_or(u32::MAX as u64 - 1, |b| b.div_ceil(page_size).clamp(1, u32::MAX as u64 - 1));
    conn.pragma_update(None, "max_page_count", pages).map_err(storage)
}

/// Runs blocking SQLite work off the async threads.
async fn blocking<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || f(&mut conn.lock().expect("log connection lock")))
        .await
        .map_err(|e| TransportError::Storage(format!("log worker panicked: {e}")))?
}

impl EmbeddedLog {
    pub fn open(config: &EmbeddedConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.path)
            .map_err(|e| TransportError::Storage(format!("cannot create {}: {e}", config.path.display())))?;
        let synchronous = config.synchronous.pragma();
        let conn = open_connection(&config.path, synchronous).map_err(storage)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS partition_ends (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                 PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS group_offsets (grp TEXT NOT NULL, topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                 PRIMARY KEY (grp, topic_id, partition)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL);",
        )
        .map_err(storage)?;
        if config.max_size_mib > 0 {
            set_max_size(&conn, Some(config.max_size_mib << 20))?;
        }
        let (appended, _) = watch::channel(0);
        Ok(EmbeddedLog {
            path: config.path.clone(),
            conn: Arc::new(Mutex::new(conn)),
            topics: Arc::new(Mutex::new(HashMap::new())),
            appended,
            synchronous,
        })
    }

    /// Caps the log's size on disk (None: no cap beyond the disk's). A cap
    /// below the current size holds the log at its current size.
    pub async fn limit_size(&self, bytes: Option<u64>) -> Result<()> {
        blocking(&self.conn, move |conn| set_max_size(conn, bytes)).await
    }

    /// Topic metadata, from the cache or the database (another process may have created it).
    async fn topic(&self, name: &str) -> Result<TopicMeta> {
        if let Some(meta) = self.topics.lock().expect("topic cache lock").get(name) {
            return Ok(*meta);
        }
        let owned = name.to_owned();
        let meta = blocking(&self.conn, move |conn| {
            conn.query_row("SELECT id, partitions FROM topics WHERE name = ?1", [&owned], |r| {
                Ok(TopicMeta { id: r.get(0)?, partitions: r.get(1)? })
            })
            .optional()
            .map_err(storage)?
            .ok_or(TransportError::UnknownTopic(owned))
        })
        .await?;
        self.topics.lock().expect("topic cache lock").insert(name.to_owned(), meta);
        Ok(meta)
    }

    /// Compacts the compacted topics (state changelogs): deletes every message
    /// that a later one of the same key replaces; returns how many. A send
    /// is one transaction, so a batch's state entries and the marker that
    /// makes them count are never separated. Done in passes (at start and
    /// hourly), not on each append: deleting per key on every append costs
    /// ~10x the append rate (`make bench-restore`).
    pub async fn compact(&self) -> Result<u64> {
        blocking(&self.conn, move |conn| {
            let mut deleted = 0;
            for (id, partition) in partition_tables(conn, true)? {
                let name = table(TopicMeta { id, partitions: 0 }, partition);
                deleted += conn
                    .execute(
                        &format!(
                            "DELETE FROM {name} WHERE offset NOT IN (SELECT max(offset) FROM {name} GROUP BY key)"
                        ),
                        [],
                    )
                    .map_err(storage)? as u64;
            }
            Ok(deleted)
        })
        .await
    }

    /// Deletes messages appended before `cutoff_ms` (Unix milliseconds); returns how many.
    pub async fn delete_before(&self, cutoff_ms: i64) -> Result<u64> {
        blocking(&self.conn, move |conn| {
            let mut deleted = 0;
            // State changelogs are not history: their old entries are live state.
            for (id, partition) in partition_tables(conn, false)? {
                let name = table(TopicMeta { id, partitions: 0 }, partition);
                // Offsets are in time order, so old messages form a prefix.
                deleted +=
                    conn.execute(&format!("DELETE FROM {name} WHERE ts_ms < ?1"), [cutoff_ms]).map_err(storage)? as u64;
            }
            Ok(deleted)
        })
        .await
    }
}

#[async_trait]
impl Transport for EmbeddedLog {
    async fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        let owned = name.to_owned();
        let meta = blocking(&self.conn, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            tx.execute("INSERT OR IGNORE INTO topics (name, partitions, created_ms) VALUES (?1, ?2, ?3)", params![owned, partitions, now_ms()])
                .map_err(storage)?;
            let meta = tx
                .query_row("SELECT id, partitions FROM topics WHERE name = ?1", [&owned], |r| Ok(TopicMeta { id: r.get(0)?, partitions: r.get(1)? }))
                .map_err(storage)?;
            if meta.partitions != partitions {
                return Err(TransportError::PartitionMismatch { topic: owned, actual: meta.partitions, wanted: partitions });
            }
            for p in 0..partitions {
                tx.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (offset INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL, ts_ms INTEGER NOT NULL)",
                    table(meta, p)
                ))
                .map_err(storage)?;
                tx.execute("INSERT OR IGNORE INTO partition_ends (topic_id, partition, next_offset) VALUES (?1, ?2, 0)", params![meta.id, p])
                    .map_err(storage)?;
            }
            tx.commit().map_err(storage)?;
            Ok(meta)
        })
        .await?;
        self.topics.lock().expect("topic cache lock").insert(name.to_owned(), meta);
        Ok(())
    }

    async fn topics(&self) -> Result<Vec<TopicInfo>> {
        blocking(&self.conn, |conn| {
            let topics: Vec<(String, TopicMeta)> = conn
                .prepare("SELECT name, id, partitions FROM topics ORDER BY name")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, TopicMeta { id: r.get(1)?, partitions: r.get(2)? })))?.collect()
                })
                .map_err(storage)?;
            let mut out = Vec::new();
            for (name, meta) in topics {
                let mut partitions = Vec::new();
                for p in 0..meta.partitions {
                    let end: u64 = conn
                        .query_row(
                            "SELECT next_offset FROM partition_ends WHERE topic_id = ?1 AND partition = ?2",
                            params![meta.id, p],
                            |r| r.get(0),
                        )
                        .map_err(storage)?;
                    let start: Option<u64> = conn
                        .query_row(&format!("SELECT min(offset) FROM {}", table(meta, p)), [], |r| r.get(0))
                        .map_err(storage)?;
                    partitions.push(PartitionInfo {
                        partition: p,
                        start_offset: start.unwrap_or(end),
                        end_offset: end,
                    });
                }
                out.push(TopicInfo { name, partitions });
            }
            Ok(out)
        })
        .await
    }

    async fn send(&self, topic: &str, messages: Vec<Outgoing>) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let meta = self.topic(topic).await?;
        blocking(&self.conn, move |conn| {
            let mut by_partition: Vec<Vec<Outgoing>> = (0..meta.partitions).map(|_| Vec::new()).collect();
            for m in messages {
                by_partition[m.partition_in(meta.partitions) as usize].push(m);
            }
            let ts = now_ms();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
            for (p, batch) in by_partition.into_iter().enumerate().filter(|(_, b)| !b.is_empty()) {
                let p = p as u32;
                let mut next: i64 = tx
                    .query_row(
                        "SELECT next_offset FROM partition_ends WHERE topic_id = ?1 AND partition = ?2",
                        params![meta.id, p],
                        |r| r.get(0),
                    )
                    .map_err(storage)?;
                {
                    let mut insert = tx
                        .prepare_cached(&format!(
                            "INSERT INTO {} (offset, key, value, ts_ms) VALUES (?1, ?2, ?3, ?4)",
                            table(meta, p)
                        ))
                        .map_err(storage)?;
                    for m in &batch {
                        insert.execute(params![next, m.key, m.value, ts]).map_err(storage)?;
                        next += 1;
                    }
                }
                tx.execute(
                    "UPDATE partition_ends SET next_offset = ?3 WHERE topic_id = ?1 AND partition = ?2",
                    params![meta.id, p, next],
                )
                .map_err(storage)?;
            }
            tx.commit().map_err(storage)
        })
        .await?;
        self.appended.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn subscribe(&self, group: &str, topics: &[String], membership: Membership) -> Result<Box<dyn Consumer>> {
        let mut assigned = Vec::new();
        for name in topics {
            let meta = self.topic(name).await?;
            for p in (0..meta.partitions).filter(|p| membership.owns(*p)) {
                assigned.push((name.clone(), meta.id, p));
            }
        }
        let conn = open_connection(&self.path, self.synchronous).map_err(storage)?;
        let consumer =
            EmbeddedConsumer::start(Arc::new(Mutex::new(conn)), group.to_owned(), assigned, self.appended.subscribe())
                .await?;
        Ok(Box::new(consumer))
    }

    async fn group_lag(&self, groups: &[String]) -> Result<Vec<GroupLag>> {
        let groups = groups.to_vec();
        let lags = blocking(&self.conn, |conn| {
            conn.prepare(
                "SELECT g.grp, t.name, g.partition, g.next_offset, e.next_offset FROM group_offsets g
                 JOIN topics t ON t.id = g.topic_id JOIN partition_ends e ON e.topic_id = g.topic_id AND e.partition = g.partition
                 ORDER BY g.grp, t.name, g.partition",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok(GroupLag { group: r.get(0)?, topic: r.get(1)?, partition: r.get(2)?, committed: r.get(3)?, end_offset: r.get(4)? }))?
                    .collect::<rusqlite::Result<Vec<GroupLag>>>()
            })
            .map_err(storage)
        })
        .await?;
        Ok(lags.into_iter().filter(|l| groups.contains(&l.group)).collect())
    }

    /// SQLite's largest blob (SQLITE_MAX_LENGTH).
    fn max_message_bytes(&self) -> usize {
        1_000_000_000
    }

    async fn read(&self, topic: &str, partition: u32, from_offset: u64, max: usize) -> Result<Vec<Message>> {
        let meta = self.topic(topic).await?;
        if partition >= meta.partitions {
            return Ok(Vec::new());
        }
        let topic = topic.to_owned();
        blocking(&self.conn, move |conn| consumer::read_partition(conn, &topic, meta.id, partition, from_offset, max))
            .await
    }

    async fn read_checkpoint(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        blocking(&self.conn, move |conn| {
            conn.query_row("SELECT value FROM checkpoints WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn write_checkpoint(&self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        blocking(&self.conn, move |conn| {
            conn.execute(
                "INSERT INTO checkpoints (name, value, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                params![name, value, now_ms()],
            )
            .map(drop)
            .map_err(storage)
        })
        .await
    }
}
