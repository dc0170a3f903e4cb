//! The `v1beta1.DevicePlugin` gRPC service for one resource: a thin adapter
//! from tonic to the pure functions in `allocate` and `devices`.

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
use crate::device::health::Snapshot;
use crate::device::naming::Resource;
use crate::device::topology::Board;
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
}

impl ServiceContext {
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

fn to_proto(grant: ContainerGrant) -> pb::ContainerAllocateResponse {
    pb::ContainerAllocateResponse {
        envs: grant.envs.into_iter().collect(),
        mounts: Vec::new(),
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
        let lists = WatchStream::new(context.snapshots.clone())
            .filter_map(move |snapshot| {
                let list = devices::device_list(&context.resource, &snapshot, &context.facts);
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
            let ids = devices::preferred(
                &context.resource,
                context.board,
                &snapshot,
                &context.facts,
                &container.available_device_i_ds,
                &container.must_include_device_i_ds,
                container.allocation_size,
            )
            .map_err(|e| status(&ServiceError::from(e)))?;
            container_responses.push(pb::ContainerPreferredAllocationResponse { device_i_ds: ids });
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
        let result = self.allocate_all(request.get_ref());
        let outcome = match &result {
            Ok(_) => AllocateOutcome::Ok,
            Err(ServiceError::Unhealthy { .. }) => AllocateOutcome::Unhealthy,
            Err(_) => AllocateOutcome::InvalidArgument,
        };
        let context = &self.context;
        context
            .metrics
            .allocate(&context.resource, outcome, started.elapsed());
        match result {
            Ok(response) => Ok(Response::new(response)),
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
