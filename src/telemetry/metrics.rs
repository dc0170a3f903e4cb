//! Prometheus metrics: one registry of typed families, recording methods the
//! rest of the crate calls, and [`Metrics::encode`] for the text exposition
//! format (0.0.4). Every label value is bounded: chip names, resource names,
//! fault codes the driver reports, and fixed function/outcome/kind names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

use crate::device::faults::FaultLevel;
use crate::device::health::Snapshot;
use crate::device::naming::Resource;
use families::{
    AllocateLabels, ApiWriteLabels, ChipLabels, DeviceLabels, Families, FamilyLabels,
    FaultCodeLabels, FunctionLabels, ReporterLabels, ResetLabels, ResourceLabels,
};

#[cfg(test)]
pub(crate) mod exposition;
mod families;
#[cfg(test)]
mod tests;

/// `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every metric name starts with this (plus `_`).
pub const PREFIX: &str = "ascend_device_plugin";

/// How an Allocate request ended: `ok`, or why it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocateOutcome {
    Ok,
    /// The request named devices we never advertised, or too many.
    InvalidArgument,
    /// A requested device is Unhealthy.
    Unhealthy,
    /// No Volcano pod (or its annotation) matched the request.
    Volcano,
    Other,
}

impl AllocateOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            AllocateOutcome::Ok => "ok",
            AllocateOutcome::InvalidArgument => "invalid_argument",
            AllocateOutcome::Unhealthy => "unhealthy",
            AllocateOutcome::Volcano => "volcano",
            AllocateOutcome::Other => "other",
        }
    }
}

/// Which Kubernetes object a write went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiWriteKind {
    ConfigMap,
    PodAnnotation,
    Node,
    Event,
}

impl ApiWriteKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiWriteKind::ConfigMap => "configmap",
            ApiWriteKind::PodAnnotation => "pod_annotation",
            ApiWriteKind::Node => "node",
            ApiWriteKind::Event => "event",
        }
    }
}

/// The value of `ascend_device_plugin_chip_fault_level`: 0 = NormalNPU
/// (least severe) .. 9 = ManuallySeparateNPU (worst); see docs/operations.md.
pub const fn fault_level_rank(level: FaultLevel) -> i64 {
    match level {
        FaultLevel::Normal => 0,
        FaultLevel::NotHandleFault => 1,
        FaultLevel::SubHealth => 2,
        FaultLevel::RestartRequest => 3,
        FaultLevel::RestartBusiness => 4,
        FaultLevel::FreeRestartNPU => 5,
        FaultLevel::RestartNPU => 6,
        FaultLevel::PreSeparateNPU => 7,
        FaultLevel::SeparateNPU => 8,
        FaultLevel::ManuallySeparateNPU => 9,
    }
}

/// Series written by the last [`Metrics::observe_snapshot`], so the next one
/// can remove those that no longer exist.
#[derive(Debug, Default)]
struct Seen {
    chips: BTreeSet<ChipLabels>,
    codes: BTreeSet<FaultCodeLabels>,
    devices: BTreeSet<DeviceLabels>,
}

struct Inner {
    registry: Registry,
    families: Families,
    /// Also held while encoding, so a scrape never sees half a snapshot.
    seen: Mutex<Seen>,
}

