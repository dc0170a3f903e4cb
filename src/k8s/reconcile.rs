//! Keeps the kubelet-ID map and the pods' write-back in step with what
//! kubelet reports (pod-resources): fills in IDs the map lacks from the pods'
//! annotations (after a restart without the state file), forgets IDs kubelet
//! no longer lists (their pods ended), destroys dynamic vNPUs of ended pods,
//! and repairs pods whose write-back failed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::assignments::{Assignment, Assignments};
use super::podresources::{PodDevices, Usage};
use super::volcano::PodRef;
use super::writeback::{Job, check_recovered, recover_pairs};
use super::{DynamicVnpu, VolcanoBinding, unix_seconds};
use crate::cluster::annotations::needs_write_back;
use crate::device::naming::{NPU_CORE, Resource};

/// Entries younger than [`Reconciler::grace`] survive a listing that lacks
/// them (kubelet lists an allocation only once the pod is admitted); never
/// less than this.
pub const MIN_GRACE: Duration = Duration::from_secs(10);
/// Allocate writes its pod back itself; the repair pass leaves allocations
/// younger than this to it (and to the watch that shows the result).
pub const REPAIR_AFTER_S: i64 = 10;

#[derive(Debug)]
pub struct Reconciler {
    pub binding: Arc<VolcanoBinding>,
    /// The Volcano-allocated resources of this node.
    pub resources: Vec<Resource>,
    pub usage: watch::Receiver<Arc<Usage>>,
    pub period: Duration,
}

impl Reconciler {
    /// Two listWatchPeriods (two listings), at least [`MIN_GRACE`].
    pub fn grace(&self) -> Duration {
        (self.period * 2).max(MIN_GRACE)
    }
}

