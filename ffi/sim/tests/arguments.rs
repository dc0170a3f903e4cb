//! Argument checks like the driver's: NULL out-pointers -8001, unknown card
//! or device -8007, lists and buffers too short -8001.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::ptr::null_mut;

use common::*;
use dcmi_abi::*;

const BAD: c_int = DCMI_ERR_CODE_INVALID_PARAMETER;

#[test]
fn null_out_pointers_are_rejected_with_invalid_parameter() {
    let _session = Session::start("910-8");
    let mut int = 0;
    let mut uint = 0;
    // SAFETY: every pointer is NULL or a valid local; NULL is what is tested.
    unsafe {
        assert_eq!(
            dcmi!(FnGetCardList, "dcmi_get_card_list")(null_mut(), &mut int, 1),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetCardList, "dcmi_get_card_list")(&mut int, null_mut(), 64),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceNumInCard, "dcmi_get_device_num_in_card")(0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceLogicId, "dcmi_get_device_logic_id")(null_mut(), 0, 0),
            BAD
        );
        assert_eq!(
            dcmi!(
                FnGetDevicePhyidFromLogicid,
                "dcmi_get_device_phyid_from_logicid"
            )(0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(
                FnGetDeviceLogicidFromPhyid,
                "dcmi_get_device_logicid_from_phyid"
            )(0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(
                FnGetCardIdDeviceIdFromLogicid,
                "dcmi_get_card_id_device_id_from_logicid"
            )(&mut int, null_mut(), 0),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceChipInfo, "dcmi_get_device_chip_info")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceChipInfoV2, "dcmi_get_device_chip_info_v2")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceBoardInfo, "dcmi_get_device_board_info")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetProductType, "dcmi_get_product_type")(0, 0, null_mut(), 65),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDevicePcieInfoV2, "dcmi_get_device_pcie_info_v2")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceDieV2, "dcmi_get_device_die_v2")(0, 0, NDIE, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceHealth, "dcmi_get_device_health")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceErrorcodeV2, "dcmi_get_device_errorcode_v2")(
                0,
                0,
                null_mut(),
                &mut uint,
                1
            ),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceErrorcodeV2, "dcmi_get_device_errorcode_v2")(
                0,
                0,
                &mut int,
                null_mut(),
                128
            ),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceNetworkHealth, "dcmi_get_device_network_health")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceIp, "dcmi_get_device_ip")(
                0,
                0,
                DCMI_ROCE_PORT,
                0,
                null_mut(),
                null_mut()
            ),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceMemoryInfoV3, "dcmi_get_device_memory_info_v3")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceHbmInfo, "dcmi_get_device_hbm_info")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceType, "dcmi_get_device_type")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDcmiVersion, "dcmi_get_dcmi_version")(null_mut(), 33),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceInfo, "dcmi_get_device_info")(0, 0, 52, 1, null_mut(), &mut uint),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceInfo, "dcmi_get_device_info")(
                0,
                0,
                52,
                1,
                (&raw mut int).cast::<c_void>(),
                null_mut()
            ),
            BAD
        );
        assert_eq!(
            dcmi!(FnCreateVdevice, "dcmi_create_vdevice")(0, 0, null_mut(), null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceBootStatus, "dcmi_get_device_boot_status")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnGetDeviceTemperature, "dcmi_get_device_temperature")(0, 0, null_mut()),
            BAD
        );
        assert_eq!(
            dcmi!(FnSubscribeFaultEvent, "dcmi_subscribe_fault_event")(
                -1,
                -1,
                DcmiEventFilter::default(),
                None
            ),
            BAD
        );
    }
}

