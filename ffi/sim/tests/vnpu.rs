//! vNPUs: discovery of pre-created ones, creation from templates, the AI-core
//! budget, destruction, and persistence next to the state file.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{c_char, c_uint};

use common::*;
use dcmi_abi::*;

fn vnpu_ids(card: i32, dev: i32) -> Vec<c_uint> {
    let (rc, total) = total_resource(card, dev);
    assert_eq!(rc, DCMI_OK);
    total.vdev_id[..total.vdev_num as usize].to_vec()
}

fn free_cores(card: i32, dev: i32) -> f32 {
    let (rc, free, _) = device_info(
        card,
        dev,
        DCMI_MAIN_CMD_VDEV_MNG,
        DCMI_VMNG_SUB_CMD_GET_FREE_RESOURCE,
        DcmiSocFreeResource::default(),
    );
    assert_eq!(rc, DCMI_OK);
    free.computing.aic
}

#[test]
fn creating_a_vnpu_allocates_the_next_free_id_and_destroying_it_frees_its_cores() {
    let _session = Session::start("910-8");
    let (rc, out) = create_vnpu(0, 0, "vir16");
    assert_eq!((rc, out.vdev_id), (DCMI_OK, 100));
    assert_eq!(create_vnpu(0, 0, "vir08").1.vdev_id, 101);
    assert_eq!(free_cores(0, 0), 8.0);
    assert_eq!(
        create_vnpu(0, 0, "vir16").0,
        DCMI_ERR_CODE_RESOURCE_OCCUPIED,
        "only 8 cores left"
    );
    assert_eq!(
        create_vnpu(1, 0, "vir04").1.vdev_id,
        102,
        "ids are unique across chips"
    );
    assert_eq!(vnpu_ids(0, 0), vec![100, 101]);

    let (rc, query) = vdev_resource(0, 0, 101);
    assert_eq!(rc, DCMI_OK);
    assert_eq!(c_text_chars(&query.query_info.name), "vir08");
    assert_eq!(query.query_info.computing.aic, 8.0);
    assert_eq!(
        vdev_resource(0, 0, 102).0,
        DCMI_ERR_CODE_INVALID_DEVICE_ID,
        "102 is on another chip"
    );

    assert_eq!(destroy_vnpu(0, 0, 100), DCMI_OK);
    assert_eq!(destroy_vnpu(0, 0, 100), DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(free_cores(0, 0), 24.0);
    assert_eq!(
        create_vnpu(0, 0, "vir02").1.vdev_id,
        100,
        "the lowest free id is reused"
    );
}

#[test]
fn unknown_templates_and_bad_ids_are_rejected() {
    let _session = Session::start("910b-16");
    assert_eq!(
        create_vnpu(1, 0, "vir03").0,
        DCMI_ERR_CODE_INVALID_PARAMETER
    );
    assert_eq!(create_vnpu(1, 0, "").0, DCMI_ERR_CODE_INVALID_PARAMETER);
    assert_eq!(create_vnpu(1, 0, "vir10_3c_32g").0, DCMI_OK);

    let mut request = DcmiCreateVdevResStru {
        vdev_id: u32::MAX,
        vfg_id: u32::MAX,
        ..DcmiCreateVdevResStru::default()
    };
    request.template_name = [b'v' as c_char; TEMPLATE_NAME_LEN];
    let mut out = DcmiCreateVdevOut::default();
    // SAFETY: both structs are valid; the name is deliberately not NUL-terminated.
    let rc = unsafe { dcmi!(FnCreateVdevice, "dcmi_create_vdevice")(1, 0, &mut request, &mut out) };
    assert_eq!(rc, DCMI_ERR_CODE_INVALID_PARAMETER);

    for (id, expected) in [
        (100, DCMI_ERR_CODE_RESOURCE_OCCUPIED),
        (99, DCMI_ERR_CODE_INVALID_PARAMETER),
        (150, DCMI_OK),
    ] {
        let mut request = DcmiCreateVdevResStru {
            vdev_id: id,
            vfg_id: u32::MAX,
            ..DcmiCreateVdevResStru::default()
        };
        for (slot, byte) in request.template_name.iter_mut().zip(b"vir05_1c_8g") {
            *slot = *byte as c_char;
        }
        // SAFETY: both structs are valid and writable.
        let rc =
            unsafe { dcmi!(FnCreateVdevice, "dcmi_create_vdevice")(2, 0, &mut request, &mut out) };
        assert_eq!(rc, expected, "explicit vdev_id {id}");
    }
    assert_eq!(out.vdev_id, 150);
}

#[test]
fn created_vnpus_survive_a_restart_of_the_consumer_when_a_state_file_is_set() {
    let session = Session::start("310p-duo-vnpu");
    assert_eq!(
        create_vnpu(2, 0, "vir04_3c").1.vdev_id,
        105,
        "100-104 are pre-created"
    );
    assert_eq!(destroy_vnpu(1, 0, 102), DCMI_OK);
    let store = session.dir.join("state.json.vnpu.json");
    assert!(store.exists(), "persisted beside the state file");
    assert_eq!(session.init(), DCMI_OK);
    assert_eq!(vnpu_ids(2, 0), vec![105]);
    assert_eq!(vnpu_ids(1, 0), vec![100, 101]);
    assert_eq!(
        c_text_chars(&vdev_resource(2, 0, 105).1.query_info.name),
        "vir04_3c"
    );
}

#[test]
fn a_vnpu_store_written_for_another_topology_is_ignored() {
    let session = Session::start("310p-duo-vnpu");
    assert_eq!(create_vnpu(2, 1, "vir08").0, DCMI_OK);
    set_env("ASCEND_SIM_TOPOLOGY", Some("910-8"));
    assert_eq!(session.init(), DCMI_OK);
    assert!(vnpu_ids(0, 0).is_empty());
}

#[test]
fn without_a_state_file_created_vnpus_live_in_memory_only() {
    let session = Session::with(Config {
        topology: "910-8",
        with_state: false,
        chaos: None,
    });
    assert_eq!(create_vnpu(3, 0, "vir04").0, DCMI_OK);
    assert_eq!(vnpu_ids(3, 0), vec![100]);
    assert_eq!(session.init(), DCMI_OK);
    assert!(vnpu_ids(3, 0).is_empty());
}
