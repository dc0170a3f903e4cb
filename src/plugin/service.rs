//! The `v1beta1.DevicePlugin` gRPC service for one resource: a thin adapter
//! from tonic to the pure functions in `allocate` and `devices`.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::allocate::{self, AllocateError, ContainerGrant, Style};
use super::devices::{self, ChipFacts, PreferError};
use super::softshare::{SoftShareError, SoftShareFiles};
use crate::cluster::npu_core::NpuCoreRequest;
use crate::cluster::volcano::needs_volcano;
use crate::device::health::Snapshot;
use crate::device::modes::custom_names::PublicResource;
use crate::device::naming::{Backing, NPU_CORE, Resource, is_known_template};
use crate::device::topology::Board;
use crate::k8s::VolcanoBinding;
use crate::k8s::volcano::{Claim, PodRef, VolcanoError};
use crate::k8s::writeback::Job;
use crate::proto::deviceplugin as pb;
use crate::proto::deviceplugin::device_plugin_server::DevicePlugin;
use crate::telemetry::metrics::{AllocateOutcome, Metrics};

/// Options we register with and answer `GetDevicePluginOptions` with.
pub fn plugin_options() -> pb::DevicePluginOptions {
    pb::DevicePluginOptions {
        pre_start_required: false,
        get_preferred_allocation_available: true,
    }
}

/// A ListAndWatch stream ended while we were serving; `epoch` is the
/// resource's registration epoch when the stream began, so streams that
/// kubelet closed because we re-registered can be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnded {
    pub resource: String,
    pub epoch: u64,
}

/// Everything one resource's service reads; shared, read-only.
#[derive(Debug)]
pub struct ServiceContext {
    pub resource: Resource,
    pub board: Board,
    pub facts: ChipFacts,
    pub style: Style,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Bumped before every Register of this resource.
    pub epoch: AtomicU64,
    pub metrics: Metrics,
    /// Volcano mode for this resource (physical chips and `npu-core`).
    pub volcano: Option<Arc<VolcanoBinding>>,
    /// Envs every container's answer gets (`-enableSlowNode`).
    pub extra_envs: watch::Receiver<Arc<std::collections::BTreeMap<String, String>>>,
    /// Soft share: the files each Allocate creates and mounts.
    pub soft_share: Option<Arc<SoftShareFiles>>,
    /// The names kubelet sees when `deviceNameCustomization.json` renames
    /// this resource; IDs are mapped at this edge only.
    pub public: Option<PublicResource>,
}

impl ServiceContext {
    /// The resource name registered with kubelet (public when renamed).
    pub fn registered_name(&self) -> String {
        match &self.public {
            Some(public) => public.resource_name.clone(),
            None => self.resource.resource_name(),
        }
    }

    /// kubelet's IDs as the resource knows them; an ID that does not carry
    /// the public prefix of a renamed resource is refused, naming it.
    fn ids_in(&self, ids: &[String]) -> Result<Vec<String>, AllocateError> {
        let Some(public) = &self.public else {
            return Ok(ids.to_vec());
        };
        ids.iter()
            .map(|id| {
                public.id_in(id).ok_or_else(|| AllocateError::Unknown {
                    id: if id.len() > allocate::MAX_ID_LEN {
                        allocate::truncate(id)
                    } else {
                        id.clone()
                    },
                    resource: public.resource_name.clone(),
                })
            })
            .collect()
    }

