#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
use serde_json::json;

use super::*;
use crate::device::faults::FaultTable;
use crate::device::health::{Policy, Reading, Tracker};
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};
use crate::k8s::mock::{self, Recorded};

fn node_inventory() -> Inventory {
    let chips = (0..4)
        .map(|phy| crate::device::model::Chip {
            chip_name: "910B3".into(),
            aicore: 20,
            memory_mb: Some(65536),
            ..chip(phy, Family::Ascend910B)
        })
        .collect();
    Inventory {
        driver_version: Some("24.1.rc2".into()),
        ..inventory(chips)
    }
}

/// Chip 2 faulted then cleared with autoStowing=false: recovering.
fn recovering_snapshot() -> Snapshot {
    let mut tracker = Tracker::new(Policy::new(Arc::new(FaultTable::builtin()), false), 0..4);
    let read = |phy_id, failed| Reading {
        phy_id,
        failed,
        ..Reading::default()
    };
    for phy in 0..4 {
        tracker.apply(read(phy, phy == 2), 1);
    }
    tracker.apply(read(2, false), 2);
    let snapshot = (*tracker.snapshot()).clone();
    assert!(snapshot.chips[&2].recovering);
    snapshot
}

fn node_json(labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-a", "labels": labels, "annotations": {}},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.1.2.3"}]},
    })
}

fn as_node(value: serde_json::Value) -> Node {
    serde_json::from_value(value).unwrap()
}

fn make_agent(
    client: Client,
    auto_stowing: bool,
    snapshot: Snapshot,
) -> (
    NodeAgent,
    mpsc::Receiver<MonitorCommand>,
    watch::Sender<Arc<Snapshot>>,
) {
    let (tx, snapshots) = watch::channel(Arc::new(snapshot));
    let (commands, rx) = mpsc::channel(8);
    let agent = NodeAgent {
        client,
        node: "node-a".into(),
        inventory: Arc::new(node_inventory()),
        auto_stowing,
        observed: crate::changes::constant(Observed::default()),
        snapshots,
        reset_manual: crate::changes::constant(Arc::default()),
        commands,
        metrics: Metrics::new(),
    };
    (agent, rx, tx)
}

#[tokio::test]
async fn labels_and_annotations_are_patched_only_where_they_differ() {
    let node = as_node(node_json(
        json!({"servertype": "mine", "accelerator": "huawei-Ascend910"}),
    ));
    let (client, log) = mock::client(mock::echo);
    let (agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[]));
    let api: Api<Node> = Api::all(agent.client.clone());
    assert!(agent.pass(&api, &node).await.unwrap());
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    let patch = &writes[0];
    assert_eq!(
        (patch.method.as_str(), patch.path()),
        ("PATCH", "/api/v1/nodes/node-a")
    );
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let labels = patch.body["metadata"]["labels"].as_object().unwrap();
    assert!(!labels.contains_key("accelerator"), "already right");
    assert!(
        !labels.contains_key("servertype"),
        "the operator's own value stays"
    );
    assert_eq!(labels["node.kubernetes.io/npu.chip.name"], "910B3");
    assert_eq!(labels["huawei.com/driver.version"], "24.1.rc2");
    assert_eq!(labels["mind-cluster/npu-chip-memory"], "64G");
    let annotations = &patch.body["metadata"]["annotations"];
    assert_eq!(annotations["superPodID"], "-2", "no super pod on a 910B");
    assert!(
        annotations["baseDeviceInfos"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"Ascend910-0":{"IP":"","SuperDeviceID":0}"#)
    );
}

#[tokio::test]
async fn a_node_already_labelled_is_not_patched() {
    let (client, first) = mock::client(mock::echo);
    let (agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[]));
    let bare = as_node(node_json(json!({})));
    agent
        .pass(&Api::all(agent.client.clone()), &bare)
        .await
        .unwrap();
    let applied = first.writes()[0].body["metadata"].clone();
    let labelled = as_node(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-a", "labels": applied["labels"], "annotations": applied["annotations"]},
    }));
    let (client, log) = mock::client(mock::echo);
    let (agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[]));
    let wrote = agent
        .pass(&Api::all(agent.client.clone()), &labelled)
        .await
        .unwrap();
    assert!(!wrote);
    assert!(log.writes().is_empty(), "{:?}", log.writes());
}

#[tokio::test]
async fn the_recover_label_releases_recovering_chips_and_is_removed() {
    let served =
        node_json(json!({"huawei.com/Ascend910-Recover": "Ascend910-2.Ascend910-1.bogus"}));
    let (client, first) = mock::client(mock::echo);
    let (agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[]));
    agent
        .pass(&Api::all(agent.client.clone()), &as_node(served.clone()))
        .await
        .unwrap();
    // Labelled as the plugin wants it, with the operator's recover label.
    let mut node = served;
    node["metadata"]["annotations"] = first.writes()[0].body["metadata"]["annotations"].clone();
    for (key, value) in first.writes()[0].body["metadata"]["labels"]
        .as_object()
        .unwrap()
    {
        node["metadata"]["labels"][key] = value.clone();
    }
    // The server answers the patch with the node.
    let answer = node.clone();
    let (client, log) = mock::client(move |_: &Recorded| (200, answer.clone()));
    let (agent, mut commands, _keep) = make_agent(client, false, recovering_snapshot());
    agent
        .pass(&Api::all(agent.client.clone()), &as_node(node))
        .await
        .unwrap();
    match commands.try_recv().unwrap() {
        MonitorCommand::Release(phy) => assert_eq!(phy, 2),
        other => panic!("{other:?}"),
    }
    assert!(
        commands.try_recv().is_err(),
        "chip 1 is not recovering; bogus is no chip"
    );
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].body,
        json!({"metadata": {"labels": {"huawei.com/Ascend910-Recover": null}}})
    );
}

