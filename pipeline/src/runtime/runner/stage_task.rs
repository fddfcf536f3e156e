//! A stage-chain worker: poll a batch from its partitions, run every stage
//! over it in order, append the results and dead letters, persist the
//! changes of stateful stages, then commit. Transient per-record failures
//! are retried (bounded) before they become dead letters; a fatal one stops
//! the worker without committing the batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, Failed};

use super::dead_letters::{Failure, record_dead_letter, too_large_letter};
use super::state::ChainState;
use super::{Backoff, Context, Layer, Stop, log_op};
use crate::runtime::chain::Stage;
use crate::runtime::telemetry::{ComponentState, Kind};
use crate::runtime::transport::{Membership, Message, Outgoing, positions_after};

/// Where a record in flight came from: what a dead letter and a replay need.
struct Origin {
    topic: String,
    original: Vec<u8>,
    trace_id: Option<String>,
}

struct InFlight {
    origin: Arc<Origin>,
    record: Envelope,
}

pub(crate) async fn run(
    ctx: &Context,
    mut chain: Vec<Stage>,
    membership: Membership,
    upstream: Arc<Layer>,
) -> Result<(), Stop> {
    let routes = ctx.config.routes();
    let inputs = routes.stage_inputs();
    let batch_size = ctx.config.runtime.stage_batch_records;
    let wait = Duration::from_millis(ctx.config.runtime.poll_wait_ms);
    let group = routes.stage_group();
    let mut consumer = log_op!(ctx, "joining the stage group", ctx.transport.subscribe(&group, inputs, membership))?;
    let mut state = ChainState::new(ctx, &chain);
    for stage in &chain {
        ctx.health.set(&stage.name, ComponentState::Running);
    }
    let first_stage = chain[0].name.clone();
    let mut lag_seen = Instant::now();
    loop {
        if ctx.abort.is_set() {
            return Err(Stop::Aborted);
        }
        let mut messages = log_op!(ctx, "polling", consumer.poll(batch_size, wait))?;
        state.unload(&consumer.take_revoked());
        if messages.is_empty() {
            if upstream.is_done() && ctx.observe_lag(&group, consumer.as_mut()).await? == 0 {
                // What stateful stages held back (each author's last KOL
                // score) is written before the state that says it was, for
                // every owned partition (one that moved here after its last
                // message is loaded now).
                let owned = log_op!(ctx, "reading lag", consumer.lag())?;
                state.load_owned(ctx, &owned).await?;
                let emitted = state.finish(&mut chain);
                send_emitted(ctx, emitted).await?;
                state.persist_finish(ctx).await?;
                return Ok(());
            }
            ctx.publish_lag(&group, consumer.as_mut(), &mut lag_seen).await?;
            continue;
        }
        let positions = positions_after(&messages);
        // Records a previous owner of the partition finished (output and
        // state durable) but could not commit are not applied twice.
        state.load_and_skip_done(ctx, &mut messages).await?;
        let mut dead = Vec::new();
        let mut records = decode(ctx, &first_stage, &messages, &mut dead);
        let last = chain.len() - 1;
        for (index, stage) in chain.iter_mut().enumerate() {
            records = apply(ctx, stage, state.of(index), records, &mut dead).await?;
            if index < last {
                ctx.metrics.sent.with_label_values(&[&stage.name, Kind::Stage.as_str()]).inc_by(records.len() as u64);
            }
        }
        // The last stage passes on what the transport takes.
        let out = outgoing_or_dead(ctx, &chain, records, &mut dead);
        ctx.metrics.sent.with_label_values(&[&chain[last].name, Kind::Stage.as_str()]).inc_by(out.len() as u64);
        ctx.send(&routes.topics().enriched_posts, out).await?;
        send_emitted(ctx, chain.iter_mut().flat_map(|s| s.processor.take_emitted()).collect()).await?;
        for (stage, letters) in dead {
            ctx.send(&routes.dlq_topic(&stage), letters).await?;
        }
        state.persist(ctx, &positions).await?;
        state.publish_size(ctx);
        log_op!(ctx, "committing", consumer.commit(&positions))?;
        ctx.publish_lag(&group, consumer.as_mut(), &mut lag_seen).await?;
    }
}

/// The chain's output as messages; a record the enrichments made too large
/// for the transport is the last stage's dead letter (its original is the
/// input record, so a replay runs the chain again).
fn outgoing_or_dead(
    ctx: &Context,
    chain: &[Stage],
    records: Vec<InFlight>,
    dead: &mut Vec<(String, Vec<Outgoing>)>,
) -> Vec<Outgoing> {
    let last = chain.last().expect("a chain has a stage").name.as_str();
    let mut out = Vec::with_capacity(records.len());
    for InFlight { origin, record } in records {
        let message = Outgoing::record(&record, origin.trace_id.as_deref());
        let limits = ctx.dead_letter_limits();
        let Some(letter) = too_large_letter(last, &record, &message, &origin.topic, &origin.original, limits) else {
            out.push(message);
            continue;
        };
        push_grouped(dead, last, letter);
        ctx.metrics.errors.with_label_values(&[last, Kind::Stage.as_str(), "invalid"]).inc();
        ctx.metrics.dlq.with_label_values(&[last]).inc();
    }
    out
}

/// Writes records stages made besides their outcomes to their kind's topic.
async fn send_emitted(ctx: &Context, emitted: Vec<Envelope>) -> Result<(), Stop> {
    let mut by_topic: Vec<(String, Vec<Outgoing>)> = Vec::new();
    for record in &emitted {
        push_grouped(&mut by_topic, ctx.config.routes().topic_of(record.kind()), Outgoing::record(record, None));
    }
    for (topic, messages) in by_topic {
        ctx.send(&topic, messages).await?;
    }
    Ok(())
}

