//! The v2 API (`dcmiv2_*`, Ascend 950): only a `"dcmi_api": 2` topology
//! initialises through it (and refuses `dcmi_init`, as an A5 driver does);
//! a chip is addressed by its logic id and answers like its v1 twin.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{c_int, c_uint};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// Polls `done` until it holds or [`WAIT`] passes (the library applies a
/// state-file edit on its watcher thread).
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

use common::*;
use dcmi_abi::*;

fn device_list(list_len: c_int) -> (c_int, c_int, Vec<c_int>) {
    let mut num = 0;
    let mut list = vec![-7; list_len.max(0) as usize];
    // SAFETY: `list` holds `list_len` ints, `num` is writable.
    let rc = unsafe {
        dcmi!(FnV2GetDeviceList, "dcmiv2_get_device_list")(list.as_mut_ptr(), &mut num, list_len)
    };
    (rc, num, list)
}

fn phy_of(logic: c_uint) -> (c_int, c_uint) {
    let mut phy = c_uint::MAX;
    // SAFETY: `phy` is writable.
    let rc = unsafe {
        dcmi!(FnV2GetChipPhyIdByDevId, "dcmiv2_get_chip_phy_id_by_dev_id")(logic, &mut phy)
    };
    (rc, phy)
}

fn v2_health(logic: c_int) -> (c_int, c_uint) {
    let mut health = 99;
    // SAFETY: `health` is writable.
    let rc = unsafe { dcmi!(FnV2GetDeviceHealth, "dcmiv2_get_device_health")(logic, &mut health) };
    (rc, health)
}

fn v2_codes(logic: c_int) -> (c_int, Vec<c_uint>) {
    let mut count = 0;
    let mut codes = [0 as c_uint; DCMI_ERROR_CODE_MAX_COUNT];
    // SAFETY: `codes` holds its length in entries; `count` is writable.
    let rc = unsafe {
        dcmi!(
            FnV2GetDeviceErrorCodeList,
            "dcmiv2_get_device_error_code_list"
        )(logic, &mut count, codes.as_mut_ptr(), codes.len() as c_uint)
    };
    (rc, codes[..count.max(0) as usize].to_vec())
}

