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
//! reference attends to padding garbage); [`MultiEmo::with_padded_steps`] reproduces the
//! reference's padded computation. Model selection is on validation (the reference selects on test).

//!
//! Files: this one holds the network; [`config`] its configuration and presets; [`reference`](mod@reference)
//! what exists only to match the PyTorch code (parameter names, its configuration format, the
//! parity runs).

pub mod config;
pub mod reference;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor, TensorData};
use erc_core::attention::{CrossModalConfig, CrossModalStack, StreamLayout};
use erc_core::batch::index_tensor;
use erc_core::loss::{SoftHgr, SwfcLoss, nll_loss, soft_hgr_loss, swfc_class_weights};
use erc_core::rnn::{Chain, DialogueRnnCell, DialogueRnnCellConfig, PaddedSteps, Speakers, run_dialogue_rnns};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelFactory, ModelOutput, Preset};

pub use config::{ContextMode, ContextModes, MODALITIES, MultiEmoConfig, MultiEmoLossConfig, PRESETS};

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
                forward: (*mode != ContextMode::None).then(|| DialogueRnnCellConfig::new(d, d).init(device)),
                backward: (*mode == ContextMode::Bidirectional).then(|| DialogueRnnCellConfig::new(d, d).init(device)),
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
                padded: PaddedSteps::Skip,
            },
        })
    }

    /// This model computing padded steps as `padded` says: [`PaddedSteps::Skip`] (the default)
    /// skips them in the recurrences and masks them out of every attention, so a dialogue's
    /// outputs do not depend on its batch; [`PaddedSteps::Reference`] runs and attends to them as
    /// the reference does.
    pub fn with_padded_steps(mut self, padded: PaddedSteps) -> Self {
        self.settings.padded = padded;
        self
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

    const PRESETS: &'static [Preset<MultiEmoConfig>] = PRESETS;

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        MultiEmo::new(config, spec, device)
    }
}
