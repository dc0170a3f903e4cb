#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::device::model::Family;
use crate::device::naming::{AdvertisedDevice, Backing};

const NODE: &str = "node-1";
const TYPE: &str = "Ascend910";
const KEY: &str = "huawei.com/Ascend910";

fn at(second: i64) -> Time {
    Time(Timestamp::from_second(second).unwrap())
}

/// A running pod on NODE limiting `huawei.com/Ascend910` to the number of
/// annotated chips, created at second 1000.
fn pod(name: &str, chips: &str, predicate_time: &str) -> Pod {
    let count = chips.split(',').count().to_string();
    let annotations = BTreeMap::from([
        (KEY.to_owned(), chips.to_owned()),
        (PREDICATE_TIME.to_owned(), predicate_time.to_owned()),
    ]);
    Pod {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            annotations: Some(annotations),
            creation_timestamp: Some(at(1000)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(NODE.into()),
            containers: vec![container(KEY, &count)],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..PodStatus::default()
        }),
    }
}

fn container(resource: &str, quantity: &str) -> Container {
    Container {
        name: "main".into(),
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([(
                resource.to_owned(),
                Quantity(quantity.to_owned()),
            )])),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

fn set_annotation(pod: &mut Pod, key: &str, value: Option<&str>) {
    let annotations = pod.metadata.annotations.get_or_insert_default();
    match value {
        Some(value) => annotations.insert(key.to_owned(), value.to_owned()),
        None => annotations.remove(key),
    };
}

fn name_of(chosen: &Chosen<'_>) -> String {
    pod_key(chosen.pod)
}

fn reason_for(skipped: &[Skip], pod: &str) -> SkipReason {
    skipped
        .iter()
        .find(|skip| skip.pod == format!("default/{pod}"))
        .map(|skip| skip.reason.clone())
        .expect("pod is reported as skipped")
}

fn no_pod_skips(result: Result<Chosen<'_>, MatchError>) -> Vec<Skip> {
    match result {
        Err(MatchError::NoPod { skipped, .. }) => skipped,
        other => panic!("expected NoPod, got {other:?}"),
    }
}

#[test]
fn the_pod_with_the_smallest_predicate_time_is_chosen() {
    let pods = [
        pod("late", "Ascend910-0,Ascend910-1", "300"),
        pod("early", "Ascend910-2,Ascend910-3", "100"),
        pod("middle", "Ascend910-4,Ascend910-5", "200"),
    ];
    let chosen = choose_pod(&pods, NODE, TYPE, 2).unwrap();
    assert_eq!(name_of(&chosen), "default/early");
    assert_eq!(chosen.chips, ["Ascend910-2", "Ascend910-3"]);
    assert_eq!(chosen.phys, [2, 3]);
}

#[test]
fn chips_keep_the_annotation_order() {
    let pods = [pod("a", "Ascend910-7,Ascend910-0,Ascend910-3", "1")];
    let chosen = choose_pod(&pods, NODE, TYPE, 3).unwrap();
    assert_eq!(chosen.phys, [7, 0, 3]);
    assert_eq!(chosen.chips, ["Ascend910-7", "Ascend910-0", "Ascend910-3"]);
}

#[test]
fn equal_predicate_times_go_to_the_older_pod_then_to_namespace_and_name() {
    let mut newer = pod("a-newer", "Ascend910-0", "100");
    newer.metadata.creation_timestamp = Some(at(2000));
    let older = pod("z-older", "Ascend910-1", "100");
    let chosen = choose_pod([&newer, &older], NODE, TYPE, 1).unwrap();
    assert_eq!(name_of(&chosen), "default/z-older");

    let b = pod("b", "Ascend910-0", "100");
    let a = pod("a", "Ascend910-1", "100");
    let mut other_ns = pod("a", "Ascend910-2", "100");
    other_ns.metadata.namespace = Some("alpha".into());
    for order in [
        [&b, &a, &other_ns],
        [&other_ns, &a, &b],
        [&a, &other_ns, &b],
    ] {
        let chosen = choose_pod(order, NODE, TYPE, 1).unwrap();
        assert_eq!(name_of(&chosen), "alpha/a", "independent of list order");
    }

    let mut undated = pod("0-undated", "Ascend910-3", "100");
    undated.metadata.creation_timestamp = None;
    let chosen = choose_pod([&undated, &b], NODE, TYPE, 1).unwrap();
    assert_eq!(
        name_of(&chosen),
        "default/b",
        "a pod without creationTimestamp counts as newest"
    );
}

#[test]
fn pods_annotated_with_another_chip_count_are_skipped() {
    let pods = [
        pod("two", "Ascend910-0,Ascend910-1", "1"),
        pod("one", "Ascend910-2", "2"),
    ];
    let chosen = choose_pod(&pods, NODE, TYPE, 1).unwrap();
    assert_eq!(name_of(&chosen), "default/one");
    assert_eq!(
        reason_for(&chosen.skipped, "two"),
        SkipReason::CountMismatch {
            annotated: 2,
            requested: 1
        }
    );
    let skipped = no_pod_skips(choose_pod(&pods, NODE, TYPE, 4));
    assert_eq!(skipped.len(), 2);
}

#[test]
fn consumed_pods_are_never_chosen_again() {
    let pods = [pod("used", "Ascend910-0", CONSUMED)];
    let skipped = no_pod_skips(choose_pod(&pods, NODE, TYPE, 1));
    assert_eq!(reason_for(&skipped, "used"), SkipReason::Consumed);
}

#[test]
fn pods_being_deleted_are_skipped() {
    let mut deleting = pod("deleting", "Ascend910-0", "1");
    deleting.metadata.deletion_timestamp = Some(at(3000));
    let live = pod("live", "Ascend910-1", "2");
    let chosen = choose_pod([&deleting, &live], NODE, TYPE, 1).unwrap();
    assert_eq!(name_of(&chosen), "default/live");
    assert_eq!(
        reason_for(&chosen.skipped, "deleting"),
        SkipReason::Deleting
    );
}

#[test]
fn succeeded_and_failed_pods_are_skipped() {
    for phase in ["Succeeded", "Failed"] {
        let mut done = pod("done", "Ascend910-0", "1");
        done.status.as_mut().unwrap().phase = Some(phase.into());
        let skipped = no_pod_skips(choose_pod([&done], NODE, TYPE, 1));
        assert_eq!(
            reason_for(&skipped, "done"),
            SkipReason::Finished {
                phase: phase.into()
            }
        );
    }
    let mut running = pod("running", "Ascend910-0", "1");
    running.status.as_mut().unwrap().phase = Some("Running".into());
    assert!(choose_pod([&running], NODE, TYPE, 1).is_ok());
}

#[test]
fn pods_that_failed_admission_are_skipped() {
    let mut rejected = pod("rejected", "Ascend910-0", "1");
    rejected.status.as_mut().unwrap().reason = Some("UnexpectedAdmissionError".into());
    let skipped = no_pod_skips(choose_pod([&rejected], NODE, TYPE, 1));
    assert_eq!(
        reason_for(&skipped, "rejected"),
        SkipReason::AdmissionFailed
    );
}

#[test]
fn pods_of_other_nodes_are_skipped() {
    let mut elsewhere = pod("elsewhere", "Ascend910-0", "1");
    elsewhere.spec.as_mut().unwrap().node_name = Some("node-2".into());
    let mut unbound = pod("unbound", "Ascend910-0", "1");
    unbound.spec.as_mut().unwrap().node_name = None;
    let skipped = no_pod_skips(choose_pod([&elsewhere, &unbound], NODE, TYPE, 1));
    assert_eq!(
        reason_for(&skipped, "elsewhere"),
        SkipReason::OtherNode {
            node: Some("node-2".into())
        }
    );
    assert_eq!(
        reason_for(&skipped, "unbound"),
        SkipReason::OtherNode { node: None }
    );
}

#[test]
fn pods_of_other_resources_are_skipped() {
    let mut other = pod("p310", "Ascend910-0", "1");
    other.spec.as_mut().unwrap().containers = vec![container("huawei.com/Ascend310P", "1")];
    set_annotation(&mut other, "huawei.com/Ascend310P", Some("Ascend310P-0"));
    set_annotation(&mut other, KEY, None);
    let skipped = no_pod_skips(choose_pod([&other], NODE, TYPE, 1));
    assert_eq!(
        reason_for(&skipped, "p310"),
        SkipReason::NotRequested {
            resource: KEY.into()
        }
    );
    // Asked for the 310P resource instead, the same pod explains the request.
    let chosen = choose_pod([&other], NODE, "Ascend310P", 1).unwrap();
    assert_eq!(chosen.chips, ["Ascend310P-0"]);
}

#[test]
fn an_annotation_without_a_limit_does_not_make_a_candidate() {
    let mut bare = pod("bare", "Ascend910-0", "1");
    bare.spec.as_mut().unwrap().containers = vec![Container::default()];
    let mut zero = pod("zero", "Ascend910-0", "1");
    zero.spec.as_mut().unwrap().containers = vec![container(KEY, "0")];
    let mut negative = pod("negative", "Ascend910-0", "1");
    negative.spec.as_mut().unwrap().containers = vec![container(KEY, "-1")];
    let skipped = no_pod_skips(choose_pod([&bare, &zero, &negative], NODE, TYPE, 1));
    for name in ["bare", "zero", "negative"] {
        assert!(matches!(
            reason_for(&skipped, name),
            SkipReason::NotRequested { .. }
        ));
    }
}

#[test]
fn a_limit_in_an_init_container_makes_a_candidate() {
    let mut init = pod("init", "Ascend910-0", "1");
    let spec = init.spec.as_mut().unwrap();
    spec.containers = vec![Container::default()];
    spec.init_containers = Some(vec![container(KEY, "1")]);
    assert!(choose_pod([&init], NODE, TYPE, 1).is_ok());
}

#[test]
fn a_limit_without_the_annotation_does_not_make_a_candidate() {
    let mut unscheduled = pod("plain", "Ascend910-0", "1");
    set_annotation(&mut unscheduled, KEY, None);
    let skipped = no_pod_skips(choose_pod([&unscheduled], NODE, TYPE, 1));
    assert_eq!(
        reason_for(&skipped, "plain"),
        SkipReason::NoAnnotation { key: KEY.into() }
    );
}

#[test]
fn non_numeric_or_missing_predicate_times_are_skipped() {
    for bad in [
        "",
        "abc",
        "+5",
        "-1",
        "1e9",
        " 5",
        "18446744073709551616",
        "0x10",
    ] {
        let p = pod("odd", "Ascend910-0", bad);
        let skipped = no_pod_skips(choose_pod([&p], NODE, TYPE, 1));
        assert_eq!(
            reason_for(&skipped, "odd"),
            SkipReason::BadPredicateTime { value: bad.into() },
            "{bad:?}"
        );
    }
    let mut missing = pod("missing", "Ascend910-0", "1");
    set_annotation(&mut missing, PREDICATE_TIME, None);
    let skipped = no_pod_skips(choose_pod([&missing], NODE, TYPE, 1));
    assert_eq!(reason_for(&skipped, "missing"), SkipReason::NoPredicateTime);
    let max_minus_one = pod("edge", "Ascend910-0", "18446744073709551614");
    assert!(choose_pod([&max_minus_one], NODE, TYPE, 1).is_ok());
}

#[test]
fn a_path_like_chip_is_rejected_naming_the_pod_and_the_value() {
    let hostile = pod("evil", "Ascend910-../../x", "1");
    let err = choose_pod([&hostile], NODE, TYPE, 1).unwrap_err();
    let MatchError::BadAnnotation {
        pod, key, fault, ..
    } = &err
    else {
        panic!("expected BadAnnotation, got {err:?}");
    };
    assert_eq!(pod, "default/evil");
    assert_eq!(key, KEY);
    assert!(
        matches!(fault, AnnotationFault::BadEntry { entry, .. } if entry == "Ascend910-../../x")
    );
    let message = err.to_string();
    assert!(
        message.contains("default/evil") && message.contains("Ascend910-../../x"),
        "{message}"
    );
}

#[test]
fn an_annotation_listing_ten_thousand_chips_is_rejected() {
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("Ascend910-{}", i % 256))
        .collect();
    let many = many.join(",");
    assert_eq!(
        parse_chip_list(&many, TYPE),
        Err(AnnotationFault::TooLong { len: many.len() })
    );
    let hostile = pod("flood", &many, "1");
    let err = choose_pod([&hostile], NODE, TYPE, 10_000).unwrap_err();
    assert!(matches!(err, MatchError::BadAnnotation { ref pod, .. } if pod == "default/flood"));
    assert!(
        err.to_string().len() < 400,
        "the error quotes the value cut short"
    );

    let short: Vec<String> = (0..129).map(|i| format!("Ascend910-{i}")).collect();
    assert_eq!(
        parse_chip_list(&short.join(","), TYPE),
        Err(AnnotationFault::TooMany { count: 129 })
    );
    assert_eq!(
        parse_chip_list(&short[..128].join(","), TYPE)
            .unwrap()
            .len(),
        128
    );
}

