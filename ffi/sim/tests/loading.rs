//! Repeated init, and calls from many threads at once while faults change.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::c_uint;
use std::time::{Duration, Instant};

use common::*;
use dcmi_abi::*;

#[test]
fn repeated_init_rereads_the_topology() {
    let session = Session::start("910-8");
    for topology in ["310-4", "a3-16", "910b-16", "910-8"] {
        set_env("ASCEND_SIM_TOPOLOGY", Some(topology));
        assert_eq!(session.init(), DCMI_OK);
        let expected = match topology {
            "310-4" => 1,
            "a3-16" => 8,
            "910b-16" => 16,
            _ => 8,
        };
        assert_eq!(cards().len(), expected, "{topology}");
    }
}

#[test]
fn calls_from_eight_threads_at_once_stay_consistent_while_faults_change() {
    let session = Session::start("910b-16");
    session.subscribe_all();
    let stop = Instant::now() + Duration::from_millis(1500);
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut calls = 0u32;
                while Instant::now() < stop {
                    let card = 1 + (worker + calls as i32) % 16;
                    assert_eq!(cards().len(), 16);
                    let (rc, logic) = logic_id(card, 0);
                    assert_eq!(rc, DCMI_OK);
                    let (rc, phy) = phy_from_logic(logic as c_uint);
                    assert_eq!((rc, phy), (DCMI_OK, (card - 1) as c_uint));
                    let (rc, info) = chip_info_v2(card, 0);
                    assert_eq!((rc, c_text(&info.chip_name)), (DCMI_OK, "910B3".to_owned()));
                    let (rc, value) = health(card, 0);
                    assert_eq!(rc, DCMI_OK);
                    assert!(value <= 3);
                    let (rc, count, _) = error_codes(card, 0, 128);
                    assert_eq!(rc, DCMI_OK);
                    assert!((0..=1).contains(&count));
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut flips = 0;
    while Instant::now() < stop {
        session.sim(&format!("fault raise --phy {} --code 80E01801", flips % 16));
        session.sim(&format!("fault clear --phy {}", flips % 16));
        flips += 1;
    }
    let calls: u32 = workers
        .into_iter()
        .map(|worker| worker.join().expect("no worker panicked"))
        .sum();
    assert!(calls > 100, "only {calls} calls");
    assert!(flips > 0);
    let cleared = wait_event(Duration::from_secs(5), |event| event.assertion == 0);
    assert!(cleared.is_some(), "callbacks fired during the run");
}
