//! Starting the cluster side (`src/k8s/`): the watches, writers and, in
//! Volcano mode, the matcher the device-plugin face uses.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dcmi::Dcmi;
use crate::device::customization::Customization;
use crate::device::model::Inventory;
use crate::device::monitor::MonitorCommand;
use crate::device::reset::{ManualResetDev, ResetRecord};
use crate::k8s::assignments::AssignmentStore;
use crate::k8s::deviceinfo::{DeviceInfoWriter, config_map_name};
use crate::k8s::events::EventReporter;
use crate::k8s::faultconfig::FaultTables;
use crate::k8s::node::NodeAgent;
use crate::k8s::object::watch_named;
use crate::k8s::podresources::{Usage, UsagePoller};
use crate::k8s::pods::PodCache;
use crate::k8s::reconcile::Reconciler;
use crate::k8s::volcano::VolcanoMatcher;
use crate::k8s::writeback::Writer;
use crate::k8s::{DynamicVnpu, VolcanoBinding};
use crate::telemetry::metrics::Metrics;
use k8s_openapi::api::core::v1::{ConfigMap, Node};

/// What starting the cluster side needs.
pub(super) struct ClusterStart<'a> {
    pub(super) config: &'a Config,
    pub(super) client: kube::Client,
    pub(super) node: String,
    pub(super) inventory: Arc<Inventory>,
    pub(super) resources: Vec<crate::device::naming::Resource>,
    pub(super) snapshots: watch::Receiver<Arc<crate::device::health::Snapshot>>,
    pub(super) commands: mpsc::Sender<MonitorCommand>,
    pub(super) tables: Arc<FaultTables>,
    pub(super) rules: Arc<Customization>,
    pub(super) reset_manual: watch::Receiver<Arc<Vec<ManualResetDev>>>,
    pub(super) reset_records: mpsc::Receiver<ResetRecord>,
    pub(super) dcmi: Dcmi,
    pub(super) metrics: Metrics,
    pub(super) stop: CancellationToken,
}

/// Starts the API-side tasks; in Volcano mode returns what the services use.
pub(super) async fn start_cluster(start: ClusterStart<'_>) -> Option<Arc<VolcanoBinding>> {
    let ClusterStart {
        config,
        client,
        node,
        inventory,
        resources,
        snapshots,
        commands,
        tables,
        rules,
        reset_manual,
        reset_records,
        dcmi,
        metrics,
        stop,
    } = start;
    let poke = Arc::new(Notify::new());
    // The two objects the plugin reads back, each from one watch.
    let node_watch = watch_named(
        kube::Api::<Node>::all(client.clone()),
        &node,
        format!("node {node}"),
        stop.clone(),
    );
    let configmap = config_map_name(&node);
    let deviceinfo_watch = watch_named(
        kube::Api::<ConfigMap>::namespaced(client.clone(), crate::k8s::deviceinfo::NAMESPACE),
        &configmap,
        format!("ConfigMap kube-system/{configmap}"),
        stop.clone(),
    );
    let (usage_tx, usage) = watch::channel(Arc::new(Usage::default()));
    let poller = UsagePoller {
        socket: config.paths.pod_resources_socket(),
        period: config.list_watch_period,
        poke: Arc::clone(&poke),
    };
    tokio::spawn(poller.run(usage_tx, stop.clone()));
    let binding = if config.volcano {
        let (store, problem) = AssignmentStore::open(&config.paths.state_dir);
        if let Some(problem) = problem {
            tracing::warn!(%problem, "kubelet-ID map not restored from its file; rebuilding it from kubelet and the pods");
        }
        let cache = PodCache::new();
        tokio::spawn(crate::k8s::pods::run(
            cache.clone(),
            kube::Api::all(client.clone()),
            node.clone(),
            stop.clone(),
        ));
        let node_object = wait_synced(node_watch.clone(), Duration::from_secs(10)).await;
        let node_ip = crate::k8s::node::node_ip(config.kube.host_ip.as_deref(), node_object.as_deref())
            .unwrap_or_else(|| {
                tracing::warn!("node IP unknown (no HOST_IP, node not readable); the 910 configuration annotation carries an empty host_ip");
                String::new()
            });
        let writer = Writer::new(client.clone(), node_ip, &inventory, metrics.clone());
        let dynamic = (!config.preset_virtual_device).then(|| DynamicVnpu {
            dcmi: dcmi.clone(),
            inventory: Arc::clone(&inventory),
            timeout: config.dcmi_timeout,
            lock: Arc::default(),
        });
        let matcher = VolcanoMatcher::new(
            cache,
            kube::Api::all(client.clone()),
            node.clone(),
            config.pod_wait_timeout,
            metrics.clone(),
        );
        let binding = Arc::new(VolcanoBinding {
            matcher,
            store,
            writer: Arc::new(writer),
            poke: Arc::clone(&poke),
            dynamic,
        });
        let reconciler = Reconciler {
            binding: Arc::clone(&binding),
            resources: resources
                .iter()
                .filter(|r| crate::cluster::volcano::needs_volcano(r))
                .cloned()
                .collect(),
            usage: usage.clone(),
            period: config.list_watch_period,
        };
        tokio::spawn(reconciler.run(stop.clone()));
        Some(binding)
    } else {
        None
    };
    let assignments = match &binding {
        Some(binding) => binding.store.subscribe(),
        None => crate::changes::constant(Arc::default()),
    };
    let writer = DeviceInfoWriter {
        client: client.clone(),
        node: node.clone(),
        inventory: Arc::clone(&inventory),
        resources,
        observed: deviceinfo_watch,
        snapshots: snapshots.clone(),
        usage,
        assignments,
        commands: commands.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(writer.run(stop.clone()));
    tokio::spawn(crate::k8s::faultconfig::run(
        client.clone(),
        tables,
        rules,
        commands.clone(),
        stop.clone(),
    ));
    let labels = NodeAgent {
        client: client.clone(),
        node: node.clone(),
        inventory: Arc::clone(&inventory),
        auto_stowing: config.auto_stowing,
        observed: node_watch,
        snapshots: snapshots.clone(),
        reset_manual,
        commands,
        metrics: metrics.clone(),
    };
    tokio::spawn(labels.run(stop.clone()));
    tokio::spawn(crate::k8s::events::report_resets(
        client.clone(),
        node.clone(),
        reset_records,
        metrics.clone(),
        stop.clone(),
    ));
    let reporter = EventReporter {
        client,
        node,
        inventory,
        snapshots,
        metrics,
    };
    tokio::spawn(reporter.run(stop));
    binding
}

/// The watched object once the watch has listed it (`None`: it does not
/// exist, or the listing took longer than `limit`).
async fn wait_synced<K>(
    mut observed: watch::Receiver<crate::k8s::object::Observed<K>>,
    limit: Duration,
) -> Option<Arc<K>> {
    let listed = tokio::time::timeout(limit, async {
        while !observed.borrow_and_update().synced {
            crate::changes::changed(&mut observed).await;
        }
    });
    listed.await.ok()?;
    observed.borrow().object.clone()
}
