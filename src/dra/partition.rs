//! Fractional NPUs (pure): a chip of a family with vNPU templates (310P,
//! 910B) gets a counter set `npu-<phy>` of `aicore` and `memory`; the
//! whole-chip device consumes all of it and each template device
//! `npu-<phy>-<template>-<n>` its share, so the scheduler never hands out a
//! chip whole and sliced at once (KEP-4815 partitionable devices).

use std::collections::BTreeMap;

use k8s_openapi::api::resource::v1::{
    Counter, CounterSet, Device, DeviceAttribute, DeviceCapacity, DeviceCounterConsumption,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::devices::{device_name, mebibytes};
use crate::device::model::{Chip, Family};

/// The templates Huawei's driver offers for dynamic vNPUs on 310P.
const TEMPLATES_310P: [&str; 7] = [
    "vir01",
    "vir02",
    "vir02_1c",
    "vir04",
    "vir04_3c",
    "vir04_3c_ndvpp",
    "vir04_4c_dvpp",
];
/// The templates of 910B (memory fixed by the `_<N>g` part).
const TEMPLATES_910B: [&str; 9] = [
    "vir03_1c_8g",
    "vir05_1c_8g",
    "vir05_1c_16g",
    "vir06_1c_16g",
    "vir10_3c_16g",
    "vir10_3c_16g_nm",
    "vir10_3c_32g",
    "vir10_4c_16g_m",
    "vir12_3c_32g",
];

/// Counter names (the same as the capacity names).
pub const AICORE: &str = "aicore";
pub const MEMORY: &str = "memory";

/// The vNPU templates of a family; empty when it has none (whole chips only).
pub fn templates(family: Family) -> &'static [&'static str] {
    match family {
        Family::Ascend310P => &TEMPLATES_310P,
        Family::Ascend910B => &TEMPLATES_910B,
        _ => &[],
    }
}

/// What one vNPU of a template takes from its chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub aicore: u32,
    /// MiB; `None` when the chip's memory is unknown (no memory counter).
    pub memory_mb: Option<u64>,
}

/// The share of `template` on `chip`: the AI cores after `vir`, the memory
/// of the `_<N>g` part, else the chip's memory in proportion to the cores.
/// `None` for a template the chip cannot hold.
pub fn share(chip: &Chip, template: &str) -> Option<Share> {
    let mut parts = template.strip_prefix("vir")?.split('_');
    let aicore: u32 = parts.next()?.parse().ok()?;
    if aicore == 0 || aicore > chip.aicore {
        return None;
    }
    let fixed = parts
        .filter_map(|p| p.strip_suffix('g')?.parse::<u64>().ok())
        .next()
        .map(|gb| gb << 10);
    let memory_mb = match (chip.memory_mb.filter(|mb| *mb > 0), fixed) {
        (Some(total), Some(mb)) if mb > total => return None,
        (Some(_), Some(mb)) => Some(mb),
        (Some(total), None) => Some(total * u64::from(aicore) / u64::from(chip.aicore)),
        (None, _) => None,
    };
    Some(Share { aicore, memory_mb })
}

/// How many vNPUs of one template fit on an empty chip.
pub fn fits(chip: &Chip, share: Share) -> u32 {
    let by_cores = chip.aicore / share.aicore;
    match (chip.memory_mb, share.memory_mb) {
        (Some(total), Some(mb)) if mb > 0 => {
            by_cores.min(u32::try_from(total / mb).unwrap_or(u32::MAX))
        }
        _ => by_cores,
    }
}

/// Whether `chip` is published with partitions: its family has templates
/// and its AI cores are known. With partitions on, the driver owns the
/// chip's vNPUs (it destroys those no prepared claim holds at start).
pub fn partitionable(chip: &Chip) -> bool {
    !templates(chip.family).is_empty() && chip.aicore > 0
}

/// `npu-<phy>-<template>-<n>`: the template in lower case with `_` as `-`
/// (a DNS label has no `_`).
pub fn partition_name(phy_id: u32, template: &str, index: u32) -> String {
    format!(
        "npu-{phy_id}-{}-{index}",
        template.to_ascii_lowercase().replace('_', "-")
    )
}