impl Reconciler {
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            let usage = self.usage.borrow_and_update().clone();
            if usage.listed {
                self.pass(&usage).await;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut self.usage) => {}
                () = tokio::time::sleep(self.period) => {}
            }
        }
    }

    async fn pass(&self, usage: &Usage) {
        let binding = &self.binding;
        let cache = binding.matcher.cache();
        if !cache.view().synced {
            return;
        }
        let ours: Vec<&PodDevices> = usage
            .pods
            .iter()
            .filter(|p| {
                self.resources
                    .iter()
                    .any(|r| r.type_name == p.resource_type)
            })
            .collect();
        let mut removed = Vec::new();
        let now = unix_seconds();
        let allocated = usage.allocated();
        let grace_s = i64::try_from(self.grace().as_secs()).unwrap_or(i64::MAX);
        let update = binding.store.update(|map| {
            let before = map.clone();
            map.retain_allocated(&allocated, now, grace_s);
            removed = gone(&before, map);
        });
        if let Err(error) = update {
            tracing::error!(%error, "cannot persist the kubelet-ID map");
        }
        if let Some(dynamic) = &binding.dynamic {
            destroy_vnpus(dynamic, &removed).await;
            destroy_unused_vnpus(dynamic, usage, &binding.store.current()).await;
        }
        // IDs the map lacks (or just lost as stale): from the pods, once
        // cross-checked against the chips other live pods hold.
        let claimed = self.annotated_chips(&ours);
        for devices in &ours {
            let map = binding.store.current();
            let missing = devices
                .ids
                .iter()
                .any(|id| map.real_phy(&devices.resource_type, id).is_none());
            if missing && !self.is_virtual(&devices.resource_type) {
                let held = held_chips(&map, &claimed);
                self.recover(devices, &held).await;
            }
        }
        for devices in ours {
            self.repair(devices).await;
        }
    }

    /// The phy ids of `resource_type`'s chips on this node.
    fn chips_of(&self, resource_type: &str) -> BTreeSet<u32> {
        self.resources
            .iter()
            .filter(|r| r.type_name == resource_type)
            .flat_map(|r| r.devices.iter().map(|d| d.backing.phy_id()))
            .collect()
    }

    /// Real chips each pod kubelet lists names in its `AscendReal`
    /// (unreadable annotations name none): pod -> chips.
    fn annotated_chips(&self, listed: &[&PodDevices]) -> Vec<(String, Vec<u32>)> {
        let cache = self.binding.matcher.cache();
        listed
            .iter()
            .filter(|devices| !self.is_virtual(&devices.resource_type))
            .filter_map(|devices| {
                let pod = cache.find(&devices.namespace, &devices.name)?;
                let pairs = recover_pairs(devices, &pod).ok()?;
                Some((
                    devices.key(),
                    pairs.into_iter().map(|(_, phy)| phy).collect(),
                ))
            })
            .collect()
    }

    fn is_virtual(&self, resource_type: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.type_name == resource_type && r.is_virtual)
    }

    /// Rebuilds the map entries of one pod from its annotations. The pod
    /// comes from the watch cache: kubelet lists only pods of this node,
    /// which the synced cache holds (one not there yet is found on a later
    /// pass), so no API read is needed.
    async fn recover(&self, devices: &PodDevices, held: &BTreeMap<u32, Vec<String>>) {
        let cache = self.binding.matcher.cache();
        let Some(pod) = cache.find(&devices.namespace, &devices.name) else {
            tracing::debug!(pod = %devices.key(), "pod not in the watch cache yet");
            return;
        };
        let node_chips = self.chips_of(&devices.resource_type);
        let checked = recover_pairs(devices, &pod).and_then(|pairs| {
            check_recovered(&devices.key(), &pairs, &node_chips, held).map(|()| pairs)
        });
        match checked {
            Ok(pairs) => {
                let reference = PodRef::of(&pod);
                let (ids, phys): (Vec<String>, Vec<u32>) = pairs.into_iter().unzip();
                let result = self.binding.store.update(|map| {
                    map.record(
                        &devices.resource_type,
                        &ids,
                        &phys,
                        &reference.key(),
                        &reference.uid,
                        unix_seconds(),
                    );
                });
                tracing::info!(pod = %devices.key(), "kubelet-ID map rebuilt from the pod's annotations");
                if let Err(error) = result {
                    tracing::error!(%error, "cannot persist the kubelet-ID map");
                }
            }
            Err(reason) => tracing::warn!(%reason, "kubelet IDs keep their own chips' health"),
        }
    }

    /// Writes the pod's annotations if they are missing.
    async fn repair(&self, devices: &PodDevices) {
        let virtual_ = self.is_virtual(&devices.resource_type);
        let Some(pod) = self
            .binding
            .matcher
            .cache()
            .find(&devices.namespace, &devices.name)
        else {
            return;
        };
        if !needs_write_back(&pod, virtual_) {
            return;
        }
        let map = self.binding.store.current();
        let entries: Option<Vec<&Assignment>> = devices
            .ids
            .iter()
            .map(|id| map.resources.get(&devices.resource_type)?.get(id))
            .collect();
        let Some(entries) = entries else { return };
        let now = unix_seconds();
        if entries.iter().any(|a| now - a.since < REPAIR_AFTER_S) {
            return;
        }
        let phys = entries.iter().map(|a| a.real_phy).collect();
        let job = Job {
            pod: PodRef::of(&pod),
            resource_type: devices.resource_type.clone(),
            virtual_,
            kubelet_ids: devices.ids.clone(),
            phys,
        };
        if let Err(error) = self.binding.writer.write(&job).await {
            tracing::warn!(%error, "pod write-back repair failed; retrying next pass");
        }
    }
}

/// Real chip -> the pods that hold it: by a map entry (Allocate recorded
/// it, or an earlier pass rebuilt it) or by naming it in their own
/// `AscendReal` (`claimed`).
fn held_chips(map: &Assignments, claimed: &[(String, Vec<u32>)]) -> BTreeMap<u32, Vec<String>> {
    let mut held: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let entries = map.resources.values().flat_map(|entries| entries.values());
    for entry in entries.filter(|e| e.vdev_id.is_none()) {
        held.entry(entry.real_phy)
            .or_default()
            .push(entry.pod.clone());
    }
    for (pod, phys) in claimed {
        for phy in phys {
            held.entry(*phy).or_default().push(pod.clone());
        }
    }
    held
}

