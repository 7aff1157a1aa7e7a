//! FacialMMT presets and the reference's configuration as parity fixtures state it.

use erc_core::bert::FeedForwardActivation;
use erc_core::frame_filter::FerMode;
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_text::{Family, TransformerConfig};
use serde::Deserialize;

use super::{FacialMmtConfig, Separator, TextBranch};

impl FacialMmtConfig {
    /// The paper's fusion network (FacialMMT-RoBERTa widths: `d = 768`, 12 heads, FFN 3072,
    /// 5 audio and 2 vision layers, 2 + 2 cross-modal layers, `T = 38`) over frozen
    /// RoBERTa-large token features (1024-d). The reference fine-tunes the PLM end to end;
    /// this preset reads precomputed token vectors instead (see docs/models/facialmmt.md).
    /// Cross-modal key masking is off, as in the reference. `A_max`/`V_max` come from the data.
    pub fn paper() -> Self {
        Self {
            width: 768,
            heads: 12,
            d_ff: 3072,
            layer_norm_eps: 1e-12,
            dropout: 0.1,
            audio_layers: 5,
            vision_layers: 2,
            text_len: 38,
            audio_len: 1,
            vision_len: 1,
            audio_dim: 768,
            face_dim: 512,
            fer_classes: 7,
            fer_hidden: 64,
            cmt_ta_layers: 2,
            cmt_ta_heads: 12,
            cmt_tav_layers: 2,
            cmt_tav_heads: 12,
            cmt_d_ff: 3072,
            cmt_attention_dropout: 0.1,
            cmt_layer_norm_eps: 1e-5,
            cmt_key_padding: false,
            fer_threshold: 0.2,
            fer_mode: FerMode::Softmax,
            text: TextBranch::Features { dim: 1024 },
            num_classes: 7,
        }
    }

    /// The reference's optimisation of the main task: AdamW 7e-6, weight decay 0.01, 10 %
    /// linear warm-up then linear decay, clip 0.8 (on unscaled gradients, spec B4), 1 epoch.
    /// The reference's batch is 1 utterance with 4-step accumulation; ours is 1 dialogue.
    pub fn paper_training() -> TrainingPreset {
        TrainingPreset {
            optimizer: OptimizerKind::AdamW,
            lr: 7e-6,
            weight_decay: 0.01,
            epochs: 1,
            batch_size: 1,
            grad_clip_norm: Some(0.8),
            schedule: LrSchedule::LinearWarmupDecay { warmup_steps: 250 },
            patience: None,
        }
    }

    /// The CPU-sized variant of spec §8.2: `d = 256`, 4 heads, FFN 1024, 2 audio and 1
    /// vision layers, one cross-modal layer per stage, over MiniLM token features (384-d),
    /// with cross-modal key masking on (our default: outputs do not depend on padding).
    pub fn small() -> Self {
        Self {
            width: 256,
            heads: 4,
            d_ff: 1024,
            audio_layers: 2,
            vision_layers: 1,
            cmt_ta_layers: 1,
            cmt_ta_heads: 4,
            cmt_tav_layers: 1,
            cmt_tav_heads: 4,
            cmt_d_ff: 1024,
            cmt_key_padding: true,
            text: TextBranch::Features { dim: 384 },
            ..Self::paper()
        }
    }

    /// Optimisation of the small variant: AdamW 1e-4, weight decay 0.01, 10 % warm-up over
    /// an assumed 100 steps, clip 0.8, 2 dialogues per batch, 15 epochs, patience 5.
    pub fn small_training() -> TrainingPreset {
        TrainingPreset {
            optimizer: OptimizerKind::AdamW,
            lr: 1e-4,
            weight_decay: 0.01,
            epochs: 15,
            batch_size: 2,
            grad_clip_norm: Some(0.8),
            schedule: LrSchedule::LinearWarmupDecay { warmup_steps: 100 },
            patience: Some(5),
        }
    }

