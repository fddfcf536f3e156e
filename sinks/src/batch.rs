//! A batch as every store sink sees it: its envelopes decoded once into
//! records (posts with their author, sheet rows, KOL scores), each with its
//! index in the batch, and the records refused with the reason (for the
//! DLQ). Sinks read enrichments through the contract's typed views
//! (`socialpipe_schemas::enrichment`).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use socialpipe_schemas::enrichment::Embedding;
use socialpipe_schemas::{
    AuthorSnapshot, ComponentError, Enrichment, Envelope, KolScoreRecord, PostPayload, Profile, RecordKind,
    SheetRowRecord, SinkReport,
};

/// One decoded record with its envelope (borrowed from the batch: an
/// envelope with an embedding is large, and sinks only read it).
pub enum Record<'a> {
    Post { post: Box<PostPayload>, envelope: &'a Envelope },
    Sheet { row: SheetRowRecord, envelope: &'a Envelope },
    Kol { score: KolScoreRecord, envelope: &'a Envelope },
}

/// A batch split into records (with their index in the batch) and refusals.
#[derive(Default)]
pub struct DecodedBatch<'a> {
    pub records: Vec<(usize, Record<'a>)>,
    pub rejected: Vec<(usize, ComponentError)>,
}

impl<'a> DecodedBatch<'a> {
    /// Decodes every record of `batch`; `sink` names the sink in refusals.
    pub fn decode(batch: &'a [Envelope], sink: &str) -> Self {
        let mut decoded = DecodedBatch::default();
        for (index, envelope) in batch.iter().enumerate() {
            match Record::decode(envelope, sink) {
                Ok(record) => decoded.records.push((index, record)),
                Err(e) => decoded.rejected.push((index, e)),
            }
        }
        decoded
    }

    pub fn posts(&self) -> impl Iterator<Item = (&PostPayload, &'a Envelope)> {
        self.records.iter().filter_map(|(_, record)| match record {
            Record::Post { post, envelope } => Some((post.as_ref(), *envelope)),
            _ => None,
        })
    }

    pub fn sheets(&self) -> impl Iterator<Item = (&SheetRowRecord, &'a Envelope)> {
        self.records.iter().filter_map(|(_, record)| match record {
            Record::Sheet { row, envelope } => Some((row, *envelope)),
            _ => None,
        })
    }

    pub fn scores(&self) -> impl Iterator<Item = (&KolScoreRecord, &'a Envelope)> {
        self.records.iter().filter_map(|(_, record)| match record {
            Record::Kol { score, envelope } => Some((score, *envelope)),
            _ => None,
        })
    }

    /// Each author of the batch's posts once, as of their newest post (by
    /// event time), with that post's index in the batch: an author row is
    /// written once per batch, not per post.
    pub fn newest_authors(&self) -> Vec<(usize, &PostPayload)> {
        let mut newest: HashMap<String, (usize, &PostPayload)> = HashMap::new();
        for (index, record) in &self.records {
            let Record::Post { post, .. } = record else { continue };
            let slot = newest.entry(post.author_id()).or_insert((*index, post));
            if post.created_at >= slot.1.created_at {
                *slot = (*index, post);
            }
        }
        let mut authors: Vec<(String, (usize, &PostPayload))> = newest.into_iter().collect();
        authors.sort_by(|(a, _), (b, _)| a.cmp(b));
        authors.into_iter().map(|(_, author)| author).collect()
    }

    /// Every author update of the batch: each roster row's author, then
    /// each post author once, as of their newest post (so at equal times
    /// the post's profile is the one kept).
    pub fn author_updates(&self) -> Vec<AuthorUpdate<'_>> {
        let rosters = self.roster_updates();
        let posts = self.newest_authors().into_iter().map(|(index, post)| AuthorUpdate::of_post(index, post));
        rosters.chain(posts).collect()
    }

    /// Each roster row's author, as of the roster's time.
    fn roster_updates(&self) -> impl Iterator<Item = AuthorUpdate<'_>> {
        self.records.iter().filter_map(|(index, record)| match record {
            Record::Sheet { row, envelope } => {
                row.author.as_ref().map(|a| AuthorUpdate::of_roster(*index, a, envelope.event_time))
            }
            _ => None,
        })
    }

    /// What the batch says of each author, merged per `key` (a store may
    /// key one author id several ways), for a store that writes one row per
    /// author and statement: the profile of the newest roster row or post
    /// (a post's at equal times), with the rate and category of the last
    /// roster row that gave them; in key order.
    pub fn authors_by(&self, key: impl Fn(&AuthorUpdate) -> String) -> Vec<AuthorUpdate<'_>> {
        let rosters = self.roster_updates();
        let posts = self.records.iter().filter_map(|(index, record)| match record {
            Record::Post { post, .. } => Some(AuthorUpdate::of_post(*index, post)),
            _ => None,
        });
        let mut merged: std::collections::BTreeMap<String, AuthorUpdate> = std::collections::BTreeMap::new();
        for update in rosters.chain(posts) {
            match merged.entry(key(&update)) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(update);
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => {
                    let kept = slot.get_mut();
                    let (rate, category) = (update.rate.or(kept.rate), update.category.or(kept.category));
                    if update.at >= kept.at {
                        *kept = update;
                    }
                    (kept.rate, kept.category) = (rate, category);
                }
            }
        }
        merged.into_values().collect()
    }

    /// Moves a record the store refused for good to the refusals.
    pub fn reject(&mut self, index: usize, error: ComponentError) {
        self.records.retain(|(i, _)| *i != index);
        self.rejected.push((index, error));
    }

    /// Refuses, before anything is sent, the records the store could not hold.
    pub fn refuse_unless(&mut self, storable: impl Fn(&Record<'a>) -> Result<(), ComponentError>) {
        for (index, record) in std::mem::take(&mut self.records) {
            match storable(&record) {
                Ok(()) => self.records.push((index, record)),
                Err(e) => self.rejected.push((index, e)),
            }
        }
    }

    /// The refusals, in batch order, for the runner.
    pub fn into_report(self) -> SinkReport {
        let mut rejected = self.rejected;
        rejected.sort_by_key(|(i, _)| *i);
        SinkReport { rejected }
    }
}

