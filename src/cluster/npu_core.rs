//! Dynamic vNPU requests (presetVirtualDevice=false, issue 3 item 5). Volcano
//! writes `huawei.com/npu-core` on the pod: `<phy>-<template>` (create one vNPU
//! of that template on chip `phy`, e.g. `0-vir02`) or `<phy>,<phy>,...` (whole
//! chips, e.g. `0,1`). kubelet asks for AI cores (`npu-core-N` IDs), so a pod
//! explains a request when its annotation accounts for that many cores.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

use super::chip_list::{
    AnnotationFault, MAX_ANNOTATION_BYTES, MAX_ENTRIES, MAX_PHY_ID, entry_fault, parse_phy, shown,
};
use super::volcano::{Choice, MatchError, Reading, choose_with};
use crate::device::naming::NPU_CORE;

/// The pod annotation (and limit key) of the dynamic vNPU resource.
pub const NPU_CORE_ANNOTATION: &str = "huawei.com/npu-core";
/// Longest template name accepted (the longest real one has 15 characters).
const MAX_TEMPLATE_CHARS: usize = 32;

/// What one pod asked Volcano for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpuCoreRequest {
    /// Create one vNPU of `template` on chip `phy`.
    Vnpu { phy: u32, template: String },
    /// Whole chips, in the annotation's order.
    WholeChips(Vec<u32>),
}

impl NpuCoreRequest {
    /// How many `npu-core` IDs kubelet sends for this request: the template's
    /// AI cores for a vNPU, `chips * chip_aicore` for whole chips.
    pub fn cores(&self, chip_aicore: u32) -> Option<usize> {
        match self {
            NpuCoreRequest::Vnpu { template, .. } => template_aicore(template),
            NpuCoreRequest::WholeChips(phys) => {
                phys.len().checked_mul(usize::try_from(chip_aicore).ok()?)
            }
        }
    }
}

/// Parses `huawei.com/npu-core`. At most 4 KiB; phy ids 0..=255 in plain
/// decimal; a vNPU names a template `known_templates` accepts (at most 32
/// characters of `[A-Za-z0-9_]`); whole chips are at most 128, no duplicates.
pub fn parse_npu_core(
    value: &str,
    known_templates: impl Fn(&str) -> bool,
) -> Result<NpuCoreRequest, AnnotationFault> {
    if value.len() > MAX_ANNOTATION_BYTES {
        return Err(AnnotationFault::TooLong { len: value.len() });
    }
    if value.is_empty() {
        return Err(AnnotationFault::Empty);
    }
    match value.split_once('-') {
        Some((phy, template)) => parse_vnpu(value, phy, template, known_templates),
        None => parse_whole_chips(value).map(NpuCoreRequest::WholeChips),
    }
}

fn parse_vnpu(
    value: &str,
    phy: &str,
    template: &str,
    known_templates: impl Fn(&str) -> bool,
) -> Result<NpuCoreRequest, AnnotationFault> {
    let pattern = format!("<phy id 0..={MAX_PHY_ID}>-<template>");
    if template.contains('-') || template.is_empty() {
        return Err(AnnotationFault::BadEntry {
            entry: shown(value),
            expected: pattern,
        });
    }
    let phy = parse_phy(phy).map_err(|problem| entry_fault(problem, value, &pattern))?;
    let plain = template.len() <= MAX_TEMPLATE_CHARS
        && template
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plain || !known_templates(template) {
        return Err(AnnotationFault::UnknownTemplate {
            template: shown(template),
        });
    }
    Ok(NpuCoreRequest::Vnpu {
        phy,
        template: template.to_owned(),
    })
}

fn parse_whole_chips(value: &str) -> Result<Vec<u32>, AnnotationFault> {
    let count = value.split(',').count();
    if count > MAX_ENTRIES {
        return Err(AnnotationFault::TooMany { count });
    }
    let pattern = format!("<phy id 0..={MAX_PHY_ID}>");
    let mut seen = BTreeSet::new();
    let mut phys = Vec::with_capacity(count);
    for entry in value.split(',') {
        let phy = parse_phy(entry).map_err(|problem| entry_fault(problem, entry, &pattern))?;
        if !seen.insert(phy) {
            return Err(AnnotationFault::Duplicate {
                entry: shown(entry),
            });
        }
        phys.push(phy);
    }
    Ok(phys)
}

/// AI cores of a template: the number after `vir` (`vir02_1c` -> 2), as Go's
/// `GetAICore` reads it.
pub fn template_aicore(template: &str) -> Option<usize> {
    let digits = template.strip_prefix("vir")?.split('_').next()?;
    let plain =
        !digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| digits.parse().ok()).flatten()
}

/// Cores an annotation accounts for, counted as Go does before any
/// validation (`-` split into exactly two parts, else a comma count).
fn annotated_cores(raw: &str, chip_aicore: u32) -> Option<usize> {
    if raw.contains('-') {
        let mut parts = raw.split('-');
        let (_, template, rest) = (parts.next(), parts.next()?, parts.next());
        return if rest.is_none() {
            template_aicore(template)
        } else {
            None
        };
    }
    raw.split(',')
        .count()
        .checked_mul(usize::try_from(chip_aicore).ok()?)
}

/// Chooses the pod behind an Allocate of `requested_cores` `npu-core` IDs
/// with the candidate rules and order of
/// [`choose_with`](super::volcano::choose_with).
pub fn choose_npu_core_pod<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node_name: &str,
    requested_cores: usize,
    chip_aicore: u32,
    known_templates: impl Fn(&str) -> bool,
) -> Result<Choice<'a, NpuCoreRequest>, MatchError> {
    choose_with(pods, node_name, NPU_CORE, requested_cores, |raw| {
        let Some(annotated) = annotated_cores(raw, chip_aicore) else {
            let fault = match parse_npu_core(raw, &known_templates) {
                Err(fault) => fault,
                Ok(_) => AnnotationFault::UnknownTemplate {
                    template: shown(raw),
                },
            };
            return Reading::Unreadable(fault);
        };
        if annotated != requested_cores {
            return Reading::Mismatch { annotated };
        }
        match parse_npu_core(raw, &known_templates) {
            Ok(request) => Reading::Explains(request),
            Err(fault) => Reading::Invalid(fault),
        }
    })
}

#[cfg(test)]
mod tests;
