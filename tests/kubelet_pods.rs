//! `-getPodFromKubelet` through the binary on the simulator: the node's
//! pods come from an HTTPS stand-in of the kubelet's `/pods` (a throwaway CA
//! and serving certificate that `openssl` makes per run), which checks the
//! bearer token. A Volcano Allocate is answered from that list, the token
//! file is read again when it rotates, an oversized body is refused by name,
//! and a kubelet whose certificate does not chain to the CA is not read
//! unless the operator opts out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

const PODS: &str = "/api/v1/namespaces/ml/pods";
const BODY_CAP: usize = 10 * 1024 * 1024;

fn volcano_pod(name: &str, chips: &str) -> Value {
    let count = chips.split(',').count().to_string();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "ml", "uid": format!("uid-{name}"),
            "resourceVersion": "7", "creationTimestamp": "2026-11-29T10:00:00Z",
            "labels": {"app": "train"},
            "annotations": {"huawei.com/Ascend910": chips, "predicate-time": "100",
                            "kubectl.kubernetes.io/last-applied-configuration": "{\"big\":\"x\"}"},
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "main", "image": "train:1",
                            "env": [{"name": "A", "value": "b"}],
                            "resources": {"limits": {"huawei.com/Ascend910": count, "cpu": "4"}}}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    })
}

/// What the stand-in serves and has seen.
#[derive(Default)]
struct Kubelet {
    token: String,
    pods: Vec<Value>,
    /// Serve a body one byte over the plugin's cap.
    oversized: bool,
    /// Authorization headers of answered requests: (token, accepted).
    seen: Vec<(String, bool)>,
}

type Shared = Arc<Mutex<Kubelet>>;

fn certificates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for the kubelet TLS tests");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::write(dir.path().join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for ca in ["ca", "other-ca"] {
        let key = format!("{ca}.key");
        let pem = format!("{ca}.pem");
        run(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ]);
        let subject = format!("/CN={ca}");
        run(&[
            "req", "-x509", "-new", "-key", &key, "-subj", &subject, "-days", "2", "-out", &pem,
        ]);
    }
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "kubelet.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "kubelet.key",
        "-subj",
        "/CN=node-a",
        "-out",
        "kubelet.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "kubelet.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "kubelet.pem",
    ]);
    dir
}

async fn serve(certs: &Path, state: Shared) -> SocketAddr {
    let chain = CertificateDer::pem_file_iter(certs.join("kubelet.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.join("kubelet.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, state) = (acceptor.clone(), Arc::clone(&state));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, std::convert::Infallible>(answer(&state, &request)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    address
}

fn answer(state: &Shared, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap();
    let sent = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let accepted = sent == state.token && request.uri().path() == "/pods";
    state.seen.push((sent, accepted));
    let reply = |status, body: Vec<u8>| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if !accepted {
        return reply(StatusCode::UNAUTHORIZED, b"Unauthorized".to_vec());
    }
    let list = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": state.pods});
    let mut body = serde_json::to_vec(&list).unwrap();
    if state.oversized {
        // Valid JSON up to the cap, then one byte more: cut at the cap it
        // would still parse, so only a refusal tells the two apart.
        body.resize(BODY_CAP + 1, b' ');
    }
    reply(StatusCode::OK, body)
}

struct Bed {
    api: FakeApi,
    node: Node,
    kubelet: Shared,
    token_file: PathBuf,
    _scratch: tempfile::TempDir,
    _certs: tempfile::TempDir,
}

async fn start(ca: &str, extra: &[&str]) -> Bed {
    let certs = certificates();
    let kubelet = Arc::new(Mutex::new(Kubelet {
        token: "sa-token-one".into(),
        pods: vec![volcano_pod("job-0", "Ascend910-4,Ascend910-5")],
        ..Kubelet::default()
    }));
    let address = serve(certs.path(), Arc::clone(&kubelet)).await;
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {}}}),
    );
    // The pod exists in the API server too: the plugin patches it there.
    api.put(PODS, volcano_pod("job-0", "Ascend910-4,Ascend910-5"));
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "api-token", "");
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, "sa-token-one\n").unwrap();
    let flags = [
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--state-dir={}", scratch.path().join("state").display()),
        format!("--kubelet-token-file={}", token_file.display()),
        format!("--kubelet-ca-file={}", certs.path().join(ca).display()),
    ];
    let mut args: Vec<&str> = vec![
        "-volcanoType=true",
        "-getPodFromKubelet=true",
        "-listWatchPeriod=3",
    ];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let port = address.port().to_string();
    let node = Node::start(
        "910-8",
        &args,
        &[
            ("NODE_NAME", "node-a"),
            ("HOST_IP", "127.0.0.1"),
            ("KUBELET_PORT", &port),
        ],
    )
    .await;
    Bed {
        api,
        node,
        kubelet,
        token_file,
        _scratch: scratch,
        _certs: certs,
    }
}

fn accepted_with(kubelet: &Shared, token: &str) -> usize {
    let state = kubelet.lock().unwrap();
    state
        .seen
        .iter()
        .filter(|(t, ok)| *ok && t == token)
        .count()
}

