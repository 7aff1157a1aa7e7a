//! MultiEMO (Shi & Huang, ACL 2023): DialogueRNN context per modality, bidirectional
//! cross-attention fusion (MultiAttn), and a loss combining Soft-HGR, the Sample-Weighted
//! Focal Contrastive loss and cross-entropy.
//!
//! Per modality (text, audio, visual): a linear projection to `d`, then a DialogueRNN context
//! (bidirectional, forward-only, or none, per the preset). Three [`CrossModalStack`]s fuse each
//! modality with the other two (text with audio then visual; audio with text then visual;
//! visual with text then audio), each reading the unfused context streams. The three fused
//! streams are concatenated, projected to `d` (the SWFC feature `z`) and classified by an MLP.
//! See `docs/models/multiemo.md` and the implementation spec.
//!
//! Differences from the reference: by default padded steps are skipped by the recurrences and
//! masked out of every attention, so a dialogue's outputs do not depend on its batch (the
//! reference attends to padding garbage); `reference_padding: true` reproduces the reference's
//! padded computation. Model selection is on validation (the reference selects on test).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor, TensorData};
use erc_core::attention::{CrossModalConfig, CrossModalStack, StreamLayout};
use erc_core::batch::index_tensor;
use erc_core::dialogue_rnn::{Chain, DialogueRnnCell, PaddedSteps, Speakers, run_dialogue_rnns};
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear};
use erc_core::loss::nll_loss;
use erc_core::representation_loss::{SoftHgr, SwfcLoss, soft_hgr_loss, swfc_class_weights};
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelOutput};
use serde::{Deserialize, Serialize};

use crate::registry::ModelFactory;

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
    fn as_array(&self) -> [ContextMode; 3] {
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

/// Configuration of [`MultiEmo`]. The presets hold the paper's values.
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
    /// Run padded steps and attend to them as the reference does (for parity on padded
    /// batches). Off by default: padding then changes nothing.
    #[serde(default)]
    pub reference_padding: bool,
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
            reference_padding: false,
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

/// One modality's context block (`{m}_dialoguernn`): forward and backward DialogueRNNs and
/// the layer combining them, each present when the modality's mode runs it.
#[derive(Module, Debug)]
pub struct ModalityContext {
    /// `dialog_rnn_f`.
    pub forward: Option<DialogueRnnCell>,
    /// `dialog_rnn_r`.
    pub backward: Option<DialogueRnnCell>,
    /// `linear`: `[o_f; o_b] (2d) → d`.
    pub combine: Option<Linear>,
}

/// Settings the model keeps beside its weights.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    modes: [ContextMode; 3],
    d_model: usize,
    num_classes: usize,
    swfc: SwfcLoss,
    loss_weights: [f64; 3],
    padded: PaddedSteps,
}

/// The MultiEMO model. Build it through [`MultiEmoModel`] (the registry) or [`MultiEmo::new`].
#[derive(Module, Debug)]
pub struct MultiEmo {
    /// `{text,audio,visual}_fc`: `D_m → d`.
    projections: Vec<Linear>,
    /// `{text,audio,visual}_dialoguernn`.
    contexts: Vec<ModalityContext>,
    /// `multiattn.multiattn_{text,audio,visual}`.
    fusion: Vec<CrossModalStack>,
    /// `fc`: `3d → d` (no activation): the SWFC feature.
    fc: Linear,
    /// `mlp.linear_1`: `d → d_mlp`.
    mlp_hidden: Linear,
    /// `mlp.linear_2`: `d_mlp → C`.
    mlp_out: Linear,
    #[module(skip)]
    settings: Settings,
}

/// Everything one forward pass computes: per-modality stages on the padded grid (`[B, T, ·]`,
/// batch-first), fusion and head as rows laid out by [`MultiEmoPass::layout`] (real utterances
/// only, unless the reference's padded computation was asked for).
#[derive(Debug, Clone)]
pub struct MultiEmoPass {
    /// How the fusion and head rows map onto the grid.
    pub layout: StreamLayout,
    /// Per modality (text, audio, visual): the projection `[B, T, d]`.
    pub projections: Vec<Tensor<3>>,
    /// Per modality: forward DialogueRNN states `[B, T, d]`, when run.
    pub forward_states: Vec<Option<Tensor<3>>>,
    /// Per modality: backward DialogueRNN states `[B, T, d]` (0 at padding), when run.
    pub backward_states: Vec<Option<Tensor<3>>>,
    /// Per modality: the context stream `h` `[B, T, d]`.
    pub contexts: Vec<Tensor<3>>,
    /// Per fusion stack (text, audio, visual), each layer's output `[R, d]`.
    pub fusion_layers: Vec<Vec<Tensor<2>>>,
    /// The SWFC feature `z` `[R, d]`.
    pub features: Tensor<2>,
    /// Logits `[R, C]`.
    pub logits: Tensor<2>,
}

