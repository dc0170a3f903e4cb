//! Face 2: the kubelet DRA API. Publishes this node's chips as
//! ResourceSlice devices (`devices.rs`, `slices.rs`), serves kubelet's
//! `DRAPlugin` and `DRAResourceHealth` and the plugin-watcher registration
//! (`service.rs`, `server.rs`), and prepares claims into CDI spec files
//! with a checkpoint (`prepare.rs`, `cdi.rs`, `checkpoint.rs`); optionally
//! slices chips into vNPU partitions (`partition.rs`, `vnpu.rs`). Knows the
//! node core and the cluster side, never the device-plugin face.

pub mod cdi;
pub mod checkpoint;
pub mod devices;
pub mod partition;
pub mod prepare;
pub mod server;
pub mod service;
pub mod slices;
pub mod vnpu;

/// The driver name: Huawei's, so their claims and classes keep working.
pub const DRIVER: &str = "npu.huawei.com";
