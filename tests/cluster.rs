//! The plugin's Kubernetes API side, end to end on the simulator: the
//! binary against an in-memory API server (tests/support/apiserver.rs), the
//! stand-in kubelet and its pod-resources service. A Volcano allocation uses
//! the pod's chips and writes the pod back; ListAndWatch reports the real
//! chips' health, also after restarts with and without the state file; the
//! device-info ConfigMap and node labels appear; no credential or
//! environment value reaches the logs; a token file with a trailing newline
//! authenticates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use kubelet_standin::proto::podresources as pr;
use kubelet_standin::{Device, HEALTHY, PodResources, UNHEALTHY};
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually, patience};

const TOKEN: &str = "tok-SECRET-4f1c9e";
const ENV_SECRET: &str = "env-SECRET-77aa0b";
const PODS: &str = "/api/v1/namespaces/ml/pods";
const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";

fn volcano_pod(name: &str, chips: &str, predicate_time: &str) -> Value {
    let count = chips.split(',').count().to_string();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "ml", "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-11-29T10:00:00Z",
            "annotations": {"huawei.com/Ascend910": chips, "predicate-time": predicate_time},
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "main", "resources": {"limits": {"huawei.com/Ascend910": count}}}],
        },
        "status": {"phase": "Pending"},
    })
}

struct Cluster {
    api: FakeApi,
    /// The health endpoint's port (/metrics).
    port: u16,
    node: Node,
    pod_resources: PodResources,
}

async fn start_cluster() -> Cluster {
    let job = volcano_pod("job-0", "Ascend910-4,Ascend910-5", "100");
    start_cluster_with("910-8", &[], vec![job]).await
}

