//! `-getPodFromKubelet` (recovery spec §4.1): the node's pods read from
//! the kubelet's `/pods` endpoint on `HOST_IP` instead of an API-server
//! watch, into the same [`PodCache`] the Volcano Allocate path reads.
//!
//! Better than upstream (§6 #6): the bearer token is read again before each
//! request (a rotated projected token is used at once), the kubelet's
//! certificate is verified against the cluster CA unless the operator opts
//! out, and a body over the cap fails with an error that says so instead of
//! being cut. When the kubelet cannot be read the cache keeps its last
//! contents and says it is disconnected, so an Allocate whose pod is not
//! cached lists the node's pods from the API server once (the fallback).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::http::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_util::sync::CancellationToken;

use super::{LeanPod, PodCache};
use crate::k8s::token::TokenFile;

/// A kubelet `/pods` body larger than this is refused (upstream's cap).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// More pods than this on one node is an error (upstream's limit).
pub const MAX_PODS: usize = 10_000;
/// How often the kubelet is read (upstream: every 5 s, the first at once).
pub const PERIOD: Duration = Duration::from_secs(5);
/// One whole request (connect, TLS, response, body) may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The CA file is a few KiB; anything past this is not a CA bundle.
const MAX_CA_BYTES: u64 = 1024 * 1024;

pub use crate::config::KubeletPodsSettings as KubeletSettings;

/// Why one read of the kubelet's pods failed. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("kubelet CA file {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("kubelet token: {0}")]
    Token(#[from] crate::k8s::token::TokenError),
    #[error("connecting to the kubelet at {endpoint}: {source}")]
    Connect {
        endpoint: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP to the kubelet at {endpoint}: {source}")]
    Http {
        endpoint: SocketAddr,
        source: hyper::Error,
    },
    #[error("kubelet at {endpoint} answered /pods with HTTP {status}")]
    Status {
        endpoint: SocketAddr,
        status: StatusCode,
    },
    #[error(
        "kubelet at {endpoint} sent a /pods body over {MAX_BODY_BYTES} bytes; refused rather than cut"
    )]
    TooLarge { endpoint: SocketAddr },
    #[error("reading the kubelet's /pods body from {endpoint}: {reason}")]
    Body {
        endpoint: SocketAddr,
        reason: String,
    },
    #[error("kubelet /pods from {endpoint} is not a pod list: {source}")]
    Decode {
        endpoint: SocketAddr,
        source: serde_json::Error,
    },
    #[error("kubelet at {endpoint} lists {count} pods, at least the limit of {MAX_PODS}")]
    TooManyPods { endpoint: SocketAddr, count: usize },
    #[error("kubelet at {endpoint} did not answer /pods within {REQUEST_TIMEOUT:?}")]
    Timeout { endpoint: SocketAddr },
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<LeanPod>,
}

/// Reads `/pods` from one kubelet.
pub struct KubeletPods {
    settings: KubeletSettings,
    token: TokenFile,
    tls: TlsConnector,
    node: String,
}

impl std::fmt::Debug for KubeletPods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletPods")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KubeletPods {
    /// Reads the CA bundle and the token once, so a wrong path stops the
    /// start with a message naming it.
    pub fn new(settings: KubeletSettings, node: String) -> Result<Self, KubeletError> {
        let token = TokenFile::open(&settings.token_file, Duration::ZERO)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| KubeletError::Ca {
                path: settings.ca_file.clone(),
                reason: e.to_string(),
            })?;
        let config = if settings.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(read_ca(&settings.ca_file)?)
                .with_no_client_auth()
        };
        Ok(Self {
            settings,
            token,
            tls: TlsConnector::from(Arc::new(config)),
            node,
        })
    }

    /// The node's pods that have not ended, as the kubelet lists them.
    pub async fn fetch(&self) -> Result<Vec<Pod>, KubeletError> {
        let endpoint = self.settings.endpoint;
        tokio::time::timeout(REQUEST_TIMEOUT, self.fetch_unbounded())
            .await
            .map_err(|_| KubeletError::Timeout { endpoint })?
    }

    async fn fetch_unbounded(&self) -> Result<Vec<Pod>, KubeletError> {
        let endpoint = self.settings.endpoint;
        let connect = |source| KubeletError::Connect { endpoint, source };
        let http = |source| KubeletError::Http { endpoint, source };
        let tcp = TcpStream::connect(endpoint).await.map_err(connect)?;
        let name = ServerName::IpAddress(endpoint.ip().into());
        let tls = self.tls.connect(name, tcp).await.map_err(connect)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(connection);
        let request = Request::get("/pods")
            .header(header::HOST, endpoint.to_string())
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, self.token.header())
            .body(Empty::<Bytes>::new())
            .map_err(|e| KubeletError::Body {
                endpoint,
                reason: e.to_string(),
            })?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        if status != StatusCode::OK {
            driver.abort();
            return Err(KubeletError::Status { endpoint, status });
        }
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await;
        driver.abort();
        let body = body
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    KubeletError::TooLarge { endpoint }
                } else {
                    KubeletError::Body {
                        endpoint,
                        reason: error.to_string(),
                    }
                }
            })?
            .to_bytes();
        let list: PodList = serde_json::from_slice(&body)
            .map_err(|source| KubeletError::Decode { endpoint, source })?;
        keep_node_pods(list.items, &self.node, endpoint)
    }

    /// Feeds `cache` every [`PERIOD`] (the first read at once), and at once
    /// when a reader asks (a Volcano Allocate), until `stop`.
    pub async fn run(self, cache: PodCache, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.fetch().await {
                Ok(pods) => {
                    if failing {
                        tracing::info!("reading pods from the kubelet again");
                    }
                    failing = false;
                    cache.replace(pods);
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot read pods from the kubelet; keeping the last list (an Allocate whose pod is missing lists from the API server)");
                    }
                    failing = true;
                    cache.disconnected();
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PERIOD) => {}
                () = cache.refresh_requested() => {}
            }
        }
    }
}

