//! [`quantize`] (feature `alloc`): an f32 or f16 bundle re-encoded with a fixed-point profile, as
//! `docs/fixed-point.md` ("Quantization") says, in f64, with a report of what every tensor lost.

use alloc::vec::Vec;

use super::quantized::{check_profile, quantized_dtype};
use super::{Bundle, BundleWriter, Dtype, TensorData};
use crate::fixed::quant::{self, Channels, Int8Scale};
use crate::fixed::{Profile, ValueClass, WeightMode};
use crate::model::{Shape, TensorKey, TensorKind};
use crate::{Error, Result};

/// What quantizing one tensor cost. Errors compare each dequantized value (`q · 2^-F`, or `q · m · 2^-s`)
/// with the original value, in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorQuant {
    /// Canonical index.
    pub index: u32,
    /// The tensor.
    pub key: TensorKey,
    /// How it is stored now ([`Dtype::Q16`] or [`Dtype::Q8`]).
    pub dtype: Dtype,
    /// Number of elements.
    pub elements: usize,
    /// Values clamped into the format's (or int8's) range.
    pub saturated: usize,
    /// Largest `|dequantized - original|`.
    pub max_abs_error: f64,
    /// Root mean square of `dequantized - original`.
    pub rms_error: f64,
    /// Root mean square of the original values.
    pub rms_value: f64,
}

impl TensorQuant {
    /// `rms_error / rms_value` (0 for an all-zero tensor, which quantizes exactly).
    pub fn relative_rms_error(&self) -> f64 {
        if self.rms_value > 0.0 {
            self.rms_error / self.rms_value
        } else {
            0.0
        }
    }
}

/// What [`quantize`] did to every tensor, in canonical order.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    /// The profile the bundle was quantized with.
    pub profile: Profile,
    /// One entry per tensor, in canonical order.
    pub tensors: Vec<TensorQuant>,
}

impl QuantReport {
    /// Saturated values over all tensors.
    pub fn saturated(&self) -> usize {
        self.tensors.iter().map(|t| t.saturated).sum()
    }

    /// The tensors with at least one saturated value.
    pub fn saturated_tensors(&self) -> impl Iterator<Item = &TensorQuant> {
        self.tensors.iter().filter(|t| t.saturated > 0)
    }

    /// The tensor with the largest [`TensorQuant::relative_rms_error`] (the first of equals).
    pub fn worst_relative_rms(&self) -> Option<&TensorQuant> {
        self.tensors.iter().fold(None, |worst: Option<&TensorQuant>, t| match worst {
            Some(w) if w.relative_rms_error() >= t.relative_rms_error() => Some(w),
            _ => Some(t),
        })
    }
}

/// Error sums of one tensor.
#[derive(Default)]
struct Stats {
    saturated: usize,
    max_abs: f64,
    sum_sq_err: f64,
    sum_sq_val: f64,
}

impl Stats {
    fn add(&mut self, original: f64, dequantized: f64, saturated: bool) {
        let e = dequantized - original;
        self.saturated += usize::from(saturated);
        self.max_abs = self.max_abs.max(e.abs());
        self.sum_sq_err += e * e;
        self.sum_sq_val += original * original;
    }

    fn report(&self, index: u32, key: TensorKey, dtype: Dtype, n: usize) -> TensorQuant {
        let rms = |s: f64| if n == 0 { 0.0 } else { libm::sqrt(s / n as f64) };
        TensorQuant {
            index,
            key,
            dtype,
            elements: n,
            saturated: self.saturated,
            max_abs_error: self.max_abs,
            rms_error: rms(self.sum_sq_err),
            rms_value: rms(self.sum_sq_val),
        }
    }
}

