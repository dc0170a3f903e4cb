//! Volcano-mode Allocate against the cluster (compat §4 items 1-3): find the
//! pod behind the request in the watch cache (waiting, bounded, for one that
//! has not arrived), check its chips, mark it used by patching
//! `predicate-time`, and hand back Volcano's chips. Allocates are serialised
//! so two requests can never claim the same pod, even before the watch
//! brings back our own patch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::pods::{PodCache, View};
use crate::cluster::npu_core::{NpuCoreRequest, choose_npu_core_pod};
use crate::cluster::softshare::{SoftShareRequest, choose_soft_share_pod};
use crate::cluster::volcano::{
    CONSUMED, MatchError, PREDICATE_TIME, RESOURCE_PREFIX, annotation, choose_pod, pod_key,
    validate_chips,
};
use crate::telemetry::metrics::{ApiWriteKind, Metrics};

/// The pod an Allocate was matched to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    pub fn of(pod: &Pod) -> PodRef {
        let meta = &pod.metadata;
        PodRef {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A successful match: the pod, now marked used, and its chips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<T> {
    pub pod: PodRef,
    pub value: T,
}

#[derive(Debug, thiserror::Error)]
pub enum VolcanoError {
    #[error(
        "the pod cache has not synced with the API server yet (waited {waited:?}); Volcano allocations resume once it is reachable"
    )]
    NotSynced { waited: Duration },
    #[error("{0} (waited {1:?} for the pod watch; the API server is unreachable)")]
    Disconnected(Box<MatchError>, Duration),
    #[error("{0}")]
    Match(Box<MatchError>),
    #[error("cannot mark pod {pod} as allocated ({PREDICATE_TIME}): {reason}")]
    Patch { pod: String, reason: String },
}

/// Serialises Volcano Allocates and remembers the pods they used.
#[derive(Debug)]
pub struct VolcanoMatcher {
    cache: PodCache,
    pods: Api<Pod>,
    node: String,
    wait: Duration,
    api_timeout: Duration,
    metrics: Metrics,
    /// UIDs we patched whose patch the cache has not shown yet.
    used: Mutex<BTreeSet<String>>,
    /// Candidates already reported (Event) for naming a held chip, by UID.
    reported: std::sync::Mutex<BTreeSet<String>>,
    /// `-dealWatchHandler`: while the watch is down, list before choosing.
    relist_first: bool,
}

