#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const HOUR: u64 = 3_600_000;
const HBM: FaultCode = FaultCode(0x80E0_1801);
const LINK: FaultCode = FaultCode(0x8107_8603);

fn rules() -> Customization {
    Customization::builtin()
}

fn set(codes: &[FaultCode]) -> BTreeSet<FaultCode> {
    codes.iter().copied().collect()
}

/// The code appears at `at` and vanishes a minute later.
fn flap(chip: &mut ChipUpgrades, rules: &Customization, code: FaultCode, at: u64) -> StepOutcome {
    let mut outcome = chip.step(rules, &set(&[code]), &set(&[code]), &set(&[]), at);
    let later = chip.step(rules, &set(&[]), &set(&[]), &set(&[code]), at + 60_000);
    outcome.added.extend(later.added);
    outcome.released.extend(later.released);
    outcome
}

#[test]
fn two_hbm_faults_within_a_day_isolate_the_chip_and_one_does_not() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    assert!(flap(&mut chip, &rules, HBM, HOUR).added.is_empty());
    assert!(!chip.is_manually_separated());
    let outcome = flap(&mut chip, &rules, HBM, 2 * HOUR);
    assert_eq!(outcome.added.len(), 1);
    let reason = &outcome.added[0];
    assert_eq!(reason.level, FaultLevel::ManuallySeparateNPU);
    assert_eq!(reason.kind, UpgradeType::FaultFrequency);
    assert_eq!(reason.time_ms, 2 * HOUR);
    assert_eq!(reason.code.to_string(), "80e01801");
    assert!(chip.is_manually_separated());
    // Never released by time: no ReleaseTimeWindow.
    let outcome = chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), 1_000 * HOUR);
    assert!(outcome.released.is_empty());
    assert!(chip.is_manually_separated());
}

#[test]
fn occurrences_older_than_the_window_are_forgotten() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    flap(&mut chip, &rules, HBM, HOUR);
    flap(&mut chip, &rules, HBM, HOUR + 24 * HOUR + 1);
    assert!(!chip.is_manually_separated());
}

#[test]
fn a_released_frequency_reason_goes_after_its_window_since_the_last_recovery() {
    let rules = Customization::parse(
        br#"{"FaultFrequency":[{"EventId":["80E01801"],"TimeWindow":3600,"Times":1,"FaultHandling":"RestartNPU","ReleaseTimeWindow":600}]}"#,
        1 << 20,
    )
    .unwrap()
    .0;
    let mut chip = ChipUpgrades::default();
    let start = 10 * HOUR;
    let added = chip.step(&rules, &set(&[HBM]), &set(&[HBM]), &set(&[]), start);
    assert_eq!(added.added[0].level, FaultLevel::RestartNPU);
    assert_eq!(chip.level(|_| false, false), FaultLevel::RestartNPU);
    // Still active: held however long it lasts.
    assert!(
        chip.step(&rules, &set(&[HBM]), &set(&[]), &set(&[]), start + HOUR)
            .released
            .is_empty()
    );
    let gone = start + HOUR + 1;
    chip.step(&rules, &set(&[]), &set(&[]), &set(&[HBM]), gone);
    assert!(
        chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), gone + 600_000)
            .released
            .is_empty()
    );
    let released = chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), gone + 600_001);
    assert_eq!(released.released.len(), 1);
    assert_eq!(chip.level(|_| false, false), FaultLevel::Normal);
}

#[test]
fn a_duration_rule_times_out_after_its_fault_timeout_and_clears_after_its_recover_timeout() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    let t = 5 * HOUR;
    chip.step(&rules, &set(&[LINK]), &set(&[LINK]), &set(&[]), t);
    assert_eq!(chip.next_deadline(&rules), Some(t + 20_001));
    assert!(
        chip.step(&rules, &set(&[LINK]), &set(&[]), &set(&[]), t + 20_000)
            .added
            .is_empty()
    );
    let timed_out = chip.step(&rules, &set(&[LINK]), &set(&[]), &set(&[]), t + 20_001);
    assert_eq!(timed_out.added[0].kind, UpgradeType::FaultDuration);
    assert_eq!(timed_out.added[0].time_ms, t + 20_000);
    assert_eq!(chip.level(|c| c == LINK, true), FaultLevel::PreSeparateNPU);
    // Its level feeds the network grade, not the chip's own.
    assert_eq!(chip.level(|c| c == LINK, false), FaultLevel::Normal);
    let up = t + 30_000;
    chip.step(&rules, &set(&[]), &set(&[]), &set(&[LINK]), up);
    assert!(
        chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), up + 60_000)
            .released
            .is_empty()
    );
    let cleared = chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), up + 60_001);
    assert_eq!(cleared.released.len(), 1);
}

