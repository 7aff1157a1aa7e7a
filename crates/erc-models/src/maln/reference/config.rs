//! The reference's configuration format, read into ours.

use erc_core::ModelError;
use erc_core::encoder::SpeakerRouting;
use serde::Deserialize;

use crate::parity::{not_implemented, read_reference_config, reference_spec};

use super::{DeadModuleDims, ReferenceNames, ReferenceSetup};
use crate::maln::{FusionSource, MalnConfig, MalnLossWeights};

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
            specific_param_prefix: ReferenceNames::default().specific_param_prefix,
            speaker_routing: SpeakerRouting::Binary,
            mask_padding: false,
            class_weights: None,
            loss_weights: c.loss_weights,
            dead_modules_dims: ReferenceDeadDims::default(),
            comet_dim: None,
        }
    }
}

impl ReferenceSetup {
    /// Reads the reference's configuration (a parity fixture's `config`, or a preset's in
    /// `presets.json`) into our configuration, the reference's names and the dataset facts it
    /// implies. Settings the reference never runs are refused with the setting named.
    pub fn from_reference(config: &serde_json::Value) -> Result<Self, ModelError> {
        let r: ReferenceConfig = read_reference_config(config)?;
        if r.sclm_layers != 1 || r.sclm_heads != 1 {
            return Err(not_implemented(
                "sclm_layers/sclm_heads",
                format!("{}/{} (the reference has 1/1)", r.sclm_layers, r.sclm_heads),
            ));
        }
        if !r.gru_bidirectional {
            return Err(not_implemented("gru_bidirectional", "false"));
        }
        if r.n_modalities != 3 {
            return Err(not_implemented("n_modalities", r.n_modalities.to_string()));
        }
        let ids: Vec<(String, usize)> = r.modality_ids.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let expected = [("audio", 2), ("text", 0), ("visual", 1)];
        if ids.len() != 3 || ids.iter().zip(expected).any(|((n, i), (en, ei))| n != en || *i != ei) {
            return Err(not_implemented("modality_ids", format!("{ids:?}")));
        }
        if (r.layer_norm_eps - 1e-5).abs() > 1e-12 {
            return Err(not_implemented("layer_norm_eps", r.layer_norm_eps.to_string()));
        }
        if r.mask_padding {
            return Err(not_implemented("mask_padding", "true"));
        }
        if let Some(w) = r.class_weights {
            return Err(not_implemented("class_weights", format!("{w:?}")));
        }
        let config = MalnConfig {
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
        };
        let names = ReferenceNames {
            specific_param_prefix: r.specific_param_prefix,
            dead_modules: DeadModuleDims {
                comet_dim: r.comet_dim.unwrap_or(r.dead_modules_dims.comet_dim),
                speaker_embedding: r.dead_modules_dims.speaker_embedding,
                gru_smax_fc_classes: r.dead_modules_dims.gru_smax_fc_classes,
            },
        };
        config.validate()?;
        let spec = reference_spec(r.n_classes, &[("text", r.d_t), ("audio", r.d_a), ("visual", r.d_v)], r.n_parties);
        Ok(Self { config, names, spec })
    }
}
