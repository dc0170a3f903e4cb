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

/// Calls that hang past their timeout each keep a thread until the driver
/// returns; only `MAX_STUCK_CALLS` may pile up, later calls fail at once
/// naming the function, and calls go through again once the driver returns.
#[tokio::test(flavor = "multi_thread")]
async fn hung_driver_calls_cannot_pile_up_threads_without_bound() {
    use ascend_device_plugin::dcmi::{Dcmi, DcmiError, MAX_STUCK_CALLS, OwnerPolicy};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let lib = support::sim_lib();
    let dcmi = tokio::task::spawn_blocking(move || {
        Dcmi::open(Some(&lib), None, OwnerPolicy::current()).unwrap()
    })
    .await
    .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    // A failed assertion must release the blocked threads, or the runtime
    // would wait for them forever instead of reporting the failure.
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _release_on_exit = Release(Arc::clone(&release));
    let running = Arc::new(AtomicUsize::new(0));
    let (mut timed_out, mut refused) = (0, 0);
    for _ in 0..(MAX_STUCK_CALLS * 4) {
        let (release, running) = (Arc::clone(&release), Arc::clone(&running));
        let result: Result<(), DcmiError> = dcmi
            .call(
                "dcmi_get_device_health",
                Duration::from_millis(20),
                move |_| {
                    running.fetch_add(1, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                },
            )
            .await;
        match result {
            Err(DcmiError::Timeout { .. }) => timed_out += 1,
            Err(error @ DcmiError::Stuck { .. }) => {
                assert!(
                    error.to_string().contains("dcmi_get_device_health"),
                    "{error}"
                );
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(timed_out, MAX_STUCK_CALLS);
    assert_eq!(refused, MAX_STUCK_CALLS * 3);
    assert_eq!(
        running.load(Ordering::SeqCst),
        MAX_STUCK_CALLS,
        "threads held"
    );
    assert_eq!(dcmi.stuck_calls(), MAX_STUCK_CALLS);

    // The driver returns: the threads go and calls work again.
    release.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while dcmi.stuck_calls() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} still stuck",
            dcmi.stuck_calls()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ok: Result<u32, DcmiError> = dcmi
        .call("dcmi_get_device_health", Duration::from_secs(5), |_| Ok(7))
        .await;
    assert_eq!(ok, Ok(7));
}
