//! The metric families: names, HELP texts, label sets and buckets. Names
//! get the `ascend_device_plugin_` prefix from the registry, `_total` for
//! counters and `_seconds` for the histograms' unit.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Allocate latency: 50 µs (a pure in-memory answer) .. 1 s (a slow Volcano match).
const ALLOCATE_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];
/// DCMI latency: 100 µs (a cached query) .. 10 s (a card reset or a hung driver).
const DCMI_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Volcano pod match: 50 µs .. 1 s, like Allocate (it runs inside Allocate).
const VOLCANO_BUCKETS: [f64; 14] = ALLOCATE_BUCKETS;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub(super) struct ChipLabels {
    pub(super) chip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub(super) struct FaultCodeLabels {
    pub(super) chip: String,
    pub(super) code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub(super) struct DeviceLabels {
    pub(super) resource: String,
    pub(super) state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ResourceLabels {
    pub(super) resource: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct AllocateLabels {
    pub(super) resource: String,
    pub(super) outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct FunctionLabels {
    pub(super) function: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ApiWriteLabels {
    pub(super) kind: &'static str,
    pub(super) outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ResetLabels {
    pub(super) family: &'static str,
    pub(super) outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct FamilyLabels {
    pub(super) family: &'static str,
}

/// Hot reset: 1 s (an instant simulated boot) .. 10 min (the longest wait).
const RESET_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

fn reset_histogram() -> Histogram {
    Histogram::new(RESET_BUCKETS)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ReporterLabels {
    pub(super) reporter: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn allocate_histogram() -> Histogram {
    Histogram::new(ALLOCATE_BUCKETS)
}

fn dcmi_histogram() -> Histogram {
    Histogram::new(DCMI_BUCKETS)
}

/// Handles on every registered family.
#[derive(Debug)]
pub(super) struct Families {
    pub(super) chip_healthy: Family<ChipLabels, Gauge>,
    pub(super) chip_fault_level: Family<ChipLabels, Gauge>,
    pub(super) chip_network_healthy: Family<ChipLabels, Gauge>,
    pub(super) fault_codes: Family<FaultCodeLabels, Gauge>,
    pub(super) devices: Family<DeviceLabels, Gauge>,
    pub(super) allocate_requests: Family<AllocateLabels, Counter>,
    pub(super) allocate_duration: HistogramFamily<ResourceLabels>,
    pub(super) registrations: Family<ResourceLabels, Counter>,
    pub(super) kubelet_restarts: Counter,
    pub(super) dcmi_duration: HistogramFamily<FunctionLabels>,
    pub(super) dcmi_errors: Family<FunctionLabels, Counter>,
    pub(super) api_writes: Family<ApiWriteLabels, Counter>,
    pub(super) reporter_wakes: Family<ReporterLabels, Counter>,
    pub(super) volcano_match: Histogram,
    pub(super) volcano_chip_conflicts: Counter,
    pub(super) resets: Family<ResetLabels, Counter>,
    pub(super) reset_duration: HistogramFamily<FamilyLabels>,
}

impl Families {
    /// Registers every family (empty) in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let chip_healthy = Family::default();
        registry.register(
            "chip_healthy",
            "1 when the chip is Healthy (its devices are schedulable), 0 when Unhealthy",
            chip_healthy.clone(),
        );
        let chip_fault_level = Family::default();
        registry.register(
            "chip_fault_level",
            "Worst fault level of the chip's own (non-network) faults: 0 NormalNPU, 1 NotHandleFault, 2 SubHealthFault, 3 RestartRequest, 4 RestartBusiness, 5 FreeRestartNPU, 6 RestartNPU, 7 PreSeparateNPU, 8 SeparateNPU, 9 ManuallySeparateNPU",
            chip_fault_level.clone(),
        );
        let chip_network_healthy = Family::default();
        registry.register(
            "chip_network_healthy",
            "1 when the chip's RoCE/UBoE network is healthy (or it has none), 0 while its network grade (link-down code, FaultDuration rule) is above SubHealthFault",
            chip_network_healthy.clone(),
        );
        let fault_codes = Family::default();
        registry.register(
            "fault_codes_active",
            "1 for each fault code currently active on a chip (hex, as in faultCode.json); the series disappears when the code clears",
            fault_codes.clone(),
        );
        let devices = Family::default();
        registry.register(
            "devices",
            "Devices advertised to kubelet, by resource and state (healthy or unhealthy)",
            devices.clone(),
        );
        let allocate_requests = Family::default();
        registry.register(
            "allocate_requests",
            "Allocate requests from kubelet, by resource and outcome (ok, invalid_argument, unhealthy, volcano, other)",
            allocate_requests.clone(),
        );
        let allocate_duration: HistogramFamily<ResourceLabels> =
            Family::new_with_constructor(allocate_histogram);
        registry.register_with_unit(
            "allocate_duration",
            "Time to answer an Allocate request, whatever its outcome",
            Unit::Seconds,
            allocate_duration.clone(),
        );
        let registrations = Family::default();
        registry.register(
            "registrations",
            "Successful Register calls to kubelet, by resource",
            registrations.clone(),
        );
        let kubelet_restarts = Counter::default();
        registry.register(
            "kubelet_restarts",
            "Times a new kubelet (a replaced kubelet.sock) was seen after the first",
            kubelet_restarts.clone(),
        );
        let dcmi_duration: HistogramFamily<FunctionLabels> =
            Family::new_with_constructor(dcmi_histogram);
        registry.register_with_unit(
            "dcmi_call_duration",
            "Latency of DCMI driver calls, by DCMI function",
            Unit::Seconds,
            dcmi_duration.clone(),
        );
        let dcmi_errors = Family::default();
        registry.register(
            "dcmi_call_errors",
            "DCMI driver calls that returned an error, by DCMI function",
            dcmi_errors.clone(),
        );
        let api_writes = Family::default();
        registry.register(
            "api_writes",
            "Writes to the Kubernetes API, by kind (configmap, pod_annotation, node, event) and outcome (ok, error)",
            api_writes.clone(),
        );
        let reporter_wakes = Family::default();
        registry.register(
            "reporter_wakes",
            "Times a cluster reporter (deviceinfo, node) woke to compare its object with the node; flat when idle except for the 5-minute heartbeat",
            reporter_wakes.clone(),
        );
        let volcano_match = Histogram::new(VOLCANO_BUCKETS);
        registry.register_with_unit(
            "volcano_pod_match_duration",
            "Time to find the Volcano pod an Allocate request belongs to",
            Unit::Seconds,
            volcano_match.clone(),
        );
        let volcano_chip_conflicts = Counter::default();
        registry.register(
            "volcano_chip_conflicts",
            "Volcano candidates passed over because their annotation names a chip another live pod holds",
            volcano_chip_conflicts.clone(),
        );
        let resets = Family::default();
        registry.register(
            "hot_resets",
            "Hot resets by chip family and outcome: attempted (each start), succeeded, failed",
            resets.clone(),
        );
        let reset_duration: HistogramFamily<FamilyLabels> =
            Family::new_with_constructor(reset_histogram);
        registry.register_with_unit(
            "hot_reset_duration",
            "Time from a hot reset's start until its ring booted (or it failed)",
            Unit::Seconds,
            reset_duration.clone(),
        );
        Self {
            chip_healthy,
            chip_fault_level,
            chip_network_healthy,
            fault_codes,
            devices,
            allocate_requests,
            allocate_duration,
            registrations,
            kubelet_restarts,
            dcmi_duration,
            dcmi_errors,
            api_writes,
            reporter_wakes,
            volcano_match,
            volcano_chip_conflicts,
            resets,
            reset_duration,
        }
    }
}