impl VolcanoMatcher {
    pub fn new(
        cache: PodCache,
        pods: Api<Pod>,
        node: String,
        wait: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            cache,
            pods,
            node,
            wait,
            api_timeout: Duration::from_secs(5),
            metrics,
            used: Mutex::default(),
            reported: std::sync::Mutex::default(),
            relist_first: false,
        }
    }

    /// `-dealWatchHandler` (recovery spec §4.3): after a watch error, an
    /// Allocate first lists the node's pods from the API server and replaces
    /// the cache, rather than only when no cached pod explains it.
    pub fn relist_after_watch_error(mut self, on: bool) -> Self {
        self.relist_first = on;
        self
    }

    pub fn cache(&self) -> &PodCache {
        &self.cache
    }

    /// Claims the pod behind an Allocate of `requested` chips of
    /// `huawei.com/<resource_type>`: its chips must all be in `available` and
    /// `healthy`. Nothing is patched unless every check passed.
    pub async fn claim_chips(
        &self,
        resource_type: &str,
        requested: usize,
        available: &BTreeSet<u32>,
        healthy: impl Fn(u32) -> bool,
    ) -> Result<Claim<Vec<u32>>, VolcanoError> {
        self.claim_chips_held(resource_type, requested, available, healthy, |_| None)
            .await
    }

    /// [`Self::claim_chips`] where `holder(phy)` names the live pod a chip
    /// is allocated to (`namespace/name`), if any. A candidate naming a
    /// chip another pod holds is passed over (counted, and logged naming
    /// both), so the pod whose Allocate it is gets its own chips; when no
    /// other pod explains the request, the error names chip and holder.
    pub async fn claim_chips_held(
        &self,
        resource_type: &str,
        requested: usize,
        available: &BTreeSet<u32>,
        healthy: impl Fn(u32) -> bool,
        holder: impl Fn(u32) -> Option<String>,
    ) -> Result<Claim<Vec<u32>>, VolcanoError> {
        // Candidates passed over: pod -> (UID, the conflict), for one log
        // line, one count and one Event each.
        let passed_over: std::sync::Mutex<BTreeMap<String, (String, String)>> =
            std::sync::Mutex::default();
        let claimed = self
            .claim(|view, used| {
                let mut excluded: BTreeSet<String> = BTreeSet::new();
                let mut conflict: Option<MatchError> = None;
                loop {
                    let pods = unused(view, used).filter(|pod| !excluded.contains(&pod_key(pod)));
                    let chosen = match choose_pod(pods, &self.node, resource_type, requested) {
                        Ok(chosen) => chosen,
                        Err(error @ MatchError::NoPod { .. }) => {
                            return Err(conflict.take().unwrap_or(error));
                        }
                        Err(error) => return Err(error),
                    };
                    let pod = pod_key(chosen.pod);
                    let held = chosen.phys.iter().find_map(|&phy| {
                        holder(phy).filter(|h| *h != pod).map(|h| (phy, h))
                    });
                    if let Some((phy, holder)) = held {
                        if let Ok(mut seen) = passed_over.lock()
                            && !seen.contains_key(&pod)
                        {
                            tracing::warn!(%pod, phy, %holder, "Volcano candidate names a chip another running pod holds; passed over");
                            self.metrics.volcano_chip_conflict();
                            let uid = chosen.pod.metadata.uid.clone().unwrap_or_default();
                            let message = format!(
                                "pod {pod} names chip with phy id {phy} in its {RESOURCE_PREFIX}{resource_type} annotation, which is allocated to running pod {holder}; it was not given that chip"
                            );
                            seen.insert(pod.clone(), (uid, message));
                        }
                        excluded.insert(pod.clone());
                        conflict.get_or_insert(MatchError::ChipHeld { pod, phy, holder });
                        continue;
                    }
                    log_skips(&chosen.skipped);
                    validate_chips(&chosen.phys, available, &healthy)?;
                    return Ok((PodRef::of(chosen.pod), chosen.phys));
                }
            })
            .await;
        let conflicts = passed_over
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (uid, message) in conflicts.into_values() {
            self.report_conflict(uid, message);
        }
        claimed
    }

    /// One Warning Event on the node per offending pod (by UID), posted in
    /// the background so the Allocate does not wait for it.
    fn report_conflict(&self, uid: String, message: String) {
        {
            let Ok(mut reported) = self.reported.lock() else {
                return;
            };
            if reported.len() >= 1024 {
                reported.clear();
            }
            if !reported.insert(uid) {
                return;
            }
        }
        let event = super::events::event_for(
            &self.node,
            super::events::REASON_CHIP_CONFLICT,
            "Warning",
            message,
            k8s_openapi::jiff::Timestamp::now(),
        );
        let api: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.pods.clone().into_client(), super::events::NAMESPACE);
        let (metrics, timeout) = (self.metrics.clone(), self.api_timeout);
        tokio::spawn(async move {
            let params = kube::api::PostParams::default();
            let call = api.create(&params, &event);
            let ok = matches!(tokio::time::timeout(timeout, call).await, Ok(Ok(_)));
            metrics.api_write(ApiWriteKind::Event, ok);
            if !ok {
                tracing::debug!("could not record the chip-conflict event");
            }
        });
    }

    /// The same for the dynamic `npu-core` resource: the pod whose
    /// `huawei.com/npu-core` accounts for `requested` AI cores.
    pub async fn claim_npu_core(
        &self,
        requested: usize,
        chip_aicore: u32,
        known_template: impl Fn(&str) -> bool,
    ) -> Result<Claim<NpuCoreRequest>, VolcanoError> {
        self.claim(|view, used| {
            let pods = unused(view, used);
            let choice =
                choose_npu_core_pod(pods, &self.node, requested, chip_aicore, &known_template)?;
            log_skips(&choice.skipped);
            Ok((PodRef::of(choice.pod), choice.value))
        })
        .await
    }

    /// Soft share: the pod whose AI-core quota is `requested` (the IDs
    /// kubelet sent) and whose one chip is in `available` and `healthy`
    /// (`cluster/softshare.rs`). Many pods share a chip, so no holder check.
    pub async fn claim_soft_share(
        &self,
        resource_type: &str,
        requested: usize,
        available: &BTreeSet<u32>,
        healthy: impl Fn(u32) -> bool,
    ) -> Result<Claim<SoftShareRequest>, VolcanoError> {
        self.claim(|view, used| {
            let pods = unused(view, used);
            let choice = choose_soft_share_pod(pods, &self.node, resource_type, requested)?;
            log_skips(&choice.skipped);
            validate_chips(&[choice.value.phy], available, &healthy)?;
            Ok((PodRef::of(choice.pod), choice.value))
        })
        .await
    }

    async fn claim<T>(
        &self,
        choose: impl Fn(&View, &BTreeSet<String>) -> Result<(PodRef, T), MatchError>,
    ) -> Result<Claim<T>, VolcanoError> {
        let started = Instant::now();
        let mut used = self.used.lock().await;
        // The kubelet knows the pod it is admitting: with -getPodFromKubelet
        // read it now, not at the next 5 s poll.
        self.cache.request_refresh();
        if self.relist_first && !self.cache.view().connected {
            self.list_into_cache().await;
        }
        forget_settled(&mut used, &self.cache.view());
        let deadline = started + self.wait;
        let outcome = self
            .cache
            .wait_for(deadline, |view| {
                if !view.synced {
                    return Err(None);
                }
                match choose(view, &used) {
                    // Only "no pod yet" is worth waiting for (also when the
                    // only candidates name another pod's chips).
                    Err(error @ (MatchError::NoPod { .. } | MatchError::ChipHeld { .. })) => {
                        Err(Some(error))
                    }
                    other => Ok(other),
                }
            })
            .await;
        self.metrics.volcano_match(started.elapsed());
        let waited = started.elapsed();
        if let Err(Some(MatchError::NoPod { skipped, .. })) = &outcome {
            // Why each pod on the node does not fit, for the operator.
            for skip in skipped.iter().take(32) {
                tracing::info!(pod = %skip.pod, reason = %skip.reason, "pod does not explain the request");
            }
        }
        let (pod, value) = match outcome {
            Ok(Ok(found)) => found,
            Ok(Err(error)) => return Err(VolcanoError::Match(Box::new(error))),
            Err(None) => return Err(VolcanoError::NotSynced { waited }),
            Err(Some(error)) if !self.cache.view().connected => {
                match self.relist(&choose, &used).await {
                    Some(Ok(found)) => found,
                    Some(Err(error)) => return Err(VolcanoError::Match(Box::new(error))),
                    None => {
                        let waited = started.elapsed();
                        return Err(VolcanoError::Disconnected(Box::new(error), waited));
                    }
                }
            }
            Err(Some(error)) => return Err(VolcanoError::Match(Box::new(error))),
        };
        self.mark_used(&pod).await?;
        used.insert(pod.uid.clone());
        tracing::info!(pod = %pod.key(), "Volcano pod matched and marked used");
        Ok(Claim { pod, value })
    }

    /// The watch is down (it may still be waiting out its backoff after
    /// the API server came back) and no cached pod explains the Allocate;
    /// kubelet learnt of the pod from the API server, so list the node's
    /// pods once, refresh the cache and choose again. `None`: the list
    /// failed too.
    async fn relist<T>(
        &self,
        choose: &impl Fn(&View, &BTreeSet<String>) -> Result<(PodRef, T), MatchError>,
        used: &BTreeSet<String>,
    ) -> Option<Result<(PodRef, T), MatchError>> {
        if !self.list_into_cache().await {
            return None;
        }
        Some(choose(&self.cache.view(), used))
    }

    /// Lists the node's pods from the API server into the cache (which
    /// ignores the list once its watch is back). False: the list failed.
    async fn list_into_cache(&self) -> bool {
        let api = Api::<super::pods::LeanPod>::all(self.pods.clone().into_client());
        let list = super::pods::list_node_pods(&api, &self.node);
        let pods = match tokio::time::timeout(self.api_timeout, list).await {
            Ok(Ok(pods)) => pods,
            Ok(Err(error)) => {
                tracing::debug!(%error, "listing the node's pods while the pod watch is down failed");
                return false;
            }
            Err(_) => return false,
        };
        tracing::info!(
            pods = pods.len(),
            "pod watch down; listed the node's pods for a Volcano Allocate"
        );
        self.cache.refresh(pods);
        true
    }

    /// Patches `predicate-time` to the consumed value. The UID in the body
    /// makes the server refuse the patch if the name now belongs to a new pod.
    async fn mark_used(&self, pod: &PodRef) -> Result<(), VolcanoError> {
        let body = consume_patch_for(pod);
        let api = Api::<Pod>::namespaced(self.pods.clone().into_client(), &pod.namespace);
        let (params, patch) = (PatchParams::default(), Patch::Merge(&body));
        let call = api.patch(&pod.name, &params, &patch);
        let result = match tokio::time::timeout(self.api_timeout, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.api_timeout)),
        };
        self.metrics
            .api_write(ApiWriteKind::PodAnnotation, result.is_ok());
        result.map_err(|reason| VolcanoError::Patch {
            pod: pod.key(),
            reason,
        })
    }
}

/// The merge patch marking `pod` used, with its UID as a precondition.
pub fn consume_patch_for(pod: &PodRef) -> serde_json::Value {
    json!({ "metadata": { "uid": pod.uid, "annotations": { PREDICATE_TIME: CONSUMED } } })
}

fn unused<'a>(view: &'a View, used: &'a BTreeSet<String>) -> impl Iterator<Item = &'a Pod> + 'a {
    view.pods.iter().map(AsRef::as_ref).filter(move |pod| {
        !pod.metadata
            .uid
            .as_ref()
            .is_some_and(|uid| used.contains(uid))
    })
}

/// Drops UIDs the cache now shows consumed, or no longer has.
fn forget_settled(used: &mut BTreeSet<String>, view: &View) {
    used.retain(|uid| {
        view.pods.iter().any(|pod| {
            pod.metadata.uid.as_ref() == Some(uid)
                && annotation(pod, PREDICATE_TIME) != Some(CONSUMED)
        })
    });
}

fn log_skips(skipped: &[crate::cluster::volcano::Skip]) {
    for skip in skipped {
        tracing::debug!(pod = %skip.pod, reason = %skip.reason, "pod not chosen");
    }
}

#[cfg(test)]
mod tests;
