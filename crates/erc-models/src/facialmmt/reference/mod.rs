//! What exists only to match the reference PyTorch code (Zheng et al.'s FacialMMT): its
//! parameter names and order, its configuration format, and the parity run against its
//! fixtures ([`parity`]).

pub mod parity;

use erc_core::encoder::{BertLayerNames, FeedForwardActivation};
use erc_core::filter::FerMode;
use erc_core::import::{ImportError, Prefixed, TorchNamed, TorchParams, import_linear};
use erc_text::{Family, TransformerConfig};
use serde::Deserialize;

use crate::facialmmt::{FacialMmt, FacialMmtConfig, Separator, TextBranch};

impl TorchNamed for FacialMmt {
    /// The multimodal checkpoint's `state_dict`: `roberta.*`/`bert.*` (PLM branch; the pooler
    /// is listed as unused), `text_linear`, `audio_linear`, `audio_utt_transformer`,
    /// `vision_linear`, `vision_utt_transformer`, `attention`, `CrossModalTrans_TA`,
    /// `CrossModalTrans_TA_V`, `classifier`. The FER head lives in the Swin checkpoint
    /// ([`FerHead`](crate::facialmmt::FerHead)).
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let plm = match (self.plm, &self.config.text) {
            (Some(plm), TextBranch::Plm { transformer, separator }) => {
                let prefix = match separator {
                    Separator::Roberta => "roberta.",
                    Separator::Bert => "bert.",
                };
                let mut prefixed = Prefixed::new(p, prefix);
                let plm = plm.visit_torch(&mut prefixed)?;
                let w = transformer.hidden_size;
                prefixed.unused("pooler.dense.weight", &[w, w])?;
                prefixed.unused("pooler.dense.bias", &[w])?;
                Some(plm)
            }
            (plm, _) => plm,
        };
        let names = BertLayerNames::FACIAL_MMT;
        Ok(Self {
            plm,
            text_linear: import_linear(p, "text_linear", self.text_linear)?,
            audio: self.audio.visit_torch(p, "audio_linear", "audio_utt_transformer", &names)?,
            vision: self.vision.visit_torch(p, "vision_linear", "vision_utt_transformer", &names)?,
            pooling: self.pooling.visit_torch(p, "attention")?,
            cmt_ta: self.cmt_ta.visit_torch(p, "CrossModalTrans_TA")?,
            cmt_tav: self.cmt_tav.visit_torch(p, "CrossModalTrans_TA_V")?,
            classifier: import_linear(p, "classifier", self.classifier)?,
            ..self
        })
    }
}

