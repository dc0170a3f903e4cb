//! Pure translations between a resource's devices and kubelet's messages:
//! the ListAndWatch list (health from the snapshot, NUMA from discovery) and
//! GetPreferredAllocation (device IDs <-> chips for the topology rules).

use std::collections::{BTreeMap, BTreeSet};

use super::allocate::{MAX_ID_LEN, MAX_IDS_PER_REQUEST, truncate};
use crate::device::health::Snapshot;
use crate::device::naming::{Backing, Resource};
use crate::device::topology::{self, Board, Candidate, Request};
use crate::proto::deviceplugin::{Device, NumaNode, TopologyInfo};

/// kubelet's health strings.
pub const HEALTHY: &str = "Healthy";
pub const UNHEALTHY: &str = "Unhealthy";

/// What the pure functions need to know about chips beyond the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChipFacts {
    /// phy id -> NUMA node, where sysfs knows it.
    pub numa: BTreeMap<u32, i64>,
}

/// The full list kubelet gets for `resource`: every device, its chip's
/// health (vNPUs and share slots inherit it), and its NUMA node.
pub fn device_list(resource: &Resource, snapshot: &Snapshot, facts: &ChipFacts) -> Vec<Device> {
    device_list_with(resource, snapshot, facts, |_| None)
}

/// [`device_list`] where `real(id)` may name another chip whose health a
/// device reports (Volcano mode: the chip the pod really got). NUMA stays
/// the advertised chip's, as kubelet's topology hints are about that ID.
/// Which chip each device reports: [`reported_chips`].
pub fn device_list_with(
    resource: &Resource,
    snapshot: &Snapshot,
    facts: &ChipFacts,
    real: impl Fn(&str) -> Option<u32>,
) -> Vec<Device> {
    let reported = reported_chips(resource, real);
    resource
        .devices
        .iter()
        .zip(reported)
        .map(|(device, phy)| {
            let nominal = device.backing.phy_id();
            Device {
                id: device.id.clone(),
                health: if snapshot.is_healthy(phy) {
                    HEALTHY
                } else {
                    UNHEALTHY
                }
                .to_string(),
                topology: facts.numa.get(&nominal).map(|&node| TopologyInfo {
                    nodes: vec![NumaNode { id: node }],
                }),
            }
        })
        .collect()
}

/// The chip whose health each device of `resource` reports, in device
/// order. A device `real` maps reports that chip. On a resource of whole
/// chips every chip is reported by exactly one device, so a fault costs one
/// device, as upstream: a mapped device takes its real chip (the first of
/// two mapped to one chip keeps it); an unmapped device keeps its own chip
/// unless a mapped device took it; the devices left take the chips left
/// (whose own devices were mapped elsewhere), both in device order. In the
/// plain swap (ID 1 mapped to chip 3) ID 3 reports chip 1. Sub-chip devices
/// (vNPUs, share slots, AI cores) report their mapped or own chip.
pub fn reported_chips(resource: &Resource, real: impl Fn(&str) -> Option<u32>) -> Vec<u32> {
    let own: Vec<u32> = resource
        .devices
        .iter()
        .map(|d| d.backing.phy_id())
        .collect();
    let mapped: Vec<Option<u32>> = resource.devices.iter().map(|d| real(&d.id)).collect();
    let whole_chips = resource
        .devices
        .iter()
        .all(|d| matches!(d.backing, Backing::Chip { .. }));
    if !whole_chips {
        return own
            .iter()
            .zip(&mapped)
            .map(|(&own, &mapped)| mapped.unwrap_or(own))
            .collect();
    }
    let chips: BTreeSet<u32> = own.iter().copied().collect();
    let mut reported: Vec<Option<u32>> = vec![None; own.len()];
    let mut taken = BTreeSet::new();
    for (slot, target) in reported.iter_mut().zip(&mapped) {
        if let Some(phy) = target.filter(|phy| chips.contains(phy) && taken.insert(*phy)) {
            *slot = Some(phy);
        }
    }
    for (slot, &phy) in reported.iter_mut().zip(&own) {
        if slot.is_none() && taken.insert(phy) {
            *slot = Some(phy);
        }
    }
    let mut left = chips.difference(&taken).copied();
    reported
        .iter()
        .zip(&own)
        .map(|(slot, &phy)| slot.or_else(|| left.next()).unwrap_or(phy))
        .collect()
}

/// A preferred-allocation request kubelet could not have sent. IDs are
/// checked with Allocate's limits and quoted cut short like Allocate's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferError {
    #[error("allocation_size {0} is not positive")]
    BadSize(i32),
    #[error("allocation_size {0} is more than {MAX_IDS_PER_REQUEST}")]
    TooLarge(i32),
    #[error("{list} holds {count} device IDs (at most {max})")]
    TooMany {
        list: &'static str,
        count: usize,
        max: usize,
    },
    #[error("device ID {0:?} is longer than {MAX_ID_LEN} characters")]
    TooLong(String),
    #[error("device ID {0:?} is not a device of this resource")]
    Unknown(String),
    #[error("{0}")]
    Topology(#[from] topology::TopologyError),
}