#[test]
fn a_short_link_flap_never_counts_toward_frequency_with_a_duration_rule() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    for i in 0..10 {
        flap(&mut chip, &rules, LINK, HOUR + i * 120_000);
    }
    assert_eq!(chip.reasons().count(), 0);
}

#[test]
fn five_long_link_downs_in_a_day_isolate_the_chip_and_release_after_two_days() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    let mut t = HOUR;
    for _ in 0..5 {
        chip.step(&rules, &set(&[LINK]), &set(&[LINK]), &set(&[]), t);
        chip.step(&rules, &set(&[LINK]), &set(&[]), &set(&[]), t + 30_000);
        chip.step(&rules, &set(&[]), &set(&[]), &set(&[LINK]), t + 40_000);
        chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), t + 200_000);
        t += HOUR;
    }
    assert!(chip.is_manually_separated());
    let released = chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), t + 49 * HOUR);
    assert!(
        released
            .released
            .iter()
            .any(|r| r.kind == UpgradeType::FaultFrequency)
    );
    assert!(!chip.is_manually_separated());
}

#[test]
fn an_operator_release_drops_manual_reasons_and_their_counters() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    flap(&mut chip, &rules, HBM, HOUR);
    flap(&mut chip, &rules, HBM, 2 * HOUR);
    assert!(chip.is_manually_separated());
    assert_eq!(chip.release_manual().len(), 1);
    assert!(!chip.is_manually_separated());
    // The counter restarted: one more fault is not enough.
    flap(&mut chip, &rules, HBM, 3 * HOUR);
    assert!(!chip.is_manually_separated());
}

#[test]
fn an_autofill_reason_isolates_until_the_largest_release_window_passes() {
    let rules = rules();
    let mut chip = ChipUpgrades::default();
    let reason = chip.autofill(HOUR).unwrap();
    assert_eq!(reason.code.to_string(), AUTOFILL_CODE);
    assert!(chip.autofill(HOUR).is_none());
    assert!(chip.is_manually_separated());
    chip.step(&rules, &set(&[]), &set(&[]), &set(&[]), HOUR + 48 * HOUR);
    assert!(chip.is_manually_separated());
    chip.step(
        &rules,
        &set(&[]),
        &set(&[]),
        &set(&[]),
        HOUR + 48 * HOUR + 1,
    );
    assert!(!chip.is_manually_separated());
}

#[test]
fn a_rule_removed_by_a_reload_takes_its_reason_with_it() {
    let mut chip = ChipUpgrades::default();
    flap(&mut chip, &rules(), HBM, HOUR);
    flap(&mut chip, &rules(), HBM, 2 * HOUR);
    let none = Customization::default();
    let outcome = chip.step(&none, &set(&[]), &set(&[]), &set(&[]), 3 * HOUR);
    assert_eq!(outcome.released.len(), 1);
    assert!(!chip.is_manually_separated());
}

#[test]
fn a_restored_reason_keeps_isolating_after_a_restart() {
    let mut chip = ChipUpgrades::default();
    chip.restore(UpgradeReason {
        code: ReasonCode::Code(HBM),
        level: FaultLevel::ManuallySeparateNPU,
        kind: UpgradeType::FaultFrequency,
        time_ms: HOUR,
    });
    chip.step(&rules(), &set(&[]), &set(&[]), &set(&[]), 100 * HOUR);
    assert!(chip.is_manually_separated());
}

proptest! {
    #[test]
    fn the_frequency_rule_triggers_exactly_at_times_occurrences_in_the_window(
        times in 1u32..6, count in 0u32..8, gap_s in 1u64..2_000,
    ) {
        let json = format!(
            r#"{{"FaultFrequency":[{{"EventId":["80E01801"],"TimeWindow":86400,"Times":{times},"FaultHandling":"ManuallySeparateNPU"}}]}}"#
        );
        let rules = Customization::parse(json.as_bytes(), 1 << 20).unwrap().0;
        let mut chip = ChipUpgrades::default();
        for i in 0..u64::from(count) {
            let at = HOUR + i * (gap_s * 1000 + 60_000);
            flap(&mut chip, &rules, HBM, at);
        }
        let in_window = u64::from(count) * (gap_s * 1000 + 60_000) <= 86_400_000;
        if in_window {
            prop_assert_eq!(chip.is_manually_separated(), count >= times);
        }
    }
}
