//! Chip topology: which chips a preferred allocation should take.
//! Owns the placement rules of `spec/topology.md` (HCCS rings, 910B groups and
//! cross pairs, A3 cards, NUMA, must-include); pure, no IO.

mod board;
mod pool;
mod rules;
mod spread;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use board::Board;

use std::collections::BTreeSet;

use pool::Pool;

/// One chip kubelet offers: its physical id, NUMA node and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub phy: u32,
    pub numa: Option<i64>,
    pub healthy: bool,
}

/// A preferred-allocation request, in physical chip ids.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub available: &'a [Candidate],
    pub must_include: &'a [u32],
    pub size: usize,
}

/// The chips to prefer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Exactly `size` physical ids from `available`, ascending.
    pub phys: Vec<u32>,
    /// false when the ideal placement was impossible and a best effort was returned
    pub ideal: bool,
    /// Why the answer is not ideal; `None` when it is.
    pub note: Option<String>,
}

/// A request no answer can satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("preferred allocation of 0 chips requested")]
    ZeroSize,
    #[error("preferred allocation of {size} chips requested but only {available} are available")]
    SizeExceedsAvailable { size: usize, available: usize },
    #[error("must_include chip {phy} is not in the available list")]
    MustIncludeNotAvailable { phy: u32 },
    #[error("must_include names {count} chips but the allocation size is {size}")]
    MustIncludeExceedsSize { count: usize, size: usize },
    #[error("chip {phy} appears more than once in the available list")]
    DuplicateAvailable { phy: u32 },
}

/// Chooses `req.size` chips from `req.available` the way `board`'s rule
/// prefers; a best effort (fewest groups, then lowest ids) when it cannot.
/// Deterministic: the order of `available` and `must_include` does not matter.
pub fn choose(board: Board, req: &Request<'_>) -> Result<Choice, TopologyError> {
    let pool = Pool::new(req)?;
    let why_not_ideal = if board.accepts(pool.size) {
        match rules::ideal(board, &pool) {
            Ok(phys) => return Ok(finish(board, &pool, phys, None)),
            Err(reason) => reason,
        }
    } else {
        board.invalid_size_note(pool.size)
    };
    let phys = spread::best_effort(board, &pool);
    Ok(finish(board, &pool, phys, Some(why_not_ideal)))
}

/// Wraps `phys` into a `Choice`, saying why it is not ideal when it is not.
fn finish(board: Board, pool: &Pool, mut phys: Vec<u32>, why_not_ideal: Option<String>) -> Choice {
    phys.sort_unstable();
    let mut reasons = Vec::new();
    if let Some(reason) = why_not_ideal {
        reasons.push(reason);
        if let Some(name) = board.group_name() {
            let groups: BTreeSet<u32> = phys.iter().map(|&phy| board.group_of(phy)).collect();
            reasons.push(format!(
                "best effort over {} {name}(s), then lowest ids",
                groups.len()
            ));
        }
    }
    let (named, filler): (Vec<u32>, Vec<u32>) = phys
        .iter()
        .copied()
        .filter(|&phy| !pool.is_healthy(phy))
        .partition(|phy| pool.must.contains(phy));
    if !named.is_empty() {
        reasons.push(format!(
            "includes unhealthy chip(s) {} named by must_include",
            list(&named)
        ));
    }
    if !filler.is_empty() {
        reasons.push(format!(
            "used unhealthy chip(s) {}: too few healthy chips were available",
            list(&filler)
        ));
    }
    let ideal = reasons.is_empty();
    Choice {
        phys,
        ideal,
        note: (!ideal).then(|| reasons.join("; ")),
    }
}

fn list(phys: &[u32]) -> String {
    phys.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
