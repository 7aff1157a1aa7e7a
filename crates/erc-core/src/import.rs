//! Loading reference PyTorch weights by their `state_dict` names.
//!
//! A model describes its parameters once, in the reference's `state_dict` order, by walking
//! them through a [`TorchParams`] visitor (`visit_torch(self, &mut visitor)`). The same walk
//! serves three jobs:
//!
//! * [`TorchImporter`] replaces every parameter with the tensor of that name from a
//!   safetensors file, checking shapes, strict by default (missing, mis-shaped and unexpected
//!   keys are errors naming the key);
//! * [`ParamTable`] records names, shapes and whether the model uses each parameter, so a
//!   preset can be compared with the reference's parameter list, and keeps handles on the
//!   tensors so gradients can be read back under the reference's names.
//!
//! Parameters the reference creates but never uses are declared with
//! [`TorchParams::unused`]: an import accepts them (shape-checked) and drops them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

/// Errors raised while reading weight files or importing parameters.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{path} is not a safetensors file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A key the model needs is absent.
    #[error("missing key `{key}` (expected shape {expected:?})")]
    Missing {
        /// The PyTorch parameter name.
        key: String,
        /// Its expected shape.
        expected: Vec<usize>,
    },
    /// A key has the wrong shape.
    #[error("key `{key}` has shape {found:?}, the model expects {expected:?}")]
    Shape {
        /// The PyTorch parameter name.
        key: String,
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A key has a data type that cannot be read as floats.
    #[error("key `{key}` has dtype {dtype}, expected F32 or F64")]
    Dtype {
        /// The name.
        key: String,
        /// The dtype found.
        dtype: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("key `{key}` holds a non-finite value")]
    NonFinite {
        /// The name.
        key: String,
    },
    /// Strict import found keys the model does not know.
    #[error("{} unexpected key(s) (strict import): {}", keys.len(), preview(keys))]
    Unexpected {
        /// The unknown names.
        keys: Vec<String>,
    },
}

fn preview(keys: &[String]) -> String {
    let mut s = keys.iter().take(8).map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    if keys.len() > 8 {
        s.push_str(&format!(", … ({} more)", keys.len() - 8));
    }
    s
}

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

/// A parameter tensor of rank 1, 2 or 3, as a visitor sees it.
#[derive(Debug, Clone)]
pub enum AnyTensor {
    /// A vector (biases).
    R1(Tensor<1>),
    /// A matrix (weights).
    R2(Tensor<2>),
    /// A rank-3 tensor (e.g. a learned `[1, 1, d]` token).
    R3(Tensor<3>),
}

impl AnyTensor {
    fn dims(&self) -> Vec<usize> {
        match self {
            Self::R1(t) => t.dims().to_vec(),
            Self::R2(t) => t.dims().to_vec(),
            Self::R3(t) => t.dims().to_vec(),
        }
    }
}

/// Conversion between a parameter's tensor and [`AnyTensor`].
pub trait ParamTensor: Sized {
    /// Wraps the tensor.
    fn wrap(self) -> AnyTensor;
    /// Unwraps; `None` when the rank differs.
    fn unwrap_any(any: AnyTensor) -> Option<Self>;
}

/// `ParamTensor` for the tensor of one rank, wrapped in one [`AnyTensor`] variant.
macro_rules! param_tensor {
    ($rank:literal, $variant:ident) => {
        impl ParamTensor for Tensor<$rank> {
            fn wrap(self) -> AnyTensor {
                AnyTensor::$variant(self)
            }
            fn unwrap_any(any: AnyTensor) -> Option<Self> {
                match any {
                    AnyTensor::$variant(t) => Some(t),
                    _ => None,
                }
            }
        }
    };
}

param_tensor!(1, R1);
param_tensor!(2, R2);
param_tensor!(3, R3);

/// A visitor over a model's parameters in the reference's `state_dict` order.
pub trait TorchParams {
    /// A parameter the model uses. `value` is in burn's layout; `transposed` says the PyTorch
    /// tensor is its transpose (burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`).
    /// Returns the value to keep.
    fn param(&mut self, name: &str, value: AnyTensor, transposed: bool) -> Result<AnyTensor, ImportError>;

