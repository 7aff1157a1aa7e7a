//! MM-DFN (Hu et al., ICASSP 2022): multimodal dialogue graph with graph-based dynamic fusion.
//!
//! Per modality (audio, visual, text, in that order): a linear projection to `2·D_e`; text adds
//! a 2-layer BiGRU over the dialogue; every modality adds a weighted speaker-level context (one
//! BiGRU shared by all modalities, run over each speaker's own utterances). The utterance ×
//! modality nodes form a graph (angular similarity within a modality and dialogue, same
//! utterance across modalities) processed by the gated GCNII stack
//! ([`DynamicFusion`]); the per-modality outputs are concatenated and classified. The loss is
//! the reference's focal loss. See `docs/models/mm-dfn.md` and the implementation spec.
//!
//! Differences from the reference, both deliberate: every recurrent pass is length-aware, so
//! a dialogue's predictions do not depend on what else is in its batch (on equal-length
//! batches, and on any dialogue alone, the two agree to float precision); and the graph is kept
//! per dialogue instead of as one dense `(3N)²` matrix.
//!
//! Files: this one holds the network; [`config`] its configuration and presets; [`reference`](mod@reference)
//! what exists only to match the PyTorch code (parameter names, dead parameters, its
//! configuration format, the parity run).

pub mod config;
pub mod reference;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use erc_core::batch::index_tensor;
use erc_core::graph::{DynamicFusion, DynamicFusionConfig, FusionTrace, MultimodalGraph, NodeLayout};
use erc_core::loss::{focal_loss, labelled_rows};
use erc_core::rnn::{MaskedBiGru, MaskedBiGruConfig, SpeakerGroups, speaker_context};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelFactory, ModelOutput, Preset};

use crate::modalities;

pub use config::{IEMOCAP_CLASS_WEIGHTS, MmDfnConfig, PRESETS, SpeakerWeights};

/// Which of MM-DFN's three modalities a dataset modality plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Audio,
    Visual,
    Text,
}

impl Role {
    fn of(name: &str) -> Option<Self> {
        match name {
            "audio" => Some(Self::Audio),
            "visual" => Some(Self::Visual),
            "text" => Some(Self::Text),
            _ => None,
        }
    }

    /// The reference's initial, used in its parameter names.
    pub(crate) fn initial(self) -> char {
        match self {
            Self::Audio => 'a',
            Self::Visual => 'v',
            Self::Text => 'l',
        }
    }
}

/// Settings the model keeps beside its weights.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    /// `(dataset modality name, role)` in the reference's a, v, l order.
    modalities: Vec<(String, Role)>,
    /// Speaker-context weight per selected modality.
    speaker_weights: Vec<f64>,
    modal_weight: f64,
    gamma: f64,
    class_weights: Option<Vec<f32>>,
    num_speakers: usize,
    num_classes: usize,
    d_model: usize,
    graph_hidden: usize,
}

/// The MM-DFN model. Build it through [`MmDfnModel`] (the registry) or [`MmDfn::new`].
#[derive(Module, Debug)]
pub struct MmDfn {
    /// Per selected modality, `linear_{a,v,l}`: `D_m → 2·D_e`.
    projections: Vec<Linear>,
    /// `lstm_l`: the text context BiGRU (present when text is selected).
    text_context: Option<MaskedBiGru>,
    /// `rnn_parties`: the speaker-level BiGRU shared by all modalities.
    speaker_context: MaskedBiGru,
    /// `graph_model.graph_net`: the dynamic fusion stack.
    fusion: DynamicFusion,
    dropout: Dropout,
    /// `smax_fc`: `M·(2·D_e + graph_h) → C`.
    classifier: Linear,
    #[module(skip)]
    settings: Settings,
}

