//! DialogueRNN context (Majumder et al., AAAI 2019): a global, a party and an emotion GRU cell
//! per step, with attention over the previous global states; several chains (modalities,
//! directions) run in lock-step. The layout follows MultiEMO's use of it.
//!
//! Per step `t` of a dialogue, with input `u_t` and speaker `k_t`:
//! `g_t = GRU_G([u_t; q[k_t]], g_{t−1})`, `c_t = Σ_{j<t} softmax_j(w·g_j) g_j` (0 at `t = 0`),
//! `q[k_t] ← GRU_P([u_t; c_t], q[k_t])` (only the speaker's party state moves),
//! `e_t = GRU_E(q[k_t], e_{t−1})`; the output is `e_t`.
//!
//! [`run_dialogue_rnns`] runs several independent chains (modalities, directions) in lock-step:
//! the chain is a batch dimension of every per-step matrix product, the input halves of the
//! global and party GRUs are projected for all steps at once, and the attention pool is an
//! online softmax (O(d) per step instead of O(t·d)).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::index_tensor;
use crate::import::{ImportError, TorchParams, import_param};
use crate::rnn::{
    GruWeights, GruWeightsConfig, LongestFirst, StepSlicer, gru_update, length_mask, pad_rows, permute_steps,
    reverse_within_lengths, uniform_param,
};

/// The weights of one DialogueRNN (one direction): `dialogue_cell.{g,p,e}_cell` and the
/// attention's `scalar` vector, in PyTorch's layout.
#[derive(Module, Debug)]
pub struct DialogueRnnCell {
    /// Global-state GRU cell, input `[u; q_speaker]` (`D_u + d`).
    pub global: GruWeights,
    /// Party-state GRU cell, input `[u; c]` (`D_u + d`).
    pub party: GruWeights,
    /// Emotion-state GRU cell, input `q_speaker` (`d`).
    pub emotion: GruWeights,
    /// `[1, d]` attention scores `w·g_j` (PyTorch `Linear(d, 1, bias=False).weight`).
    pub attention: Param<Tensor<2>>,
}

/// Configuration of a [`DialogueRnnCell`]; [`DialogueRnnCellConfig::init`] builds it.
#[derive(Config, Debug)]
pub struct DialogueRnnCellConfig {
    /// Size of the utterance inputs.
    pub d_input: usize,
    /// Size of the global, party and emotion states.
    pub d_state: usize,
}

impl DialogueRnnCellConfig {
    /// Fresh weights for utterance inputs of size `d_input` and states of size `d_state`,
    /// initialised as PyTorch initialises `GRUCell` and `Linear`.
    pub fn init(&self, device: &Device) -> DialogueRnnCell {
        let Self { d_input, d_state } = self.clone();
        DialogueRnnCell {
            global: GruWeightsConfig::new(d_input + d_state, d_state).init(device),
            party: GruWeightsConfig::new(d_input + d_state, d_state).init(device),
            emotion: GruWeightsConfig::new(d_state, d_state).init(device),
            attention: uniform_param([1, d_state], d_state, device),
        }
    }
}

impl DialogueRnnCell {
    /// State size `d`.
    pub fn d_state(&self) -> usize {
        self.attention.dims()[1]
    }

    /// Visits the weights under the reference's names below `prefix`
    /// (`prefix.dialogue_cell.g_cell.weight_ih`, …, `prefix.dialogue_cell.attention.scalar.weight`).
    pub fn visit_torch(self, p: &mut impl TorchParams, prefix: &str) -> Result<Self, ImportError> {
        let cell = format!("{prefix}.dialogue_cell");
        Ok(Self {
            global: self.global.visit_torch_cell(p, &format!("{cell}.g_cell"))?,
            party: self.party.visit_torch_cell(p, &format!("{cell}.p_cell"))?,
            emotion: self.emotion.visit_torch_cell(p, &format!("{cell}.e_cell"))?,
            attention: import_param(p, &format!("{cell}.attention.scalar.weight"), self.attention, false)?,
        })
    }

