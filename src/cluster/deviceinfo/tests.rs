#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::faults::LINK_DOWN;
use proptest::prelude::*;

fn chip(n: u32) -> ChipReport {
    ChipReport {
        name: format!("Ascend910-{n}"),
        healthy: true,
        network_healthy: true,
        free: true,
        whole: true,
        recovering: false,
        fault_codes: vec![],
    }
}

fn node(chips: Vec<ChipReport>) -> NodeReport {
    NodeReport {
        resource_type: "Ascend910".to_owned(),
        family_is_910: true,
        super_pod_id: -1,
        server_index: -1,
        update_time: 1_700_000_001,
        manually_separated: vec![],
        chips,
    }
}

fn sample_node() -> NodeReport {
    let mut busy = chip(1);
    busy.free = false;
    busy.network_healthy = false;
    busy.fault_codes = vec![(LINK_DOWN, FaultLevel::NotHandleFault, 1_700_000_000_123)];
    let mut broken = chip(3);
    broken.healthy = false;
    broken.fault_codes = vec![
        (
            FaultCode(0x80E0_1801),
            FaultLevel::RestartBusiness,
            1_700_000_000_999,
        ),
        (
            FaultCode(0x80C9_8009),
            FaultLevel::RestartRequest,
            1_700_000_000_500,
        ),
    ];
    node(vec![broken, chip(2), busy, chip(0)])
}

fn parse(cfg: &str) -> Value {
    serde_json::from_str(cfg).unwrap()
}

#[test]
fn device_info_cfg_matches_what_go_marshals_for_the_same_node() {
    // Go 1.26: json.Marshal of the plugin's NodeDeviceInfoCache (fields
    // DeviceInfo, SuperPodID, ServerIndex, CheckCode) holding this node, with
    // the Fault value itself json.Marshal of []DeviceFault.
    let go = r#"{"DeviceInfo":{"DeviceList":{"huawei.com/Ascend910":"Ascend910-0,Ascend910-2","huawei.com/Ascend910-Fault":"[{\"fault_type\":\"CardNetworkUnhealthy\",\"npu_name\":\"Ascend910-1\",\"large_model_fault_level\":\"NotHandleFault\",\"fault_level\":\"NotHandleFault\",\"fault_handling\":\"NotHandleFault\",\"fault_code\":\"81078603\",\"fault_time_and_level_map\":{\"81078603\":{\"fault_time\":1700000000123,\"fault_level\":\"NotHandleFault\"}}},{\"fault_type\":\"CardUnhealthy\",\"npu_name\":\"Ascend910-3\",\"large_model_fault_level\":\"RestartBusiness\",\"fault_level\":\"RestartBusiness\",\"fault_handling\":\"RestartBusiness\",\"fault_code\":\"80C98009,80E01801\",\"fault_time_and_level_map\":{\"80C98009\":{\"fault_time\":1700000000500,\"fault_level\":\"RestartRequest\"},\"80E01801\":{\"fault_time\":1700000000999,\"fault_level\":\"RestartBusiness\"}}}]","huawei.com/Ascend910-NetworkUnhealthy":"Ascend910-1","huawei.com/Ascend910-Recovering":"","huawei.com/Ascend910-Unhealthy":"Ascend910-3"},"UpdateTime":1700000001},"SuperPodID":-1,"ServerIndex":-1,"CheckCode":"c0a58cf8f5af2d8da12bb94785f2167a0a546ef8634c7f2ca09839f4379e7a1a"}"#;
    assert_eq!(device_info_cfg(&sample_node()), go);
}

