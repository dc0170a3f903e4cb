//! Health, as pure state: readings in, one immutable [`Snapshot`] out.
//!
//! `spec/compat.md` §7: each chip's active codes are graded with the fault
//! table (worst wins; unknown codes by the last event's severity); a dropped
//! card is the synthetic code `40F84E00`; link-down counts only after
//! `linkdownTimeout` and only as a network fault; manual separation wins
//! over everything; a chip is Healthy again as soon as its faults clear,
//! unless autoStowing is off, in which case it waits for [`Tracker::release`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::faults::{CARD_DROPPED, FaultCode, FaultLevel, FaultTable, is_network};

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
}

/// Every chip's health; published whole, never mutated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Increases by one each time the content changes.
    pub generation: u64,
    pub chips: BTreeMap<u32, ChipState>,
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
    pub linkdown_timeout: Duration,
}

#[derive(Debug, Clone, Default)]
struct ChipMemory {
    first_seen: HashMap<FaultCode, u64>,
    link_down_since: Option<u64>,
    reading: Reading,
    held: bool,
}

/// Folds readings and events into snapshots.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    chips: BTreeMap<u32, ChipMemory>,
    severities: HashMap<FaultCode, u8>,
    manual: BTreeSet<u32>,
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
            manual: BTreeSet::new(),
            current: Arc::new(Snapshot::default()),
        };
        tracker.regrade(0);
        tracker
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current)
    }

    /// Records a fault event's severity (for the unknown-code rule).
    pub fn note_event_severity(&mut self, code: u32, severity: u8) {
        self.severities.insert(FaultCode(code), severity);
    }

    /// Replaces the fault table (file or ConfigMap reload).
    pub fn set_table(&mut self, table: Arc<FaultTable>, now_ms: u64) -> bool {
        self.policy.table = table;
        self.regrade(now_ms)
    }

    /// Chips an operator isolated (ManuallySeparateNPU), by phy id.
    pub fn set_manual(&mut self, phy_ids: BTreeSet<u32>, now_ms: u64) -> bool {
        self.manual = phy_ids;
        self.regrade(now_ms)
    }

    /// An operator released a recovered chip (autoStowing=false).
    pub fn release(&mut self, phy_id: u32, now_ms: u64) -> bool {
        if let Some(chip) = self.chips.get_mut(&phy_id) {
            chip.held = false;
        }
        self.regrade(now_ms)
    }

    /// Applies a poll result. Returns true when the snapshot changed.
    pub fn apply(&mut self, reading: Reading, now_ms: u64) -> bool {
        let Some(chip) = self.chips.get_mut(&reading.phy_id) else {
            return false;
        };
        let mut codes: Vec<FaultCode> = reading.codes.iter().copied().map(FaultCode).collect();
        if reading.dropped {
            codes.push(CARD_DROPPED);
        }
        chip.first_seen.retain(|code, _| codes.contains(code));
        for code in codes {
            chip.first_seen.entry(code).or_insert(now_ms);
        }
        let link_down = reading
            .network
            .is_some_and(|value| !NETWORK_OK.contains(&value))
            || chip.first_seen.keys().any(|&code| is_network(code));
        chip.link_down_since = match (link_down, chip.link_down_since) {
            (true, Some(since)) => Some(since),
            (true, None) => Some(now_ms),
            (false, _) => None,
        };
        chip.reading = reading;
        self.regrade(now_ms)
    }

    /// Recomputes every chip; publishes a new generation when anything changed.
    pub fn regrade(&mut self, now_ms: u64) -> bool {
        let timeout_ms =
            u64::try_from(self.policy.linkdown_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut chips = BTreeMap::new();
        for (&phy_id, memory) in &mut self.chips {
            let table = &self.policy.table;
            let mut faults: Vec<ActiveFault> = memory
                .first_seen
                .iter()
                .map(|(&code, &since_ms)| ActiveFault {
                    code,
                    level: table.level(code, self.severities.get(&code).copied()),
                    since_ms,
                })
                .collect();
            faults.sort_by_key(|fault| fault.code);
            let chip_level = faults
                .iter()
                .filter(|fault| !is_network(fault.code))
                .map(|fault| fault.level)
                .max()
                .unwrap_or(FaultLevel::Normal);
            let mut level = chip_level;
            let mut healthy = chip_level.is_healthy() && !memory.reading.failed;
            let network_healthy = memory
                .link_down_since
                .is_none_or(|since| now_ms.saturating_sub(since) < timeout_ms);
            if !healthy && !self.policy.auto_stowing {
                memory.held = true;
            }
            let recovering = healthy && memory.held;
            if recovering {
                healthy = false;
            }
            let manually_separated = self.manual.contains(&phy_id);
            if manually_separated {
                level = FaultLevel::ManuallySeparateNPU;
                healthy = false;
            }
            chips.insert(
                phy_id,
                ChipState {
                    phy_id,
                    healthy,
                    level,
                    faults,
                    network_healthy,
                    dropped: memory.reading.dropped,
                    recovering,
                    manually_separated,
                },
            );
        }
        if chips == self.current.chips {
            return false;
        }
        self.current = Arc::new(Snapshot {
            generation: self.current.generation + 1,
            chips,
        });
        true
    }

    /// When the oldest pending link-down crosses `linkdownTimeout`, so the
    /// monitor can regrade at that moment rather than at the next poll.
    pub fn next_network_deadline(&self) -> Option<u64> {
        let timeout_ms =
            u64::try_from(self.policy.linkdown_timeout.as_millis()).unwrap_or(u64::MAX);
        self.chips
            .iter()
            .filter(|(phy, _)| {
                self.current
                    .chips
                    .get(phy)
                    .is_some_and(|c| c.network_healthy)
            })
            .filter_map(|(_, memory)| memory.link_down_since)
            .map(|since| since.saturating_add(timeout_ms))
            .min()
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
