//! The hot-reset decisions of one cycle (recovery spec §3.2), pure: which
//! chips need an operator, which rings may be reset now, the idle timer and
//! the token bucket. The caller does the driver calls and feeds back what
//! they found (ring free or busy, reset done).

use std::collections::{BTreeMap, BTreeSet};

use crate::device::faults::FaultLevel;
use crate::device::health::Snapshot;

/// Resets a chip may have between refills.
pub const TOKENS: u32 = 3;
/// A bucket is refilled once this long has passed since its last refill.
pub const REFILL_MS: u64 = 6 * 3_600_000;

/// Three resets per chip, refilled to three 6 h after the last refill
/// (checked when a token is asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    tokens: u32,
    refilled_ms: u64,
}

impl TokenBucket {
    pub fn new(now_ms: u64) -> Self {
        Self {
            tokens: TOKENS,
            refilled_ms: now_ms,
        }
    }

    /// Tokens left now (refilling first when due).
    pub fn available(&mut self, now_ms: u64) -> u32 {
        if now_ms.saturating_sub(self.refilled_ms) >= REFILL_MS {
            self.tokens = TOKENS;
            self.refilled_ms = now_ms;
        }
        self.tokens
    }

    /// Takes a token; false when none is left.
    pub fn take(&mut self, now_ms: u64) -> bool {
        if self.available(now_ms) == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// What a cycle asks of one faulted chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub chip: u32,
    pub ring: Vec<u32>,
}

/// The reset state kept between cycles.
#[derive(Debug)]
pub struct Planner {
    rings: BTreeMap<u32, Vec<u32>>,
    /// Chips never reset (carved into vNPUs).
    excluded: BTreeSet<u32>,
    idle_delay_ms: u64,
    /// Ring -> when it was first seen free in the current free stretch.
    idle_since: BTreeMap<Vec<u32>, u64>,
    buckets: BTreeMap<u32, TokenBucket>,
    /// Chips left to an operator (`ResetInfo.ManualResetDevs`).
    manual: BTreeSet<u32>,
}

/// Whether a free ring may be reset now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Still within the idle delay.
    Wait,
    /// No token left: the chip is now an operator's.
    NoTokens,
    Go,
}

impl Planner {
    pub fn new(
        rings: BTreeMap<u32, Vec<u32>>,
        excluded: BTreeSet<u32>,
        idle_delay_ms: u64,
    ) -> Self {
        Self {
            rings,
            excluded,
            idle_delay_ms,
            idle_since: BTreeMap::new(),
            buckets: BTreeMap::new(),
            manual: BTreeSet::new(),
        }
    }

    /// The chips left to an operator.
    pub fn manual(&self) -> &BTreeSet<u32> {
        &self.manual
    }

    pub fn ring(&self, chip: u32) -> Option<&[u32]> {
        self.rings.get(&chip).map(Vec::as_slice)
    }

    /// Steps 1 and 3 of a cycle: recovered chips leave the manual list and
    /// forget their timers; Separate and ManuallySeparate chips join it;
    /// chips graded RestartRequest .. RestartNPU are returned as candidates
    /// (not while any chip of their ring is being reset).
    pub fn candidates(&mut self, snapshot: &Snapshot) -> Vec<Candidate> {
        let healthy = |phy: &u32| snapshot.chips.get(phy).is_some_and(|c| c.healthy);
        self.manual.retain(|phy| !healthy(phy));
        self.idle_since.retain(|ring, _| !ring.iter().all(healthy));
        let mut out = Vec::new();
        for (phy, chip) in &snapshot.chips {
            if chip.healthy || chip.resetting || self.excluded.contains(phy) {
                continue;
            }
            match chip.level {
                FaultLevel::SeparateNPU | FaultLevel::ManuallySeparateNPU => {
                    self.manual.insert(*phy);
                }
                FaultLevel::RestartRequest
                | FaultLevel::RestartBusiness
                | FaultLevel::FreeRestartNPU
                | FaultLevel::RestartNPU => {
                    let ring = self.rings.get(phy).cloned().unwrap_or_else(|| vec![*phy]);
                    let ring_resetting = ring
                        .iter()
                        .any(|p| snapshot.chips.get(p).is_some_and(|c| c.resetting));
                    if !ring_resetting && !self.manual.contains(phy) {
                        out.push(Candidate { chip: *phy, ring });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Step 4–6 for one candidate whose ring the caller found `free` (no
    /// pod holds a ring chip, the driver reports no process on any). A busy
    /// ring restarts its idle timer (upstream keeps it, §6 #4).
    pub fn readiness(&mut self, candidate: &Candidate, free: bool, now_ms: u64) -> Readiness {
        if !free {
            self.idle_since.remove(&candidate.ring);
            return Readiness::Wait;
        }
        let since = *self
            .idle_since
            .entry(candidate.ring.clone())
            .or_insert(now_ms);
        if now_ms.saturating_sub(since) < self.idle_delay_ms {
            return Readiness::Wait;
        }
        let bucket = self
            .buckets
            .entry(candidate.chip)
            .or_insert_with(|| TokenBucket::new(now_ms));
        if bucket.available(now_ms) == 0 {
            self.manual.insert(candidate.chip);
            return Readiness::NoTokens;
        }
        Readiness::Go
    }

    /// Step 7: the confirming health read passed; spend a token. Returns
    /// the tokens left.
    pub fn start(&mut self, candidate: &Candidate, now_ms: u64) -> u32 {
        let bucket = self
            .buckets
            .entry(candidate.chip)
            .or_insert_with(|| TokenBucket::new(now_ms));
        bucket.take(now_ms);
        bucket.available(now_ms)
    }

    /// The reset finished: on success its ring's idle timer is forgotten
    /// (the next fault waits a full delay again).
    pub fn finished(&mut self, candidate: &Candidate, ok: bool) {
        if ok {
            self.idle_since.remove(&candidate.ring);
        }
    }
}

#[cfg(test)]
mod tests;
