//! FacialMMT (Zheng et al., ACL 2023): facial-expression-aware frame filtering of the speaker's
//! face sequence, BERT-style audio and vision frame encoders, two weight-shared cross-modal
//! transformer stages (text ↔ audio, then that ↔ vision), additive-attention pooling and a
//! linear classifier. One sample is one utterance; its text comes with the whole dialogue as
//! context. See `../shared/specs/facialmmt.md` and `docs/models/facialmmt.md`.
//!
//! Shapes: `N` utterances, `T` text rows, `A` audio frames, `V` faces, `d` fusion width.

mod data;
mod fer;
mod presets;
pub mod text;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor};
use erc_core::batch::gather_rows;
use erc_core::bert::{BertLayerConfig, BertLayerNames, FeedForwardActivation, KeyMasking};
use erc_core::crossmodal_transformer::{CrossModalTransformer, CrossModalTransformerConfig};
use erc_core::frame_encoder::FrameEncoder;
use erc_core::frame_filter::{FerMode, FilteredFrames, filter_frames};
use erc_core::import::{ImportError, Prefixed, TorchNamed, TorchParams, import_linear};
use erc_core::pooling::AdditivePooling;
use erc_text::TransformerConfig;
use erc_text::model::TextTransformer;
use serde::{Deserialize, Serialize};

pub use data::{FacialMmtModel, SEQUENCE_MODALITIES};
pub use fer::FerHead;
pub use text::{Separator, SpecialTokens};

/// Where the text rows come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TextBranch {
    /// The pre-trained language model inside the model, run over the whole dialogue's tokens
    /// (the reference; used to import its checkpoints and for parity).
    Plm {
        /// The transformer's sizes.
        transformer: TransformerConfig,
        /// How utterances are joined.
        separator: Separator,
    },
    /// Precomputed token vectors of each utterance's span (`[T, dim]`, a frozen encoder run
    /// once over the dialogue), projected by `text_linear`.
    Features {
        /// Width of the token vectors.
        dim: usize,
    },
}

/// Every size and switch of a [`FacialMmt`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacialMmtConfig {
    /// Fusion width `d` (768 in the paper).
    pub width: usize,
    /// Heads of the frame encoders.
    pub heads: usize,
    /// Feed-forward width of the frame encoders.
    pub d_ff: usize,
    /// LayerNorm epsilon of the frame encoders (1e-12).
    pub layer_norm_eps: f64,
    /// Dropout of the frame encoders (attention and residual) and before the classifier.
    pub dropout: f64,
    /// Audio encoder layers (5).
    pub audio_layers: usize,
    /// Vision encoder layers (2).
    pub vision_layers: usize,
    /// Text rows per utterance `T` (38).
    pub text_len: usize,
    /// Audio frames per utterance `A_max`.
    pub audio_len: usize,
    /// Faces per utterance `V_max`.
    pub vision_len: usize,
    /// Width of an audio frame (768 for wav2vec2-base).
    pub audio_dim: usize,
    /// Width of a face embedding (512 for InceptionResNetV1).
    pub face_dim: usize,
    /// Facial-expression classes (7, MELD's order).
    pub fer_classes: usize,
    /// Hidden width of the facial-expression head (64).
    pub fer_hidden: usize,
    /// Layers of the text ↔ audio cross-modal transformer.
    pub cmt_ta_layers: usize,
    /// Its heads.
    pub cmt_ta_heads: usize,
    /// Layers of the (text+audio) ↔ vision cross-modal transformer.
    pub cmt_tav_layers: usize,
    /// Its heads.
    pub cmt_tav_heads: usize,
    /// Feed-forward width of both cross-modal transformers (`4d`).
    pub cmt_d_ff: usize,
    /// Attention-weight dropout of both (0.1).
    pub cmt_attention_dropout: f64,
    /// LayerNorm epsilon of both (1e-5).
    pub cmt_layer_norm_eps: f64,
    /// Mask padded keys in the cross-modal transformers. The reference does not (its outputs
    /// depend on the padded lengths); `false` reproduces it.
    pub cmt_key_padding: bool,
    /// A face is kept when `Σ p² >` this (0.2).
    pub fer_threshold: f32,
    /// Softmax (deterministic) or seeded Gumbel-softmax distributions.
    pub fer_mode: FerMode,
    /// The text branch.
    pub text: TextBranch,
    /// Emotion classes (7).
    pub num_classes: usize,
}

