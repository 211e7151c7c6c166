//! The two orders the MoE layers can run in (SIMULATED; the schedule model is described in the README):
//!
//! - [`Schedule::Reordered`], expert by expert (M³ViT's reordering, what the M3RT IP does): each non-empty
//!   queue's tokens meet their expert's fc1 and fc2 once, the weights streaming through the linear unit's
//!   panel buffers, each expert's weights loaded from DDR once per layer.
//! - [`Schedule::TokenOrder`], token by token (M³ViT's baseline): each token runs its k experts for itself
//!   alone (one useful row of the linear unit's row tile), the experts' weights held in an on-chip LRU cache
//!   of `cache_experts` experts; a miss loads the expert's fc1 and fc2 from DDR, a hit loads nothing.

use std::fmt;

use m3rt::model::Hyper;

use crate::design::Design;

/// The order the MoE layers run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Expert by expert over each expert's queue of tokens.
    Reordered,
    /// Token by token, with an LRU cache of `cache_experts` experts' weights on chip.
    TokenOrder {
        /// Experts the on-chip cache holds (at least the model's `top_k`).
        cache_experts: u32,
    },
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Reordered => write!(f, "reordered"),
            Schedule::TokenOrder { cache_experts } => write!(f, "token order (LRU cache of {cache_experts} experts)"),
        }
    }
}

/// A token-order cache too small for one token's experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTooSmall {
    /// The cache asked for.
    pub cache_experts: u32,
    /// The model's experts per token.
    pub top_k: u32,
}

impl fmt::Display for CacheTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a token-order cache of {} experts cannot hold one token's {} experts (cache_experts >= top_k)",
            self.cache_experts, self.top_k
        )
    }
}

impl std::error::Error for CacheTooSmall {}

impl Schedule {
    /// Refuses a token-order cache smaller than `top_k` experts.
    pub fn check(&self, top_k: u32) -> Result<(), CacheTooSmall> {
        match *self {
            Schedule::TokenOrder { cache_experts } if cache_experts < top_k.max(1) => {
                Err(CacheTooSmall { cache_experts, top_k })
            }
            _ => Ok(()),
        }
    }
}

/// For each route of one layer in order (`routes[t·k + i]`, token `t`'s `i`-th expert), whether an LRU
/// cache of `capacity` experts already holds the expert (a hit) or must load it (a miss, evicting the
/// least recently used expert when full). The cache starts empty.
pub fn lru_hits(routes: &[u32], capacity: u32) -> Vec<bool> {
    let mut lru: Vec<u32> = Vec::with_capacity(capacity as usize); // least recently used first
    routes
        .iter()
        .map(|&x| match lru.iter().position(|&y| y == x) {
            Some(i) => {
                lru.remove(i);
                lru.push(x);
                true
            }
            None => {
                if capacity > 0 {
                    if lru.len() == capacity as usize {
                        lru.remove(0);
                    }
                    lru.push(x);
                }
                false
            }
        })
        .collect()
}

/// Misses of an LRU cache of `capacity` experts over `routes` ([`lru_hits`]).
pub fn lru_misses(routes: &[u32], capacity: u32) -> u64 {
    lru_hits(routes, capacity).iter().filter(|&&hit| !hit).count() as u64
}

/// Bytes of one expert's weights and biases on chip at the design's precision (fc1 `[D, Dh]` and fc2
/// `[Dh, D]`, 2-byte biases, as the panels count them).
pub fn expert_bytes(d: &Design, h: &Hyper) -> u64 {
    let (dim, dh) = (u64::from(h.dim), u64::from(h.expert_hidden));
    2 * dim * dh * d.precision.weight_bytes() + (dh + dim) * 2
}

/// Bytes of the linear unit's weight panel buffers (`weight_buffers × weight_buffer_words` weights).
pub fn panel_buffer_bytes(d: &Design) -> u64 {
    u64::from(d.linear.weight_buffers) * u64::from(d.linear.weight_buffer_words) * d.precision.weight_bytes()
}

/// On-chip weight memory the schedule needs. Reordered: the panel buffers. Token order: the expert cache,
/// or the panel buffers if larger (the cache is time-shared with them: the dense layers stream their
/// panels through it, which is also why it starts empty at every MoE layer).
pub fn onchip_weight_bytes(d: &Design, h: &Hyper, schedule: Schedule) -> u64 {
    match schedule {
        Schedule::Reordered => panel_buffer_bytes(d),
        Schedule::TokenOrder { cache_experts } => {
            (u64::from(cache_experts) * expert_bytes(d, h)).max(panel_buffer_bytes(d))
        }
    }
}
