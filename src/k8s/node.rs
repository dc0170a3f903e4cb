//! This node's labels and annotations (compat §6), patched only where they
//! differ, re-checked whenever the watched node changes (someone may remove
//! them); and, with
//! `-autoStowing=false`, the operator's recover label: an operator names
//! recovered chips in node label `huawei.com/<Type>-Recover` (chip names
//! joined by `.`, label values allow no commas); the plugin returns those
//! chips to service and removes the label.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::object::Observed;
use crate::cluster::labels::{desired_annotations, desired_labels, node_patch_for};
use crate::cluster::reset_info::{RESET_INFO, reset_info_value};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::monitor::MonitorCommand;
use crate::device::naming::NamingOptions;
use crate::device::reset::ManualResetDev;
use crate::telemetry::metrics::{ApiWriteKind, Metrics};

/// How `baseDeviceInfos` names the devices: whole chips and static vNPUs.
/// The agent is not told `-shareDevCount` or `-use310PMixedInsert` (see
/// docs/migration.md, differences from upstream).
const BASE_DEVICE_NAMING: NamingOptions = NamingOptions {
    share_dev_count: 1,
    mixed_insert_310p: false,
    dynamic_vnpu: false,
};
const TIMEOUT: Duration = Duration::from_secs(10);

/// `huawei.com/Ascend910-Recover` for chips of `resource_type`.
pub fn recover_label(resource_type: &str) -> String {
    format!("huawei.com/{resource_type}-Recover")
}

