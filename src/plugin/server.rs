//! Sockets: serving one resource on `<dir>/<Type>.sock` and registering it
//! with kubelet on `<dir>/kubelet.sock`.

use std::path::Path;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use super::service::{PluginService, plugin_options};
use crate::grpc::authority;
pub use crate::grpc::unix::bind;
use crate::grpc::unix::{SocketError, unix_channel};
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
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("kubelet refused to register {resource}: {status}")]
    Refused { resource: String, status: String },
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
