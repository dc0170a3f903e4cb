#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::naming::AdvertisedDevice;

fn resource(type_name: &str, family: Family, devices: Vec<(&str, Backing)>) -> Resource {
    Resource {
        type_name: type_name.into(),
        family,
        is_virtual: devices
            .iter()
            .any(|(_, b)| matches!(b, Backing::Vnpu { .. })),
        devices: devices
            .into_iter()
            .map(|(id, backing)| AdvertisedDevice {
                id: id.into(),
                backing,
            })
            .collect(),
    }
}

fn ascend910() -> Resource {
    resource(
        "Ascend910",
        Family::Ascend910,
        (0..8)
            .map(|phy| {
                (
                    Box::leak(format!("Ascend910-{phy}").into_boxed_str()) as &str,
                    Backing::Chip { phy_id: phy },
                )
            })
            .collect(),
    )
}

fn vnpus() -> Resource {
    resource(
        "Ascend310P-2c",
        Family::Ascend310P,
        vec![
            (
                "Ascend310P-2c-100-0",
                Backing::Vnpu {
                    phy_id: 0,
                    vdev_id: 100,
                },
            ),
            (
                "Ascend310P-2c-101-0",
                Backing::Vnpu {
                    phy_id: 0,
                    vdev_id: 101,
                },
            ),
        ],
    )
}

fn request(ids: &[&str]) -> Vec<Vec<String>> {
    vec![ids.iter().map(|s| s.to_string()).collect()]
}

fn docker() -> Style {
    Style {
        ascend_docker: true,
        present_nodes: BTreeSet::new(),
        cdi: false,
        a5: None,
    }
}

fn device_specs(present: &[&str]) -> Style {
    Style {
        ascend_docker: false,
        present_nodes: present.iter().map(|s| s.to_string()).collect(),
        cdi: false,
        a5: None,
    }
}

#[test]
fn ascend_docker_mode_answers_with_phy_ids_in_envs_only() {
    let r = ascend910();
    let backings = validate(&r, &request(&["Ascend910-3", "Ascend910-1"])).unwrap();
    let grant = grant(Family::Ascend910, &backings[0], &docker());
    assert_eq!(grant.envs["ASCEND_VISIBLE_DEVICES"], "1,3");
    assert_eq!(grant.envs["ASCEND_RUNTIME_OPTIONS"], "");
    assert!(!grant.envs.contains_key("ASCEND_ALLOW_LINK"));
    assert!(grant.devices.is_empty());
}

#[test]
fn a_vnpu_in_docker_mode_is_visible_by_vdev_id_and_virtual() {
    let r = vnpus();
    let backings = validate(&r, &request(&["Ascend310P-2c-101-0"])).unwrap();
    let grant = grant(Family::Ascend310P, &backings[0], &docker());
    assert_eq!(grant.envs["ASCEND_VISIBLE_DEVICES"], "101");
    assert_eq!(grant.envs["ASCEND_RUNTIME_OPTIONS"], "VIRTUAL");
}

#[test]
fn only_310b_is_allowed_links() {
    let r = resource(
        "Ascend310",
        Family::Ascend310B,
        vec![("Ascend310-0", Backing::Chip { phy_id: 0 })],
    );
    let backings = validate(&r, &request(&["Ascend310-0"])).unwrap();
    assert_eq!(
        grant(Family::Ascend310B, &backings[0], &docker()).envs["ASCEND_ALLOW_LINK"],
        "True"
    );
}

#[test]
fn device_spec_mode_mounts_chips_manager_and_only_present_control_nodes() {
    let r = ascend910();
    let backings = validate(&r, &request(&["Ascend910-0", "Ascend910-5"])).unwrap();
    let grant = grant(
        Family::Ascend910,
        &backings[0],
        &device_specs(&["devmm_svm", "hisi_hdc"]),
    );
    let paths: Vec<(&str, &str)> = grant
        .devices
        .iter()
        .map(|d| (d.host_path.as_str(), d.container_path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("/dev/davinci0", "/dev/davinci0"),
            ("/dev/davinci5", "/dev/davinci5"),
            ("/dev/davinci_manager", "/dev/davinci_manager"),
            ("/dev/devmm_svm", "/dev/devmm_svm"),
            ("/dev/hisi_hdc", "/dev/hisi_hdc"),
        ]
    );
    assert!(grant.envs.is_empty());
}

