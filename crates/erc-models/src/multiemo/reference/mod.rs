//! What exists only to match the reference PyTorch code (Shi & Huang's MultiEMO): its
//! parameter names and order, its configuration format, and the parity runs against its
//! fixtures ([`parity`]).

pub mod parity;

use burn::tensor::Device;
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear};
use erc_core::rnn::{DialogueRnnCell, PaddedSteps};
use erc_core::{DataSpec, ModelError};
use serde::Deserialize;

use crate::parity::{not_implemented, read_reference_config, reference_spec};

use crate::multiemo::{MODALITIES, ModalityContext, MultiEmo, MultiEmoConfig, MultiEmoLossConfig};

/// The reference's configuration read into ours.
#[derive(Debug, Clone)]
pub struct ReferenceSetup {
    /// Our configuration.
    pub config: MultiEmoConfig,
    /// Classes, modality widths and parties.
    pub spec: DataSpec,
}

impl ReferenceSetup {
    /// A freshly initialised model of `config` (this setup's, or a variant of it) computing padded
    /// steps as the reference does.
    pub fn build(&self, config: &MultiEmoConfig, device: &Device) -> Result<MultiEmo, ModelError> {
        Ok(MultiEmo::new(config, &self.spec, device)?.with_padded_steps(PaddedSteps::Reference))
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

impl ReferenceSetup {
    /// Reads the reference's configuration (a parity fixture's `config`, or a preset's in
    /// `presets.json`) into our configuration and the dataset facts it implies. Context modes
    /// follow the reference's `dataset` switch (IEMOCAP: bidirectional everywhere; MELD: none on
    /// text, forward on audio and visual); [`ReferenceSetup::build`] gives the reference's padded
    /// computation. Settings the reference's scripts never run are refused with the setting named.
    pub fn from_reference(config: &serde_json::Value) -> Result<Self, ModelError> {
        let r: ReferenceConfig = read_reference_config(config)?;
        if r.listener_state {
            return Err(not_implemented("listener_state", "true"));
        }
        if r.context_attention != "simple" {
            return Err(not_implemented("context_attention", r.context_attention));
        }
        if !r.multi_attn_flag {
            return Err(not_implemented("multi_attn_flag", "false"));
        }
        if (r.layer_norm_eps - 1e-5).abs() > 1e-12 {
            return Err(not_implemented("layer_norm_eps", r.layer_norm_eps.to_string()));
        }
        if r.d_h.is_some_and(|h| h * r.heads != r.d) {
            return Err(not_implemented("d_h", format!("{:?} with d = {} and {} heads", r.d_h, r.d, r.heads)));
        }
        let mut config = match r.dataset.as_str() {
            "IEMOCAP" => MultiEmoConfig::iemocap(),
            "MELD" => MultiEmoConfig::meld(),
            other => return Err(not_implemented("dataset", other)),
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
        let spec = reference_spec(r.c, &[("text", r.d_text), ("audio", r.d_audio), ("visual", r.d_visual)], r.p);
        Ok(Self { config, spec })
    }
}
