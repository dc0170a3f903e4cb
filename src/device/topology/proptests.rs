#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::subsequence;

use super::*;

#[derive(Debug, Clone)]
struct Scenario {
    board: Board,
    available: Vec<Candidate>,
    must_include: Vec<u32>,
    size: usize,
}

impl Scenario {
    fn choose(&self) -> Choice {
        let req = Request {
            available: &self.available,
            must_include: &self.must_include,
            size: self.size,
        };
        choose(self.board, &req).unwrap()
    }

    fn healthy(&self, phy: u32) -> bool {
        self.available.iter().any(|c| c.phy == phy && c.healthy)
    }
}

const BOARDS: [Board; 7] = [
    Board::Module910,
    Board::Half910,
    Board::Card910,
    Board::Module910B8,
    Board::Module910B16,
    Board::A3,
    Board::Generic,
];

fn natural_chips(board: Board) -> u32 {
    match board {
        Board::Half910 => 4,
        Board::Module910 | Board::Card910 | Board::Module910B8 => 8,
        Board::Module910B16 | Board::A3 => 16,
        Board::Generic => 12,
    }
}

/// A board, a subset of its chips (or sparse ids) with random NUMA and
/// health, a size that fits, and usually no must-include.
fn scenario() -> impl Strategy<Value = Scenario> {
    proptest::sample::select(BOARDS.to_vec())
        .prop_flat_map(|board| {
            let chips: Vec<u32> = (0..natural_chips(board)).collect();
            let len = chips.len();
            let ids = prop_oneof![
                3 => subsequence(chips, 1..=len),
                1 => proptest::collection::btree_set(0u32..48, 1..=16)
                    .prop_map(|ids| ids.into_iter().collect::<Vec<u32>>()),
            ];
            (Just(board), ids)
        })
        .prop_flat_map(|(board, ids)| {
            let len = ids.len();
            let numa = prop_oneof![Just(None), (0i64..2).prop_map(Some)];
            let attrs = proptest::collection::vec((numa, proptest::bool::weighted(0.85)), len);
            (Just(board), Just(ids), attrs, 1..=len)
        })
        .prop_flat_map(|(board, ids, attrs, size)| {
            let available: Vec<Candidate> = ids
                .iter()
                .zip(attrs)
                .map(|(&phy, (numa, healthy))| Candidate { phy, numa, healthy })
                .collect();
            let must = prop_oneof![
                3 => Just(Vec::new()),
                1 => subsequence(ids, 0..=size),
            ];
            (Just(board), Just(available), must, Just(size))
        })
        .prop_map(|(board, available, must_include, size)| Scenario {
            board,
            available,
            must_include,
            size,
        })
}

/// A scenario and the same scenario with `available` and `must_include` shuffled.
fn shuffled_pair() -> impl Strategy<Value = (Scenario, Scenario)> {
    scenario().prop_flat_map(|s| {
        let available = Just(s.available.clone()).prop_shuffle();
        let must = Just(s.must_include.clone()).prop_shuffle();
        (Just(s), available, must).prop_map(|(s, available, must_include)| {
            let shuffled = Scenario {
                available,
                must_include,
                ..s.clone()
            };
            (s, shuffled)
        })
    })
}

/// A scenario without must-include whose size some group's healthy chips can hold.
fn fits_one_group() -> impl Strategy<Value = Scenario> {
    scenario()
        .prop_filter_map("no healthy chip", |s| {
            let mut healthy_per_group: BTreeMap<u32, usize> = BTreeMap::new();
            for c in s.available.iter().filter(|c| c.healthy) {
                *healthy_per_group
                    .entry(s.board.group_of(c.phy))
                    .or_default() += 1;
            }
            let most = healthy_per_group.into_values().max()?;
            Some((s, most))
        })
        .prop_flat_map(|(s, most)| (Just(s), 1..=most))
        .prop_map(|(s, size)| Scenario {
            must_include: Vec::new(),
            size,
            ..s
        })
}