#[test]
fn an_a5_topology_refuses_dcmi_init_and_serves_the_v2_api() {
    let session = Session::prepare(&Config {
        topology: "a5-8",
        with_state: true,
        chaos: None,
    });
    assert_eq!(session.init(), DCMI_ERR_CODE_NOT_SUPPORT, "dcmi_init on A5");
    assert_eq!(
        card_list(64).0,
        DCMI_ERR_CODE_INNER_ERR,
        "the refused v1 init leaves the library uninitialised"
    );
    assert_eq!(session.init_v2(), DCMI_OK);
    let (rc, num, list) = device_list(64);
    assert_eq!((rc, num), (DCMI_OK, 8));
    assert_eq!(
        &list[..8],
        &[1, 0, 3, 2, 5, 4, 7, 6],
        "logic ids, topology order"
    );
    let mut total = 0;
    // SAFETY: `total` is writable.
    let rc = unsafe { dcmi!(FnV2GetAllDeviceCount, "dcmiv2_get_all_device_count")(&mut total) };
    assert_eq!((rc, total), (DCMI_OK, 8));
    assert_eq!(phy_of(3), (DCMI_OK, 2));
    assert_eq!(phy_of(8).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    let mut logic = c_uint::MAX;
    // SAFETY: `logic` is writable.
    let rc = unsafe {
        dcmi!(FnV2GetDevIdByChipPhyId, "dcmiv2_get_dev_id_by_chip_phy_id")(2, &mut logic)
    };
    assert_eq!((rc, logic), (DCMI_OK, 3));
}

#[test]
fn a_v1_topology_refuses_dcmiv2_init() {
    let session = Session::prepare(&Config {
        topology: "910b-16",
        with_state: true,
        chaos: None,
    });
    assert_eq!(session.init_v2(), DCMI_ERR_CODE_NOT_SUPPORT);
    assert_eq!(device_list(64).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(session.init(), DCMI_OK);
}

#[test]
fn v2_chip_identity_and_super_pod_come_by_logic_id() {
    let _session = Session::start_v2("a5-8");
    let mut info = DcmiChipInfoV2::default();
    // SAFETY: `info` is a live dcmi_chip_info_v2.
    let rc = unsafe { dcmi!(FnV2GetDeviceChipInfo, "dcmiv2_get_device_chip_info")(0, &mut info) };
    assert_eq!(rc, DCMI_OK);
    assert_eq!(c_text(&info.chip_name), "Ascend950PR");
    assert_eq!(info.aicore_cnt, 32);
    let mut mainboard = 0;
    // SAFETY: `mainboard` is writable.
    let rc = unsafe { dcmi!(FnV2GetMainboardId, "dcmiv2_get_mainboard_id")(0, &mut mainboard) };
    assert_eq!((rc, mainboard), (DCMI_OK, 0x23));
    let mut spod = DcmiSpodInfo::default();
    let mut size = std::mem::size_of::<DcmiSpodInfo>() as c_uint;
    // SAFETY: `spod` is a live dcmi_spod_info of `size` bytes.
    let rc = unsafe {
        dcmi!(FnV2GetDeviceInfo, "dcmiv2_get_device_info")(
            5,
            DCMI_MAIN_CMD_CHIP_INF,
            DCMI_CHIP_INF_SUB_CMD_SPOD_INFO,
            (&mut spod as *mut DcmiSpodInfo).cast(),
            &mut size,
        )
    };
    assert_eq!(rc, DCMI_OK);
    assert_eq!((spod.sdid, spod.super_pod_type), (4, 0), "logic 5 is phy 4");
    let mut hbm = DcmiHbmInfo::default();
    // SAFETY: `hbm` is a live dcmi_hbm_info.
    let rc = unsafe { dcmi!(FnV2GetDeviceHbmInfo, "dcmiv2_get_device_hbm_info")(0, &mut hbm) };
    assert_eq!((rc, hbm.memory_size), (DCMI_OK, 131072));
}

#[test]
fn the_v2_die_id_accepts_the_d_die_and_rejects_unknown_ids() {
    let _session = Session::start_v2("a5-8");
    let die = |logic: c_int, kind: DcmiDieType| {
        let mut die = DcmiDieId::default();
        // SAFETY: `die` is a live dcmi_die_id.
        let rc =
            unsafe { dcmi!(FnV2GetDeviceDieId, "dcmiv2_get_device_die_id")(logic, kind, &mut die) };
        (rc, die.soc_die)
    };
    let (rc, ddie) = die(1, DDIE);
    assert_eq!(rc, DCMI_OK);
    assert_eq!(ddie[0], 0x5d00_0000, "logic 1 is phy 0");
    let (rc, vdie) = die(1, VDIE);
    assert_eq!(rc, DCMI_OK);
    assert_ne!(vdie, ddie);
    assert_eq!(die(1, 3).0, DCMI_ERR_CODE_INVALID_PARAMETER);
    assert_eq!(die(-2, DDIE).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
    assert_eq!(die(42, NDIE).0, DCMI_ERR_CODE_INVALID_DEVICE_ID);
}

#[test]
fn v2_faults_are_read_and_delivered_by_logic_id() {
    let session = Session::start_v2("a5-8");
    // SAFETY: the filter is by value; the callback has the callback prototype.
    let rc = unsafe {
        dcmi!(FnV2SubscribeFaultEvent, "dcmiv2_subscribe_fault_event")(
            -1,
            DcmiEventFilter::default(),
            Some(record_event),
        )
    };
    assert_eq!(rc, DCMI_OK);
    session.sim("fault raise --phy 2 --code 80E01801 --severity 2");
    let event =
        wait_event(Duration::from_secs(5), |e| e.event_id == 0x80E0_1801).expect("a fault event");
    assert_eq!(event.deviceid, 3, "phy 2 has logic id 3");
    assert_eq!(v2_health(3), (DCMI_OK, 2));
    assert_eq!(v2_codes(3), (DCMI_OK, vec![0x80E0_1801]));
    assert_eq!(v2_codes(2), (DCMI_OK, vec![]), "phy 3 is untouched");
    session.sim("card drop --card 2");
    wait_for(|| v2_health(3).0 == DCMI_ERR_CODE_NOT_READY);
    assert_eq!(v2_health(3).0, DCMI_ERR_CODE_NOT_READY, "a dropped chip");
}

#[test]
fn a_v2_reset_clears_the_chip_and_boots_it() {
    let session = Session::start_v2("a5-8");
    session.sim("fault raise --phy 6 --code 80E01801");
    // SAFETY: plain integers.
    let rc = unsafe { dcmi!(FnV2ResetDevice, "dcmiv2_reset_device")(7, INBAND_CHANNEL) };
    assert_eq!(rc, DCMI_OK);
    assert_eq!(v2_codes(7), (DCMI_OK, vec![]));
    let mut status = 0;
    // SAFETY: `status` is writable.
    let rc =
        unsafe { dcmi!(FnV2GetDeviceBootStatus, "dcmiv2_get_device_boot_status")(7, &mut status) };
    assert_eq!((rc, status), (DCMI_OK, DCMI_SYSTEM_START_FINISH));
    let shown = session.sim("show");
    assert!(
        shown.contains("resets done: phy 6 = 1"),
        "the reset is counted for phy 6: {shown}"
    );
    let processes = || {
        let mut procs = [DcmiProcMemInfo::default(); DCMI_MAX_PROC_NUM];
        let mut n = -1;
        // SAFETY: `procs` holds the driver's maximum; `n` is writable.
        let rc = unsafe {
            dcmi!(FnV2GetDeviceProcMemInfo, "dcmiv2_get_device_proc_mem_info")(
                7,
                procs.as_mut_ptr(),
                &mut n,
            )
        };
        (rc, n)
    };
    assert_eq!(processes(), (DCMI_OK, 0));
    session.sim("proc set --phy 6 --count 2");
    wait_for(|| processes().1 == 2);
    assert_eq!(processes(), (DCMI_OK, 2));
}

#[test]
fn every_v2_symbol_of_the_header_is_exported() {
    let _session = Session::start_v2("a5-8");
    for name in EXPORTED_V2_FUNCTIONS {
        lib().sym::<FnV2Init>(name);
    }
}
