//! MALN (Ren et al., IEEE TCSVT 2023): speaker-characteristic transformers and adversarial
//! decomposition of each modality into a common and a specific part, with text ↔ audio-visual
//! cross-attention fusion over the common parts.
//!
//! Per modality `m` (text, audio, visual): a 2-layer bidirectional GRU context `E^m`, and the
//! speaker-characteristic module (two CLS transformers over the raw features, routed to the
//! utterances by speaker and projected to `G^m`). `H^m = [E^m; G^m]` is split into a specific
//! part `S^m` and a common part `C^m` (one layer per modality, one shared). The fusion reads
//! `C^t` and `N = W[C^a; C^v]`; the classifier reads `F = [fusion; C^t + C^a + C^v]`.
//! Training adds unimodal heads on `C^m`, the orthogonality loss between the parts and a
//! modality discriminator on `S^m` and, through gradient reversal, on `C^m`.
//! See `docs/models/maln.md` and the implementation spec.
//!
//! Differences from the reference: by default padded steps are masked everywhere (GRU,
//! attention, losses), so a dialogue's outputs do not depend on its batch;
//! `reference_padding: true` reproduces the reference's padded computation. Model selection
//! is on validation (the reference selects on test).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use erc_core::decomposition::{
    CommonEncoder, ModalityDiscriminator, SpecificEncoder, modality_cross_entropy, orthogonality_loss,
};
use erc_core::dialogue_rnn::Speakers;
use erc_core::head::MlpHead;
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear, visit_in_order};
use erc_core::loss::masked_nll;
use erc_core::rnn::{MaskedBiGru, MaskedBiGruConfig, length_mask};
use erc_core::speaker_characteristics::{Characteristics, SpeakerCharacteristics, SpeakerRouting};
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_core::transformer::{CrossFusion, grad_reverse};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelOutput};
use serde::{Deserialize, Serialize};

use crate::registry::ModelFactory;

/// The three modalities, in the order the model stores them.
pub const MODALITIES: [&str; 3] = ["text", "audio", "visual"];

/// The reference's names of one modality's modules.
struct RefNames {
    /// SCLM prefix (`Text`, `Acoustic`, `Visual`).
    sclm: &'static str,
    /// Context GRU module (`TexGRU`, …).
    gru: &'static str,
    /// Suffix of `fc_*` (`text`, `audio`, `visual`).
    head: &'static str,
    /// Suffix of the feature extractors (`text`, `acoustic`, `visual`).
    extractor: &'static str,
    /// The discriminator's class (text 0, visual 1, audio 2).
    modality_id: usize,
}

/// Reference names in [`MODALITIES`] order.
const REF: [RefNames; 3] = [
    RefNames { sclm: "Text", gru: "TexGRU", head: "text", extractor: "text", modality_id: 0 },
    RefNames { sclm: "Acoustic", gru: "AcousticGRU", head: "audio", extractor: "acoustic", modality_id: 2 },
    RefNames { sclm: "Visual", gru: "VisualGRU", head: "visual", extractor: "visual", modality_id: 1 },
];

/// The modalities in the reference's usual order, which is also the discriminator's class order
/// (text, visual, audio), as indices into [`MODALITIES`].
const BY_MODALITY_ID: [usize; 3] = [0, 2, 1];

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

/// Sizes of the modules the reference creates but never runs; only the importer needs them
/// (a strict import checks their shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadModuleDims {
    /// Width of the (unused) COMET inputs: 768.
    pub comet_dim: usize,
    /// `SpeakerEmbedding` table `[rows, width]`: `[2, 100]`.
    pub speaker_embedding: [usize; 2],
    /// Classes of the context GRUs' unused `smax_fc`: 6.
    pub gru_smax_fc_classes: usize,
}

impl Default for DeadModuleDims {
    fn default() -> Self {
        Self { comet_dim: 768, speaker_embedding: [2, 100], gru_smax_fc_classes: 6 }
    }
}

/// Configuration of [`Maln`]. Modality widths come from the data.
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
    /// Attend to and compute over padded steps as the reference does (for parity on padded
    /// batches). Off by default: padding then changes nothing.
    #[serde(default)]
    pub reference_padding: bool,
    /// Prefix of the specific encoders' reference names (`specific_feature_extractor_` at
    /// HEAD, `private_feature_extractor_` in the first upload).
    #[serde(default = "specific_prefix")]
    pub specific_param_prefix: String,
    /// Sizes of the reference's dead modules (for the importer).
    #[serde(default)]
    pub dead_modules: DeadModuleDims,
}