/// One container's hint: exactly `size` IDs from `available`, including
/// `must_include`. Whole chips follow the board's topology rules; vNPUs,
/// share slots and AI cores are packed onto the fewest chips.
pub fn preferred(
    resource: &Resource,
    board: Board,
    snapshot: &Snapshot,
    facts: &ChipFacts,
    available: &[String],
    must_include: &[String],
    size: i32,
) -> Result<Vec<String>, PreferError> {
    let size = match usize::try_from(size) {
        Ok(0) | Err(_) => return Err(PreferError::BadSize(size)),
        Ok(s) if s > MAX_IDS_PER_REQUEST => return Err(PreferError::TooLarge(size)),
        Ok(s) => s,
    };
    // kubelet offers every free ID: a soft-share node has 100 per chip,
    // more than one request may ask for.
    let offered = MAX_IDS_PER_REQUEST.max(resource.devices.len());
    for (list, ids, max) in [
        ("available_deviceIDs", available, offered),
        ("must_include_deviceIDs", must_include, MAX_IDS_PER_REQUEST),
    ] {
        if ids.len() > max {
            return Err(PreferError::TooMany {
                list,
                count: ids.len(),
                max,
            });
        }
        if let Some(long) = ids.iter().find(|id| id.len() > MAX_ID_LEN) {
            return Err(PreferError::TooLong(truncate(long)));
        }
    }
    let lookup = |id: &String| {
        resource
            .device(id)
            .map(|d| d.backing)
            .ok_or_else(|| PreferError::Unknown(id.clone()))
    };
    let available_backings: Vec<(String, Backing)> = available
        .iter()
        .map(|id| lookup(id).map(|b| (id.clone(), b)))
        .collect::<Result<_, _>>()?;
    for id in must_include {
        lookup(id)?;
    }
    let whole_chips = available_backings
        .iter()
        .all(|(_, backing)| matches!(backing, Backing::Chip { .. }));
    if whole_chips {
        let candidates: Vec<Candidate> = available_backings
            .iter()
            .map(|(_, backing)| {
                let phy = backing.phy_id();
                Candidate {
                    phy,
                    numa: facts.numa.get(&phy).copied(),
                    healthy: snapshot.is_healthy(phy),
                }
            })
            .collect();
        let must: Vec<u32> = must_include
            .iter()
            .filter_map(|id| resource.device(id).map(|d| d.backing.phy_id()))
            .collect();
        let choice = topology::choose(
            board,
            &Request {
                available: &candidates,
                must_include: &must,
                size,
            },
        )?;
        if let Some(note) = &choice.note {
            tracing::debug!(resource = %resource.type_name, %note, "preferred allocation is a best effort");
        }
        let by_phy: BTreeMap<u32, &String> = available_backings
            .iter()
            .map(|(id, backing)| (backing.phy_id(), id))
            .collect();
        return Ok(choice
            .phys
            .iter()
            .filter_map(|phy| by_phy.get(phy).map(|id| (*id).clone()))
            .collect());
    }
    Ok(pack(&available_backings, must_include, size, snapshot))
}

/// For sub-chip devices: must-includes first, then devices of the chips
/// already chosen, then of the chips with the most free devices (healthy
/// first); ties by device order. Deterministic.
fn pack(
    available: &[(String, Backing)],
    must_include: &[String],
    size: usize,
    snapshot: &Snapshot,
) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::with_capacity(size);
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for id in must_include {
        if chosen.len() < size && taken.insert(id.as_str()) {
            chosen.push(id.clone());
        }
    }
    let mut free_per_chip: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, backing) in available {
        *free_per_chip.entry(backing.phy_id()).or_default() += 1;
    }
    let used_chips: BTreeSet<u32> = available
        .iter()
        .filter(|(id, _)| taken.contains(id.as_str()))
        .map(|(_, b)| b.phy_id())
        .collect();
    let mut rest: Vec<&(String, Backing)> = available
        .iter()
        .filter(|(id, _)| !taken.contains(id.as_str()))
        .collect();
    rest.sort_by_key(|(id, backing)| {
        let phy = backing.phy_id();
        (
            !snapshot.is_healthy(phy),
            !used_chips.contains(&phy),
            std::cmp::Reverse(free_per_chip.get(&phy).copied().unwrap_or(0)),
            phy,
            id.clone(),
        )
    });
    for (id, _) in rest {
        if chosen.len() >= size {
            break;
        }
        chosen.push(id.clone());
    }
    chosen
}

#[cfg(test)]
mod tests;
