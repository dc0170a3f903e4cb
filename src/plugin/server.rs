//! Sockets: serving one resource on `<dir>/<Type>.sock` and registering it
//! with kubelet on `<dir>/kubelet.sock`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Server};

use super::authority;
use super::service::{PluginService, plugin_options};
use crate::proto::deviceplugin as pb;
use crate::proto::deviceplugin::device_plugin_server::DevicePluginServer;
use crate::proto::deviceplugin::registration_client::RegistrationClient;

/// kubelet's API version we speak.
pub const API_VERSION: &str = "v1beta1";
/// kubelet's registration socket, inside the device-plugin directory.
pub const KUBELET_SOCKET: &str = "kubelet.sock";

/// A socket or registration failure, naming the socket.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve on {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot reach kubelet on {path}: {reason}")]
    Connect { path: PathBuf, reason: String },
    #[error("kubelet refused to register {resource}: {status}")]
    Refused { resource: String, status: String },
}

/// Binds `path` (replacing a stale file) with mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let wrap = |source| ServeError::Bind {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(wrap(e)),
    }
    let listener = UnixListener::bind(path).map_err(wrap)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(wrap)?;
    Ok(listener)
}

/// Serves `service` until `stop` is cancelled. Accepts any `:authority`.
pub fn spawn(
    service: PluginService,
    listener: UnixListener,
    stop: CancellationToken,
) -> JoinHandle<Result<(), tonic::transport::Error>> {
    tokio::spawn(async move {
        Server::builder()
            .add_service(DevicePluginServer::new(service))
            .serve_with_incoming_shutdown(authority::incoming(listener), stop.cancelled_owned())
            .await
    })
}

/// A gRPC channel over a unix socket (sends `:authority` localhost).
pub async fn unix_channel(path: &Path, timeout: Duration) -> Result<Channel, ServeError> {
    let target = path.to_path_buf();
    let endpoint = Endpoint::try_from("http://localhost")
        .map_err(|e| ServeError::Connect {
            path: target.clone(),
            reason: e.to_string(),
        })?
        .connect_timeout(timeout)
        .timeout(timeout);
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let target = target.clone();
            async move { UnixStream::connect(target).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|e| ServeError::Connect {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// One `Register` call for `resource_name` served on `endpoint`.
pub async fn register(
    kubelet_socket: &Path,
    resource_name: &str,
    endpoint: &str,
) -> Result<(), ServeError> {
    let channel = unix_channel(kubelet_socket, Duration::from_secs(2)).await?;
    let request = pb::RegisterRequest {
        version: API_VERSION.to_string(),
        endpoint: endpoint.to_string(),
        resource_name: resource_name.to_string(),
        options: Some(plugin_options()),
    };
    RegistrationClient::new(channel)
        .register(request)
        .await
        .map(|_| ())
        .map_err(|status| ServeError::Refused {
            resource: resource_name.to_string(),
            status: status.message().to_string(),
        })
}