#[test]
fn a_vnpu_device_spec_maps_the_host_vdavinci_node_to_davinci() {
    let r = vnpus();
    let backings = validate(&r, &request(&["Ascend310P-2c-100-0"])).unwrap();
    let grant = grant(Family::Ascend310P, &backings[0], &device_specs(&[]));
    assert_eq!(grant.devices[0].host_path, "/dev/vdavinci100");
    assert_eq!(grant.devices[0].container_path, "/dev/davinci100");
}

#[test]
fn a_310b_prefers_the_docker_manager_node_when_present() {
    let r = resource(
        "Ascend310",
        Family::Ascend310B,
        vec![("Ascend310-0", Backing::Chip { phy_id: 0 })],
    );
    let backings = validate(&r, &request(&["Ascend310-0"])).unwrap();
    let grant = grant(
        Family::Ascend310B,
        &backings[0],
        &device_specs(&["davinci_manager_docker"]),
    );
    assert_eq!(grant.devices[1].host_path, "/dev/davinci_manager_docker");
    assert_eq!(grant.devices[1].container_path, "/dev/davinci_manager");
}

#[test]
fn share_slots_of_one_chip_expose_the_chip_once() {
    let r = resource(
        "Ascend310P",
        Family::Ascend310P,
        vec![
            ("Ascend310P-0-0", Backing::Share { phy_id: 0, slot: 0 }),
            ("Ascend310P-0-1", Backing::Share { phy_id: 0, slot: 1 }),
        ],
    );
    let backings = validate(&r, &request(&["Ascend310P-0-0", "Ascend310P-0-1"])).unwrap();
    assert_eq!(
        grant(Family::Ascend310P, &backings[0], &docker()).envs["ASCEND_VISIBLE_DEVICES"],
        "0"
    );
}

#[test]
fn cdi_names_are_added_only_when_asked() {
    let r = ascend910();
    let backings = validate(&r, &request(&["Ascend910-2"])).unwrap();
    let style = Style {
        cdi: true,
        ..docker()
    };
    assert_eq!(
        grant(Family::Ascend910, &backings[0], &style).cdi_devices,
        ["huawei.com/npu=2"]
    );
    assert!(
        grant(Family::Ascend910, &backings[0], &docker())
            .cdi_devices
            .is_empty()
    );
}

#[test]
fn hostile_requests_are_rejected_naming_the_offending_id() {
    let r = ascend910();
    let unknown = validate(&r, &request(&["Ascend910-9"])).unwrap_err();
    assert!(unknown.to_string().contains("Ascend910-9"), "{unknown}");
    let other_resource = validate(&r, &request(&["Ascend310P-0"])).unwrap_err();
    assert!(matches!(other_resource, AllocateError::Unknown { .. }));
    let duplicate = validate(&r, &request(&["Ascend910-1", "Ascend910-1"])).unwrap_err();
    assert_eq!(
        duplicate,
        AllocateError::Duplicate {
            id: "Ascend910-1".into(),
            container: 0
        }
    );
    let long = "A".repeat(1 << 20);
    let too_long = validate(&r, &request(&[&long])).unwrap_err();
    assert!(matches!(too_long, AllocateError::TooLong { ref id } if id.len() < 60));
    let many: Vec<String> = (0..10_000).map(|i| format!("Ascend910-{i}")).collect();
    let too_many = validate(&r, &[many]).unwrap_err();
    assert_eq!(
        too_many,
        AllocateError::TooMany {
            container: 0,
            count: 10_000
        }
    );
    let two_vnpus = validate(
        &vnpus(),
        &request(&["Ascend310P-2c-100-0", "Ascend310P-2c-101-0"]),
    )
    .unwrap_err();
    assert!(matches!(two_vnpus, AllocateError::SeveralVnpus { .. }));
}

