#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::faults::UBOE_PORT_DOWN;

fn policy(auto_stowing: bool) -> Policy {
    Policy::new(Arc::new(FaultTable::builtin()), auto_stowing)
}

fn reading(phy_id: u32, codes: &[u32]) -> Reading {
    Reading {
        phy_id,
        codes: codes.to_vec(),
        ..Reading::default()
    }
}

/// A code the built-in table grades as unhealthy, whatever it is.
fn unhealthy_code() -> u32 {
    let table = FaultTable::builtin();
    table
        .iter()
        .filter(|(code, level)| !level.is_healthy() && !is_network(*code))
        .find_map(|(code, _)| u32::try_from(code.0).ok())
        .unwrap()
}

#[test]
fn chips_start_healthy_and_a_severe_code_makes_one_unhealthy() {
    let mut tracker = Tracker::new(policy(true), [0, 1]);
    let first = tracker.snapshot();
    assert!(first.is_healthy(0) && first.is_healthy(1));
    assert!(tracker.apply(reading(1, &[unhealthy_code()]), 1_000));
    let snapshot = tracker.snapshot();
    assert!(snapshot.is_healthy(0));
    assert!(!snapshot.is_healthy(1));
    assert_eq!(snapshot.generation, first.generation + 1);
    assert_eq!(snapshot.chips[&1].faults[0].since_ms, 1_000);
}

#[test]
fn a_chip_is_healthy_again_when_its_faults_clear() {
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(reading(0, &[unhealthy_code()]), 1_000);
    assert!(tracker.apply(reading(0, &[]), 2_000));
    let chip = &tracker.snapshot().chips[&0];
    assert!(chip.healthy);
    assert!(chip.faults.is_empty());
    assert!(!chip.recovering);
}

#[test]
fn without_auto_stowing_a_recovered_chip_waits_for_release() {
    let mut tracker = Tracker::new(policy(false), [0]);
    tracker.apply(reading(0, &[unhealthy_code()]), 1_000);
    tracker.apply(reading(0, &[]), 2_000);
    let chip = &tracker.snapshot().chips[&0];
    assert!(!chip.healthy);
    assert!(chip.recovering);
    assert!(tracker.release(0));
    assert!(tracker.snapshot().is_healthy(0));
}

#[test]
fn an_unchanged_reading_publishes_no_new_generation() {
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(reading(0, &[unhealthy_code()]), 1_000);
    let generation = tracker.snapshot().generation;
    assert!(!tracker.apply(reading(0, &[unhealthy_code()]), 5_000));
    assert_eq!(tracker.snapshot().generation, generation);
    assert_eq!(
        tracker.snapshot().chips[&0].faults[0].since_ms,
        1_000,
        "first-seen time is kept"
    );
}

#[test]
fn a_dropped_card_is_the_synthetic_card_drop_fault() {
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(
        Reading {
            phy_id: 0,
            dropped: true,
            ..Reading::default()
        },
        1_000,
    );
    let chip = &tracker.snapshot().chips[&0];
    assert!(!chip.healthy);
    assert!(chip.dropped);
    assert_eq!(chip.faults[0].code, CARD_DROPPED);
    tracker.apply(reading(0, &[]), 2_000);
    assert!(tracker.snapshot().is_healthy(0));
}

#[test]
fn an_unknown_code_is_separate_npu_unless_its_event_was_minor() {
    let unknown = 0x1234_5678;
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(reading(0, &[unknown]), 1_000);
    assert_eq!(tracker.snapshot().chips[&0].level, FaultLevel::SeparateNPU);
    tracker.note_event_severity(unknown, 1);
    tracker.regrade();
    assert_eq!(
        tracker.snapshot().chips[&0].level,
        FaultLevel::NotHandleFault
    );
    assert!(tracker.snapshot().is_healthy(0));
}

fn link(phy_id: u32, value: Option<u32>) -> Reading {
    Reading {
        phy_id,
        network: value,
        ..Reading::default()
    }
}