/// Requests that read pods from the API server (list or watch).
fn api_pod_reads(api: &FakeApi) -> usize {
    api.seen()
        .iter()
        .filter(|s| s.method == "GET" && s.uri.contains("/pods"))
        .count()
}

async fn allocate(node: &mut Node, ids: &[&str]) -> Vec<String> {
    let (mut client, _watch, _) = node.watch().await;
    let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let response = client.allocate(vec![ids]).await.unwrap();
    let mut devices: Vec<String> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.clone())
        .filter(|p| p.starts_with("/dev/davinci") && p[12..].parse::<u32>().is_ok())
        .collect();
    devices.sort();
    devices
}

fn log(node: &Node) -> String {
    std::fs::read_to_string(node.log_file()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volcano_allocate_is_answered_from_the_kubelets_pods_with_a_rotating_token() {
    let mut bed = start("ca.pem", &[]).await;
    eventually("the plugin reads /pods with the token", || {
        (accepted_with(&bed.kubelet, "sa-token-one") > 0).then_some(())
    })
    .await;
    let devices = allocate(&mut bed.node, &["Ascend910-0", "Ascend910-1"]).await;
    assert_eq!(devices, ["/dev/davinci4", "/dev/davinci5"]);
    assert_eq!(
        api_pod_reads(&bed.api),
        0,
        "no pod list or watch on the API server"
    );
    // The token rotates: the next reads carry the new one.
    std::fs::write(&bed.token_file, "sa-token-two\n").unwrap();
    bed.kubelet.lock().unwrap().token = "sa-token-two".into();
    let job = volcano_pod("job-1", "Ascend910-6");
    bed.api.put(PODS, job.clone());
    bed.kubelet.lock().unwrap().pods.push(job);
    eventually("a read with the rotated token", || {
        (accepted_with(&bed.kubelet, "sa-token-two") > 0).then_some(())
    })
    .await;
    let devices = allocate(&mut bed.node, &["Ascend910-2"]).await;
    assert_eq!(devices, ["/dev/davinci6"]);
    assert_eq!(
        api_pod_reads(&bed.api),
        0,
        "still no pod read on the API server"
    );
    let refused = bed
        .kubelet
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|(_, ok)| !ok)
        .count();
    assert!(
        refused <= 1,
        "at most the one read racing the rotation: {refused}"
    );
    let text = log(&bed.node);
    assert!(
        !text.contains("sa-token"),
        "the token never reaches the log"
    );
}

fn requests(kubelet: &Shared) -> usize {
    kubelet.lock().unwrap().seen.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_the_kubelet_just_admitted_is_read_at_once_not_at_the_next_poll() {
    // The wait for the pod (1 s) is shorter than the poll period (5 s).
    let mut bed = start("ca.pem", &["--pod-wait-timeout=1"]).await;
    let (mut client, _watch, _) = bed.node.watch().await;
    // Right after a poll, so the next one is about 5 s away.
    let seen = requests(&bed.kubelet);
    eventually("a fresh poll", || {
        (requests(&bed.kubelet) > seen).then_some(())
    })
    .await;
    let job = volcano_pod("job-late", "Ascend910-7");
    bed.api.put(PODS, job.clone());
    bed.kubelet.lock().unwrap().pods.push(job);
    let response = client
        .allocate(vec![vec!["Ascend910-0".to_owned()]])
        .await
        .expect("the Allocate reads the kubelet at once");
    let devices: Vec<&str> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.as_str())
        .collect();
    assert!(devices.contains(&"/dev/davinci7"), "{devices:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_pods_body_is_refused_by_name_and_the_last_list_kept() {
    let bed = start("ca.pem", &[]).await;
    eventually("a first good read", || {
        (accepted_with(&bed.kubelet, "sa-token-one") > 0).then_some(())
    })
    .await;
    bed.kubelet.lock().unwrap().oversized = true;
    eventually("the refusal in the log", || {
        log(&bed.node)
            .contains("sent a /pods body over 10485760 bytes; refused rather than cut")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubelet_whose_certificate_the_ca_does_not_sign_is_not_read_unless_the_operator_opts_out()
{
    let bed = start("other-ca.pem", &[]).await;
    eventually("the TLS failure in the log", || {
        log(&bed.node)
            .contains("cannot read pods from the kubelet")
            .then_some(())
    })
    .await;
    assert!(
        bed.kubelet.lock().unwrap().seen.is_empty(),
        "no request (and no token) sent to an unverified kubelet"
    );
    let bed = start("other-ca.pem", &["--kubelet-insecure-tls=true"]).await;
    eventually("reads with verification off", || {
        (accepted_with(&bed.kubelet, "sa-token-one") > 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_host_ip_the_kubelet_mode_refuses_to_start_naming_the_variable() {
    let output = support::run_plugin(
        "910-8",
        &[
            ("NODE_NAME", "node-a"),
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ],
        &["-volcanoType=true", "-getPodFromKubelet=true"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("getPodFromKubelet") && stderr.contains("HOST_IP"),
        "{stderr}"
    );
}