impl MultiEmoPass {
    /// Per modality, the fused stream (the last layer of its stack) `[R, d]`.
    pub fn fused(&self) -> Vec<Tensor<2>> {
        last_layers(&self.fusion_layers)
    }

    /// The rows (indices into `R`) of the labelled utterances, dialogue by dialogue: the
    /// reference's "masked" order.
    pub fn labelled_rows(&self, batch: &DialogueBatch) -> Vec<usize> {
        let labels = &batch.layout.labels;
        let positions = self.layout.positions();
        (0..positions.len()).filter(|&r| labels[positions[r]] != erc_core::PAD_LABEL).collect()
    }
}

/// The last layer's output of each fusion stack.
fn last_layers(stacks: &[Vec<Tensor<2>>]) -> Vec<Tensor<2>> {
    stacks.iter().map(|layers| layers.last().expect("a stack has layers").clone()).collect()
}

/// The three loss terms of a batch, unweighted.
#[derive(Debug, Clone)]
pub struct MultiEmoLosses {
    /// Soft-HGR (with its per-pair terms).
    pub hgr: SoftHgr,
    /// Sample-Weighted Focal Contrastive loss.
    pub swfc: Tensor<1>,
    /// Cross-entropy.
    pub ce: Tensor<1>,
}

impl MultiEmo {
    /// Builds a freshly initialised model for a dataset with `text`, `audio` and `visual`.
    pub fn new(config: &MultiEmoConfig, spec: &DataSpec, device: &Device) -> Result<Self, ModelError> {
        let invalid = |m: String| Err(ModelError::InvalidConfig(m));
        let dims: Vec<usize> = MODALITIES.iter().map(|m| spec.modality_dim(m)).collect::<Result<_, _>>()?;
        let d = config.d_model;
        if d < 2 || config.heads == 0 || !d.is_multiple_of(config.heads) {
            return invalid(format!("d_model ({d}) must be at least 2 and a multiple of heads ({})", config.heads));
        }
        if config.fusion_layers == 0 || config.d_ff == 0 || config.d_mlp == 0 {
            return invalid("fusion_layers, d_ff and d_mlp must be positive".into());
        }
        let l = &config.loss;
        let finite = [l.temperature, l.focus, l.sample_weight, l.swfc_weight, l.hgr_weight, l.ce_weight];
        if finite.iter().any(|v| !v.is_finite()) || l.temperature <= 0.0 || l.focus < 0.0 || l.sample_weight < 0.0 {
            return invalid(format!(
                "need finite loss settings with temperature > 0, focus ≥ 0 and sample_weight ≥ 0 (got {}, {}, {})",
                l.temperature, l.focus, l.sample_weight
            ));
        }
        let classes = spec.num_classes();
        let counts: Vec<f64> = match (&l.class_counts, &spec.train_class_counts) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => c.iter().map(|&n| n as f64).collect(),
            (None, None) => vec![1.0; classes],
        };
        if counts.len() != classes || counts.iter().any(|c| !c.is_finite() || *c < 0.0) {
            return invalid(format!("class_counts needs {classes} finite counts ≥ 0 (got {counts:?})"));
        }
        let modes = config.context.as_array();
        let contexts = modes
            .iter()
            .map(|mode| ModalityContext {
                forward: (*mode != ContextMode::None).then(|| DialogueRnnCell::new(d, d, device)),
                backward: (*mode == ContextMode::Bidirectional).then(|| DialogueRnnCell::new(d, d, device)),
                combine: (*mode == ContextMode::Bidirectional).then(|| LinearConfig::new(2 * d, d).init(device)),
            })
            .collect();
        let stack = CrossModalConfig::new(d, config.heads, config.d_ff, config.fusion_layers);
        Ok(Self {
            projections: dims.iter().map(|&dim| LinearConfig::new(dim, d).init(device)).collect(),
            contexts,
            fusion: (0..3).map(|_| stack.init(device)).collect(),
            fc: LinearConfig::new(3 * d, d).init(device),
            mlp_hidden: LinearConfig::new(d, config.d_mlp).init(device),
            mlp_out: LinearConfig::new(config.d_mlp, classes).init(device),
            settings: Settings {
                modes,
                d_model: d,
                num_classes: classes,
                swfc: SwfcLoss {
                    temperature: l.temperature,
                    focus: l.focus,
                    class_weights: swfc_class_weights(&counts, l.sample_weight),
                },
                loss_weights: [l.hgr_weight, l.swfc_weight, l.ce_weight],
                padded: if config.reference_padding { PaddedSteps::Reference } else { PaddedSteps::Skip },
            },
        })
    }

    /// The SWFC class weights in use (they sum to 1).
    pub fn swfc_class_weights(&self) -> &[f32] {
        &self.settings.swfc.class_weights
    }

    /// Runs every stage on a batch.
    pub fn forward_pass(&self, batch: &DialogueBatch) -> Result<MultiEmoPass, ModelError> {
        let s = &self.settings;
        let layout = &batch.layout;
        let projections: Vec<Tensor<3>> = MODALITIES
            .iter()
            .zip(&self.projections)
            .map(|(m, linear)| Ok(linear.forward(batch.modality(m)?)))
            .collect::<Result<_, ModelError>>()?;

        // DialogueRNN chains of every modality and direction, run together
        let mut chains = Vec::new();
        for (m, context) in self.contexts.iter().enumerate() {
            for (cell, reverse) in [(&context.forward, false), (&context.backward, true)] {
                if let Some(cell) = cell {
                    chains.push((m, reverse, Chain { cell, inputs: projections[m].clone(), reverse }));
                }
            }
        }
        let speakers =
            Speakers { ids: &layout.speakers, lengths: &layout.lengths, slots: batch.speaker_one_hot.dims()[2] };
        let runs: Vec<Chain<'_>> = chains.iter().map(|(_, _, c)| c.clone()).collect();
        let states = if runs.is_empty() { Vec::new() } else { run_dialogue_rnns(&runs, speakers, s.padded) };
        let mut forward_states = vec![None; 3];
        let mut backward_states = vec![None; 3];
        for ((m, reverse, _), state) in chains.iter().zip(states) {
            if *reverse { backward_states[*m] = Some(state) } else { forward_states[*m] = Some(state) }
        }
        let contexts: Vec<Tensor<3>> = (0..3)
            .map(|m| match (&forward_states[m], &backward_states[m], &self.contexts[m].combine) {
                (Some(f), Some(b), Some(combine)) => relu(combine.forward(Tensor::cat(vec![f.clone(), b.clone()], 2))),
                (Some(f), _, _) => relu(f.clone()),
                _ => projections[m].clone(),
            })
            .collect();

        // Fusion: each stack reads the unfused contexts of the other two modalities
        let rows = match s.padded {
            PaddedSteps::Skip => StreamLayout::packed(&layout.lengths, &batch.device()),
            PaddedSteps::Reference => StreamLayout::grid(batch.batch_size(), batch.max_len()),
        };
        let streams: Vec<Tensor<2>> = contexts.iter().map(|c| rows.to_rows(c.clone())).collect();
        let fusion_layers: Vec<Vec<Tensor<2>>> = [(0, 1, 2), (1, 0, 2), (2, 0, 1)]
            .iter()
            .zip(&self.fusion)
            .map(|(&(q, a, b), stack)| stack.forward(streams[q].clone(), streams[a].clone(), streams[b].clone(), &rows))
            .collect();
        let features = self.fc.forward(Tensor::cat(last_layers(&fusion_layers), 1));
        let logits = self.mlp_out.forward(relu(self.mlp_hidden.forward(features.clone())));
        Ok(MultiEmoPass {
            layout: rows,
            projections,
            forward_states,
            backward_states,
            contexts,
            fusion_layers,
            features,
            logits,
        })
    }

    /// The three loss terms over the labelled utterances; `None` when none is labelled.
    pub fn losses(&self, pass: &MultiEmoPass, batch: &DialogueBatch) -> Option<MultiEmoLosses> {
        let labelled = pass.labelled_rows(batch);
        if labelled.is_empty() {
            return None;
        }
        let positions = pass.layout.positions();
        let targets: Vec<usize> = labelled.iter().map(|&r| batch.layout.labels[positions[r]] as usize).collect();
        let device = batch.device();
        let index = index_tensor(&labelled, &device);
        let pick = |x: &Tensor<2>| x.clone().select(0, index.clone());
        let fused = pass.fused();
        let hgr = soft_hgr_loss([pick(&fused[0]), pick(&fused[1]), pick(&fused[2])]);
        let swfc = self.settings.swfc.forward(pick(&pass.features), &targets);
        let log_probs = log_softmax(pick(&pass.logits), 1);
        let target_ids: Vec<i64> = targets.iter().map(|&y| y as i64).collect();
        let target_tensor = Tensor::from_data(TensorData::new(target_ids, [targets.len()]), &device);
        let ce = nll_loss(log_probs, target_tensor, &targets, None);
        Some(MultiEmoLosses { hgr, swfc, ce })
    }

    /// The weighted total, in the reference's order: `λ_HGR·HGR + λ_SWFC·SWFC + λ_CE·CE`.
    pub fn total_loss(&self, losses: &MultiEmoLosses) -> Tensor<1> {
        let [w_hgr, w_swfc, w_ce] = self.settings.loss_weights;
        losses.hgr.loss.clone().mul_scalar(w_hgr)
            + losses.swfc.clone().mul_scalar(w_swfc)
            + losses.ce.clone().mul_scalar(w_ce)
    }
}

