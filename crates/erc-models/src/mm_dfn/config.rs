//! MM-DFN's configuration and its preset table.

use erc_core::Preset;
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use serde::{Deserialize, Serialize};

/// IEMOCAP focal-loss class weights of the reference: `1 / train prior` for hap, sad, neu,
/// ang, exc, fru, as float32.
pub const IEMOCAP_CLASS_WEIGHTS: [f32; 6] = [11.527776, 6.92492, 4.388217, 6.2272315, 7.830179, 3.9577627];

/// Weight of the speaker-level context added to each modality (`w_a-w_v-w_l` in the paper's
/// scripts). A zero weight skips that modality's speaker pass (its contribution is zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpeakerWeights {
    /// Audio.
    pub audio: f64,
    /// Visual.
    pub visual: f64,
    /// Text.
    pub text: f64,
}

/// Configuration of [`MmDfn`](crate::mm_dfn::MmDfn). Field names follow the spec; the presets hold the paper's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmDfnConfig {
    /// Modalities to read: initials (`["avl"]`, `["al"]`, `["l"]`) or names. `None`: all three.
    pub modalities: Option<Vec<String>>,
    /// `D_e`: hidden size of each GRU direction; projections and node features are `2·D_e` wide.
    pub encoder_hidden: usize,
    /// Hidden size of the fusion stack (`graph_h`).
    pub graph_hidden: usize,
    /// Depth `L` of the fusion stack (`Deep_GCN_nlayers`).
    pub gdf_layers: usize,
    /// Dropout rate at every site.
    pub dropout: f64,
    /// GCNII initial-residual weight α.
    pub alpha: f64,
    /// GCNII identity-mapping strength λ.
    pub lambda: f64,
    /// Speaker-context weights.
    pub speaker_weights: SpeakerWeights,
    /// Scale of cross-modal edges.
    pub modal_weight: f64,
    /// Focal-loss γ.
    pub gamma: f64,
    /// Focal-loss class weights (a plain multiplier; `None`: all 1).
    pub class_weights: Option<Vec<f32>>,
}

impl MmDfnConfig {
    /// The IEMOCAP setting of the reference's single-config script (`85a75a3`): depth 16,
    /// dropout 0.4, γ 0.5, speaker weights 3-0-1, class-weighted loss.
    pub fn iemocap() -> Self {
        Self {
            modalities: Some(vec!["avl".into()]),
            encoder_hidden: 100,
            graph_hidden: 100,
            gdf_layers: 16,
            dropout: 0.4,
            alpha: 0.2,
            lambda: 0.5,
            speaker_weights: SpeakerWeights { audio: 3.0, visual: 0.0, text: 1.0 },
            modal_weight: 1.0,
            gamma: 0.5,
            class_weights: Some(IEMOCAP_CLASS_WEIGHTS.to_vec()),
        }
    }

    /// The MELD setting of the same script: depth 32, dropout 0.4, γ 1, speaker weights
    /// 0.5-0.5-1.5, no class weights.
    pub fn meld() -> Self {
        Self {
            gdf_layers: 32,
            gamma: 1.0,
            speaker_weights: SpeakerWeights { audio: 0.5, visual: 0.5, text: 1.5 },
            class_weights: None,
            ..Self::iemocap()
        }
    }

    /// The optimiser settings of the IEMOCAP preset: Adam, lr 3e-4, L2 1e-4, 30 epochs of 32
    /// dialogues, no clipping.
    pub fn iemocap_training() -> TrainingPreset {
        TrainingPreset {
            optimizer: OptimizerKind::Adam,
            lr: 3e-4,
            weight_decay: 1e-4,
            epochs: 30,
            batch_size: 32,
            grad_clip_norm: None,
            schedule: LrSchedule::Constant,
            patience: None,
        }
    }

    /// The optimiser settings of the MELD preset: Adam, lr 1e-3, L2 5e-4, 30 epochs of 32.
    pub fn meld_training() -> TrainingPreset {
        TrainingPreset { lr: 1e-3, weight_decay: 5e-4, ..Self::iemocap_training() }
    }
}

impl Default for MmDfnConfig {
    fn default() -> Self {
        Self::iemocap()
    }
}

/// `*-text`: a preset's settings reading the text modality alone (datasets from `erc featurize`).
fn text_only(config: MmDfnConfig) -> MmDfnConfig {
    MmDfnConfig { modalities: Some(vec!["l".into()]), ..config }
}

/// The presets, default first: the reference's IEMOCAP and MELD settings, and each on text alone.
pub const PRESETS: &[Preset<MmDfnConfig>] = &[
    Preset { name: "iemocap", make: || (MmDfnConfig::iemocap(), MmDfnConfig::iemocap_training()) },
    Preset { name: "meld", make: || (MmDfnConfig::meld(), MmDfnConfig::meld_training()) },
    Preset { name: "iemocap-text", make: || (text_only(MmDfnConfig::iemocap()), MmDfnConfig::iemocap_training()) },
    Preset { name: "meld-text", make: || (text_only(MmDfnConfig::meld()), MmDfnConfig::meld_training()) },
];
