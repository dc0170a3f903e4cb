//! What the node has: cards, chips (dies), vNPUs and their identities.
//!
//! Built once by discovery from DCMI; immutable afterwards except through a
//! new discovery. Health lives in the snapshot, not here.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Chip generation, decided from DCMI's chip name and board id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    #[serde(rename = "310")]
    Ascend310,
    #[serde(rename = "310B")]
    Ascend310B,
    #[serde(rename = "310P")]
    Ascend310P,
    #[serde(rename = "910")]
    Ascend910,
    #[serde(rename = "910B")]
    Ascend910B,
    #[serde(rename = "910A3")]
    Ascend910A3,
    #[serde(rename = "950")]
    Ascend950,
}

/// Board ids of 910A3 (their chip name is just "Ascend910").
const A3_BOARD_IDS: [u32; 9] = [0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0x81, 0x83, 0xd1, 0xd3];
/// Board ids of the 910B inference boards (Atlas 300I A2 and relatives).
const INFERENCE_910B_BOARD_IDS: [u32; 3] = [0x28, 0x29, 0x69];

impl Family {
    /// The first matching rule of `spec/dcmi.md` wins: board id first, then the chip name.
    pub fn classify(chip_name: &str, board_id: Option<u32>) -> Option<Family> {
        if board_id.is_some_and(|id| A3_BOARD_IDS.contains(&id)) {
            return Some(Family::Ascend910A3);
        }
        if chip_name.starts_with("Ascend950") {
            return Some(Family::Ascend950);
        }
        if is_310p_name(chip_name) {
            return Some(Family::Ascend310P);
        }
        if chip_name.contains("310B") {
            return Some(Family::Ascend310B);
        }
        if chip_name.contains("310") {
            return Some(Family::Ascend310);
        }
        if is_910b_name(chip_name) {
            return Some(Family::Ascend910B);
        }
        if chip_name.starts_with("910") {
            return Some(Family::Ascend910);
        }
        None
    }

    /// `<Type>` of `huawei.com/<Type>`: the 910 generations share one resource.
    pub fn resource_type(self) -> &'static str {
        match self {
            Family::Ascend310 | Family::Ascend310B => "Ascend310",
            Family::Ascend310P => "Ascend310P",
            Family::Ascend910 | Family::Ascend910B | Family::Ascend910A3 => "Ascend910",
            Family::Ascend950 => "npu",
        }
    }

    /// Value of the node label `accelerator`.
    pub fn accelerator_label(self) -> String {
        format!("huawei-{}", self.resource_type())
    }

    /// The family's short name as labels and `servertype` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ascend310 => "Ascend310",
            Family::Ascend310B => "Ascend310B",
            Family::Ascend310P => "Ascend310P",
            Family::Ascend910 => "Ascend910",
            Family::Ascend910B => "Ascend910B",
            Family::Ascend910A3 => "Ascend910A3",
            Family::Ascend950 => "Ascend950",
        }
    }

    /// 910, 910B and 910A3: HBM, RoCE networking, the configuration annotation.
    pub fn is_910_family(self) -> bool {
        matches!(
            self,
            Family::Ascend910 | Family::Ascend910B | Family::Ascend910A3
        )
    }

    /// Share mode (shareDevCount > 1) exists only for these.
    pub fn supports_share_mode(self) -> bool {
        matches!(
            self,
            Family::Ascend310 | Family::Ascend310B | Family::Ascend310P
        )
    }

    /// Inference = the 310 family, or 910B on an inference board.
    pub fn is_inference(self, board_id: Option<u32>) -> bool {
        match self {
            Family::Ascend310 | Family::Ascend310B | Family::Ascend310P => true,
            Family::Ascend910B => board_id.is_some_and(|id| INFERENCE_910B_BOARD_IDS.contains(&id)),
            _ => false,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `^(310P\d?|I2\d?)`
fn is_310p_name(name: &str) -> bool {
    ["310P", "I2"]
        .iter()
        .any(|prefix| name.strip_prefix(prefix).is_some())
}

/// `^(910B\d|A2G\d)`
fn is_910b_name(name: &str) -> bool {
    ["910B", "A2G"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Which memory a chip reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    Hbm,
    Ddr,
}

pub use crate::dcmi::PciAddress;

/// A virtual NPU carved out of one chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vnpu {
    /// Driver id, >= 100; the N of `/dev/vdavinciN`.
    pub vdev_id: u32,
    /// Template name, e.g. `vir02`.
    pub template: String,
    pub aicore: u32,
}

/// One chip (one die on dual-die cards): the unit kubelet allocates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chip {
    pub card_id: i32,
    /// Index of the chip within its card (DCMI's `device_id`).
    pub device_index: i32,
    pub logic_id: u32,
    /// The N of `/dev/davinciN`; device IDs are built from it.
    pub phy_id: u32,
    pub family: Family,
    pub chip_name: String,
    pub chip_type: String,
    pub chip_version: String,
    pub npu_name: Option<String>,
    pub board_id: Option<u32>,
    pub product_type: Option<String>,
    pub aicore: u32,
    pub memory_mb: Option<u64>,
    pub memory_kind: MemoryKind,
    pub ip: Option<IpAddr>,
    pub pci: Option<PciAddress>,
    pub numa_node: Option<i64>,
    pub vnpus: Vec<Vnpu>,
    /// Super device id inside the super pod (A3), from DCMI's SPOD info.
    pub super_device_id: Option<u32>,
}

impl Chip {
    /// `Ascend910-3`: the physical chip name used in annotations and ConfigMaps.
    pub fn name(&self) -> String {
        format!("{}-{}", self.family.resource_type(), self.phy_id)
    }

    /// On an Atlas 300I Duo card (two 310P chips), by DCMI's product type.
    pub fn is_300i_duo(&self) -> bool {
        self.product_type.as_deref() == Some("Atlas 300I Duo")
    }
}

/// Super-pod placement reported by A3 nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SuperPod {
    pub super_pod_id: i64,
    pub server_index: i64,
    pub sdid: u32,
}

