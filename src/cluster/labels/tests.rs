#![allow(clippy::unwrap_used, clippy::expect_used)]

// The baseDeviceInfos strings below were produced by Go 1.26
// `json.Marshal(map[string]*NpuBaseInfo{...})` and are kept verbatim.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

use super::*;
use crate::device::model::{MemoryKind, SuperPod, Vnpu, fixtures};

fn chip(phy_id: u32, family: Family, chip_name: &str) -> Chip {
    Chip {
        card_id: 0,
        chip_name: chip_name.into(),
        board_id: Some(0x22),
        aicore: 20,
        memory_mb: Some(65_536),
        memory_kind: MemoryKind::Hbm,
        ..fixtures::chip(phy_id, family)
    }
}

fn inventory(chips: Vec<Chip>) -> Inventory {
    Inventory {
        driver_version: Some("24.1.rc2".into()),
        ..fixtures::inventory(chips)
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const WHOLE_CHIPS: NamingOptions = NamingOptions {
    share_dev_count: 1,
    mixed_insert_310p: false,
    dynamic_vnpu: false,
};

/// An Atlas 300I Duo node like the `310p-duo-vnpu` topology: two cards of
/// two chips; chip 0 carved into two vir02 vNPUs, chip 1 into a vir04.
fn node_300i_duo() -> Inventory {
    let mut chips: Vec<Chip> = (0..4)
        .map(|phy| Chip {
            card_id: i32::try_from(phy / 2).unwrap(),
            product_type: Some("Atlas 300I Duo".into()),
            ..chip(phy, Family::Ascend310P, "310P3")
        })
        .collect();
    let vnpu = |vdev_id, template: &str| Vnpu {
        vdev_id,
        template: template.into(),
        aicore: 2,
    };
    chips[0].vnpus = vec![vnpu(100, "vir02"), vnpu(101, "vir02")];
    chips[1].vnpus = vec![vnpu(102, "vir04")];
    inventory(chips)
}

fn base_device_names(annotations: &BTreeMap<String, String>) -> Vec<String> {
    let infos: serde_json::Map<String, Value> =
        serde_json::from_str(&annotations[BASE_DEVICE_INFOS]).unwrap();
    infos.keys().cloned().collect()
}

fn node_910b3() -> Inventory {
    inventory(
        (0..8)
            .map(|phy| chip(phy, Family::Ascend910B, "910B3"))
            .collect(),
    )
}

#[test]
fn a_910b3_node_gets_every_label_of_section_6() {
    let desired = desired_labels(&node_910b3(), &BTreeMap::new());
    assert_eq!(
        desired.labels,
        map(&[
            (ACCELERATOR, "huawei-Ascend910"),
            (CHIP_NAME, "910B3"),
            (SERVER_TYPE, "Ascend910B-20"),
            (DRIVER_VERSION, "24.1.rc2"),
            (CHIP_MEMORY, "64G"),
        ])
    );
    assert!(desired.issues.is_empty());
}

#[test]
fn servertype_is_proposed_only_when_the_node_has_none() {
    let existing = map(&[(SERVER_TYPE, "Ascend910B-24")]);
    let desired = desired_labels(&node_910b3(), &existing);
    assert!(!desired.labels.contains_key(SERVER_TYPE));
}

#[test]
fn the_300i_a2_board_gets_accelerator_type_card_910b_infer() {
    for (board, expected) in [(0x28, true), (0x29, true), (0x69, false), (0x22, false)] {
        let mut inv = node_910b3();
        inv.chips[0].board_id = Some(board);
        let labels = desired_labels(&inv, &BTreeMap::new()).labels;
        assert_eq!(
            labels.get(ACCELERATOR_TYPE).map(String::as_str),
            expected.then_some(CARD_910B_INFER),
            "board {board:#x}"
        );
    }
    let mut other = inventory(vec![chip(0, Family::Ascend310P, "310P3")]);
    other.chips[0].board_id = Some(0x28);
    assert!(
        !desired_labels(&other, &BTreeMap::new())
            .labels
            .contains_key(ACCELERATOR_TYPE)
    );
}

#[test]
fn other_families_label_their_own_accelerator_servertype_and_memory() {
    let mut p310 = chip(0, Family::Ascend310P, "310P3");
    p310.aicore = 8;
    p310.memory_kind = MemoryKind::Ddr;
    let labels = desired_labels(&inventory(vec![p310]), &BTreeMap::new()).labels;
    assert_eq!(labels.get(ACCELERATOR).unwrap(), "huawei-Ascend310P");
    assert_eq!(labels.get(SERVER_TYPE).unwrap(), "Ascend310P-8");
    assert!(
        !labels.contains_key(CHIP_MEMORY),
        "DDR is no on-chip memory"
    );

    let labels = desired_labels(
        &inventory(vec![chip(0, Family::Ascend950, "Ascend950PR")]),
        &BTreeMap::new(),
    )
    .labels;
    assert_eq!(labels.get(ACCELERATOR).unwrap(), "huawei-npu");
    assert_eq!(labels.get(SERVER_TYPE).unwrap(), "npu-20");

    let mut a3 = chip(0, Family::Ascend910A3, "Ascend910");
    a3.memory_mb = Some(65_535);
    let labels = desired_labels(&inventory(vec![a3]), &BTreeMap::new()).labels;
    assert_eq!(labels.get(SERVER_TYPE).unwrap(), "Ascend910A3-20");
    assert_eq!(
        labels.get(CHIP_MEMORY).unwrap(),
        "63G",
        "rounded down as Go does"
    );
}

#[test]
fn an_invalid_driver_version_is_sanitised_and_reported() {
    let mut inv = node_910b3();
    inv.driver_version = Some("23.0.rc3+b050".into());
    let desired = desired_labels(&inv, &BTreeMap::new());
    assert_eq!(desired.labels.get(DRIVER_VERSION).unwrap(), "23.0.rc3_b050");
    assert_eq!(
        desired.issues,
        [LabelIssue {
            key: DRIVER_VERSION.into(),
            original: "23.0.rc3+b050".into(),
            written: Some("23.0.rc3_b050".into()),
        }]
    );
    assert!(desired.issues[0].to_string().contains("23.0.rc3+b050"));
}

#[test]
fn a_value_with_nothing_valid_left_is_skipped_and_reported() {
    let mut inv = node_910b3();
    inv.driver_version = Some("+++".into());
    inv.chips[0].chip_name = String::new();
    let desired = desired_labels(&inv, &BTreeMap::new());
    assert!(!desired.labels.contains_key(DRIVER_VERSION));
    assert!(!desired.labels.contains_key(CHIP_NAME));
    let skipped: Vec<&str> = desired
        .issues
        .iter()
        .filter(|issue| issue.written.is_none())
        .map(|issue| issue.key.as_str())
        .collect();
    assert_eq!(skipped, [CHIP_NAME, DRIVER_VERSION]);
}

#[test]
fn label_values_follow_the_kubernetes_rules() {
    for valid in ["a", "910B3", "24.1.rc2", "a-b_c.d", &"x".repeat(63)] {
        assert!(is_valid_label_value(valid), "{valid:?}");
    }
    for invalid in ["", "-a", "a-", ".a", "a+b", "a b", "é", &"x".repeat(64)] {
        assert!(!is_valid_label_value(invalid), "{invalid:?}");
    }
    assert_eq!(sanitise_label_value(&"v".repeat(70)).unwrap().len(), 63);
    assert_eq!(
        sanitise_label_value(&format!("{}-.x", "v".repeat(62))).as_deref(),
        Some("v".repeat(62).as_str()),
        "a cut never ends on a separator"
    );
    assert_eq!(sanitise_label_value("--ré--").as_deref(), Some("r"));
    assert_eq!(sanitise_label_value("..."), None);
}

#[test]
fn base_device_infos_match_go_byte_for_byte_with_go_map_key_order() {
    let mut chips: Vec<Chip> = [0, 1, 2, 10]
        .into_iter()
        .map(|phy| chip(phy, Family::Ascend910B, "910B3"))
        .collect();
    chips[0].ip = Some("192.168.100.101".parse().unwrap());
    chips[1].ip = Some("192.168.100.102".parse().unwrap());
    chips[3].ip = Some("192.168.100.111".parse().unwrap());
    let annotations = desired_annotations(&inventory(chips), WHOLE_CHIPS);
    assert_eq!(
        annotations,
        map(&[
            (
                BASE_DEVICE_INFOS,
                r#"{"Ascend910-0":{"IP":"192.168.100.101","SuperDeviceID":0},"Ascend910-1":{"IP":"192.168.100.102","SuperDeviceID":0},"Ascend910-10":{"IP":"192.168.100.111","SuperDeviceID":0},"Ascend910-2":{"IP":"","SuperDeviceID":0}}"#
            ),
            (SUPER_POD_ID, "-2"),
            (SERVER_INDEX, "-2"),
            (SERVER_TYPE_ANNOTATION, ""),
        ])
    );
}

#[test]
fn a3_annotations_carry_super_pod_placement_and_super_device_ids() {
    let mut chips: Vec<Chip> = (0..2)
        .map(|phy| chip(phy, Family::Ascend910A3, "Ascend910"))
        .collect();
    chips[0].ip = Some("192.168.1.0".parse().unwrap());
    chips[1].ip = Some("192.168.1.1".parse().unwrap());
    for chip in &mut chips {
        chip.super_device_id = Some(37_748_736 + chip.phy_id);
    }
    let mut inv = inventory(chips);
    inv.super_pod = Some(SuperPod {
        super_pod_id: 3,
        server_index: 5,
        sdid: 37_748_736,
    });
    let annotations = desired_annotations(&inv, WHOLE_CHIPS);
    assert_eq!(
        annotations.get(BASE_DEVICE_INFOS).unwrap(),
        r#"{"Ascend910-0":{"IP":"192.168.1.0","SuperDeviceID":37748736},"Ascend910-1":{"IP":"192.168.1.1","SuperDeviceID":37748737}}"#
    );
    assert_eq!(annotations.get(SUPER_POD_ID).unwrap(), "3");
    assert_eq!(annotations.get(SERVER_INDEX).unwrap(), "5");
    assert_eq!(annotations.get(SERVER_TYPE_ANNOTATION).unwrap(), "A3");
}

#[test]
fn a_node_without_chips_gets_no_labels_or_annotations() {
    let empty = inventory(Vec::new());
    assert_eq!(
        desired_labels(&empty, &BTreeMap::new()),
        DesiredLabels::default()
    );
    assert!(desired_annotations(&empty, WHOLE_CHIPS).is_empty());
}

#[test]
fn the_node_is_patched_only_where_values_differ() {
    let desired_l = map(&[(ACCELERATOR, "huawei-Ascend910"), (CHIP_NAME, "910B3")]);
    let desired_a = map(&[(SUPER_POD_ID, "-1")]);
    let same_l = map(&[
        (ACCELERATOR, "huawei-Ascend910"),
        (CHIP_NAME, "910B3"),
        ("other", "x"),
    ]);
    let same_a = map(&[(SUPER_POD_ID, "-1")]);
    assert_eq!(node_patch(&same_l, &same_a, &desired_l, &desired_a), None);

    let stale_l = map(&[
        (ACCELERATOR, "huawei-Ascend910"),
        (CHIP_NAME, "910B4"),
        ("other", "x"),
    ]);
    assert_eq!(
        node_patch(&stale_l, &same_a, &desired_l, &desired_a)
            .unwrap()
            .to_string(),
        r#"{"metadata":{"labels":{"node.kubernetes.io/npu.chip.name":"910B3"}}}"#
    );
    assert_eq!(
        node_patch(&same_l, &BTreeMap::new(), &desired_l, &desired_a)
            .unwrap()
            .to_string(),
        r#"{"metadata":{"annotations":{"superPodID":"-1"}}}"#
    );
}

#[test]
fn node_patch_for_reads_a_node_without_labels_or_annotations() {
    let node = Node {
        metadata: ObjectMeta::default(),
        ..Node::default()
    };
    let desired_l = map(&[(ACCELERATOR, "huawei-Ascend910")]);
    let patch = node_patch_for(&node, &desired_l, &BTreeMap::new()).unwrap();
    assert_eq!(
        patch.to_string(),
        r#"{"metadata":{"labels":{"accelerator":"huawei-Ascend910"}}}"#
    );
    let labelled = Node {
        metadata: ObjectMeta {
            labels: Some(desired_l.clone()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    assert_eq!(
        node_patch_for(&labelled, &desired_l, &BTreeMap::new()),
        None
    );
}

proptest! {
    #[test]
    fn sanitised_label_values_are_always_valid(value in "\\PC{0,100}") {
        if let Some(clean) = sanitise_label_value(&value) {
            prop_assert!(is_valid_label_value(&clean), "{clean:?}");
        }
        if is_valid_label_value(&value) {
            prop_assert_eq!(sanitise_label_value(&value), Some(value.clone()));
        }
    }
}

#[test]
fn a_chip_carved_into_static_vnpus_is_listed_by_its_vnpus_in_base_device_infos() {
    let annotations = desired_annotations(&node_300i_duo(), WHOLE_CHIPS);
    assert_eq!(
        base_device_names(&annotations),
        [
            "Ascend310P-2",
            "Ascend310P-2c-100-0",
            "Ascend310P-2c-101-0",
            "Ascend310P-3",
            "Ascend310P-4c-102-1",
        ]
    );
}

#[test]
fn base_device_infos_follow_share_mode_and_ignore_dynamic_vnpu_mode() {
    let chips = || {
        (0..2)
            .map(|phy| chip(phy, Family::Ascend310P, "310P3"))
            .collect()
    };
    let shared = NamingOptions {
        share_dev_count: 2,
        ..WHOLE_CHIPS
    };
    let annotations = desired_annotations(&inventory(chips()), shared);
    assert_eq!(
        base_device_names(&annotations),
        [
            "Ascend310P-0-0",
            "Ascend310P-0-1",
            "Ascend310P-1-0",
            "Ascend310P-1-1"
        ]
    );
    let dynamic = NamingOptions {
        dynamic_vnpu: true,
        ..WHOLE_CHIPS
    };
    let annotations = desired_annotations(&inventory(chips()), dynamic);
    assert_eq!(
        base_device_names(&annotations),
        ["Ascend310P-0", "Ascend310P-1"]
    );
    // vNPUs found at start are listed in dynamic mode too, as upstream.
    assert_eq!(
        desired_annotations(&node_300i_duo(), dynamic),
        desired_annotations(&node_300i_duo(), WHOLE_CHIPS)
    );
}

#[test]
fn a_node_of_atlas_300i_duo_cards_only_is_labelled_for_volcanos_duo_handler() {
    let duo = desired_labels(&node_300i_duo(), &BTreeMap::new());
    assert_eq!(
        duo.labels.get(INFER_CARD_TYPE).map(String::as_str),
        Some(CARD_300I_DUO)
    );
    let mut mixed = node_300i_duo();
    mixed.chips[3].product_type = Some("Atlas 300I Pro".into());
    let labels = desired_labels(&mixed, &BTreeMap::new()).labels;
    assert!(!labels.contains_key(INFER_CARD_TYPE), "one card is no Duo");
    let mut unknown = node_300i_duo();
    for chip in &mut unknown.chips {
        chip.product_type = None;
    }
    let labels = desired_labels(&unknown, &BTreeMap::new()).labels;
    assert!(
        !labels.contains_key(INFER_CARD_TYPE),
        "no product type known"
    );
    let labels = desired_labels(&node_910b3(), &BTreeMap::new()).labels;
    assert!(!labels.contains_key(INFER_CARD_TYPE));
}

#[test]
fn an_a3_node_inside_a_super_pod_gets_the_topology_label_others_do_not() {
    let a3 = || inventory(vec![chip(0, Family::Ascend910A3, "Ascend910")]);
    let placed = |super_pod_id| {
        let mut inv = a3();
        inv.super_pod = Some(SuperPod {
            super_pod_id,
            server_index: 0,
            sdid: 1,
        });
        desired_labels(&inv, &BTreeMap::new()).labels
    };
    assert_eq!(
        placed(3).get(TOPO_SUPER_POD_ID).map(String::as_str),
        Some("3")
    );
    assert!(!placed(-1).contains_key(TOPO_SUPER_POD_ID), "outside one");
    let labels = desired_labels(&a3(), &BTreeMap::new()).labels;
    assert!(!labels.contains_key(TOPO_SUPER_POD_ID), "no super pod info");
    let labels = desired_labels(&node_910b3(), &BTreeMap::new()).labels;
    assert!(!labels.contains_key(TOPO_SUPER_POD_ID));
}

#[test]
fn the_server_type_annotation_is_a3_npu_or_empty_as_upstream_writes_it() {
    let server_type = |family, name: &str| {
        let annotations = desired_annotations(&inventory(vec![chip(0, family, name)]), WHOLE_CHIPS);
        annotations[SERVER_TYPE_ANNOTATION].clone()
    };
    assert_eq!(server_type(Family::Ascend910A3, "Ascend910"), "A3");
    assert_eq!(server_type(Family::Ascend950, "Ascend950PR"), "npu");
    assert_eq!(server_type(Family::Ascend910B, "910B3"), "");
}

#[test]
fn an_a5_node_always_rewrites_servertype_and_labels_its_super_pod() {
    let mut inv = inventory(vec![chip(0, Family::Ascend950, "Ascend950PR")]);
    let existing = map(&[(SERVER_TYPE, "npu-16")]);
    let labels = desired_labels(&inv, &existing).labels;
    assert_eq!(labels.get(SERVER_TYPE).unwrap(), "npu-20", "overwritten");
    assert!(!labels.contains_key(TOPO_SUPER_POD_ID), "no super pod info");
    inv.super_pod = Some(SuperPod {
        super_pod_id: 3,
        server_index: 1,
        sdid: 0,
    });
    let labels = desired_labels(&inv, &existing).labels;
    assert_eq!(labels.get(TOPO_SUPER_POD_ID).unwrap(), "3");
    let b3 = desired_labels(&node_910b3(), &existing).labels;
    assert!(!b3.contains_key(SERVER_TYPE), "other families keep theirs");
}

#[test]
fn a5_base_device_infos_lead_with_the_logic_id() {
    let mut a5 = chip(2, Family::Ascend950, "Ascend950PR");
    a5.logic_id = 3;
    let annotations = desired_annotations(&inventory(vec![a5]), WHOLE_CHIPS);
    assert_eq!(
        annotations[BASE_DEVICE_INFOS],
        r#"{"npu-2":{"DeviceID":3,"IP":"","SuperDeviceID":0}}"#
    );
    let b3 = desired_annotations(&node_910b3(), WHOLE_CHIPS);
    assert!(!b3[BASE_DEVICE_INFOS].contains("\"DeviceID\""));
}
