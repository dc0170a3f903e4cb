//! Building the pieces from a [`Config`] and running them: the plugin
//! daemon and the `inspect` subcommand. `main.rs` only parses and calls in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dcmi::{Dcmi, OwnerPolicy};
use crate::device::discovery::{DiscoveryError, discover};
use crate::device::faults::FaultTable;
use crate::device::health::Policy;
use crate::device::model::{Family, Inventory};
use crate::device::monitor::{HealthMonitor, MonitorCommand};
use crate::device::naming::{NamingOptions, name_devices};
use crate::device::topology::Board;
use crate::plugin::allocate::{Style, present_nodes};
use crate::plugin::devices::ChipFacts;
use crate::plugin::lifecycle::{PluginStatus, Supervisor};
use crate::plugin::service::ServiceContext;
use crate::telemetry::http::{HealthState, Heartbeat};
use crate::telemetry::metrics::Metrics;

/// Largest fault-code file accepted (the real table is ~10 KB).
pub const MAX_FAULT_TABLE: usize = 1 << 20;

/// Opens the driver library and discovers the node.
pub async fn open_and_discover(config: &Config) -> anyhow::Result<(Dcmi, Inventory)> {
    let dcmi = open_dcmi(config).await?;
    let inventory = discover_node(config, &dcmi).await?;
    Ok((dcmi, inventory))
}

/// Finds, vets, opens and initialises the driver library.
pub async fn open_dcmi(config: &Config) -> anyhow::Result<Dcmi> {
    let explicit = config.paths.dcmi_lib.clone();
    let ld_path = std::env::var("LD_LIBRARY_PATH").ok();
    let dcmi = tokio::task::spawn_blocking(move || {
        Dcmi::open(
            explicit.as_deref(),
            ld_path.as_deref(),
            OwnerPolicy::current(),
        )
    })
    .await
    .context("DCMI loader task failed")??;
    tracing::info!(library = %dcmi.path().display(), "DCMI initialised");
    Ok(dcmi)
}

