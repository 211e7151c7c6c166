//! The constants derived from the hyperparameters (`docs/fixed-point.md`, "Constants derived from the
//! hyperparameters"), computed once in f64 by the host: shared by the fixed-point engine and the IP's
//! model descriptor.

use super::Profile;
use crate::model::Hyper;
use crate::{Error, Result};

/// `MEAN_c`, `INVSTD_c`, `EPS` and `ATT_SCALE` of one model and profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consts {
    /// `round(mean_c · 2^Fa)`.
    pub mean: [i64; 3],
    /// `round(2^16 / std_c)`, below 2^24.
    pub inv_std: [i64; 3],
    /// `max(1, round(ln_eps · 2^32))`.
    pub eps: i64,
    /// `round(2^16 / sqrt(head_dim))`.
    pub att_scale: i64,
}

impl Consts {
    /// The constants of hyperparameters `h` under `profile`; refuses a std of `2^-8` or less.
    pub fn new(h: &Hyper, profile: &Profile) -> Result<Self> {
        let fa = f64::from(profile.fa());
        let mut mean = [0i64; 3];
        let mut inv_std = [0i64; 3];
        for c in 0..3 {
            mean[c] = libm::rint(f64::from(h.norm_mean[c]) * libm::exp2(fa)) as i64;
            let inv = libm::rint(65536.0 / f64::from(h.norm_std[c]));
            if inv.is_nan() || inv >= (1u64 << 24) as f64 {
                return Err(Error::Inconsistent { what: "input std too small for the fixed-point normalisation" });
            }
            inv_std[c] = inv as i64;
        }
        let eps = (libm::rint(f64::from(h.ln_eps) * 4294967296.0) as i64).max(1);
        let att_scale = libm::rint(65536.0 / libm::sqrt(f64::from(h.head_dim()))) as i64;
        Ok(Self { mean, inv_std, eps, att_scale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HeadKind;

    #[test]
    fn micro_constants_by_hand() {
        // models/configs/micro.toml: ImageNet normalisation, D = 64 over 2 heads (hd = 32).
        let h = Hyper {
            image_h: 32,
            image_w: 64,
            in_chans: 3,
            patch: 16,
            dim: 64,
            depth: 4,
            heads: 2,
            mlp_hidden: 256,
            experts: 4,
            top_k: 2,
            expert_hidden: 128,
            moe_blocks: 0b1010,
            head_kind: HeadKind::Pup,
            head_width: 16,
            ln_eps: 1e-6,
            norm_mean: [0.485, 0.456, 0.406],
            norm_std: [0.229, 0.224, 0.225],
            tasks: 2,
        };
        let c = Consts::new(&h, &Profile::EDGE_MOE).unwrap();
        // f32 0.485 = 0.48500001430511475; ·2^22 = 2034237.5 exactly, a tie: to even, 2034238.
        // f32 0.456 ·2^22 = 1912602.625 → 1912603. 65536 / f32 0.229 = 286183.40 → 286183;
        // 65536 / f32 0.224 = 292571.42 → 292571.
        assert_eq!(c.mean[..2], [2_034_238, 1_912_603]);
        assert_eq!(c.inv_std[..2], [286_183, 292_571]);
        // f32 1e-6 · 2^32 = 4294.967 → 4295; 2^16 / sqrt(32) = 11585.24 → 11585.
        assert_eq!((c.eps, c.att_scale), (4295, 11585));
        let tiny = Hyper { norm_std: [1.0 / 256.0, 1.0, 1.0], ..h };
        assert!(Consts::new(&tiny, &Profile::EDGE_MOE).is_err());
    }
}
