//! The constants derived from a model's hyperparameters (`docs/fixed-point.md`, "Constants derived from the
//! hyperparameters"), computed once in f64 with ties-to-even rounding. The fixed-point engine uses them and
//! the accelerator's model descriptor carries them ([`crate::accel::desc`]), so both sides see the same words.

use super::profile::{BadProfile, Profile};
use crate::model::Hyper;
use crate::{Error, Result};

/// The numerics version of `docs/fixed-point.md`; any change to a formula there bumps it. The model
/// descriptor carries it and the IP refuses another.
pub const NUMERICS_VERSION: u16 = 1;

/// `INVSTD_c` must be below this (`std_c > 2^-8`).
pub const INVSTD_LIMIT: i64 = 1 << 24;

/// The derived constants of one model in one profile, as the 64-bit values the kernels compute with; each
/// fits the 32-bit descriptor word that carries it (`mean` as an i32, the others as u32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consts {
    /// `MEAN_c = round_half_even(mean_c · 2^Fa)` per input channel, an i32.
    pub mean: [i64; 3],
    /// `INVSTD_c = round_half_even(2^16 / std_c)` per input channel, below [`INVSTD_LIMIT`].
    pub inv_std: [i64; 3],
    /// `EPS = max(1, round_half_even(ln_eps · 2^32))`: the LayerNorm epsilon at F = 32, below 2^32.
    pub eps: i64,
    /// `ATT_SCALE = round_half_even(2^16 / sqrt(head_dim))`, at most 2^16.
    pub att_scale: i64,
}

impl From<BadProfile> for Error {
    fn from(e: BadProfile) -> Self {
        Error::BadProfile { what: e.0 }
    }
}