#[test]
fn chips_of_another_resource_type_are_rejected() {
    let fault = parse_chip_list("Ascend910-0,Ascend310P-1", TYPE).unwrap_err();
    assert_eq!(
        fault,
        AnnotationFault::OtherResource {
            entry: "Ascend310P-1".into(),
            found: "Ascend310P".into(),
            expected: TYPE.into()
        }
    );
    for foreign in ["Ascend310P-0", "ascend310-0", "npu-0"] {
        assert!(
            matches!(
                parse_chip_list(foreign, "Ascend310"),
                Err(AnnotationFault::OtherResource { .. })
            ),
            "{foreign}"
        );
    }
    let mixed = pod("mixed", "Ascend910-0,Ascend310-1", "1");
    assert!(matches!(
        choose_pod([&mixed], NODE, TYPE, 2),
        Err(MatchError::BadAnnotation { .. })
    ));
}

#[test]
fn an_invalid_annotation_on_the_oldest_pod_fails_instead_of_giving_away_another_pods_chips() {
    let hostile = pod("evil", "Ascend910-x", "1");
    let valid = pod("valid", "Ascend910-0", "2");
    assert!(matches!(
        choose_pod([&hostile, &valid], NODE, TYPE, 1),
        Err(MatchError::BadAnnotation { ref pod, .. }) if pod == "default/evil"
    ));
    let newer_hostile = pod("evil", "Ascend910-x", "3");
    let chosen = choose_pod([&newer_hostile, &valid], NODE, TYPE, 1).unwrap();
    assert_eq!(name_of(&chosen), "default/valid");
    assert!(matches!(
        reason_for(&chosen.skipped, "evil"),
        SkipReason::Invalid(AnnotationFault::BadEntry { .. })
    ));
}