    /// A parameter the reference defines but never uses, with its PyTorch shape.
    fn unused(&mut self, name: &str, shape: &[usize]) -> Result<(), ImportError>;
}

/// A visitor that sees every name with a prefix prepended: visits a sub-model that names its
/// own parameters (`embeddings.…`) inside a model that stores them under a prefix
/// (`roberta.embeddings.…`).
#[derive(Debug)]
pub struct Prefixed<'a, P: TorchParams + ?Sized> {
    inner: &'a mut P,
    prefix: &'a str,
}

impl<'a, P: TorchParams + ?Sized> Prefixed<'a, P> {
    /// Wraps `inner`; `prefix` includes its separator (`"roberta."`).
    pub fn new(inner: &'a mut P, prefix: &'a str) -> Self {
        Self { inner, prefix }
    }
}

impl<P: TorchParams + ?Sized> TorchParams for Prefixed<'_, P> {
    fn param(&mut self, name: &str, value: AnyTensor, transposed: bool) -> Result<AnyTensor, ImportError> {
        self.inner.param(&format!("{}{name}", self.prefix), value, transposed)
    }

    fn unused(&mut self, name: &str, shape: &[usize]) -> Result<(), ImportError> {
        self.inner.unused(&format!("{}{name}", self.prefix), shape)
    }
}

/// Visits one `Param` and puts the returned value back, keeping the parameter's id.
pub fn import_param<T, P>(p: &mut P, name: &str, param: Param<T>, transposed: bool) -> Result<Param<T>, ImportError>
where
    T: ParamTensor + burn::module::ParameterValue,
    P: TorchParams + ?Sized,
{
    let (id, value, mapper) = param.consume();
    let out = p.param(name, value.wrap(), transposed)?;
    let value = T::unwrap_any(out).expect("a visitor returns the rank it was given");
    Ok(Param::from_mapped_value(id, value, mapper))
}

/// Visits `items` (stored in our order) in the order the reference's `state_dict` lists them:
/// `order` holds indices into `items`, each exactly once. Returns the visited items in our order.
pub fn visit_in_order<T>(
    items: Vec<T>,
    order: &[usize],
    mut visit: impl FnMut(usize, T) -> Result<T, ImportError>,
) -> Result<Vec<T>, ImportError> {
    assert_eq!(order.len(), items.len(), "`order` names every item once");
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    for &i in order {
        let item = slots[i].take().expect("`order` names every item once");
        slots[i] = Some(visit(i, item)?);
    }
    Ok(slots.into_iter().map(|s| s.expect("`order` names every item once")).collect())
}

/// Visits a `burn::nn::Linear` as PyTorch's `prefix.weight` (`[out, in]`) and `prefix.bias`.
pub fn import_linear<P: TorchParams + ?Sized>(
    p: &mut P,
    prefix: &str,
    linear: burn::nn::Linear,
) -> Result<burn::nn::Linear, ImportError> {
    let weight = import_param(p, &format!("{prefix}.weight"), linear.weight, true)?;
    let bias = match linear.bias {
        Some(b) => Some(import_param(p, &format!("{prefix}.bias"), b, false)?),
        None => None,
    };
    Ok(burn::nn::Linear { weight, bias })
}

fn torch_shape(value: &AnyTensor, transposed: bool) -> Vec<usize> {
    let mut dims = value.dims();
    if transposed {
        dims.reverse();
    }
    dims
}

/// A model whose parameters can be walked in the reference's `state_dict` order under its
/// PyTorch names; importing reference weights and listing them come with it.
pub trait TorchNamed: Clone + Sized {
    /// Visits every parameter (and every parameter the reference creates but never uses) under
    /// the reference's names, in its order, putting back what the visitor returns.
    fn visit_torch(self, p: &mut impl TorchParams) -> Result<Self, ImportError>;

    /// Loads reference weights (a `state_dict` in safetensors, names as the reference's).
    /// Strict: every key must be present with its shape and no other key may be there.
    fn import_pytorch(self, file: &TensorFile, strict: bool) -> Result<Self, ImportError> {
        let mut importer = if strict { TorchImporter::strict(file) } else { TorchImporter::lenient(file) };
        let model = self.visit_torch(&mut importer)?;
        importer.finish()?;
        Ok(model)
    }

