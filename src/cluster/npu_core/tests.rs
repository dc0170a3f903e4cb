#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

use super::*;
use crate::cluster::volcano::{PREDICATE_TIME, SkipReason, pod_key};
use crate::device::naming::is_known_template;

fn parse(value: &str) -> Result<NpuCoreRequest, AnnotationFault> {
    parse_npu_core(value, is_known_template)
}

fn vnpu(phy: u32, template: &str) -> NpuCoreRequest {
    NpuCoreRequest::Vnpu {
        phy,
        template: template.into(),
    }
}

#[test]
fn a_phy_and_a_template_ask_for_one_vnpu() {
    assert_eq!(parse("0-vir02"), Ok(vnpu(0, "vir02")));
    assert_eq!(parse("7-vir10_3c_16g_nm"), Ok(vnpu(7, "vir10_3c_16g_nm")));
    assert_eq!(parse("255-vir01"), Ok(vnpu(255, "vir01")));
}

#[test]
fn a_comma_list_asks_for_whole_chips() {
    assert_eq!(parse("0,1"), Ok(NpuCoreRequest::WholeChips(vec![0, 1])));
    assert_eq!(parse("5"), Ok(NpuCoreRequest::WholeChips(vec![5])));
    assert_eq!(parse("3,0"), Ok(NpuCoreRequest::WholeChips(vec![3, 0])));
}

#[test]
fn only_known_templates_are_accepted() {
    for template in [
        "vir03", "VIR02", "vir02 ", "../vir02", "vir02;rm", "vir02\n",
    ] {
        assert!(
            matches!(
                parse(&format!("0-{template}")),
                Err(AnnotationFault::UnknownTemplate { .. })
            ),
            "{template:?}"
        );
    }
    let long = format!("0-vir{}", "0".repeat(40));
    assert!(
        parse_npu_core(&long, |_| true).is_err(),
        "length capped before the lookup"
    );
}

#[test]
fn malformed_vnpu_requests_are_rejected() {
    for value in [
        "0-vir02-x",
        "-vir02",
        "0-",
        "x-vir02",
        "00-vir02",
        "+1-vir02",
        " 0-vir02",
        "0--vir02",
    ] {
        assert!(
            matches!(parse(value), Err(AnnotationFault::BadEntry { .. })),
            "{value:?} gave {:?}",
            parse(value)
        );
    }
    assert!(matches!(
        parse("256-vir02"),
        Err(AnnotationFault::PhyOutOfRange { .. })
    ));
}

#[test]
fn malformed_whole_chip_lists_are_rejected() {
    assert_eq!(parse(""), Err(AnnotationFault::Empty));
    assert!(matches!(
        parse("0,0"),
        Err(AnnotationFault::Duplicate { .. })
    ));
    assert!(matches!(
        parse("0,,1"),
        Err(AnnotationFault::BadEntry { .. })
    ));
    assert!(matches!(
        parse("0, 1"),
        Err(AnnotationFault::BadEntry { .. })
    ));
    assert!(matches!(
        parse("Ascend910-0"),
        Err(AnnotationFault::BadEntry { .. })
    ));
    assert!(matches!(
        parse("1000"),
        Err(AnnotationFault::PhyOutOfRange { .. })
    ));
    let many: Vec<String> = (0..129).map(|i| (i % 256).to_string()).collect();
    assert_eq!(
        parse(&many.join(",")),
        Err(AnnotationFault::TooMany { count: 129 })
    );
    let huge = "1,".repeat(3000);
    assert!(matches!(parse(&huge), Err(AnnotationFault::TooLong { .. })));
}

#[test]
fn template_cores_come_from_the_number_after_vir() {
    assert_eq!(template_aicore("vir02"), Some(2));
    assert_eq!(template_aicore("vir02_1c"), Some(2));
    assert_eq!(template_aicore("vir10_3c_16g"), Some(10));
    assert_eq!(template_aicore("vir"), None);
    assert_eq!(template_aicore("xvir02"), None);
    assert_eq!(vnpu(0, "vir04_3c").cores(8), Some(4));
    assert_eq!(NpuCoreRequest::WholeChips(vec![0, 1]).cores(20), Some(40));
}

fn core_pod(name: &str, annotation: &str, predicate_time: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            annotations: Some(BTreeMap::from([
                (NPU_CORE_ANNOTATION.to_owned(), annotation.to_owned()),
                (PREDICATE_TIME.to_owned(), predicate_time.to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("n".into()),
            containers: vec![Container {
                resources: Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([(
                        NPU_CORE_ANNOTATION.to_owned(),
                        Quantity("4".into()),
                    )])),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

#[test]
fn the_npu_core_pod_whose_annotation_accounts_for_the_requested_cores_is_chosen() {
    let pods = [
        core_pod("vnpu", "0-vir02", "10"),
        core_pod("chips", "0,1", "20"),
        core_pod("big", "1-vir04", "5"),
    ];
    let chosen = choose_npu_core_pod(&pods, "n", 2, 20, is_known_template).unwrap();
    assert_eq!(pod_key(chosen.pod), "ns/vnpu");
    assert_eq!(chosen.value, vnpu(0, "vir02"));
    let chosen = choose_npu_core_pod(&pods, "n", 40, 20, is_known_template).unwrap();
    assert_eq!(chosen.value, NpuCoreRequest::WholeChips(vec![0, 1]));
    let skip = chosen.skipped.iter().find(|s| s.pod == "ns/big").unwrap();
    assert_eq!(
        skip.reason,
        SkipReason::CountMismatch {
            annotated: 4,
            requested: 40
        }
    );
}

#[test]
fn an_npu_core_pod_with_an_unknown_template_fails_instead_of_being_mounted() {
    let pods = [core_pod("odd", "0-vir02_9z", "1")];
    let err = choose_npu_core_pod(&pods, "n", 2, 20, is_known_template).unwrap_err();
    assert!(
        matches!(err, MatchError::BadAnnotation { ref pod, fault: AnnotationFault::UnknownTemplate { .. }, .. } if pod == "ns/odd"),
        "{err:?}"
    );
    let uncountable = [core_pod("weird", "0-abc", "1")];
    let err = choose_npu_core_pod(&uncountable, "n", 2, 20, is_known_template).unwrap_err();
    assert!(matches!(err, MatchError::NoPod { .. }), "{err:?}");
}

proptest! {
    #[test]
    fn parse_npu_core_never_panics_and_keeps_its_ranges(value in "\\PC{0,80}") {
        match parse(&value) {
            Ok(NpuCoreRequest::Vnpu { phy, template }) => {
                prop_assert!(phy <= MAX_PHY_ID);
                prop_assert!(is_known_template(&template));
            }
            Ok(NpuCoreRequest::WholeChips(phys)) => {
                prop_assert!(!phys.is_empty() && phys.len() <= MAX_ENTRIES);
                prop_assert!(phys.iter().all(|&p| p <= MAX_PHY_ID));
            }
            Err(_) => {}
        }
    }
}
