//! Fault recovery on the simulator over real sockets: hot reset (the ring
//! fenced for exactly the reset, busy rings left alone, the documented rings
//! of 910, 910B and A3, failing resets landing in `ResetInfo`) and rule
//! isolation (FaultFrequency to ManuallySeparateNPU, kept across a restart
//! and an API outage, released by an operator's edit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kubelet_standin::{Device, HEALTHY, PodResources, UNHEALTHY};
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually, patience};

/// A RestartNPU code of the built-in table.
const RESTART_NPU: &str = "8C03A000";
/// An HBM fault: RestartBusiness, and twice in a day isolates the chip
/// (the built-in FaultFrequency rule).
const HBM: &str = "80E01801";
const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";
const RESET_ARGS: [&str; 3] = ["-hotReset=0", "--reset-idle-delay=0", "-listWatchPeriod=3"];

fn unhealthy(list: &[Device]) -> Vec<String> {
    let mut ids: Vec<String> = list
        .iter()
        .filter(|d| d.health == UNHEALTHY)
        .map(|d| d.id.clone())
        .collect();
    ids.sort_by_key(|id| id.rsplit('-').next().unwrap().parse::<u32>().unwrap());
    ids
}

fn names(phys: impl IntoIterator<Item = u32>) -> Vec<String> {
    phys.into_iter().map(|p| format!("Ascend910-{p}")).collect()
}

/// The simulator's count of resets it carried out, per phy id.
fn resets(node: &Node) -> Value {
    let text = std::fs::read_to_string(&node.state).unwrap_or_default();
    serde_json::from_str::<Value>(&text).map_or(Value::Null, |v| v["resets"].clone())
}

