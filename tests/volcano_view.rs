//! Our node as Volcano's Ascend scheduler plugin reads it, on every shipped
//! topology: the binary on the simulator, an in-memory API server and the
//! stand-in kubelet. The chip list Volcano derives from the device-info
//! ConfigMap and the node's annotations must hold exactly the devices
//! kubelet is told are healthy, before and after a chip fault, or Volcano
//! refuses every whole-chip task on the node; and a node of Atlas 300I Duo
//! cards must carry the label Volcano's 300I Duo handler requires.
//!
//! The rules below are those of mind-cluster `component/ascend-for-volcano`
//! (`common/k8s/cmmgr.go` initNodeDeviceInfoByCmMgr, `common/util/util.go`
//! GetNodeDevListFromAnno / GetDeviceType / GetActivePodUsedDevFromNode,
//! `plugin/node.go` checkNPUResourceStable,
//! `internal/npu/ascend310p/chip310px2/frame.go` CheckNodeNPUByTask), with
//! its default `self-maintain-available-card=true` and no soft-share label.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use kubelet_standin::{Device, HEALTHY, PodResources, UNHEALTHY};
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually, patience};

const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";
const NODES: &str = "/api/v1/nodes";

/// What Volcano concludes about one node.
#[derive(Debug)]
struct VolcanoView {
    /// `huawei.com/<Type>`, the resource its chip list is checked against.
    resource: String,
    /// The chips it believes free and healthy for whole-chip tasks.
    chips: BTreeSet<String>,
}

/// Volcano's GetDeviceType: the first DeviceList key naming a type decides.
fn device_type(device_list: &serde_json::Map<String, Value>) -> &'static str {
    for key in device_list.keys() {
        if key.starts_with("huawei.com/npu") {
            return "npu";
        }
        for kind in ["Ascend910", "Ascend310P", "Ascend310"] {
            if key.contains(kind) {
                return kind;
            }
        }
    }
    "Ascend910"
}

