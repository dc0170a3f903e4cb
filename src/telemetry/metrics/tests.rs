#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::exposition::{self, Exposition};
use super::*;
use crate::device::faults::FaultCode;
use crate::device::health::{ActiveFault, ChipState};
use crate::device::model::Family;
use crate::device::naming::{AdvertisedDevice, Backing};

fn scrape(metrics: &Metrics) -> Exposition {
    exposition::parse(&metrics.encode()).unwrap()
}

fn chip(phy_id: u32, level: FaultLevel, codes: &[u64]) -> ChipState {
    ChipState {
        phy_id,
        healthy: level <= FaultLevel::SubHealth,
        level,
        faults: codes
            .iter()
            .map(|&code| ActiveFault {
                code: FaultCode(code),
                level,
                since_ms: 1,
            })
            .collect(),
        network_healthy: true,
        dropped: false,
        recovering: false,
        manually_separated: false,
        reasons: Vec::new(),
        resetting: false,
    }
}

fn snapshot(generation: u64, chips: Vec<ChipState>) -> Snapshot {
    Snapshot {
        generation,
        chips: chips.into_iter().map(|c| (c.phy_id, c)).collect(),
        ..Snapshot::default()
    }
}

/// `Ascend910` with one device per chip in `phy_ids`.
fn ascend910(phy_ids: &[u32]) -> Resource {
    Resource {
        type_name: "Ascend910".into(),
        family: Family::Ascend910B,
        is_virtual: false,
        devices: phy_ids
            .iter()
            .map(|&phy_id| AdvertisedDevice {
                id: format!("Ascend910-{phy_id}"),
                backing: Backing::Chip { phy_id },
            })
            .collect(),
    }
}

const HEALTHY: &str = "ascend_device_plugin_chip_healthy";
const LEVEL: &str = "ascend_device_plugin_chip_fault_level";
const NETWORK: &str = "ascend_device_plugin_chip_network_healthy";
const CODES: &str = "ascend_device_plugin_fault_codes_active";
const DEVICES: &str = "ascend_device_plugin_devices";

#[test]
fn a_chip_going_unhealthy_reads_zero_with_its_level_and_codes() {
    let metrics = Metrics::new();
    let resources = [ascend910(&[0, 3])];
    let healthy = snapshot(
        1,
        vec![
            chip(0, FaultLevel::Normal, &[]),
            chip(3, FaultLevel::Normal, &[]),
        ],
    );
    metrics.observe_snapshot(&healthy, &resources);
    let before = scrape(&metrics);
    assert_eq!(before.value(HEALTHY, &[("chip", "Ascend910-3")]), Some(1.0));
    assert!(before.series(CODES).is_empty());

    let faulty = snapshot(
        2,
        vec![
            chip(0, FaultLevel::Normal, &[]),
            chip(3, FaultLevel::RestartNPU, &[0x80E0_1801, 0x8C08_4E00]),
        ],
    );
    metrics.observe_snapshot(&faulty, &resources);
    let after = scrape(&metrics);
    assert_eq!(after.value(HEALTHY, &[("chip", "Ascend910-3")]), Some(0.0));
    assert_eq!(after.value(HEALTHY, &[("chip", "Ascend910-0")]), Some(1.0));
    assert_eq!(after.value(LEVEL, &[("chip", "Ascend910-3")]), Some(6.0));
    assert_eq!(after.value(LEVEL, &[("chip", "Ascend910-0")]), Some(0.0));
    let code = |code| after.value(CODES, &[("chip", "Ascend910-3"), ("code", code)]);
    assert_eq!(code("80E01801"), Some(1.0));
    assert_eq!(code("8C084E00"), Some(1.0));
    assert_eq!(after.series(CODES).len(), 2);
    let devices = |state| {
        after.value(
            DEVICES,
            &[("resource", "huawei.com/Ascend910"), ("state", state)],
        )
    };
    assert_eq!(devices("healthy"), Some(1.0));
    assert_eq!(devices("unhealthy"), Some(1.0));
}