#[test]
fn a_down_link_is_the_link_down_code_timed_by_the_duration_rule() {
    // The shipped rules: link down > 20 s -> PreSeparateNPU, up > 60 s clears.
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(link(0, Some(3)), 1_000);
    let chip = &tracker.snapshot().chips[&0];
    assert_eq!(
        chip.faults[0].code, LINK_DOWN,
        "DCMI's down link is 81078603"
    );
    assert_eq!(chip.faults[0].level, FaultLevel::NotHandleFault);
    assert!(chip.network_healthy, "not yet: the rule wants 20 s");
    assert!(chip.healthy);
    assert_eq!(tracker.next_deadline(), Some(21_001));
    tracker.tick(21_001);
    let chip = &tracker.snapshot().chips[&0];
    assert!(!chip.network_healthy);
    assert_eq!(chip.faults[0].level, FaultLevel::PreSeparateNPU);
    assert!(
        chip.healthy,
        "a network fault stays out of the chip's own health"
    );
    // A read that failed says nothing about the link: it stays down.
    tracker.apply(link(0, None), 22_000);
    assert!(!tracker.snapshot().chips[&0].network_healthy);
    tracker.apply(link(0, Some(6)), 23_000);
    let chip = &tracker.snapshot().chips[&0];
    assert!(chip.faults.is_empty(), "INIT counts as up");
    assert!(!chip.network_healthy, "up for 60 s before the rule lets go");
    tracker.tick(83_001);
    assert!(tracker.snapshot().chips[&0].network_healthy);
}

#[test]
fn the_drivers_own_network_code_stands_for_the_link() {
    let mut tracker = Tracker::new(policy(true), [0]);
    let mut reading = link(0, Some(3));
    reading.codes = vec![u32::try_from(UBOE_PORT_DOWN.0).unwrap()];
    tracker.apply(reading, 1_000);
    let codes: Vec<FaultCode> = tracker.snapshot().chips[&0]
        .faults
        .iter()
        .map(|f| f.code)
        .collect();
    assert_eq!(codes, [UBOE_PORT_DOWN], "no second, synthetic code");
}

#[test]
fn network_codes_are_graded_on_the_network_scale_and_sub_health_stays_healthy() {
    // Each row: the table, the link-down code's level, network healthy.
    let rows = [
        (
            r#"{"SubHealthFaultNetworkCodes":["81078603"]}"#,
            FaultLevel::SubHealth,
            true,
        ),
        (
            r#"{"NotHandleFaultCodes":["81078603"]}"#,
            FaultLevel::NotHandleFault,
            true,
        ),
        (
            r#"{"RestartNPUCodes":["81078603"]}"#,
            FaultLevel::NotHandleFault,
            true,
        ),
        (
            r#"{"PreSeparateNPUNetworkCodes":["81078603"]}"#,
            FaultLevel::PreSeparateNPU,
            false,
        ),
        (
            r#"{"SeparateNPUCodes":["81078603"]}"#,
            FaultLevel::SeparateNPU,
            false,
        ),
        (
            r#"{"SeparateNPUCodes":["80C98009"]}"#,
            FaultLevel::PreSeparateNPU,
            false,
        ),
    ];
    for (json, level, network_healthy) in rows {
        let (table, _) = FaultTable::parse(json.as_bytes(), 1 << 20).unwrap();
        let mut policy = policy(true);
        policy.table = Arc::new(table);
        policy.customization = Arc::new(Customization::default());
        let mut tracker = Tracker::new(policy, [0]);
        tracker.apply(reading(0, &[u32::try_from(LINK_DOWN.0).unwrap()]), 1_000);
        let chip = &tracker.snapshot().chips[&0];
        assert_eq!(chip.faults[0].level, level, "{json}");
        assert_eq!(chip.network_healthy, network_healthy, "{json}");
        assert!(chip.healthy, "{json}: the chip itself is untouched");
        assert_eq!(chip.level, FaultLevel::Normal, "{json}");
    }
}

#[test]
fn the_link_down_code_is_kept_out_of_the_chip_level() {
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(reading(0, &[0x8107_8603]), 1_000);
    let chip = &tracker.snapshot().chips[&0];
    assert!(chip.healthy);
    assert_eq!(chip.level, FaultLevel::Normal);
    assert_eq!(chip.faults.len(), 1, "still reported as a fault");
}

#[test]
fn manual_separation_wins_and_removing_it_restores_the_chip() {
    let mut tracker = Tracker::new(policy(true), [0, 1]);
    assert!(tracker.set_manual([1].into(), 1_000));
    let chip = &tracker.snapshot().chips[&1];
    assert!(!chip.healthy);
    assert_eq!(chip.level, FaultLevel::ManuallySeparateNPU);
    assert!(tracker.set_manual(BTreeSet::new(), 2_000));
    assert!(tracker.snapshot().is_healthy(1));
}

