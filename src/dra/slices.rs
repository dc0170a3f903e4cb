//! Publishing this node's ResourceSlices from the health snapshot: one pool
//! named after the node (one slice, or several when vNPU partitions and
//! their counter sets outgrow one), `spec.nodeName` = this node. The
//! node's slices of our driver are watched (field selector), so a slice
//! kubelet deletes (at its start, 30 s after the driver disconnects) is
//! created again, and a write happens only when the devices differ from
//! what the server holds.

use std::collections::BTreeMap;
use std::sync::Arc;

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
use super::devices::{SliceContent, layout, published, slice_spec};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::topology::Board;

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

/// Label naming a slice's place in the pool, so the same content stays in
/// the same slice across restarts.
pub const SLICE_INDEX: &str = "npu.huawei.com/slice-index";

fn index_of(slice: &ResourceSlice) -> Option<usize> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get(SLICE_INDEX)?
        .parse()
        .ok()
}

fn holds(
    slice: &ResourceSlice,
    node: &str,
    index: usize,
    count: usize,
    generation: i64,
    want: &SliceContent,
) -> bool {
    let spec = &slice.spec;
    index_of(slice) == Some(index)
        && spec.driver == DRIVER
        && spec.node_name.as_deref() == Some(node)
        && spec.pool.name == node
        && spec.pool.resource_slice_count == i64::try_from(count).unwrap_or(i64::MAX)
        && spec.pool.generation == generation
        && spec.shared_counters.clone().unwrap_or_default() == want.counters
        && same_devices(spec.devices.as_ref(), &want.devices)
}

/// The writes that turn `held` (this node's slices of our driver, by name)
/// into the `desired` slices (pure). Each desired slice goes to the held
/// slice labelled with its index, else to an unlabelled one, else a new
/// one. `generation` is the highest pool generation used so far; when
/// anything differs every slice is written at the next one (consumers use
/// only the highest generation of a pool).
pub fn plan(
    node: &str,
    owner: &OwnerReference,
    held: &BTreeMap<String, ResourceSlice>,
    desired: Vec<SliceContent>,
    generation: i64,
) -> Vec<Action> {
    let highest = held
        .values()
        .map(|s| s.spec.pool.generation)
        .max()
        .unwrap_or(0)
        .max(generation);
    let count = desired.len();
    let mut slots: Vec<Option<&ResourceSlice>> = vec![None; count];
    let mut extra: Vec<&ResourceSlice> = Vec::new();
    for slice in held.values() {
        match index_of(slice).filter(|i| *i < count) {
            Some(i) if slots[i].is_none() => slots[i] = Some(slice),
            _ => extra.push(slice),
        }
    }
    let mut surplus = Vec::new();
    for slice in extra {
        match slots.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) if index_of(slice).is_none() => *slot = Some(slice),
            _ => surplus.push(slice),
        }
    }
    let current = surplus.is_empty()
        && slots
            .iter()
            .zip(&desired)
            .enumerate()
            .all(|(i, (slot, want))| slot.is_some_and(|s| holds(s, node, i, count, highest, want)));
    if current {
        return Vec::new();
    }
    let mut actions = Vec::new();
    for (index, (slot, content)) in slots.into_iter().zip(desired).enumerate() {
        let spec = slice_spec(node, content, highest + 1, count);
        let mut labels = BTreeMap::new();
        labels.insert(SLICE_INDEX.to_string(), index.to_string());
        match slot {
            Some(held) => {
                let mut slice = held.clone();
                slice
                    .metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .extend(labels);
                slice.spec = spec;
                actions.push(Action::Replace(slice));
            }
            None => actions.push(Action::Create(ResourceSlice {
                metadata: ObjectMeta {
                    generate_name: Some(format!("{node}-{DRIVER}-")),
                    owner_references: Some(vec![owner.clone()]),
                    labels: Some(labels),
                    ..Default::default()
                },
                spec,
            })),
        }
    }
    actions.extend(
        surplus
            .into_iter()
            .filter_map(|s| s.metadata.name.clone())
            .map(Action::Delete),
    );
    actions
}

/// The slice publisher of one node.
pub struct SlicePublisher {
    pub client: kube::Client,
    pub node: String,
    pub inventory: Arc<Inventory>,
    pub board: Board,
    /// Publish vNPU template devices with shared counters.
    pub partitions: bool,
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
        let mut backoff = crate::k8s::Backoff::default();
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
                    backoff.failed();
                    tracing::warn!(node = %self.node, %error, "cannot read the Node for the ResourceSlice owner; retrying");
                }
            }
            backoff.pause(stop).await?;
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
        // Shared with the other reporters: 2 s doubling to 32 s, jittered,
        // so a thousand nodes do not retry an API outage in step.
        let mut backoff = crate::k8s::Backoff::default();
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
            let (counters, devices) =
                published(&self.inventory, self.board, &snapshot, self.partitions);
            let desired = layout(counters, devices);
            let actions = plan(&self.node, &owner, &held.slices, desired, generation);
            let mut failed = false;
            for action in actions {
                if let Err(error) = self.write(&api, action, &mut held, &mut generation).await {
                    tracing::warn!(%error, "ResourceSlice write failed; retrying");
                    failed = true;
                    break;
                }
            }
            if failed {
                backoff.failed();
                retry_at = backoff
                    .delay()
                    .map(|delay| tokio::time::Instant::now() + delay);
            } else {
                backoff.succeeded();
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
