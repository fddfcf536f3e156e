//! The sweep of a Graph edge (a Page's posts, an Instagram account's
//! media): the owner's profile once per sweep, then the edge newest
//! first, paged by `after` cursors, bounded below by the previous sweep's
//! newest time (`since`, which Graph treats as inclusive, so the items
//! read at that second are remembered and skipped).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use socialpipe_schemas::{ComponentError, PostPayload, Source, SourceBatch, SourceMode};

use super::{GraphErrors, GraphSettings, token_source};
use crate::api::{ApiBase, SweepCursor};
use crate::http::Clock;
use crate::records::reject;

/// Which edge of which owner a source reads.
pub struct EdgeSpec {
    /// For messages and the checkpoint ("facebook").
    pub provider: &'static str,
    pub owner_id: String,
    pub owner_fields: &'static str,
    /// The edge below the owner ("posts", "media").
    pub edge: &'static str,
    pub item_fields: &'static str,
    /// Items per page.
    pub limit: u32,
}

/// What a Graph source adds to the edge sweep: which edge it reads, and
/// how it turns a page of it into a batch.
#[async_trait]
pub trait PageTaker: Send + Sized {
    type Config: GraphSettings;

    /// The edge the configuration names.
    fn spec(config: &Self::Config) -> EdgeSpec;

    fn new(config: Self::Config) -> Self;

    /// Maps the page's new items (with the owner's profile) and moves the
    /// cursor (`EdgeReader::take_page`), after any requests of its own.
    async fn take(&mut self, edge: &mut EdgeReader, page: EdgePage) -> Result<SourceBatch, ComponentError>;
}

/// A Graph source: its edge read sweep by sweep, each page taken by `T`.
pub struct EdgeSource<T> {
    edge: EdgeReader,
    taker: T,
}

impl<T: PageTaker> EdgeSource<T> {
    pub fn with_clock(name: &str, config: T::Config, clock: Arc<dyn Clock>) -> Result<Self, ComponentError> {
        let edge = EdgeReader::new(T::spec(&config), name, &config, clock)?;
        Ok(EdgeSource { edge, taker: T::new(config) })
    }
}

#[async_trait]
impl<T: PageTaker> Source for EdgeSource<T> {
    async fn open(&mut self, checkpoint: Option<Value>, mode: SourceMode) -> Result<(), ComponentError> {
        self.edge.base.open(checkpoint, mode)
    }

    async fn next_batch(&mut self, max_records: usize) -> Result<SourceBatch, ComponentError> {
        let Some(page) = self.edge.next_page(max_records).await? else { return Ok(SourceBatch::default()) };
        self.taker.take(&mut self.edge, page).await
    }
}

/// Reads an edge sweep by sweep.
pub struct EdgeReader {
    spec: EdgeSpec,
    /// The cursor's times are creation times in unix seconds. The client
    /// also serves a source's own requests (Instagram's insights).
    pub base: ApiBase<SweepCursor>,
    /// The owner's profile, read once per sweep.
    owner: Option<Value>,
}

/// A page of the edge, before it is taken.
pub struct EdgePage {
    pub answer: Value,
    location: String,
}

impl EdgeReader {
    pub fn new(
        spec: EdgeSpec,
        name: &str,
        settings: &impl GraphSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ComponentError> {
        let exchange =
            format!("{}/{}/oauth/access_token", settings.base_url().trim_end_matches('/'), settings.api_version());
        let app = settings.app_id().zip(settings.app_secret());
        let token = token_source(settings.access_token(), app, exchange);
        let base =
            ApiBase::new(spec.provider, name, settings, settings.api_version(), token, Arc::new(GraphErrors), clock)?;
        Ok(EdgeReader { spec, base, owner: None })
    }

    /// The next page, or None while a daemon waits for its next sweep.
    pub async fn next_page(&mut self, max_records: usize) -> Result<Option<EdgePage>, ComponentError> {
        if !self.base.cursor.in_sweep() && self.base.waiting_for_sweep().await {
            return Ok(None);
        }
        if self.owner.is_none() {
            let url = self.base.url(&self.spec.owner_id);
            let fields = [("fields", self.spec.owner_fields.to_owned())];
            self.owner = Some(self.base.client.get_json(&url, &fields).await?);
        }
        let url = self.base.url(&format!("{}/{}", self.spec.owner_id, self.spec.edge));
        let limit = (max_records as u32).clamp(1, self.spec.limit);
        let mut query = vec![("fields", self.spec.item_fields.to_owned()), ("limit", limit.to_string())];
        query.extend(query_of(&self.base.cursor));
        let answer = self.base.client.get_json(&url, &query).await?;
        let location = format!("{url}?after={}", self.base.cursor.page_token().unwrap_or_default());
        Ok(Some(EdgePage { answer, location }))
    }

    /// Read by an earlier sweep.
    pub fn has_read(&self, at: i64, id: &str) -> bool {
        self.base.cursor.read.covers(at, id)
    }

    /// Maps the page's new items with the owner's profile (`map(item,
    /// owner)`), moves the cursor, and ends the sweep after its last page.
    pub fn take_page(
        &mut self,
        page: &EdgePage,
        mut map: impl FnMut(&Value, &Value) -> Result<PostPayload, String>,
    ) -> SourceBatch {
        let owner = self.owner.take().unwrap_or_default();
        let base = &mut self.base;
        let (mut batch, finished) =
            take_page(&mut base.cursor, &page.answer, &page.location, &base.name, |item| map(item, &owner));
        if finished {
            batch.caught_up = base.end_sweep();
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
