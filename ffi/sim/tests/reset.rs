//! Resets: a reset clears the chip's faults and boots it through the boot
//! statuses; failures, hangs, the out-of-band channel, process counts and
//! the A3 brother card are injected with `ascend-sim`.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::c_int;
use std::time::{Duration, Instant};

use common::*;
use dcmi_abi::*;

fn reset(card: c_int, dev: c_int, channel: DcmiResetChannel) -> c_int {
    // SAFETY: arguments by value.
    unsafe { dcmi!(FnSetDeviceReset, "dcmi_set_device_reset")(card, dev, channel) }
}

fn boot_status(card: c_int, dev: c_int) -> (c_int, DcmiBootStatus) {
    let mut status = 0xdead;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceBootStatus, "dcmi_get_device_boot_status")(card, dev, &mut status)
    };
    (rc, status)
}

fn processes(card: c_int, dev: c_int) -> (c_int, c_int, Vec<DcmiProcMemInfo>) {
    let mut procs = [DcmiProcMemInfo::default(); DCMI_MAX_PROC_NUM];
    let mut n = -1;
    // SAFETY: `procs` holds the driver's maximum; `n` is writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceResourceInfo, "dcmi_get_device_resource_info")(
            card,
            dev,
            procs.as_mut_ptr(),
            &mut n,
        )
    };
    (rc, n, procs.to_vec())
}

fn outband(card: c_int, dev: c_int) -> (c_int, c_int) {
    let mut state = -1;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceOutbandChannelState,
            "dcmi_get_device_outband_channel_state"
        )(card, dev, &mut state)
    };
    (rc, state)
}

fn brother(card: c_int, dev: c_int) -> (c_int, c_int) {
    let mut out = -7;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(FnGetNetdevBrotherDevice, "dcmi_get_netdev_brother_device")(card, dev, &mut out)
    };
    (rc, out)
}

#[test]
fn a_reset_clears_the_chips_faults_boots_through_each_status_and_is_counted() {
    let session = Session::start("910-8");
    session.sim("fault raise --phy 3 --code 80E01801 --severity 3");
    session.sim("reset-inject boot-ms --ms 800");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(health(3, 0), (DCMI_OK, 3));
    assert_eq!(boot_status(3, 0), (DCMI_OK, DCMI_SYSTEM_START_FINISH));
    let start = Instant::now();
    assert_eq!(reset(3, 0, INBAND_CHANNEL), DCMI_OK);
    assert_eq!(health(3, 0), (DCMI_OK, 0), "faults cleared by the reset");
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(5) {
        let (rc, status) = boot_status(3, 0);
        assert_eq!(rc, DCMI_OK);
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == DCMI_SYSTEM_START_FINISH {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(seen.last(), Some(&DCMI_SYSTEM_START_FINISH));
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.len() >= 3, "passes through the boot steps: {seen:?}");
    assert_eq!(boot_status(4, 0), (DCMI_OK, DCMI_SYSTEM_START_FINISH));
    let shown = session.sim("show");
    assert!(shown.contains("resets done: phy 3 = 1"), "{shown}");
    assert!(
        !shown.contains("80E01801"),
        "the state file lost the fault: {shown}"
    );
}

#[test]
fn injected_failures_and_hangs_make_the_reset_fail_or_never_finish() {
    let session = Session::start("910-8");
    session.sim("reset-inject fail --phy 1");
    session.sim("reset-inject hang --phy 2");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reset(1, 0, INBAND_CHANNEL), DCMI_ERR_CODE_RESET_FAIL);
    assert_eq!(reset(2, 0, INBAND_CHANNEL), DCMI_OK);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(boot_status(2, 0), (DCMI_OK, DCMI_BOOT_STATUS_OS));
    session.sim("reset-inject clear --phy 1");
    session.sim("reset-inject clear --phy 2");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reset(1, 0, INBAND_CHANNEL), DCMI_OK);
    assert_eq!(boot_status(2, 0), (DCMI_OK, DCMI_SYSTEM_START_FINISH));
}

#[test]
fn process_counts_and_the_out_of_band_channel_follow_the_state_file() {
    let session = Session::start("a3-16");
    assert_eq!(processes(0, 0).1, 0);
    session.sim("proc set --phy 1 --count 3");
    session.sim("outband down --phy 0");
    std::thread::sleep(Duration::from_millis(300));
    let (rc, n, procs) = processes(0, 1);
    assert_eq!((rc, n), (DCMI_OK, 3));
    assert!(
        procs[..3]
            .iter()
            .all(|p| p.proc_id > 0 && p.proc_mem_usage > 0)
    );
    assert_eq!(outband(0, 0), (DCMI_OK, 0));
    assert_eq!(outband(0, 1), (DCMI_OK, 1));
    assert_eq!(reset(0, 0, OUTBAND_CHANNEL), DCMI_ERR_CODE_RESET_FAIL);
    assert_eq!(reset(0, 1, OUTBAND_CHANNEL), DCMI_OK);
    session.sim("proc set --phy 1 --count 0");
    session.sim("outband up --phy 0");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processes(0, 1).1, 0);
    assert_eq!(outband(0, 0), (DCMI_OK, 1));
}

#[test]
fn a3_cards_pair_up_as_brothers_and_other_families_have_none() {
    let session = Session::start("a3-16");
    assert_eq!(brother(0, 0), (DCMI_OK, 1));
    assert_eq!(brother(1, 1), (DCMI_OK, 0));
    assert_eq!(brother(6, 0), (DCMI_OK, 7));
    set_env("ASCEND_SIM_TOPOLOGY", Some("910-8"));
    assert_eq!(session.init(), DCMI_OK);
    assert_eq!(brother(0, 0).0, DCMI_ERR_CODE_NOT_SUPPORT);
}
