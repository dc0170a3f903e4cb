//! Generated kubelet API types (device plugin v1beta1, pod resources v1,
//! plugin registration, DRA v1 and v1beta1, DRA resource health v1 and
//! v1alpha1).
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

/// kubelet plugin-watcher registration (served by the DRA face).
pub mod pluginregistration {
    tonic::include_proto!("pluginregistration");
}

/// kubelet DRA plugin API, v1 (preferred) and v1beta1.
pub mod dra {
    pub mod v1 {
        tonic::include_proto!("k8s.io.kubelet.pkg.apis.dra.v1");
    }
    pub mod v1beta1 {
        tonic::include_proto!("k8s.io.kubelet.pkg.apis.dra.v1beta1");
    }
}

/// kubelet DRA resource-health stream, v1 and v1alpha1. Package `v1` is
/// shared with pod resources, so this module also holds those types.
pub mod drahealth {
    pub mod v1 {
        tonic::include_proto!("v1");
    }
    pub mod v1alpha1 {
        tonic::include_proto!("v1alpha1");
    }
}
