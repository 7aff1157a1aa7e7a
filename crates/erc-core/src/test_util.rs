//! Helpers shared by the unit tests of this crate.

use burn::tensor::{Device, Tensor};

/// The first compiled backend's device.
pub fn device() -> Device {
    crate::BackendKind::default_compiled().expect("a compiled backend").device().expect("a device")
}

/// A tensor's values on the host, row-major.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}
