//! A small, faithful stand-in for the kubelet side of the device-plugin
//! protocol, for the plugin's integration tests and the README demo.
//!
//! * [`Kubelet`] serves `v1beta1.Registration` on `<dir>/kubelet.sock` and
//!   behaves like kubelet's device manager: it sweeps stale sockets when it
//!   starts, checks each Register call (version, resource name) and dials the
//!   plugin back for `GetDevicePluginOptions` before accepting it, and on
//!   [`Kubelet::restart`] deletes every socket in the directory.
//! * [`PluginClient`] and [`Watch`] are kubelet's calls into one plugin socket
//!   (sending `:authority` `localhost`, as kubelet >= 1.26 does).
//! * [`PodResources`] is a fake `v1.PodResourcesLister` answering with what
//!   the test sets.
//!
//! Unlike kubelet, the stand-in does not open ListAndWatch by itself after a
//! registration: the test decides when to [`PluginClient::watch`].

mod client;
mod error;
mod kubelet;
mod podresources;
mod signals;
mod socket;

pub use client::{PluginClient, Watch};
pub use error::Error;
pub use kubelet::{KUBELET_SOCKET, Kubelet};
pub use podresources::PodResources;
pub use proto::deviceplugin::{
    AllocateResponse, Device, DevicePluginOptions, ListAndWatchResponse, RegisterRequest,
};
pub use signals::interrupted;
pub use socket::dial;

/// The generated kubelet API types, clients and servers.
pub mod proto {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]

    /// kubelet device-plugin API, package `v1beta1`.
    pub mod deviceplugin {
        tonic::include_proto!("v1beta1");
    }

    /// kubelet pod-resources API, package `v1`.
    pub mod podresources {
        tonic::include_proto!("v1");
    }
}

/// The device-plugin API version kubelet accepts.
pub const API_VERSION: &str = "v1beta1";

/// The `health` value of a usable device.
pub const HEALTHY: &str = "Healthy";

/// The `health` value of a device kubelet must not hand out.
pub const UNHEALTHY: &str = "Unhealthy";
