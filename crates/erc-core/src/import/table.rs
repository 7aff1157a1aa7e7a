//! The two [`TorchParams`] visitors: the importer and the parameter table.

use std::collections::BTreeSet;

use burn::tensor::{Device, Tensor, TensorData};

use super::*;

/// Replaces parameters with the tensors of a [`TensorFile`]. See the module docs.
#[derive(Debug)]
pub struct TorchImporter<'a> {
    file: &'a TensorFile,
    taken: BTreeSet<String>,
    strict: bool,
}

impl<'a> TorchImporter<'a> {
    /// A strict importer: every key of the model must be present with its shape, and the file
    /// must hold no other key.
    pub fn strict(file: &'a TensorFile) -> Self {
        Self { file, taken: BTreeSet::new(), strict: true }
    }

    /// A lenient importer: absent keys keep their current values; unknown keys are ignored.
    /// Present keys must still have the right shape.
    pub fn lenient(file: &'a TensorFile) -> Self {
        Self { file, taken: BTreeSet::new(), strict: false }
    }

    /// Ends the import; in strict mode, keys of the file the model never asked for are an error.
    pub fn finish(self) -> Result<(), ImportError> {
        if !self.strict {
            return Ok(());
        }
        let keys: Vec<String> = self.file.names().filter(|k| !self.taken.contains(*k)).map(String::from).collect();
        if keys.is_empty() { Ok(()) } else { Err(ImportError::Unexpected { keys }) }
    }

    /// Looks a key up and checks its shape; `None` when absent in lenient mode.
    fn lookup(&mut self, name: &str, expected: &[usize]) -> Result<Option<&'a [f32]>, ImportError> {
        let Some(tensor) = self.file.get(name) else {
            return if self.strict {
                Err(ImportError::Missing { key: name.into(), expected: expected.to_vec() })
            } else {
                Ok(None)
            };
        };
        self.taken.insert(name.to_string());
        let HostTensor::Float { shape, values } = tensor else {
            return Err(ImportError::Dtype { key: name.into(), dtype: "an integer type".into() });
        };
        if shape.as_slice() != expected {
            return Err(ImportError::Shape { key: name.into(), expected: expected.to_vec(), found: shape.clone() });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ImportError::NonFinite { key: name.into() });
        }
        Ok(Some(values))
    }
}

fn tensor_like(values: &[f32], shape: &[usize], like: &AnyTensor, transposed: bool, device: &Device) -> AnyTensor {
    let data = TensorData::new(values.to_vec(), shape.to_vec());
    let (value, grad) = match like {
        AnyTensor::R1(t) => (AnyTensor::R1(Tensor::from_data(data, device)), t.is_require_grad()),
        AnyTensor::R2(t) => {
            let m = Tensor::<2>::from_data(data, device);
            (AnyTensor::R2(if transposed { m.transpose() } else { m }), t.is_require_grad())
        }
        AnyTensor::R3(t) => (AnyTensor::R3(Tensor::from_data(data, device)), t.is_require_grad()),
    };
    match (value, grad) {
        (AnyTensor::R1(t), true) => AnyTensor::R1(t.require_grad()),
        (AnyTensor::R2(t), true) => AnyTensor::R2(t.require_grad()),
        (AnyTensor::R3(t), true) => AnyTensor::R3(t.require_grad()),
        (v, false) => v,
    }
}

fn device_of(t: &AnyTensor) -> Device {
    match t {
        AnyTensor::R1(t) => t.device(),
        AnyTensor::R2(t) => t.device(),
        AnyTensor::R3(t) => t.device(),
    }
}

impl TorchParams for TorchImporter<'_> {
    fn param(&mut self, name: &str, value: AnyTensor, transposed: bool) -> Result<AnyTensor, ImportError> {
        let shape = torch_shape(&value, transposed);
        match self.lookup(name, &shape)? {
            Some(values) => Ok(tensor_like(values, &shape, &value, transposed, &device_of(&value))),
            None => Ok(value),
        }
    }

    fn unused(&mut self, name: &str, shape: &[usize]) -> Result<(), ImportError> {
        self.lookup(name, shape).map(|_| ())
    }
}

/// One parameter of a model as the reference names it.
#[derive(Debug, Clone)]
pub struct ParamEntry {
    /// The PyTorch `state_dict` name.
    pub name: String,
    /// The PyTorch shape.
    pub shape: Vec<usize>,
    /// Whether our model holds (and trains) it; `false` for the reference's dead parameters.
    pub used: bool,
    /// The tensor in burn's layout, for used parameters.
    pub tensor: Option<AnyTensor>,
    /// Whether the PyTorch layout is the transpose of `tensor`.
    pub transposed: bool,
}

impl ParamEntry {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Records a model's parameters under the reference's names. See the module docs.
#[derive(Debug, Default, Clone)]
pub struct ParamTable {
    /// Entries in `state_dict` order.
    pub entries: Vec<ParamEntry>,
}

impl ParamTable {
    /// Scalars over all entries (the reference's parameter count).
    pub fn total_params(&self) -> usize {
        self.entries.iter().map(ParamEntry::numel).sum()
    }

    /// Scalars over used entries (our model's parameter count).
    pub fn used_params(&self) -> usize {
        self.entries.iter().filter(|e| e.used).map(ParamEntry::numel).sum()
    }

    /// The values of every used parameter in PyTorch layout, ready to be written as a
    /// `state_dict` safetensors file (dead parameters are not included).
    pub fn to_tensor_file(&self) -> TensorFile {
        TensorFile::from_floats(self.entries.iter().filter_map(|e| {
            let t = e.tensor.as_ref()?;
            Some((e.name.clone(), e.shape.clone(), host_values(t, e.transposed)))
        }))
    }
}

/// A tensor's values in PyTorch layout.
fn host_values(t: &AnyTensor, transposed: bool) -> Vec<f32> {
    match t {
        AnyTensor::R1(t) => t.to_data().iter::<f32>().collect(),
        AnyTensor::R2(t) if transposed => t.clone().transpose().into_data().iter::<f32>().collect(),
        AnyTensor::R2(t) => t.to_data().iter::<f32>().collect(),
        AnyTensor::R3(t) => t.to_data().iter::<f32>().collect(),
    }
}

impl TorchParams for ParamTable {
    fn param(&mut self, name: &str, value: AnyTensor, transposed: bool) -> Result<AnyTensor, ImportError> {
        self.entries.push(ParamEntry {
            name: name.into(),
            shape: torch_shape(&value, transposed),
            used: true,
            tensor: Some(value.clone()),
            transposed,
        });
        Ok(value)
    }

    fn unused(&mut self, name: &str, shape: &[usize]) -> Result<(), ImportError> {
        self.entries.push(ParamEntry {
            name: name.into(),
            shape: shape.to_vec(),
            used: false,
            tensor: None,
            transposed: false,
        });
        Ok(())
    }
}