#[test]
fn unknown_cards_and_devices_are_rejected_with_invalid_device_id() {
    let _session = Session::start("910b-16");
    assert_eq!(
        device_num(0).0,
        DCMI_ERR_CODE_INVALID_DEVICE_ID,
        "910b-16 card ids start at 1"
    );
    assert_eq!(device_num(17).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(logic_id(1, 1).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(logic_id(1, -1).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(chip_info_v2(99, 0).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(health(1, 4).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(phy_from_logic(16).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(
        subscribe(3, 2, DcmiEventFilter::default()),
        DCMI_ERR_CODE_INVALID_DEVICE_ID
    );
    assert_eq!(subscribe(-1, 0, DcmiEventFilter::default()), BAD);
    assert_eq!(destroy_vnpu(1, 0, 100), DCMI_ERR_CODE_INVALID_DEVICE_ID);
}

#[test]
fn a_card_list_shorter_than_the_card_count_is_rejected() {
    let _session = Session::start("910-8");
    assert_eq!(card_list(7).0, BAD);
    assert_eq!(card_list(0).0, BAD);
    let (rc, num, list) = card_list(8);
    assert_eq!((rc, num), (DCMI_OK, 8));
    assert_eq!(list, (0..8).collect::<Vec<_>>());
}

#[test]
fn an_error_code_list_shorter_than_the_active_codes_is_rejected() {
    let session = Session::start("910-8");
    session.sim("fault raise --phy 0 --code 80E01801");
    session.sim("fault raise --phy 0 --code 80E01805");
    assert_eq!(session.init(), DCMI_OK);
    assert_eq!(error_codes(0, 0, 1).0, BAD);
    let (rc, count, list) = error_codes(0, 0, 2);
    assert_eq!((rc, count), (DCMI_OK, 2));
    assert_eq!(list, vec![0x80E0_1801, 0x80E0_1805]);
}

#[test]
fn buffers_too_small_for_the_answer_are_rejected() {
    let _session = Session::start("310p-duo-vnpu");
    assert_eq!(
        product_type(1, 0, 14).0,
        BAD,
        "\"Atlas 300I Duo\" needs 15 bytes"
    );
    let (rc, text) = product_type(1, 0, 15);
    assert_eq!(rc, DCMI_OK);
    assert_eq!(c_text(&text), "Atlas 300I Duo");
    assert_eq!(product_type(1, 0, 0).0, BAD);

    let mut version = [0 as c_char; 4];
    // SAFETY: `version` holds 4 chars.
    let rc = unsafe { dcmi!(FnGetDcmiVersion, "dcmi_get_dcmi_version")(version.as_mut_ptr(), 4) };
    assert_eq!(rc, BAD);

    let mut total = DcmiSocTotalResource::default();
    let mut size = std::mem::size_of::<DcmiSocTotalResource>() as c_uint - 1;
    // SAFETY: `total` is writable; `size` understates it, which is what is tested.
    let rc = unsafe {
        dcmi!(FnGetDeviceInfo, "dcmi_get_device_info")(
            1,
            0,
            52,
            1,
            (&raw mut total).cast::<c_void>(),
            &mut size,
        )
    };
    assert_eq!(rc, BAD);
    assert_eq!(total.vdev_num, 0, "nothing written");

    let mut info = [0u8; 47];
    // SAFETY: `info` holds 47 bytes.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceErrorcodeString,
            "dcmi_get_device_errorcode_string"
        )(1, 0, 0x80E0_1801, info.as_mut_ptr(), 47)
    };
    assert_eq!(rc, BAD);
}

#[test]
fn unsupported_commands_and_unknown_enum_values_are_refused() {
    let _session = Session::start("910-8");
    let (rc, _, _) = device_info(
        0,
        0,
        DCMI_MAIN_CMD_HCCS,
        DCMI_HCCS_SUB_CMD_GET_STATISTIC_INFO,
        DcmiHccsStatisticInfo::default(),
    );
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT);
    let (rc, _, _) = device_info(
        0,
        0,
        DCMI_MAIN_CMD_VDEV_MNG,
        9,
        DcmiSocTotalResource::default(),
    );
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT);
    let mut die = DcmiDieId::default();
    // SAFETY: `die` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceDieV2, "dcmi_get_device_die_v2")(0, 0, 7, &mut die) };
    assert_eq!(rc, BAD);
    let mut ip = DcmiIpAddr::default();
    let mut mask = DcmiIpAddr::default();
    // SAFETY: both writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceIp, "dcmi_get_device_ip")(0, 0, DCMI_VNIC_PORT, 0, &mut ip, &mut mask)
    };
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT);
    let mut elabel = DcmiElabelInfo::default();
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnGetCardElabelV2, "dcmi_get_card_elabel_v2")(0, &mut elabel) };
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT);
    // SAFETY: by value.
    let rc = unsafe {
        dcmi!(FnSetMultiDiePolicy, "dcmi_set_multi_die_policy")(DCMI_MULTI_DIE_POLICY_MAX)
    };
    assert_eq!(rc, BAD);
}
