//! Shared helpers: a recording DevicePlugin service and a server on a unix
//! socket in a temp dir, with or without the `:authority` rewrite.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_device_plugin::grpc::authority;
use ascend_device_plugin::proto::deviceplugin::device_plugin_server::{
    DevicePlugin, DevicePluginServer,
};
use ascend_device_plugin::proto::deviceplugin::{
    AllocateRequest, AllocateResponse, Device, DevicePluginOptions, Empty, ListAndWatchResponse,
    PreStartContainerRequest, PreStartContainerResponse, PreferredAllocationRequest,
    PreferredAllocationResponse,
};
use futures::{Stream, StreamExt as _};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

pub const OPTIONS_PATH: &str = "/v1beta1.DevicePlugin/GetDevicePluginOptions";
pub const LIST_AND_WATCH_PATH: &str = "/v1beta1.DevicePlugin/ListAndWatch";
/// ListAndWatch sends this many lists, then keeps the stream open.
pub const WATCH_UPDATES: usize = 3;

pub fn options() -> DevicePluginOptions {
    DevicePluginOptions {
        pre_start_required: true,
        get_preferred_allocation_available: true,
    }
}

/// `options()` as protobuf octets, as a raw client receives them.
pub fn options_bytes() -> Vec<u8> {
    prost::Message::encode_to_vec(&options())
}

/// What the service saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// ASCII metadata (custom headers), by name.
    pub metadata: BTreeMap<String, String>,
    /// The peer's pid from the connection info, proving `Connected` works.
    pub peer_pid: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct TestPlugin {
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestPlugin {
    fn record<T>(&self, request: &Request<T>) {
        let metadata = request
            .metadata()
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                    Some((key.to_string(), value.to_str().ok()?.to_string()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let peer_pid = request
            .extensions()
            .get::<UdsConnectInfo>()
            .and_then(|info| info.peer_cred)
            .and_then(|cred| cred.pid());
        self.seen.lock().unwrap().push(Seen { metadata, peer_pid });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<ListAndWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DevicePlugin for TestPlugin {
    async fn get_device_plugin_options(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        self.record(&request);
        Ok(Response::new(options()))
    }

    type ListAndWatchStream = WatchStream;

    async fn list_and_watch(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        self.record(&request);
        let updates = (0..WATCH_UPDATES).map(|i| {
            Ok(ListAndWatchResponse {
                devices: vec![Device {
                    id: format!("npu-{i}"),
                    health: "Healthy".into(),
                    topology: None,
                }],
            })
        });
        // The lists, then an open stream that never ends (like a real plugin).
        let stream = futures::stream::iter(updates).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_preferred_allocation(
        &self,
        _request: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        Err(Status::unimplemented("not part of the transport tests"))
    }

    async fn allocate(
        &self,
        _request: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        Err(Status::unimplemented("not part of the transport tests"))
    }

    async fn pre_start_container(
        &self,
        _request: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Err(Status::unimplemented("not part of the transport tests"))
    }
}

/// A DevicePlugin server on `<tempdir>/x.sock`.
pub struct TestServer {
    pub socket: PathBuf,
    pub plugin: TestPlugin,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Serves with the `:authority` rewrite when `rewrite`, else plain tonic.
    pub async fn start(rewrite: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("x.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let plugin = TestPlugin::default();
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            rx.await.ok();
        };
        // hyper's default SETTINGS_MAX_HEADER_LIST_SIZE is 16 KiB; raise it so
        // header blocks bigger than one frame can reach the service.
        let builder = tonic::transport::Server::builder()
            .http2_max_header_list_size(256 * 1024)
            .add_service(DevicePluginServer::new(plugin.clone()));
        let task = if rewrite {
            tokio::spawn(
                builder.serve_with_incoming_shutdown(authority::incoming(listener), shutdown),
            )
        } else {
            tokio::spawn(
                builder.serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown),
            )
        };
        Self {
            socket,
            plugin,
            shutdown: Some(tx),
            task,
            _dir: dir,
        }
    }

    /// Stops accepting and waits for open connections to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server did not stop");
        result.unwrap().unwrap();
    }
}
