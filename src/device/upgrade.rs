//! Upgrade reasons (recovery spec §2.4–§2.6): the FaultFrequency and
//! FaultDuration state machines of one chip and the reasons they leave
//! behind, which raise the chip's level until released. Pure: time is an
//! argument, nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use super::customization::{Customization, DurationRule, FrequencyRule};
use super::faults::{FaultCode, FaultLevel};

/// What raised a chip's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpgradeType {
    FaultFrequency,
    FaultDuration,
    /// An operator listed the chip in `ManuallySeparateNPU` without the
    /// plugin having isolated it.
    FaultAutofill,
}

impl UpgradeType {
    pub const fn as_str(self) -> &'static str {
        match self {
            UpgradeType::FaultFrequency => "FaultFrequency",
            UpgradeType::FaultDuration => "FaultDuration",
            UpgradeType::FaultAutofill => "FaultAutofill",
        }
    }

    pub fn from_upstream(s: &str) -> Option<UpgradeType> {
        [
            UpgradeType::FaultFrequency,
            UpgradeType::FaultDuration,
            UpgradeType::FaultAutofill,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The code a reason is about: a fault code, or the autofill marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    Code(FaultCode),
    Autofill,
}

/// The marker upstream writes as the code of an autofill reason.
pub const AUTOFILL_CODE: &str = "AutofillFaultCode";

impl fmt::Display for ReasonCode {
    /// Lower-case hex as upstream writes it (`80e01801`; the synthetic long
    /// codes with their 9 digits, `020001002`), or the marker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReasonCode::Code(code) if code.is_nine_digit() => write!(f, "{:09x}", code.0),
            ReasonCode::Code(code) => write!(f, "{:x}", code.0),
            ReasonCode::Autofill => f.write_str(AUTOFILL_CODE),
        }
    }
}

/// One reason a chip's level is raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeReason {
    pub code: ReasonCode,
    pub level: FaultLevel,
    pub kind: UpgradeType,
    /// Unix ms: the fault that caused it (refreshed while it holds).
    pub time_ms: u64,
}

/// Occurrences of one code with a frequency rule on one chip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FrequencyState {
    occurrences: VecDeque<u64>,
    last_fault: u64,
    last_recover: u64,
}

/// One code with a duration rule on one chip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DurationState {
    timed_out: bool,
    present: bool,
    /// When `present` last changed.
    since: u64,
}

/// What the rules did to a chip in one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutcome {
    pub added: Vec<UpgradeReason>,
    pub released: Vec<UpgradeReason>,
}

/// The rule state and reasons of one chip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChipUpgrades {
    frequency: BTreeMap<FaultCode, FrequencyState>,
    duration: BTreeMap<FaultCode, DurationState>,
    reasons: BTreeMap<(ReasonCode, UpgradeType), UpgradeReason>,
}

impl ChipUpgrades {
    /// The reasons in force, in code order.
    pub fn reasons(&self) -> impl Iterator<Item = &UpgradeReason> {
        self.reasons.values()
    }

    /// The highest level a reason raises the chip to (`Normal` for none).
    /// `network` picks the reasons of parameter-plane codes (or the others).
    pub fn level(&self, network: impl Fn(FaultCode) -> bool, want_network: bool) -> FaultLevel {
        self.reasons
            .values()
            .filter(|r| match r.code {
                ReasonCode::Code(code) => network(code) == want_network,
                ReasonCode::Autofill => !want_network,
            })
            .map(|r| r.level)
            .max()
            .unwrap_or(FaultLevel::Normal)
    }

    pub fn is_manually_separated(&self) -> bool {
        self.reasons
            .values()
            .any(|r| r.level == FaultLevel::ManuallySeparateNPU)
    }

    /// Adopts a reason read back from the cluster (start-up). A reason whose
    /// code is no longer active counts as recovered at its time, so its
    /// release window runs from there.
    pub fn restore(&mut self, reason: UpgradeReason) {
        if let ReasonCode::Code(code) = reason.code {
            match reason.kind {
                UpgradeType::FaultFrequency => {
                    let state = self.frequency.entry(code).or_default();
                    state.last_fault = state.last_fault.max(reason.time_ms);
                    state.last_recover = state.last_recover.max(reason.time_ms);
                }
                UpgradeType::FaultDuration => {
                    let state = self.duration.entry(code).or_default();
                    state.timed_out = true;
                    state.since = reason.time_ms;
                }
                UpgradeType::FaultAutofill => {}
            }
        }
        self.reasons.insert((reason.code, reason.kind), reason);
    }

