//! Run-time backend selection behind cargo features.
//!
//! Every backend is a cargo feature of this crate (`flex` — the default, `ndarray`, `wgpu`,
//! `cuda`). A backend that was not compiled in is reported as an error naming the feature to
//! enable; `Device::default()` is never used, so feature unification cannot silently change
//! which backend runs.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// One of the execution backends erc knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend (default).
    Flex,
    /// burn's older ndarray CPU backend.
    Ndarray,
    /// wgpu: Vulkan, Metal, DirectX or WebGPU (also Mesa's software Vulkan on a CPU).
    Wgpu,
    /// NVIDIA CUDA.
    Cuda,
}

/// Why a backend could not be selected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// The name is not a backend erc knows.
    #[error("unknown backend `{0}`: expected one of flex, ndarray, wgpu, cuda")]
    Unknown(String),
    /// The backend exists but this binary was built without its cargo feature.
    #[error(
        "backend `{name}` was not compiled into this build; rebuild with `--features {name}` \
         (compiled in: {compiled})"
    )]
    NotCompiled {
        /// The backend that was asked for.
        name: &'static str,
        /// Comma-separated list of the backends this build has.
        compiled: String,
    },
}

impl BackendKind {
    /// All backends, compiled in or not.
    pub const ALL: [BackendKind; 4] = [Self::Flex, Self::Ndarray, Self::Wgpu, Self::Cuda];

    /// The lower-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this build contains, in [`BackendKind::ALL`] order.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|k| k.is_compiled()).collect()
    }

    /// The first compiled backend (flex in a default build).
    pub fn default_compiled() -> Option<BackendKind> {
        Self::compiled().into_iter().next()
    }

    fn not_compiled(self) -> BackendError {
        let compiled = Self::compiled().iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
        BackendError::NotCompiled {
            name: self.name(),
            compiled: if compiled.is_empty() { "none".into() } else { compiled },
        }
    }

    /// A device for inference (no autodiff) on this backend.
    pub fn device(self) -> Result<Device, BackendError> {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // burn marks ndarray deprecated; we still offer it on request
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(other.not_compiled()),
        }
    }

    /// The compiled backend `device` belongs to (an autodiff device counts as its inner one).
    pub fn of(device: &Device) -> Option<BackendKind> {
        let base = device.clone().inner();
        Self::compiled().into_iter().find(|k| k.device().is_ok_and(|d| d == base))
    }

    /// Whether the backend computes on the CPU.
    pub fn is_cpu(self) -> bool {
        matches!(self, Self::Flex | Self::Ndarray)
    }

    /// A device with autodiff enabled, for training on this backend.
    pub fn training_device(self) -> Result<Device, BackendError> {
        Ok(self.device()?.autodiff())
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flex" => Ok(Self::Flex),
            "ndarray" => Ok(Self::Ndarray),
            "wgpu" => Ok(Self::Wgpu),
            "cuda" => Ok(Self::Cuda),
            _ => Err(BackendError::Unknown(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("Flex".parse::<BackendKind>(), Ok(BackendKind::Flex));
        assert_eq!("wgpu".parse::<BackendKind>(), Ok(BackendKind::Wgpu));
        assert!(matches!("tpu".parse::<BackendKind>(), Err(BackendError::Unknown(_))));
    }

    #[test]
    fn flex_is_compiled_by_default_and_gives_a_device() {
        assert!(BackendKind::Flex.is_compiled());
        let device = BackendKind::Flex.device().unwrap();
        assert!(!device.is_autodiff());
        assert!(BackendKind::Flex.training_device().unwrap().is_autodiff());
    }

    #[test]
    fn a_device_knows_its_backend() {
        for kind in BackendKind::compiled().into_iter().filter(|k| k.is_cpu()) {
            assert_eq!(BackendKind::of(&kind.device().unwrap()), Some(kind));
            assert_eq!(BackendKind::of(&kind.training_device().unwrap()), Some(kind));
        }
    }

    #[test]
    fn a_missing_backend_names_its_feature() {
        for kind in BackendKind::ALL {
            if !kind.is_compiled() {
                let err = kind.device().unwrap_err().to_string();
                assert!(err.contains(&format!("--features {}", kind.name())), "{err}");
            }
        }
    }
}
