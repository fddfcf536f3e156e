//! The admin commands (`topics`, `tail`, `produce`, `dlq …`). They open the
//! log directly: the embedded log admits other processes while `run` holds it.

mod dlq;
mod kol;
mod produce;
mod tail;

use std::io::Write;

pub use dlq::{Replayed, dlq_list, dlq_replay, dlq_show};
pub use kol::{kol_show, write_score};
pub use produce::{Produced, produce};
pub use tail::tail;

use crate::config::Config;
use crate::runtime::transport::{TopicInfo, Transport, TransportError, lag_over};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
}

/// Opens the transport of a topology; for the embedded log, one that has
/// run (a mistyped path is an error rather than a new, empty log).
pub(crate) fn open_transport(config: &Config) -> Result<std::sync::Arc<dyn Transport>, AdminError> {
    if let Some(path) = config.transport.path()
        && !path.join("log.db").exists()
    {
        return Err(AdminError::Usage(format!(
            "no log at {} (start `socialpipe run` with this config first)",
            path.display()
        )));
    }
    Ok(crate::runtime::transport::open(&config.transport)?.transport)
}

/// Topics with partitions and end offsets, then the lag of the topology's groups.
pub async fn topics(config: &Config, out: &mut impl Write) -> Result<(), AdminError> {
    let log = open_transport(config)?;
    let topics = log.topics().await?;
    writeln!(out, "{:<32} {:>10} {:>10}  END OFFSETS", "TOPIC", "PARTITIONS", "MESSAGES")?;
    for t in &topics {
        let ends: Vec<String> = t.partitions.iter().map(|p| p.end_offset.to_string()).collect();
        writeln!(out, "{:<32} {:>10} {:>10}  {}", t.name, t.partitions.len(), t.len(), ends.join(","))?;
    }
    let routes = config.routes();
    let groups = std::iter::once((routes.stage_group(), routes.stage_inputs().to_vec()))
        .filter(|_| !config.stages.is_empty())
        .chain(
            config.sinks.iter().map(|(name, spec)| (routes.sink_group(name), routes.sink_inputs(spec.inputs.as_ref()))),
        );
    let mut lags = Vec::new();
    for (group, inputs) in groups {
        let read: Vec<&TopicInfo> = topics.iter().filter(|t| inputs.contains(&t.name)).collect();
        lags.extend(lag_over(&*log, &group, &read).await?);
    }
    if !lags.is_empty() {
        writeln!(out)?;
        writeln!(out, "{:<40} {:<24} {:>10} {:>10}", "GROUP", "TOPIC", "COMMITTED", "LAG")?;
        let mut rows: Vec<(String, String, u64, u64)> = Vec::new();
        for l in lags {
            match rows.last_mut() {
                Some(row) if row.0 == l.group && row.1 == l.topic => {
                    row.2 += l.committed;
                    row.3 += l.lag();
                }
                _ => rows.push((l.group.clone(), l.topic.clone(), l.committed, l.lag())),
            }
        }
        for (group, topic, committed, lag) in rows {
            writeln!(out, "{group:<40} {topic:<24} {committed:>10} {lag:>10}")?;
        }
    }
    Ok(())
}

async fn require_topic(log: &dyn Transport, topic: &str) -> Result<TopicInfo, AdminError> {
    let topics = log.topics().await?;
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    topics
        .into_iter()
        .find(|t| t.name == topic)
        .ok_or_else(|| AdminError::Usage(format!("no topic {topic:?} (topics: {})", names.join(", "))))
}
