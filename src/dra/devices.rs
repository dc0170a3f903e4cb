//! The DRA devices of this node (pure): one device per chip named
//! `npu-<phyID>`, attributes and capacity per `dra.md` §4.2–4.3 (a superset
//! of Huawei's `deviceType` and `physicId`), and taints from health (§4.4).

use std::collections::BTreeMap;

use k8s_openapi::api::resource::v1::{
    CounterSet, Device, DeviceAttribute, DeviceCapacity, DeviceTaint, ResourcePool,
    ResourceSliceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::DRIVER;
use super::partition;
use crate::device::health::{ChipState, Snapshot};
use crate::device::model::{Chip, Family, Inventory};
use crate::device::topology::Board;

/// Taint key of an Unhealthy chip; the value is its fault level.
pub const TAINT_UNHEALTHY: &str = "npu.huawei.com/unhealthy";
/// Taint key carrying the most severe active fault code (hex, as the fault
/// table spells it).
pub const TAINT_FAULT_CODE: &str = "npu.huawei.com/fault-code";
/// Taint key of a chip whose RoCE network is down.
pub const TAINT_NETWORK: &str = "npu.huawei.com/network-unhealthy";

/// `npu-<phyID>`: a DNS label for every family (Huawei's `Ascend910-<n>`
/// has upper case, which the API server refuses).
pub fn device_name(phy_id: u32) -> String {
    format!("npu-{phy_id}")
}

/// The phy id behind a device name, `None` unless it is exactly
/// `npu-<decimal>` without leading zeros.
pub fn phy_of(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("npu-")?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok()
}

/// Huawei's `deviceType` values (the 950 is `Ascend910A5` there); ours adds
/// the 310 family.
pub fn device_type(family: Family) -> &'static str {
    match family {
        Family::Ascend950 => "Ascend910A5",
        other => other.name(),
    }
}

/// `(hccsGroup, hccsGroupSize)` of a chip; `None` on boards without HCCS
/// groups (PCIe cards) and on A3, where the group is not determined.
pub fn hccs_group(board: Board, phy_id: u32) -> Option<(i64, i64)> {
    match board {
        Board::Module910 => Some((i64::from(phy_id / 4), 4)),
        Board::Half910 => Some((0, 4)),
        Board::Module910B8 => Some((0, 8)),
        Board::Module910B16 => Some((i64::from(phy_id / 8), 8)),
        Board::Card910 | Board::A3 | Board::Generic => None,
    }
}

fn int(value: impl Into<i64>) -> DeviceAttribute {
    DeviceAttribute {
        int: Some(value.into()),
        ..Default::default()
    }
}

fn string(value: impl Into<String>) -> DeviceAttribute {
    DeviceAttribute {
        string: Some(value.into()),
        ..Default::default()
    }
}

/// An attribute string holds at most 64 characters.
fn short(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.len() <= 64).then(|| text.to_string())
}

/// Every attribute of one chip.
pub fn attributes(
    chip: &Chip,
    inventory: &Inventory,
    board: Board,
) -> BTreeMap<String, DeviceAttribute> {
    let mut out = BTreeMap::new();
    out.insert("deviceType".into(), string(device_type(chip.family)));
    out.insert("physicId".into(), int(chip.phy_id));
    out.insert("type".into(), string("chip"));
    out.insert("logicId".into(), int(chip.logic_id));
    out.insert("cardId".into(), int(chip.card_id));
    out.insert("deviceIndex".into(), int(chip.device_index));
    if let Some(name) = short(&chip.chip_name) {
        out.insert("chipName".into(), string(name));
    }
    if let Some(board_id) = chip.board_id {
        out.insert("boardId".into(), int(board_id));
    }
    if let Some(product) = chip.product_type.as_deref().and_then(short) {
        out.insert("productType".into(), string(product));
    }
    if let Some(version) = inventory.driver_version.as_deref().and_then(short) {
        out.insert("driverVersion".into(), string(version));
    }
    let kind = match chip.memory_kind {
        crate::device::model::MemoryKind::Hbm => "hbm",
        crate::device::model::MemoryKind::Ddr => "ddr",
    };
    out.insert("memoryKind".into(), string(kind));
    if let Some((group, size)) = hccs_group(board, chip.phy_id) {
        out.insert("hccsGroup".into(), int(group));
        out.insert("hccsGroupSize".into(), int(size));
    }
    if board == Board::Module910B16 {
        out.insert("crossPair".into(), int(chip.phy_id % 8));
    }
    if let Some(pod) = inventory.super_pod.filter(|p| p.super_pod_id >= 0) {
        out.insert("superPodId".into(), int(pod.super_pod_id));
        out.insert("serverIndex".into(), int(pod.server_index));
    }
    if let Some(sdid) = chip.super_device_id {
        out.insert("superDeviceId".into(), int(sdid));
    }
    if let Some(ip) = chip.ip {
        let link_local_v6 =
            matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if !link_local_v6 {
            out.insert("deviceIp".into(), string(ip.to_string()));
        }
    }
    if let Some(numa) = chip.numa_node.filter(|n| *n >= 0) {
        out.insert("resource.kubernetes.io/numaNode".into(), int(numa));
    }
    if let Some(pci) = chip.pci {
        out.insert(
            "resource.kubernetes.io/pciBusID".into(),
            string(pci.to_string()),
        );
        out.insert(
            "resource.kubernetes.io/pcieRoot".into(),
            string(format!("pci{:04x}:{:02x}", pci.domain, pci.bus)),
        );
    }
    out
}