#[test]
fn the_node_ip_is_host_ip_else_the_internal_address() {
    let node = Node {
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "Hostname".into(),
                    address: "n".into(),
                },
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.1.2.3".into(),
                },
            ]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    };
    assert_eq!(
        node_ip(Some("192.0.2.1"), Some(&node)).as_deref(),
        Some("192.0.2.1")
    );
    assert_eq!(node_ip(None, Some(&node)).as_deref(), Some("10.1.2.3"));
    assert_eq!(node_ip(None, None), None);
}

#[tokio::test(start_paused = true)]
async fn an_idle_node_is_patched_once_and_never_polled() {
    let (client, log) = mock::client(mock::echo);
    let (mut agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[]));
    let (observed_tx, observed) = watch::channel(Observed::default());
    agent.observed = observed;
    let metrics = agent.metrics.clone();
    let stop = CancellationToken::new();
    let task = tokio::spawn(agent.run(stop.clone()));
    let bare = as_node(node_json(json!({})));
    observed_tx.send_replace(Observed {
        synced: true,
        object: Some(Arc::new(bare)),
        generation: 1,
    });
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let writes = log.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    // The watch brings the patched node back: nothing more to do, for an hour.
    let meta = &writes[0].body["metadata"];
    let labelled = as_node(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-a", "labels": meta["labels"], "annotations": meta["annotations"]},
    }));
    observed_tx.send_replace(Observed {
        synced: true,
        object: Some(Arc::new(labelled)),
        generation: 2,
    });
    for _ in 0..3600 {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    stop.cancel();
    let _ = task.await;
    assert_eq!(log.all().len(), 1, "{:?}", log.all());
    assert!(
        metrics.reporter_wakes("node") <= 3,
        "{} wakes",
        metrics.reporter_wakes("node")
    );
}

#[tokio::test]
async fn a_node_without_any_annotations_or_labels_is_annotated_not_a_crash() {
    // Upstream panics on such a Node; its metadata has no maps at all.
    let bare = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}});
    let (client, log) = mock::client(mock::echo);
    let (agent, _, _keep) = make_agent(client, false, mock::snapshot(4, &[]));
    let api: Api<Node> = Api::all(agent.client.clone());
    agent.pass(&api, &as_node(bare)).await.unwrap();
    let writes = log.writes();
    assert_eq!(writes.len(), 1, "one patch, no recover-label removal");
    let metadata = &writes[0].body["metadata"];
    assert_eq!(metadata["labels"]["accelerator"], "huawei-Ascend910");
    assert!(metadata["annotations"]["baseDeviceInfos"].is_string());
    assert_eq!(metadata["annotations"]["serverIndex"], "-2");
}

#[tokio::test]
async fn reset_info_lists_the_chips_left_to_an_operator_and_drops_them_once_healthy() {
    use crate::device::reset::ManualResetDev;
    let (client, log) = mock::client(mock::echo);
    let (mut agent, _, _keep) = make_agent(client, true, mock::snapshot(4, &[2]));
    let dev = ManualResetDev {
        card_id: 2,
        device_id: 0,
        associated_card_id: 0,
        phy_id: 2,
        logic_id: 2,
    };
    let (_manual_tx, manual) = watch::channel(Arc::new(vec![dev]));
    agent.reset_manual = manual;
    let api: Api<Node> = Api::all(agent.client.clone());
    let node = as_node(node_json(json!({})));
    agent.pass(&api, &node).await.unwrap();
    let value = log.writes()[0].body["metadata"]["annotations"]["ResetInfo"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(value.contains(r#""PhyID":2"#), "{value}");
    // The node now carries it: nothing more to write.
    let mut annotated = node.clone();
    annotated
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("ResetInfo".into(), value.clone());
    let all_annotations = log.writes()[0].body["metadata"]["annotations"].clone();
    for (key, v) in all_annotations.as_object().unwrap() {
        annotated
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.clone(), v.as_str().unwrap().to_owned());
    }
    let labels = log.writes()[0].body["metadata"]["labels"].clone();
    for (key, v) in labels.as_object().unwrap() {
        annotated
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(key.clone(), v.as_str().unwrap().to_owned());
    }
    assert!(!agent.pass(&api, &annotated).await.unwrap(), "unchanged");
    // Healthy again (and no longer on the operator list): the entry goes.
    let (_healthy_tx, healthy) = watch::channel(Arc::new(mock::snapshot(4, &[])));
    agent.snapshots = healthy;
    let (_empty_tx, empty) = watch::channel(Arc::new(Vec::new()));
    agent.reset_manual = empty;
    assert!(agent.pass(&api, &annotated).await.unwrap());
    let last = log.writes().last().unwrap().body["metadata"]["annotations"]["ResetInfo"].clone();
    assert_eq!(last, r#"{"ThirdPartyResetDevs":[],"ManualResetDevs":[]}"#);
}