    /// An operator listed the chip: isolate it with an autofill reason
    /// unless something already isolates it.
    pub fn autofill(&mut self, now_ms: u64) -> Option<UpgradeReason> {
        if self.is_manually_separated() {
            return None;
        }
        let reason = UpgradeReason {
            code: ReasonCode::Autofill,
            level: FaultLevel::ManuallySeparateNPU,
            kind: UpgradeType::FaultAutofill,
            time_ms: now_ms,
        };
        self.reasons
            .insert((reason.code, reason.kind), reason.clone());
        Some(reason)
    }

    /// An operator released the chip: every ManuallySeparateNPU reason goes,
    /// with the counters behind them (a fresh start, not an instant relapse).
    pub fn release_manual(&mut self) -> Vec<UpgradeReason> {
        let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.reasons)
            .into_iter()
            .partition(|(_, r)| r.level == FaultLevel::ManuallySeparateNPU);
        self.reasons = kept;
        for reason in gone.values() {
            if let ReasonCode::Code(code) = reason.code {
                self.frequency.remove(&code);
                self.duration.remove(&code);
            }
        }
        gone.into_values().collect()
    }

    /// One cycle of the rules: `appeared` and `vanished` are the codes that
    /// came and went since the last step, `present` every code active now
    /// (including a once-fault for its cycle). `autofill_release_ms` is how
    /// long an autofill reason lasts (`None`: until an operator releases it).
    pub fn step(
        &mut self,
        rules: &Customization,
        present: &BTreeSet<FaultCode>,
        appeared: &BTreeSet<FaultCode>,
        vanished: &BTreeSet<FaultCode>,
        now_ms: u64,
    ) -> StepOutcome {
        let mut outcome = StepOutcome::default();
        // Occurrences: a code with a duration rule counts only when it times out.
        for &code in appeared {
            if rules.frequency.contains_key(&code) && !rules.duration.contains_key(&code) {
                self.frequency.entry(code).or_default().occur(now_ms);
            }
        }
        for &code in vanished {
            if !rules.duration.contains_key(&code)
                && let Some(state) = self.frequency.get_mut(&code)
            {
                state.last_recover = state.last_recover.max(now_ms);
            }
        }
        self.step_duration(rules, present, now_ms, &mut outcome);
        self.step_frequency(rules, now_ms, &mut outcome);
        self.release_autofill(rules.autofill_release_ms(), now_ms, &mut outcome);
        // Codes that lost their rule (a reload) lose their state and reasons.
        self.frequency
            .retain(|c, _| rules.frequency.contains_key(c));
        self.duration.retain(|c, _| rules.duration.contains_key(c));
        let dropped: Vec<_> = self
            .reasons
            .iter()
            .filter(|((code, kind), _)| match (code, kind) {
                (ReasonCode::Code(c), UpgradeType::FaultFrequency) => {
                    !rules.frequency.contains_key(c)
                }
                (ReasonCode::Code(c), UpgradeType::FaultDuration) => {
                    !rules.duration.contains_key(c)
                }
                _ => false,
            })
            .map(|(key, _)| *key)
            .collect();
        for key in dropped {
            outcome.released.extend(self.reasons.remove(&key));
        }
        outcome
    }

    /// The earliest time a duration rule can change state with no new
    /// reading, so a caller can wake then.
    pub fn next_deadline(&self, rules: &Customization) -> Option<u64> {
        self.duration
            .iter()
            .filter_map(|(code, state)| {
                let rule = rules.duration.get(code)?;
                match (state.timed_out, state.present) {
                    (false, true) => Some(state.since + rule.fault_timeout_ms + 1),
                    (true, false) => Some(state.since + rule.recover_timeout_ms + 1),
                    _ => None,
                }
            })
            .min()
    }

    fn step_duration(
        &mut self,
        rules: &Customization,
        present: &BTreeSet<FaultCode>,
        now_ms: u64,
        outcome: &mut StepOutcome,
    ) {
        for (&code, rule) in &rules.duration {
            let is_present = present.contains(&code);
            let state = self.duration.entry(code).or_insert_with(|| DurationState {
                since: now_ms,
                ..DurationState::default()
            });
            if state.present != is_present {
                state.present = is_present;
                state.since = now_ms;
            }
            match state.edge(rule, now_ms) {
                Some(Edge::TimedOut(at)) => {
                    let reason = UpgradeReason {
                        code: ReasonCode::Code(code),
                        level: rule.level,
                        kind: UpgradeType::FaultDuration,
                        time_ms: at,
                    };
                    self.reasons
                        .insert((reason.code, reason.kind), reason.clone());
                    outcome.added.push(reason);
                    if rules.frequency.contains_key(&code) {
                        self.frequency.entry(code).or_default().occur(at);
                    }
                }
                Some(Edge::Recovered(at)) => {
                    let key = (ReasonCode::Code(code), UpgradeType::FaultDuration);
                    outcome.released.extend(self.reasons.remove(&key));
                    if let Some(freq) = self.frequency.get_mut(&code) {
                        freq.last_recover = freq.last_recover.max(at);
                    }
                }
                None => {}
            }
        }
    }

    fn step_frequency(&mut self, rules: &Customization, now_ms: u64, outcome: &mut StepOutcome) {
        for (&code, state) in &mut self.frequency {
            let Some(rule) = rules.frequency.get(&code) else {
                continue;
            };
            let key = (ReasonCode::Code(code), UpgradeType::FaultFrequency);
            match state.verdict(rule, now_ms, self.reasons.contains_key(&key)) {
                Verdict::Hold(time_ms) => {
                    let reason = UpgradeReason {
                        code: key.0,
                        level: rule.level,
                        kind: key.1,
                        time_ms,
                    };
                    if self.reasons.insert(key, reason.clone()).is_none() {
                        outcome.added.push(reason);
                    }
                }
                Verdict::Release => outcome.released.extend(self.reasons.remove(&key)),
                Verdict::Nothing => {}
            }
        }
    }

    fn release_autofill(&mut self, after: Option<u64>, now_ms: u64, outcome: &mut StepOutcome) {
        let Some(after) = after else { return };
        let key = (ReasonCode::Autofill, UpgradeType::FaultAutofill);
        if self
            .reasons
            .get(&key)
            .is_some_and(|r| now_ms.saturating_sub(r.time_ms) > after)
        {
            outcome.released.extend(self.reasons.remove(&key));
        }
    }
}

