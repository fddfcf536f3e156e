//! Stage `kol`: an explainable KOL score per author over a rolling window
//! of event time. The stage keeps each author's window as keyed state (the
//! runner stores it in the changelog, restores it after a crash and moves
//! it with the author's partition), counts each post once, and emits a
//! `kol_score` record at most once per `emit_interval_minutes` of event
//! time per author, plus every author's last score when the input ends.
//! Every post passes on with `enrichments.kol` saying whether it counted.
//! The state is bounded: authors idle past `evict_idle_days` leave it, after
//! their held-back score.
//!
//! Time is event time only (the posts' `created_at`): a replay of the same
//! input emits the same scores and evicts the same authors.

mod config;
mod factors;
mod idle;
mod window;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use socialpipe_schemas::enrichment::{self, BrandSafety, Entities, KolNote, Sentiment, Topics};
use socialpipe_schemas::{
    ComponentError, Enrichment, Envelope, Failed, KeyedState, KolScoreRecord, Processor, RecordKind, SheetRowRecord,
    StageConfig,
};

pub use config::{Brief, FollowerQualityConfig, KolConfig, TierRates, Weights, default_benchmarks};
use factors::BriefInfo;
pub use factors::Tier;
use idle::{Activity, IdleIndex};
use window::{
    AuthorState, FLAG_SAFETY_KNOWN, FLAG_SENTIMENT_KNOWN, FLAG_STRONGLY_NEGATIVE, FLAG_UNSAFE, Observed, Profile,
    WindowPost,
};

#[derive(Debug, thiserror::Error)]
pub enum KolError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] crate::embed::EmbedError),
}

/// A brief ready to compare posts with.
struct PreparedBrief {
    /// Unit-length embedding of the text.
    vector: Option<Vec<f32>>,
    /// Lower-cased.
    keywords: Vec<String>,
}

pub struct KolStage {
    config: KolConfig,
    briefs: Vec<PreparedBrief>,
    /// What the scorer needs to know of each brief, in the same order.
    infos: Vec<BriefInfo>,
    fingerprint: u64,
    emitted: Vec<Envelope>,
    /// None: idle authors stay.
    idle: Option<IdleIndex>,
}

impl KolStage {
    /// Embeds the briefs' texts with the model in `models_dir`.
    pub fn new(config: &KolConfig) -> Result<Self, KolError> {
        config.check().map_err(KolError::Config)?;
        let embedder = match config.needs_model() {
            true => Some(crate::embed::Embedder::load(&crate::embed::EmbedConfig {
                models_dir: config.models_dir.clone(),
                threads: 1,
                ..Default::default()
            })?),
            false => None,
        };
        let vectors = config
            .briefs
            .values()
            .map(|brief| brief.text.as_deref().zip(embedder.as_ref()).map(|(text, e)| e.embed(&[text]).remove(0)))
            .collect();
        Ok(Self::with_vectors(config.clone(), vectors))
    }

    /// Briefs whose vectors are given, in name order (tests, benches: no model needed).
    pub fn with_brief_vectors(config: &KolConfig, vectors: &[Vec<f32>]) -> Result<Self, KolError> {
        config.check_settings().map_err(KolError::Config)?;
        let vectors =
            config.briefs.values().zip(vectors).map(|(brief, v)| brief.text.as_ref().map(|_| v.clone())).collect();
        Ok(Self::with_vectors(config.clone(), vectors))
    }

    /// `vectors`: per brief in name order, the embedding of its text.
    fn with_vectors(config: KolConfig, vectors: Vec<Option<Vec<f32>>>) -> Self {
        // Stored similarities are positions in this list: a changed list
        // (or brief) makes the stored ones meaningless.
        let mut hash = Sha256::new();
        for (name, brief) in &config.briefs {
            hash.update(serde_json::to_vec(&json!([name, brief.text, brief.keywords])).expect("json"));
        }
        let fingerprint = u64::from_le_bytes(hash.finalize()[..8].try_into().expect("8 bytes"));
        let mut vectors = vectors.into_iter();
        let (mut briefs, mut infos) = (Vec::new(), Vec::new());
        for (name, brief) in &config.briefs {
            let vector = vectors.next().flatten().map(|v| unit(&v));
            infos.push(BriefInfo {
                name: name.clone(),
                has_text: vector.is_some(),
                has_keywords: !brief.keywords.is_empty(),
            });
            briefs.push(PreparedBrief {
                vector,
                keywords: brief.keywords.iter().map(|k| k.trim().to_lowercase()).collect(),
            });
        }
        let idle = config.evict_idle_ms().map(IdleIndex::new);
        KolStage { config, briefs, infos, fingerprint, emitted: Vec::new(), idle }
    }

