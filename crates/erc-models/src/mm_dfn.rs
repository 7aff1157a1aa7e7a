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

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use erc_core::batch::index_tensor;
use erc_core::fusion::{DynamicFusion, DynamicFusionConfig, FusionTrace};
use erc_core::graph::{MultimodalGraph, NodeLayout};
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear};
use erc_core::loss::{focal_loss, labelled_rows};
use erc_core::rnn::{MaskedBiGru, MaskedBiGruConfig};
use erc_core::speaker::{SpeakerGroups, speaker_context};
use erc_core::training::{LrSchedule, OptimizerKind, TrainingPreset};
use erc_core::{DataSpec, DialogueBatch, DialogueModel, LossTerm, ModelError, ModelOutput};
use serde::{Deserialize, Serialize};

use crate::modalities;
use crate::registry::ModelFactory;

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

/// Configuration of [`MmDfn`]. Field names follow the spec; the presets hold the paper's values.
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
    /// Length of the reference's unused edge-attention table; only sizes one dead parameter
    /// (`att_model.scalar.weight`) when importing or listing reference weights.
    pub reference_max_seq_len: usize,
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
            reference_max_seq_len: 200,
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
    fn initial(self) -> char {
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
    reference_max_seq_len: usize,
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
        crate::baseline::check_weights(&config.class_weights, spec)?;
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
                reference_max_seq_len: config.reference_max_seq_len,
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

impl TorchNamed for MmDfn {
    /// Walks every parameter under the reference's `state_dict` names, in its order,
    /// including the parameters the reference creates but never uses.
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let s = self.settings.clone();
        let (d, h, c, spk) = (s.d_model, s.graph_hidden, s.num_classes, s.num_speakers);
        let mut projections = Vec::with_capacity(self.projections.len());
        for ((_, role), linear) in s.modalities.iter().zip(self.projections) {
            projections.push(import_linear(p, &format!("linear_{}", role.initial()), linear)?);
        }
        let text_context = match self.text_context {
            Some(gru) => Some(gru.visit_torch(p, "lstm_l")?),
            None => None,
        };
        let speaker_context = self.speaker_context.visit_torch(p, "rnn_parties")?;
        for (name, shape) in [
            ("att_model.scalar.weight", vec![s.reference_max_seq_len, d]),
            ("att_model.matchatt.transform.weight", vec![d, d]),
            ("att_model.matchatt.transform.bias", vec![d]),
            ("att_model.simpleatt.scalar.weight", vec![1, d]),
            ("att_model.att.weight", vec![2 * d]),
            ("att_model.att.w_k.weight", vec![d, d]),
            ("att_model.att.w_k.bias", vec![d]),
            ("att_model.att.w_q.weight", vec![d, d]),
            ("att_model.att.w_q.bias", vec![d]),
            ("att_model.att.proj.weight", vec![d, d]),
            ("att_model.att.proj.bias", vec![d]),
        ] {
            p.unused(name, &shape)?;
        }
        let fusion = self.fusion.visit_torch(p, "graph_model.graph_net")?;
        let mut dead = Vec::new();
        for m in ["a", "v", "l"] {
            dead.push((format!("graph_model.{m}_fc.weight"), vec![d, d]));
            dead.push((format!("graph_model.{m}_fc.bias"), vec![d]));
        }
        dead.push(("graph_model.feature_fc.weight".into(), vec![h, 3 * d + 3 * h]));
        dead.push(("graph_model.feature_fc.bias".into(), vec![h]));
        dead.push(("graph_model.final_fc.weight".into(), vec![c, h]));
        dead.push(("graph_model.final_fc.bias".into(), vec![c]));
        dead.push(("graph_model.modal_embeddings.weight".into(), vec![3, d]));
        for e in ["speaker_embeddings", "a_spk_embs", "v_spk_embs", "l_spk_embs"] {
            dead.push((format!("graph_model.{e}.weight"), vec![spk, d]));
        }
        for m in ["l", "v", "a"] {
            dead.push((format!("gatedatt.transform_{m}.weight"), vec![h, d + h]));
            dead.push((format!("gatedatt.transform_{m}.bias"), vec![h]));
        }
        for pair in ["av", "al", "vl"] {
            dead.push((format!("gatedatt.transform_{pair}.weight"), vec![1, 3 * (d + h)]));
            dead.push((format!("gatedatt.transform_{pair}.bias"), vec![1]));
        }
        for (name, shape) in &dead {
            p.unused(name, shape)?;
        }
        let classifier = import_linear(p, "smax_fc", self.classifier)?;
        Ok(Self { projections, text_context, speaker_context, fusion, dropout: self.dropout, classifier, settings: s })
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

    fn presets() -> &'static [&'static str] {
        &["iemocap", "meld", "iemocap-text", "meld-text"]
    }

    /// `*-text`: the same settings reading the text modality alone (datasets from `erc featurize`).
    fn preset(name: &str) -> Option<(Self::Config, TrainingPreset)> {
        let text_only = |c: MmDfnConfig| MmDfnConfig { modalities: Some(vec!["l".into()]), ..c };
        match name {
            "iemocap" => Some((MmDfnConfig::iemocap(), MmDfnConfig::iemocap_training())),
            "meld" => Some((MmDfnConfig::meld(), MmDfnConfig::meld_training())),
            "iemocap-text" => Some((text_only(MmDfnConfig::iemocap()), MmDfnConfig::iemocap_training())),
            "meld-text" => Some((text_only(MmDfnConfig::meld()), MmDfnConfig::meld_training())),
            _ => None,
        }
    }

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        MmDfn::new(config, spec, device)
    }
}

