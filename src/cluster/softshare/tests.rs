#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::cluster::volcano::PREDICATE_TIME;

const NODE: &str = "node-1";
const TYPE: &str = "Ascend910";
const KEY: &str = "huawei.com/Ascend910";

/// A soft-share pod on NODE: one chip, the three quotas, limit = AI-core quota.
fn pod(name: &str, chips: &str, aicore: &str, hbm: &str, policy: &str, time: &str) -> Pod {
    let annotations = BTreeMap::from([
        (KEY.to_owned(), chips.to_owned()),
        (PREDICATE_TIME.to_owned(), time.to_owned()),
        (AICORE_QUOTA.to_owned(), aicore.to_owned()),
        (HBM_QUOTA.to_owned(), hbm.to_owned()),
        (POLICY.to_owned(), policy.to_owned()),
    ]);
    Pod {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(NODE.into()),
            containers: vec![Container {
                name: "main".into(),
                resources: Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([(
                        KEY.to_owned(),
                        Quantity(aicore.to_owned()),
                    )])),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..PodStatus::default()
        }),
    }
}

#[test]
fn the_pod_whose_aicore_quota_equals_the_id_count_is_chosen_with_its_quotas() {
    let pods = [
        pod("thirty", "Ascend910-2", "30", "8192", "elastic", "100"),
        pod("fifty", "Ascend910-5", "50", "16384", "fixed-share", "200"),
    ];
    let choice = choose_soft_share_pod(&pods, NODE, TYPE, 50).unwrap();
    assert_eq!(pod_key(choice.pod), "default/fifty");
    assert_eq!(
        choice.value,
        SoftShareRequest {
            phy: 5,
            aicore: 50,
            hbm_mb: 16384,
            policy: 1
        }
    );
    assert!(choice.skipped.iter().any(|s| s.pod == "default/thirty"
        && s.reason
            == SkipReason::CountMismatch {
                annotated: 30,
                requested: 50
            }));
}

#[test]
fn among_equal_quotas_the_smallest_predicate_time_wins() {
    let pods = [
        pod("late", "Ascend910-1", "40", "1024", "best-effort", "300"),
        pod("early", "Ascend910-0", "40", "1024", "best-effort", "100"),
    ];
    let choice = choose_soft_share_pod(&pods, NODE, TYPE, 40).unwrap();
    assert_eq!(pod_key(choice.pod), "default/early");
    assert_eq!(choice.value.policy, 3);
}

#[test]
fn no_pod_with_the_requested_quota_is_no_pod_and_says_why_each_was_skipped() {
    let pods = [pod("thirty", "Ascend910-2", "30", "8192", "elastic", "100")];
    match choose_soft_share_pod(&pods, NODE, TYPE, 20) {
        Err(MatchError::NoPod {
            skipped, requested, ..
        }) => {
            assert_eq!(requested, 20);
            assert_eq!(skipped.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pod_naming_several_chips_is_refused_not_answered_without_mounts() {
    let pods = [pod(
        "two",
        "Ascend910-0,Ascend910-1",
        "50",
        "1024",
        "elastic",
        "100",
    )];
    match choose_soft_share_pod(&pods, NODE, TYPE, 50) {
        Err(MatchError::BadAnnotation { pod, key, fault }) => {
            assert_eq!(pod, "default/two");
            assert_eq!(key, KEY);
            assert!(fault.to_string().contains("exactly one chip"), "{fault}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_hbm_quota_or_policy_is_refused_naming_the_annotation() {
    for (hbm, policy, key) in [
        ("", "elastic", HBM_QUOTA),
        ("-5", "elastic", HBM_QUOTA),
        ("0", "elastic", HBM_QUOTA),
        ("12GB", "elastic", HBM_QUOTA),
        ("1024", "", POLICY),
        ("1024", "greedy", POLICY),
    ] {
        let pods = [pod("p", "Ascend910-0", "50", hbm, policy, "100")];
        match choose_soft_share_pod(&pods, NODE, TYPE, 50) {
            Err(MatchError::BadAnnotation { key: got, .. }) => {
                assert_eq!(got, key, "{hbm} {policy}")
            }
            other => panic!("{hbm} {policy}: {other:?}"),
        }
    }
}

#[test]
fn a_quota_above_a_whole_chip_is_refused() {
    let pods = [pod("p", "Ascend910-0", "101", "1024", "elastic", "100")];
    match choose_soft_share_pod(&pods, NODE, TYPE, 101) {
        Err(MatchError::BadAnnotation { key, .. }) => assert_eq!(key, AICORE_QUOTA),
        other => panic!("{other:?}"),
    }
}

#[test]
fn policies_map_to_the_drivers_numbers() {
    assert_eq!(policy_number("fixed-share"), Some(1));
    assert_eq!(policy_number("elastic"), Some(2));
    assert_eq!(policy_number("best-effort"), Some(3));
    assert_eq!(policy_number("Elastic"), None);
}