/// Discovers the node, retrying until every card answers or
/// `deviceResetTimeout` passes (cards may be resetting).
pub async fn discover_node(config: &Config, dcmi: &Dcmi) -> anyhow::Result<Inventory> {
    let deadline = Instant::now() + config.device_reset_timeout;
    loop {
        let sys_root = config.paths.sys_root.clone();
        let found = dcmi
            .call("discovery", config.dcmi_timeout, move |api| {
                discover(api, &sys_root)
            })
            .await;
        match found {
            Ok(inventory) => return Ok(inventory),
            Err(error) if Instant::now() < deadline && is_transient(&error) => {
                tracing::warn!(%error, "discovery incomplete; retrying until -deviceResetTimeout");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => bail!("device discovery failed: {error}"),
        }
    }
}

/// A card that is still resetting answers "not ready"; worth waiting for.
fn is_transient(error: &DiscoveryError) -> bool {
    match error {
        DiscoveryError::Dcmi(e) | DiscoveryError::Chip { source: e, .. } => e.is_card_dropped(),
        _ => false,
    }
}

/// The fault table in force at start: `--fault-code-file`, else built in.
pub fn load_fault_table(config: &Config) -> anyhow::Result<FaultTable> {
    let Some(path) = &config.paths.fault_code_file else {
        return Ok(FaultTable::builtin());
    };
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read -fault-code-file {}", path.display()))?;
    let (table, warnings) = FaultTable::parse(&bytes, MAX_FAULT_TABLE)
        .with_context(|| format!("invalid -fault-code-file {}", path.display()))?;
    for warning in warnings {
        tracing::warn!(file = %path.display(), %warning, "fault-code file");
    }
    Ok(table)
}

/// The board preferred allocation plans for.
pub fn board_for(config: &Config, inventory: &Inventory) -> Board {
    if let Some(label) = &config.accelerator_type {
        match Board::from_accelerator_type(label) {
            Some(board) => return board,
            None => tracing::warn!(
                label,
                "unknown --accelerator-type; inferring the board from DCMI"
            ),
        }
    }
    let family = match inventory.family() {
        Some(Family::Ascend910) => "910",
        Some(Family::Ascend910B) => "910B",
        Some(Family::Ascend910A3) => "910A3",
        _ => "other",
    };
    Board::infer(family, inventory.chips.len())
}

fn naming_options(config: &Config) -> NamingOptions {
    NamingOptions {
        share_dev_count: config.share_dev_count,
        mixed_insert_310p: config.mixed_insert_310p,
        dynamic_vnpu: !config.preset_virtual_device,
    }
}

fn health_policy(config: &Config, table: FaultTable) -> Policy {
    Policy {
        table: Arc::new(table),
        auto_stowing: config.auto_stowing,
        linkdown_timeout: config.linkdown_timeout,
    }
}

/// `inspect`: discover, read health once, print.
pub async fn inspect(config: &Config, json: bool) -> anyhow::Result<()> {
    let (dcmi, inventory) = open_and_discover(config).await?;
    let naming = name_devices(&inventory, naming_options(config))?;
    let policy = health_policy(config, load_fault_table(config)?);
    let (mut monitor, _) = HealthMonitor::new(dcmi, &inventory, policy, config.list_watch_period);
    let snapshot = monitor.poll_once().await;
    let text = if json {
        crate::inspect::render_json(&inventory, &naming, &snapshot)?
    } else {
        crate::inspect::render_table(&inventory, &naming, &snapshot)
    };
    println!("{text}");
    Ok(())
}

/// The daemon: serve kubelet until SIGTERM/SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    for flag in &config.unimplemented {
        tracing::warn!(flag = %flag, "flag accepted for compatibility but not implemented; running as if it had its default");
    }
    let metrics = Metrics::new();
    let heartbeat = Heartbeat::new();
    // Until the supervisor's loops beat, the start-up sequence is the loop.
    let startup_beats = tokio::spawn({
        let heartbeat = heartbeat.clone();
        async move {
            loop {
                heartbeat.beat();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let dcmi = open_dcmi(&config)
        .await?
        .observed_by(Arc::new(metrics.clone()));
    let (status, status_rx) = watch::channel(PluginStatus::default());
    let stop = CancellationToken::new();
    if let Some(address) = config.healthz {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("-healthz-address {address}: cannot listen"))?;
        let state = HealthState {
            heartbeat: heartbeat.clone(),
            tick: Duration::from_secs(1),
            status: status_rx.clone(),
            dcmi_ready: true,
        };
        tracing::info!(%address, "serving /healthz, /readyz and /metrics");
        tokio::spawn(crate::telemetry::http::serve(
            listener,
            state,
            metrics.clone(),
            stop.clone(),
        ));
    }
    let inventory = discover_node(&config, &dcmi).await?;
    let naming = name_devices(&inventory, naming_options(&config))?;
    for skipped in &naming.skipped {
        tracing::warn!(%skipped, "vNPU not advertised");
    }
    if naming.resources.is_empty() {
        bail!("no devices to advertise on this node");
    }
    let policy = health_policy(&config, load_fault_table(&config)?);
    let (mut monitor, snapshots) =
        HealthMonitor::new(dcmi.clone(), &inventory, policy, config.list_watch_period);
    monitor.poll_once().await;
    let events = monitor.subscribe();
    let (commands, command_rx) = mpsc::channel(16);
    tokio::spawn(observe_snapshots(
        snapshots.clone(),
        naming.resources.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    let monitor_task = tokio::spawn(monitor.run(events, command_rx, stop.clone()));

    let board = board_for(&config, &inventory);
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
    let contexts: Vec<Arc<ServiceContext>> = naming
        .resources
        .into_iter()
        .map(|resource| {
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
            })
        })
        .collect();
    let supervisor = Supervisor {
        dir: config.paths.device_plugin_dir(),
        contexts,
        policy: OwnerPolicy::current(),
        status,
        heartbeat,
    };
    startup_beats.abort();
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let signals = tokio::spawn(handle_signals(
        Signals::register()?,
        config.clone(),
        stop.clone(),
        reload_tx,
        commands,
    ));
    let mut monitor_task = monitor_task;
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

/// Keeps the chip and device gauges in step with every published snapshot.
async fn observe_snapshots(
    mut snapshots: watch::Receiver<Arc<crate::device::health::Snapshot>>,
    resources: Vec<crate::device::naming::Resource>,
    metrics: Metrics,
    stop: CancellationToken,
) {
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        metrics.observe_snapshot(&snapshot, &resources);
        tokio::select! {
            () = stop.cancelled() => return,
            changed = snapshots.changed() => if changed.is_err() { return },
        }
    }
}

/// The signals the daemon reacts to, registered before serving so a failure
/// to register them stops the start instead of leaving SIGTERM unhandled.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }
}

/// SIGTERM/SIGINT stop; SIGHUP reloads the fault table and re-registers.
async fn handle_signals(
    mut signals: Signals,
    config: Config,
    stop: CancellationToken,
    reload: mpsc::Sender<()>,
    commands: mpsc::Sender<MonitorCommand>,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { tracing::info!("SIGTERM: stopping"); stop.cancel(); return; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: stopping"); stop.cancel(); return; }
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading the fault table and re-registering");
                match load_fault_table(&config) {
                    Ok(table) => { let _ = commands.send(MonitorCommand::SetTable(Arc::new(table))).await; }
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "reload failed; keeping the current table"),
                }
                let _ = reload.try_send(());
            }
        }
    }
}