impl FacialMmtConfig {
    /// The frame encoders' layer: post-LN, exact GELU, keys masked by adding −10000.
    fn frame_layer(&self) -> BertLayerConfig {
        BertLayerConfig {
            width: self.width,
            heads: self.heads,
            d_ff: self.d_ff,
            layer_norm_eps: self.layer_norm_eps,
            dropout: self.dropout,
            activation: FeedForwardActivation::Gelu,
            masking: KeyMasking::Additive(-10000.0),
        }
    }

    fn cmt(&self, layers: usize, heads: usize) -> CrossModalTransformerConfig {
        CrossModalTransformerConfig {
            width: self.width,
            heads,
            layers,
            d_ff: self.cmt_d_ff,
            attention_dropout: self.cmt_attention_dropout,
            layer_norm_eps: self.cmt_layer_norm_eps,
            key_padding: self.cmt_key_padding,
        }
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<(), String> {
        let heads_ok = |h: usize| h > 0 && self.width.is_multiple_of(h);
        if !heads_ok(self.heads) || !heads_ok(self.cmt_ta_heads) || !heads_ok(self.cmt_tav_heads) {
            return Err(format!("every head count must divide the width {}", self.width));
        }
        if self.text_len == 0 || self.audio_len == 0 || self.vision_len == 0 {
            return Err("text_len, audio_len and vision_len must be positive".into());
        }
        if self.num_classes == 0 || self.fer_classes == 0 {
            return Err("num_classes and fer_classes must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.dropout) || !(0.0..=1.0).contains(&self.cmt_attention_dropout) {
            return Err("dropout probabilities must lie in [0, 1]".into());
        }
        Ok(())
    }

    /// The same configuration with every dropout off (parity runs in eval mode).
    pub fn without_dropout(mut self) -> Self {
        self.dropout = 0.0;
        self.cmt_attention_dropout = 0.0;
        if let TextBranch::Plm { transformer, .. } = &mut self.text {
            transformer.dropout = 0.0;
        }
        self
    }
}

/// The fused utterance inputs, already on the device.
#[derive(Debug, Clone)]
pub struct UtteranceInputs {
    /// `X_T` `[N, T, d]`, zero rows past each utterance's span.
    pub text: Tensor<3>,
    /// `m_T` `[N, T]`, 1 on real rows.
    pub text_mask: Tensor<2>,
    /// Audio frames `[N, A, audio_dim]`.
    pub audio: Tensor<3>,
    /// `m_A` `[N, A]`.
    pub audio_mask: Tensor<2>,
    /// Filtered face rows `[f; p]`, `[N, V, face_dim + fer_classes]`.
    pub vision: Tensor<3>,
    /// `m_V'` `[N, V]` (after the frame filter).
    pub vision_mask: Tensor<2>,
}

/// Every intermediate of a fused forward pass (what the parity fixture checks).
#[derive(Debug, Clone)]
pub struct FusionPass {
    /// `X_A` `[N, A, d]`.
    pub audio: Tensor<3>,
    /// `X_V` `[N, V, d]`.
    pub vision: Tensor<3>,
    /// `CMT_TA(X_T → X_A)` `[N, T, d]`.
    pub ta_text: Tensor<3>,
    /// `CMT_TA(X_A → X_T)` `[N, A, d]`.
    pub ta_audio: Tensor<3>,
    /// `CMT_TAV(Z_TA → X_V)` `[N, T + A, d]`.
    pub tav_text_audio: Tensor<3>,
    /// `CMT_TAV(X_V → Z_TA)` `[N, V, d]`.
    pub tav_vision: Tensor<3>,
    /// `Z` `[N, T + A + V, d]`.
    pub fused: Tensor<3>,
    /// `m` `[N, T + A + V]`.
    pub mask: Tensor<2>,
    /// Pooling weights `α` `[N, T + A + V]`.
    pub alpha: Tensor<2>,
    /// `u` `[N, d]`.
    pub pooled: Tensor<2>,
    /// `[N, C]`.
    pub logits: Tensor<2>,
}

/// The text stage of the PLM branch.
#[derive(Debug, Clone)]
pub struct PlmText {
    /// The language model's last hidden state `[N, L, w]`.
    pub hidden: Tensor<3>,
    /// `text_linear` of it, `[N, L, d]`.
    pub projected: Tensor<3>,
    /// `X_T` `[N, T, d]`.
    pub text: Tensor<3>,
    /// `m_T` `[N, T]`.
    pub text_mask: Tensor<2>,
}

/// The FacialMMT network.
#[derive(Module, Debug)]
pub struct FacialMmt {
    /// The language model (`roberta.*` / `bert.*`), in the PLM branch.
    pub plm: Option<TextTransformer>,
    /// `text_linear`: PLM or feature width → `d`.
    pub text_linear: Linear,
    /// `audio_linear` + `audio_utt_transformer`.
    pub audio: FrameEncoder,
    /// `vision_linear` + `vision_utt_transformer` over `[f; p]` rows.
    pub vision: FrameEncoder,
    /// `attention`.
    pub pooling: AdditivePooling,
    /// `CrossModalTrans_TA`.
    pub cmt_ta: CrossModalTransformer,
    /// `CrossModalTrans_TA_V`.
    pub cmt_tav: CrossModalTransformer,
    /// `classifier`: `d → C`.
    pub classifier: Linear,
    /// The facial-expression head (face embedding → 7 logits), trained on the auxiliary set.
    pub fer: FerHead,
    dropout: Dropout,
    #[module(skip)]
    config: FacialMmtConfig,
}

/// The float mask `[N, L]` as padding flags (true where 0).
fn padding(mask: &Tensor<2>) -> Tensor<2, Bool> {
    mask.clone().equal_elem(0.0)
}

impl FacialMmt {
    /// Fresh weights.
    pub fn new(config: &FacialMmtConfig, device: &Device) -> Result<Self, erc_core::ModelError> {
        config.validate().map_err(erc_core::ModelError::InvalidConfig)?;
        let c = config;
        let (plm, text_in) = match &c.text {
            TextBranch::Plm { transformer, .. } => {
                (Some(TextTransformer::new(transformer, device)), transformer.hidden_size)
            }
            TextBranch::Features { dim } => (None, *dim),
        };
        let layer = c.frame_layer();
        Ok(Self {
            plm,
            text_linear: LinearConfig::new(text_in, c.width).init(device),
            audio: FrameEncoder::new(c.audio_dim, c.audio_len, &layer, c.audio_layers, device),
            vision: FrameEncoder::new(c.face_dim + c.fer_classes, c.vision_len, &layer, c.vision_layers, device),
            pooling: AdditivePooling::new(c.width, device),
            cmt_ta: CrossModalTransformer::new(&c.cmt(c.cmt_ta_layers, c.cmt_ta_heads), device),
            cmt_tav: CrossModalTransformer::new(&c.cmt(c.cmt_tav_layers, c.cmt_tav_heads), device),
            classifier: LinearConfig::new(c.width, c.num_classes).init(device),
            fer: FerHead::new(c.face_dim, c.fer_hidden, c.fer_classes, device),
            dropout: DropoutConfig::new(c.dropout).init(),
            config: c.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FacialMmtConfig {
        &self.config
    }

    /// The PLM branch's text stage: `ids` and `mask` `[N, L]` (1 on real tokens), and per
    /// utterance the token positions of its span (at most `T` are used).
    pub fn plm_text(
        &self,
        ids: Tensor<2, Int>,
        mask: Tensor<2, Int>,
        spans: &[std::ops::Range<usize>],
    ) -> Result<PlmText, erc_core::ModelError> {
        let plm = self.plm.as_ref().ok_or_else(|| {
            erc_core::ModelError::InvalidConfig("this FacialMMT reads token features, not token ids".into())
        })?;
        let [n, l] = ids.dims();
        let hidden = plm.forward(ids, &mask.equal_elem(0));
        let w = hidden.dims()[2];
        let projected = self.text_linear.forward(hidden.clone().reshape([n * l, w])).reshape([n, l, self.config.width]);
        let t = self.config.text_len;
        let sources: Vec<Option<usize>> = spans
            .iter()
            .flat_map(|span| (0..t).map(move |r| (span.start + r < span.end).then_some(span.start + r)))
            .collect();
        let device = projected.device();
        let text_mask = Tensor::<1>::from_floats(
            sources.iter().map(|s| if s.is_some() { 1.0 } else { 0.0 }).collect::<Vec<f32>>().as_slice(),
            &device,
        )
        .reshape([n, t]);
        let text = gather_rows(projected.clone(), &sources, t);
        Ok(PlmText { hidden, projected, text, text_mask })
    }

    /// The feature branch's text stage: token vectors `[N, T, dim]` and `m_T` `[N, T]` →
    /// `X_T`, projected and zero on padded rows.
    pub fn feature_text(&self, features: Tensor<3>, mask: &Tensor<2>) -> Tensor<3> {
        let [n, t, dim] = features.dims();
        let projected = self.text_linear.forward(features.reshape([n * t, dim])).reshape([n, t, self.config.width]);
        projected * mask.clone().reshape([n, t, 1])
    }

    /// The frame filter over faces `[N, V, face_dim]` with their facial-expression logits
    /// `[N, V, C]`; `valid` (`N × V`) marks real faces. The logits carry no gradient.
    pub fn filter(&self, faces: Tensor<3>, fer_logits: Tensor<3>, valid: &[bool]) -> FilteredFrames {
        filter_frames(faces, fer_logits.detach(), valid, self.config.fer_threshold, self.config.fer_mode)
    }

    /// Encoders, both cross-modal stages, pooling and classifier.
    pub fn fuse(&self, inputs: UtteranceInputs) -> FusionPass {
        let UtteranceInputs { text, text_mask, audio, audio_mask, vision, vision_mask } = inputs;
        let (pad_t, pad_a, pad_v) = (padding(&text_mask), padding(&audio_mask), padding(&vision_mask));
        let audio = self.audio.forward(audio, Some(&pad_a));
        let vision = self.vision.forward(vision, Some(&pad_v));
        let ta_text = self.cmt_ta.forward(text.clone(), audio.clone(), Some(&pad_a));
        let ta_audio = self.cmt_ta.forward(audio.clone(), text, Some(&pad_t));
        let z_ta = Tensor::cat(vec![ta_text.clone(), ta_audio.clone()], 1); // [N, T + A, d]
        let pad_ta = Tensor::cat(vec![pad_t, pad_a], 1);
        let tav_text_audio = self.cmt_tav.forward(z_ta.clone(), vision.clone(), Some(&pad_v));
        let tav_vision = self.cmt_tav.forward(vision.clone(), z_ta, Some(&pad_ta));
        let fused = Tensor::cat(vec![tav_text_audio.clone(), tav_vision.clone()], 1); // [N, L, d]
        let mask = Tensor::cat(vec![text_mask, audio_mask, vision_mask], 1); // [N, L]
        let (alpha, pooled) = self.pooling.pool(fused.clone(), Some(&padding(&mask)));
        let logits = self.classifier.forward(self.dropout.forward(pooled.clone()));
        FusionPass { audio, vision, ta_text, ta_audio, tav_text_audio, tav_vision, fused, mask, alpha, pooled, logits }
    }

    /// Class log-probabilities `[N, C]` from logits.
    pub fn log_probs(logits: Tensor<2>) -> Tensor<2> {
        log_softmax(logits, 1)
    }
}

impl TorchNamed for FacialMmt {
    /// The multimodal checkpoint's `state_dict`: `roberta.*`/`bert.*` (PLM branch; the pooler
    /// is listed as unused), `text_linear`, `audio_linear`, `audio_utt_transformer`,
    /// `vision_linear`, `vision_utt_transformer`, `attention`, `CrossModalTrans_TA`,
    /// `CrossModalTrans_TA_V`, `classifier`. The FER head lives in the Swin checkpoint
    /// ([`FerHead`]).
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
