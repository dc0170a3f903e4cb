//! A tiny device plugin for the stand-in's own tests: a DevicePlugin server on
//! a unix socket that can register with the [`Kubelet`], change its device
//! list, end its streams, and records the `:authority` of every request.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use kubelet_standin::proto::deviceplugin::device_plugin_server::{
    DevicePlugin, DevicePluginServer,
};
use kubelet_standin::proto::deviceplugin::registration_client::RegistrationClient;
use kubelet_standin::proto::deviceplugin::{
    AllocateRequest, AllocateResponse, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, Device, DevicePluginOptions, Empty, ListAndWatchResponse,
    PreStartContainerRequest, PreStartContainerResponse, PreferredAllocationRequest,
    PreferredAllocationResponse, RegisterRequest,
};
use kubelet_standin::{API_VERSION, HEALTHY, KUBELET_SOCKET, dial};
use tokio::net::UnixListener;
use tokio::sync::{oneshot, watch};
use tokio_stream::wrappers::{UnixListenerStream, WatchStream};
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::http;
use tonic::{Request, Response, Status};

/// The options the fake advertises.
pub const OPTIONS: DevicePluginOptions = DevicePluginOptions {
    pre_start_required: false,
    get_preferred_allocation_available: true,
};

/// A running fake plugin.
pub struct FakePlugin {
    pub dir: PathBuf,
    pub endpoint: String,
    devices: Option<watch::Sender<Vec<Device>>>,
    authorities: Arc<Mutex<Vec<String>>>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A healthy device on NUMA node `numa`.
pub fn device(id: &str, numa: i64) -> Device {
    use kubelet_standin::proto::deviceplugin::{NumaNode, TopologyInfo};
    Device {
        id: id.to_string(),
        health: HEALTHY.to_string(),
        topology: Some(TopologyInfo {
            nodes: vec![NumaNode { id: numa }],
        }),
    }
}

impl FakePlugin {
    /// Serves on `<dir>/<endpoint>` with `devices`.
    pub async fn serve(dir: &Path, endpoint: &str, devices: Vec<Device>) -> FakePlugin {
        let (sender, receiver) = watch::channel(devices);
        let authorities = Arc::new(Mutex::new(Vec::new()));
        let mut plugin = FakePlugin {
            dir: dir.to_path_buf(),
            endpoint: endpoint.to_string(),
            devices: Some(sender),
            authorities,
            shutdown: None,
        };
        plugin.listen(receiver).await;
        plugin
    }

    /// Serves again on the same socket (after a kubelet restart deleted it).
    pub async fn reserve(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let receiver = self.devices.as_ref().expect("streams ended").subscribe();
        self.listen(receiver).await;
    }

    async fn listen(&mut self, devices: watch::Receiver<Vec<Device>>) {
        let socket = self.socket();
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).unwrap();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let seen = Arc::clone(&self.authorities);
        let record = move |request: http::Request<tonic::body::Body>| {
            let authority = request.uri().authority().map(|a| a.to_string());
            seen.lock().unwrap().push(authority.unwrap_or_default());
            request
        };
        let server = tonic::transport::Server::builder()
            .layer(tower::util::MapRequestLayer::new(record))
            .add_service(DevicePluginServer::new(Service { devices }))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stopped.await;
            });
        tokio::spawn(server);
        self.shutdown = Some(shutdown);
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join(&self.endpoint)
    }

    /// The request every registration test sends.
    pub fn request(&self, resource: &str) -> RegisterRequest {
        RegisterRequest {
            version: API_VERSION.to_string(),
            endpoint: self.endpoint.clone(),
            resource_name: resource.to_string(),
            options: Some(OPTIONS),
        }
    }

    /// Sends Register to `<dir>/kubelet.sock`.
    pub async fn register(&self, request: RegisterRequest) -> Result<(), Status> {
        let channel = dial(&self.dir.join(KUBELET_SOCKET)).await.unwrap();
        RegistrationClient::new(channel).register(request).await?;
        Ok(())
    }

    /// Publishes a new device list on every stream.
    pub fn set(&self, devices: Vec<Device>) {
        self.devices
            .as_ref()
            .expect("streams ended")
            .send_replace(devices);
    }

    /// Ends every ListAndWatch stream.
    pub fn end_streams(&mut self) {
        self.devices = None;
    }

    /// The `:authority` of every request served so far.
    pub fn authorities(&self) -> Vec<String> {
        self.authorities.lock().unwrap().clone()
    }
}

impl Drop for FakePlugin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

struct Service {
    devices: watch::Receiver<Vec<Device>>,
}

type ListStream = Pin<Box<dyn Stream<Item = Result<ListAndWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DevicePlugin for Service {
    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(OPTIONS))
    }

    type ListAndWatchStream = ListStream;

    async fn list_and_watch(&self, _: Request<Empty>) -> Result<Response<ListStream>, Status> {
        let stream = WatchStream::new(self.devices.clone())
            .map(|devices| Ok(ListAndWatchResponse { devices }));
        Ok(Response::new(Box::pin(stream)))
    }

    /// Must-include IDs first, then available ones in order, up to the size.
    async fn get_preferred_allocation(
        &self,
        request: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let container_responses = request
            .into_inner()
            .container_requests
            .into_iter()
            .map(|wanted| {
                let mut chosen = wanted.must_include_device_i_ds.clone();
                for id in wanted.available_device_i_ds {
                    if chosen.len() < wanted.allocation_size as usize && !chosen.contains(&id) {
                        chosen.push(id);
                    }
                }
                ContainerPreferredAllocationResponse {
                    device_i_ds: chosen,
                }
            })
            .collect();
        Ok(Response::new(PreferredAllocationResponse {
            container_responses,
        }))
    }

    /// Known IDs only; each container gets `FAKE_VISIBLE_DEVICES`.
    async fn allocate(
        &self,
        request: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let known = self.devices.borrow().clone();
        let mut container_responses = Vec::new();
        for container in request.into_inner().container_requests {
            if let Some(unknown) = container
                .devices_ids
                .iter()
                .find(|id| !known.iter().any(|device| &device.id == *id))
            {
                return Err(Status::invalid_argument(format!(
                    "unknown device {unknown}"
                )));
            }
            let mut response = ContainerAllocateResponse::default();
            response.envs.insert(
                "FAKE_VISIBLE_DEVICES".into(),
                container.devices_ids.join(","),
            );
            container_responses.push(response);
        }
        Ok(Response::new(AllocateResponse {
            container_responses,
        }))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse {}))
    }
}
