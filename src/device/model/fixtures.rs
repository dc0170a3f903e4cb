//! Test-only builders: a plain chip and an inventory around chips, which
//! tests adjust with struct-update syntax.

use super::{Chip, Family, Inventory, MemoryKind};

/// A chip on its own card (card id = phy id = logic id), 8 AI cores, no
/// board id, memory, IP, PCI address or vNPUs.
pub fn chip(phy_id: u32, family: Family) -> Chip {
    Chip {
        card_id: i32::try_from(phy_id).unwrap_or(i32::MAX),
        device_index: 0,
        logic_id: phy_id,
        phy_id,
        family,
        chip_name: String::new(),
        chip_type: "Ascend".into(),
        chip_version: "V1".into(),
        npu_name: None,
        board_id: None,
        product_type: None,
        aicore: 8,
        memory_mb: None,
        memory_kind: MemoryKind::Ddr,
        ip: None,
        pci: None,
        numa_node: None,
        vnpus: Vec::new(),
        super_device_id: None,
    }
}

/// An inventory of `chips` with no versions and no super pod.
pub fn inventory(chips: Vec<Chip>) -> Inventory {
    Inventory {
        chips,
        dcmi_version: None,
        driver_version: None,
        super_pod: None,
    }
}
