//! The health and metrics endpoint (`--enable-healthz`): `GET /healthz`
//! (liveness), `GET /readyz` (readiness) and `GET /metrics` over HTTP/1.1,
//! optionally TLS, with bounded headers, read and write timeouts, and caps
//! on connections in all and per peer that make room for a newcomer rather
//! than make it wait (`slots`), so kubelet's probe is answered whoever else
//! is connected.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::metrics::{self, Metrics};

mod connection;
mod slots;
#[cfg(test)]
mod tests;
mod tls;

pub use tls::{TlsError, tls_acceptor};
pub use tokio_rustls::TlsAcceptor;

/// What the health endpoint and tests can observe of the kubelet face:
/// written by the face's supervisor, read by `/readyz`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginStatus {
    /// Every resource is registered with the current kubelet.
    pub registered: bool,
    pub generation: u64,
    /// Times a new kubelet (a new `kubelet.sock`) was seen after the first.
    pub kubelet_restarts: u64,
}

/// The last time the main loop ticked, in unix milliseconds. Cheap to clone;
/// the loop calls [`Heartbeat::beat`], the endpoint reads it.
#[derive(Debug, Clone)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// A heartbeat that has just beaten (so the process is live while it starts).
    pub fn new() -> Self {
        Self(Arc::new(AtomicU64::new(unix_ms())))
    }

    pub fn beat(&self) {
        self.beat_at(unix_ms());
    }

    pub fn beat_at(&self, unix_ms: u64) {
        self.0.store(unix_ms, Ordering::Relaxed);
    }

    pub fn last_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Arc<AtomicU64>> for Heartbeat {
    fn from(shared: Arc<AtomicU64>) -> Self {
        Self(shared)
    }
}

/// Milliseconds since the unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Why `/healthz` fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotLive {
    #[error("main loop last ticked {age_ms} ms ago (limit {limit_ms} ms)")]
    Stale { age_ms: u64, limit_ms: u64 },
}

/// Why `/readyz` fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("DCMI is not initialised")]
    DcmiNotReady,
    #[error("not every resource is registered with kubelet (generation {generation})")]
    NotRegistered { generation: u64 },
}

/// What the endpoints report on.
#[derive(Debug, Clone)]
pub struct HealthState {
    pub heartbeat: Heartbeat,
    /// How often the main loop ticks; live while the last tick is younger
    /// than three periods.
    pub tick: Duration,
    pub status: watch::Receiver<PluginStatus>,
    pub dcmi_ready: bool,
}

impl HealthState {
    /// Liveness at `now_ms`. A heartbeat from the future (the wall clock
    /// stepped back) counts as live.
    pub fn liveness(&self, now_ms: u64) -> Result<(), NotLive> {
        let limit_ms = u64::try_from(self.tick.saturating_mul(3).as_millis()).unwrap_or(u64::MAX);
        let age_ms = now_ms.saturating_sub(self.heartbeat.last_ms());
        if age_ms > limit_ms {
            return Err(NotLive::Stale { age_ms, limit_ms });
        }
        Ok(())
    }

    /// Readiness: DCMI is initialised and every resource is registered.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if !self.dcmi_ready {
            return Err(NotReady::DcmiNotReady);
        }
        let status = self.status.borrow();
        if !status.registered {
            return Err(NotReady::NotRegistered {
                generation: status.generation,
            });
        }
        Ok(())
    }
}

/// Limits and transport of [`serve_with`].
#[derive(Clone)]
pub struct ServeOptions {
    /// A client must send a request's whole header within this time, also
    /// when idle between keep-alive requests.
    pub header_read_timeout: Duration,
    /// Connections served at once; beyond it a newcomer waits in the listen
    /// backlog until one closes or has been idle for `evict_idle_after`.
    pub max_connections: usize,
    /// How long a connection without a request may hold a slot another
    /// client is waiting for.
    pub evict_idle_after: Duration,
    /// Connections one peer address may hold; a newcomer beyond it closes
    /// that peer's least recently active one.
    pub max_connections_per_peer: usize,
    /// A response that the client does not take within this time (its
    /// receive window stays full) closes the connection.
    pub write_timeout: Duration,
    /// A connection is closed (after its current response) when this old.
    pub max_connection_age: Duration,
    /// After `stop`, in-flight responses get this long to finish.
    pub shutdown_grace: Duration,
    /// Serve HTTPS with this acceptor (see [`tls_acceptor`]).
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("evict_idle_after", &self.evict_idle_after)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .field("write_timeout", &self.write_timeout)
            .field("max_connection_age", &self.max_connection_age)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 64,
            evict_idle_after: Duration::from_secs(1),
            max_connections_per_peer: 8,
            write_timeout: Duration::from_secs(5),
            max_connection_age: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(2),
            tls: None,
        }
    }
}

