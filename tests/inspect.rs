//! `inspect` prints the node as a table an operator can read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

fn table(topology: &str) -> Vec<Vec<String>> {
    let output = support::run_plugin(topology, &[], &["inspect"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn the_table_has_one_row_per_chip_with_ids_family_health_and_memory() {
    let rows = table("910-8");
    assert_eq!(
        rows[0],
        [
            "CARD", "CHIP", "PHY", "LOGIC", "FAMILY", "NAME", "HEALTH", "FAULTS", "VNPUS", "IP",
            "MEMORY"
        ]
    );
    assert_eq!(rows.len(), 9);
    assert_eq!(
        rows[4],
        [
            "3",
            "0",
            "3",
            "3",
            "Ascend910",
            "910ProB",
            "Healthy",
            "-",
            "-",
            "192.168.100.104",
            "32768",
            "MB",
            "HBM"
        ]
    );
}

#[test]
fn the_table_lists_vnpus_and_the_resources_they_become() {
    let output = support::run_plugin("310p-duo-vnpu", &[], &["inspect"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let rows = table("310p-duo-vnpu");
    assert_eq!(rows[1][8], "100:vir02,101:vir02,102:vir04");
    assert_eq!(rows[2][8], "103:vir01,104:vir01");
    assert_eq!(rows[3][8], "-");
    assert!(
        text.contains("huawei.com/Ascend310P-2c: Ascend310P-2c-100-0,Ascend310P-2c-101-0\n"),
        "{text}"
    );
    assert!(
        text.contains("huawei.com/Ascend310P: Ascend310P-2,Ascend310P-3\n"),
        "{text}"
    );
}

#[test]
fn an_injected_fault_shows_in_the_table() {
    let dir = support::private_dir();
    let state = dir.path().join("state.json");
    support::sim(
        &state,
        &[
            "fault",
            "raise",
            "--phy",
            "2",
            "--code",
            "80E01801",
            "--severity",
            "2",
        ],
    );
    let output = support::run_plugin(
        "910-8",
        &[("ASCEND_SIM_STATE", state.to_str().unwrap())],
        &["inspect"],
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(3).unwrap().split_whitespace().collect();
    assert_eq!(row[2], "2");
    assert_eq!(row[6], "Unhealthy");
    assert_eq!(row[7], "80E01801");
}