fn specific_prefix() -> String {
    "specific_feature_extractor_".into()
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
            reference_padding: false,
            specific_param_prefix: specific_prefix(),
            dead_modules: DeadModuleDims::default(),
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

    fn validate(&self) -> Result<(), ModelError> {
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

/// One modality's context encoder (`{TexGRU,AcousticGRU,VisualGRU}`): a bidirectional GRU of
/// hidden width `d` per direction and `linear` `2d → d`; `E = Drop(ReLU(linear(GRU(x))))`.
#[derive(Module, Debug)]
pub struct ContextEncoder {
    /// `gru`.
    pub gru: MaskedBiGru,
    /// `linear`: `2d → d`.
    pub linear: Linear,
}

/// Settings the model keeps beside its weights.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    dims: [usize; 3],
    hidden: usize,
    num_classes: usize,
    num_speakers: usize,
    max_positions: usize,
    grl_lambda: f64,
    fusion_source: FusionSource,
    /// Per modality (in [`MODALITIES`] order): the discriminator sees its specific part.
    adv_specific: [bool; 3],
    routing: SpeakerRouting,
    weights: MalnLossWeights,
    reference_padding: bool,
    specific_prefix: String,
    dead: DeadModuleDims,
}

/// The MALN model. Build it through [`MalnModel`] (the registry) or [`Maln::new`].
#[derive(Module, Debug)]
pub struct Maln {
    /// Context encoders per modality.
    contexts: Vec<ContextEncoder>,
    /// Speaker-characteristic encoders per modality.
    characteristics: Vec<SpeakerCharacteristics>,
    /// `{Text,Acoustic,Visual}TopicFc`: `d_m → topic_dim`.
    topics: Vec<Linear>,
    /// Specific encoders per modality.
    specific: Vec<SpecificEncoder>,
    /// Common encoders (per modality, then shared).
    common: CommonEncoder,
    /// `modal_discriminator`.
    discriminator: ModalityDiscriminator,
    /// `fc_{text,audio,visual}`: the unimodal heads.
    unimodal: Vec<MlpHead>,
    /// `av_fc`: `[a; v]` (`2h`) → `h`.
    av_fc: Linear,
    /// `L_AV`.
    fusion: CrossFusion,
    /// `fc`: `3h → h → K`.
    classifier: MlpHead,
    context_dropout: Dropout,
    #[module(skip)]
    settings: Settings,
}

/// Everything one forward pass computes, batch-first `[B, T, ·]`.
#[derive(Debug, Clone)]
pub struct MalnPass {
    /// Per modality: the context `E^m` `[B, T, d_m]`.
    pub contexts: Vec<Tensor<3>>,
    /// Per modality: the speaker and listener summaries and their routing.
    pub characteristics: Vec<Characteristics>,
    /// Per modality: `G^m` `[B, T, topic_dim]`.
    pub topics: Vec<Tensor<3>>,
    /// Per modality: `S^m` `[B, T, h]`, computed in training or when they feed the fusion.
    pub specific: Option<Vec<Tensor<3>>>,
    /// Per modality: `C^m` `[B, T, h]`.
    pub common: Vec<Tensor<3>>,
    /// `C̄ = C^t + C^a + C^v` `[B, T, h]`.
    pub common_sum: Tensor<3>,
    /// `N = av_fc([a; v])` `[B, T, h]`.
    pub av: Tensor<3>,
    /// The fusion output `[B, T, 2h]`.
    pub fusion: Tensor<3>,
    /// `F = [fusion; C̄]` `[B, T, 3h]`.
    pub features: Tensor<3>,
    /// Emotion log-probabilities `[B, T, K]`.
    pub log_probs: Tensor<3>,
}

/// The training-only outputs: unimodal heads and discriminator logits.
#[derive(Debug, Clone)]
pub struct MalnAuxiliary {
    /// Per modality: unimodal log-probabilities `[B, T, K]`.
    pub unimodal: Vec<Tensor<3>>,
    /// Per modality: discriminator logits on `S^m` `[B, T, 3]`.
    pub disc_specific: Vec<Tensor<3>>,
    /// Per modality: discriminator logits on `GRL(C^m)` `[B, T, 3]`.
    pub disc_common: Vec<Tensor<3>>,
}

/// The loss terms of a batch, unweighted.
#[derive(Debug, Clone)]
pub struct MalnLosses {
    /// Emotion NLL.
    pub nll: Tensor<1>,
    /// Sum of the unimodal NLLs.
    pub uni: Tensor<1>,
    /// The six orthogonality terms: `(S^t,S^v), (S^t,S^a), (S^v,S^a), (C^t,S^t), (C^v,S^v),
    /// (C^a,S^a)`.
    pub orth_terms: Vec<Tensor<1>>,
    /// The discriminator's cross-entropies on `S^m`, in the order text, visual, audio.
    pub adv_specific_terms: Vec<Tensor<1>>,
    /// Which of [`MalnLosses::adv_specific_terms`] enter the loss.
    pub adv_specific_used: [bool; 3],
    /// The discriminator's cross-entropies on `GRL(C^m)`, in the order text, visual, audio.
    pub adv_common_terms: Vec<Tensor<1>>,
}

impl MalnLosses {
    /// The orthogonality loss (sum of its terms).
    pub fn orth(&self) -> Tensor<1> {
        sum(&self.orth_terms)
    }

    /// The adversarial loss: the common terms plus the specific terms in use.
    pub fn adv(&self) -> Tensor<1> {
        let used: Vec<Tensor<1>> = self
            .adv_specific_terms
            .iter()
            .zip(self.adv_specific_used)
            .filter(|(_, used)| *used)
            .map(|(t, _)| t.clone())
            .collect();
        let common = sum(&self.adv_common_terms);
        if used.is_empty() { common } else { common + sum(&used) }
    }
}

fn sum(terms: &[Tensor<1>]) -> Tensor<1> {
    terms.iter().cloned().reduce(|a, b| a + b).expect("at least one term")
}

impl Maln {
    /// Builds a freshly initialised model for a dataset with `text`, `audio` and `visual`.
    pub fn new(config: &MalnConfig, spec: &DataSpec, device: &Device) -> Result<Self, ModelError> {
        config.validate()?;
        let dims: Vec<usize> = MODALITIES.iter().map(|m| spec.modality_dim(m)).collect::<Result<_, _>>()?;
        let dims = [dims[0], dims[1], dims[2]];
        let (h, classes) = (config.hidden, spec.num_classes());
        let joined: Vec<usize> = dims.iter().map(|d| d + config.topic_dim).collect();
        let contexts = dims
            .iter()
            .map(|&d| ContextEncoder {
                gru: MaskedBiGruConfig::new(d, d)
                    .with_num_layers(config.gru_layers)
                    .with_dropout(config.gru_dropout)
                    .init(device),
                linear: LinearConfig::new(2 * d, d).init(device),
            })
            .collect();
        let characteristics = dims
            .iter()
            .map(|&d| {
                SpeakerCharacteristics::new(d, config.sclm_ffn, config.sclm_max_positions, config.sclm_dropout, device)
            })
            .collect();
        let adv_specific = MODALITIES.map(|m| config.adv_specific.iter().any(|a| a == m));
        Ok(Self {
            contexts,
            characteristics,
            topics: dims.iter().map(|&d| LinearConfig::new(d, config.topic_dim).init(device)).collect(),
            specific: joined.iter().map(|&d| SpecificEncoder::new(d, h, config.specific_dropout, device)).collect(),
            common: CommonEncoder::new(&joined, h, config.common_dropout, device),
            discriminator: ModalityDiscriminator::new(h, config.disc_hidden, 3, config.disc_dropout, device),
            unimodal: (0..3).map(|_| MlpHead::new(h, h, classes, config.dropout, device)).collect(),
            av_fc: LinearConfig::new(2 * h, h).init(device),
            fusion: CrossFusion::new(h, config.cross_heads, config.cross_layers, config.dropout, device),
            classifier: MlpHead::new(3 * h, h, classes, config.dropout, device),
            context_dropout: DropoutConfig::new(config.context_dropout).init(),
            settings: Settings {
                dims,
                hidden: h,
                num_classes: classes,
                num_speakers: spec.num_speakers,
                max_positions: config.sclm_max_positions,
                grl_lambda: config.grl_lambda,
                fusion_source: config.fusion_source,
                adv_specific,
                routing: config.speaker_routing,
                weights: config.loss_weights,
                reference_padding: config.reference_padding,
                specific_prefix: config.specific_param_prefix.clone(),
                dead: config.dead_modules.clone(),
            },
        })
    }

    /// Whether the model is in training (parameters on an autodiff device, not a `valid()` copy).
    pub fn is_training(&self) -> bool {
        self.av_fc.weight.val().device().is_autodiff()
    }

    /// Runs the model on a batch. `specific` asks for `S^m` even when the fusion does not read
    /// them (training needs them for the losses).
    pub fn forward_pass(&self, batch: &DialogueBatch, specific: bool) -> Result<MalnPass, ModelError> {
        let s = &self.settings;
        let [b, t] = [batch.batch_size(), batch.max_len()];
        if t + 1 > s.max_positions {
            return Err(ModelError::InvalidConfig(format!(
                "a dialogue of {t} utterances is longer than the speaker encoders' position table \
                 allows ({} utterances; raise sclm_max_positions)",
                s.max_positions - 1
            )));
        }
        let layout = &batch.layout;
        let masked = !s.reference_padding;
        let lengths: Vec<usize> = if masked { layout.lengths.clone() } else { vec![t; b] };
        let speakers = Speakers { ids: &layout.speakers, lengths: &layout.lengths, slots: s.num_speakers };
        let key_padding = masked.then(|| batch.padding_mask());
        let inputs: Vec<Tensor<3>> = MODALITIES.iter().map(|m| batch.modality(m)).collect::<Result<_, _>>()?;

        let mut contexts = Vec::with_capacity(3);
        let mut characteristics = Vec::with_capacity(3);
        let mut topics = Vec::with_capacity(3);
        let mut joined = Vec::with_capacity(3);
        for (((x, context), sclm), topic) in
            inputs.into_iter().zip(&self.contexts).zip(&self.characteristics).zip(&self.topics)
        {
            let e =
                self.context_dropout.forward(relu(context.linear.forward(context.gru.forward(x.clone(), &lengths))));
            let c = sclm.forward(x, speakers, s.routing, key_padding.as_ref());
            let g = topic.forward(c.routed.clone());
            joined.push(Tensor::cat(vec![e.clone(), g.clone()], 2));
            contexts.push(e);
            characteristics.push(c);
            topics.push(g);
        }
        let common: Vec<Tensor<3>> = (0..3).map(|m| self.common.forward(m, joined[m].clone())).collect();
        let wants_specific = specific || s.fusion_source == FusionSource::Specific;
        let specific = wants_specific
            .then(|| joined.iter().zip(&self.specific).map(|(x, enc)| enc.forward(x.clone())).collect::<Vec<_>>());
        let source = match (&specific, s.fusion_source) {
            (Some(parts), FusionSource::Specific) => parts,
            _ => &common,
        };
        let common_sum = common[0].clone() + common[1].clone() + common[2].clone();
        let av = self.av_fc.forward(Tensor::cat(vec![source[1].clone(), source[2].clone()], 2));
        let fusion = self.fusion.forward(source[0].clone(), av.clone(), key_padding.as_ref());
        let features = Tensor::cat(vec![fusion.clone(), common_sum.clone()], 2);
        let log_probs = log_softmax(self.classifier.forward(features.clone()), 2);
        Ok(MalnPass {
            contexts,
            characteristics,
            topics,
            specific,
            common,
            common_sum,
            av,
            fusion,
            features,
            log_probs,
        })
    }

    /// The unimodal heads and the discriminator on a pass that computed `S^m`.
    pub fn auxiliary(&self, pass: &MalnPass) -> MalnAuxiliary {
        let specific = pass.specific.as_ref().expect("a pass with the specific parts");
        let source = match self.settings.fusion_source {
            FusionSource::Common => &pass.common,
            FusionSource::Specific => specific,
        };
        let discriminate = |x: Tensor<3>| {
            let [b, t, h] = x.dims();
            self.discriminator.forward(x.reshape([b * t, h])).reshape([b, t, 3])
        };
        MalnAuxiliary {
            unimodal: source
                .iter()
                .zip(&self.unimodal)
                .map(|(x, head)| log_softmax(head.forward(x.clone()), 2))
                .collect(),
            disc_specific: specific.iter().map(|x| discriminate(x.clone())).collect(),
            disc_common: pass
                .common
                .iter()
                .map(|c| discriminate(grad_reverse(c.clone(), self.settings.grl_lambda)))
                .collect(),
        }
    }

    /// All loss terms; `None` when no utterance is labelled.
    pub fn losses(&self, pass: &MalnPass, aux: &MalnAuxiliary, batch: &DialogueBatch) -> Option<MalnLosses> {
        let nll = masked_nll(pass.log_probs.clone(), batch, None)?;
        let uni = aux.unimodal.iter().filter_map(|lp| masked_nll(lp.clone(), batch, None)).reduce(|a, b| a + b)?;
        let specific = pass.specific.as_ref().expect("a pass with the specific parts");
        // rows that count: every padded step in the reference's computation, real ones otherwise
        let device = batch.device();
        let [b, t] = [batch.batch_size(), batch.max_len()];
        let rows_mask = (!self.settings.reference_padding).then(|| length_mask(&batch.layout.lengths, t, &device));
        let keep = |x: &Tensor<3>| match &rows_mask {
            Some(mask) => x.clone() * mask.clone(),
            None => x.clone(),
        };
        let [st, sa, sv] = [keep(&specific[0]), keep(&specific[1]), keep(&specific[2])];
        let [ct, ca, cv] = [keep(&pass.common[0]), keep(&pass.common[1]), keep(&pass.common[2])];
        let orth_terms = vec![
            orthogonality_loss(st.clone(), sv.clone()),
            orthogonality_loss(st.clone(), sa.clone()),
            orthogonality_loss(sv.clone(), sa.clone()),
            orthogonality_loss(ct, st),
            orthogonality_loss(cv, sv),
            orthogonality_loss(ca, sa),
        ];
        let rows: Option<Vec<usize>> = (!self.settings.reference_padding).then(|| batch.layout.utterance_rows());
        let cross_entropy = |logits: &Tensor<3>, m: usize| {
            let flat = logits.clone().reshape([b * t, 3]);
            let flat = match &rows {
                Some(r) => flat.select(0, erc_core::batch::index_tensor(r, &device)),
                None => flat,
            };
            modality_cross_entropy(flat, REF[m].modality_id)
        };
        let adv_specific_terms = BY_MODALITY_ID.iter().map(|&m| cross_entropy(&aux.disc_specific[m], m)).collect();
        let adv_common_terms = BY_MODALITY_ID.iter().map(|&m| cross_entropy(&aux.disc_common[m], m)).collect();
        let adv_specific_used = BY_MODALITY_ID.map(|m| self.settings.adv_specific[m]);
        Some(MalnLosses { nll, uni, orth_terms, adv_specific_terms, adv_specific_used, adv_common_terms })
    }

    /// The weighted total: `task·NLL + uni·Σ NLL_m + orth·L_orth + adv·L_adv`.
    pub fn total_loss(&self, losses: &MalnLosses) -> Tensor<1> {
        let w = self.settings.weights;
        losses.uni.clone().mul_scalar(w.uni)
            + losses.nll.clone().mul_scalar(w.task)
            + (losses.orth().mul_scalar(w.orth) + losses.adv().mul_scalar(w.adv))
    }
}

/// `(prefix.name, shape)` for each `(name, shape)`: tensors of a module the reference never runs.
fn dead_tensors(prefix: &str, shapes: &[(&str, Vec<usize>)]) -> Vec<(String, Vec<usize>)> {
    shapes.iter().map(|(n, s)| (format!("{prefix}.{n}"), s.clone())).collect()
}

/// A linear layer's two tensors `[out, in]` and `[out]` under `prefix`.
fn linear_shapes(prefix: &str, d_in: usize, d_out: usize) -> Vec<(String, Vec<usize>)> {
    dead_tensors(prefix, &[("weight", vec![d_out, d_in]), ("bias", vec![d_out])])
}

/// The tensors of an unused attention layer below `prefix`: each `(name, width)` attention's
/// query/key/value linears, each `(name, in, out)` feed-forward linear, and `norm1`/`norm2` of
/// width `norm`.
fn layer_shapes(
    prefix: &str,
    attentions: &[(&str, usize)],
    ff: &[(&str, usize, usize)],
    norm: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, w) in attentions {
        for part in ["query", "key", "value"] {
            out.extend(linear_shapes(&format!("{prefix}.{name}.{part}"), *w, *w));
        }
    }
    for (name, d_in, d_out) in ff {
        out.extend(linear_shapes(&format!("{prefix}.{name}"), *d_in, *d_out));
    }
    for n in ["norm1", "norm2"] {
        out.extend(dead_tensors(&format!("{prefix}.{n}"), &[("weight", vec![norm]), ("bias", vec![norm])]));
    }
    out
}

