#![allow(clippy::unwrap_used)]

use super::*;

fn node(board: u32, mainboard: u32, super_pod_type: Option<u32>) -> A5Node {
    A5Node {
        mainboard_id: Some(mainboard),
        board_id: Some(board),
        super_pod_type,
    }
}

#[test]
fn atlas_350_cards_are_named_by_board_and_main_board() {
    assert_eq!(card_type(Some(0x1a), Some(0x68)), Some("300I-Atlas350"));
    assert_eq!(card_type(Some(0x1c), Some(0x68)), Some("300I-Atlas350"));
    assert_eq!(card_type(Some(0x30), Some(0x6c)), Some("300I-Atlas350-4p"));
    assert_eq!(card_type(Some(0x1d), Some(0x68)), None);
    assert_eq!(card_type(Some(0x1a), Some(0x23)), None);
    assert_eq!(card_type(None, None), None);
}

#[test]
fn the_hccl_topology_file_follows_the_card_type_then_the_super_pod_type() {
    let path = |n: A5Node| hccl_topo_file(&n);
    let dir = "/usr/local/Ascend/driver/topo/950";
    assert_eq!(
        path(node(0x1b, 0x68, Some(1))),
        Some(format!("{dir}/atlas_350_1.json"))
    );
    assert_eq!(
        path(node(0x30, 0x6c, Some(1))),
        Some(format!("{dir}/atlas_350_3.json"))
    );
    for (kind, file) in [
        (0, "atlas_850_1.json"),
        (1, "atlas_950_1.json"),
        (2, "atlas_950_2.json"),
        (3, "atlas_850_2.json"),
        (4, "atlas_850_3.json"),
    ] {
        assert_eq!(
            path(node(0x30, 0x23, Some(kind))),
            Some(format!("{dir}/{file}"))
        );
    }
    assert_eq!(path(node(0x30, 0x23, Some(5))), None, "unknown type");
    assert_eq!(path(node(0x30, 0x23, None)), None, "no super-pod info");
}

#[test]
fn the_allocate_style_maps_every_phy_id_to_its_logic_id_on_a5_only() {
    use crate::device::model::fixtures;
    let inventory = fixtures::inventory(vec![
        fixtures::chip(0, Family::Ascend910B),
        fixtures::chip(1, Family::Ascend910B),
    ]);
    assert_eq!(style(&inventory, &A5Node::default()), None);
    let mut chips = vec![
        fixtures::chip(0, Family::Ascend950),
        fixtures::chip(1, Family::Ascend950),
    ];
    for chip in &mut chips {
        chip.logic_id = chip.phy_id ^ 1;
    }
    let inventory = fixtures::inventory(chips);
    let style = style(&inventory, &node(0x30, 0x23, Some(0))).unwrap();
    assert_eq!(style.logic_of_phy, BTreeMap::from([(0, 1), (1, 0)]));
    assert_eq!(
        style.hccl_topo_file.as_deref(),
        Some("/usr/local/Ascend/driver/topo/950/atlas_850_1.json")
    );
}
