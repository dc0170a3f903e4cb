//! Which pod stands behind a Volcano-mode Allocate (compat §4 items 1-3).
//! kubelet sends device IDs it picked blindly; Volcano has already written the
//! real chips on the pod (`huawei.com/<Type>`) with a `predicate-time`. Pure
//! functions over k8s-openapi pods: the caller patches, validates and mounts.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::chip_list::{AnnotationFault, parse_chip_list, shown};
use crate::device::naming::{NPU_CORE, Resource};

/// Annotation Volcano writes (UnixNano) when it binds a pod to a node.
pub const PREDICATE_TIME: &str = "predicate-time";
/// `predicate-time` of a pod an Allocate has already used (`math.MaxUint64`).
pub const CONSUMED: &str = "18446744073709551615";
/// Prefix of resource names, limit keys and Volcano's chip annotations.
pub const RESOURCE_PREFIX: &str = "huawei.com/";

/// Why a pod was not considered (for debug logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("runs on node {node:?}")]
    OtherNode { node: Option<String> },
    #[error("has finished (phase {phase})")]
    Finished { phase: String },
    #[error("is being deleted")]
    Deleting,
    #[error("failed admission (UnexpectedAdmissionError)")]
    AdmissionFailed,
    #[error("requests no {resource} in its containers' limits")]
    NotRequested { resource: String },
    #[error("has no {key} annotation")]
    NoAnnotation { key: String },
    #[error("has no predicate-time annotation")]
    NoPredicateTime,
    #[error("has predicate-time {value:?}, not a decimal uint64")]
    BadPredicateTime { value: String },
    #[error("was already used by an Allocate (predicate-time {CONSUMED})")]
    Consumed,
    #[error("is annotated with {annotated} devices, the request has {requested}")]
    CountMismatch { annotated: usize, requested: usize },
    #[error("annotation {0}")]
    Unreadable(AnnotationFault),
    #[error("lost to an older pod; its annotation {0}")]
    Invalid(AnnotationFault),
}

/// One pod left out, by `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub pod: String,
    pub reason: SkipReason,
}

/// No pod explains the request, or the chosen one cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error(
        "no pod on node {node} explains a request for {requested} {resource} ({} pods skipped)",
        skipped.len()
    )]
    NoPod {
        node: String,
        resource: String,
        requested: usize,
        skipped: Vec<Skip>,
    },
    #[error("pod {pod}: annotation {key} {fault}")]
    BadAnnotation {
        pod: String,
        key: String,
        /// Names the offending entry (or the length or count at fault).
        fault: AnnotationFault,
    },
    #[error("chip with phy id {phy} is not on this node")]
    UnknownChip { phy: u32 },
    #[error("chip with phy id {phy} is unhealthy")]
    UnhealthyChip { phy: u32 },
    #[error(
        "pod {pod}: annotation names chip with phy id {phy}, which is allocated to running pod {holder}; no other pod explains the request"
    )]
    ChipHeld {
        pod: String,
        phy: u32,
        holder: String,
    },
}

/// The pod chosen for an Allocate and Volcano's chips for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<'a> {
    pub pod: &'a Pod,
    /// `Ascend910-0`, ... in the annotation's order.
    pub chips: Vec<String>,
    /// The phy ids of `chips`, same order.
    pub phys: Vec<u32>,
    /// Pods left out, for debug logging.
    pub skipped: Vec<Skip>,
}

/// What a resource-specific reader makes of a candidate's annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading<T> {
    /// Valid and accounts for exactly the requested devices.
    Explains(T),
    /// Accounts for a different number of devices: not a candidate.
    Mismatch { annotated: usize },
    /// Cannot even be counted: not a candidate.
    Unreadable(AnnotationFault),
    /// Counts right but is invalid: a candidate that fails if chosen.
    Invalid(AnnotationFault),
}

/// A chosen pod with what the reader made of its annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice<'a, T> {
    pub pod: &'a Pod,
    pub value: T,
    pub skipped: Vec<Skip>,
}