enum Verdict {
    /// Triggered, or still held: the reason (with this time) stays.
    Hold(u64),
    Release,
    Nothing,
}

impl FrequencyState {
    fn occur(&mut self, at: u64) {
        self.occurrences.push_back(at);
        self.last_fault = self.last_fault.max(at);
    }

    fn verdict(&mut self, rule: &FrequencyRule, now_ms: u64, held: bool) -> Verdict {
        let oldest = now_ms.saturating_sub(rule.window_ms);
        self.occurrences.retain(|&t| t >= oldest);
        let count = u32::try_from(self.occurrences.len()).unwrap_or(u32::MAX);
        if count >= rule.times {
            // An upgraded fault is not counted again.
            self.occurrences.clear();
            return Verdict::Hold(self.last_fault);
        }
        if !held {
            return Verdict::Nothing;
        }
        let recovered = self.last_recover >= self.last_fault;
        let release_due = rule
            .release_ms
            .is_some_and(|window| now_ms.saturating_sub(self.last_recover) > window);
        if recovered && release_due {
            return Verdict::Release;
        }
        self.occurrences.clear();
        Verdict::Hold(self.last_fault)
    }
}

enum Edge {
    TimedOut(u64),
    Recovered(u64),
}

impl DurationState {
    fn edge(&mut self, rule: &DurationRule, now_ms: u64) -> Option<Edge> {
        let lasted = now_ms.saturating_sub(self.since);
        match (self.timed_out, self.present) {
            (false, true) if lasted > rule.fault_timeout_ms || rule.fault_timeout_ms == 0 => {
                self.timed_out = true;
                Some(Edge::TimedOut(self.since + rule.fault_timeout_ms))
            }
            (true, false) if lasted > rule.recover_timeout_ms || rule.recover_timeout_ms == 0 => {
                self.timed_out = false;
                Some(Edge::Recovered(self.since + rule.recover_timeout_ms))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