    /// The parameters under the reference's names, shapes and order (unused ones included).
    fn param_table(&self) -> ParamTable {
        let mut table = ParamTable::default();
        self.clone().visit_torch(&mut table).expect("recording never fails");
        table
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::device;
    use burn::nn::LinearConfig;

    fn visit(linear: burn::nn::Linear, p: &mut impl TorchParams) -> Result<burn::nn::Linear, ImportError> {
        let l = import_linear(p, "fc", linear)?;
        p.unused("dead.weight", &[2, 2])?;
        Ok(l)
    }

    fn file() -> TensorFile {
        TensorFile::from_floats([
            ("fc.weight".to_string(), vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ("fc.bias".to_string(), vec![2], vec![0.5, -0.5]),
            ("dead.weight".to_string(), vec![2, 2], vec![0.0; 4]),
        ])
    }

    #[test]
    fn linear_weights_are_transposed_on_import_and_round_trip() {
        let d = device();
        let f = TensorFile::from_bytes(&file().to_bytes()).unwrap();
        let mut imp = TorchImporter::strict(&f);
        let linear = visit(LinearConfig::new(3, 2).init(&d), &mut imp).unwrap();
        imp.finish().unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [1, 3]), &d);
        let y: Vec<f32> = linear.forward(x).into_data().iter::<f32>().collect();
        assert_eq!(y, vec![1.5, 3.5]); // column 0 of W plus the bias
        let mut table = ParamTable::default();
        visit(linear, &mut table).unwrap();
        assert_eq!(table.total_params(), 12);
        assert_eq!(table.used_params(), 8);
        let back = table.to_tensor_file();
        assert_eq!(back.get("fc.weight"), file().get("fc.weight"));
        assert!(back.get("dead.weight").is_none());
    }

    #[test]
    fn strict_import_names_the_offending_key() {
        let d = device();
        let mut f = file();
        f.remove("fc.bias");
        let err = visit(LinearConfig::new(3, 2).init(&d), &mut TorchImporter::strict(&f)).unwrap_err();
        assert!(err.to_string().contains("missing key `fc.bias`"), "{err}");

        let mut f = file();
        f.insert("fc.weight", HostTensor::Float { shape: vec![3, 2], values: vec![0.0; 6] });
        let err = visit(LinearConfig::new(3, 2).init(&d), &mut TorchImporter::strict(&f)).unwrap_err();
        assert!(err.to_string().contains("`fc.weight` has shape [3, 2], the model expects [2, 3]"), "{err}");

        let mut f = file();
        f.insert("extra", HostTensor::Float { shape: vec![1], values: vec![0.0] });
        let mut imp = TorchImporter::strict(&f);
        visit(LinearConfig::new(3, 2).init(&d), &mut imp).unwrap();
        assert!(imp.finish().unwrap_err().to_string().contains("`extra`"));

        let mut f = file();
        f.insert("fc.bias", HostTensor::Float { shape: vec![2], values: vec![f32::NAN, 0.0] });
        let err = visit(LinearConfig::new(3, 2).init(&d), &mut TorchImporter::strict(&f)).unwrap_err();
        assert!(matches!(err, ImportError::NonFinite { .. }), "{err}");
    }

    #[test]
    fn lenient_import_keeps_absent_parameters() {
        let d = device();
        let mut f = file();
        f.remove("fc.bias");
        f.insert("extra", HostTensor::Float { shape: vec![1], values: vec![0.0] });
        let linear = LinearConfig::new(3, 2).init(&d);
        let before: Vec<f32> = linear.bias.as_ref().unwrap().val().into_data().iter::<f32>().collect();
        let mut imp = TorchImporter::lenient(&f);
        let linear = visit(linear, &mut imp).unwrap();
        imp.finish().unwrap();
        let after: Vec<f32> = linear.bias.unwrap().val().into_data().iter::<f32>().collect();
        assert_eq!(before, after);
    }
}