#[test]
fn a_recovered_chip_reads_healthy_and_its_code_series_are_gone() {
    let metrics = Metrics::new();
    let resources = [ascend910(&[3])];
    let faulty = snapshot(
        1,
        vec![chip(
            3,
            FaultLevel::SeparateNPU,
            &[0x80E0_1801, 0x8C08_4E00],
        )],
    );
    metrics.observe_snapshot(&faulty, &resources);
    let partly = snapshot(2, vec![chip(3, FaultLevel::SeparateNPU, &[0x8C08_4E00])]);
    metrics.observe_snapshot(&partly, &resources);
    let scraped = scrape(&metrics);
    assert_eq!(scraped.series(CODES).len(), 1);
    assert_eq!(
        scraped.value(CODES, &[("chip", "Ascend910-3"), ("code", "8C084E00")]),
        Some(1.0)
    );

    metrics.observe_snapshot(
        &snapshot(3, vec![chip(3, FaultLevel::Normal, &[])]),
        &resources,
    );
    let recovered = scrape(&metrics);
    assert_eq!(
        recovered.value(HEALTHY, &[("chip", "Ascend910-3")]),
        Some(1.0)
    );
    assert_eq!(
        recovered.value(LEVEL, &[("chip", "Ascend910-3")]),
        Some(0.0)
    );
    assert!(
        recovered.series(CODES).is_empty(),
        "{:?}",
        recovered.series(CODES)
    );
    let unhealthy = recovered.value(
        DEVICES,
        &[("resource", "huawei.com/Ascend910"), ("state", "unhealthy")],
    );
    assert_eq!(unhealthy, Some(0.0));
}

#[test]
fn a_network_fault_clears_only_the_network_gauge() {
    let metrics = Metrics::new();
    let mut link_down = chip(1, FaultLevel::Normal, &[0x8107_8603]);
    link_down.network_healthy = false;
    metrics.observe_snapshot(&snapshot(1, vec![link_down]), &[ascend910(&[1])]);
    let scraped = scrape(&metrics);
    assert_eq!(
        scraped.value(NETWORK, &[("chip", "Ascend910-1")]),
        Some(0.0)
    );
    assert_eq!(
        scraped.value(HEALTHY, &[("chip", "Ascend910-1")]),
        Some(1.0)
    );
    let code = &[("chip", "Ascend910-1"), ("code", "81078603")];
    assert_eq!(scraped.value(CODES, code), Some(1.0));
}

#[test]
fn shared_and_virtual_devices_are_counted_per_resource_by_their_chip() {
    let metrics = Metrics::new();
    let shared = Resource {
        type_name: "Ascend310P".into(),
        family: Family::Ascend310P,
        is_virtual: false,
        devices: (0..2)
            .flat_map(|phy_id| {
                (0..4).map(move |slot| AdvertisedDevice {
                    id: format!("Ascend310P-{phy_id}-{slot}"),
                    backing: Backing::Share { phy_id, slot },
                })
            })
            .collect(),
    };
    let vnpu = Resource {
        type_name: "Ascend310P-2c".into(),
        family: Family::Ascend310P,
        is_virtual: true,
        devices: vec![AdvertisedDevice {
            id: "Ascend310P-2c-100-1".into(),
            backing: Backing::Vnpu {
                phy_id: 1,
                vdev_id: 100,
            },
        }],
    };
    let chips = vec![
        chip(0, FaultLevel::Normal, &[]),
        chip(1, FaultLevel::SeparateNPU, &[0x1]),
    ];
    metrics.observe_snapshot(&snapshot(1, chips), &[shared, vnpu.clone()]);
    let scraped = scrape(&metrics);
    let count =
        |resource, state| scraped.value(DEVICES, &[("resource", resource), ("state", state)]);
    assert_eq!(count("huawei.com/Ascend310P", "healthy"), Some(4.0));
    assert_eq!(count("huawei.com/Ascend310P", "unhealthy"), Some(4.0));
    assert_eq!(count("huawei.com/Ascend310P-2c", "healthy"), Some(0.0));
    assert_eq!(count("huawei.com/Ascend310P-2c", "unhealthy"), Some(1.0));
    assert_eq!(
        scraped.value(HEALTHY, &[("chip", "Ascend310P-1")]),
        Some(0.0)
    );

    // A reload that drops the shared resource drops its series too.
    metrics.observe_snapshot(
        &snapshot(2, vec![chip(1, FaultLevel::Normal, &[])]),
        &[vnpu],
    );
    let reloaded = scrape(&metrics);
    assert_eq!(reloaded.series(DEVICES).len(), 2);
    assert_eq!(reloaded.series(HEALTHY).len(), 1);
    assert_eq!(reloaded.value(HEALTHY, &[("chip", "Ascend310P-0")]), None);
}

#[test]
fn a_chip_no_resource_advertises_is_named_after_the_node_family() {
    let metrics = Metrics::new();
    let chips = vec![
        chip(0, FaultLevel::Normal, &[]),
        chip(7, FaultLevel::Normal, &[]),
    ];
    metrics.observe_snapshot(&snapshot(1, chips.clone()), &[ascend910(&[0])]);
    assert_eq!(
        scrape(&metrics).value(HEALTHY, &[("chip", "Ascend910-7")]),
        Some(1.0)
    );
    metrics.observe_snapshot(&snapshot(2, chips), &[]);
    assert_eq!(
        scrape(&metrics).value(HEALTHY, &[("chip", "chip-7")]),
        Some(1.0)
    );
}

