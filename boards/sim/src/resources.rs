//! Resource ESTIMATES (DSP48E2, BRAM36, URAM288, LUT) of a design point, counted from its arrays and
//! operators with the per-unit costs below — not a synthesis report — and checked against the device.
//! A point that does not fit is refused with the resource that overflows.

use std::fmt;

use crate::design::{Design, Device, Precision, TileRows};

/// A resource kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// DSP48E2 slices.
    Dsp,
    /// 36 Kb block RAMs.
    Bram36,
    /// 288 Kb UltraRAMs.
    Uram,
    /// Look-up tables.
    Lut,
}

/// Counts of each resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// DSP48E2 slices.
    pub dsp: u32,
    /// BRAM36 blocks.
    pub bram36: u32,
    /// URAM288 blocks.
    pub uram: u32,
    /// LUTs.
    pub lut: u32,
}

impl Resources {
    fn get(&self, r: Resource) -> u32 {
        match r {
            Resource::Dsp => self.dsp,
            Resource::Bram36 => self.bram36,
            Resource::Uram => self.uram,
            Resource::Lut => self.lut,
        }
    }
}

/// What a device offers (Xilinx DS891, Zynq UltraScale+ MPSoC product selection guide).
pub fn budget(device: Device) -> Resources {
    match device {
        Device::Xczu7ev => Resources { dsp: 1728, bram36: 312, uram: 96, lut: 230_400 },
        Device::Xczu9eg => Resources { dsp: 2520, bram36: 912, uram: 0, lut: 274_080 },
    }
}

/// DSP48E2 per W16A32 linear MAC: the DSP48E2 multiplier is 27×18 signed (UG579), so a 32×16 product
/// takes two slices (the 32-bit operand split in two).
pub const DSP_PER_MAC_W16A32: f64 = 2.0;
/// DSP48E2 per int8-weight MAC. The activations stay 32-bit (the int8 profile is W8A32), so the product is
/// 8×32 and the 32-bit operand is split in two exactly as for W16A32: two slices. The WP486 packing of two
/// products per slice ("Deep Learning with INT8 Optimization on Xilinx Devices") needs both operands int8
/// (products of 16 bits, 18 bits apart); with an 18-bit activation slice the products are 26 bits and
/// overlap. int8 weights save DRAM traffic and weight-buffer memory, not DSPs.
pub const DSP_PER_MAC_INT8: f64 = 2.0;
/// DSP48E2 per 32×32 attention MAC: four 27×18 partial products (assumption: no Karatsuba sharing).
pub const DSP_PER_MAC_ATTENTION: f64 = 4.0;
/// LUTs per MAC for its 64-bit accumulator in fabric (one LUT per bit on the CARRY8 chains, UG574;
/// assumption: the accumulation is not kept in the DSP's 48-bit adder).
pub const LUT_PER_MAC: u32 = 64;
/// LUTs per AXI master with its burst logic and width converter (assumption).
pub const LUT_PER_AXI_MASTER: u32 = 3_000;
/// LUTs of everything else: control, LayerNorm, GELU table, softmax exponentials, router, resize, the
/// AXI-Lite slave (assumption, the order of magnitude of such blocks in HLS designs).
pub const LUT_OTHER: u32 = 30_000;
/// BRAM36 of the small buffers: biases and scales of a panel, LayerNorm, router, scatter and resize line
/// buffers (hls/DESIGN.md's estimate).
pub const BRAM_OTHER: u32 = 10;

/// Blocks of a `depth × width` memory: BRAM36 as 512×72 (UG573) or URAM288 as 4096×72.
fn blocks(depth: u64, width_bits: u64, rows: u64) -> u32 {
    (depth.div_ceil(rows) * width_bits.div_ceil(72)) as u32
}

/// Places a memory in URAM when the device has it, else in BRAM.
fn place(r: &mut Resources, device: Device, depth: u64, width_bits: u64) {
    if budget(device).uram > 0 {
        r.uram += blocks(depth, width_bits, 4096);
    } else {
        r.bram36 += blocks(depth, width_bits, 512);
    }
}

/// The estimate for design `d`.
pub fn estimate(d: &Design) -> Resources {
    let l = &d.linear;
    let (tr, tc) = (u64::from(l.tile_rows), u64::from(l.tile_cols));
    let lin_macs = l.tile_rows * l.tile_cols;
    let att_macs = d.attention.queries * d.attention.lanes;
    let per_mac = match d.precision {
        Precision::W16a32 => DSP_PER_MAC_W16A32,
        Precision::Int8 => DSP_PER_MAC_INT8,
    };
    let mut r = Resources {
        dsp: (f64::from(lin_macs) * per_mac + f64::from(att_macs) * DSP_PER_MAC_ATTENTION).ceil() as u32,
        lut: (lin_macs + att_macs) * LUT_PER_MAC + (d.memory.activation_ports + 1) * LUT_PER_AXI_MASTER + LUT_OTHER,
        bram36: BRAM_OTHER,
        uram: 0,
    };
    // Weight buffers: one word is what the array reads per cycle.
    let wbits = d.precision.weight_bytes() * 8;
    let per_cycle = match l.rows_are {
        TileRows::Tokens => tc,
        TileRows::Inputs => tr * tc,
    };
    let depth = u64::from(l.weight_buffer_words).div_ceil(per_cycle);
    for _ in 0..l.weight_buffers {
        place(&mut r, d.device, depth, per_cycle * wbits);
    }
    // Activation tile: tokens tiling, one bank per row of max_k 32-bit values; inputs tiling, the row's
    // max_k values in words of tile_rows.
    let k = u64::from(l.max_k);
    match l.rows_are {
        TileRows::Tokens => (0..tr).for_each(|_| place(&mut r, d.device, k, 32)),
        TileRows::Inputs => r.bram36 += blocks(k.div_ceil(tr), tr * 32, 512),
    }
    // Scores kept on chip: one bank of max_tokens 32-bit values per query.
    if d.attention.scores_on_chip {
        r.bram36 += d.attention.queries * blocks(u64::from(d.attention.max_tokens), 32, 512);
    }
    r
}

/// A design point that does not fit its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoesNotFit {
    /// The first resource that overflows (DSP, BRAM36, URAM, LUT in that order).
    pub resource: Resource,
    /// What the estimate needs.
    pub needed: u32,
    /// What the device has.
    pub available: u32,
    /// The device.
    pub device: Device,
}

impl fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} needs an estimated {} {:?}, the device has {}",
            self.device, self.needed, self.resource, self.available
        )
    }
}

impl std::error::Error for DoesNotFit {}

/// The estimate of `d`, or the first resource it overflows.
pub fn check(d: &Design) -> Result<Resources, DoesNotFit> {
    let (need, have) = (estimate(d), budget(d.device));
    for resource in [Resource::Dsp, Resource::Bram36, Resource::Uram, Resource::Lut] {
        if need.get(resource) > have.get(resource) {
            let (needed, available) = (need.get(resource), have.get(resource));
            return Err(DoesNotFit { resource, needed, available, device: d.device });
        }
    }
    Ok(need)
}