/// The pods of `node` that have not ended (the API watch's selector, applied
/// here: the kubelet lists what it knows, which may include finished pods).
fn keep_node_pods(
    items: Vec<LeanPod>,
    node: &str,
    endpoint: SocketAddr,
) -> Result<Vec<Pod>, KubeletError> {
    if items.len() >= MAX_PODS {
        return Err(KubeletError::TooManyPods {
            endpoint,
            count: items.len(),
        });
    }
    Ok(items
        .into_iter()
        .map(|pod| pod.0)
        .filter(|pod| {
            let on_node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(|name| name.is_empty() || name == node);
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            on_node && !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .map(super::slim)
        .collect())
}

fn read_ca(path: &Path) -> Result<RootCertStore, KubeletError> {
    use std::io::Read;
    let fail = |reason: String| KubeletError::Ca {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_CA_BYTES {
        return Err(fail(format!("over {MAX_CA_BYTES} bytes")));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| fail(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no PEM certificate".to_owned()));
    }
    Ok(roots)
}

/// `--kubelet-insecure-tls`: accepts any kubelet certificate (signatures
/// are still checked, so the channel is encrypted to whoever answered).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lean(json: serde_json::Value) -> LeanPod {
        serde_json::from_value(json).unwrap()
    }

    fn endpoint() -> SocketAddr {
        "127.0.0.1:10250".parse().unwrap()
    }

    #[test]
    fn pods_of_other_nodes_and_ended_pods_are_dropped() {
        let items = vec![
            lean(
                serde_json::json!({"metadata": {"name": "a", "namespace": "ml"}, "spec": {"nodeName": "node-a"}, "status": {"phase": "Running"}}),
            ),
            lean(
                serde_json::json!({"metadata": {"name": "b", "namespace": "ml"}, "spec": {"nodeName": "node-b"}}),
            ),
            lean(
                serde_json::json!({"metadata": {"name": "c", "namespace": "ml"}, "spec": {"nodeName": "node-a"}, "status": {"phase": "Succeeded"}}),
            ),
            lean(
                serde_json::json!({"metadata": {"name": "d", "namespace": "ml"}, "spec": {"nodeName": "node-a"}, "status": {"phase": "Failed"}}),
            ),
            lean(serde_json::json!({"metadata": {"name": "e", "namespace": "ml"}, "spec": {}})),
        ];
        let kept = keep_node_pods(items, "node-a", endpoint()).unwrap();
        let names: Vec<_> = kept
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "e"]);
    }

    #[test]
    fn ten_thousand_pods_is_an_error_naming_the_count() {
        let items = vec![LeanPod::default(); MAX_PODS];
        let error = keep_node_pods(items, "node-a", endpoint()).unwrap_err();
        assert!(error.to_string().contains("10000 pods"), "{error}");
        assert!(keep_node_pods(vec![LeanPod::default(); MAX_PODS - 1], "n", endpoint()).is_ok());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t\n").unwrap();
        let ca = dir.path().join("ca.crt");
        let settings = KubeletSettings {
            endpoint: endpoint(),
            token_file: token,
            ca_file: ca.clone(),
            insecure: false,
        };
        let missing = KubeletPods::new(settings.clone(), "n".into()).unwrap_err();
        assert!(missing.to_string().contains("ca.crt"), "{missing}");
        std::fs::write(&ca, "no pem here").unwrap();
        let empty = KubeletPods::new(settings.clone(), "n".into()).unwrap_err();
        assert!(empty.to_string().contains("no PEM certificate"), "{empty}");
        let insecure = KubeletSettings {
            insecure: true,
            ..settings
        };
        assert!(
            KubeletPods::new(insecure, "n".into()).is_ok(),
            "no CA needed"
        );
    }
}
