#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

fn parse(json: &str) -> (Customization, Vec<String>) {
    Customization::parse(json.as_bytes(), 1 << 20).unwrap()
}

fn code(s: &str) -> FaultCode {
    FaultCode::parse(s).unwrap()
}

fn frequency_entry(fields: &str) -> String {
    format!(r#"{{"FaultFrequency":[{{"EventId":["80E01801"],{fields}}}]}}"#)
}

#[test]
fn the_shipped_file_parses_into_upstreams_rules() {
    let (c, warnings) = Customization::parse(SHIPPED_CUSTOMIZATION, usize::MAX).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.grace, GraceTolerance::default());
    assert_eq!(c.frequency.len(), 41 + 1 + 1);
    let hbm = &c.frequency[&code("80E01801")];
    assert_eq!(
        (hbm.window_ms, hbm.times, hbm.level, hbm.release_ms),
        (86_400_000, 2, FaultLevel::ManuallySeparateNPU, None)
    );
    assert_eq!(c.frequency[&code("80E18005")].times, 3);
    let link = &c.frequency[&code("81078603")];
    assert_eq!((link.times, link.release_ms), (5, Some(172_800_000)));
    let duration = &c.duration[&code("81078603")];
    assert_eq!(
        (
            duration.fault_timeout_ms,
            duration.recover_timeout_ms,
            duration.level
        ),
        (20_000, 60_000, FaultLevel::PreSeparateNPU)
    );
    assert_eq!(c.autofill_release_ms(), Some(172_800_000));
    assert_eq!(Customization::builtin(), c);
}

#[test]
fn an_empty_object_has_no_rules_and_default_grace_values() {
    let (c, warnings) = parse("{}");
    assert_eq!(c, Customization::default());
    assert!(warnings.is_empty());
    assert_eq!(c.autofill_release_ms(), None);
}

#[test]
fn a_file_that_is_not_a_json_object_is_refused() {
    for bad in ["", "[]", "{", "3"] {
        assert!(Customization::parse(bad.as_bytes(), 100).is_err(), "{bad}");
    }
    assert!(matches!(
        Customization::parse(b"{}", 1),
        Err(CustomizationError::TooLarge { len: 2, max: 1 })
    ));
}

#[test]
fn a_value_of_the_wrong_type_refuses_the_file_and_names_the_field() {
    let cases = [
        (r#"{"FaultFrequency":{}}"#, "FaultFrequency"),
        (r#"{"GraceTolerance":[]}"#, "GraceTolerance"),
        (
            &frequency_entry(r#""TimeWindow":"60","Times":1,"FaultHandling":"ManuallySeparateNPU""#)
                as &str,
            "FaultFrequency[0].TimeWindow",
        ),
        (
            r#"{"FaultDuration":[{"EventId":"80E01801"}]}"#,
            "FaultDuration[0].EventId",
        ),
        (
            r#"{"FaultDuration":[{"EventId":[1]}]}"#,
            "FaultDuration[0].EventId[0]",
        ),
    ];
    for (json, field) in cases {
        let error = Customization::parse(json.as_bytes(), 1 << 20).unwrap_err();
        assert!(error.to_string().contains(field), "{json}: {error}");
    }
}

#[test]
fn each_frequency_field_out_of_range_skips_its_entry_with_a_warning_naming_it() {
    let ok = r#""TimeWindow":60,"Times":1,"FaultHandling":"RestartNPU","ReleaseTimeWindow":60"#;
    assert_eq!(parse(&frequency_entry(ok)).0.frequency.len(), 1);
    let cases = [
        (
            r#""TimeWindow":59,"Times":1,"FaultHandling":"ManuallySeparateNPU""#,
            "TimeWindow",
        ),
        (
            r#""TimeWindow":864001,"Times":1,"FaultHandling":"ManuallySeparateNPU""#,
            "TimeWindow",
        ),
        (
            r#""Times":1,"FaultHandling":"ManuallySeparateNPU""#,
            "TimeWindow",
        ),
        (
            r#""TimeWindow":60,"Times":0,"FaultHandling":"ManuallySeparateNPU""#,
            "Times",
        ),
        (
            r#""TimeWindow":60,"Times":101,"FaultHandling":"ManuallySeparateNPU""#,
            "Times",
        ),
        (
            r#""TimeWindow":60,"Times":-1,"FaultHandling":"ManuallySeparateNPU""#,
            "Times",
        ),
        (
            r#""TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU","ReleaseTimeWindow":59"#,
            "ReleaseTimeWindow",
        ),
        (
            r#""TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU","ReleaseTimeWindow":4294967297"#,
            "ReleaseTimeWindow",
        ),
        (
            r#""TimeWindow":60,"Times":1,"FaultHandling":"RestartNPU""#,
            "ReleaseTimeWindow",
        ),
        (
            r#""TimeWindow":60,"Times":1,"FaultHandling":"NormalNPU","ReleaseTimeWindow":60"#,
            "NormalNPU",
        ),
        (
            r#""TimeWindow":60,"Times":1,"FaultHandling":"Reboot","ReleaseTimeWindow":60"#,
            "Reboot",
        ),
    ];
    for (fields, named) in cases {
        let (c, warnings) = parse(&frequency_entry(fields));
        assert!(c.frequency.is_empty(), "{fields}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("FaultFrequency[0]") && w.contains(named)),
            "{fields}: {warnings:?}"
        );
    }
}

#[test]
fn a_zero_or_absent_release_window_means_never_and_only_suits_manual_isolation() {
    for release in ["", r#","ReleaseTimeWindow":0"#] {
        let fields =
            format!(r#""TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU"{release}"#);
        let (c, _) = parse(&frequency_entry(&fields));
        assert_eq!(c.frequency[&code("80E01801")].release_ms, None);
    }
    let max = format!(
        r#""TimeWindow":60,"Times":1,"FaultHandling":"RestartNPU","ReleaseTimeWindow":{RELEASE_MAX_S}"#
    );
    assert_eq!(
        parse(&frequency_entry(&max)).0.frequency[&code("80E01801")].release_ms,
        Some(RELEASE_MAX_S * 1000)
    );
}

#[test]
fn each_duration_field_out_of_range_skips_its_entry() {
    let entry =
        |fields: &str| format!(r#"{{"FaultDuration":[{{"EventId":["81078603"],{fields}}}]}}"#);
    let ok = parse(&entry(
        r#""FaultTimeout":0,"RecoverTimeout":86400,"FaultHandling":"SeparateNPU""#,
    ));
    assert_eq!(
        ok.0.duration[&code("81078603")].recover_timeout_ms,
        86_400_000
    );
    for fields in [
        r#""FaultTimeout":601,"RecoverTimeout":0,"FaultHandling":"SeparateNPU""#,
        r#""FaultTimeout":0,"RecoverTimeout":86401,"FaultHandling":"SeparateNPU""#,
        r#""RecoverTimeout":0,"FaultHandling":"SeparateNPU""#,
        r#""FaultTimeout":0,"RecoverTimeout":0,"FaultHandling":"ManuallySeparateNPU""#,
        r#""FaultTimeout":0,"RecoverTimeout":0,"FaultHandling":"NormalNPU""#,
        r#""FaultTimeout":0,"RecoverTimeout":0"#,
    ] {
        let (c, warnings) = parse(&entry(fields));
        assert!(c.duration.is_empty(), "{fields}");
        assert!(
            warnings.iter().any(|w| w.contains("FaultDuration[0]")),
            "{fields}"
        );
    }
}

#[test]
fn the_first_entry_naming_a_code_wins_and_later_ones_are_warned_about() {
    let json = r#"{"FaultFrequency":[
        {"EventId":["80e01801"],"TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU"},
        {"EventId":["80E01801","80E18005"],"TimeWindow":120,"Times":2,"FaultHandling":"ManuallySeparateNPU"}]}"#;
    let (c, warnings) = parse(json);
    assert_eq!(c.frequency[&code("80E01801")].times, 1);
    assert_eq!(c.frequency[&code("80E18005")].times, 2);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("80E01801") && w.contains("earlier"))
    );
}

#[test]
fn bad_and_too_wide_codes_are_skipped_and_an_entry_without_codes_is_warned_about() {
    let json = r#"{"FaultFrequency":[
        {"EventId":["zz","8000000000000000"],"TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU"},
        {"EventId":[],"TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU"}]}"#;
    let (c, warnings) = parse(json);
    assert!(c.frequency.is_empty());
    assert!(warnings.iter().any(|w| w.contains("zz")));
    assert!(warnings.iter().any(|w| w.contains("8000000000000000")));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("FaultFrequency[1]") && w.contains("no code"))
    );
}

