//! Quantization profiles: which fixed-point format every kind of tensor and value uses. A profile is a
//! bundle choice (`m3rt convert --precision fixed16|int8`); the IP is compiled for one.

use super::ap::Format;
use crate::model::TensorKind;

/// How weight matrices are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WeightMode {
    /// 16-bit fixed point in the profile's weight formats.
    Fixed16 = 0,
    /// int8 values with one scale per tensor.
    Int8PerTensor = 1,
    /// int8 values with one scale per output channel.
    Int8PerChannel = 2,
}

impl WeightMode {
    /// Decodes the stored byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Fixed16),
            1 => Some(Self::Int8PerTensor),
            2 => Some(Self::Int8PerChannel),
            _ => None,
        }
    }

    /// Whether matrices are int8.
    pub const fn is_int8(self) -> bool {
        !matches!(self, Self::Fixed16)
    }
}

/// The formats of a fixed-point model (see `docs/fixed-point.md`, "Profiles").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    /// How matrices are stored.
    pub weights: WeightMode,
    /// Activations: every feature value (stored as i32).
    pub act: Format,
    /// Weight matrices but the patch embedding's (16-bit mode).
    pub weight: Format,
    /// Patch-embedding weights (16-bit mode).
    pub patch_weight: Format,
    /// Biases but attention's, LayerNorm gains and shifts, cls token, position embedding.
    pub bias: Format,
    /// Attention biases (qkv, proj).
    pub attn_bias: Format,
    /// Input pixels (unsigned).
    pub pixel: Format,
}

/// What a tensor's values are, for choosing their format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueClass {
    /// A weight matrix of the linear unit (qkv, proj, fc, experts, gates, head convolutions).
    Weight,
    /// The patch embedding's weights.
    PatchWeight,
    /// A bias, gain or embedding vector.
    Bias,
    /// An attention bias.
    AttnBias,
}

impl ValueClass {
    /// The class of tensor kind `kind`.
    pub const fn of(kind: TensorKind) -> Self {
        use TensorKind::*;
        match kind {
            PatchW => Self::PatchWeight,
            QkvW | ProjW | Fc1W | Fc2W | ExpW1 | ExpW2 | Gate | HeadConvW => Self::Weight,
            QkvB | ProjB => Self::AttnBias,
            PatchB | ClsToken | PosEmbed | Ln1G | Ln1B | Ln2G | Ln2B | Fc1B | Fc2B | ExpB1 | ExpB2 | HeadLnG
            | HeadLnB | HeadConvB => Self::Bias,
        }
    }

    /// Whether tensors of this class are matrices (int8 in an int8 profile).
    pub const fn is_matrix(self) -> bool {
        matches!(self, Self::Weight | Self::PatchWeight)
    }
}

/// Why a profile cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadProfile(pub &'static str);

impl Profile {
    /// Edge-MoE's W16A32 formats: activations `Q(32,10)`, weights `Q(16,2)`, patch weights `Q(16,0)`, biases
    /// `Q(16,5)`, attention biases `Q(16,7)`, pixels `UQ(8,0)`.
    pub const EDGE_MOE: Profile = Profile {
        weights: WeightMode::Fixed16,
        act: Format::signed(32, 10),
        weight: Format::signed(16, 2),
        patch_weight: Format::signed(16, 0),
        bias: Format::signed(16, 5),
        attn_bias: Format::signed(16, 7),
        pixel: Format::unsigned(8, 0),
    };

    /// The int8-weight profile: Edge-MoE's activation, bias and pixel formats, matrices as int8 with one
    /// scale per output channel.
    pub const INT8: Profile = Profile { weights: WeightMode::Int8PerChannel, ..Profile::EDGE_MOE };

    /// The format of tensors of class `class` (for int8 matrices: the 16-bit format they replace, unused).
    pub const fn format(&self, class: ValueClass) -> Format {
        match class {
            ValueClass::Weight => self.weight,
            ValueClass::PatchWeight => self.patch_weight,
            ValueClass::Bias => self.bias,
            ValueClass::AttnBias => self.attn_bias,
        }
    }

    /// Activation fraction bits `Fa`.
    pub const fn fa(&self) -> u32 {
        self.act.frac() as u32
    }

    /// Checks the rules of `docs/fixed-point.md`; returns the first broken one.
    pub fn check(&self) -> Result<(), BadProfile> {
        let a = self.act;
        if !a.signed || a.width > 32 || a.frac() < 16 || a.frac() > 26 {
            return Err(BadProfile("activations must be signed, at most 32 bits, with 16..=26 fraction bits"));
        }
        for (f, what) in [
            (self.weight, "weight format must be signed, at most 16 bits, with fraction bits >= 0"),
            (self.patch_weight, "patch weight format must be signed, at most 16 bits, with fraction bits >= 0"),
            (self.bias, "bias format must be signed, at most 16 bits, with 0..=Fa fraction bits"),
            (self.attn_bias, "attention bias format must be signed, at most 16 bits, with 0..=Fa fraction bits"),
        ] {
            if !f.signed || f.width == 0 || f.width > 16 || f.frac() < 0 || f.frac() > 31 {
                return Err(BadProfile(what));
            }
        }
        if self.bias.frac() > a.frac() || self.attn_bias.frac() > a.frac() {
            return Err(BadProfile("bias formats need at most the activations' fraction bits"));
        }
        let p = self.pixel;
        if p.signed || p.width == 0 || p.width > 8 || p.frac() < 0 || p.frac() > a.frac() {
            return Err(BadProfile("pixel format must be unsigned, at most 8 bits, with 0..=Fa fraction bits"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_pass_their_rules() {
        assert_eq!(Profile::EDGE_MOE.check(), Ok(()));
        assert_eq!(Profile::INT8.check(), Ok(()));
        assert_eq!(Profile::EDGE_MOE.fa(), 22);
        let wide = Profile { act: Format::signed(40, 10), ..Profile::EDGE_MOE };
        assert!(wide.check().is_err());
        let coarse = Profile { bias: Format::signed(16, -10), ..Profile::EDGE_MOE };
        assert!(coarse.check().is_err());
        assert_eq!(ValueClass::of(TensorKind::QkvB), ValueClass::AttnBias);
        assert_eq!(Profile::EDGE_MOE.format(ValueClass::of(TensorKind::PatchW)), Format::signed(16, 0));
    }
}
