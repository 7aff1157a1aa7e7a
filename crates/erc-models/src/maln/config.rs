//! MALN's configuration and its preset table.

use erc_core::encoder::SpeakerRouting;
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_core::{ModelError, Preset};
use serde::{Deserialize, Serialize};

/// The three modalities, in the order the model stores them.
pub const MODALITIES: [&str; 3] = ["text", "audio", "visual"];

/// Which parts feed the unimodal heads and the fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FusionSource {
    /// The common parts `C^m` (the reference at HEAD).
    Common,
    /// The specific parts `S^m` (the reference's first upload, 7a977a7).
    Specific,
}

/// Weights of the four loss terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MalnLossWeights {
    /// The emotion NLL.
    pub task: f64,
    /// The sum of the three unimodal NLLs.
    pub uni: f64,
    /// The orthogonality loss.
    pub orth: f64,
    /// The adversarial (discriminator) cross-entropies.
    pub adv: f64,
}

/// Configuration of [`Maln`](crate::maln::Maln). Modality widths come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MalnConfig {
    /// Width of `S^m`, `C^m`, the fusion streams (`2·hidden` after fusion) and the classifier's
    /// hidden layer (100 in the reference). A multiple of `cross_heads`.
    pub hidden: usize,
    /// Width of `G^m`, the projected speaker characteristics (100).
    pub topic_dim: usize,
    /// Feed-forward width of the speaker-characteristic encoders (128).
    pub sclm_ffn: usize,
    /// Rows of their learned position tables: dialogues of up to `sclm_max_positions − 1`
    /// utterances (5000 in the reference).
    pub sclm_max_positions: usize,
    /// Dropout in the speaker-characteristic encoders (0.1).
    pub sclm_dropout: f64,
    /// Layers of the context bi-GRUs (2).
    pub gru_layers: usize,
    /// Dropout between GRU layers (0.5).
    pub gru_dropout: f64,
    /// Dropout on the context output `E^m` (0.5).
    pub context_dropout: f64,
    /// Dropout in the specific encoders (0.1).
    pub specific_dropout: f64,
    /// Dropout in the common encoders (0.3).
    pub common_dropout: f64,
    /// Hidden width of the modality discriminator (50).
    pub disc_hidden: usize,
    /// Dropout in the discriminator (0.1).
    pub disc_dropout: f64,
    /// Dropout of the fusion and the classifier heads (0.66).
    pub dropout: f64,
    /// Fusion layers (1).
    pub cross_layers: usize,
    /// Fusion attention heads (4).
    pub cross_heads: usize,
    /// Gradient-reversal factor λ (1).
    pub grl_lambda: f64,
    /// What feeds the unimodal heads and the fusion.
    pub fusion_source: FusionSource,
    /// Modalities whose specific part the discriminator is trained on (all three at HEAD,
    /// text only in the first upload).
    pub adv_specific: Vec<String>,
    /// How speaker characteristics reach the utterances.
    pub speaker_routing: SpeakerRouting,
    /// Loss weights.
    pub loss_weights: MalnLossWeights,
}

impl MalnConfig {
    /// The reference's IEMOCAP configuration (`train_MALN.py` defaults): widths 100, SCLM FFN
    /// 128 with 5000 positions, 1 fusion layer of 4 heads, dropout 0.66, common-part fusion,
    /// binary speaker routing, loss weights (1, 0.1, 5e-6, 0.01).
    pub fn iemocap() -> Self {
        Self {
            hidden: 100,
            topic_dim: 100,
            sclm_ffn: 128,
            sclm_max_positions: 5000,
            sclm_dropout: 0.1,
            gru_layers: 2,
            gru_dropout: 0.5,
            context_dropout: 0.5,
            specific_dropout: 0.1,
            common_dropout: 0.3,
            disc_hidden: 50,
            disc_dropout: 0.1,
            dropout: 0.66,
            cross_layers: 1,
            cross_heads: 4,
            grl_lambda: 1.0,
            fusion_source: FusionSource::Common,
            adv_specific: ["text", "visual", "audio"].iter().map(|m| m.to_string()).collect(),
            speaker_routing: SpeakerRouting::Binary,
            loss_weights: MalnLossWeights { task: 1.0, uni: 0.1, orth: 5e-6, adv: 0.01 },
        }
    }