/// What to do with the recover label's value: chips to release (recovering
/// now), names that are no chip waiting for release.
pub fn recover_request(
    value: &str,
    inventory: &Inventory,
    snapshot: &Snapshot,
) -> (BTreeSet<u32>, Vec<String>) {
    let mut release = BTreeSet::new();
    let mut ignored = Vec::new();
    for name in value
        .split(['.', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let chip = inventory.chips.iter().find(|c| c.name() == name);
        match chip {
            Some(chip)
                if snapshot
                    .chips
                    .get(&chip.phy_id)
                    .is_some_and(|s| s.recovering) =>
            {
                release.insert(chip.phy_id);
            }
            _ => ignored.push(name.chars().take(64).collect()),
        }
    }
    (release, ignored)
}

/// Merge patch removing `label`.
pub fn remove_label_patch(label: &str) -> Value {
    json!({ "metadata": { "labels": { label: Value::Null } } })
}

/// The node's IP for the 910 configuration annotation: `HOST_IP`, else the
/// node's first InternalIP.
pub fn node_ip(host_ip: Option<&str>, node: Option<&Node>) -> Option<String> {
    if let Some(ip) = host_ip {
        return Some(ip.to_owned());
    }
    node?
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

/// Keeps this node's labels and annotations and serves the recover label,
/// reading the node from a watch ([`super::object::watch_named`]): it acts
/// when the node changes and otherwise sends nothing.
pub struct NodeAgent {
    pub client: Client,
    pub node: String,
    pub inventory: Arc<Inventory>,
    pub auto_stowing: bool,
    pub observed: watch::Receiver<Observed<Node>>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Chips the hot reset left to an operator (`ResetInfo`);
    /// [`crate::changes::constant`] without `-hotReset`.
    pub reset_manual: watch::Receiver<Arc<Vec<ManualResetDev>>>,
    pub commands: mpsc::Sender<MonitorCommand>,
    pub metrics: Metrics,
}

/// At most one patch a second, however often the node changes.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl NodeAgent {
    pub async fn run(mut self, stop: CancellationToken) {
        let api: Api<Node> = Api::all(self.client.clone());
        let mut backoff = super::Backoff::default();
        let mut missing_said = false;
        loop {
            self.metrics.reporter_wake("node");
            let observed = self.observed.borrow_and_update().clone();
            let mut patched = false;
            match (observed.synced, observed.object) {
                (false, _) => {}
                (true, None) => {
                    if !std::mem::replace(&mut missing_said, true) {
                        tracing::warn!(node = %self.node, "node object not found; labels wait for it");
                    }
                }
                (true, Some(node)) => {
                    missing_said = false;
                    match self.pass(&api, &node).await {
                        Ok(wrote) => {
                            patched = wrote;
                            if backoff.succeeded() {
                                tracing::info!(node = %self.node, "node labels in sync again");
                            }
                        }
                        Err(error) => {
                            if backoff.failed() {
                                tracing::warn!(node = %self.node, %error, "cannot update node labels; retrying");
                            }
                        }
                    }
                }
            }
            match backoff.pause(&stop).await {
                None => return,
                Some(true) => continue,
                Some(false) => {}
            }
            if patched {
                tokio::time::sleep(MIN_INTERVAL).await;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut self.observed) => {}
                () = crate::changes::changed(&mut self.reset_manual) => {}
                // Health decides which ResetInfo entries stay.
                () = crate::changes::changed(&mut self.snapshots) => {}
            }
        }
    }

    /// One pass over the node as the watch shows it; whether it patched.
    pub async fn pass(&self, api: &Api<Node>, node: &Node) -> Result<bool, String> {
        let existing = node.metadata.labels.clone().unwrap_or_default();
        let labels = desired_labels(&self.inventory, &existing);
        for issue in &labels.issues {
            tracing::warn!(%issue, "node label");
        }
        let mut annotations = desired_annotations(&self.inventory, BASE_DEVICE_NAMING);
        let snapshot = self.snapshots.borrow().clone();
        let manual = self.reset_manual.borrow().clone();
        let existing = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESET_INFO));
        if let Some(value) = reset_info_value(existing.map(String::as_str), &manual, |phy| {
            snapshot.is_healthy(phy)
        }) {
            annotations.insert(RESET_INFO.to_owned(), value);
        }
        let mut patched = false;
        if let Some(patch) = node_patch_for(node, &labels.labels, &annotations) {
            self.patch(api, &patch).await?;
            tracing::info!(node = %self.node, "node labels and annotations updated");
            patched = true;
        }
        if !self.auto_stowing {
            patched |= self.recover(api, node).await?;
        }
        Ok(patched)
    }

    /// Serves the recover label if it is set; whether it patched.
    async fn recover(&self, api: &Api<Node>, node: &Node) -> Result<bool, String> {
        let Some(resource_type) = self.inventory.family().map(|f| f.resource_type()) else {
            return Ok(false);
        };
        let label = recover_label(resource_type);
        let empty = BTreeMap::new();
        let Some(value) = node.metadata.labels.as_ref().unwrap_or(&empty).get(&label) else {
            return Ok(false);
        };
        let snapshot = self.snapshots.borrow().clone();
        let (release, ignored) = recover_request(value, &self.inventory, &snapshot);
        for name in &ignored {
            tracing::warn!(label = %label, chip = %name, "recover label names no chip waiting for release; ignored");
        }
        for phy in release {
            tracing::info!(phy, "operator released a recovered chip");
            let _ = self.commands.send(MonitorCommand::Release(phy)).await;
        }
        self.patch(api, &remove_label_patch(&label)).await?;
        Ok(true)
    }

    async fn patch(&self, api: &Api<Node>, patch: &Value) -> Result<(), String> {
        let (params, patch) = (PatchParams::default(), Patch::Merge(patch));
        let call = api.patch(&self.node, &params, &patch);
        let result = tokio::time::timeout(TIMEOUT, call)
            .await
            .map_err(|_| format!("PATCH node {}: no answer within {TIMEOUT:?}", self.node))
            .and_then(|r| {
                r.map(drop)
                    .map_err(|e| format!("PATCH node {}: {e}", self.node))
            });
        self.metrics.api_write(ApiWriteKind::Node, result.is_ok());
        result
    }
}

impl std::fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgent")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
