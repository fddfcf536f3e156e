//! The stream connection, its reconnection schedule, and its checkpoint.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socialpipe_schemas::{ComponentError, Source, SourceBatch, SourceMode};
use tokio::time::Instant;

use super::{TwitterStreamConfig, rules};
use crate::api::decode_checkpoint;
use crate::http::{ApiClient, Clock, HttpErrors, StaticToken, retry_after};
use crate::records::reject_bytes;
use crate::twitter::mapping::{REQUEST_FIELDS, map_page};

/// Committed with durable output: where the stream was, so a restart
/// within X's backfill window asks for what it missed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest tweet delivered.
    last_id: Option<String>,
    /// When it was received (unix ms).
    received_at_ms: Option<i64>,
}

/// Why a connection attempt failed; each kind has X's own schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Failure {
    Network,
    Http,
    RateLimited,
}

/// Tweets delivered lately, so a backfill's replays are dropped.
const RECENT_IDS: usize = 20_000;

pub struct TwitterStreamSource {
    name: String,
    config: TwitterStreamConfig,
    /// For the rules requests.
    rules_client: ApiClient,
    /// For the stream: a connect timeout but no overall one.
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cursor: Cursor,
    rules_synced: bool,
    connection: Option<Connection>,
    /// Unix ms before which the next connection attempt waits.
    reconnect_at_ms: i64,
    /// Consecutive failed attempts of the last failure's kind.
    failures: u32,
    last_failure: Option<Failure>,
    /// The last time the stream showed it was alive (data or heartbeat), unix ms.
    alive_at_ms: Option<i64>,
    recent: RecentIds,
}

struct Connection {
    response: reqwest::Response,
    /// Bytes after the last complete line.
    buffer: Vec<u8>,
    last_data: Instant,
    delivered_anything: bool,
}

