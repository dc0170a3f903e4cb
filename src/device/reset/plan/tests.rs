#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::device::health::ChipState;

const MIN: u64 = 60_000;

fn chip(phy: u32, level: FaultLevel) -> ChipState {
    ChipState {
        phy_id: phy,
        healthy: level.is_healthy(),
        level,
        faults: Vec::new(),
        network_healthy: true,
        dropped: false,
        recovering: false,
        manually_separated: level == FaultLevel::ManuallySeparateNPU,
        reasons: Vec::new(),
        resetting: false,
    }
}

fn snapshot(levels: &[(u32, FaultLevel)], n: u32) -> Snapshot {
    let mut chips: BTreeMap<u32, ChipState> =
        (0..n).map(|p| (p, chip(p, FaultLevel::Normal))).collect();
    for &(phy, level) in levels {
        chips.insert(phy, chip(phy, level));
    }
    Snapshot {
        chips,
        ..Snapshot::default()
    }
}

/// 8 chips in two rings of four.
fn planner(idle: u64) -> Planner {
    let rings = (0..8)
        .map(|p| (p, ((p / 4 * 4)..(p / 4 * 4 + 4)).collect()))
        .collect();
    Planner::new(rings, BTreeSet::new(), idle)
}

#[test]
fn each_level_is_a_candidate_an_operators_chip_or_left_alone() {
    let cases = [
        (FaultLevel::NotHandleFault, None),
        (FaultLevel::SubHealth, None),
        (FaultLevel::PreSeparateNPU, None),
        (FaultLevel::RestartRequest, Some(true)),
        (FaultLevel::RestartBusiness, Some(true)),
        (FaultLevel::FreeRestartNPU, Some(true)),
        (FaultLevel::RestartNPU, Some(true)),
        (FaultLevel::SeparateNPU, Some(false)),
        (FaultLevel::ManuallySeparateNPU, Some(false)),
    ];
    for (level, expect) in cases {
        let mut planner = planner(0);
        let snap = snapshot(&[(1, level)], 8);
        let candidates = planner.candidates(&snap);
        match expect {
            None => assert!(
                candidates.is_empty() && planner.manual().is_empty(),
                "{level}"
            ),
            Some(true) => assert_eq!(candidates[0].ring, [0, 1, 2, 3], "{level}"),
            Some(false) => {
                assert!(candidates.is_empty(), "{level}");
                assert!(planner.manual().contains(&1), "{level}");
            }
        }
    }
}

#[test]
fn a_ring_already_resetting_and_an_excluded_chip_are_not_candidates() {
    let mut snap = snapshot(&[(1, FaultLevel::RestartNPU)], 8);
    snap.chips.get_mut(&2).unwrap().resetting = true;
    assert!(planner(0).candidates(&snap).is_empty());
    let rings = BTreeMap::from([(1, vec![1])]);
    let mut excluded = Planner::new(rings, BTreeSet::from([1]), 0);
    let snap = snapshot(&[(1, FaultLevel::RestartNPU)], 8);
    assert!(excluded.candidates(&snap).is_empty());
}

#[test]
fn a_free_ring_waits_the_idle_delay_and_a_busy_spell_restarts_it() {
    let mut planner = planner(MIN);
    let snap = snapshot(&[(5, FaultLevel::RestartNPU)], 8);
    let c = planner.candidates(&snap).remove(0);
    assert_eq!(planner.readiness(&c, true, 0), Readiness::Wait);
    assert_eq!(planner.readiness(&c, true, MIN - 1), Readiness::Wait);
    assert_eq!(planner.readiness(&c, false, MIN - 1), Readiness::Wait);
    assert_eq!(
        planner.readiness(&c, true, MIN),
        Readiness::Wait,
        "timer restarted"
    );
    assert_eq!(planner.readiness(&c, true, 2 * MIN), Readiness::Go);
}

#[test]
fn three_tokens_then_the_chip_is_left_to_an_operator_until_it_recovers() {
    let mut planner = planner(0);
    let snap = snapshot(&[(5, FaultLevel::RestartNPU)], 8);
    for left in (0..3).rev() {
        let c = planner.candidates(&snap).remove(0);
        assert_eq!(planner.readiness(&c, true, 1), Readiness::Go);
        assert_eq!(planner.start(&c, 1), left);
        planner.finished(&c, false);
    }
    let c = planner.candidates(&snap).remove(0);
    assert_eq!(planner.readiness(&c, true, 2), Readiness::NoTokens);
    assert!(planner.manual().contains(&5));
    assert!(planner.candidates(&snap).is_empty(), "an operator's now");
    planner.candidates(&snapshot(&[], 8));
    assert!(
        planner.manual().is_empty(),
        "recovered chips leave the list"
    );
}

#[test]
fn the_bucket_refills_six_hours_after_its_last_refill() {
    let mut bucket = TokenBucket::new(0);
    for _ in 0..3 {
        assert!(bucket.take(10));
    }
    assert!(!bucket.take(REFILL_MS - 1));
    assert!(bucket.take(REFILL_MS));
    assert_eq!(bucket.available(REFILL_MS), 2);
}

proptest! {
    #[test]
    fn never_more_than_three_resets_within_six_hours(times in proptest::collection::vec(0u64..REFILL_MS, 0..20)) {
        let mut times = times;
        times.sort_unstable();
        let mut bucket = TokenBucket::new(0);
        let taken = times.iter().filter(|&&t| bucket.take(t)).count();
        prop_assert_eq!(taken, times.len().min(3));
    }
}
