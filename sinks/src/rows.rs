//! What every sink stores, decoded once from the envelopes of a batch: posts
//! (with their author snapshot and the entities and embedding stages added),
//! sheet rows and KOL scores. Each sink encodes these into its own format;
//! a record none of them can hold is refused with the reason, for the DLQ.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use socialpipe_schemas::{
    ComponentError, Envelope, KolScoreRecord, PostPayload, RecordKind, SheetRowRecord, SinkReport,
};

/// One decoded record with its envelope (borrowed from the batch: an
/// envelope with an embedding is large, and sinks only read it).
pub enum Row<'a> {
    Post { post: Box<PostPayload>, envelope: &'a Envelope },
    Sheet { row: SheetRowRecord, envelope: &'a Envelope },
    Kol { score: KolScoreRecord, envelope: &'a Envelope },
}

/// A batch split into rows (with their index in the batch) and refusals.
#[derive(Default)]
pub struct Decoded<'a> {
    pub rows: Vec<(usize, Row<'a>)>,
    pub rejected: Vec<(usize, ComponentError)>,
}

impl<'a> Decoded<'a> {
    /// Decodes every record of `batch`; `sink` names the sink in refusals.
    pub fn batch(batch: &'a [Envelope], sink: &str) -> Self {
        let mut decoded = Decoded::default();
        for (index, record) in batch.iter().enumerate() {
            match Row::decode(record, sink) {
                Ok(row) => decoded.rows.push((index, row)),
                Err(e) => decoded.rejected.push((index, e)),
            }
        }
        decoded
    }

    pub fn posts(&self) -> impl Iterator<Item = (&PostPayload, &'a Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Post { post, envelope } => Some((post.as_ref(), *envelope)),
            _ => None,
        })
    }

    pub fn sheets(&self) -> impl Iterator<Item = (&SheetRowRecord, &'a Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Sheet { row, envelope } => Some((row, *envelope)),
            _ => None,
        })
    }

    pub fn scores(&self) -> impl Iterator<Item = (&KolScoreRecord, &'a Envelope)> {
        self.rows.iter().filter_map(|(_, row)| match row {
            Row::Kol { score, envelope } => Some((score, *envelope)),
            _ => None,
        })
    }

    /// Each author of the batch's posts once, as of their newest post (by
    /// event time), with that post's index in the batch: an author row is
    /// written once per batch, not per post.
    pub fn newest_authors(&self) -> Vec<(usize, &PostPayload)> {
        let mut newest: HashMap<String, (usize, &PostPayload)> = HashMap::new();
        for (index, row) in &self.rows {
            let Row::Post { post, .. } = row else { continue };
            let slot = newest.entry(post.author_id()).or_insert((*index, post));
            if post.created_at >= slot.1.created_at {
                *slot = (*index, post);
            }
        }
        let mut authors: Vec<(usize, &PostPayload)> = newest.into_values().collect();
        authors.sort_by_key(|(_, p)| p.author_id());
        authors
    }

    /// Moves a row the store refused for good to the refusals.
    pub fn reject(&mut self, index: usize, error: ComponentError) {
        self.rows.retain(|(i, _)| *i != index);
        self.rejected.push((index, error));
    }

    /// Refuses, before anything is sent, the rows the store could not hold.
    pub fn refuse_unless(&mut self, storable: impl Fn(&Row<'a>) -> Result<(), ComponentError>) {
        for (index, row) in std::mem::take(&mut self.rows) {
            match storable(&row) {
                Ok(()) => self.rows.push((index, row)),
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

impl<'a> Row<'a> {
    pub fn decode(record: &'a Envelope, sink: &str) -> Result<Row<'a>, ComponentError> {
        let bad =
            |e: serde_json::Error| ComponentError::invalid(format!("payload does not match {}: {e}", record.schema));
        match record.kind() {
            Some(RecordKind::Post) => {
                Ok(Row::Post { post: Box::new(PostPayload::from_envelope(record).map_err(bad)?), envelope: record })
            }
            Some(RecordKind::SheetRow) => Ok(Row::Sheet { row: record.payload_as().map_err(bad)?, envelope: record }),
            Some(RecordKind::KolScore) => Ok(Row::Kol { score: record.payload_as().map_err(bad)?, envelope: record }),
            Some(RecordKind::DeadLetter) | None => {
                Err(ComponentError::invalid(format!("the {sink} sink does not store {} records", record.schema)))
            }
        }
    }

    pub fn envelope(&self) -> &'a Envelope {
        match self {
            Row::Post { envelope, .. } | Row::Sheet { envelope, .. } | Row::Kol { envelope, .. } => envelope,
        }
    }
}

/// For stores whose integers are signed 64-bit: a count beyond that is
/// refused rather than wrapped or clamped (then [`as_i64`] is exact).
pub fn counts_fit_i64(row: &Row) -> Result<(), ComponentError> {
    let counts = match row {
        Row::Post { post, .. } => {
            let m = &post.metrics;
            vec![
                (m.likes, "metrics.likes"),
                (m.comments, "metrics.comments"),
                (m.shares, "metrics.shares"),
                (m.views, "metrics.views"),
                (post.author.followers, "author.followers"),
                (post.author.following, "author.following"),
            ]
        }
        Row::Sheet { row, .. } => vec![(Some(row.row_number), "row_number")],
        Row::Kol { .. } => Vec::new(),
    };
    for (value, field) in counts {
        if let Some(v) = value.filter(|v| i64::try_from(*v).is_err()) {
            return Err(ComponentError::invalid(format!("{field} = {v} exceeds a signed 64-bit integer")));
        }
    }
    Ok(())
}

/// A count of a row that passed [`counts_fit_i64`], as the store's integer.
pub fn as_i64(count: u64) -> i64 {
    i64::try_from(count).expect("counts_fit_i64 refused counts beyond i64")
}

/// Splits items of the given sizes into consecutive ranges of at most
/// `max_items` items and `max_bytes` bytes (an item larger than `max_bytes`
/// goes alone): how a batch is cut into commands or messages a server takes.
pub fn size_bounded(sizes: &[usize], max_bytes: usize, max_items: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (bytes + size > max_bytes || i - start == max_items) {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// RFC 3339 UTC with milliseconds, the text form of times in every store.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The list `enrichments.entities.<field>` (hashtags, mentions, brands), if any.
pub fn entity_list<'a>(envelope: &'a Envelope, field: &str) -> Vec<&'a str> {
    envelope
        .enrichments
        .get("entities")
        .and_then(|e| e.get(field))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `enrichments.embedding` when it is an array of numbers (stored natively).
pub fn embedding(envelope: &Envelope) -> Option<Vec<f32>> {
    let items = envelope.enrichments.get("embedding")?.as_array()?;
    items.iter().map(|v| v.as_f64().map(|x| x as f32)).collect()
}

/// `enrichments.<stage>.<field>…`, for the scores stores keep in columns
/// of their own (docs/record-schema.md names them).
pub fn enrichment<'a>(envelope: &'a Envelope, path: &[&str]) -> Option<&'a Value> {
    let mut value = envelope.enrichments.get(path[0])?;
    for key in &path[1..] {
        value = value.get(key)?;
    }
    Some(value)
}

/// The combined sentiment label.
pub fn sentiment_label(envelope: &Envelope) -> Option<&str> {
    enrichment(envelope, &["sentiment", "label"])?.as_str()
}

/// VADER's compound score (or a flat `compound` of another sentiment stage).
pub fn sentiment_compound(envelope: &Envelope) -> Option<f64> {
    enrichment(envelope, &["sentiment", "vader", "compound"])
        .or_else(|| enrichment(envelope, &["sentiment", "compound"]))?
        .as_f64()
}

/// The dominant emotion (or `neutral`).
pub fn emotion_label(envelope: &Envelope) -> Option<&str> {
    enrichment(envelope, &["emotion", "dominant"])?.as_str()
}

/// Enrichments as JSON text without the embedding, for stores that keep the
/// vector in a column of its own (it is most of the bytes of a post).
pub fn enrichments_json_except_embedding(envelope: &Envelope) -> String {
    struct Except<'a>(&'a serde_json::Map<String, Value>);
    impl serde::Serialize for Except<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().filter(|(k, _)| k.as_str() != "embedding"))
        }
    }
    serde_json::to_string(&Except(&envelope.enrichments)).expect("enrichments always serialise")
}

