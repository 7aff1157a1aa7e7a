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

use std::path::PathBuf;

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::tensor::Tensor;

mod table;
mod tensor_file;

pub use table::*;
pub use tensor_file::*;

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

/// Visits a LayerNorm as PyTorch's `prefix.weight` and `prefix.bias`.
pub fn import_layer_norm(p: &mut impl TorchParams, prefix: &str, norm: LayerNorm) -> Result<LayerNorm, ImportError> {
    let mut norm = norm;
    norm.gamma = import_param(p, &format!("{prefix}.weight"), norm.gamma, false)?;
    norm.beta = match norm.beta.take() {
        Some(beta) => Some(import_param(p, &format!("{prefix}.bias"), beta, false)?),
        None => None,
    };
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::device;
    use burn::nn::LinearConfig;
    use burn::tensor::TensorData;

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
