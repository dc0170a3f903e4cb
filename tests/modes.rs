//! The node modes through the binary on the simulator, over real kubelet
//! sockets: soft share (names, the Volcano Allocate with its two mounts and
//! `npu_info.config`, its node rules), single-die A3 (the policy the driver
//! is given), edge mode and renamed devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use kubelet_standin::proto::podresources as pr;
use kubelet_standin::{PluginClient, PodResources};
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually};

const TOKEN: &str = "tok-modes-test";
const PODS: &str = "/api/v1/namespaces/ml/pods";
const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";
const AICORE: &str = "huawei.com/scheduler.softShareDev.aicoreQuota";
const HBM: &str = "huawei.com/scheduler.softShareDev.hbmQuota";
const POLICY: &str = "huawei.com/scheduler.softShareDev.policy";

/// A pod Volcano placed on chip `chip` with soft-share quotas.
fn soft_share_pod(
    name: &str,
    chip: &str,
    aicore: u32,
    hbm: u32,
    policy: &str,
    time: &str,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "ml", "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-11-29T10:00:00Z",
            "annotations": {
                "huawei.com/Ascend910": chip, "predicate-time": time,
                AICORE: aicore.to_string(), HBM: hbm.to_string(), POLICY: policy,
            },
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "main", "resources": {"limits": {"huawei.com/Ascend910": aicore.to_string()}}}],
        },
        "status": {"phase": "Pending"},
    })
}

/// A soft-share node: the fake API server with `pods`, the plugin in
/// Volcano mode with `-shareDevCount=100` and the two soft-share dirs under
/// `scratch`.
struct SoftShareNode {
    api: FakeApi,
    node: Node,
    scratch: tempfile::TempDir,
}

impl SoftShareNode {
    fn share_dir(&self) -> PathBuf {
        self.scratch.path().join("softshare")
    }

    fn enpu_dir(&self) -> PathBuf {
        self.scratch.path().join("enpu")
    }
}

async fn start_api(pods: Vec<Value>) -> (FakeApi, tempfile::TempDir, String) {
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {}},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}}),
    );
    for pod in pods {
        api.put(PODS, pod);
    }
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, TOKEN, "");
    let flag = format!("--kubeconfig={}", kubeconfig.display());
    (api, scratch, flag)
}

async fn start_soft_share(topology: &str, extra: &[&str], pods: Vec<Value>) -> SoftShareNode {
    let (api, scratch, kubeconfig) = start_api(pods).await;
    let share = format!(
        "-softShareDevConfigDir={}",
        scratch.path().join("softshare").display()
    );
    let enpu = format!(
        "--soft-share-enpu-dir={}",
        scratch.path().join("enpu").display()
    );
    let state = format!("--state-dir={}", scratch.path().join("state").display());
    let mut args = vec![
        "-volcanoType=true",
        "-shareDevCount=100",
        share.as_str(),
        enpu.as_str(),
        kubeconfig.as_str(),
        state.as_str(),
    ];
    args.extend_from_slice(extra);
    let node = Node::start(topology, &args, &[("NODE_NAME", "node-a")]).await;
    SoftShareNode { api, node, scratch }
}

fn ids(chip: u32, slots: std::ops::Range<u32>) -> Vec<String> {
    slots
        .map(|slot| format!("Ascend910-{chip}-{slot}"))
        .collect()
}

