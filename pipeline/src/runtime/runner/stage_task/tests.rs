//! The stage-chain worker against a real embedded log, with a stage whose
//! failures are scripted per record.

use std::collections::HashMap;

use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, DeadLetter, Envelope, ErrorDomain, Failed, Processor, parse_raw_post};

use super::run;
use crate::config::Config;
use crate::runtime::chain::Stage;
use crate::runtime::runner::{Context, Layer, Stop};
use crate::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};
use crate::runtime::transport::{Membership, Outgoing, Transport};

/// Fails by the record's id: `…-flaky` twice transiently then succeeds,
/// `…-poison` always transiently, `…-bad` as invalid, `…-fatal` fatally.
#[derive(Default)]
struct Scripted {
    calls: HashMap<String, u32>,
}

#[async_trait]
impl Processor for Scripted {
    async fn process(&mut self, batch: Vec<Envelope>) -> Vec<Result<Envelope, Failed>> {
        batch
            .into_iter()
            .map(|mut record| {
                let calls = self.calls.entry(record.id.clone()).or_default();
                *calls += 1;
                let error = match record.id.rsplit('-').next() {
                    Some("flaky") if *calls <= 2 => Some(ComponentError::transient("upstream 503")),
                    Some("poison") => Some(ComponentError::transient("upstream 503")),
                    Some("bad") => Some(ComponentError::invalid("text: not a sentence")),
                    Some("fatal") => Some(ComponentError::fatal("model file missing")),
                    _ => None,
                };
                match error {
                    Some(error) => Err(Failed::new(record, error)),
                    None => {
                        record.enrichments.insert("scripted".into(), (*calls).into());
                        Ok(record)
                    }
                }
            })
            .collect()
    }
}

async fn setup(ids: &[&str]) -> (tempfile::TempDir, Context, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    for topic in ["raw.posts", "enriched.posts", "dlq.scripted"] {
        log.create_topic(topic, 1).await.unwrap();
    }
    let originals: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| {
            let raw = format!(
                r#"{{"platform":"x","id":"{id}","author":{{"id":"1"}},"text":"t","created_at":"2026-11-20T10:00:00Z"}}"#
            );
            parse_raw_post(raw.as_bytes()).unwrap().into_envelope("posts").to_bytes()
        })
        .collect();
    let messages = originals.iter().map(|value| Outgoing::new("x:1", value.clone())).collect();
    log.send("raw.posts", messages).await.unwrap();
    let retry = "[runtime]\nretry = { initial_backoff_ms = 1, max_backoff_ms = 2, max_attempts = 4 }\n";
    let config = Config::parse("test.toml", retry, |_| None).unwrap();
    let ctx = Context::for_test(config, log);
    (dir, ctx, originals)
}

async fn read_all(ctx: &Context, topic: &str) -> Vec<Envelope> {
    let messages = ctx.transport.read(topic, 0, 0, 100).await.unwrap();
    messages.iter().map(|m| Envelope::from_bytes(&m.value).unwrap()).collect()
}

async fn committed(ctx: &Context) -> u64 {
    ctx.transport.group_lag(&[ctx.config.routes().stage_group()]).await.unwrap().iter().map(|l| l.committed).sum()
}

#[tokio::test]
async fn transient_failures_are_retried_and_poison_records_go_to_the_dlq_without_stalling() {
    let (_dir, ctx, originals) = setup(&["1-ok", "2-flaky", "3-poison", "4-bad", "5-ok"]).await;
    let chain = vec![Stage { name: "scripted".into(), processor: Box::new(Scripted::default()), keyed: false }];
    if let Err(Stop::Failed(reason)) = run(&ctx, chain, Membership::ALONE, Layer::new(0)).await {
        panic!("the worker failed: {reason}");
    }

    let out = read_all(&ctx, "enriched.posts").await;
    let ids: Vec<&str> = out.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["x:1-ok", "x:2-flaky", "x:5-ok"], "survivors keep their order");
    assert_eq!(out[1].enrichments["scripted"], 3, "the flaky record succeeded on its third attempt");

    let mut letters: Vec<DeadLetter> =
        read_all(&ctx, "dlq.scripted").await.iter().map(|e| DeadLetter::from_envelope(e).unwrap()).collect();
    letters.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    let summary: Vec<(Option<&str>, ErrorDomain, u32)> =
        letters.iter().map(|l| (l.record_id.as_deref(), l.domain, l.attempts)).collect();
    assert_eq!(
        summary,
        [(Some("x:3-poison"), ErrorDomain::Transient, 4), (Some("x:4-bad"), ErrorDomain::Invalid, 1)],
        "retries are bounded by max_attempts; invalid input is never retried"
    );
    assert!(letters.iter().all(|l| l.input_topic == "raw.posts" && l.first_failure <= l.last_failure));
    assert_eq!(letters[0].original.bytes(), originals[2], "the original envelope is kept for replay");
    assert_eq!(committed(&ctx).await, 5, "the whole batch is committed");
}

