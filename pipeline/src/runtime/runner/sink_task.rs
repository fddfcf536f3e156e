//! A sink's loop: gather a batch (bounded by records, bytes and age), write
//! it with retries, dead-letter what the sink refused, then commit. While the
//! store is down the batch is retried without limit and nothing more is
//! read, so the backlog waits in the log, not in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, Sink};
use socialpipe_sinks::bisect::size_bounded;

use super::dead_letters::{Failure, record_dead_letter};
use super::{Backoff, Context, Layer, Stop, log_op};
use crate::config::SinkSpec;
use crate::runtime::telemetry::{ComponentState, Kind};
use crate::runtime::transport::{Membership, Message, Outgoing, positions_after};

/// `sink` is None when building it failed transiently at start-up (e.g. a
/// locked database): it is built again here with backoff.
pub(crate) async fn run(
    ctx: &Context,
    name: &str,
    spec: &SinkSpec,
    sink: Option<Box<dyn Sink>>,
    upstream: Arc<Layer>,
) -> Result<(), Stop> {
    let mut sink = match sink {
        Some(sink) => sink,
        None => build_with_retry(ctx, name, spec).await?,
    };
    let group = ctx.config.routes().sink_group(name);
    let inputs = ctx.config.routes().sink_inputs(spec.inputs.as_ref());
    let poll_wait = Duration::from_millis(ctx.config.runtime.poll_wait_ms);
    let timeout = Duration::from_millis(spec.batch_timeout_ms);
    let mut consumer =
        log_op!(ctx, "joining the sink group", ctx.transport.subscribe(&group, &inputs, Membership::ALONE))?;
    ctx.health.set(name, ComponentState::Running);
    let mut buffer: Vec<Message> = Vec::new();
    let mut oldest = Instant::now();
    let mut lag_seen = Instant::now();
    let full = |buffer: &[Message]| {
        buffer.len() >= spec.batch_max_records
            || buffer.iter().map(|m| m.value.len()).sum::<usize>() >= spec.batch_max_bytes
    };
    loop {
        if ctx.abort.is_set() {
            return Err(Stop::Aborted);
        }
        // What a batch cut by bytes left buffered may be a full batch already.
        let wait = if buffer.is_empty() {
            poll_wait
        } else if full(&buffer) {
            Duration::ZERO
        } else {
            timeout.saturating_sub(oldest.elapsed()).min(poll_wait)
        };
        let room = spec.batch_max_records - buffer.len();
        let messages = log_op!(ctx, "polling", consumer.poll(room, wait))?;
        // Buffered work of partitions that moved is abandoned uncommitted: the new owner redelivers it.
        let revoked = consumer.take_revoked();
        if !revoked.is_empty() {
            buffer.retain(|m| !m.is_in(&revoked));
        }
        let idle = messages.is_empty();
        if buffer.is_empty() {
            oldest = Instant::now();
        }
        buffer.extend(messages);
        let draining = idle && upstream.is_done();
        if !buffer.is_empty() && (full(&buffer) || oldest.elapsed() >= timeout || draining) {
            let batch = take_batch(&mut buffer, spec.batch_max_bytes);
            flush(ctx, name, sink.as_mut(), &batch).await?;
            let positions = positions_after(&batch);
            log_op!(ctx, "committing", consumer.commit(&positions))?;
            ctx.publish_lag(&group, consumer.as_mut(), &mut lag_seen).await?;
            continue;
        }
        if draining && buffer.is_empty() && ctx.observe_lag(&group, consumer.as_mut()).await? == 0 {
            return Ok(());
        }
        ctx.publish_lag(&group, consumer.as_mut(), &mut lag_seen).await?;
    }
}

/// The batch to write now: the buffer's first messages up to `max_bytes`
/// (a larger one alone); the rest stays buffered, in order, for the next.
fn take_batch(buffer: &mut Vec<Message>, max_bytes: usize) -> Vec<Message> {
    let sizes: Vec<usize> = buffer.iter().map(|m| m.value.len()).collect();
    let end = size_bounded(&sizes, max_bytes, usize::MAX).first().map_or(0, |first| first.end);
    let rest = buffer.split_off(end);
    std::mem::replace(buffer, rest)
}

async fn build_with_retry(ctx: &Context, name: &str, spec: &SinkSpec) -> Result<Box<dyn Sink>, Stop> {
    let mut backoff = Backoff::new(&ctx.config.runtime.retry);
    loop {
        match spec.kind.component().build().await {
            Ok(sink) => return Ok(sink),
            Err(e) if e.domain == ErrorDomain::Transient => {
                ctx.health.set(name, ComponentState::Retrying(e.reason.clone()));
                if !ctx.back_off(name, Kind::Sink, &e, &mut backoff).await {
                    return Err(Stop::Aborted);
                }
            }
            Err(e) => return Err(Stop::Failed(e.reason)),
        }
    }
}

/// Writes one batch durably: decodes, writes with retries, dead-letters refusals.
async fn flush(ctx: &Context, name: &str, sink: &mut dyn Sink, batch: &[Message]) -> Result<(), Stop> {
    let labels = [name, Kind::Sink.as_str()];
    let limits = ctx.dead_letter_limits();
    ctx.metrics.received.with_label_values(&labels).inc_by(batch.len() as u64);
    let mut dead: Vec<Outgoing> = Vec::new();
    let mut records = Vec::with_capacity(batch.len());
    let mut sources = Vec::with_capacity(batch.len());
    let first_failure = Utc::now();
    let letter = |m: &Message, error: &ComponentError, attempts: u32, record_id: Option<String>| {
        let failure = Failure {
            component: name,
            error,
            attempts,
            first_failure,
            record_id,
            key: Some(m.key.clone()),
            input_topic: &m.topic,
            original: &m.value,
            trace_id: m.headers.trace_id.as_deref(),
        };
        record_dead_letter(failure, limits)
    };
    for m in batch {
        match Envelope::from_bytes(&m.value) {
            Ok(record) => {
                records.push(record);
                sources.push(m);
            }
            Err(e) => dead.push(letter(m, &ComponentError::invalid(e.to_string()), 1, None)),
        }
    }
    let mut backoff = Backoff::new(&ctx.config.runtime.retry);
    let mut attempts = 0;
    let started = Instant::now();
    let report = loop {
        attempts += 1;
        match sink.write(&records).await {
            Ok(report) => break report,
            Err(e) if e.domain == ErrorDomain::Transient => {
                ctx.health.set(name, ComponentState::Retrying(format!("attempt {attempts}: {}", e.reason)));
                if !ctx.back_off(name, Kind::Sink, &e, &mut backoff).await {
                    return Err(Stop::Aborted);
                }
            }
            Err(e) => return Err(Stop::Failed(e.reason)),
        }
    };
    if attempts > 1 {
        ctx.health.set(name, ComponentState::Running);
    }
    ctx.metrics.processing.with_label_values(&labels).observe(started.elapsed().as_secs_f64());
    for (index, error) in &report.rejected {
        ctx.metrics.errors.with_label_values(&[name, Kind::Sink.as_str(), error.domain.as_str()]).inc();
        dead.push(letter(sources[*index], error, attempts, Some(records[*index].id.clone())));
    }
    let refused = dead.len() as u64;
    if refused > 0 {
        ctx.metrics.dlq.with_label_values(&[name]).inc_by(refused);
        ctx.send(&ctx.config.routes().dlq_topic(name), dead).await?;
    }
    ctx.metrics.sent.with_label_values(&labels).inc_by(records.len() as u64 - report.rejected.len() as u64);
    Ok(())
}

#[cfg(test)]
mod tests;
