//! Health, as pure state: readings in, one immutable [`Snapshot`] out.
//!
//! `spec/compat.md` §7: each chip's active codes are graded with the fault
//! table (worst wins; unknown codes by the last event's severity); a dropped
//! card is the synthetic code `40F84E00`; a link DCMI reports down is the
//! network code `81078603`, graded on the network scale (§1.4) and timed by
//! FaultDuration rules, never by `linkdownTimeout` (inert, §0); network
//! SubHealth is Healthy-with-warning (§6 #9); manual separation wins
//! over everything; a chip is Healthy again as soon as its faults clear,
//! unless autoStowing is off, in which case it waits for [`Tracker::release`].
//! Recovery spec §1–§2 on top: each code graded on its own and the maximum
//! taken; once-faults count for one cycle; FaultFrequency/FaultDuration
//! reasons (`upgrade.rs`) raise the level; PreSeparateNPU stays Healthy while
//! a pod holds the chip; a 300I Duo card is Unhealthy as a whole when asked;
//! chips being hot-reset are Unhealthy for exactly the reset; an AIC/AIV
//! bus error near an HBM fault is the HBM fault's echo (`bus_errors.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::customization::Customization;
use super::faults::{CARD_DROPPED, FaultCode, FaultLevel, FaultTable, LINK_DOWN, is_network};
use super::upgrade::{ChipUpgrades, UpgradeReason};

/// What one poll of one chip returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reading {
    pub phy_id: u32,
    /// The card answered -8012 (not ready).
    pub dropped: bool,
    /// Active fault codes from `dcmi_get_device_errorcode_v2`.
    pub codes: Vec<u32>,
    /// Raw network health for chips that have a RoCE network; `None` otherwise.
    pub network: Option<u32>,
    /// The driver call failed for another reason (logged by the caller).
    pub failed: bool,
}

/// One active fault code with its grade and first-seen time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFault {
    pub code: FaultCode,
    pub level: FaultLevel,
    pub since_ms: u64,
}

/// A chip's health at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipState {
    pub phy_id: u32,
    pub healthy: bool,
    pub level: FaultLevel,
    pub faults: Vec<ActiveFault>,
    pub network_healthy: bool,
    pub dropped: bool,
    /// Faults cleared, waiting for an operator (autoStowing=false).
    pub recovering: bool,
    pub manually_separated: bool,
    /// Reasons a rule raised the level (persisted as `UpgradeFaultReason`).
    pub reasons: Vec<UpgradeReason>,
    /// Part of a ring the plugin is hot-resetting right now.
    pub resetting: bool,
}

/// Every chip's health; published whole, never mutated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Increases by one each time the content changes.
    pub generation: u64,
    pub chips: BTreeMap<u32, ChipState>,
    /// The isolation list and reasons were read back from the cluster, so
    /// `manually_separated` and `reasons` may be written out.
    pub isolation_loaded: bool,
    /// The `ManuallySeparateNPU` list (phy ids) this snapshot has taken in:
    /// a writer whose last-read list differs waits for the monitor to catch up.
    pub listed: BTreeSet<u32>,
    /// Chips a live pod holds (as the cluster side last said).
    pub in_use: BTreeSet<u32>,
}

impl Snapshot {
    /// Health of the chip behind a device; unknown chips are unhealthy.
    pub fn is_healthy(&self, phy_id: u32) -> bool {
        self.chips.get(&phy_id).is_some_and(|chip| chip.healthy)
    }
}

/// Settings the tracker grades with.
#[derive(Debug, Clone)]
pub struct Policy {
    pub table: Arc<FaultTable>,
    pub auto_stowing: bool,
    /// FaultFrequency / FaultDuration rules.
    pub customization: Arc<Customization>,
    /// Chips (phy ids) that are Unhealthy together when one of them is: the
    /// cards of an Atlas 300I Duo with `-hotReset=0`; empty otherwise.
    pub whole_cards: Vec<Vec<u32>>,
}