impl<'a> Record<'a> {
    pub fn decode(envelope: &'a Envelope, sink: &str) -> Result<Record<'a>, ComponentError> {
        let bad =
            |e: serde_json::Error| ComponentError::invalid(format!("payload does not match {}: {e}", envelope.schema));
        match envelope.kind() {
            Some(RecordKind::Post) => {
                Ok(Record::Post { post: Box::new(PostPayload::from_envelope(envelope).map_err(bad)?), envelope })
            }
            Some(RecordKind::SheetRow) => Ok(Record::Sheet { row: envelope.payload_as().map_err(bad)?, envelope }),
            Some(RecordKind::KolScore) => Ok(Record::Kol { score: envelope.payload_as().map_err(bad)?, envelope }),
            Some(RecordKind::DeadLetter) | None => {
                Err(ComponentError::invalid(format!("the {sink} sink does not store {} records", envelope.schema)))
            }
        }
    }

    pub fn envelope(&self) -> &'a Envelope {
        match self {
            Record::Post { envelope, .. } | Record::Sheet { envelope, .. } | Record::Kol { envelope, .. } => envelope,
        }
    }
}

/// What an authors table learns of an author: from a post, as of the post's
/// time; from a roster row, as of the roster's time (only rosters give a
/// rate and a category). Stores keep, field by field, the newest known value.
pub struct AuthorUpdate<'a> {
    /// The batch index of the record it comes from.
    pub index: usize,
    /// `<platform>:<author id>`.
    pub id: String,
    pub platform: &'a str,
    pub profile: &'a Profile,
    pub verified: Option<bool>,
    pub rate: Option<f64>,
    pub category: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// From a roster row (else from a post).
    pub roster: bool,
}

impl<'a> AuthorUpdate<'a> {
    pub fn of_post(index: usize, post: &'a PostPayload) -> Self {
        AuthorUpdate {
            index,
            id: post.author_id(),
            platform: &post.platform,
            profile: &post.author.profile,
            verified: post.author.verified,
            rate: None,
            category: None,
            at: post.created_at,
            roster: false,
        }
    }

    pub fn of_roster(index: usize, author: &'a AuthorSnapshot, at: DateTime<Utc>) -> Self {
        AuthorUpdate {
            index,
            id: author.author_id(),
            platform: &author.platform,
            profile: &author.profile,
            verified: None,
            rate: author.rate,
            category: author.category.as_deref(),
            at,
            roster: true,
        }
    }
}

/// RFC 3339 UTC with milliseconds, the text form of times in every store.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The embed stage's vector, when the record has one (stored natively).
pub fn embedding(envelope: &Envelope) -> Option<Vec<f32>> {
    envelope.enrichment::<Embedding>().map(|e| e.0)
}

/// Enrichments as JSON text without the embedding, for stores that keep the
/// vector in a column of its own (it is most of the bytes of a post).
pub fn enrichments_json_except_embedding(envelope: &Envelope) -> String {
    struct Except<'a>(&'a serde_json::Map<String, Value>);
    impl serde::Serialize for Except<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().filter(|(k, _)| k.as_str() != Embedding::KEY))
        }
    }
    serde_json::to_string(&Except(&envelope.enrichments)).expect("enrichments always serialise")
}