fn visit_unused(p: &mut impl TorchParams, tensors: Vec<(String, Vec<usize>)>) -> Result<(), ImportError> {
    for (name, shape) in tensors {
        p.unused(&name, &shape)?;
    }
    Ok(())
}

impl TorchNamed for Maln {
    /// Walks every parameter under the reference's `state_dict` names, in its order, including
    /// the dead modules (checked by shape, not created).
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let s = self.settings.clone();
        let h = s.hidden;
        let [dt, da, dv] = s.dims;
        let k = s.num_classes;
        let [rows, width] = s.dead.speaker_embedding;
        visit_unused(
            p,
            dead_tensors(
                "SpeakerEmbedding",
                &[
                    ("word_embeddings.weight", vec![rows, width]),
                    ("LayerNorm.weight", vec![width]),
                    ("LayerNorm.bias", vec![width]),
                ],
            ),
        )?;
        let mut characteristics = Vec::with_capacity(3);
        for (m, sclm) in self.characteristics.into_iter().enumerate() {
            let name = REF[m].sclm;
            characteristics.push(sclm.visit_torch(
                p,
                &format!("{name}_Topic_Transformer_Speaker"),
                &format!("{name}_Topic_Transformer_Lisener"),
            )?);
        }
        let fusion_layer = |prefix: &str| {
            layer_shapes(
                prefix,
                &[("src_cross_attention", h), ("context_cross_attention", h), ("self_attention", 2 * h)],
                &[("fc.0", 2 * h, 2 * h)],
                2 * h,
            )
        };
        visit_unused(p, fusion_layer("L_AV_layer"))?;
        let fusion = self.fusion.visit_torch(p, "L_AV")?;
        visit_unused(
            p,
            layer_shapes(
                "selfattentionlayer",
                &[("self_attention", 3 * h)],
                &[("fc.0", 3 * h, 3 * h), ("fc.2", 3 * h, 3 * h)],
                3 * h,
            ),
        )?;
        let mut topics = Vec::with_capacity(3);
        for (m, linear) in self.topics.into_iter().enumerate() {
            topics.push(import_linear(p, &format!("{}TopicFc", REF[m].sclm), linear)?);
        }
        // fc_visual, fc_text, fc_audio
        let unimodal =
            visit_in_order(self.unimodal, &[2, 0, 1], |m, head| head.visit_torch(p, &format!("fc_{}", REF[m].head)))?;
        let classifier = self.classifier.visit_torch(p, "fc")?;
        let comet = s.dead.comet_dim;
        visit_unused(
            p,
            [
                linear_shapes("Acoustic_FC", da, dv),
                linear_shapes("Fusion_FC", dt + dv + da, dt),
                linear_shapes("Text_FC", dt + comet, dv + da),
                linear_shapes("AVOut_FC", dv + da, dv),
                linear_shapes("AVTOut_FC", 3 * h, h),
            ]
            .concat(),
        )?;
        // TexGRU, VisualGRU, AcousticGRU
        let contexts = visit_in_order(self.contexts, &BY_MODALITY_ID, |m, ContextEncoder { gru, linear }| {
            let (prefix, d) = (REF[m].gru, s.dims[m]);
            let gru = gru.visit_torch(p, &format!("{prefix}.gru"))?;
            visit_unused(p, linear_shapes(&format!("{prefix}.matchatt.transform"), 2 * d, 2 * d))?;
            let linear = import_linear(p, &format!("{prefix}.linear"), linear)?;
            visit_unused(p, linear_shapes(&format!("{prefix}.smax_fc"), d, s.dead.gru_smax_fc_classes))?;
            Ok(ContextEncoder { gru, linear })
        })?;
        let specific = visit_in_order(self.specific, &BY_MODALITY_ID, |m, encoder| {
            encoder.visit_torch(p, &format!("{}{}", s.specific_prefix, REF[m].extractor))
        })?;
        let prefixes: Vec<String> = (0..3).map(|m| format!("common_feature_extractor_{}", REF[m].extractor)).collect();
        let common = self.common.visit_torch(p, &prefixes, &BY_MODALITY_ID, "common_feature_extractor_share")?;
        let discriminator = self.discriminator.visit_torch(p, "modal_discriminator")?;
        let av_fc = import_linear(p, "av_fc", self.av_fc)?;
        visit_unused(p, [linear_shapes("av_fc2", 2 * h, h), linear_shapes("common_classfier.0", h, k)].concat())?;
        Ok(Self {
            contexts,
            characteristics,
            topics,
            specific,
            common,
            discriminator,
            unimodal,
            av_fc,
            fusion,
            classifier,
            context_dropout: self.context_dropout,
            settings: self.settings,
        })
    }
}

