#![allow(clippy::unwrap_used)]

use super::*;

// --- 910 module ---

#[test]
fn a_four_chip_request_on_a_910_module_takes_the_only_fully_free_ring() {
    assert_eq!(ideal(Board::Module910, &free(8, &[1, 2]), 4), [4, 5, 6, 7]);
}

#[test]
fn a_following_two_chip_request_on_a_910_module_gets_chips_0_and_3() {
    let available = free(8, &[1, 2, 4, 5, 6, 7]);
    assert_eq!(ideal(Board::Module910, &available, 2), [0, 3]);
}

#[test]
fn a_one_chip_request_on_a_910_module_prefers_a_ring_with_one_free_chip() {
    assert_eq!(ideal(Board::Module910, &free(8, &[4, 5, 6]), 1), [7]);
}

#[test]
fn a_one_chip_request_on_a_910_module_prefers_three_free_over_two_free() {
    assert_eq!(ideal(Board::Module910, &free(8, &[2, 3, 7]), 1), [4]);
}

#[test]
fn a_one_chip_request_on_a_910_module_prefers_two_free_over_four_free() {
    assert_eq!(ideal(Board::Module910, &free(8, &[4, 5]), 1), [6]);
}

#[test]
fn a_two_chip_request_on_a_910_module_prefers_two_free_over_four_free() {
    assert_eq!(ideal(Board::Module910, &free(8, &[4, 6]), 2), [5, 7]);
}

#[test]
fn a_two_chip_request_on_a_910_module_prefers_four_free_over_three_free() {
    assert_eq!(ideal(Board::Module910, &free(8, &[3]), 2), [4, 5]);
}

#[test]
fn an_eight_chip_request_on_a_910_module_takes_every_chip() {
    assert_eq!(
        ideal(Board::Module910, &free(8, &[]), 8),
        [0, 1, 2, 3, 4, 5, 6, 7]
    );
}

#[test]
fn a_three_chip_request_on_a_910_module_is_a_best_effort_inside_one_ring() {
    let choice = best_effort(Board::Module910, &free(8, &[2, 3]), &[], 3);
    assert_eq!(choice.phys, [4, 5, 6]);
    let note = choice.note.unwrap();
    assert!(
        note.contains("not a valid request") && note.contains("1 ring(s)"),
        "{note}"
    );
}

#[test]
fn a_four_chip_request_without_a_fully_free_ring_spreads_over_the_fewest_rings() {
    let choice = best_effort(Board::Module910, &free(8, &[3, 7]), &[], 4);
    assert_eq!(choice.phys, [0, 1, 2, 4]);
    let note = choice.note.unwrap();
    assert!(note.contains("no ring has 4 free healthy chips"), "{note}");
}

#[test]
fn a_must_include_chip_pins_its_ring_on_a_910_module() {
    let available = free(8, &[]);
    assert_eq!(ideal(Board::Module910, &available, 2), [0, 1]);
    let choice = pick(Board::Module910, &available, &[5], 2);
    assert!(choice.ideal);
    assert_eq!(choice.phys, [4, 5]);
}

#[test]
fn a_must_include_chip_in_a_ring_without_room_is_a_best_effort() {
    let choice = best_effort(Board::Module910, &free(8, &[1]), &[0], 4);
    assert_eq!(choice.phys, [0, 2, 3, 4]);
    let note = choice.note.unwrap();
    assert!(note.contains("ring 0, pinned by must_include"), "{note}");
}

#[test]
fn must_include_chips_in_both_rings_of_a_910_module_are_a_best_effort() {
    let choice = best_effort(Board::Module910, &free(8, &[]), &[4, 0], 2);
    assert_eq!(choice.phys, [0, 4]);
    assert!(choice.note.unwrap().contains("span 2 rings"));
}

// --- boards without groups ---

#[test]
fn a_910_half_board_takes_the_lowest_free_ids() {
    assert_eq!(ideal(Board::Half910, &free(4, &[0]), 2), [1, 2]);
}

#[test]
fn a_three_chip_request_on_a_910_half_board_is_a_best_effort() {
    let choice = best_effort(Board::Half910, &free(4, &[]), &[], 3);
    assert_eq!(choice.phys, [0, 1, 2]);
}

#[test]
fn a_910_card_node_takes_the_lowest_free_ids() {
    assert_eq!(ideal(Board::Card910, &free(8, &[0, 1, 3, 4]), 3), [2, 5, 6]);
}

#[test]
fn a_910b_8_module_takes_the_lowest_free_ids() {
    assert_eq!(
        ideal(Board::Module910B8, &free(8, &[0, 3]), 4),
        [1, 2, 4, 5]
    );
}

