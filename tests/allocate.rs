//! Allocate and GetPreferredAllocation through the daemon, for every answer
//! style of compat section 3, and hostile requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "authority/raw_client.rs"]
#[allow(dead_code)]
mod raw_client;
mod support;

use std::collections::HashMap;

use kubelet_standin::proto::deviceplugin::{
    AllocateRequest, AllocateResponse, ContainerAllocateRequest,
};
use kubelet_standin::{PluginClient, UNHEALTHY};
use prost::Message;
use support::node::{Node, health_of, patience};
use tonic::Code;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Registers, then returns a client for `resource`.
async fn client_for(node: &mut Node, resource: &str) -> PluginClient {
    loop {
        let registration = node.registration().await;
        if registration.resource_name == resource {
            return node.client(&registration.endpoint).await;
        }
    }
}

fn specs(response: &AllocateResponse, container: usize) -> Vec<(String, String, String)> {
    response.container_responses[container]
        .devices
        .iter()
        .map(|d| {
            (
                d.host_path.clone(),
                d.container_path.clone(),
                d.permissions.clone(),
            )
        })
        .collect()
}

fn spec(host: &str, container: &str) -> (String, String, String) {
    (host.into(), container.into(), "rw".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn device_spec_mode_answers_each_container_in_order() {
    let dir = support::private_dir();
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for name in ["davinci_manager", "devmm_svm", "hisi_hdc"] {
        std::fs::write(dev.join(name), "").unwrap();
    }
    let dev_root = format!("--dev-root={}", dev.display());
    let mut node = Node::start("910-8", &[&dev_root], &[]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend910").await;
    let response = client
        .allocate(vec![
            ids(&["Ascend910-6", "Ascend910-2"]),
            ids(&["Ascend910-4"]),
        ])
        .await
        .unwrap();
    assert_eq!(response.container_responses.len(), 2);
    assert_eq!(
        specs(&response, 0),
        [
            spec("/dev/davinci2", "/dev/davinci2"),
            spec("/dev/davinci6", "/dev/davinci6"),
            spec("/dev/davinci_manager", "/dev/davinci_manager"),
            spec("/dev/devmm_svm", "/dev/devmm_svm"),
            spec("/dev/hisi_hdc", "/dev/hisi_hdc"),
        ]
    );
    assert_eq!(
        specs(&response, 1)[0],
        spec("/dev/davinci4", "/dev/davinci4")
    );
    let first = &response.container_responses[0];
    assert!(first.envs.is_empty() && first.mounts.is_empty() && first.annotations.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ascend_docker_mode_answers_with_envs_only() {
    let mut node = Node::start("910b-16", &[], &[("ASCEND_DOCKER_RUNTIME", "True")]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend910").await;
    let response = client
        .allocate(vec![ids(&["Ascend910-12", "Ascend910-3"])])
        .await
        .unwrap();
    let answer = &response.container_responses[0];
    let expected: HashMap<String, String> = [
        ("ASCEND_VISIBLE_DEVICES".to_string(), "3,12".to_string()),
        ("ASCEND_RUNTIME_OPTIONS".to_string(), String::new()),
    ]
    .into();
    assert_eq!(answer.envs, expected);
    assert!(answer.devices.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vnpu_is_answered_as_virtual_in_both_styles() {
    let mut node = Node::start("310p-duo-vnpu", &[], &[("ASCEND_DOCKER_RUNTIME", "True")]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend310P-2c").await;
    let response = client
        .allocate(vec![ids(&["Ascend310P-2c-101-0"])])
        .await
        .unwrap();
    let envs = &response.container_responses[0].envs;
    assert_eq!(envs["ASCEND_VISIBLE_DEVICES"], "101");
    assert_eq!(envs["ASCEND_RUNTIME_OPTIONS"], "VIRTUAL");

    let mut plain = Node::start(
        "310p-duo-vnpu",
        &["-useAscendDocker=false"],
        &[("ASCEND_DOCKER_RUNTIME", "True")],
    )
    .await;
    let mut client = client_for(&mut plain, "huawei.com/Ascend310P-4c").await;
    let response = client
        .allocate(vec![ids(&["Ascend310P-4c-102-0"])])
        .await
        .unwrap();
    assert_eq!(
        specs(&response, 0)[0],
        spec("/dev/vdavinci102", "/dev/davinci102")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn share_mode_slots_map_to_their_chip_and_310b_may_link() {
    let mut node = Node::start(
        "310-4",
        &["-shareDevCount=3"],
        &[("ASCEND_DOCKER_RUNTIME", "True")],
    )
    .await;
    let mut client = client_for(&mut node, "huawei.com/Ascend310").await;
    let response = client
        .allocate(vec![ids(&["Ascend310-2-1"])])
        .await
        .unwrap();
    assert_eq!(
        response.container_responses[0].envs["ASCEND_VISIBLE_DEVICES"],
        "2"
    );

    let mut b = Node::start("310b-1", &[], &[("ASCEND_DOCKER_RUNTIME", "True")]).await;
    let mut client = client_for(&mut b, "huawei.com/Ascend310").await;
    let response = client.allocate(vec![ids(&["Ascend310-0"])]).await.unwrap();
    assert_eq!(
        response.container_responses[0].envs["ASCEND_ALLOW_LINK"],
        "True"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_are_refused_and_the_plugin_keeps_serving() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend910").await;
    let long_id = "A".repeat(1 << 20);
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("Ascend910-{}", i % 8))
        .collect();
    let cases: Vec<(Vec<Vec<String>>, &str)> = vec![
        (vec![ids(&["Ascend910-99"])], "Ascend910-99"),
        (vec![ids(&["Ascend910-1", "Ascend910-1"])], "Ascend910-1"),
        (vec![many], "10000"),
        (vec![vec![long_id]], "longer than 50"),
        (vec![ids(&["Ascend310P-0"])], "Ascend310P-0"),
        (
            vec![ids(&["Ascend910-0"]), ids(&["../../etc"])],
            "../../etc",
        ),
    ];
    for (request, needle) in cases {
        let error = client.allocate(request).await.unwrap_err();
        let status = error.status().unwrap();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(needle),
            "{needle}: {}",
            status.message()
        );
    }
    let ok = client.allocate(vec![ids(&["Ascend910-0"])]).await.unwrap();
    assert_eq!(ok.container_responses.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_chip_is_not_allocated() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let (mut client, mut watch, _) = node.watch().await;
    node.sim(&["fault", "raise", "--phy", "1", "--code", "80E01801"]);
    watch
        .until(patience(), |l| health_of(l, "Ascend910-1") == UNHEALTHY)
        .await
        .unwrap();
    let error = client
        .allocate(vec![ids(&["Ascend910-1"])])
        .await
        .unwrap_err();
    assert_eq!(error.status().unwrap().code(), Code::FailedPrecondition);
    assert!(error.status().unwrap().message().contains("Ascend910-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn preferred_allocation_keeps_a_four_chip_pod_inside_one_ring() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend910").await;
    let free = ids(&[
        "Ascend910-0",
        "Ascend910-3",
        "Ascend910-4",
        "Ascend910-5",
        "Ascend910-6",
        "Ascend910-7",
    ]);
    let four = client.preferred(free.clone(), vec![], 4).await.unwrap();
    assert_eq!(
        four,
        ids(&["Ascend910-4", "Ascend910-5", "Ascend910-6", "Ascend910-7"])
    );
    let two = client
        .preferred(ids(&["Ascend910-0", "Ascend910-3"]), vec![], 2)
        .await
        .unwrap();
    assert_eq!(two, ids(&["Ascend910-0", "Ascend910-3"]));
    let must = client
        .preferred(free, ids(&["Ascend910-0"]), 2)
        .await
        .unwrap();
    assert_eq!(must, ids(&["Ascend910-0", "Ascend910-3"]));
    let bad = client
        .preferred(ids(&["Ascend910-0"]), vec![], 3)
        .await
        .unwrap_err();
    assert_eq!(bad.status().unwrap().code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_the_socket_path_as_authority_can_allocate() {
    let mut node = Node::start("910-8", &[], &[]).await;
    let registration = node.registration().await;
    let socket = node.plugin_dir().join(&registration.endpoint);
    let mut raw = raw_client::RawClient::connect(&socket).await;
    let mut fields = raw_client::grpc_request_fields(
        "/v1beta1.DevicePlugin/Allocate",
        &socket.display().to_string(),
    );
    let request = AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: ids(&["Ascend910-7"]),
        }],
    };
    let body = raw_client::grpc_message(&request.encode_to_vec());
    fields.retain(|(name, _)| name != "content-length");
    let stream_id = raw
        .send_headers(&fields, false, &raw_client::Framing::default())
        .await;
    raw.send_data(stream_id, &body, true).await;
    let response = raw.response(stream_id).await;
    assert_eq!(response.reset, None, "the stream was reset");
    assert_eq!(response.header(":status"), Some("200"));
    assert_eq!(response.trailer("grpc-status"), Some("0"));
    let messages = response.messages();
    let answer = AllocateResponse::decode(messages[0].as_slice()).unwrap();
    assert_eq!(
        answer.container_responses[0].devices[0].host_path,
        "/dev/davinci7"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cdi_device_names_are_added_only_with_the_flag() {
    let mut node = Node::start("910-8", &["--cdi-devices"], &[]).await;
    let mut client = client_for(&mut node, "huawei.com/Ascend910").await;
    let response = client.allocate(vec![ids(&["Ascend910-5"])]).await.unwrap();
    let names: Vec<&str> = response.container_responses[0]
        .cdi_devices
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["huawei.com/npu=5"]);

    let mut plain = Node::start("910-8", &[], &[]).await;
    let mut client = client_for(&mut plain, "huawei.com/Ascend910").await;
    let response = client.allocate(vec![ids(&["Ascend910-5"])]).await.unwrap();
    assert!(response.container_responses[0].cdi_devices.is_empty());
}
