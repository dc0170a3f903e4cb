//! DRA mode (`ascend-device-plugin dra`) on the simulator, over real unix
//! sockets, with this file playing kubelet (registration, prepare,
//! unprepare, the health stream) and the in-memory API server holding the
//! ResourceSlices and ResourceClaims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ascend_device_plugin::grpc::unix::unix_channel;
use ascend_device_plugin::proto::dra::v1 as dra;
use ascend_device_plugin::proto::dra::v1::dra_plugin_client::DraPluginClient;
use ascend_device_plugin::proto::drahealth::v1 as health;
use ascend_device_plugin::proto::drahealth::v1::dra_resource_health_client::DraResourceHealthClient;
use ascend_device_plugin::proto::pluginregistration as reg;
use ascend_device_plugin::proto::pluginregistration::registration_client::RegistrationClient;
use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::eventually;
use tonic::transport::Channel;

const SLICES: &str = "/apis/resource.k8s.io/v1/resourceslices";
const CLAIMS: &str = "/apis/resource.k8s.io/v1/namespaces/ml/resourceclaims";
const NODES: &str = "/api/v1/nodes";

/// One simulated node running the DRA driver against a fake API server.
struct DraNode {
    dir: tempfile::TempDir,
    api: FakeApi,
    topology: String,
    /// Flags every start of the driver gets.
    flags: Vec<String>,
    child: Option<Child>,
}

impl DraNode {
    async fn start(topology: &str) -> DraNode {
        Self::start_with(topology, &[]).await
    }

