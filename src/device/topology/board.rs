//! The physical board a node's chips sit on, and the groups it implies.

use std::fmt;

/// Which physical board the chips sit on; decides the groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Board {
    /// Atlas 800 training server, 8 x 910: two HCCS rings, phy 0-3 and 4-7.
    Module910,
    /// 4 x 910 on one HCCS ring.
    Half910,
    /// PCIe cards of the 910 family (300T, 300T A2, 300I A2): no chip groups.
    Card910,
    /// 8 x 910B in one all-to-all HCCS group.
    Module910B8,
    /// 16 x 910B: groups 0-7 and 8-15, cross pairs (i, i + 8).
    Module910B16,
    /// 910A3: cards of two dies, card k = dies {2k, 2k + 1}.
    A3,
    /// Anything else: no chip groups, only NUMA matters.
    Generic,
}

impl Board {
    /// From the node label `accelerator-type` as Volcano's Ascend plugin spells it.
    /// Unknown -> `None`.
    pub fn from_accelerator_type(label: &str) -> Option<Board> {
        match label {
            "module" => Some(Board::Module910),
            "half" => Some(Board::Half910),
            "card" | "card-910b-2" | "card-910b-infer" => Some(Board::Card910),
            "module-910b-8" => Some(Board::Module910B8),
            "module-910b-16" => Some(Board::Module910B16),
            "module-a3-16" | "module-a3-16-super-pod" | "module-a3-8-super-pod" => Some(Board::A3),
            _ => None,
        }
    }

    /// From what DCMI tells us: `family` is one of "910", "910B", "910A3" (or
    /// anything else) and `chips` the number of chips on the node.
    pub fn infer(family: &str, chips: usize) -> Board {
        match (family, chips) {
            ("910", 8) => Board::Module910,
            ("910", 4) => Board::Half910,
            ("910", _) => Board::Card910,
            ("910B", 8) => Board::Module910B8,
            ("910B", 16) => Board::Module910B16,
            ("910A3", _) => Board::A3,
            _ => Board::Generic,
        }
    }

    /// The ring, group or card holding `phy`: the unit "fewest groups" counts.
    /// Boards without chip groups put every chip in group 0.
    pub fn group_of(self, phy: u32) -> u32 {
        match self {
            Board::Module910 => phy / 4,
            Board::Module910B16 => phy / 8,
            Board::A3 => phy / 2,
            Board::Half910 | Board::Card910 | Board::Module910B8 | Board::Generic => 0,
        }
    }

    /// What a group is called on this board, for notes; `None` when the
    /// board has a single group, so counting groups says nothing.
    pub(super) fn group_name(self) -> Option<&'static str> {
        match self {
            Board::Module910 => Some("ring"),
            Board::Module910B16 => Some("group"),
            Board::A3 => Some("card"),
            Board::Half910 | Board::Card910 | Board::Module910B8 | Board::Generic => None,
        }
    }

    /// Whether `size` is a request this board's rule knows how to place.
    pub fn accepts(self, size: usize) -> bool {
        match self {
            Board::Module910 => matches!(size, 1 | 2 | 4 | 8),
            Board::Half910 => matches!(size, 1 | 2 | 4),
            Board::Card910 | Board::Module910B8 => (1..=8).contains(&size),
            Board::Module910B16 => (1..=16).contains(&size) && !matches!(size, 9 | 11 | 13 | 15),
            Board::A3 => size == 1 || (size.is_multiple_of(2) && (2..=16).contains(&size)),
            Board::Generic => size >= 1,
        }
    }

    /// The valid sizes, as said in notes.
    fn valid_sizes(self) -> &'static str {
        match self {
            Board::Module910 => "1, 2, 4 or 8",
            Board::Half910 => "1, 2 or 4",
            Board::Card910 | Board::Module910B8 => "1 to 8",
            Board::Module910B16 => "1 to 16 except 9, 11, 13, 15",
            Board::A3 => "1 or an even number up to 16",
            Board::Generic => "any positive number",
        }
    }

    /// The note for a size this board does not accept.
    pub(super) fn invalid_size_note(self, size: usize) -> String {
        format!(
            "{size} chips is not a valid request on a {self} (valid: {})",
            self.valid_sizes()
        )
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Board::Module910 => "910 module",
            Board::Half910 => "910 half board",
            Board::Card910 => "910 card node",
            Board::Module910B8 => "910B 8-chip module",
            Board::Module910B16 => "910B 16-chip module",
            Board::A3 => "910A3 node",
            Board::Generic => "generic node",
        })
    }
}