#[test]
fn annotated_chips_this_node_does_not_have_or_that_are_unhealthy_are_rejected() {
    let here = BTreeSet::from([0, 1, 2, 3]);
    assert_eq!(validate_chips(&[0, 3], &here, |_| true), Ok(()));
    assert_eq!(
        validate_chips(&[0, 9], &here, |_| true),
        Err(MatchError::UnknownChip { phy: 9 })
    );
    assert_eq!(
        validate_chips(&[0, 2], &here, |phy| phy != 2),
        Err(MatchError::UnhealthyChip { phy: 2 })
    );
}

#[test]
fn the_consume_patch_sets_predicate_time_to_max_uint64() {
    assert_eq!(
        consume_patch().to_string(),
        r#"{"metadata":{"annotations":{"predicate-time":"18446744073709551615"}}}"#
    );
    assert_eq!(CONSUMED, u64::MAX.to_string());
}

#[test]
fn static_vnpu_resources_skip_volcano_but_chips_and_npu_core_do_not() {
    let resource = |type_name: &str, is_virtual: bool| Resource {
        type_name: type_name.into(),
        family: Family::Ascend910B,
        is_virtual,
        devices: vec![AdvertisedDevice {
            id: "x".into(),
            backing: Backing::Chip { phy_id: 0 },
        }],
    };
    assert!(needs_volcano(&resource("Ascend910", false)));
    assert!(!needs_volcano(&resource("Ascend910-2c", true)));
    assert!(needs_volcano(&resource("npu-core", true)));
}

