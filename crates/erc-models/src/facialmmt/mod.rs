//! FacialMMT (Zheng et al., ACL 2023): facial-expression-aware frame filtering of the speaker's
//! face sequence, BERT-style audio and vision frame encoders, two weight-shared cross-modal
//! transformer stages (text ↔ audio, then that ↔ vision), additive-attention pooling and a
//! linear classifier. One sample is one utterance; its text comes with the whole dialogue as
//! context. See `../shared/specs/facialmmt.md` and `docs/models/facialmmt.md`.
//!
//! Shapes: `N` utterances, `T` text rows, `A` audio frames, `V` faces, `d` fusion width.
//!
//! Files: this one holds the network and its registry entry; [`config`] the configuration and
//! presets; `data` the path from the trainer's dialogue batches; [`text`] the dialogue token
//! layout; [`reference`](mod@reference) what exists only to match the PyTorch code (parameter names, its
//! configuration format, the parity run).

pub mod config;
mod data;
mod fer;
pub mod reference;
pub mod text;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor};
use erc_core::attention::{AdditivePooling, AdditivePoolingConfig, CrossModalTransformer};
use erc_core::batch::gather_rows;
use erc_core::encoder::{FrameEncoder, FrameEncoderConfig};
use erc_core::filter::{FilteredFrames, filter_frames};
use erc_core::{Capabilities, DataSpec, ModelError, ModelFactory, Preset};
use erc_text::model::TextTransformer;

pub use config::{FacialMmtConfig, PRESETS, SEQUENCE_MODALITIES, TextBranch};
pub use fer::{FerHead, FerHeadConfig};
pub use text::{Separator, SpecialTokens};

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
            TextBranch::Plm { transformer, .. } => (Some(transformer.init(device)), transformer.hidden_size),
            TextBranch::Features { dim } => (None, *dim),
        };
        let layer = c.frame_layer();
        Ok(Self {
            plm,
            text_linear: LinearConfig::new(text_in, c.width).init(device),
            audio: FrameEncoderConfig::new(c.audio_dim, c.audio_len, layer, c.audio_layers).init(device),
            vision: FrameEncoderConfig::new(c.face_dim + c.fer_classes, c.vision_len, layer, c.vision_layers)
                .init(device),
            pooling: AdditivePoolingConfig::new(c.width).init(device),
            cmt_ta: c.cmt(c.cmt_ta_layers, c.cmt_ta_heads).init(device),
            cmt_tav: c.cmt(c.cmt_tav_layers, c.cmt_tav_heads).init(device),
            classifier: LinearConfig::new(c.width, c.num_classes).init(device),
            fer: FerHeadConfig::new(c.face_dim, c.fer_hidden, c.fer_classes).init(device),
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

/// Registry entry for [`FacialMmt`].
#[derive(Debug, Clone, Copy)]
pub struct FacialMmtModel;

impl ModelFactory for FacialMmtModel {
    const NAME: &'static str = "facialmmt";
    const DESCRIPTION: &'static str = "FacialMMT (Zheng et al. 2023): facial-expression frame filter, audio/vision frame \
                                       encoders, cross-modal transformers; reads text_tokens, audio_frames, faces sequences";
    const CAPABILITIES: Capabilities = Capabilities { face_emotion_task: true, sequence_inputs: true };
    type Config = FacialMmtConfig;
    type Model = FacialMmt;

    const PRESETS: &'static [Preset<FacialMmtConfig>] = PRESETS;

    fn build(config: &Self::Config, spec: &DataSpec, device: &Device) -> Result<Self::Model, ModelError> {
        FacialMmt::new(&config.fitted_to(spec)?, device)
    }

    fn face_emotion_logits(model: &Self::Model, faces: Tensor<2>) -> Option<Tensor<2>> {
        Some(model.fer.forward(faces))
    }
}
