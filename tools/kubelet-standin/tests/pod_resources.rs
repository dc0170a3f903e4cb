//! The fake pod-resources server answers what the test set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use kubelet_standin::proto::podresources::pod_resources_lister_client::PodResourcesListerClient;
use kubelet_standin::proto::podresources::{
    AllocatableResourcesRequest, ContainerDevices, ContainerResources, GetPodResourcesRequest,
    ListPodResourcesRequest,
};
use kubelet_standin::{PodResources, dial, proto};
use tonic::Code;

fn pod(name: &str, ids: &[&str]) -> proto::podresources::PodResources {
    proto::podresources::PodResources {
        name: name.into(),
        namespace: "default".into(),
        containers: vec![ContainerResources {
            name: "main".into(),
            devices: vec![ContainerDevices {
                resource_name: "huawei.com/Ascend910".into(),
                device_ids: ids.iter().map(|id| id.to_string()).collect(),
                topology: None,
            }],
            cpu_ids: vec![],
        }],
    }
}

#[tokio::test]
async fn list_returns_no_pods_until_set_then_exactly_the_pods_set() {
    let temp = tempfile::tempdir().unwrap();
    let socket = temp.path().join("pod-resources/kubelet.sock");
    let server = PodResources::start(&socket).await.unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut client = PodResourcesListerClient::new(dial(&socket).await.unwrap());

    let empty = client
        .list(ListPodResourcesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(empty.pod_resources.is_empty());

    let pods = vec![
        pod("a", &["Ascend910-0"]),
        pod("b", &["Ascend910-1", "Ascend910-2"]),
    ];
    server.set(pods.clone());
    let listed = client
        .list(ListPodResourcesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.pod_resources, pods);
    server.stop().await;
}

#[tokio::test]
async fn get_finds_a_pod_by_name_and_namespace_and_reports_a_missing_one() {
    let temp = tempfile::tempdir().unwrap();
    let socket = temp.path().join("kubelet.sock");
    let server = PodResources::start(&socket).await.unwrap();
    server.set(vec![pod("a", &["Ascend910-0"])]);
    let mut client = PodResourcesListerClient::new(dial(&socket).await.unwrap());

    let found = client
        .get(GetPodResourcesRequest {
            pod_name: "a".into(),
            pod_namespace: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.pod_resources, Some(pod("a", &["Ascend910-0"])));

    let missing = client
        .get(GetPodResourcesRequest {
            pod_name: "a".into(),
            pod_namespace: "other".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn allocatable_resources_are_what_was_set() {
    let temp = tempfile::tempdir().unwrap();
    let socket = temp.path().join("kubelet.sock");
    let server = PodResources::start(&socket).await.unwrap();
    let devices = pod("x", &["Ascend910-0", "Ascend910-1"]).containers[0]
        .devices
        .clone();
    server.set_allocatable(devices.clone());
    let mut client = PodResourcesListerClient::new(dial(&socket).await.unwrap());
    let answer = client
        .get_allocatable_resources(AllocatableResourcesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.devices, devices);
    server.stop().await;
}