/// Chooses the pod behind an Allocate of `requested` physical chips of
/// `huawei.com/<resource_type>` on `node_name`, per [`choose_with`].
pub fn choose_pod<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node_name: &str,
    resource_type: &str,
    requested: usize,
) -> Result<Chosen<'a>, MatchError> {
    let choice = choose_with(pods, node_name, resource_type, requested, |raw| {
        read_chip_list(raw, resource_type, requested)
    })?;
    Ok(Chosen {
        pod: choice.pod,
        chips: choice
            .value
            .iter()
            .map(|phy| format!("{resource_type}-{phy}"))
            .collect(),
        phys: choice.value,
        skipped: choice.skipped,
    })
}

/// Candidates: on `node_name`, phase neither Succeeded nor Failed, not being
/// deleted, not failed at admission, `huawei.com/<resource_type>` > 0 in a
/// container's (or init container's) limits, annotation
/// `huawei.com/<resource_type>` present, `predicate-time` a decimal uint64
/// other than [`CONSUMED`], and `read` not answering Mismatch/Unreadable.
///
/// The smallest `predicate-time` wins; ties go to the older
/// `creationTimestamp` (a pod without one counts as newest), then to the
/// smaller `namespace/name`, so the choice never depends on list order. A
/// winner whose annotation is [`Reading::Invalid`] is an error (Go would pick
/// it too, then fail): nothing is patched or mounted, and kubelet failing
/// that pod's admission takes it out of the running.
pub fn choose_with<'a, T>(
    pods: impl IntoIterator<Item = &'a Pod>,
    node_name: &str,
    resource_type: &str,
    requested: usize,
    read: impl Fn(&str) -> Reading<T>,
) -> Result<Choice<'a, T>, MatchError> {
    let key = format!("{RESOURCE_PREFIX}{resource_type}");
    let mut skipped = Vec::new();
    let mut contenders = Vec::new();
    for pod in pods {
        let (time, raw) = match candidate(pod, node_name, &key) {
            Ok(found) => found,
            Err(reason) => {
                skipped.push(skip(pod, reason));
                continue;
            }
        };
        let outcome = match read(raw) {
            Reading::Explains(value) => Ok(value),
            Reading::Invalid(fault) => Err(fault),
            Reading::Mismatch { annotated } => {
                let reason = SkipReason::CountMismatch {
                    annotated,
                    requested,
                };
                skipped.push(skip(pod, reason));
                continue;
            }
            Reading::Unreadable(fault) => {
                skipped.push(skip(pod, SkipReason::Unreadable(fault)));
                continue;
            }
        };
        contenders.push((order_key(pod, time), pod, outcome));
    }
    let winner = contenders
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.0.cmp(&b.0))
        .map(|(index, _)| index);
    let Some(winner) = winner else {
        return Err(MatchError::NoPod {
            node: node_name.to_owned(),
            resource: key,
            requested,
            skipped,
        });
    };
    let (_, pod, outcome) = contenders.swap_remove(winner);
    for (_, loser, loser_outcome) in contenders {
        if let Err(fault) = loser_outcome {
            skipped.push(skip(loser, SkipReason::Invalid(fault)));
        }
    }
    match outcome {
        Ok(value) => Ok(Choice {
            pod,
            value,
            skipped,
        }),
        Err(fault) => Err(MatchError::BadAnnotation {
            pod: pod_key(pod),
            key,
            fault,
        }),
    }
}

/// Counts entries the way Go does (comma split) to decide candidacy, then
/// parses strictly.
fn read_chip_list(raw: &str, resource_type: &str, requested: usize) -> Reading<Vec<u32>> {
    let annotated = raw.split(',').count();
    if annotated != requested {
        return Reading::Mismatch { annotated };
    }
    match parse_chip_list(raw, resource_type) {
        Ok(phys) => Reading::Explains(phys),
        Err(fault) => Reading::Invalid(fault),
    }
}

/// Every chip exists on this node and is healthy.
pub fn validate_chips(
    phys: &[u32],
    available: &BTreeSet<u32>,
    healthy: impl Fn(u32) -> bool,
) -> Result<(), MatchError> {
    for &phy in phys {
        if !available.contains(&phy) {
            return Err(MatchError::UnknownChip { phy });
        }
        if !healthy(phy) {
            return Err(MatchError::UnhealthyChip { phy });
        }
    }
    Ok(())
}

