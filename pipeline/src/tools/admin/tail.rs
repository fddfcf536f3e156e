//! `socialpipe tail TOPIC`: envelopes as JSON lines, partition by partition.

use std::io::Write;
use std::time::Duration;

use super::open_transport;
use super::{AdminError, require_topic};
use crate::config::Config;

/// How often `--follow` looks for new messages.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);
const READ_BATCH: usize = 1000;

pub async fn tail(
    config: &Config,
    topic: &str,
    follow: bool,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let log = open_transport(config)?;
    let info = require_topic(&*log, topic).await?;
    let mut next: Vec<u64> = info.partitions.iter().map(|p| p.start_offset).collect();
    let mut printed = 0u64;
    loop {
        let mut any = false;
        for (partition, offset) in next.iter_mut().enumerate() {
            loop {
                let want = limit.map_or(READ_BATCH, |l| (l - printed).min(READ_BATCH as u64) as usize);
                if want == 0 {
                    return Ok(());
                }
                let messages = log.read(topic, partition as u32, *offset, want).await?;
                if messages.is_empty() {
                    break;
                }
                any = true;
                for m in &messages {
                    out.write_all(&m.value)?;
                    out.write_all(b"\n")?;
                    *offset = m.offset + 1;
                    printed += 1;
                }
            }
        }
        out.flush()?;
        if !follow {
            return Ok(());
        }
        if !any {
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    }
}