impl Policy {
    /// The built-in tables, no whole cards.
    pub fn new(table: Arc<FaultTable>, auto_stowing: bool) -> Self {
        Self {
            table,
            auto_stowing,
            customization: Arc::new(Customization::builtin()),
            whole_cards: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ChipMemory {
    first_seen: HashMap<FaultCode, u64>,
    /// The link as DCMI last reported it (a failed read keeps it).
    link_down: bool,
    /// AIC/AIV bus errors waiting to be told apart from an HBM fault's echo.
    bus: BusErrors,
    reading: Reading,
    held: bool,
    /// Codes of once-events (assertion 2), graded until the cycle ends.
    once: BTreeMap<FaultCode, u64>,
    /// Every code the rules saw active at their last step.
    present: BTreeSet<FaultCode>,
    upgrades: ChipUpgrades,
    /// Isolated by a rule and not yet seen in the ConfigMap's list: an
    /// absence from the list does not release it.
    manual_pending: bool,
}

/// Folds readings and events into snapshots.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    chips: BTreeMap<u32, ChipMemory>,
    severities: HashMap<FaultCode, u8>,
    /// The `ManuallySeparateNPU` list as last read from the cluster.
    listed: BTreeSet<u32>,
    isolation_loaded: bool,
    /// Chips a live pod holds.
    in_use: BTreeSet<u32>,
    resetting: BTreeSet<u32>,
    current: Arc<Snapshot>,
}

/// Network health values that mean OK (OK and INIT).
const NETWORK_OK: [u32; 2] = [0, 6];

impl Tracker {
    /// A tracker for these chips, all Healthy until the first reading.
    pub fn new(policy: Policy, phy_ids: impl IntoIterator<Item = u32>) -> Self {
        let chips = phy_ids
            .into_iter()
            .map(|phy_id| {
                let memory = ChipMemory {
                    reading: Reading {
                        phy_id,
                        ..Reading::default()
                    },
                    ..ChipMemory::default()
                };
                (phy_id, memory)
            })
            .collect();
        let mut tracker = Self {
            policy,
            chips,
            severities: HashMap::new(),
            listed: BTreeSet::new(),
            isolation_loaded: false,
            in_use: BTreeSet::new(),
            resetting: BTreeSet::new(),
            current: Arc::new(Snapshot::default()),
        };
        tracker.regrade();
        tracker
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current)
    }

    /// Records a fault event's severity (for the unknown-code rule).
    pub fn note_event_severity(&mut self, code: impl Into<FaultCode>, severity: u8) {
        self.severities.insert(code.into(), severity);
    }

    /// Replaces the fault table (file or ConfigMap reload).
    pub fn set_table(&mut self, table: Arc<FaultTable>) -> bool {
        self.policy.table = table;
        self.regrade()
    }

    /// Replaces the FaultFrequency / FaultDuration rules (file or ConfigMap
    /// reload). Counters of codes still configured are kept.
    pub fn set_customization(&mut self, customization: Arc<Customization>, now_ms: u64) -> bool {
        self.policy.customization = customization;
        self.tick(now_ms)
    }

    /// The isolation state read back from the cluster at start: the chips of
    /// `ManuallySeparateNPU` and the persisted reasons. A listed chip without
    /// an isolating reason gets an autofill one; isolating reasons of chips
    /// no longer listed are dropped (an operator released them while the
    /// plugin was away).
    pub fn load_isolation(
        &mut self,
        listed: BTreeSet<u32>,
        reasons: BTreeMap<u32, Vec<UpgradeReason>>,
        now_ms: u64,
    ) -> bool {
        for (phy, reasons) in reasons {
            let Some(chip) = self.chips.get_mut(&phy) else {
                continue;
            };
            for reason in reasons {
                if reason.level == FaultLevel::ManuallySeparateNPU && !listed.contains(&phy) {
                    continue;
                }
                chip.upgrades.restore(reason);
            }
        }
        for phy in &listed {
            if let Some(chip) = self.chips.get_mut(phy) {
                chip.upgrades.autofill(now_ms);
            }
        }
        self.listed = listed;
        self.isolation_loaded = true;
        self.regrade()
    }

    /// The `ManuallySeparateNPU` list changed in the cluster. A chip an
    /// operator added is isolated (an autofill reason); a chip an operator
    /// removed is released, unless the plugin isolated it since and has
    /// not written it yet.
    pub fn set_manual(&mut self, listed: BTreeSet<u32>, now_ms: u64) -> bool {
        for (phy, chip) in &mut self.chips {
            if listed.contains(phy) {
                chip.manual_pending = false;
                if !self.listed.contains(phy) && chip.upgrades.autofill(now_ms).is_some() {
                    tracing::warn!(
                        chip = phy,
                        "chip isolated by an operator (ManuallySeparateNPU)"
                    );
                }
            } else if !chip.manual_pending && chip.upgrades.is_manually_separated() {
                let released = chip.upgrades.release_manual();
                tracing::info!(
                    chip = phy,
                    reasons = released.len(),
                    "chip released by an operator (removed from ManuallySeparateNPU)"
                );
            }
        }
        self.listed = listed;
        self.regrade()
    }

    /// Chips a live pod holds (PreSeparateNPU stays Healthy on them).
    pub fn set_in_use(&mut self, phys: BTreeSet<u32>) -> bool {
        self.in_use = phys;
        self.regrade()
    }

    /// Chips of a ring being hot-reset: Unhealthy for exactly that time.
    pub fn set_resetting(&mut self, phys: BTreeSet<u32>) -> bool {
        self.resetting = phys;
        self.regrade()
    }

    /// A once-fault (event assertion 2): graded, and counted by the rules,
    /// until [`Tracker::end_cycle`].
    pub fn note_once(&mut self, phy_id: u32, code: impl Into<FaultCode>, now_ms: u64) -> bool {
        let Some(chip) = self.chips.get_mut(&phy_id) else {
            return false;
        };
        chip.once.insert(code.into(), now_ms);
        self.step_rules(phy_id, now_ms);
        self.regrade()
    }

    /// The end of a polling cycle: once-faults go.
    pub fn end_cycle(&mut self, now_ms: u64) -> bool {
        let phys: Vec<u32> = self
            .chips
            .iter_mut()
            .filter(|(_, c)| !c.once.is_empty())
            .map(|(phy, c)| {
                c.once.clear();
                *phy
            })
            .collect();
        for phy in phys {
            self.step_rules(phy, now_ms);
        }
        self.regrade()
    }

    /// Time passed with no reading: rules whose timers ran out move on.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        // A bus error undecided for 5 s is decided on the last reading.
        let due: Vec<Reading> = self
            .chips
            .values()
            .filter(|memory| memory.bus.next_deadline().is_some_and(|at| at <= now_ms))
            .map(|memory| memory.reading.clone())
            .collect();
        for reading in due {
            self.apply(reading, now_ms);
        }
        let phys: Vec<u32> = self.chips.keys().copied().collect();
        for phy in phys {
            self.step_rules(phy, now_ms);
        }
        self.regrade()
    }

