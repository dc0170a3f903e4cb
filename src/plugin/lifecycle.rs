//! Serving and staying registered: kubelet restarts, vanished sockets,
//! broken streams, reloads and shutdown.
//!
//! Each generation binds every resource's socket, serves it, and registers
//! it. Then the supervisor waits. Directory events (inotify) and a 1 s tick
//! only prompt a *state check* — has `kubelet.sock` been replaced, is one of
//! our sockets gone? — so duplicate or lost events cannot cause missed or
//! needless restarts. A broken ListAndWatch stream, a failed server or a
//! reload start a new generation too.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::server::{self, KUBELET_SOCKET, ServeError};
use super::service::{PluginService, ServiceContext, StreamEnded};
use crate::dcmi::OwnerPolicy;

/// A resource's name and its server task.
type Server = (String, JoinHandle<Result<(), tonic::transport::Error>>);

/// What the health endpoint and tests can observe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginStatus {
    /// Every resource is registered with the current kubelet.
    pub registered: bool,
    pub generation: u64,
    /// Times a new kubelet (a new `kubelet.sock`) was seen after the first.
    pub kubelet_restarts: u64,
}

/// The device-plugin directory cannot be trusted or used.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("refusing device-plugin directory {path}: {rule}")]
    Directory { path: PathBuf, rule: String },
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Refuses a symlinked directory or one owned by someone else.
pub fn check_directory(dir: &Path, policy: OwnerPolicy) -> Result<(), LifecycleError> {
    let refuse = |rule: String| LifecycleError::Directory {
        path: dir.to_path_buf(),
        rule,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refuse(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(refuse("it is a symlink".into()));
    }
    if !meta.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if meta.uid() != 0 && meta.uid() != policy.process_uid {
        return Err(refuse(format!(
            "it is owned by uid {}, not root or the process user",
            meta.uid()
        )));
    }
    Ok(())
}

/// Why a generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Restart {
    Stop,
    KubeletReplaced,
    SocketGone(String),
    StreamEnded(String),
    ServerFailed(String),
    Reload,
}

/// Runs every resource until `stop`; `reload` re-registers everything.
#[derive(Debug)]
pub struct Supervisor {
    pub dir: PathBuf,
    pub contexts: Vec<Arc<ServiceContext>>,
    pub policy: OwnerPolicy,
    pub status: watch::Sender<PluginStatus>,
}

impl Supervisor {
    pub async fn run(
        self,
        stop: CancellationToken,
        mut reload: mpsc::Receiver<()>,
    ) -> Result<(), LifecycleError> {
        wait_for_directory(&self.dir, &stop).await;
        check_directory(&self.dir, self.policy)?;
        let (changed_tx, mut changed) = mpsc::channel::<()>(1);
        let watcher = spawn_dir_watcher(self.dir.clone(), changed_tx, stop.clone());
        let (ended_tx, mut ended) = mpsc::unbounded_channel::<StreamEnded>();
        let mut generation = 0u64;
        let mut kubelet_seen: Option<u64> = None;
        let result = loop {
            generation += 1;
            let serving = stop.child_token();
            let mut servers = match self.serve_all(generation, &serving, &ended_tx) {
                Ok(servers) => servers,
                Err((error, partial)) => {
                    serving.cancel();
                    shut_down(partial).await;
                    self.remove_sockets();
                    break Err(error.into());
                }
            };
            let inode = self.register_all(&stop, &mut changed).await;
            if let Some(inode) = inode {
                if kubelet_seen.is_some_and(|seen| seen != inode) {
                    self.status.send_modify(|s| s.kubelet_restarts += 1);
                }
                kubelet_seen = Some(inode);
                self.status.send_modify(|s| {
                    s.registered = true;
                    s.generation = generation;
                });
                tracing::info!(
                    generation,
                    resources = self.contexts.len(),
                    "registered with kubelet"
                );
            }
            let reason = self
                .wait(
                    &stop,
                    &mut changed,
                    &mut ended,
                    &mut reload,
                    &mut servers,
                    inode,
                    generation,
                )
                .await;
            self.status.send_modify(|s| s.registered = false);
            serving.cancel();
            shut_down(servers).await;
            if reason == Restart::Stop {
                self.remove_sockets();
                break Ok(());
            }
            tracing::info!(?reason, "re-serving and re-registering");
        };
        watcher.abort();
        result
    }

    /// Binds and serves every resource's socket for one generation.
    fn serve_all(
        &self,
        generation: u64,
        serving: &CancellationToken,
        ended: &mpsc::UnboundedSender<StreamEnded>,
    ) -> Result<Vec<Server>, (ServeError, Vec<Server>)> {
        let mut servers = Vec::new();
        for context in &self.contexts {
            let socket = self.dir.join(context.resource.socket_name());
            let listener = match server::bind(&socket) {
                Ok(listener) => listener,
                Err(error) => return Err((error, servers)),
            };
            let service = PluginService::new(
                Arc::clone(context),
                generation,
                serving.clone(),
                ended.clone(),
            );
            let handle = server::spawn(service, listener, serving.clone());
            servers.push((context.resource.type_name.clone(), handle));
        }
        Ok(servers)
    }