    /// A MELD configuration (the reference has none): the IEMOCAP widths and losses, per-speaker
    /// routing (MELD has up to 9 parties; the binary rule only fits two) and a 256-row
    /// position table (MELD dialogues have at most 33 utterances).
    pub fn meld() -> Self {
        Self { speaker_routing: SpeakerRouting::PerSpeaker, sclm_max_positions: 256, ..Self::iemocap() }
    }

    /// The reference's optimisation: one Adam over everything (lr 4e-4, L2 3e-5), 60 epochs of
    /// 32 dialogues, constant rate, no clipping.
    pub fn iemocap_training() -> TrainingPreset {
        TrainingPreset {
            optimizer: OptimizerKind::Adam,
            lr: 4e-4,
            weight_decay: 3e-5,
            epochs: 60,
            batch_size: 32,
            grad_clip_norm: None,
            schedule: LrSchedule::Constant,
            patience: None,
        }
    }

    /// MELD optimisation (not released; ours): as IEMOCAP but 30 epochs, since an epoch has ten
    /// times the dialogues.
    pub fn meld_training() -> TrainingPreset {
        TrainingPreset { epochs: 30, ..Self::iemocap_training() }
    }

    /// This configuration with every dropout off (for parity with the reference in eval mode).
    pub fn without_dropout(mut self) -> Self {
        for p in [
            &mut self.sclm_dropout,
            &mut self.gru_dropout,
            &mut self.context_dropout,
            &mut self.specific_dropout,
            &mut self.common_dropout,
            &mut self.disc_dropout,
            &mut self.dropout,
        ] {
            *p = 0.0;
        }
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        let invalid = |m: String| Err(ModelError::InvalidConfig(m));
        if self.cross_heads == 0 || !self.hidden.is_multiple_of(self.cross_heads) || self.hidden == 0 {
            return invalid(format!(
                "hidden ({}) must be a positive multiple of cross_heads ({})",
                self.hidden, self.cross_heads
            ));
        }
        let sizes = [self.topic_dim, self.sclm_ffn, self.gru_layers, self.disc_hidden, self.cross_layers];
        if sizes.contains(&0) {
            return invalid("topic_dim, sclm_ffn, gru_layers, disc_hidden and cross_layers must be positive".into());
        }
        if self.sclm_max_positions < 2 {
            return invalid(format!("sclm_max_positions ({}) must be at least 2", self.sclm_max_positions));
        }
        let dropouts = [
            self.sclm_dropout,
            self.gru_dropout,
            self.context_dropout,
            self.specific_dropout,
            self.common_dropout,
            self.disc_dropout,
            self.dropout,
        ];
        if dropouts.iter().any(|p| !(0.0..1.0).contains(p)) {
            return invalid(format!("dropout probabilities must lie in [0, 1) (got {dropouts:?})"));
        }
        let w = self.loss_weights;
        if [w.task, w.uni, w.orth, w.adv, self.grl_lambda].iter().any(|v| !v.is_finite() || *v < 0.0) {
            return invalid(format!(
                "loss weights and grl_lambda must be finite and ≥ 0 (got {w:?}, {})",
                self.grl_lambda
            ));
        }
        if let Some(bad) = self.adv_specific.iter().find(|m| !MODALITIES.contains(&m.as_str())) {
            return invalid(format!("adv_specific names `{bad}`; use text, audio, visual"));
        }
        Ok(())
    }
}

impl Default for MalnConfig {
    fn default() -> Self {
        Self::iemocap()
    }
}

/// The presets, default first: the reference's IEMOCAP settings and our MELD adaptation.
pub const PRESETS: &[Preset<MalnConfig>] = &[
    Preset { name: "iemocap", make: || (MalnConfig::iemocap(), MalnConfig::iemocap_training()) },
    Preset { name: "meld", make: || (MalnConfig::meld(), MalnConfig::meld_training()) },
];
