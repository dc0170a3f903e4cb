//! The start-up stages every mode runs, in order: the API client, the
//! telemetry endpoint, the node core (inventory, names, fault tables, health
//! monitor), hot reset, and the cluster side. A mode (`plugin.rs`) adds its
//! face on top.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cluster::{ClusterStart, start_cluster};
use super::{
    discover_node, health_policy, load_customization, load_fault_table, naming_options, whole_cards,
};
use crate::config::{Config, KubeSettings};
use crate::dcmi::{Dcmi, FaultEvent};
use crate::device::customization::Customization;
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::modes::custom_names::KubeletNames;
use crate::device::monitor::{HealthMonitor, MonitorCommand};
use crate::device::naming::{Naming, name_devices};
use crate::device::reset::{HotResetter, ManualResetDev, ResetRecord, ResetSettings};
use crate::k8s::VolcanoBinding;
use crate::k8s::faultconfig::FaultTables;
use crate::telemetry::http::{HealthState, Heartbeat, PluginStatus};
use crate::telemetry::metrics::Metrics;

/// Warns once about each flag that is set but does nothing.
pub(super) fn warn_inert_flags(config: &Config) {
    for flag in &config.inert {
        tracing::warn!(flag = %flag, "flag accepted for compatibility; it does nothing (upstream neither)");
    }
    for note in &config.modes.notes {
        tracing::warn!(%note, "flag has no effect");
    }
}

/// The API client and this node's name; `None` when no API is configured.
/// Settled before touching the node: a missing NODE_NAME or an unusable
/// kubeconfig stops the start with a clear error.
pub(super) async fn connect_api(config: &Config) -> anyhow::Result<Option<(kube::Client, String)>> {
    let client = match &config.kube {
        KubeSettings { enabled: false, .. } => {
            tracing::warn!(
                "no Kubernetes API (not in a pod and no --kubeconfig): the device-info ConfigMap, node labels and events are off"
            );
            None
        }
        KubeSettings {
            node_name: None, ..
        } => bail!(
            "environment variable NODE_NAME must be set when the Kubernetes API is used (in a pod or with --kubeconfig); set it from spec.nodeName"
        ),
        KubeSettings {
            node_name: Some(node),
            ..
        } => {
            let client = crate::k8s::connect(config).await?;
            if let Some(kubelet) = config.pods.from_kubelet.clone().filter(|_| config.volcano) {
                // A missing CA or token file stops the start here, named.
                crate::k8s::pods::kubelet::KubeletPods::new(kubelet, node.clone())
                    .context("-getPodFromKubelet")?;
            }
            Some((client, node.clone()))
        }
    };
    Ok(client)
}

