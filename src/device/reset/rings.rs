//! Which chips a hot reset takes down together (recovery spec §3.2,
//! "Rings"): a reset is only safe when every chip of the ring is free, and
//! the whole ring is fenced while it runs. Pure: the A3 brother cards are
//! looked up once at start and passed in.

use std::collections::{BTreeMap, BTreeSet};

use crate::device::model::{Family, Inventory};

/// 910B boards whose chips have no HCCS ring (Atlas 300I A2, 800I A2
/// without HCCS): reset alone.
const LONE_910B_BOARDS: [u32; 4] = [0x28, 0x29, 0x33, 0x3c];

/// Every chip's ring (phy ids, sorted, itself included). `brothers` maps an
/// A3 card id to its brother card (`dcmi_get_netdev_brother_device`); a card
/// missing from it resets with its own two dies only.
pub fn rings(inventory: &Inventory, brothers: &BTreeMap<i32, i32>) -> BTreeMap<u32, Vec<u32>> {
    let by_logic: BTreeMap<u32, u32> = inventory
        .chips
        .iter()
        .map(|c| (c.logic_id, c.phy_id))
        .collect();
    let duo_node = inventory.chips.iter().any(|c| c.is_300i_duo());
    let count_910b = inventory
        .chips
        .iter()
        .filter(|c| c.family == Family::Ascend910B)
        .count();
    let logic_block = |logic: u32, size: u32| -> BTreeSet<u32> {
        let start = logic / size * size;
        (start..start + size)
            .filter_map(|l| by_logic.get(&l).copied())
            .collect()
    };
    let cards_of = |cards: &[i32]| -> BTreeSet<u32> {
        inventory
            .chips
            .iter()
            .filter(|c| cards.contains(&c.card_id))
            .map(|c| c.phy_id)
            .collect()
    };
    inventory
        .chips
        .iter()
        .map(|chip| {
            let ring: BTreeSet<u32> = if duo_node {
                cards_of(&[chip.card_id])
            } else {
                match chip.family {
                    Family::Ascend910 => logic_block(chip.logic_id, 4),
                    Family::Ascend910B
                        if chip.board_id.is_some_and(|b| LONE_910B_BOARDS.contains(&b)) =>
                    {
                        BTreeSet::from([chip.phy_id])
                    }
                    Family::Ascend910B if count_910b > 8 => logic_block(chip.logic_id, 16),
                    Family::Ascend910B => logic_block(chip.logic_id, 8),
                    Family::Ascend910A3 => match brothers.get(&chip.card_id) {
                        Some(&brother) => cards_of(&[chip.card_id, brother]),
                        None => cards_of(&[chip.card_id]),
                    },
                    _ => BTreeSet::from([chip.phy_id]),
                }
            };
            let mut ring: Vec<u32> = ring.into_iter().collect();
            if !ring.contains(&chip.phy_id) {
                ring.push(chip.phy_id);
                ring.sort_unstable();
            }
            (chip.phy_id, ring)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::device::model::fixtures::{chip, inventory};

    fn node(family: Family, n: u32) -> Inventory {
        inventory((0..n).map(|phy| chip(phy, family)).collect())
    }

    #[test]
    fn a_910_ring_is_the_block_of_four_logic_ids() {
        let rings = rings(&node(Family::Ascend910, 8), &BTreeMap::new());
        assert_eq!(rings[&1], [0, 1, 2, 3]);
        assert_eq!(rings[&6], [4, 5, 6, 7]);
    }

    #[test]
    fn a_910b_ring_is_eight_chips_or_sixteen_on_a_bigger_node() {
        let eight = rings(&node(Family::Ascend910B, 8), &BTreeMap::new());
        assert_eq!(eight[&7], (0..8).collect::<Vec<_>>());
        let sixteen = rings(&node(Family::Ascend910B, 16), &BTreeMap::new());
        assert_eq!(sixteen[&3], (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn a_910b_board_without_hccs_resets_each_chip_alone() {
        for board in LONE_910B_BOARDS {
            let mut inv = node(Family::Ascend910B, 8);
            for c in &mut inv.chips {
                c.board_id = Some(board);
            }
            assert_eq!(rings(&inv, &BTreeMap::new())[&5], [5], "board {board:#x}");
        }
    }

    #[test]
    fn an_a3_ring_is_both_dies_of_the_card_and_of_its_brother() {
        let mut inv = node(Family::Ascend910A3, 8);
        for c in &mut inv.chips {
            c.card_id = i32::try_from(c.phy_id / 2).unwrap();
            c.device_index = i32::try_from(c.phy_id % 2).unwrap();
        }
        let brothers = BTreeMap::from([(0, 1), (1, 0), (2, 3), (3, 2)]);
        let rings = rings(&inv, &brothers);
        assert_eq!(rings[&0], [0, 1, 2, 3]);
        assert_eq!(rings[&5], [4, 5, 6, 7]);
        let alone = super::rings(&inv, &BTreeMap::new());
        assert_eq!(alone[&5], [4, 5]);
    }

    #[test]
    fn on_a_300i_duo_node_a_ring_is_the_card_and_other_families_reset_alone() {
        let mut inv = node(Family::Ascend310P, 4);
        for c in &mut inv.chips {
            c.card_id = i32::try_from(c.phy_id / 2).unwrap();
        }
        assert_eq!(rings(&inv, &BTreeMap::new())[&3], [3]);
        inv.chips[0].product_type = Some("Atlas 300I Duo".into());
        assert_eq!(rings(&inv, &BTreeMap::new())[&3], [2, 3]);
        assert_eq!(
            rings(&node(Family::Ascend310, 4), &BTreeMap::new())[&2],
            [2]
        );
    }
}