proptest! {
    #[test]
    fn every_answer_is_exactly_size_distinct_sorted_available_chips_with_every_must_include(
        s in scenario()
    ) {
        let choice = s.choose();
        prop_assert_eq!(choice.phys.len(), s.size);
        prop_assert!(choice.phys.windows(2).all(|w| w[0] < w[1]), "sorted, distinct: {:?}", choice.phys);
        let available: BTreeSet<u32> = s.available.iter().map(|c| c.phy).collect();
        prop_assert!(choice.phys.iter().all(|phy| available.contains(phy)));
        prop_assert!(s.must_include.iter().all(|phy| choice.phys.contains(phy)));
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_of_the_request((s, shuffled) in shuffled_pair()) {
        prop_assert_eq!(s.choose(), shuffled.choose());
    }

    #[test]
    fn a_request_one_healthy_group_can_hold_stays_inside_one_group(s in fits_one_group()) {
        let choice = s.choose();
        let groups: BTreeSet<u32> = choice.phys.iter().map(|&p| s.board.group_of(p)).collect();
        prop_assert_eq!(groups.len(), 1, "{:?} on {}", choice, s.board);
        prop_assert!(choice.phys.iter().all(|&p| s.healthy(p)));
    }

    #[test]
    fn unhealthy_chips_are_taken_only_when_healthy_ones_run_out(s in scenario()) {
        let choice = s.choose();
        let must: BTreeSet<u32> = s.must_include.iter().copied().collect();
        let healthy_extras = s.available.iter().filter(|c| c.healthy && !must.contains(&c.phy)).count();
        let unhealthy_taken = choice.phys.iter().filter(|&&p| !s.healthy(p) && !must.contains(&p)).count();
        prop_assert_eq!(unhealthy_taken, (s.size - must.len()).saturating_sub(healthy_extras));
    }

    #[test]
    fn an_ideal_answer_is_all_healthy_and_only_a_best_effort_carries_a_note(s in scenario()) {
        let choice = s.choose();
        prop_assert_eq!(choice.ideal, choice.note.is_none());
        if choice.ideal {
            prop_assert!(s.board.accepts(s.size));
            prop_assert!(choice.phys.iter().all(|&p| s.healthy(p)));
        }
    }

    #[test]
    fn an_ideal_answer_keeps_the_board_rule(s in scenario()) {
        let choice = s.choose();
        if !choice.ideal {
            return Ok(());
        }
        let units = |unit_of: fn(u32) -> u32, unit_len: usize| {
            let mut count: BTreeMap<u32, usize> = BTreeMap::new();
            for &p in &choice.phys {
                *count.entry(unit_of(p)).or_default() += 1;
            }
            (count.values().all(|&n| n == unit_len), count.len())
        };
        match (s.board, s.size) {
            (Board::Module910, 1..=4) => prop_assert_eq!(units(|p| p / 4, 0).1, 1),
            (Board::Module910, _) => prop_assert_eq!(units(|p| p / 4, 4), (true, 2)),
            (Board::Module910B16, 1..=8) => prop_assert_eq!(units(|p| p / 8, 0).1, 1),
            (Board::Module910B16, n) => {
                prop_assert_eq!(units(|p| (p / 16) * 8 + p % 8, 2), (true, n / 2));
            }
            (Board::A3, 1) => {}
            (Board::A3, n) => prop_assert_eq!(units(|p| p / 2, 2), (true, n / 2)),
            _ => {}
        }
    }

    #[test]
    fn impossible_requests_are_errors_not_answers(s in scenario(), extra in 1usize..4) {
        let too_big = Request { available: &s.available, must_include: &[], size: s.available.len() + extra };
        prop_assert!(choose(s.board, &too_big).is_err());
        let zero = Request { available: &s.available, must_include: &[], size: 0 };
        prop_assert_eq!(choose(s.board, &zero), Err(TopologyError::ZeroSize));
    }
}
