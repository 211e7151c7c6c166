//! Quantized tensors of a bundle as the fixed-point kernels read them.

use super::linear::{Bias, Weights};
use crate::bundle::{Bundle, TensorData};
use crate::model::TensorKey;
use crate::{Error, Result};

/// The matrix `key` (Q16 or Q8).
pub fn matrix<'b>(bundle: &Bundle<'b>, key: TensorKey) -> Result<Weights<'b>> {
    match bundle.tensor(key)? {
        TensorData::Q16 { values, frac } => Ok(Weights::Q16 { values, frac: frac as u32 }),
        TensorData::Q8(q) => Ok(Weights::Q8 { values: q.values, scales: q.scales }),
        other => Err(Error::UnsupportedDtype { code: other.dtype() as u8 }),
    }
}

/// The vector `key` (Q16: biases, gains, embeddings).
pub fn vector<'b>(bundle: &Bundle<'b>, key: TensorKey) -> Result<Bias<'b>> {
    match bundle.tensor(key)? {
        TensorData::Q16 { values, frac } => Ok(Bias { values, frac: frac as u32 }),
        other => Err(Error::UnsupportedDtype { code: other.dtype() as u8 }),
    }
}

/// Bytes one expert of a stacked tensor occupies (values and, for int8, its scales).
pub fn expert_bytes(w: &Weights<'_>, experts: usize) -> u64 {
    let e = experts.max(1);
    match w {
        Weights::Q16 { values, .. } => (values.len() / e * 2) as u64,
        Weights::Q8 { values, scales } => {
            (values.len() / e + if scales.len() > 1 { scales.len() / e * 4 } else { 0 }) as u64
        }
    }
}