impl TwitterStreamSource {
    pub fn with_clock(name: &str, config: TwitterStreamConfig, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let token = Arc::new(StaticToken(config.bearer_token.clone()));
        let rules_client =
            ApiClient::new("twitter_stream", token, Arc::new(HttpErrors), Arc::clone(&clock), config.retry)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.retry.request_timeout_ms))
            .user_agent(concat!("socialpipe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ComponentError::fatal(format!("twitter_stream: HTTP client: {e}")))?;
        Ok(TwitterStreamSource {
            name: name.to_owned(),
            config,
            rules_client,
            http,
            clock,
            cursor: Cursor::default(),
            rules_synced: false,
            connection: None,
            reconnect_at_ms: 0,
            failures: 0,
            last_failure: None,
            alive_at_ms: None,
            recent: RecentIds::default(),
        })
    }

    /// Minutes of backfill to ask for: the gap since the stream was last
    /// alive, rounded up, within what is configured.
    fn backfill_minutes(&self) -> Option<u32> {
        let last = self.alive_at_ms.or(self.cursor.received_at_ms)?;
        if self.config.backfill_minutes == 0 {
            return None;
        }
        let gap_minutes = ((self.clock.now_millis() - last).max(0) as u64).div_ceil(60_000).max(1);
        if gap_minutes > u64::from(self.config.backfill_minutes) {
            tracing::warn!(
                source = self.name,
                gap_minutes,
                "the stream was away longer than backfill_minutes; tweets in between are missed \
                 (a twitter search source with the same query recovers them)"
            );
        }
        Some(gap_minutes.min(u64::from(self.config.backfill_minutes)) as u32)
    }

    async fn connect(&mut self) -> Result<(), ComponentError> {
        let mut query: Vec<(&str, String)> = REQUEST_FIELDS.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        if let Some(minutes) = self.backfill_minutes() {
            query.push(("backfill_minutes", minutes.to_string()));
        }
        let request = self.http.get(self.config.url("stream")).query(&query);
        let response = match request.bearer_auth(self.config.bearer_token.expose()).send().await {
            Ok(response) => response,
            Err(e) => return Err(self.failed(Failure::Network, e.without_url().to_string(), None)),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            tracing::info!(source = self.name, "connected to the filtered stream");
            self.connection =
                Some(Connection { response, buffer: Vec::new(), last_data: Instant::now(), delivered_anything: false });
            return Ok(());
        }
        let asked_wait = retry_after(response.headers(), self.clock.now_unix());
        let timeout = Duration::from_millis(self.config.retry.request_timeout_ms);
        let body = tokio::time::timeout(timeout, response.bytes()).await.ok().and_then(Result::ok).unwrap_or_default();
        let body =
            String::from_utf8_lossy(&body[..body.len().min(300)]).split_whitespace().collect::<Vec<_>>().join(" ");
        match status {
            401 => {
                Err(ComponentError::fatal(format!("twitter_stream: HTTP 401: the bearer token was refused: {body}")))
            }
            400 | 403 | 404 => Err(ComponentError::fatal(format!(
                "twitter_stream: HTTP {status} (the project cannot use the filtered stream, or the request is wrong): {body}"
            ))),
            429 => Err(self.failed(Failure::RateLimited, format!("HTTP 429: {body}"), asked_wait)),
            _ => Err(self.failed(Failure::Http, format!("HTTP {status}: {body}"), asked_wait)),
        }
    }

    /// Schedules the next attempt as X asks for this kind of failure.
    fn failed(&mut self, kind: Failure, reason: String, asked: Option<Duration>) -> ComponentError {
        self.failures = if self.last_failure == Some(kind) { self.failures + 1 } else { 1 };
        self.last_failure = Some(kind);
        let wait = reconnect_wait(kind, self.failures, self.config.retry.max_rate_limit_wait_secs);
        let cap = Duration::from_secs(self.config.retry.max_rate_limit_wait_secs);
        let wait = wait.max(asked.unwrap_or_default().min(cap));
        self.reconnect_at_ms = self.clock.now_millis() + wait.as_millis() as i64;
        ComponentError::transient(format!(
            "twitter_stream: connecting failed ({reason}); attempt {}, next in {} ms",
            self.failures,
            wait.as_millis()
        ))
    }

    /// An established connection ended: reconnect at once, unless it never
    /// delivered anything (then it counts as a network failure).
    fn dropped(&mut self, connection: &Connection, why: &str) {
        tracing::warn!(source = self.name, why, "the filtered stream disconnected; reconnecting");
        if connection.delivered_anything {
            (self.failures, self.last_failure, self.reconnect_at_ms) = (0, None, 0);
        } else {
            let _ = self.failed(Failure::Network, why.to_owned(), None);
        }
    }

    /// One line of the stream: a heartbeat, a tweet, or X's error message.
    fn take_line(&mut self, line: &[u8], batch: &mut SourceBatch, location: &str) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        let value: Value = match serde_json::from_slice(line) {
            Ok(value) => value,
            Err(e) => {
                let reason = format!("twitter_stream: a stream line that is not JSON: {e}");
                return batch.rejected.push(reject_bytes(line, reason, location));
            }
        };
        if !value["data"].is_object() {
            match value["errors"].as_array() {
                // X says why it is about to disconnect (operational-disconnect,
                // ConnectionException); the disconnection itself follows.
                Some(errors) => {
                    let errors = serde_json::to_string(errors).unwrap_or_default();
                    tracing::warn!(source = self.name, errors, "the stream reported errors");
                }
                None => {
                    let reason = "twitter_stream: a stream message with neither data nor errors".to_owned();
                    batch.rejected.push(reject_bytes(line, reason, location));
                }
            }
            return;
        }
        let page = json!({"data": [value["data"]], "includes": value["includes"]});
        let (posts, rejected) = map_page(&page, location);
        batch.rejected.extend(rejected);
        for mut post in posts {
            if !self.recent.insert(&post.id) {
                continue;
            }
            if let Some(rules) = value.get("matching_rules") {
                post.extra.insert("matching_rules".into(), rules.clone());
            }
            self.cursor = Cursor { last_id: Some(post.id.clone()), received_at_ms: Some(self.clock.now_millis()) };
            batch.records.push(post.into_envelope(&self.name));
        }
    }
}

