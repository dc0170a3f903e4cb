//! `libdcmi.so` simulator: the Ascend driver management library's C ABI
//! (see `ffi/dcmi.h`) served from a topology file, with faults injected at
//! run time through a state file that `ascend-sim` edits.
//!
//! - `topology`: the simulated node (cards, chips, built-in topologies);
//! - `state`, `chaos`: the fault state file and the chaos modes in it;
//! - `vnpu`: templates, allocation, persistence of created vNPUs;
//! - `runtime`: the global state behind one mutex, `dcmi_init`;
//! - `watcher`, `events`, `pin`: the thread that applies state changes and
//!   fires fault callbacks, and the pinning that makes dlclose safe;
//! - `exports` (private): the `dcmi_*` symbols; `cli`: the `ascend-sim` tool.

#![allow(unsafe_code)]

pub mod chaos;
pub mod cli;
mod events;
mod exports;
mod pin;
mod runtime;
pub mod state;
pub mod topology;
pub mod vnpu;
mod watcher;

pub use runtime::{ENV_CHAOS, ENV_STATE, ENV_TOPOLOGY};
