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
    _keep: (watch::Sender<Arc<Usage>>, watch::Sender<Arc<Assignments>>),
}

fn harness(client: Client, snapshot: Snapshot, usage: Usage, assignments: Assignments) -> Harness {
    let (s_tx, snapshots) = watch::channel(Arc::new(snapshot));
    let (u_tx, usage) = watch::channel(Arc::new(usage));
    let (a_tx, assignments) = watch::channel(Arc::new(assignments));
    let (commands, command_rx) = mpsc::channel(4);
    let chips = (0..8).map(|phy| chip(phy, Family::Ascend910)).collect();
    Harness {
        writer: DeviceInfoWriter {
            client,
            node: "node-a".into(),
            inventory: Arc::new(inventory(chips)),
            resources: vec![resource()],
            period: Duration::from_secs(5),
            snapshots,
            usage,
            assignments,
            commands,
            metrics: Metrics::new(),
        },
        commands: command_rx,
        snapshot_tx: s_tx,
        _keep: (u_tx, a_tx),
    }
}

async fn sync_once(h: &mut Harness, last_write: &mut Option<Instant>) -> Result<(), String> {
    let api: Api<ConfigMap> = Api::namespaced(h.writer.client.clone(), NAMESPACE);
    let mut separated = None;
    h.writer
        .sync(
            &api,
            "mindx-dl-deviceinfo-node-a",
            &mut separated,
            last_write,
        )
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
    let mut last_write = None;
    sync_once(&mut h, &mut last_write).await.unwrap();
    let all = log.all();
    assert_eq!(all[0].method, "GET");
    assert_eq!(all[0].path(), format!("{PATH}/mindx-dl-deviceinfo-node-a"));
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
    assert!(last_write.is_some());
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
    let served = serde_json::to_value(&current).unwrap();
    let (client, log) = mock::client(move |request: &Recorded| match request.method.as_str() {
        "GET" => (200, served.clone()),
        _ => mock::echo(request),
    });
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut last_write = None;
    sync_once(&mut h, &mut last_write).await.unwrap();
    match h.commands.try_recv().unwrap() {
        MonitorCommand::SetManuallySeparated(phys) => assert_eq!(phys, BTreeSet::from([1])),
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

#[tokio::test]
async fn unchanged_content_is_not_rewritten_until_the_heartbeat() {
    let (first_client, first_log) = mock::client(|r: &Recorded| match r.method.as_str() {
        "GET" => mock::status(404, "NotFound"),
        _ => mock::echo(r),
    });
    let mut h = harness(
        first_client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let mut last_write = None;
    sync_once(&mut h, &mut last_write).await.unwrap();
    let written = first_log.writes()[0].body.clone();
    // Same content, an older UpdateTime: nothing to write.
    let mut stale = written.clone();
    let cfg = stale["data"]["DeviceInfoCfg"].as_str().unwrap().to_owned();
    stale["data"]["DeviceInfoCfg"] = Value::String(cfg);
    stale["metadata"]["resourceVersion"] = json!("3");
    let (client, log) = mock::client(move |r: &Recorded| match r.method.as_str() {
        "GET" => (200, stale.clone()),
        _ => mock::echo(r),
    });
    h.writer.client = client;
    sync_once(&mut h, &mut last_write).await.unwrap();
    assert!(log.writes().is_empty(), "{:?}", log.writes());
    // Past the heartbeat it is rewritten even so.
    let mut old = Some(Instant::now() - HEARTBEAT);
    sync_once(&mut h, &mut old).await.unwrap();
    assert_eq!(log.writes().len(), 1);
    // A health change is written at once.
    h.snapshot_tx
        .send_replace(Arc::new(mock::snapshot(8, &[6])));
    sync_once(&mut h, &mut last_write).await.unwrap();
    assert_eq!(log.writes().len(), 2);
}

#[tokio::test]
async fn a_failed_read_writes_nothing() {
    let (client, log) = mock::client(|_| mock::status(403, "Forbidden"));
    let mut h = harness(
        client,
        mock::snapshot(8, &[]),
        Usage::default(),
        Assignments::default(),
    );
    let error = sync_once(&mut h, &mut None).await.unwrap_err();
    assert!(error.contains("GET mindx-dl-deviceinfo-node-a"), "{error}");
    assert!(log.writes().is_empty());
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
    let good = desired(None, "node-a", cfg.clone());
    assert!(!needs_write(Some(&good), &cfg));
    let mut unlabelled = good.clone();
    unlabelled.metadata.labels = None;
    assert!(needs_write(Some(&unlabelled), &cfg));
    let mut keyless = good.clone();
    keyless.data.as_mut().unwrap().remove(UPGRADE_FAULT_KEY);
    assert!(needs_write(Some(&keyless), &cfg));
    assert!(needs_write(None, &cfg));
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
