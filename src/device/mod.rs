//! The node's devices: the model (cards, chips, vNPUs), discovery from DCMI,
//! the names kubelet and Volcano know them by, and their health.

pub mod discovery;
pub mod faults;
pub mod health;
pub mod model;
pub mod monitor;
pub mod naming;
pub mod topology;