    /// Runs one chip's rules over its codes now.
    fn step_rules(&mut self, phy_id: u32, now_ms: u64) {
        let Some(chip) = self.chips.get_mut(&phy_id) else {
            return;
        };
        let present: BTreeSet<FaultCode> = chip
            .first_seen
            .keys()
            .chain(chip.once.keys())
            .copied()
            .collect();
        let appeared = present.difference(&chip.present).copied().collect();
        let vanished = chip.present.difference(&present).copied().collect();
        let outcome = chip.upgrades.step(
            &self.policy.customization,
            &present,
            &appeared,
            &vanished,
            now_ms,
        );
        chip.present = present;
        for reason in &outcome.added {
            if reason.level == FaultLevel::ManuallySeparateNPU {
                chip.manual_pending = true;
            }
            tracing::warn!(chip = phy_id, code = %reason.code, level = %reason.level, rule = reason.kind.as_str(), "fault rule raised the chip's level");
        }
        for reason in &outcome.released {
            tracing::info!(chip = phy_id, code = %reason.code, level = %reason.level, rule = reason.kind.as_str(), "fault rule released the chip");
        }
    }

    /// An operator released a recovered chip (autoStowing=false).
    pub fn release(&mut self, phy_id: u32) -> bool {
        if let Some(chip) = self.chips.get_mut(&phy_id) {
            chip.held = false;
        }
        self.regrade()
    }

    /// Applies a poll result. Returns true when the snapshot changed.
    pub fn apply(&mut self, reading: Reading, now_ms: u64) -> bool {
        let Some(chip) = self.chips.get_mut(&reading.phy_id) else {
            return false;
        };
        let mut codes: Vec<FaultCode> =
            reading.codes.iter().copied().map(FaultCode::from).collect();
        if reading.dropped {
            codes.push(CARD_DROPPED);
        }
        if let Some(value) = reading.network {
            chip.link_down = !NETWORK_OK.contains(&value);
        }
        // The driver's own network codes win; a down link without one is
        // `81078603`, as upstream makes it from `hccn_tool` (§1.2).
        if chip.link_down && !codes.iter().any(|&code| is_network(code)) {
            codes.push(LINK_DOWN);
        }
        let hbm_since = codes.contains(&bus_errors::HBM_ECC).then(|| {
            chip.first_seen
                .get(&bus_errors::HBM_ECC)
                .copied()
                .unwrap_or(now_ms)
        });
        let associate = self
            .policy
            .customization
            .duration
            .contains_key(&bus_errors::HBM_ECC);
        let released = chip.bus.filter(&mut codes, associate, hbm_since, now_ms);
        chip.first_seen.retain(|code, _| codes.contains(code));
        for (code, since) in released {
            chip.first_seen.insert(code, since);
        }
        for code in codes {
            chip.first_seen.entry(code).or_insert(now_ms);
        }
        chip.reading = reading;
        let phy_id = chip.reading.phy_id;
        self.step_rules(phy_id, now_ms);
        self.regrade()
    }

