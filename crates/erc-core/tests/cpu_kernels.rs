//! The CPU backends' kernels that erc's patched burn-ndarray replaces (vendor/burn-ndarray,
//! see its ERC-PATCHES.md), checked on every compiled CPU backend against a host reference:
//! matrix products of operands that are not in standard layout (transposed, permuted, sliced,
//! broadcast, reversed), products written into recycled memory or over an empty inner
//! dimension, the sigmoid and its gradient, and zero tensors.

use burn::tensor::{Device, Tensor, TensorData, activation::sigmoid};
use erc_core::BackendKind;

fn cpu_devices() -> Vec<(BackendKind, Device)> {
    BackendKind::compiled().into_iter().filter(|k| k.is_cpu()).map(|k| (k, k.device().unwrap())).collect()
}

/// Deterministic values in [-1, 1) for `n` elements.
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97)) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

fn host<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, t.into_data().iter::<f32>().collect())
}

/// `a [.., m, k] × b [.., k, n]` on the host, both in standard layout with equal batch sizes.
fn host_matmul(a: &[f32], b: &[f32], batches: usize, m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; batches * m * n];
    for g in 0..batches {
        for i in 0..m {
            for j in 0..n {
                out[(g * m + i) * n + j] = (0..k).map(|p| a[(g * m + i) * k + p] * b[(g * k + p) * n + j]).sum();
            }
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "{what}: max difference {worst}");
}

#[test]
fn products_of_strided_operands_match_the_host_product() {
    let (m, k, n) = (5, 7, 3);
    for (kind, device) in cpu_devices() {
        let a = values(2 * 3 * m * k, 1);
        let b = values(2 * 3 * k * n, 2);
        let want = host_matmul(&a, &b, 6, m, k, n);
        let lhs = Tensor::<4>::from_data(TensorData::new(a.clone(), [2, 3, m, k]), &device);
        let rhs = Tensor::<4>::from_data(TensorData::new(b.clone(), [2, 3, k, n]), &device);
        let plain = host(lhs.clone().matmul(rhs.clone())).1;
        assert_close(&plain, &want, &format!("{kind}: standard layout"));

        // The same operands held transposed ([.., k, m] in memory), as autodiff's backward passes them.
        let lhs_t = lhs.clone().swap_dims(2, 3).into_data();
        let lhs_t = Tensor::<4>::from_data(lhs_t, &device).swap_dims(2, 3);
        let rhs_t = Tensor::<4>::from_data(rhs.clone().swap_dims(2, 3).into_data(), &device).swap_dims(2, 3);
        assert_close(&host(lhs_t.clone().matmul(rhs.clone())).1, &want, &format!("{kind}: lhs transposed"));
        assert_close(&host(lhs.clone().matmul(rhs_t.clone())).1, &want, &format!("{kind}: rhs transposed"));
        assert_close(&host(lhs_t.matmul(rhs_t)).1, &want, &format!("{kind}: both transposed"));

        // Batch dimensions stored in the other order ([3, 2, ..] in memory, permuted to [2, 3, ..]).
        let lhs_p = Tensor::<4>::from_data(lhs.clone().swap_dims(0, 1).into_data(), &device).swap_dims(0, 1);
        assert_close(&host(lhs_p.matmul(rhs.clone())).1, &want, &format!("{kind}: permuted batches"));

        // A slice of a wider tensor (row stride larger than the row).
        let wide = Tensor::<4>::from_data(TensorData::new(values(2 * 3 * m * (k + 4), 3), [2, 3, m, k + 4]), &device);
        let sliced = wide.clone().slice([0..2, 0..3, 0..m, 2..k + 2]);
        let sliced_host = host(sliced.clone()).1;
        assert_close(
            &host(sliced.matmul(rhs.clone())).1,
            &host_matmul(&sliced_host, &b, 6, m, k, n),
            &format!("{kind}: sliced lhs"),
        );

        // A transposed rhs broadcast over the batch: [1, 1, k, n] against [2, 3, m, k].
        let shared = values(k * n, 4);
        let rhs_one = Tensor::<4>::from_data(TensorData::new(shared.clone(), [1, 1, n, k]), &device).swap_dims(2, 3);
        let mut transposed = vec![0f32; k * n];
        for p in 0..k {
            for j in 0..n {
                transposed[p * n + j] = shared[j * k + p];
            }
        }
        let broadcast_b: Vec<f32> = (0..6).flat_map(|_| transposed.iter().copied()).collect();
        assert_close(
            &host(lhs.matmul(rhs_one)).1,
            &host_matmul(&a, &broadcast_b, 6, m, k, n),
            &format!("{kind}: broadcast transposed rhs"),
        );
    }
}

