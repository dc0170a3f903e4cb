//! What kubelet says is allocated: the pod-resources API (`List` on
//! `<kubelet-dir>/pod-resources/kubelet.sock`), polled every listWatchPeriod
//! and on demand. It tells which of our device IDs are in use and by which
//! pod, for the free-chip list, the kubelet-ID map and the write-back repair.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::grpc::unix::unix_channel;
use crate::proto::podresources as pr;
use crate::proto::podresources::pod_resources_lister_client::PodResourcesListerClient;

/// Our resource names start with this.
const PREFIX: &str = "huawei.com/";

/// One pod's devices of one of our resources, across its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDevices {
    pub namespace: String,
    pub name: String,
    /// `Ascend910`, `npu-core`, ... (resource name without `huawei.com/`).
    pub resource_type: String,
    /// In kubelet's order, containers concatenated.
    pub ids: Vec<String>,
}

impl PodDevices {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The latest listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// At least one `List` succeeded; before that nothing is known.
    pub listed: bool,
    pub pods: Vec<PodDevices>,
}

impl Usage {
    /// Allocated IDs per resource type, each with its pod (`namespace/name`).
    pub fn allocated(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for pod in &self.pods {
            let ids = out.entry(pod.resource_type.clone()).or_default();
            for id in &pod.ids {
                ids.insert(id.clone(), pod.key());
            }
        }
        out
    }
}

/// Our devices in a `List` answer.
pub fn our_devices(response: &pr::ListPodResourcesResponse) -> Vec<PodDevices> {
    let mut out: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for pod in &response.pod_resources {
        for container in &pod.containers {
            for devices in &container.devices {
                let Some(resource_type) = devices.resource_name.strip_prefix(PREFIX) else {
                    continue;
                };
                out.entry((
                    pod.namespace.clone(),
                    pod.name.clone(),
                    resource_type.to_owned(),
                ))
                .or_default()
                .extend(devices.device_ids.iter().cloned());
            }
        }
    }
    out.into_iter()
        .map(|((namespace, name, resource_type), ids)| PodDevices {
            namespace,
            name,
            resource_type,
            ids,
        })
        .collect()
}

/// One `List` call.
pub async fn list(socket: &std::path::Path, timeout: Duration) -> Result<Vec<PodDevices>, String> {
    let channel = unix_channel(socket, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = PodResourcesListerClient::new(channel);
    let response = tokio::time::timeout(timeout, client.list(pr::ListPodResourcesRequest {}))
        .await
        .map_err(|_| {
            format!(
                "pod-resources List on {} gave no answer within {timeout:?}",
                socket.display()
            )
        })?
        .map_err(|status| {
            format!(
                "pod-resources List on {}: {}",
                socket.display(),
                status.message()
            )
        })?;
    Ok(our_devices(response.get_ref()))
}

/// Polls `List` every `period` (and whenever `poke` is notified), publishing
/// each successful answer. Failures keep the last answer; only the first of
/// a run of failures is logged.
#[derive(Debug, Clone)]
pub struct UsagePoller {
    pub socket: PathBuf,
    pub period: Duration,
    pub poke: Arc<Notify>,
}

impl UsagePoller {
    pub async fn run(self, tx: watch::Sender<Arc<Usage>>, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match list(&self.socket, Duration::from_secs(5)).await {
                Ok(pods) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(socket = %self.socket.display(), "pod-resources API answering again");
                    }
                    let usage = Usage { listed: true, pods };
                    tx.send_if_modified(|current| {
                        let changed = **current != usage;
                        if changed {
                            *current = Arc::new(usage);
                        }
                        changed
                    });
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot list allocated devices from kubelet; retrying every listWatchPeriod");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.period) => {}
                () = self.poke.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn devices(resource: &str, ids: &[&str]) -> pr::ContainerDevices {
        pr::ContainerDevices {
            resource_name: resource.into(),
            device_ids: ids.iter().map(|s| s.to_string()).collect(),
            topology: None,
        }
    }

    #[test]
    fn our_devices_merge_containers_and_skip_other_resources() {
        let response = pr::ListPodResourcesResponse {
            pod_resources: vec![pr::PodResources {
                name: "job-0".into(),
                namespace: "ml".into(),
                containers: vec![
                    pr::ContainerResources {
                        name: "a".into(),
                        devices: vec![
                            devices("huawei.com/Ascend910", &["Ascend910-2"]),
                            devices("nvidia.com/gpu", &["GPU-1"]),
                        ],
                        cpu_ids: vec![],
                    },
                    pr::ContainerResources {
                        name: "b".into(),
                        devices: vec![devices("huawei.com/Ascend910", &["Ascend910-0"])],
                        cpu_ids: vec![],
                    },
                ],
            }],
        };
        let usage = Usage {
            listed: true,
            pods: our_devices(&response),
        };
        assert_eq!(usage.pods.len(), 1);
        assert_eq!(usage.pods[0].key(), "ml/job-0");
        assert_eq!(usage.pods[0].ids, ["Ascend910-2", "Ascend910-0"]);
        let allocated = usage.allocated();
        assert_eq!(allocated.keys().collect::<Vec<_>>(), ["Ascend910"]);
        assert_eq!(allocated["Ascend910"]["Ascend910-0"], "ml/job-0");
        assert_eq!(allocated["Ascend910"].len(), 2);
    }
}