#[test]
fn the_cfg_has_the_capitalised_top_level_fields_in_go_order() {
    let cfg = device_info_cfg(&sample_node());
    assert!(cfg.starts_with(r#"{"DeviceInfo":{"DeviceList":{"#), "{cfg}");
    let tail = r#"},"UpdateTime":1700000001},"SuperPodID":-1,"ServerIndex":-1,"CheckCode":""#;
    assert!(cfg.contains(tail), "{cfg}");
    let root = parse(&cfg);
    let keys: Vec<&String> = root.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
}

#[test]
fn the_check_code_vector_reproduces_through_check_code_of() {
    let mut list = DeviceList::new();
    let all: Vec<String> = (0..8).map(|i| format!("Ascend910-{i}")).collect();
    list.insert("huawei.com/Ascend910".to_owned(), all.join(","));
    list.insert(
        "huawei.com/Ascend910-NetworkUnhealthy".to_owned(),
        String::new(),
    );
    list.insert("huawei.com/Ascend910-Unhealthy".to_owned(), String::new());
    assert_eq!(
        check_code_of(&list, 1_657_527_526),
        "6b8de396fd9945be231d24720ca66ed950baf0a5972717f335aad7571cb6457a"
    );
}

#[test]
fn the_embedded_check_code_is_the_hash_of_the_inner_device_info() {
    let report = sample_node();
    let root = parse(&device_info_cfg(&report));
    let code = root["CheckCode"].as_str().unwrap();
    assert_eq!(
        code,
        check_code_of(&device_list(&report), report.update_time)
    );
    assert_eq!(code.len(), 64);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn a_910_node_writes_all_five_keys_even_when_every_list_is_empty() {
    let list = device_list(&node(vec![chip(0), chip(1)]));
    let keys: Vec<&str> = list.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "huawei.com/Ascend910",
            "huawei.com/Ascend910-Fault",
            "huawei.com/Ascend910-NetworkUnhealthy",
            "huawei.com/Ascend910-Recovering",
            "huawei.com/Ascend910-Unhealthy",
        ]
    );
    assert_eq!(list["huawei.com/Ascend910"], "Ascend910-0,Ascend910-1");
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "");
    assert_eq!(list["huawei.com/Ascend910-NetworkUnhealthy"], "");
    assert_eq!(list["huawei.com/Ascend910-Recovering"], "");
    assert_eq!(list["huawei.com/Ascend910-Fault"], "[]");
}

#[test]
fn a_node_without_chips_still_writes_every_key() {
    let list = device_list(&node(vec![]));
    assert_eq!(list.len(), 5);
    assert_eq!(list["huawei.com/Ascend910"], "");
    assert_eq!(list["huawei.com/Ascend910-Fault"], "[]");
}

#[test]
fn network_unhealthy_and_recovering_are_written_for_the_910_family_only() {
    let mut c = chip(0);
    c.name = "Ascend310P-0".to_owned();
    c.network_healthy = false;
    c.recovering = true;
    let mut report = node(vec![c]);
    report.resource_type = "Ascend310P".to_owned();
    report.family_is_910 = false;
    let list = device_list(&report);
    let keys: Vec<&str> = list.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "huawei.com/Ascend310P",
            "huawei.com/Ascend310P-Fault",
            "huawei.com/Ascend310P-Unhealthy"
        ]
    );
}

#[test]
fn a_manually_separated_chip_moves_from_free_to_unhealthy_with_a_fault_entry() {
    let mut report = node(vec![chip(0), chip(1)]);
    assert_eq!(
        device_list(&report)["huawei.com/Ascend910"],
        "Ascend910-0,Ascend910-1"
    );
    report.manually_separated = vec!["Ascend910-1".to_owned(), "Ascend910-7".to_owned()];
    let list = device_list(&report);
    assert_eq!(list["huawei.com/Ascend910"], "Ascend910-0");
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-1");
    assert_eq!(
        list["huawei.com/Ascend910-Fault"],
        r#"[{"fault_type":"CardUnhealthy","npu_name":"Ascend910-1","large_model_fault_level":"ManuallySeparateNPU","fault_level":"ManuallySeparateNPU","fault_handling":"ManuallySeparateNPU","fault_code":"","fault_time_and_level_map":{}}]"#
    );
}

#[test]
fn an_allocated_or_unhealthy_chip_is_not_free() {
    let mut busy = chip(0);
    busy.free = false;
    let mut sick = chip(1);
    sick.healthy = false;
    let list = device_list(&node(vec![busy, sick, chip(2)]));
    assert_eq!(list["huawei.com/Ascend910"], "Ascend910-2");
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-1");
}

