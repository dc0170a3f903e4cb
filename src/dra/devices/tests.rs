use super::*;
use crate::dcmi::PciAddress;
use crate::device::faults::{FaultCode, FaultLevel};
use crate::device::health::ActiveFault;
use crate::device::model::fixtures::{chip, inventory};

fn healthy(phy_id: u32) -> ChipState {
    ChipState {
        phy_id,
        healthy: true,
        level: FaultLevel::Normal,
        faults: Vec::new(),
        network_healthy: true,
        dropped: false,
        recovering: false,
        manually_separated: false,
        reasons: Vec::new(),
        resetting: false,
    }
}

#[test]
fn device_names_are_dns_labels_and_parse_back_only_when_exact() {
    assert_eq!(device_name(12), "npu-12");
    assert_eq!(phy_of("npu-12"), Some(12));
    for bad in [
        "npu-",
        "npu-012",
        "Ascend910-3",
        "npu-3a",
        "npu--3",
        "vnpu-1",
        "npu-99999999999",
    ] {
        assert_eq!(phy_of(bad), None, "{bad}");
    }
}

#[test]
fn device_types_are_huaweis_values_with_the_950_as_a5() {
    assert_eq!(device_type(Family::Ascend910B), "Ascend910B");
    assert_eq!(device_type(Family::Ascend910A3), "Ascend910A3");
    assert_eq!(device_type(Family::Ascend950), "Ascend910A5");
    assert_eq!(device_type(Family::Ascend910), "Ascend910");
    assert_eq!(device_type(Family::Ascend310P), "Ascend310P");
}

#[test]
fn hccs_groups_follow_the_board_and_pcie_cards_have_none() {
    assert_eq!(hccs_group(Board::Module910, 5), Some((1, 4)));
    assert_eq!(hccs_group(Board::Module910B16, 9), Some((1, 8)));
    assert_eq!(hccs_group(Board::Module910B8, 7), Some((0, 8)));
    assert_eq!(hccs_group(Board::Card910, 1), None);
    assert_eq!(hccs_group(Board::A3, 1), None);
}

#[test]
fn attributes_carry_topology_pci_and_numa_and_skip_unknowns() {
    let mut c = chip(9, Family::Ascend910B);
    c.pci = Some(PciAddress {
        domain: 0,
        bus: 0x82,
        device: 0,
        function: 0,
    });
    c.numa_node = Some(1);
    c.chip_name = "910B3".into();
    let inv = inventory(vec![c.clone()]);
    let attrs = attributes(&c, &inv, Board::Module910B16);
    assert_eq!(attrs["physicId"].int, Some(9));
    assert_eq!(attrs["deviceType"].string.as_deref(), Some("Ascend910B"));
    assert_eq!(attrs["crossPair"].int, Some(1));
    assert_eq!(attrs["hccsGroup"].int, Some(1));
    assert_eq!(attrs["chipName"].string.as_deref(), Some("910B3"));
    assert_eq!(
        attrs["resource.kubernetes.io/pciBusID"].string.as_deref(),
        Some("0000:82:00.0")
    );
    assert_eq!(
        attrs["resource.kubernetes.io/pcieRoot"].string.as_deref(),
        Some("pci0000:82")
    );
    assert_eq!(attrs["resource.kubernetes.io/numaNode"].int, Some(1));
    let mut lone = chip(1, Family::Ascend310P);
    lone.numa_node = Some(-1);
    let attrs = attributes(&lone, &inventory(vec![lone.clone()]), Board::Generic);
    for absent in [
        "resource.kubernetes.io/numaNode",
        "hccsGroup",
        "crossPair",
        "deviceIp",
        "chipName",
    ] {
        assert!(!attrs.contains_key(absent), "{absent}");
    }
    assert!(
        attrs.len() + 2 <= 32,
        "attributes and capacity fit the API limit"
    );
}

#[test]
fn memory_is_spelled_as_the_api_server_echoes_it() {
    assert_eq!(mebibytes(65536), "64Gi");
    assert_eq!(mebibytes(1 << 20), "1Ti");
    assert_eq!(mebibytes(1500), "1500Mi");
}

#[test]
fn an_unhealthy_chip_is_tainted_with_its_level_and_worst_code() {
    assert!(taints(Some(&healthy(0))).is_empty());
    let mut sick = healthy(0);
    sick.healthy = false;
    sick.level = FaultLevel::SeparateNPU;
    sick.faults = vec![
        ActiveFault {
            code: FaultCode(0x8000_0001),
            level: FaultLevel::SubHealth,
            since_ms: 0,
        },
        ActiveFault {
            code: FaultCode(0x80E0_1801),
            level: FaultLevel::SeparateNPU,
            since_ms: 0,
        },
    ];
    let t = taints(Some(&sick));
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].key, TAINT_UNHEALTHY);
    assert_eq!(t[0].value.as_deref(), Some("SeparateNPU"));
    assert_eq!(t[0].effect, "NoSchedule");
    assert_eq!(t[1].key, TAINT_FAULT_CODE);
    assert_eq!(t[1].value.as_deref(), Some("80E01801"));
    let mut offline = healthy(0);
    offline.network_healthy = false;
    assert_eq!(taints(Some(&offline))[0].key, TAINT_NETWORK);
    assert_eq!(taints(None)[0].key, TAINT_UNHEALTHY);
}

#[test]
fn devices_come_in_phy_order_with_their_taints() {
    let inv = inventory(vec![chip(2, Family::Ascend910), chip(0, Family::Ascend910)]);
    let mut snapshot = Snapshot::default();
    snapshot.chips.insert(0, healthy(0));
    let list = devices(&inv, Board::Generic, &snapshot);
    let names: Vec<&str> = list.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["npu-0", "npu-2"]);
    assert!(list[0].taints.is_none());
    assert!(
        list[1].taints.is_some(),
        "a chip without a reading is tainted"
    );
}