/// Entries of `before` that `after` no longer has.
fn gone(before: &Assignments, after: &Assignments) -> Vec<Assignment> {
    let mut out = Vec::new();
    for (resource_type, entries) in &before.resources {
        let kept = after.resources.get(resource_type);
        for (id, entry) in entries {
            if kept.is_none_or(|k| !k.contains_key(id)) {
                out.push(entry.clone());
            }
        }
    }
    out
}

/// Destroys vNPUs no running pod uses: those on this node's chips that the
/// map does not name. Only when kubelet's listing is fully explained by the
/// map (every listed device of ours is an `npu-core` ID with an entry):
/// after a restart that lost the map, a vNPU the map does not know may be
/// in use, and it is left alone.
async fn destroy_unused_vnpus(dynamic: &DynamicVnpu, usage: &Usage, map: &Assignments) {
    let explained = usage.pods.iter().all(|pod| {
        pod.resource_type == NPU_CORE
            && pod
                .ids
                .iter()
                .all(|id| map.real_phy(NPU_CORE, id).is_some())
    });
    if !explained {
        return;
    }
    let known: std::collections::BTreeSet<u32> = map
        .resources
        .values()
        .flat_map(|entries| entries.values())
        .filter_map(|entry| entry.vdev_id)
        .collect();
    let _creating = dynamic.lock.lock().await;
    for chip in &dynamic.inventory.chips {
        let (card, device) = (
            chip.card_id,
            u32::try_from(chip.device_index).unwrap_or_default(),
        );
        let listed: Result<Option<crate::dcmi::TotalResource>, crate::dcmi::DcmiError> = dynamic
            .dcmi
            .call("total_resource", dynamic.timeout, move |api| {
                api.total_resource(card, device)
            })
            .await;
        let vdev_ids = match listed {
            Ok(total) => total.map(|t| t.vdev_ids).unwrap_or_default(),
            Err(error) => {
                tracing::warn!(phy = chip.phy_id, %error, "cannot list the chip's vNPUs");
                continue;
            }
        };
        for vdev in vdev_ids.into_iter().filter(|v| !known.contains(v)) {
            destroy_vnpu(dynamic, chip.phy_id, vdev, "no running pod uses it").await;
        }
    }
}

/// Destroys the vNPUs of ended pods (each once, however many IDs it had).
async fn destroy_vnpus(dynamic: &DynamicVnpu, removed: &[Assignment]) {
    let mut vnpus: BTreeMap<(u32, u32), String> = BTreeMap::new();
    for entry in removed {
        if let Some(vdev) = entry.vdev_id {
            vnpus.insert((entry.real_phy, vdev), entry.pod.clone());
        }
    }
    for ((phy, vdev), pod) in vnpus {
        destroy_vnpu(dynamic, phy, vdev, &format!("its pod {pod} ended")).await;
    }
}

/// Destroys vNPU `vdev` on chip `phy` through DCMI; `why` goes in the log.
async fn destroy_vnpu(dynamic: &DynamicVnpu, phy: u32, vdev: u32, why: &str) {
    let Some(chip) = dynamic.inventory.chip_by_phy(phy) else {
        return;
    };
    let (card, device) = (
        chip.card_id,
        u32::try_from(chip.device_index).unwrap_or_default(),
    );
    let result: Result<(), crate::dcmi::DcmiError> = dynamic
        .dcmi
        .call("destroy_vnpu", dynamic.timeout, move |api| {
            api.destroy_vnpu(card, device, vdev)
        })
        .await;
    match result {
        Ok(()) => tracing::info!(phy, vdev, why, "vNPU destroyed"),
        Err(error) => tracing::warn!(phy, vdev, why, %error, "cannot destroy a vNPU"),
    }
}
