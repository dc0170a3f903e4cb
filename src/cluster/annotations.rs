//! The write-back on a pod after Allocate (compat §4 item 5): which kubelet
//! IDs it got, which real chips stand behind them, and for the 910 family the
//! HCCL configuration JSON, byte-for-byte as the Go plugin writes it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::chip_list::{AnnotationFault, parse_chip_list};
use super::gojson::{GoObject, GoValue, to_go_json};
use super::volcano::annotation;
use crate::device::model::{Family, NO_SUPER_POD, SuperPod};

/// Comma-joined kubelet device IDs.
pub const KLT_DEV: &str = "huawei.com/kltDev";
/// Comma-joined real chip names; Volcano's free-chip accounting reads it.
pub const ASCEND_REAL: &str = "huawei.com/AscendReal";
/// HCCL configuration of the 910 family.
pub const CONFIGURATION_910: &str = "ascend.kubectl.kubernetes.io/ascend-910-configuration";
/// `device_ip` of a vNPU.
pub const VNPU_DEVICE_IP: &str = "127.0.0.1";

/// One device the container got, as DCMI knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealChip {
    /// The chip's phy id (a vNPU's parent chip).
    pub phy_id: u32,
    /// `Ascend910-3`, or a vNPU's name such as `Ascend910-2c-100-3`.
    pub name: String,
    /// RoCE address from DCMI; written as `""` when unknown.
    pub ip: Option<IpAddr>,
    /// Super device id (A3); `super_device_id` is "0" when unknown.
    pub super_device_id: Option<u32>,
}

/// Where the node sits in a super pod. Without one (the driver reports
/// none): `super_pod_id` -2, `rack_id` 0, `server_index` "-2", as upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub super_pod_id: i64,
    pub rack_id: i64,
    pub server_index: i64,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            super_pod_id: NO_SUPER_POD,
            rack_id: 0,
            server_index: NO_SUPER_POD,
        }
    }
}

impl Placement {
    /// The placement discovery reported, or the defaults.
    pub fn from_super_pod(super_pod: Option<&SuperPod>) -> Placement {
        super_pod.map_or_else(Placement::default, |sp| Placement {
            super_pod_id: sp.super_pod_id,
            server_index: sp.server_index,
            ..Placement::default()
        })
    }
}

/// Everything the write-back is made of.
#[derive(Debug, Clone, Copy)]
pub struct WriteBack<'a> {
    pub pod_uid: &'a str,
    pub pod_name: &'a str,
    pub node_ip: &'a str,
    pub kubelet_ids: &'a [String],
    pub real: &'a [RealChip],
    pub family: Family,
    /// A vNPU resource: no `AscendReal`, device IPs `127.0.0.1`.
    pub virtual_: bool,
    pub placement: Placement,
}

/// The write-back outside any super pod; see [`WriteBack::annotations`].
pub fn write_back(
    pod_uid: &str,
    pod_name: &str,
    node_ip: &str,
    kubelet_ids: &[String],
    real: &[RealChip],
    family: Family,
    virtual_: bool,
) -> BTreeMap<String, String> {
    WriteBack {
        pod_uid,
        pod_name,
        node_ip,
        kubelet_ids,
        real,
        family,
        virtual_,
        placement: Placement::default(),
    }
    .annotations()
}

impl WriteBack<'_> {
    /// `huawei.com/kltDev` (kubelet IDs in kubelet's order), `huawei.com/AscendReal`
    /// (real names in allocation order; not for vNPUs) and, for the 910
    /// family, [`CONFIGURATION_910`].
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(KLT_DEV.to_owned(), self.kubelet_ids.join(","));
        if !self.virtual_ {
            let names: Vec<&str> = self.real.iter().map(|chip| chip.name.as_str()).collect();
            out.insert(ASCEND_REAL.to_owned(), names.join(","));
        }
        if self.family.is_910_family() {
            out.insert(CONFIGURATION_910.to_owned(), self.configuration());
        }
        out
    }

    /// Go's `Instance` struct in field order: `pod_name`, `server_id` (pod
    /// UID), `host_ip`, `super_pod_id`, `devices`, `rack_id`, `server_index`
    /// (a string), `server_ip`. Devices sorted by phy id; `device_id` is the
    /// phy id as a string, then `device_ip` and (physical chips only)
    /// `super_device_id`. No devices marshal as `null`, as a nil Go slice.
    pub fn configuration(&self) -> String {
        let mut chips: Vec<&RealChip> = self.real.iter().collect();
        chips.sort_by_key(|chip| chip.phy_id);
        let devices: Vec<GoValue> = chips.into_iter().map(|c| self.device(c).into()).collect();
        let devices = if devices.is_empty() {
            GoValue::Null
        } else {
            GoValue::Array(devices)
        };
        let instance = GoObject::new()
            .field("pod_name", self.pod_name)
            .field("server_id", self.pod_uid)
            .field("host_ip", self.node_ip)
            .field("super_pod_id", self.placement.super_pod_id)
            .field("devices", devices)
            .field("rack_id", self.placement.rack_id)
            .field("server_index", self.placement.server_index.to_string())
            .field("server_ip", self.node_ip);
        to_go_json(&GoValue::Object(instance))
    }

    fn device(&self, chip: &RealChip) -> GoObject {
        let ip = if self.virtual_ {
            VNPU_DEVICE_IP.to_owned()
        } else {
            chip.ip.map(|ip| ip.to_string()).unwrap_or_default()
        };
        let device = GoObject::new()
            .field("device_id", chip.phy_id.to_string())
            .field("device_ip", ip);
        if self.virtual_ {
            return device;
        }
        // As upstream: every physical chip carries one, "0" where the
        // driver knows none (A3 rank tables read it; Volcano does not).
        let sdid = chip.super_device_id.unwrap_or(0);
        device.field("super_device_id", sdid.to_string())
    }
}

/// Merge-patch body setting `annotations` on a pod.
pub fn merge_patch(annotations: &BTreeMap<String, String>) -> Value {
    json!({ "metadata": { "annotations": annotations } })
}

/// Phy ids from `huawei.com/AscendReal` (after a restart, to rebuild the
/// kubelet-ID -> chip map), with the hostile-input rules of Volcano's
/// annotation: see [`parse_chip_list`].
pub fn parse_ascend_real(value: &str, resource_type: &str) -> Result<Vec<u32>, AnnotationFault> {
    parse_chip_list(value, resource_type)
}

/// False once the pod carries its write-back (`AscendReal`, or `kltDev` for
/// vNPU resources, which get no `AscendReal`): the repair pass skips it.
pub fn needs_write_back(pod: &Pod, virtual_: bool) -> bool {
    let key = if virtual_ { KLT_DEV } else { ASCEND_REAL };
    annotation(pod, key).is_none()
}

#[cfg(test)]
mod tests;
