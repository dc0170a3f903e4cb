//! DCMI -> [`Inventory`]: every card, chip and vNPU, validated and sorted.
//!
//! Runs on a blocking thread (it calls the driver). NUMA nodes come from
//! `<sys-root>/bus/pci/devices/<address>/numa_node`.

use std::collections::BTreeSet;
use std::path::Path;

use super::model::{Chip, Family, Inventory, MemoryKind, SuperPod, Vnpu};
use crate::dcmi::{Api, DcmiError};

/// Discovery could not produce a trustworthy inventory.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("{0}")]
    Dcmi(#[from] DcmiError),
    #[error("card {card} chip {device}: {source}")]
    Chip {
        card: i32,
        device: u32,
        #[source]
        source: DcmiError,
    },
    #[error(
        "card {card} chip {device}: unsupported chip {chip_name:?} (board id {board}); supported: 310, 310B, 310P, 910, 910B, 910A3, 950"
    )]
    Unsupported {
        card: i32,
        device: u32,
        chip_name: String,
        board: String,
    },
    #[error("the driver reports no cards")]
    NoCards,
    #[error("{what} {id} is reported for two chips")]
    DuplicateId { what: &'static str, id: u32 },
    #[error("this node mixes {0} and {1} chips; one chip family per node is supported")]
    MixedFamilies(Family, Family),
    #[error("card {card} chip {device}: AI core count {aicore} is outside 1..64")]
    AiCores { card: i32, device: u32, aicore: u32 },
}

/// Reads the whole node from the driver.
pub fn discover(api: &Api, sys_root: &Path) -> Result<Inventory, DiscoveryError> {
    if api.is_v2() {
        return super::a5::discover(api, sys_root);
    }
    let cards = api.card_list()?;
    if cards.is_empty() {
        return Err(DiscoveryError::NoCards);
    }
    let mut chips = Vec::new();
    let mut super_pod = None;
    for &card in &cards {
        for device in 0..api.device_count(card)? {
            let in_chip = |source: DcmiError| DiscoveryError::Chip {
                card,
                device,
                source,
            };
            let mut chip = discover_chip(api, card, device, sys_root)?;
            if chip.family == Family::Ascend910A3 {
                let spod = api.spod_info(card, device).map_err(in_chip)?;
                chip.super_device_id = spod.map(|s| s.sdid);
                if super_pod.is_none() {
                    super_pod = spod.map(|spod| SuperPod {
                        // 32-bit as the driver's int fields (and Go's
                        // int32): "no super pod" is 0xFFFFFFFF, i.e. -1.
                        super_pod_id: i64::from(spod.super_pod_id.cast_signed()),
                        server_index: i64::from(spod.server_index.cast_signed()),
                        sdid: spod.sdid,
                    });
                }
            }
            chips.push(chip);
        }
    }
    validate(&chips)?;
    chips.sort_by_key(|chip| chip.phy_id);
    let version = api.dcmi_version()?;
    Ok(Inventory {
        chips,
        driver_version: version.clone(),
        dcmi_version: version,
        super_pod,
    })
}

fn discover_chip(
    api: &Api,
    card: i32,
    device: u32,
    sys_root: &Path,
) -> Result<Chip, DiscoveryError> {
    let in_chip = |source: DcmiError| DiscoveryError::Chip {
        card,
        device,
        source,
    };
    let logic_id = api.logic_id(card, device).map_err(in_chip)?;
    let phy_id = api.phy_id(logic_id).map_err(in_chip)?;
    let info = api.chip_info(card, device).map_err(in_chip)?;
    let board_id = api.board_id(card, device).map_err(in_chip)?;
    let family =
        Family::classify(&info.chip_name, board_id).ok_or_else(|| DiscoveryError::Unsupported {
            card,
            device,
            chip_name: info.chip_name.clone(),
            board: board_id.map_or("unknown".to_string(), |id| format!("{id:#x}")),
        })?;
    let product_type = api.product_type(card, device).map_err(in_chip)?;
    let ip = if family.is_910_family() {
        api.device_ip(card, device).map_err(in_chip)?
    } else {
        None
    };
    let total = api.total_resource(card, device).map_err(in_chip)?;
    let aicore = total.as_ref().and_then(|t| t.aicore).unwrap_or(info.aicore);
    if !(1..=64).contains(&aicore) {
        return Err(DiscoveryError::AiCores {
            card,
            device,
            aicore,
        });
    }
    let mut vnpus = Vec::new();
    for vdev_id in total.map(|t| t.vdev_ids).unwrap_or_default() {
        let (template, aicore) = api.vnpu(card, device, vdev_id).map_err(in_chip)?;
        vnpus.push(Vnpu {
            vdev_id,
            template,
            aicore,
        });
    }
    vnpus.sort_by_key(|v| v.vdev_id);
    let hbm = family.is_910_family();
    let memory_mb = api.memory_mb(card, device, hbm).map_err(in_chip)?;
    let pci = api.pci_address(card, device).map_err(in_chip)?;
    let numa_node = pci.and_then(|address| read_numa_node(sys_root, &address.to_string()));
    Ok(Chip {
        card_id: card,
        device_index: i32::try_from(device).unwrap_or(i32::MAX),
        logic_id,
        phy_id,
        family,
        chip_name: info.chip_name,
        chip_type: info.chip_type,
        chip_version: info.chip_version,
        npu_name: info.npu_name,
        board_id,
        product_type,
        aicore,
        memory_mb,
        memory_kind: if hbm {
            MemoryKind::Hbm
        } else {
            MemoryKind::Ddr
        },
        ip,
        pci,
        numa_node,
        vnpus,
        super_device_id: None,
    })
}

/// `numa_node` of a PCI device; -1 (no affinity), absent or garbage -> None.
pub fn read_numa_node(sys_root: &Path, pci_address: &str) -> Option<i64> {
    let path = sys_root
        .join("bus/pci/devices")
        .join(pci_address)
        .join("numa_node");
    let text = std::fs::read_to_string(path).ok()?;
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|node| (0..1024).contains(node))
}

pub(super) fn validate(chips: &[Chip]) -> Result<(), DiscoveryError> {
    let mut phys = BTreeSet::new();
    let mut logics = BTreeSet::new();
    for chip in chips {
        if !phys.insert(chip.phy_id) {
            return Err(DiscoveryError::DuplicateId {
                what: "phy id",
                id: chip.phy_id,
            });
        }
        if !logics.insert(chip.logic_id) {
            return Err(DiscoveryError::DuplicateId {
                what: "logic id",
                id: chip.logic_id,
            });
        }
    }
    if let Some(first) = chips.first()
        && let Some(other) = chips
            .iter()
            .find(|c| c.family.resource_type() != first.family.resource_type())
    {
        return Err(DiscoveryError::MixedFamilies(first.family, other.family));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numa_nodes_are_read_from_the_injected_sysfs_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("bus/pci/devices/0000:c1:00.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("numa_node"), "1\n").unwrap();
        assert_eq!(read_numa_node(root.path(), "0000:c1:00.0"), Some(1));
        std::fs::write(dir.join("numa_node"), "-1\n").unwrap();
        assert_eq!(read_numa_node(root.path(), "0000:c1:00.0"), None);
        assert_eq!(read_numa_node(root.path(), "0000:c2:00.0"), None);
    }
}
