//! Ascend 950 (A5) through the binary on the simulator's `a5-8` topology,
//! a driver that serves only the v2 API (`dcmi_init` fails, `dcmiv2_init`
//! works; logic ids are the phy ids swapped in pairs): registration as
//! `huawei.com/npu`, Allocate by logic id with `HCCL_TOPO_FILE_PATH`, and
//! health read through `dcmiv2_*`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubelet_standin::{HEALTHY, UNHEALTHY};
use support::node::{Node, health_of, patience};

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const HCCL_8P: &str = "/usr/local/Ascend/driver/topo/950/atlas_850_1.json";

#[tokio::test(flavor = "multi_thread")]
async fn an_a5_node_registers_npu_and_allocates_logic_ids_with_the_runtime() {
    let mut node = Node::start("a5-8", &[], &[("ASCEND_DOCKER_RUNTIME", "True")]).await;
    let registration = node.registration().await;
    assert_eq!(registration.resource_name, "huawei.com/npu");
    assert_eq!(registration.endpoint, "npu.sock");
    let mut client = node.client(&registration.endpoint).await;
    let mut watch = client.watch().await.unwrap();
    let devices = watch.next(patience()).await.unwrap();
    let mut listed: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "npu-0", "npu-1", "npu-2", "npu-3", "npu-4", "npu-5", "npu-6", "npu-7"
        ]
    );
    assert!(devices.iter().all(|d| d.health == HEALTHY));
    let response = client
        .allocate(vec![ids(&["npu-0", "npu-3"]), ids(&["npu-6"])])
        .await
        .unwrap();
    let first = &response.container_responses[0].envs;
    assert_eq!(
        first["ASCEND_VISIBLE_DEVICES"], "1,2",
        "phy 0 and 3 are logic 1 and 2"
    );
    assert_eq!(first["ASCEND_RUNTIME_OPTIONS"], "");
    assert_eq!(first["HCCL_TOPO_FILE_PATH"], HCCL_8P);
    let second = &response.container_responses[1].envs;
    assert_eq!(second["ASCEND_VISIBLE_DEVICES"], "7");
    let refused = client.allocate(vec![ids(&["Ascend910-0"])]).await;
    assert_eq!(
        refused.unwrap_err().status().unwrap().code(),
        tonic::Code::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_a5_device_spec_answer_names_davinci_by_logic_id_and_passes_the_ub_devices() {
    let dir = support::private_dir();
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(dev.join("uburma")).unwrap();
    std::fs::create_dir_all(dev.join("ummu")).unwrap();
    for name in [
        "davinci_manager",
        "hisi_hdc",
        "uburma/uburma0",
        "ummu/ummu_tid",
    ] {
        std::fs::write(dev.join(name), "").unwrap();
    }
    let dev_root = format!("--dev-root={}", dev.display());
    let mut node = Node::start("a5-8", &[&dev_root], &[]).await;
    let registration = node.registration().await;
    let mut client = node.client(&registration.endpoint).await;
    let response = client.allocate(vec![ids(&["npu-5"])]).await.unwrap();
    let answer = &response.container_responses[0];
    let paths: Vec<(&str, &str, &str)> = answer
        .devices
        .iter()
        .map(|d| {
            (
                d.host_path.as_str(),
                d.container_path.as_str(),
                d.permissions.as_str(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("/dev/davinci4", "/dev/davinci4", "rw"),
            ("/dev/davinci_manager", "/dev/davinci_manager", "rw"),
            ("/dev/hisi_hdc", "/dev/hisi_hdc", "rw"),
            ("/dev/uburma/uburma0", "/dev/uburma/uburma0", "rw"),
            ("/dev/ummu/ummu_tid", "/dev/ummu/ummu_tid", "rw"),
        ]
    );
    assert_eq!(answer.envs["HCCL_TOPO_FILE_PATH"], HCCL_8P);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_a5_fault_read_through_the_v2_api_makes_its_chip_unhealthy_until_it_clears() {
    let mut node = Node::start("a5-8", &[], &[]).await;
    let (_client, mut watch, first) = node.watch().await;
    assert_eq!(health_of(&first, "npu-2"), HEALTHY);
    node.sim(&["fault", "raise", "--phy", "2", "--code", "80E01801"]);
    let list = watch
        .until(patience(), |l| health_of(l, "npu-2") == UNHEALTHY)
        .await
        .unwrap();
    assert_eq!(
        list.iter().filter(|d| d.health == UNHEALTHY).count(),
        1,
        "only phy 2: the v2 calls address the right chip by logic id"
    );
    node.sim(&["fault", "clear", "--phy", "2"]);
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
}

#[test]
fn inspect_shows_an_a5_node_without_cards_and_with_its_logic_ids() {
    let node = support::inspect_json("a5-8");
    let chips = node["chips"].as_array().unwrap();
    assert_eq!(chips.len(), 8);
    assert_eq!(chips[0]["phy_id"], 0);
    assert_eq!(chips[0]["logic_id"], 1);
    assert_eq!(chips[0]["card_id"], -1);
    assert_eq!(chips[0]["family"], "950");
    assert_eq!(chips[0]["chip_name"], "Ascend950PR");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_reset_on_a5_resets_the_chip_alone_through_the_v2_api() {
    let args = ["-hotReset=0", "--reset-idle-delay=0", "-listWatchPeriod=3"];
    let mut node = Node::start("a5-8", &args, &[]).await;
    node.sim(&["reset-inject", "boot-ms", "--ms", "2000"]);
    let (_client, mut watch, _) = node.watch().await;
    // A RestartNPU code of the built-in table, on phy 4 (logic id 5).
    node.sim(&["fault", "raise", "--phy", "4", "--code", "8C03A000"]);
    let fenced = watch
        .until(patience(), |l| health_of(l, "npu-4") == UNHEALTHY)
        .await
        .unwrap();
    let unhealthy: Vec<&str> = fenced
        .iter()
        .filter(|d| d.health == UNHEALTHY)
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(unhealthy, ["npu-4"], "an A5 chip is its own ring");
    watch
        .until(patience(), |l| l.iter().all(|d| d.health == HEALTHY))
        .await
        .unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&node.state).unwrap()).unwrap();
    assert_eq!(
        state["resets"],
        serde_json::json!({"4": 1}),
        "reset once, by logic id 5"
    );
}
