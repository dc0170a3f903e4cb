//! Publishing this node's ResourceSlice from the health snapshot: one pool
//! named after the node, one slice, `spec.nodeName` = this node. The
//! node's slices of our driver are watched (field selector), so a slice
//! kubelet deletes (at its start, 30 s after the driver disconnects) is
//! created again, and a write happens only when the devices differ from
//! what the server holds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::resource::v1::{Device, DeviceTaint, ResourceSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher::Event;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::DRIVER;
use super::devices::{devices, slice_spec};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::topology::Board;

/// Retry delay after a failed write or Node read.
const RETRY: Duration = Duration::from_secs(5);

/// What to do to make the server hold exactly the desired slice.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(ResourceSlice),
    Replace(ResourceSlice),
    Delete(String),
}

/// A device as far as equality goes: what we set, without what the server
/// adds (a taint's `timeAdded`).
fn essence(device: &Device) -> Device {
    let mut device = device.clone();
    if let Some(taints) = device.taints.as_mut() {
        for taint in taints.iter_mut() {
            *taint = DeviceTaint {
                time_added: None,
                ..taint.clone()
            };
        }
        if taints.is_empty() {
            device.taints = None;
        }
    }
    device
}

fn same_devices(held: Option<&Vec<Device>>, desired: &[Device]) -> bool {
    let held = held.map(Vec::as_slice).unwrap_or_default();
    held.len() == desired.len()
        && held
            .iter()
            .zip(desired)
            .all(|(a, b)| essence(a) == essence(b))
}

/// The writes that turn `held` (this node's slices of our driver, by name)
/// into one slice with `desired` devices (pure). `generation` is the
/// highest pool generation used so far; a changed slice gets the next one.
pub fn plan(
    node: &str,
    owner: &OwnerReference,
    held: &BTreeMap<String, ResourceSlice>,
    desired: Vec<Device>,
    generation: i64,
) -> Vec<Action> {
    let highest = held
        .values()
        .map(|s| s.spec.pool.generation)
        .max()
        .unwrap_or(0)
        .max(generation);
    let mut slices = held.values();
    let Some(keep) = slices.next() else {
        let slice = ResourceSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{node}-{DRIVER}-")),
                owner_references: Some(vec![owner.clone()]),
                ..Default::default()
            },
            spec: slice_spec(node, desired, highest + 1),
        };
        return vec![Action::Create(slice)];
    };
    let mut actions: Vec<Action> = slices
        .filter_map(|s| s.metadata.name.clone())
        .map(Action::Delete)
        .collect();
    let spec = &keep.spec;
    let current = spec.driver == DRIVER
        && spec.node_name.as_deref() == Some(node)
        && spec.pool.name == node
        && spec.pool.resource_slice_count == 1
        && spec.pool.generation == highest
        && same_devices(spec.devices.as_ref(), &desired);
    if !current {
        let mut slice = keep.clone();
        slice.spec = slice_spec(node, desired, highest + 1);
        actions.insert(0, Action::Replace(slice));
    }
    actions
}

/// The slice publisher of one node.
pub struct SlicePublisher {
    pub client: kube::Client,
    pub node: String,
    pub inventory: Arc<Inventory>,
    pub board: Board,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}

impl std::fmt::Debug for SlicePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicePublisher")
            .field("node", &self.node)
            .field("board", &self.board)
            .finish_non_exhaustive()
    }
}

/// Watched slices, folded into a map; `synced` once listed.
#[derive(Debug, Default)]
struct Held {
    synced: bool,
    slices: BTreeMap<String, ResourceSlice>,
    relist: Option<BTreeMap<String, ResourceSlice>>,
}

impl Held {
    fn apply(&mut self, event: Event<ResourceSlice>) {
        let name = |s: &ResourceSlice| s.metadata.name.clone().unwrap_or_default();
        match event {
            Event::Init => self.relist = Some(BTreeMap::new()),
            Event::InitApply(slice) => {
                if let Some(relist) = self.relist.as_mut() {
                    relist.insert(name(&slice), slice);
                }
            }
            Event::InitDone => {
                if let Some(relist) = self.relist.take() {
                    self.slices = relist;
                }
                self.synced = true;
            }
            Event::Apply(slice) => {
                self.slices.insert(name(&slice), slice);
            }
            Event::Delete(slice) => {
                self.slices.remove(&name(&slice));
            }
        }
    }
}

impl SlicePublisher {
    /// The Node owner reference (slices go when the Node goes); retried
    /// until it is read.
    async fn owner(&self, stop: &CancellationToken) -> Option<OwnerReference> {
        let nodes = Api::<Node>::all(self.client.clone());
        loop {
            match nodes.get(&self.node).await {
                Ok(node) => {
                    return Some(OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: self.node.clone(),
                        uid: node.metadata.uid.unwrap_or_default(),
                        controller: Some(true),
                        ..Default::default()
                    });
                }
                Err(error) => {
                    tracing::warn!(node = %self.node, %error, "cannot read the Node for the ResourceSlice owner; retrying");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Publishes until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let Some(owner) = self.owner(&stop).await else {
            return;
        };
        let api = Api::<ResourceSlice>::all(self.client.clone());
        let config = crate::k8s::watch_config()
            .fields(&format!("spec.nodeName={},spec.driver={DRIVER}", self.node));
        let events = crate::k8s::watch_events(
            api.clone(),
            config,
            format!("ResourceSlices of node {}", self.node),
            || {},
        );
        tokio::pin!(events);
        let mut held = Held::default();
        let mut generation = 0;
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                event = events.next() => match event {
                    Some(event) => held.apply(event),
                    None => return,
                },
                () = crate::changes::changed(&mut self.snapshots) => {}
                () = retry => retry_at = None,
            }
            if !held.synced {
                continue;
            }
            let snapshot = self.snapshots.borrow_and_update().clone();
            let desired = devices(&self.inventory, self.board, &snapshot);
            let actions = plan(&self.node, &owner, &held.slices, desired, generation);
            for action in actions {
                match self.write(&api, action, &mut held, &mut generation).await {
                    Ok(()) => {}
                    Err(error) => {
                        tracing::warn!(%error, "ResourceSlice write failed; retrying");
                        retry_at = Some(tokio::time::Instant::now() + RETRY);
                        break;
                    }
                }
            }
        }
    }

    /// One write; the answer goes into `held` at once, so a change that
    /// comes before the watch's echo does not write twice.
    async fn write(
        &self,
        api: &Api<ResourceSlice>,
        action: Action,
        held: &mut Held,
        generation: &mut i64,
    ) -> Result<(), kube::Error> {
        match action {
            Action::Create(slice) => {
                let made = api.create(&PostParams::default(), &slice).await?;
                *generation = made.spec.pool.generation;
                tracing::info!(slice = ?made.metadata.name, generation = *generation, "ResourceSlice created");
                held.slices
                    .insert(made.metadata.name.clone().unwrap_or_default(), made);
            }
            Action::Replace(slice) => {
                let name = slice.metadata.name.clone().unwrap_or_default();
                let made = api.replace(&name, &PostParams::default(), &slice).await?;
                *generation = made.spec.pool.generation;
                tracing::info!(slice = %name, generation = *generation, "ResourceSlice updated");
                held.slices.insert(name, made);
            }
            Action::Delete(name) => {
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => return Err(error),
                }
                held.slices.remove(&name);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
