//! The kubelet-facing side: one gRPC device-plugin service per resource,
//! registration and restart handling, and the pure Allocate logic.

pub mod allocate;
pub mod devices;
pub mod lifecycle;
pub mod server;
pub mod service;