// ---- property: never panics, and a chosen pod obeys every rule ----

fn arb_chips() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(0u32..300, 1..5).prop_map(|phys| {
            let names: Vec<String> = phys.iter().map(|p| format!("Ascend910-{p}")).collect();
            names.join(",")
        }),
        Just("Ascend910-../../x".to_owned()),
        Just("Ascend310P-0,Ascend910-1".to_owned()),
        "[A-Za-z0-9,./ -]{0,30}",
        "\\PC{0,20}",
    ]
}

fn arb_time() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        (0u64..5).prop_map(|t| Some(t.to_string())),
        any::<u64>().prop_map(|t| Some(t.to_string())),
        Just(Some(CONSUMED.to_owned())),
        "[0-9a-z+-]{0,22}".prop_map(Some),
        Just(None),
    ]
}

prop_compose! {
    fn arb_pod()(
        node in prop_oneof![Just(Some(NODE)), Just(Some("node-2")), Just(None)],
        phase in prop_oneof![Just(None), Just(Some("Running")), Just(Some("Pending")),
                             Just(Some("Succeeded")), Just(Some("Failed"))],
        deleting in any::<bool>(),
        limit in prop_oneof![Just(None), Just(Some((KEY, "1"))), Just(Some((KEY, "0"))),
                             Just(Some((KEY, "8"))), Just(Some(("huawei.com/Ascend310P", "1")))],
        chips in prop::option::of(arb_chips()),
        time in arb_time(),
        created in prop::option::of(0i64..3),
        name in "[a-c]",
    ) -> Pod {
        let mut p = pod(&name, "Ascend910-0", "0");
        set_annotation(&mut p, KEY, chips.as_deref());
        set_annotation(&mut p, PREDICATE_TIME, time.as_deref());
        p.metadata.creation_timestamp = created.map(at);
        p.metadata.deletion_timestamp = deleting.then(|| at(5));
        p.spec.as_mut().unwrap().node_name = node.map(str::to_owned);
        p.spec.as_mut().unwrap().containers = match limit {
            Some((resource, quantity)) => vec![container(resource, quantity)],
            None => vec![Container::default()],
        };
        p.status.as_mut().unwrap().phase = phase.map(str::to_owned);
        p
    }
}

