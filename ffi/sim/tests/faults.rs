//! Run-time fault injection: `ascend-sim` edits the state file, the running
//! library picks it up without re-init, answers with the new health, and
//! fires the subscribed callbacks on its own thread.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use dcmi_abi::*;

const WAIT: Duration = Duration::from_secs(5);
const CODE: u32 = 0x80E0_1801;

#[test]
fn raising_a_fault_fires_the_subscribed_callback_with_the_logic_id() {
    let session = Session::start("910b-16");
    session.subscribe_all();
    // phy 8 sits on card 9 and has logic id 12 in this topology.
    assert_eq!(logic_id(9, 0), (DCMI_OK, 12));
    session.sim("fault raise --phy 8 --code 80E01801 --severity 2");
    let event = wait_event(WAIT, |event| event.event_id == CODE).expect("a fault event");
    assert_eq!(event.deviceid, 12, "the event carries the LOGIC id");
    assert_eq!((event.severity, event.assertion), (2, 1));
    assert_eq!(c_text_chars(&event.event_name), "simulated fault 80E01801");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(event.alarm_raised_time <= now_ms && now_ms - event.alarm_raised_time < 60_000);
    assert_eq!(health(9, 0), (DCMI_OK, 2));
    let (rc, count, list) = error_codes(9, 0, DCMI_ERROR_CODE_MAX_COUNT as u32);
    assert_eq!((rc, count, list[0]), (DCMI_OK, 1, CODE));
    assert_eq!(health(1, 0), (DCMI_OK, 0), "other chips stay healthy");
}

#[test]
fn clearing_a_fault_fires_the_callback_with_assertion_zero_and_health_returns_to_normal() {
    let session = Session::start("910-8");
    session.subscribe_all();
    session.sim("fault raise --phy 3 --code 80E01801 --severity 3");
    wait_event(WAIT, |event| event.event_id == CODE && event.assertion == 1).expect("occurrence");
    assert_eq!(health(3, 0), (DCMI_OK, 3));
    session.sim("fault clear --phy 3");
    let event =
        wait_event(WAIT, |event| event.event_id == CODE && event.assertion == 0).expect("recovery");
    assert_eq!(event.deviceid, 3);
    assert_eq!(health(3, 0), (DCMI_OK, 0));
    assert_eq!(error_codes(3, 0, 128).1, 0);
}

#[test]
fn the_health_is_the_highest_severity_of_the_active_codes_and_a_changed_severity_fires_again() {
    let session = Session::start("910-8");
    session.subscribe_all();
    session.sim("fault raise --phy 1 --code 80E01801 --severity 1");
    session.sim("fault raise --phy 1 --code 8C084E00 --severity 2");
    wait_event(WAIT, |event| event.event_id == 0x8C08_4E00).expect("second code");
    assert_eq!(health(1, 0), (DCMI_OK, 2));
    session.sim("fault raise --phy 1 --code 80E01801 --severity 3");
    let event = wait_event(WAIT, |event| event.event_id == CODE && event.severity == 3)
        .expect("severity change");
    assert_eq!(event.assertion, 1);
    assert_eq!(health(1, 0), (DCMI_OK, 3));
    session.sim("fault clear --phy 1 --code 80E01801");
    wait_event(WAIT, |event| event.event_id == CODE && event.assertion == 0)
        .expect("one code cleared");
    assert_eq!(health(1, 0), (DCMI_OK, 2));
}

#[test]
fn a_health_override_wins_over_the_fault_severity() {
    let session = Session::start("910-8");
    session.sim("health set --phy 2 --value 4294967295");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(health(2, 0), (DCMI_OK, 0xFFFF_FFFF));
    session.sim("health clear --phy 2");
    let deadline = Instant::now() + WAIT;
    while health(2, 0).1 != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(health(2, 0), (DCMI_OK, 0));
}

