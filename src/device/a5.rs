//! Ascend 950 (A5): discovery through the v2 API and the node facts its
//! Allocate answer needs (`spec/recovery.md` §5).
//!
//! A5 chips have no card: each is addressed by its logic id
//! ([`crate::dcmi::V2_CARD`] as card, the logic id as device), named
//! `npu-<phy>`, and shown to containers by its logic id.

use std::collections::BTreeMap;
use std::path::Path;

use super::discovery::{DiscoveryError, read_numa_node, validate};
use super::model::{Chip, Family, Inventory, MemoryKind, SuperPod};
use crate::dcmi::{Api, DcmiError, V2_CARD};

/// Where the driver installs the HCCL topology files of the 950 generation.
const TOPO_DIR: &str = "/usr/local/Ascend/driver/topo/950";

/// Node facts read once after discovery, for Allocate and the node labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct A5Node {
    /// `dcmiv2_get_mainboard_id` of the first chip.
    pub mainboard_id: Option<u32>,
    /// Board id of the first chip.
    pub board_id: Option<u32>,
    /// Super-pod type of the first chip (CHIP_INF / SPOD_INFO).
    pub super_pod_type: Option<u32>,
}

/// What an A5 Allocate needs besides the chips.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct A5Style {
    /// phy id -> logic id: containers see logic ids.
    pub logic_of_phy: BTreeMap<u32, u32>,
    /// `HCCL_TOPO_FILE_PATH`, when the node's type is known.
    pub hccl_topo_file: Option<String>,
}

/// The `cardType` node annotation: Atlas 350 cards by board and main board.
pub fn card_type(board_id: Option<u32>, mainboard_id: Option<u32>) -> Option<&'static str> {
    match (board_id, mainboard_id) {
        (_, Some(0x6c)) => Some("300I-Atlas350-4p"),
        (Some(0x1a..=0x1c), Some(0x68)) => Some("300I-Atlas350"),
        _ => None,
    }
}

/// The HCCL topology file for the node: by card type, else by the first
/// chip's super-pod type; `None` for an unknown type (upstream logs an
/// error and sets nothing).
pub fn hccl_topo_file(node: &A5Node) -> Option<String> {
    let file = match card_type(node.board_id, node.mainboard_id) {
        Some("300I-Atlas350") => "atlas_350_1.json",
        Some(_) => "atlas_350_3.json",
        None => match node.super_pod_type? {
            0 => "atlas_850_1.json",
            1 => "atlas_950_1.json",
            2 => "atlas_950_2.json",
            3 => "atlas_850_2.json",
            4 => "atlas_850_3.json",
            _ => return None,
        },
    };
    Some(format!("{TOPO_DIR}/{file}"))
}

/// The Allocate facts of an A5 inventory; `None` for other families.
pub fn style(inventory: &Inventory, node: &A5Node) -> Option<A5Style> {
    if inventory.family() != Some(Family::Ascend950) {
        return None;
    }
    Some(A5Style {
        logic_of_phy: inventory
            .chips
            .iter()
            .map(|chip| (chip.phy_id, chip.logic_id))
            .collect(),
        hccl_topo_file: hccl_topo_file(node),
    })
}

/// Reads [`A5Node`] from the first chip; blocking (calls the driver).
pub fn read_node(api: &Api, inventory: &Inventory) -> Result<Option<A5Node>, DcmiError> {
    let Some(first) = inventory
        .chips
        .iter()
        .find(|chip| chip.family == Family::Ascend950)
    else {
        return Ok(None);
    };
    let logic = first.logic_id;
    Ok(Some(A5Node {
        mainboard_id: api.v2_mainboard_id(logic)?,
        board_id: first.board_id,
        super_pod_type: api
            .spod_info(V2_CARD, logic)?
            .map(|spod| spod.super_pod_type),
    }))
}

/// Every chip through the v2 API: the logic-id list, then per chip its
/// phy id, identity, board, memory and PCI address. Only A5 chips are
/// accepted on a v2 driver.
pub fn discover(api: &Api, sys_root: &Path) -> Result<Inventory, DiscoveryError> {
    let logic_ids = api.v2_logic_ids()?;
    if logic_ids.is_empty() {
        return Err(DiscoveryError::NoCards);
    }
    let mut chips = Vec::new();
    let mut super_pod = None;
    for logic_id in logic_ids {
        let in_chip = |source: DcmiError| DiscoveryError::Chip {
            card: V2_CARD,
            device: logic_id,
            source,
        };
        let chip = discover_chip(api, logic_id, sys_root)?;
        if super_pod.is_none() {
            super_pod = api
                .spod_info(V2_CARD, logic_id)
                .map_err(in_chip)?
                .map(|spod| SuperPod {
                    super_pod_id: i64::from(spod.super_pod_id.cast_signed()),
                    server_index: i64::from(spod.server_index.cast_signed()),
                    sdid: spod.sdid,
                });
        }
        chips.push(chip);
    }
    validate(&chips)?;
    chips.sort_by_key(|chip| chip.phy_id);
    let version = api.v2_dcmi_version()?;
    Ok(Inventory {
        chips,
        driver_version: version.clone(),
        dcmi_version: version,
        super_pod,
    })
}

fn discover_chip(api: &Api, logic_id: u32, sys_root: &Path) -> Result<Chip, DiscoveryError> {
    let in_chip = |source: DcmiError| DiscoveryError::Chip {
        card: V2_CARD,
        device: logic_id,
        source,
    };
    let phy_id = api.v2_phy_id(logic_id).map_err(in_chip)?;
    let info = api.v2_chip_info(logic_id).map_err(in_chip)?;
    let board_id = api.v2_board_id(logic_id).map_err(in_chip)?;
    let unsupported = || DiscoveryError::Unsupported {
        card: V2_CARD,
        device: logic_id,
        chip_name: info.chip_name.clone(),
        board: board_id.map_or("unknown".to_string(), |id| format!("{id:#x}")),
    };
    let family = Family::classify(&info.chip_name, board_id).ok_or_else(unsupported)?;
    // The v2 API is the 950 generation's; its family rule also bounds the
    // name (upstream: at most 32 characters).
    if family != Family::Ascend950 || info.chip_name.len() > 32 {
        return Err(unsupported());
    }
    if !(1..=64).contains(&info.aicore) {
        return Err(DiscoveryError::AiCores {
            card: V2_CARD,
            device: logic_id,
            aicore: info.aicore,
        });
    }
    let memory_mb = api.v2_memory_mb(logic_id).map_err(in_chip)?;
    let pci = api.v2_pci_address(logic_id).map_err(in_chip)?;
    let numa_node = pci.and_then(|address| read_numa_node(sys_root, &address.to_string()));
    Ok(Chip {
        card_id: V2_CARD,
        // Upstream keeps -1 for both: an A5 chip has no card or index in it.
        device_index: V2_CARD,
        logic_id,
        phy_id,
        family,
        chip_name: info.chip_name,
        chip_type: info.chip_type,
        chip_version: info.chip_version,
        npu_name: info.npu_name,
        board_id,
        product_type: None,
        aicore: info.aicore,
        memory_mb,
        memory_kind: MemoryKind::Hbm,
        ip: None,
        pci,
        numa_node,
        vnpus: Vec::new(),
        super_device_id: None,
    })
}

#[cfg(test)]
mod tests;