/// Everything one forward pass computes, packed over real utterances (`N` rows, dialogue-major;
/// graph tensors `M·N` rows, modality-major).
#[derive(Debug, Clone)]
pub struct MmDfnPass {
    /// Stage A, per selected modality: projections `[B, T, 2·D_e]`.
    pub projections: Vec<Tensor<3>>,
    /// Stage B: text context `[B, T, 2·D_e]` (when text is selected).
    pub text_context: Option<Tensor<3>>,
    /// Stage C, per selected modality: node features `[N, 2·D_e]`.
    pub nodes: Vec<Tensor<2>>,
    /// Stage D: the graph.
    pub graph: MultimodalGraph,
    /// Stage E: fusion output `[M·N, 2·D_e + graph_h]`.
    pub fusion_out: Tensor<2>,
    /// Stage E intermediates (filled when traced).
    pub fusion_trace: FusionTrace,
    /// Stage F input `[N, M·(2·D_e + graph_h)]`.
    pub fused: Tensor<2>,
    /// `[N, C]` logits.
    pub logits: Tensor<2>,
    /// `[N, C]` log-probabilities.
    pub log_probs: Tensor<2>,
}

impl MmDfn {
    /// Builds a freshly initialised model for a dataset.
    pub fn new(config: &MmDfnConfig, spec: &DataSpec, device: &Device) -> Result<Self, ModelError> {
        let invalid = |m: String| Err(ModelError::InvalidConfig(m));
        let selected = modalities::resolve(config.modalities.as_deref(), spec)?;
        let mut roles = Vec::with_capacity(selected.len());
        for (name, dim) in selected {
            match Role::of(&name) {
                Some(role) => roles.push((name, role, dim)),
                None => return invalid(format!("MM-DFN reads text, audio and visual; `{name}` is none of them")),
            }
        }
        roles.sort_by_key(|(_, role, _)| *role);
        if config.encoder_hidden == 0 || config.graph_hidden == 0 || config.gdf_layers == 0 {
            return invalid("encoder_hidden, graph_hidden and gdf_layers must be positive".into());
        }
        if !(0.0..1.0).contains(&config.dropout) || !config.gamma.is_finite() || config.gamma < 0.0 {
            return invalid(format!(
                "dropout must be in [0, 1) and gamma ≥ 0 (got {}, {})",
                config.dropout, config.gamma
            ));
        }
        if config.lambda <= 0.0 || !(0.0..=1.0).contains(&config.alpha) {
            return invalid(format!("need lambda > 0 and alpha in [0, 1] (got {}, {})", config.lambda, config.alpha));
        }
        crate::modalities::check_weights(&config.class_weights, spec)?;
        let d_model = 2 * config.encoder_hidden;
        let gru = |d_in| {
            MaskedBiGruConfig::new(d_in, config.encoder_hidden)
                .with_num_layers(2)
                .with_dropout(config.dropout)
                .init(device)
        };
        let weight = |role: Role| match role {
            Role::Audio => config.speaker_weights.audio,
            Role::Visual => config.speaker_weights.visual,
            Role::Text => config.speaker_weights.text,
        };
        let has_text = roles.iter().any(|(_, r, _)| *r == Role::Text);
        Ok(Self {
            projections: roles.iter().map(|(_, _, dim)| LinearConfig::new(*dim, d_model).init(device)).collect(),
            text_context: has_text.then(|| gru(d_model)),
            speaker_context: gru(d_model),
            fusion: DynamicFusionConfig::new(d_model, config.graph_hidden, config.gdf_layers)
                .with_alpha(config.alpha)
                .with_lambda(config.lambda)
                .with_dropout(config.dropout)
                .init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            classifier: LinearConfig::new(roles.len() * (d_model + config.graph_hidden), spec.num_classes())
                .init(device),
            settings: Settings {
                speaker_weights: roles.iter().map(|(_, r, _)| weight(*r)).collect(),
                modalities: roles.into_iter().map(|(n, r, _)| (n, r)).collect(),
                modal_weight: config.modal_weight,
                gamma: config.gamma,
                class_weights: config.class_weights.clone(),
                num_speakers: spec.num_speakers,
                num_classes: spec.num_classes(),
                d_model,
                graph_hidden: config.graph_hidden,
            },
        })
    }

