#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::*;
use crate::cluster::annotations::needs_write_back;
use crate::device::model::fixtures::{chip, inventory};
use crate::k8s::mock::{self, volcano_pod};

fn node() -> Inventory {
    let chips = (0..8)
        .map(|phy| crate::device::model::Chip {
            ip: Some(format!("192.168.100.{}", 101 + phy).parse().unwrap()),
            ..chip(phy, Family::Ascend910)
        })
        .collect();
    inventory(chips)
}

fn job() -> Job {
    Job {
        pod: PodRef {
            namespace: "ml".into(),
            name: "job-0".into(),
            uid: "u-1".into(),
        },
        resource_type: "Ascend910".into(),
        virtual_: false,
        kubelet_ids: vec!["Ascend910-1".into(), "Ascend910-0".into()],
        phys: vec![5, 4],
    }
}

fn writer(client: Client) -> Writer {
    Writer {
        first_backoff: Duration::from_millis(1),
        ..Writer::new(client, "10.0.0.7".into(), &node(), Metrics::new())
    }
}

#[tokio::test]
async fn the_write_back_is_one_merge_patch_with_the_uid_and_the_three_annotations() {
    let (client, log) = mock::client(mock::echo);
    writer(client).write(&job()).await.unwrap();
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    let patch = &writes[0];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.path(), "/api/v1/namespaces/ml/pods/job-0");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.body["metadata"]["uid"], "u-1");
    let annotations = &patch.body["metadata"]["annotations"];
    assert_eq!(annotations["huawei.com/kltDev"], "Ascend910-1,Ascend910-0");
    assert_eq!(
        annotations["huawei.com/AscendReal"],
        "Ascend910-5,Ascend910-4"
    );
    let configuration = annotations["ascend.kubectl.kubernetes.io/ascend-910-configuration"]
        .as_str()
        .unwrap();
    assert_eq!(
        configuration,
        r#"{"pod_name":"job-0","server_id":"u-1","host_ip":"10.0.0.7","super_pod_id":-2,"devices":[{"device_id":"4","device_ip":"192.168.100.105","super_device_id":"0"},{"device_id":"5","device_ip":"192.168.100.106","super_device_id":"0"}],"rack_id":0,"server_index":"-2","server_ip":"10.0.0.7"}"#
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_a_vanished_pod_is_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let (client, log) = mock::client(move |request| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            mock::status(503, "ServiceUnavailable")
        } else {
            mock::echo(request)
        }
    });
    writer(client).write(&job()).await.unwrap();
    assert_eq!(log.writes().len(), 3);

    let (client, log) = mock::client(|_| mock::status(404, "NotFound"));
    let error = writer(client).write(&job()).await.unwrap_err();
    assert!(error.contains("ml/job-0"), "{error}");
    assert_eq!(log.writes().len(), 1, "404 is final");

    let (client, log) = mock::client(|_| mock::status(500, "InternalError"));
    assert!(writer(client).write(&job()).await.is_err());
    assert_eq!(log.writes().len(), 4, "gives up after its attempts");
}

#[tokio::test]
async fn virtual_resources_write_kltdev_only_and_loopback_device_ips() {
    let (client, _) = mock::client(mock::echo);
    let job = Job {
        virtual_: true,
        resource_type: "Ascend910-2c".into(),
        kubelet_ids: vec!["Ascend910-2c-100-0".into()],
        phys: vec![0],
        ..job()
    };
    let annotations = writer(client).annotations(&job);
    assert!(!annotations.contains_key(ASCEND_REAL));
    assert_eq!(annotations[KLT_DEV], "Ascend910-2c-100-0");
    let configuration: Value =
        serde_json::from_str(&annotations["ascend.kubectl.kubernetes.io/ascend-910-configuration"])
            .unwrap();
    assert_eq!(configuration["devices"][0]["device_ip"], "127.0.0.1");
}

