//! kubelet's Registration side: serves `kubelet.sock`, checks and records
//! every Register call, and restarts the way kubelet does (every socket in the
//! directory deleted, a fresh `kubelet.sock` served).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::proto::deviceplugin::device_plugin_client::DevicePluginClient;
use crate::proto::deviceplugin::registration_server::{Registration, RegistrationServer};
use crate::proto::deviceplugin::{Empty, RegisterRequest};
use crate::socket::{Serving, bind_private, dial, remove_sockets};
use crate::{API_VERSION, Error, PluginClient};

/// The file name of kubelet's registration socket.
pub const KUBELET_SOCKET: &str = "kubelet.sock";

/// How long a Register call may take to reach the plugin back.
const DIAL_BACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The kubelet stand-in: `v1beta1.Registration` on `<dir>/kubelet.sock`.
#[derive(Debug)]
pub struct Kubelet {
    dir: PathBuf,
    socket: PathBuf,
    state: Arc<State>,
    received: mpsc::UnboundedReceiver<RegisterRequest>,
    serving: Option<Serving>,
}

/// What the Registration service shares with the [`Kubelet`] handle; it
/// outlives restarts.
#[derive(Debug)]
struct State {
    dir: PathBuf,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    refuse: watch::Sender<Option<String>>,
    received: mpsc::UnboundedSender<RegisterRequest>,
}

impl Kubelet {
    /// Creates `plugin_dir` if missing (mode 0750), deletes the sockets in it
    /// as kubelet does on start, and serves Registration on a new
    /// `kubelet.sock` (mode 0600).
    pub async fn start(plugin_dir: &Path) -> Result<Kubelet, Error> {
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(plugin_dir)
            .await
            .map_err(|error| Error::io("create the directory", plugin_dir, error))?;
        let (sender, received) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            dir: plugin_dir.to_path_buf(),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            refuse: watch::Sender::new(None),
            received: sender,
        });
        let mut kubelet = Kubelet {
            dir: plugin_dir.to_path_buf(),
            socket: plugin_dir.join(KUBELET_SOCKET),
            state,
            received,
            serving: None,
        };
        kubelet.serve().await?;
        Ok(kubelet)
    }

    /// The device-plugin directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `kubelet.sock`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits for the next accepted Register call; calls already accepted and
    /// not yet taken come first, oldest first.
    pub async fn next_registration(&mut self, timeout: Duration) -> Result<RegisterRequest, Error> {
        let waited = tokio::time::timeout(timeout, self.received.recv()).await;
        match waited {
            Ok(Some(request)) => Ok(request),
            // The sender lives in `self.state`, so the queue cannot close
            // while `self` exists; report it as a timeout all the same.
            Ok(None) | Err(_) => Err(Error::Timeout {
                what: format!("a Register call on {}", self.socket.display()),
                after: timeout,
            }),
        }
    }

    /// How many Register calls were accepted since start, across restarts.
    pub fn registration_count(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// How many Register calls were refused by [`Self::set_refuse`], across
    /// restarts.
    pub fn refusal_count(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// Dials `<dir>/<endpoint>`, the endpoint of a [`RegisterRequest`].
    pub async fn connect(&self, endpoint: &str) -> Result<PluginClient, Error> {
        let socket = endpoint_path(&self.dir, endpoint)?;
        PluginClient::connect(&socket).await
    }

    /// Does what kubelet does on restart: stops serving, deletes every socket
    /// in the directory (its own and the plugins'), then serves Registration
    /// on a fresh `kubelet.sock`.
    pub async fn restart(&mut self) -> Result<(), Error> {
        let stopped = match self.serving.take() {
            Some(serving) => serving.stop().await,
            None => Ok(()),
        };
        self.serve().await?;
        stopped
    }

    /// While `Some(message)`, Register answers `FAILED_PRECONDITION` with
    /// that message (kubelet refusing, to test the plugin's retry).
    pub fn set_refuse(&self, refuse: Option<String>) {
        self.state.refuse.send_replace(refuse);
    }

    /// Stops serving. The socket file stays behind, as when kubelet dies.
    pub async fn stop(mut self) {
        if let Some(serving) = self.serving.take()
            && let Err(error) = serving.stop().await
        {
            eprintln!("kubelet stand-in: {error}");
        }
    }

    async fn serve(&mut self) -> Result<(), Error> {
        remove_sockets(&self.dir).await?;
        let listener = bind_private(&self.socket).await?;
        let service = RegistrationService {
            state: Arc::clone(&self.state),
        };
        let routes = Routes::new(RegistrationServer::new(service));
        self.serving = Some(Serving::spawn(&self.socket, listener, routes));
        Ok(())
    }
}

/// `<dir>/<endpoint>`, provided the endpoint is a plain file name.
pub(crate) fn endpoint_path(dir: &Path, endpoint: &str) -> Result<PathBuf, Error> {
    let plain =
        !endpoint.is_empty() && endpoint != "." && endpoint != ".." && !endpoint.contains('/');
    if plain {
        Ok(dir.join(endpoint))
    } else {
        Err(Error::BadEndpoint {
            endpoint: endpoint.to_string(),
            dir: dir.to_path_buf(),
        })
    }
}

#[derive(Debug, Clone)]
struct RegistrationService {
    state: Arc<State>,
}

#[tonic::async_trait]
impl Registration for RegistrationService {
    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        let request = request.into_inner();
        let refusal = self.state.refuse.borrow().clone();
        if let Some(message) = refusal {
            self.state.refused.fetch_add(1, Ordering::SeqCst);
            return Err(Status::failed_precondition(message));
        }
        self.check(&request).await?;
        self.state.accepted.fetch_add(1, Ordering::SeqCst);
        // The receiver only goes away with the Kubelet handle; then nobody
        // is waiting for this registration.
        let _ = self.state.received.send(request);
        Ok(Response::new(Empty {}))
    }
}

