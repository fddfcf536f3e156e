//! Appending to and reading from the embedded log in batches of 1000
//! envelope-sized messages, against writing the same bytes to a plain file
//! (the reference: what durability and indexing cost on top).

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use socialpipe::runtime::transport::embedded::{EmbeddedConfig, EmbeddedLog};
use socialpipe::runtime::transport::{Membership, Outgoing, Transport};
use socialpipe::tools::generate::PostGenerator;
use socialpipe_schemas::parse_raw_post;

fn messages() -> Vec<Outgoing> {
    let mut generator = PostGenerator::new(2, 500);
    (0..1000)
        .map(|_| {
            let bytes = serde_json::to_vec(&generator.next_post()).unwrap();
            let envelope = parse_raw_post(&bytes).unwrap().into_envelope("bench");
            Outgoing::new(envelope.key.clone(), envelope.to_bytes())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = messages();
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&EmbeddedConfig::new(dir.path())).unwrap();
    rt.block_on(log.create_topic("t", 4)).unwrap();
    let mut group = c.benchmark_group("log_1000_messages");
    group.throughput(Throughput::Elements(batch.len() as u64));
    let mut file = std::fs::File::create(dir.path().join("plain")).unwrap();
    group.bench_function("reference_plain_file_write", |b| {
        b.iter(|| {
            for m in &batch {
                file.write_all(&m.value).unwrap();
            }
            file.flush().unwrap();
        })
    });
    group.bench_function("embedded_send", |b| b.iter(|| rt.block_on(log.send("t", batch.clone())).unwrap()));
    let mut consumer = rt.block_on(log.subscribe("g", &["t".to_owned()], Membership::ALONE)).unwrap();
    group.bench_function("embedded_poll", |b| {
        b.iter(|| {
            let got = rt.block_on(consumer.poll(1000, std::time::Duration::ZERO)).unwrap();
            if got.is_empty() {
                rt.block_on(log.send("t", batch.clone())).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