fn split(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// initNodeDeviceInfoByCmMgr: from `baseDeviceInfos` when none of its keys
/// names a vNPU (more than one `-`), minus the chips pods use (their
/// `AscendReal`, none here) and the Unhealthy and Recovering ones; else the
/// ConfigMap's own list of the type.
fn volcano_view(config_map: &Value, node: &Value) -> VolcanoView {
    let cfg: Value =
        serde_json::from_str(config_map["data"]["DeviceInfoCfg"].as_str().unwrap()).unwrap();
    let device_list = cfg["DeviceInfo"]["DeviceList"].as_object().unwrap();
    let kind = device_type(device_list);
    let resource = format!("huawei.com/{kind}");
    let list = |suffix: &str| {
        split(
            device_list
                .get(&format!("{resource}{suffix}"))
                .and_then(Value::as_str),
        )
    };
    let base: serde_json::Map<String, Value> = serde_json::from_str(
        node["metadata"]["annotations"]["baseDeviceInfos"]
            .as_str()
            .expect("the node carries baseDeviceInfos"),
    )
    .unwrap();
    let has_vnpu = base.keys().any(|name| name.split('-').count() > 2);
    let chips = if has_vnpu {
        list("").into_iter().collect()
    } else {
        let mut chips: BTreeSet<String> = base.keys().cloned().collect();
        for gone in list("-Unhealthy").into_iter().chain(list("-Recovering")) {
            chips.remove(&gone);
        }
        chips
    };
    VolcanoView { resource, chips }
}

fn healthy(list: &[Device]) -> BTreeSet<String> {
    list.iter()
        .filter(|d| d.health == HEALTHY)
        .map(|d| d.id.clone())
        .collect()
}

/// Starts the plugin on `topology` (Volcano mode) against a Node that has
/// no annotations, and checks Volcano's view of it while all chips are
/// healthy and again after a fault on one chip kubelet has whole.
async fn check_topology(topology: &str) {
    let api = FakeApi::start().await;
    api.put(
        NODES,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}}),
    );
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "tok", "");
    let kubeconfig_flag = format!("--kubeconfig={}", kubeconfig.display());
    let state_flag = format!("--state-dir={}", scratch.path().join("state").display());
    let args = [
        "-volcanoType=true",
        "-listWatchPeriod=3",
        kubeconfig_flag.as_str(),
        state_flag.as_str(),
    ];
    let mut node = Node::start(topology, &args, &[("NODE_NAME", "node-a")]).await;
    let socket = node.dir.path().join("kubelet/pod-resources/kubelet.sock");
    let _pod_resources = PodResources::start(&socket).await.unwrap();

    let read = || {
        let config_map = api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")?;
        let node = api.get(NODES, "node-a")?;
        node["metadata"]["annotations"]["baseDeviceInfos"].as_str()?;
        Some((config_map, node))
    };
    let (config_map, node_object) = eventually("the ConfigMap and annotations", read).await;
    let view = volcano_view(&config_map, &node_object);

    // kubelet's list of the resource Volcano checks.
    let registration = loop {
        let registration = node.registration().await;
        if registration.resource_name == view.resource {
            break registration;
        }
    };
    let mut client = node.client(&registration.endpoint).await;
    let mut watch = client.watch().await.unwrap();
    let first = watch.next(patience()).await.unwrap();
    assert_eq!(
        view.chips,
        healthy(&first),
        "{topology}: Volcano's chip list must be what kubelet has healthy"
    );

    // A fault on the last whole chip: both sides drop it, and only it.
    let victim = first.last().unwrap().id.clone();
    let phy = victim.rsplit('-').next().unwrap().to_owned();
    node.sim(&["fault", "raise", "--phy", &phy, "--code", "80E24E00"]);
    let list = watch
        .until(patience(), |l| {
            l.iter().any(|d| d.id == victim && d.health == UNHEALTHY)
        })
        .await
        .unwrap();
    let view = eventually("the fault in the ConfigMap", || {
        let (config_map, node_object) = read()?;
        let view = volcano_view(&config_map, &node_object);
        (!view.chips.contains(&victim)).then_some(view)
    })
    .await;
    assert_eq!(
        view.chips,
        healthy(&list),
        "{topology}: after a fault on {victim}"
    );
    assert_eq!(
        view.chips.len() + 1,
        first.len(),
        "{topology}: one fault, one chip"
    );

    // Every key on the node was written by the plugin (it started with
    // none): each must be one the shipped admission policy lets it change.
    let keys = |field: &str| -> BTreeSet<String> {
        node_object["metadata"][field]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let own_labels = support::policy_list("admission-policy", "ownLabels");
    let own_annotations = support::policy_list("admission-policy", "ownNodeAnnotations");
    assert!(
        keys("labels").is_subset(&own_labels),
        "{topology}: labels {:?} outside the policy's {own_labels:?}",
        keys("labels")
    );
    assert!(
        keys("annotations").is_subset(&own_annotations),
        "{topology}: annotations {:?} outside the policy's {own_annotations:?}",
        keys("annotations")
    );

    // Volcano's 300I Duo handler: the node label, on Duo nodes only.
    let labels = &node_object["metadata"]["labels"];
    let duo_label = labels["infer-card-type"].as_str();
    let all_duo = topology == "310p-duo-vnpu";
    assert_eq!(
        duo_label,
        all_duo.then_some("card-300i-duo"),
        "{topology}: infer-card-type"
    );
    assert!(node.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_910_module_as_kubelet_does() {
    check_topology("910-8").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_910b_server_as_kubelet_does() {
    check_topology("910b-16").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_a3_super_pod_node_as_kubelet_does() {
    check_topology("a3-16").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_300i_duo_node_with_static_vnpus_as_kubelet_does() {
    check_topology("310p-duo-vnpu").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_310_card_as_kubelet_does() {
    check_topology("310-4").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_mixed_310p_node_as_kubelet_does() {
    check_topology("310p-mixed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_sees_the_310b_box_as_kubelet_does() {
    check_topology("310b-1").await;
}