#[test]
fn names_in_each_list_are_sorted_as_strings_like_upstream() {
    let mut recovering = chip(12);
    recovering.recovering = true;
    let list = device_list(&node(vec![chip(10), chip(2), recovering, chip(1)]));
    assert_eq!(
        list["huawei.com/Ascend910"],
        "Ascend910-1,Ascend910-10,Ascend910-12,Ascend910-2"
    );
    assert_eq!(list["huawei.com/Ascend910-Recovering"], "Ascend910-12");
}

#[test]
fn a_chip_carved_into_static_vnpus_is_never_listed_free() {
    let mut carved = chip(0);
    carved.whole = false;
    let mut carved_and_sick = chip(1);
    carved_and_sick.whole = false;
    carved_and_sick.healthy = false;
    let list = device_list(&node(vec![carved, carved_and_sick, chip(2), chip(3)]));
    assert_eq!(list["huawei.com/Ascend910"], "Ascend910-2,Ascend910-3");
    assert_eq!(list["huawei.com/Ascend910-Unhealthy"], "Ascend910-1");
}

#[test]
fn a_healthy_chip_with_a_not_handle_code_is_free_and_still_listed_in_fault() {
    let mut c = chip(4);
    c.fault_codes = vec![(FaultCode(0x8C2F_A009), FaultLevel::NotHandleFault, 5)];
    let list = device_list(&node(vec![c]));
    assert_eq!(list["huawei.com/Ascend910"], "Ascend910-4");
    let faults = parse(&list["huawei.com/Ascend910-Fault"]);
    assert_eq!(faults[0]["fault_type"], "CardUnhealthy");
    assert_eq!(faults[0]["fault_level"], "NotHandleFault");
    assert_eq!(faults[0]["fault_code"], "8C2FA009");
}

#[test]
fn a_repeated_code_is_listed_once_with_its_earliest_time_and_worst_level() {
    let mut c = chip(0);
    c.healthy = false;
    let code = FaultCode(0x0C1F_8608);
    c.fault_codes = vec![
        (code, FaultLevel::RestartRequest, 30),
        (code, FaultLevel::SeparateNPU, 10),
        (code, FaultLevel::NotHandleFault, 20),
    ];
    let list = device_list(&node(vec![c]));
    let faults = parse(&list["huawei.com/Ascend910-Fault"]);
    assert_eq!(faults[0]["fault_code"], "C1F8608", "Go writes hex unpadded");
    assert_eq!(faults[0]["fault_level"], "SeparateNPU");
    assert_eq!(
        faults[0]["fault_time_and_level_map"]["C1F8608"]["fault_time"],
        10
    );
}

#[test]
fn an_unhealthy_chip_without_codes_is_listed_as_normal_npu_like_upstream() {
    let mut c = chip(0);
    c.healthy = false;
    let list = device_list(&node(vec![c]));
    let faults = parse(&list["huawei.com/Ascend910-Fault"]);
    assert_eq!(faults[0]["fault_level"], "NormalNPU");
    assert_eq!(faults[0]["fault_code"], "");
}

#[test]
fn content_is_equal_when_only_the_update_time_differs() {
    let a = device_info_cfg(&sample_node());
    let mut later = sample_node();
    later.update_time += 300;
    let b = device_info_cfg(&later);
    assert_ne!(a, b);
    assert!(content_equal_ignoring_time(&a, &b));
}

#[test]
fn content_differs_when_a_chip_or_the_node_identity_changes() {
    let a = device_info_cfg(&sample_node());
    let mut sick = sample_node();
    sick.chips[1].healthy = false;
    assert!(!content_equal_ignoring_time(&a, &device_info_cfg(&sick)));
    let mut moved = sample_node();
    moved.super_pod_id = 3;
    assert!(!content_equal_ignoring_time(&a, &device_info_cfg(&moved)));
}

#[test]
fn a_tampered_or_unparsable_cfg_never_counts_as_equal() {
    let a = device_info_cfg(&sample_node());
    let tampered = a.replace("Ascend910-0,Ascend910-2", "Ascend910-0");
    assert!(!content_equal_ignoring_time(&a, &tampered));
    let tampered_code = a.replace("\"CheckCode\":\"c0", "\"CheckCode\":\"d0");
    assert!(!content_equal_ignoring_time(&a, &tampered_code));
    for junk in ["", "{}", "null", "{\"DeviceInfo\":1}"] {
        assert!(!content_equal_ignoring_time(&a, junk), "{junk:?}");
    }
}