/// The super pod id and server index written to the cluster when the driver
/// reports no super pod (its query fails on parts without one): upstream's
/// -2. An A3 outside a super pod answers -1 itself.
pub const NO_SUPER_POD: i64 = -2;

/// Everything discovery found, chips sorted by phy id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub chips: Vec<Chip>,
    pub dcmi_version: Option<String>,
    pub driver_version: Option<String>,
    pub super_pod: Option<SuperPod>,
}

impl Inventory {
    /// The node's family; discovery guarantees all chips share one.
    pub fn family(&self) -> Option<Family> {
        self.chips.first().map(|chip| chip.family)
    }

    /// `(super pod id, server index)` as the cluster sees them: the
    /// driver's, else [`NO_SUPER_POD`] for both.
    pub fn super_pod_placement(&self) -> (i64, i64) {
        self.super_pod.map_or((NO_SUPER_POD, NO_SUPER_POD), |sp| {
            (sp.super_pod_id, sp.server_index)
        })
    }

    pub fn chip_by_phy(&self, phy_id: u32) -> Option<&Chip> {
        self.chips.iter().find(|chip| chip.phy_id == phy_id)
    }

    pub fn chip_by_logic(&self, logic_id: u32) -> Option<&Chip> {
        self.chips.iter().find(|chip| chip.logic_id == logic_id)
    }
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_board_then_name_rules() {
        let cases = [
            ("Ascend910", Some(0xb0), Some(Family::Ascend910A3)),
            ("Ascend910", Some(0xd3), Some(Family::Ascend910A3)),
            ("Ascend950PR", None, Some(Family::Ascend950)),
            ("310P3", None, Some(Family::Ascend310P)),
            ("310P", None, Some(Family::Ascend310P)),
            ("I2", None, Some(Family::Ascend310P)),
            ("310B1", None, Some(Family::Ascend310B)),
            ("310", None, Some(Family::Ascend310)),
            ("910B3", Some(0x22), Some(Family::Ascend910B)),
            ("A2G1", None, Some(Family::Ascend910B)),
            ("910B", None, Some(Family::Ascend910)),
            ("910ProB", None, Some(Family::Ascend910)),
            ("Ascend910", Some(0x22), None),
            ("710", None, None),
        ];
        for (name, board, expected) in cases {
            assert_eq!(Family::classify(name, board), expected, "{name} {board:?}");
        }
    }

    #[test]
    fn all_910_generations_share_the_ascend910_resource() {
        for family in [Family::Ascend910, Family::Ascend910B, Family::Ascend910A3] {
            assert_eq!(family.resource_type(), "Ascend910");
            assert_eq!(family.accelerator_label(), "huawei-Ascend910");
        }
        assert_eq!(Family::Ascend310B.resource_type(), "Ascend310");
        assert_eq!(Family::Ascend310P.resource_type(), "Ascend310P");
        assert_eq!(Family::Ascend950.resource_type(), "npu");
    }

    #[test]
    fn inference_is_the_310_family_and_910b_inference_boards() {
        assert!(Family::Ascend310P.is_inference(None));
        assert!(Family::Ascend910B.is_inference(Some(0x28)));
        assert!(!Family::Ascend910B.is_inference(Some(0x22)));
        assert!(!Family::Ascend910.is_inference(None));
    }

    #[test]
    fn pci_addresses_print_like_sysfs_names() {
        let pci = PciAddress {
            domain: 0,
            bus: 0xc1,
            device: 0,
            function: 0,
        };
        assert_eq!(pci.to_string(), "0000:c1:00.0");
    }
}
