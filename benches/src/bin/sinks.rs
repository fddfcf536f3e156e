//! Rows/s of each store-backed sink on enriched posts, next to a raw client
//! baseline that writes the same rows to the same server in the same run:
//!
//! - clickhouse: the rows the sink wrote, exported as RowBinary (the sink's
//!   wire format) and inserted with `clickhouse-client` into a copy of the
//!   table; Native (columnar, cheaper for the server to parse) is printed too;
//! - postgres: the same, with `COPY … (FORMAT binary)` through `psql` into a
//!   copy of the table with the same indexes;
//! - mongodb: the documents the sink wrote, `insert_many` in the sink's
//!   batch size into a collection with the same indexes (a bare driver loop);
//! - neo4j: the same post properties, `UNWIND $rows AS r CREATE (p) SET p = r`
//!   1,000 rows per transaction (a bare driver loop, no MERGE, no edges).
//!
//! The servers are the ones `make services` starts. Each run uses a fresh
//! database (schema, platform) and drops it afterwards.
//!
//! usage: sinks [--records N] [--only clickhouse,postgres,mongodb,neo4j]

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures_util::TryStreamExt;
use socialpipe::tools::generate::PostGenerator;
use socialpipe_processors::entities::{EntitiesConfig, EntitiesStage};
use socialpipe_schemas::{Envelope, Processor, parse_raw_post};
use socialpipe_sinks::SinkKind;

const PASSWORD: &str = "playwithdata";

/// `records` posts as the stages leave them: entities, sentiment, a 384-float embedding.
async fn enriched_posts(records: usize, platform_suffix: &str) -> Vec<Envelope> {
    let mut generator = PostGenerator::new(7, 2_000);
    let mut posts = Vec::with_capacity(records);
    while posts.len() < records {
        let mut raw = generator.next_post();
        // A platform of this run's own keeps the graph runs apart.
        let platform = format!("{}{platform_suffix}", raw["platform"].as_str().unwrap_or("x"));
        raw["platform"] = platform.into();
        if let Ok(post) = parse_raw_post(raw.to_string().as_bytes()) {
            posts.push(post.into_envelope("bench"));
        }
    }
    let mut stage = EntitiesStage::new(EntitiesConfig::default()).unwrap();
    let mut enriched = Vec::with_capacity(records);
    for chunk in posts.chunks(10_000) {
        for result in stage.process(chunk.to_vec()).await {
            let mut envelope = result.map_err(|f| f.error.reason).expect("entities never fail on valid posts");
            let seed = envelope.id.len() as f32;
            envelope.enrichments.insert(
                "sentiment".into(),
                serde_json::json!({"label": "positive", "compound": 0.42, "neg": 0.0, "neu": 0.6, "pos": 0.4}),
            );
            let embedding: Vec<f32> = (0..384).map(|i| ((i as f32 + seed) * 0.37).sin() / 20.0).collect();
            envelope.enrichments.insert("embedding".into(), serde_json::json!(embedding));
            enriched.push(envelope);
        }
    }
    enriched
}

/// Writes `posts` through the sink in batches of `batch`; rows/s.
async fn through_sink(kind: &SinkKind, posts: &[Envelope], batch: usize) -> Result<f64> {
    kind.component().migrate().await.map_err(|e| anyhow::anyhow!(e.reason))?;
    let mut sink = kind.component().build().await.map_err(|e| anyhow::anyhow!(e.reason))?;
    let started = Instant::now();
    for chunk in posts.chunks(batch) {
        let report = sink.write(chunk).await.map_err(|e| anyhow::anyhow!(e.reason))?;
        if !report.rejected.is_empty() {
            bail!("the sink refused {} records: {}", report.rejected.len(), report.rejected[0].1.reason);
        }
    }
    Ok(posts.len() as f64 / started.elapsed().as_secs_f64())
}

fn sh(script: &str) -> Result<()> {
    let status = Command::new("bash").args(["-c", script]).stdout(Stdio::null()).status()?;
    if !status.success() {
        bail!("failed: {script}");
    }
    Ok(())
}

