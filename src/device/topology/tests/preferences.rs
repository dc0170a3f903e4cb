#![allow(clippy::unwrap_used)]

use super::*;

// --- health ---

#[test]
fn unhealthy_chips_are_passed_over_when_healthy_ones_suffice() {
    assert_eq!(
        ideal(Board::Module910, &sick(free(8, &[]), &[0]), 4),
        [4, 5, 6, 7]
    );
    assert_eq!(ideal(Board::Card910, &sick(free(3, &[]), &[0]), 2), [1, 2]);
}

#[test]
fn an_unhealthy_chip_never_counts_as_free_in_a_ring() {
    let available = sick(free(8, &[0, 1]), &[5]);
    assert_eq!(ideal(Board::Module910, &available, 1), [4]);
}

#[test]
fn unhealthy_chips_fill_the_request_only_when_nothing_else_is_left() {
    let available = sick(free(4, &[]), &[0, 2]);
    let choice = best_effort(Board::Card910, &available, &[], 3);
    assert_eq!(choice.phys, [0, 1, 3]);
    assert!(choice.note.unwrap().contains("used unhealthy chip(s) 0"));
}

#[test]
fn an_unhealthy_must_include_chip_is_honoured_but_not_ideal() {
    let available = sick(free(8, &[]), &[2]);
    let choice = best_effort(Board::Module910B8, &available, &[2], 2);
    assert_eq!(choice.phys, [0, 2]);
    assert!(choice.note.unwrap().contains("named by must_include"));
}

// --- NUMA ---

#[test]
fn a_generic_node_prefers_a_single_numa_node() {
    let available = with_numa(free(5, &[]), |phy| i64::from(phy >= 2));
    assert_eq!(ideal(Board::Generic, &available, 3), [2, 3, 4]);
}

#[test]
fn without_a_numa_node_big_enough_the_lowest_ids_are_taken() {
    let available = with_numa(free(5, &[]), |phy| i64::from(phy >= 2));
    assert_eq!(ideal(Board::Generic, &available, 4), [0, 1, 2, 3]);
}

#[test]
fn numa_breaks_ties_between_equally_good_rings() {
    let available = with_numa(free(8, &[]), |phy| i64::from(phy >= 2));
    assert_eq!(ideal(Board::Module910, &available, 4), [4, 5, 6, 7]);
}

#[test]
fn numa_never_overrides_the_ring_preference() {
    let available = with_numa(free(8, &[2, 3]), |phy| i64::from(phy != 0));
    assert_eq!(ideal(Board::Module910, &available, 2), [0, 1]);
}

#[test]
fn a_910b_8_module_keeps_a_request_inside_one_numa_node() {
    let available = with_numa(free(8, &[0, 1]), |phy| i64::from(phy >= 4));
    assert_eq!(ideal(Board::Module910B8, &available, 4), [4, 5, 6, 7]);
}

// --- determinism ---

#[test]
fn the_order_of_available_does_not_change_the_answer() {
    let available = with_numa(free(16, &[3, 12]), |phy| i64::from(phy % 3 == 0));
    let mut reversed = available.clone();
    reversed.reverse();
    for board in [Board::Module910B16, Board::A3, Board::Generic] {
        for size in 1..=14 {
            assert_eq!(
                pick(board, &available, &[], size),
                pick(board, &reversed, &[], size),
                "{board} size {size}"
            );
        }
    }
}
