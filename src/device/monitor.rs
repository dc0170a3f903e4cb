//! The health monitor: fault events plus polling -> `watch` of [`Snapshot`].
//!
//! A fault event triggers an immediate read of that chip (the driver's code
//! list stays the single source of truth; the event adds its severity), and
//! every `listWatchPeriod` all chips are read. Each driver call runs off the
//! async workers with a timeout. The latest snapshot is always on the channel.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::customization::Customization;
use super::faults::FaultTable;
use super::health::{Policy, Reading, Snapshot, Tracker};
use super::model::Inventory;
use super::upgrade::UpgradeReason;
use crate::dcmi::{CALL_TIMEOUT, Dcmi, DcmiError, FaultEvent, NETWORK_TIMEOUT};

/// How the monitor finds a chip in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChipAddress {
    phy_id: u32,
    logic_id: u32,
    card: i32,
    device: u32,
    /// 910 training chips have a RoCE network to watch.
    network: bool,
}

/// Changes requested from outside (ConfigMap, node labels, SIGHUP).
#[derive(Debug, Clone)]
pub enum MonitorCommand {
    SetTable(Arc<FaultTable>),
    /// New FaultFrequency / FaultDuration rules.
    SetCustomization(Arc<Customization>),
    /// The `ManuallySeparateNPU` list changed (phy ids).
    SetManuallySeparated(BTreeSet<u32>),
    /// Start-up: the isolation list and persisted reasons from the cluster.
    LoadIsolation {
        listed: BTreeSet<u32>,
        reasons: BTreeMap<u32, Vec<UpgradeReason>>,
    },
    /// Chips a live pod holds.
    SetInUse(BTreeSet<u32>),
    /// Chips of rings being hot-reset.
    SetResetting(BTreeSet<u32>),
    Release(u32),
    /// Read every chip now.
    PollNow,
}

/// Event assertion of a fault that happens once (no recover follows).
const ONCE: u8 = 2;

/// Current wall-clock time in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Everything the monitor needs; [`HealthMonitor::run`] consumes it.
#[derive(Debug)]
pub struct HealthMonitor {
    dcmi: Dcmi,
    chips: Vec<ChipAddress>,
    tracker: Tracker,
    period: Duration,
    publish: watch::Sender<Arc<Snapshot>>,
}

impl HealthMonitor {
    /// A monitor and the receiver every consumer clones.
    pub fn new(
        dcmi: Dcmi,
        inventory: &Inventory,
        policy: Policy,
        period: Duration,
    ) -> (Self, watch::Receiver<Arc<Snapshot>>) {
        let chips: Vec<ChipAddress> = inventory
            .chips
            .iter()
            .map(|chip| ChipAddress {
                phy_id: chip.phy_id,
                logic_id: chip.logic_id,
                card: chip.dcmi_address().0,
                device: chip.dcmi_address().1,
                network: chip.family.is_910_family() && !chip.family.is_inference(chip.board_id),
            })
            .collect();
        let tracker = Tracker::new(policy, chips.iter().map(|c| c.phy_id));
        let (publish, receiver) = watch::channel(tracker.snapshot());
        let monitor = Self {
            dcmi,
            chips,
            tracker,
            period,
            publish,
        };
        (monitor, receiver)
    }

    /// Subscribes to driver fault events; `None` when the driver cannot (the
    /// monitor then relies on polling alone).
    pub fn subscribe(&self) -> Option<mpsc::Receiver<FaultEvent>> {
        let (sender, receiver) = mpsc::channel(1024);
        match self.dcmi.blocking().subscribe(sender) {
            Ok(()) => Some(receiver),
            Err(error) => {
                tracing::warn!(%error, "fault event subscription failed; health relies on polling");
                None
            }
        }
    }

    /// Reads every chip once and returns the resulting snapshot (for
    /// `inspect`, and to start serving with real health rather than a guess).
    pub async fn poll_once(&mut self) -> Arc<Snapshot> {
        self.poll_all().await;
        self.publish_if_changed();
        self.tracker.snapshot()
    }

