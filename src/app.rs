//! Building the pieces from a [`Config`] and running them: the plugin
//! daemon and the `inspect` subcommand. `main.rs` only parses and calls in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HotReset, KubeSettings};
use crate::dcmi::{Dcmi, OwnerPolicy};
use crate::device::customization::Customization;
use crate::device::discovery::{DiscoveryError, discover};
use crate::device::faults::FaultTable;
use crate::device::health::Policy;
use crate::device::model::{Family, Inventory};
use crate::device::monitor::{HealthMonitor, MonitorCommand};
use crate::device::naming::{NamingOptions, name_devices};
use crate::device::reset::{HotResetter, ManualResetDev, ResetRecord, ResetSettings};
use crate::device::topology::Board;
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
use crate::plugin::allocate::{Style, present_nodes};
use crate::plugin::devices::ChipFacts;
use crate::plugin::lifecycle::{PluginStatus, Supervisor};
use crate::plugin::service::ServiceContext;
use crate::telemetry::http::{HealthState, Heartbeat};
use crate::telemetry::metrics::Metrics;
use k8s_openapi::api::core::v1::{ConfigMap, Node};

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
    let api = if dcmi.blocking().is_v2() {
        "v2 (Ascend 950)"
    } else {
        "v1"
    };
    tracing::info!(library = %dcmi.path().display(), api, "DCMI initialised");
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

/// The FaultFrequency/FaultDuration rules in force at start:
/// `--fault-customization-file`, else built in.
pub fn load_customization(config: &Config) -> anyhow::Result<Customization> {
    let Some(path) = &config.paths.fault_customization_file else {
        return Ok(Customization::builtin());
    };
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read --fault-customization-file {}", path.display()))?;
    let (rules, warnings) = Customization::parse(&bytes, MAX_FAULT_TABLE)
        .with_context(|| format!("invalid --fault-customization-file {}", path.display()))?;
    for warning in warnings {
        tracing::warn!(file = %path.display(), %warning, "fault rules file");
    }
    Ok(rules)
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
        share_dev_count: crate::device::modes::default_share_count(
            &config.modes,
            config.share_dev_count,
        ),
        mixed_insert_310p: config.mixed_insert_310p,
        dynamic_vnpu: !config.preset_virtual_device,
    }
}

fn health_policy(config: &Config, table: FaultTable) -> Policy {
    Policy::new(Arc::new(table), config.auto_stowing)
}

/// With `-hotReset=0` on a node with an Atlas 300I Duo, the 310P chips of
/// each card (phy ids) are Unhealthy together (recovery spec §1.5).
fn whole_cards(config: &Config, inventory: &Inventory) -> Vec<Vec<u32>> {
    if config.hot_reset != HotReset::Infer || !inventory.chips.iter().any(|c| c.is_300i_duo()) {
        return Vec::new();
    }
    let mut cards: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for chip in &inventory.chips {
        if chip.family == Family::Ascend310P {
            cards.entry(chip.card_id).or_default().push(chip.phy_id);
        }
    }
    cards.into_values().filter(|c| c.len() > 1).collect()
}

/// The Ascend 950 node facts Allocate needs (main board, super-pod type);
/// default (no HCCL topology file, logged) when the driver cannot say.
async fn read_a5_node(dcmi: &Dcmi, inventory: &Inventory) -> crate::device::a5::A5Node {
    if inventory.family() != Some(Family::Ascend950) {
        return crate::device::a5::A5Node::default();
    }
    let chips = inventory.clone();
    let read = dcmi
        .call(
            "dcmiv2_get_mainboard_id",
            crate::dcmi::CALL_TIMEOUT,
            move |api| crate::device::a5::read_node(api, &chips),
        )
        .await;
    match read {
        Ok(node) => {
            let node = node.unwrap_or_default();
            if crate::device::a5::hccl_topo_file(&node).is_none() {
                tracing::error!(
                    super_pod_type = ?node.super_pod_type,
                    "unknown Ascend 950 node type; HCCL_TOPO_FILE_PATH is not set"
                );
            }
            node
        }
        Err(error) => {
            tracing::error!(%error, "cannot read the A5 main board and super-pod type; HCCL_TOPO_FILE_PATH is not set");
            crate::device::a5::A5Node::default()
        }
    }
}

