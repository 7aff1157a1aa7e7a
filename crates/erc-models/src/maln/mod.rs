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
//! [`Maln::with_padded_steps`] reproduces the reference's padded computation. Model selection
//! is on validation (the reference selects on test).
//!
//! Files: this one holds the network; [`config`] its configuration and presets; [`reference`](mod@reference)
//! what exists only to match the PyTorch code (parameter names, dead modules, its configuration
//! format, the parity run).

pub mod config;
pub mod reference;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use erc_core::attention::{CrossFusion, CrossFusionConfig};
use erc_core::encoder::{
    Characteristics, CommonEncoder, CommonEncoderConfig, ModalityDiscriminator, SpeakerCharacteristics,
    SpeakerCharacteristicsConfig, SpeakerRouting, SpecificEncoder, SpecificEncoderConfig,
};
use erc_core::head::{MlpHead, MlpHeadConfig};
use erc_core::loss::{grad_reverse, masked_nll, modality_cross_entropy, orthogonality_loss};
use erc_core::rnn::{MaskedBiGru, MaskedBiGruConfig, PaddedSteps, Speakers, length_mask};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelFactory, ModelOutput, Preset};

pub use config::{FusionSource, MODALITIES, MalnConfig, MalnLossWeights, PRESETS};

/// The discriminator's class of each modality in [`MODALITIES`] order (text 0, visual 1,
/// audio 2, as the reference numbers them).
const MODALITY_ID: [usize; 3] = [0, 2, 1];

/// The modalities in the reference's usual order, which is also the discriminator's class order
/// (text, visual, audio), as indices into [`MODALITIES`].
pub(crate) const BY_MODALITY_ID: [usize; 3] = [0, 2, 1];

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
    /// How padded steps are computed (the reference runs them).
    padded: PaddedSteps,
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
                SpeakerCharacteristicsConfig::new(d, config.sclm_ffn, config.sclm_max_positions, config.sclm_dropout)
                    .init(device)
            })
            .collect();
        let adv_specific = MODALITIES.map(|m| config.adv_specific.iter().any(|a| a == m));
        Ok(Self {
            contexts,
            characteristics,
            topics: dims.iter().map(|&d| LinearConfig::new(d, config.topic_dim).init(device)).collect(),
            specific: joined
                .iter()
                .map(|&d| SpecificEncoderConfig::new(d, h, config.specific_dropout).init(device))
                .collect(),
            common: CommonEncoderConfig::new(joined.to_vec(), h, config.common_dropout).init(device),
            discriminator: MlpHeadConfig::new(h, config.disc_hidden, 3, config.disc_dropout).init(device),
            unimodal: (0..3).map(|_| MlpHeadConfig::new(h, h, classes, config.dropout).init(device)).collect(),
            av_fc: LinearConfig::new(2 * h, h).init(device),
            fusion: CrossFusionConfig::new(h, config.cross_heads, config.cross_layers, config.dropout).init(device),
            classifier: MlpHeadConfig::new(3 * h, h, classes, config.dropout).init(device),
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
                padded: PaddedSteps::Skip,
            },
        })
    }

    /// This model computing padded steps as `padded` says: [`PaddedSteps::Skip`] (the default)
    /// masks them everywhere, so a dialogue's outputs do not depend on its batch;
    /// [`PaddedSteps::Reference`] attends to and computes over them as the reference does.
    pub fn with_padded_steps(mut self, padded: PaddedSteps) -> Self {
        self.settings.padded = padded;
        self
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
        let masked = s.padded == PaddedSteps::Skip;
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
        let rows_mask =
            (self.settings.padded == PaddedSteps::Skip).then(|| length_mask(&batch.layout.lengths, t, &device));
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
        let rows: Option<Vec<usize>> =
            (self.settings.padded == PaddedSteps::Skip).then(|| batch.layout.utterance_rows());
        let cross_entropy = |logits: &Tensor<3>, m: usize| {
            let flat = logits.clone().reshape([b * t, 3]);
            let flat = match &rows {
                Some(r) => flat.select(0, erc_core::batch::index_tensor(r, &device)),
                None => flat,
            };
            modality_cross_entropy(flat, MODALITY_ID[m])
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

    const PRESETS: &'static [Preset<MalnConfig>] = PRESETS;

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        Maln::new(config, spec, device)
    }
}
