//! Kubernetes device plugin for Huawei Ascend NPUs.
//!
//! Data enters at [`dcmi`], becomes an inventory and health snapshot in
//! [`device`], and leaves through the kubelet-facing plugin and the cluster
//! reporter. `main.rs` only wires these together.

pub mod app;
pub mod changes;
pub mod cluster;
pub mod config;
pub mod dcmi;
pub mod device;
pub mod dra;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod inspect;
pub mod k8s;
pub mod plugin;
pub mod proto;
pub mod telemetry;