/// Runs `script` and returns rows/s for `rows` rows.
fn timed(script: &str, rows: usize) -> Result<f64> {
    let started = Instant::now();
    sh(script)?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

async fn clickhouse(posts: &[Envelope], db: &str, dir: &std::path::Path) -> Result<(f64, f64)> {
    let kind: SinkKind = toml::from_str(&format!(
        "type = \"clickhouse\"\nurl = \"http://127.0.0.1:8123\"\ndatabase = \"{db}\"\ncompression = false"
    ))?;
    let sink = through_sink(&kind, posts, 50_000).await?;
    let client = "clickhouse-client --host 127.0.0.1 --port 9000";
    let mut raw = Vec::new();
    for format in ["RowBinary", "Native"] {
        let file = dir.join(format!("posts.{format}"));
        sh(&format!(
            "{client} --query 'SELECT * FROM {db}.posts FORMAT {format}' > {f} && \
             {client} --query 'CREATE TABLE {db}.baseline_{format} AS {db}.posts'",
            f = file.display()
        ))?;
        raw.push(timed(
            &format!(
                "{client} --max_insert_block_size=50000 --query 'INSERT INTO {db}.baseline_{format} FORMAT {format}' < {}",
                file.display()
            ),
            posts.len(),
        )?);
    }
    println!("(clickhouse-client Native: {:.0} rows/s)", raw[1]);
    let raw = raw[0];
    sh(&format!("{client} --query 'DROP DATABASE {db}'"))?;
    Ok((sink, raw))
}

async fn postgres(posts: &[Envelope], schema: &str, dir: &std::path::Path) -> Result<(f64, f64)> {
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let kind: SinkKind = toml::from_str(&format!("type = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\""))?;
    let sink = through_sink(&kind, posts, 10_000).await?;
    let file = dir.join("posts.copy");
    sh(&format!(
        "psql -q {url} -c \"\\copy (SELECT * FROM {schema}.posts) TO '{f}' WITH (FORMAT binary)\" && \
         psql -q {url} -c 'CREATE TABLE {schema}.baseline (LIKE {schema}.posts INCLUDING ALL)'",
        f = file.display()
    ))?;
    let raw = timed(
        &format!("psql -q {url} -c \"\\copy {schema}.baseline FROM '{}' WITH (FORMAT binary)\"", file.display()),
        posts.len(),
    )?;
    sh(&format!("PGOPTIONS='--client-min-messages=warning' psql -q {url} -c 'DROP SCHEMA {schema} CASCADE'"))?;
    Ok((sink, raw))
}

async fn mongodb(posts: &[Envelope], db: &str) -> Result<(f64, f64)> {
    use mongodb::bson::{Document, doc};
    let uri = format!("mongodb://127.0.0.1:27017/{db}?directConnection=true");
    let kind: SinkKind = toml::from_str(&format!("type = \"mongodb\"\nuri = \"{uri}\""))?;
    let sink = through_sink(&kind, posts, 10_000).await?;
    let database = mongodb::Client::with_uri_str(&uri).await?.database(db);
    let documents: Vec<Document> = database.collection::<Document>("posts").find(doc! {}).await?.try_collect().await?;
    let baseline = database.collection::<Document>("baseline");
    // The posts collection's indexes (from the sink's migrations), on the baseline.
    let commands = socialpipe_sinks::mongodb::MIGRATIONS.iter().flat_map(|m| m.script.lines());
    for command in commands.filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        if command["createIndexes"] == "posts" {
            let mut command = command.clone();
            command["createIndexes"] = "baseline".into();
            let mongodb::bson::Bson::Document(command) = mongodb::bson::Bson::try_from(command)? else { continue };
            database.run_command(command).await?;
        }
    }
    let started = Instant::now();
    for chunk in documents.chunks(10_000) {
        baseline.insert_many(chunk).await?;
    }
    let raw = documents.len() as f64 / started.elapsed().as_secs_f64();
    database.drop().await?;
    Ok((sink, raw))
}

async fn neo4j(posts: &[Envelope]) -> Result<(f64, f64)> {
    use neo4rs::{BoltType, query};
    let kind: SinkKind = toml::from_str(&format!(
        "type = \"neo4j\"\nuri = \"bolt://127.0.0.1:7687\"\nuser = \"root\"\npassword = \"{PASSWORD}\"\ndatabase = \"kol\""
    ))?;
    let sink = through_sink(&kind, posts, 10_000).await?;
    let config = neo4rs::ConfigBuilder::default()
        .uri("bolt://127.0.0.1:7687")
        .user("root")
        .password(PASSWORD)
        .db("kol")
        .build()?;
    let graph = neo4rs::Graph::connect(config).await?;
    let rows: Vec<std::collections::HashMap<String, BoltType>> = posts
        .iter()
        .map(|e| {
            let post = socialpipe_schemas::PostPayload::from_envelope(e).expect("a post");
            [
                ("id", BoltType::from(e.id.clone())),
                ("platform", post.platform.clone().into()),
                ("text", post.text.clone().into()),
                ("created_at", post.created_at.to_rfc3339().into()),
                ("likes", (post.metrics.likes.unwrap_or(0).min(i64::MAX as u64) as i64).into()),
                ("enrichments", socialpipe_sinks::batch::enrichments_json_except_embedding(e).into()),
                ("version", e.version.into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        })
        .collect();
    let started = Instant::now();
    // 1,000 rows per statement keeps a message under Bolt's 16 MiB.
    for chunk in rows.chunks(1_000) {
        let mut txn = graph.start_txn().await?;
        txn.run(query("UNWIND $rows AS r CREATE (p:BaselinePost) SET p = r").param("rows", chunk.to_vec())).await?;
        txn.commit().await?;
    }
    let raw = rows.len() as f64 / started.elapsed().as_secs_f64();
    let mut txn = graph.start_txn().await?;
    txn.run(query("MATCH (p:BaselinePost) DETACH DELETE p")).await?;
    txn.commit().await?;
    Ok((sink, raw))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut records = 100_000;
    let mut only: Vec<String> = ["clickhouse", "postgres", "mongodb", "neo4j"].map(String::from).to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().context("--records N")?.parse()?,
            "--only" => only = args.next().context("--only a,b")?.split(',').map(String::from).collect(),
            other => bail!("unknown argument {other}"),
        }
    }
    let run = format!("bench_{}", std::process::id());
    let dir = tempfile::tempdir()?;
    let posts = enriched_posts(records, &format!("_{run}")).await;
    println!("{records} enriched posts (entities, sentiment, 384-float embedding)");
    println!("{:<11} {:>12} {:>14} {:>7}", "sink", "sink rows/s", "raw rows/s", "ratio");
    for name in &only {
        let (sink, raw) = match name.as_str() {
            "clickhouse" => clickhouse(&posts, &run, dir.path()).await?,
            "postgres" => postgres(&posts, &run, dir.path()).await?,
            "mongodb" => mongodb(&posts, &run).await?,
            "neo4j" => neo4j(&posts).await?,
            other => bail!("unknown sink {other}"),
        };
        println!("{name:<11} {sink:>12.0} {raw:>14.0} {:>6.0}%", 100.0 * sink / raw);
    }
    Ok(())
}
