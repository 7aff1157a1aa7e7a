//! What exists only to match the reference PyTorch code (Ren et al.'s `MALN`): its parameter
//! names and order, the modules it creates but never runs, its configuration format, and the
//! parity run against its fixtures ([`parity`]); its configuration format is read by its
//! `config` module.

mod config;
pub mod parity;

use burn::tensor::Device;
use erc_core::import::{ImportError, TorchNamed, TorchParams, import_linear, visit_in_order};
use erc_core::rnn::PaddedSteps;
use erc_core::{DataSpec, ModelError};
use serde::{Deserialize, Serialize};

use crate::maln::{BY_MODALITY_ID, ContextEncoder, Maln, MalnConfig};

/// The reference's names of one modality's modules.
struct RefNames {
    /// SCLM prefix (`Text`, `Acoustic`, `Visual`).
    sclm: &'static str,
    /// Context GRU module (`TexGRU`, …).
    gru: &'static str,
    /// Suffix of `fc_*` (`text`, `audio`, `visual`).
    head: &'static str,
    /// Suffix of the feature extractors (`text`, `acoustic`, `visual`).
    extractor: &'static str,
}

/// Reference names in [`MODALITIES`] order.
const REF: [RefNames; 3] = [
    RefNames { sclm: "Text", gru: "TexGRU", head: "text", extractor: "text" },
    RefNames { sclm: "Acoustic", gru: "AcousticGRU", head: "audio", extractor: "acoustic" },
    RefNames { sclm: "Visual", gru: "VisualGRU", head: "visual", extractor: "visual" },
];

/// Sizes of the modules the reference creates but never runs; only the importer needs them
/// (a strict import checks their shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadModuleDims {
    /// Width of the (unused) COMET inputs: 768.
    pub comet_dim: usize,
    /// `SpeakerEmbedding` table `[rows, width]`: `[2, 100]`.
    pub speaker_embedding: [usize; 2],
    /// Classes of the context GRUs' unused `smax_fc`: 6.
    pub gru_smax_fc_classes: usize,
}

impl Default for DeadModuleDims {
    fn default() -> Self {
        Self { comet_dim: 768, speaker_embedding: [2, 100], gru_smax_fc_classes: 6 }
    }
}

/// The names the reference's two uploads differ in, and the sizes of its dead modules: what the
/// import walk needs beyond the network.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceNames {
    /// Prefix of the specific encoders' names (`specific_feature_extractor_` at HEAD,
    /// `private_feature_extractor_` in the first upload).
    pub specific_param_prefix: String,
    /// Sizes of the reference's dead modules.
    pub dead_modules: DeadModuleDims,
}

impl Default for ReferenceNames {
    fn default() -> Self {
        Self { specific_param_prefix: "specific_feature_extractor_".into(), dead_modules: DeadModuleDims::default() }
    }
}

/// A [`Maln`] as the reference names and computes it: its parameters walk under the reference's
/// `state_dict` names ([`TorchNamed`]) and it runs padded steps as the reference does.
#[derive(Debug, Clone)]
pub struct ReferenceMaln {
    /// The network.
    pub model: Maln,
    /// The reference's names.
    pub names: ReferenceNames,
}

impl ReferenceMaln {
    /// A freshly initialised network computing padded steps as the reference.
    pub fn new(
        config: &MalnConfig,
        names: ReferenceNames,
        spec: &DataSpec,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Ok(Self { model: Maln::new(config, spec, device)?.with_padded_steps(PaddedSteps::Reference), names })
    }
}

/// The reference's configuration read into ours: the network's configuration, the reference's
/// names and the dataset facts.
#[derive(Debug, Clone)]
pub struct ReferenceSetup {
    /// Our configuration.
    pub config: MalnConfig,
    /// The reference's names.
    pub names: ReferenceNames,
    /// Classes, modality widths and parties.
    pub spec: DataSpec,
}

/// `(prefix.name, shape)` for each `(name, shape)`: tensors of a module the reference never runs.
fn dead_tensors(prefix: &str, shapes: &[(&str, Vec<usize>)]) -> Vec<(String, Vec<usize>)> {
    shapes.iter().map(|(n, s)| (format!("{prefix}.{n}"), s.clone())).collect()
}

/// A linear layer's two tensors `[out, in]` and `[out]` under `prefix`.
fn linear_shapes(prefix: &str, d_in: usize, d_out: usize) -> Vec<(String, Vec<usize>)> {
    dead_tensors(prefix, &[("weight", vec![d_out, d_in]), ("bias", vec![d_out])])
}

/// The tensors of an unused attention layer below `prefix`: each `(name, width)` attention's
/// query/key/value linears, each `(name, in, out)` feed-forward linear, and `norm1`/`norm2` of
/// width `norm`.
fn layer_shapes(
    prefix: &str,
    attentions: &[(&str, usize)],
    ff: &[(&str, usize, usize)],
    norm: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (name, w) in attentions {
        for part in ["query", "key", "value"] {
            out.extend(linear_shapes(&format!("{prefix}.{name}.{part}"), *w, *w));
        }
    }
    for (name, d_in, d_out) in ff {
        out.extend(linear_shapes(&format!("{prefix}.{name}"), *d_in, *d_out));
    }
    for n in ["norm1", "norm2"] {
        out.extend(dead_tensors(&format!("{prefix}.{n}"), &[("weight", vec![norm]), ("bias", vec![norm])]));
    }
    out
}

