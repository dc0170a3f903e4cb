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
use crate::telemetry::http::{Heartbeat, PluginStatus};

/// A resource's name and its server task.
type Server = (String, JoinHandle<Result<(), tonic::transport::Error>>);

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
    match policy.directory_problem(&meta) {
        Some(rule) => Err(refuse(rule)),
        None => Ok(()),
    }
}

/// What the supervisor listens to between restarts.
struct Events {
    /// The device-plugin directory changed.
    changed: mpsc::Receiver<()>,
    ended: mpsc::UnboundedReceiver<StreamEnded>,
    reload: mpsc::Receiver<()>,
}

enum Event {
    ServerStopped(usize, String),
    StreamEnded(StreamEnded),
    Check,
}

/// Registers one resource, starting a new epoch first so the stream kubelet
/// closes in response is recognised as ours.
async fn register(kubelet: &Path, context: &ServiceContext) -> Result<(), ServeError> {
    context.next_epoch();
    let resource = &context.resource;
    server::register(kubelet, &resource.resource_name(), &resource.socket_name()).await?;
    context.metrics.registration(resource);
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
    /// Beaten by the supervisor's loops; the liveness endpoint reads it.
    pub heartbeat: Heartbeat,
}

impl Supervisor {
    pub async fn run(
        self,
        stop: CancellationToken,
        reload: mpsc::Receiver<()>,
    ) -> Result<(), LifecycleError> {
        wait_for_directory(&self.dir, &stop, &self.heartbeat).await;
        check_directory(&self.dir, self.policy)?;
        let (changed_tx, changed) = mpsc::channel::<()>(1);
        let watcher = spawn_dir_watcher(self.dir.clone(), changed_tx, stop.clone());
        let (ended_tx, ended) = mpsc::unbounded_channel::<StreamEnded>();
        let mut events = Events {
            changed,
            ended,
            reload,
        };
        let mut generation = 0u64;
        let mut kubelet_seen: Option<SocketId> = None;
        let result = loop {
            generation += 1;
            let serving = stop.child_token();
            let mut servers = match self.serve_all(&serving, &ended_tx) {
                Ok(servers) => servers,
                Err((error, partial)) => {
                    // kubelet may sweep the directory while we bind; try again.
                    tracing::warn!(%error, "could not serve; retrying");
                    serving.cancel();
                    shut_down(partial).await;
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                    if stop.is_cancelled() {
                        self.remove_sockets();
                        break Ok(());
                    }
                    continue;
                }
            };
            let reason = match self.register_all(&stop, &mut events.changed).await {
                Ok(inode) => {
                    if kubelet_seen.is_some_and(|seen| seen != inode) {
                        self.status.send_modify(|s| s.kubelet_restarts += 1);
                        if let Some(context) = self.contexts.first() {
                            context.metrics.kubelet_restart();
                        }
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
                    self.wait(&stop, &mut events, &mut servers, Some(inode))
                        .await
                }
                Err(reason) => reason,
            };
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
        serving: &CancellationToken,
        ended: &mpsc::UnboundedSender<StreamEnded>,
    ) -> Result<Vec<Server>, (ServeError, Vec<Server>)> {
        let mut servers = Vec::new();
        for context in &self.contexts {
            let socket = self.dir.join(context.resource.socket_name());
            let listener = match server::bind(&socket) {
                Ok(listener) => listener,
                Err(error) => return Err((error.into(), servers)),
            };
            let service = PluginService::new(Arc::clone(context), serving.clone(), ended.clone());
            let handle = server::spawn(service, listener, serving.clone());
            servers.push((context.resource.type_name.clone(), handle));
        }
        Ok(servers)
    }

    /// Registers every resource, retrying with backoff; returns the identity of
    /// the kubelet socket it registered with. Gives up (to re-serve) when
    /// one of our sockets disappears meanwhile, as a kubelet restart does.
    async fn register_all(
        &self,
        stop: &CancellationToken,
        changed: &mut mpsc::Receiver<()>,
    ) -> Result<SocketId, Restart> {
        let kubelet = self.dir.join(KUBELET_SOCKET);
        let mut backoff = Duration::from_millis(50);
        loop {
            self.heartbeat.beat();
            // kubelet sweeps the directory before it listens on kubelet.sock:
            // read kubelet.sock first, then check our sockets, so a sweep
            // that came before this kubelet.sock is always seen here.
            let inode = socket_inode(&kubelet);
            if let Some(name) = self.missing_socket() {
                return Err(Restart::SocketGone(name));
            }
            let mut failure = None;
            if inode.is_some() {
                for context in &self.contexts {
                    if let Err(error) = self.register_guarded(context, inode, changed).await? {
                        failure = Some(error);
                        break;
                    }
                }
            }
            match (inode, failure) {
                (Some(inode), None) if socket_inode(&kubelet) == Some(inode) => return Ok(inode),
                (_, Some(error)) => {
                    tracing::warn!(%error, retry_in = ?backoff, "registration failed")
                }
                _ => tracing::debug!(retry_in = ?backoff, "waiting for kubelet.sock"),
            }
            tokio::select! {
                () = stop.cancelled() => return Err(Restart::Stop),
                () = tokio::time::sleep(backoff) => {}
                Some(()) = changed.recv() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Waits until the current generation must end. A stream that ended
    /// on its own only re-registers its resource.
    async fn wait(
        &self,
        stop: &CancellationToken,
        events: &mut Events,
        servers: &mut Vec<Server>,
        inode: Option<SocketId>,
    ) -> Restart {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            self.heartbeat.beat();
            let finished = async {
                if servers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let (outcome, index, _) =
                    futures::future::select_all(servers.iter_mut().map(|(_, handle)| handle)).await;
                (outcome, index)
            };
            let event = tokio::select! {
                biased;
                () = stop.cancelled() => return Restart::Stop,
                Some(()) = events.reload.recv() => return Restart::Reload,
                (outcome, index) = finished => Event::ServerStopped(index, format!("{outcome:?}")),
                Some(end) = events.ended.recv() => Event::StreamEnded(end),
                Some(()) = events.changed.recv() => Event::Check,
                _ = tick.tick() => Event::Check,
            };
            match event {
                Event::ServerStopped(index, outcome) => {
                    // Its handle is finished: it must not be awaited again.
                    let (name, _) = servers.swap_remove(index);
                    if stop.is_cancelled() {
                        return Restart::Stop;
                    }
                    tracing::error!(resource = %name, %outcome, "a device-plugin server stopped");
                    return Restart::ServerFailed(name);
                }
                Event::StreamEnded(end) => {
                    // A new kubelet may already have swept our socket: then
                    // registering again would name a socket nobody serves,
                    // and kubelet's dial-back would stall until our timeout.
                    if let Some(reason) = self.check_state(inode) {
                        return reason;
                    }
                    if let Some(reason) = self.stream_ended(&end, &mut events.changed).await {
                        return reason;
                    }
                }
                Event::Check => {}
            }
            if let Some(reason) = self.check_state(inode) {
                return reason;
            }
        }
    }

    /// kubelet dropped a stream we did not cause: register that resource
    /// again (kubelet then opens a new stream). Streams closed because we
    /// re-registered carry an older epoch and are ignored.
    async fn stream_ended(
        &self,
        end: &StreamEnded,
        changed: &mut mpsc::Receiver<()>,
    ) -> Option<Restart> {
        let context = self
            .contexts
            .iter()
            .find(|c| c.resource.type_name == end.resource)?;
        if context.epoch() != end.epoch {
            return None;
        }
        tracing::info!(resource = %end.resource, "ListAndWatch stream ended; registering again");
        let kubelet_now = socket_inode(&self.dir.join(KUBELET_SOCKET));
        match self.register_guarded(context, kubelet_now, changed).await {
            Err(restart) => Some(restart),
            Ok(Ok(())) => None,
            Ok(Err(error)) => {
                tracing::warn!(%error, "re-registration failed; re-serving everything");
                Some(Restart::StreamEnded(end.resource.clone()))
            }
        }
    }

    /// Registers `context` while watching the directory: kubelet dials our
    /// socket back inside Register, so if a restarting kubelet sweeps it (or
    /// replaces kubelet.sock) meanwhile, the call would only end at its
    /// timeout. The directory watcher's wake-up (`changed`) says so at
    /// once: give up and re-serve instead.
    async fn register_guarded(
        &self,
        context: &ServiceContext,
        kubelet_inode: Option<SocketId>,
        changed: &mut mpsc::Receiver<()>,
    ) -> Result<Result<(), ServeError>, Restart> {
        let kubelet = self.dir.join(KUBELET_SOCKET);
        let call = register(&kubelet, context);
        tokio::pin!(call);
        loop {
            tokio::select! {
                result = &mut call => return Ok(result),
                Some(()) = changed.recv() => {
                    if let Some(name) = self.missing_socket() {
                        return Err(Restart::SocketGone(name));
                    }
                    let now = socket_inode(&kubelet);
                    if now.is_some() && now != kubelet_inode {
                        return Err(Restart::KubeletReplaced);
                    }
                }
            }
        }
    }

    fn check_state(&self, registered_inode: Option<SocketId>) -> Option<Restart> {
        let current = socket_inode(&self.dir.join(KUBELET_SOCKET));
        if current.is_some() && current != registered_inode {
            return Some(Restart::KubeletReplaced);
        }
        self.missing_socket().map(Restart::SocketGone)
    }

    /// The first of our sockets that is no longer in the directory.
    fn missing_socket(&self) -> Option<String> {
        self.contexts
            .iter()
            .map(|c| c.resource.socket_name())
            .find(|name| socket_inode(&self.dir.join(name)).is_none())
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

/// Which socket file this is: inode numbers are reused as soon as a file
/// is deleted, so a new `kubelet.sock` is told apart by its change time too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SocketId {
    inode: u64,
    ctime: i64,
    ctime_nsec: i64,
}

/// The identity of a unix socket at `path`, if one is there.
fn socket_inode(path: &Path) -> Option<SocketId> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_socket().then(|| SocketId {
        inode: meta.ino(),
        ctime: meta.ctime(),
        ctime_nsec: meta.ctime_nsec(),
    })
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

async fn wait_for_directory(dir: &Path, stop: &CancellationToken, heartbeat: &Heartbeat) {
    let mut logged = false;
    while !dir.is_dir() && !stop.is_cancelled() {
        heartbeat.beat();
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
