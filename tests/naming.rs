//! Resource names and device IDs per topology and mode, as the daemon would
//! advertise them (read through `inspect --json` on the simulator).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;

fn resources(topology: &str, args: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut all = vec!["inspect", "--json"];
    all.extend_from_slice(args);
    let output = support::run_plugin(topology, &[], &all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let node: Value = serde_json::from_slice(&output.stdout).unwrap();
    node["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let ids = r["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string());
            (r["resource"].as_str().unwrap().to_string(), ids.collect())
        })
        .collect()
}

fn names(prefix: &str, ids: impl IntoIterator<Item = u32>) -> Vec<String> {
    ids.into_iter().map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn every_910_generation_is_advertised_as_ascend910_by_phy_id() {
    for (topology, count) in [("910-8", 8), ("910b-16", 16), ("a3-16", 16)] {
        assert_eq!(
            resources(topology, &[]),
            [(
                "huawei.com/Ascend910".to_string(),
                names("Ascend910-", 0..count)
            )],
            "{topology}"
        );
    }
}

#[test]
fn static_vnpus_get_a_resource_per_template_and_hide_their_chips() {
    assert_eq!(
        resources("310p-duo-vnpu", &[]),
        [
            (
                "huawei.com/Ascend310P".to_string(),
                names("Ascend310P-", [2, 3])
            ),
            (
                "huawei.com/Ascend310P-1c".to_string(),
                vec!["Ascend310P-1c-103-1".into(), "Ascend310P-1c-104-1".into()]
            ),
            (
                "huawei.com/Ascend310P-2c".to_string(),
                vec!["Ascend310P-2c-100-0".into(), "Ascend310P-2c-101-0".into()]
            ),
            (
                "huawei.com/Ascend310P-4c".to_string(),
                vec!["Ascend310P-4c-102-0".into()]
            ),
        ]
    );
}

#[test]
fn share_mode_names_each_slot_of_each_310_chip() {
    let got = resources("310-4", &["-shareDevCount=2"]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "huawei.com/Ascend310");
    assert_eq!(
        got[0].1[..4],
        [
            "Ascend310-0-0",
            "Ascend310-0-1",
            "Ascend310-1-0",
            "Ascend310-1-1"
        ]
    );
    assert_eq!(got[0].1.len(), 8);
}

#[test]
fn share_mode_on_training_chips_is_refused_with_a_message_naming_the_flag() {
    let output = support::run_plugin("910-8", &[], &["inspect", "-shareDevCount=2"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shareDevCount"), "{stderr}");
}

#[test]
fn mixed_insert_splits_310p_cards_into_three_resources() {
    assert_eq!(
        resources("310p-mixed", &["-use310PMixedInsert=true"]),
        [
            (
                "huawei.com/Ascend310P-IPro".to_string(),
                vec!["Ascend310P-IPro-2".to_string()]
            ),
            (
                "huawei.com/Ascend310P-V".to_string(),
                vec!["Ascend310P-V-0".to_string()]
            ),
            (
                "huawei.com/Ascend310P-VPro".to_string(),
                vec!["Ascend310P-VPro-1".to_string()]
            ),
        ]
    );
}

#[test]
fn dynamic_vnpu_mode_advertises_one_npu_core_per_ai_core() {
    let got = resources(
        "310p-duo-vnpu",
        &["-presetVirtualDevice=false", "-volcanoType=true"],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "huawei.com/npu-core");
    assert_eq!(got[0].1, names("npu-core-", 0..32), "4 chips x 8 AI cores");
}
