//! What the last inference did, for tests, `stats` and profiling.

use crate::model::MAX_DEPTH;

/// Counters of the last [`Engine::run`](super::Engine::run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Bytes of expert weights and biases read.
    pub expert_bytes: u64,
    /// Per block: bit `e` set when expert `e`'s weights were read.
    pub experts_read: [u64; MAX_DEPTH as usize],
    /// Per block: how many expert weight loads happened (equals the number of bits set when every
    /// expert is read at most once).
    pub expert_loads: [u32; MAX_DEPTH as usize],
    /// Completed runs since the engine was made.
    pub runs: u64,
    /// What the accelerator IP counted in the last run, read back through its registers (accelerator
    /// backends only).
    pub accel: Option<IpCounters>,
}

/// The accelerator IP's counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpCounters {
    /// Experts whose weights the IP fetched, all MoE blocks together.
    pub expert_loads: u32,
    /// KiB of weights the IP fetched (rounded up).
    pub weight_kib: u32,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            expert_bytes: 0,
            experts_read: [0; MAX_DEPTH as usize],
            expert_loads: [0; MAX_DEPTH as usize],
            runs: 0,
            accel: None,
        }
    }
}

impl Counters {
    /// Clears the per-run counters (keeps `runs`).
    pub fn start_run(&mut self) {
        let runs = self.runs;
        *self = Self { runs, ..Self::default() };
    }

    /// Records that expert `e` of block `block` was read, `bytes` bytes.
    pub fn record_expert(&mut self, block: usize, e: usize, bytes: u64) {
        self.expert_bytes += bytes;
        if let (Some(mask), Some(loads)) = (self.experts_read.get_mut(block), self.expert_loads.get_mut(block)) {
            if e < 64 {
                *mask |= 1 << e;
            }
            *loads += 1;
        }
    }
}
