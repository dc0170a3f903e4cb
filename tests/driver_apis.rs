//! A driver library without the v2 (Ascend 950) API still loads: the core
//! of `dcmiv2_*` is resolved at run time as one optional set, so a library
//! that lacks it (or has only part of it) is a plain v1 driver, and a 950
//! driver needs only that core (the other v2 calls are optional one by one).
//! The libraries here are tiny C drivers compiled against `ffi/dcmi.h`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One 910B3 chip (card 0, device 0, logic 0, phy 0) through the six
/// required v1 symbols; `dcmi_init` answers `INIT_RC`.
const V1_DRIVER: &str = r#"
#include <string.h>
#include "dcmi.h"
int dcmi_init(void) { return INIT_RC; }
int dcmi_get_card_list(int *num, int *list, int len) {
    if (len < 1) return DCMI_ERR_CODE_INVALID_PARAMETER;
    *num = 1; list[0] = 0; return DCMI_OK;
}
int dcmi_get_device_num_in_card(int card, int *num) { (void)card; *num = 1; return DCMI_OK; }
int dcmi_get_device_logic_id(int *logic, int card, int dev) { (void)card; (void)dev; *logic = 0; return DCMI_OK; }
int dcmi_get_device_phyid_from_logicid(unsigned int logic, unsigned int *phy) { *phy = logic; return DCMI_OK; }
int dcmi_get_device_chip_info(int card, int dev, struct dcmi_chip_info *info) {
    (void)card; (void)dev;
    memset(info, 0, sizeof(*info));
    strcpy((char *)info->chip_type, "Ascend");
    strcpy((char *)info->chip_name, "910B3");
    strcpy((char *)info->chip_ver, "V1");
    info->aicore_cnt = 20;
    return DCMI_OK;
}
"#;

/// Builds `source` (with `-DINIT_RC=<rc>`) into a root-owned-style private
/// directory the loader accepts.
fn driver(dir: &Path, source: &str, init_rc: i32) -> PathBuf {
    let c = dir.join("driver.c");
    std::fs::write(&c, source).unwrap();
    let lib = dir.join("lib64").join("libdcmi.so");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        lib.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let ffi = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ffi");
    let compiler = std::env::var("DCMI_PROBE_CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(["-std=gnu11", "-Wall", "-Werror", "-shared", "-fPIC"])
        .arg(format!("-DINIT_RC={init_rc}"))
        .arg("-I")
        .arg(&ffi)
        .arg("-o")
        .arg(&lib)
        .arg(&c)
        .status()
        .unwrap_or_else(|error| panic!("the C compiler `{compiler}` runs: {error}"));
    assert!(status.success(), "{compiler} failed on the test driver");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    lib
}

fn inspect(lib: &Path) -> Output {
    let mut command = Command::new(support::plugin_bin());
    command
        .env_remove("RUST_LOG")
        .arg(format!("--dcmi-lib={}", lib.display()))
        .args(["inspect", "--json"]);
    support::output_within(command, std::time::Duration::from_secs(60))
}

#[test]
fn a_driver_without_the_v2_api_loads_and_is_discovered_through_v1() {
    let dir = support::private_dir();
    let lib = driver(dir.path(), V1_DRIVER, 0);
    let output = inspect(&lib);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let node: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let chips = node["chips"].as_array().unwrap();
    assert_eq!(chips.len(), 1);
    assert_eq!(chips[0]["chip_name"], "910B3");
    assert_eq!(chips[0]["card_id"], 0);
}

#[test]
fn an_incomplete_v2_api_is_ignored_and_the_v1_init_error_is_reported() {
    let dir = support::private_dir();
    // dcmi_init fails; the library has dcmiv2_init but not the rest of v2,
    // so the plugin must not switch to it (it would call missing symbols).
    let source = format!("{V1_DRIVER}\nint dcmiv2_init(void) {{ return DCMI_OK; }}\n");
    let lib = driver(dir.path(), &source, -8005);
    let output = inspect(&lib);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dcmi_init failed"), "{stderr}");
    assert!(!stderr.contains("dcmiv2_init"), "{stderr}");
}

/// The core of the v2 API only: one Ascend950PR chip, logic id 1, phy 0.
const V2_CORE: &str = r#"
int dcmiv2_init(void) { return DCMI_OK; }
int dcmiv2_get_device_list(int *list, int *num, int len) {
    if (len < 1) return DCMI_ERR_CODE_INVALID_PARAMETER;
    *num = 1; list[0] = 1; return DCMI_OK;
}
int dcmiv2_get_all_device_count(int *count) { *count = 1; return DCMI_OK; }
int dcmiv2_get_chip_phy_id_by_dev_id(unsigned int logic, unsigned int *phy) {
    if (logic != 1) return DCMI_ERR_CODE_INVALID_DEVICE_ID;
    *phy = 0; return DCMI_OK;
}
int dcmiv2_get_device_chip_info(int logic, struct dcmi_chip_info_v2 *info) {
    (void)logic;
    memset(info, 0, sizeof(*info));
    strcpy((char *)info->chip_type, "Ascend");
    strcpy((char *)info->chip_name, "Ascend950PR");
    info->aicore_cnt = 32;
    return DCMI_OK;
}
int dcmiv2_get_device_health(int logic, unsigned int *health) { (void)logic; *health = 0; return DCMI_OK; }
int dcmiv2_get_device_error_code_list(int logic, int *count, unsigned int *codes, unsigned int len) {
    (void)logic; (void)codes; (void)len; *count = 0; return DCMI_OK;
}
"#;

#[test]
fn a_950_driver_with_only_the_core_of_the_v2_api_is_discovered_through_it() {
    let dir = support::private_dir();
    let source = format!("{V1_DRIVER}{V2_CORE}");
    let lib = driver(dir.path(), &source, -8255);
    let output = inspect(&lib);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let node: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let chips = node["chips"].as_array().unwrap();
    assert_eq!(chips.len(), 1);
    assert_eq!(chips[0]["family"], "950");
    assert_eq!(
        (chips[0]["phy_id"].clone(), chips[0]["logic_id"].clone()),
        (0.into(), 1.into())
    );
    assert_eq!(chips[0]["card_id"], -1);
}