#[test]
fn grace_tolerance_values_fall_back_when_out_of_range_and_are_named_when_set() {
    let (c, warnings) = parse(
        r#"{"GraceTolerance":{"WaitProcessReadCMTime":4,"WaitDeviceResetTime":60,"WaitFaultSelfHealingTime":15}}"#,
    );
    assert_eq!(c.grace.wait_process_read_cm_s, 30);
    assert_eq!(c.grace.wait_device_reset_s, 60);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("WaitProcessReadCMTime") && w.contains("outside"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("WaitDeviceResetTime") && w.contains("no effect"))
    );
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("WaitFaultSelfHealingTime"))
    );
}

proptest! {
    #[test]
    fn a_time_window_is_kept_exactly_when_it_is_in_range(window in 0u64..2_000_000) {
        let fields = format!(r#""TimeWindow":{window},"Times":1,"FaultHandling":"ManuallySeparateNPU""#);
        let (c, _) = parse(&frequency_entry(&fields));
        let kept = c.frequency.get(&code("80E01801")).map(|r| r.window_ms);
        prop_assert_eq!(kept, (60..=864_000).contains(&window).then_some(window * 1000));
    }

    #[test]
    fn times_are_kept_exactly_when_in_range(times in 0u64..300) {
        let fields = format!(r#""TimeWindow":60,"Times":{times},"FaultHandling":"ManuallySeparateNPU""#);
        let (c, _) = parse(&frequency_entry(&fields));
        let kept = c.frequency.get(&code("80E01801")).map(|r| u64::from(r.times));
        prop_assert_eq!(kept, (1..=100).contains(&times).then_some(times));
    }

    #[test]
    fn duration_timeouts_are_kept_exactly_when_in_range(fault in 0u64..1_000, recover in 0u64..100_000) {
        let json = format!(
            r#"{{"FaultDuration":[{{"EventId":["81078603"],"FaultTimeout":{fault},"RecoverTimeout":{recover},"FaultHandling":"SeparateNPU"}}]}}"#
        );
        let (c, _) = parse(&json);
        let ok = fault <= 600 && recover <= 86_400;
        prop_assert_eq!(c.duration.contains_key(&code("81078603")), ok);
    }

    #[test]
    fn any_input_parses_or_is_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Customization::parse(&bytes, 1 << 20);
    }
}

#[test]
fn a_rule_may_name_a_long_synthetic_code() {
    let json = r#"{"FaultFrequency":[
        {"EventId":["200001002"],"TimeWindow":60,"Times":2,"FaultHandling":"ManuallySeparateNPU"}]}"#;
    let (c, warnings) = parse(json);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.frequency[&code("200001002")].times, 2);
}