    /// The configuration a parity fixture (or `presets.json`) states, under the reference's
    /// argument names; `plm` (a RoBERTa/BERT config object) selects the PLM branch.
    pub fn from_reference(config: &serde_json::Value) -> Result<Self, String> {
        let r: ReferenceConfig = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let text = match &r.plm {
            Some(plm) => {
                let family = match plm.model_type.as_str() {
                    "roberta" => Family::Roberta,
                    "bert" => Family::Bert,
                    other => return Err(format!("plm.model_type `{other}` (roberta or bert)")),
                };
                let activation = FeedForwardActivation::from_hf_name(&plm.hidden_act)
                    .ok_or_else(|| format!("plm.hidden_act `{}`", plm.hidden_act))?;
                TextBranch::Plm {
                    transformer: TransformerConfig {
                        family,
                        vocab_size: plm.vocab_size,
                        hidden_size: plm.hidden_size,
                        num_layers: plm.num_hidden_layers,
                        num_heads: plm.num_attention_heads,
                        intermediate_size: plm.intermediate_size,
                        activation,
                        layer_norm_eps: plm.layer_norm_eps,
                        max_position_embeddings: plm.max_position_embeddings,
                        type_vocab_size: plm.type_vocab_size,
                        pad_token_id: plm.pad_token_id,
                        dropout: plm.hidden_dropout_prob,
                    },
                    separator: if family == Family::Roberta { Separator::Roberta } else { Separator::Bert },
                }
            }
            None => TextBranch::Features { dim: 1024 },
        };
        if (r.tau - 1.0).abs() > 1e-12 {
            return Err(format!("tau = {} (only τ = 1 is implemented)", r.tau));
        }
        let config = Self {
            width: r.hidden_size,
            heads: r.num_attention_heads,
            d_ff: r.intermediate_size,
            layer_norm_eps: r.layer_norm_eps,
            dropout: r.hidden_dropout_prob,
            audio_layers: r.audio_utt_transformernum,
            vision_layers: r.vision_utt_transformernum,
            text_len: r.get_text_utt_max_lens,
            audio_len: r.get_audio_utt_max_lens,
            vision_len: r.get_vision_utt_max_lens,
            audio_dim: r.audio_feat_extr_dim,
            face_dim: r.vision_feat_extr_dim,
            fer_classes: 7,
            fer_hidden: 64,
            cmt_ta_layers: r.crossmodal_layers_ta,
            cmt_ta_heads: r.crossmodal_num_heads_ta,
            cmt_tav_layers: r.crossmodal_layers_ta_v,
            cmt_tav_heads: r.crossmodal_num_heads_ta_v,
            cmt_d_ff: r.cmt_ffn_dim.unwrap_or(4 * r.hidden_size),
            cmt_attention_dropout: r.crossmodal_attn_dropout_ta,
            cmt_layer_norm_eps: r.cmt_layer_norm_eps,
            cmt_key_padding: r.cmt_attn_mask,
            fer_threshold: r.facial_emo_impor_threshold,
            fer_mode: FerMode::Softmax,
            text,
            num_classes: r.num_labels,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Deserialize)]
struct ReferencePlm {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "gelu")]
    hidden_act: String,
    layer_norm_eps: f64,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    pad_token_id: usize,
    #[serde(default)]
    hidden_dropout_prob: f64,
}

fn gelu() -> String {
    "gelu".into()
}

#[derive(Debug, Deserialize)]
struct ReferenceConfig {
    num_labels: usize,
    hidden_size: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_dropout_prob: f64,
    layer_norm_eps: f64,
    #[serde(rename = "audio_utt_Transformernum")]
    audio_utt_transformernum: usize,
    #[serde(rename = "vision_utt_Transformernum")]
    vision_utt_transformernum: usize,
    #[serde(rename = "crossmodal_layers_TA")]
    crossmodal_layers_ta: usize,
    #[serde(rename = "crossmodal_num_heads_TA")]
    crossmodal_num_heads_ta: usize,
    #[serde(rename = "crossmodal_attn_dropout_TA")]
    crossmodal_attn_dropout_ta: f64,
    #[serde(rename = "crossmodal_layers_TA_V")]
    crossmodal_layers_ta_v: usize,
    #[serde(rename = "crossmodal_num_heads_TA_V")]
    crossmodal_num_heads_ta_v: usize,
    #[serde(rename = "audio_featExtr_dim")]
    audio_feat_extr_dim: usize,
    #[serde(rename = "vision_featExtr_dim")]
    vision_feat_extr_dim: usize,
    get_text_utt_max_lens: usize,
    get_audio_utt_max_lens: usize,
    get_vision_utt_max_lens: usize,
    tau: f64,
    #[serde(rename = "FacialEmoImpor_threshold")]
    facial_emo_impor_threshold: f32,
    #[serde(default)]
    cmt_ffn_dim: Option<usize>,
    #[serde(default = "fairseq_eps")]
    cmt_layer_norm_eps: f64,
    #[serde(default)]
    cmt_attn_mask: bool,
    #[serde(default)]
    plm: Option<ReferencePlm>,
}

fn fairseq_eps() -> f64 {
    1e-5
}