impl DialogueModel for Maln {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let training = self.is_training() && batch.labels.is_some();
        let pass = self.forward_pass(batch, training)?;
        let w = self.settings.weights;
        let loss_terms = if training {
            let aux = self.auxiliary(&pass);
            match self.losses(&pass, &aux, batch) {
                Some(l) => vec![
                    LossTerm { name: "nll".into(), value: l.nll.clone(), weight: w.task },
                    LossTerm { name: "uni".into(), value: l.uni.clone(), weight: w.uni },
                    LossTerm { name: "orth".into(), value: l.orth(), weight: w.orth },
                    LossTerm { name: "adv".into(), value: l.adv(), weight: w.adv },
                ],
                None => Vec::new(),
            }
        } else {
            // evaluation: the emotion NLL only, as the reference
            masked_nll(pass.log_probs.clone(), batch, None)
                .map(|nll| vec![LossTerm { name: "nll".into(), value: nll, weight: w.task }])
                .unwrap_or_default()
        };
        Ok(ModelOutput { log_probs: pass.log_probs, loss_terms })
    }
}

/// Registry entry of [`Maln`].
pub struct MalnModel;

impl ModelFactory for MalnModel {
    const NAME: &'static str = "maln";
    const DESCRIPTION: &'static str =
        "MALN (TCSVT 2023): speaker-characteristic transformers + adversarial common/specific decomposition";
    type Config = MalnConfig;
    type Model = Maln;

