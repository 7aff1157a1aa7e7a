//! FacialMMT's configuration, its preset table, and the fitting of a configuration to a dataset.

use erc_core::attention::CrossModalTransformerConfig;
use erc_core::encoder::{BertLayerConfig, FeedForwardActivation, KeyMasking};
use erc_core::filter::FerMode;
use erc_core::sequences::{AUDIO_FRAMES, FACES, TEXT_TOKENS, sequence_shape};
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_core::{DataSpec, ModelError, Preset};
use erc_text::TransformerConfig;
use serde::{Deserialize, Serialize};

use crate::facialmmt::text::Separator;

/// The sequence modalities FacialMMT reads (each with its `_mask`).
pub const SEQUENCE_MODALITIES: [&str; 3] = [TEXT_TOKENS, AUDIO_FRAMES, FACES];

/// Where the text rows come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TextBranch {
    /// The pre-trained language model inside the model, run over the whole dialogue's tokens
    /// (the reference; used to import its checkpoints and for parity).
    Plm {
        /// The transformer's sizes.
        transformer: TransformerConfig,
        /// How utterances are joined.
        separator: Separator,
    },
    /// Precomputed token vectors of each utterance's span (`[T, dim]`, a frozen encoder run
    /// once over the dialogue), projected by `text_linear`.
    Features {
        /// Width of the token vectors.
        dim: usize,
    },
}

/// Every size and switch of a [`FacialMmt`](crate::facialmmt::FacialMmt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacialMmtConfig {
    /// Fusion width `d` (768 in the paper).
    pub width: usize,
    /// Heads of the frame encoders.
    pub heads: usize,
    /// Feed-forward width of the frame encoders.
    pub d_ff: usize,
    /// LayerNorm epsilon of the frame encoders (1e-12).
    pub layer_norm_eps: f64,
    /// Dropout of the frame encoders (attention and residual) and before the classifier.
    pub dropout: f64,
    /// Audio encoder layers (5).
    pub audio_layers: usize,
    /// Vision encoder layers (2).
    pub vision_layers: usize,
    /// Text rows per utterance `T` (38).
    pub text_len: usize,
    /// Audio frames per utterance `A_max`.
    pub audio_len: usize,
    /// Faces per utterance `V_max`.
    pub vision_len: usize,
    /// Width of an audio frame (768 for wav2vec2-base).
    pub audio_dim: usize,
    /// Width of a face embedding (512 for InceptionResNetV1).
    pub face_dim: usize,
    /// Facial-expression classes (7, MELD's order).
    pub fer_classes: usize,
    /// Hidden width of the facial-expression head (64).
    pub fer_hidden: usize,
    /// Layers of the text ↔ audio cross-modal transformer.
    pub cmt_ta_layers: usize,
    /// Its heads.
    pub cmt_ta_heads: usize,
    /// Layers of the (text+audio) ↔ vision cross-modal transformer.
    pub cmt_tav_layers: usize,
    /// Its heads.
    pub cmt_tav_heads: usize,
    /// Feed-forward width of both cross-modal transformers (`4d`).
    pub cmt_d_ff: usize,
    /// Attention-weight dropout of both (0.1).
    pub cmt_attention_dropout: f64,
    /// LayerNorm epsilon of both (1e-5).
    pub cmt_layer_norm_eps: f64,
    /// Mask padded keys in the cross-modal transformers. The reference does not (its outputs
    /// depend on the padded lengths); `false` reproduces it.
    pub cmt_key_padding: bool,
    /// A face is kept when `Σ p² >` this (0.2).
    pub fer_threshold: f32,
    /// Softmax (deterministic) or seeded Gumbel-softmax distributions.
    pub fer_mode: FerMode,
    /// The text branch.
    pub text: TextBranch,
    /// Emotion classes (7).
    pub num_classes: usize,
}

impl FacialMmtConfig {
    /// The frame encoders' layer: post-LN, exact GELU, keys masked by adding −10000.
    pub(crate) fn frame_layer(&self) -> BertLayerConfig {
        BertLayerConfig {
            width: self.width,
            heads: self.heads,
            d_ff: self.d_ff,
            layer_norm_eps: self.layer_norm_eps,
            dropout: self.dropout,
            activation: FeedForwardActivation::Gelu,
            masking: KeyMasking::Additive(-10000.0),
        }
    }

    pub(crate) fn cmt(&self, layers: usize, heads: usize) -> CrossModalTransformerConfig {
        CrossModalTransformerConfig {
            width: self.width,
            heads,
            layers,
            d_ff: self.cmt_d_ff,
            attention_dropout: self.cmt_attention_dropout,
            layer_norm_eps: self.cmt_layer_norm_eps,
            key_padding: self.cmt_key_padding,
        }
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<(), String> {
        let heads_ok = |h: usize| h > 0 && self.width.is_multiple_of(h);
        if !heads_ok(self.heads) || !heads_ok(self.cmt_ta_heads) || !heads_ok(self.cmt_tav_heads) {
            return Err(format!("every head count must divide the width {}", self.width));
        }
        if self.text_len == 0 || self.audio_len == 0 || self.vision_len == 0 {
            return Err("text_len, audio_len and vision_len must be positive".into());
        }
        if self.num_classes == 0 || self.fer_classes == 0 {
            return Err("num_classes and fer_classes must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.dropout) || !(0.0..=1.0).contains(&self.cmt_attention_dropout) {
            return Err("dropout probabilities must lie in [0, 1]".into());
        }
        Ok(())
    }

    /// The same configuration with every dropout off (parity runs in eval mode).
    pub fn without_dropout(mut self) -> Self {
        self.dropout = 0.0;
        self.cmt_attention_dropout = 0.0;
        if let TextBranch::Plm { transformer, .. } = &mut self.text {
            transformer.dropout = 0.0;
        }
        self
    }
}

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
}

impl FacialMmtConfig {
    /// The configuration with the padded lengths and input widths a dataset fixes: `T`,
    /// `A_max`, `V_max`, the token, frame and face widths. Errors name what is missing.
    pub fn fitted_to(&self, spec: &DataSpec) -> Result<Self, ModelError> {
        let text = sequence_shape(spec, TEXT_TOKENS)?;
        let audio = sequence_shape(spec, AUDIO_FRAMES)?;
        let faces = sequence_shape(spec, FACES)?;
        if !matches!(self.text, TextBranch::Features { .. }) {
            return Err(ModelError::InvalidConfig(
                "training on a dataset needs the token-feature text branch (`text.kind = features`)".into(),
            ));
        }
        if spec.num_classes() != self.num_classes {
            return Err(ModelError::InvalidConfig(format!(
                "the data has {} classes, the configuration {}",
                spec.num_classes(),
                self.num_classes
            )));
        }
        Ok(Self {
            text_len: text.frames,
            text: TextBranch::Features { dim: text.width },
            audio_len: audio.frames,
            audio_dim: audio.width,
            vision_len: faces.frames,
            face_dim: faces.width,
            ..self.clone()
        })
    }
}

/// The presets, default first: a small network for this machine, and the paper's widths.
pub const PRESETS: &[Preset<FacialMmtConfig>] = &[
    Preset { name: "small", make: || (FacialMmtConfig::small(), FacialMmtConfig::small_training()) },
    Preset { name: "paper", make: || (FacialMmtConfig::paper(), FacialMmtConfig::paper_training()) },
];
