//! Content of the device-info ConfigMap that Volcano reads (compat §5), as a
//! pure function of the node's chip reports: the `DeviceInfoCfg` value with
//! its Go-compatible CheckCode, and the `ManuallySeparateNPU` list.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cluster::gojson::{GoObject, GoValue, to_go_json};
use crate::device::faults::{FaultCode, FaultLevel, is_network};

/// What the health monitor knows about one physical chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipReport {
    /// Device name, `<Type>-<phyID>`, e.g. `Ascend910-3`.
    pub name: String,
    pub healthy: bool,
    pub network_healthy: bool,
    /// Not allocated to any pod.
    pub free: bool,
    /// Advertised whole: not carved into static vNPUs. A carved chip is
    /// never listed as free, since kubelet never offers it whole.
    pub whole: bool,
    pub recovering: bool,
    /// Current codes with their graded level and fault time (unix ms).
    pub fault_codes: Vec<(FaultCode, FaultLevel, u64)>,
}

/// Everything `DeviceInfoCfg` is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// `<Type>` of the resource, e.g. `Ascend910`.
    pub resource_type: String,
    pub family_is_910: bool,
    pub super_pod_id: i64,
    pub server_index: i64,
    /// Unix seconds.
    pub update_time: i64,
    /// Chip names an operator isolated (the `ManuallySeparateNPU` key).
    pub manually_separated: Vec<String>,
    pub chips: Vec<ChipReport>,
}

/// `DeviceList`: key -> comma-joined chip names (or the Fault JSON).
pub type DeviceList = BTreeMap<String, String>;

/// `fault_type` of a chip's own faults.
pub const CARD_UNHEALTHY: &str = "CardUnhealthy";
/// `fault_type` of a chip's network faults.
pub const CARD_NETWORK_UNHEALTHY: &str = "CardNetworkUnhealthy";

const PREFIX: &str = "huawei.com/";

/// The `DeviceList` for the node. Keys, as the Go plugin writes them (always
/// present, empty string when no chip qualifies):
/// - `huawei.com/T`: healthy, free, whole (not carved into static vNPUs)
///   and not manually separated;
/// - `huawei.com/T-Unhealthy`: unhealthy or manually separated;
/// - `huawei.com/T-NetworkUnhealthy` and `huawei.com/T-Recovering`: 910
///   family only (the Go 310 and 310P managers do not write them);
/// - `huawei.com/T-Fault`: the fault JSON array (`[]` when none).
///
/// Each list is sorted as strings, as upstream writes them
/// (`Ascend910-1,Ascend910-10,Ascend910-2`); the fault entries go by the
/// numeric suffix. A manually separated name that is no chip of this node
/// is ignored here.
pub fn device_list(node: &NodeReport) -> DeviceList {
    let chips = sorted_chips(&node.chips);
    let manual: BTreeSet<&str> = node.manually_separated.iter().map(String::as_str).collect();
    let is_manual = |c: &ChipReport| manual.contains(c.name.as_str());
    let names = |pick: &dyn Fn(&ChipReport) -> bool| {
        let mut picked: Vec<&str> = chips
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.name.as_str())
            .collect();
        picked.sort_unstable();
        picked.join(",")
    };
    let t = &node.resource_type;
    let mut list = DeviceList::new();
    list.insert(
        format!("{PREFIX}{t}"),
        names(&|c| c.healthy && c.free && c.whole && !is_manual(c)),
    );
    list.insert(
        format!("{PREFIX}{t}-Unhealthy"),
        names(&|c| !c.healthy || is_manual(c)),
    );
    if node.family_is_910 {
        list.insert(
            format!("{PREFIX}{t}-NetworkUnhealthy"),
            names(&|c| !c.network_healthy),
        );
        list.insert(format!("{PREFIX}{t}-Recovering"), names(&|c| c.recovering));
    }
    list.insert(format!("{PREFIX}{t}-Fault"), fault_json(&chips, &manual));
    list
}

/// The `DeviceInfoCfg` value:
/// `{"DeviceInfo":{"DeviceList":{..},"UpdateTime":N},"SuperPodID":S,"ServerIndex":I,"CheckCode":"<hex>"}`
/// in the Go plugin's struct field order (its optional `RackID` is omitted,
/// as Go omits it when unset).
pub fn device_info_cfg(node: &NodeReport) -> String {
    let list = device_list(node);
    let check_code = check_code_of(&list, node.update_time);
    let cfg = GoObject::new()
        .field("DeviceInfo", inner_info(&list, node.update_time))
        .field("SuperPodID", node.super_pod_id)
        .field("ServerIndex", node.server_index)
        .field("CheckCode", check_code);
    to_go_json(&cfg.into())
}

/// Lower-case hex SHA-256 of the Go serialisation of
/// `{"DeviceList":{..},"UpdateTime":N}`.
pub fn check_code_of(device_list: &DeviceList, update_time: i64) -> String {
    let json = to_go_json(&inner_info(device_list, update_time).into());
    hex::encode(Sha256::digest(json.as_bytes()))
}

fn inner_info(device_list: &DeviceList, update_time: i64) -> GoObject {
    GoObject::new()
        .field("DeviceList", device_list)
        .field("UpdateTime", update_time)
}