    /// Runs until `stop` is cancelled.
    pub async fn run(
        mut self,
        mut events: Option<mpsc::Receiver<FaultEvent>>,
        mut commands: mpsc::Receiver<MonitorCommand>,
        stop: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(self.period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.tracker.next_deadline();
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => self.poll_all().await,
                event = recv(&mut events) => match event {
                    Some(event) => self.on_event(event).await,
                    None => events = None,
                },
                Some(command) = commands.recv() => self.on_command(command).await,
                () = sleep_until_ms(deadline) => {
                    self.tracker.tick(now_ms());
                }
            }
            self.publish_if_changed();
        }
    }

    fn publish_if_changed(&self) {
        let snapshot = self.tracker.snapshot();
        if self.publish.borrow().generation != snapshot.generation {
            log_changes(&self.publish.borrow(), &snapshot);
            self.publish.send_replace(snapshot);
        }
    }

    async fn on_event(&mut self, event: FaultEvent) {
        tracing::debug!(
            code = format_args!("{:08X}", event.code),
            logic_id = event.logic_id,
            severity = event.severity,
            assertion = event.assertion,
            "fault event"
        );
        self.tracker.note_event_severity(event.code, event.severity);
        if event.assertion == ONCE
            && let Some(chip) = self.chips.iter().find(|c| c.logic_id == event.logic_id)
        {
            self.tracker.note_once(chip.phy_id, event.code, now_ms());
        }
        if let Some(chip) = self
            .chips
            .iter()
            .find(|c| c.logic_id == event.logic_id)
            .copied()
        {
            let reading = read_chip(&self.dcmi, chip).await;
            self.tracker.apply(reading, now_ms());
        } else {
            tracing::warn!(
                logic_id = event.logic_id,
                "fault event for a chip this node does not have"
            );
        }
    }

    async fn on_command(&mut self, command: MonitorCommand) {
        let now = now_ms();
        match command {
            MonitorCommand::SetTable(table) => {
                self.tracker.set_table(table);
            }
            MonitorCommand::SetCustomization(rules) => {
                self.tracker.set_customization(rules, now);
            }
            MonitorCommand::SetManuallySeparated(phys) => {
                self.tracker.set_manual(phys, now);
            }
            MonitorCommand::LoadIsolation { listed, reasons } => {
                self.tracker.load_isolation(listed, reasons, now);
            }
            MonitorCommand::SetInUse(phys) => {
                self.tracker.set_in_use(phys);
            }
            MonitorCommand::SetResetting(phys) => {
                self.tracker.set_resetting(phys);
            }
            MonitorCommand::Release(phy) => {
                self.tracker.release(phy);
            }
            MonitorCommand::PollNow => self.poll_all().await,
        }
    }

    async fn poll_all(&mut self) {
        let reads = self.chips.iter().map(|&chip| read_chip(&self.dcmi, chip));
        let readings = futures::future::join_all(reads).await;
        let now = now_ms();
        for reading in readings {
            self.tracker.apply(reading, now);
        }
        self.tracker.end_cycle(now);
    }
}

async fn recv(events: &mut Option<mpsc::Receiver<FaultEvent>>) -> Option<FaultEvent> {
    match events {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_ms(deadline: Option<u64>) {
    match deadline {
        Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
        None => std::future::pending().await,
    }
}

/// One chip's health, codes and (where it has one) network state.
async fn read_chip(dcmi: &Dcmi, chip: ChipAddress) -> Reading {
    let ChipAddress { card, device, .. } = chip;
    let mut reading = Reading {
        phy_id: chip.phy_id,
        ..Reading::default()
    };
    let health = dcmi
        .call(
            "dcmi_get_device_health",
            CALL_TIMEOUT,
            move |api| -> Result<_, DcmiError> {
                api.health(card, device)?;
                api.error_codes(card, device)
            },
        )
        .await;
    match health {
        Ok(codes) => reading.codes = codes,
        Err(error) if error.is_card_dropped() => reading.dropped = true,
        Err(error) => {
            tracing::warn!(chip = chip.phy_id, %error, "health read failed");
            reading.failed = true;
        }
    }
    if chip.network && !reading.dropped {
        let network = dcmi
            .call(
                "dcmi_get_device_network_health",
                NETWORK_TIMEOUT,
                move |api| api.network_health(card, device),
            )
            .await;
        match network {
            Ok(value) => reading.network = Some(value),
            Err(error) if error.is_unsupported() => {}
            // A call that hung says nothing about the link: the last known
            // state stands (upstream counts a failing tool as down, §6 #12).
            Err(error @ (DcmiError::Timeout { .. } | DcmiError::Stuck { .. })) => {
                tracing::warn!(chip = chip.phy_id, %error, "network health read hung; keeping the last known link state");
            }
            Err(error) => {
                tracing::debug!(chip = chip.phy_id, %error, "network health read failed");
            }
        }
    }
    reading
}

fn log_changes(old: &Snapshot, new: &Snapshot) {
    for (phy, chip) in &new.chips {
        let before = old.chips.get(phy);
        let was_healthy = before.is_none_or(|c| c.healthy);
        if was_healthy && !chip.healthy {
            let codes: Vec<String> = chip.faults.iter().map(|f| f.code.to_string()).collect();
            tracing::warn!(chip = phy, level = chip.level.as_str(), codes = ?codes, "chip became Unhealthy");
        } else if !was_healthy && chip.healthy {
            tracing::info!(chip = phy, "chip recovered to Healthy");
        }
        let was_net = before.is_none_or(|c| c.network_healthy);
        if was_net != chip.network_healthy {
            tracing::warn!(
                chip = phy,
                network_healthy = chip.network_healthy,
                "chip network health changed"
            );
        }
    }
}