fn listed(ids: &[&str]) -> PodDevices {
    PodDevices {
        namespace: "ml".into(),
        name: "p".into(),
        resource_type: "Ascend910".into(),
        ids: ids.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn annotated(real: Option<&str>, klt: Option<&str>) -> Pod {
    let mut pod = volcano_pod("node-a", "p", "Ascend910", "Ascend910-4", "1");
    let annotations = pod.metadata.annotations.as_mut().unwrap();
    if let Some(real) = real {
        annotations.insert(ASCEND_REAL.into(), real.into());
    }
    if let Some(klt) = klt {
        annotations.insert(KLT_DEV.into(), klt.into());
    }
    pod
}

#[test]
fn the_map_is_rebuilt_in_kltdev_order() {
    let devices = listed(&["Ascend910-0", "Ascend910-1"]);
    let pod = annotated(
        Some("Ascend910-7,Ascend910-6"),
        Some("Ascend910-1,Ascend910-0"),
    );
    assert_eq!(
        recover_pairs(&devices, &pod).unwrap(),
        [("Ascend910-1".to_owned(), 7), ("Ascend910-0".to_owned(), 6)]
    );
    // kltDev naming other IDs: kubelet's order.
    let pod = annotated(
        Some("Ascend910-7,Ascend910-6"),
        Some("Ascend910-3,Ascend910-2"),
    );
    assert_eq!(
        recover_pairs(&devices, &pod).unwrap(),
        [("Ascend910-0".to_owned(), 7), ("Ascend910-1".to_owned(), 6)]
    );
}

#[test]
fn the_map_is_not_rebuilt_from_missing_or_inconsistent_annotations() {
    let devices = listed(&["Ascend910-0", "Ascend910-1"]);
    let cases = [
        (annotated(None, None), "has no huawei.com/AscendReal"),
        (
            annotated(Some("Ascend910-7"), None),
            "kubelet lists 2 devices but",
        ),
        (
            annotated(Some("Ascend910-../x,Ascend910-1"), None),
            "annotation huawei.com/AscendReal",
        ),
    ];
    for (pod, expected) in cases {
        let error = recover_pairs(&devices, &pod).unwrap_err();
        assert!(error.contains(expected), "{error}");
    }
    assert!(needs_write_back(&annotated(None, None), false));
    assert!(!needs_write_back(
        &annotated(Some("Ascend910-4"), None),
        false
    ));
    assert!(
        needs_write_back(&annotated(Some("Ascend910-4"), None), true),
        "virtual: kltDev"
    );
}

#[test]
fn an_ascend_real_naming_another_pods_or_a_foreign_chip_is_not_trusted() {
    let devices = listed(&["Ascend910-0", "Ascend910-1"]);
    // The owner of ml/p edited AscendReal to name chip 4, which ml/honest holds.
    let pod = annotated(Some("Ascend910-4,Ascend910-7"), None);
    let pairs = recover_pairs(&devices, &pod).unwrap();
    let node: std::collections::BTreeSet<u32> = (0..8).collect();
    let held: std::collections::BTreeMap<u32, Vec<String>> = [
        (4, vec!["ml/honest".to_owned()]),
        (7, vec!["ml/p".to_owned()]),
    ]
    .into();
    let error = check_recovered("ml/p", &pairs, &node, &held).unwrap_err();
    assert!(error.contains("chip 4"), "{error}");
    assert!(error.contains("pod ml/honest holds"), "{error}");
    // Its own chips (its own claim or map entry) are fine.
    let own: std::collections::BTreeMap<u32, Vec<String>> = [(4, vec!["ml/p".to_owned()])].into();
    assert!(check_recovered("ml/p", &pairs, &node, &own).is_ok());
    // A chip this node does not have.
    let small: std::collections::BTreeSet<u32> = (0..4).collect();
    let error = check_recovered("ml/p", &pairs, &small, &own).unwrap_err();
    assert!(error.contains("this node does not have"), "{error}");
}