/// The one file in `dir`.
fn only_entry(dir: &Path) -> String {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_share_advertises_each_chip_a_hundred_times_and_allocate_mounts_the_pods_quota() {
    let pods = vec![
        soft_share_pod("infer-0", "Ascend910-5", 50, 16384, "elastic", "100"),
        soft_share_pod("infer-1", "Ascend910-5", 30, 8192, "fixed-share", "200"),
        soft_share_pod("infer-2", "Ascend910-5", 20, 4096, "best-effort", "300"),
    ];
    let mut node = start_soft_share("910b-16", &[], pods).await;
    let registration = node.node.registration().await;
    assert_eq!(registration.resource_name, "huawei.com/Ascend910");
    assert_eq!(registration.endpoint, "Ascend910.sock");
    let mut client: PluginClient = node.node.client(&registration.endpoint).await;
    let mut watch = client.watch().await.unwrap();
    let list = watch.next(support::node::patience()).await.unwrap();
    assert_eq!(list.len(), 16 * 100);
    assert!(list.iter().any(|d| d.id == "Ascend910-15-99"));

    // kubelet picks 50 IDs blindly (on chip 0); Volcano chose chip 5.
    let response = client.allocate(vec![ids(0, 0..50)]).await.unwrap();
    let answer = &response.container_responses[0];
    let devices: Vec<&str> = answer
        .devices
        .iter()
        .map(|d| d.host_path.as_str())
        .collect();
    assert!(devices.contains(&"/dev/davinci5"), "{devices:?}");
    assert!(!devices.contains(&"/dev/davinci0"), "{devices:?}");
    let die = only_entry(&node.share_dir().join("5"));
    let groups: Vec<&str> = die.split('-').collect();
    assert_eq!(groups.len(), 5, "{die}");
    assert!(groups.iter().all(|g| {
        g.len() == 8
            && g.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    }));
    assert_eq!(answer.mounts.len(), 2, "{:?}", answer.mounts);
    let shm = &answer.mounts[0];
    assert_eq!(shm.container_path, format!("/dev/shm/{die}"));
    assert_eq!(
        Path::new(&shm.host_path),
        node.share_dir().join("5").join(&die)
    );
    assert!(!shm.read_only);
    let config = &answer.mounts[1];
    assert_eq!(config.container_path, "/etc/enpu/vcann-rt/");
    assert!(config.read_only);
    assert_eq!(
        Path::new(&config.host_path),
        node.enpu_dir().join("ml.infer-0").join("5_0")
    );
    let text =
        std::fs::read_to_string(node.enpu_dir().join("ml.infer-0/5_0/npu_info.config")).unwrap();
    assert_eq!(
        text,
        format!(
            "physical-npu-id=5\nvirtual-npu-id=0\naicore-quota=50\nmemory-quota=16384\nshm-id={die}\nscheduling-policy=2\n"
        )
    );

    // The second pod on the same chip gets the next vid.
    let response = client.allocate(vec![ids(1, 0..30)]).await.unwrap();
    let answer = &response.container_responses[0];
    assert_eq!(
        Path::new(&answer.mounts[1].host_path),
        node.enpu_dir().join("ml.infer-1").join("5_1")
    );
    let text =
        std::fs::read_to_string(node.enpu_dir().join("ml.infer-1/5_1/npu_info.config")).unwrap();
    assert!(
        text.contains("aicore-quota=30\n") && text.contains("scheduling-policy=1\n"),
        "{text}"
    );

    // Both pods are claimed and written back with their one real chip.
    let api = node.api.clone();
    let pod = eventually("the write-back", || {
        let pod = api.get(PODS, "infer-0")?;
        pod["metadata"]["annotations"]["huawei.com/AscendReal"]
            .is_string()
            .then_some(pod)
    })
    .await;
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["huawei.com/AscendReal"], "Ascend910-5");
    assert_eq!(annotations["predicate-time"], "18446744073709551615");

    // A request no pod's quota explains is refused.
    let refused = client.allocate(vec![ids(2, 0..10)]).await.unwrap_err();
    assert!(
        refused.to_string().contains("no pod on node node-a"),
        "{refused}"
    );

    // The device-info ConfigMap lists chip 5 as free until the quotas of
    // the pods kubelet reports on it make a whole chip.
    client.allocate(vec![ids(2, 0..20)]).await.unwrap();
    let socket = node
        .node
        .dir
        .path()
        .join("kubelet/pod-resources/kubelet.sock");
    let pod_resources = PodResources::start(&socket).await.unwrap();
    let listing = |pods: &[(&str, Vec<String>)]| {
        pods.iter()
            .map(|(name, ids)| pr::PodResources {
                name: (*name).into(),
                namespace: "ml".into(),
                containers: vec![pr::ContainerResources {
                    name: "main".into(),
                    devices: vec![pr::ContainerDevices {
                        resource_name: "huawei.com/Ascend910".into(),
                        device_ids: ids.clone(),
                        topology: None,
                    }],
                    ..Default::default()
                }],
            })
            .collect::<Vec<_>>()
    };
    let all = [
        ("infer-0", ids(0, 0..50)),
        ("infer-1", ids(1, 0..30)),
        ("infer-2", ids(2, 0..20)),
    ];
    pod_resources.set(listing(&all));
    let free = |api: &FakeApi| -> Option<String> {
        let cm = api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")?;
        let cfg: Value = serde_json::from_str(cm["data"]["DeviceInfoCfg"].as_str()?).ok()?;
        cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910"]
            .as_str()
            .map(str::to_owned)
    };
    let listed = |list: &str, chip: &str| list.split(',').any(|c| c == chip);
    eventually("chip 5 full (50 + 30 + 20 %)", || {
        free(&api).filter(|list| !listed(list, "Ascend910-5") && listed(list, "Ascend910-4"))
    })
    .await;
    pod_resources.set(listing(&all[..2]));
    eventually("chip 5 free again (80 %)", || {
        free(&api).filter(|list| listed(list, "Ascend910-5"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_share_refuses_to_start_on_a_first_generation_910_node() {
    let (_api, scratch, kubeconfig) = start_api(Vec::new()).await;
    let share = format!(
        "-softShareDevConfigDir={}",
        scratch.path().join("softshare").display()
    );
    let kubelet = format!("--kubelet-dir={}", scratch.path().join("kubelet").display());
    let log = format!("-logFile={}", scratch.path().join("log/dp.log").display());
    let output = support::run_plugin(
        "910-8",
        &[("NODE_NAME", "node-a")],
        &[
            "-volcanoType=true",
            "-shareDevCount=100",
            &share,
            &kubeconfig,
            &kubelet,
            &log,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("-softShareDevConfigDir") && stderr.contains("Ascend910 chips"),
        "{stderr}"
    );
}

/// The multi-die policy the simulator recorded in its state file.
fn recorded_policy(node: &Node) -> Option<u64> {
    let text = std::fs::read_to_string(&node.state).ok()?;
    let state: Value = serde_json::from_str(&text).ok()?;
    state["multi_die_policy"].as_u64()
}

#[tokio::test(flavor = "multi_thread")]
async fn single_die_mode_sets_the_independent_die_policy_on_a3_and_leaves_names_alone() {
    let mut node = Node::start("a3-16", &["-useSingleDieMode=true"], &[]).await;
    let (_client, _watch, list) = node.watch().await;
    assert_eq!(list.len(), 16);
    assert!(list.iter().any(|d| d.id == "Ascend910-15"));
    let policy = eventually("the policy", || recorded_policy(&node)).await;
    assert_eq!(policy, 1, "independent dies");

    let mut union = Node::start("a3-16", &[], &[]).await;
    let (_client, _watch, list) = union.watch().await;
    assert_eq!(list.len(), 16);
    assert_eq!(recorded_policy(&union), Some(0), "both dies together");
}

#[tokio::test(flavor = "multi_thread")]
async fn single_die_mode_does_not_touch_the_driver_off_a3() {
    let mut node = Node::start("910b-16", &["-useSingleDieMode=true"], &[]).await;
    let (_client, _watch, list) = node.watch().await;
    assert_eq!(list.len(), 16);
    assert_eq!(recorded_policy(&node), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn edge_mode_serves_310_as_davinci_mini_with_the_edge_nodes_and_logs_to_the_edge_file() {
    let scratch = support::private_dir();
    let dev = scratch.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for name in ["davinci_manager", "svm0", "log_drv"] {
        std::fs::write(dev.join(name), b"").unwrap();
    }
    let edge_log = scratch.path().join("alog/devicePlugin.log");
    let dev_flag = format!("--dev-root={}", dev.display());
    let log_flag = format!("-edgeLogFile={}", edge_log.display());
    let mut node = Node::start(
        "310-4",
        &[
            "-fdFlag=true",
            &log_flag,
            &dev_flag,
            "-useAscendDocker=false",
        ],
        &[],
    )
    .await;
    let registration = node.registration().await;
    assert_eq!(registration.resource_name, "huawei.com/davinci-mini");
    assert_eq!(registration.endpoint, "davinci-mini.sock");
    let mut client = node.client(&registration.endpoint).await;
    let mut watch = client.watch().await.unwrap();
    let list = watch.next(support::node::patience()).await.unwrap();
    let mut ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "davinci-mini-0",
            "davinci-mini-1",
            "davinci-mini-2",
            "davinci-mini-3"
        ]
    );
    let response = client
        .allocate(vec![vec!["davinci-mini-2".to_owned()]])
        .await
        .unwrap();
    let devices: Vec<&str> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.as_str())
        .collect();
    assert_eq!(
        devices,
        [
            "/dev/davinci2",
            "/dev/davinci_manager",
            "/dev/log_drv",
            "/dev/svm0"
        ]
    );
    let log = eventually("the edge log file", || {
        std::fs::read_to_string(&edge_log)
            .ok()
            .filter(|text| text.contains("advertising"))
    })
    .await;
    assert!(log.contains("davinci-mini"), "{log}");
    assert!(
        !node.log_file().exists(),
        "-logFile is not used in edge mode"
    );
}

fn write_names(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("deviceNameCustomization.json");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn renamed_devices_are_what_kubelet_sees_and_allocate_maps_them_back() {
    let scratch = support::private_dir();
    let file = write_names(
        scratch.path(),
        r#"[{"ResourceType":"Ascend910","DevicePublicType":"vendor.com/npu910","DevicePublicNamePre":"npu910-","PodConfigurationName":""}]"#,
    );
    let flag = format!("--device-name-customization-file={}", file.display());
    let mut node = Node::start("910-8", &[&flag, "-useAscendDocker=false"], &[]).await;
    let registration = node.registration().await;
    assert_eq!(registration.resource_name, "vendor.com/npu910");
    assert_eq!(
        registration.endpoint, "Ascend910.sock",
        "the socket keeps its name"
    );
    let mut client = node.client(&registration.endpoint).await;
    let mut watch = client.watch().await.unwrap();
    let list = watch.next(support::node::patience()).await.unwrap();
    assert_eq!(list.len(), 8);
    assert!(list.iter().all(|d| d.id.starts_with("npu910-")), "{list:?}");
    let response = client
        .allocate(vec![vec!["npu910-3".to_owned(), "npu910-5".to_owned()]])
        .await
        .unwrap();
    let devices: Vec<&str> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.as_str())
        .collect();
    assert!(
        devices.contains(&"/dev/davinci3") && devices.contains(&"/dev/davinci5"),
        "{devices:?}"
    );
    let refused = client
        .allocate(vec![vec!["Ascend910-3".to_owned()]])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("Ascend910-3"), "{refused}");
    let available: Vec<String> = (0..8).map(|i| format!("npu910-{i}")).collect();
    let preferred = client.preferred(available, Vec::new(), 2).await.unwrap();
    assert_eq!(preferred.len(), 2);
    assert!(
        preferred.iter().all(|id| id.starts_with("npu910-")),
        "{preferred:?}"
    );
}

#[test]
fn a_bad_renaming_file_stops_the_start_naming_the_file_entry_and_field() {
    let scratch = support::private_dir();
    let file = write_names(
        scratch.path(),
        r#"[{"ResourceType":"Ascend910","DevicePublicType":"npu910","DevicePublicNamePre":"npu910-"}]"#,
    );
    let flag = format!("--device-name-customization-file={}", file.display());
    let kubelet = format!("--kubelet-dir={}", scratch.path().join("kubelet").display());
    let log = format!("-logFile={}", scratch.path().join("log/dp.log").display());
    let output = support::run_plugin("910-8", &[], &[&flag, &kubelet, &log]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("deviceNameCustomization.json")
            && stderr.contains("entry 0")
            && stderr.contains("DevicePublicType"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_share_stops_the_start_when_its_config_folder_cannot_be_made() {
    let (_api, scratch, kubeconfig) = start_api(Vec::new()).await;
    let share = format!(
        "-softShareDevConfigDir={}",
        scratch.path().join("softshare").display()
    );
    let blocker = scratch.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let enpu = format!("--soft-share-enpu-dir={}", blocker.join("enpu").display());
    let kubelet = format!("--kubelet-dir={}", scratch.path().join("kubelet").display());
    let log = format!("-logFile={}", scratch.path().join("log/dp.log").display());
    let output = support::run_plugin(
        "910b-16",
        &[("NODE_NAME", "node-a")],
        &[
            "-volcanoType=true",
            "-shareDevCount=100",
            &share,
            &enpu,
            &kubeconfig,
            &kubelet,
            &log,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--soft-share-enpu-dir") && stderr.contains("not-a-dir"),
        "{stderr}"
    );
    assert!(
        !scratch
            .path()
            .join("kubelet/device-plugins/Ascend910.sock")
            .exists(),
        "nothing served"
    );
}
