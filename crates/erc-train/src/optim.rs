//! Optimisers with PyTorch semantics and global-norm gradient clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use erc_core::training::{OptimizerKind, TrainingPreset};

/// PyTorch's default Adam epsilon (burn's default is 1e-5).
pub const TORCH_ADAM_EPSILON: f32 = 1e-8;

/// Builds the optimiser a preset asks for.
///
/// * Adam: `weight_decay` is added to the gradient as `grad + wd·θ` before the moments
///   (`torch.optim.Adam`);
/// * AdamW: `θ ← θ − lr·wd·θ` decoupled from the moments (`torch.optim.AdamW`).
///
/// Both use β = (0.9, 0.999) and ε = 1e-8 as PyTorch does.
pub fn build_optimizer(preset: &TrainingPreset) -> ModuleOptimizer {
    match preset.optimizer {
        OptimizerKind::Adam => AdamConfig::new()
            .with_epsilon(TORCH_ADAM_EPSILON)
            .with_weight_decay((preset.weight_decay > 0.0).then(|| WeightDecayConfig::new(preset.weight_decay as f32)))
            .init(),
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_epsilon(TORCH_ADAM_EPSILON)
            .with_weight_decay(preset.weight_decay as f32)
            .init(),
    }
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// The L2 norm of all gradients together.
pub fn global_grad_norm<M: Module>(grads: &GradientsParams, model: &M) -> f32 {
    let mut visitor = SquaredNorm { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map(|t| t.into_scalar::<f32>().sqrt()).unwrap_or(0.0)
}

/// Scales all gradients so their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` does (coefficient `max_norm / (norm + 1e-6)`, capped at 1).
/// Returns the norm before clipping.
pub fn clip_grad_norm<M: Module>(grads: &mut GradientsParams, model: &M, max_norm: f32) -> f32 {
    let norm = global_grad_norm(grads, model);
    let coefficient = max_norm / (norm + 1e-6);
    if coefficient < 1.0 {
        model.visit(&mut Scale { grads, factor: coefficient });
    }
    norm
}

