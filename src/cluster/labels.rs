//! Node labels and annotations the plugin owns (compat §6), as pure values
//! from the inventory, and the merge patch that changes only what differs.
//! Label values are made valid Kubernetes label values or left out, and
//! every such change is reported.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Map, Value};

use super::gojson::{GoObject, GoValue, to_go_json};
use crate::device::model::{Chip, Family, Inventory};
use crate::device::naming::{NamingOptions, name_devices};

pub const ACCELERATOR: &str = "accelerator";
pub const CHIP_NAME: &str = "node.kubernetes.io/npu.chip.name";
/// Written only when the node has none (operators may set their own).
pub const SERVER_TYPE: &str = "servertype";
pub const DRIVER_VERSION: &str = "huawei.com/driver.version";
pub const CHIP_MEMORY: &str = "mind-cluster/npu-chip-memory";
pub const ACCELERATOR_TYPE: &str = "accelerator-type";
/// `accelerator-type` of Atlas 300I A2 nodes.
pub const CARD_910B_INFER: &str = "card-910b-infer";
/// Set on nodes whose every card is an Atlas 300I Duo; Volcano's 300I Duo
/// handler refuses nodes without it.
pub const INFER_CARD_TYPE: &str = "infer-card-type";
/// `infer-card-type` of Atlas 300I Duo nodes.
pub const CARD_300I_DUO: &str = "card-300i-duo";
/// The super pod of an A3 node inside one (upstream's topology label).
pub const TOPO_SUPER_POD_ID: &str = "huawei.com/topotree.superpodid";
/// DCMI's product type of the Atlas 300I Duo card.
const ATLAS_300I_DUO: &str = "Atlas 300I Duo";
pub const BASE_DEVICE_INFOS: &str = "baseDeviceInfos";
pub const SUPER_POD_ID: &str = "superPodID";
pub const SERVER_INDEX: &str = "serverIndex";
pub const SERVER_TYPE_ANNOTATION: &str = "serverType";

/// Board ids of the Atlas 300I A2 (and its 64 GB variant).
const A300I_A2_BOARD_IDS: [u32; 2] = [0x28, 0x29];
const MAX_LABEL_VALUE: usize = 63;
/// Go divides DCMI's HBM size in MB by this for the memory label.
const MB_PER_GB: u64 = 1024;

/// Labels to have on the node, and values that had to be changed or left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredLabels {
    pub labels: BTreeMap<String, String>,
    pub issues: Vec<LabelIssue>,
}

/// A label value that is not a valid Kubernetes label value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelIssue {
    pub key: String,
    pub original: String,
    /// What is written instead; `None` when the label is left out.
    pub written: Option<String>,
}

impl fmt::Display for LabelIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.written {
            Some(value) => write!(
                f,
                "label {} value {:?} is no valid label value; writing {:?}",
                self.key, self.original, value
            ),
            None => write!(
                f,
                "label {} value {:?} is no valid label value; not writing it",
                self.key, self.original
            ),
        }
    }
}

/// The labels of §6 for this node, from the first chip (discovery guarantees
/// one family per node). `existing` is the node's current labels: `servertype`
/// is proposed only when absent there, except on 950 (A5) nodes, where
/// upstream always overwrites it. Nothing when the node has no chips.
pub fn desired_labels(inventory: &Inventory, existing: &BTreeMap<String, String>) -> DesiredLabels {
    let mut out = DesiredLabels::default();
    let Some(chip) = inventory.chips.first() else {
        return out;
    };
    let family = chip.family;
    out.put(ACCELERATOR, family.accelerator_label());
    out.put(CHIP_NAME, chip.chip_name.clone());
    if family == Family::Ascend950 || !existing.contains_key(SERVER_TYPE) {
        out.put(SERVER_TYPE, server_type(family, chip.aicore));
    }
    if let Some(version) = &inventory.driver_version {
        out.put(DRIVER_VERSION, version.clone());
    }
    if let Some(memory) = chip_memory(chip) {
        out.put(CHIP_MEMORY, memory);
    }
    let a300i_a2 = chip
        .board_id
        .is_some_and(|id| A300I_A2_BOARD_IDS.contains(&id));
    if family == Family::Ascend910B && a300i_a2 {
        out.put(ACCELERATOR_TYPE, CARD_910B_INFER.to_owned());
    }
    if all_cards_are_300i_duo(inventory) {
        out.put(INFER_CARD_TYPE, CARD_300I_DUO.to_owned());
    }
    let super_pod_id = inventory.super_pod.map(|sp| sp.super_pod_id);
    let super_pod_family = matches!(family, Family::Ascend910A3 | Family::Ascend950);
    if let Some(id) = super_pod_id.filter(|&id| super_pod_family && id >= 0) {
        out.put(TOPO_SUPER_POD_ID, id.to_string());
    }
    out
}

