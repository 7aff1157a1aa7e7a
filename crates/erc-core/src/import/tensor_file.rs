//! Safetensors files read onto the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use super::ImportError;

/// A float or integer tensor read from a safetensors file, on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostTensor {
    /// `F32` (or `F64` converted to f32).
    Float {
        /// Shape.
        shape: Vec<usize>,
        /// Row-major values.
        values: Vec<f32>,
    },
    /// `I64` (or `I32` widened).
    Int {
        /// Shape.
        shape: Vec<usize>,
        /// Row-major values.
        values: Vec<i64>,
    },
}

/// The tensors of one safetensors file, by name, on the host.
#[derive(Debug, Clone, Default)]
pub struct TensorFile {
    tensors: BTreeMap<String, HostTensor>,
}

impl TensorFile {
    /// Reads a safetensors file (F32, F64, I64 and I32 tensors; other dtypes are an error).
    pub fn read(path: &Path) -> Result<Self, ImportError> {
        let bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.into(), source })?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            ImportError::Format { message, .. } => ImportError::Format { path: path.into(), message },
            other => other,
        })
    }

    /// Parses safetensors bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ImportError> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| ImportError::Format { path: PathBuf::new(), message: e.to_string() })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let data = view.data();
            let tensor = match view.dtype() {
                Dtype::F32 => HostTensor::Float {
                    shape,
                    values: data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                },
                Dtype::F64 => HostTensor::Float {
                    shape,
                    values: data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
                },
                Dtype::I64 => HostTensor::Int {
                    shape,
                    values: data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
                },
                Dtype::I32 => HostTensor::Int {
                    shape,
                    values: data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
                },
                other => return Err(ImportError::Dtype { key: name, dtype: format!("{other:?}") }),
            };
            tensors.insert(name, tensor);
        }
        Ok(Self { tensors })
    }

    /// Builds a file's contents from float tensors (for tests and exports).
    pub fn from_floats(tensors: impl IntoIterator<Item = (String, Vec<usize>, Vec<f32>)>) -> Self {
        Self {
            tensors: tensors
                .into_iter()
                .map(|(name, shape, values)| (name, HostTensor::Float { shape, values }))
                .collect(),
        }
    }

    /// Serialises float and integer tensors to safetensors bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, t)| match t {
                HostTensor::Float { shape, values } => {
                    (name.clone(), Dtype::F32, shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
                HostTensor::Int { shape, values } => {
                    (name.clone(), Dtype::I64, shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
            .iter()
            .map(|(n, dt, shape, bytes)| {
                (n.clone(), safetensors::tensor::TensorView::new(*dt, shape.clone(), bytes).expect("consistent view"))
            })
            .collect();
        safetensors::serialize(views, None).expect("serialising in-memory tensors")
    }

    /// Every name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// A tensor by name.
    pub fn get(&self, name: &str) -> Option<&HostTensor> {
        self.tensors.get(name)
    }

    /// Inserts or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: HostTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Removes a tensor.
    pub fn remove(&mut self, name: &str) -> Option<HostTensor> {
        self.tensors.remove(name)
    }

    /// The tensors whose names start with `prefix`, with the prefix stripped
    /// (fixtures store weights as `param.<state_dict name>`).
    pub fn with_prefix(&self, prefix: &str) -> TensorFile {
        Self {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
                .collect(),
        }
    }
}
