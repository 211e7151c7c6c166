//! Quantized bundles (preamble flag bit 0, `docs/bundle-format.md` "Quantized bundles"): the profile as
//! it is encoded after the header, which type each tensor must have, and where an int8 tensor's scales lie.

use serde::{Deserialize, Serialize};

use super::Dtype;
use crate::fixed::quant::Channels;
use crate::fixed::{Format, Profile, ValueClass, WeightMode};
use crate::model::{Shape, TensorKind};
use crate::{Error, Result};

/// Preamble flag bit 0: the bundle is quantized, and its header ends with the profile.
pub const FLAG_QUANTIZED: u16 = 1;
/// Every flag bit format version 1 defines; a reader refuses the others.
pub const KNOWN_FLAGS: u16 = FLAG_QUANTIZED;

/// A format as encoded: postcard `u8`, `i8` (one raw two's complement byte) and `bool` (`00` or `01`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FormatWire {
    width: u8,
    int: i8,
    signed: bool,
}

/// The profile as encoded after the header's last field. Field order and types are the wire format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProfileWire {
    weights: u8,
    act: FormatWire,
    weight: FormatWire,
    patch_weight: FormatWire,
    bias: FormatWire,
    attn_bias: FormatWire,
    pixel: FormatWire,
}

impl FormatWire {
    #[cfg(feature = "alloc")]
    const fn of(f: Format) -> Self {
        Self { width: f.width, int: f.int, signed: f.signed }
    }
    const fn format(self) -> Format {
        Format { width: self.width, int: self.int, signed: self.signed }
    }
}

impl ProfileWire {
    /// The encoding of `p` (the writer's side).
    #[cfg(feature = "alloc")]
    pub fn of(p: &Profile) -> Self {
        let f = FormatWire::of;
        Self {
            weights: p.weights as u8,
            act: f(p.act),
            weight: f(p.weight),
            patch_weight: f(p.patch_weight),
            bias: f(p.bias),
            attn_bias: f(p.attn_bias),
            pixel: f(p.pixel),
        }
    }

    /// The decoded profile, checked with [`check_profile`].
    pub fn profile(&self) -> Result<Profile> {
        let weights =
            WeightMode::from_u8(self.weights).ok_or(Error::BadProfile { what: "unknown weight mode code" })?;
        let p = Profile {
            weights,
            act: self.act.format(),
            weight: self.weight.format(),
            patch_weight: self.patch_weight.format(),
            bias: self.bias.format(),
            attn_bias: self.attn_bias.format(),
            pixel: self.pixel.format(),
        };
        check_profile(&p)?;
        Ok(p)
    }
}

/// [`Profile::check`], as the reader and the writer apply it: the first broken rule is
/// [`Error::BadProfile`].
pub fn check_profile(p: &Profile) -> Result<()> {
    p.check().map_err(|bad| Error::BadProfile { what: bad.0 })
}

/// The type every tensor of kind `kind` has in a bundle quantized with `profile`: [`Dtype::Q8`] for the
/// matrices ([`ValueClass::is_matrix`]) of an int8 profile, [`Dtype::Q16`] for everything else.
pub const fn quantized_dtype(profile: &Profile, kind: TensorKind) -> Dtype {
    if profile.weights.is_int8() && ValueClass::of(kind).is_matrix() {
        Dtype::Q8
    } else {
        Dtype::Q16
    }
}

/// Whether a tensor of kind `kind` may be stored as `dtype` in a bundle with `profile`: without a profile
/// f32 or f16, with one exactly [`quantized_dtype`].
pub fn dtype_allowed(profile: Option<&Profile>, kind: TensorKind, dtype: Dtype) -> bool {
    match profile {
        None => matches!(dtype, Dtype::F32 | Dtype::F16),
        Some(p) => dtype == quantized_dtype(p, kind),
    }
}

/// The number of scale words of an int8 tensor of kind `kind` and shape `shape` stored in weight mode
/// `mode`: 1 per tensor, or `Channels::of(kind, shape).count` per channel. `None` when a dimension is 0
/// or the tensor has more elements than `usize` counts.
pub fn scale_count(mode: WeightMode, kind: TensorKind, shape: Shape) -> Option<usize> {
    // `numel` saturates at u64::MAX: that value may stand for a larger product.
    let numel = shape.numel();
    if shape.as_slice().contains(&0) || numel == u64::MAX || usize::try_from(numel).is_err() {
        return None;
    }
    // Every product `Channels::of` forms is at most `numel`, which fits.
    Some(match mode {
        WeightMode::Int8PerChannel => Channels::of(kind, shape).count,
        WeightMode::Int8PerTensor | WeightMode::Fixed16 => 1,
    })
}

/// Offset of an int8 tensor's first scale word from the tensor's start: `elements` rounded up to a
/// multiple of 4. `None` on overflow.
pub const fn q8_scales_at(elements: usize) -> Option<usize> {
    match elements.checked_add(3) {
        Some(x) => Some(x & !3),
        None => None,
    }
}

/// Byte length of a stored tensor of `elements` values of type `dtype` (`scales` scale words for
/// [`Dtype::Q8`], else ignored): `elements × size`, or for int8 `align4(elements) + 4 · scales`.
pub fn stored_len(dtype: Dtype, elements: u64, scales: u64) -> Option<u64> {
    match dtype {
        Dtype::Q8 => elements.checked_add(3).map(|x| x & !3)?.checked_add(scales.checked_mul(4)?),
        _ => elements.checked_mul(dtype.size() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_moe_profile_encodes_as_nineteen_bytes() {
        let mut buf = [0u8; 64];
        let enc = postcard::to_slice(&ProfileWire::of(&Profile::EDGE_MOE), &mut buf).unwrap().to_vec();
        // Mode 0, then (width, int, signed) six times; i8 is one raw byte, bool 00/01.
        let want = [0, 32, 10, 1, 16, 2, 1, 16, 0, 1, 16, 5, 1, 16, 7, 1, 8, 0, 0];
        assert_eq!(enc, want);
        let neg = ProfileWire::of(&Profile { bias: Format::signed(16, -3), ..Profile::EDGE_MOE });
        let enc = postcard::to_slice(&neg, &mut buf).unwrap().to_vec();
        assert_eq!(enc[10..13], [16, 0xFD, 1]);
        let back = postcard::from_bytes::<ProfileWire>(&want).unwrap();
        assert_eq!(back.profile(), Ok(Profile::EDGE_MOE));
        let mut bad_bool = want;
        bad_bool[3] = 2;
        assert!(postcard::from_bytes::<ProfileWire>(&bad_bool).is_err());
    }

    #[test]
    fn int8_lengths_pad_the_values_to_four() {
        assert_eq!(stored_len(Dtype::Q8, 2, 1), Some(8));
        assert_eq!(stored_len(Dtype::Q8, 36, 2), Some(44));
        assert_eq!(stored_len(Dtype::Q16, 3, 9), Some(6));
        assert_eq!(stored_len(Dtype::Q8, u64::MAX, 1), None);
        assert_eq!(q8_scales_at(5), Some(8));
        let s = Shape::new(&[2, 3, 4]);
        assert_eq!(scale_count(WeightMode::Int8PerChannel, TensorKind::ExpW1, s), Some(8));
        assert_eq!(scale_count(WeightMode::Int8PerTensor, TensorKind::ExpW1, s), Some(1));
        assert_eq!(scale_count(WeightMode::Int8PerChannel, TensorKind::ExpW1, Shape::new(&[0, 3, 4])), None);
    }
}
