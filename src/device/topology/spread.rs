//! Best effort when a board's rule cannot be met: healthy chips before
//! unhealthy ones, then the fewest groups touched, then the lowest ids.

use std::collections::{BTreeMap, BTreeSet};

use super::board::Board;
use super::pool::Pool;

/// A valid answer for any validated request: every must-include chip, then
/// healthy chips, then (only if still short) unhealthy ones.
pub(super) fn best_effort(board: Board, pool: &Pool) -> Vec<u32> {
    let mut forced: Vec<u32> = pool.must.iter().copied().collect();
    let healthy = pool.healthy_extras();
    let need = pool.size.saturating_sub(forced.len());
    let picked = if healthy.len() >= need {
        spread(board, &forced, &healthy, need)
    } else {
        let short = need - healthy.len();
        forced.extend(&healthy);
        spread(board, &forced, &pool.unhealthy_extras(), short)
    };
    forced.extend(picked);
    forced.sort_unstable();
    forced
}

/// Picks `need` of `candidates` (ascending, none in `forced`) touching the
/// fewest groups beyond those of `forced`, and among those the lowest ids:
/// each candidate, lowest first, is taken when the rest can still be
/// completed within the group budget.
fn spread(board: Board, forced: &[u32], candidates: &[u32], need: usize) -> Vec<u32> {
    let mut touched: BTreeSet<u32> = forced.iter().map(|&phy| board.group_of(phy)).collect();
    let Some(budget) = groups_to_open(board, &touched, candidates, need) else {
        // Unreachable for a validated pool (it holds at least `size` chips);
        // falling back to the lowest ids keeps the answer valid regardless.
        return candidates.iter().copied().take(need).collect();
    };
    let mut opened = 0;
    let mut chosen = Vec::with_capacity(need);
    for (index, &phy) in candidates.iter().enumerate() {
        if chosen.len() == need {
            break;
        }
        let group = board.group_of(phy);
        let is_new = touched.insert(group);
        let opened_after = opened + usize::from(is_new);
        let rest = candidates.get(index + 1..).unwrap_or_default();
        let still_needed = need - chosen.len() - 1;
        let fits = opened_after <= budget
            && groups_to_open(board, &touched, rest, still_needed)
                .is_some_and(|more| opened_after + more <= budget);
        if fits {
            chosen.push(phy);
            opened = opened_after;
        } else if is_new {
            touched.remove(&group);
        }
    }
    chosen
}

/// How many groups outside `touched` must be opened to find `need` chips
/// among `candidates` (largest groups first); `None` when they cannot be.
fn groups_to_open(
    board: Board,
    touched: &BTreeSet<u32>,
    candidates: &[u32],
    need: usize,
) -> Option<usize> {
    let mut have = 0;
    let mut outside: BTreeMap<u32, usize> = BTreeMap::new();
    for &phy in candidates {
        let group = board.group_of(phy);
        if touched.contains(&group) {
            have += 1;
        } else {
            *outside.entry(group).or_default() += 1;
        }
    }
    if have >= need {
        return Some(0);
    }
    let mut sizes: Vec<usize> = outside.into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    for (opened, size) in sizes.into_iter().enumerate() {
        have += size;
        if have >= need {
            return Some(opened + 1);
        }
    }
    None
}
