//! The device-plugin mode: the node core, the cluster side, and face 1 (one
//! kubelet device-plugin service per resource) until SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::signals::{Signals, handle_signals};
use super::stages::{
    ClusterFeeds, NodeCore, beat_during_startup, connect_api, serve_telemetry, serve_until_stopped,
    start_cluster_side, start_core, start_reset, warn_inert_flags,
};
use super::{board_for, observe_snapshots, open_dcmi, read_a5_node};
use crate::config::Config;
use crate::dcmi::{Dcmi, OwnerPolicy};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::monitor::MonitorCommand;
use crate::device::naming::Resource;
use crate::k8s::VolcanoBinding;
use crate::k8s::faultconfig::FaultTables;
use crate::plugin::allocate::{Style, present_nodes};
use crate::plugin::devices::ChipFacts;
use crate::plugin::lifecycle::Supervisor;
use crate::plugin::service::ServiceContext;
use crate::telemetry::http::{Heartbeat, PluginStatus};
use crate::telemetry::metrics::Metrics;

/// The daemon: serve kubelet until SIGTERM/SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    warn_inert_flags(&config);
    let client = connect_api(&config).await?;
    let metrics = Metrics::new();
    let heartbeat = Heartbeat::new();
    let startup_beats = beat_during_startup(&heartbeat);
    let dcmi = open_dcmi(&config)
        .await?
        .observed_by(Arc::new(metrics.clone()));
    let (status, status_rx) = watch::channel(PluginStatus::default());
    let stop = CancellationToken::new();
    serve_telemetry(&config, &heartbeat, status_rx, &metrics, &stop).await?;
    let core = start_core(&config, &dcmi).await?;
    let soft_share = crate::plugin::softshare::open(&config, &dcmi, &core.inventory).await?;
    let public_names = crate::device::modes::load_public_names(&config.modes, config.volcano)?;
    let reset = start_reset(&config, &dcmi, &core, &metrics).await;
    let kubelet_names = public_names.as_ref().map(|names| {
        Arc::new(crate::device::modes::custom_names::KubeletNames::new(
            names,
            &core.naming.resources,
        ))
    });
    let volcano = start_cluster_side(
        &config,
        client.as_ref(),
        &core,
        ClusterFeeds {
            reset_manual: reset.manual,
            reset_records: reset.records,
            names: kubelet_names,
        },
        &dcmi,
        &metrics,
        &stop,
    )
    .await;
    let NodeCore {
        inventory,
        naming,
        tables,
        monitor,
        snapshots,
        events,
        commands,
        command_rx,
        ..
    } = core;
    tokio::spawn(observe_snapshots(
        snapshots.clone(),
        naming.resources.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    let monitor_task = tokio::spawn(monitor.run(events, command_rx, stop.clone()));
    if let Some(resetter) = reset.resetter {
        tokio::spawn(resetter.run(stop.clone()));
    }
    let a5_node = read_a5_node(&dcmi, &inventory).await;
    let extra_envs = match &client {
        Some((client, _)) if config.pods.slow_node => {
            crate::k8s::slow_node::watch_envs(client.clone(), stop.clone())
        }
        _ => crate::changes::constant(Arc::default()),
    };
    let face = Face {
        resources: naming.resources,
        volcano,
        a5_node,
        extra_envs,
        soft_share,
        public_names,
        snapshots,
        metrics,
        status,
        heartbeat,
    };
    let supervisor = build_supervisor(&config, &inventory, face);
    startup_beats.abort();
    serve(
        config,
        supervisor,
        monitor_task,
        commands,
        tables,
        stop,
        dcmi,
    )
    .await
}

/// What the device-plugin face is built from.
struct Face {
    resources: Vec<Resource>,
    volcano: Option<Arc<VolcanoBinding>>,
    /// Ascend 950 node facts (HCCL topology file), default elsewhere.
    a5_node: crate::device::a5::A5Node,
    /// Envs every container's answer gets (`-enableSlowNode`).
    extra_envs: watch::Receiver<Arc<BTreeMap<String, String>>>,
    soft_share: Option<Arc<crate::plugin::softshare::SoftShareFiles>>,
    public_names: Option<crate::device::modes::custom_names::PublicNames>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    metrics: Metrics,
    status: watch::Sender<PluginStatus>,
    heartbeat: Heartbeat,
}

/// One service context per advertised resource, under one supervisor.
fn build_supervisor(config: &Config, inventory: &Inventory, face: Face) -> Supervisor {
    let Face {
        resources,
        volcano,
        a5_node,
        extra_envs,
        soft_share,
        public_names,
        snapshots,
        metrics,
        status,
        heartbeat,
    } = face;
    let board = board_for(config, inventory);
    let facts = ChipFacts {
        numa: inventory
            .chips
            .iter()
            .filter_map(|c| c.numa_node.map(|n| (c.phy_id, n)))
            .collect::<BTreeMap<_, _>>(),
    };
    let mut present_nodes = present_nodes(&config.paths.dev_root);
    if config.modes.edge {
        present_nodes.extend(crate::device::modes::edge::present_edge_nodes(
            &config.paths.dev_root,
        ));
    }
    let style = Style {
        ascend_docker: config.use_ascend_docker,
        present_nodes,
        cdi: config.cdi_devices,
        a5: crate::device::a5::style(inventory, &a5_node),
    };
    let contexts: Vec<Arc<ServiceContext>> = resources
        .into_iter()
        .map(|resource| {
            let volcano = volcano
                .clone()
                .filter(|_| crate::cluster::volcano::needs_volcano(&resource));
            let public = public_names
                .as_ref()
                .and_then(|names| names.for_resource(&resource));
            tracing::info!(
                resource = %public.as_ref().map_or_else(|| resource.resource_name(), |p| p.resource_name.clone()),
                devices = resource.devices.len(),
                "advertising"
            );
            Arc::new(ServiceContext {
                resource,
                board,
                facts: facts.clone(),
                style: style.clone(),
                snapshots: snapshots.clone(),
                epoch: Default::default(),
                metrics: metrics.clone(),
                volcano,
                extra_envs: extra_envs.clone(),
                soft_share: soft_share.clone(),
                public,
            })
        })
        .collect();
    Supervisor {
        dir: config.paths.device_plugin_dir(),
        contexts,
        policy: OwnerPolicy::current(),
        status,
        heartbeat,
    }
}

/// Serves kubelet until a signal or the monitor ends, then stops everything
/// and removes the sockets.
async fn serve(
    config: Config,
    supervisor: Supervisor,
    monitor_task: JoinHandle<()>,
    commands: mpsc::Sender<MonitorCommand>,
    tables: Arc<FaultTables>,
    stop: CancellationToken,
    dcmi: Dcmi,
) -> anyhow::Result<()> {
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let signals = tokio::spawn(handle_signals(
        Signals::register()?,
        config.clone(),
        stop.clone(),
        reload_tx,
        commands,
        tables,
    ));
    let serving = supervisor.run(stop.clone(), reload_rx);
    let outcome = serve_until_stopped(serving, monitor_task, &stop).await;
    signals.abort();
    drop(dcmi);
    tracing::info!("stopped; sockets removed");
    outcome
}