    /// Runs every stage; with `trace`, the fusion stack keeps its per-layer values.
    pub fn forward_pass(&self, batch: &DialogueBatch, trace: bool) -> Result<MmDfnPass, ModelError> {
        let s = &self.settings;
        let layout = &batch.layout;
        let [b, t] = [batch.batch_size(), batch.max_len()];
        let device = batch.device();

        // Stage A: projections [B, T, d]
        let mut projections = Vec::with_capacity(s.modalities.len());
        for ((name, _), linear) in s.modalities.iter().zip(&self.projections) {
            projections.push(linear.forward(batch.modality(name)?));
        }
        // Stage B: text context and speaker-level context
        let text_index = s.modalities.iter().position(|(_, r)| *r == Role::Text);
        let text_context = match (&self.text_context, text_index) {
            (Some(gru), Some(i)) => Some(gru.forward(projections[i].clone(), &layout.lengths)),
            _ => None,
        };
        let speaking: Vec<usize> = (0..s.modalities.len()).filter(|&i| s.speaker_weights[i] != 0.0).collect();
        let groups = SpeakerGroups::from_layout(layout);
        let inputs: Vec<Tensor<3>> = speaking.iter().map(|&i| projections[i].clone()).collect();
        let mut party = speaker_context(&self.speaker_context, &inputs, &groups).into_iter();

        // Stage C: node features, packed [N, d]
        let packed = index_tensor(&layout.utterance_rows(), &device);
        let mut nodes = Vec::with_capacity(s.modalities.len());
        for (i, projection) in projections.iter().enumerate() {
            let mut encoded = match (Some(i) == text_index, &text_context) {
                (true, Some(c)) => c.clone(),
                _ => projection.clone(),
            };
            if speaking.contains(&i) {
                let p = party.next().expect("one speaker context per speaking modality");
                encoded = encoded + p.mul_scalar(s.speaker_weights[i]);
            }
            nodes.push(encoded.reshape([b * t, s.d_model]).select(0, packed.clone()));
        }

        // Stages D and E: graph and dynamic fusion over [M·N, d]
        let node_layout = NodeLayout::from_batch(layout);
        let graph = MultimodalGraph::build(&nodes, &node_layout, s.modal_weight);
        let (fusion_out, fusion_trace) = self.fusion.forward(Tensor::cat(nodes.clone(), 0), &graph, trace);

        // Stage F: per-modality outputs side by side, classifier
        let n = node_layout.num_nodes();
        let fused = Tensor::cat((0..s.modalities.len()).map(|m| fusion_out.clone().narrow(0, m * n, n)).collect(), 1);
        let logits = self.classifier.forward(relu(self.dropout.forward(fused.clone())));
        let log_probs = log_softmax(logits.clone(), 1);
        Ok(MmDfnPass { projections, text_context, nodes, graph, fusion_out, fusion_trace, fused, logits, log_probs })
    }

    /// Packed `[N, C]` rows back on the padded grid `[B, T, C]`; padded steps repeat row 0
    /// (their values are unspecified).
    pub fn to_padded(&self, packed: Tensor<2>, batch: &DialogueBatch) -> Tensor<3> {
        let [b, t] = [batch.batch_size(), batch.max_len()];
        let rows = index_tensor(&batch.layout.packed_rows(), &batch.device());
        packed.select(0, rows).reshape([b, t, self.settings.num_classes])
    }

    /// The focal loss over the labelled utterances of padded `[B, T, C]` log-probabilities;
    /// `None` when no utterance carries a label.
    pub fn loss(&self, log_probs: Tensor<3>, batch: &DialogueBatch) -> Option<Tensor<1>> {
        let rows = labelled_rows(log_probs, batch)?;
        let weights = self.settings.class_weights.as_deref();
        Some(focal_loss(rows.log_probs, rows.targets, &rows.targets_host, weights, self.settings.gamma))
    }
}

impl DialogueModel for MmDfn {
    fn forward(&self, batch: &DialogueBatch) -> Result<ModelOutput, ModelError> {
        let pass = self.forward_pass(batch, false)?;
        let log_probs = self.to_padded(pass.log_probs, batch);
        let loss_terms =
            self.loss(log_probs.clone(), batch).map(|focal| vec![LossTerm::new("focal", focal)]).unwrap_or_default();
        Ok(ModelOutput { log_probs, loss_terms })
    }
}

/// Registry entry of [`MmDfn`].
pub struct MmDfnModel;

impl ModelFactory for MmDfnModel {
    const NAME: &'static str = "mm-dfn";
    const DESCRIPTION: &'static str =
        "MM-DFN (ICASSP 2022): speaker-aware GRU encoders + graph-based dynamic fusion, focal loss";
    type Config = MmDfnConfig;
    type Model = MmDfn;

    const PRESETS: &'static [Preset<MmDfnConfig>] = PRESETS;

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        MmDfn::new(config, spec, device)
    }
}
