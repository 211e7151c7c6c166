//! A design point of the accelerator, read from TOML (`boards/sim/designs/*.toml`): the clock, the linear
//! unit's tile, the attention unit, the AXI and DDR figures, the on-chip weight buffers, the precision and
//! the pipeline depths. Every cycle, energy and resource figure of the simulator is derived from one.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The FPGA a design point is built for (its resource budget is in [`crate::resources`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// Zynq UltraScale+ XCZU7EV (the ZCU104's part).
    Xczu7ev,
    /// Zynq UltraScale+ XCZU9EG (the ZCU102's part).
    Xczu9eg,
}

/// How weights are stored and multiplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 16-bit weights, 32-bit activations (Edge-MoE's W16A32).
    W16a32,
    /// int8 weights with scales, 32-bit activations.
    Int8,
}

impl Precision {
    /// Bytes of one weight.
    pub fn weight_bytes(self) -> u64 {
        match self {
            Precision::W16a32 => 2,
            Precision::Int8 => 1,
        }
    }
}

/// What the linear unit's `tile_rows` dimension spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TileRows {
    /// `tile_rows` tokens meet `tile_cols` output columns, one input element per cycle (the M3RT IP).
    Tokens,
    /// One token per cycle meets `tile_rows` inputs × `tile_cols` outputs (Edge-MoE's unit).
    Inputs,
}

/// The shared linear unit.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearUnit {
    /// Rows of the MAC array (tokens or inputs, see `rows_are`).
    pub tile_rows: u32,
    /// Output columns of the MAC array.
    pub tile_cols: u32,
    /// What the rows are.
    pub rows_are: TileRows,
    /// Weights one buffer holds.
    pub weight_buffer_words: u32,
    /// Weight buffers (2: ping-pong).
    pub weight_buffers: u32,
    /// Whether the next panel's weights load while the current one computes.
    pub double_buffered: bool,
    /// Whether the activation reads stream under the MACs (false: each row tile's read precedes its MACs).
    pub activations_overlapped: bool,
    /// Longest input row K the unit accepts (sizes the activation tile).
    pub max_k: u32,
    /// Pipeline depth of the MAC loop, paid once per panel.
    pub pipeline_depth: u32,
}

/// The attention unit (two passes, online softmax).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionUnit {
    /// Queries computed together (one score row each).
    pub queries: u32,
    /// Head-dimension elements per query per cycle; `queries × lanes` MAC/cycle.
    pub lanes: u32,
    /// Whether the scores stay on chip (false: written to DDR in pass 1, read back in pass 2).
    pub scores_on_chip: bool,
    /// Most tokens the score buffer holds.
    pub max_tokens: u32,
    /// Pipeline depth, paid once per pass.
    pub pipeline_depth: u32,
}

/// AXI masters and DDR.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Width of each AXI master in bits.
    pub axi_bits: u32,
    /// Achievable bandwidth of one master's path to DDR, GB/s (the PS port it lands on).
    pub port_gbps: f64,
    /// Achievable bandwidth of the DDR controller, all ports together, GB/s.
    pub ddr_gbps: f64,
    /// Masters that carry activations (weights have one master of their own).
    pub activation_ports: u32,
}

/// Everything else: LayerNorm, residual adds, router, resizes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Misc {
    /// Tokens the router handles per pass over the E logits.
    pub router_tokens: u32,
    /// Whether the MoE score-weighted scatter-add is fused into fc2's output stream.
    pub scatter_fused: bool,
    /// Pipeline depth of an element-wise kernel, paid once per call.
    pub pipeline_depth: u32,
}

/// Power that does not depend on the work done.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Power {
    /// Static and baseline power of the platform while the accelerator runs, W (see the README).
    pub static_w: f64,
}

/// One design point.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Design {
    /// Name used in reports.
    pub name: String,
    /// The FPGA.
    pub device: Device,
    /// Clock of the accelerator, MHz.
    pub clock_mhz: f64,
    /// Weight precision.
    pub precision: Precision,
    /// The linear unit.
    pub linear: LinearUnit,
    /// The attention unit.
    pub attention: AttentionUnit,
    /// AXI and DDR.
    pub memory: Memory,
    /// The other kernels.
    pub misc: Misc,
    /// Baseline power.
    pub power: Power,
}

