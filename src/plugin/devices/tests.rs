#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::health::fixtures::snapshot;
use crate::device::model::Family;
use crate::device::naming::AdvertisedDevice;

fn chips(type_name: &str, n: u32) -> Resource {
    Resource {
        type_name: type_name.into(),
        family: Family::Ascend910,
        is_virtual: false,
        devices: (0..n)
            .map(|phy| AdvertisedDevice {
                id: format!("{type_name}-{phy}"),
                backing: Backing::Chip { phy_id: phy },
            })
            .collect(),
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_list_carries_each_chips_health_and_numa_node() {
    let resource = chips("Ascend910", 4);
    let facts = ChipFacts {
        numa: [(0, 0), (1, 0), (2, 1), (3, 1)].into(),
    };
    let list = device_list(&resource, &snapshot(4, &[2]), &facts);
    let health: Vec<&str> = list.iter().map(|d| d.health.as_str()).collect();
    assert_eq!(health, [HEALTHY, HEALTHY, UNHEALTHY, HEALTHY]);
    assert_eq!(list[3].topology.as_ref().unwrap().nodes[0].id, 1);
    let no_numa = device_list(&resource, &snapshot(4, &[]), &ChipFacts::default());
    assert!(no_numa.iter().all(|d| d.topology.is_none()));
}

#[test]
fn vnpus_inherit_their_chips_health() {
    let resource = Resource {
        type_name: "Ascend310P-2c".into(),
        family: Family::Ascend310P,
        is_virtual: true,
        devices: vec![
            AdvertisedDevice {
                id: "Ascend310P-2c-100-0".into(),
                backing: Backing::Vnpu {
                    phy_id: 0,
                    vdev_id: 100,
                },
            },
            AdvertisedDevice {
                id: "Ascend310P-2c-101-1".into(),
                backing: Backing::Vnpu {
                    phy_id: 1,
                    vdev_id: 101,
                },
            },
        ],
    };
    let list = device_list(&resource, &snapshot(2, &[1]), &ChipFacts::default());
    assert_eq!(list[0].health, HEALTHY);
    assert_eq!(list[1].health, UNHEALTHY);
}

fn unhealthy_ids(list: &[Device]) -> Vec<&str> {
    list.iter()
        .filter(|d| d.health == UNHEALTHY)
        .map(|d| d.id.as_str())
        .collect()
}

#[test]
fn a_remapped_kubelet_id_swaps_health_with_the_id_of_its_real_chip() {
    let resource = chips("Ascend910", 8);
    let map = |id: &str| (id == "Ascend910-1").then_some(3);
    let facts = ChipFacts::default();
    let chip_3_faulty = device_list_with(&resource, &snapshot(8, &[3]), &facts, map);
    assert_eq!(
        unhealthy_ids(&chip_3_faulty),
        ["Ascend910-1"],
        "one faulty chip costs one device"
    );
    let chip_1_faulty = device_list_with(&resource, &snapshot(8, &[1]), &facts, map);
    assert_eq!(unhealthy_ids(&chip_1_faulty), ["Ascend910-3"]);
    let other = device_list_with(&resource, &snapshot(8, &[6]), &facts, map);
    assert_eq!(unhealthy_ids(&other), ["Ascend910-6"]);
}

#[test]
fn a_chain_of_remapped_ids_still_reports_each_chip_once() {
    let resource = chips("Ascend910", 8);
    // ID 0 got chip 4, ID 4 got chip 5; ID 5 is unmapped and its chip taken.
    let map = |id: &str| match id {
        "Ascend910-0" => Some(4),
        "Ascend910-4" => Some(5),
        _ => None,
    };
    assert_eq!(reported_chips(&resource, map), [4, 1, 2, 3, 5, 0, 6, 7]);
}

proptest::proptest! {
    #[test]
    fn every_whole_chip_is_reported_by_exactly_one_id_whatever_the_map(
        targets in proptest::collection::vec(proptest::option::of(0u32..10), 8),
    ) {
        let resource = chips("Ascend910", 8);
        let map = |id: &str| {
            let index: usize = id.strip_prefix("Ascend910-")?.parse().ok()?;
            targets[index]
        };
        let reported = reported_chips(&resource, map);
        let mut sorted = reported.clone();
        sorted.sort_unstable();
        proptest::prop_assert_eq!(sorted, (0..8).collect::<Vec<u32>>());
        // A mapped ID whose chip exists and no earlier ID claimed reports it.
        let mut claimed = BTreeSet::new();
        for (index, target) in targets.iter().enumerate() {
            if let Some(phy) = target.filter(|&p| p < 8 && claimed.insert(p)) {
                proptest::prop_assert_eq!(reported[index], phy);
            }
        }
    }
}

#[test]
fn whole_chips_follow_the_board_topology() {
    let resource = chips("Ascend910", 8);
    let available = ids(&[
        "Ascend910-0",
        "Ascend910-3",
        "Ascend910-4",
        "Ascend910-5",
        "Ascend910-6",
        "Ascend910-7",
    ]);
    let four = preferred(
        &resource,
        Board::Module910,
        &snapshot(8, &[]),
        &ChipFacts::default(),
        &available,
        &[],
        4,
    )
    .unwrap();
    assert_eq!(
        four,
        ids(&["Ascend910-4", "Ascend910-5", "Ascend910-6", "Ascend910-7"])
    );
    let two = preferred(
        &resource,
        Board::Module910,
        &snapshot(8, &[]),
        &ChipFacts::default(),
        &ids(&["Ascend910-0", "Ascend910-3"]),
        &[],
        2,
    )
    .unwrap();
    assert_eq!(two, ids(&["Ascend910-0", "Ascend910-3"]));
}

#[test]
fn a_hint_request_with_foreign_ids_or_a_bad_size_is_an_error() {
    let resource = chips("Ascend910", 8);
    let snap = snapshot(8, &[]);
    let facts = ChipFacts::default();
    assert_eq!(
        preferred(
            &resource,
            Board::Module910,
            &snap,
            &facts,
            &ids(&["Ascend310-0"]),
            &[],
            1
        ),
        Err(PreferError::Unknown("Ascend310-0".into()))
    );
    assert_eq!(
        preferred(
            &resource,
            Board::Module910,
            &snap,
            &facts,
            &ids(&["Ascend910-0"]),
            &[],
            0
        ),
        Err(PreferError::BadSize(0))
    );
    assert!(
        preferred(
            &resource,
            Board::Module910,
            &snap,
            &facts,
            &ids(&["Ascend910-0"]),
            &[],
            2
        )
        .is_err()
    );
}

#[test]
fn a_hint_request_gets_the_limits_and_the_truncated_errors_of_allocate() {
    let resource = chips("Ascend910", 8);
    let snap = snapshot(8, &[]);
    let facts = ChipFacts::default();
    let ask = |available: &[String], must: &[String], size: i32| {
        preferred(
            &resource,
            Board::Module910,
            &snap,
            &facts,
            available,
            must,
            size,
        )
    };
    let huge = format!("Ascend910-{}", "9".repeat(100_000));
    let long = ask(std::slice::from_ref(&huge), &[], 1).unwrap_err();
    let PreferError::TooLong(quoted) = &long else {
        panic!("{long:?}")
    };
    assert!(
        quoted.len() <= 53,
        "quoted cut short: {} bytes",
        quoted.len()
    );
    assert!(long.to_string().len() < 200, "{long}");
    let long_must = ask(&ids(&["Ascend910-0"]), &[huge], 1).unwrap_err();
    assert!(
        matches!(long_must, PreferError::TooLong(_)),
        "{long_must:?}"
    );

    let many: Vec<String> = (0..801).map(|i| format!("Ascend910-{i}")).collect();
    assert_eq!(
        ask(&many, &[], 1),
        Err(PreferError::TooMany {
            list: "available_deviceIDs",
            count: 801,
            max: 800
        })
    );
    assert_eq!(
        ask(&ids(&["Ascend910-0"]), &many, 1),
        Err(PreferError::TooMany {
            list: "must_include_deviceIDs",
            count: 801,
            max: 800
        })
    );
    assert_eq!(
        ask(&ids(&["Ascend910-0"]), &[], 801),
        Err(PreferError::TooLarge(801))
    );
    assert_eq!(
        ask(&ids(&["Ascend910-0"]), &[], i32::MIN),
        Err(PreferError::BadSize(i32::MIN))
    );
}

#[test]
fn share_slots_are_packed_onto_the_fewest_chips_with_must_include_first() {
    let resource = Resource {
        type_name: "Ascend310P".into(),
        family: Family::Ascend310P,
        is_virtual: false,
        devices: (0..2)
            .flat_map(|phy| (0..3).map(move |slot| (phy, slot)))
            .map(|(phy, slot)| AdvertisedDevice {
                id: format!("Ascend310P-{phy}-{slot}"),
                backing: Backing::Share { phy_id: phy, slot },
            })
            .collect(),
    };
    let available: Vec<String> = resource
        .devices
        .iter()
        .map(|d| d.id.clone())
        .filter(|id| id != "Ascend310P-0-0")
        .collect();
    let answer = preferred(
        &resource,
        Board::Generic,
        &snapshot(2, &[]),
        &ChipFacts::default(),
        &available,
        &ids(&["Ascend310P-0-2"]),
        2,
    )
    .unwrap();
    assert_eq!(answer, ids(&["Ascend310P-0-2", "Ascend310P-0-1"]));
    let fresh = preferred(
        &resource,
        Board::Generic,
        &snapshot(2, &[]),
        &ChipFacts::default(),
        &available,
        &[],
        3,
    )
    .unwrap();
    assert_eq!(
        fresh,
        ids(&["Ascend310P-1-0", "Ascend310P-1-1", "Ascend310P-1-2"]),
        "the chip with the most free slots first"
    );
}

#[test]
fn a_soft_share_node_may_offer_every_one_of_its_1600_ids() {
    // 16 chips x 100 soft-share slots: kubelet offers all free IDs at once.
    let resource = Resource {
        type_name: "Ascend910".into(),
        family: Family::Ascend910B,
        is_virtual: false,
        devices: (0..16)
            .flat_map(|phy| (0..100).map(move |slot| (phy, slot)))
            .map(|(phy, slot)| AdvertisedDevice {
                id: format!("Ascend910-{phy}-{slot}"),
                backing: Backing::Share { phy_id: phy, slot },
            })
            .collect(),
    };
    let all: Vec<String> = resource.devices.iter().map(|d| d.id.clone()).collect();
    let ask = |available: &[String]| {
        preferred(
            &resource,
            Board::Generic,
            &snapshot(16, &[]),
            &ChipFacts::default(),
            available,
            &[],
            40,
        )
    };
    let answer = ask(&all).unwrap();
    assert_eq!(answer.len(), 40);
    let mut twice = all.clone();
    twice.push(all[0].clone());
    assert_eq!(
        ask(&twice),
        Err(PreferError::TooMany {
            list: "available_deviceIDs",
            count: 1601,
            max: 1600
        })
    );
}
