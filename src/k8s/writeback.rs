//! Pod write-back after a Volcano Allocate (compat §4 item 5): `kltDev`,
//! `AscendReal` and the 910 configuration JSON, as a merge patch carrying
//! the pod's UID (so a recreated pod of the same name is never annotated).
//! Done right after Allocate, retried briefly; whatever still fails is
//! picked up by the periodic repair pass. Also the rebuild of the
//! kubelet-ID map from a pod's annotations after a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::podresources::PodDevices;
use super::volcano::PodRef;
use crate::cluster::annotations::{
    ASCEND_REAL, KLT_DEV, Placement, RealChip, WriteBack, parse_ascend_real,
};
use crate::cluster::volcano::annotation;
use crate::device::model::{Family, Inventory};
use crate::telemetry::metrics::{ApiWriteKind, Metrics};

/// One pod's write-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub pod: PodRef,
    pub resource_type: String,
    pub virtual_: bool,
    pub kubelet_ids: Vec<String>,
    /// Real chips, in the order of `kubelet_ids`.
    pub phys: Vec<u32>,
}

/// What every write-back needs: the client and the node's facts.
#[derive(Clone)]
pub struct Writer {
    pub client: Client,
    pub node_ip: String,
    pub family: Family,
    pub placement: Placement,
    pub chips: BTreeMap<u32, RealChip>,
    pub metrics: Metrics,
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Writer {
    pub fn new(client: Client, node_ip: String, inventory: &Inventory, metrics: Metrics) -> Writer {
        let chips = inventory
            .chips
            .iter()
            .map(|chip| {
                let real = RealChip {
                    phy_id: chip.phy_id,
                    name: chip.name(),
                    ip: chip.ip,
                    super_device_id: chip.super_device_id,
                };
                (chip.phy_id, real)
            })
            .collect();
        Writer {
            client,
            node_ip,
            family: inventory.family().unwrap_or(Family::Ascend910),
            placement: Placement::from_super_pod(inventory.super_pod.as_ref()),
            chips,
            metrics,
            attempts: 4,
            first_backoff: Duration::from_millis(250),
        }
    }

    /// The annotations `job` writes.
    pub fn annotations(&self, job: &Job) -> BTreeMap<String, String> {
        let real: Vec<RealChip> = job
            .phys
            .iter()
            .map(|phy| {
                self.chips.get(phy).cloned().unwrap_or_else(|| RealChip {
                    phy_id: *phy,
                    name: format!("{}-{phy}", job.resource_type),
                    ip: None,
                    super_device_id: None,
                })
            })
            .collect();
        WriteBack {
            pod_uid: &job.pod.uid,
            pod_name: &job.pod.name,
            node_ip: &self.node_ip,
            kubelet_ids: &job.kubelet_ids,
            real: &real,
            family: self.family,
            virtual_: job.virtual_,
            placement: self.placement,
        }
        .annotations()
    }

    /// The merge patch of `job`, with the pod's UID as a precondition.
    pub fn patch_body(&self, job: &Job) -> serde_json::Value {
        json!({ "metadata": { "uid": job.pod.uid, "annotations": self.annotations(job) } })
    }

    /// Writes `job`, retrying transient failures with backoff. A 404 or a
    /// UID mismatch (the pod is gone) is final.
    pub async fn write(&self, job: &Job) -> Result<(), String> {
        let api = Api::<Pod>::namespaced(self.client.clone(), &job.pod.namespace);
        let body = self.patch_body(job);
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            let (params, patch) = (PatchParams::default(), Patch::Merge(&body));
            let call = api.patch(&job.pod.name, &params, &patch);
            let outcome = match tokio::time::timeout(Duration::from_secs(10), call).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err((is_final(&error), error.to_string())),
                Err(_) => Err((false, "no answer within 10s".to_owned())),
            };
            self.metrics
                .api_write(ApiWriteKind::PodAnnotation, outcome.is_ok());
            match outcome {
                Ok(()) => {
                    tracing::info!(pod = %job.pod.key(), "pod annotations written");
                    return Ok(());
                }
                Err((final_, reason)) if final_ || attempt >= self.attempts => {
                    return Err(format!("pod {}: {reason}", job.pod.key()));
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }
}

/// Errors retrying cannot fix: the pod is gone, or its UID changed.
fn is_final(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if [404, 409, 422].contains(&status.code))
}

/// The kubelet-ID -> real-chip pairs a pod's annotations prove, for IDs
/// kubelet lists for it: `AscendReal` gives the chips in the order of
/// `kltDev` (the IDs as Allocate saw them). Without `kltDev`, or when it
/// names other IDs, kubelet's order is used.
pub fn recover_pairs(devices: &PodDevices, pod: &Pod) -> Result<Vec<(String, u32)>, String> {
    let real = annotation(pod, ASCEND_REAL)
        .ok_or_else(|| format!("pod {} has no {ASCEND_REAL} annotation", devices.key()))?;
    let phys = parse_ascend_real(real, &devices.resource_type)
        .map_err(|fault| format!("pod {}: annotation {ASCEND_REAL} {fault}", devices.key()))?;
    let mut ids = devices.ids.clone();
    if let Some(klt) = annotation(pod, KLT_DEV) {
        let ordered: Vec<String> = klt.split(',').map(str::to_owned).collect();
        let mut a = ordered.clone();
        let mut b = ids.clone();
        a.sort();
        b.sort();
        if a == b {
            ids = ordered;
        }
    }
    if ids.len() != phys.len() {
        return Err(format!(
            "pod {}: kubelet lists {} devices but {ASCEND_REAL} names {} chips",
            devices.key(),
            ids.len(),
            phys.len()
        ));
    }
    Ok(ids.into_iter().zip(phys).collect())
}

/// Cross-checks pairs [`recover_pairs`] read from `pod`'s annotations
/// (which its owner can edit) against what kubelet's pod-resources and the
/// map say other live pods hold: every chip must be one of `node_chips`,
/// and none may be held by another pod (`held`: real chip -> the pod that
/// holds it, by a map entry or by its own annotation). A pod that names
/// another pod's chip is not trusted at all.
pub fn check_recovered(
    pod: &str,
    pairs: &[(String, u32)],
    node_chips: &std::collections::BTreeSet<u32>,
    held: &std::collections::BTreeMap<u32, Vec<String>>,
) -> Result<(), String> {
    for (id, phy) in pairs {
        if !node_chips.contains(phy) {
            return Err(format!(
                "pod {pod}: {ASCEND_REAL} names chip {phy} for {id}, which this node does not have"
            ));
        }
        if let Some(other) = held
            .get(phy)
            .and_then(|holders| holders.iter().find(|h| *h != pod))
        {
            return Err(format!(
                "pod {pod}: {ASCEND_REAL} names chip {phy} for {id}, which pod {other} holds"
            ));
        }
    }
    Ok(())
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("node_ip", &self.node_ip)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
