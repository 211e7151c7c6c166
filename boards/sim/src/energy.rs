//! Energy = Σ action counts × energy per action + static power × time (the Accelergy / Timeloop way), from
//! the versioned table [`TABLE`]. Every entry says where its number comes from; most are ASSUMPTIONS
//! derived from 45 nm ASIC figures, not measurements of an UltraScale+ part. All results are simulated.

use crate::cycles::Cost;
use crate::design::{Design, Device, Precision};

/// One entry of the energy table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// Energy per action, picojoules.
    pub pj: f64,
    /// Where the number comes from (and whether it is an assumption).
    pub source: &'static str,
}

/// Energy per action on a Zynq UltraScale+ (16 nm) fabric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnergyTable {
    /// Table version: bump it whenever a number changes.
    pub version: u32,
    /// One 16×32-bit multiply with a 64-bit accumulate on DSP48E2 slices (W16A32 linear unit).
    pub mac_w16a32: Entry,
    /// One 8×32-bit multiply with a 64-bit accumulate (int8 linear unit).
    pub mac_int8: Entry,
    /// One 32×32-bit multiply-accumulate (attention).
    pub mac_attention: Entry,
    /// One 72-bit word read of a BRAM36.
    pub bram_word: Entry,
    /// One 72-bit word read of a URAM288.
    pub uram_word: Entry,
    /// One byte moved between DDR4 and the PS's DDR controller (DRAM core and I/O).
    pub ddr_byte: Entry,
    /// One beat of an AXI master through the interconnect and a PS port.
    pub axi_beat: Entry,
}

/// The table (version 1).
pub const TABLE: EnergyTable = EnergyTable {
    version: 1,
    mac_w16a32: Entry {
        pj: 4.1,
        source: "ASSUMPTION: Horowitz, ISSCC 2014 'Computing's energy problem' (45 nm): 32-bit int multiply \
                 3.1 pJ, 32-bit add 0.1 pJ; a 16x32 multiply taken as half a 32x32 (1.55) plus a 64-bit add \
                 (0.2) = 1.75 pJ; x7 for the FPGA/ASIC dynamic-power gap with hard blocks (Kuon & Rose, IEEE \
                 TCAD 2007, 'Measuring the gap between FPGAs and ASICs'); /3 for 45 -> 16 nm (assumed)",
    },
    mac_int8: Entry {
        pj: 2.3,
        source: "ASSUMPTION: as mac_w16a32 with an 8x32 multiply taken as a quarter of a 32x32 (0.78) plus a \
                 64-bit add (0.2) = ~1.0 pJ at 45 nm; x7 / 3",
    },
    mac_attention: Entry {
        pj: 7.7,
        source: "ASSUMPTION: Horowitz 2014: 32-bit multiply 3.1 pJ plus a 64-bit add 0.2 pJ = 3.3 pJ at 45 nm; \
                 x7 / 3",
    },
    bram_word: Entry {
        pj: 7.0,
        source: "ASSUMPTION: Horowitz 2014: 64-bit read of an 8 KB SRAM 10 pJ at 45 nm (a BRAM36 is 4.5 KB); \
                 /3 for 16 nm, x2 for the FPGA's routing to a hard block (assumed)",
    },
    uram_word: Entry {
        pj: 13.0,
        source: "ASSUMPTION: Horowitz 2014: 64-bit read of a 32 KB SRAM 20 pJ at 45 nm (a URAM288 is 36 KB); \
                 /3, x2 as bram_word",
    },
    ddr_byte: Entry {
        pj: 120.0,
        source: "ASSUMPTION: Horowitz 2014 gives 1.3-2.6 nJ per 64-bit DRAM access (20-40 pJ/bit, DDR3 era); \
                 15 pJ/bit assumed for DDR4 with its PHY = 120 pJ/byte",
    },
    axi_beat: Entry {
        pj: 30.0,
        source: "ASSUMPTION: ~0.1 pJ/bit for a 256-bit beat over millimetres of fabric and the PS port; not \
                 sourced, small next to ddr_byte",
    },
};

/// Energy of a cost, split as the model computes it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Energy {
    /// Σ actions × energy per action, joules.
    pub dynamic_j: f64,
    /// Static power × time, joules.
    pub static_j: f64,
}

impl Energy {
    /// Dynamic plus static.
    pub fn total_j(&self) -> f64 {
        self.dynamic_j + self.static_j
    }
}

/// The energy of `cost` on design `d` with `table`.
pub fn energy(d: &Design, cost: &Cost, table: &EnergyTable) -> Energy {
    let mac = match d.precision {
        Precision::W16a32 => table.mac_w16a32.pj,
        Precision::Int8 => table.mac_int8.pj,
    };
    // The weight buffers are in URAM where the device has it (resources.rs maps them so).
    let weight_word = match d.device {
        Device::Xczu7ev => table.uram_word.pj,
        Device::Xczu9eg => table.bram_word.pj,
    };
    let bytes = cost.ddr_read + cost.ddr_write;
    let beats = bytes.div_ceil(u64::from(d.memory.axi_bits / 8));
    let pj = cost.linear_macs as f64 * mac
        + cost.attention_macs as f64 * table.mac_attention.pj
        + cost.weight_buffer_reads as f64 * weight_word
        + cost.buffer_reads as f64 * table.bram_word.pj
        + bytes as f64 * table.ddr_byte.pj
        + beats as f64 * table.axi_beat.pj;
    Energy { dynamic_j: pj * 1e-12, static_j: d.power.static_w * d.seconds(cost.cycles) }
}