/// Adds a message under its name (a stage's dead letters, a topic's
/// records), keeping one list per name in first-seen order.
fn push_grouped(groups: &mut Vec<(String, Vec<Outgoing>)>, name: &str, message: Outgoing) {
    match groups.iter_mut().find(|(n, _)| n == name) {
        Some((_, list)) => list.push(message),
        None => groups.push((name.to_owned(), vec![message])),
    }
}

fn decode(
    ctx: &Context,
    first_stage: &str,
    messages: &[Message],
    dead: &mut Vec<(String, Vec<Outgoing>)>,
) -> Vec<InFlight> {
    let mut records = Vec::with_capacity(messages.len());
    for m in messages {
        match Envelope::from_bytes(&m.value) {
            Ok(record) => records.push(InFlight {
                origin: Arc::new(Origin {
                    topic: m.topic.clone(),
                    original: m.value.clone(),
                    trace_id: m.headers.trace_id.clone(),
                }),
                record,
            }),
            Err(e) => {
                let error = ComponentError::invalid(e.to_string());
                let failure = Failure {
                    component: first_stage,
                    error: &error,
                    attempts: 1,
                    first_failure: Utc::now(),
                    record_id: None,
                    key: Some(m.key.clone()),
                    input_topic: &m.topic,
                    original: &m.value,
                    trace_id: m.headers.trace_id.as_deref(),
                };
                push_grouped(dead, first_stage, record_dead_letter(failure, ctx.dead_letter_limits()));
                ctx.metrics.errors.with_label_values(&[first_stage, Kind::Stage.as_str(), "invalid"]).inc();
                ctx.metrics.dlq.with_label_values(&[first_stage]).inc();
            }
        }
    }
    records
}

/// Stages are CPU work (the emotion model takes tens of milliseconds a
/// batch): on the multi-threaded runtime the batch runs in place of a
/// blocking task, so the runtime moves its other tasks (HTTP, sinks,
/// commits) to another worker meanwhile.
async fn compute<T>(work: impl std::future::Future<Output = T>) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::current();
    if handle.runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| handle.block_on(work))
    } else {
        work.await
    }
}

/// Runs one stage over the batch (with its keyed state, when it keeps one),
/// retrying transient failures, keeping order.
async fn apply(
    ctx: &Context,
    stage: &mut Stage,
    mut state: Option<&mut socialpipe_schemas::KeyedState>,
    records: Vec<InFlight>,
    dead: &mut Vec<(String, Vec<Outgoing>)>,
) -> Result<Vec<InFlight>, Stop> {
    let name = stage.name.clone();
    let name = name.as_str();
    let labels = [name, Kind::Stage.as_str()];
    ctx.metrics.received.with_label_values(&labels).inc_by(records.len() as u64);
    let max_attempts = ctx.config.runtime.retry.max_attempts.max(1);
    let mut slots: Vec<Option<InFlight>> = Vec::with_capacity(records.len());
    let mut todo: Vec<(usize, InFlight, u32, Option<DateTime<Utc>>)> = Vec::with_capacity(records.len());
    for (i, r) in records.into_iter().enumerate() {
        slots.push(None);
        todo.push((i, r, 0, None));
    }
    let mut backoff = Backoff::new(&ctx.config.runtime.retry);
    let mut abort = ctx.abort.clone();
    while !todo.is_empty() {
        let started = Instant::now();
        let (meta, batch): (Vec<_>, Vec<_>) =
            todo.drain(..).map(|(i, f, attempts, first)| ((i, f.origin, attempts, first), f.record)).unzip();
        let outcomes = compute(stage.process(batch, state.as_deref_mut())).await;
        ctx.metrics.processing.with_label_values(&labels).observe(started.elapsed().as_secs_f64());
        if outcomes.len() != meta.len() {
            return Err(Stop::Failed(format!(
                "stage {name} returned {} results for {} records",
                outcomes.len(),
                meta.len()
            )));
        }
        for ((i, origin, attempts, first), outcome) in meta.into_iter().zip(outcomes) {
            match outcome {
                Ok(record) => slots[i] = Some(InFlight { origin, record }),
                Err(Failed { record, error }) => {
                    let attempts = attempts + 1;
                    let first = first.unwrap_or_else(Utc::now);
                    ctx.metrics.errors.with_label_values(&[name, Kind::Stage.as_str(), error.domain.as_str()]).inc();
                    match error.domain {
                        ErrorDomain::Fatal => {
                            return Err(Stop::Failed(format!("{name}: {}", error.reason)));
                        }
                        ErrorDomain::Transient if attempts < max_attempts => {
                            todo.push((i, InFlight { origin, record: *record }, attempts, Some(first)))
                        }
                        _ => {
                            let failure = Failure {
                                component: name,
                                error: &error,
                                attempts,
                                first_failure: first,
                                record_id: Some(record.id.clone()),
                                key: Some(record.key.clone()),
                                input_topic: &origin.topic,
                                original: &origin.original,
                                trace_id: origin.trace_id.as_deref(),
                            };
                            push_grouped(dead, name, record_dead_letter(failure, ctx.dead_letter_limits()));
                            ctx.metrics.dlq.with_label_values(&[name]).inc();
                        }
                    }
                }
            }
        }
        if !todo.is_empty() && !backoff.wait(&mut abort).await {
            return Err(Stop::Aborted);
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests;
