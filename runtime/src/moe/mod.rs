//! The mixture-of-experts layer with computation reordering.
//!
//! The router computes each token's gate probabilities, picks its top-k experts and appends the token
//! (index and probability) to those experts' queues. The expert loop then visits only experts with a
//! non-empty queue, one after another, each once over its whole queue: gather the queued rows, fc1, GELU,
//! fc2, and scatter-add the probability-weighted rows into the output. Experts that no token picked are
//! never read. The same order is what the FPGA accelerator follows (next expert's weights load while the
//! current one computes); on a CPU the weights are read in place.

pub mod experts;
pub mod router;

pub use experts::{run_experts, ExpertBuffers, ExpertWeights};
pub use router::{build_queues, top_k, Queues};