    /// The reference's parameter names and PyTorch shapes below `prefix`, for a cell the
    /// model creates but never runs.
    pub fn torch_shapes(prefix: &str, d_input: usize, d_state: usize) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for (cell, d_in) in [("g_cell", d_input + d_state), ("p_cell", d_input + d_state), ("e_cell", d_state)] {
            let name = |t: &str| format!("{prefix}.dialogue_cell.{cell}.{t}");
            out.push((name("weight_ih"), vec![3 * d_state, d_in]));
            out.push((name("weight_hh"), vec![3 * d_state, d_state]));
            out.push((name("bias_ih"), vec![3 * d_state]));
            out.push((name("bias_hh"), vec![3 * d_state]));
        }
        out.push((format!("{prefix}.dialogue_cell.attention.scalar.weight"), vec![1, d_state]));
        out
    }
}

/// How padded steps (after a dialogue's last utterance) are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddedSteps {
    /// Not run: a finished dialogue drops out of the batch, its outputs are 0 there.
    Skip,
    /// Run as the reference runs them: forward chains keep stepping with speaker slot 0 selected
    /// (its argmax of an all-zero one-hot) and no party state updated, and their outputs at
    /// padded steps are kept. Reverse chains still output 0 there, as the reference's do.
    Reference,
}

/// One chain to run: its weights, its inputs and its direction.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    /// The weights.
    pub cell: &'a DialogueRnnCell,
    /// Utterance inputs `[B, T, D_u]`.
    pub inputs: Tensor<3>,
    /// Run each dialogue from its last utterance back to its first (outputs stay aligned to
    /// the original time index).
    pub reverse: bool,
}

/// The speakers of a batch as the recurrence needs them.
#[derive(Debug, Clone, Copy)]
pub struct Speakers<'a> {
    /// Speaker slot per utterance, batch-first flat `b * T + t` (any value at padding).
    pub ids: &'a [i64],
    /// Utterances per dialogue.
    pub lengths: &'a [usize],
    /// Number of party slots `P`.
    pub slots: usize,
}

