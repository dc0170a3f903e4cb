//! The DRA face's two sockets and keeping them alive:
//! `<plugins-dir>/npu.huawei.com/dra.sock` (DRAPlugin, DRAResourceHealth)
//! and `<registry-dir>/npu.huawei.com-reg.sock` (Registration). Same rules
//! as the device-plugin sockets: directories that are not symlinks and are
//! owned by root or us, sockets bound 0600. Once a second each socket is
//! checked: if its file is gone or replaced (kubelet's directory wiped and
//! recreated), it is bound and served again, and kubelet's plugin watcher
//! registers the driver anew. Both files are removed on stop.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use super::DRIVER;
use super::service::{
    DraContext, HealthV1, HealthV1alpha1, PluginV1, PluginV1beta1, RegistrationService,
};
use crate::dcmi::OwnerPolicy;
use crate::grpc::authority;
use crate::grpc::unix::{SocketError, bind};
use crate::proto::dra::{v1, v1beta1};
use crate::proto::drahealth::{v1 as h1, v1alpha1 as h1alpha1};
use crate::proto::pluginregistration::registration_server::RegistrationServer;

/// The driver socket's name inside `<plugins-dir>/<driver>/`.
pub const DRA_SOCKET: &str = "dra.sock";

/// A directory or socket the face cannot use, naming it.
#[derive(Debug, thiserror::Error)]
pub enum DraServeError {
    #[error("refusing DRA directory {path}: {rule}")]
    Directory { path: PathBuf, rule: String },
    #[error(transparent)]
    Socket(#[from] SocketError),
}

/// Where the sockets live.
#[derive(Debug, Clone)]
pub struct SocketPaths {
    /// `<plugins-dir>/npu.huawei.com`.
    pub plugin_dir: PathBuf,
    /// kubelet's `plugins_registry`.
    pub registry_dir: PathBuf,
}

impl SocketPaths {
    pub fn new(plugins_dir: &Path, registry_dir: &Path) -> Self {
        Self {
            plugin_dir: plugins_dir.join(DRIVER),
            registry_dir: registry_dir.to_path_buf(),
        }
    }

    pub fn dra_socket(&self) -> PathBuf {
        self.plugin_dir.join(DRA_SOCKET)
    }

    pub fn registration_socket(&self) -> PathBuf {
        self.registry_dir.join(format!("{DRIVER}-reg.sock"))
    }
}

/// Refuses a symlinked directory or one owned by someone else.
pub fn check_directory(dir: &Path, policy: OwnerPolicy) -> Result<(), DraServeError> {
    let refuse = |rule: String| DraServeError::Directory {
        path: dir.to_path_buf(),
        rule,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refuse(e.to_string()))?;
    match policy.directory_problem(&meta) {
        Some(rule) => Err(refuse(rule)),
        None => Ok(()),
    }
}

/// Creates our own plugin directory (0750) if missing, then checks it.
fn ensure_plugin_dir(dir: &Path, policy: OwnerPolicy) -> Result<(), DraServeError> {
    if std::fs::symlink_metadata(dir).is_err() {
        let refuse = |e: std::io::Error| DraServeError::Directory {
            path: dir.to_path_buf(),
            rule: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(refuse)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).map_err(refuse)?;
    }
    check_directory(dir, policy)
}

/// One served socket: its file's identity and the server task.
struct Served {
    path: PathBuf,
    inode: (u64, u64),
    stop: CancellationToken,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Served {
    /// Still our file and still serving?
    fn intact(&self) -> bool {
        let same = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.inode)
            .unwrap_or(false);
        same && !self.task.is_finished()
    }

    fn end(self) {
        self.stop.cancel();
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.inode
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn identity(path: &Path) -> (u64, u64) {
    std::fs::symlink_metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .unwrap_or_default()
}

fn serve_driver(
    path: &Path,
    context: &DraContext,
    parent: &CancellationToken,
) -> Result<Served, DraServeError> {
    let listener = bind(path)?;
    let stop = parent.child_token();
    let mut context = context.clone();
    context.serving = stop.clone();
    let router = Server::builder()
        .add_service(v1::dra_plugin_server::DraPluginServer::new(PluginV1(
            context.clone(),
        )))
        .add_service(v1beta1::dra_plugin_server::DraPluginServer::new(
            PluginV1beta1(context.clone()),
        ))
        .add_service(
            h1::dra_resource_health_server::DraResourceHealthServer::new(HealthV1(context.clone())),
        )
        .add_service(
            h1alpha1::dra_resource_health_server::DraResourceHealthServer::new(HealthV1alpha1(
                context,
            )),
        );
    let shutdown = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(authority::incoming(listener), shutdown)
            .await
    });
    Ok(Served {
        path: path.to_path_buf(),
        inode: identity(path),
        stop,
        task,
    })
}

fn serve_registration(
    path: &Path,
    service: &RegistrationService,
    parent: &CancellationToken,
) -> Result<Served, DraServeError> {
    let listener = bind(path)?;
    let stop = parent.child_token();
    let router = Server::builder().add_service(RegistrationServer::new(service.clone()));
    let shutdown = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(authority::incoming(listener), shutdown)
            .await
    });
    Ok(Served {
        path: path.to_path_buf(),
        inode: identity(path),
        stop,
        task,
    })
}

/// Serves both sockets until `stop`, re-serving whichever disappears.
/// Fails at start on an untrusted directory; later failures are retried.
pub async fn run(
    paths: SocketPaths,
    context: DraContext,
    registration: RegistrationService,
    policy: OwnerPolicy,
    stop: CancellationToken,
) -> Result<(), DraServeError> {
    ensure_plugin_dir(&paths.plugin_dir, policy)?;
    check_directory(&paths.registry_dir, policy)?;
    let mut driver = Some(serve_driver(&paths.dra_socket(), &context, &stop)?);
    let mut reg = Some(serve_registration(
        &paths.registration_socket(),
        &registration,
        &stop,
    )?);
    tracing::info!(
        socket = %paths.dra_socket().display(),
        registration = %paths.registration_socket().display(),
        "DRA driver serving"
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if driver.as_ref().is_none_or(|s| !s.intact()) {
            if let Some(old) = driver.take() {
                tracing::warn!("DRA socket gone; serving it again");
                old.end();
            }
            let served = ensure_plugin_dir(&paths.plugin_dir, policy)
                .and_then(|()| serve_driver(&paths.dra_socket(), &context, &stop));
            match served {
                Ok(s) => driver = Some(s),
                Err(error) => tracing::warn!(%error, "cannot serve the DRA socket yet"),
            }
        }
        if reg.as_ref().is_none_or(|s| !s.intact()) {
            if let Some(old) = reg.take() {
                tracing::info!("registration socket gone (kubelet restarted?); registering again");
                old.end();
                registration.status.send_modify(|s| s.registered = false);
            }
            // kubelet recreates its registry directory; wait for it.
            if check_directory(&paths.registry_dir, policy).is_ok() {
                match serve_registration(&paths.registration_socket(), &registration, &stop) {
                    Ok(s) => reg = Some(s),
                    Err(error) => {
                        tracing::warn!(%error, "cannot serve the registration socket yet")
                    }
                }
            }
        }
    }
    for served in [driver, reg].into_iter().flatten() {
        served.end();
    }
    Ok(())
}
