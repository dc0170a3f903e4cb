//! Generated kubelet API types (device plugin v1beta1, pod resources v1).
#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

/// kubelet device-plugin API.
pub mod deviceplugin {
    tonic::include_proto!("v1beta1");
}

/// kubelet pod-resources API.
pub mod podresources {
    tonic::include_proto!("v1");
}