/// The plugin's metrics. Cheap to clone; every clone records into the same
/// registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family registered (and empty).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let families = Families::register(&mut registry);
        let inner = Inner {
            registry,
            families,
            seen: Mutex::new(Seen::default()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    fn families(&self) -> &Families {
        &self.inner.families
    }

    /// Records a new health snapshot: per-chip gauges, active fault codes and
    /// device counts. Series of chips, codes or resources that are gone are
    /// removed, so every scrape shows exactly the latest snapshot.
    pub fn observe_snapshot(&self, snapshot: &Snapshot, resources: &[Resource]) {
        let families = self.families();
        let mut seen = self
            .inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let names = chip_names(snapshot, resources);
        let mut next = Seen::default();
        for (phy_id, chip) in &snapshot.chips {
            let labels = ChipLabels {
                chip: names.get(phy_id).cloned().unwrap_or_default(),
            };
            for fault in &chip.faults {
                next.codes.insert(FaultCodeLabels {
                    chip: labels.chip.clone(),
                    code: fault.code.to_string(),
                });
            }
            families
                .chip_healthy
                .get_or_create(&labels)
                .set(i64::from(chip.healthy));
            families
                .chip_fault_level
                .get_or_create(&labels)
                .set(fault_level_rank(chip.level));
            let network = i64::from(chip.network_healthy);
            families
                .chip_network_healthy
                .get_or_create(&labels)
                .set(network);
            next.chips.insert(labels);
        }
        for resource in resources {
            let name = resource.resource_name();
            let healthy = resource
                .devices
                .iter()
                .filter(|device| snapshot.is_healthy(device.backing.phy_id()))
                .count();
            let unhealthy = resource.devices.len() - healthy;
            for (state, count) in [("healthy", healthy), ("unhealthy", unhealthy)] {
                let labels = DeviceLabels {
                    resource: name.clone(),
                    state,
                };
                families
                    .devices
                    .get_or_create(&labels)
                    .set(saturating_i64(count));
                next.devices.insert(labels);
            }
        }
        for labels in &next.codes {
            families.fault_codes.get_or_create(labels).set(1);
        }
        for gone in seen.codes.difference(&next.codes) {
            families.fault_codes.remove(gone);
        }
        for gone in seen.chips.difference(&next.chips) {
            families.chip_healthy.remove(gone);
            families.chip_fault_level.remove(gone);
            families.chip_network_healthy.remove(gone);
        }
        for gone in seen.devices.difference(&next.devices) {
            families.devices.remove(gone);
        }
        *seen = next;
    }

    /// Records one Allocate request of `resource`.
    pub fn allocate(&self, resource: &Resource, outcome: AllocateOutcome, latency: Duration) {
        let name = resource.resource_name();
        let labels = AllocateLabels {
            resource: name.clone(),
            outcome: outcome.as_str(),
        };
        self.families()
            .allocate_requests
            .get_or_create(&labels)
            .inc();
        let labels = ResourceLabels { resource: name };
        let histogram = self.families().allocate_duration.get_or_create(&labels);
        histogram.observe(latency.as_secs_f64());
    }

    /// Records a successful Register of `resource` with kubelet.
    pub fn registration(&self, resource: &Resource) {
        let labels = ResourceLabels {
            resource: resource.resource_name(),
        };
        self.families().registrations.get_or_create(&labels).inc();
    }

    /// Records that a new kubelet was seen (not counting the first).
    pub fn kubelet_restart(&self) {
        self.families().kubelet_restarts.inc();
    }

    /// Records one DCMI call; `function` is the DCMI symbol name
    /// (`dcmi_get_device_health`), a fixed set. The error counter of a
    /// function exists (at 0) from its first call on.
    pub fn dcmi_call(&self, function: &'static str, latency: Duration, ok: bool) {
        let labels = FunctionLabels { function };
        let histogram = self.families().dcmi_duration.get_or_create(&labels);
        histogram.observe(latency.as_secs_f64());
        drop(histogram);
        let errors = self.families().dcmi_errors.get_or_create(&labels);
        if !ok {
            errors.inc();
        }
    }

    /// Records one write to the Kubernetes API.
    pub fn api_write(&self, kind: ApiWriteKind, ok: bool) {
        let labels = ApiWriteLabels {
            kind: kind.as_str(),
            outcome: if ok { "ok" } else { "error" },
        };
        self.families().api_writes.get_or_create(&labels).inc();
    }

    /// Records one wake of a cluster reporter (`deviceinfo`, `node`): a
    /// pass comparing what it keeps in the cluster with the node.
    pub fn reporter_wake(&self, reporter: &'static str) {
        let labels = ReporterLabels { reporter };
        self.families().reporter_wakes.get_or_create(&labels).inc();
    }

    /// How many times `reporter` woke so far.
    pub fn reporter_wakes(&self, reporter: &'static str) -> u64 {
        let labels = ReporterLabels { reporter };
        self.families().reporter_wakes.get_or_create(&labels).get()
    }

    /// Records how long matching an Allocate request to a Volcano pod took.
    pub fn volcano_match(&self, latency: Duration) {
        self.families().volcano_match.observe(latency.as_secs_f64());
    }

    /// Records a hot reset starting (`family` = the chip family's name).
    pub fn reset_started(&self, family: &'static str) {
        let labels = ResetLabels {
            family,
            outcome: "attempted",
        };
        self.families().resets.get_or_create(&labels).inc();
    }

    /// Records how a hot reset ended and how long it took.
    pub fn reset_finished(&self, family: &'static str, ok: bool, took: Duration) {
        let labels = ResetLabels {
            family,
            outcome: if ok { "succeeded" } else { "failed" },
        };
        self.families().resets.get_or_create(&labels).inc();
        self.families()
            .reset_duration
            .get_or_create(&FamilyLabels { family })
            .observe(took.as_secs_f64());
    }

    /// Records a Volcano candidate passed over for naming a chip another
    /// live pod holds.
    pub fn volcano_chip_conflict(&self) {
        self.families().volcano_chip_conflicts.inc();
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _seen = self
            .inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing into a String cannot fail; an error would be a bug in the
        // encoder, so log it and serve what was written.
        if let Err(error) = prometheus_text::encode(&mut out, &self.inner.registry) {
            tracing::error!(%error, "could not encode metrics");
        }
        out
    }
}

/// Each chip's name (`Ascend910-3`, as `Chip::name` spells it), from the
/// family of the resource that advertises it. A chip no resource advertises
/// (all its vNPUs skipped, say) takes the family of any resource, or
/// `chip-<phy>` on a node with none.
fn chip_names(snapshot: &Snapshot, resources: &[Resource]) -> BTreeMap<u32, String> {
    let mut names = BTreeMap::new();
    for resource in resources {
        let prefix = resource.family.resource_type();
        for device in &resource.devices {
            let phy_id = device.backing.phy_id();
            names
                .entry(phy_id)
                .or_insert_with(|| format!("{prefix}-{phy_id}"));
        }
    }
    let fallback = resources
        .first()
        .map_or("chip", |resource| resource.family.resource_type());
    for &phy_id in snapshot.chips.keys() {
        names
            .entry(phy_id)
            .or_insert_with(|| format!("{fallback}-{phy_id}"));
    }
    names
}

fn saturating_i64(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

impl crate::dcmi::CallObserver for Metrics {
    fn observe(&self, function: &'static str, latency: Duration, ok: bool) {
        self.dcmi_call(function, latency, ok);
    }
}

impl crate::device::reset::ResetObserver for Metrics {
    fn reset_started(&self, family: &'static str) {
        Metrics::reset_started(self, family);
    }

    fn reset_finished(&self, family: &'static str, ok: bool, took: Duration) {
        Metrics::reset_finished(self, family, ok, took);
    }
}