#[test]
fn a_failed_read_makes_the_chip_unhealthy_until_a_good_one() {
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(
        Reading {
            phy_id: 0,
            failed: true,
            ..Reading::default()
        },
        1_000,
    );
    assert!(!tracker.snapshot().is_healthy(0));
    tracker.apply(reading(0, &[]), 2_000);
    assert!(tracker.snapshot().is_healthy(0));
}

#[test]
fn readings_for_chips_the_node_does_not_have_are_ignored() {
    let mut tracker = Tracker::new(policy(true), [0]);
    assert!(!tracker.apply(reading(7, &[unhealthy_code()]), 1_000));
    assert!(!tracker.snapshot().chips.contains_key(&7));
}

#[test]
fn a_new_table_regrades_active_codes() {
    let code = unhealthy_code();
    let mut tracker = Tracker::new(policy(true), [0]);
    tracker.apply(reading(0, &[code]), 1_000);
    let relaxed = format!("{{\"NotHandleFaultCodes\":[\"{code:08X}\"]}}");
    let (table, _) = FaultTable::parse(relaxed.as_bytes(), 1 << 20).unwrap();
    assert!(tracker.set_table(Arc::new(table)));
    assert!(tracker.snapshot().is_healthy(0));
}

mod recovery {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::device::upgrade::{ReasonCode, UpgradeReason, UpgradeType};

    const NOT_HANDLE: u32 = 0x80E2_1007;
    const PRE_SEPARATE: u32 = 0x8118_043C;
    const HBM: u32 = 0x80E0_1801;
    const UNKNOWN: u32 = 0x1234_5678;
    const HOUR: u64 = 3_600_000;

    fn tracker(n: u32) -> Tracker {
        Tracker::new(policy(true), 0..n)
    }

    /// `code` appears on chip `phy` at `at` and is gone a minute later.
    fn flap(tracker: &mut Tracker, phy: u32, code: u32, at: u64) {
        tracker.apply(reading(phy, &[code]), at);
        tracker.apply(reading(phy, &[]), at + 60_000);
    }

    /// Recovery spec §1.1/§1.5, one row per level: a code of that level
    /// alone makes the chip Healthy or not, and PreSeparateNPU is Healthy
    /// exactly while a pod holds the chip.
    #[test]
    fn every_level_grades_the_chip_as_the_level_table_says() {
        let table = FaultTable::builtin();
        let rows = [
            (FaultLevel::NotHandleFault, true, true),
            (FaultLevel::SubHealth, true, true),
            (FaultLevel::RestartRequest, false, false),
            (FaultLevel::RestartBusiness, false, false),
            (FaultLevel::FreeRestartNPU, false, false),
            (FaultLevel::RestartNPU, false, false),
            (FaultLevel::PreSeparateNPU, false, true),
            (FaultLevel::SeparateNPU, false, false),
        ];
        for (level, free, held) in rows {
            let code = table
                .iter()
                .filter(|(c, l)| *l == level && !is_network(*c))
                .find_map(|(c, _)| u32::try_from(c.0).ok())
                .unwrap_or_else(|| panic!("no {level} code in the table"));
            let mut tracker = tracker(1);
            tracker.apply(reading(0, &[code]), 1);
            let chip = tracker.snapshot().chips[&0].clone();
            assert_eq!(chip.level, level);
            assert_eq!(chip.healthy, free, "{level}, chip free");
            tracker.set_in_use(BTreeSet::from([0]));
            assert_eq!(tracker.snapshot().is_healthy(0), held, "{level}, chip held");
        }
        let mut tracker = tracker(1);
        tracker.set_manual(BTreeSet::from([0]), 1);
        tracker.set_in_use(BTreeSet::from([0]));
        assert_eq!(
            tracker.snapshot().chips[&0].level,
            FaultLevel::ManuallySeparateNPU
        );
        assert!(!tracker.snapshot().is_healthy(0));
    }

    #[test]
    fn an_unknown_code_is_not_hidden_by_a_known_mild_one() {
        let mut tracker = tracker(1);
        tracker.apply(reading(0, &[NOT_HANDLE, UNKNOWN]), 1);
        let chip = &tracker.snapshot().chips[&0];
        assert_eq!(chip.level, FaultLevel::SeparateNPU);
        assert!(!chip.healthy);
    }