fn visit_unused(p: &mut impl TorchParams, tensors: Vec<(String, Vec<usize>)>) -> Result<(), ImportError> {
    for (name, shape) in tensors {
        p.unused(&name, &shape)?;
    }
    Ok(())
}

impl TorchNamed for ReferenceMaln {
    /// Walks every parameter under the reference's `state_dict` names, in its order, including
    /// the dead modules (checked by shape, not created).
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError> {
        let Self { model, names } = self;
        let s = model.settings.clone();
        let h = s.hidden;
        let [dt, da, dv] = s.dims;
        let k = s.num_classes;
        let [rows, width] = names.dead_modules.speaker_embedding;
        visit_unused(
            p,
            dead_tensors(
                "SpeakerEmbedding",
                &[
                    ("word_embeddings.weight", vec![rows, width]),
                    ("LayerNorm.weight", vec![width]),
                    ("LayerNorm.bias", vec![width]),
                ],
            ),
        )?;
        let mut characteristics = Vec::with_capacity(3);
        for (m, sclm) in model.characteristics.into_iter().enumerate() {
            let name = REF[m].sclm;
            characteristics.push(sclm.visit_torch(
                p,
                &format!("{name}_Topic_Transformer_Speaker"),
                &format!("{name}_Topic_Transformer_Lisener"),
            )?);
        }
        let fusion_layer = |prefix: &str| {
            layer_shapes(
                prefix,
                &[("src_cross_attention", h), ("context_cross_attention", h), ("self_attention", 2 * h)],
                &[("fc.0", 2 * h, 2 * h)],
                2 * h,
            )
        };
        visit_unused(p, fusion_layer("L_AV_layer"))?;
        let fusion = model.fusion.visit_torch(p, "L_AV")?;
        visit_unused(
            p,
            layer_shapes(
                "selfattentionlayer",
                &[("self_attention", 3 * h)],
                &[("fc.0", 3 * h, 3 * h), ("fc.2", 3 * h, 3 * h)],
                3 * h,
            ),
        )?;
        let mut topics = Vec::with_capacity(3);
        for (m, linear) in model.topics.into_iter().enumerate() {
            topics.push(import_linear(p, &format!("{}TopicFc", REF[m].sclm), linear)?);
        }
        // fc_visual, fc_text, fc_audio
        let unimodal =
            visit_in_order(model.unimodal, &[2, 0, 1], |m, head| head.visit_torch(p, &format!("fc_{}", REF[m].head)))?;
        let classifier = model.classifier.visit_torch(p, "fc")?;
        let comet = names.dead_modules.comet_dim;
        visit_unused(
            p,
            [
                linear_shapes("Acoustic_FC", da, dv),
                linear_shapes("Fusion_FC", dt + dv + da, dt),
                linear_shapes("Text_FC", dt + comet, dv + da),
                linear_shapes("AVOut_FC", dv + da, dv),
                linear_shapes("AVTOut_FC", 3 * h, h),
            ]
            .concat(),
        )?;
        // TexGRU, VisualGRU, AcousticGRU
        let contexts = visit_in_order(model.contexts, &BY_MODALITY_ID, |m, ContextEncoder { gru, linear }| {
            let (prefix, d) = (REF[m].gru, s.dims[m]);
            let gru = gru.visit_torch(p, &format!("{prefix}.gru"))?;
            visit_unused(p, linear_shapes(&format!("{prefix}.matchatt.transform"), 2 * d, 2 * d))?;
            let linear = import_linear(p, &format!("{prefix}.linear"), linear)?;
            visit_unused(p, linear_shapes(&format!("{prefix}.smax_fc"), d, names.dead_modules.gru_smax_fc_classes))?;
            Ok(ContextEncoder { gru, linear })
        })?;
        let specific = visit_in_order(model.specific, &BY_MODALITY_ID, |m, encoder| {
            encoder.visit_torch(p, &format!("{}{}", names.specific_param_prefix, REF[m].extractor))
        })?;
        let prefixes: Vec<String> = (0..3).map(|m| format!("common_feature_extractor_{}", REF[m].extractor)).collect();
        let common = model.common.visit_torch(p, &prefixes, &BY_MODALITY_ID, "common_feature_extractor_share")?;
        let discriminator = model.discriminator.visit_torch(p, "modal_discriminator")?;
        let av_fc = import_linear(p, "av_fc", model.av_fc)?;
        visit_unused(p, [linear_shapes("av_fc2", 2 * h, h), linear_shapes("common_classfier.0", h, k)].concat())?;
        let model = Maln {
            contexts,
            characteristics,
            topics,
            specific,
            common,
            discriminator,
            unimodal,
            av_fc,
            fusion,
            classifier,
            context_dropout: model.context_dropout,
            settings: model.settings,
        };
        Ok(Self { model, names })
    }
}