impl TorchNamed for MultiEmo {
    /// Walks every parameter under the reference's `state_dict` names, in its order,
    /// including the DialogueRNN parts a preset creates but never runs.
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let d = self.settings.d_model;
        let mut projections = Vec::with_capacity(3);
        let mut contexts = Vec::with_capacity(3);
        for ((m, linear), context) in MODALITIES.iter().zip(self.projections).zip(self.contexts) {
            projections.push(import_linear(p, &format!("{m}_fc"), linear)?);
            let prefix = format!("{m}_dialoguernn");
            let mut visit_cell = |cell: Option<DialogueRnnCell>, name: &str| -> Result<_, ImportError> {
                let full = format!("{prefix}.{name}");
                match cell {
                    Some(c) => Ok(Some(c.visit_torch(p, &full)?)),
                    None => {
                        for (n, shape) in DialogueRnnCell::torch_shapes(&full, d, d) {
                            p.unused(&n, &shape)?;
                        }
                        Ok(None)
                    }
                }
            };
            let forward = visit_cell(context.forward, "dialog_rnn_f")?;
            let backward = visit_cell(context.backward, "dialog_rnn_r")?;
            let combine = match context.combine {
                Some(linear) => Some(import_linear(p, &format!("{prefix}.linear"), linear)?),
                None => {
                    p.unused(&format!("{prefix}.linear.weight"), &[d, 2 * d])?;
                    p.unused(&format!("{prefix}.linear.bias"), &[d])?;
                    None
                }
            };
            contexts.push(ModalityContext { forward, backward, combine });
        }
        let mut fusion = Vec::with_capacity(3);
        for (m, stack) in MODALITIES.iter().zip(self.fusion) {
            fusion.push(stack.visit_torch(p, &format!("multiattn.multiattn_{m}"))?);
        }
        Ok(Self {
            projections,
            contexts,
            fusion,
            fc: import_linear(p, "fc", self.fc)?,
            mlp_hidden: import_linear(p, "mlp.linear_1", self.mlp_hidden)?,
            mlp_out: import_linear(p, "mlp.linear_2", self.mlp_out)?,
            settings: self.settings,
        })
    }
}

