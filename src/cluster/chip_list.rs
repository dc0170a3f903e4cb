//! Hostile-input-safe parsing of the chip lists written on pods: Volcano's
//! `huawei.com/<Type>` and our `huawei.com/AscendReal` (`Ascend910-0,...`).
//! Size, count and range are capped before anything is trusted, and every
//! error quotes the offending part cut short.

use std::collections::BTreeSet;

/// Longest chip annotation accepted, in bytes.
pub const MAX_ANNOTATION_BYTES: usize = 4096;
/// Most entries a chip annotation may list.
pub const MAX_ENTRIES: usize = 128;
/// Highest phy id accepted in an annotation.
pub const MAX_PHY_ID: u32 = 255;
/// Longest piece of a hostile value quoted back in an error.
const SHOWN_CHARS: usize = 64;

/// Why an annotation value cannot be trusted. Every variant quotes the bad
/// part (cut to 64 characters), never the whole of an oversized value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationFault {
    #[error("is {len} bytes long; at most {max} are accepted", max = MAX_ANNOTATION_BYTES)]
    TooLong { len: usize },
    #[error("lists {count} entries; at most {max} are accepted", max = MAX_ENTRIES)]
    TooMany { count: usize },
    #[error("is empty")]
    Empty,
    #[error("has entry {entry:?}, expected `{expected}`")]
    BadEntry { entry: String, expected: String },
    #[error("has entry {entry:?} of resource type {found:?}, not {expected:?}")]
    OtherResource {
        entry: String,
        found: String,
        expected: String,
    },
    #[error("has entry {entry:?} whose phy id is above {max}", max = MAX_PHY_ID)]
    PhyOutOfRange { entry: String },
    #[error("lists {entry:?} more than once")]
    Duplicate { entry: String },
    #[error("names template {template:?}, which is no known vNPU template")]
    UnknownTemplate { template: String },
}

/// Parses `<Type>-<phy>,<Type>-<phy>,...` (Volcano's chip annotation, and
/// `huawei.com/AscendReal`): at most 4 KiB and 128 entries, each exactly
/// `<resource_type>-<decimal phy>` with phy 0..=255 and no leading zeros, no
/// duplicates. Order is kept.
pub fn parse_chip_list(value: &str, resource_type: &str) -> Result<Vec<u32>, AnnotationFault> {
    if value.len() > MAX_ANNOTATION_BYTES {
        return Err(AnnotationFault::TooLong { len: value.len() });
    }
    if value.is_empty() {
        return Err(AnnotationFault::Empty);
    }
    let count = value.split(',').count();
    if count > MAX_ENTRIES {
        return Err(AnnotationFault::TooMany { count });
    }
    let prefix = format!("{resource_type}-");
    let mut seen = BTreeSet::new();
    let mut phys = Vec::with_capacity(count);
    for entry in value.split(',') {
        let phy = match entry.strip_prefix(&prefix) {
            Some(rest) => parse_phy(rest)
                .map_err(|problem| entry_fault(problem, entry, &chip_pattern(resource_type)))?,
            None => return Err(foreign_entry(entry, resource_type)),
        };
        if !seen.insert(phy) {
            return Err(AnnotationFault::Duplicate {
                entry: shown(entry),
            });
        }
        phys.push(phy);
    }
    Ok(phys)
}

/// What a chip entry must look like, for error messages.
fn chip_pattern(resource_type: &str) -> String {
    format!("{resource_type}-<phy id 0..={MAX_PHY_ID}>")
}

/// A number that is not a phy id, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhyProblem {
    NotDecimal,
    TooBig,
}

/// `0`..=`255` in plain decimal: ASCII digits only, no sign, no leading zero.
pub(crate) fn parse_phy(digits: &str) -> Result<u32, PhyProblem> {
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain {
        return Err(PhyProblem::NotDecimal);
    }
    match digits.parse::<u32>() {
        Ok(phy) if phy <= MAX_PHY_ID => Ok(phy),
        _ => Err(PhyProblem::TooBig),
    }
}

/// The fault for an entry whose number is no phy id; `expected` is the
/// pattern quoted back.
pub(crate) fn entry_fault(problem: PhyProblem, entry: &str, expected: &str) -> AnnotationFault {
    match problem {
        PhyProblem::TooBig => AnnotationFault::PhyOutOfRange {
            entry: shown(entry),
        },
        PhyProblem::NotDecimal => AnnotationFault::BadEntry {
            entry: shown(entry),
            expected: expected.to_owned(),
        },
    }
}

/// An entry without our prefix: another resource's chip, or garbage.
fn foreign_entry(entry: &str, expected: &str) -> AnnotationFault {
    let other = entry.rsplit_once('-').filter(|(found, phy)| {
        !found.is_empty()
            && found
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && parse_phy(phy).is_ok()
    });
    match other {
        Some((found, _)) => AnnotationFault::OtherResource {
            entry: shown(entry),
            found: shown(found),
            expected: expected.to_owned(),
        },
        None => AnnotationFault::BadEntry {
            entry: shown(entry),
            expected: chip_pattern(expected),
        },
    }
}

/// At most 64 characters of `value`, marked when cut.
pub(crate) fn shown(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests;
