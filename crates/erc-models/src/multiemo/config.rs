//! MultiEMO's configuration and its preset table.

use erc_core::Preset;
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use serde::{Deserialize, Serialize};

/// The three modalities, in the reference's order.
pub const MODALITIES: [&str; 3] = ["text", "audio", "visual"];

/// How a modality's context is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextMode {
    /// No recurrence: the projection is the context (MELD text).
    None,
    /// A forward DialogueRNN, `h = ReLU(o_f)` (MELD audio and visual).
    Forward,
    /// Forward and backward DialogueRNNs, `h = ReLU(W[o_f; o_b] + b)` (IEMOCAP).
    Bidirectional,
}

/// Context mode per modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextModes {
    /// Text.
    pub text: ContextMode,
    /// Audio.
    pub audio: ContextMode,
    /// Visual.
    pub visual: ContextMode,
}

impl ContextModes {
    pub(crate) fn as_array(&self) -> [ContextMode; 3] {
        [self.text, self.audio, self.visual]
    }
}

/// Weights and settings of the three loss terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiEmoLossConfig {
    /// SWFC temperature τ (`temp_param`).
    pub temperature: f64,
    /// SWFC focusing exponent γ (`focus_param`).
    pub focus: f64,
    /// SWFC sample-weight exponent α (`sample_weight_param`).
    pub sample_weight: f64,
    /// λ of the SWFC term.
    pub swfc_weight: f64,
    /// λ of the Soft-HGR term.
    pub hgr_weight: f64,
    /// λ of the cross-entropy term.
    pub ce_weight: f64,
    /// Per-class counts for the SWFC class weights. `None`: the training split's counts
    /// (filled in by the trainer), or equal weights when those are unknown too.
    #[serde(default)]
    pub class_counts: Option<Vec<f64>>,
}

/// Configuration of [`MultiEmo`](crate::multiemo::MultiEmo). The presets hold the paper's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiEmoConfig {
    /// `d` (`model_dim`): width of projections, DialogueRNN states and fusion streams.
    pub d_model: usize,
    /// Attention heads (`num_heads`); `d` must be a multiple.
    pub heads: usize,
    /// Feed-forward width of the fusion layers (`hidden_dim`).
    pub d_ff: usize,
    /// Fusion layers per stack (`num_layers`).
    pub fusion_layers: usize,
    /// Hidden width of the classifier MLP.
    pub d_mlp: usize,
    /// Context model per modality.
    pub context: ContextModes,
    /// The loss.
    pub loss: MultiEmoLossConfig,
}

impl MultiEmoConfig {
    /// The IEMOCAP preset: bidirectional DialogueRNN on every modality, 6 fusion layers,
    /// τ 0.8, γ 2.4, α 1.1, λ (SWFC, HGR, CE) = (0.4, 0.4, 0.2).
    pub fn iemocap() -> Self {
        let bi = ContextMode::Bidirectional;
        Self {
            d_model: 256,
            heads: 4,
            d_ff: 1024,
            fusion_layers: 6,
            d_mlp: 256,
            context: ContextModes { text: bi, audio: bi, visual: bi },
            loss: MultiEmoLossConfig {
                temperature: 0.8,
                focus: 2.4,
                sample_weight: 1.1,
                swfc_weight: 0.4,
                hgr_weight: 0.4,
                ce_weight: 0.2,
                class_counts: None,
            },
        }
    }

    /// The MELD preset: no recurrence on text, forward DialogueRNN on audio and visual,
    /// 2 fusion layers, MLP width 512, τ 1.4, γ 2.0, α 1.2, λ = (0.3, 0.3, 0.4).
    pub fn meld() -> Self {
        Self {
            fusion_layers: 2,
            d_mlp: 512,
            context: ContextModes {
                text: ContextMode::None,
                audio: ContextMode::Forward,
                visual: ContextMode::Forward,
            },
            loss: MultiEmoLossConfig {
                temperature: 1.4,
                focus: 2.0,
                sample_weight: 1.2,
                swfc_weight: 0.3,
                hgr_weight: 0.3,
                ce_weight: 0.4,
                class_counts: None,
            },
            ..Self::iemocap()
        }
    }

    /// The reference's IEMOCAP optimisation: Adam (L2 1e-5), lr 1e-4, 100 epochs of 64
    /// dialogues, LR × 0.95 after 10 epochs without improvement, no clipping.
    pub fn iemocap_training() -> TrainingPreset {
        TrainingPreset {
            optimizer: OptimizerKind::Adam,
            lr: 1e-4,
            weight_decay: 1e-5,
            epochs: 100,
            batch_size: 64,
            grad_clip_norm: None,
            schedule: LrSchedule::Plateau { factor: 0.95, patience: 10, min_lr: 0.0 },
            patience: None,
        }
    }

    /// The reference's MELD optimisation: as IEMOCAP, 15 epochs of 100 dialogues.
    pub fn meld_training() -> TrainingPreset {
        TrainingPreset { epochs: 15, batch_size: 100, ..Self::iemocap_training() }
    }
}

impl Default for MultiEmoConfig {
    fn default() -> Self {
        Self::iemocap()
    }
}

/// The presets, default first: the reference's IEMOCAP and MELD settings.
pub const PRESETS: &[Preset<MultiEmoConfig>] = &[
    Preset { name: "iemocap", make: || (MultiEmoConfig::iemocap(), MultiEmoConfig::iemocap_training()) },
    Preset { name: "meld", make: || (MultiEmoConfig::meld(), MultiEmoConfig::meld_training()) },
];
