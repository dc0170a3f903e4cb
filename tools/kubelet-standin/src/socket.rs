//! Unix-socket plumbing shared by the servers and the client: binding a
//! private socket, kubelet's sweep of a directory's sockets, a served router
//! that can be stopped, and dialing a socket with `:authority` `localhost`.

use std::fs::Permissions;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server, Uri};

use crate::Error;

/// How long a stopping server may take to close its connections before its
/// task is aborted.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long dialing a socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `path` (replacing a stale file) and makes it private (mode 0600).
pub(crate) async fn bind_private(path: &Path) -> Result<UnixListener, Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(Error::io("remove the stale socket", path, error)),
    }
    let listener = UnixListener::bind(path).map_err(|error| Error::io("bind", path, error))?;
    tokio::fs::set_permissions(path, Permissions::from_mode(0o600))
        .await
        .map_err(|error| Error::io("set mode 0600 on", path, error))?;
    Ok(listener)
}

/// Deletes every unix socket directly inside `dir`, as kubelet's device
/// manager does when it starts; other files and directories stay. Returns how
/// many were deleted.
pub(crate) async fn remove_sockets(dir: &Path) -> Result<usize, Error> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|error| Error::io("list", dir, error))?;
    let mut removed = 0;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|error| Error::io("list", dir, error))?
    {
        let path = entry.path();
        let file_type = match entry.file_type().await {
            Ok(file_type) => file_type,
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(Error::io("inspect", path, error)),
        };
        if !file_type.is_socket() {
            continue;
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => removed += 1,
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(Error::io("delete the socket", path, error)),
        }
    }
    Ok(removed)
}

/// Opens a gRPC channel to the unix socket `path`. Requests carry
/// `:authority` `localhost`, as kubelet >= 1.26 sends.
pub async fn dial(path: &Path) -> Result<Channel, Error> {
    let target = path.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let target = target.clone();
            async move { UnixStream::connect(target).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|source| Error::Connect {
            path: path.to_path_buf(),
            source,
        })
}

/// A tonic server running on one unix listener until stopped.
#[derive(Debug)]
pub(crate) struct Serving {
    socket: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Serving {
    /// Serves `routes` on `listener` (bound at `socket`) in a new task.
    pub(crate) fn spawn(socket: &Path, listener: UnixListener, routes: Routes) -> Self {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let incoming = UnixListenerStream::new(listener);
        let task = tokio::spawn(
            Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, async move {
                    // Either a stop request or the handle being dropped ends it.
                    let _ = stopped.await;
                }),
        );
        Serving {
            socket: socket.to_path_buf(),
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Stops accepting, lets open connections close for a moment, then aborts
    /// the server task. Reports a server that had failed on its own. The
    /// socket file stays, as it does when kubelet dies.
    pub(crate) async fn stop(mut self) -> Result<(), Error> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        let outcome = match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                task.abort();
                return Ok(());
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.failed(error.to_string())),
            Err(join) if join.is_cancelled() => Ok(()),
            Err(join) => Err(self.failed(join.to_string())),
        }
    }

    fn failed(&self, detail: String) -> Error {
        Error::Serve {
            socket: self.socket.clone(),
            detail,
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