impl Consts {
    /// The constants of a model with hyperparameters `hyper` computed in `profile`.
    ///
    /// Errors: [`Error::BadHyper`] when `hyper` fails [`Hyper::check`], [`Error::BadProfile`] when `profile`
    /// fails [`Profile::check`], [`Error::Unrepresentable`] when a std is ≤ 2^-8 (`INVSTD_c ≥ 2^24`), a
    /// mean does not fit 32 bits at F = Fa, or `ln_eps · 2^32` does not fit a 32-bit word (`ln_eps ≥ 1`).
    pub fn new(hyper: &Hyper, profile: &Profile) -> Result<Self> {
        hyper.check().map_err(|field| Error::BadHyper { field })?;
        profile.check()?;
        let fa = libm::exp2(f64::from(profile.fa()));
        let mut mean = [0i64; 3];
        for (m, &v) in mean.iter_mut().zip(&hyper.norm_mean) {
            let r = libm::rint(f64::from(v) * fa);
            if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&r) {
                return Err(Error::Unrepresentable { what: "norm_mean: mean · 2^Fa must fit 32 bits" });
            }
            *m = r as i64;
        }
        let mut inv_std = [0i64; 3];
        for (s, &v) in inv_std.iter_mut().zip(&hyper.norm_std) {
            // `check` made the std finite and positive, so the quotient is finite and non-negative.
            let r = libm::rint(65536.0 / f64::from(v));
            if r >= INVSTD_LIMIT as f64 {
                return Err(Error::Unrepresentable { what: "norm_std: a std must be above 2^-8 (INVSTD < 2^24)" });
            }
            *s = r as i64;
        }
        let e = libm::rint(f64::from(hyper.ln_eps) * libm::exp2(32.0));
        if e > f64::from(u32::MAX) {
            return Err(Error::Unrepresentable { what: "ln_eps: ln_eps · 2^32 must fit 32 bits (ln_eps < 1)" });
        }
        let eps = (e as i64).max(1);
        // `check` made `heads` divide `dim`, both non-zero: head_dim ≥ 1, so the scale is at most 2^16.
        let att_scale = libm::rint(65536.0 / libm::sqrt(f64::from(hyper.head_dim()))) as i64;
        Ok(Self { mean, inv_std, eps, att_scale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HeadKind;

    fn hyper() -> Hyper {
        Hyper {
            image_h: 32,
            image_w: 48,
            in_chans: 3,
            patch: 16,
            dim: 8,
            depth: 2,
            heads: 2,
            mlp_hidden: 16,
            experts: 4,
            top_k: 2,
            expert_hidden: 12,
            moe_blocks: 0b10,
            head_kind: HeadKind::Pup,
            head_width: 4,
            ln_eps: 1e-6,
            norm_mean: [0.485, 0.456, 0.406],
            norm_std: [0.229, 0.224, 0.225],
            tasks: 3,
        }
    }

    /// The ImageNet normalisation at Fa = 22, worked out with Python's exact `fractions.Fraction` of each
    /// f32 (`round` there is ties-to-even too).
    #[test]
    fn constants_by_hand() {
        let c = Consts::new(&hyper(), &Profile::EDGE_MOE).unwrap();
        // f32 0.485 = 0.4850000143051147..., · 2^22 = 2034237.5 exactly: a tie, to even 2034238.
        // f32 0.456 = 0.4560000002384185..., · 2^22 = 1912602.62...: 1912603.
        // f32 0.406 = 0.4059999883174896..., · 2^22 = 1702887.37...: 1702887.
        assert_eq!(c.mean, [2_034_238, 1_912_603, 1_702_887]);
        // 2^16 / f32 0.229 (0.2290000021457672) = 286183.40...: 286183;
        // 2^16 / f32 0.224 (0.2240000069141388) = 292571.42...: 292571;
        // 2^16 / f32 0.225 (0.2249999940395355) = 291271.12...: 291271.
        assert_eq!(c.inv_std, [286_183, 292_571, 291_271]);
        // f32 1e-6 = 9.99999997475e-7, · 2^32 = 4294.967285...: 4295.
        assert_eq!(c.eps, 4295);
        // head_dim 4: 2^16 / 2 = 32768 exactly.
        assert_eq!(c.att_scale, 32_768);
    }

    /// models/configs/micro.toml: ImageNet normalisation, D = 64 over 2 heads (hd = 32).
    #[test]
    fn micro_constants_by_hand() {
        let h = Hyper { image_w: 64, dim: 64, depth: 4, moe_blocks: 0b1010, tasks: 2, ..hyper() };
        let c = Consts::new(&h, &Profile::EDGE_MOE).unwrap();
        // f32 1e-6 · 2^32 = 4294.967 → 4295; 2^16 / sqrt(32) = 11585.24 → 11585.
        assert_eq!((c.eps, c.att_scale), (4295, 11585));
        assert_eq!(c.mean[..2], [2_034_238, 1_912_603]);
        let tiny = Hyper { norm_std: [1.0 / 256.0, 1.0, 1.0], ..h };
        assert!(Consts::new(&tiny, &Profile::EDGE_MOE).is_err());
    }

    #[test]
    fn out_of_range_values_are_typed_errors() {
        let tiny_std = Hyper { norm_std: [1.0, 0.00390625, 1.0], ..hyper() }; // 2^-8 exactly
        assert!(matches!(Consts::new(&tiny_std, &Profile::EDGE_MOE), Err(Error::Unrepresentable { .. })));
        // The next f32 above 2^-8, 2^-8 · (1 + 2^-23): 2^16 / it = 2^24 / (1 + 2^-23) = 16777214.0000002.
        let just_above = Hyper { norm_std: [1.0, f32::from_bits(0x3B80_0001), 1.0], ..hyper() };
        assert_eq!(Consts::new(&just_above, &Profile::EDGE_MOE).unwrap().inv_std[1], 16_777_214);
        let big_mean = Hyper { norm_mean: [512.0, 0.0, 0.0], ..hyper() }; // 2^9 · 2^22 = 2^31
        assert!(matches!(Consts::new(&big_mean, &Profile::EDGE_MOE), Err(Error::Unrepresentable { .. })));
        let big_eps = Hyper { ln_eps: 1.0, ..hyper() };
        assert!(matches!(Consts::new(&big_eps, &Profile::EDGE_MOE), Err(Error::Unrepresentable { .. })));
        let small_eps = Hyper { ln_eps: 1e-12, ..hyper() }; // rounds to 0, kept at 1
        assert_eq!(Consts::new(&small_eps, &Profile::EDGE_MOE).unwrap().eps, 1);
        let no_heads = Hyper { heads: 0, ..hyper() };
        assert_eq!(Consts::new(&no_heads, &Profile::EDGE_MOE), Err(Error::BadHyper { field: "heads" }));
        let bad = Profile { act: super::super::Format::signed(40, 10), ..Profile::EDGE_MOE };
        assert!(matches!(Consts::new(&hyper(), &bad), Err(Error::BadProfile { .. })));
    }
}