    fn presets() -> &'static [&'static str] {
        &["iemocap", "meld"]
    }

    fn preset(name: &str) -> Option<(Self::Config, TrainingPreset)> {
        match name {
            "iemocap" => Some((MalnConfig::iemocap(), MalnConfig::iemocap_training())),
            "meld" => Some((MalnConfig::meld(), MalnConfig::meld_training())),
            _ => None,
        }
    }

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        Maln::new(config, spec, device)
    }
}

/// The reference's configuration as a parity fixture's `config` (or `presets.json`) states it;
/// absent keys take the IEMOCAP preset's values.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct ReferenceConfig {
    d_t: usize,
    d_a: usize,
    d_v: usize,
    n_classes: usize,
    n_parties: usize,
    hidden: usize,
    topic_dim: usize,
    sclm_ffn: usize,
    sclm_max_positions: usize,
    sclm_layers: usize,
    sclm_heads: usize,
    sclm_dropout: f64,
    gru_layers: usize,
    gru_bidirectional: bool,
    gru_dropout: f64,
    ctx_dropout: f64,
    specific_dropout: f64,
    common_dropout: f64,
    disc_hidden: usize,
    disc_dropout: f64,
    n_modalities: usize,
    modality_ids: std::collections::BTreeMap<String, usize>,
    dropout: f64,
    cross_n_layers: usize,
    cross_n_heads: usize,
    layer_norm_eps: f64,
    grl_lambda: f64,
    fusion_source: FusionSource,
    adv_specific_modalities: Vec<String>,
    specific_param_prefix: String,
    speaker_routing: SpeakerRouting,
    mask_padding: bool,
    class_weights: Option<Vec<f64>>,
    loss_weights: MalnLossWeights,
    dead_modules_dims: ReferenceDeadDims,
    comet_dim: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct ReferenceDeadDims {
    comet_dim: usize,
    speaker_embedding: [usize; 2],
    gru_smax_fc_classes: usize,
}

