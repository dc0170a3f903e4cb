//! The device-info ConfigMap Volcano reads (compat §5):
//! `kube-system/mindx-dl-deviceinfo-<node>`, label `mx-consumer-cim: "true"`.
//! Read from a watch (an operator's `ManuallySeparateNPU` is honoured as
//! soon as the edit arrives), written when the content changes (timestamps
//! ignored), at least every 5 minutes, at most once a second; created when
//! missing. Keys of others are kept as found. It never polls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::assignments::Assignments;
use super::object::Observed;
use super::podresources::Usage;
use super::unix_seconds;
use crate::cluster::deviceinfo::{
    ChipReport, NodeReport, content_equal_ignoring_time, device_info_cfg, format_manually_separate,
    parse_manually_separate,
};
use crate::cluster::upgrade_reason::{format_upgrade_reasons, parse_upgrade_reasons};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::monitor::MonitorCommand;
use crate::device::naming::Resource;
use crate::device::upgrade::UpgradeReason;
use crate::telemetry::metrics::{ApiWriteKind, Metrics};

pub const NAMESPACE: &str = "kube-system";
pub const NAME_PREFIX: &str = "mindx-dl-deviceinfo-";
pub const CONSUMER_LABEL: &str = "mx-consumer-cim";
pub const DEVICE_INFO_KEY: &str = "DeviceInfoCfg";
pub const MANUALLY_SEPARATE_KEY: &str = "ManuallySeparateNPU";
pub const UPGRADE_FAULT_KEY: &str = "UpgradeFaultReason";
/// Rewritten at least this often even when nothing changed.
pub const HEARTBEAT: Duration = Duration::from_secs(300);
/// Never written more often than this.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

pub fn config_map_name(node: &str) -> String {
    format!("{NAME_PREFIX}{node}")
}

/// Which chips are in use, from kubelet's view (and, in Volcano mode, the
/// real chips behind kubelet's IDs).
pub fn used_phys(
    resources: &[Resource],
    usage: &Usage,
    assignments: &Assignments,
) -> BTreeSet<u32> {
    let mut used = BTreeSet::new();
    for pod in &usage.pods {
        let Some(resource) = resources.iter().find(|r| r.type_name == pod.resource_type) else {
            continue;
        };
        for id in &pod.ids {
            let phy = assignments
                .real_phy(&resource.type_name, id)
                .or_else(|| resource.device(id).map(|d| d.backing.phy_id()));
            used.extend(phy);
        }
    }
    used
}