/// Merge-patch body marking a pod as used: `predicate-time` = [`CONSUMED`].
pub fn consume_patch() -> Value {
    json!({ "metadata": { "annotations": { PREDICATE_TIME: CONSUMED } } })
}

/// Whether Allocate on this resource must ask Volcano: physical chips and the
/// dynamic `npu-core` resource do; static vNPUs are allocated by kubelet.
pub fn needs_volcano(resource: &Resource) -> bool {
    !resource.is_virtual || resource.type_name == NPU_CORE
}

/// `namespace/name`, the way pods are named in logs and errors.
pub fn pod_key(pod: &Pod) -> String {
    let meta = &pod.metadata;
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// The value of annotation `key`, if present.
pub fn annotation<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The cheap candidate rules; on success, the predicate time and the raw
/// chip annotation.
fn candidate<'p>(pod: &'p Pod, node_name: &str, key: &str) -> Result<(u64, &'p str), SkipReason> {
    let node = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref());
    if node != Some(node_name) {
        return Err(SkipReason::OtherNode {
            node: node.map(shown),
        });
    }
    let status = pod.status.as_ref();
    if let Some(phase) = status.and_then(|s| s.phase.as_deref())
        && (phase == "Succeeded" || phase == "Failed")
    {
        return Err(SkipReason::Finished {
            phase: phase.to_owned(),
        });
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Err(SkipReason::Deleting);
    }
    if status.and_then(|s| s.reason.as_deref()) == Some("UnexpectedAdmissionError") {
        return Err(SkipReason::AdmissionFailed);
    }
    if !requests_in_limits(pod, key) {
        return Err(SkipReason::NotRequested {
            resource: key.to_owned(),
        });
    }
    let Some(raw) = annotation(pod, key) else {
        return Err(SkipReason::NoAnnotation {
            key: key.to_owned(),
        });
    };
    let Some(time) = annotation(pod, PREDICATE_TIME) else {
        return Err(SkipReason::NoPredicateTime);
    };
    if time == CONSUMED {
        return Err(SkipReason::Consumed);
    }
    let time = parse_predicate_time(time)
        .ok_or_else(|| SkipReason::BadPredicateTime { value: shown(time) })?;
    Ok((time, raw))
}

/// Go's `strconv.ParseUint(s, 10, 64)`: ASCII digits only, no sign.
fn parse_predicate_time(value: &str) -> Option<u64> {
    let digits =
        !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse().ok()).flatten()
}

/// Some container or init container limits `key` to more than zero.
pub fn requests_in_limits(pod: &Pod, key: &str) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let init = spec.init_containers.iter().flatten();
    spec.containers
        .iter()
        .chain(init)
        .any(|c| limits_positive(c, key))
}

fn limits_positive(container: &Container, key: &str) -> bool {
    container
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|limits| limits.get(key))
        .is_some_and(|quantity| quantity_is_positive(&quantity.0))
}

/// True when a Kubernetes quantity is above zero: its leading number (sign
/// `+` allowed, `-` never) has a non-zero digit. Suffixes only scale it.
fn quantity_is_positive(quantity: &str) -> bool {
    let unsigned = quantity.trim().strip_prefix('+').unwrap_or(quantity.trim());
    unsigned
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .any(|b| (b'1'..=b'9').contains(&b))
}

/// Order of preference among candidates: smaller is older.
type OrderKey<'a> = (u64, bool, Option<&'a Time>, &'a str, &'a str);

fn order_key(pod: &Pod, time: u64) -> OrderKey<'_> {
    let meta = &pod.metadata;
    let created = meta.creation_timestamp.as_ref();
    (
        time,
        created.is_none(),
        created,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn skip(pod: &Pod, reason: SkipReason) -> Skip {
    Skip {
        pod: pod_key(pod),
        reason,
    }
}

#[cfg(test)]
mod tests;
