//! Hot reset (`-hotReset=0` or `2`, recovery spec §3.2–§3.4): a chip graded
//! RestartRequest .. RestartNPU is reset by the driver once every chip of
//! its ring is free, so it comes back without an operator.
//!
//! Each cycle (every `listWatchPeriod` and on each new snapshot) the
//! [`plan::Planner`] picks candidates; this task checks their rings are free
//! (no live pod holds a chip, the driver reports no process), waits the idle
//! delay, spends a token, confirms the fault with one more health read,
//! fences the ring (every chip Unhealthy and `-Recovering` while it runs,
//! §6 #4), resets and waits for every ring chip to boot. Chips left to an
//! operator are published for the node's `ResetInfo` annotation.

pub mod hooks;
pub mod plan;
pub mod rings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use self::hooks::Hooks;
use self::plan::{Candidate, Planner, Readiness};
use super::health::Snapshot;
use super::model::{Family, Inventory};
use super::monitor::{MonitorCommand, now_ms};
use crate::dcmi::{CALL_TIMEOUT, Dcmi, DcmiError};

/// `dcmi_get_device_boot_status` of a started chip.
const STARTED: u32 = 16;
/// The in-band reset call itself may take this long.
const RESET_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Out-of-band: pause between the reset and the rescan, and the boot wait.
const OUTBAND_SETTLE: Duration = Duration::from_secs(3);
const OUTBAND_BOOT_TIMEOUT: Duration = Duration::from_secs(150);
/// Boot status is polled this often.
const BOOT_POLL: Duration = Duration::from_secs(1);

/// How the reset behaves.
#[derive(Debug, Clone)]
pub struct ResetSettings {
    /// A free ring waits this long before it is reset (upstream: 60 s).
    pub idle_delay: Duration,
    /// How long the ring may take to boot after an in-band reset (180 s).
    pub boot_timeout: Duration,
    /// `hotResetPluginConfiguration.json`; `None`: the default hooks.
    pub hooks_file: Option<PathBuf>,
    /// A cycle runs at least this often (`listWatchPeriod`).
    pub period: Duration,
}

/// One chip left to an operator (`ResetInfo.ManualResetDevs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualResetDev {
    pub card_id: i32,
    pub device_id: i32,
    pub associated_card_id: i32,
    pub phy_id: u32,
    pub logic_id: u32,
}

/// A reset starting or ending, for the `resetRecord` hook's Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRecord {
    /// The faulted chip's name (`Ascend910-3`).
    pub chip: String,
    /// Logic ids of the ring.
    pub ring_logic_ids: Vec<u32>,
    pub tokens_left: u32,
    /// `None`: started; `Some(Ok)`: completed; `Some(Err)`: failed, why.
    pub outcome: Option<Result<(), String>>,
}

#[derive(Debug, Clone, Copy)]
struct Address {
    logic: u32,
    card: i32,
    device: u32,
    family: Family,
    duo: bool,
}