    #[test]
    fn a_once_fault_counts_until_the_cycle_ends() {
        let mut tracker = tracker(1);
        assert!(tracker.note_once(0, unhealthy_code(), 1));
        assert!(!tracker.snapshot().is_healthy(0));
        tracker.apply(reading(0, &[]), 2);
        assert!(!tracker.snapshot().is_healthy(0), "still this cycle");
        assert!(tracker.end_cycle(3));
        assert!(tracker.snapshot().is_healthy(0));
    }

    #[test]
    fn pre_separate_stays_healthy_while_a_pod_holds_the_chip() {
        let mut tracker = tracker(2);
        tracker.apply(reading(0, &[PRE_SEPARATE]), 1);
        tracker.apply(reading(1, &[PRE_SEPARATE]), 1);
        tracker.set_in_use(BTreeSet::from([0]));
        let snapshot = tracker.snapshot();
        assert!(snapshot.is_healthy(0));
        assert!(!snapshot.is_healthy(1));
        assert_eq!(snapshot.chips[&0].level, FaultLevel::PreSeparateNPU);
        // A worse fault on a held chip is not excused.
        tracker.apply(reading(0, &[PRE_SEPARATE, unhealthy_code()]), 3);
        assert!(!tracker.snapshot().is_healthy(0));
        tracker.set_in_use(BTreeSet::new());
        tracker.apply(reading(0, &[PRE_SEPARATE]), 5);
        assert!(!tracker.snapshot().is_healthy(0));
    }

    #[test]
    fn a_whole_card_goes_unhealthy_with_any_of_its_chips() {
        let mut policy = policy(true);
        policy.whole_cards = vec![vec![0, 1], vec![2, 3]];
        let mut tracker = Tracker::new(policy, 0..4);
        tracker.apply(reading(1, &[unhealthy_code()]), 1);
        let snapshot = tracker.snapshot();
        assert!(!snapshot.is_healthy(0) && !snapshot.is_healthy(1));
        assert!(snapshot.is_healthy(2) && snapshot.is_healthy(3));
    }

    #[test]
    fn a_resetting_chip_is_unhealthy_for_exactly_the_reset() {
        let mut tracker = tracker(4);
        tracker.set_resetting(BTreeSet::from([0, 1]));
        let snapshot = tracker.snapshot();
        assert!(!snapshot.is_healthy(0) && snapshot.chips[&0].resetting);
        assert!(snapshot.is_healthy(2));
        tracker.set_resetting(BTreeSet::new());
        assert!(tracker.snapshot().is_healthy(0));
    }

    #[test]
    fn repeated_hbm_faults_isolate_the_chip_until_an_operator_releases_it() {
        let mut tracker = tracker(2);
        flap(&mut tracker, 1, HBM, HOUR);
        assert!(tracker.snapshot().is_healthy(1));
        flap(&mut tracker, 1, HBM, 2 * HOUR);
        let chip = tracker.snapshot().chips[&1].clone();
        assert!(chip.manually_separated && !chip.healthy);
        assert_eq!(chip.level, FaultLevel::ManuallySeparateNPU);
        assert_eq!(chip.reasons[0].kind, UpgradeType::FaultFrequency);
        tracker.apply(reading(1, &[NOT_HANDLE]), 2 * HOUR + 120_000);
        let fault = &tracker.snapshot().chips[&1].faults[0];
        assert_eq!(
            fault.level,
            FaultLevel::ManuallySeparateNPU,
            "a code's reported level folds in the rule's"
        );
        tracker.apply(reading(1, &[]), 2 * HOUR + 180_000);
        // The ConfigMap does not list it yet: that is no release.
        tracker.set_manual(BTreeSet::new(), 3 * HOUR);
        assert!(tracker.snapshot().chips[&1].manually_separated);
        // Written, then an operator deletes the name.
        tracker.set_manual(BTreeSet::from([1]), 3 * HOUR);
        assert!(tracker.snapshot().chips[&1].manually_separated);
        tracker.set_manual(BTreeSet::new(), 4 * HOUR);
        let chip = &tracker.snapshot().chips[&1];
        assert!(!chip.manually_separated && chip.healthy && chip.reasons.is_empty());
    }

    #[test]
    fn an_operator_can_isolate_a_healthy_chip_at_run_time() {
        let mut tracker = tracker(2);
        tracker.set_manual(BTreeSet::from([0]), HOUR);
        let chip = &tracker.snapshot().chips[&0];
        assert!(chip.manually_separated && !chip.healthy);
        assert_eq!(chip.reasons[0].code, ReasonCode::Autofill);
        tracker.set_manual(BTreeSet::new(), 2 * HOUR);
        assert!(tracker.snapshot().is_healthy(0));
    }

