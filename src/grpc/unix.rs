//! Unix-socket gRPC plumbing shared by both kubelet faces and the cluster
//! side: binding a socket only its owner may use, and dialing one.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tonic::transport::{Channel, Endpoint};

/// A socket that could not be bound or dialed, naming it.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot serve on {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot reach kubelet on {path}: {reason}")]
    Connect { path: PathBuf, reason: String },
}

/// Binds `path` (replacing a stale file) with mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let wrap = |source| SocketError::Bind {
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

/// A gRPC channel over a unix socket (sends `:authority` localhost).
pub async fn unix_channel(path: &Path, timeout: Duration) -> Result<Channel, SocketError> {
    let target = path.to_path_buf();
    let endpoint = Endpoint::try_from("http://localhost")
        .map_err(|e| SocketError::Connect {
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
        .map_err(|e| SocketError::Connect {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}