#[test]
fn products_write_every_output_element() {
    // burn-ndarray's patched product writes into an uninitialised buffer: every element must be
    // written, whatever the allocator hands back (here memory that held other values just before).
    let (m, k, n) = (9, 17, 11);
    for (kind, device) in cpu_devices() {
        let a = values(3 * m * k, 7);
        let b = values(3 * k * n, 8);
        let want = host_matmul(&a, &b, 3, m, k, n);
        let lhs = Tensor::<3>::from_data(TensorData::new(a, [3, m, k]), &device);
        let rhs = Tensor::<3>::from_data(TensorData::new(b, [3, k, n]), &device);
        for round in 0..8 {
            drop(host(Tensor::<3>::full([3, m, n], 7.5 + round as f32, &device) * 3.0));
            assert_close(&host(lhs.clone().matmul(rhs.clone())).1, &want, &format!("{kind}: round {round}"));
        }

        // Reversed operands (negative strides in ndarray's views).
        let (dims, flipped) = host(lhs.clone().flip([1, 2]).matmul(rhs.clone().flip([1, 2])));
        assert_eq!(dims, vec![3, m, n]);
        let (_, lhs_rev) = host(lhs.clone().flip([1, 2]));
        let (_, rhs_rev) = host(rhs.clone().flip([1, 2]));
        assert_close(&flipped, &host_matmul(&lhs_rev, &rhs_rev, 3, m, k, n), &format!("{kind}: flipped operands"));

        // An empty inner dimension: the product is all zeros.
        let empty_lhs = Tensor::<3>::from_data(TensorData::new(Vec::<f32>::new(), [3, m, 0]), &device);
        let empty_rhs = Tensor::<3>::from_data(TensorData::new(Vec::<f32>::new(), [3, 0, n]), &device);
        drop(host(Tensor::<3>::full([3, m, n], 2.0, &device) * 3.0));
        let (dims, zeros) = host(empty_lhs.matmul(empty_rhs));
        assert_eq!(dims, vec![3, m, n], "{kind}: shape of a product over k = 0");
        assert!(zeros.iter().all(|&v| v == 0.0), "{kind}: a product over k = 0 holds non-zero values");
    }
}

#[test]
fn product_gradients_match_the_analytic_ones() {
    // d/dA sum(A·B) = 1·Bᵀ and d/dB = Aᵀ·1: the backward multiplies by transposed operands.
    let (m, k, n) = (4, 6, 3);
    for (kind, device) in cpu_devices() {
        let device = device.autodiff();
        let a = values(m * k, 5);
        let b = values(k * n, 6);
        let lhs = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device).require_grad();
        let rhs = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device).require_grad();
        let grads = lhs.clone().matmul(rhs.clone()).sum().backward();
        let grad_a = host(lhs.grad(&grads).unwrap()).1;
        let grad_b = host(rhs.grad(&grads).unwrap()).1;
        let want_a: Vec<f32> = (0..m * k).map(|i| (0..n).map(|j| b[(i % k) * n + j]).sum()).collect();
        let want_b: Vec<f32> = (0..k * n).map(|i| (0..m).map(|r| a[r * k + i / n]).sum()).collect();
        assert_close(&grad_a, &want_a, &format!("{kind}: gradient of lhs"));
        assert_close(&grad_b, &want_b, &format!("{kind}: gradient of rhs"));
    }
}

#[test]
fn sigmoid_and_its_gradient_are_exact_at_the_extremes() {
    let xs = [-1000.0f32, -88.0, -20.0, -1.0, 0.0, 0.5, 20.0, 88.0, 1000.0];
    let reference = |x: f64| 1.0 / (1.0 + (-x).exp());
    for (kind, device) in cpu_devices() {
        let device = device.autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(xs.to_vec(), [xs.len()]), &device).require_grad();
        let y = sigmoid(x.clone());
        let grads = y.clone().sum().backward();
        let (_, got) = host(y);
        let (_, grad) = host(x.grad(&grads).unwrap());
        for (i, &v) in xs.iter().enumerate() {
            let s = reference(v as f64);
            let ds = s * (1.0 - s);
            assert!(got[i].is_finite() && grad[i].is_finite(), "{kind}: sigmoid({v}) = {}, grad {}", got[i], grad[i]);
            assert!(((got[i] as f64) - s).abs() <= 1e-7 + 1e-6 * s, "{kind}: sigmoid({v}) = {} vs {s}", got[i]);
            assert!(((grad[i] as f64) - ds).abs() <= 1e-7 + 1e-5 * ds, "{kind}: sigmoid'({v}) = {} vs {ds}", grad[i]);
        }
    }
}

#[test]
fn zero_tensors_hold_zeros() {
    for (kind, device) in cpu_devices() {
        let a = Tensor::<3>::zeros([3, 64, 129], &device);
        let b = Tensor::<3>::zeros([3, 64, 129], &device) + 1.0;
        let (dims, values) = host(a);
        assert_eq!(dims, vec![3, 64, 129]);
        assert!(values.iter().all(|&v| v == 0.0), "{kind}: zeros hold non-zero values");
        assert!(host(b).1.iter().all(|&v| v == 1.0), "{kind}: zeros + 1");
    }
}