/// Why a design point was refused.
#[derive(Debug)]
pub enum DesignError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The TOML is malformed or has missing, unknown or mistyped fields.
    Toml(String),
    /// A field has a value no design can have.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl fmt::Display for DesignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesignError::Io(e) => write!(f, "design file: {e}"),
            DesignError::Toml(e) => write!(f, "design TOML: {e}"),
            DesignError::Invalid { field, why } => write!(f, "design field `{field}`: {why}"),
        }
    }
}

impl std::error::Error for DesignError {}

/// Edge-MoE's published design (`designs/edge-moe-zcu102.toml`).
pub const EDGE_MOE_ZCU102: &str = include_str!("../designs/edge-moe-zcu102.toml");
/// The M3RT IP on the ZCU104 (`designs/zcu104.toml`).
pub const ZCU104: &str = include_str!("../designs/zcu104.toml");

impl Design {
    /// Parses and checks a design point.
    pub fn from_toml(text: &str) -> Result<Self, DesignError> {
        let d: Design = toml::from_str(text).map_err(|e| DesignError::Toml(e.to_string()))?;
        d.check()?;
        Ok(d)
    }

    /// Reads a design file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DesignError> {
        Self::from_toml(&std::fs::read_to_string(path).map_err(DesignError::Io)?)
    }

    /// Edge-MoE on the ZCU102.
    pub fn edge_moe_zcu102() -> Self {
        Self::from_toml(EDGE_MOE_ZCU102).expect("the committed design parses")
    }

    /// The M3RT IP on the ZCU104.
    pub fn zcu104() -> Self {
        Self::from_toml(ZCU104).expect("the committed design parses")
    }

    fn check(&self) -> Result<(), DesignError> {
        let bad = |field, why| Err(DesignError::Invalid { field, why });
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.clock_mhz) {
            return bad("clock_mhz", "must be a positive number");
        }
        let l = &self.linear;
        if l.tile_rows == 0 || l.tile_cols == 0 {
            return bad("linear.tile_rows/tile_cols", "must be at least 1");
        }
        if l.weight_buffers == 0 || (l.double_buffered && l.weight_buffers < 2) {
            return bad("linear.weight_buffers", "double buffering needs two buffers");
        }
        if (l.weight_buffer_words as u64) < l.tile_cols as u64 * l.max_k.max(1) as u64 {
            return bad("linear.weight_buffer_words", "must hold tile_cols columns of max_k weights");
        }
        let a = &self.attention;
        if a.queries == 0 || a.lanes == 0 || a.max_tokens == 0 {
            return bad("attention", "queries, lanes and max_tokens must be at least 1");
        }
        let m = &self.memory;
        if m.axi_bits == 0 || !m.axi_bits.is_multiple_of(8) {
            return bad("memory.axi_bits", "must be a positive multiple of 8");
        }
        if !positive(m.port_gbps) || !positive(m.ddr_gbps) || m.activation_ports == 0 {
            return bad("memory", "bandwidths and activation_ports must be positive");
        }
        if self.misc.router_tokens == 0 {
            return bad("misc.router_tokens", "must be at least 1");
        }
        if !(self.power.static_w.is_finite() && self.power.static_w >= 0.0) {
            return bad("power.static_w", "must be a non-negative number");
        }
        Ok(())
    }

    /// Bytes one master moves per cycle: its AXI width, limited by its port's bandwidth at the clock.
    pub fn port_bytes_per_cycle(&self) -> f64 {
        let axi = f64::from(self.memory.axi_bits) / 8.0;
        axi.min(self.memory.port_gbps * 1e3 / self.clock_mhz)
    }

    /// Bytes the DDR controller moves per accelerator cycle, all ports together.
    pub fn ddr_bytes_per_cycle(&self) -> f64 {
        self.memory.ddr_gbps * 1e3 / self.clock_mhz
    }

    /// Seconds of `cycles` at the clock.
    pub fn seconds(&self, cycles: u64) -> f64 {
        cycles as f64 / (self.clock_mhz * 1e6)
    }

    /// MACs per cycle of the linear unit.
    pub fn linear_macs_per_cycle(&self) -> u32 {
        self.linear.tile_rows * self.linear.tile_cols
    }
}