impl Default for ReferenceDeadDims {
    fn default() -> Self {
        let d = DeadModuleDims::default();
        Self {
            comet_dim: d.comet_dim,
            speaker_embedding: d.speaker_embedding,
            gru_smax_fc_classes: d.gru_smax_fc_classes,
        }
    }
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        let c = MalnConfig::iemocap();
        Self {
            d_t: 1024,
            d_a: 100,
            d_v: 512,
            n_classes: 6,
            n_parties: 2,
            hidden: c.hidden,
            topic_dim: c.topic_dim,
            sclm_ffn: c.sclm_ffn,
            sclm_max_positions: c.sclm_max_positions,
            sclm_layers: 1,
            sclm_heads: 1,
            sclm_dropout: c.sclm_dropout,
            gru_layers: c.gru_layers,
            gru_bidirectional: true,
            gru_dropout: c.gru_dropout,
            ctx_dropout: c.context_dropout,
            specific_dropout: c.specific_dropout,
            common_dropout: c.common_dropout,
            disc_hidden: c.disc_hidden,
            disc_dropout: c.disc_dropout,
            n_modalities: 3,
            modality_ids: [("text", 0), ("visual", 1), ("audio", 2)].iter().map(|(n, i)| (n.to_string(), *i)).collect(),
            dropout: c.dropout,
            cross_n_layers: c.cross_layers,
            cross_n_heads: c.cross_heads,
            layer_norm_eps: 1e-5,
            grl_lambda: c.grl_lambda,
            fusion_source: c.fusion_source,
            adv_specific_modalities: vec!["text".into(), "visual".into(), "audio".into()],
            specific_param_prefix: c.specific_param_prefix,
            speaker_routing: SpeakerRouting::Binary,
            mask_padding: false,
            class_weights: None,
            loss_weights: c.loss_weights,
            dead_modules_dims: ReferenceDeadDims::default(),
            comet_dim: None,
        }
    }
}