impl DialogueModel for MultiEmo {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let pass = self.forward_pass(batch)?;
        let loss_terms = match self.losses(&pass, batch) {
            Some(l) => {
                let [w_hgr, w_swfc, w_ce] = self.settings.loss_weights;
                vec![
                    LossTerm { name: "hgr".into(), value: l.hgr.loss, weight: w_hgr },
                    LossTerm { name: "swfc".into(), value: l.swfc, weight: w_swfc },
                    LossTerm { name: "ce".into(), value: l.ce, weight: w_ce },
                ]
            }
            None => Vec::new(),
        };
        Ok(ModelOutput { log_probs: pass.layout.to_grid(log_softmax(pass.logits, 1)), loss_terms })
    }
}

/// Registry entry of [`MultiEmo`].
pub struct MultiEmoModel;

impl ModelFactory for MultiEmoModel {
    const NAME: &'static str = "multiemo";
    const DESCRIPTION: &'static str =
        "MultiEMO (ACL 2023): DialogueRNN context + bidirectional cross-attention fusion, Soft-HGR + SWFC + CE";
    type Config = MultiEmoConfig;
    type Model = MultiEmo;

    fn presets() -> &'static [&'static str] {
        &["iemocap", "meld"]
    }

    fn preset(name: &str) -> Option<(Self::Config, TrainingPreset)> {
        match name {
            "iemocap" => Some((MultiEmoConfig::iemocap(), MultiEmoConfig::iemocap_training())),
            "meld" => Some((MultiEmoConfig::meld(), MultiEmoConfig::meld_training())),
            _ => None,
        }
    }

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        MultiEmo::new(config, spec, device)
    }
}

