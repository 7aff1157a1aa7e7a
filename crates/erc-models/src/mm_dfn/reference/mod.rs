//! What exists only to match the reference PyTorch code (Hu et al.'s MM-DFN): its parameter
//! names and order, the parameters it creates but never uses, its configuration format and the
//! parity run against its fixtures ([`parity`]).

pub mod parity;

use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear};
use erc_core::{DataSpec, ModelError};
use serde::Deserialize;

use crate::mm_dfn::{MmDfn, MmDfnConfig, SpeakerWeights};
use crate::parity::{not_implemented, read_reference_config};

/// An [`MmDfn`] as the reference names it: its parameters walk under the reference's
/// `state_dict` names ([`TorchNamed`]).
#[derive(Debug, Clone)]
pub struct ReferenceMmDfn {
    /// The network.
    pub model: MmDfn,
    /// Length of the reference's unused edge-attention table (`att_model.scalar.weight`, 200 in
    /// its scripts): sizes that dead parameter only.
    pub max_seq_len: usize,
}

/// The reference's configuration read into ours.
#[derive(Debug, Clone)]
pub struct ReferenceSetup {
    /// Our configuration.
    pub config: MmDfnConfig,
    /// The length of the reference's unused edge-attention table.
    pub max_seq_len: usize,
    /// Classes, modality widths and speakers.
    pub spec: DataSpec,
}

impl TorchNamed for ReferenceMmDfn {
    /// Walks every parameter under the reference's `state_dict` names, in its order,
    /// including the parameters the reference creates but never uses.
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let Self { model, max_seq_len } = self;
        let s = model.settings.clone();
        let (d, h, c, spk) = (s.d_model, s.graph_hidden, s.num_classes, s.num_speakers);
        let mut projections = Vec::with_capacity(model.projections.len());
        for ((_, role), linear) in s.modalities.iter().zip(model.projections) {
            projections.push(import_linear(p, &format!("linear_{}", role.initial()), linear)?);
        }
        let text_context = match model.text_context {
            Some(gru) => Some(gru.visit_torch(p, "lstm_l")?),
            None => None,
        };
        let speaker_context = model.speaker_context.visit_torch(p, "rnn_parties")?;
        for (name, shape) in [
            ("att_model.scalar.weight", vec![max_seq_len, d]),
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
        let fusion = model.fusion.visit_torch(p, "graph_model.graph_net")?;
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
        let classifier = import_linear(p, "smax_fc", model.classifier)?;
        let model = MmDfn {
            projections,
            text_context,
            speaker_context,
            fusion,
            dropout: model.dropout,
            classifier,
            settings: s,
        };
        Ok(Self { model, max_seq_len })
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

impl ReferenceSetup {
    /// Reads a configuration written with the reference's argument names (the `config` object
    /// of a parity fixture) into our configuration and the dataset facts it implies.
    ///
    /// Only the path the paper's scripts run is implemented (`graph_type = GDF`,
    /// `base_model = LSTM`, `mm_fusion_mthd = concat_subsequently`, `reason_flag`, `use_residue`,
    /// `use_crn_speaker`, no `av_using_lstm`/`use_speaker`/`use_modal`); anything else is an
    /// error that names the setting.
    pub fn from_reference(config: &serde_json::Value) -> Result<Self, ModelError> {
        let r: ReferenceConfig = read_reference_config(config)?;
        if r.graph_type != "GDF" {
            return Err(not_implemented("graph_type", r.graph_type));
        }
        if r.base_model != "LSTM" {
            return Err(not_implemented("base_model", r.base_model));
        }
        if r.mm_fusion_mthd != "concat_subsequently" {
            return Err(not_implemented("mm_fusion_mthd", r.mm_fusion_mthd));
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
                return Err(not_implemented(name, value));
            }
        }
        if 2 * r.D_e != 200 || r.graph_h != 100 {
            // the reference hard-codes 200-wide projections and a 300·M classifier input
            return Err(not_implemented(
                "D_e/graph_h",
                format!("{}/{} (the reference only runs 100/100)", r.D_e, r.graph_h),
            ));
        }
        let mut modalities = Vec::new();
        for c in r.modals.chars() {
            let (name, dim) = match c {
                'a' => ("audio", r.D_a),
                'v' => ("visual", r.D_v),
                'l' => ("text", r.D_t),
                other => return Err(not_implemented("modals", other)),
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
        let config = MmDfnConfig {
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
        };
        Ok(Self { config, max_seq_len, spec })
    }
}