impl MalnConfig {
    /// Reads the reference's configuration (a parity fixture's `config`, or a preset's in
    /// `presets.json`) into our configuration and the dataset facts it implies; the
    /// reference's padded computation is selected. Settings the reference never runs are
    /// refused with the setting named.
    pub fn from_reference(config: &serde_json::Value) -> Result<(Self, DataSpec), ModelError> {
        let r: ReferenceConfig =
            serde_json::from_value(config.clone()).map_err(|e| ModelError::InvalidConfig(e.to_string()))?;
        let refuse = |what: &str, value: String| {
            Err(ModelError::InvalidConfig(format!("reference setting {what} = {value} is not implemented")))
        };
        if r.sclm_layers != 1 || r.sclm_heads != 1 {
            return refuse(
                "sclm_layers/sclm_heads",
                format!("{}/{} (the reference has 1/1)", r.sclm_layers, r.sclm_heads),
            );
        }
        if !r.gru_bidirectional {
            return refuse("gru_bidirectional", "false".into());
        }
        if r.n_modalities != 3 {
            return refuse("n_modalities", r.n_modalities.to_string());
        }
        let ids: Vec<(String, usize)> = r.modality_ids.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let expected = [("audio", 2), ("text", 0), ("visual", 1)];
        if ids.len() != 3 || ids.iter().zip(expected).any(|((n, i), (en, ei))| n != en || *i != ei) {
            return refuse("modality_ids", format!("{ids:?}"));
        }
        if (r.layer_norm_eps - 1e-5).abs() > 1e-12 {
            return refuse("layer_norm_eps", r.layer_norm_eps.to_string());
        }
        if r.mask_padding {
            return refuse("mask_padding", "true".into());
        }
        if let Some(w) = r.class_weights {
            return refuse("class_weights", format!("{w:?}"));
        }
        let config = Self {
            hidden: r.hidden,
            topic_dim: r.topic_dim,
            sclm_ffn: r.sclm_ffn,
            sclm_max_positions: r.sclm_max_positions,
            sclm_dropout: r.sclm_dropout,
            gru_layers: r.gru_layers,
            gru_dropout: r.gru_dropout,
            context_dropout: r.ctx_dropout,
            specific_dropout: r.specific_dropout,
            common_dropout: r.common_dropout,
            disc_hidden: r.disc_hidden,
            disc_dropout: r.disc_dropout,
            dropout: r.dropout,
            cross_layers: r.cross_n_layers,
            cross_heads: r.cross_n_heads,
            grl_lambda: r.grl_lambda,
            fusion_source: r.fusion_source,
            adv_specific: r.adv_specific_modalities,
            // the reference's rule is `binary` for two parties only
            speaker_routing: match r.speaker_routing {
                SpeakerRouting::Binary if r.n_parties > 2 => SpeakerRouting::ReferenceRule,
                other => other,
            },
            loss_weights: r.loss_weights,
            reference_padding: true,
            specific_param_prefix: r.specific_param_prefix,
            dead_modules: DeadModuleDims {
                comet_dim: r.comet_dim.unwrap_or(r.dead_modules_dims.comet_dim),
                speaker_embedding: r.dead_modules_dims.speaker_embedding,
                gru_smax_fc_classes: r.dead_modules_dims.gru_smax_fc_classes,
            },
        };
        config.validate()?;
        let spec = DataSpec {
            classes: (0..r.n_classes).map(|c| c.to_string()).collect(),
            modalities: [("text", r.d_t), ("audio", r.d_a), ("visual", r.d_v)]
                .iter()
                .map(|(n, d)| erc_core::ModalityDim { name: n.to_string(), dim: *d })
                .collect(),
            num_speakers: r.n_parties,
            train_class_counts: None,
        };
        Ok((config, spec))
    }
}
