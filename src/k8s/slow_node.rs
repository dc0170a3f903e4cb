//! `-enableSlowNode`: ConfigMap `kube-system/steptime-dtpgroup`, watched by
//! name (one list and one watch per node, never a GET per container),
//! turned into the envs every Allocate adds (`cluster/slow_node.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cluster::slow_node::{CONFIG_MAP, NAMESPACE, perf_envs};

/// The envs to add, kept current from the watch.
pub type SlowNodeEnvs = watch::Receiver<Arc<BTreeMap<String, String>>>;

/// Starts the watch; the receiver holds the envs of the ConfigMap's latest
/// state (none while it is missing, unreadable or not yet listed).
pub fn watch_envs(client: kube::Client, stop: CancellationToken) -> SlowNodeEnvs {
    let mut observed = super::object::watch_named(
        kube::Api::<ConfigMap>::namespaced(client, NAMESPACE),
        CONFIG_MAP,
        format!("ConfigMap {NAMESPACE}/{CONFIG_MAP}"),
        stop.clone(),
    );
    let (sender, receiver) = watch::channel(Arc::new(BTreeMap::new()));
    tokio::spawn(async move {
        loop {
            let current = observed.borrow_and_update().clone();
            let data = current.object.as_ref().and_then(|cm| cm.data.as_ref());
            let envs = match perf_envs(data) {
                Ok(envs) => envs,
                Err(error) => {
                    tracing::warn!(%error, "slow-node envs not added until the ConfigMap is fixed");
                    BTreeMap::new()
                }
            };
            sender.send_if_modified(|now| {
                if **now == envs {
                    return false;
                }
                tracing::info!(
                    set = !envs.is_empty(),
                    "slow-node envs (-enableSlowNode) changed"
                );
                *now = Arc::new(envs);
                true
            });
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut observed) => {}
            }
        }
    });
    receiver
}
