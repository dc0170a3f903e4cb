//! Chaos modes: hostile output a consumer must detect, produced without the
//! simulator itself reading or writing out of bounds.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{c_char, c_int, c_uint};
use std::time::{Duration, Instant};

use common::*;
use dcmi_abi::*;

fn chaos_session(topology: &str, modes: &str) -> Session {
    Session::with(Config {
        topology,
        with_state: true,
        chaos: Some(modes),
    })
}

#[test]
fn negative_count_makes_every_count_negative() {
    let session = chaos_session("310p-duo-vnpu", "negative-count");
    let (rc, num, _) = card_list(64);
    assert_eq!(rc, DCMI_OK);
    assert!(num < 0, "card_num {num}");
    assert!(device_num(1).1 < 0);
    assert!(error_codes(1, 0, 128).1 < 0);
    let (rc, total) = total_resource(1, 0);
    assert_eq!(rc, DCMI_OK);
    assert!(
        (total.vdev_num as c_int) < 0,
        "vdev_num {:#x}",
        total.vdev_num
    );
    drop(session);
}

#[test]
fn count_overflow_reports_more_than_the_buffer_holds_but_writes_only_the_buffer() {
    let session = chaos_session("910-8", "count-overflow");
    let mut list = [-7; 8];
    let mut num = 0;
    // SAFETY: `list` holds 8 ints; the call is told 4.
    let rc = unsafe { dcmi!(FnGetCardList, "dcmi_get_card_list")(&mut num, list.as_mut_ptr(), 4) };
    assert_eq!((rc, num), (DCMI_OK, 200));
    assert_eq!(list, [0, 1, 2, 3, -7, -7, -7, -7]);
    assert!(device_num(0).1 > 4);

    session.sim("fault raise --phy 0 --code 80E01801");
    session.sim("fault raise --phy 0 --code 80E01805");
    assert_eq!(session.init(), DCMI_OK);
    let mut codes = [0u32; 4];
    let mut count = 0;
    // SAFETY: `codes` holds 4; the call is told 1.
    let rc = unsafe {
        dcmi!(FnGetDeviceErrorcodeV2, "dcmi_get_device_errorcode_v2")(
            0,
            0,
            &mut count,
            codes.as_mut_ptr(),
            1,
        )
    };
    assert_eq!(rc, DCMI_OK);
    assert!(count > 1, "error_count {count}");
    assert_eq!(codes, [0x80E0_1801, 0, 0, 0]);
    assert!(total_resource(0, 0).1.vdev_num > DCMI_SOC_SPLIT_MAX as c_uint);
}

#[test]
fn no_nul_fills_string_fields_to_the_end_of_their_arrays() {
    let session = chaos_session("310p-duo-vnpu", "no-nul");
    session.subscribe_all();
    let (rc, info) = chip_info_v2(1, 0);
    assert_eq!(rc, DCMI_OK);
    for field in [
        &info.chip_type,
        &info.chip_name,
        &info.chip_ver,
        &info.npu_name,
    ] {
        assert!(!field.contains(&0), "{field:?}");
    }
    assert!(info.chip_name.starts_with(b"310P3"));
    let (rc, product) = product_type(1, 0, 65);
    assert_eq!(rc, DCMI_OK);
    assert!(!product.contains(&0));
    let mut version = [0 as c_char; 33];
    // SAFETY: `version` holds 33 chars.
    let rc = unsafe { dcmi!(FnGetDcmiVersion, "dcmi_get_dcmi_version")(version.as_mut_ptr(), 33) };
    assert_eq!(rc, DCMI_OK);
    assert!(!version.contains(&0));
    assert!(!vdev_resource(1, 0, 100).1.query_info.name.contains(&0));
    session.sim("fault raise --phy 0 --code 80E01801");
    let event = wait_event(Duration::from_secs(5), |event| {
        event.event_id == 0x80E0_1801
    })
    .expect("event");
    assert!(!event.event_name.contains(&0));
}