/// Until the face's loops beat, the start-up sequence is the loop.
pub(super) fn beat_during_startup(heartbeat: &Heartbeat) -> JoinHandle<()> {
    let heartbeat = heartbeat.clone();
    tokio::spawn(async move {
        loop {
            heartbeat.beat();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Serves `/healthz`, `/readyz` and `/metrics` when `-healthz-address` is set.
pub(super) async fn serve_telemetry(
    config: &Config,
    heartbeat: &Heartbeat,
    status_rx: watch::Receiver<PluginStatus>,
    metrics: &Metrics,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(address) = config.healthz else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("-healthz-address {address}: cannot listen"))?;
    let state = HealthState {
        heartbeat: heartbeat.clone(),
        tick: Duration::from_secs(1),
        status: status_rx,
        dcmi_ready: true,
    };
    tracing::info!(%address, "serving /healthz, /readyz and /metrics");
    let tls = match &config.healthz_tls {
        Some((cert, key)) => Some(
            crate::telemetry::http::tls_acceptor(cert, key)
                .context("-tls-cert-file/-tls-private-key-file")?,
        ),
        None => None,
    };
    let options = crate::telemetry::http::ServeOptions {
        tls,
        ..Default::default()
    };
    tokio::spawn(crate::telemetry::http::serve_with(
        listener,
        state,
        metrics.clone(),
        stop.clone(),
        options,
    ));
    Ok(())
}

/// The node core once started: what every face and the cluster side read.
pub(super) struct NodeCore {
    pub inventory: Arc<Inventory>,
    pub naming: Naming,
    pub tables: Arc<FaultTables>,
    pub rules: Arc<Customization>,
    pub monitor: HealthMonitor,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub events: Option<mpsc::Receiver<FaultEvent>>,
    pub commands: mpsc::Sender<MonitorCommand>,
    pub command_rx: mpsc::Receiver<MonitorCommand>,
}

/// Discovers the node, names its devices, loads the fault tables and takes
/// the first health reading (the monitor is not running yet).
pub(super) async fn start_core(config: &Config, dcmi: &Dcmi) -> anyhow::Result<NodeCore> {
    let inventory = discover_node(config, dcmi).await?;
    crate::device::modes::single_die::apply(
        dcmi,
        &inventory,
        config.modes.single_die,
        config.dcmi_timeout,
    )
    .await;
    let naming = name_devices(&inventory, naming_options(config))?;
    let naming = crate::device::modes::apply_naming(naming, &inventory, &config.modes)?;
    for skipped in &naming.skipped {
        tracing::warn!(%skipped, "vNPU not advertised");
    }
    if naming.resources.is_empty() {
        bail!("no devices to advertise on this node");
    }
    let base_table = Arc::new(load_fault_table(config)?);
    let rules = Arc::new(load_customization(config)?);
    let mut policy = health_policy(config, (*base_table).clone());
    policy.customization = Arc::clone(&rules);
    policy.whole_cards = whole_cards(config, &inventory);
    let tables = Arc::new(FaultTables::new(base_table));
    let (mut monitor, snapshots) =
        HealthMonitor::new(dcmi.clone(), &inventory, policy, config.list_watch_period);
    monitor.poll_once().await;
    let events = monitor.subscribe();
    let (commands, command_rx) = mpsc::channel(16);
    Ok(NodeCore {
        inventory: Arc::new(inventory),
        naming,
        tables,
        rules,
        monitor,
        snapshots,
        events,
        commands,
        command_rx,
    })
}

/// Hot reset as `-hotReset` asks: the task (if on), the chips it leaves to
/// an operator, and its records for the event reporter.
pub(super) struct Reset {
    pub resetter: Option<HotResetter>,
    pub manual: watch::Receiver<Arc<Vec<ManualResetDev>>>,
    pub records: mpsc::Receiver<ResetRecord>,
}

pub(super) async fn start_reset(
    config: &Config,
    dcmi: &Dcmi,
    core: &NodeCore,
    metrics: &Metrics,
) -> Reset {
    let (reset_records, records) = mpsc::channel(16);
    let (resetter, manual) = if config.hot_reset.is_on() {
        let settings = ResetSettings {
            idle_delay: config.reset_idle_delay,
            boot_timeout: config.reset_boot_timeout,
            hooks_file: config.paths.hot_reset_plugin_config.clone(),
            period: config.list_watch_period,
        };
        let (resetter, manual) = HotResetter::new(
            dcmi.clone(),
            &core.inventory,
            core.snapshots.clone(),
            core.commands.clone(),
            Arc::new(metrics.clone()),
            settings,
        )
        .await;
        tracing::info!("hot reset on: a faulted chip is reset once its ring is free");
        (Some(resetter.with_records(reset_records)), manual)
    } else {
        (None, crate::changes::constant(Arc::default()))
    };
    Reset {
        resetter,
        manual,
        records,
    }
}

/// Serves a face until it ends, or until the health monitor ends (a signal
/// stopped both, or a bug that would freeze health: then the start fails so
/// the DaemonSet restarts the plugin), then stops everything else and gives
/// the monitor a moment to finish. The face removes its own sockets.
pub(super) async fn serve_until_stopped<E>(
    serving: impl std::future::Future<Output = Result<(), E>>,
    mut monitor_task: JoinHandle<()>,
    stop: &CancellationToken,
) -> anyhow::Result<()>
where
    anyhow::Error: From<E>,
{
    tokio::pin!(serving);
    let outcome = tokio::select! {
        biased;
        outcome = &mut serving => outcome.map_err(anyhow::Error::from),
        ended = &mut monitor_task => {
            if stop.is_cancelled() {
                // A signal stopped both; the face still removes its sockets.
                serving.await.map_err(anyhow::Error::from)
            } else {
                Err(anyhow::anyhow!("the health monitor stopped unexpectedly: {ended:?}"))
            }
        }
    };
    stop.cancel();
    if !monitor_task.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(2), monitor_task).await;
    }
    outcome
}

/// What the cluster side takes from hot reset and from the face.
pub(super) struct ClusterFeeds {
    pub reset_manual: watch::Receiver<Arc<Vec<ManualResetDev>>>,
    pub reset_records: mpsc::Receiver<ResetRecord>,
    /// Renamed resources (`deviceNameCustomization.json`), for reading
    /// kubelet's pod-resources back.
    pub names: Option<Arc<KubeletNames>>,
}

/// The cluster side, when the API is configured, after the
/// `--api-start-jitter` delay. In Volcano mode returns what the services use.
pub(super) async fn start_cluster_side(
    config: &Config,
    client: Option<&(kube::Client, String)>,
    core: &NodeCore,
    feeds: ClusterFeeds,
    dcmi: &Dcmi,
    metrics: &Metrics,
    stop: &CancellationToken,
) -> Option<Arc<VolcanoBinding>> {
    let (client, node) = client?;
    let ClusterFeeds {
        reset_manual,
        reset_records,
        names,
    } = feeds;
    let delay = crate::k8s::start_delay(config.api_start_jitter, crate::k8s::random_draw());
    if !delay.is_zero() {
        tracing::info!(
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "waiting before the first Kubernetes API request (--api-start-jitter)"
        );
        tokio::time::sleep(delay).await;
    }
    let cluster = ClusterStart {
        config,
        client: client.clone(),
        node: node.clone(),
        inventory: Arc::clone(&core.inventory),
        resources: core.naming.resources.clone(),
        snapshots: core.snapshots.clone(),
        commands: core.commands.clone(),
        tables: Arc::clone(&core.tables),
        rules: Arc::clone(&core.rules),
        reset_manual,
        reset_records,
        names,
        dcmi: dcmi.clone(),
        metrics: metrics.clone(),
        stop: stop.clone(),
    };
    start_cluster(cluster).await
}
