#![allow(clippy::unwrap_used, clippy::expect_used)]

// Expected JSON strings below were produced by Go 1.26 `encoding/json` from
// the Go plugin's `Instance`/`Device` struct shapes (field order, tags,
// omitempty) and are kept here verbatim.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn chip(phy_id: u32, ip: Option<&str>) -> RealChip {
    RealChip {
        phy_id,
        name: format!("Ascend910-{phy_id}"),
        ip: ip.map(|ip| ip.parse().unwrap()),
        super_device_id: None,
    }
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[test]
fn the_write_back_of_physical_910_chips_matches_go_byte_for_byte() {
    let real = [
        chip(10, None),
        chip(1, Some("192.168.100.102")),
        chip(0, Some("192.168.100.101")),
    ];
    let kubelet = ids(&["Ascend910-4", "Ascend910-5", "Ascend910-6"]);
    let out = write_back(
        "6f1c2a9e-1b2c-4d5e-8f90-0a1b2c3d4e5f",
        "job-0",
        "10.0.0.7",
        &kubelet,
        &real,
        Family::Ascend910B,
        false,
    );
    let expected = BTreeMap::from([
        (KLT_DEV.to_owned(), "Ascend910-4,Ascend910-5,Ascend910-6".to_owned()),
        (ASCEND_REAL.to_owned(), "Ascend910-10,Ascend910-1,Ascend910-0".to_owned()),
        (
            CONFIGURATION_910.to_owned(),
            r#"{"pod_name":"job-0","server_id":"6f1c2a9e-1b2c-4d5e-8f90-0a1b2c3d4e5f","host_ip":"10.0.0.7","super_pod_id":-2,"devices":[{"device_id":"0","device_ip":"192.168.100.101","super_device_id":"0"},{"device_id":"1","device_ip":"192.168.100.102","super_device_id":"0"},{"device_id":"10","device_ip":"","super_device_id":"0"}],"rack_id":0,"server_index":"-2","server_ip":"10.0.0.7"}"#.to_owned(),
        ),
    ]);
    assert_eq!(out, expected);
}

#[test]
fn a_super_pod_node_writes_its_placement_and_super_device_ids() {
    let mut a = chip(3, Some("192.168.1.3"));
    a.super_device_id = Some(37_748_739);
    let mut b = chip(2, Some("192.168.1.2"));
    b.super_device_id = Some(37_748_738);
    let kubelet = ids(&["Ascend910-0", "Ascend910-1"]);
    let super_pod = SuperPod {
        super_pod_id: 3,
        server_index: 5,
        sdid: 37_748_738,
    };
    let write_back = WriteBack {
        pod_uid: "uid-a3",
        pod_name: "train-a3-0",
        node_ip: "10.0.0.8",
        kubelet_ids: &kubelet,
        real: &[a, b],
        family: Family::Ascend910A3,
        virtual_: false,
        placement: Placement::from_super_pod(Some(&super_pod)),
    };
    assert_eq!(
        write_back.configuration(),
        r#"{"pod_name":"train-a3-0","server_id":"uid-a3","host_ip":"10.0.0.8","super_pod_id":3,"devices":[{"device_id":"2","device_ip":"192.168.1.2","super_device_id":"37748738"},{"device_id":"3","device_ip":"192.168.1.3","super_device_id":"37748739"}],"rack_id":0,"server_index":"5","server_ip":"10.0.0.8"}"#
    );
}

#[test]
fn a_vnpu_write_back_has_no_ascend_real_and_loopback_device_ips() {
    let real = [RealChip {
        phy_id: 0,
        name: "Ascend910-2c-100-0".into(),
        ip: Some("192.168.100.101".parse().unwrap()),
        super_device_id: Some(7),
    }];
    let kubelet = ids(&["Ascend910-2c-100-0"]);
    let out = write_back(
        "uid-v",
        "infer-0",
        "10.0.0.9",
        &kubelet,
        &real,
        Family::Ascend910B,
        true,
    );
    assert_eq!(out.get(KLT_DEV).unwrap(), "Ascend910-2c-100-0");
    assert!(!out.contains_key(ASCEND_REAL));
    assert_eq!(
        out.get(CONFIGURATION_910).unwrap(),
        r#"{"pod_name":"infer-0","server_id":"uid-v","host_ip":"10.0.0.9","super_pod_id":-2,"devices":[{"device_id":"0","device_ip":"127.0.0.1"}],"rack_id":0,"server_index":"-2","server_ip":"10.0.0.9"}"#
    );
}

#[test]
fn no_devices_marshal_as_null_like_a_nil_go_slice() {
    let out = write_back(
        "uid-e",
        "empty-0",
        "10.0.0.9",
        &[],
        &[],
        Family::Ascend910,
        false,
    );
    assert_eq!(
        out.get(CONFIGURATION_910).unwrap(),
        r#"{"pod_name":"empty-0","server_id":"uid-e","host_ip":"10.0.0.9","super_pod_id":-2,"devices":null,"rack_id":0,"server_index":"-2","server_ip":"10.0.0.9"}"#
    );
}

#[test]
fn families_outside_910_get_no_configuration_annotation() {
    let real = [RealChip {
        phy_id: 1,
        name: "Ascend310P-1".into(),
        ip: None,
        super_device_id: None,
    }];
    let kubelet = ids(&["Ascend310P-3"]);
    for family in [Family::Ascend310P, Family::Ascend310, Family::Ascend950] {
        let out = write_back("u", "p", "10.0.0.1", &kubelet, &real, family, false);
        assert_eq!(
            out,
            BTreeMap::from([
                (KLT_DEV.to_owned(), "Ascend310P-3".to_owned()),
                (ASCEND_REAL.to_owned(), "Ascend310P-1".to_owned()),
            ])
        );
    }
}

#[test]
fn the_merge_patch_carries_exactly_the_annotations() {
    let annotations = BTreeMap::from([
        (KLT_DEV.to_owned(), "Ascend910-0".to_owned()),
        (ASCEND_REAL.to_owned(), "Ascend910-3".to_owned()),
    ]);
    assert_eq!(
        merge_patch(&annotations).to_string(),
        r#"{"metadata":{"annotations":{"huawei.com/AscendReal":"Ascend910-3","huawei.com/kltDev":"Ascend910-0"}}}"#
    );
}

#[test]
fn ascend_real_is_parsed_back_with_the_hostile_input_rules() {
    assert_eq!(
        parse_ascend_real("Ascend910-3,Ascend910-0", "Ascend910"),
        Ok(vec![3, 0])
    );
    assert!(matches!(
        parse_ascend_real("Ascend910-../../x", "Ascend910"),
        Err(AnnotationFault::BadEntry { .. })
    ));
    assert!(matches!(
        parse_ascend_real("Ascend310P-0", "Ascend910"),
        Err(AnnotationFault::OtherResource { .. })
    ));
    let flood = vec!["Ascend910-1"; 10_000].join(",");
    assert!(parse_ascend_real(&flood, "Ascend910").is_err());
}

#[test]
fn pods_that_already_carry_their_write_back_are_skipped_by_the_repair_pass() {
    let with = |key: &str| Pod {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([(key.to_owned(), "x".to_owned())])),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    };
    assert!(!needs_write_back(&with(ASCEND_REAL), false));
    assert!(needs_write_back(&with(KLT_DEV), false));
    assert!(!needs_write_back(&with(KLT_DEV), true));
    assert!(needs_write_back(&Pod::default(), true));
}
