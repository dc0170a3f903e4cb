#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

mod placement;
mod preferences;

fn chip(phy: u32) -> Candidate {
    Candidate {
        phy,
        numa: None,
        healthy: true,
    }
}

/// Healthy chips `0..count` except `busy`.
fn free(count: u32, busy: &[u32]) -> Vec<Candidate> {
    (0..count)
        .filter(|phy| !busy.contains(phy))
        .map(chip)
        .collect()
}

fn with_numa(mut chips: Vec<Candidate>, numa_of: impl Fn(u32) -> i64) -> Vec<Candidate> {
    for chip in &mut chips {
        chip.numa = Some(numa_of(chip.phy));
    }
    chips
}

fn sick(mut chips: Vec<Candidate>, unhealthy: &[u32]) -> Vec<Candidate> {
    for chip in &mut chips {
        chip.healthy = !unhealthy.contains(&chip.phy);
    }
    chips
}

fn pick(board: Board, available: &[Candidate], must_include: &[u32], size: usize) -> Choice {
    let req = Request {
        available,
        must_include,
        size,
    };
    choose(board, &req).unwrap()
}

fn ideal(board: Board, available: &[Candidate], size: usize) -> Vec<u32> {
    let choice = pick(board, available, &[], size);
    assert!(choice.ideal, "expected an ideal answer, got {choice:?}");
    assert_eq!(choice.note, None);
    choice.phys
}

fn best_effort(board: Board, available: &[Candidate], must: &[u32], size: usize) -> Choice {
    let choice = pick(board, available, must, size);
    assert!(!choice.ideal, "expected a best effort, got {choice:?}");
    choice
}

fn fails(available: &[Candidate], must_include: &[u32], size: usize) -> TopologyError {
    let req = Request {
        available,
        must_include,
        size,
    };
    choose(Board::Generic, &req).unwrap_err()
}

// --- boards ---

#[test]
fn volcano_accelerator_types_map_to_boards() {
    let cases = [
        ("module", Board::Module910),
        ("half", Board::Half910),
        ("card", Board::Card910),
        ("card-910b-2", Board::Card910),
        ("card-910b-infer", Board::Card910),
        ("module-910b-8", Board::Module910B8),
        ("module-910b-16", Board::Module910B16),
        ("module-a3-16", Board::A3),
        ("module-a3-16-super-pod", Board::A3),
        ("module-a3-8-super-pod", Board::A3),
    ];
    for (label, board) in cases {
        assert_eq!(Board::from_accelerator_type(label), Some(board), "{label}");
    }
}

#[test]
fn an_unknown_accelerator_type_maps_to_no_board() {
    for label in ["", "Module", "module-910b-4", "chip", " module"] {
        assert_eq!(Board::from_accelerator_type(label), None, "{label:?}");
    }
}

#[test]
fn dcmi_family_and_chip_count_infer_the_board() {
    assert_eq!(Board::infer("910", 8), Board::Module910);
    assert_eq!(Board::infer("910", 4), Board::Half910);
    assert_eq!(Board::infer("910", 2), Board::Card910);
    assert_eq!(Board::infer("910B", 8), Board::Module910B8);
    assert_eq!(Board::infer("910B", 16), Board::Module910B16);
    assert_eq!(Board::infer("910B", 4), Board::Generic);
    assert_eq!(Board::infer("910A3", 16), Board::A3);
    assert_eq!(Board::infer("310P", 8), Board::Generic);
}

#[test]
fn accepted_sizes_follow_the_spec_table() {
    let accepted = |board: Board| (1..=17).filter(|&s| board.accepts(s)).collect::<Vec<_>>();
    assert_eq!(accepted(Board::Module910), [1, 2, 4, 8]);
    assert_eq!(accepted(Board::Half910), [1, 2, 4]);
    assert_eq!(accepted(Board::Module910B8), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        accepted(Board::Module910B16),
        [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]
    );
    assert_eq!(accepted(Board::A3), [1, 2, 4, 6, 8, 10, 12, 14, 16]);
    assert!(!Board::Generic.accepts(0) && Board::Generic.accepts(17));
}

// --- validation ---

#[test]
fn a_request_for_zero_chips_is_rejected() {
    assert_eq!(fails(&free(4, &[]), &[], 0), TopologyError::ZeroSize);
}

#[test]
fn a_request_larger_than_available_is_rejected() {
    let err = fails(&free(4, &[]), &[], 5);
    assert_eq!(
        err,
        TopologyError::SizeExceedsAvailable {
            size: 5,
            available: 4
        }
    );
}

#[test]
fn a_must_include_chip_outside_available_is_rejected() {
    let err = fails(&free(4, &[2]), &[9, 2], 2);
    assert_eq!(err, TopologyError::MustIncludeNotAvailable { phy: 2 });
}

#[test]
fn more_must_include_chips_than_the_size_are_rejected() {
    let err = fails(&free(4, &[]), &[0, 1, 2], 2);
    assert_eq!(
        err,
        TopologyError::MustIncludeExceedsSize { count: 3, size: 2 }
    );
}

#[test]
fn a_chip_listed_twice_in_available_is_rejected() {
    let available = [chip(3), chip(1), chip(3), chip(1)];
    assert_eq!(
        fails(&available, &[], 1),
        TopologyError::DuplicateAvailable { phy: 1 }
    );
}

#[test]
fn a_must_include_chip_named_twice_counts_once() {
    assert_eq!(pick(Board::Generic, &free(4, &[]), &[3, 3], 1).phys, [3]);
}