/// Upstream's rule: at least one chip reports a product type, and every
/// product type reported is "Atlas 300I Duo" (chips whose product type
/// the driver does not give are left out, as upstream skips them).
fn all_cards_are_300i_duo(inventory: &Inventory) -> bool {
    let mut known = inventory
        .chips
        .iter()
        .filter_map(|chip| chip.product_type.as_deref())
        .map(str::trim)
        .peekable();
    known.peek().is_some() && known.all(|product| product == ATLAS_300I_DUO)
}

impl DesiredLabels {
    fn put(&mut self, key: &str, value: String) {
        if is_valid_label_value(&value) {
            self.labels.insert(key.to_owned(), value);
            return;
        }
        let written = sanitise_label_value(&value);
        if let Some(clean) = &written {
            self.labels.insert(key.to_owned(), clean.clone());
        }
        self.issues.push(LabelIssue {
            key: key.to_owned(),
            original: value,
            written,
        });
    }
}

/// `<ChipFamily>-<aicore>`, e.g. `Ascend910B-20`; 950 (A5) nodes use `npu-<aicore>`.
fn server_type(family: Family, aicore: u32) -> String {
    let prefix = match family {
        Family::Ascend950 => family.resource_type(),
        _ => family.name(),
    };
    format!("{prefix}-{aicore}")
}

/// `64G` from 65536 MB of on-chip memory (the 910 family and 950 only),
/// rounded down as Go does.
fn chip_memory(chip: &Chip) -> Option<String> {
    let on_chip = chip.family.is_910_family() || chip.family == Family::Ascend950;
    let mb = chip.memory_mb.filter(|_| on_chip)?;
    Some(format!("{}G", mb / MB_PER_GB))
}