/// Every candidate rule, written out independently of the implementation;
/// the predicate time when all hold.
fn satisfies_rules(p: &Pod, requested: usize) -> Option<u64> {
    let spec = p.spec.as_ref()?;
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    let limit = spec.containers[0]
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get(KEY))
        .map(|q| q.0.as_str());
    let annotations = p.metadata.annotations.as_ref()?;
    let chips = annotations.get(KEY)?;
    let time = annotations.get(PREDICATE_TIME)?;
    let rules = spec.node_name.as_deref() == Some(NODE)
        && !matches!(phase, Some("Succeeded" | "Failed"))
        && p.metadata.deletion_timestamp.is_none()
        && matches!(limit, Some("1" | "8"))
        && time != CONSUMED
        && time.bytes().all(|b| b.is_ascii_digit())
        && chips.split(',').count() == requested;
    if rules { time.parse().ok() } else { None }
}

proptest! {
    #[test]
    fn choose_pod_never_panics_and_a_chosen_pod_obeys_every_candidate_rule(
        pods in prop::collection::vec(arb_pod(), 0..8),
        requested in 0usize..5,
    ) {
        match choose_pod(&pods, NODE, TYPE, requested) {
            Ok(chosen) => {
                let time = satisfies_rules(chosen.pod, requested);
                prop_assert!(time.is_some(), "chosen pod breaks a rule");
                let raw = annotation(chosen.pod, KEY).unwrap();
                prop_assert_eq!(parse_chip_list(raw, TYPE).unwrap(), chosen.phys.clone());
                prop_assert_eq!(chosen.phys.len(), requested);
                for other in &pods {
                    if let Some(other_time) = satisfies_rules(other, requested) {
                        prop_assert!(other_time >= time.unwrap_or(0), "an older candidate exists");
                    }
                }
            }
            Err(MatchError::BadAnnotation { pod, .. }) => {
                let culprit = pods.iter().any(|p| {
                    pod_key(p) == pod
                        && satisfies_rules(p, requested).is_some()
                        && parse_chip_list(annotation(p, KEY).unwrap_or_default(), TYPE).is_err()
                });
                prop_assert!(culprit, "the named pod is a candidate with an invalid annotation");
            }
            Err(MatchError::NoPod { skipped, .. }) => {
                prop_assert_eq!(skipped.len(), pods.len());
                for p in &pods {
                    prop_assert!(satisfies_rules(p, requested).is_none());
                }
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
