//! A private control plane for the idle-api section: the end-to-end
//! suite's harness (etcd and kube-apiserver built from k8s.io/kubernetes,
//! RBAC on) with the shipped role applied and the plugin's Node created,
//! and its audit log read back to count the plugin's requests.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

use crate::reaper::Reaper;

/// The Node the harness creates and the plugin runs as.
pub const NODE: &str = "bench-node";
/// The plugin's ServiceAccount as the audit log names it.
const USER: &str = "system:serviceaccount:kube-system:ascend-device-plugin";
/// A cold start of etcd and kube-apiserver on 2 busy cores.
const START_LIMIT: Duration = Duration::from_secs(180);

/// A running control plane; killed when dropped.
#[derive(Debug)]
pub struct ApiServer {
    child: Child,
    _reaper: Option<Reaper>,
    /// A kubeconfig holding a token of the plugin's ServiceAccount.
    pub sa_kubeconfig: PathBuf,
    /// A kubeconfig of `system:masters`.
    pub admin_kubeconfig: PathBuf,
    /// The API server's URL and the CA file that verifies it.
    pub url: String,
    pub ca_file: PathBuf,
    /// The plugin's ServiceAccount, `namespace/name`.
    pub service_account: String,
    audit_log: PathBuf,
}

impl ApiServer {
    /// Starts `bin` in `<work>/api` with `rbac` and waits until it is ready.
    pub async fn start(work: &Path, bin: &Path, rbac: &Path) -> anyhow::Result<ApiServer> {
        let dir = work.join("api");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let output = std::fs::File::create(dir.join("apiserver.out"))
            .context("cannot create apiserver.out")?;
        let errors = output.try_clone().context("cannot reopen apiserver.out")?;
        let child = Command::new(bin)
            .arg("-dir")
            .arg(&dir)
            .arg("-rbac")
            .arg(rbac)
            .arg("-node")
            .arg(NODE)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let reaper = child.id().map(Reaper::watch).transpose()?;
        let ready = dir.join("ready.json");
        let started = Instant::now();
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text;
            }
            if started.elapsed() > START_LIMIT {
                bail!(
                    "the control plane was not ready within {START_LIMIT:?}; see {}",
                    dir.join("apiserver.out").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let ready: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", ready.display()))?;
        let path = |key: &str| -> anyhow::Result<PathBuf> {
            ready[key]
                .as_str()
                .map(PathBuf::from)
                .with_context(|| format!("ready.json has no {key}"))
        };
        let text = |key: &str| -> anyhow::Result<String> {
            ready[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("ready.json has no {key}"))
        };
        Ok(ApiServer {
            sa_kubeconfig: path("sa_kubeconfig")?,
            admin_kubeconfig: path("admin_kubeconfig")?,
            url: text("url")?,
            ca_file: path("ca_file")?,
            service_account: text("service_account")?,
            audit_log: path("audit_log")?,
            child,
            _reaper: reaper,
        })
    }

    /// The plugin's requests so far (one per audit ID).
    pub fn requests(&self) -> anyhow::Result<u64> {
        Ok(count_requests(&self.audit_text()?, USER))
    }

    /// The audit log so far.
    pub fn audit_text(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.audit_log)
            .with_context(|| format!("cannot read {}", self.audit_log.display()))
    }

    /// The process running etcd and kube-apiserver.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the control plane has exited")
    }
}

/// Requests by `user` in an audit log of JSON lines, one per audit ID
/// (a request logs one line per stage).
fn count_requests(log: &str, user: &str) -> u64 {
    let mut seen = HashSet::new();
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["user"]["username"] == user
            && let Some(id) = event["auditID"].as_str()
        {
            seen.insert(id.to_owned());
        }
    }
    seen.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_counts_once_whatever_its_stages() {
        let log = [
            r#"{"auditID":"a","stage":"RequestReceived","user":{"username":"system:serviceaccount:kube-system:ascend-device-plugin"}}"#,
            r#"{"auditID":"a","stage":"ResponseComplete","user":{"username":"system:serviceaccount:kube-system:ascend-device-plugin"}}"#,
            r#"{"auditID":"b","stage":"ResponseStarted","user":{"username":"system:serviceaccount:kube-system:ascend-device-plugin"}}"#,
            r#"{"auditID":"c","stage":"RequestReceived","user":{"username":"admin"}}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(count_requests(&log, USER), 2);
    }
}