    /// Registers every resource, retrying with backoff; returns the inode of
    /// the kubelet socket it registered with, or `None` if stopped first.
    async fn register_all(
        &self,
        stop: &CancellationToken,
        changed: &mut mpsc::Receiver<()>,
    ) -> Option<u64> {
        let kubelet = self.dir.join(KUBELET_SOCKET);
        let mut backoff = Duration::from_millis(50);
        loop {
            let inode = socket_inode(&kubelet);
            let mut failure = None;
            if inode.is_some() {
                for context in &self.contexts {
                    let resource = &context.resource;
                    if let Err(error) = server::register(
                        &kubelet,
                        &resource.resource_name(),
                        &resource.socket_name(),
                    )
                    .await
                    {
                        failure = Some(error);
                        break;
                    }
                }
            }
            match (inode, failure) {
                (Some(inode), None) if socket_inode(&kubelet) == Some(inode) => return Some(inode),
                (_, Some(error)) => {
                    tracing::warn!(%error, retry_in = ?backoff, "registration failed")
                }
                _ => tracing::debug!(retry_in = ?backoff, "waiting for kubelet.sock"),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
                Some(()) = changed.recv() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn wait(
        &self,
        stop: &CancellationToken,
        changed: &mut mpsc::Receiver<()>,
        ended: &mut mpsc::UnboundedReceiver<StreamEnded>,
        reload: &mut mpsc::Receiver<()>,
        servers: &mut [Server],
        inode: Option<u64>,
        generation: u64,
    ) -> Restart {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let names: Vec<String> = servers.iter().map(|(name, _)| name.clone()).collect();
            let finished = async {
                if servers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let (result, index, _) =
                    futures::future::select_all(servers.iter_mut().map(|(_, handle)| handle)).await;
                (result, index)
            };
            tokio::select! {
                () = stop.cancelled() => return Restart::Stop,
                Some(()) = reload.recv() => return Restart::Reload,
                Some(end) = ended.recv() => {
                    if end.generation == generation {
                        return Restart::StreamEnded(end.resource);
                    }
                }
                (result, index) = finished => {
                    let name = names.get(index).cloned().unwrap_or_default();
                    tracing::error!(resource = %name, outcome = ?result, "a device-plugin server stopped");
                    return Restart::ServerFailed(name);
                }
                Some(()) = changed.recv() => {}
                _ = tick.tick() => {}
            }
            if let Some(reason) = self.check_state(inode) {
                return reason;
            }
        }
    }

    fn check_state(&self, registered_inode: Option<u64>) -> Option<Restart> {
        let current = socket_inode(&self.dir.join(KUBELET_SOCKET));
        if current.is_some() && current != registered_inode {
            return Some(Restart::KubeletReplaced);
        }
        self.contexts
            .iter()
            .map(|c| c.resource.socket_name())
            .find(|name| socket_inode(&self.dir.join(name)).is_none())
            .map(Restart::SocketGone)
    }

    fn remove_sockets(&self) {
        for context in &self.contexts {
            let path = self.dir.join(context.resource.socket_name());
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %error, "could not remove socket");
            }
        }
    }
}

/// The inode of a unix socket at `path`, if one is there.
fn socket_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_socket().then(|| meta.ino())
}

async fn shut_down(servers: Vec<Server>) {
    for (name, handle) in servers {
        let abort = handle.abort_handle();
        match tokio::time::timeout(Duration::from_millis(500), handle).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(resource = %name, %error, "server ended with an error")
            }
            Ok(Err(join)) if join.is_cancelled() => {}
            Ok(Err(join)) => {
                tracing::error!(resource = %name, error = %join, "server task panicked")
            }
            Err(_) => {
                tracing::warn!(resource = %name, "server did not stop in 500 ms; aborting it");
                abort.abort();
            }
        }
    }
}

async fn wait_for_directory(dir: &Path, stop: &CancellationToken) {
    let mut logged = false;
    while !dir.is_dir() && !stop.is_cancelled() {
        if !logged {
            tracing::info!(dir = %dir.display(), "waiting for kubelet's device-plugin directory");
            logged = true;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Nudges `changed` whenever an entry of `dir` is created, deleted or moved.
/// When the watch breaks (the directory itself went away) it is re-added.
fn spawn_dir_watcher(
    dir: PathBuf,
    changed: mpsc::Sender<()>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        while !stop.is_cancelled() {
            let stream = Inotify::init().and_then(|inotify| {
                inotify.watches().add(&dir, mask)?;
                inotify.into_event_stream([0u8; 4096])
            });
            match stream {
                Ok(mut events) => loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        event = events.next() => match event {
                            Some(Ok(event)) => {
                                let _ = changed.try_send(());
                                if event.mask.contains(inotify::EventMask::IGNORED) {
                                    break;
                                }
                            }
                            Some(Err(error)) => {
                                tracing::warn!(%error, "inotify read failed; re-watching");
                                break;
                            }
                            None => break,
                        }
                    }
                },
                Err(error) => {
                    tracing::debug!(dir = %dir.display(), %error, "cannot watch the directory yet")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
}
