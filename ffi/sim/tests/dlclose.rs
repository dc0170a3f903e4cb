//! dlopen / dlclose / dlopen cycles, alone in this binary so that no other
//! handle keeps the library open: after the first `dcmi_init` the library
//! pins itself (RTLD_NODELETE), so its watcher thread never runs in
//! unmapped code, and every reopen works.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{CString, c_int};
use std::time::Duration;

use common::*;
use dcmi_abi::*;

fn still_loaded() -> bool {
    let path = CString::new(library_path().to_str().unwrap()).unwrap();
    // SAFETY: NUL-terminated path; RTLD_NOLOAD only looks the object up.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return false;
    }
    // SAFETY: `handle` came from the dlopen above.
    unsafe { libc::dlclose(handle) };
    true
}

#[test]
fn the_library_survives_dlopen_dlclose_cycles_and_works_after_each_reopen() {
    let dir = temp_dir("dlclose");
    let state = dir.join("state.json");
    set_env("ASCEND_SIM_TOPOLOGY", Some("910-8"));
    set_env("ASCEND_SIM_STATE", Some(state.to_str().unwrap()));
    set_env("ASCEND_SIM_CHAOS", None);

    let lib = Lib::open();
    lib.close();
    assert!(!still_loaded(), "before dcmi_init nothing pins the library");

    for cycle in 0..5 {
        let lib = Lib::open();
        let init: FnInit = lib.sym("dcmi_init");
        // SAFETY: no arguments.
        assert_eq!(unsafe { init() }, DCMI_OK, "cycle {cycle}");
        let get_card_list: FnGetCardList = lib.sym("dcmi_get_card_list");
        let (mut num, mut list) = (0, [0; MAX_CARD_NUM]);
        // SAFETY: `list` holds 64 ints.
        let rc = unsafe { get_card_list(&mut num, list.as_mut_ptr(), MAX_CARD_NUM as c_int) };
        assert_eq!((rc, num), (DCMI_OK, 8));
        let subscribe: FnSubscribeFaultEvent = lib.sym("dcmi_subscribe_fault_event");
        // SAFETY: by value; the callback has the dcmi_fault_event_callback prototype.
        assert_eq!(
            unsafe { subscribe(-1, -1, DcmiEventFilter::default(), Some(record_event)) },
            DCMI_OK
        );
        let output = ascend_sim(
            Some(&state),
            &format!("fault raise --phy {cycle} --code 80E0180{cycle}"),
        );
        assert!(output.status.success());
        let code = 0x80E0_1800 + cycle as u32;
        let event = wait_event(Duration::from_secs(5), |event| event.event_id == code);
        assert_eq!(
            event.expect("the watcher thread still delivers").deviceid,
            cycle as u16
        );
        lib.close();
        assert!(
            still_loaded(),
            "cycle {cycle}: pinned after the last handle closed"
        );
    }
}