/// At most 63 characters of `[A-Za-z0-9._-]`, beginning and ending with an
/// alphanumeric. (Kubernetes also allows an empty value; we never write one.)
pub fn is_valid_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    bytes.len() <= MAX_LABEL_VALUE
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes.iter().all(|&b| is_label_byte(b))
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Every other character becomes `_`; then non-alphanumerics are trimmed
/// from both ends and the rest cut to 63. `None` when nothing is left.
pub fn sanitise_label_value(value: &str) -> Option<String> {
    let replaced: String = value
        .chars()
        .map(|c| {
            if c.is_ascii() && is_label_byte(c as u8) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = replaced.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let cut = trimmed.get(..MAX_LABEL_VALUE).unwrap_or(trimmed);
    let cut = cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    (!cut.is_empty()).then(|| cut.to_owned())
}

/// The annotations of §6: `baseDeviceInfos` (Go JSON map device name ->
/// `{"IP":"..","SuperDeviceID":n}`; IP `""` and SuperDeviceID 0 when
/// unknown, as Go's zero values), `superPodID` and `serverIndex` (-2 when
/// the driver reports no super pod) and `serverType` (`A3`, `npu` for
/// 950/A5 parts, else `""`, as upstream).
/// Nothing when there are no chips.
///
/// `baseDeviceInfos` names what upstream enumerates as the node's devices,
/// with `options` as the resources are named: each vNPU of a chip carved
/// into vNPUs, each share slot in share mode, each chip otherwise. Dynamic
/// vNPU mode changes nothing here: its AI cores are no devices of their
/// own, and the vNPUs found at start are listed as in static mode.
/// Volcano derives the node's chip list from these keys: a key with more
/// than one `-` (a vNPU) makes it use the ConfigMap's list instead, so a
/// chip kubelet never sees whole must not be listed whole here.
pub fn desired_annotations(
    inventory: &Inventory,
    options: NamingOptions,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(family) = inventory.family() else {
        return out;
    };
    let infos: BTreeMap<String, GoValue> = base_devices(inventory, options)
        .into_iter()
        .map(|(name, chip)| {
            let ip = chip.ip.map(|ip| ip.to_string()).unwrap_or_default();
            // 950 (A5) entries lead with the chip's logic id.
            let info = match chip.family {
                Family::Ascend950 => GoObject::new().field("DeviceID", chip.logic_id),
                _ => GoObject::new(),
            };
            let info = info
                .field("IP", ip)
                .field("SuperDeviceID", chip.super_device_id.unwrap_or(0));
            (name, GoValue::Object(info))
        })
        .collect();
    out.insert(
        BASE_DEVICE_INFOS.to_owned(),
        to_go_json(&GoValue::Map(infos)),
    );
    let (super_pod_id, server_index) = inventory.super_pod_placement();
    out.insert(SUPER_POD_ID.to_owned(), super_pod_id.to_string());
    out.insert(SERVER_INDEX.to_owned(), server_index.to_string());
    let server_type = match family {
        Family::Ascend910A3 => "A3",
        Family::Ascend950 => "npu",
        _ => "",
    };
    out.insert(SERVER_TYPE_ANNOTATION.to_owned(), server_type.to_owned());
    out
}

/// The `baseDeviceInfos` keys with the chip behind each: the device IDs as
/// named with `options` outside dynamic vNPU mode. Should the chips not be
/// nameable so (which discovery and the flag checks rule out), the chips'
/// own names.
fn base_devices(inventory: &Inventory, options: NamingOptions) -> Vec<(String, &Chip)> {
    let options = NamingOptions {
        dynamic_vnpu: false,
        ..options
    };
    let Ok(naming) = name_devices(inventory, options) else {
        return inventory.chips.iter().map(|c| (c.name(), c)).collect();
    };
    naming
        .resources
        .iter()
        .flat_map(|resource| &resource.devices)
        .filter_map(|device| {
            let chip = inventory.chip_by_phy(device.backing.phy_id())?;
            Some((device.id.clone(), chip))
        })
        .collect()
}

/// Merge patch setting only the desired labels and annotations whose value
/// differs from (or is missing in) the existing ones; never removes any.
/// `None` when nothing differs.
pub fn node_patch(
    existing_labels: &BTreeMap<String, String>,
    existing_annotations: &BTreeMap<String, String>,
    desired_labels: &BTreeMap<String, String>,
    desired_annotations: &BTreeMap<String, String>,
) -> Option<Value> {
    let mut metadata = Map::new();
    let labels = differing(existing_labels, desired_labels);
    if !labels.is_empty() {
        metadata.insert("labels".to_owned(), Value::Object(labels));
    }
    let annotations = differing(existing_annotations, desired_annotations);
    if !annotations.is_empty() {
        metadata.insert("annotations".to_owned(), Value::Object(annotations));
    }
    if metadata.is_empty() {
        return None;
    }
    let mut body = Map::new();
    body.insert("metadata".to_owned(), Value::Object(metadata));
    Some(Value::Object(body))
}

/// [`node_patch`] against a node as read from the API server.
pub fn node_patch_for(
    node: &Node,
    desired_labels: &BTreeMap<String, String>,
    desired_annotations: &BTreeMap<String, String>,
) -> Option<Value> {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let annotations = node.metadata.annotations.as_ref().unwrap_or(&empty);
    node_patch(labels, annotations, desired_labels, desired_annotations)
}

fn differing(
    existing: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Map<String, Value> {
    desired
        .iter()
        .filter(|(key, value)| existing.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect()
}

#[cfg(test)]
mod tests;
