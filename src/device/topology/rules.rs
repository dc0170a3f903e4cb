//! The ideal placement of each board's rule. Every rule yields ranked
//! placements; the best is the lowest (rule tier, NUMA nodes spanned, ids).

use std::collections::{BTreeMap, BTreeSet};

use super::board::Board;
use super::pool::Pool;

/// One placement a rule allows; a lower `tier` is preferred by the rule.
#[derive(Debug)]
struct Placement {
    tier: usize,
    phys: Vec<u32>,
}

/// The ideal answer for a size `board` accepts, or why there is none.
pub(super) fn ideal(board: Board, pool: &Pool) -> Result<Vec<u32>, String> {
    let size = pool.size;
    let placements = match board {
        Board::Module910 if size <= 4 => one_group(board, pool, |free| ring_tier(size, free)),
        Board::Module910 => whole_units(pool, |phy| phy / 4, 4, size / 4, "ring"),
        Board::Module910B16 if size <= 8 => one_group(board, pool, |free| free.checked_sub(size)),
        Board::Module910B16 => whole_units(pool, cross_pair, 2, size / 2, "cross pair"),
        Board::A3 if size == 1 => one_group(board, pool, |free| free.checked_sub(1)),
        Board::A3 => whole_units(pool, |phy| phy / 2, 2, size / 2, "card"),
        Board::Half910 | Board::Card910 | Board::Module910B8 | Board::Generic => {
            one_group(board, pool, |_| Some(0))
        }
    }?;
    placements
        .into_iter()
        .min_by(|a, b| {
            (a.tier, pool.numa_nodes(&a.phys))
                .cmp(&(b.tier, pool.numa_nodes(&b.phys)))
                .then_with(|| a.phys.cmp(&b.phys))
        })
        .map(|placement| placement.phys)
        .ok_or_else(|| format!("no placement of {size} chips fits the {board} rule"))
}

/// 910 module ring preference by the ring's free count: 1 chip prefers a ring
/// with 1 free, then 3, 2, 4; 2 chips prefer 2, then 4, 3; 4 chips need 4.
fn ring_tier(size: usize, free: usize) -> Option<usize> {
    let order: &[usize] = match size {
        1 => &[1, 3, 2, 4],
        2 => &[2, 4, 3],
        4 => &[4],
        _ => &[],
    };
    order.iter().position(|&preferred| preferred == free)
}

/// The cross pair (i, i + 8) of a 910B 16-chip module holding `phy`.
fn cross_pair(phy: u32) -> u32 {
    (phy / 16) * 8 + phy % 8
}

/// All of the request inside one group (ring, group, card, or the whole
/// node); `tier_of` ranks a group by its free count, `None` rules it out.
/// Must-include chips pin their group.
fn one_group(
    board: Board,
    pool: &Pool,
    tier_of: impl Fn(usize) -> Option<usize>,
) -> Result<Vec<Placement>, String> {
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for phy in pool.usable() {
        groups.entry(board.group_of(phy)).or_default().push(phy);
    }
    let pinned: BTreeSet<u32> = pool.must.iter().map(|&phy| board.group_of(phy)).collect();
    let name = board.group_name().unwrap_or("node");
    if pinned.len() > 1 {
        return Err(format!("must_include chips span {} {name}s", pinned.len()));
    }
    let mut placements = Vec::new();
    for (group, chips) in &groups {
        if !pinned.is_empty() && !pinned.contains(group) {
            continue;
        }
        let free = chips.len();
        let Some(tier) = (free >= pool.size).then(|| tier_of(free)).flatten() else {
            continue;
        };
        let singles: Vec<Vec<u32>> = chips.iter().map(|&phy| vec![phy]).collect();
        placements.extend(
            pick_units(pool, &singles, pool.size)
                .into_iter()
                .map(|phys| Placement { tier, phys }),
        );
    }
    if placements.is_empty() {
        return Err(match (board.group_name(), pinned.first()) {
            (None, _) => format!(
                "only {} chips are healthy or named by must_include",
                pool.usable().count()
            ),
            (Some(name), Some(group)) => format!(
                "{name} {group}, pinned by must_include, has fewer than {} free healthy chips",
                pool.size
            ),
            (Some(name), None) => format!("no {name} has {} free healthy chips", pool.size),
        });
    }
    Ok(placements)
}

/// `count` whole units (rings, cross pairs, cards) whose `unit_len` chips are
/// all usable; units holding must-include chips come first.
fn whole_units(
    pool: &Pool,
    unit_of: impl Fn(u32) -> u32,
    unit_len: usize,
    count: usize,
    name: &str,
) -> Result<Vec<Placement>, String> {
    let mut units: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for phy in pool.usable() {
        units.entry(unit_of(phy)).or_default().push(phy);
    }
    let mut whole: Vec<Vec<u32>> = units
        .into_values()
        .filter(|unit| unit.len() == unit_len)
        .collect();
    whole.sort();
    let picks = pick_units(pool, &whole, count);
    if picks.is_empty() {
        let broken = pool
            .must
            .iter()
            .find(|phy| !whole.iter().any(|unit| unit.contains(phy)));
        return Err(match broken {
            Some(phy) => format!("the {name} of must_include chip {phy} is not wholly free"),
            None if whole.len() >= count => {
                format!("must_include chips span more than {count} {name}s")
            }
            None => format!("{count} whole free {name}s needed, {} found", whole.len()),
        });
    }
    Ok(picks
        .into_iter()
        .map(|phys| Placement { tier: 0, phys })
        .collect())
}

/// Picks `count` of `units`: every unit holding a must-include chip, then the
/// lowest others. Returns that pick and, per NUMA node, a pick kept inside
/// it; empty when `count` units holding every must-include chip do not exist.
fn pick_units(pool: &Pool, units: &[Vec<u32>], count: usize) -> Vec<Vec<u32>> {
    let (forced, others): (Vec<&Vec<u32>>, Vec<&Vec<u32>>) = units
        .iter()
        .partition(|unit| unit.iter().any(|phy| pool.must.contains(phy)));
    let covered = forced
        .iter()
        .flat_map(|unit| unit.iter())
        .filter(|phy| pool.must.contains(phy));
    if forced.len() > count || covered.count() < pool.must.len() {
        return Vec::new();
    }
    let need = count - forced.len();
    let mut picks: Vec<Vec<u32>> = take(&forced, others.iter().copied(), need)
        .into_iter()
        .collect();
    let nodes: BTreeSet<Option<i64>> = units.iter().flatten().map(|&phy| pool.numa(phy)).collect();
    for node in nodes {
        let inside = |unit: &&Vec<u32>| unit.iter().all(|&phy| pool.numa(phy) == node);
        if forced.iter().all(inside) {
            picks.extend(take(&forced, others.iter().copied().filter(inside), need));
        }
    }
    picks
}

/// `forced` plus the first `need` of `others`, ascending; `None` when short.
fn take<'a>(
    forced: &[&'a Vec<u32>],
    others: impl Iterator<Item = &'a Vec<u32>>,
    need: usize,
) -> Option<Vec<u32>> {
    let extra: Vec<&Vec<u32>> = others.take(need).collect();
    if extra.len() < need {
        return None;
    }
    let mut phys: Vec<u32> = forced
        .iter()
        .chain(extra.iter())
        .flat_map(|unit| unit.iter().copied())
        .collect();
    phys.sort_unstable();
    Some(phys)
}
