//! Entity extraction per post, against a plain whitespace split of the same
//! texts as the reference (the floor any tokeniser pays).

use criterion::{Criterion, criterion_group, criterion_main};
use socialpipe::tools::generate::PostGenerator;
use socialpipe_processors::entities::extract_entities;

fn texts() -> Vec<String> {
    let mut generator = PostGenerator::new(1, 100);
    (0..1000).map(|_| generator.next_post()["text"].as_str().unwrap().to_owned()).collect()
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let mut group = c.benchmark_group("entities_1000_posts");
    group.bench_function("reference_whitespace_split", |b| {
        b.iter(|| texts.iter().map(|t| t.split_whitespace().count()).sum::<usize>())
    });
    group.bench_function("extract_entities", |b| {
        b.iter(|| texts.iter().map(|t| extract_entities(t, true).hashtags.len()).sum::<usize>())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