/// The reference's own hyper-parameter names (`run_train_erc.py` arguments), as the parity
/// fixtures' `config` writes them.
#[allow(non_snake_case)]
#[derive(Debug, Clone, Deserialize)]
struct ReferenceConfig {
    D_t: usize,
    D_a: usize,
    D_v: usize,
    n_speakers: usize,
    n_classes: usize,
    D_e: usize,
    graph_h: usize,
    Deep_GCN_nlayers: usize,
    dropout: f64,
    alpha: f64,
    lamda: f64,
    speaker_weights_list: [f64; 3],
    modal_weight: f64,
    modals: String,
    gamma: f64,
    class_weight: bool,
    class_weights: Option<Vec<f32>>,
    #[serde(default = "default_graph_type")]
    graph_type: String,
    #[serde(default = "default_base_model")]
    base_model: String,
    #[serde(default = "default_fusion")]
    mm_fusion_mthd: String,
    #[serde(default = "yes")]
    reason_flag: bool,
    #[serde(default = "yes")]
    use_residue: bool,
    #[serde(default = "yes")]
    use_crn_speaker: bool,
    #[serde(default)]
    av_using_lstm: bool,
    #[serde(default)]
    use_speaker: bool,
    #[serde(default)]
    use_modal: bool,
    #[serde(default)]
    unused_on_this_path: Option<serde_json::Value>,
}

fn default_graph_type() -> String {
    "GDF".into()
}

fn default_base_model() -> String {
    "LSTM".into()
}

fn default_fusion() -> String {
    "concat_subsequently".into()
}

fn yes() -> bool {
    true
}

impl MmDfnConfig {
    /// Reads a configuration written with the reference's argument names (the `config` object
    /// of a parity fixture) into our configuration and the dataset facts it implies.
    ///
    /// Only the path the paper's scripts run is implemented (`graph_type = GDF`,
    /// `base_model = LSTM`, `mm_fusion_mthd = concat_subsequently`, `reason_flag`, `use_residue`,
    /// `use_crn_speaker`, no `av_using_lstm`/`use_speaker`/`use_modal`); anything else is an
    /// error that names the setting.
    pub fn from_reference(config: &serde_json::Value) -> Result<(Self, DataSpec), ModelError> {
        let r: ReferenceConfig = serde_json::from_value(config.clone())
            .map_err(|e| ModelError::InvalidConfig(format!("reading the reference configuration: {e}")))?;
        let unsupported = |what: &str, value: &dyn std::fmt::Display| {
            Err(ModelError::InvalidConfig(format!("reference setting {what} = {value} is not implemented")))
        };
        if r.graph_type != "GDF" {
            return unsupported("graph_type", &r.graph_type);
        }
        if r.base_model != "LSTM" {
            return unsupported("base_model", &r.base_model);
        }
        if r.mm_fusion_mthd != "concat_subsequently" {
            return unsupported("mm_fusion_mthd", &r.mm_fusion_mthd);
        }
        for (name, value, wanted) in [
            ("reason_flag", r.reason_flag, true),
            ("use_residue", r.use_residue, true),
            ("use_crn_speaker", r.use_crn_speaker, true),
            ("av_using_lstm", r.av_using_lstm, false),
            ("use_speaker", r.use_speaker, false),
            ("use_modal", r.use_modal, false),
        ] {
            if value != wanted {
                return unsupported(name, &value);
            }
        }
        if 2 * r.D_e != 200 || r.graph_h != 100 {
            // the reference hard-codes 200-wide projections and a 300·M classifier input
            return unsupported("D_e/graph_h", &format!("{}/{} (the reference only runs 100/100)", r.D_e, r.graph_h));
        }
        let mut modalities = Vec::new();
        for c in r.modals.chars() {
            let (name, dim) = match c {
                'a' => ("audio", r.D_a),
                'v' => ("visual", r.D_v),
                'l' => ("text", r.D_t),
                other => return unsupported("modals", &other),
            };
            modalities.push(erc_core::ModalityDim { name: name.into(), dim });
        }
        let max_seq_len = r
            .unused_on_this_path
            .as_ref()
            .and_then(|u| u.get("max_seq_len"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(200) as usize;
        let spec = DataSpec {
            classes: (0..r.n_classes).map(|c| format!("class{c}")).collect(),
            modalities,
            num_speakers: r.n_speakers,
            train_class_counts: None,
        };
        let config = Self {
            modalities: Some(vec![r.modals.clone()]),
            encoder_hidden: r.D_e,
            graph_hidden: r.graph_h,
            gdf_layers: r.Deep_GCN_nlayers,
            dropout: r.dropout,
            alpha: r.alpha,
            lambda: r.lamda,
            speaker_weights: SpeakerWeights {
                audio: r.speaker_weights_list[0],
                visual: r.speaker_weights_list[1],
                text: r.speaker_weights_list[2],
            },
            modal_weight: r.modal_weight,
            gamma: r.gamma,
            class_weights: if r.class_weight { r.class_weights } else { None },
            reference_max_seq_len: max_seq_len,
        };
        Ok((config, spec))
    }
}
