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
        OptimizerKind::AdamW => {
            AdamWConfig::new().with_epsilon(TORCH_ADAM_EPSILON).with_weight_decay(preset.weight_decay as f32).init()
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};
    use erc_core::BackendKind;

    fn device() -> Device {
        BackendKind::Flex.training_device().unwrap()
    }

    /// A 1→1 linear layer with weight θ0 and bias 0, and the gradients of `out(x=3)`.
    fn setup(theta0: f32) -> (Linear, GradientsParams) {
        let d = device();
        let mut layer: Linear = LinearConfig::new(1, 1).init(&d);
        layer.weight =
            layer.weight.map(|w| Tensor::from_data(TensorData::new(vec![theta0], [1, 1]), &w.device()).require_grad());
        layer.bias = layer.bias.map(|b| b.map(|b| b.zeros_like().require_grad()));
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32], [1, 1]), &d);
        let loss = layer.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        (layer, grads)
    }

    fn weight(layer: &Linear) -> f32 {
        layer.weight.val().into_scalar::<f32>()
    }

    #[test]
    fn adam_adds_l2_to_the_gradient_and_adamw_decouples_it() {
        // θ0 = 1, dL/dθ = 3, lr = 0.1, wd = 0.5. First Adam step moves by lr·g/(|g| + ε).
        let preset = |optimizer| TrainingPreset { optimizer, weight_decay: 0.5, ..TrainingPreset::default() };
        let (layer, grads) = setup(1.0);
        let adam = build_optimizer(&preset(OptimizerKind::Adam)).step(0.1, layer, grads);
        // torch.optim.Adam: g' = 3 + 0.5·1 = 3.5 → θ1 = 1 − 0.1·3.5/(3.5 + 1e-8) = 0.9
        assert!((weight(&adam) - 0.9).abs() < 1e-6, "{}", weight(&adam));
        let (layer, grads) = setup(1.0);
        let adamw = build_optimizer(&preset(OptimizerKind::AdamW)).step(0.1, layer, grads);
        // torch.optim.AdamW: θ1 = 1·(1 − 0.1·0.5) − 0.1·3/(3 + 1e-8) = 0.85
        assert!((weight(&adamw) - 0.85).abs() < 1e-6, "{}", weight(&adamw));
    }

    #[test]
    fn adam_second_step_uses_torch_epsilon_and_bias_correction() {
        // two steps with the same gradient 3 (wd 0): m̂ = 3, v̂ = 9 → each step moves lr
        let preset = TrainingPreset { weight_decay: 0.0, ..TrainingPreset::default() };
        let mut optim = build_optimizer(&preset);
        let (layer, grads) = setup(1.0);
        let layer = optim.step(0.1, layer, grads);
        let d = device();
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32], [1, 1]), &d);
        let grads = GradientsParams::from_grads(layer.forward(x).sum().backward(), &layer);
        let layer = optim.step(0.1, layer, grads);
        assert!((weight(&layer) - 0.8).abs() < 1e-6, "{}", weight(&layer));
    }

    #[test]
    fn clipping_scales_by_the_global_norm() {
        // grads: weight 3, bias 1 → global norm √10
        let (layer, mut grads) = setup(1.0);
        let norm = clip_grad_norm(&mut grads, &layer, 1.0);
        assert!((norm - 10f32.sqrt()).abs() < 1e-5);
        let gw: f32 = grads.get::<2>(layer.weight.id).unwrap().into_scalar::<f32>();
        let gb: f32 = grads.get::<1>(layer.bias.as_ref().unwrap().id).unwrap().into_scalar::<f32>();
        assert!((gw - 3.0 / 10f32.sqrt()).abs() < 1e-5 && (gb - 1.0 / 10f32.sqrt()).abs() < 1e-5, "{gw} {gb}");
        assert!((global_grad_norm(&grads, &layer) - 1.0).abs() < 1e-5);
        // below the threshold nothing changes
        let (layer, mut grads) = setup(1.0);
        clip_grad_norm(&mut grads, &layer, 100.0);
        assert_eq!(grads.get::<2>(layer.weight.id).unwrap().into_scalar::<f32>(), 3.0);
        let _ = layer.num_params();
    }
}