impl RegistrationService {
    /// kubelet's checks, in kubelet's order: version, resource name, then
    /// dial the plugin back and ask for its options.
    async fn check(&self, request: &RegisterRequest) -> Result<(), Status> {
        if request.version != API_VERSION {
            return Err(Status::unknown(format!(
                "requested API version {:?} is not supported by kubelet. Supported versions are [{API_VERSION:?}]",
                request.version
            )));
        }
        if !is_extended_resource_name(&request.resource_name) {
            return Err(Status::unknown(format!(
                "the ResourceName {:?} is invalid",
                request.resource_name
            )));
        }
        let socket = endpoint_path(&self.state.dir, &request.endpoint)
            .map_err(|error| Status::unknown(error.to_string()))?;
        let reached = tokio::time::timeout(DIAL_BACK_TIMEOUT, ask_options(&socket)).await;
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Status::unknown(format!(
                "failed to dial device plugin: {error}"
            ))),
            Err(_) => Err(Status::unknown(format!(
                "failed to dial device plugin: no answer from {} within {DIAL_BACK_TIMEOUT:?}",
                socket.display()
            ))),
        }
    }
}

async fn ask_options(socket: &Path) -> Result<(), Error> {
    let mut client = DevicePluginClient::new(dial(socket).await?);
    client
        .get_device_plugin_options(Empty {})
        .await
        .map_err(|status| Error::rpc("GetDevicePluginOptions", socket, status))?;
    Ok(())
}

/// kubelet's `IsExtendedResourceName`: `domain/name` outside
/// `kubernetes.io`, valid as a qualified name once prefixed with `requests.`.
fn is_extended_resource_name(resource: &str) -> bool {
    let Some((domain, name)) = resource.split_once('/') else {
        return false;
    };
    let native = domain == "kubernetes.io" || domain.ends_with(".kubernetes.io");
    !native
        && !resource.starts_with("requests.")
        && is_subdomain(&format!("requests.{domain}"))
        && is_name(name)
}

/// A DNS-1123 subdomain: dot-separated labels of `[a-z0-9-]`, each starting
/// and ending alphanumeric, 253 characters at most.
fn is_subdomain(value: &str) -> bool {
    value.len() <= 253
        && value.split('.').all(|label| {
            let edge =
                |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            edge(label.chars().next())
                && edge(label.chars().last())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// The name part of a qualified name: 63 characters at most of
/// `[A-Za-z0-9-_.]`, starting and ending alphanumeric.
fn is_name(value: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    value.len() <= 63
        && edge(value.chars().next())
        && edge(value.chars().last())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_kubelets_extended_resource_rule() {
        for good in [
            "huawei.com/Ascend910",
            "huawei.com/Ascend310P-2c",
            "example.com/a_b.c",
        ] {
            assert!(is_extended_resource_name(good), "{good}");
        }
        for bad in [
            "Ascend910",
            "kubernetes.io/npu",
            "npu.kubernetes.io/x",
            "Huawei.com/Ascend910",
            "huawei.com/",
            "huawei.com/-x",
            "huawei.com/a/b",
            "requests.huawei.com/x",
        ] {
            assert!(!is_extended_resource_name(bad), "{bad}");
        }
    }

    #[test]
    fn endpoints_must_be_plain_file_names() {
        let dir = Path::new("/plugins");
        assert_eq!(endpoint_path(dir, "a.sock").ok(), Some(dir.join("a.sock")));
        for bad in ["", ".", "..", "../a.sock", "x/a.sock", "/a.sock"] {
            assert!(endpoint_path(dir, bad).is_err(), "{bad}");
        }
    }
}