/// Re-encodes an f32 or f16 `bundle` with `profile`: every matrix int8 when the profile's weights are,
/// everything else 16-bit fixed point in the profile's format for its class. A 16-bit value `v` becomes
/// `clamp(round_half_even(v · 2^F))`; an int8 matrix gets per channel (or per tensor) the scale
/// [`Int8Scale::for_absmax`] of its largest magnitude and values [`Int8Scale::quantize`]. The tasks and
/// hyperparameters are kept; `scratch_floats` becomes what the f32 engine needs to run the result (it
/// widens every tensor). Returns the bundle's bytes and what each tensor lost.
///
/// Errors: [`Error::BadProfile`] for a profile that fails `Profile::check`, `Inconsistent` for a bundle
/// that is already quantized or holds a value that is not finite, and the writer's errors.
pub fn quantize(bundle: &Bundle<'_>, profile: Profile) -> Result<(Vec<u8>, QuantReport)> {
    check_profile(&profile)?;
    if bundle.profile().is_some() {
        return Err(Error::Inconsistent { what: "the bundle is already quantized (quantize reads f32 or f16)" });
    }
    let h = *bundle.hyper();
    let scratch = crate::engine::scratch_floats(&h, bundle.max_out_channels(), true);
    let mut w = BundleWriter::new(h, scratch)?;
    w.set_profile(profile)?;
    for t in bundle.tasks() {
        w.add_task(t.name, t.out_channels, t.post)?;
    }
    let mut tensors = Vec::new();
    let mut values = Vec::new();
    for i in 0..bundle.tensor_count() {
        let (key, data) = bundle.tensor_at(i)?;
        let shape = bundle.record(i)?.shape().ok_or(Error::TensorShape { index: i })?;
        values.clear();
        match data {
            TensorData::F32(s) => values.extend(s.iter().map(|&v| f64::from(v))),
            TensorData::F16(s) => values.extend(s.iter().map(|v| v.to_f64())),
            TensorData::Q16 { .. } | TensorData::Q8(_) => {
                return Err(Error::WrongDtype { index: i, code: data.dtype() as u8 })
            }
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Inconsistent { what: "weight not finite" });
        }
        let mut stats = Stats::default();
        let dtype = quantized_dtype(&profile, key.kind);
        if dtype == Dtype::Q8 {
            let (q, scales) = int8(&values, key.kind, shape, profile.weights, &mut stats);
            w.add_q8(key, shape.as_slice(), &q, &scales)?;
        } else {
            let q = fixed16(&values, profile.format(ValueClass::of(key.kind)), &mut stats)?;
            w.add_q16(key, shape.as_slice(), &q)?;
        }
        tensors.push(stats.report(i, key, dtype, values.len()));
    }
    Ok((w.finish()?, QuantReport { profile, tensors }))
}

/// 16-bit values of `format` (at most 16 bits wide, as the profile check ensures).
fn fixed16(values: &[f64], format: crate::fixed::Format, stats: &mut Stats) -> Result<Vec<i16>> {
    let unit = libm::exp2(-f64::from(format.frac()));
    values
        .iter()
        .map(|&v| {
            let (raw, saturated) = quant::quantize(v, format);
            stats.add(v, raw as f64 * unit, saturated);
            i16::try_from(raw).map_err(|_| Error::BadProfile { what: "a 16-bit format wider than 16 bits" })
        })
        .collect()
}

/// int8 values and their scales: one per output channel in `Int8PerChannel` mode, else one.
fn int8(
    values: &[f64],
    kind: TensorKind,
    shape: Shape,
    mode: WeightMode,
    stats: &mut Stats,
) -> (Vec<i8>, Vec<Int8Scale>) {
    let channels = Channels::of(kind, shape);
    let per_channel = mode == WeightMode::Int8PerChannel;
    let index = |j: usize| if per_channel { channels.of_index(j) } else { 0 };
    let mut absmax = alloc::vec![0f64; if per_channel { channels.count } else { 1 }];
    for (j, v) in values.iter().enumerate() {
        if let Some(a) = absmax.get_mut(index(j)) {
            *a = a.max(v.abs());
        }
    }
    let scales: Vec<Int8Scale> = absmax.iter().map(|&a| Int8Scale::for_absmax(a)).collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            let s = scales.get(index(j)).copied().unwrap_or(Int8Scale { mantissa: 0, shift: 0 });
            let (q, saturated) = s.quantize(v);
            stats.add(v, f64::from(q) * s.value(), saturated);
            q
        })
        .collect();
    (q, scales)
}
