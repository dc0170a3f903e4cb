//! The HBM / AI-core bus-error association (recovery spec §1.3): an HBM
//! ECC fault (`80E01801`) drags AIC/AIV bus errors (`80C98009`, `80CB8009`)
//! behind it. When a FaultDuration rule watches the HBM code, a bus error
//! within 5 s of the chip's HBM fault is its echo and is discarded; one that
//! has lasted 5 s with no HBM fault near it is a fault of its own and is
//! released, with the time it was first seen. Without such a rule every
//! bus error counts at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::device::faults::FaultCode;

/// The HBM multi-bit ECC fault the association is keyed on.
pub const HBM_ECC: FaultCode = FaultCode(0x80E0_1801);
/// AI-core and AI-vector bus errors.
pub const BUS_ERRORS: [FaultCode; 2] = [FaultCode(0x80C9_8009), FaultCode(0x80CB_8009)];
/// How close an HBM fault must be to a bus error to explain it, and how
/// long an unexplained bus error waits before it counts.
pub const WINDOW_MS: u64 = 5_000;

/// One chip's bus errors between "seen" and "counted" or "discarded".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusErrors {
    /// Seen, not yet decided: first-seen time.
    pending: BTreeMap<FaultCode, u64>,
    /// Explained by an HBM fault: left out while the driver lists them.
    discarded: BTreeSet<FaultCode>,
    /// Counted as faults of their own.
    released: BTreeSet<FaultCode>,
}

impl BusErrors {
    /// Filters one reading's codes in place. `enabled` = a FaultDuration
    /// rule exists for `80E01801`; `hbm_since` = when the chip's HBM fault
    /// was first seen, if it has one now. Returns the codes released by this
    /// call with the time they were first seen (the caller records that time,
    /// not now).
    pub fn filter(
        &mut self,
        codes: &mut Vec<FaultCode>,
        enabled: bool,
        hbm_since: Option<u64>,
        now_ms: u64,
    ) -> Vec<(FaultCode, u64)> {
        let listed: BTreeSet<FaultCode> = codes
            .iter()
            .copied()
            .filter(|c| BUS_ERRORS.contains(c))
            .collect();
        // A code the driver stopped listing starts over next time.
        self.pending.retain(|code, _| listed.contains(code));
        self.discarded.retain(|code| listed.contains(code));
        self.released.retain(|code| listed.contains(code));
        if !enabled {
            self.pending.clear();
            self.discarded.clear();
            self.released.extend(listed);
            return Vec::new();
        }
        let mut newly_released = Vec::new();
        for code in listed {
            if self.released.contains(&code) {
                continue;
            }
            if self.discarded.contains(&code) {
                codes.retain(|c| *c != code);
                continue;
            }
            let since = *self.pending.entry(code).or_insert(now_ms);
            if hbm_since.is_some_and(|hbm| hbm.abs_diff(since) <= WINDOW_MS) {
                self.pending.remove(&code);
                self.discarded.insert(code);
                tracing::info!(%code, "bus error within 5 s of an HBM fault: discarded as its echo");
                codes.retain(|c| *c != code);
            } else if now_ms.saturating_sub(since) > WINDOW_MS {
                self.pending.remove(&code);
                self.released.insert(code);
                newly_released.push((code, since));
            } else {
                codes.retain(|c| *c != code);
            }
        }
        newly_released
    }

