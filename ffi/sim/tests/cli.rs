//! The `ascend-sim` command line: edits, `show`, usage errors (exit 2),
//! and concurrent edits that all land.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ascend_sim, temp_dir};
use dcmi::state::{FaultCode, FaultState};

#[test]
fn edits_land_in_the_state_file_and_show_prints_them() {
    let dir = temp_dir("cli");
    let state = dir.join("state.json");
    for args in [
        "fault raise --phy 3 --code 80E01801 --severity 2",
        "fault raise --phy 3 --code 0x8c084e00 --severity 1",
        "card drop --card 2",
        "net down --phy 0",
        "health set --phy 5 --value 3",
        "chaos set hang,no-nul",
    ] {
        let output = ascend_sim(Some(&state), args);
        assert!(
            output.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let saved = FaultState::load(&state).unwrap().unwrap();
    let codes: Vec<FaultCode> = saved.faults[&3].iter().map(|fault| fault.code).collect();
    assert_eq!(codes, vec![FaultCode(0x80E0_1801), FaultCode(0x8C08_4E00)]);
    assert!(saved.dropped_cards.contains(&2));
    let show = String::from_utf8(ascend_sim(Some(&state), "show").stdout).unwrap();
    assert!(
        show.contains("phy 3: 80E01801 (severity 2), 8C084E00 (severity 1)"),
        "{show}"
    );
    assert!(show.contains("dropped cards: 2"), "{show}");
    assert!(show.contains("link down: phy 0"), "{show}");
    assert!(show.contains("chaos: no-nul, hang"), "{show}");

    ascend_sim(Some(&state), "fault clear --phy 3 --code 80E01801");
    ascend_sim(Some(&state), "card restore --card 2");
    ascend_sim(Some(&state), "chaos clear");
    let saved = FaultState::load(&state).unwrap().unwrap();
    assert_eq!(saved.faults[&3].len(), 1);
    assert!(saved.dropped_cards.is_empty());
    assert_eq!(saved.chaos, Some(Default::default()));
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn usage_errors_exit_with_two_and_name_the_bad_argument() {
    let state = temp_dir("cli-usage").join("state.json");
    for (args, named) in [
        ("fault raise --phy three --code 80E01801", "--phy \"three\""),
        (
            "fault raise --phy 1 --code 80E01801 --severity 9",
            "--severity 9",
        ),
        ("card drop", "--card is required"),
        ("chaos set wobble", "\"wobble\""),
        ("frobnicate", "frobnicate"),
        ("net down --phy 1 --bogus 2", "--bogus"),
    ] {
        let output = ascend_sim(Some(&state), args);
        assert_eq!(output.status.code(), Some(2), "{args}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(named), "{args}: {stderr}");
    }
    assert!(!state.exists(), "a usage error writes nothing");
    let output = ascend_sim(None, "show");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("ASCEND_SIM_STATE")
    );
}

#[test]
fn concurrent_edits_all_land() {
    let state = temp_dir("cli-concurrent").join("state.json");
    let children: Vec<_> = (0..8)
        .map(|phy| {
            std::process::Command::new(env!("CARGO_BIN_EXE_ascend-sim"))
                .arg("--state")
                .arg(&state)
                .args([
                    "fault",
                    "raise",
                    "--phy",
                    &phy.to_string(),
                    "--code",
                    "80E01801",
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let saved = FaultState::load(&state).unwrap().unwrap();
    assert_eq!(saved.faults.len(), 8, "{saved:?}");
}