/// `inspect`: discover, read health once, print.
pub async fn inspect(config: &Config, json: bool) -> anyhow::Result<()> {
    let (dcmi, inventory) = open_and_discover(config).await?;
    let naming = name_devices(&inventory, naming_options(config))?;
    let naming = crate::device::modes::apply_naming(naming, &inventory, &config.modes)?;
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
    for flag in &config.inert {
        tracing::warn!(flag = %flag, "flag accepted for compatibility; it does nothing (upstream neither)");
    }
    for note in &config.modes.notes {
        tracing::warn!(%note, "flag has no effect");
    }
    // Settle the API side before touching the node: a missing NODE_NAME or
    // an unusable kubeconfig stops the start with a clear error.
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
            let client = crate::k8s::connect(&config).await?;
            if let Some(kubelet) = config.pods.from_kubelet.clone().filter(|_| config.volcano) {
                // A missing CA or token file stops the start here, named.
                crate::k8s::pods::kubelet::KubeletPods::new(kubelet, node.clone())
                    .context("-getPodFromKubelet")?;
            }
            Some((client, node.clone()))
        }
    };
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
    }
    let inventory = discover_node(&config, &dcmi).await?;
    crate::device::modes::single_die::apply(
        &dcmi,
        &inventory,
        config.modes.single_die,
        config.dcmi_timeout,
    )
    .await;
    let naming = name_devices(&inventory, naming_options(&config))?;
    let naming = crate::device::modes::apply_naming(naming, &inventory, &config.modes)?;
    let soft_share = crate::plugin::softshare::open(&config, &dcmi, &inventory).await?;
    let public_names = crate::device::modes::load_public_names(&config.modes, config.volcano)?;
    for skipped in &naming.skipped {
        tracing::warn!(%skipped, "vNPU not advertised");
    }
    if naming.resources.is_empty() {
        bail!("no devices to advertise on this node");
    }
    let base_table = Arc::new(load_fault_table(&config)?);
    let rules = Arc::new(load_customization(&config)?);
    let mut policy = health_policy(&config, (*base_table).clone());
    policy.customization = Arc::clone(&rules);
    policy.whole_cards = whole_cards(&config, &inventory);
    let tables = Arc::new(FaultTables::new(base_table));
    let (mut monitor, snapshots) =
        HealthMonitor::new(dcmi.clone(), &inventory, policy, config.list_watch_period);
    monitor.poll_once().await;
    let events = monitor.subscribe();
    let (commands, command_rx) = mpsc::channel(16);
    let inventory = Arc::new(inventory);
    let (reset_records, reset_record_rx) = mpsc::channel(16);
    let (resetter, reset_manual) = if config.hot_reset.is_on() {
        let settings = ResetSettings {
            idle_delay: config.reset_idle_delay,
            boot_timeout: config.reset_boot_timeout,
            hooks_file: config.paths.hot_reset_plugin_config.clone(),
            period: config.list_watch_period,
        };
        let (resetter, manual) = HotResetter::new(
            dcmi.clone(),
            &inventory,
            snapshots.clone(),
            commands.clone(),
            metrics.clone(),
            settings,
        )
        .await;
        tracing::info!("hot reset on: a faulted chip is reset once its ring is free");
        (Some(resetter.with_records(reset_records)), manual)
    } else {
        (None, crate::changes::constant(Arc::default()))
    };
    let volcano = match &client {
        Some((client, node)) => {
            let delay = crate::k8s::start_delay(config.api_start_jitter, crate::k8s::random_draw());
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "waiting before the first Kubernetes API request (--api-start-jitter)"
                );
                tokio::time::sleep(delay).await;
            }
            let cluster = ClusterStart {
                config: &config,
                client: client.clone(),
                node: node.clone(),
                inventory: Arc::clone(&inventory),
                resources: naming.resources.clone(),
                snapshots: snapshots.clone(),
                commands: commands.clone(),
                tables: Arc::clone(&tables),
                rules: Arc::clone(&rules),
                reset_manual,
                reset_records: reset_record_rx,
                names: public_names.as_ref().map(|names| {
                    Arc::new(crate::device::modes::custom_names::KubeletNames::new(
                        names,
                        &naming.resources,
                    ))
                }),
                dcmi: dcmi.clone(),
                metrics: metrics.clone(),
                stop: stop.clone(),
            };
            start_cluster(cluster).await
        }
        None => None,
    };
    tokio::spawn(observe_snapshots(
        snapshots.clone(),
        naming.resources.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    let monitor_task = tokio::spawn(monitor.run(events, command_rx, stop.clone()));
    if let Some(resetter) = resetter {
        tokio::spawn(resetter.run(stop.clone()));
    }

    let a5_node = read_a5_node(&dcmi, &inventory).await;
    let board = board_for(&config, &inventory);
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
        a5: crate::device::a5::style(&inventory, &a5_node),
    };
    let extra_envs = match &client {
        Some((client, _)) if config.pods.slow_node => {
            crate::k8s::slow_node::watch_envs(client.clone(), stop.clone())
        }
        _ => crate::changes::constant(Arc::default()),
    };
    let contexts: Vec<Arc<ServiceContext>> = naming
        .resources
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
        tables,
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

/// What starting the cluster side needs.
struct ClusterStart<'a> {
    config: &'a Config,
    client: kube::Client,
    node: String,
    inventory: Arc<Inventory>,
    resources: Vec<crate::device::naming::Resource>,
    snapshots: watch::Receiver<Arc<crate::device::health::Snapshot>>,
    commands: mpsc::Sender<MonitorCommand>,
    tables: Arc<FaultTables>,
    rules: Arc<Customization>,
    reset_manual: watch::Receiver<Arc<Vec<ManualResetDev>>>,
    reset_records: mpsc::Receiver<ResetRecord>,
    /// Renamed resources, for reading kubelet's pod-resources back.
    names: Option<Arc<crate::device::modes::custom_names::KubeletNames>>,
    dcmi: Dcmi,
    metrics: Metrics,
    stop: CancellationToken,
}