#[test]
fn allocations_count_by_outcome_and_feed_the_latency_histogram() {
    let metrics = Metrics::new();
    let resource = ascend910(&[0]);
    metrics.allocate(&resource, AllocateOutcome::Ok, Duration::from_micros(80));
    metrics.allocate(&resource, AllocateOutcome::Ok, Duration::from_millis(3));
    metrics.allocate(
        &resource,
        AllocateOutcome::Unhealthy,
        Duration::from_micros(40),
    );
    let scraped = scrape(&metrics);
    let requests = "ascend_device_plugin_allocate_requests_total";
    let by = |outcome| {
        scraped.value(
            requests,
            &[("resource", "huawei.com/Ascend910"), ("outcome", outcome)],
        )
    };
    assert_eq!(by("ok"), Some(2.0));
    assert_eq!(by("unhealthy"), Some(1.0));
    assert_eq!(by("volcano"), None);

    let family = &scraped.families["ascend_device_plugin_allocate_duration_seconds"];
    assert_eq!(family.kind, "histogram");
    let resource = ("resource", "huawei.com/Ascend910");
    let name = "ascend_device_plugin_allocate_duration_seconds";
    assert_eq!(
        scraped.value(&format!("{name}_count"), &[resource]),
        Some(3.0)
    );
    let sum = scraped.value(&format!("{name}_sum"), &[resource]).unwrap();
    assert!((sum - 0.003_12).abs() < 1e-9, "sum {sum}");
    let bucket = |le| scraped.bucket(name, &[resource], le);
    assert_eq!(bucket(0.000_05), Some(1.0));
    assert_eq!(bucket(0.000_1), Some(2.0));
    assert_eq!(bucket(0.002_5), Some(2.0));
    assert_eq!(bucket(0.005), Some(3.0));
    assert_eq!(bucket(1.0), Some(3.0));
    assert_eq!(bucket(f64::INFINITY), Some(3.0));
    assert_eq!(scraped.series(&format!("{name}_bucket")).len(), 15);
}

#[test]
fn dcmi_errors_are_counted_per_function_and_successes_show_zero() {
    let metrics = Metrics::new();
    let health = "dcmi_get_device_health";
    let codes = "dcmi_get_device_errorcode_v2";
    metrics.dcmi_call(health, Duration::from_millis(2), true);
    metrics.dcmi_call(codes, Duration::from_millis(1), false);
    metrics.dcmi_call(codes, Duration::from_secs(3), false);
    let scraped = scrape(&metrics);
    let errors = "ascend_device_plugin_dcmi_call_errors_total";
    assert_eq!(scraped.value(errors, &[("function", health)]), Some(0.0));
    assert_eq!(scraped.value(errors, &[("function", codes)]), Some(2.0));
    let count = "ascend_device_plugin_dcmi_call_duration_seconds_count";
    assert_eq!(scraped.value(count, &[("function", codes)]), Some(2.0));
    assert_eq!(scraped.value(count, &[("function", health)]), Some(1.0));
    let duration = "ascend_device_plugin_dcmi_call_duration_seconds";
    assert_eq!(
        scraped.bucket(duration, &[("function", codes)], 2.5),
        Some(1.0)
    );
    assert_eq!(
        scraped.bucket(duration, &[("function", codes)], 10.0),
        Some(2.0)
    );
}

