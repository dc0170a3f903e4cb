//! The endpoints over a real loopback socket, with a raw HTTP/1.1 client so
//! every byte on the wire is ours to choose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::device::faults::FaultLevel;
use crate::device::health::{ChipState, Snapshot};
use crate::device::model::Family;
use crate::device::naming::{AdvertisedDevice, Backing, Resource};
use crate::telemetry::metrics::exposition;

mod limits;
mod tls;

/// A server on 127.0.0.1 and the handles a test drives it with.
struct Running {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
    status: watch::Sender<PluginStatus>,
    heartbeat: Heartbeat,
    metrics: Metrics,
}

async fn start_with(options: ServeOptions, dcmi_ready: bool) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (status, receiver) = watch::channel(PluginStatus::default());
    let heartbeat = Heartbeat::new();
    let metrics = Metrics::new();
    let state = HealthState {
        heartbeat: heartbeat.clone(),
        tick: Duration::from_secs(1),
        status: receiver,
        dcmi_ready,
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_with(
        listener,
        state,
        metrics.clone(),
        stop.clone(),
        options,
    ));
    Running {
        addr,
        stop,
        task,
        status,
        heartbeat,
        metrics,
    }
}

async fn start() -> Running {
    start_with(ServeOptions::default(), true).await
}

#[derive(Debug)]
struct Reply {
    status: u16,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    body: String,
}

/// Sends `raw` and reads until the server closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, raw: &[u8]) -> Reply {
    stream.write_all(raw).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the server did not close the connection")
        .unwrap();
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("no end of head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn request_bytes(method: &str, path: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

async fn call(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange(stream, &request_bytes(method, path)).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, "GET", path).await
}

#[tokio::test]
async fn liveness_is_ok_while_the_main_loop_ticks() {
    let server = start().await;
    server.heartbeat.beat();
    let reply = get(server.addr, "/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    assert_eq!(reply.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn liveness_fails_with_the_reason_when_the_heartbeat_is_stale() {
    let server = start().await;
    server.heartbeat.beat_at(unix_ms() - 10_000);
    let reply = get(server.addr, "/healthz").await;
    assert_eq!(reply.status, 503);
    assert!(
        reply.body.starts_with("main loop last ticked"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("limit 3000 ms"), "{}", reply.body);

    server.heartbeat.beat();
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[test]
fn liveness_allows_exactly_three_tick_periods() {
    let (_status, receiver) = watch::channel(PluginStatus::default());
    let heartbeat = Heartbeat::from(std::sync::Arc::new(AtomicU64::new(10_000)));
    let state = HealthState {
        heartbeat,
        tick: Duration::from_millis(500),
        status: receiver,
        dcmi_ready: true,
    };
    assert_eq!(state.liveness(11_500), Ok(()));
    let stale = NotLive::Stale {
        age_ms: 1_501,
        limit_ms: 1_500,
    };
    assert_eq!(state.liveness(11_501), Err(stale));
    assert_eq!(
        state.liveness(9_000),
        Ok(()),
        "a clock stepped back is not a hang"
    );
}

#[tokio::test]
async fn readiness_waits_for_registration_and_drops_when_kubelet_restarts() {
    let server = start().await;
    let before = get(server.addr, "/readyz").await;
    assert_eq!(before.status, 503);
    assert_eq!(
        before.body,
        "not every resource is registered with kubelet (generation 0)\n"
    );

    server.status.send_replace(PluginStatus {
        registered: true,
        generation: 1,
        kubelet_restarts: 0,
    });
    let registered = get(server.addr, "/readyz").await;
    assert_eq!((registered.status, registered.body.as_str()), (200, "ok\n"));

    // kubelet restarted: the supervisor starts generation 2 unregistered.
    server.status.send_replace(PluginStatus {
        registered: false,
        generation: 2,
        kubelet_restarts: 1,
    });
    let restarting = get(server.addr, "/readyz").await;
    assert_eq!(restarting.status, 503);
    assert!(
        restarting.body.contains("generation 2"),
        "{}",
        restarting.body
    );
}

#[tokio::test]
async fn readiness_fails_while_dcmi_is_not_initialised() {
    let server = start_with(ServeOptions::default(), false).await;
    server.status.send_replace(PluginStatus {
        registered: true,
        generation: 1,
        kubelet_restarts: 0,
    });
    let reply = get(server.addr, "/readyz").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (503, "DCMI is not initialised\n")
    );
}

fn one_faulty_chip() -> (Snapshot, Vec<Resource>) {
    let chip = ChipState {
        phy_id: 2,
        healthy: false,
        level: FaultLevel::SeparateNPU,
        faults: Vec::new(),
        network_healthy: true,
        dropped: false,
        recovering: false,
        manually_separated: false,
        reasons: Vec::new(),
        resetting: false,
    };
    let snapshot = Snapshot {
        generation: 1,
        chips: [(2, chip)].into_iter().collect(),
        ..Snapshot::default()
    };
    let resource = Resource {
        type_name: "Ascend910".into(),
        family: Family::Ascend910,
        is_virtual: false,
        devices: vec![AdvertisedDevice {
            id: "Ascend910-2".into(),
            backing: Backing::Chip { phy_id: 2 },
        }],
    };
    (snapshot, vec![resource])
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let server = start().await;
    let (snapshot, resources) = one_faulty_chip();
    server.metrics.observe_snapshot(&snapshot, &resources);
    let reply = get(server.addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let scraped = exposition::parse(&reply.body).unwrap();
    let chip = [("chip", "Ascend910-2")];
    assert_eq!(
        scraped.value("ascend_device_plugin_chip_healthy", &chip),
        Some(0.0)
    );
    assert_eq!(
        scraped.value("ascend_device_plugin_chip_fault_level", &chip),
        Some(8.0)
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405() {
    let server = start().await;
    assert_eq!(get(server.addr, "/").await.status, 404);
    assert_eq!(get(server.addr, "/healthz/extra").await.status, 404);
    assert_eq!(get(server.addr, "/healthz?verbose=1").await.status, 200);
    for method in ["POST", "PUT", "DELETE"] {
        let reply = call(server.addr, method, "/metrics").await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.headers["allow"], "GET, HEAD");
    }
    let with_body =
        b"POST /readyz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let stream = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(exchange(stream, with_body).await.status, 405);

    let head = call(server.addr, "HEAD", "/healthz").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[tokio::test]
async fn stop_ends_the_server_and_closes_its_listener() {
    let server = start().await;
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    server.stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve did not return after stop")
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}