impl FacialMmtConfig {
    /// The configuration a parity fixture (or `presets.json`) states, under the reference's
    /// argument names; `plm` (a RoBERTa/BERT config object) selects the PLM branch.
    pub fn from_reference(config: &serde_json::Value) -> Result<Self, String> {
        let r: ReferenceConfig = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let text = match &r.plm {
            Some(plm) => {
                let family = match plm.model_type.as_str() {
                    "roberta" => Family::Roberta,
                    "bert" => Family::Bert,
                    other => return Err(format!("plm.model_type `{other}` (roberta or bert)")),
                };
                let activation = FeedForwardActivation::from_hf_name(&plm.hidden_act)
                    .ok_or_else(|| format!("plm.hidden_act `{}`", plm.hidden_act))?;
                TextBranch::Plm {
                    transformer: TransformerConfig {
                        family,
                        vocab_size: plm.vocab_size,
                        hidden_size: plm.hidden_size,
                        num_layers: plm.num_hidden_layers,
                        num_heads: plm.num_attention_heads,
                        intermediate_size: plm.intermediate_size,
                        activation,
                        layer_norm_eps: plm.layer_norm_eps,
                        max_position_embeddings: plm.max_position_embeddings,
                        type_vocab_size: plm.type_vocab_size,
                        pad_token_id: plm.pad_token_id,
                        dropout: plm.hidden_dropout_prob,
                    },
                    separator: if family == Family::Roberta { Separator::Roberta } else { Separator::Bert },
                }
            }
            None => TextBranch::Features { dim: 1024 },
        };
        if (r.tau - 1.0).abs() > 1e-12 {
            return Err(format!("tau = {} (only τ = 1 is implemented)", r.tau));
        }
        let config = Self {
            width: r.hidden_size,
            heads: r.num_attention_heads,
            d_ff: r.intermediate_size,
            layer_norm_eps: r.layer_norm_eps,
            dropout: r.hidden_dropout_prob,
            audio_layers: r.audio_utt_transformernum,
            vision_layers: r.vision_utt_transformernum,
            text_len: r.get_text_utt_max_lens,
            audio_len: r.get_audio_utt_max_lens,
            vision_len: r.get_vision_utt_max_lens,
            audio_dim: r.audio_feat_extr_dim,
            face_dim: r.vision_feat_extr_dim,
            fer_classes: 7,
            fer_hidden: 64,
            cmt_ta_layers: r.crossmodal_layers_ta,
            cmt_ta_heads: r.crossmodal_num_heads_ta,
            cmt_tav_layers: r.crossmodal_layers_ta_v,
            cmt_tav_heads: r.crossmodal_num_heads_ta_v,
            cmt_d_ff: r.cmt_ffn_dim.unwrap_or(4 * r.hidden_size),
            cmt_attention_dropout: r.crossmodal_attn_dropout_ta,
            cmt_layer_norm_eps: r.cmt_layer_norm_eps,
            cmt_key_padding: r.cmt_attn_mask,
            fer_threshold: r.facial_emo_impor_threshold,
            fer_mode: FerMode::Softmax,
            text,
            num_classes: r.num_labels,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Deserialize)]
struct ReferencePlm {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "gelu")]
    hidden_act: String,
    layer_norm_eps: f64,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    pad_token_id: usize,
    #[serde(default)]
    hidden_dropout_prob: f64,
}

fn gelu() -> String {
    "gelu".into()
}

#[derive(Debug, Deserialize)]
struct ReferenceConfig {
    num_labels: usize,
    hidden_size: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_dropout_prob: f64,
    layer_norm_eps: f64,
    #[serde(rename = "audio_utt_Transformernum")]
    audio_utt_transformernum: usize,
    #[serde(rename = "vision_utt_Transformernum")]
    vision_utt_transformernum: usize,
    #[serde(rename = "crossmodal_layers_TA")]
    crossmodal_layers_ta: usize,
    #[serde(rename = "crossmodal_num_heads_TA")]
    crossmodal_num_heads_ta: usize,
    #[serde(rename = "crossmodal_attn_dropout_TA")]
    crossmodal_attn_dropout_ta: f64,
    #[serde(rename = "crossmodal_layers_TA_V")]
    crossmodal_layers_ta_v: usize,
    #[serde(rename = "crossmodal_num_heads_TA_V")]
    crossmodal_num_heads_ta_v: usize,
    #[serde(rename = "audio_featExtr_dim")]
    audio_feat_extr_dim: usize,
    #[serde(rename = "vision_featExtr_dim")]
    vision_feat_extr_dim: usize,
    get_text_utt_max_lens: usize,
    get_audio_utt_max_lens: usize,
    get_vision_utt_max_lens: usize,
    tau: f64,
    #[serde(rename = "FacialEmoImpor_threshold")]
    facial_emo_impor_threshold: f32,
    #[serde(default)]
    cmt_ffn_dim: Option<usize>,
    #[serde(default = "fairseq_eps")]
    cmt_layer_norm_eps: f64,
    #[serde(default)]
    cmt_attn_mask: bool,
    #[serde(default)]
    plm: Option<ReferencePlm>,
}

fn fairseq_eps() -> f64 {
    1e-5
}