#[test]
fn manually_separate_parsing_trims_dedups_and_drops_what_is_not_a_chip_name() {
    let value = " Ascend910-3, ,Ascend910-1,Ascend910-3,../x,Ascend910-,-1,Ascend910-01,\
                 Ascend910-2c-100-0,Ascend910-../../x, npu-10 ,Ascend 910-4,Ascend910-0";
    assert_eq!(
        parse_manually_separate(value),
        ["Ascend910-0", "Ascend910-1", "Ascend910-3", "npu-10"]
    );
    assert!(parse_manually_separate("").is_empty());
    assert!(parse_manually_separate(",,, ,").is_empty());
}

#[test]
fn manually_separate_parsing_is_bounded() {
    let many: Vec<String> = (0..5000).map(|i| format!("Ascend910-{i}")).collect();
    let parsed = parse_manually_separate(&many.join(","));
    assert_eq!(parsed.len(), 1024);
    assert_eq!(parsed[1023], "Ascend910-1023");
    let long = format!("{}-1", "A".repeat(60));
    assert!(parse_manually_separate(&long).is_empty());
}

#[test]
fn manually_separate_formatting_round_trips() {
    let names = vec![
        "Ascend910-10".to_owned(),
        "Ascend910-2".to_owned(),
        "Ascend910-2".to_owned(),
    ];
    let value = format_manually_separate(&names);
    assert_eq!(value, "Ascend910-2,Ascend910-10");
    assert_eq!(
        parse_manually_separate(&value),
        ["Ascend910-2", "Ascend910-10"]
    );
}

fn any_chip() -> impl Strategy<Value = ChipReport> {
    let code = prop_oneof![
        Just(LINK_DOWN),
        (0..=i64::MAX.cast_unsigned()).prop_map(FaultCode)
    ];
    let level = (0..FaultLevel::ALL.len()).prop_map(|i| FaultLevel::ALL[i]);
    (
        0u32..32,
        any::<[bool; 4]>(),
        prop::collection::vec((code, level, any::<u64>()), 0..4),
    )
        .prop_map(
            |(n, [healthy, network_healthy, free, recovering], fault_codes)| ChipReport {
                name: format!("Ascend910-{n}"),
                healthy,
                network_healthy,
                free,
                whole: true,
                recovering,
                fault_codes,
            },
        )
}

proptest! {
    #[test]
    fn any_node_yields_a_self_consistent_cfg_whose_fault_value_is_a_json_array(
        chips in prop::collection::vec(any_chip(), 0..8),
        separated in prop::collection::vec(0u32..32, 0..3),
        time in any::<i64>(),
    ) {
        let mut report = node(chips);
        report.update_time = time;
        report.manually_separated = separated.iter().map(|n| format!("Ascend910-{n}")).collect();
        let cfg = device_info_cfg(&report);
        prop_assert!(content_equal_ignoring_time(&cfg, &cfg));
        let root = parse(&cfg);
        let fault = root["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910-Fault"].as_str().unwrap();
        prop_assert!(parse(fault).is_array());
        let free = root["DeviceInfo"]["DeviceList"]["huawei.com/Ascend910"].as_str().unwrap();
        for name in report.manually_separated.iter() {
            prop_assert!(!free.split(',').any(|n| n == name));
        }
    }
}

#[test]
fn long_synthetic_codes_are_written_with_their_nine_digits() {
    let mut c = chip(5);
    c.healthy = false;
    c.fault_codes = vec![
        (FaultCode(0x2000_1002), FaultLevel::SeparateNPU, 7),
        (FaultCode(0x2_0000_1002), FaultLevel::NotHandleFault, 8),
    ];
    let list = device_list(&node(vec![c]));
    let faults = parse(&list["huawei.com/Ascend910-Fault"]);
    assert_eq!(faults[0]["fault_code"], "020001002,200001002");
    let map = &faults[0]["fault_time_and_level_map"];
    assert_eq!(map["020001002"]["fault_level"], "SeparateNPU");
    assert_eq!(map["200001002"]["fault_time"], 8);
}