/// Serves plain HTTP on `listener` until `stop`, with [`ServeOptions::default`].
pub async fn serve(
    listener: TcpListener,
    state: HealthState,
    metrics: Metrics,
    stop: CancellationToken,
) {
    serve_with(listener, state, metrics, stop, ServeOptions::default()).await;
}

/// Serves on `listener` until `stop`; returns once every connection closed
/// (or `shutdown_grace` passed). Accept errors (out of file descriptors, a
/// client that reset) are logged and retried, never fatal.
pub async fn serve_with(
    listener: TcpListener,
    state: HealthState,
    metrics: Metrics,
    stop: CancellationToken,
    options: ServeOptions,
) {
    let endpoints = Arc::new(Endpoints { state, metrics });
    let options = Arc::new(options);
    let table = slots::Table::new(
        options.max_connections,
        options.max_connections_per_peer,
        options.evict_idle_after,
    );
    let mut connections = JoinSet::new();
    if let Ok(address) = listener.local_addr() {
        let tls = options.tls.is_some();
        tracing::info!(%address, tls, "health endpoint listening");
    }
    loop {
        while let Some(ended) = connections.try_join_next() {
            log_task_end(ended);
        }
        // Beyond the cap, clients wait in the kernel's backlog, but no longer
        // than it takes an idle connection to become evictable (`slots`): a
        // client holding connections open cannot queue kubelet's probe.
        let made_room = tokio::select! {
            () = stop.cancelled() => break,
            made_room = table.room() => made_room,
        };
        if made_room > 0 {
            tracing::debug!("health endpoint: closed an idle connection to make room");
        }
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "health endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (slot, displaced) = table.admit(peer.ip());
        if displaced > 0 {
            tracing::debug!(%peer, displaced, "health endpoint: closed the peer's least recently active connection to make room");
        }
        let endpoints = Arc::clone(&endpoints);
        let options = Arc::clone(&options);
        let stop = stop.clone();
        connections.spawn(async move {
            connection::serve(stream, peer, endpoints, &options, &stop, &slot).await;
            drop(slot);
        });
    }
    drop(listener);
    let grace = options.shutdown_grace + Duration::from_millis(500);
    let drained = tokio::time::timeout(grace, async {
        while let Some(ended) = connections.join_next().await {
            log_task_end(ended);
        }
    });
    if drained.await.is_err() {
        tracing::debug!("health endpoint: closing connections still open after the grace period");
    }
    connections.shutdown().await;
}

/// One plain connection on `io`, served with [`ServeOptions::default`]'s
/// limits and the real routes until the client is done: the request parsing
/// the fuzz target `health_request` drives (`crate::fuzzing`).
pub(crate) async fn serve_one<I>(io: I, state: HealthState, metrics: Metrics)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let endpoints = Arc::new(Endpoints { state, metrics });
    let options = ServeOptions::default();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let table = slots::Table::new(1, 1, options.evict_idle_after);
    let (slot, _) = table.admit(peer.ip());
    let stop = CancellationToken::new();
    connection::http(io, peer, endpoints, &options, &stop, slot.activity()).await;
}

fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(error) = ended
        && error.is_panic()
    {
        tracing::error!(%error, "health endpoint: a connection task panicked");
    }
}

/// The routes, over the state they report.
#[derive(Debug)]
struct Endpoints {
    state: HealthState,
    metrics: Metrics,
}

type Reply = Response<Full<Bytes>>;

impl Endpoints {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Reply, Infallible> {
        Ok(self.respond(request.method(), request.uri().path()))
    }

    /// The whole routing table; the request body is never read.
    fn respond(&self, method: &Method, path: &str) -> Reply {
        let known = matches!(path, "/healthz" | "/readyz" | "/metrics");
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n".into());
        }
        if method != Method::GET && method != Method::HEAD {
            let mut reply = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
            );
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return reply;
        }
        match path {
            "/healthz" => match self.state.liveness(unix_ms()) {
                Ok(()) => text(StatusCode::OK, "ok\n".into()),
                Err(reason) => unavailable(&reason),
            },
            "/readyz" => match self.state.readiness() {
                Ok(()) => text(StatusCode::OK, "ok\n".into()),
                Err(reason) => unavailable(&reason),
            },
            _ => {
                let mut reply = text(StatusCode::OK, self.metrics.encode());
                reply.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                reply
            }
        }
    }
}

fn unavailable(reason: &dyn std::fmt::Display) -> Reply {
    text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n"))
}

fn text(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}
