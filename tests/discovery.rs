//! Every shipped topology, discovered through the real loader and binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::inspect_json;

fn chips(node: &Value) -> &Vec<Value> {
    node["chips"].as_array().unwrap()
}

fn column(node: &Value, key: &str) -> Vec<Value> {
    chips(node).iter().map(|c| c[key].clone()).collect()
}

fn numbers(values: &[Value]) -> Vec<i64> {
    values.iter().map(|v| v.as_i64().unwrap()).collect()
}

#[test]
fn the_910_module_has_eight_first_generation_chips_one_per_card() {
    let node = inspect_json("910-8");
    assert_eq!(
        numbers(&column(&node, "phy_id")),
        (0..8).collect::<Vec<_>>()
    );
    assert_eq!(
        numbers(&column(&node, "card_id")),
        (0..8).collect::<Vec<_>>()
    );
    for chip in chips(&node) {
        assert_eq!(chip["family"], "910");
        assert_eq!(chip["chip_name"], "910ProB");
        assert_eq!(chip["aicore"], 32);
        assert_eq!(chip["memory_kind"], "hbm");
        assert_eq!(chip["memory_mb"], 32768);
        assert_eq!(chip["health"], "Healthy");
    }
    assert_eq!(chips(&node)[0]["name"], "Ascend910-0");
    assert_eq!(chips(&node)[7]["ip"], "192.168.100.108");
}

#[test]
fn the_910b_node_keeps_phy_and_logic_ids_apart() {
    let node = inspect_json("910b-16");
    let chips = chips(&node);
    assert_eq!(chips.len(), 16);
    for chip in chips {
        let phy = chip["phy_id"].as_i64().unwrap();
        assert_eq!(chip["family"], "910B");
        assert_eq!(
            chip["card_id"].as_i64().unwrap(),
            phy + 1,
            "cards are 1-based"
        );
        let logic = chip["logic_id"].as_i64().unwrap();
        let expected_logic = if phy >= 8 { phy ^ 4 } else { phy };
        assert_eq!(logic, expected_logic, "phy {phy}");
        assert_eq!(
            chip["name"],
            format!("Ascend910-{phy}"),
            "named by phy id, not logic id"
        );
    }
}

#[test]
fn the_a3_node_is_recognised_by_board_id_with_two_dies_per_card() {
    let node = inspect_json("a3-16");
    let chips = chips(&node);
    assert_eq!(chips.len(), 16);
    for chip in chips {
        let phy = chip["phy_id"].as_i64().unwrap();
        assert_eq!(
            chip["family"], "910A3",
            "board id 0xb0 wins over the chip name"
        );
        assert_eq!(chip["chip_name"], "Ascend910");
        assert_eq!(chip["card_id"].as_i64().unwrap(), phy / 2);
        assert_eq!(chip["device_index"].as_i64().unwrap(), phy % 2);
        assert_eq!(chip["npu_name"], "Ascend910_9392");
        assert!(
            chip["ip"].as_str().unwrap().contains(':'),
            "IPv6 RoCE address"
        );
    }
    assert_eq!(node["super_pod"]["super_pod_id"], 1);
    assert_eq!(node["super_pod"]["server_index"], 0);
}

#[test]
fn an_a3_outside_a_super_pod_reads_the_drivers_all_ones_as_minus_one() {
    // The driver's super pod id and server index are 32-bit; "none" is
    // 0xFFFFFFFF, which upstream (Go int32) writes as -1.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/ffi/topologies/a3-16.json");
    let mut topology: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped).unwrap()).unwrap();
    for card in topology["cards"].as_array_mut().unwrap() {
        for chip in card["chips"].as_array_mut().unwrap() {
            chip["spod"]["super_pod_id"] = u32::MAX.into();
            chip["spod"]["server_index"] = u32::MAX.into();
        }
    }
    let dir = support::private_dir();
    let path = dir.path().join("a3-no-super-pod.json");
    std::fs::write(&path, topology.to_string()).unwrap();
    let node = inspect_json(path.to_str().unwrap());
    assert_eq!(node["super_pod"]["super_pod_id"], -1);
    assert_eq!(node["super_pod"]["server_index"], -1);
}

#[test]
fn the_310p_duo_node_reports_its_precreated_vnpus() {
    let node = inspect_json("310p-duo-vnpu");
    let chips = chips(&node);
    assert_eq!(chips.len(), 4);
    let vnpus: Vec<Vec<(i64, String)>> = chips
        .iter()
        .map(|c| {
            c["vnpus"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["vdev_id"].as_i64().unwrap(),
                        v["template"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        vnpus[0],
        [
            (100, "vir02".to_string()),
            (101, "vir02".to_string()),
            (102, "vir04".to_string())
        ]
    );
    assert_eq!(
        vnpus[1],
        [(103, "vir01".to_string()), (104, "vir01".to_string())]
    );
    assert!(vnpus[2].is_empty() && vnpus[3].is_empty());
    for chip in chips {
        assert_eq!(chip["family"], "310P");
        assert_eq!(chip["product_type"], "Atlas 300I Duo");
        assert_eq!(chip["memory_kind"], "ddr");
    }
}

#[test]
fn the_310_card_has_four_chips_on_card_one() {
    let node = inspect_json("310-4");
    assert_eq!(numbers(&column(&node, "card_id")), [1, 1, 1, 1]);
    assert_eq!(numbers(&column(&node, "device_index")), [0, 1, 2, 3]);
    assert!(
        chips(&node)
            .iter()
            .all(|c| c["family"] == "310" && c["aicore"] == 2)
    );
}

#[test]
fn mixed_310p_cards_carry_their_product_types() {
    let node = inspect_json("310p-mixed");
    let products: Vec<Value> = column(&node, "product_type");
    assert_eq!(products, ["Atlas 300V", "Atlas 300V Pro", "Atlas 300I Pro"]);
}

#[test]
fn a_310b_chip_is_its_own_family_in_the_ascend310_resource() {
    let node = inspect_json("310b-1");
    assert_eq!(chips(&node)[0]["family"], "310B");
    assert_eq!(chips(&node)[0]["name"], "Ascend310-0");
}
