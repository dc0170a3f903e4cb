//! HTTPS with a throwaway CA and server certificate that `openssl` makes
//! for each test run (P-256, `127.0.0.1`/`localhost`); no key material is
//! kept in the repository.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::*;

fn testdata(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(make_certificates).path().join(name)
}

fn make_certificates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for the TLS tests");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::write(
        dir.path().join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ca.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=test-ca",
        "-days",
        "2",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "server.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "server.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
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
        "server.pem",
    ]);
    dir
}

fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(testdata("ca.pem")).unwrap();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn https_get(addr: SocketAddr, path: &str) -> Reply {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector().connect(name, tcp).await.unwrap();
    exchange(tls, &request_bytes("GET", path)).await
}

#[tokio::test]
async fn https_serves_the_same_routes_with_the_configured_certificate() {
    let acceptor = tls_acceptor(&testdata("server.pem"), &testdata("server.key")).unwrap();
    let options = ServeOptions {
        tls: Some(acceptor),
        ..ServeOptions::default()
    };
    let server = start_with(options, true).await;
    assert_eq!(https_get(server.addr, "/healthz").await.status, 200);
    assert_eq!(https_get(server.addr, "/readyz").await.status, 503);
    let metrics = https_get(server.addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    exposition::parse(&metrics.body).unwrap();

    // A plain-HTTP client gets no answer, and the server carries on.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(&request_bytes("GET", "/healthz"))
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut bytes)).await;
    assert!(!bytes.starts_with(b"HTTP/1.1 200"));
    assert_eq!(https_get(server.addr, "/healthz").await.status, 200);
}

#[test]
fn the_acceptor_refuses_unreadable_empty_or_mismatched_files() {
    let cert = testdata("server.pem");
    let key = testdata("server.key");
    let missing = testdata("missing.pem");
    assert!(matches!(
        tls_acceptor(&missing, &key),
        Err(TlsError::Read { .. })
    ));
    assert!(matches!(
        tls_acceptor(&key, &key),
        Err(TlsError::NoCertificate { .. })
    ));
    assert!(matches!(
        tls_acceptor(&cert, &cert),
        Err(TlsError::NoKey { .. })
    ));
    // The CA's certificate with the server's key: they do not belong together.
    let mismatched = tls_acceptor(&testdata("ca.pem"), &key);
    assert!(matches!(mismatched, Err(TlsError::Config { .. })));
}
