//! The admin side of the scale run: Node objects, one token of the plugin's
//! ServiceAccount per node (so the audit log tells the nodes apart), the
//! kubeconfig each plugin uses, and the Volcano pods of the Allocate
//! measurement. Everything goes through the API server as `system:masters`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReview};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

/// The audit event's user extra naming the token used.
const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";
/// Where the Allocate measurement's pods live.
pub const JOBS: &str = "scale-jobs";
/// The resource (and chip annotation) of the 910 nodes.
pub const ASCEND910: &str = "huawei.com/Ascend910";

/// An admin client of the scale run's API server.
#[derive(Clone)]
pub struct Admin {
    client: Client,
    url: String,
    ca_file: PathBuf,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("url", &self.url).finish()
    }
}

/// One node's identity at the API server.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The Node's name (the plugin's `NODE_NAME`).
    pub name: String,
    /// The kubeconfig holding its own token.
    pub kubeconfig: PathBuf,
    /// The token's credential ID, as the audit log shows it.
    pub credential: String,
}

impl Admin {
    /// A client from the harness's admin kubeconfig.
    pub async fn connect(kubeconfig: &Path, url: &str, ca_file: &Path) -> anyhow::Result<Admin> {
        let file = Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("cannot read {}", kubeconfig.display()))?;
        let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("{} is unusable", kubeconfig.display()))?;
        let client = Client::try_from(config).context("cannot build the admin client")?;
        Ok(Admin {
            client,
            url: url.to_owned(),
            ca_file: ca_file.to_owned(),
        })
    }

    /// The namespace of the Volcano pods, with its `default` ServiceAccount
    /// (no controller manager runs to create it).
    pub async fn prepare_jobs(&self) -> anyhow::Result<()> {
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": JOBS}}))?;
        create(&Api::<Namespace>::all(self.client.clone()), &namespace).await?;
        let account: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))?;
        create(
            &Api::<ServiceAccount>::namespaced(self.client.clone(), JOBS),
            &account,
        )
        .await
    }

    /// Creates Node `name` (as kubelet registers it) and a token of
    /// `account` (`namespace/name`) for it, written as a kubeconfig in `dir`.
    pub async fn node(
        &self,
        name: &str,
        ip: &str,
        account: &str,
        dir: &Path,
    ) -> anyhow::Result<NodeIdentity> {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }))?;
        create(&Api::<Node>::all(self.client.clone()), &node).await?;
        let (namespace, account_name) = account
            .split_once('/')
            .with_context(|| format!("service account {account:?} is not namespace/name"))?;
        let request: TokenRequest = serde_json::from_value(serde_json::json!({
            "spec": {"audiences": [], "expirationSeconds": 86_400},
        }))?;
        let accounts = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace);
        let issued: TokenRequest = accounts
            .create_subresource("token", account_name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("cannot mint a token of {account} for {name}"))?;
        let token = issued.status.and_then(|s| s.token).unwrap_or_default();
        let review: TokenReview =
            serde_json::from_value(serde_json::json!({"spec": {"token": token}}))?;
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .context("cannot review the minted token")?;
        let credential = reviewed
            .status
            .and_then(|s| s.user)
            .and_then(|u| u.extra)
            .and_then(|mut extra| extra.remove(CREDENTIAL_ID))
            .and_then(|ids| (ids.len() == 1).then(|| ids[0].clone()));
        let Some(credential) = credential else {
            bail!(
                "the API server gives the token of {name} no {CREDENTIAL_ID}: the audit log could not tell the nodes apart"
            );
        };
        let kubeconfig = dir.join("plugin.kubeconfig");
        self.write_kubeconfig(&kubeconfig, &token)?;
        Ok(NodeIdentity {
            name: name.to_owned(),
            kubeconfig,
            credential,
        })
    }

    /// A kubeconfig (JSON, which is YAML) for this API server with `token`;
    /// mode 0600.
    fn write_kubeconfig(&self, path: &Path, token: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let config = serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "scale", "cluster": {
                "server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "plugin", "user": {"token": token}}],
            "contexts": [{"name": "scale", "context": {"cluster": "scale", "user": "plugin"}}],
            "current-context": "scale",
        });
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(config.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Creates a pod as Volcano leaves it once bound: on `node`, one chip of
    /// huawei.com/Ascend910 named in the chip annotation, a predicate time.
    pub async fn volcano_pod(&self, name: &str, node: &str, chip: u32) -> anyhow::Result<()> {
        let predicate = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "annotations": {
                ASCEND910: format!("Ascend910-{chip}"),
                "predicate-time": predicate.to_string(),
            }},
            "spec": {
                "nodeName": node, "schedulerName": "volcano",
                "automountServiceAccountToken": false,
                "containers": [{"name": "main", "image": "train:1", "resources": {
                    "limits": {ASCEND910: "1"}, "requests": {ASCEND910: "1"}}}],
            },
        }))?;
        Api::<Pod>::namespaced(self.client.clone(), JOBS)
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("cannot create pod {JOBS}/{name}"))?;
        Ok(())
    }

    /// Deletes a pod at once (no kubelet runs to confirm a graceful delete).
    pub async fn delete_pod(&self, name: &str) -> anyhow::Result<()> {
        Api::<Pod>::namespaced(self.client.clone(), JOBS)
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .with_context(|| format!("cannot delete pod {JOBS}/{name}"))?;
        Ok(())
    }
}

/// Creates `object`; one that exists already is kept.
async fn create<K>(api: &Api<K>, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot create {} {}",
                K::kind(&Default::default()),
                object.meta().name.as_deref().unwrap_or_default()
            )
        }),
    }
}
