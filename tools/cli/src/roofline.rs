//! The roofline of `m3rt profile --plot`: a design point's roofs (the linear unit's peak, the masters' DDR
//! bandwidth), each simulated layer's operational intensity and achieved rate, and the log-log axes both
//! chart formats draw them on. SIMULATED figures.

use m3rt_sim::report::{Layer, Report};

/// A layer's seconds at the report's clock.
fn layer_s(r: &Report, l: &Layer) -> f64 {
    l.cost.cycles as f64 / (r.clock_mhz * 1e6)
}

/// The roofline of a design point: the linear unit's peak and the memory bandwidth its masters can draw.
#[derive(Clone, Copy, Debug)]
pub struct Roof {
    /// Peak GMAC/s of the linear unit (tile rows × columns × clock).
    pub peak_gmacs: f64,
    /// GB/s from DDR: the weight master and the activation masters at their ports' rate, at most the DDR
    /// controller's.
    pub mem_gbps: f64,
}

impl Roof {
    /// The roofs of design point `d`.
    pub fn of(d: &m3rt_sim::Design) -> Self {
        let ports = f64::from(1 + d.memory.activation_ports) * d.memory.port_gbps;
        Self {
            peak_gmacs: f64::from(d.linear_macs_per_cycle()) * d.clock_mhz / 1e3,
            mem_gbps: ports.min(d.memory.ddr_gbps),
        }
    }

    /// The attainable GMAC/s at `intensity` MAC per DDR byte.
    pub fn attainable(&self, intensity: f64) -> f64 {
        self.peak_gmacs.min(self.mem_gbps * intensity)
    }
}

/// Each layer's operational intensity (MAC per DDR byte) and achieved GMAC/s (layers that move no byte or
/// do no MAC are left out).
pub fn roofline_points(r: &Report) -> Vec<(&Layer, f64, f64)> {
    r.layers
        .iter()
        .filter_map(|l| {
            let macs = (l.cost.linear_macs + l.cost.attention_macs) as f64;
            let bytes = (l.cost.ddr_read + l.cost.ddr_write) as f64;
            let s = layer_s(r, l);
            (macs > 0.0 && bytes > 0.0 && s > 0.0).then(|| (l, macs / bytes, macs / s / 1e9))
        })
        .collect()
}

/// Log-log axes of the roofline panel: x 0.1..10 000 MAC/B, y 0.01..10·peak GMAC/s, mapped to a box.
pub struct LogBox {
    /// Left edge, pixels.
    pub x0: f64,
    /// Top edge, pixels.
    pub y0: f64,
    /// Width, pixels.
    pub w: f64,
    /// Height, pixels.
    pub h: f64,
    /// The top of the y axis, GMAC/s.
    pub ymax: f64,
}

impl LogBox {
    const XMIN: f64 = 0.1;
    const XMAX: f64 = 10_000.0;
    const YMIN: f64 = 0.01;
    /// The x pixel of `v` MAC/B.
    pub fn x(&self, v: f64) -> f64 {
        self.x0 + self.w * (v.max(Self::XMIN).log10() - Self::XMIN.log10()) / (Self::XMAX.log10() - Self::XMIN.log10())
    }
    /// The y pixel of `v` GMAC/s.
    pub fn y(&self, v: f64) -> f64 {
        let t = (v.max(Self::YMIN).log10() - Self::YMIN.log10()) / (self.ymax.log10() - Self::YMIN.log10());
        self.y0 + self.h * (1.0 - t.min(1.0))
    }
}
