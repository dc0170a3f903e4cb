//! Which pod stands behind a soft-share Allocate (recovery spec §4.6), and
//! what it asked for. kubelet sends N IDs, N being the pod's AI-core quota
//! in percent of one chip; Volcano wrote the one chip in `huawei.com/<Type>`
//! and the quotas in three `huawei.com/scheduler.softShareDev.*`
//! annotations. Pure functions over pods; the caller claims and mounts.

use k8s_openapi::api::core::v1::Pod;

use super::chip_list::{AnnotationFault, parse_chip_list, shown};
use super::volcano::{
    Choice, MatchError, Reading, Skip, SkipReason, annotation, choose_with, pod_key,
};

/// AI-core quota in percent of one chip; equals the number of IDs kubelet sends.
pub const AICORE_QUOTA: &str = "huawei.com/scheduler.softShareDev.aicoreQuota";
/// HBM quota in MB.
pub const HBM_QUOTA: &str = "huawei.com/scheduler.softShareDev.hbmQuota";
/// `fixed-share`, `elastic` or `best-effort`.
pub const POLICY: &str = "huawei.com/scheduler.softShareDev.policy";

/// What a soft-share pod asked for, from its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftShareRequest {
    /// The one chip Volcano chose.
    pub phy: u32,
    /// Percent of the chip's AI cores (1..=100).
    pub aicore: u32,
    /// MB of the chip's HBM.
    pub hbm_mb: u64,
    /// 1 fixed-share, 2 elastic, 3 best-effort (the driver's numbers).
    pub policy: u8,
}

/// `scheduling-policy` number of a policy name, as `npu_info.config` wants it.
pub fn policy_number(name: &str) -> Option<u8> {
    match name {
        "fixed-share" => Some(1),
        "elastic" => Some(2),
        "best-effort" => Some(3),
        _ => None,
    }
}

/// A quota in plain decimal: ASCII digits, no sign, at most 19 digits.
fn decimal(value: &str) -> Option<u64> {
    let plain = !value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| value.parse().ok()).flatten()
}

/// The AI-core quota of a pod, if it has a readable one.
fn aicore_quota(pod: &Pod) -> Option<u64> {
    annotation(pod, AICORE_QUOTA).and_then(decimal)
}

/// Chooses the pod behind a soft-share Allocate of `requested` IDs of
/// `huawei.com/<resource_type>`: the Volcano rules of
/// [`super::volcano::choose_with`], among pods whose AI-core quota is
/// `requested`; the chosen pod must name exactly one chip (upstream
/// answered a pod naming several without its mounts; we refuse it) and
/// carry a valid HBM quota and policy.
pub fn choose_soft_share_pod<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node_name: &str,
    resource_type: &str,
    requested: usize,
) -> Result<Choice<'a, SoftShareRequest>, MatchError> {
    let mut quota_skips = Vec::new();
    let matching: Vec<&Pod> = pods
        .into_iter()
        .filter(|pod| {
            let quota = aicore_quota(pod);
            let fits = quota.and_then(|q| usize::try_from(q).ok()) == Some(requested);
            if !fits {
                quota_skips.push(Skip {
                    pod: pod_key(pod),
                    reason: match quota {
                        Some(q) => SkipReason::CountMismatch {
                            annotated: usize::try_from(q).unwrap_or(usize::MAX),
                            requested,
                        },
                        None => SkipReason::NoAnnotation {
                            key: AICORE_QUOTA.to_owned(),
                        },
                    },
                });
            }
            fits
        })
        .collect();
    let chosen = choose_with(matching, node_name, resource_type, requested, |raw| {
        one_chip(raw, resource_type)
    });
    let mut choice = match chosen {
        Ok(choice) => choice,
        Err(MatchError::NoPod {
            node,
            resource,
            requested,
            mut skipped,
        }) => {
            skipped.extend(quota_skips);
            return Err(MatchError::NoPod {
                node,
                resource,
                requested,
                skipped,
            });
        }
        Err(other) => return Err(other),
    };
    choice.skipped.extend(quota_skips);
    let pod = choice.pod;
    let bad = |key: &str, value: &str, expected: &str| MatchError::BadAnnotation {
        pod: pod_key(pod),
        key: key.to_owned(),
        fault: AnnotationFault::BadEntry {
            entry: shown(value),
            expected: expected.to_owned(),
        },
    };
    let aicore = u32::try_from(requested)
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| {
            bad(
                AICORE_QUOTA,
                &requested.to_string(),
                "a percent of one chip, 1..100",
            )
        })?;
    let hbm_raw = annotation(pod, HBM_QUOTA).unwrap_or_default();
    let hbm_mb = decimal(hbm_raw)
        .filter(|mb| *mb > 0)
        .ok_or_else(|| bad(HBM_QUOTA, hbm_raw, "MB as a decimal integer above 0"))?;
    let policy_raw = annotation(pod, POLICY).unwrap_or_default();
    let policy = policy_number(policy_raw)
        .ok_or_else(|| bad(POLICY, policy_raw, "fixed-share, elastic or best-effort"))?;
    Ok(Choice {
        pod,
        value: SoftShareRequest {
            phy: choice.value,
            aicore,
            hbm_mb,
            policy,
        },
        skipped: choice.skipped,
    })
}

/// The chip annotation of a soft-share pod: exactly one `<Type>-<phy>`.
fn one_chip(raw: &str, resource_type: &str) -> Reading<u32> {
    match parse_chip_list(raw, resource_type) {
        Ok(phys) if phys.len() == 1 => Reading::Explains(phys[0]),
        Ok(_) => Reading::Invalid(AnnotationFault::BadEntry {
            entry: shown(raw),
            expected: format!("exactly one chip, {resource_type}-<phy> (soft share)"),
        }),
        Err(fault) => Reading::Invalid(fault),
    }
}

#[cfg(test)]
mod tests;
