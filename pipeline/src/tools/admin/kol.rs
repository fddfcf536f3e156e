//! `socialpipe kol show`: an author's latest KOL score with its breakdown,
//! from the first sink whose store answers for KOL scores (indexed), else
//! the newest score on the scores topic.

use std::io::Write;

use socialpipe_schemas::{AuthorRef, Envelope, KolScoreRecord, RecordKind};

use super::{AdminError, open_transport};
use crate::config::Config;
use crate::runtime::transport::partition_for;

/// Messages per read while scanning the scores topic.
const SCAN_BATCH: usize = 10_000;

pub async fn kol_show(config: &Config, author: &AuthorRef, out: &mut impl Write) -> Result<(), AdminError> {
    let store = config.sinks.values().find_map(|s| s.kind.component().kol_scores());
    let score = match store {
        Some(store) => store.latest_kol_score(author).await.map_err(|e| AdminError::Usage(e.reason))?,
        None => from_topic(config, author).await?,
    };
    let score = score.ok_or_else(|| {
        AdminError::Usage(format!("no KOL score for {author:?} yet (is a kol stage configured, and has it run?)"))
    })?;
    write_score(&score, out)?;
    Ok(())
}

/// The newest score of the author on the scores topic: one partition for
/// an id, every partition for a handle.
async fn from_topic(config: &Config, author: &AuthorRef) -> Result<Option<KolScoreRecord>, AdminError> {
    let log = open_transport(config)?;
    let topic = config.routes().topic_of(Some(RecordKind::KolScore));
    let partitions: Vec<u32> = match author {
        AuthorRef::Id(id) => vec![partition_for(id, config.topics.partitions)],
        AuthorRef::Handle { .. } => (0..config.topics.partitions).collect(),
    };
    let mut best: Option<(KolScoreRecord, i64)> = None;
    for partition in partitions {
        let mut offset = 0;
        loop {
            let messages = log.read(topic, partition, offset, SCAN_BATCH).await?;
            let Some(last) = messages.last() else { break };
            offset = last.offset + 1;
            for m in &messages {
                let Ok(envelope) = Envelope::from_bytes(&m.value) else { continue };
                let Ok(score) = envelope.payload_as::<KolScoreRecord>() else { continue };
                let newer =
                    best.as_ref().is_none_or(|(b, v)| (score.computed_at, envelope.version) >= (b.computed_at, *v));
                if author.matches(&score) && newer {
                    best = Some((score, envelope.version));
                }
            }
        }
    }
    Ok(best.map(|(score, _)| score))
}

/// The score as a person reads it.
pub fn write_score(score: &KolScoreRecord, out: &mut impl Write) -> std::io::Result<()> {
    let handle = score.handle.as_deref().map(|h| format!(" (@{h})")).unwrap_or_default();
    let followers = score.followers.map(|f| format!(", {f} followers")).unwrap_or_default();
    writeln!(out, "{}{handle}: KOL score {:.1} / 100, {} tier{followers}", score.author_id, score.score, score.tier)?;
    writeln!(
        out,
        "as of {} (newest post counted), {} posts in the window; emitted {}",
        score.computed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        score.posts,
        score.emitted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    writeln!(out)?;
    writeln!(out, "  {:<20} {:>5} {:>7}  WHY", "FACTOR", "VALUE", "WEIGHT")?;
    for f in &score.factors {
        let value = f.value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let weight = format!("{:.0} %", 100.0 * f.effective_weight);
        writeln!(out, "  {:<20} {value:>5} {weight:>7}  {}", f.name.replace('_', " "), f.explanation)?;
    }
    let missing: Vec<&str> = score.factors.iter().filter(|f| f.value.is_none()).map(|f| f.name.as_str()).collect();
    if !missing.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "  Unavailable factors ({}) count 0 %: the others' weights are scaled to sum to 100 %.",
            missing.join(", ")
        )?;
    }
    Ok(())
}