/// Why writing part of a batch failed.
pub enum PartError {
    /// The store refused some record of the part for good (its message).
    Refused(String),
    /// Anything else: the whole batch fails with it.
    Failed(ComponentError),
}

/// A store that writes a part of a batch idempotently (so writing a row
/// twice is harmless), for [`write_bisecting`].
#[async_trait::async_trait]
pub trait PartWriter: Send {
    async fn write_part(&mut self, part: &Decoded<'_>) -> Result<(), PartError>;
}

/// Writes `decoded`; when the store refuses a part, writes its halves again
/// until each refused record is alone, and moves those to the refusals. A
/// batch with one bad record costs about 2·log2(n) extra writes.
pub async fn write_bisecting(writer: &mut impl PartWriter, decoded: &mut Decoded<'_>) -> Result<(), ComponentError> {
    let mut pending = vec![std::mem::take(&mut decoded.rows)];
    while let Some(rows) = pending.pop() {
        let part = Decoded { rows, rejected: Vec::new() };
        match writer.write_part(&part).await {
            Ok(()) => decoded.rows.extend(part.rows),
            Err(PartError::Refused(reason)) => {
                let mut rows = part.rows;
                if rows.len() == 1 {
                    let (index, _) = rows.pop().expect("one row");
                    decoded.rejected.push((index, ComponentError::invalid(reason)));
                } else {
                    let second = rows.split_off(rows.len() / 2);
                    pending.push(second);
                    pending.push(rows);
                }
            }
            Err(PartError::Failed(e)) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column values come from the keys the text stages write
    /// (docs/record-schema.md#enrichments).
    #[test]
    fn score_columns_read_the_documented_enrichment_keys() {
        let post = crate::testing::post("x", 1, 1, 1);
        assert_eq!(sentiment_label(&post), Some("positive"));
        assert_eq!(sentiment_compound(&post), Some(0.6));
        assert_eq!(emotion_label(&post), Some("joy"));
        let mut bare = post.clone();
        bare.enrichments.clear();
        assert_eq!((sentiment_label(&bare), sentiment_compound(&bare), emotion_label(&bare)), (None, None, None));
    }

    /// Refuses any part holding one of `bad`; records what it wrote.
    struct Picky {
        bad: Vec<String>,
        written: Vec<String>,
        writes: usize,
    }

    #[async_trait::async_trait]
    impl PartWriter for Picky {
        async fn write_part(&mut self, part: &Decoded<'_>) -> Result<(), PartError> {
            self.writes += 1;
            let ids: Vec<String> = part.rows.iter().map(|(_, r)| r.envelope().id.clone()).collect();
            match ids.iter().find(|id| self.bad.contains(id)) {
                Some(id) => Err(PartError::Refused(format!("{id} is bad"))),
                None => {
                    self.written.extend(ids);
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn size_bounded_ranges_keep_under_both_bounds_and_never_split_an_item() {
        assert_eq!(size_bounded(&[4, 4, 4, 4, 4], 10, 100), vec![0..2, 2..4, 4..5]);
        assert_eq!(size_bounded(&[1, 1, 1, 1, 1], 100, 2), vec![0..2, 2..4, 4..5]);
        // Larger than the bound: alone.
        assert_eq!(size_bounded(&[3, 50, 3], 10, 100), vec![0..1, 1..2, 2..3]);
        assert!(size_bounded(&[], 10, 10).is_empty());
    }

    #[tokio::test]
    async fn bisection_isolates_each_refused_record_and_writes_the_rest() {
        let batch = crate::testing::posts("x", 0..64, 1);
        let mut decoded = Decoded::batch(&batch, "test");
        let mut writer = Picky { bad: vec!["x:5".into(), "x:40".into()], written: Vec::new(), writes: 0 };
        write_bisecting(&mut writer, &mut decoded).await.unwrap();
        let mut refused: Vec<(usize, String)> = decoded.rejected.iter().map(|(i, e)| (*i, e.reason.clone())).collect();
        refused.sort();
        assert_eq!(refused, vec![(5, "x:5 is bad".to_owned()), (40, "x:40 is bad".to_owned())]);
        writer.written.sort();
        let mut expected: Vec<String> = (0..64).filter(|n| *n != 5 && *n != 40).map(|n| format!("x:{n}")).collect();
        expected.sort();
        assert_eq!(writer.written, expected);
        assert_eq!(decoded.rows.len(), 62);
        assert!(writer.writes <= 1 + 2 * 2 * 6, "{} writes", writer.writes);
    }
}
