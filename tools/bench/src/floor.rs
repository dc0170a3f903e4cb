//! The floor: a no-op tonic DevicePlugin server on a unix socket (Allocate
//! answers an empty response), run as a child process of the benchmark
//! (`adp-bench serve-floor`) with the plugin's runtime shape (2 workers), so
//! it competes for the CPUs exactly as the plugin does.

use std::fs::Permissions;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kubelet_standin::proto::deviceplugin::device_plugin_server::{
    DevicePlugin, DevicePluginServer,
};
use kubelet_standin::proto::deviceplugin::{
    AllocateRequest, AllocateResponse, DevicePluginOptions, Empty, ListAndWatchResponse,
    PreStartContainerRequest, PreStartContainerResponse, PreferredAllocationRequest,
    PreferredAllocationResponse,
};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

/// Worker threads of the floor server: the plugin's runtime has 2.
pub const FLOOR_WORKERS: usize = 2;

/// How long the floor server may take to accept its first connection.
const READY_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Noop;

#[tonic::async_trait]
impl DevicePlugin for Noop {
    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(DevicePluginOptions::default()))
    }

    type ListAndWatchStream = tokio_stream::Empty<Result<ListAndWatchResponse, Status>>;

    async fn list_and_watch(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        Err(Status::unimplemented(
            "the floor server only answers Allocate",
        ))
    }

    async fn get_preferred_allocation(
        &self,
        _: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        Err(Status::unimplemented(
            "the floor server only answers Allocate",
        ))
    }

    async fn allocate(
        &self,
        _: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        Ok(Response::new(AllocateResponse::default()))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse::default()))
    }
}

/// `adp-bench serve-floor --socket PATH`: serves until stdin reaches EOF
/// (the benchmark closed it, or died) or the process is killed.
pub async fn serve(socket: &Path) -> anyhow::Result<()> {
    let listener =
        UnixListener::bind(socket).with_context(|| format!("cannot bind {}", socket.display()))?;
    std::fs::set_permissions(socket, Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set mode 0600 on {}", socket.display()))?;
    let (closed, orphaned) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut buffer = [0_u8; 64];
            let mut stdin = std::io::stdin();
            // Ends on EOF or error: either way nobody is driving us any more.
            while matches!(stdin.read(&mut buffer), Ok(read) if read > 0) {}
            let _ = closed.send(());
        })
        .context("cannot start the stdin watcher")?;
    let orphaned = async {
        let _ = orphaned.await;
    };
    tonic::transport::Server::builder()
        .add_service(DevicePluginServer::new(Noop))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), orphaned)
        .await
        .context("the floor server failed")
}

/// The floor server as a child process; killed when dropped.
#[derive(Debug)]
pub struct FloorServer {
    child: Child,
    socket: PathBuf,
}

impl FloorServer {
    /// Spawns this executable as `serve-floor` on `dir/floor.sock` and waits
    /// until the socket answers.
    pub async fn spawn(dir: &Path) -> anyhow::Result<FloorServer> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let socket = dir.join("floor.sock");
        let child = Command::new(&exe)
            .arg("serve-floor")
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} serve-floor", exe.display()))?;
        let mut server = FloorServer { child, socket };
        let deadline = Instant::now() + READY_WITHIN;
        while kubelet_standin::dial(&server.socket).await.is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("the floor server exited at start ({status})");
            }
            if Instant::now() > deadline {
                bail!("the floor server did not answer within {READY_WITHIN:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(server)
    }

    /// Its socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Closes its stdin (it stops serving) and waits; kills it if it lingers.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            // kill_on_drop also covers this; killing here makes it prompt.
            let _ = self.child.kill().await;
        }
    }
}
