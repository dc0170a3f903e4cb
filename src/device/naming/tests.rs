#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::model::Vnpu;

use crate::device::model::fixtures::{chip, inventory};

const PLAIN: NamingOptions = NamingOptions {
    share_dev_count: 1,
    mixed_insert_310p: false,
    dynamic_vnpu: false,
};

fn ids(resource: &Resource) -> Vec<&str> {
    resource.devices.iter().map(|d| d.id.as_str()).collect()
}

#[test]
fn physical_chips_are_named_by_phy_id_not_logic_id() {
    let mut chips: Vec<Chip> = (0..4).map(|phy| chip(phy, Family::Ascend910B)).collect();
    chips[0].logic_id = 3;
    chips[3].logic_id = 0;
    chips.reverse();
    let naming = name_devices(&inventory(chips), PLAIN).unwrap();
    assert_eq!(naming.resources.len(), 1);
    let resource = &naming.resources[0];
    assert_eq!(resource.resource_name(), "huawei.com/Ascend910");
    assert_eq!(resource.socket_name(), "Ascend910.sock");
    assert_eq!(
        ids(resource),
        ["Ascend910-0", "Ascend910-1", "Ascend910-2", "Ascend910-3"]
    );
    assert_eq!(
        resource.device("Ascend910-2").unwrap().backing,
        Backing::Chip { phy_id: 2 }
    );
}

#[test]
fn static_vnpus_get_one_resource_per_template_and_hide_their_chip() {
    let mut with_vnpus = chip(0, Family::Ascend310P);
    with_vnpus.vnpus = vec![
        Vnpu {
            vdev_id: 100,
            template: "vir02".into(),
            aicore: 2,
        },
        Vnpu {
            vdev_id: 101,
            template: "vir02".into(),
            aicore: 2,
        },
        Vnpu {
            vdev_id: 102,
            template: "vir04_3c".into(),
            aicore: 4,
        },
    ];
    let naming = name_devices(
        &inventory(vec![with_vnpus, chip(1, Family::Ascend310P)]),
        PLAIN,
    )
    .unwrap();
    let names: Vec<&str> = naming
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert_eq!(names, ["Ascend310P", "Ascend310P-2c", "Ascend310P-4c.3cpu"]);
    assert_eq!(ids(&naming.resources[0]), ["Ascend310P-1"]);
    assert_eq!(
        ids(&naming.resources[1]),
        ["Ascend310P-2c-100-0", "Ascend310P-2c-101-0"]
    );
    assert_eq!(ids(&naming.resources[2]), ["Ascend310P-4c.3cpu-102-0"]);
    assert!(naming.resources[1].is_virtual);
    assert_eq!(
        naming.resources[2].devices[0].backing,
        Backing::Vnpu {
            phy_id: 0,
            vdev_id: 102
        }
    );
}

#[test]
fn a_910_vnpu_is_named_like_the_upstream_example() {
    let mut c = chip(0, Family::Ascend910);
    c.vnpus = vec![Vnpu {
        vdev_id: 100,
        template: "vir02".into(),
        aicore: 2,
    }];
    let naming = name_devices(&inventory(vec![c]), PLAIN).unwrap();
    assert_eq!(ids(&naming.resources[0]), ["Ascend910-2c-100-0"]);
}

#[test]
fn a_vnpu_with_an_unknown_template_is_skipped_and_reported() {
    let mut c = chip(0, Family::Ascend310P);
    c.vnpus = vec![Vnpu {
        vdev_id: 100,
        template: "vir99".into(),
        aicore: 2,
    }];
    let naming = name_devices(&inventory(vec![c]), PLAIN).unwrap();
    assert!(naming.resources.is_empty());
    assert_eq!(naming.skipped.len(), 1);
    assert!(naming.skipped[0].contains("vir99"), "{:?}", naming.skipped);
}

#[test]
fn share_mode_advertises_each_chip_n_times() {
    let options = NamingOptions {
        share_dev_count: 3,
        ..PLAIN
    };
    let naming = name_devices(
        &inventory(vec![
            chip(0, Family::Ascend310P),
            chip(1, Family::Ascend310P),
        ]),
        options,
    )
    .unwrap();
    assert_eq!(
        ids(&naming.resources[0]),
        [
            "Ascend310P-0-0",
            "Ascend310P-0-1",
            "Ascend310P-0-2",
            "Ascend310P-1-0",
            "Ascend310P-1-1",
            "Ascend310P-1-2"
        ]
    );
    assert_eq!(
        naming.resources[0].devices[4].backing,
        Backing::Share { phy_id: 1, slot: 1 }
    );
}