#[test]
fn registrations_restarts_api_writes_and_volcano_matches_are_recorded() {
    let metrics = Metrics::new();
    let resource = ascend910(&[0]);
    metrics.registration(&resource);
    metrics.registration(&resource);
    metrics.kubelet_restart();
    metrics.api_write(ApiWriteKind::ConfigMap, true);
    metrics.api_write(ApiWriteKind::ConfigMap, false);
    metrics.api_write(ApiWriteKind::PodAnnotation, true);
    metrics.volcano_match(Duration::from_millis(20));
    let s = scrape(&metrics);
    let registrations = "ascend_device_plugin_registrations_total";
    assert_eq!(
        s.value(registrations, &[("resource", "huawei.com/Ascend910")]),
        Some(2.0)
    );
    assert_eq!(
        s.value("ascend_device_plugin_kubelet_restarts_total", &[]),
        Some(1.0)
    );
    let writes = "ascend_device_plugin_api_writes_total";
    assert_eq!(
        s.value(writes, &[("kind", "configmap"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        s.value(writes, &[("kind", "configmap"), ("outcome", "error")]),
        Some(1.0)
    );
    assert_eq!(
        s.value(writes, &[("kind", "pod_annotation"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        s.value(writes, &[("kind", "node"), ("outcome", "ok")]),
        None
    );
    let volcano = "ascend_device_plugin_volcano_pod_match_duration_seconds";
    assert_eq!(s.value(&format!("{volcano}_count"), &[]), Some(1.0));
    assert_eq!(s.bucket(volcano, &[], 0.01), Some(0.0));
    assert_eq!(s.bucket(volcano, &[], 0.025), Some(1.0));
}

/// Every family, as the docs table lists it: (name, type).
const DOCUMENTED: [(&str, &str); 15] = [
    ("ascend_device_plugin_chip_healthy", "gauge"),
    ("ascend_device_plugin_chip_fault_level", "gauge"),
    ("ascend_device_plugin_chip_network_healthy", "gauge"),
    ("ascend_device_plugin_fault_codes_active", "gauge"),
    ("ascend_device_plugin_devices", "gauge"),
    ("ascend_device_plugin_allocate_requests_total", "counter"),
    (
        "ascend_device_plugin_allocate_duration_seconds",
        "histogram",
    ),
    ("ascend_device_plugin_registrations_total", "counter"),
    ("ascend_device_plugin_kubelet_restarts_total", "counter"),
    (
        "ascend_device_plugin_dcmi_call_duration_seconds",
        "histogram",
    ),
    ("ascend_device_plugin_dcmi_call_errors_total", "counter"),
    ("ascend_device_plugin_api_writes_total", "counter"),
    ("ascend_device_plugin_reporter_wakes_total", "counter"),
    (
        "ascend_device_plugin_volcano_chip_conflicts_total",
        "counter",
    ),
    (
        "ascend_device_plugin_volcano_pod_match_duration_seconds",
        "histogram",
    ),
];

#[test]
fn every_metric_is_documented_and_named_by_prometheus_conventions() {
    // Families without a series are not exposed: give each one.
    let metrics = Metrics::new();
    let resource = ascend910(&[0]);
    let faulty = snapshot(1, vec![chip(0, FaultLevel::RestartNPU, &[0x80E0_1801])]);
    metrics.observe_snapshot(&faulty, std::slice::from_ref(&resource));
    metrics.allocate(&resource, AllocateOutcome::Other, Duration::from_millis(1));
    metrics.registration(&resource);
    metrics.dcmi_call("dcmi_init", Duration::from_millis(1), true);
    metrics.api_write(ApiWriteKind::Node, true);
    metrics.reporter_wake("node");
    let scraped = scrape(&metrics);
    let exposed: Vec<(&str, &str)> = scraped
        .families
        .iter()
        .map(|(name, family)| (name.as_str(), family.kind.as_str()))
        .collect();
    let mut documented = DOCUMENTED.to_vec();
    documented.sort_unstable();
    assert_eq!(exposed, documented);
    for (name, family) in &scraped.families {
        assert!(name.starts_with("ascend_device_plugin_"), "{name}");
        assert!(family.help.len() > 20, "{name} has no real HELP");
        match family.kind.as_str() {
            "counter" => assert!(name.ends_with("_total"), "{name}"),
            "histogram" => assert!(name.ends_with("_seconds"), "{name}"),
            _ => assert!(!name.ends_with("_total"), "{name}"),
        }
    }
}

#[test]
fn fault_level_ranks_grow_with_severity() {
    let ranks: Vec<i64> = FaultLevel::ALL.into_iter().map(fault_level_rank).collect();
    assert_eq!(ranks, (0..10).collect::<Vec<i64>>());
}

#[test]
fn clones_record_into_the_same_registry() {
    let metrics = Metrics::new();
    metrics.clone().kubelet_restart();
    let total = scrape(&metrics).value("ascend_device_plugin_kubelet_restarts_total", &[]);
    assert_eq!(total, Some(1.0));
}

#[test]
fn the_parser_rejects_samples_without_type_and_duplicate_series() {
    assert!(exposition::parse("foo 1\n").is_err());
    let twice = "# HELP foo a gauge\n# TYPE foo gauge\nfoo{a=\"1\"} 1\nfoo{a=\"1\"} 2\n";
    assert!(exposition::parse(twice).is_err());
    let escaped = "# HELP foo a gauge\n# TYPE foo gauge\nfoo{a=\"x\\\"y\\\\\"} 1\n";
    let parsed = exposition::parse(escaped).unwrap();
    assert_eq!(parsed.value("foo", &[("a", "x\"y\\")]), Some(1.0));
}

#[test]
fn a_long_synthetic_code_is_labelled_with_its_nine_digits() {
    let metrics = Metrics::new();
    let resources = [ascend910(&[1])];
    let hung = snapshot(
        1,
        vec![chip(
            1,
            FaultLevel::NotHandleFault,
            &[0x2_0000_1002, 0x2000_1002],
        )],
    );
    metrics.observe_snapshot(&hung, &resources);
    let scraped = scrape(&metrics);
    let code = |code| scraped.value(CODES, &[("chip", "Ascend910-1"), ("code", code)]);
    assert_eq!(code("200001002"), Some(1.0));
    assert_eq!(code("020001002"), Some(1.0));
    assert_eq!(scraped.series(CODES).len(), 2);
}
