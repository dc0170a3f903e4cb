//! Wiring: building the pieces from a [`Config`] and running them, one
//! module per mode (`plugin.rs`: the device-plugin daemon; `dra.rs`: the DRA
//! driver) over shared
//! start-up stages (`stages.rs`, `cluster.rs`), plus `inspect`. `main.rs`
//! only parses and calls in.

mod cluster;
mod dra;
mod plugin;
mod signals;
mod stages;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HotReset};
use crate::dcmi::{Dcmi, OwnerPolicy};
use crate::device::customization::Customization;
use crate::device::discovery::{DiscoveryError, discover};
use crate::device::faults::{FaultTable, MAX_FAULT_TABLE};
use crate::device::health::Policy;
use crate::device::model::{Family, Inventory};
use crate::device::monitor::HealthMonitor;
use crate::device::naming::{NamingOptions, name_devices};
use crate::device::topology::Board;
use crate::telemetry::metrics::Metrics;

pub use dra::run_dra;
pub use plugin::run;

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
        share_dev_count: config.share_dev_count,
        mixed_insert_310p: config.mixed_insert_310p,
        dynamic_vnpu: !config.preset_virtual_device,
    }
}

fn health_policy(config: &Config, table: FaultTable) -> Policy {
    Policy::new(
        Arc::new(table),
        config.auto_stowing,
        config.linkdown_timeout,
    )
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