/// Raises `code` on `phy`, then sees the ring `ring` fenced (exactly those
/// chips Unhealthy) and then every chip Healthy again, reset once.
async fn reset_fences_the_ring(topology: &str, phy: u32, ring: Vec<u32>) {
    let mut node = Node::start(topology, &RESET_ARGS, &[]).await;
    node.sim(&["reset-inject", "boot-ms", "--ms", "4000"]);
    let (_client, mut watch, _) = node.watch().await;
    let phy_text = phy.to_string();
    node.sim(&["fault", "raise", "--phy", &phy_text, "--code", RESTART_NPU]);
    let fenced = names(ring);
    watch
        .until(patience(), |l| unhealthy(l) == fenced)
        .await
        .unwrap_or_else(|e| panic!("ring {fenced:?} fenced: {e:?}"));
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    assert_eq!(resets(&node)[&phy_text], 1, "reset once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_free_910_chip_is_reset_and_its_ring_is_unhealthy_for_exactly_the_reset() {
    reset_fences_the_ring("910-8", 1, vec![0, 1, 2, 3]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_910b_node_resets_its_ring_of_sixteen() {
    reset_fences_the_ring("910b-16", 5, (0..16).collect()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_a3_node_resets_both_dies_of_the_card_and_of_its_brother() {
    reset_fences_the_ring("a3-16", 4, vec![4, 5, 6, 7]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ring_with_a_process_on_it_is_reset_only_when_the_process_ends() {
    let mut node = Node::start("910-8", &RESET_ARGS, &[]).await;
    node.sim(&["proc", "set", "--phy", "2", "--count", "1"]);
    let (_client, mut watch, _) = node.watch().await;
    node.sim(&["fault", "raise", "--phy", "1", "--code", RESTART_NPU]);
    watch
        .until(patience(), |l| unhealthy(l) == names([1]))
        .await
        .unwrap();
    // Three polling cycles with the ring busy: no reset.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(resets(&node), Value::Null, "no reset while busy");
    node.sim(&["proc", "set", "--phy", "2", "--count", "0"]);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    assert_eq!(resets(&node)["1"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_a3_ring_whose_in_band_reset_fails_is_reset_out_of_band() {
    let mut node = Node::start("a3-16", &RESET_ARGS, &[]).await;
    node.sim(&["reset-inject", "fail", "--phy", "4"]);
    let (_client, mut watch, _) = node.watch().await;
    node.sim(&["fault", "raise", "--phy", "4", "--code", RESTART_NPU]);
    watch
        .until(patience(), |l| unhealthy(l) == names([4, 5, 6, 7]))
        .await
        .unwrap();
    // Four dies, 3 s settle each before the rescan, then the boot wait.
    watch
        .until(patience() * 3, |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    let resets = resets(&node);
    for phy in ["4", "5", "6", "7"] {
        assert_eq!(resets[phy], 1, "each die reset out of band once: {resets}");
    }
}

struct Cluster {
    api: FakeApi,
    node: Node,
    pod_resources: PodResources,
}

async fn start_cluster(args: &[&str]) -> Cluster {
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {}}}),
    );
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "tok-recovery", "");
    let kubeconfig_flag = format!("--kubeconfig={}", kubeconfig.display());
    let state_flag = format!("--state-dir={}", scratch.path().join("state").display());
    let mut all = vec![kubeconfig_flag.as_str(), state_flag.as_str()];
    all.extend_from_slice(args);
    let node = Node::start("910-8", &all, &[("NODE_NAME", "node-a")]).await;
    let socket = node.dir.path().join("kubelet/pod-resources/kubelet.sock");
    let pod_resources = PodResources::start(&socket).await.unwrap();
    std::mem::forget(scratch);
    Cluster {
        api,
        node,
        pod_resources,
    }
}

fn node_annotation(api: &FakeApi, key: &str) -> Option<String> {
    let node = api.get("/api/v1/nodes", "node-a")?;
    node["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_owned)
}

fn device_info(api: &FakeApi, key: &str) -> Option<String> {
    let cm = api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")?;
    cm["data"][key].as_str().map(str::to_owned)
}

fn holds(pod_resources: &PodResources, ids: &[&str]) {
    use kubelet_standin::proto::podresources as pr;
    let devices = if ids.is_empty() {
        Vec::new()
    } else {
        vec![pr::PodResources {
            name: "job".into(),
            namespace: "ml".into(),
            containers: vec![pr::ContainerResources {
                name: "main".into(),
                devices: vec![pr::ContainerDevices {
                    resource_name: "huawei.com/Ascend910".into(),
                    device_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
                    topology: None,
                }],
                ..Default::default()
            }],
        }]
    };
    pod_resources.set(devices);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chip_a_pod_holds_is_reset_only_after_the_pod_ends() {
    let mut cluster = start_cluster(&RESET_ARGS).await;
    holds(&cluster.pod_resources, &["Ascend910-3"]);
    // The plugin reads pod-resources every period: the pod holds the chip
    // from before the fault once the ConfigMap no longer lists it as free.
    eventually("the plugin sees the pod hold Ascend910-3", || {
        let cfg = device_info(&cluster.api, "DeviceInfoCfg")?;
        let cfg: Value = serde_json::from_str(&cfg).ok()?;
        let free = cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910"].as_str()?;
        (!free.split(',').any(|c| c == "Ascend910-3")).then_some(())
    })
    .await;
    let (_client, mut watch, _) = cluster.node.watch().await;
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "1", "--code", RESTART_NPU]);
    watch
        .until(patience(), |l| unhealthy(l) == names([1]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        resets(&cluster.node),
        Value::Null,
        "a pod holds a ring chip"
    );
    holds(&cluster.pod_resources, &[]);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    assert_eq!(resets(&cluster.node)["1"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_faulted_rings_that_share_no_chip_are_reset_together_and_both_come_back() {
    let mut cluster = start_cluster(&RESET_ARGS).await;
    cluster
        .node
        .sim(&["reset-inject", "boot-ms", "--ms", "4000"]);
    // One pod holds a chip of each ring, so both faults wait; its end
    // frees both rings in one pod-resources read.
    holds(&cluster.pod_resources, &["Ascend910-2", "Ascend910-6"]);
    eventually("the plugin sees the pod hold both rings", || {
        let cfg = device_info(&cluster.api, "DeviceInfoCfg")?;
        let cfg: Value = serde_json::from_str(&cfg).ok()?;
        let free = cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910"].as_str()?;
        let free: Vec<&str> = free.split(',').collect();
        (!free.contains(&"Ascend910-2") && !free.contains(&"Ascend910-6")).then_some(())
    })
    .await;
    let (_client, mut watch, _) = cluster.node.watch().await;
    for phy in ["1", "5"] {
        cluster
            .node
            .sim(&["fault", "raise", "--phy", phy, "--code", RESTART_NPU]);
    }
    watch
        .until(patience(), |l| unhealthy(l) == names([1, 5]))
        .await
        .unwrap();
    holds(&cluster.pod_resources, &[]);
    // Both rings fenced at the same moment: reset concurrently.
    watch
        .until(patience(), |l| unhealthy(l) == names(0..8))
        .await
        .unwrap_or_else(|e| panic!("both rings fenced together: {e:?}"));
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    let resets = resets(&cluster.node);
    assert_eq!(resets["1"], 1, "{resets}");
    assert_eq!(resets["5"], 1, "{resets}");
}

/// Each chip's fault codes as the device-info ConfigMap lists them.
fn listed_faults(api: &FakeApi) -> Option<std::collections::BTreeMap<String, String>> {
    let cfg: Value = serde_json::from_str(&device_info(api, "DeviceInfoCfg")?).ok()?;
    let text = cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910-Fault"].as_str()?;
    let faults: Vec<Value> = serde_json::from_str(text).ok()?;
    Some(
        faults
            .iter()
            .filter_map(|f| {
                Some((
                    f["npu_name"].as_str()?.to_owned(),
                    f["fault_code"].as_str()?.to_owned(),
                ))
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_hbm_duration_rule_a_bus_error_beside_the_hbm_fault_is_dropped_and_a_lone_one_counts()
 {
    const AIC_BUS: &str = "80C98009";
    let rules = support::private_dir();
    let file = rules.path().join("faultCustomization.json");
    std::fs::write(
        &file,
        r#"{"FaultDuration":[{"EventId":["80E01801"],"FaultTimeout":0,"RecoverTimeout":0,"FaultHandling":"RestartNPU"}]}"#,
    )
    .unwrap();
    let flag = format!("--fault-customization-file={}", file.display());
    let cluster = start_cluster(&["-listWatchPeriod=3", flag.as_str()]).await;
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "2", "--code", HBM]);
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "2", "--code", AIC_BUS]);
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "5", "--code", AIC_BUS]);
    // The lone bus error counts once it has lasted 5 s; the one beside the
    // HBM fault, decided at the same time, never does.
    let faults = eventually("chip 5's bus error listed", || {
        listed_faults(&cluster.api).filter(|f| f.get("Ascend910-5").is_some_and(|c| c == AIC_BUS))
    })
    .await;
    assert_eq!(faults["Ascend910-2"], HBM, "{faults:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let faults = listed_faults(&cluster.api).unwrap();
    assert_eq!(
        faults["Ascend910-2"], HBM,
        "still only the HBM fault: {faults:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_link_is_timed_by_its_duration_rule_not_by_linkdown_timeout() {
    // The rule says 2 s; -linkdownTimeout (30 s, inert) would say 30 s.
    let rules = support::private_dir();
    let file = rules.path().join("faultCustomization.json");
    std::fs::write(
        &file,
        r#"{"FaultDuration":[{"EventId":["81078603"],"FaultTimeout":2,"RecoverTimeout":0,"FaultHandling":"PreSeparateNPU"}]}"#,
    )
    .unwrap();
    let flag = format!("--fault-customization-file={}", file.display());
    let cluster =
        start_cluster(&["-listWatchPeriod=3", "-linkdownTimeout=30", flag.as_str()]).await;
    // DCMI's network health says down, with no code in the error list: the
    // plugin itself makes the link-down code (as upstream does from hccn_tool).
    cluster
        .node
        .sim(&["net", "set", "--phy", "3", "--value", "3"]);
    let network_unhealthy = |api: &FakeApi| -> Option<String> {
        let cfg: Value = serde_json::from_str(&device_info(api, "DeviceInfoCfg")?).ok()?;
        cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910-NetworkUnhealthy"]
            .as_str()
            .map(str::to_owned)
    };
    eventually("chip 3 network-unhealthy by the rule", || {
        network_unhealthy(&cluster.api).filter(|v| v == "Ascend910-3")
    })
    .await;
    let faults = listed_faults(&cluster.api).unwrap();
    assert_eq!(
        faults["Ascend910-3"], "81078603",
        "the link-down code: {faults:?}"
    );
    // The chip itself stays Healthy: the network never grades the chip.
    let cfg: Value =
        serde_json::from_str(&device_info(&cluster.api, "DeviceInfoCfg").unwrap()).unwrap();
    let unhealthy = cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910-Unhealthy"]
        .as_str()
        .unwrap_or_default();
    assert!(!unhealthy.contains("Ascend910-3"), "{unhealthy}");
    cluster.node.sim(&["net", "up", "--phy", "3"]);
    eventually("chip 3 network-healthy again", || {
        network_unhealthy(&cluster.api).filter(String::is_empty)
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reasons of the Events posted to `default`.
fn event_reasons(api: &FakeApi) -> Vec<String> {
    api.seen()
        .iter()
        .filter(|s| s.method == "POST" && s.uri.contains("/namespaces/default/events"))
        .filter_map(|s| s.body["reason"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_reset_spends_its_tokens_then_waits_for_an_operator_in_reset_info() {
    let hooks = support::private_dir();
    let hooks_file = hooks.path().join("hotResetPluginConfiguration.json");
    std::fs::write(
        &hooks_file,
        r#"[{"pluginName":"outbandReset","state":"ON"},{"pluginName":"resetRecord","state":"ON"}]"#,
    )
    .unwrap();
    let hooks_flag = format!("--hot-reset-plugin-config={}", hooks_file.display());
    let port = free_port();
    let healthz = format!("-healthz-address=127.0.0.1:{port}");
    let mut args = RESET_ARGS.to_vec();
    args.extend([hooks_flag.as_str(), "-enable-healthz", healthz.as_str()]);
    let cluster = start_cluster(&args).await;
    cluster.node.sim(&["reset-inject", "fail", "--phy", "6"]);
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "6", "--code", RESTART_NPU]);
    let info = eventually("ResetInfo lists chip 6", || {
        node_annotation(&cluster.api, "ResetInfo").filter(|v| v.contains(r#""PhyID":6"#))
    })
    .await;
    assert!(info.contains(r#""LogicID":6"#), "{info}");
    let attempts = std::fs::read_to_string(cluster.node.log_file())
        .unwrap()
        .matches("hot reset starting")
        .count();
    assert_eq!(attempts, 3, "three tokens, three attempts");
    let metrics = support::scrape(port).await;
    let series = |outcome: &str| {
        metrics
            .get(&format!(
                "ascend_device_plugin_hot_resets_total{{family=\"Ascend910\",outcome=\"{outcome}\"}}"
            ))
            .copied()
    };
    assert_eq!(series("attempted"), Some(3.0), "{metrics:?}");
    assert_eq!(series("failed"), Some(3.0));
    assert_eq!(series("succeeded"), None);
    let reasons = eventually("the reset Events", || {
        let reasons = event_reasons(&cluster.api);
        (reasons.iter().filter(|r| *r == "HotResetFailed").count() == 3).then_some(reasons)
    })
    .await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "HotResetStart").count(),
        3,
        "{reasons:?}"
    );
    // An operator fixes the chip: it is Healthy and leaves the list.
    cluster.node.sim(&["fault", "clear", "--phy", "6"]);
    eventually("ResetInfo empty again", || {
        node_annotation(&cluster.api, "ResetInfo").filter(|v| !v.contains("PhyID"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_hbm_faults_isolate_a_chip_through_a_restart_until_an_operator_releases_it() {
    let mut cluster = start_cluster(&["-listWatchPeriod=3"]).await;
    let (_client, mut watch, _) = cluster.node.watch().await;
    for _ in 0..2 {
        cluster
            .node
            .sim(&["fault", "raise", "--phy", "2", "--code", HBM]);
        watch
            .until(patience(), |l| unhealthy(l) == names([2]))
            .await
            .unwrap();
        cluster.node.sim(&["fault", "clear", "--phy", "2"]);
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    eventually("ManuallySeparateNPU lists the chip", || {
        device_info(&cluster.api, "ManuallySeparateNPU").filter(|v| v == "Ascend910-2")
    })
    .await;
    let reasons = device_info(&cluster.api, "UpgradeFaultReason").unwrap();
    assert!(
        reasons.contains(r#""fault_code":"80e01801""#) && reasons.contains("FaultFrequency"),
        "{reasons}"
    );
    // A restart: read back, still isolated.
    cluster.node.terminate();
    cluster.node.spawn();
    let (_client, mut watch, first) = cluster.node.watch().await;
    let list = if unhealthy(&first) == names([2]) {
        first
    } else {
        watch
            .until(patience(), |l| unhealthy(l) == names([2]))
            .await
            .unwrap()
    };
    assert_eq!(unhealthy(&list), names([2]));
    // An operator removes the name: released.
    let mut cm = cluster
        .api
        .get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")
        .unwrap();
    cm["data"]["ManuallySeparateNPU"] = json!("");
    cluster.api.put(CONFIGMAPS, cm);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    let reasons = eventually("the reason is gone", || {
        device_info(&cluster.api, "UpgradeFaultReason").filter(|v| v == "{}")
    })
    .await;
    assert_eq!(reasons, "{}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_chip_stays_isolated_while_the_api_server_is_away() {
    let cluster = start_cluster(&["-listWatchPeriod=3"]).await;
    let mut node = cluster.node;
    let (_client, mut watch, _) = node.watch().await;
    eventually("the ConfigMap", || {
        device_info(&cluster.api, "ManuallySeparateNPU")
    })
    .await;
    let mut cm = cluster
        .api
        .get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")
        .unwrap();
    cm["data"]["ManuallySeparateNPU"] = json!("Ascend910-5");
    cluster.api.put(CONFIGMAPS, cm);
    watch
        .until(patience(), |l| unhealthy(l) == names([5]))
        .await
        .unwrap();
    cluster.api.shutdown();
    // Several cycles against a dead API server: the isolation holds.
    let outcome = watch
        .until(Duration::from_secs(10), |l| unhealthy(l) != names([5]))
        .await;
    assert!(
        matches!(outcome, Err(kubelet_standin::Error::Timeout { .. })),
        "the list never changed: {outcome:?}"
    );
}