    /// Reads what the window keeps of a post, and the author's profile.
    fn window_post(&self, record: &Envelope) -> Result<(WindowPost, Profile), ComponentError> {
        let post: PostView =
            record.payload_as().map_err(|e| ComponentError::invalid(format!("kol: not a post payload: {e}")))?;
        let metrics = &post.metrics;
        let interactions = match (metrics.likes, metrics.comments, metrics.shares) {
            (None, None, None) => None,
            (l, c, s) => Some(l.unwrap_or(0).saturating_add(c.unwrap_or(0)).saturating_add(s.unwrap_or(0))),
        };
        let e = &record.enrichments;
        let mut flags = 0;
        if let Some(safety) = enrichment::read::<BrandSafety>(e) {
            flags |= FLAG_SAFETY_KNOWN | if safety.safe { 0 } else { FLAG_UNSAFE };
        }
        if let Some(sentiment) = enrichment::read::<Sentiment>(e) {
            flags |= FLAG_SENTIMENT_KNOWN;
            if sentiment.vader.compound <= self.config.strongly_negative_at {
                flags |= FLAG_STRONGLY_NEGATIVE;
            }
        }
        let similarities = match crate::embed::of(e) {
            Some(vector) => {
                let vector = unit(&vector);
                self.briefs
                    .iter()
                    .map(|b| b.vector.as_ref().map_or(0, |brief| (10_000.0 * dot(&vector, brief)).round() as i16))
                    .collect()
            }
            None => Vec::new(),
        };
        let keyword_hits = self.keyword_hits(&post.text, e);
        let account_created = post
            .author
            .created_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        let profile = Profile {
            handle: post.author.handle.map(Cow::into_owned),
            followers: post.author.followers,
            following: post.author.following,
            account_created,
        };
        let entry = WindowPost(
            record.id.clone(),
            post.created_at.timestamp_millis(),
            record.version,
            interactions,
            post.author.followers,
            flags,
            similarities,
            keyword_hits,
        );
        Ok((entry, profile))
    }

    /// Bit i set: brief i's keywords occur in the text (as whole words), the
    /// hashtags or the topic categories earlier stages found.
    fn keyword_hits(&self, text: &str, enrichments: &Map<String, Value>) -> u64 {
        if self.briefs.iter().all(|b| b.keywords.is_empty()) {
            return 0;
        }
        let text = text.to_lowercase();
        let hashtags = enrichment::read::<Entities>(enrichments).map(|e| e.hashtags).unwrap_or_default();
        let categories = enrichment::read::<Topics>(enrichments).map(|t| t.categories).unwrap_or_default();
        let tags: Vec<String> = hashtags.iter().chain(&categories).map(|t| t.to_lowercase()).collect();
        let mut hits = 0;
        for (i, brief) in self.briefs.iter().enumerate() {
            let found = brief
                .keywords
                .iter()
                .any(|k| contains_word(&text, k) || tags.iter().any(|t| t == k || t.strip_prefix('#') == Some(k)));
            if found {
                hits |= 1 << i;
            }
        }
        hits
    }

    /// Queues the author's current score (`author_id` is `<platform>:<id>`).
    fn emit(&mut self, author_id: &str, state: &mut AuthorState) {
        let platform = author_id.split_once(':').map_or("", |(p, _)| p);
        let score = factors::score(state, platform, &self.infos, &self.config);
        let computed_at = Utc.timestamp_millis_opt(state.newest).single().unwrap_or_default();
        let record = KolScoreRecord {
            author_id: author_id.to_owned(),
            platform: platform.to_owned(),
            handle: state.handle.clone(),
            score: score.total,
            tier: score.tier.map_or("unknown", Tier::name).to_owned(),
            followers: state.latest().map(|s| s.1),
            posts: state.posts.len() as u32,
            factors: score.factors,
            computed_at,
            emitted_at: Utc::now(),
        };
        let envelope = Envelope::new(
            RecordKind::KolScore,
            record.record_id(),
            author_id.to_owned(),
            KolNote::KEY,
            computed_at,
            Envelope::encode_payload(&record),
        );
        self.emitted.push(envelope);
        state.emitted = Some(state.newest);
        state.dirty = false;
    }