#[test]
fn every_container_request_is_validated_before_any_answer() {
    let r = ascend910();
    let requests = vec![
        vec!["Ascend910-0".to_string()],
        vec!["Ascend910-1".to_string(), "bogus".to_string()],
    ];
    let error = validate(&r, &requests).unwrap_err();
    assert!(error.to_string().contains("bogus"));
    let ok = validate(
        &r,
        &[vec!["Ascend910-0".into()], vec!["Ascend910-0".into()]],
    )
    .unwrap();
    assert_eq!(ok.len(), 2, "init and app containers may reuse an ID");
}

#[test]
fn control_nodes_are_found_under_the_injected_dev_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("davinci_manager"), "").unwrap();
    std::fs::write(root.path().join("hisi_hdc"), "").unwrap();
    let present = present_nodes(root.path());
    assert_eq!(
        present.into_iter().collect::<Vec<_>>(),
        ["davinci_manager", "hisi_hdc"]
    );
}

fn a5_style(ascend_docker: bool, present: &[&str]) -> Style {
    Style {
        ascend_docker,
        present_nodes: present.iter().map(|s| s.to_string()).collect(),
        a5: Some(crate::device::a5::A5Style {
            logic_of_phy: BTreeMap::from([(0, 1), (1, 0), (2, 3), (3, 2)]),
            hccl_topo_file: Some("/usr/local/Ascend/driver/topo/950/atlas_850_1.json".into()),
        }),
        ..Style::default()
    }
}

fn npu_backings(phys: &[u32]) -> Vec<Backing> {
    phys.iter()
        .map(|&phy_id| Backing::Chip { phy_id })
        .collect()
}

#[test]
fn an_a5_container_sees_logic_ids_and_the_hccl_topology_file_with_the_runtime() {
    let grant = grant(
        Family::Ascend950,
        &npu_backings(&[0, 3]),
        &a5_style(true, &[]),
    );
    assert_eq!(grant.envs["ASCEND_VISIBLE_DEVICES"], "1,2");
    assert_eq!(
        grant.envs["HCCL_TOPO_FILE_PATH"],
        "/usr/local/Ascend/driver/topo/950/atlas_850_1.json"
    );
    assert_eq!(grant.envs["ASCEND_RUNTIME_OPTIONS"], "");
    assert!(grant.devices.is_empty());
}

#[test]
fn an_a5_device_spec_answer_names_davinci_by_logic_id_and_passes_the_ub_devices() {
    let present = [
        "davinci_manager",
        "hisi_hdc",
        "uburma/uburma0",
        "ummu/ummu_tid",
    ];
    let grant = grant(
        Family::Ascend950,
        &npu_backings(&[2]),
        &a5_style(false, &present),
    );
    let paths: Vec<&str> = grant.devices.iter().map(|d| d.host_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/dev/davinci3",
            "/dev/davinci_manager",
            "/dev/hisi_hdc",
            "/dev/uburma/uburma0",
            "/dev/ummu/ummu_tid"
        ]
    );
    assert!(
        grant
            .devices
            .iter()
            .all(|d| d.host_path == d.container_path)
    );
    assert_eq!(
        grant.envs["HCCL_TOPO_FILE_PATH"],
        "/usr/local/Ascend/driver/topo/950/atlas_850_1.json"
    );
}

#[test]
fn other_families_keep_phy_ids_and_get_no_hccl_file_even_with_an_a5_style() {
    let grant = grant(
        Family::Ascend910B,
        &npu_backings(&[0, 3]),
        &a5_style(true, &[]),
    );
    assert_eq!(grant.envs["ASCEND_VISIBLE_DEVICES"], "0,3");
    assert!(!grant.envs.contains_key("HCCL_TOPO_FILE_PATH"));
}

#[test]
fn ub_device_files_are_found_under_the_injected_dev_root_and_subdirectories_skipped() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("uburma/nested")).unwrap();
    std::fs::create_dir_all(root.path().join("ummu")).unwrap();
    std::fs::write(root.path().join("uburma/uburma0"), "").unwrap();
    std::fs::write(root.path().join("ummu/ummu_tid"), "").unwrap();
    std::fs::write(root.path().join("davinci_manager"), "").unwrap();
    let nodes = present_nodes(root.path());
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["davinci_manager", "uburma/uburma0", "ummu/ummu_tid"]
    );
}