/// A partition device name taken apart: `(phy, template)`, the template
/// one of `family`'s; `None` for anything else (whole chips included).
pub fn parse_partition(name: &str, family: Family) -> Option<(u32, &'static str)> {
    let rest = name.strip_prefix("npu-")?;
    let (phy, rest) = rest.split_once('-')?;
    let (template, index) = rest.rsplit_once('-')?;
    let canonical = |digits: &str| {
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits.len() == 1 || !digits.starts_with('0'))
    };
    if !canonical(phy) || !canonical(index) {
        return None;
    }
    let phy: u32 = phy.parse().ok()?;
    index.parse::<u32>().ok()?;
    let found = templates(family)
        .iter()
        .find(|t| t.replace('_', "-") == template)?;
    Some((phy, found))
}

/// The counter set name of a chip (the whole-chip device's name).
pub fn counter_set_name(phy_id: u32) -> String {
    device_name(phy_id)
}

fn counters(aicore: u32, memory_mb: Option<u64>) -> BTreeMap<String, Counter> {
    let mut out = BTreeMap::new();
    out.insert(
        AICORE.to_string(),
        Counter {
            value: Quantity(aicore.to_string()),
        },
    );
    if let Some(mb) = memory_mb {
        out.insert(
            MEMORY.to_string(),
            Counter {
                value: Quantity(mebibytes(mb)),
            },
        );
    }
    out
}

fn whole(chip: &Chip) -> Share {
    Share {
        aicore: chip.aicore,
        memory_mb: chip.memory_mb.filter(|mb| *mb > 0),
    }
}

/// The counter set of a partitionable chip: all its AI cores and memory.
pub fn counter_set(chip: &Chip) -> CounterSet {
    let all = whole(chip);
    CounterSet {
        name: counter_set_name(chip.phy_id),
        counters: counters(all.aicore, all.memory_mb),
    }
}

/// A device's draw on its chip's counter set.
pub fn consumption(phy_id: u32, share: Share) -> Vec<DeviceCounterConsumption> {
    vec![DeviceCounterConsumption {
        counter_set: counter_set_name(phy_id),
        counters: counters(share.aicore, share.memory_mb),
        compatibility_groups: None,
    }]
}

/// The whole-chip device made partitionable: it consumes all the counters.
pub fn consume_whole(chip: &Chip, device: &mut Device) {
    device.consumes_counters = Some(consumption(chip.phy_id, whole(chip)));
}

/// Every template device of `chip`, derived from its whole-chip device
/// (same attributes and taints, `type` = `vnpu`, `vnpuTemplate` added,
/// capacity and counters of the share).
pub fn partition_devices(chip: &Chip, whole_chip: &Device) -> Vec<Device> {
    let mut out = Vec::new();
    for template in templates(chip.family) {
        let Some(share) = share(chip, template) else {
            continue;
        };
        for index in 0..fits(chip, share) {
            let mut attributes = whole_chip.attributes.clone().unwrap_or_default();
            attributes.insert(
                "type".into(),
                DeviceAttribute {
                    string: Some("vnpu".into()),
                    ..Default::default()
                },
            );
            attributes.insert(
                "vnpuTemplate".into(),
                DeviceAttribute {
                    string: Some((*template).to_string()),
                    ..Default::default()
                },
            );
            let mut capacity = BTreeMap::new();
            capacity.insert(
                AICORE.to_string(),
                DeviceCapacity {
                    value: Quantity(share.aicore.to_string()),
                    ..Default::default()
                },
            );
            if let Some(mb) = share.memory_mb {
                capacity.insert(
                    MEMORY.to_string(),
                    DeviceCapacity {
                        value: Quantity(mebibytes(mb)),
                        ..Default::default()
                    },
                );
            }
            out.push(Device {
                name: partition_name(chip.phy_id, template, index),
                attributes: Some(attributes),
                capacity: Some(capacity),
                consumes_counters: Some(consumption(chip.phy_id, share)),
                taints: whole_chip.taints.clone(),
                ..Default::default()
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