    /// Queues the score the author's window changed to since its last one,
    /// if it did; whether it did.
    fn emit_held_back(&mut self, author_id: &str, state: &mut AuthorState) -> bool {
        let held = state.dirty;
        if held {
            self.emit(author_id, state);
        }
        held
    }

    /// The author's window to add a record to. An author idle past
    /// `evict_idle_days` starts a new one, after its held-back score: what
    /// it would find had the batch's end evicted it already, so where
    /// batches end changes nothing.
    fn author<'a>(&mut self, key: &str, authors: &'a mut Authors) -> Result<&'a mut OpenAuthor, ComponentError> {
        let author = authors.get(key)?;
        let idle = match (&self.idle, author.active) {
            (Some(index), Some(active)) => index.is_idle(author.partition, active.last),
            _ => false,
        };
        if idle {
            self.emit_held_back(key, &mut author.state);
            author.state = AuthorState::default();
            author.changed = true;
        }
        Ok(author)
    }

    /// Keeps the idle index up with what a record did to the author.
    fn touched(&mut self, key: &str, author: &mut OpenAuthor) {
        let active = Some(author.state.activity());
        if let Some(index) = &mut self.idle {
            index.update(author.partition, key, author.active, active);
        }
        author.active = active;
    }

    /// Evicts the authors idle past `evict_idle_days`, each after its
    /// held-back score, as `finish` would emit it. The removal goes to the
    /// changelog, so a restore does not bring the author back.
    fn evict_idle(&mut self, state: &mut KeyedState) {
        let Some(index) = &mut self.idle else { return };
        for key in index.take_idle() {
            if let Ok(Some(mut author)) = state.decode::<AuthorState>(&key) {
                self.emit_held_back(&key, &mut author);
            }
            state.remove(&key);
        }
    }

    /// Rebuilds the idle index when the runner restored or dropped keys,
    /// and evicts who is idle then (state saved by a version that kept
    /// idle authors, or with a longer `evict_idle_days`).
    fn sync_idle(&mut self, state: &mut KeyedState) {
        if let Some(index) = &mut self.idle
            && index.is_stale(state)
        {
            index.rebuild(state);
            self.evict_idle(state);
        }
    }

    /// Adds a post to its author's window; emits a score when the interval is up.
    fn observe(&mut self, record: &mut Envelope, authors: &mut Authors) -> Result<(), ComponentError> {
        let (post, profile) = self.window_post(record)?;
        let author = self.author(&record.key, authors)?;
        author.state.use_briefs(self.fingerprint);
        let outcome = author.state.observe(post, profile, &self.config);
        author.changed |= outcome == Observed::Counted;
        let mut note =
            KolNote { author_id: record.key.clone(), counted: Some(outcome == Observed::Counted), reason: None, roster: false };
        match outcome {
            Observed::Counted => {
                let due =
                    author.state.emitted.is_none_or(|e| author.state.newest >= e + self.config.emit_interval_ms());
                if due {
                    self.emit(&record.key, &mut author.state);
                }
                self.touched(&record.key, author);
            }
            Observed::Duplicate => note.reason = Some("duplicate: this post is already counted".into()),
            Observed::Late { behind_ms } => {
                note.reason = Some(format!(
                    "late: {:.1} h behind the author's newest post (allowed lateness {} h)",
                    behind_ms as f64 / 3_600_000.0,
                    self.config.lateness_ms() / 3_600_000
                ))
            }
        }
        record.set_enrichment(&note);
        Ok(())
    }

    /// A roster row's author snapshot (a `sheet_row/v1` mapped as a roster,
    /// keyed by its author): the handle and follower counts, as of the
    /// roster's time, join the author's window. Other sheet rows pass.
    fn observe_roster(&mut self, record: &mut Envelope, authors: &mut Authors) -> Result<(), ComponentError> {
        let row: SheetRowRecord =
            record.payload_as().map_err(|e| ComponentError::invalid(format!("kol: unreadable sheet_row/v1: {e}")))?;
        let Some(snapshot) = row.author else { return Ok(()) };
        let author = self.author(&record.key, authors)?;
        let profile = Profile {
            handle: snapshot.profile.handle,
            followers: snapshot.profile.followers,
            following: snapshot.profile.following,
            account_created: None,
        };
        author.state.observe_roster(record.event_time.timestamp_millis(), profile);
        author.changed = true;
        self.touched(&record.key, author);
        record.set_enrichment(&KolNote { author_id: record.key.clone(), counted: None, reason: None, roster: true });
        Ok(())
    }
}

