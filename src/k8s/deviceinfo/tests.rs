#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::*;
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};
use crate::device::naming::{AdvertisedDevice, Backing};
use crate::k8s::mock::{self, Recorded};
use crate::k8s::podresources::PodDevices;

const PATH: &str = "/api/v1/namespaces/kube-system/configmaps";

fn resource() -> Resource {
    Resource {
        type_name: "Ascend910".into(),
        family: Family::Ascend910,
        is_virtual: false,
        devices: (0..8)
            .map(|phy_id| AdvertisedDevice {
                id: format!("Ascend910-{phy_id}"),
                backing: Backing::Chip { phy_id },
            })
            .collect(),
    }
}

fn usage(ids: &[&str]) -> Usage {
    Usage {
        listed: true,
        pods: vec![PodDevices {
            namespace: "ml".into(),
            name: "p".into(),
            resource_type: "Ascend910".into(),
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        }],
    }
}

struct Harness {
    writer: DeviceInfoWriter,
    commands: mpsc::Receiver<MonitorCommand>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    observed_tx: watch::Sender<Observed<ConfigMap>>,
    _keep: watch::Sender<Arc<Usage>>,
}

/// A writer outside Volcano mode: its kubelet-ID map never changes.
fn harness(client: Client, snapshot: Snapshot, usage: Usage, assignments: Assignments) -> Harness {
    let (s_tx, snapshots) = watch::channel(Arc::new(snapshot));
    let (u_tx, usage) = watch::channel(Arc::new(usage));
    let (o_tx, observed) = watch::channel(Observed::default());
    let (commands, command_rx) = mpsc::channel(4);
    let chips = (0..8).map(|phy| chip(phy, Family::Ascend910)).collect();
    Harness {
        writer: DeviceInfoWriter {
            client,
            node: "node-a".into(),
            inventory: Arc::new(inventory(chips)),
            resources: vec![resource()],
            observed,
            snapshots,
            usage,
            assignments: crate::changes::constant(Arc::new(assignments)),
            commands,
            metrics: Metrics::new(),
        },
        commands: command_rx,
        snapshot_tx: s_tx,
        observed_tx: o_tx,
        _keep: u_tx,
    }
}

async fn sync_once(
    h: &mut Harness,
    observed: Option<&ConfigMap>,
    state: &mut WriterState,
) -> Result<(), String> {
    let api: Api<ConfigMap> = Api::namespaced(h.writer.client.clone(), NAMESPACE);
    h.writer
        .sync(&api, "mindx-dl-deviceinfo-node-a", observed, state)
        .await
}

fn device_list(cfg: &str) -> Value {
    let root: Value = serde_json::from_str(cfg).unwrap();
    root["DeviceInfo"]["DeviceList"].clone()
}

#[tokio::test]
async fn a_missing_configmap_is_created_with_label_keys_and_a_valid_check_code() {
    let (client, log) = mock::client(|request: &Recorded| match request.method.as_str() {
        "GET" => mock::status(404, "NotFound"),
        _ => mock::echo(request),
    });
    let mut h = harness(
        client,
        mock::snapshot(8, &[3]),
        usage(&["Ascend910-0"]),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    sync_once(&mut h, None, &mut state).await.unwrap();
    assert!(
        log.all().iter().all(|r| r.method != "GET"),
        "the watch, not a GET, says what exists"
    );
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    let create = &writes[0];
    assert_eq!((create.method.as_str(), create.path()), ("POST", PATH));
    let meta = &create.body["metadata"];
    assert_eq!(meta["name"], "mindx-dl-deviceinfo-node-a");
    assert_eq!(meta["namespace"], "kube-system");
    assert_eq!(meta["labels"], json!({"mx-consumer-cim": "true"}));
    let data = &create.body["data"];
    assert_eq!(data["ManuallySeparateNPU"], "");
    assert_eq!(data["UpgradeFaultReason"], "{}");
    let cfg = data["DeviceInfoCfg"].as_str().unwrap();
    assert!(
        content_equal_ignoring_time(cfg, cfg),
        "CheckCode verifies: {cfg}"
    );
    let list = device_list(cfg);
    assert_eq!(
        list["huawei.com/Ascend910"],
        "Ascend910-1,Ascend910-2,Ascend910-4,Ascend910-5,Ascend910-6,Ascend910-7",
        "healthy and free"
    );
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-3");
    assert!(state.last_write.is_some());
}

fn existing(data: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {
            "name": "mindx-dl-deviceinfo-node-a", "namespace": "kube-system",
            "resourceVersion": "41", "labels": {"mx-consumer-cim": "true", "team": "x"}
        },
        "data": data,
    }))
    .unwrap()
}

