//! The smaller queries: chip info v1, memory v1, id conversions by physical
//! id, sharing, work mode, sensors, reset and super-pod node status.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::c_int;

use common::*;
use dcmi_abi::*;

#[test]
fn chip_info_v1_agrees_with_v2() {
    let _session = Session::start("a3-16");
    let mut v1 = DcmiChipInfo::default();
    // SAFETY: `v1` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceChipInfo, "dcmi_get_device_chip_info")(3, 1, &mut v1) };
    assert_eq!(rc, DCMI_OK);
    let (rc, v2) = chip_info_v2(3, 1);
    assert_eq!(rc, DCMI_OK);
    assert_eq!(
        (v1.chip_type, v1.chip_name, v1.chip_ver, v1.aicore_cnt),
        (v2.chip_type, v2.chip_name, v2.chip_ver, v2.aicore_cnt)
    );
}

#[test]
fn card_and_device_come_back_from_a_physical_id() {
    let _session = Session::start("910b-16");
    let (mut card, mut dev) = (-1, -1);
    // SAFETY: both writable.
    let rc = unsafe {
        dcmi!(
            FnGetCardIdDeviceIdFromPhyid,
            "dcmi_get_card_id_device_id_from_phyid"
        )(&mut card, &mut dev, 9)
    };
    assert_eq!((rc, card, dev), (DCMI_OK, 10, 0));
    let (mut max, mut mcu, mut cpu) = (0, 0, 0);
    // SAFETY: all writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceIdInCard, "dcmi_get_device_id_in_card")(10, &mut max, &mut mcu, &mut cpu)
    };
    assert_eq!((rc, max, mcu, cpu), (DCMI_OK, 1, -1, -1));
}

#[test]
fn memory_sharing_and_work_mode_answer_from_the_topology() {
    let _session = Session::start("310p-duo-vnpu");
    let mut memory = DcmiMemoryInfoStru::default();
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnGetMemoryInfo, "dcmi_get_memory_info")(2, 1, &mut memory) };
    assert_eq!((rc, memory.memory_size), (DCMI_OK, 24576));
    let mut share = -1;
    // SAFETY: writable.
    let rc =
        unsafe { dcmi!(FnGetDeviceShareEnable, "dcmi_get_device_share_enable")(2, 1, &mut share) };
    assert_eq!((rc, share), (DCMI_OK, 0));
    let mut mode = 9;
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnGetNpuWorkMode, "dcmi_get_npu_work_mode")(2, &mut mode) };
    assert_eq!((rc, mode), (DCMI_OK, 0));
    let mut power = 0;
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnMcuGetPowerInfo, "dcmi_mcu_get_power_info")(2, &mut power) };
    assert_eq!(rc, DCMI_OK);
    assert!(power > 0);
    let mut ecc = DcmiEccInfo::default();
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceEccInfo, "dcmi_get_device_ecc_info")(2, 1, DCMI_DEVICE_TYPE_HBM, &mut ecc)
    };
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT, "310P has no HBM");
}

#[test]
fn sensors_report_plausible_values() {
    let _session = Session::start("910-8");
    let mut frequency = 0;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceFrequency, "dcmi_get_device_frequency")(
            0,
            0,
            DCMI_FREQ_AICORE_MAX,
            &mut frequency,
        )
    };
    assert_eq!(rc, DCMI_OK);
    assert!((500..3000).contains(&frequency));
    let mut voltage = 0;
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnGetDeviceVoltage, "dcmi_get_device_voltage")(0, 0, &mut voltage) };
    assert_eq!(rc, DCMI_OK);
    assert!((50..150).contains(&voltage));
    let mut util = DcmiMultiUtilizationInfo {
        aic_util: 555,
        ..DcmiMultiUtilizationInfo::default()
    };
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceMultiUtilizationRatePeriod,
            "dcmi_get_device_multi_utilization_rate_period"
        )(0, 0, &mut util, 1)
    };
    assert_eq!(rc, DCMI_OK);
    assert!(util.aic_util <= 100);
    let mut processes = [DcmiProcMemInfo::default(); 32];
    let mut count: c_int = -1;
    // SAFETY: `processes` holds 32 entries.
    let rc = unsafe {
        dcmi!(FnGetDeviceResourceInfo, "dcmi_get_device_resource_info")(
            0,
            0,
            processes.as_mut_ptr(),
            &mut count,
        )
    };
    assert_eq!((rc, count), (DCMI_OK, 0));
}

#[test]
fn reset_calls_are_accepted_and_super_pod_status_is_kept_on_a3_only() {
    let session = Session::start("a3-16");
    // SAFETY: arguments by value.
    unsafe {
        assert_eq!(
            dcmi!(FnSetDeviceReset, "dcmi_set_device_reset")(0, 0, INBAND_CHANNEL),
            DCMI_OK
        );
        assert_eq!(
            dcmi!(FnSetDeviceReset, "dcmi_set_device_reset")(0, 0, 5),
            DCMI_ERR_CODE_INVALID_PARAMETER
        );
        assert_eq!(dcmi!(FnPreResetSoc, "dcmi_pre_reset_soc")(0, 0), DCMI_OK);
        assert_eq!(dcmi!(FnRescanSoc, "dcmi_rescan_soc")(0, 0), DCMI_OK);
        assert_eq!(
            dcmi!(FnSetSpodNodeStatus, "dcmi_set_spod_node_status")(0, 1, 77, 3),
            DCMI_OK
        );
    }
    let mut state = 0;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceOutbandChannelState,
            "dcmi_get_device_outband_channel_state"
        )(0, 0, &mut state)
    };
    assert_eq!((rc, state), (DCMI_OK, 1));
    let mut status = 0;
    // SAFETY: writable.
    let rc =
        unsafe { dcmi!(FnGetSpodNodeStatus, "dcmi_get_spod_node_status")(0, 1, 77, &mut status) };
    assert_eq!((rc, status), (DCMI_OK, 3));

    set_env("ASCEND_SIM_TOPOLOGY", Some("910-8"));
    assert_eq!(session.init(), DCMI_OK);
    // SAFETY: writable.
    let rc =
        unsafe { dcmi!(FnGetSpodNodeStatus, "dcmi_get_spod_node_status")(0, 0, 77, &mut status) };
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT);
}