/// `mb` MiB as the API server spells it back (the largest binary suffix
/// that divides it), so a published slice compares equal to its echo.
pub fn mebibytes(mb: u64) -> String {
    if mb.is_multiple_of(1 << 20) {
        format!("{}Ti", mb >> 20)
    } else if mb.is_multiple_of(1 << 10) {
        format!("{}Gi", mb >> 10)
    } else {
        format!("{mb}Mi")
    }
}

/// `memory` (bytes, in Mi) and `aicore`.
pub fn capacity(chip: &Chip) -> BTreeMap<String, DeviceCapacity> {
    let mut out = BTreeMap::new();
    if let Some(mb) = chip.memory_mb.filter(|mb| *mb > 0) {
        out.insert(
            "memory".into(),
            DeviceCapacity {
                value: Quantity(mebibytes(mb)),
                ..Default::default()
            },
        );
    }
    out.insert(
        "aicore".into(),
        DeviceCapacity {
            value: Quantity(chip.aicore.to_string()),
            ..Default::default()
        },
    );
    out
}

fn taint(key: &str, value: Option<String>) -> DeviceTaint {
    DeviceTaint {
        key: key.to_string(),
        value,
        effect: "NoSchedule".to_string(),
        time_added: None,
    }
}

/// The taints of a chip in this health state: Unhealthy (value = fault
/// level) with its most severe code, and the network. A chip the snapshot
/// does not know is Unhealthy.
pub fn taints(state: Option<&ChipState>) -> Vec<DeviceTaint> {
    let Some(state) = state else {
        return vec![taint(TAINT_UNHEALTHY, Some("Unknown".into()))];
    };
    let mut out = Vec::new();
    if !state.healthy {
        out.push(taint(
            TAINT_UNHEALTHY,
            Some(state.level.as_str().to_string()),
        ));
        let worst = state.faults.iter().max_by_key(|f| (f.level, f.code.0));
        if let Some(fault) = worst {
            out.push(taint(TAINT_FAULT_CODE, Some(fault.code.to_string())));
        }
    }
    if !state.network_healthy {
        out.push(taint(TAINT_NETWORK, None));
    }
    out
}

/// One device per chip, in phy order (the allocator is first-fit in device
/// order, so ring-mates stay next to each other).
pub fn devices(inventory: &Inventory, board: Board, snapshot: &Snapshot) -> Vec<Device> {
    let mut chips: Vec<&Chip> = inventory.chips.iter().collect();
    chips.sort_by_key(|c| c.phy_id);
    chips
        .into_iter()
        .map(|chip| {
            let taints = taints(snapshot.chips.get(&chip.phy_id));
            Device {
                name: device_name(chip.phy_id),
                attributes: Some(attributes(chip, inventory, board)),
                capacity: Some(capacity(chip)),
                taints: (!taints.is_empty()).then_some(taints),
                ..Default::default()
            }
        })
        .collect()
}

/// Devices per slice: the API server takes 128, or 64 when any device has
/// taints or consumes counters (`dra.md` §1.2).
pub const DEVICES_PER_SLICE: usize = 64;
/// Counter sets per slice.
pub const COUNTER_SETS_PER_SLICE: usize = 8;

/// What one slice carries: counter sets or devices, never both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliceContent {
    pub counters: Vec<CounterSet>,
    pub devices: Vec<Device>,
}

/// Everything this node publishes: the devices (with `partitions`, each
/// partitionable chip's template devices after its whole-chip device) and
/// the counter sets they draw on.
pub fn published(
    inventory: &Inventory,
    board: Board,
    snapshot: &Snapshot,
    partitions: bool,
) -> (Vec<CounterSet>, Vec<Device>) {
    let whole = devices(inventory, board, snapshot);
    if !partitions {
        return (Vec::new(), whole);
    }
    let mut counters = Vec::new();
    let mut out = Vec::new();
    for mut device in whole {
        let chip = phy_of(&device.name).and_then(|phy| inventory.chip_by_phy(phy));
        match chip.filter(|c| partition::partitionable(c)) {
            Some(chip) => {
                counters.push(partition::counter_set(chip));
                partition::consume_whole(chip, &mut device);
                let parts = partition::partition_devices(chip, &device);
                out.push(device);
                out.extend(parts);
            }
            None => out.push(device),
        }
    }
    (counters, out)
}

/// The slices of the pool, in order: counter sets in slices of
/// [`COUNTER_SETS_PER_SLICE`], then devices in slices of
/// [`DEVICES_PER_SLICE`]; at least one slice, even without devices.
pub fn layout(counters: Vec<CounterSet>, devices: Vec<Device>) -> Vec<SliceContent> {
    let mut out: Vec<SliceContent> = counters
        .chunks(COUNTER_SETS_PER_SLICE)
        .map(|sets| SliceContent {
            counters: sets.to_vec(),
            devices: Vec::new(),
        })
        .collect();
    out.extend(
        devices
            .chunks(DEVICES_PER_SLICE)
            .map(|devices| SliceContent {
                counters: Vec::new(),
                devices: devices.to_vec(),
            }),
    );
    if out.is_empty() {
        out.push(SliceContent::default());
    }
    out
}

/// The spec of one slice of this node's pool of `count` slices.
pub fn slice_spec(
    node: &str,
    content: SliceContent,
    generation: i64,
    count: usize,
) -> ResourceSliceSpec {
    let SliceContent { counters, devices } = content;
    ResourceSliceSpec {
        driver: DRIVER.to_string(),
        node_name: Some(node.to_string()),
        pool: ResourcePool {
            name: node.to_string(),
            generation,
            resource_slice_count: i64::try_from(count).unwrap_or(i64::MAX),
        },
        devices: counters.is_empty().then_some(devices),
        shared_counters: (!counters.is_empty()).then_some(counters),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