#[test]
fn a_generic_node_takes_any_size_from_the_lowest_ids() {
    let expected: Vec<u32> = (0..17).collect();
    assert_eq!(ideal(Board::Generic, &free(20, &[]), 17), expected);
}

// --- 910B 16-chip module ---

#[test]
fn a_910b_16_request_goes_to_the_group_whose_free_count_is_closest_to_the_request() {
    let available = free(16, &[6, 7]);
    assert_eq!(ideal(Board::Module910B16, &available, 5), [0, 1, 2, 3, 4]);
    assert_eq!(
        ideal(Board::Module910B16, &available, 7),
        [8, 9, 10, 11, 12, 13, 14]
    );
    let available = free(16, &[8, 9]);
    assert_eq!(
        ideal(Board::Module910B16, &available, 6),
        [10, 11, 12, 13, 14, 15]
    );
}

#[test]
fn equally_free_groups_on_a_910b_16_module_give_the_lower_group() {
    assert_eq!(ideal(Board::Module910B16, &free(16, &[]), 4), [0, 1, 2, 3]);
}

#[test]
fn a_ten_chip_request_on_a_910b_16_module_takes_whole_cross_pairs() {
    let phys = ideal(Board::Module910B16, &free(16, &[0, 9]), 10);
    assert_eq!(phys, [2, 3, 4, 5, 6, 10, 11, 12, 13, 14]);
}

#[test]
fn a_must_include_chip_on_a_910b_16_module_brings_its_cross_pair() {
    let choice = pick(Board::Module910B16, &free(16, &[]), &[13], 10);
    assert!(choice.ideal);
    assert_eq!(choice.phys, [0, 1, 2, 3, 5, 8, 9, 10, 11, 13]);
}

#[test]
fn a_sixteen_chip_request_on_a_910b_16_module_takes_every_chip() {
    let expected: Vec<u32> = (0..16).collect();
    assert_eq!(ideal(Board::Module910B16, &free(16, &[]), 16), expected);
}

#[test]
fn a_nine_chip_request_on_a_910b_16_module_is_a_best_effort() {
    let choice = best_effort(Board::Module910B16, &free(16, &[]), &[], 9);
    assert_eq!(choice.phys, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(choice.note.unwrap().contains("not a valid request"));
}

#[test]
fn a_910b_16_request_too_big_for_either_group_spans_both_as_a_best_effort() {
    let available = free(16, &[5, 6, 7, 13, 14, 15]);
    let choice = best_effort(Board::Module910B16, &available, &[], 6);
    assert_eq!(choice.phys, [0, 1, 2, 3, 4, 8]);
    assert!(choice.note.unwrap().contains("no group has 6"));
}

// --- A3 ---

#[test]
fn a_single_die_on_a3_packs_a_half_used_card() {
    assert_eq!(ideal(Board::A3, &free(16, &[4, 9]), 1), [5]);
}

#[test]
fn a_single_die_on_a3_without_a_half_used_card_takes_the_lowest_card() {
    assert_eq!(ideal(Board::A3, &free(16, &[]), 1), [0]);
}

#[test]
fn an_even_request_on_a3_takes_whole_free_cards_lowest_first() {
    assert_eq!(ideal(Board::A3, &free(16, &[1, 4]), 4), [2, 3, 6, 7]);
}

#[test]
fn a_must_include_die_on_a3_forces_its_card() {
    let choice = pick(Board::A3, &free(16, &[]), &[11], 4);
    assert!(choice.ideal);
    assert_eq!(choice.phys, [0, 1, 10, 11]);
}

#[test]
fn an_odd_request_on_a3_is_a_best_effort_over_the_fewest_cards() {
    let choice = best_effort(Board::A3, &free(16, &[]), &[], 3);
    assert_eq!(choice.phys, [0, 1, 2]);
    assert!(choice.note.unwrap().contains("2 card(s)"));
}

#[test]
fn the_best_effort_prefers_the_lowest_ids_among_the_fewest_cards() {
    let available = free(6, &[1]);
    assert_eq!(best_effort(Board::A3, &available, &[], 3).phys, [0, 2, 3]);
}

#[test]
fn a_fragmented_a3_node_is_a_best_effort_over_the_fewest_cards() {
    let available: Vec<Candidate> = [0, 3, 4, 5, 7, 9].into_iter().map(chip).collect();
    let choice = best_effort(Board::A3, &available, &[], 4);
    assert_eq!(choice.phys, [0, 3, 4, 5]);
    let note = choice.note.unwrap();
    assert!(
        note.contains("2 whole free cards needed, 1 found"),
        "{note}"
    );
}