#[tokio::test]
async fn a_fatal_failure_stops_the_worker_without_committing_the_batch() {
    let (_dir, ctx, _) = setup(&["1-ok", "2-fatal"]).await;
    let chain = vec![Stage { name: "scripted".into(), processor: Box::new(Scripted::default()), keyed: false }];
    match run(&ctx, chain, Membership::ALONE, Layer::new(0)).await {
        Err(Stop::Failed(reason)) => assert_eq!(reason, "scripted: model file missing"),
        _ => panic!("expected the worker to fail"),
    }
    assert!(read_all(&ctx, "enriched.posts").await.is_empty(), "nothing of the failed batch is passed on");
    assert_eq!(committed(&ctx).await, 0, "the batch will be processed again after the fix");
}

/// A partition moved to this worker after its previous owner stopped
/// without finishing (a rebalance, or a kill), and no further input of it
/// comes: at the end of input the worker still loads its state and emits
/// what its authors held back (each author's last KOL score). Its state
/// used to be loaded only when a message of the partition came, so those
/// scores were never emitted (`make stack-demo` missed 13 of 801).
#[tokio::test]
async fn a_partition_moved_here_without_new_input_has_its_held_back_scores_emitted_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    let config =
        Config::parse("test.toml", "[topics]\npartitions = 1\n\n[[stages]]\ntype = \"kol\"\n", |_| None).unwrap();
    crate::runtime::runner::create_topics(&config, &log).await.unwrap();
    let posts: Vec<Outgoing> = ["10:00", "10:10", "10:20"]
        .iter()
        .enumerate()
        .map(|(n, time)| {
            let raw = format!(
                r#"{{"platform":"x","id":"{n}","author":{{"id":"1","followers":500}},"text":"t","created_at":"2026-11-20T{time}:00Z"}}"#
            );
            Outgoing::new("x:1", parse_raw_post(raw.as_bytes()).unwrap().into_envelope("posts").to_bytes())
        })
        .collect();
    log.send("raw.posts", posts).await.unwrap();
    let ctx = Context::for_test(config, log);
    let chain = || crate::runtime::chain::build(&ctx.config.stages).unwrap();

    // The first owner processes and commits everything, then stops without
    // finishing: its last two posts' score is held back in its state.
    let first = {
        let (ctx, chain) = (ctx.clone(), chain());
        tokio::spawn(async move { run(&ctx, chain, Membership::ALONE, Layer::new(1)).await })
    };
    while committed(&ctx).await < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    first.abort();
    assert!(first.await.is_err_and(|e| e.is_cancelled()));
    let scores = |envelopes: Vec<Envelope>| -> Vec<String> { envelopes.into_iter().map(|e| e.id).collect() };
    assert_eq!(scores(read_all(&ctx, "enriched.kol_scores").await), ["x:1@2026-11-20T10:00:00.000Z"]);

    // The next owner: no input left, the partition's state is loaded at the end.
    if let Err(Stop::Failed(reason)) = run(&ctx, chain(), Membership::ALONE, Layer::new(0)).await {
        panic!("the worker failed: {reason}");
    }
    assert_eq!(
        scores(read_all(&ctx, "enriched.kol_scores").await),
        ["x:1@2026-11-20T10:00:00.000Z", "x:1@2026-11-20T10:20:00.000Z"],
        "the held-back score is emitted"
    );
}
