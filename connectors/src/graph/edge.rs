//! The sweep of a Graph edge (a Page's posts, an Instagram account's
//! media): the owner's profile once per sweep, then the edge newest
//! first, paged by `after` cursors, bounded below by the previous sweep's
//! newest time (`since`, which Graph treats as inclusive, so the items
//! read at that second are remembered and skipped).

use std::sync::Arc;

use serde_json::Value;
use socialpipe_schemas::{ComponentError, PostPayload, SourceBatch, SourceMode};

use super::{GraphDialect, token_source};
use crate::http::{ApiClient, Clock, Pause, RetryPolicy, Secret, SweepCursor, decode_checkpoint, reject};

/// Which edge of which owner, as the source's configuration says.
pub struct EdgeSpec {
    /// For messages and the checkpoint ("facebook").
    pub provider: &'static str,
    /// `{base_url}/{api_version}`.
    pub api: String,
    pub owner_id: String,
    pub owner_fields: &'static str,
    /// The edge below the owner ("posts", "media").
    pub edge: &'static str,
    pub item_fields: &'static str,
    /// Items per page.
    pub limit: u32,
    pub poll_interval_secs: u64,
}

/// A Graph source's credentials and retries, as configured.
pub struct Access<'a> {
    pub access_token: &'a Secret,
    pub app_id: Option<&'a String>,
    pub app_secret: Option<&'a Secret>,
    pub retry: RetryPolicy,
}

impl<'a> Access<'a> {
    pub fn new(
        access_token: &'a Secret,
        app_id: &'a Option<String>,
        app_secret: &'a Option<Secret>,
        retry: RetryPolicy,
    ) -> Self {
        Access { access_token, app_id: app_id.as_ref(), app_secret: app_secret.as_ref(), retry }
    }

    /// The checks every Graph source makes of its credentials and page size.
    pub fn check(&self, limit: u32, base_url: &str) -> Result<(), String> {
        if self.access_token.expose().trim().is_empty() {
            return Err("access_token is empty".into());
        }
        if self.app_id.is_some() != self.app_secret.is_some() {
            return Err("app_id and app_secret go together (both refresh the token)".into());
        }
        if !(1..=100).contains(&limit) {
            return Err(format!("limit must be within 1..=100, not {limit}"));
        }
        self.retry.check_with(base_url)
    }
}

/// Reads an edge sweep by sweep.
pub struct EdgeReader {
    spec: EdgeSpec,
    /// Also for a source's own requests (Instagram's insights).
    pub client: ApiClient,
    clock: Arc<dyn Clock>,
    /// Creation times in unix seconds.
    cursor: SweepCursor,
    mode: SourceMode,
    /// The owner's profile, read once per sweep.
    owner: Option<Value>,
    pause: Pause,
}

/// A page of the edge, before it is taken.
pub struct EdgePage {
    pub answer: Value,
    location: String,
}

impl EdgeReader {
    pub fn new(spec: EdgeSpec, access: Access, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let app = access.app_id.zip(access.app_secret);
        let token = token_source(access.access_token, app, format!("{}/oauth/access_token", spec.api));
        let client = ApiClient::new(spec.provider, token, Arc::new(GraphDialect), Arc::clone(&clock), access.retry)?;
        Ok(EdgeReader {
            spec,
            client,
            clock,
            cursor: SweepCursor::default(),
            mode: SourceMode::Once,
            owner: None,
            pause: Pause::default(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.spec.api)
    }

    pub fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.cursor = decode_checkpoint(self.spec.provider, checkpoint)?;
        self.mode = mode;
        Ok(())
    }

    /// The next page, or None while a daemon waits for its next sweep.
    pub async fn next_page(&mut self, max_records: usize) -> Result<Option<EdgePage>, ComponentError> {
        if !self.cursor.in_sweep() && self.pause.wait(&*self.clock).await {
            return Ok(None);
        }
        if self.owner.is_none() {
            let url = self.url(&self.spec.owner_id);
            self.owner = Some(self.client.get_json(&url, &[("fields", self.spec.owner_fields.to_owned())]).await?);
        }
        let url = self.url(&format!("{}/{}", self.spec.owner_id, self.spec.edge));
        let limit = (max_records as u32).clamp(1, self.spec.limit);
        let mut query = vec![("fields", self.spec.item_fields.to_owned()), ("limit", limit.to_string())];
        query.extend(query_of(&self.cursor));
        let answer = self.client.get_json(&url, &query).await?;
        let location = format!("{url}?after={}", self.cursor.page_token().unwrap_or_default());
        Ok(Some(EdgePage { answer, location }))
    }

    /// Read by an earlier sweep.
    pub fn has_read(&self, at: i64, id: &str) -> bool {
        self.cursor.read.covers(at, id)
    }

    /// Maps the page's new items with the owner's profile (`map(item,
    /// owner)`), moves the cursor, and ends the sweep after its last page.
    pub fn take_page(
        &mut self,
        page: &EdgePage,
        source: &str,
        mut map: impl FnMut(&Value, &Value) -> Result<PostPayload, String>,
    ) -> SourceBatch {
        let owner = self.owner.take().unwrap_or_default();
        let (mut batch, finished) =
            take_page(&mut self.cursor, &page.answer, &page.location, source, |item| map(item, &owner));
        if finished {
            self.pause.after_sweep(&*self.clock, self.spec.poll_interval_secs);
            batch.caught_up = self.mode == SourceMode::Once;
        } else {
            self.owner = Some(owner);
        }
        batch
    }
}

/// `since` (the bound, which Graph treats as inclusive) and `after` for the next page.
fn query_of(cursor: &SweepCursor) -> Vec<(&'static str, String)> {
    let since = cursor.read.at.map(|since| ("since", since.to_string()));
    let after = cursor.page_token().map(|after| ("after", after.to_owned()));
    since.into_iter().chain(after).collect()
}

/// Takes a page (`data` + `paging`): maps each item not read before,
/// rejects those that do not map, and moves the cursor. True when the
/// sweep ended (no next page); the batch carries the new checkpoint.
fn take_page(
    cursor: &mut SweepCursor,
    answer: &Value,
    location: &str,
    source: &str,
    mut map: impl FnMut(&Value) -> Result<PostPayload, String>,
) -> (SourceBatch, bool) {
    let mut batch = SourceBatch::default();
    let mut read = cursor.sweep_read();
    let next = match answer["data"].as_array() {
        Some(items) => {
            for item in items {
                match map(item) {
                    Ok(post) => {
                        let at = post.created_at.timestamp();
                        if cursor.read.covers(at, &post.id) {
                            continue;
                        }
                        read.note(at, &post.id);
                        batch.records.push(post.into_envelope(source));
                    }
                    Err(reason) => batch.rejected.push(reject(item, reason, location)),
                }
            }
            answer["paging"]["next"].as_str().and(answer["paging"]["cursors"]["after"].as_str())
        }
        None => {
            batch.rejected.push(reject(answer, "a Graph page without data[]".to_owned(), location));
            None
        }
    };
    cursor.turn(next, read);
    batch.checkpoint = Some(serde_json::to_value(&*cursor).expect("json"));
    (batch, next.is_none())
}
