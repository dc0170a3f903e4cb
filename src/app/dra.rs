//! The DRA mode (`ascend-device-plugin dra`): the node core, the fault-code
//! and device-info ConfigMaps (manual separation), and face 2 (ResourceSlices, the DRA and registration
//! sockets, prepare into CDI) until SIGTERM/SIGINT.

use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::signals::{Signals, handle_signals};
use super::stages::{
    NodeCore, beat_during_startup, connect_api, serve_telemetry, serve_until_stopped, start_core,
    warn_inert_flags,
};
use super::{board_for, open_dcmi};
use crate::config::{Config, DraFlags};
use crate::dcmi::OwnerPolicy;
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::device::monitor::MonitorCommand;
use crate::device::naming::Resource;
use crate::dra::cdi::CdiSettings;
use crate::dra::prepare::{ApiClaims, Preparer};
use crate::dra::server::SocketPaths;
use crate::dra::service::{DraContext, RegistrationService};
use crate::dra::slices::SlicePublisher;
use crate::dra::vnpu::DcmiVnpus;
use crate::k8s::deviceinfo::{DeviceInfoWriter, config_map_name};
use crate::k8s::object::watch_named;
use crate::telemetry::http::{Heartbeat, PluginStatus};
use crate::telemetry::metrics::Metrics;
use k8s_openapi::api::core::v1::ConfigMap;

/// The kernel's boot id, trimmed.
fn boot_id(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--boot-id-file {}: cannot read", path.display()))?;
    let id = text.trim().to_string();
    if id.is_empty() {
        bail!("--boot-id-file {}: empty", path.display());
    }
    Ok(id)
}

/// The device-info ConfigMap, as in device-plugin mode: its
/// `ManuallySeparateNPU` key is how an operator isolates a chip (and the
/// chips the rules isolated are written back to it). No chip is counted as
/// in use by a device-plugin pod: kubelet's DRA claims are not device
/// plugin allocations.
#[allow(clippy::too_many_arguments)]
fn start_device_info(
    client: &kube::Client,
    node: &str,
    inventory: &Arc<Inventory>,
    resources: Vec<Resource>,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    commands: &mpsc::Sender<MonitorCommand>,
    metrics: &Metrics,
    stop: &CancellationToken,
) {
    let name = config_map_name(node);
    let observed = watch_named(
        kube::Api::<ConfigMap>::namespaced(client.clone(), crate::k8s::deviceinfo::NAMESPACE),
        &name,
        format!("ConfigMap kube-system/{name}"),
        stop.clone(),
    );
    let writer = DeviceInfoWriter {
        client: client.clone(),
        node: node.to_string(),
        inventory: Arc::clone(inventory),
        resources,
        observed,
        snapshots: snapshots.clone(),
        usage: crate::changes::constant(Arc::default()),
        assignments: crate::changes::constant(Arc::default()),
        commands: commands.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(writer.run(stop.clone()));
}

/// The DRA driver: serve kubelet's DRA API until SIGTERM/SIGINT.
pub async fn run_dra(config: Config, flags: DraFlags) -> anyhow::Result<()> {
    warn_inert_flags(&config);
    let Some((client, node)) = connect_api(&config).await? else {
        bail!(
            "DRA mode needs the Kubernetes API (run in a pod or pass --kubeconfig): claims are read from it and ResourceSlices written to it"
        );
    };
    let boot = boot_id(&flags.boot_id_file)?;
    let metrics = Metrics::new();
    let heartbeat = Heartbeat::new();
    let beats = beat_during_startup(&heartbeat);
    let dcmi = open_dcmi(&config)
        .await?
        .observed_by(Arc::new(metrics.clone()));
    let (status, status_rx) = watch::channel(PluginStatus::default());
    let stop = CancellationToken::new();
    serve_telemetry(&config, &heartbeat, status_rx, &metrics, &stop).await?;
    let NodeCore {
        inventory,
        naming,
        tables,
        rules,
        monitor,
        snapshots,
        events,
        commands,
        command_rx,
        ..
    } = start_core(&config, &dcmi).await?;
    tokio::spawn(crate::k8s::faultconfig::run(
        client.clone(),
        Arc::clone(&tables),
        rules,
        commands.clone(),
        stop.clone(),
    ));
    start_device_info(
        &client,
        &node,
        &inventory,
        naming.resources,
        &snapshots,
        &commands,
        &metrics,
        &stop,
    );
    let monitor_task = tokio::spawn(monitor.run(events, command_rx, stop.clone()));
    let board = board_for(&config, &inventory);
    let cdi = CdiSettings {
        dir: flags.cdi_dir.clone(),
        dev_root: config.paths.dev_root.clone(),
        ascend_docker: config.use_ascend_docker,
    };
    let preparer = Preparer::open(
        node.clone(),
        Arc::clone(&inventory),
        cdi,
        config.paths.state_dir.join("dra"),
        &boot,
        Arc::new(ApiClaims(client.clone())),
    )
    .map_err(anyhow::Error::msg)?
    .with_vnpus(
        Arc::new(DcmiVnpus {
            dcmi: dcmi.clone(),
            inventory: Arc::clone(&inventory),
            timeout: config.dcmi_timeout,
        }),
        flags.vnpu_partitions,
    );
    preparer
        .sweep_vnpus()
        .await
        .map_err(|e| anyhow::anyhow!("cannot destroy vNPUs no prepared claim holds: {e}"))?;
    let publisher = SlicePublisher {
        client,
        node: node.clone(),
        inventory: Arc::clone(&inventory),
        board,
        partitions: flags.vnpu_partitions,
        snapshots: snapshots.clone(),
    };
    tokio::spawn(publisher.run(stop.clone()));
    let paths = SocketPaths::new(&flags.plugins_dir, &flags.registry_dir);
    let context = DraContext {
        preparer: Arc::new(preparer),
        inventory,
        pool: node,
        snapshots,
        partitions: flags.vnpu_partitions,
        serving: stop.clone(),
    };
    let registration = RegistrationService {
        endpoint: paths.dra_socket().display().to_string(),
        status,
    };
    let (reload_tx, _reload_rx) = mpsc::channel(1);
    let signals = tokio::spawn(handle_signals(
        Signals::register()?,
        config.clone(),
        stop.clone(),
        reload_tx,
        commands,
        tables,
    ));
    let serving = crate::dra::server::run(
        paths,
        context,
        registration,
        OwnerPolicy::current(),
        stop.clone(),
    );
    let outcome = serve_until_stopped(serving, monitor_task, &stop).await;
    signals.abort();
    beats.abort();
    drop(dcmi);
    tracing::info!("stopped; DRA sockets removed");
    outcome
}