    /// The resource's ID as kubelet knows it.
    fn id_out(&self, id: String) -> String {
        match &self.public {
            Some(public) => public.id_out(&id),
            None => id,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Starts a new registration epoch; returns it.
    pub fn next_epoch(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// One resource's service while one server runs.
#[derive(Debug, Clone)]
pub struct PluginService {
    context: Arc<ServiceContext>,
    stop: CancellationToken,
    ended: mpsc::UnboundedSender<StreamEnded>,
}

impl PluginService {
    pub fn new(
        context: Arc<ServiceContext>,
        stop: CancellationToken,
        ended: mpsc::UnboundedSender<StreamEnded>,
    ) -> Self {
        Self {
            context,
            stop,
            ended,
        }
    }
}

/// The one place errors become gRPC statuses.
fn status(error: &ServiceError) -> Status {
    match error {
        ServiceError::Allocate(e) => Status::invalid_argument(e.to_string()),
        ServiceError::Prefer(e) => Status::invalid_argument(e.to_string()),
        ServiceError::Unhealthy { .. } => Status::failed_precondition(error.to_string()),
        ServiceError::Volcano(VolcanoError::NotSynced { .. } | VolcanoError::Disconnected(..)) => {
            Status::unavailable(error.to_string())
        }
        ServiceError::Volcano(_) | ServiceError::Vnpu(_) => {
            Status::failed_precondition(error.to_string())
        }
        ServiceError::SoftShare(_) => Status::internal(error.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
enum ServiceError {
    #[error(transparent)]
    Allocate(#[from] AllocateError),
    #[error(transparent)]
    Prefer(#[from] PreferError),
    #[error("device ID {id:?} is on chip {phy} which is Unhealthy")]
    Unhealthy { id: String, phy: u32 },
    #[error("Volcano allocation: {0}")]
    Volcano(#[from] VolcanoError),
    #[error("dynamic vNPU: {0}")]
    Vnpu(String),
    #[error(transparent)]
    SoftShare(#[from] SoftShareError),
}

/// Sends `StreamEnded` when kubelet's ListAndWatch stream goes away while
/// we are still serving (kubelet restarted or dropped us).
struct EndGuard {
    service: PluginService,
    epoch: u64,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.service.stop.is_cancelled() {
            let _ = self.service.ended.send(StreamEnded {
                resource: self.service.context.resource.type_name.clone(),
                epoch: self.epoch,
            });
        }
    }
}

type WatchResponse = Pin<Box<dyn Stream<Item = Result<pb::ListAndWatchResponse, Status>> + Send>>;

impl PluginService {
    fn allocate_all(
        &self,
        request: &pb::AllocateRequest,
    ) -> Result<pb::AllocateResponse, ServiceError> {
        let context = &self.context;
        let requests: Vec<Vec<String>> = request
            .container_requests
            .iter()
            .map(|c| c.devices_ids.clone())
            .collect();
        let backings = allocate::validate(&context.resource, &requests)?;
        let snapshot = context.snapshots.borrow().clone();
        for (ids, chips) in requests.iter().zip(&backings) {
            for (id, backing) in ids.iter().zip(chips) {
                if !snapshot.is_healthy(backing.phy_id()) {
                    return Err(ServiceError::Unhealthy {
                        id: id.clone(),
                        phy: backing.phy_id(),
                    });
                }
            }
        }
        let container_responses = backings
            .iter()
            .map(|chips| {
                to_proto(allocate::grant(
                    context.resource.family,
                    chips,
                    &context.style,
                ))
            })
            .collect();
        Ok(pb::AllocateResponse {
            container_responses,
        })
    }
}

impl PluginService {
    /// Volcano mode: each container's chips are the ones Volcano wrote on
    /// the pod that explains the request; kubelet's IDs only count them.
    async fn allocate_volcano(
        &self,
        binding: &VolcanoBinding,
        request: &pb::AllocateRequest,
    ) -> Result<pb::AllocateResponse, ServiceError> {
        let context = &self.context;
        let resource = &context.resource;
        let requests: Vec<Vec<String>> = request
            .container_requests
            .iter()
            .map(|c| c.devices_ids.clone())
            .collect();
        // The IDs must be ours even though Volcano's chips are used.
        allocate::validate_volcano(resource, &requests)?;
        // The chips Volcano may name: this resource's.
        let available: BTreeSet<u32> = resource
            .devices
            .iter()
            .map(|d| d.backing.phy_id())
            .collect();
        let mut container_responses = Vec::with_capacity(requests.len());
        for ids in &requests {
            // Dynamic vNPUs: no unused-vNPU sweep between creating one and
            // recording it.
            let _creating = match binding
                .dynamic
                .as_ref()
                .filter(|_| resource.type_name == NPU_CORE)
            {
                Some(dynamic) => Some(Arc::clone(&dynamic.lock).lock_owned().await),
                None => None,
            };
            let snapshot = context.snapshots.borrow().clone();
            let mut mounts = Vec::new();
            let (backings, pod, vdev) = if resource.type_name == NPU_CORE {
                self.claim_npu_core(binding, ids.len(), &snapshot).await?
            } else if let Some(files) = &context.soft_share {
                let (phy, pod, granted) = self
                    .claim_soft_share(binding, files, ids.len(), &available, &snapshot)
                    .await?;
                mounts = granted;
                (vec![Backing::Chip { phy_id: phy }], pod, None)
            } else {
                // Who holds each chip now: an entry of the kubelet-ID map
                // whose pod is live (in the watch cache, which drops pods
                // that ended, same UID, not being deleted).
                let map = binding.store.current();
                let cache = binding.matcher.cache();
                let live = |key: &str, uid: &str| {
                    let Some((namespace, name)) = key.split_once('/') else {
                        return false;
                    };
                    cache.find(namespace, name).is_some_and(|pod| {
                        pod.metadata.uid.as_deref() == Some(uid)
                            && pod.metadata.deletion_timestamp.is_none()
                    })
                };
                let holder = |phy: u32| {
                    map.resources
                        .values()
                        .flat_map(|entries| entries.values())
                        .find(|e| {
                            e.real_phy == phy && e.vdev_id.is_none() && live(&e.pod, &e.pod_uid)
                        })
                        .map(|entry| entry.pod.clone())
                };
                let Claim { pod, value: phys } = binding
                    .matcher
                    .claim_chips_held(
                        &resource.type_name,
                        ids.len(),
                        &available,
                        |phy| snapshot.is_healthy(phy),
                        holder,
                    )
                    .await?;
                let backings = phys
                    .into_iter()
                    .map(|phy_id| Backing::Chip { phy_id })
                    .collect();
                (backings, pod, None)
            };
            let phys = kubelet_order_phys(&backings, ids.len());
            self.remember(binding, ids, &phys, vdev, &pod);
            let mut grant = allocate::grant(resource.family, &backings, &context.style);
            grant.mounts = mounts;
            container_responses.push(to_proto(grant));
        }
        Ok(pb::AllocateResponse {
            container_responses,
        })
    }

    /// Soft share: claim the pod whose AI-core quota is the number of IDs,
    /// then create its files (sweeping those of pods that are gone, when
    /// the watch is up to date) and answer its chip and mounts.
    async fn claim_soft_share(
        &self,
        binding: &VolcanoBinding,
        files: &Arc<SoftShareFiles>,
        requested: usize,
        available: &BTreeSet<u32>,
        snapshot: &Snapshot,
    ) -> Result<(u32, PodRef, Vec<allocate::MountPoint>), ServiceError> {
        let type_name = &self.context.resource.type_name;
        let Claim { pod, value } = binding
            .matcher
            .claim_soft_share(type_name, requested, available, |phy| {
                snapshot.is_healthy(phy)
            })
            .await?;
        let view = binding.matcher.cache().view();
        let live: Option<BTreeSet<(String, String)>> = (view.synced && view.connected).then(|| {
            view.pods
                .iter()
                .map(|p| {
                    let meta = &p.metadata;
                    (
                        meta.namespace.clone().unwrap_or_default(),
                        meta.name.clone().unwrap_or_default(),
                    )
                })
                .collect()
        });
        let (files, target) = (Arc::clone(files), pod.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            files.prepare(&target.namespace, &target.name, &value, |ns, name| {
                live.as_ref()
                    .is_none_or(|pods| pods.contains(&(ns.to_owned(), name.to_owned())))
            })
        })
        .await
        .map_err(|e| SoftShareError::Io {
            path: std::path::PathBuf::from("(soft-share task)"),
            source: std::io::Error::other(e.to_string()),
        })??;
        Ok((value.phy, pod, prepared))
    }

    /// Dynamic vNPU: create the vNPU the pod asked for (or use whole chips).
    async fn claim_npu_core(
        &self,
        binding: &VolcanoBinding,
        requested: usize,
        snapshot: &Snapshot,
    ) -> Result<(Vec<Backing>, PodRef, Option<u32>), ServiceError> {
        let Some(dynamic) = &binding.dynamic else {
            return Err(ServiceError::Vnpu(
                "dynamic vNPU mode is not enabled".into(),
            ));
        };
        let chip_aicore = dynamic.inventory.chips.first().map_or(0, |c| c.aicore);
        let Claim { pod, value } = binding
            .matcher
            .claim_npu_core(requested, chip_aicore, is_known_template)
            .await?;
        match value {
            NpuCoreRequest::WholeChips(phys) => {
                for &phy in &phys {
                    if !snapshot.is_healthy(phy) || dynamic.inventory.chip_by_phy(phy).is_none() {
                        return Err(ServiceError::Vnpu(format!(
                            "pod {}: chip with phy id {phy} is not a healthy chip of this node",
                            pod.key()
                        )));
                    }
                }
                let backings = phys
                    .into_iter()
                    .map(|phy_id| Backing::Chip { phy_id })
                    .collect();
                Ok((backings, pod, None))
            }
            NpuCoreRequest::Vnpu { phy, template } => {
                let Some(chip) = dynamic
                    .inventory
                    .chip_by_phy(phy)
                    .filter(|_| snapshot.is_healthy(phy))
                else {
                    return Err(ServiceError::Vnpu(format!(
                        "pod {}: chip with phy id {phy} is not a healthy chip of this node",
                        pod.key()
                    )));
                };
                let (card, device) = (
                    chip.card_id,
                    u32::try_from(chip.device_index).unwrap_or_default(),
                );
                let name = template.clone();
                let created: Result<u32, crate::dcmi::DcmiError> = dynamic
                    .dcmi
                    .call("create_vnpu", dynamic.timeout, move |api| {
                        api.create_vnpu(card, device, &name)
                    })
                    .await;
                let vdev_id = created.map_err(|e| {
                    ServiceError::Vnpu(format!(
                        "pod {}: cannot create {template} on chip {phy}: {e}",
                        pod.key()
                    ))
                })?;
                tracing::info!(pod = %pod.key(), phy, vdev_id, %template, "vNPU created");
                Ok((
                    vec![Backing::Vnpu {
                        phy_id: phy,
                        vdev_id,
                    }],
                    pod,
                    Some(vdev_id),
                ))
            }
        }
    }

    /// Records kubelet ID -> real chip, then writes the pod's annotations in
    /// the background and tells the pod-resources poller to look again.
    fn remember(
        &self,
        binding: &VolcanoBinding,
        ids: &[String],
        phys: &[u32],
        vdev: Option<u32>,
        pod: &PodRef,
    ) {
        let resource = &self.context.resource;
        let now = crate::k8s::unix_seconds();
        let stored = binding.store.update(|map| {
            map.record_vnpu(
                &resource.type_name,
                ids,
                phys,
                vdev,
                &pod.key(),
                &pod.uid,
                now,
            );
        });
        if let Err(error) = stored {
            tracing::error!(%error, "kubelet-ID map not persisted; it is rebuilt from the pods after a restart");
        }
        let job = Job {
            pod: pod.clone(),
            resource_type: resource.type_name.clone(),
            virtual_: resource.is_virtual,
            kubelet_ids: ids.to_vec(),
            phys: match vdev {
                Some(_) => phys.iter().take(1).copied().collect(),
                // Soft share maps every ID to its one chip: written once.
                None => distinct(phys),
            },
        };
        let writer = std::sync::Arc::clone(&binding.writer);
        let poke = std::sync::Arc::clone(&binding.poke);
        tokio::spawn(async move {
            if let Err(error) = writer.write(&job).await {
                tracing::warn!(%error, "pod write-back failed; the repair pass retries it");
            }
            poke.notify_one();
        });
    }
}

/// The real chip of each of `count` kubelet IDs: one per chip for chips;
/// for AI cores (`npu-core`) the cores are spread over the chips in order.
fn kubelet_order_phys(backings: &[Backing], count: usize) -> Vec<u32> {
    let phys: Vec<u32> = backings.iter().map(|b| b.phy_id()).collect();
    if phys.is_empty() || phys.len() == count {
        return phys;
    }
    let per_chip = count.div_ceil(phys.len()).max(1);
    (0..count)
        .map(|i| phys[(i / per_chip).min(phys.len() - 1)])
        .collect()
}

/// `phys` without repeats, in first-seen order.
fn distinct(phys: &[u32]) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    phys.iter()
        .copied()
        .filter(|phy| seen.insert(*phy))
        .collect()
}

fn to_proto(grant: ContainerGrant) -> pb::ContainerAllocateResponse {
    pb::ContainerAllocateResponse {
        envs: grant.envs.into_iter().collect(),
        mounts: grant
            .mounts
            .into_iter()
            .map(|mount| pb::Mount {
                container_path: mount.container_path,
                host_path: mount.host_path,
                read_only: mount.read_only,
            })
            .collect(),
        devices: grant
            .devices
            .into_iter()
            .map(|node| pb::DeviceSpec {
                container_path: node.container_path,
                host_path: node.host_path,
                permissions: "rw".into(),
            })
            .collect(),
        annotations: Default::default(),
        cdi_devices: grant
            .cdi_devices
            .into_iter()
            .map(|name| pb::CdiDevice { name })
            .collect(),
    }
}

#[tonic::async_trait]
impl DevicePlugin for PluginService {
    async fn get_device_plugin_options(
        &self,
        _request: Request<pb::Empty>,
    ) -> Result<Response<pb::DevicePluginOptions>, Status> {
        Ok(Response::new(plugin_options()))
    }

    type ListAndWatchStream = WatchResponse;

    async fn list_and_watch(
        &self,
        _request: Request<pb::Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        let context = Arc::clone(&self.context);
        let guard = EndGuard {
            service: self.clone(),
            epoch: context.epoch(),
        };
        let mut last: Option<Vec<pb::Device>> = None;
        let snapshot_ticks = WatchStream::new(context.snapshots.clone()).map(|_| ());
        let assignment_ticks: Pin<Box<dyn Stream<Item = ()> + Send>> = match &context.volcano {
            Some(binding) => {
                Box::pin(WatchStream::from_changes(binding.store.subscribe()).map(|_| ()))
            }
            None => Box::pin(futures::stream::pending()),
        };
        let lists = futures::stream::select(snapshot_ticks, assignment_ticks)
            .filter_map(move |()| {
                let snapshot = context.snapshots.borrow().clone();
                let list = match &context.volcano {
                    Some(binding) => {
                        let map = binding.store.current();
                        let type_name = &context.resource.type_name;
                        devices::device_list_with(
                            &context.resource,
                            &snapshot,
                            &context.facts,
                            |id| map.real_phy(type_name, id),
                        )
                    }
                    None => devices::device_list(&context.resource, &snapshot, &context.facts),
                };
                let list: Vec<pb::Device> = list
                    .into_iter()
                    .map(|device| pb::Device {
                        id: context.id_out(device.id),
                        ..device
                    })
                    .collect();
                let changed = last.as_ref() != Some(&list);
                if changed {
                    last = Some(list.clone());
                }
                std::future::ready(changed.then_some(list))
            })
            .map(move |devices| {
                let _keep = &guard;
                Ok(pb::ListAndWatchResponse { devices })
            })
            .take_until(self.stop.clone().cancelled_owned());
        Ok(Response::new(Box::pin(lists)))
    }

    async fn get_preferred_allocation(
        &self,
        request: Request<pb::PreferredAllocationRequest>,
    ) -> Result<Response<pb::PreferredAllocationResponse>, Status> {
        let context = &self.context;
        let snapshot = context.snapshots.borrow().clone();
        let mut container_responses = Vec::new();
        for container in &request.get_ref().container_requests {
            let inner = |ids: &[String]| {
                context
                    .ids_in(ids)
                    .map_err(|e| status(&ServiceError::from(e)))
            };
            let ids = devices::preferred(
                &context.resource,
                context.board,
                &snapshot,
                &context.facts,
                &inner(&container.available_device_i_ds)?,
                &inner(&container.must_include_device_i_ds)?,
                container.allocation_size,
            )
            .map_err(|e| status(&ServiceError::from(e)))?;
            let device_i_ds = ids.into_iter().map(|id| context.id_out(id)).collect();
            container_responses.push(pb::ContainerPreferredAllocationResponse { device_i_ds });
        }
        Ok(Response::new(pb::PreferredAllocationResponse {
            container_responses,
        }))
    }

    async fn allocate(
        &self,
        request: Request<pb::AllocateRequest>,
    ) -> Result<Response<pb::AllocateResponse>, Status> {
        let started = std::time::Instant::now();
        let volcano = self
            .context
            .volcano
            .as_ref()
            .filter(|_| needs_volcano(&self.context.resource));
        let mut request = request.into_inner();
        let renamed: Result<(), AllocateError> =
            request.container_requests.iter_mut().try_for_each(|c| {
                c.devices_ids = self.context.ids_in(&c.devices_ids)?;
                Ok(())
            });
        let result = match (renamed, volcano) {
            (Err(error), _) => Err(ServiceError::from(error)),
            (Ok(()), Some(binding)) => self.allocate_volcano(binding, &request).await,
            (Ok(()), None) => self.allocate_all(&request),
        };
        let outcome = match &result {
            Ok(_) => AllocateOutcome::Ok,
            Err(ServiceError::Unhealthy { .. }) => AllocateOutcome::Unhealthy,
            Err(ServiceError::Volcano(_)) => AllocateOutcome::Volcano,
            Err(ServiceError::Vnpu(_) | ServiceError::SoftShare(_)) => AllocateOutcome::Other,
            Err(_) => AllocateOutcome::InvalidArgument,
        };
        let context = &self.context;
        context
            .metrics
            .allocate(&context.resource, outcome, started.elapsed());
        match result {
            Ok(mut response) => {
                let extra = context.extra_envs.borrow().clone();
                for container in &mut response.container_responses {
                    container
                        .envs
                        .extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                Ok(Response::new(response))
            }
            Err(error) => {
                tracing::warn!(resource = %context.resource.type_name, %error, "Allocate refused");
                Err(status(&error))
            }
        }
    }

    async fn pre_start_container(
        &self,
        _request: Request<pb::PreStartContainerRequest>,
    ) -> Result<Response<pb::PreStartContainerResponse>, Status> {
        Ok(Response::new(pb::PreStartContainerResponse {}))
    }
}