/// Runs independent DialogueRNN chains over the same dialogues in lock-step.
///
/// Returns each chain's emotion states `[B, T, d]` in input order; all chains must share
/// `d`. Panics if a speaker id is outside `0..slots` (callers validate batches first).
pub fn run_dialogue_rnns(chains: &[Chain<'_>], speakers: Speakers<'_>, padded: PaddedSteps) -> Vec<Tensor<3>> {
    let [b, t, _] = chains[0].inputs.dims();
    let d = chains[0].cell.d_state();
    let g = chains.len();
    let p = speakers.slots;
    let device = chains[0].inputs.device();

    // Dialogues sorted longest first; with `PaddedSteps::Reference` every row runs every step.
    let LongestFirst { order, sorted, inverse, active } = LongestFirst::new(speakers.lengths, t);
    let active = match padded {
        PaddedSteps::Skip => active,
        PaddedSteps::Reference => vec![b; t],
    };
    let reverse_index = reverse_within_lengths(&sorted, t, &device);
    let (select, update) = speaker_one_hots(chains, speakers, &order, t);
    let w = StackedWeights::of(chains);
    let u = step_inputs(chains, &index_tensor(&order, &device), &reverse_index);
    // The utterance halves of the global and party input products, for all steps: [T, G, B, 3d]
    let hoist = |w: &Tensor<3>, bias: &Tensor<3>| {
        (u.clone().matmul(w.clone()) + bias.clone()).reshape([g, t, b, 3 * d]).swap_dims(0, 1)
    };
    let mut global_in = StepSlicer::new(hoist(&w.g_u, &w.b_g_i));
    let mut party_in = StepSlicer::new(hoist(&w.p_u, &w.b_p_i));

    let zeros = Tensor::<3>::zeros([g, b, d], &device);
    let mut global = Tensor::<3>::zeros([g, active[0], d], &device);
    let mut emotion = global.clone();
    let mut parties = Tensor::<4>::zeros([g, active[0], p, d], &device);
    let mut pool: Option<AttentionPool> = None;
    let mut outputs = Vec::with_capacity(t);
    for (s, &n) in active.iter().enumerate() {
        if global.dims()[1] > n {
            global = global.slice([0..g, 0..n]);
            emotion = emotion.slice([0..g, 0..n]);
            parties = parties.slice([0..g, 0..n]);
            pool = pool.map(|pl| pl.keep_rows(n));
        }
        let select_s = select.clone().slice([s..s + 1, 0..g, 0..n]).reshape([g, n, 1, p]);
        let update_s = update.clone().slice([s..s + 1, 0..g, 0..n]).reshape([g, n, p, 1]);
        let speaker_state = select_s.clone().matmul(parties.clone()).reshape([g, n, d]);

        let next_global = gru_update(
            global_in.step(s, n) + speaker_state.clone().matmul(w.g_q.clone()),
            global.clone().matmul(w.g_h.clone()) + w.b_g_h.clone(),
            global,
            d,
        );
        let context = match &pool {
            Some(pl) => pl.read(),
            None => Tensor::zeros([g, n, d], &device),
        };
        let party_state = gru_update(
            party_in.step(s, n) + context.matmul(w.p_c.clone()),
            speaker_state.clone().matmul(w.p_h.clone()) + w.b_p_h.clone(),
            speaker_state,
            d,
        );
        // q ← q·(1 − s) + s·p̂, the reference's own blend: exact for a one-hot s
        parties =
            parties.clone() * update_s.clone().neg().add_scalar(1.0) + update_s * party_state.unsqueeze_dim::<4>(2);
        let emotion_input = select_s.matmul(parties.clone()).reshape([g, n, d]);
        emotion = gru_update(
            emotion_input.matmul(w.e_i.clone()) + w.b_e_i.clone(),
            emotion.clone().matmul(w.e_h.clone()) + w.b_e_h.clone(),
            emotion,
            d,
        );
        let score = next_global.clone().matmul(w.att.clone()); // [G, n, 1]
        pool = Some(match pool {
            Some(pl) => pl.push(score, next_global.clone()),
            None => AttentionPool::start(score, next_global.clone()),
        });
        global = next_global;
        outputs.push(pad_rows(emotion.clone(), &zeros));
    }

    let out = Tensor::stack::<4>(outputs, 0); // [T, G, B, d]
    let inverse = index_tensor(&inverse, &device);
    let mask = length_mask(&sorted, t, &device);
    chains
        .iter()
        .enumerate()
        .map(|(c, chain)| {
            let o = out.clone().slice([0..t, c..c + 1]).reshape([t, b, d]).swap_dims(0, 1); // [B, T, d] sorted
            let o = if chain.reverse { permute_steps(o, reverse_index.clone()) * mask.clone() } else { o };
            o.select(0, inverse.clone())
        })
        .collect()
}

/// Host one-hots `[T, G, B, P]` of the party each step reads (`select`) and writes (`update`),
/// rows in `order`; a padded step reads slot 0 (the reference's argmax of an all-zero row) and
/// writes none.
fn speaker_one_hots(chains: &[Chain<'_>], speakers: Speakers<'_>, order: &[usize], t: usize) -> (Tensor<4>, Tensor<4>) {
    let [g, b, p] = [chains.len(), order.len(), speakers.slots];
    let mut select = vec![0f32; t * g * b * p];
    let mut update = vec![0f32; t * g * b * p];
    for (c, chain) in chains.iter().enumerate() {
        for (row, &i) in order.iter().enumerate() {
            let n = speakers.lengths[i];
            for s in 0..t {
                let at = ((s * g + c) * b + row) * p;
                if s >= n {
                    select[at] = 1.0;
                    continue;
                }
                let source = if chain.reverse { n - 1 - s } else { s };
                let k = speakers.ids[i * t + source];
                assert!((0..p as i64).contains(&k), "speaker id {k} outside 0..{p}");
                select[at + k as usize] = 1.0;
                update[at + k as usize] = 1.0;
            }
        }
    }
    let device = chains[0].inputs.device();
    let select = Tensor::<4>::from_data(TensorData::new(select, [t, g, b, p]), &device);
    let update = Tensor::<4>::from_data(TensorData::new(update, [t, g, b, p]), &device);
    (select, update)
}

/// The chains' cells stacked along a leading `G` axis: weights `[G, in, 3d]` (transposed
/// PyTorch layout), biases `[G, 1, 3d]`, the attention vector `[G, d, 1]`. The global and party
/// input weights are split into their utterance part (`*_u`) and their state part.
struct StackedWeights {
    g_u: Tensor<3>,
    g_q: Tensor<3>,
    g_h: Tensor<3>,
    p_u: Tensor<3>,
    p_c: Tensor<3>,
    p_h: Tensor<3>,
    e_i: Tensor<3>,
    e_h: Tensor<3>,
    b_g_i: Tensor<3>,
    b_g_h: Tensor<3>,
    b_p_i: Tensor<3>,
    b_p_h: Tensor<3>,
    b_e_i: Tensor<3>,
    b_e_h: Tensor<3>,
    att: Tensor<3>,
}

impl StackedWeights {
    fn of(chains: &[Chain<'_>]) -> Self {
        let g = chains.len();
        let d = chains[0].cell.d_state();
        let d_u = chains[0].inputs.dims()[2];
        let stack_w = |f: &dyn Fn(&DialogueRnnCell) -> Tensor<2>| {
            Tensor::stack::<3>(chains.iter().map(|c| f(c.cell).transpose()).collect(), 0)
        };
        let stack_b = |f: &dyn Fn(&DialogueRnnCell) -> Tensor<1>| {
            Tensor::stack::<2>(chains.iter().map(|c| f(c.cell)).collect(), 0).reshape([g, 1, 3 * d])
        };
        let g_ih = |c: &DialogueRnnCell| c.global.weight_ih.val();
        let p_ih = |c: &DialogueRnnCell| c.party.weight_ih.val();
        Self {
            g_u: stack_w(&|c| g_ih(c).slice([0..3 * d, 0..d_u])),
            g_q: stack_w(&|c| g_ih(c).slice([0..3 * d, d_u..d_u + d])),
            g_h: stack_w(&|c| c.global.weight_hh.val()),
            p_u: stack_w(&|c| p_ih(c).slice([0..3 * d, 0..d_u])),
            p_c: stack_w(&|c| p_ih(c).slice([0..3 * d, d_u..d_u + d])),
            p_h: stack_w(&|c| c.party.weight_hh.val()),
            e_i: stack_w(&|c| c.emotion.weight_ih.val()),
            e_h: stack_w(&|c| c.emotion.weight_hh.val()),
            b_g_i: stack_b(&|c| c.global.bias_ih.val()),
            b_g_h: stack_b(&|c| c.global.bias_hh.val()),
            b_p_i: stack_b(&|c| c.party.bias_ih.val()),
            b_p_h: stack_b(&|c| c.party.bias_hh.val()),
            b_e_i: stack_b(&|c| c.emotion.bias_ih.val()),
            b_e_h: stack_b(&|c| c.emotion.bias_hh.val()),
            att: Tensor::stack::<3>(chains.iter().map(|c| c.cell.attention.val().transpose()).collect(), 0),
        }
    }
}

/// The inputs of every step, rows in `order` and (for reverse chains) reversed within each
/// dialogue: `[G, T·B, D_u]`, step-major.
fn step_inputs(chains: &[Chain<'_>], order: &Tensor<1, Int>, reverse_index: &Tensor<1, Int>) -> Tensor<3> {
    let [b, t, d_u] = chains[0].inputs.dims();
    let inputs: Vec<Tensor<3>> = chains
        .iter()
        .map(|c| {
            let x = c.inputs.clone().select(0, order.clone());
            let x = if c.reverse { permute_steps(x, reverse_index.clone()) } else { x };
            x.swap_dims(0, 1).reshape([1, t * b, d_u])
        })
        .collect();
    Tensor::cat(inputs, 0)
}

/// The running attention pool over previous global states: an online softmax.
///
/// Keeps `m` (the largest score so far, detached: softmax does not depend on it, so gradients
/// stay exact), `S = Σ exp(s_j − m)` and `V = Σ exp(s_j − m) g_j`; the pool is `V / S`.
struct AttentionPool {
    max: Tensor<3>,
    weight: Tensor<3>,
    sum: Tensor<3>,
}

impl AttentionPool {
    fn start(score: Tensor<3>, state: Tensor<3>) -> Self {
        let max = score.clone().detach();
        let e = (score - max.clone()).exp();
        Self { max, weight: e.clone(), sum: e * state }
    }

    fn push(self, score: Tensor<3>, state: Tensor<3>) -> Self {
        let max = self.max.clone().max_pair(score.clone().detach());
        let rescale = (self.max - max.clone()).exp();
        let e = (score - max.clone()).exp();
        Self { weight: self.weight * rescale.clone() + e.clone(), sum: self.sum * rescale + e * state, max }
    }

    /// The pooled context `[G, n, d]`.
    fn read(&self) -> Tensor<3> {
        self.sum.clone() / self.weight.clone()
    }

    fn keep_rows(self, n: usize) -> Self {
        let cut = |x: Tensor<3>| {
            let [g, _, k] = x.dims();
            x.slice([0..g, 0..n, 0..k])
        };
        Self { max: cut(self.max), weight: cut(self.weight), sum: cut(self.sum) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, values};
    use burn::tensor::Distribution;

    /// One GRU cell step on the host, PyTorch's equations, f64.
    fn gru_step(w: &GruWeights, x: &[f64], h: &[f64]) -> Vec<f64> {
        let get = |p: Tensor<2>| values(p).into_iter().map(f64::from).collect::<Vec<_>>();
        let get1 = |p: Tensor<1>| values(p).into_iter().map(f64::from).collect::<Vec<_>>();
        let (w_ih, w_hh) = (get(w.weight_ih.val()), get(w.weight_hh.val()));
        let (b_ih, b_hh) = (get1(w.bias_ih.val()), get1(w.bias_hh.val()));
        let hd = h.len();
        let dot = |m: &[f64], row: usize, v: &[f64]| (0..v.len()).map(|j| m[row * v.len() + j] * v[j]).sum::<f64>();
        let gi: Vec<f64> = (0..3 * hd).map(|r| dot(&w_ih, r, x) + b_ih[r]).collect();
        let gh: Vec<f64> = (0..3 * hd).map(|r| dot(&w_hh, r, h) + b_hh[r]).collect();
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        (0..hd)
            .map(|k| {
                let r = s(gi[k] + gh[k]);
                let z = s(gi[hd + k] + gh[hd + k]);
                let n = (gi[2 * hd + k] + r * gh[2 * hd + k]).tanh();
                (1.0 - z) * n + z * h[k]
            })
            .collect()
    }

    /// DialogueRNN over one dialogue, written from the spec: full softmax over previous global
    /// states, every party's state kept. Returns the emotion states `[n][d]`.
    fn naive_dialogue(cell: &DialogueRnnCell, u: &[Vec<f64>], speakers: &[usize], parties: usize) -> Vec<Vec<f64>> {
        let d = cell.d_state();
        let w: Vec<f64> = values(cell.attention.val()).into_iter().map(f64::from).collect();
        let (mut g_hist, mut q, mut e) = (Vec::<Vec<f64>>::new(), vec![vec![0.0; d]; parties], vec![0.0; d]);
        let mut out = Vec::new();
        for (ut, &k) in u.iter().zip(speakers) {
            let g_prev = g_hist.last().cloned().unwrap_or(vec![0.0; d]);
            let g = gru_step(&cell.global, &[ut.clone(), q[k].clone()].concat(), &g_prev);
            let c = if g_hist.is_empty() {
                vec![0.0; d]
            } else {
                let scores: Vec<f64> = g_hist.iter().map(|gj| gj.iter().zip(&w).map(|(a, b)| a * b).sum()).collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exp.iter().sum();
                (0..d).map(|i| g_hist.iter().zip(&exp).map(|(gj, a)| gj[i] * a / total).sum()).collect()
            };
            q[k] = gru_step(&cell.party, &[ut.clone(), c].concat(), &q[k]);
            e = gru_step(&cell.emotion, &q[k], &e);
            g_hist.push(g);
            out.push(e.clone());
        }
        out
    }

    #[test]
    fn lock_step_chains_match_a_per_dialogue_loop_in_both_directions() {
        let dev = device();
        let (d_u, d, parties, lengths, t) = (3, 4, 3, [5usize, 2, 4], 5);
        let cells = [DialogueRnnCellConfig::new(d_u, d).init(&dev), DialogueRnnCellConfig::new(d_u, d).init(&dev)];
        let x = Tensor::<3>::random([3, t, d_u], Distribution::Normal(0.0, 1.0), &dev);
        let speakers: Vec<i64> = vec![0, 1, 2, 1, 0, 2, 2, 0, 0, 0, 1, 1, 0, 2, 0];
        let chains = [
            Chain { cell: &cells[0], inputs: x.clone(), reverse: false },
            Chain { cell: &cells[1], inputs: x.clone(), reverse: true },
        ];
        let spk = Speakers { ids: &speakers, lengths: &lengths, slots: parties };
        let outs: Vec<Vec<f32>> = run_dialogue_rnns(&chains, spk, PaddedSteps::Skip).into_iter().map(values).collect();
        let xs = values(x);
        for (b, &n) in lengths.iter().enumerate() {
            let u: Vec<Vec<f64>> = (0..n)
                .map(|i| xs[(b * t + i) * d_u..(b * t + i + 1) * d_u].iter().map(|&v| v as f64).collect())
                .collect();
            let k: Vec<usize> = (0..n).map(|i| speakers[b * t + i] as usize).collect();
            let forward = naive_dialogue(&cells[0], &u, &k, parties);
            let (ur, kr): (Vec<_>, Vec<_>) = u.iter().cloned().zip(k.iter().cloned()).rev().unzip();
            let mut backward = naive_dialogue(&cells[1], &ur, &kr, parties);
            backward.reverse();
            for i in 0..t {
                for j in 0..d {
                    let at = (b * t + i) * d + j;
                    let (want_f, want_b) = if i < n { (forward[i][j], backward[i][j]) } else { (0.0, 0.0) };
                    assert!(
                        (outs[0][at] as f64 - want_f).abs() < 1e-5,
                        "forward b{b} t{i}: {} vs {want_f}",
                        outs[0][at]
                    );
                    assert!(
                        (outs[1][at] as f64 - want_b).abs() < 1e-5,
                        "backward b{b} t{i}: {} vs {want_b}",
                        outs[1][at]
                    );
                }
            }
        }
    }

    #[test]
    fn reference_padding_runs_padded_steps_but_leaves_real_ones_alone() {
        let dev = device();
        let cell = DialogueRnnCellConfig::new(2, 3).init(&dev);
        let x = Tensor::<3>::random([2, 4, 2], Distribution::Normal(0.0, 1.0), &dev);
        let speakers = vec![0i64, 1, 0, 1, 1, 0, 0, 0];
        let lengths = [4usize, 2];
        let spk = Speakers { ids: &speakers, lengths: &lengths, slots: 2 };
        let chains = [Chain { cell: &cell, inputs: x, reverse: false }];
        let skip = values(run_dialogue_rnns(&chains, spk, PaddedSteps::Skip).remove(0));
        let reference = values(run_dialogue_rnns(&chains, spk, PaddedSteps::Reference).remove(0));
        // real steps agree; the second dialogue's padded steps are 0 when skipped and are
        // the continued recurrence (non-zero) in the reference's mode
        for (i, (a, b)) in skip.iter().zip(&reference).enumerate() {
            let (dialogue, step) = (i / 12, (i / 3) % 4);
            if step < lengths[dialogue] {
                assert!((a - b).abs() < 1e-6, "element {i}: {a} vs {b}");
            } else {
                assert_eq!(*a, 0.0);
                assert!(b.abs() > 0.0, "element {i} of a padded step should be non-zero in reference mode");
            }
        }
    }
}