    /// Recomputes every chip; publishes a new generation when anything changed.
    pub fn regrade(&mut self) -> bool {
        let mut chips = BTreeMap::new();
        for (&phy_id, memory) in &mut self.chips {
            let table = &self.policy.table;
            let grade = |code: FaultCode, since_ms: u64| ActiveFault {
                code,
                level: if is_network(code) {
                    table.network_grade(code)
                } else {
                    table.level(code, self.severities.get(&code).copied())
                },
                since_ms,
            };
            let mut faults: Vec<ActiveFault> = memory
                .first_seen
                .iter()
                .map(|(&code, &since)| grade(code, since))
                .collect();
            for (&code, &since) in &memory.once {
                if !memory.first_seen.contains_key(&code) {
                    faults.push(grade(code, since));
                }
            }
            faults.sort_by_key(|fault| fault.code);
            // Each code graded on its own, the maximum taken (§6 #1), then
            // whatever a rule raised the chip to.
            let table_level = faults
                .iter()
                .filter(|fault| !is_network(fault.code))
                .map(|fault| fault.level)
                .max()
                .unwrap_or(FaultLevel::Normal);
            let upgrades = &memory.upgrades;
            let manually_separated = upgrades.is_manually_separated();
            let chip_rule = upgrades.level(is_network, false);
            let network_rule = upgrades.level(is_network, true);
            // Each code's reported level folds in what the rules raised the
            // chip to, as upstream's device-info `Fault` entries do.
            for fault in &mut faults {
                let rule = if is_network(fault.code) {
                    network_rule
                } else {
                    chip_rule
                };
                fault.level = fault.level.max(rule);
            }
            let mut level = table_level.max(chip_rule);
            if manually_separated {
                level = FaultLevel::ManuallySeparateNPU;
            }
            let held_by_pod = level == FaultLevel::PreSeparateNPU && self.in_use.contains(&phy_id);
            let mut healthy = (level.is_healthy() || held_by_pod) && !memory.reading.failed;
            // Network SubHealth is Healthy with a warning (§6 #9): the
            // fault stays listed with its level in the device-info ConfigMap.
            let network_level = faults
                .iter()
                .filter(|fault| is_network(fault.code))
                .map(|fault| fault.level)
                .max()
                .unwrap_or(FaultLevel::Normal)
                .max(network_rule);
            let network_healthy = network_level.is_healthy();
            if !healthy && !self.policy.auto_stowing {
                memory.held = true;
            }
            let recovering = healthy && memory.held;
            if recovering {
                healthy = false;
            }
            let resetting = self.resetting.contains(&phy_id);
            chips.insert(
                phy_id,
                ChipState {
                    phy_id,
                    healthy: healthy && !resetting,
                    level,
                    faults,
                    network_healthy,
                    dropped: memory.reading.dropped,
                    recovering,
                    manually_separated,
                    reasons: upgrades.reasons().cloned().collect(),
                    resetting,
                },
            );
        }
        // An Atlas 300I Duo card with -hotReset=0 is Unhealthy as a whole.
        for card in &self.policy.whole_cards {
            if card
                .iter()
                .any(|phy| chips.get(phy).is_some_and(|c| !c.healthy))
            {
                for phy in card {
                    if let Some(chip) = chips.get_mut(phy) {
                        chip.healthy = false;
                    }
                }
            }
        }
        if chips == self.current.chips
            && self.isolation_loaded == self.current.isolation_loaded
            && self.listed == self.current.listed
            && self.in_use == self.current.in_use
        {
            return false;
        }
        self.current = Arc::new(Snapshot {
            generation: self.current.generation + 1,
            chips,
            isolation_loaded: self.isolation_loaded,
            listed: self.listed.clone(),
            in_use: self.in_use.clone(),
        });
        true
    }

    /// The next moment a timer (a FaultDuration rule, an undecided bus
    /// error) changes a grade with no new reading; the monitor wakes then.
    pub fn next_deadline(&self) -> Option<u64> {
        self.chips
            .values()
            .flat_map(|memory| {
                [
                    memory.upgrades.next_deadline(&self.policy.customization),
                    memory.bus.next_deadline(),
                ]
            })
            .flatten()
            .min()
    }
}

mod bus_errors;
use bus_errors::BusErrors;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
