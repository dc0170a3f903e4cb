//! The health endpoint of the running daemon: liveness, readiness that
//! follows registration, and metrics that follow faults and allocations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::node::{Node, patience};
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
    let deadline = Instant::now() + patience();
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
        .until(patience(), |l| {
            l.iter()
                .any(|d| d.id == "Ascend910-6" && d.health == "Unhealthy")
        })
        .await
        .unwrap();

    let deadline = Instant::now() + patience();
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

/// A self-signed P-256 certificate for 127.0.0.1 made by `openssl` for
/// this run: (certificate, key) in `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // A leaf, not a CA: rustls refuses a CA certificate as a server's.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed for the TLS test");
    assert!(status.success());
    (cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_endpoint_serves_https_with_the_upstream_tls_flags() {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let port = free_port();
    let address = format!("-healthz-address=127.0.0.1:{port}");
    let cert_flag = format!("-tls-cert-file={}", cert.display());
    let key_flag = format!("-tls-private-key-file={}", key.display());
    let _node = Node::start(
        "910-8",
        &["-enable-healthz", &address, &cert_flag, &key_flag],
        &[],
    )
    .await;

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let deadline = Instant::now() + patience();
    let reply = loop {
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            let name = ServerName::try_from("127.0.0.1").ok()?;
            let mut tls = connector.connect(name, tcp).await.ok()?;
            let request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            tls.write_all(request.as_bytes()).await.ok()?;
            let mut reply = String::new();
            tls.read_to_string(&mut reply).await.ok()?;
            Some(reply)
        };
        if let Some(reply) = attempt.await {
            break reply;
        }
        assert!(Instant::now() < deadline, "no HTTPS answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Plain HTTP gets no HTTP answer from a TLS listener.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}
