//! `.npy` access: memory-mapped float32 feature matrices and small int64 vectors.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use ndarray::{Array1, ArrayView2};
use ndarray_npy::{ReadNpyExt, ViewNpyExt, WriteNpyExt};

use crate::error::DataError;

/// A `[rows, cols]` little-endian float32 `.npy` matrix, memory-mapped.
///
/// Opening parses the header only; [`FeatureMatrix::read_rows`] touches just the pages of the
/// rows asked for, so matrices larger than RAM work.
pub struct FeatureMatrix {
    path: PathBuf,
    map: Mmap,
    rows: usize,
    cols: usize,
}

impl std::fmt::Debug for FeatureMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureMatrix")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish()
    }
}

impl FeatureMatrix {
    /// Maps a file and checks that it is a C-order 2-D float32 array.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| missing_or_io(path, e))?;
        // SAFETY: the map is read-only; erc never writes a dataset it has open. If another
        // process truncates the file while it is mapped, reads may fault, as with any mmap.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(path, e))?;
        let (rows, cols) = {
            let view = ArrayView2::<f32>::view_npy(&map).map_err(|e| DataError::Npy {
                path: path.to_path_buf(),
                message: format!("not a 2-D little-endian float32 C-order .npy matrix: {e}"),
            })?;
            if !view.is_standard_layout() {
                return Err(DataError::Npy {
                    path: path.to_path_buf(),
                    message: "stored in Fortran (column-major) order; re-save it row-major, e.g. \
                              np.save(path, np.ascontiguousarray(x, dtype=np.float32))"
                        .into(),
                });
            }
            view.dim()
        };
        Ok(Self { path: path.to_path_buf(), map, rows, cols })
    }

    /// Number of rows (utterances).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (feature dimension).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The file behind the matrix.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn view(&self) -> ArrayView2<'_, f32> {
        // The header was validated in `open` and the map cannot change under us.
        ArrayView2::<f32>::view_npy(&self.map).expect("header validated at open")
    }

    /// Copies rows `start..end` into `out` (row-major), failing on NaN or infinity.
    /// `modality` and the global row index are only used in the error.
    pub fn read_rows(&self, start: usize, end: usize, modality: &str, out: &mut Vec<f32>) -> Result<(), DataError> {
        if end > self.rows || start > end {
            return Err(DataError::invalid(
                &self.path,
                format!("rows {start}..{end} out of range ({} rows)", self.rows),
            ));
        }
        let view = self.view();
        let block = view.slice(ndarray::s![start..end, ..]);
        let slice = block.as_slice().expect("C-order rows are contiguous");
        if let Some(pos) = slice.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFinite {
                path: self.path.clone(),
                modality: modality.to_string(),
                utterance: start + pos / self.cols,
                column: pos % self.cols,
                value: slice[pos],
            });
        }
        out.extend_from_slice(slice);
        Ok(())
    }
}

fn missing_or_io(path: &Path, e: std::io::Error) -> DataError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DataError::Missing { path: path.to_path_buf(), hint: String::new() }
    } else {
        DataError::io(path, e)
    }
}

/// Reads a 1-D int64 `.npy` vector whole (offsets, speakers, labels are small).
pub fn read_i64_vector(path: &Path) -> Result<Vec<i64>, DataError> {
    let file = File::open(path).map_err(|e| missing_or_io(path, e))?;
    let array = Array1::<i64>::read_npy(std::io::BufReader::new(file)).map_err(|e| DataError::Npy {
        path: path.to_path_buf(),
        message: format!("not a 1-D little-endian int64 .npy vector: {e}"),
    })?;
    Ok(array.to_vec())
}

/// Writes a 1-D int64 `.npy` vector.
pub fn write_i64_vector(path: &Path, values: &[i64]) -> Result<(), DataError> {
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    Array1::from(values.to_vec())
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| DataError::Npy { path: path.to_path_buf(), message: e.to_string() })
}

/// Writes a `[rows, cols]` float32 `.npy` matrix from row-major values.
pub fn write_f32_matrix(path: &Path, rows: usize, cols: usize, values: &[f32]) -> Result<(), DataError> {
    assert_eq!(values.len(), rows * cols, "matrix buffer does not match its shape");
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let array = ndarray::ArrayView2::from_shape((rows, cols), values).expect("shape checked above");
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| DataError::Npy { path: path.to_path_buf(), message: e.to_string() })
}

/// Creates a `[rows, cols]` float32 `.npy` file of zeros without writing the data (a sparse
/// file on file systems that support it). Used for matrices filled later, row block by row
/// block, and for tests with matrices larger than RAM.
pub fn create_zeroed_f32_matrix(path: &Path, rows: usize, cols: usize) -> Result<(), DataError> {
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    ndarray_npy::write_zeroed_npy::<f32, _>(&file, (rows, cols))
        .map_err(|e| DataError::Npy { path: path.to_path_buf(), message: e.to_string() })
}