#[tokio::test]
async fn operator_separation_is_read_back_honoured_and_kept() {
    let current = existing(json!({"ManuallySeparateNPU": "Ascend910-1", "Other": "kept"}));
    let (client, log) = mock::client(mock::echo);
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    sync_once(&mut h, Some(&current), &mut state).await.unwrap();
    match h.commands.try_recv().unwrap() {
        MonitorCommand::LoadIsolation { listed, reasons } => {
            assert_eq!(listed, BTreeSet::from([1]));
            assert!(reasons.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    let put = &writes[0];
    assert_eq!(
        (put.method.as_str(), put.path()),
        (
            "PUT",
            "/api/v1/namespaces/kube-system/configmaps/mindx-dl-deviceinfo-node-a"
        )
    );
    assert_eq!(
        put.body["metadata"]["resourceVersion"], "41",
        "optimistic concurrency"
    );
    assert_eq!(put.body["metadata"]["labels"]["team"], "x");
    assert_eq!(put.body["data"]["Other"], "kept");
    assert_eq!(put.body["data"]["ManuallySeparateNPU"], "Ascend910-1");
    let list = device_list(put.body["data"]["DeviceInfoCfg"].as_str().unwrap());
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-1");
    assert!(
        !list["huawei.com/Ascend910"]
            .as_str()
            .unwrap()
            .contains("Ascend910-1,")
    );
}

fn isolated_snapshot(listed: &[u32]) -> Snapshot {
    use crate::device::faults::{FaultCode, FaultLevel};
    use crate::device::upgrade::{ReasonCode, UpgradeReason, UpgradeType};
    let mut snapshot = mock::snapshot(8, &[]);
    snapshot.isolation_loaded = true;
    snapshot.listed = listed.iter().copied().collect();
    let chip = snapshot.chips.get_mut(&3).unwrap();
    chip.healthy = false;
    chip.manually_separated = true;
    chip.level = FaultLevel::ManuallySeparateNPU;
    chip.reasons = vec![UpgradeReason {
        code: ReasonCode::Code(FaultCode(0x80E0_1801)),
        level: FaultLevel::ManuallySeparateNPU,
        kind: UpgradeType::FaultFrequency,
        time_ms: 1_760_000_000_000,
    }];
    snapshot
}

#[tokio::test]
async fn persisted_reasons_are_read_back_once_at_start() {
    let current = existing(json!({
        "ManuallySeparateNPU": "Ascend910-3",
        "UpgradeFaultReason": r#"{"Ascend910-3":[{"upgrade_time":1760000000000,"fault_code":"80e01801","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency"}],"Ascend910-99":[]}"#,
    }));
    let (client, _log) = mock::client(mock::echo);
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    sync_once(&mut h, Some(&current), &mut state).await.unwrap();
    match h.commands.try_recv().unwrap() {
        MonitorCommand::LoadIsolation { listed, reasons } => {
            assert_eq!(listed, BTreeSet::from([3]));
            assert_eq!(reasons.keys().copied().collect::<Vec<_>>(), [3]);
            assert_eq!(reasons[&3][0].time_ms, 1_760_000_000_000);
        }
        other => panic!("{other:?}"),
    }
    sync_once(&mut h, Some(&current), &mut state).await.unwrap();
    while let Ok(command) = h.commands.try_recv() {
        assert!(
            !matches!(command, MonitorCommand::LoadIsolation { .. }),
            "only once"
        );
    }
}

#[tokio::test]
async fn a_chip_isolated_by_a_rule_is_written_with_its_reason() {
    let (client, log) = mock::client(mock::echo);
    let mut h = harness(
        client,
        isolated_snapshot(&[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    let current = existing(json!({"ManuallySeparateNPU": ""}));
    sync_once(&mut h, Some(&current), &mut state).await.unwrap();
    let put = &log.writes()[0];
    assert_eq!(put.body["data"]["ManuallySeparateNPU"], "Ascend910-3");
    assert_eq!(
        put.body["data"]["UpgradeFaultReason"],
        r#"{"Ascend910-3":[{"upgrade_time":1760000000000,"fault_code":"80e01801","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency"}]}"#
    );
    let list = device_list(put.body["data"]["DeviceInfoCfg"].as_str().unwrap());
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-3");
}

#[tokio::test]
async fn a_snapshot_behind_the_operators_edit_never_writes_the_old_list_back() {
    let (client, log) = mock::client(mock::echo);
    // The snapshot still has the list [3]; the operator just emptied it.
    let mut h = harness(
        client,
        isolated_snapshot(&[3]),
        Usage::default(),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    let listed = existing(json!({"ManuallySeparateNPU": "Ascend910-3"}));
    sync_once(&mut h, Some(&listed), &mut state).await.unwrap();
    let before = log.writes().len();
    let edited = existing(json!({"ManuallySeparateNPU": ""}));
    state.written = None; // the watch has moved past our write
    sync_once(&mut h, Some(&edited), &mut state).await.unwrap();
    let released = std::iter::from_fn(|| h.commands.try_recv().ok())
        .any(|c| matches!(c, MonitorCommand::SetManuallySeparated(ref p) if p.is_empty()));
    assert!(released, "the release reaches the monitor");
    for write in &log.writes()[before..] {
        assert_eq!(
            write.body["data"]["ManuallySeparateNPU"], "",
            "the operator's empty list is not overwritten"
        );
    }
}

#[tokio::test]
async fn unchanged_content_is_not_rewritten_until_the_heartbeat() {
    let (client, log) = mock::client(mock::echo);
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut state = WriterState::default();
    sync_once(&mut h, None, &mut state).await.unwrap();
    let mut written: ConfigMap = serde_json::from_value(log.writes()[0].body.clone()).unwrap();
    written.metadata.resource_version = Some("3".into());
    // The watch shows our write: same content, nothing to write.
    state.written = None;
    sync_once(&mut h, Some(&written), &mut state).await.unwrap();
    assert_eq!(log.writes().len(), 1, "{:?}", log.writes());
    // Past the heartbeat it is rewritten even so.
    state.last_write = Some(Instant::now() - HEARTBEAT);
    sync_once(&mut h, Some(&written), &mut state).await.unwrap();
    assert_eq!(log.writes().len(), 2);
    assert_eq!(log.writes()[1].method, "PUT");
    // A health change is written at once.
    h.snapshot_tx
        .send_replace(Arc::new(mock::snapshot(8, &[6])));
    sync_once(&mut h, Some(&written), &mut state).await.unwrap();
    assert_eq!(log.writes().len(), 3);
}

#[tokio::test]
async fn a_refused_write_is_reported_and_the_next_pass_writes_on_the_watch_copy() {
    let (client, log) = mock::client(|r: &Recorded| match r.method.as_str() {
        "PUT" => mock::status(409, "Conflict"),
        _ => mock::echo(r),
    });
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let current = existing(json!({}));
    let mut state = WriterState::default();
    let error = sync_once(&mut h, Some(&current), &mut state)
        .await
        .unwrap_err();
    assert!(
        error.contains("write mindx-dl-deviceinfo-node-a"),
        "{error}"
    );
    assert!(state.written.is_none());
    assert!(
        state.last_write.is_none(),
        "the heartbeat still counts from the last success"
    );
    assert_eq!(log.writes().len(), 1);
}

/// A writer left alone for an hour of (paused) time: the requests it sent
/// and how often it woke. The clock is advanced by hand, so a writer that
/// spins cannot stall the test: it shows as wakes.
async fn idle_hour(observed: Observed<ConfigMap>) -> (Vec<Recorded>, u64) {
    let (client, log) = mock::client(mock::echo);
    let h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    h.observed_tx.send_replace(observed);
    let metrics = h.writer.metrics.clone();
    let stop = CancellationToken::new();
    let task = tokio::spawn(h.writer.run(stop.clone()));
    // Just short of the hour, so a heartbeat due at its last instant does
    // not race the end.
    for _ in 0..3599 {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    stop.cancel();
    let _ = task.await;
    (log.all(), metrics.reporter_wakes("deviceinfo"))
}

#[tokio::test(start_paused = true)]
async fn an_idle_writer_sends_only_the_heartbeat_outside_volcano_mode() {
    let synced = Observed {
        synced: true,
        object: None,
        generation: 1,
    };
    let (requests, wakes) = idle_hour(synced).await;
    assert!(requests.iter().all(|r| r.method != "GET"), "no polling");
    let creates = requests.iter().filter(|r| r.method == "POST").count();
    let replaces = requests.iter().filter(|r| r.method == "PUT").count();
    // One create at start, then one heartbeat every 5 minutes: 12 an hour.
    assert_eq!((creates, replaces), (1, 11), "{} requests", requests.len());
    // The Volcano-only kubelet-ID map has no sender here: it must not wake
    // the writer (it once did, thousands of times a second).
    assert!(wakes <= 13, "{wakes} wakes in an idle hour");
}

#[tokio::test(start_paused = true)]
async fn nothing_is_written_before_the_watch_has_listed() {
    let (requests, wakes) = idle_hour(Observed::default()).await;
    assert!(requests.is_empty(), "{requests:?}");
    assert!(wakes <= 1, "{wakes} wakes with nothing to do");
}

/// The watch's view of the ConfigMap: `cm` as generation `generation`.
fn seen(cm: ConfigMap, generation: u64) -> Observed<ConfigMap> {
    Observed {
        synced: true,
        object: Some(Arc::new(cm)),
        generation,
    }
}

async fn advance(seconds: u64) {
    for _ in 0..seconds {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_operators_edit_after_our_write_is_honoured_and_written_on() {
    let (client, log) = mock::client(mock::echo);
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    h.observed_tx.send_replace(Observed {
        synced: true,
        object: None,
        generation: 1,
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(h.writer.run(stop.clone()));
    advance(2).await;
    assert_eq!(log.writes().len(), 1, "created");
    let mut ours: ConfigMap = serde_json::from_value(log.writes()[0].body.clone()).unwrap();
    ours.metadata.resource_version = Some("10".into());
    // The watch brings our write back, then the operator's edit on top.
    h.observed_tx.send_replace(seen(ours.clone(), 2));
    advance(2).await;
    let mut edited = ours;
    edited.metadata.resource_version = Some("11".into());
    edited
        .data
        .as_mut()
        .unwrap()
        .insert(MANUALLY_SEPARATE_KEY.into(), "Ascend910-1".into());
    h.observed_tx.send_replace(seen(edited, 3));
    advance(2).await;
    let mut separated = None;
    while let Ok(command) = h.commands.try_recv() {
        if let MonitorCommand::SetManuallySeparated(phys) = command {
            separated = Some(phys);
        }
    }
    assert_eq!(separated, Some(BTreeSet::from([1])), "the edit is honoured");
    // The next write goes on top of the operator's version.
    h.snapshot_tx
        .send_replace(Arc::new(mock::snapshot(8, &[6])));
    advance(2).await;
    stop.cancel();
    let _ = task.await;
    let writes = log.writes();
    let last = writes.last().unwrap();
    assert_eq!(last.method, "PUT");
    assert_eq!(last.body["metadata"]["resourceVersion"], "11");
    assert_eq!(last.body["data"]["ManuallySeparateNPU"], "Ascend910-1");
}

#[test]
fn volcano_allocations_count_the_real_chips_as_used() {
    let mut assignments = Assignments::default();
    assignments.record(
        "Ascend910",
        &["Ascend910-0".to_owned()],
        &[6],
        "ml/p",
        "u",
        1,
    );
    let used = used_phys(
        &[resource()],
        &usage(&["Ascend910-0", "Ascend910-1"]),
        &assignments,
    );
    assert_eq!(
        used,
        BTreeSet::from([6, 1]),
        "ID 0 runs on chip 6; ID 1 has no mapping"
    );
    assert!(used_phys(&[resource()], &Usage::default(), &assignments).is_empty());
}

#[tokio::test]
async fn needs_write_also_restores_a_missing_label_or_key() {
    let (client, _) = mock::client(mock::echo);
    let h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let report = node_report(
        &h.writer.inventory,
        &mock::snapshot(8, &[]),
        &BTreeSet::new(),
        &[],
        5,
    );
    let cfg = device_info_cfg(&report);
    let good = desired(None, "node-a", cfg.clone(), None);
    assert!(!needs_write(Some(&good), &cfg, None));
    assert!(!needs_write(Some(&good), &cfg, Some(("", "{}"))));
    assert!(needs_write(Some(&good), &cfg, Some(("Ascend910-1", "{}"))));
    let mut unlabelled = good.clone();
    unlabelled.metadata.labels = None;
    assert!(needs_write(Some(&unlabelled), &cfg, None));
    let mut keyless = good.clone();
    keyless.data.as_mut().unwrap().remove(UPGRADE_FAULT_KEY);
    assert!(needs_write(Some(&keyless), &cfg, None));
    assert!(needs_write(None, &cfg, None));
}

#[test]
fn the_cfg_says_minus_two_for_super_pod_and_server_index_without_a_super_pod() {
    let chips = (0..2).map(|phy| chip(phy, Family::Ascend910B)).collect();
    let mut inv = inventory(chips);
    let report = node_report(&inv, &mock::snapshot(2, &[]), &BTreeSet::new(), &[], 5);
    assert_eq!((report.super_pod_id, report.server_index), (-2, -2));
    inv.super_pod = Some(crate::device::model::SuperPod {
        super_pod_id: 7,
        server_index: 3,
        sdid: 1,
    });
    let report = node_report(&inv, &mock::snapshot(2, &[]), &BTreeSet::new(), &[], 5);
    assert_eq!((report.super_pod_id, report.server_index), (7, 3));
}

#[test]
fn an_a5_node_reports_npu_keys_with_the_network_and_recovering_lists() {
    let chips = (0..2).map(|phy| chip(phy, Family::Ascend950)).collect();
    let report = node_report(
        &inventory(chips),
        &mock::snapshot(2, &[]),
        &BTreeSet::new(),
        &[],
        5,
    );
    assert_eq!(report.resource_type, "npu");
    assert!(report.family_is_910, "A5 runs in the 910 run mode");
    let chips = (0..2).map(|phy| chip(phy, Family::Ascend310P)).collect();
    let report = node_report(
        &inventory(chips),
        &mock::snapshot(2, &[]),
        &BTreeSet::new(),
        &[],
        5,
    );
    assert!(!report.family_is_910);
}