#[async_trait]
impl Source for TwitterStreamSource {
    async fn open(&mut self, checkpoint: Option<Value>, _: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint("twitter_stream", checkpoint)?;
        Ok(())
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        if !self.rules_synced {
            let changes =
                rules::sync(&mut self.rules_client, &self.config.url("stream/rules"), &self.config.rules).await?;
            tracing::info!(
                source = self.name,
                added = changes.added,
                deleted = changes.deleted,
                "stream rules in place"
            );
            self.rules_synced = true;
        }
        let Some(mut connection) = self.connection.take() else {
            let wait = self.reconnect_at_ms - self.clock.now_millis();
            if wait > 0 {
                // At most a second at a time, so the runner sees a shutdown.
                self.clock.sleep(Duration::from_millis(wait as u64).min(Duration::from_secs(1))).await;
                return Ok(SourceBatch::default());
            }
            self.connect().await?;
            return Ok(SourceBatch::default());
        };
        let location = self.config.url("stream");
        let stall = Duration::from_secs(self.config.stall_timeout_secs);
        let deadline = Instant::now() + Duration::from_millis(self.config.max_batch_wait_ms);
        let mut batch = SourceBatch::default();
        let mut open = true;
        while batch.records.len() < max_records {
            if let Some(end) = connection.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = connection.buffer.drain(..=end).collect();
                self.take_line(&line, &mut batch, &location);
                continue;
            }
            if connection.buffer.len() > self.config.max_line_bytes {
                let reason = format!("twitter_stream: a line over max_line_bytes ({})", self.config.max_line_bytes);
                batch.rejected.push(reject_bytes(&connection.buffer, reason, &location));
                self.dropped(&connection, "a line over max_line_bytes");
                open = false;
                break;
            }
            let stall_at = connection.last_data + stall;
            match tokio::time::timeout_at(deadline.min(stall_at), connection.response.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    connection.last_data = Instant::now();
                    connection.delivered_anything = true;
                    self.alive_at_ms = Some(self.clock.now_millis());
                    connection.buffer.extend_from_slice(&bytes);
                }
                Ok(Ok(None)) => {
                    self.dropped(&connection, "the server closed the stream");
                    open = false;
                    break;
                }
                Ok(Err(e)) => {
                    self.dropped(&connection, &e.without_url().to_string());
                    open = false;
                    break;
                }
                Err(_) if Instant::now() >= stall_at => {
                    self.dropped(&connection, "no data or heartbeat within stall_timeout_secs");
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        if open {
            self.connection = Some(connection);
        }
        if !batch.records.is_empty() {
            batch.checkpoint = Some(serde_json::to_value(&self.cursor).expect("json"));
        }
        Ok(batch)
    }
}

/// X's schedule for the `n`th consecutive failure of a kind: +250 ms up to
/// 16 s for network errors, doubling from 5 s up to 320 s for HTTP errors,
/// doubling from 60 s for 429 (up to `max_rate_limit_wait_secs`).
pub(super) fn reconnect_wait(kind: Failure, n: u32, max_rate_limit_wait_secs: u64) -> Duration {
    let doubling = |start_secs: u64, cap_secs: u64| {
        Duration::from_secs(start_secs.saturating_mul(1 << (n.max(1) - 1).min(20)).min(cap_secs))
    };
    match kind {
        Failure::Network => Duration::from_millis(250 * u64::from(n)).min(Duration::from_secs(16)),
        Failure::Http => doubling(5, 320),
        Failure::RateLimited => doubling(60, max_rate_limit_wait_secs.max(60)),
    }
}

/// A bounded set of the ids delivered last.
#[derive(Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// False when `id` was delivered lately.
    fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > RECENT_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}
