//! The device-plugin mode: the node core, the cluster side, and face 1 (one
//! kubelet device-plugin service per resource) until SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::signals::{Signals, handle_signals};
use super::stages::{
    NodeCore, beat_during_startup, connect_api, serve_telemetry, start_cluster_side, start_core,
    start_reset, warn_unimplemented,
};
use super::{board_for, observe_snapshots, open_dcmi};
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
    warn_unimplemented(&config);
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
    let reset = start_reset(&config, &dcmi, &core, &metrics).await;
    let volcano = start_cluster_side(
        &config,
        client.as_ref(),
        &core,
        (reset.manual, reset.records),
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
    let face = Face {
        resources: naming.resources,
        volcano,
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
    let style = Style {
        ascend_docker: config.use_ascend_docker,
        present_nodes: present_nodes(&config.paths.dev_root),
        cdi: config.cdi_devices,
    };
    let contexts: Vec<Arc<ServiceContext>> = resources
        .into_iter()
        .map(|resource| {
            let volcano = volcano
                .clone()
                .filter(|_| crate::cluster::volcano::needs_volcano(&resource));
            tracing::info!(
                resource = %resource.resource_name(),
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
    mut monitor_task: JoinHandle<()>,
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
    tokio::pin!(serving);
    let outcome = tokio::select! {
        biased;
        outcome = &mut serving => outcome.map_err(anyhow::Error::from),
        ended = &mut monitor_task => {
            if stop.is_cancelled() {
                // A signal stopped both; the supervisor still removes the sockets.
                serving.await.map_err(anyhow::Error::from)
            } else {
                // The monitor only returns when told to stop; anything else is a
                // bug that would freeze health: exit so the DaemonSet restarts us.
                Err(anyhow::anyhow!("the health monitor stopped unexpectedly: {ended:?}"))
            }
        }
    };
    stop.cancel();
    signals.abort();
    if !monitor_task.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(2), monitor_task).await;
    }
    drop(dcmi);
    tracing::info!("stopped; sockets removed");
    outcome
}