    #[test]
    fn isolation_read_back_at_start_is_kept_and_unlisted_isolation_dropped() {
        let mut tracker = tracker(3);
        assert!(!tracker.snapshot().isolation_loaded);
        let reason = |level| UpgradeReason {
            code: ReasonCode::Code(crate::device::faults::FaultCode::from(HBM)),
            level,
            kind: UpgradeType::FaultFrequency,
            time_ms: HOUR,
        };
        let reasons = BTreeMap::from([
            (0, vec![reason(FaultLevel::ManuallySeparateNPU)]),
            (2, vec![reason(FaultLevel::ManuallySeparateNPU)]),
        ]);
        tracker.load_isolation(BTreeSet::from([0, 1]), reasons, 2 * HOUR);
        let snapshot = tracker.snapshot();
        assert!(snapshot.isolation_loaded);
        assert_eq!(
            snapshot.chips[&0].reasons[0].kind,
            UpgradeType::FaultFrequency
        );
        assert_eq!(
            snapshot.chips[&1].reasons[0].kind,
            UpgradeType::FaultAutofill
        );
        assert!(!snapshot.is_healthy(0) && !snapshot.is_healthy(1));
        assert!(snapshot.is_healthy(2) && snapshot.chips[&2].reasons.is_empty());
    }

    #[test]
    fn a_long_link_down_makes_the_network_unhealthy_through_the_duration_rule() {
        let mut tracker = Tracker::new(policy(true), 0..1);
        let link = u32::try_from(crate::device::faults::LINK_DOWN.0).unwrap();
        tracker.apply(reading(0, &[link]), HOUR);
        assert!(tracker.snapshot().chips[&0].network_healthy);
        assert_eq!(tracker.next_deadline(), Some(HOUR + 20_001));
        tracker.tick(HOUR + 20_001);
        let chip = &tracker.snapshot().chips[&0];
        assert!(!chip.network_healthy);
        assert!(chip.healthy, "a network fault leaves the chip's own health");
    }

    /// The shipped rules plus a FaultDuration rule on the HBM fault, which
    /// switches the bus-error association on.
    fn associating() -> Tracker {
        let json = br#"{"FaultDuration":[{"EventId":["80E01801"],"FaultTimeout":0,"RecoverTimeout":0,"FaultHandling":"RestartNPU"}]}"#;
        let (rules, warnings) = Customization::parse(json, 1 << 20).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut policy = policy(true);
        policy.customization = Arc::new(rules);
        Tracker::new(policy, 0..2)
    }

    fn codes(tracker: &Tracker, phy: u32) -> Vec<u32> {
        tracker.snapshot().chips[&phy]
            .faults
            .iter()
            .map(|f| u32::try_from(f.code.0).expect("a driver code"))
            .collect()
    }

    const AIC_BUS: u32 = 0x80C9_8009;

    #[test]
    fn with_an_hbm_duration_rule_a_bus_error_beside_the_hbm_fault_is_dropped() {
        let mut tracker = associating();
        tracker.apply(reading(0, &[HBM, AIC_BUS]), HOUR);
        tracker.apply(reading(0, &[HBM, AIC_BUS]), HOUR + 60_000);
        tracker.tick(HOUR + 60_000);
        assert_eq!(codes(&tracker, 0), [HBM]);
    }

    #[test]
    fn with_an_hbm_duration_rule_a_lone_bus_error_counts_after_five_seconds() {
        let mut tracker = associating();
        tracker.apply(reading(1, &[AIC_BUS]), HOUR);
        assert!(codes(&tracker, 1).is_empty(), "undecided");
        assert!(tracker.snapshot().is_healthy(1));
        assert_eq!(tracker.next_deadline(), Some(HOUR + 5_001));
        // The monitor wakes at the deadline with no new reading.
        tracker.tick(HOUR + 5_001);
        assert_eq!(codes(&tracker, 1), [AIC_BUS]);
        let chip = &tracker.snapshot().chips[&1];
        assert_eq!(chip.faults[0].since_ms, HOUR, "its own first-seen time");
        assert!(!chip.healthy, "RestartRequest");
    }

    #[test]
    fn without_an_hbm_duration_rule_a_bus_error_counts_at_once() {
        let mut tracker = tracker(1);
        tracker.apply(reading(0, &[HBM, AIC_BUS]), HOUR);
        assert_eq!(codes(&tracker, 0), [AIC_BUS, HBM]);
    }
}