    async fn start_with(topology: &str, flags: &[&str]) -> DraNode {
        let dir = support::private_dir();
        let api = FakeApi::start().await;
        api.put(
            NODES,
            json!({"metadata": {"name": "node-a", "uid": "node-uid-1"}}),
        );
        for sub in ["plugins", "registry", "cdi", "state", "dev", "sim"] {
            let path = dir.path().join(sub);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        for node in ["davinci_manager", "devmm_svm", "hisi_hdc"] {
            std::fs::write(dir.path().join("dev").join(node), "").unwrap();
        }
        std::fs::write(dir.path().join("boot_id"), "boot-1\n").unwrap();
        api.write_kubeconfig(&dir.path().join("kubeconfig"), "token-x", "");
        let mut node = DraNode {
            dir,
            api,
            topology: topology.into(),
            flags: flags.iter().map(|f| (*f).to_string()).collect(),
            child: None,
        };
        node.spawn(&[]);
        node
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn spawn(&mut self, extra: &[&str]) {
        let p = |sub: &str| self.path(sub).display().to_string();
        let mut command = Command::new(support::plugin_bin());
        command
            .env("ASCEND_SIM_TOPOLOGY", &self.topology)
            .env("ASCEND_SIM_STATE", self.path("sim/state.json"))
            .env("NODE_NAME", "node-a")
            .env_remove("ASCEND_DOCKER_RUNTIME")
            .env_remove("RUST_LOG")
            .arg(format!("--dcmi-lib={}", support::sim_lib().display()))
            .arg(format!("-logFile={}", p("log/dra.log")))
            .arg(format!("--kubeconfig={}", p("kubeconfig")))
            .arg(format!("--state-dir={}", p("state")))
            .arg(format!("--dev-root={}", p("dev")))
            .arg("dra")
            .arg(format!("--plugins-dir={}", p("plugins")))
            .arg(format!("--registry-dir={}", p("registry")))
            .arg(format!("--cdi-dir={}", p("cdi")))
            .arg(format!("--boot-id-file={}", p("boot_id")))
            .args(&self.flags)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("driver.stderr")).unwrap());
        self.child = Some(command.spawn().unwrap());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe_free_sigterm(child.id());
            let _ = child.wait();
        }
    }

    fn dra_socket(&self) -> PathBuf {
        self.path("plugins/npu.huawei.com/dra.sock")
    }

    fn registration_socket(&self) -> PathBuf {
        self.path("registry/npu.huawei.com-reg.sock")
    }

    async fn channel(&self, socket: PathBuf) -> Channel {
        let what = format!("{} to accept", socket.display());
        eventually(&what, || socket.exists().then_some(())).await;
        for _ in 0..100 {
            if let Ok(channel) = unix_channel(&socket, Duration::from_secs(5)).await {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot connect to {}: {}", socket.display(), self.stderr());
    }

    async fn plugin(&self) -> DraPluginClient<Channel> {
        DraPluginClient::new(self.channel(self.dra_socket()).await)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.path("driver.stderr")).unwrap_or_default()
    }

    fn slices(&self) -> Vec<Value> {
        self.api.all(SLICES)
    }

    async fn published(&self) -> Value {
        eventually("a ResourceSlice", || {
            let slices = self.slices();
            (slices.len() == 1).then(|| slices[0].clone())
        })
        .await
    }

    /// An allocated claim with `results` of `(request, driver, pool, device)`.
    fn claim(&self, name: &str, uid: &str, results: &[(&str, &str, &str, &str)]) {
        let results: Vec<Value> = results
            .iter()
            .map(|(request, driver, pool, device)| {
                json!({"request": request, "driver": driver, "pool": pool, "device": device})
            })
            .collect();
        self.api.put(
            CLAIMS,
            json!({
                "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                "metadata": {"name": name, "namespace": "ml", "uid": uid},
                "spec": {"devices": {"requests": []}},
                "status": {"allocation": {"devices": {"results": results}}},
            }),
        );
    }

    fn cdi_spec(&self, uid: &str) -> Option<Value> {
        let path = self.path(&format!("cdi/k8s.npu.huawei.com-claim_{uid}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }
}

impl Drop for DraNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGTERM through `kill(1)`, so the test needs no unsafe code.
fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

fn claim_ref(name: &str, uid: &str) -> dra::Claim {
    dra::Claim {
        namespace: "ml".into(),
        uid: uid.into(),
        name: name.into(),
    }
}

async fn prepare(
    client: &mut DraPluginClient<Channel>,
    claims: Vec<dra::Claim>,
) -> std::collections::HashMap<String, dra::NodePrepareResourceResponse> {
    client
        .node_prepare_resources(dra::NodePrepareResourcesRequest { claims })
        .await
        .unwrap()
        .into_inner()
        .claims
}

async fn unprepare(
    client: &mut DraPluginClient<Channel>,
    claims: Vec<dra::Claim>,
) -> std::collections::HashMap<String, dra::NodeUnprepareResourceResponse> {
    client
        .node_unprepare_resources(dra::NodeUnprepareResourcesRequest { claims })
        .await
        .unwrap()
        .into_inner()
        .claims
}

#[tokio::test(flavor = "multi_thread")]
async fn it_registers_as_a_dra_plugin_with_v1_first_on_0600_sockets() {
    let node = DraNode::start("910-8").await;
    let mut client = RegistrationClient::new(node.channel(node.registration_socket()).await);
    let info = client
        .get_info(reg::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.r#type, "DRAPlugin");
    assert_eq!(info.name, "npu.huawei.com");
    assert_eq!(PathBuf::from(&info.endpoint), node.dra_socket());
    assert_eq!(
        info.supported_versions,
        [
            "v1.DRAPlugin",
            "v1beta1.DRAPlugin",
            "v1.DRAResourceHealth",
            "v1alpha1.DRAResourceHealth"
        ]
    );
    client
        .notify_registration_status(reg::RegistrationStatus {
            plugin_registered: true,
            error: String::new(),
        })
        .await
        .unwrap();
    for socket in [node.dra_socket(), node.registration_socket()] {
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", socket.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registration_socket_comes_back_when_kubelet_recreates_its_directory() {
    let node = DraNode::start("910-8").await;
    node.channel(node.registration_socket()).await;
    let registry = node.path("registry");
    std::fs::remove_dir_all(&registry).unwrap();
    std::fs::create_dir(&registry).unwrap();
    std::fs::set_permissions(&registry, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut client = RegistrationClient::new(node.channel(node.registration_socket()).await);
    let info = client
        .get_info(reg::InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "npu.huawei.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_slice_lists_every_chip_with_huaweis_attributes_and_comes_back_when_deleted() {
    let node = DraNode::start("910-8").await;
    let slice = node.published().await;
    let spec = &slice["spec"];
    assert_eq!(spec["driver"], "npu.huawei.com");
    assert_eq!(spec["nodeName"], "node-a");
    assert_eq!(spec["pool"]["name"], "node-a");
    assert_eq!(spec["pool"]["resourceSliceCount"], 1);
    assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], "node-uid-1");
    let devices = spec["devices"].as_array().unwrap();
    let names: Vec<&str> = devices
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "npu-0", "npu-1", "npu-2", "npu-3", "npu-4", "npu-5", "npu-6", "npu-7"
        ]
    );
    let third = &devices[3]["attributes"];
    assert_eq!(third["deviceType"]["string"], "Ascend910");
    assert_eq!(third["physicId"]["int"], 3);
    assert_eq!(third["hccsGroup"]["int"], 0);
    assert_eq!(third["hccsGroupSize"]["int"], 4);
    assert_eq!(devices[5]["attributes"]["hccsGroup"]["int"], 1);
    assert!(devices[3]["capacity"]["aicore"]["value"].is_string());
    let name = slice["metadata"]["name"].as_str().unwrap().to_string();
    watching(&node.api, "resourceslices").await;
    let writes_before = writes(&node.api);
    node.api.delete(SLICES, &name);
    let again = eventually("the slice re-created", || {
        let slices = node.slices();
        (slices.len() == 1).then(|| slices[0].clone())
    })
    .await;
    assert_ne!(again["metadata"]["name"], json!(name));
    assert_eq!(again["spec"]["devices"], slice["spec"]["devices"]);
    assert_eq!(
        writes(&node.api),
        writes_before + 1,
        "one create, nothing else"
    );
}

/// Waits until the driver watches a URI holding `collection` (the fake API server only
/// streams changes made after a watch starts; a real one replays from the
/// listed resourceVersion, so nothing is missed there).
async fn watching(api: &FakeApi, collection: &str) {
    eventually(&format!("a watch of {collection}"), || {
        api.seen()
            .iter()
            .any(|s| {
                s.method == "GET"
                    && s.uri.contains(collection)
                    && (s.uri.contains("watch=true") || s.uri.contains("watch=1"))
            })
            .then_some(())
    })
    .await;
}

/// Writes the driver sent to the slice collection.
fn writes(api: &FakeApi) -> usize {
    api.seen()
        .iter()
        .filter(|s| s.method != "GET" && s.uri.contains("resourceslices"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_taints_the_chip_and_reports_it_unhealthy_until_it_clears() {
    let node = DraNode::start("910-8").await;
    node.published().await;
    let mut stream = DraResourceHealthClient::new(node.channel(node.dra_socket()).await)
        .node_watch_resources(health::NodeWatchResourcesRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.devices.len(), 8);
    assert!(
        first
            .devices
            .iter()
            .all(|d| d.health == health::HealthStatus::Healthy as i32)
    );
    assert_eq!(
        first.devices[0].device.as_ref().unwrap().pool_name,
        "node-a"
    );
    support::sim(
        &node.path("sim/state.json"),
        &["fault", "raise", "--phy", "2", "--code", "80E01801"],
    );
    let taints = eventually("npu-2 tainted", || {
        let slice = node.slices().into_iter().next()?;
        let taints = slice["spec"]["devices"][2]["taints"].clone();
        taints.is_array().then_some(taints)
    })
    .await;
    assert_eq!(taints[0]["key"], "npu.huawei.com/unhealthy");
    assert_eq!(taints[0]["effect"], "NoSchedule");
    assert_eq!(taints[1]["key"], "npu.huawei.com/fault-code");
    assert_eq!(taints[1]["value"], "80E01801");
    let level = taints[0]["value"].as_str().unwrap().to_string();
    assert_ne!(level, "NormalNPU");
    loop {
        let report = stream.message().await.unwrap().unwrap();
        let chip = report
            .devices
            .iter()
            .find(|d| d.device.as_ref().unwrap().device_name == "npu-2")
            .unwrap();
        if chip.health == health::HealthStatus::Unhealthy as i32 {
            assert!(chip.message.contains("80E01801"), "{}", chip.message);
            break;
        }
    }
    support::sim(
        &node.path("sim/state.json"),
        &["fault", "clear", "--phy", "2"],
    );
    eventually("npu-2 untainted", || {
        let slice = node.slices().into_iter().next()?;
        slice["spec"]["devices"][2]["taints"]
            .is_null()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prepare_gives_each_device_only_its_own_cdi_id_and_unprepare_removes_the_spec() {
    let node = DraNode::start("910-8").await;
    node.claim(
        "two",
        "uid-two",
        &[
            ("a", "npu.huawei.com", "node-a", "npu-1"),
            ("b/sub", "npu.huawei.com", "node-a", "npu-6"),
            ("nic", "rdma.example.com", "node-a", "eth0"),
        ],
    );
    let mut client = node.plugin().await;
    let answer = prepare(&mut client, vec![claim_ref("two", "uid-two")]).await;
    let result = &answer["uid-two"];
    assert_eq!(result.error, "");
    let devices: Vec<(&str, &[String], &[String])> = result
        .devices
        .iter()
        .map(|d| {
            (
                d.device_name.as_str(),
                &d.request_names[..],
                &d.cdi_device_ids[..],
            )
        })
        .collect();
    assert_eq!(
        devices,
        [
            (
                "npu-1",
                &["a".to_string()][..],
                &["k8s.npu.huawei.com/claim=uid-two-npu-1".to_string()][..]
            ),
            (
                "npu-6",
                &["b".to_string()][..],
                &["k8s.npu.huawei.com/claim=uid-two-npu-6".to_string()][..]
            ),
        ]
    );
    let spec = node.cdi_spec("uid-two").unwrap();
    assert_eq!(spec["kind"], "k8s.npu.huawei.com/claim");
    let cdi_devices = spec["devices"].as_array().unwrap();
    assert_eq!(cdi_devices.len(), 2);
    assert_eq!(cdi_devices[0]["name"], "uid-two-npu-1");
    assert_eq!(
        cdi_devices[0]["containerEdits"]["deviceNodes"][0]["path"],
        "/dev/davinci1"
    );
    assert_eq!(
        cdi_devices[0]["containerEdits"]["deviceNodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let shared: Vec<&str> = spec["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        shared,
        ["/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"]
    );
    // Idempotent: the same answer, no second spec.
    let again = prepare(&mut client, vec![claim_ref("two", "uid-two")]).await;
    assert_eq!(again["uid-two"], *result);
    let gone = unprepare(&mut client, vec![claim_ref("two", "uid-two")]).await;
    assert_eq!(gone["uid-two"].error, "");
    assert!(node.cdi_spec("uid-two").is_none());
    let cdi_left: Vec<_> = std::fs::read_dir(node.path("cdi")).unwrap().collect();
    assert!(cdi_left.is_empty(), "{cdi_left:?}");
    // Unknown claims are already unprepared.
    let unknown = unprepare(&mut client, vec![claim_ref("x", "uid-x")]).await;
    assert_eq!(unknown["uid-x"].error, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn prepare_refuses_a_foreign_pool_an_unknown_device_a_uid_mismatch_and_a_chip_in_use() {
    let node = DraNode::start("910-8").await;
    node.claim(
        "pool",
        "uid-pool",
        &[("a", "npu.huawei.com", "node-b", "npu-1")],
    );
    node.claim(
        "ghost",
        "uid-ghost",
        &[("a", "npu.huawei.com", "node-a", "npu-9")],
    );
    node.claim(
        "first",
        "uid-first",
        &[("a", "npu.huawei.com", "node-a", "npu-4")],
    );
    node.claim(
        "second",
        "uid-second",
        &[("a", "npu.huawei.com", "node-a", "npu-4")],
    );
    let mut client = node.plugin().await;
    let answer = prepare(
        &mut client,
        vec![
            claim_ref("pool", "uid-pool"),
            claim_ref("ghost", "uid-ghost"),
            claim_ref("first", "uid-other"),
            claim_ref("first", "uid-first"),
            claim_ref("second", "uid-second"),
            claim_ref("missing", "uid-missing"),
        ],
    )
    .await;
    assert!(
        answer["uid-pool"].error.contains("node-b"),
        "{}",
        answer["uid-pool"].error
    );
    assert!(
        answer["uid-ghost"].error.contains("npu-9"),
        "{}",
        answer["uid-ghost"].error
    );
    assert!(
        answer["uid-other"].error.contains("UID"),
        "{}",
        answer["uid-other"].error
    );
    assert_eq!(answer["uid-first"].error, "");
    assert!(
        answer["uid-second"].error.contains("already prepared"),
        "{}",
        answer["uid-second"].error
    );
    assert!(
        answer["uid-missing"].error.contains("missing"),
        "{}",
        answer["uid-missing"].error
    );
    for uid in [
        "uid-pool",
        "uid-ghost",
        "uid-other",
        "uid-second",
        "uid-missing",
    ] {
        assert!(answer[uid].devices.is_empty());
        assert!(node.cdi_spec(uid).is_none(), "{uid}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_driver_keeps_prepared_claims_and_unprepares_them_after() {
    let mut node = DraNode::start("910-8").await;
    node.claim(
        "kept",
        "uid-kept",
        &[("a", "npu.huawei.com", "node-a", "npu-2")],
    );
    let mut client = node.plugin().await;
    let first = prepare(&mut client, vec![claim_ref("kept", "uid-kept")]).await;
    assert_eq!(first["uid-kept"].error, "");
    node.stop();
    assert!(!node.dra_socket().exists(), "the socket is removed on stop");
    // The claim is gone from the API server: only the checkpoint knows it.
    node.api.delete(CLAIMS, "kept");
    node.spawn(&[]);
    let mut client = node.plugin().await;
    let again = prepare(&mut client, vec![claim_ref("kept", "uid-kept")]).await;
    assert_eq!(again["uid-kept"], first["uid-kept"]);
    assert!(node.cdi_spec("uid-kept").is_some());
    let gone = unprepare(&mut client, vec![claim_ref("kept", "uid-kept")]).await;
    assert_eq!(gone["uid-kept"].error, "");
    assert!(node.cdi_spec("uid-kept").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_boot_discards_the_checkpoint_and_its_cdi_files() {
    let mut node = DraNode::start("910-8").await;
    node.claim(
        "old",
        "uid-old",
        &[("a", "npu.huawei.com", "node-a", "npu-0")],
    );
    let mut client = node.plugin().await;
    assert_eq!(
        prepare(&mut client, vec![claim_ref("old", "uid-old")]).await["uid-old"].error,
        ""
    );
    node.stop();
    std::fs::write(node.path("boot_id"), "boot-2\n").unwrap();
    node.spawn(&[]);
    node.plugin().await;
    assert!(node.cdi_spec("uid-old").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chip_an_operator_separates_in_the_device_info_configmap_is_tainted() {
    const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";
    let node = DraNode::start("910-8").await;
    node.published().await;
    let mut cm = eventually("the device-info ConfigMap", || {
        node.api.get(CONFIGMAPS, "mindx-dl-deviceinfo-node-a")
    })
    .await;
    watching(&node.api, "mindx-dl-deviceinfo-node-a").await;
    cm["data"]["ManuallySeparateNPU"] = json!("Ascend910-5");
    node.api.put(CONFIGMAPS, cm);
    let taints = eventually("npu-5 tainted", || {
        let slice = node.slices().into_iter().next()?;
        let taints = slice["spec"]["devices"][5]["taints"].clone();
        taints.is_array().then_some(taints)
    })
    .await;
    assert_eq!(taints[0]["key"], "npu.huawei.com/unhealthy");
    assert_eq!(taints[0]["value"], "ManuallySeparateNPU");
    let others = node.slices()[0]["spec"]["devices"].clone();
    for (i, device) in others.as_array().unwrap().iter().enumerate() {
        if i != 5 {
            assert!(device["taints"].is_null(), "npu-{i} is not separated");
        }
    }
}

/// The vNPUs the simulator holds, by chip phy id: `(vdev id, template)`.
fn sim_vnpus(node: &DraNode) -> std::collections::BTreeMap<u64, Vec<(u64, String)>> {
    let path = node.path("sim/state.json.vnpu.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Default::default();
    };
    let store: Value = serde_json::from_str(&text).unwrap();
    store["chips"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(phy, vnpus)| {
            let list = vnpus
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    (
                        v["vdev_id"].as_u64().unwrap(),
                        v["template"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            (phy.parse().unwrap(), list)
        })
        .filter(|(_, list): &(u64, Vec<_>)| !list.is_empty())
        .collect()
}

/// Every slice of the pool once all `resourceSliceCount` of them are there.
async fn whole_pool(node: &DraNode) -> Vec<Value> {
    eventually("every slice of the pool", || {
        let slices = node.slices();
        let count = slices.first()?["spec"]["pool"]["resourceSliceCount"].as_u64()?;
        let complete = slices.len() as u64 == count
            && slices
                .iter()
                .all(|s| s["spec"]["pool"]["resourceSliceCount"].as_u64() == Some(count));
        complete.then_some(slices)
    })
    .await
}

fn pool_devices(slices: &[Value]) -> Vec<Value> {
    slices
        .iter()
        .flat_map(|s| s["spec"]["devices"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn counter_sets(slices: &[Value]) -> Vec<Value> {
    slices
        .iter()
        .flat_map(|s| {
            s["spec"]["sharedCounters"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_310p_slice_is_one_vnpu_of_its_template_named_by_cdi_and_destroyed_at_unprepare() {
    let node = DraNode::start_with("310p-duo-vnpu", &["--vnpu-partitions"]).await;
    let slices = whole_pool(&node).await;
    let sets = counter_sets(&slices);
    assert_eq!(sets.len(), 4, "one counter set per chip: {sets:?}");
    let set = sets.iter().find(|s| s["name"] == "npu-1").unwrap();
    assert_eq!(set["counters"]["aicore"]["value"], "8");
    assert_eq!(set["counters"]["memory"]["value"], "24Gi");
    for slice in &slices {
        let has_sets = slice["spec"]["sharedCounters"].is_array();
        let devices = slice["spec"]["devices"].as_array().map_or(0, Vec::len);
        assert!(
            !(has_sets && devices > 0),
            "counters and devices in one slice"
        );
        assert!(devices <= 64);
    }
    let devices = pool_devices(&slices);
    let named = |name: &str| devices.iter().find(|d| d["name"] == name).cloned();
    let whole = named("npu-1").unwrap();
    assert_eq!(whole["consumesCounters"][0]["counterSet"], "npu-1");
    assert_eq!(
        whole["consumesCounters"][0]["counters"]["aicore"]["value"],
        "8"
    );
    let part = named("npu-1-vir02-1c-3").unwrap();
    assert_eq!(part["attributes"]["type"]["string"], "vnpu");
    assert_eq!(part["attributes"]["vnpuTemplate"]["string"], "vir02_1c");
    assert_eq!(part["consumesCounters"][0]["counterSet"], "npu-1");
    assert_eq!(
        part["consumesCounters"][0]["counters"]["aicore"]["value"],
        "2"
    );
    assert_eq!(
        part["consumesCounters"][0]["counters"]["memory"]["value"],
        "6Gi"
    );
    assert!(
        named("npu-1-vir02-1c-4").is_none(),
        "four 2-core slices fit, not five"
    );
    // The topology's static vNPUs belong to no claim: the driver removed them.
    eventually("the unclaimed vNPUs destroyed", || {
        sim_vnpus(&node).is_empty().then_some(())
    })
    .await;

    node.claim(
        "slice",
        "uid-slice",
        &[("a", "npu.huawei.com", "node-a", "npu-1-vir02-1c-3")],
    );
    let mut client = node.plugin().await;
    let answer = &prepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await["uid-slice"];
    assert_eq!(answer.error, "");
    let vnpus = sim_vnpus(&node);
    let on_chip: Vec<_> = vnpus.values().flatten().collect();
    assert_eq!(on_chip.len(), 1, "{vnpus:?}");
    assert_eq!(vnpus[&1][0].1, "vir02_1c");
    let vdev = vnpus[&1][0].0;
    assert_eq!(
        answer.devices[0].cdi_device_ids,
        ["k8s.npu.huawei.com/claim=uid-slice-npu-1-vir02-1c-3"]
    );
    let spec = node.cdi_spec("uid-slice").unwrap();
    let device = &spec["devices"][0];
    assert_eq!(device["name"], "uid-slice-npu-1-vir02-1c-3");
    let nodes = &device["containerEdits"]["deviceNodes"];
    assert_eq!(nodes[0]["path"], format!("/dev/davinci{vdev}"));
    assert!(
        nodes[0]["hostPath"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/vdavinci{vdev}")),
        "{nodes}"
    );

    let gone = unprepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await;
    assert_eq!(gone["uid-slice"].error, "");
    assert!(sim_vnpus(&node).is_empty(), "{:?}", sim_vnpus(&node));
    assert!(node.cdi_spec("uid-slice").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_910b_vnpu_prepared_before_a_driver_restart_is_destroyed_at_unprepare_after_it() {
    let mut node = DraNode::start_with("910b-16", &["--vnpu-partitions"]).await;
    let slices = whole_pool(&node).await;
    assert!(slices.len() > 1, "16 partitioned chips need several slices");
    assert_eq!(counter_sets(&slices).len(), 16);
    let devices = pool_devices(&slices);
    let part = devices
        .iter()
        .find(|d| d["name"] == "npu-3-vir10-3c-32g-1")
        .unwrap();
    assert_eq!(
        part["consumesCounters"][0]["counters"]["memory"]["value"],
        "32Gi"
    );
    assert_eq!(
        part["consumesCounters"][0]["counters"]["aicore"]["value"],
        "10"
    );

    node.claim(
        "slice",
        "uid-slice",
        &[("a", "npu.huawei.com", "node-a", "npu-3-vir10-3c-32g-1")],
    );
    let mut client = node.plugin().await;
    let first = prepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await;
    assert_eq!(first["uid-slice"].error, "");
    let vnpus = sim_vnpus(&node);
    assert_eq!(vnpus.keys().collect::<Vec<_>>(), [&3]);
    assert_eq!(vnpus[&3].len(), 1);
    assert_eq!(vnpus[&3][0].1, "vir10_3c_32g");

    node.stop();
    node.api.delete(CLAIMS, "slice");
    node.spawn(&[]);
    let mut client = node.plugin().await;
    // The restart kept the claim's vNPU (the checkpoint holds it).
    assert_eq!(sim_vnpus(&node), vnpus);
    let gone = unprepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await;
    assert_eq!(gone["uid-slice"].error, "");
    assert!(sim_vnpus(&node).is_empty(), "{:?}", sim_vnpus(&node));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prepare_that_fails_after_creating_vnpus_leaves_none_behind() {
    let node = DraNode::start_with("310p-duo-vnpu", &["--vnpu-partitions"]).await;
    eventually("the unclaimed vNPUs destroyed", || {
        sim_vnpus(&node).is_empty().then_some(())
    })
    .await;
    // Two 4-core slices fill chip 0; the 1-core one cannot be created.
    node.claim(
        "greedy",
        "uid-greedy",
        &[
            ("a", "npu.huawei.com", "node-a", "npu-0-vir04-0"),
            ("a", "npu.huawei.com", "node-a", "npu-0-vir04-1"),
            ("a", "npu.huawei.com", "node-a", "npu-0-vir01-0"),
        ],
    );
    let mut client = node.plugin().await;
    let answer = &prepare(&mut client, vec![claim_ref("greedy", "uid-greedy")]).await["uid-greedy"];
    assert!(answer.error.contains("npu-0-vir01-0"), "{}", answer.error);
    assert!(sim_vnpus(&node).is_empty(), "{:?}", sim_vnpus(&node));
    assert!(node.cdi_spec("uid-greedy").is_none());
    // Nothing of it is held: the whole chip can be prepared now.
    node.claim(
        "whole",
        "uid-whole",
        &[("a", "npu.huawei.com", "node-a", "npu-0")],
    );
    let answer = &prepare(&mut client, vec![claim_ref("whole", "uid-whole")]).await["uid-whole"];
    assert_eq!(answer.error, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_a_partition_device_is_refused_and_nothing_created() {
    let node = DraNode::start("310p-duo-vnpu").await;
    let slice = node.published().await;
    assert!(slice["spec"]["sharedCounters"].is_null());
    node.claim(
        "slice",
        "uid-slice",
        &[("a", "npu.huawei.com", "node-a", "npu-1-vir02-0")],
    );
    let before = sim_vnpus(&node);
    let mut client = node.plugin().await;
    let answer = &prepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await["uid-slice"];
    assert!(answer.error.contains("npu-1-vir02-0"), "{}", answer.error);
    assert_eq!(sim_vnpus(&node), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_on_a_partitioned_chip_taints_and_reports_its_slices_too() {
    let node = DraNode::start_with("310p-duo-vnpu", &["--vnpu-partitions"]).await;
    whole_pool(&node).await;
    let mut stream = DraResourceHealthClient::new(node.channel(node.dra_socket()).await)
        .node_watch_resources(health::NodeWatchResourcesRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let reported = |report: &health::NodeWatchResourcesResponse, name: &str| {
        report
            .devices
            .iter()
            .find(|d| d.device.as_ref().unwrap().device_name == name)
            .map(|d| d.health)
    };
    assert_eq!(
        reported(&first, "npu-1-vir04-1"),
        Some(health::HealthStatus::Healthy as i32)
    );
    support::sim(
        &node.path("sim/state.json"),
        &["fault", "raise", "--phy", "1", "--code", "80E01801"],
    );
    eventually("npu-1's slices tainted", || {
        let devices = pool_devices(&whole_pool_now(&node)?);
        let part = devices.iter().find(|d| d["name"] == "npu-1-vir04-1")?;
        (part["taints"][0]["key"] == "npu.huawei.com/unhealthy").then_some(())
    })
    .await;
    loop {
        let report = stream.message().await.unwrap().unwrap();
        if reported(&report, "npu-1-vir04-1") == Some(health::HealthStatus::Unhealthy as i32) {
            assert_eq!(
                reported(&report, "npu-0-vir04-1"),
                Some(health::HealthStatus::Healthy as i32)
            );
            break;
        }
    }
}

/// The pool's slices if every one of the newest generation is there.
fn whole_pool_now(node: &DraNode) -> Option<Vec<Value>> {
    let slices = node.slices();
    let newest = slices
        .iter()
        .filter_map(|s| s["spec"]["pool"]["generation"].as_u64())
        .max()?;
    let current: Vec<Value> = slices
        .into_iter()
        .filter(|s| s["spec"]["pool"]["generation"].as_u64() == Some(newest))
        .collect();
    let count = current.first()?["spec"]["pool"]["resourceSliceCount"].as_u64()?;
    (current.len() as u64 == count).then_some(current)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vnpu_whose_claim_a_new_boot_forgot_is_destroyed_at_start() {
    let mut node = DraNode::start_with("910b-16", &["--vnpu-partitions"]).await;
    node.claim(
        "slice",
        "uid-slice",
        &[("a", "npu.huawei.com", "node-a", "npu-0-vir03-1c-8g-5")],
    );
    let mut client = node.plugin().await;
    let answer = &prepare(&mut client, vec![claim_ref("slice", "uid-slice")]).await["uid-slice"];
    assert_eq!(answer.error, "");
    assert_eq!(sim_vnpus(&node)[&0].len(), 1);
    node.stop();
    // The checkpoint of another boot is discarded; the vNPU (here still in
    // the simulator) belongs to no claim.
    std::fs::write(node.path("boot_id"), "boot-2\n").unwrap();
    node.spawn(&[]);
    node.plugin().await;
    assert!(sim_vnpus(&node).is_empty(), "{:?}", sim_vnpus(&node));
}
