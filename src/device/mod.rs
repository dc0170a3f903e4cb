//! The node's devices: the model (cards, chips, vNPUs), discovery from DCMI,
//! the names kubelet and Volcano know them by, their health, and the rules
//! that raise a chip's level (fault frequency and duration).

pub mod a5;
pub mod customization;
pub mod discovery;
pub mod faults;
pub mod health;
pub mod model;
pub mod modes;
pub mod monitor;
pub mod naming;
pub mod reset;
pub mod topology;
pub mod upgrade;