#[test]
fn share_mode_is_refused_for_training_chips() {
    let options = NamingOptions {
        share_dev_count: 2,
        ..PLAIN
    };
    let error = name_devices(&inventory(vec![chip(0, Family::Ascend910B)]), options).unwrap_err();
    assert!(error.to_string().contains("shareDevCount"), "{error}");
}

#[test]
fn mixed_insert_splits_310p_cards_by_product_type() {
    let mut chips: Vec<Chip> = (0..3).map(|phy| chip(phy, Family::Ascend310P)).collect();
    chips[0].product_type = Some("Atlas 300V".into());
    chips[1].product_type = Some("Atlas 300V Pro".into());
    chips[2].product_type = Some("Atlas 300I Pro".into());
    let options = NamingOptions {
        mixed_insert_310p: true,
        ..PLAIN
    };
    let naming = name_devices(&inventory(chips.clone()), options).unwrap();
    let all: Vec<(&str, Vec<&str>)> = naming
        .resources
        .iter()
        .map(|r| (r.type_name.as_str(), ids(r)))
        .collect();
    assert_eq!(
        all,
        [
            ("Ascend310P-IPro", vec!["Ascend310P-IPro-2"]),
            ("Ascend310P-V", vec!["Ascend310P-V-0"]),
            ("Ascend310P-VPro", vec!["Ascend310P-VPro-1"]),
        ]
    );
    chips[1].product_type = Some("Atlas 300I Duo".into());
    let error = name_devices(&inventory(chips), options).unwrap_err();
    assert!(error.to_string().contains("Ascend310P-1"), "{error}");
}

#[test]
fn dynamic_vnpu_mode_advertises_one_id_per_ai_core() {
    let options = NamingOptions {
        dynamic_vnpu: true,
        ..PLAIN
    };
    let mut chips = vec![chip(0, Family::Ascend310P), chip(1, Family::Ascend310P)];
    chips[0].aicore = 2;
    chips[1].aicore = 3;
    let naming = name_devices(&inventory(chips), options).unwrap();
    assert_eq!(naming.resources.len(), 1);
    assert_eq!(naming.resources[0].resource_name(), "huawei.com/npu-core");
    assert_eq!(
        ids(&naming.resources[0]),
        [
            "npu-core-0",
            "npu-core-1",
            "npu-core-2",
            "npu-core-3",
            "npu-core-4"
        ]
    );
    assert_eq!(
        naming.resources[0].devices[2].backing,
        Backing::Core { phy_id: 1, core: 0 }
    );
}

#[test]
fn naming_is_deterministic_whatever_order_discovery_found_chips_in() {
    let forward: Vec<Chip> = (0..8).map(|phy| chip(phy, Family::Ascend910)).collect();
    let mut backward = forward.clone();
    backward.reverse();
    assert_eq!(
        name_devices(&inventory(forward), PLAIN).unwrap(),
        name_devices(&inventory(backward), PLAIN).unwrap()
    );
}

#[test]
fn every_template_of_the_contract_has_a_suffix() {
    assert_eq!(
        template_suffix("vir10_3c_16g_nm"),
        Some("10c.3cpu.16g.ndvpp")
    );
    assert_eq!(template_suffix("vir04_4c_dvpp"), Some("4c.4cpu.dvpp"));
    assert_eq!(template_suffix("vir12_3c_32g"), Some("12c.3cpu.32g"));
    assert_eq!(TEMPLATE_SUFFIXES.len(), 18);
    assert!(!is_known_template("vir03"));
}

#[test]
fn a5_chips_are_npu_by_phy_id_and_refuse_dynamic_vnpus() {
    let mut chips: Vec<Chip> = (0..2).map(|phy| chip(phy, Family::Ascend950)).collect();
    chips[0].logic_id = 1;
    chips[1].logic_id = 0;
    let inventory = inventory(chips);
    let naming = name_devices(&inventory, PLAIN).unwrap();
    let resource = &naming.resources[0];
    assert_eq!(resource.resource_name(), "huawei.com/npu");
    assert_eq!(resource.socket_name(), "npu.sock");
    assert_eq!(ids(resource), ["npu-0", "npu-1"]);
    let dynamic = NamingOptions {
        dynamic_vnpu: true,
        ..PLAIN
    };
    assert_eq!(
        name_devices(&inventory, dynamic),
        Err(NamingError::DynamicVnpuOn950)
    );
}