/// Starts the API-side tasks; in Volcano mode returns what the services use.
async fn start_cluster(start: ClusterStart<'_>) -> Option<Arc<VolcanoBinding>> {
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
        names,
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
        names,
    };
    tokio::spawn(poller.run(usage_tx, stop.clone()));
    let binding = if config.volcano {
        let (store, problem) = AssignmentStore::open(&config.paths.state_dir);
        if let Some(problem) = problem {
            tracing::warn!(%problem, "kubelet-ID map not restored from its file; rebuilding it from kubelet and the pods");
        }
        let cache = PodCache::new();
        if let Err(error) =
            crate::k8s::pods::start_source(&config.pods, &cache, &client, &node, &stop)
        {
            tracing::error!(%error, "-getPodFromKubelet: the pod source did not start; Allocates list pods from the API server");
        }
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
        )
        .relist_after_watch_error(config.pods.relist_after_watch_error);
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
            () = crate::changes::changed(&mut snapshots) => {}
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
    tables: Arc<FaultTables>,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { tracing::info!("SIGTERM: stopping"); stop.cancel(); return; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: stopping"); stop.cancel(); return; }
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading the fault table and re-registering");
                match load_fault_table(&config) {
                    Ok(table) => {
                        let in_force = tables.set_base(Arc::new(table));
                        let _ = commands.send(MonitorCommand::SetTable(in_force)).await;
                    }
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "reload failed; keeping the current table"),
                }
                let _ = reload.try_send(());
            }
        }
    }
}
