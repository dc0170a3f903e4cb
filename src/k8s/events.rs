//! Kubernetes Events on the Node when a chip turns Unhealthy or recovers
//! (with its fault codes), so `kubectl describe node` shows what the plugin
//! saw. Core v1 Events in `default`, where kubelet puts node events too:
//! the API server accepts an Event about a cluster-scoped object only
//! there (a namespaced permission all the same). A token bucket (10, one more
//! every 6 s) keeps a flapping chip from flooding the API server; what it
//! held back is counted in one summary event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::upgrade_reason::format_upgrade_reasons;
use crate::device::health::{ChipState, Snapshot};
use crate::device::model::Inventory;
use crate::device::reset::ResetRecord;
use crate::device::upgrade::UpgradeReason;
use crate::telemetry::metrics::{ApiWriteKind, Metrics};

pub const NAMESPACE: &str = "default";
pub const COMPONENT: &str = "ascend-device-plugin";
pub const REASON_UNHEALTHY: &str = "NPUUnhealthy";
pub const REASON_RECOVERED: &str = "NPURecovered";
pub const REASON_SUPPRESSED: &str = "NPUEventsSuppressed";
/// A Volcano candidate named a chip another running pod holds.
pub const REASON_CHIP_CONFLICT: &str = "NPUChipConflict";
/// The `resetRecord` hook: a hot reset started, completed or failed.
pub const REASON_RESET_START: &str = "HotResetStart";
pub const REASON_RESET_COMPLETE: &str = "HotResetComplete";
pub const REASON_RESET_FAILED: &str = "HotResetFailed";
/// Upgrade reasons (FaultFrequency, FaultDuration, FaultAutofill) released.
pub const REASON_RELEASE_UPGRADE: &str = "EventReleaseUpgradeFault";
const BURST: u32 = 10;
const REFILL: Duration = Duration::from_secs(6);

/// A chip's health changed between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub chip: String,
    pub healthy: bool,
    /// `80E01801 (RestartNPU)`, ... of the new state.
    pub faults: Vec<String>,
}

/// Chips whose health differs between `before` and `after`.
pub fn transitions(
    before: &Snapshot,
    after: &Snapshot,
    names: &BTreeMap<u32, String>,
) -> Vec<Transition> {
    after
        .chips
        .iter()
        .filter(|(phy, state)| {
            before
                .chips
                .get(phy)
                .is_some_and(|old| old.healthy != state.healthy)
        })
        .map(|(phy, state)| Transition {
            chip: names
                .get(phy)
                .cloned()
                .unwrap_or_else(|| format!("phy {phy}")),
            healthy: state.healthy,
            faults: describe_faults(state),
        })
        .collect()
}

fn describe_faults(state: &ChipState) -> Vec<String> {
    let mut out: Vec<String> = state
        .faults
        .iter()
        .map(|f| format!("{} ({})", f.code.go_hex(), f.level.as_str()))
        .collect();
    if state.manually_separated {
        out.push("ManuallySeparateNPU".to_owned());
    }
    if state.recovering {
        out.push("recovered, waiting for release (autoStowing=false)".to_owned());
    }
    out
}

/// The Event for `transition` on node `node`.
pub fn event_for(node: &str, reason: &str, kind: &str, message: String, now: Timestamp) -> Event {
    let nanos = now.as_nanosecond();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{node}.{nanos:x}")),
            namespace: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            // kubelet uses the node name as the UID of node events.
            uid: Some(node.to_owned()),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message),
        type_: Some(kind.to_owned()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_owned()),
            host: Some(node.to_owned()),
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        action: Some("HealthCheck".to_owned()),
        reporting_component: Some(COMPONENT.to_owned()),
        reporting_instance: Some(node.to_owned()),
        ..Event::default()
    }
}

/// The Event reporting `transition`.
pub fn transition_event(node: &str, transition: &Transition, now: Timestamp) -> Event {
    let faults = if transition.faults.is_empty() {
        "none".to_owned()
    } else {
        transition.faults.join(", ")
    };
    if transition.healthy {
        let message = format!("{} is Healthy again", transition.chip);
        event_for(node, REASON_RECOVERED, "Normal", message, now)
    } else {
        let message = format!("{} is Unhealthy; faults: {faults}", transition.chip);
        event_for(node, REASON_UNHEALTHY, "Warning", message, now)
    }
}

/// Per chip (by name), the upgrade reasons `before` had and `after` has
/// not: a rule released the chip, or an operator did.
pub fn released_reasons(
    before: &Snapshot,
    after: &Snapshot,
    names: &BTreeMap<u32, String>,
) -> Vec<(String, Vec<UpgradeReason>)> {
    after
        .chips
        .iter()
        .filter_map(|(phy, state)| {
            let old = before.chips.get(phy)?;
            let gone: Vec<UpgradeReason> = old
                .reasons
                .iter()
                .filter(|r| {
                    !state
                        .reasons
                        .iter()
                        .any(|n| n.code == r.code && n.kind == r.kind)
                })
                .cloned()
                .collect();
            (!gone.is_empty()).then(|| (names.get(phy).cloned().unwrap_or_default(), gone))
        })
        .collect()
}

