#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod accel;
pub mod backend;
pub mod bundle;
pub mod engine;
pub mod error;
pub mod fixed;
pub mod kernels;
pub mod model;
pub mod moe;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod protocol;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod serve;

pub use error::{Error, Result};
