//! The shipped admission policy (deploy/components/admission-policy) pins the
//! node label, node annotation and pod annotation keys the plugin may
//! change. These tests hold those lists to what the code writes, so a key
//! added in the code without the policy (every write of it refused in the
//! cluster) or left in the policy after the code stops writing it (a grant
//! nothing needs) fails here. The policy's behaviour against a real API
//! server is tests/e2e/overlay_policy_test.go; each topology's node keys
//! are checked against these lists in tests/volcano_view.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use ascend_device_plugin::cluster::annotations::{
    ASCEND_REAL, CONFIGURATION_910, KLT_DEV, RealChip, write_back,
};
use ascend_device_plugin::cluster::labels::{
    ACCELERATOR, ACCELERATOR_TYPE, BASE_DEVICE_INFOS, CHIP_MEMORY, CHIP_NAME, DRIVER_VERSION,
    INFER_CARD_TYPE, SERVER_INDEX, SERVER_TYPE, SERVER_TYPE_ANNOTATION, SUPER_POD_ID,
    TOPO_SUPER_POD_ID,
};
use ascend_device_plugin::cluster::reset_info::RESET_INFO;
use ascend_device_plugin::cluster::volcano::{CONSUMED, PREDICATE_TIME, consume_patch};
use ascend_device_plugin::device::model::Family;

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn the_policy_allows_exactly_the_node_labels_the_plugin_writes() {
    let code = set(&[
        ACCELERATOR,
        CHIP_NAME,
        SERVER_TYPE,
        DRIVER_VERSION,
        CHIP_MEMORY,
        ACCELERATOR_TYPE,
        INFER_CARD_TYPE,
        TOPO_SUPER_POD_ID,
    ]);
    assert_eq!(support::policy_list("admission-policy", "ownLabels"), code);
}

#[test]
fn the_policy_allows_exactly_the_node_annotations_the_plugin_writes() {
    let code = set(&[
        BASE_DEVICE_INFOS,
        SUPER_POD_ID,
        SERVER_INDEX,
        SERVER_TYPE_ANNOTATION,
        RESET_INFO,
    ]);
    assert_eq!(
        support::policy_list("admission-policy", "ownNodeAnnotations"),
        code
    );
}

#[test]
fn the_policy_allows_exactly_the_pod_annotations_the_plugin_writes() {
    let allowed = support::policy_list("admission-policy", "ownPodAnnotations");
    let chip = |phy: u32| RealChip {
        phy_id: phy,
        name: format!("Ascend910-{phy}"),
        ip: None,
        super_device_id: None,
    };
    let ids = ["Ascend910-0".to_owned(), "Ascend910-1".to_owned()];
    let mut written = BTreeSet::new();
    for (family, virtual_) in [
        (Family::Ascend910, false),
        (Family::Ascend910B, false),
        (Family::Ascend310P, false),
        (Family::Ascend310P, true),
    ] {
        let annotations = write_back(
            "uid",
            "pod",
            "10.0.0.1",
            &ids,
            &[chip(0), chip(1)],
            family,
            virtual_,
        );
        written.extend(annotations.into_keys());
    }
    let consume = consume_patch();
    let consumed = consume["metadata"]["annotations"].as_object().unwrap();
    written.extend(consumed.keys().cloned());
    assert_eq!(
        written,
        set(&[KLT_DEV, ASCEND_REAL, CONFIGURATION_910, PREDICATE_TIME])
    );
    assert_eq!(allowed, written);

    // predicate-time may be set only to the value the plugin writes.
    assert_eq!(consumed[PREDICATE_TIME], CONSUMED);
    let policy = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/components/admission-policy/policy.yaml"),
    )
    .unwrap();
    assert!(
        policy.contains(&format!(
            "variables.newAnnotations['predicate-time'] == '{CONSUMED}'"
        )),
        "the policy must pin predicate-time to {CONSUMED}"
    );
}
