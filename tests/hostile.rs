//! A driver returning garbage or hanging gives a typed error or a timeout,
//! never a panic or an out-of-bounds read (simulator chaos modes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

fn inspect_under_chaos(mode: &str, extra: &[&str]) -> (i32, String, Duration) {
    let mut args = vec!["inspect", "--json"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let output = support::run_plugin("910-8", &[("ASCEND_SIM_CHAOS", mode)], &args);
    let code = output
        .status
        .code()
        .expect("the plugin was killed by a signal");
    (
        code,
        String::from_utf8_lossy(&output.stderr).into_owned(),
        started.elapsed(),
    )
}

fn assert_clean_failure(mode: &str, expected: &[&str]) {
    let (code, stderr, _) = inspect_under_chaos(mode, &[]);
    assert_eq!(
        code, 1,
        "{mode}: expected a clean error exit, got {code}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{mode}: {stderr}");
    assert!(
        expected.iter().any(|needle| stderr.contains(needle)),
        "{mode}: expected one of {expected:?} in: {stderr}"
    );
}

#[test]
fn negative_counts_are_rejected_naming_the_call() {
    assert_clean_failure("negative-count", &["dcmi_get_card_list", "is outside"]);
}

#[test]
fn counts_larger_than_the_buffer_are_rejected() {
    assert_clean_failure("count-overflow", &["is outside"]);
}

#[test]
fn strings_without_a_terminating_nul_are_rejected() {
    assert_clean_failure("no-nul", &["not NUL-terminated"]);
}

#[test]
fn names_that_are_not_utf8_are_rejected() {
    assert_clean_failure("bad-utf8", &["not valid UTF-8"]);
}

#[test]
fn ids_out_of_range_are_rejected() {
    assert_clean_failure("bad-ids", &["is outside 0..255", "out of range"]);
}

#[test]
fn a_hanging_driver_times_out_instead_of_hanging_the_plugin() {
    let (code, stderr, elapsed) = inspect_under_chaos("hang", &["--dcmi-timeout=2"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did not return within 2s"), "{stderr}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}
