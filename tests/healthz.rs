//! The health endpoint of the running daemon: liveness, readiness that
//! follows registration, and metrics that follow faults and allocations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::node::{Node, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free loopback port (bound and released; good enough for a test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Samples of the text exposition: `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse::<f64>().unwrap())
        })
        .collect()
}

async fn wait_for(port: u16, path: &str, status: u16) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            drop(stream);
            let (got, body) = get(port, path).await;
            if got == status {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_registration_and_metrics_follow_faults_and_allocations() {
    let port = free_port();
    let address = format!("-healthz-address=127.0.0.1:{port}");
    let mut node = Node::start(
        "910-8",
        &["-enable-healthz=true", &address, "-listWatchPeriod=1800"],
        &[],
    )
    .await;
    wait_for(port, "/healthz", 200).await;
    let (mut client, mut watch, _) = node.watch().await;
    wait_for(port, "/readyz", 200).await;

    client
        .allocate(vec![vec!["Ascend910-0".into()]])
        .await
        .unwrap();
    let _ = client.allocate(vec![vec!["bogus".into()]]).await;
    node.sim(&[
        "fault",
        "raise",
        "--phy",
        "6",
        "--code",
        "80E01801",
        "--severity",
        "2",
    ]);
    watch
        .until(PATIENCE, |l| {
            l.iter()
                .any(|d| d.id == "Ascend910-6" && d.health == "Unhealthy")
        })
        .await
        .unwrap();

    let deadline = Instant::now() + PATIENCE;
    let metrics = loop {
        let (status, body) = get(port, "/metrics").await;
        assert_eq!(status, 200);
        let parsed = samples(&body);
        if parsed.get("ascend_device_plugin_chip_healthy{chip=\"Ascend910-6\"}") == Some(&0.0) {
            break parsed;
        }
        assert!(
            Instant::now() < deadline,
            "chip 6 never reported unhealthy:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        metrics["ascend_device_plugin_chip_healthy{chip=\"Ascend910-5\"}"],
        1.0
    );
    assert_eq!(
        metrics["ascend_device_plugin_fault_codes_active{chip=\"Ascend910-6\",code=\"80E01801\"}"],
        1.0
    );
    assert_eq!(
        metrics["ascend_device_plugin_allocate_requests_total{resource=\"huawei.com/Ascend910\",outcome=\"ok\"}"],
        1.0
    );
    assert_eq!(
        metrics["ascend_device_plugin_allocate_requests_total{resource=\"huawei.com/Ascend910\",outcome=\"invalid_argument\"}"],
        1.0
    );
    assert!(
        metrics["ascend_device_plugin_registrations_total{resource=\"huawei.com/Ascend910\"}"]
            >= 1.0
    );
    assert_eq!(
        metrics["ascend_device_plugin_devices{resource=\"huawei.com/Ascend910\",state=\"unhealthy\"}"],
        1.0
    );

    // A kubelet restart: not ready until registered again, then ready.
    node.kubelet.restart().await.unwrap();
    node.watch().await;
    wait_for(port, "/readyz", 200).await;
    let (_, body) = get(port, "/metrics").await;
    assert!(samples(&body)["ascend_device_plugin_kubelet_restarts_total"] >= 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_is_refused_while_kubelet_is_absent() {
    let port = free_port();
    let address = format!("-healthz-address=127.0.0.1:{port}");
    let node = Node::start("910-8", &["-enable-healthz", &address], &[]).await;
    node.kubelet.set_refuse(Some("not now".into()));
    let mut node = node;
    node.kubelet.restart().await.unwrap();
    let body = wait_for(port, "/readyz", 503).await;
    assert!(!body.is_empty());
    assert_eq!(get(port, "/healthz").await.0, 200, "alive while it retries");
    node.kubelet.set_refuse(None);
    wait_for(port, "/readyz", 200).await;
}