/// The windows a batch touches, decoded once and written back once.
struct Authors<'a> {
    state: &'a mut KeyedState,
    open: HashMap<String, OpenAuthor>,
}

struct OpenAuthor {
    state: AuthorState,
    changed: bool,
    /// The runner's partition of the author.
    partition: u32,
    /// When the author was last active, as the idle index has it (None: not
    /// in the state).
    active: Option<Activity>,
}

impl Authors<'_> {
    fn get(&mut self, key: &str) -> Result<&mut OpenAuthor, ComponentError> {
        if !self.open.contains_key(key) {
            let stored: Option<AuthorState> = self
                .state
                .decode(key)
                .map_err(|e| ComponentError::fatal(format!("kol: the stored window of {key} is unreadable: {e}")))?;
            let active = stored.as_ref().map(AuthorState::activity);
            let author = OpenAuthor {
                state: stored.unwrap_or_default(),
                changed: false,
                partition: self.state.partition_of(key),
                active,
            };
            self.open.insert(key.to_owned(), author);
        }
        Ok(self.open.get_mut(key).expect("just inserted"))
    }

    fn write_back(self) {
        for (key, author) in self.open {
            if author.changed {
                self.state.encode(&key, &author.state);
            }
        }
    }
}

#[async_trait]
impl Processor for KolStage {
    /// Without state a window cannot be right: the runner always calls `process_keyed`.
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        self.process_keyed(batch, &mut KeyedState::default()).await
    }

    async fn process_keyed(&mut self, batch: Vec<Envelope>, state: &mut KeyedState) -> Vec<Result<Envelope, Failed>> {
        self.sync_idle(state);
        let mut authors = Authors { state, open: HashMap::new() };
        let outcomes = batch
            .into_iter()
            .map(|mut record| {
                let observed = match record.kind() {
                    Some(RecordKind::Post) => self.observe(&mut record, &mut authors),
                    Some(RecordKind::SheetRow) => self.observe_roster(&mut record, &mut authors),
                    _ => return Ok(record),
                };
                match observed {
                    Ok(()) => Ok(record),
                    Err(error) => Err(Failed::new(record, error)),
                }
            })
            .collect();
        authors.write_back();
        self.evict_idle(state);
        outcomes
    }

    fn take_emitted(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.emitted)
    }

    fn finish(&mut self, state: &mut KeyedState) {
        self.sync_idle(state);
        let mut keys: Vec<String> = state.keys().map(str::to_owned).collect();
        keys.sort();
        for key in keys {
            let Ok(Some(mut author)) = state.decode::<AuthorState>(&key) else { continue };
            if self.emit_held_back(&key, &mut author) {
                state.encode(&key, &author);
            }
        }
    }
}

/// The parts of a `post/v1` payload the stage reads.
#[derive(Deserialize)]
struct PostView<'a> {
    #[serde(borrow)]
    author: AuthorView<'a>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    metrics: MetricsView,
}

#[derive(Deserialize)]
struct AuthorView<'a> {
    #[serde(default, borrow)]
    handle: Option<Cow<'a, str>>,
    #[serde(default)]
    followers: Option<u64>,
    #[serde(default)]
    following: Option<u64>,
    /// The account's creation time, when the connector passes it on.
    #[serde(default, borrow)]
    created_at: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct MetricsView {
    #[serde(default)]
    likes: Option<u64>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    shares: Option<u64>,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm == 0.0 { v.to_vec() } else { v.iter().map(|x| (f64::from(*x) / norm) as f32).collect() }
}

/// `word` occurs in `text` not inside a longer word.
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}