#[test]
fn a_dropped_card_answers_not_ready_but_stays_in_the_card_list() {
    let session = Session::start("310p-duo-vnpu");
    session.sim("card drop --card 2");
    let deadline = Instant::now() + WAIT;
    while health(2, 0).0 != DCMI_ERR_CODE_NOT_READY && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(health(2, 0).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(health(2, 1).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(chip_info_v2(2, 1).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(logic_id(2, 0).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(device_num(2).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(phy_from_logic(2).0, DCMI_ERR_CODE_NOT_READY);
    assert_eq!(cards(), vec![1, 2], "the dropped card is still listed");
    assert_eq!(health(1, 0), (DCMI_OK, 0), "the other card is unaffected");
    session.sim("card restore --card 2");
    let deadline = Instant::now() + WAIT;
    while health(2, 0).0 != DCMI_OK && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(health(2, 0), (DCMI_OK, 0));
}

#[test]
fn taking_the_link_down_reports_bad_network_health_and_the_link_down_code() {
    let session = Session::start("910-8");
    session.subscribe_all();
    session.sim("net down --phy 0");
    let event = wait_event(WAIT, |event| event.event_id == 0x8107_8603).expect("link-down event");
    assert_eq!((event.deviceid, event.assertion), (0, 1));
    assert_eq!(network_health(0, 0), (DCMI_OK, DCMI_RDFX_DETECT_UNREACH));
    assert_eq!(error_codes(0, 0, 128).2[0], 0x8107_8603);
    session.sim("net up --phy 0");
    wait_event(WAIT, |event| {
        event.event_id == 0x8107_8603 && event.assertion == 0
    })
    .expect("link-up event");
    assert_eq!(network_health(0, 0), (DCMI_OK, DCMI_RDFX_DETECT_OK));
    session.sim("net set --phy 0 --value 6");
    let deadline = Instant::now() + WAIT;
    while network_health(0, 0).1 != DCMI_RDFX_DETECT_INIT && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(network_health(0, 0), (DCMI_OK, DCMI_RDFX_DETECT_INIT));
}

/// Writes the state file the way `ascend-sim` does: temporary file + rename.
fn write_state(session: &Session, json: &str) {
    let temp = session.dir.join(".state.json.tmp");
    std::fs::write(&temp, json).unwrap();
    std::fs::rename(&temp, &session.state).unwrap();
}

#[test]
fn the_callback_fires_within_milliseconds_of_the_state_file_rename() {
    let session = Session::start("910-8");
    session.subscribe_all();
    let mut latencies = Vec::new();
    for round in 0..20 {
        let started = Instant::now();
        let json = if round % 2 == 0 {
            r#"{"faults":{"5":[{"code":"80E01801","severity":2}]}}"#
        } else {
            "{}"
        };
        write_state(&session, json);
        let assertion = if round % 2 == 0 { 1 } else { 0 };
        wait_event(WAIT, |event| {
            event.event_id == CODE && event.assertion == assertion
        })
        .expect("event");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!("rename -> callback: median {median:?}, all {latencies:?}");
    assert!(median < Duration::from_millis(20), "median {median:?}");
    assert!(
        latencies
            .iter()
            .all(|latency| *latency < Duration::from_millis(500)),
        "{latencies:?}"
    );
}

#[test]
fn a_half_written_or_missing_state_file_keeps_the_previous_state() {
    let session = Session::start("910-8");
    session.subscribe_all();
    write_state(
        &session,
        r#"{"faults":{"4":[{"code":"80E01801","severity":2}]}}"#,
    );
    wait_event(WAIT, |event| event.event_id == CODE).expect("event");
    std::fs::write(&session.state, r#"{"faults":{"4":[{"code":"80E0"#).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(health(4, 0), (DCMI_OK, 2));
    std::fs::remove_file(&session.state).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(health(4, 0), (DCMI_OK, 2));
    assert!(recorded_events().is_empty(), "no spurious events");
    write_state(&session, "{}");
    wait_event(WAIT, |event| event.event_id == CODE && event.assertion == 0).expect("recovery");
    assert_eq!(health(4, 0), (DCMI_OK, 0));
}

#[test]
fn a_subscription_for_one_chip_or_one_code_receives_only_those_events() {
    let session = Session::start("910-8");
    assert_eq!(subscribe(2, 0, DcmiEventFilter::default()), DCMI_OK);
    session.sim("fault raise --phy 1 --code 80E01801");
    session.sim("fault raise --phy 2 --code 80E01801");
    let event = wait_event(WAIT, |event| event.event_id == CODE).expect("phy 2 event");
    assert_eq!(event.deviceid, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        recorded_events().is_empty(),
        "phy 1's event was not delivered"
    );

    assert_eq!(session.init(), DCMI_OK, "init drops every subscription");
    let filter = DcmiEventFilter {
        filter_flag: DCMI_EVENT_FILTER_FLAG_EVENT_ID,
        event_id: 0x8C08_4E00,
        ..DcmiEventFilter::default()
    };
    assert_eq!(subscribe(-1, -1, filter), DCMI_OK);
    session.sim("fault raise --phy 6 --code 80E01805");
    session.sim("fault raise --phy 6 --code 8C084E00");
    let event = wait_event(WAIT, |event| event.deviceid == 6).expect("filtered event");
    assert_eq!(event.event_id, 0x8C08_4E00);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        recorded_events().is_empty(),
        "the other code was filtered out"
    );
}

#[test]
fn faults_present_at_init_are_reported_without_events() {
    let session = Session::start("910-8");
    session.sim("fault raise --phy 7 --code 80E01801 --severity 1");
    assert_eq!(session.init(), DCMI_OK);
    session.subscribe_all();
    assert_eq!(health(7, 0), (DCMI_OK, 1));
    std::thread::sleep(Duration::from_millis(200));
    assert!(recorded_events().is_empty());
}