#[test]
fn bad_utf8_puts_invalid_bytes_into_nul_terminated_names() {
    let _session = chaos_session("910b-16", "bad-utf8");
    let (rc, info) = chip_info_v2(1, 0);
    assert_eq!(rc, DCMI_OK);
    let end = info
        .chip_name
        .iter()
        .position(|byte| *byte == 0)
        .expect("still NUL-terminated");
    assert!(std::str::from_utf8(&info.chip_name[..end]).is_err());
}

#[test]
fn bad_ids_reports_logic_and_physical_ids_out_of_range() {
    let session = chaos_session("310p-duo-vnpu", "bad-ids");
    session.subscribe_all();
    assert_eq!(logic_id(1, 0), (DCMI_OK, 4096));
    assert_eq!(phy_from_logic(0), (DCMI_OK, u32::MAX));
    let mut logic = 0;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceLogicidFromPhyid,
            "dcmi_get_device_logicid_from_phyid"
        )(0, &mut logic)
    };
    assert_eq!((rc, logic), (DCMI_OK, 4096));
    assert_eq!(total_resource(1, 0).1.vdev_id[0], u32::MAX);
    session.sim("fault raise --phy 1 --code 80E01801");
    let event = wait_event(Duration::from_secs(5), |event| {
        event.event_id == 0x80E0_1801
    })
    .expect("event");
    assert_eq!(event.deviceid, 4096);
}

/// Runs `health(0, 0)` on another thread; returns how long it took from
/// now (the spawn) to its return, and its return code.
fn timed_health_call() -> std::thread::JoinHandle<(Duration, c_int)> {
    let started = Instant::now();
    std::thread::spawn(move || {
        let (rc, _) = health(0, 0);
        (started.elapsed(), rc)
    })
}

#[test]
fn hang_blocks_calls_until_chaos_is_cleared() {
    let session = Session::start("910-8");
    session.sim("chaos set hang");
    std::thread::sleep(Duration::from_millis(100));
    let call = timed_health_call();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!call.is_finished(), "the call hangs");
    let cleared = Instant::now();
    session.sim("chaos clear");
    let (took, rc) = call.join().unwrap();
    assert_eq!(rc, DCMI_OK);
    assert!(took >= Duration::from_millis(400));
    assert!(
        cleared.elapsed() < Duration::from_secs(2),
        "released promptly after the clear"
    );
}

#[test]
fn hang_from_the_environment_spares_init_and_is_cleared_by_the_state_file() {
    let session = chaos_session("910-8", "hang");
    assert_eq!(session.init(), DCMI_OK, "init never hangs");
    let call = timed_health_call();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!call.is_finished());
    session.sim("chaos clear");
    let (took, rc) = call.join().unwrap();
    assert_eq!(rc, DCMI_OK);
    assert!(took >= Duration::from_millis(300));
    assert!(took < Duration::from_secs(10));
}

#[test]
fn fail_makes_every_call_but_init_fail_until_chaos_is_cleared() {
    let session = Session::start("910-8");
    assert_eq!(health(0, 0).0, DCMI_OK);
    session.sim("chaos set fail");
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(0, 0).0 == DCMI_OK && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(health(0, 0).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(logic_id(2, 0).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(session.init(), DCMI_OK, "init still answers");
    session.sim("chaos clear");
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(0, 0).0 != DCMI_OK && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(health(0, 0).0, DCMI_OK);
    assert_eq!(logic_id(2, 0), (DCMI_OK, 2));
}

#[test]
fn chaos_set_in_the_state_file_replaces_the_environment_value() {
    let session = chaos_session("910-8", "bad-ids");
    assert_eq!(logic_id(2, 0), (DCMI_OK, 4096));
    session.sim("chaos set negative-count");
    let deadline = Instant::now() + Duration::from_secs(5);
    while logic_id(2, 0).1 == 4096 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(logic_id(2, 0), (DCMI_OK, 2));
    assert!(card_list(64).1 < 0);
}

#[test]
fn no_events_refuses_fault_subscriptions_like_an_old_driver() {
    let session = chaos_session("910-8", "no-events");
    assert_eq!(
        subscribe(-1, -1, DcmiEventFilter::default()),
        DCMI_ERR_CODE_NOT_SUPPORT
    );
    assert_eq!(card_list(64).0, DCMI_OK, "everything else still works");
    drop(session);
}
