//! The sentence encoder (all-MiniLM-L6-v2 from `../shared/models`) on MELD's test utterances
//! (2,610 texts of MELD's real lengths), batch 64, length-bucketed, normalised vectors, on every
//! compiled backend. Throughput in sentences/s; compare with sentence-transformers on the same
//! machine (`benches/reference/sentence_transformers_speed.py`).
//!
//! ```text
//! cargo bench --bench text_encoder
//! ```
//! Without `--bench` (as `cargo test --all-targets` runs it) only the first 64 texts are
//! encoded: a smoke test, not a measurement.

mod common;

use common::shared_dir;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erc::data::transcripts::read_transcripts;
use erc::text::SentenceEncoder;

fn meld_test_texts() -> Vec<String> {
    let path = shared_dir().join("data/meld.jsonl");
    let dialogues = read_transcripts(&path).unwrap_or_else(|e| panic!("{e}: the benchmarks read ../shared/data"));
    dialogues
        .into_iter()
        .filter(|(_, d)| d.split.as_deref() == Some("test"))
        .flat_map(|(_, d)| d.utterances.into_iter().map(|u| u.text))
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut texts = meld_test_texts();
    if !std::env::args().any(|a| a == "--bench") {
        texts.truncate(64);
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("minilm-meld-test");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.sample_size(10);
    for backend in common::bench_backends() {
        let device = backend.device().unwrap();
        let encoder =
            SentenceEncoder::load(&shared_dir().join("models/all-MiniLM-L6-v2"), &device).unwrap().with_batch_size(64);
        group.bench_function(format!("{backend}/encode-batch64"), |b| b.iter(|| encoder.encode(&texts).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