    /// When the oldest pending bus error is decided with no new reading.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pending
            .values()
            .map(|since| since.saturating_add(WINDOW_MS + 1))
            .min()
    }

    /// Bus errors seen and not yet decided.
    #[cfg(test)]
    pub fn pending(&self) -> impl Iterator<Item = FaultCode> + '_ {
        self.pending.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AIC: FaultCode = BUS_ERRORS[0];
    const AIV: FaultCode = BUS_ERRORS[1];

    fn run(
        filter: &mut BusErrors,
        codes: &[FaultCode],
        enabled: bool,
        hbm: Option<u64>,
        now: u64,
    ) -> (Vec<FaultCode>, Vec<(FaultCode, u64)>) {
        let mut codes = codes.to_vec();
        let released = filter.filter(&mut codes, enabled, hbm, now);
        (codes, released)
    }

    #[test]
    fn without_a_duration_rule_for_hbm_a_bus_error_counts_at_once() {
        let mut filter = BusErrors::default();
        let (codes, released) = run(&mut filter, &[AIC, HBM_ECC], false, Some(1_000), 1_000);
        assert_eq!(codes, [AIC, HBM_ECC]);
        assert!(released.is_empty());
        assert_eq!(filter.next_deadline(), None);
    }

    #[test]
    fn a_bus_error_within_five_seconds_after_the_hbm_fault_is_discarded() {
        for bus in BUS_ERRORS {
            let mut filter = BusErrors::default();
            let (codes, _) = run(&mut filter, &[HBM_ECC, bus], true, Some(1_000), 6_000);
            assert_eq!(codes, [HBM_ECC], "{bus}");
            // Discarded for as long as the driver lists it, even later.
            let (codes, released) = run(&mut filter, &[HBM_ECC, bus], true, Some(1_000), 60_000);
            assert_eq!(codes, [HBM_ECC]);
            assert!(released.is_empty());
        }
    }

    #[test]
    fn a_bus_error_whose_hbm_fault_follows_within_five_seconds_is_discarded() {
        let mut filter = BusErrors::default();
        let (codes, _) = run(&mut filter, &[AIV], true, None, 1_000);
        assert!(codes.is_empty(), "held back while undecided");
        assert_eq!(filter.next_deadline(), Some(1_000 + WINDOW_MS + 1));
        let (codes, released) = run(&mut filter, &[AIV, HBM_ECC], true, Some(5_500), 5_500);
        assert_eq!(codes, [HBM_ECC]);
        assert!(released.is_empty());
        assert_eq!(filter.next_deadline(), None);
    }

    #[test]
    fn a_bus_error_older_than_five_seconds_with_no_hbm_fault_is_released_with_its_time() {
        let mut filter = BusErrors::default();
        let (codes, _) = run(&mut filter, &[AIC], true, None, 1_000);
        assert!(codes.is_empty());
        let (codes, _) = run(&mut filter, &[AIC], true, None, 6_000);
        assert!(codes.is_empty(), "exactly 5 s is still within the window");
        let (codes, released) = run(&mut filter, &[AIC], true, None, 6_001);
        assert_eq!(codes, [AIC]);
        assert_eq!(released, [(AIC, 1_000)]);
        let (codes, released) = run(&mut filter, &[AIC], true, None, 9_000);
        assert_eq!(codes, [AIC], "stays counted");
        assert!(released.is_empty(), "released once");
    }

    #[test]
    fn an_hbm_fault_more_than_five_seconds_before_does_not_explain_a_bus_error() {
        let mut filter = BusErrors::default();
        let (codes, _) = run(&mut filter, &[HBM_ECC, AIC], true, Some(1_000), 6_001);
        assert_eq!(codes, [HBM_ECC], "pending first");
        let (codes, released) = run(&mut filter, &[HBM_ECC, AIC], true, Some(1_000), 11_002);
        assert_eq!(codes, [HBM_ECC, AIC]);
        assert_eq!(released, [(AIC, 6_001)]);
    }

    #[test]
    fn a_bus_error_that_clears_and_returns_is_judged_afresh() {
        let mut filter = BusErrors::default();
        run(&mut filter, &[HBM_ECC, AIC], true, Some(1_000), 1_000);
        let (codes, _) = run(&mut filter, &[], true, None, 2_000);
        assert!(codes.is_empty());
        let (codes, _) = run(&mut filter, &[AIC], true, None, 30_000);
        assert!(codes.is_empty(), "pending again, not discarded");
        assert_eq!(filter.pending().collect::<Vec<_>>(), [AIC]);
    }

    #[test]
    fn other_codes_pass_untouched() {
        let mut filter = BusErrors::default();
        let other = FaultCode(0x8C03_A000);
        let (codes, _) = run(&mut filter, &[other, AIC], true, None, 1_000);
        assert_eq!(codes, [other]);
    }
}