/// The reference's configuration (as a parity fixture's `config` or `presets.json` states it).
#[derive(Debug, Deserialize)]
struct ReferenceConfig {
    #[serde(rename = "dataset")]
    dataset: String,
    #[serde(rename = "C")]
    c: usize,
    #[serde(rename = "P")]
    p: usize,
    #[serde(rename = "D_text")]
    d_text: usize,
    #[serde(rename = "D_audio")]
    d_audio: usize,
    #[serde(rename = "D_visual")]
    d_visual: usize,
    #[serde(rename = "d")]
    d: usize,
    #[serde(rename = "heads")]
    heads: usize,
    #[serde(rename = "d_h", default)]
    d_h: Option<usize>,
    #[serde(rename = "d_ff")]
    d_ff: usize,
    #[serde(rename = "N_L")]
    n_l: usize,
    #[serde(rename = "d_mlp")]
    d_mlp: usize,
    #[serde(rename = "tau")]
    tau: f64,
    #[serde(rename = "gamma")]
    gamma: f64,
    #[serde(rename = "alpha")]
    alpha: f64,
    #[serde(rename = "lambda_SWFC")]
    lambda_swfc: f64,
    #[serde(rename = "lambda_HGR")]
    lambda_hgr: f64,
    #[serde(rename = "lambda_CE")]
    lambda_ce: f64,
    #[serde(rename = "swfc_class_counts", default)]
    class_counts: Option<Vec<f64>>,
    #[serde(rename = "listener_state", default)]
    listener_state: bool,
    #[serde(rename = "context_attention", default = "simple")]
    context_attention: String,
    #[serde(rename = "multi_attn_flag", default = "yes")]
    multi_attn_flag: bool,
    #[serde(rename = "layer_norm_eps", default = "layer_norm_eps")]
    layer_norm_eps: f64,
}

fn simple() -> String {
    "simple".into()
}

fn yes() -> bool {
    true
}

fn layer_norm_eps() -> f64 {
    1e-5
}

impl MultiEmoConfig {
    /// Reads the reference's configuration (a parity fixture's `config`, or a preset's in
    /// `presets.json`) into our configuration and the dataset facts it implies. Context modes
    /// follow the reference's `dataset` switch (IEMOCAP: bidirectional everywhere; MELD: none on
    /// text, forward on audio and visual); the reference's padded computation is selected.
    /// Settings the reference's scripts never run are refused with the setting named.
    pub fn from_reference(config: &serde_json::Value) -> Result<(Self, DataSpec), ModelError> {
        let r: ReferenceConfig =
            serde_json::from_value(config.clone()).map_err(|e| ModelError::InvalidConfig(e.to_string()))?;
        let refuse = |what: &str, value: String| {
            Err(ModelError::InvalidConfig(format!("reference setting {what} = {value} is not implemented")))
        };
        if r.listener_state {
            return refuse("listener_state", "true".into());
        }
        if r.context_attention != "simple" {
            return refuse("context_attention", r.context_attention);
        }
        if !r.multi_attn_flag {
            return refuse("multi_attn_flag", "false".into());
        }
        if (r.layer_norm_eps - 1e-5).abs() > 1e-12 {
            return refuse("layer_norm_eps", r.layer_norm_eps.to_string());
        }
        if r.d_h.is_some_and(|h| h * r.heads != r.d) {
            return refuse("d_h", format!("{:?} with d = {} and {} heads", r.d_h, r.d, r.heads));
        }
        let mut config = match r.dataset.as_str() {
            "IEMOCAP" => Self::iemocap(),
            "MELD" => Self::meld(),
            other => return refuse("dataset", other.into()),
        };
        config.d_model = r.d;
        config.heads = r.heads;
        config.d_ff = r.d_ff;
        config.fusion_layers = r.n_l;
        config.d_mlp = r.d_mlp;
        config.loss = MultiEmoLossConfig {
            temperature: r.tau,
            focus: r.gamma,
            sample_weight: r.alpha,
            swfc_weight: r.lambda_swfc,
            hgr_weight: r.lambda_hgr,
            ce_weight: r.lambda_ce,
            class_counts: r.class_counts,
        };
        config.reference_padding = true;
        let spec = DataSpec {
            classes: (0..r.c).map(|c| c.to_string()).collect(),
            modalities: [("text", r.d_text), ("audio", r.d_audio), ("visual", r.d_visual)]
                .iter()
                .map(|(n, d)| erc_core::ModalityDim { name: n.to_string(), dim: *d })
                .collect(),
            num_speakers: r.p,
            train_class_counts: None,
        };
        Ok((config, spec))
    }
}
