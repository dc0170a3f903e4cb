//! The validated request: available chips keyed by phy, must-include as a set.

use std::collections::{BTreeMap, BTreeSet};

use super::{Request, TopologyError};

#[derive(Debug, Clone, Copy)]
struct Chip {
    numa: Option<i64>,
    healthy: bool,
}

/// A request that passed validation; iteration is always in ascending phy
/// order, which makes every answer independent of the caller's order.
#[derive(Debug)]
pub(super) struct Pool {
    chips: BTreeMap<u32, Chip>,
    pub(super) must: BTreeSet<u32>,
    pub(super) size: usize,
}

impl Pool {
    pub(super) fn new(req: &Request<'_>) -> Result<Pool, TopologyError> {
        if req.size == 0 {
            return Err(TopologyError::ZeroSize);
        }
        let mut chips = BTreeMap::new();
        let mut duplicate: Option<u32> = None;
        for candidate in req.available {
            let chip = Chip {
                numa: candidate.numa,
                healthy: candidate.healthy,
            };
            if chips.insert(candidate.phy, chip).is_some() {
                duplicate = Some(duplicate.map_or(candidate.phy, |d| d.min(candidate.phy)));
            }
        }
        if let Some(phy) = duplicate {
            return Err(TopologyError::DuplicateAvailable { phy });
        }
        if req.size > chips.len() {
            return Err(TopologyError::SizeExceedsAvailable {
                size: req.size,
                available: chips.len(),
            });
        }
        let must: BTreeSet<u32> = req.must_include.iter().copied().collect();
        if let Some(&phy) = must.iter().find(|phy| !chips.contains_key(phy)) {
            return Err(TopologyError::MustIncludeNotAvailable { phy });
        }
        if must.len() > req.size {
            return Err(TopologyError::MustIncludeExceedsSize {
                count: must.len(),
                size: req.size,
            });
        }
        Ok(Pool {
            chips,
            must,
            size: req.size,
        })
    }

    /// Chips an ideal answer may use: healthy ones and must-include ones, ascending.
    pub(super) fn usable(&self) -> impl Iterator<Item = u32> + '_ {
        self.chips
            .iter()
            .filter(|(phy, chip)| chip.healthy || self.must.contains(phy))
            .map(|(&phy, _)| phy)
    }

    /// Healthy chips not named by must-include, ascending.
    pub(super) fn healthy_extras(&self) -> Vec<u32> {
        self.extras(true)
    }

    /// Unhealthy chips not named by must-include, ascending.
    pub(super) fn unhealthy_extras(&self) -> Vec<u32> {
        self.extras(false)
    }

    fn extras(&self, healthy: bool) -> Vec<u32> {
        self.chips
            .iter()
            .filter(|(phy, chip)| chip.healthy == healthy && !self.must.contains(phy))
            .map(|(&phy, _)| phy)
            .collect()
    }

    pub(super) fn is_healthy(&self, phy: u32) -> bool {
        self.chips.get(&phy).is_some_and(|chip| chip.healthy)
    }

    /// The NUMA node of `phy`; an unknown node counts as a node of its own.
    pub(super) fn numa(&self, phy: u32) -> Option<i64> {
        self.chips.get(&phy).and_then(|chip| chip.numa)
    }

    /// How many NUMA nodes `phys` spans.
    pub(super) fn numa_nodes(&self, phys: &[u32]) -> usize {
        phys.iter()
            .map(|&phy| self.numa(phy))
            .collect::<BTreeSet<_>>()
            .len()
    }
}