/// The report of every chip at one instant.
pub fn node_report(
    inventory: &Inventory,
    snapshot: &Snapshot,
    used: &BTreeSet<u32>,
    manually_separated: &[String],
    update_time: i64,
) -> NodeReport {
    let family = inventory.family();
    let chips = inventory
        .chips
        .iter()
        .map(|chip| {
            let state = snapshot.chips.get(&chip.phy_id);
            ChipReport {
                name: chip.name(),
                healthy: state.is_some_and(|s| s.healthy),
                network_healthy: state.is_none_or(|s| s.network_healthy),
                free: !used.contains(&chip.phy_id),
                whole: chip.vnpus.is_empty(),
                // A ring being hot-reset is listed as recovering (§6 #4).
                recovering: state.is_some_and(|s| s.recovering || s.resetting),
                fault_codes: state
                    .map(|s| {
                        s.faults
                            .iter()
                            .map(|f| (f.code, f.level, f.since_ms))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let (super_pod_id, server_index) = inventory.super_pod_placement();
    NodeReport {
        resource_type: family.map_or("npu", |f| f.resource_type()).to_owned(),
        family_is_910: family.is_some_and(|f| f.runs_in_910_mode()),
        super_pod_id,
        server_index,
        update_time,
        manually_separated: manually_separated.to_vec(),
        chips,
    }
}

/// The phy ids of the chips named in `ManuallySeparateNPU`.
pub fn separated_phys(inventory: &Inventory, names: &[String]) -> BTreeSet<u32> {
    inventory
        .chips
        .iter()
        .filter(|chip| names.contains(&chip.name()))
        .map(|chip| chip.phy_id)
        .collect()
}

/// The `ManuallySeparateNPU` and `UpgradeFaultReason` values the snapshot
/// says, or `None` while it has not taken in the cluster's list `listed`
/// yet (then the ConfigMap's values are kept as found).
pub fn isolation_values(
    inventory: &Inventory,
    snapshot: &Snapshot,
    listed: &BTreeSet<u32>,
) -> Option<(String, String)> {
    if !snapshot.isolation_loaded || &snapshot.listed != listed {
        return None;
    }
    let mut separated = Vec::new();
    let mut reasons: Vec<(String, &[UpgradeReason])> = Vec::new();
    for chip in &inventory.chips {
        let Some(state) = snapshot.chips.get(&chip.phy_id) else {
            continue;
        };
        if state.manually_separated {
            separated.push(chip.name());
        }
        reasons.push((chip.name(), &state.reasons));
    }
    let reasons = format_upgrade_reasons(reasons.iter().map(|(n, r)| (n.as_str(), *r)));
    Some((format_manually_separate(&separated), reasons))
}

/// The persisted reasons of `current`, by phy id (unknown chips dropped).
pub fn persisted_reasons(
    inventory: &Inventory,
    current: Option<&ConfigMap>,
) -> BTreeMap<u32, Vec<UpgradeReason>> {
    let Some(value) = current.and_then(|cm| cm.data.as_ref()?.get(UPGRADE_FAULT_KEY)) else {
        return BTreeMap::new();
    };
    let map = match parse_upgrade_reasons(value) {
        Ok((map, warnings)) => {
            for warning in warnings {
                tracing::warn!(%warning, "device-info ConfigMap");
            }
            map
        }
        Err(error) => {
            tracing::warn!(%error, "device-info ConfigMap: persisted reasons ignored");
            return BTreeMap::new();
        }
    };
    inventory
        .chips
        .iter()
        .filter_map(|chip| Some((chip.phy_id, map.get(&chip.name())?.clone())))
        .collect()
}

/// The ConfigMap to write: `current` (if any) with our keys and label set,
/// everything else kept. `isolation`: the `ManuallySeparateNPU` and
/// `UpgradeFaultReason` values to write, `None` to keep them as found.
pub fn desired(
    current: Option<&ConfigMap>,
    node: &str,
    device_info: String,
    isolation: Option<(String, String)>,
) -> ConfigMap {
    let mut cm = current.cloned().unwrap_or_else(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(node)),
            namespace: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    });
    cm.metadata.managed_fields = None;
    cm.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(CONSUMER_LABEL.to_owned(), "true".to_owned());
    let data = cm.data.get_or_insert_with(BTreeMap::new);
    data.insert(DEVICE_INFO_KEY.to_owned(), device_info);
    if let Some((separated, reasons)) = isolation {
        data.insert(MANUALLY_SEPARATE_KEY.to_owned(), separated);
        data.insert(UPGRADE_FAULT_KEY.to_owned(), reasons);
    }
    data.entry(MANUALLY_SEPARATE_KEY.to_owned()).or_default();
    data.entry(UPGRADE_FAULT_KEY.to_owned())
        .or_insert_with(|| "{}".to_owned());
    cm
}

/// Whether `current` must be rewritten to carry `device_info` (and the
/// isolation values, when given).
pub fn needs_write(
    current: Option<&ConfigMap>,
    device_info: &str,
    isolation: Option<(&str, &str)>,
) -> bool {
    let Some(cm) = current else { return true };
    let labelled = cm
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONSUMER_LABEL))
        .is_some_and(|v| v == "true");
    let data = cm.data.as_ref();
    let same = data
        .and_then(|d| d.get(DEVICE_INFO_KEY))
        .is_some_and(|old| content_equal_ignoring_time(old, device_info));
    let keys = data.is_some_and(|d| {
        d.contains_key(MANUALLY_SEPARATE_KEY) && d.contains_key(UPGRADE_FAULT_KEY)
    });
    let isolated = isolation.is_none_or(|(separated, reasons)| {
        data.is_some_and(|d| {
            d.get(MANUALLY_SEPARATE_KEY).map(String::as_str) == Some(separated)
                && d.get(UPGRADE_FAULT_KEY).map(String::as_str) == Some(reasons)
        })
    });
    !(labelled && same && keys && isolated)
}

/// The writer's inputs. Everything it reads arrives on a channel: the
/// ConfigMap itself from a watch ([`super::object::watch_named`]), health,
/// kubelet's usage and the kubelet-ID map from their producers. It wakes
/// only when one of them changes or the heartbeat is due, so an idle node
/// sends the API server nothing but the heartbeat.
pub struct DeviceInfoWriter {
    pub client: Client,
    pub node: String,
    pub inventory: Arc<Inventory>,
    pub resources: Vec<Resource>,
    pub observed: watch::Receiver<Observed<ConfigMap>>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub usage: watch::Receiver<Arc<Usage>>,
    /// Volcano mode's kubelet-ID map; [`crate::changes::constant`] otherwise.
    pub assignments: watch::Receiver<Arc<Assignments>>,
    pub commands: mpsc::Sender<MonitorCommand>,
    pub metrics: Metrics,
}

/// What the writer remembers between passes.
#[derive(Debug, Default)]
pub struct WriterState {
    /// The chips of `ManuallySeparateNPU` last sent to the monitor.
    separated: Option<BTreeSet<u32>>,
    /// The chips in use last sent to the monitor.
    in_use: Option<BTreeSet<u32>>,
    /// The last successful write (the heartbeat counts from it).
    last_write: Option<Instant>,
    /// The last attempt, successful or not (writes keep [`MIN_INTERVAL`]).
    last_attempt: Option<Instant>,
    /// What the last write returned: newer than the watch's copy until the
    /// watch moves on (it then carries this write or something later).
    written: Option<ConfigMap>,
    /// The watch generation that write was based on.
    written_at: Option<u64>,
}

impl DeviceInfoWriter {
    pub async fn run(mut self, stop: CancellationToken) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), NAMESPACE);
        let name = config_map_name(&self.node);
        let mut state = WriterState::default();
        let mut backoff = super::Backoff::default();
        loop {
            self.metrics.reporter_wake("deviceinfo");
            // Everything up to now is what this pass sees. Once the watch
            // has moved past the state our last write was based on, its
            // copy is at least as new as that write.
            let observed = self.observed.borrow_and_update().clone();
            if state.written_at != Some(observed.generation) {
                state.written = None;
            }
            self.snapshots.borrow_and_update();
            self.usage.borrow_and_update();
            self.assignments.borrow_and_update();
            if observed.synced {
                let wrote_before = state.last_write;
                let outcome = self
                    .sync(&api, &name, observed.object.as_deref(), &mut state)
                    .await;
                if state.last_write != wrote_before {
                    state.written_at = Some(observed.generation);
                }
                match outcome {
                    Ok(()) => {
                        if backoff.succeeded() {
                            tracing::info!(configmap = %name, "device-info ConfigMap in sync again");
                        }
                    }
                    Err(error) => {
                        if backoff.failed() {
                            tracing::warn!(configmap = %name, %error, "cannot sync the device-info ConfigMap; retrying");
                        }
                    }
                }
            }
            // The API server is away or raced us: retry on a timer only.
            match backoff.pause(&stop).await {
                None => return,
                Some(true) => continue,
                Some(false) => {}
            }
            let heartbeat = state.last_write.map(|t| t + HEARTBEAT);
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut self.observed) => {}
                () = crate::changes::changed(&mut self.snapshots) => {}
                () = crate::changes::changed(&mut self.usage) => {}
                () = crate::changes::changed(&mut self.assignments) => {}
                () = sleep_until_some(heartbeat) => {}
            }
            // Coalesce bursts and keep to at most one write a second.
            if let Some(at) = state.last_attempt {
                tokio::time::sleep_until(at + MIN_INTERVAL).await;
            }
        }
    }

    /// One pass: honour `ManuallySeparateNPU`, then write if the content
    /// changed or the heartbeat is due. `observed` is the watch's copy of
    /// the ConfigMap (`None`: it does not exist).
    pub async fn sync(
        &mut self,
        api: &Api<ConfigMap>,
        name: &str,
        observed: Option<&ConfigMap>,
        state: &mut WriterState,
    ) -> Result<(), String> {
        let current = state.written.as_ref().or(observed);
        let names = current
            .and_then(|cm| cm.data.as_ref()?.get(MANUALLY_SEPARATE_KEY))
            .map(|v| parse_manually_separate(v))
            .unwrap_or_default();
        let phys = separated_phys(&self.inventory, &names);
        match &state.separated {
            None => {
                // Start-up: the list and the persisted reasons, once.
                let reasons = persisted_reasons(&self.inventory, current);
                tracing::info!(chips = %names.join(","), with_reasons = reasons.len(), "isolation read back from the device-info ConfigMap");
                let load = MonitorCommand::LoadIsolation {
                    listed: phys.clone(),
                    reasons,
                };
                let _ = self.commands.send(load).await;
            }
            Some(old) if old != &phys => {
                tracing::info!(chips = %names.join(","), "ManuallySeparateNPU changed in the device-info ConfigMap");
                let _ = self
                    .commands
                    .send(MonitorCommand::SetManuallySeparated(phys.clone()))
                    .await;
            }
            Some(_) => {}
        }
        let snapshot = self.snapshots.borrow().clone();
        let usage = self.usage.borrow().clone();
        let assignments = self.assignments.borrow().clone();
        let used = used_phys(&self.resources, &usage, &assignments);
        if state.in_use.as_ref() != Some(&used) {
            let _ = self
                .commands
                .send(MonitorCommand::SetInUse(used.clone()))
                .await;
            state.in_use = Some(used.clone());
        }
        let isolation = isolation_values(&self.inventory, &snapshot, &phys);
        state.separated = Some(phys);
        let mut listed_names = names;
        if let Some((separated, _)) = &isolation {
            listed_names.extend(parse_manually_separate(separated));
        }
        let not_free = super::softshare::not_free(&self.resources, &usage, &assignments, &used);
        let report = node_report(
            &self.inventory,
            &snapshot,
            &not_free,
            &listed_names,
            unix_seconds(),
        );
        let device_info = device_info_cfg(&report);
        let isolation_refs = isolation.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let due = state.last_write.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        if !needs_write(current, &device_info, isolation_refs) && !due {
            return Ok(());
        }
        let cm = desired(current, &self.node, device_info, isolation);
        let timeout = Duration::from_secs(10);
        let write = async {
            match current {
                Some(_) => api.replace(name, &PostParams::default(), &cm).await,
                None => api.create(&PostParams::default(), &cm).await,
            }
        };
        let result = tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| format!("write {name}: no answer within {timeout:?}"))
            .and_then(|r| r.map_err(|e| format!("write {name}: {e}")));
        self.metrics
            .api_write(ApiWriteKind::ConfigMap, result.is_ok());
        let now = Instant::now();
        state.last_attempt = Some(now);
        match result {
            Ok(written) => {
                state.last_write = Some(now);
                state.written = Some(written);
                Ok(())
            }
            Err(error) => {
                // A conflict or a NotFound means the watch is behind: its
                // next event brings the object to write on.
                state.written = None;
                Err(error)
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is no `at`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl std::fmt::Debug for DeviceInfoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceInfoWriter")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