async fn start_cluster_with(topology: &str, extra_args: &[&str], pods: Vec<Value>) -> Cluster {
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
    let kubeconfig_flag = format!("--kubeconfig={}", kubeconfig.display());
    let state_flag = format!("--state-dir={}", scratch.path().join("state").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let healthz_flag = format!("-healthz-address=127.0.0.1:{port}");
    let mut args = vec![
        "-volcanoType=true",
        "-listWatchPeriod=3",
        "-enable-healthz",
        healthz_flag.as_str(),
        kubeconfig_flag.as_str(),
        state_flag.as_str(),
    ];
    args.extend_from_slice(extra_args);
    let node = Node::start(
        topology,
        &args,
        &[("NODE_NAME", "node-a"), ("ADP_TEST_PROBE", ENV_SECRET)],
    )
    .await;
    let socket = node.dir.path().join("kubelet/pod-resources/kubelet.sock");
    let pod_resources = PodResources::start(&socket).await.unwrap();
    // The scratch dir holds the kubeconfig and state for the whole test.
    std::mem::forget(scratch);
    Cluster {
        api,
        port,
        node,
        pod_resources,
    }
}

fn health(list: &[Device], id: &str) -> String {
    list.iter()
        .find(|d| d.id == id)
        .map(|d| d.health.clone())
        .unwrap_or_default()
}

/// The IDs kubelet is told are Unhealthy.
fn unhealthy(list: &[Device]) -> Vec<&str> {
    list.iter()
        .filter(|d| d.health == UNHEALTHY)
        .map(|d| d.id.as_str())
        .collect()
}

fn annotation(pod: &Value, key: &str) -> Option<String> {
    pod["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_owned)
}

/// Patches that claim a pod (set `predicate-time`).
fn pod_patches(api: &FakeApi) -> usize {
    api.seen()
        .iter()
        .filter(|s| s.method == "PATCH" && s.uri.contains("/pods/"))
        .filter(|s| !s.body["metadata"]["annotations"]["predicate-time"].is_null())
        .count()
}

/// Allocates kubelet IDs 0 and 1 for job-0 (Volcano chose 4 and 5), and
/// lets the pod-resources service report them, as kubelet would.
async fn allocate_job(cluster: &mut Cluster) {
    let (mut client, _watch, _) = cluster.node.watch().await;
    let ids = vec!["Ascend910-0".to_owned(), "Ascend910-1".to_owned()];
    let response = client.allocate(vec![ids.clone()]).await.unwrap();
    let devices: Vec<&str> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.as_str())
        .collect();
    assert!(
        devices.contains(&"/dev/davinci4") && devices.contains(&"/dev/davinci5"),
        "{devices:?}"
    );
    assert!(
        !devices.contains(&"/dev/davinci0"),
        "kubelet's IDs only count: {devices:?}"
    );
    kubelet_lists(&cluster.pod_resources, "job-0", ids);
}

/// Lets the pod-resources service report `ids` of Ascend910 for pod
/// `ml/<name>` alone, as kubelet would after admitting it.
fn kubelet_lists(pod_resources: &PodResources, name: &str, ids: Vec<String>) {
    pod_resources.set(vec![pr::PodResources {
        name: name.into(),
        namespace: "ml".into(),
        containers: vec![pr::ContainerResources {
            name: "main".into(),
            devices: vec![pr::ContainerDevices {
                resource_name: "huawei.com/Ascend910".into(),
                device_ids: ids,
                topology: None,
            }],
            ..Default::default()
        }],
    }]);
}

#[tokio::test(flavor = "multi_thread")]
async fn volcano_allocation_writes_back_and_the_real_chips_health_survives_restarts() {
    let mut cluster = start_cluster().await;
    allocate_job(&mut cluster).await;
    let api = cluster.api.clone();
    let pod = eventually("the write-back", || {
        let pod = api.get(PODS, "job-0")?;
        annotation(&pod, "huawei.com/AscendReal").map(|_| pod)
    })
    .await;
    assert_eq!(
        annotation(&pod, "predicate-time").as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(
        annotation(&pod, "huawei.com/AscendReal").as_deref(),
        Some("Ascend910-4,Ascend910-5")
    );
    assert_eq!(
        annotation(&pod, "huawei.com/kltDev").as_deref(),
        Some("Ascend910-0,Ascend910-1")
    );
    let configuration: Value = serde_json::from_str(
        &annotation(
            &pod,
            "ascend.kubectl.kubernetes.io/ascend-910-configuration",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        configuration["host_ip"], "10.0.0.7",
        "the node's InternalIP (no HOST_IP)"
    );
    assert_eq!(configuration["server_id"], "uid-job-0");
    assert_eq!(configuration["devices"][0]["device_id"], "4");

    // The writes and the match are counted.
    let writes_ok = r#"ascend_device_plugin_api_writes_total{kind="pod_annotation",outcome="ok"}"#;
    let deadline = Instant::now() + patience();
    let metrics = loop {
        // The counter moves once the plugin has read the server's answer.
        let metrics = support::scrape(cluster.port).await;
        if metrics.get(writes_ok).is_some_and(|&n| n >= 2.0) || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(metrics.get(writes_ok), Some(&2.0), "claim + write-back");
    assert_eq!(
        metrics["ascend_device_plugin_volcano_pod_match_duration_seconds_count"],
        1.0
    );

    // A request no pod explains changes nothing.
    let before = pod_patches(&api);
    let (mut client, mut watch, _) = cluster.node.watch().await;
    let refused = client
        .allocate(vec![vec!["Ascend910-2".to_owned()]])
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("no pod on node node-a"),
        "{refused}"
    );
    assert_eq!(pod_patches(&api), before, "no pod was patched");

    // The device-info ConfigMap counts the real chips as used.
    let cm = eventually("the device-info ConfigMap", || {
        let cm = api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")?;
        let cfg: Value = serde_json::from_str(cm["data"]["DeviceInfoCfg"].as_str()?).ok()?;
        let free = cfg["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910"]
            .as_str()?
            .to_owned();
        (!free.contains("Ascend910-4")).then_some(cm)
    })
    .await;
    assert_eq!(cm["metadata"]["labels"]["mx-consumer-cim"], "true");
    let node = eventually("node labels", || {
        let node = api.get("/api/v1/nodes", "node-a")?;
        node["metadata"]["labels"]["accelerator"]
            .is_string()
            .then_some(node)
    })
    .await;
    assert_eq!(
        node["metadata"]["labels"]["accelerator"],
        "huawei-Ascend910"
    );

    // A fault on real chip 4 reaches kubelet ID Ascend910-0.
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "4", "--code", "80E01801"]);
    let list = watch
        .until(patience(), |l| health(l, "Ascend910-0") == UNHEALTHY)
        .await
        .unwrap();
    assert_eq!(health(&list, "Ascend910-1"), HEALTHY, "its chip 5 is fine");
    assert_eq!(
        unhealthy(&list),
        ["Ascend910-0"],
        "one faulty chip costs one device: Ascend910-4 reports chip 0"
    );
    cluster.node.sim(&["fault", "clear", "--phy", "4"]);
    watch
        .until(patience(), |l| health(l, "Ascend910-0") == HEALTHY)
        .await
        .unwrap();

    // Restart with the state file: the map is back at once.
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "5", "--code", "80E01801"]);
    assert!(cluster.node.terminate().success());
    cluster.node.spawn();
    let (_, mut watch, first) = cluster.node.watch().await;
    if health(&first, "Ascend910-1") != UNHEALTHY {
        watch
            .until(patience(), |l| health(l, "Ascend910-1") == UNHEALTHY)
            .await
            .unwrap();
    }

    // Restart without it: rebuilt from pod-resources and AscendReal.
    assert!(cluster.node.terminate().success());
    let state = cluster.node.args_value("--state-dir=").unwrap();
    let file = std::path::Path::new(&state).join("volcano-map.json");
    std::fs::remove_file(&file).unwrap();
    cluster.node.spawn();
    // Chip 1 itself is healthy: only the rebuilt map makes its ID Unhealthy.
    let (_, mut watch, first) = cluster.node.watch().await;
    let list = if health(&first, "Ascend910-1") == UNHEALTHY {
        first
    } else {
        watch
            .until(patience(), |l| health(l, "Ascend910-1") == UNHEALTHY)
            .await
            .unwrap()
    };
    assert_eq!(
        unhealthy(&list),
        ["Ascend910-1"],
        "chip 5's ID reports chip 1 (the swap), so chip 5 costs one device"
    );
    eventually("the rebuilt map on disk", || file.exists().then_some(())).await;
    assert!(cluster.node.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_kubeconfig_or_environment_value_reaches_the_logs() {
    no_secret_in_the_logs_at("-logLevel=0").await;
}

/// At debug level every dependency (kube, hyper, h2, rustls, tonic) logs too.
#[tokio::test(flavor = "multi_thread")]
async fn no_token_kubeconfig_or_environment_value_reaches_the_logs_at_debug_level() {
    no_secret_in_the_logs_at("-logLevel=-1").await;
}

async fn no_secret_in_the_logs_at(level: &str) {
    let job = volcano_pod("job-0", "Ascend910-4,Ascend910-5", "100");
    let mut cluster = start_cluster_with("910-8", &[level], vec![job]).await;
    allocate_job(&mut cluster).await;
    let api = cluster.api.clone();
    eventually("the write-back", || {
        annotation(&api.get(PODS, "job-0")?, "huawei.com/AscendReal")
    })
    .await;
    cluster
        .node
        .sim(&["fault", "raise", "--phy", "3", "--code", "80E01801"]);
    eventually("a node event", || {
        api.seen()
            .iter()
            .any(|s| s.method == "POST" && s.uri.contains("/events"))
            .then_some(())
    })
    .await;
    // Errors too: the API server refuses a write.
    api.shutdown();
    cluster.node.sim(&["fault", "clear", "--phy", "3"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(cluster.node.terminate().success());

    let bearer = format!("Bearer {TOKEN}");
    assert!(
        api.seen()
            .iter()
            .any(|s| s.authorization.as_deref() == Some(bearer.as_str())),
        "the token was in use"
    );
    let log = std::fs::read_to_string(cluster.node.log_file()).unwrap();
    let stderr = cluster.node.stderr();
    assert!(
        log.contains("Volcano pod matched"),
        "the flows ran and were logged"
    );
    if level == "-logLevel=-1" {
        let dependency_debug = log
            .lines()
            .filter(|l| l.contains("DEBUG") && !l.contains(" ascend_device_plugin"))
            .count();
        assert!(dependency_debug > 0, "dependencies logged at debug level");
    }
    for (what, text) in [("log file", &log), ("stderr", &stderr)] {
        for secret in [TOKEN, ENV_SECRET, "token:"] {
            assert!(!text.contains(secret), "{what} contains {secret}");
        }
    }
    let file_mode = std::fs::metadata(cluster.node.log_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let dir_mode = std::fs::metadata(cluster.node.log_file().parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!((file_mode, dir_mode), (0o640, 0o750));
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_vnpus_are_created_at_allocate_and_destroyed_when_their_pod_ends() {
    let mut pod = volcano_pod("infer-0", "x", "100");
    pod["metadata"]["annotations"] =
        json!({"huawei.com/npu-core": "1-vir02", "predicate-time": "100"});
    pod["spec"]["containers"][0]["resources"]["limits"] = json!({"huawei.com/npu-core": "2"});
    let mut cluster =
        start_cluster_with("310p-duo-vnpu", &["-presetVirtualDevice=false"], vec![pod]).await;
    let store = {
        let mut name = cluster.node.state.clone().into_os_string();
        name.push(".vnpu.json");
        std::path::PathBuf::from(name)
    };
    let created_vnpus = || -> Vec<(u64, String)> {
        let Ok(text) = std::fs::read_to_string(&store) else {
            return Vec::new();
        };
        let store: Value = serde_json::from_str(&text).unwrap();
        store["chips"]["1"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["template"] == "vir02")
            .map(|v| {
                (
                    v["vdev_id"].as_u64().unwrap(),
                    v["template"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(created_vnpus().is_empty());
    // The topology's pre-created vNPUs (ids 100-104) serve no running pod:
    // dynamic mode destroys them.
    let all_vnpus = || -> usize {
        let Ok(text) = std::fs::read_to_string(&store) else {
            return usize::MAX;
        };
        let store: Value = serde_json::from_str(&text).unwrap();
        store["chips"].as_object().map_or(0, |chips| {
            chips
                .values()
                .map(|v| v.as_array().map_or(0, Vec::len))
                .sum()
        })
    };
    eventually("the unused static vNPUs destroyed", || {
        (all_vnpus() == 0).then_some(())
    })
    .await;

    let (mut client, _watch, _) = cluster.node.watch().await;
    let ids = vec!["npu-core-8".to_owned(), "npu-core-9".to_owned()];
    let response = client.allocate(vec![ids]).await.unwrap();
    let created = created_vnpus();
    assert_eq!(created.len(), 1, "one vir02 on chip 1: {created:?}");
    let vdev = created[0].0;
    let devices: Vec<(&str, &str)> = response.container_responses[0]
        .devices
        .iter()
        .map(|d| (d.host_path.as_str(), d.container_path.as_str()))
        .collect();
    let host = format!("/dev/vdavinci{vdev}");
    assert!(devices.iter().any(|(h, _)| *h == host), "{devices:?}");

    let api = cluster.api.clone();
    let pod = eventually("the write-back", || {
        let pod = api.get(PODS, "infer-0")?;
        annotation(&pod, "huawei.com/kltDev").map(|_| pod)
    })
    .await;
    assert_eq!(
        annotation(&pod, "huawei.com/kltDev").as_deref(),
        Some("npu-core-8,npu-core-9")
    );
    assert_eq!(
        annotation(&pod, "huawei.com/AscendReal"),
        None,
        "virtual: no AscendReal"
    );
    assert_eq!(
        annotation(&pod, "predicate-time").as_deref(),
        Some("18446744073709551615")
    );

    // Restarted without its map while kubelet lists the pod: the vNPU is
    // unknown to the plugin but may be in use, so it stays.
    cluster.pod_resources.set(vec![pr::PodResources {
        name: "infer-0".into(),
        namespace: "ml".into(),
        containers: vec![pr::ContainerResources {
            name: "main".into(),
            devices: vec![pr::ContainerDevices {
                resource_name: "huawei.com/npu-core".into(),
                device_ids: vec!["npu-core-8".into(), "npu-core-9".into()],
                topology: None,
            }],
            ..Default::default()
        }],
    }]);
    assert!(cluster.node.terminate().success());
    let state = cluster.node.args_value("--state-dir=").unwrap();
    std::fs::remove_file(std::path::Path::new(&state).join("volcano-map.json")).unwrap();
    cluster.node.spawn();
    cluster.node.watch().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        created_vnpus().len(),
        1,
        "an unknown vNPU of a listed pod stays"
    );

    // The pod ends (kubelet stops listing it): the map is complete again and
    // the vNPU no running pod uses goes.
    cluster.pod_resources.set(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(40);
    while !created_vnpus().is_empty() {
        assert!(Instant::now() < deadline, "vNPU {vdev} not destroyed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cluster.node.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_with_a_trailing_newline_authenticates_every_request() {
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}),
    );
    let scratch = support::private_dir();
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let kubeconfig = scratch.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: plugin}}\ncurrent-context: fake\nusers:\n- name: plugin\n  user:\n    tokenFile: {}\n",
        api.address,
        token_file.display()
    );
    std::fs::write(&kubeconfig, text).unwrap();
    let kubeconfig_flag = format!("--kubeconfig={}", kubeconfig.display());
    let mut node = Node::start("910-8", &[&kubeconfig_flag], &[("NODE_NAME", "node-a")]).await;
    eventually("the device-info ConfigMap", || {
        api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")
    })
    .await;
    assert!(node.terminate().success());
    let bearer = format!("Bearer {TOKEN}");
    let seen = api.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(bearer.as_str())),
        "every request carries the trimmed token"
    );
    let log = std::fs::read_to_string(node.log_file()).unwrap();
    assert!(!log.contains(TOKEN), "the token is not logged");
}

/// The devices of an Allocate answer, as host paths.
fn host_paths(response: &kubelet_standin::AllocateResponse) -> Vec<String> {
    response.container_responses[0]
        .devices
        .iter()
        .map(|d| d.host_path.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chip_another_running_pod_holds_is_never_handed_out_again() {
    let mut cluster = start_cluster_with(
        "910-8",
        &[],
        vec![volcano_pod("job-a", "Ascend910-3", "100")],
    )
    .await;
    let (mut client, _watch, _) = cluster.node.watch().await;
    let first = client
        .allocate(vec![vec!["Ascend910-0".to_owned()]])
        .await
        .unwrap();
    assert!(host_paths(&first).contains(&"/dev/davinci3".to_owned()));
    kubelet_lists(&cluster.pod_resources, "job-a", vec!["Ascend910-0".into()]);
    // A pod bound to the node by hand claims chip 3 with an older
    // predicate-time than the honest pod Volcano gave chip 5.
    let api = cluster.api.clone();
    api.put(PODS, volcano_pod("thief", "Ascend910-3", "50"));
    api.put(PODS, volcano_pod("honest", "Ascend910-5", "200"));
    let honest = client
        .allocate(vec![vec!["Ascend910-1".to_owned()]])
        .await
        .unwrap();
    let paths = host_paths(&honest);
    assert!(paths.contains(&"/dev/davinci5".to_owned()), "{paths:?}");
    assert!(!paths.contains(&"/dev/davinci3".to_owned()), "{paths:?}");

    // The thief's own Allocate is refused, naming the chip and its holder.
    let refused = client
        .allocate(vec![vec!["Ascend910-2".to_owned()]])
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("phy id 3"), "{refused}");
    assert!(refused.contains("ml/job-a"), "{refused}");
    assert_eq!(
        annotation(&api.get(PODS, "thief").unwrap(), "predicate-time").as_deref(),
        Some("50"),
        "the thief was never marked used"
    );

    // Nothing is lost: job-a keeps chip 3, the honest pod has chip 5.
    let state = cluster.node.args_value("--state-dir=").unwrap();
    let file = std::path::Path::new(&state).join("volcano-map.json");
    let map: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ids = &map["resources"]["Ascend910"];
    assert_eq!(ids["Ascend910-0"]["real_phy"], 3);
    assert_eq!(ids["Ascend910-0"]["pod"], "ml/job-a");
    assert_eq!(ids["Ascend910-1"]["real_phy"], 5);
    assert_eq!(ids["Ascend910-1"]["pod"], "ml/honest");
    assert!(ids["Ascend910-2"].is_null(), "{ids}");
    let metrics = support::scrape(cluster.port).await;
    assert!(
        metrics
            .get("ascend_device_plugin_volcano_chip_conflicts_total")
            .is_some_and(|&n| n >= 1.0),
        "the conflict is counted"
    );
    // And reported once on the node, naming the pod, the chip and the holder.
    let events = eventually("the conflict event", || {
        let events: Vec<Value> = api
            .seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.uri.contains("/namespaces/default/events"))
            .map(|s| s.body)
            .filter(|e| e["reason"] == "NPUChipConflict")
            .collect();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1, "one event per offending pod: {events:?}");
    let message = events[0]["message"].as_str().unwrap();
    for part in ["ml/thief", "phy id 3", "ml/job-a"] {
        assert!(message.contains(part), "{message}");
    }
    assert_eq!(events[0]["involvedObject"]["name"], "node-a");
    assert_eq!(events[0]["type"], "Warning");
    assert!(cluster.node.terminate().success());
}

/// `VmRSS` and `VmHWM` of process `pid`, in kB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Benchmark (docs/benchmarks.md), not a timed test: the plugin's memory
/// with 2,000 live pods on the node, each carrying 200 KiB of annotations
/// it never reads. Run with `cargo test --test cluster -- --ignored
/// pod_cache_memory --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: 400 MB of pods in the test process"]
async fn pod_cache_memory_with_2000_fat_pods() {
    let padding = "x".repeat(200 * 1024);
    let mut pods = vec![volcano_pod("job-0", "Ascend910-4,Ascend910-5", "100")];
    for i in 0..2000 {
        let mut pod = volcano_pod(&format!("fat-{i}"), "Ascend910-1", "1");
        pod["metadata"]["annotations"] = json!({"example.com/padding": padding});
        pod["status"]["phase"] = json!("Running");
        pods.push(pod);
    }
    let started = Instant::now();
    let mut cluster = start_cluster_with("910-8", &[], pods).await;
    // The Volcano match needs the synced cache: every page listed.
    let (mut client, _watch, _) = cluster.node.watch().await;
    let ids = vec!["Ascend910-0".to_owned(), "Ascend910-1".to_owned()];
    while let Err(error) = client.allocate(vec![ids.clone()]).await {
        assert!(started.elapsed() < Duration::from_secs(300), "{error}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let synced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, hwm) = rss_kb(cluster.node.pid());
    println!(
        "2000 pods x 200 KiB annotations: synced in {synced:?}; VmRSS {} MB, VmHWM {} MB",
        rss / 1024,
        hwm / 1024
    );
    assert!(cluster.node.terminate().success());
}
