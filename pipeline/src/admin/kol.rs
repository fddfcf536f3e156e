//! `socialpipe kol show`: an author's latest KOL score with its breakdown.
//! It reads the sqlite sink's `kol_latest` view when the topology has a
//! sqlite sink (indexed), else the newest score on the scores topic.

use std::io::Write;

use socialpipe_schemas::{Envelope, KolScoreRecord};

use super::{AdminError, open_transport};
use crate::config::Config;
use crate::topology::SinkKind;
use crate::transport::partition_for;

/// Messages per read while scanning the scores topic.
const SCAN_BATCH: usize = 10_000;

/// Who to show: `platform:id` or `platform:@handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorRef {
    Id(String),
    Handle { platform: String, handle: String },
}

impl std::str::FromStr for AuthorRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (platform, rest) =
            text.split_once(':').filter(|(p, r)| !p.is_empty() && !r.is_empty()).ok_or_else(|| {
                format!("{text:?}: expected PLATFORM:ID or PLATFORM:@HANDLE, e.g. twitter:42 or twitter:@alice")
            })?;
        let platform = platform.to_ascii_lowercase();
        Ok(match rest.strip_prefix('@') {
            Some(handle) => AuthorRef::Handle { platform, handle: handle.to_owned() },
            None => AuthorRef::Id(format!("{platform}:{rest}")),
        })
    }
}

pub async fn kol_show(config: &Config, author: &AuthorRef, out: &mut impl Write) -> Result<(), AdminError> {
    let sqlite = config.sinks.values().find_map(|s| match &s.kind {
        SinkKind::Sqlite(c) => Some(c.path.clone()),
        _ => None,
    });
    let score = match sqlite {
        Some(path) => from_sqlite(&path, author)?,
        None => from_topic(config, author).await?,
    };
    let score = score.ok_or_else(|| {
        AdminError::Usage(format!("no KOL score for {author:?} yet (is a kol stage configured, and has it run?)"))
    })?;
    write_score(&score, out)?;
    Ok(())
}

fn from_sqlite(path: &std::path::Path, author: &AuthorRef) -> Result<Option<KolScoreRecord>, AdminError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| AdminError::Usage(format!("{}: {e}", path.display())))?;
    let (filter, a, b) = match author {
        AuthorRef::Id(id) => ("author_id = ?1 AND ?2 = ''", id.clone(), String::new()),
        AuthorRef::Handle { platform, handle } => {
            ("platform = ?1 AND lower(handle) = lower(?2)", platform.clone(), handle.clone())
        }
    };
    let sql = format!(
        "SELECT author_id, platform, handle, score, tier, followers, posts, factors, computed_at, emitted_at
         FROM kol_latest WHERE {filter} ORDER BY computed_at DESC LIMIT 1"
    );
    let row = conn.query_row(&sql, [a, b], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, f64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<u64>>(5)?,
            r.get::<_, Option<u32>>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    });
    let row = match row {
        Ok(row) => row,
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
        Err(e) => return Err(AdminError::Usage(format!("{}: {e}", path.display()))),
    };
    let (author_id, platform, handle, score, tier, followers, posts, factors, computed_at, emitted_at) = row;
    let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|t| t.to_utc());
    let bad =
        |e: &dyn std::fmt::Display| AdminError::Usage(format!("{}: kol_latest of {author_id}: {e}", path.display()));
    Ok(Some(KolScoreRecord {
        author_id: author_id.clone(),
        platform,
        handle,
        score,
        tier,
        followers,
        posts: posts.unwrap_or(0),
        factors: serde_json::from_str(&factors).map_err(|e| bad(&e))?,
        computed_at: time(&computed_at).map_err(|e| bad(&e))?,
        emitted_at: match emitted_at {
            Some(t) => time(&t).map_err(|e| bad(&e))?,
            None => time(&computed_at).map_err(|e| bad(&e))?,
        },
    }))
}

/// The newest score of the author on the scores topic: one partition for
/// an id, every partition for a handle.
async fn from_topic(config: &Config, author: &AuthorRef) -> Result<Option<KolScoreRecord>, AdminError> {
    let log = open_transport(config)?;
    let topic = &config.topics.kol_scores;
    let partitions: Vec<u32> = match author {
        AuthorRef::Id(id) => vec![partition_for(id, config.topics.partitions)],
        AuthorRef::Handle { .. } => (0..config.topics.partitions).collect(),
    };
    let matches = |s: &KolScoreRecord| match author {
        AuthorRef::Id(id) => s.author_id == *id,
        AuthorRef::Handle { platform, handle } => {
            s.platform == *platform && s.handle.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(handle))
        }
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
                if matches(&score) && newer {
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