/// Told when a reset starts and how it ended (metrics); keeps the core
/// free of a dependency on the telemetry module.
pub trait ResetObserver: Send + Sync + std::fmt::Debug {
    fn reset_started(&self, family: &'static str);
    fn reset_finished(&self, family: &'static str, ok: bool, took: Duration);
}

/// The reset task. Build with [`HotResetter::new`], run with [`HotResetter::run`].
pub struct HotResetter {
    dcmi: Dcmi,
    addresses: BTreeMap<u32, Address>,
    names: BTreeMap<u32, String>,
    brothers: BTreeMap<i32, i32>,
    planner: Planner,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    commands: mpsc::Sender<MonitorCommand>,
    manual: watch::Sender<Arc<Vec<ManualResetDev>>>,
    records: Option<mpsc::Sender<ResetRecord>>,
    metrics: Arc<dyn ResetObserver>,
    settings: ResetSettings,
}

impl std::fmt::Debug for HotResetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotResetter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HotResetter {
    /// Looks up the A3 brother cards, computes the rings, and returns the
    /// task with the receiver of the chips left to an operator.
    pub async fn new(
        dcmi: Dcmi,
        inventory: &Inventory,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        commands: mpsc::Sender<MonitorCommand>,
        metrics: Arc<dyn ResetObserver>,
        settings: ResetSettings,
    ) -> (Self, watch::Receiver<Arc<Vec<ManualResetDev>>>) {
        let mut brothers = BTreeMap::new();
        let a3_cards: BTreeSet<i32> = inventory
            .chips
            .iter()
            .filter(|c| c.family == Family::Ascend910A3)
            .map(|c| c.card_id)
            .collect();
        for card in a3_cards {
            let found = dcmi
                .call("dcmi_get_netdev_brother_device", CALL_TIMEOUT, move |api| {
                    api.brother_card(card, 0)
                })
                .await;
            match found {
                Ok(brother) => {
                    brothers.insert(card, brother);
                }
                Err::<_, DcmiError>(error) => {
                    tracing::warn!(card, %error, "no brother card; its ring is its own two dies")
                }
            }
        }
        let rings = rings::rings(inventory, &brothers);
        let excluded = inventory
            .chips
            .iter()
            .filter(|c| !c.vnpus.is_empty())
            .map(|c| c.phy_id)
            .collect();
        let duo_node = inventory.chips.iter().any(|c| c.is_300i_duo());
        let addresses = inventory
            .chips
            .iter()
            .map(|c| {
                let address = Address {
                    logic: c.logic_id,
                    card: c.card_id,
                    device: u32::try_from(c.device_index).unwrap_or(0),
                    family: c.family,
                    duo: duo_node,
                };
                (c.phy_id, address)
            })
            .collect();
        let names = inventory
            .chips
            .iter()
            .map(|c| (c.phy_id, c.name()))
            .collect();
        let idle_ms = u64::try_from(settings.idle_delay.as_millis()).unwrap_or(u64::MAX);
        let (manual, manual_rx) = watch::channel(Arc::new(Vec::new()));
        let resetter = Self {
            dcmi,
            addresses,
            names,
            brothers,
            planner: Planner::new(rings, excluded, idle_ms),
            snapshots,
            commands,
            manual,
            records: None,
            metrics,
            settings,
        };
        (resetter, manual_rx)
    }

    /// Where the `resetRecord` hook sends its records (Events).
    pub fn with_records(mut self, records: mpsc::Sender<ResetRecord>) -> Self {
        self.records = Some(records);
        self
    }

    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            let snapshot = self.snapshots.borrow_and_update().clone();
            self.cycle(&snapshot, &stop).await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut self.snapshots) => {}
                () = tokio::time::sleep(self.settings.period) => {}
            }
        }
    }

    async fn cycle(&mut self, snapshot: &Snapshot, stop: &CancellationToken) {
        let candidates = self.planner.candidates(snapshot);
        for candidate in candidates {
            if stop.is_cancelled() {
                return;
            }
            let free = self.ring_free(&candidate, snapshot).await;
            match self.planner.readiness(&candidate, free, now_ms()) {
                Readiness::Wait => continue,
                Readiness::NoTokens => {
                    tracing::warn!(
                        chip = candidate.chip,
                        "no reset token left; the chip needs an operator (ResetInfo)"
                    );
                    continue;
                }
                Readiness::Go => {}
            }
            if !self.still_faulted(candidate.chip).await {
                continue;
            }
            self.reset(&candidate).await;
            // One reset per cycle: the next cycle sees its result.
            break;
        }
        self.publish_manual();
    }

    /// Free: no live pod holds a ring chip and the driver reports no
    /// process on any (a failed query counts as busy).
    async fn ring_free(&self, candidate: &Candidate, snapshot: &Snapshot) -> bool {
        if candidate.ring.iter().any(|p| snapshot.in_use.contains(p)) {
            return false;
        }
        for phy in &candidate.ring {
            let Some(&Address { card, device, .. }) = self.addresses.get(phy) else {
                return false;
            };
            let count = self
                .dcmi
                .call("dcmi_get_device_resource_info", CALL_TIMEOUT, move |api| {
                    api.process_count(card, device)
                })
                .await;
            match count {
                Ok(0) => {}
                Ok(_) => return false,
                Err::<_, DcmiError>(error) => {
                    tracing::debug!(chip = phy, %error, "process query failed; ring counted busy");
                    return false;
                }
            }
        }
        true
    }

    /// The confirming read: the driver still reports the chip unhealthy
    /// (health value not 0), or the card dropped (-8012).
    async fn still_faulted(&self, phy: u32) -> bool {
        let Some(&Address { card, device, .. }) = self.addresses.get(&phy) else {
            return false;
        };
        let health = self
            .dcmi
            .call("dcmi_get_device_health", CALL_TIMEOUT, move |api| {
                api.health(card, device)
            })
            .await;
        match health {
            Ok(value) => value != 0,
            Err::<_, DcmiError>(error) => error.is_card_dropped(),
        }
    }

    async fn reset(&mut self, candidate: &Candidate) {
        let Some(address) = self.addresses.get(&candidate.chip).copied() else {
            return;
        };
        let family = address.family.name();
        let hooks = Hooks::load(self.settings.hooks_file.as_deref());
        let tokens_left = self.planner.start(candidate, now_ms());
        let ring: BTreeSet<u32> = candidate.ring.iter().copied().collect();
        let record = ResetRecord {
            chip: self.names.get(&candidate.chip).cloned().unwrap_or_default(),
            ring_logic_ids: candidate
                .ring
                .iter()
                .filter_map(|p| self.addresses.get(p).map(|a| a.logic))
                .collect(),
            tokens_left,
            outcome: None,
        };
        tracing::warn!(chip = %record.chip, ring = ?candidate.ring, tokens_left, "hot reset starting");
        let _ = self
            .commands
            .send(MonitorCommand::SetResetting(ring.clone()))
            .await;
        self.metrics.reset_started(family);
        if hooks.reset_record {
            self.record(record.clone()).await;
        }
        let started = Instant::now();
        let mut result = self.inband(address, &candidate.ring).await;
        if let Err(error) = &result
            && hooks.outband_reset
            && candidate.ring.iter().all(|p| {
                self.addresses
                    .get(p)
                    .is_some_and(|a| a.family == Family::Ascend910A3)
            })
        {
            tracing::warn!(chip = %record.chip, %error, "in-band reset failed; trying out-of-band");
            result = self.outband(&candidate.ring).await;
        }
        let ok = result.is_ok();
        self.metrics.reset_finished(family, ok, started.elapsed());
        self.planner.finished(candidate, ok);
        match &result {
            Ok(()) => {
                tracing::info!(chip = %record.chip, took = ?started.elapsed(), "hot reset done; the ring is back")
            }
            Err(error) => {
                tracing::warn!(chip = %record.chip, %error, "hot reset failed; retried while tokens last")
            }
        }
        let _ = self
            .commands
            .send(MonitorCommand::SetResetting(BTreeSet::new()))
            .await;
        let _ = self.commands.send(MonitorCommand::PollNow).await;
        if hooks.reset_record {
            self.record(ResetRecord {
                outcome: Some(result),
                ..record
            })
            .await;
        }
    }

    /// In-band reset of the candidate (a 300I Duo card through its chip 0),
    /// then every ring chip must boot; any failing call aborts.
    async fn inband(&self, address: Address, ring: &[u32]) -> Result<(), String> {
        let Address { card, device, .. } = address;
        let device = if address.duo { 0 } else { device };
        self.dcmi
            .call("dcmi_set_device_reset", RESET_CALL_TIMEOUT, move |api| {
                api.reset(card, device, true)
            })
            .await
            .map_err(|e: DcmiError| e.to_string())?;
        self.wait_booted(ring, self.settings.boot_timeout).await
    }

    /// Out-of-band reset of each ring chip in turn (A3), then the boot wait.
    async fn outband(&self, ring: &[u32]) -> Result<(), String> {
        let mut last = Ok(());
        for phy in ring {
            let Some(&Address { card, device, .. }) = self.addresses.get(phy) else {
                continue;
            };
            let step = self
                .dcmi
                .call("dcmi_set_device_reset", RESET_CALL_TIMEOUT, move |api| {
                    if !api.outband_ready(card, device)? {
                        return Err(DcmiError::invalid(
                            "dcmi_get_device_outband_channel_state",
                            "channel not ready".to_owned(),
                        ));
                    }
                    api.pre_reset(card, device)?;
                    api.reset(card, device, false)
                })
                .await;
            if let Err::<_, DcmiError>(error) = step {
                last = Err(format!("chip {phy}: {error}"));
                continue;
            }
            tokio::time::sleep(OUTBAND_SETTLE).await;
            if let Err::<_, DcmiError>(error) = self
                .dcmi
                .call("dcmi_rescan_soc", CALL_TIMEOUT, move |api| {
                    api.rescan(card, device)
                })
                .await
            {
                last = Err(format!("chip {phy}: {error}"));
            }
        }
        last?;
        self.wait_booted(ring, OUTBAND_BOOT_TIMEOUT).await
    }

    /// Polls every ring chip's boot status each second until all report 16.
    async fn wait_booted(&self, ring: &[u32], timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            for phy in ring {
                let Some(&Address { card, device, .. }) = self.addresses.get(phy) else {
                    continue;
                };
                let status = self
                    .dcmi
                    .call("dcmi_get_device_boot_status", CALL_TIMEOUT, move |api| {
                        api.boot_status(card, device)
                    })
                    .await
                    .map_err(|e: DcmiError| format!("chip {phy}: {e}"))?;
                all &= status == STARTED;
            }
            if all {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("the ring did not boot within {timeout:?}"));
            }
            tokio::time::sleep(BOOT_POLL).await;
        }
    }

    async fn record(&self, record: ResetRecord) {
        if let Some(records) = &self.records {
            let _ = records.send(record).await;
        }
    }

    fn publish_manual(&self) {
        let list: Vec<ManualResetDev> = self
            .planner
            .manual()
            .iter()
            .filter_map(|phy| {
                let address = self.addresses.get(phy)?;
                Some(ManualResetDev {
                    card_id: address.card,
                    device_id: i32::try_from(address.device).unwrap_or(0),
                    associated_card_id: self.brothers.get(&address.card).copied().unwrap_or(0),
                    phy_id: *phy,
                    logic_id: address.logic,
                })
            })
            .collect();
        self.manual.send_if_modified(|current| {
            if **current == list {
                return false;
            }
            *current = Arc::new(list);
            true
        });
    }
}