/// The `EventReleaseUpgradeFault` Event: the released reasons as upstream's JSON.
pub fn release_event(node: &str, chip: &str, reasons: &[UpgradeReason], now: Timestamp) -> Event {
    let json = format_upgrade_reasons([(chip, reasons)]);
    let message = format!("{chip} released from its raised fault level: {json}");
    event_for(node, REASON_RELEASE_UPGRADE, "Normal", message, now)
}

/// The Event of a hot-reset record (the `resetRecord` hook).
pub fn reset_event(node: &str, record: &ResetRecord, now: Timestamp) -> Event {
    let ring = record
        .ring_logic_ids
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match &record.outcome {
        None => {
            let message = format!(
                "hot reset of {} started: ring logic ids {ring}, {} reset tokens left",
                record.chip, record.tokens_left
            );
            event_for(node, REASON_RESET_START, "Warning", message, now)
        }
        Some(Ok(())) => {
            let message = format!("hot reset of {} completed: ring {ring} booted", record.chip);
            event_for(node, REASON_RESET_COMPLETE, "Normal", message, now)
        }
        Some(Err(error)) => {
            let message = format!("hot reset of {} failed: {error}", record.chip);
            event_for(node, REASON_RESET_FAILED, "Warning", message, now)
        }
    }
}

/// Posts an Event for each hot-reset record until `stop` (resets are rate
/// limited by their token bucket already).
pub async fn report_resets(
    client: Client,
    node: String,
    mut records: tokio::sync::mpsc::Receiver<ResetRecord>,
    metrics: Metrics,
    stop: CancellationToken,
) {
    let api: Api<Event> = Api::namespaced(client, NAMESPACE);
    while let Some(Some(record)) = stop.run_until_cancelled(records.recv()).await {
        let event = reset_event(&node, &record, Timestamp::now());
        let params = PostParams::default();
        let call = api.create(&params, &event);
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(10), call).await,
            Ok(Ok(_))
        );
        metrics.api_write(ApiWriteKind::Event, ok);
        if !ok {
            tracing::debug!(reason = ?event.reason, "could not record a reset event");
        }
    }
}

/// A token bucket: `BURST` events, one more every `REFILL`.
#[derive(Debug)]
pub struct Bucket {
    tokens: u32,
    refilled: Instant,
    pub suppressed: u64,
}

impl Bucket {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: BURST,
            refilled: now,
            suppressed: 0,
        }
    }

    /// Takes a token if there is one; counts a suppression otherwise.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = u32::try_from(elapsed.as_millis() / REFILL.as_millis()).unwrap_or(u32::MAX);
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(BURST);
            self.refilled += REFILL * earned.min(BURST);
            if self.tokens == BURST {
                self.refilled = now;
            }
        }
        if self.tokens == 0 {
            self.suppressed += 1;
            return false;
        }
        self.tokens -= 1;
        true
    }
}

pub struct EventReporter {
    pub client: Client,
    pub node: String,
    pub inventory: Arc<Inventory>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub metrics: Metrics,
}

impl EventReporter {
    pub async fn run(mut self, stop: CancellationToken) {
        let api: Api<Event> = Api::namespaced(self.client.clone(), NAMESPACE);
        let names: BTreeMap<u32, String> = self
            .inventory
            .chips
            .iter()
            .map(|c| (c.phy_id, c.name()))
            .collect();
        let mut before = self.snapshots.borrow_and_update().clone();
        let mut bucket = Bucket::new(Instant::now());
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = crate::changes::changed(&mut self.snapshots) => {}
            }
            let after = self.snapshots.borrow_and_update().clone();
            for transition in transitions(&before, &after, &names) {
                let now = Instant::now();
                if !bucket.take(now) {
                    continue;
                }
                if bucket.suppressed > 0 {
                    let held = std::mem::take(&mut bucket.suppressed);
                    let message = format!(
                        "{held} chip health events were not reported (rate limit); see the plugin log"
                    );
                    self.create(
                        &api,
                        event_for(
                            &self.node,
                            REASON_SUPPRESSED,
                            "Warning",
                            message,
                            Timestamp::now(),
                        ),
                    )
                    .await;
                }
                self.create(
                    &api,
                    transition_event(&self.node, &transition, Timestamp::now()),
                )
                .await;
            }
            for (chip, reasons) in released_reasons(&before, &after, &names) {
                if bucket.take(Instant::now()) {
                    let event = release_event(&self.node, &chip, &reasons, Timestamp::now());
                    self.create(&api, event).await;
                }
            }
            before = after;
        }
    }

    async fn create(&self, api: &Api<Event>, event: Event) {
        let params = PostParams::default();
        let call = api.create(&params, &event);
        let result = tokio::time::timeout(Duration::from_secs(10), call).await;
        let ok = matches!(result, Ok(Ok(_)));
        self.metrics.api_write(ApiWriteKind::Event, ok);
        if !ok {
            tracing::debug!(reason = ?event.reason, "could not record a node event");
        }
    }
}

impl std::fmt::Debug for EventReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReporter")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
