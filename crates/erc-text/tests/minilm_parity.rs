//! all-MiniLM-L6-v2 against the sentence-transformers reference fixture
//! (`../shared/fixtures/minilm/embeddings.*`, 200 sentences incl. empty, 600-token, emoji and
//! control-character texts): token ids exact, normalised vectors within 1e-5, token vectors
//! within 1e-4 — the bounds the fixture states.

use std::path::PathBuf;

use erc_core::BackendKind;
use erc_text::SentenceEncoder;
use erc_text::parity::{EncoderFixture, compare};

fn shared() -> PathBuf {
    let base = std::env::var_os("ERC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        base.is_dir(),
        "{} is missing: the encoder and its fixture live in ../shared (set ERC_SHARED_DIR)",
        base.display()
    );
    base
}

#[test]
fn minilm_reproduces_sentence_transformers_on_every_compiled_cpu_backend() {
    let fixture = EncoderFixture::read(&shared().join("fixtures/minilm/embeddings.json")).unwrap();
    assert_eq!(fixture.sentences.len(), 200);
    for backend in [BackendKind::Flex, BackendKind::Ndarray].into_iter().filter(|b| b.is_compiled()) {
        let device = backend.device().unwrap();
        let encoder = SentenceEncoder::load(&shared().join("models/all-MiniLM-L6-v2"), &device).unwrap();
        assert_eq!(encoder.sentence_config().max_seq_length, 256);
        assert!(encoder.sentence_config().normalize);
        let report = compare(&encoder, &fixture).unwrap();
        println!("{backend:?}: {report:?}");
        assert_eq!(report.token_mismatches, Vec::<usize>::new(), "token ids differ");
        assert!(report.passes(&fixture.bounds), "{backend:?}: {report:?} vs {:?}", fixture.bounds);
    }
}