/// Whether two `DeviceInfoCfg` values say the same thing apart from
/// `UpdateTime`: same `DeviceList`, `SuperPodID` and `ServerIndex`, and each
/// one's CheckCode right for its own content. Anything unparsable, or a
/// CheckCode that does not match, counts as different, so the writer repairs
/// it instead of keeping it.
pub fn content_equal_ignoring_time(a: &str, b: &str) -> bool {
    match (parse_cfg(a), parse_cfg(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// (DeviceList, SuperPodID, ServerIndex) of a well-formed, self-consistent
/// `DeviceInfoCfg`.
fn parse_cfg(text: &str) -> Option<(DeviceList, Value, Value)> {
    let root: Value = serde_json::from_str(text).ok()?;
    let info = root.get("DeviceInfo")?;
    let update_time = info.get("UpdateTime")?.as_i64()?;
    let list: DeviceList = info
        .get("DeviceList")?
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect::<Option<_>>()?;
    if root.get("CheckCode")?.as_str()? != check_code_of(&list, update_time) {
        return None;
    }
    let super_pod = root.get("SuperPodID").cloned().unwrap_or(Value::Null);
    let server_index = root.get("ServerIndex").cloned().unwrap_or(Value::Null);
    Some((list, super_pod, server_index))
}

/// Most names `parse_manually_separate` keeps, and the longest name.
const MAX_SEPARATED: usize = 1024;
const MAX_NAME_LEN: usize = 50;

/// Reads the `ManuallySeparateNPU` value: a comma list of chip names. Trims
/// each, drops empties and anything not shaped `<Type>-<n>` (Type ASCII
/// letters and digits, n decimal without a leading zero), removes duplicates
/// and returns them sorted like the DeviceList. At most 1024 names are kept.
pub fn parse_manually_separate(value: &str) -> Vec<String> {
    let mut names: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|n| looks_like_chip_name(n))
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort_by(|a, b| chip_sort_key(a).cmp(&chip_sort_key(b)));
    names.truncate(MAX_SEPARATED);
    names
}

/// Writes the `ManuallySeparateNPU` value back: the names, cleaned up as
/// [`parse_manually_separate`] does, comma-joined.
pub fn format_manually_separate(names: &[String]) -> String {
    parse_manually_separate(&names.join(",")).join(",")
}

fn looks_like_chip_name(name: &str) -> bool {
    let Some((kind, number)) = name.rsplit_once('-') else {
        return false;
    };
    name.len() <= MAX_NAME_LEN
        && !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_alphanumeric())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && (number == "0" || !number.starts_with('0'))
}

/// Sort key: type prefix, then the numeric suffix, then the whole name (for
/// names without a number).
fn chip_sort_key(name: &str) -> (&str, u64, &str) {
    match name.rsplit_once('-') {
        Some((kind, n)) => match n.parse::<u64>() {
            Ok(n) => (kind, n, name),
            Err(_) => (name, u64::MAX, name),
        },
        None => (name, u64::MAX, name),
    }
}

fn sorted_chips(chips: &[ChipReport]) -> Vec<&ChipReport> {
    let mut sorted: Vec<&ChipReport> = chips.iter().collect();
    sorted.sort_by(|a, b| chip_sort_key(&a.name).cmp(&chip_sort_key(&b.name)));
    sorted
}

/// The `T-Fault` value: a JSON array with, per chip in name order, a
/// `CardNetworkUnhealthy` entry when it has network codes or bad network
/// health, then a `CardUnhealthy` entry when it has other codes, is
/// unhealthy or is manually separated (as the Go plugin lists them). An
/// entry's level is the worst of its codes (`ManuallySeparateNPU` for a
/// separated chip; `NormalNPU` when unhealthy without any code, as upstream
/// writes it).
fn fault_json(chips: &[&ChipReport], manual: &BTreeSet<&str>) -> String {
    let mut entries = Vec::new();
    for chip in chips {
        let (network, own): (Vec<_>, Vec<_>) = chip
            .fault_codes
            .iter()
            .copied()
            .partition(|(code, _, _)| is_network(*code));
        if !network.is_empty() || !chip.network_healthy {
            entries.push(fault_entry(
                CARD_NETWORK_UNHEALTHY,
                &chip.name,
                &network,
                false,
            ));
        }
        let separated = manual.contains(chip.name.as_str());
        if !own.is_empty() || !chip.healthy || separated {
            entries.push(fault_entry(CARD_UNHEALTHY, &chip.name, &own, separated));
        }
    }
    to_go_json(&GoValue::Array(entries))
}

/// One Go `DeviceFault` struct, fields in its declared order. Codes are
/// de-duplicated (earliest time, worst level) and listed in numeric order so
/// the content does not change with the order DCMI reports them in.
fn fault_entry(
    fault_type: &str,
    name: &str,
    codes: &[(FaultCode, FaultLevel, u64)],
    separated: bool,
) -> GoValue {
    let mut merged: BTreeMap<FaultCode, (u64, FaultLevel)> = BTreeMap::new();
    for &(code, level, time) in codes {
        let slot = merged.entry(code).or_insert((time, level));
        *slot = (slot.0.min(time), slot.1.max(level));
    }
    let worst = merged.values().map(|&(_, level)| level).max();
    let level = match (worst, separated) {
        (_, true) => FaultLevel::ManuallySeparateNPU,
        (Some(level), false) => level,
        (None, false) => FaultLevel::Normal,
    };
    let code_list: Vec<String> = merged.keys().map(|c| c.go_hex()).collect();
    let times: BTreeMap<String, GoValue> = merged
        .iter()
        .map(|(code, &(time, level))| {
            let entry = GoObject::new()
                .field("fault_time", time)
                .field("fault_level", level.as_str());
            (code.go_hex(), entry.into())
        })
        .collect();
    GoObject::new()
        .field("fault_type", fault_type)
        .field("npu_name", name)
        .field("large_model_fault_level", level.as_str())
        .field("fault_level", level.as_str())
        .field("fault_handling", level.as_str())
        .field("fault_code", code_list.join(","))
        .field("fault_time_and_level_map", GoValue::Map(times))
        .into()
}

#[cfg(test)]
mod tests;
