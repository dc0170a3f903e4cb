#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use kube::runtime::watcher::Event;
use serde_json::json;

use super::*;
use crate::cluster::volcano::SkipReason;
use crate::k8s::mock::{self, Log, cache_of, volcano_pod};

const NODE: &str = "node-a";

fn matcher(cache: PodCache, fail_patch: bool) -> (VolcanoMatcher, Log) {
    let (client, log) = mock::client(move |request| {
        if fail_patch {
            mock::status(500, "InternalError")
        } else {
            mock::echo(request)
        }
    });
    let matcher = VolcanoMatcher::new(
        cache,
        Api::all(client),
        NODE.into(),
        Duration::from_millis(300),
        Metrics::new(),
    );
    (matcher, log)
}

fn chips(n: u32) -> BTreeSet<u32> {
    (0..n).collect()
}

#[tokio::test]
async fn the_oldest_pod_is_claimed_and_marked_used_with_one_merge_patch() {
    let cache = cache_of(vec![
        volcano_pod(NODE, "newer", "Ascend910", "Ascend910-0,Ascend910-1", "200"),
        volcano_pod(NODE, "older", "Ascend910", "Ascend910-4,Ascend910-5", "100"),
    ]);
    let (matcher, log) = matcher(cache, false);
    let claim = matcher
        .claim_chips("Ascend910", 2, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.pod.key(), "ml/older");
    assert_eq!(claim.value, [4, 5]);
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    let patch = &writes[0];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.path(), "/api/v1/namespaces/ml/pods/older");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        patch.body,
        json!({"metadata": {"uid": "uid-older", "annotations": {"predicate-time": "18446744073709551615"}}})
    );
    assert!(
        log.all()
            .iter()
            .all(|r| r.method != "GET" || !r.uri.contains("pods")),
        "the hot path reads the cache, never lists pods"
    );
}

#[tokio::test]
async fn a_claimed_pod_is_not_claimed_again_before_the_watch_shows_the_patch() {
    let cache = cache_of(vec![
        volcano_pod(NODE, "first", "Ascend910", "Ascend910-0", "100"),
        volcano_pod(NODE, "second", "Ascend910", "Ascend910-1", "200"),
    ]);
    let (matcher, log) = matcher(cache, false);
    let a = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    let b = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(
        (a.pod.name.as_str(), b.pod.name.as_str()),
        ("first", "second")
    );
    let third = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await;
    assert!(matches!(third, Err(VolcanoError::Match(_))), "{third:?}");
    assert_eq!(log.writes().len(), 2);
}

#[tokio::test]
async fn a_pod_that_arrives_within_the_wait_is_used() {
    let cache = cache_of(Vec::new());
    let feeder = cache.clone();
    let (matcher, log) = matcher(cache, false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        feeder.apply(Event::Apply(volcano_pod(
            NODE,
            "late",
            "Ascend910",
            "Ascend910-3",
            "5",
        )));
    });
    let claim = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.value, [3]);
    assert_eq!(log.writes().len(), 1);
}

#[tokio::test]
async fn requests_no_pod_explains_fail_after_the_wait_and_change_nothing() {
    let cache = cache_of(vec![volcano_pod(
        NODE,
        "two",
        "Ascend910",
        "Ascend910-0,Ascend910-1",
        "5",
    )]);
    let (matcher, log) = matcher(cache, false);
    let started = Instant::now();
    let error = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the watch"
    );
    let VolcanoError::Match(inner) = &error else {
        panic!("{error:?}")
    };
    let MatchError::NoPod { skipped, .. } = inner.as_ref() else {
        panic!("{inner:?}")
    };
    assert_eq!(
        skipped[0].reason,
        SkipReason::CountMismatch {
            annotated: 2,
            requested: 1
        }
    );
    assert!(
        error.to_string().contains("no pod on node node-a"),
        "{error}"
    );
    assert!(log.all().is_empty(), "no request at all: {:?}", log.all());
}

#[tokio::test]
async fn unknown_or_unhealthy_chips_are_refused_without_a_patch() {
    let cases = [
        ("Ascend910-99", "chip with phy id 99 is not on this node"),
        ("Ascend910-2", "chip with phy id 2 is unhealthy"),
    ];
    for (chips_annotated, expected) in cases {
        let cache = cache_of(vec![volcano_pod(
            NODE,
            "p",
            "Ascend910",
            chips_annotated,
            "5",
        )]);
        let (matcher, log) = matcher(cache, false);
        let error = matcher
            .claim_chips("Ascend910", 1, &chips(8), |phy| phy != 2)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert!(log.writes().is_empty());
    }
}

#[tokio::test]
async fn hostile_annotations_are_refused_without_a_patch() {
    // As many as an Allocate may ask for, far over the size limit.
    let many: Vec<String> = (0..800).map(|i| format!("Ascend910-{i}")).collect();
    let many = many.join(",");
    let bad_entry = |text: &'static str| {
        move |error: &MatchError| {
            matches!(error, MatchError::BadAnnotation { pod, key, .. }
                if pod == "ml/evil" && key == "huawei.com/Ascend910")
                && error.to_string().contains(text)
        }
    };
    type Expect = Box<dyn Fn(&MatchError) -> bool>;
    let cases: [(&str, &str, usize, Expect); 4] = [
        (
            "Ascend910-../../x",
            "5",
            1,
            Box::new(bad_entry(r#"has entry "Ascend910-../../x", expected"#)),
        ),
        (
            many.as_str(),
            "5",
            800,
            Box::new(bad_entry("bytes long; at most 4096 are accepted")),
        ),
        (
            "Ascend910-1",
            "soon",
            1,
            Box::new(|error: &MatchError| {
                matches!(error, MatchError::NoPod { skipped, .. }
                    if skipped.len() == 1
                        && skipped[0].pod == "ml/evil"
                        && skipped[0].reason
                            == SkipReason::BadPredicateTime { value: "soon".into() })
            }),
        ),
        (
            "Ascend310-1",
            "5",
            1,
            Box::new(bad_entry(
                r#"of resource type "Ascend310", not "Ascend910""#,
            )),
        ),
    ];
    for (annotation_value, time, requested, expected) in cases {
        let shown = &annotation_value[..20.min(annotation_value.len())];
        let mut pod = volcano_pod(NODE, "evil", "Ascend910", "Ascend910-0", time);
        pod.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert("huawei.com/Ascend910".into(), annotation_value.into());
        let (matcher, log) = matcher(cache_of(vec![pod]), false);
        let result = matcher
            .claim_chips("Ascend910", requested, &chips(8), |_| true)
            .await;
        match result {
            Err(VolcanoError::Match(error)) => {
                assert!(expected(&error), "{shown}: wrong refusal: {error}");
                assert!(error.to_string().len() < 300, "{shown}: error cut short");
            }
            other => panic!("{shown}: expected a refusal, got {other:?}"),
        }
        assert!(log.writes().is_empty());
    }
}

#[tokio::test]
async fn pods_of_other_nodes_never_match() {
    let cache = cache_of(vec![volcano_pod(
        "node-b",
        "elsewhere",
        "Ascend910",
        "Ascend910-0",
        "1",
    )]);
    let (matcher, log) = matcher(cache, false);
    assert!(
        matcher
            .claim_chips("Ascend910", 1, &chips(8), |_| true)
            .await
            .is_err()
    );
    assert!(log.writes().is_empty());
}

#[tokio::test]
async fn an_unsynced_cache_fails_clearly() {
    let (matcher, log) = matcher(PodCache::new(), false);
    let error = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap_err();
    assert!(matches!(error, VolcanoError::NotSynced { .. }), "{error:?}");
    assert!(error.to_string().contains("not synced"), "{error}");
    assert!(log.all().is_empty());
}

#[tokio::test]
async fn a_disconnected_watch_is_named_in_the_error() {
    let cache = cache_of(Vec::new());
    cache.disconnected();
    let (matcher, _) = matcher(cache, false);
    let error = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unreachable"), "{error}");
}

#[tokio::test]
async fn a_failed_patch_fails_the_allocate_and_leaves_the_pod_claimable() {
    let cache = cache_of(vec![volcano_pod(
        NODE,
        "p",
        "Ascend910",
        "Ascend910-0",
        "5",
    )]);
    let (failing, _) = matcher(cache.clone(), true);
    let error = failing
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot mark pod ml/p"),
        "{error}"
    );
    let (working, _) = matcher(cache, false);
    assert!(
        working
            .claim_chips("Ascend910", 1, &chips(8), |_| true)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_pod_the_watch_missed_while_down_is_listed_once_and_claimed() {
    // The API server is back, kubelet has seen the pod bound, but the
    // pod watch still waits out its backoff.
    let cache = cache_of(Vec::new());
    cache.disconnected();
    let late = volcano_pod(NODE, "late", "Ascend910", "Ascend910-3", "100");
    let (client, log) = mock::client(move |request| {
        if request.method == "GET" {
            let list =
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [late]});
            (200, list)
        } else {
            mock::echo(request)
        }
    });
    let matcher = VolcanoMatcher::new(
        cache.clone(),
        Api::all(client),
        NODE.into(),
        Duration::from_millis(300),
        Metrics::new(),
    );
    let claim = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.pod.key(), "ml/late");
    assert_eq!(claim.value, [3]);
    let lists: Vec<_> = log
        .all()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(lists.len(), 1, "one list: {lists:?}");
    assert_eq!(lists[0].path(), "/api/v1/pods");
    assert!(
        lists[0].uri.contains("spec.nodeName%3Dnode-a"),
        "the node's pods only: {}",
        lists[0].uri
    );
    assert_eq!(log.writes().len(), 1, "the predicate-time patch");
    assert!(
        cache.find("ml", "late").is_some(),
        "the cache was refreshed"
    );
}

#[tokio::test]
async fn a_failed_list_while_the_watch_is_down_still_names_the_outage() {
    let cache = cache_of(Vec::new());
    cache.disconnected();
    let (client, log) = mock::client(|_| mock::status(503, "ServiceUnavailable"));
    let matcher = VolcanoMatcher::new(
        cache,
        Api::all(client),
        NODE.into(),
        Duration::from_millis(100),
        Metrics::new(),
    );
    let error = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap_err();
    assert!(matches!(error, VolcanoError::Disconnected(..)), "{error:?}");
    assert!(log.writes().is_empty());
}

/// A matcher whose API lists `pods` and accepts every patch.
fn listing_matcher(
    cache: PodCache,
    pods: Vec<k8s_openapi::api::core::v1::Pod>,
    relist: bool,
) -> (VolcanoMatcher, Log) {
    let pods: Vec<serde_json::Value> = pods
        .iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    let (client, log) = mock::client(move |request| {
        if request.method == "GET" {
            let list =
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods});
            (200, list)
        } else {
            mock::echo(request)
        }
    });
    let matcher = VolcanoMatcher::new(
        cache,
        Api::all(client),
        NODE.into(),
        Duration::from_millis(300),
        Metrics::new(),
    )
    .relist_after_watch_error(relist);
    (matcher, log)
}

fn gets(log: &Log) -> usize {
    log.all().iter().filter(|r| r.method == "GET").count()
}

#[tokio::test]
async fn with_deal_watch_handler_a_watch_error_makes_the_next_allocate_list_first() {
    // The cache still holds a pod deleted while the watch was down; the
    // API server has the pod Volcano placed since.
    let stale = volcano_pod(NODE, "gone", "Ascend910", "Ascend910-0", "100");
    let fresh = volcano_pod(NODE, "fresh", "Ascend910", "Ascend910-3", "200");
    let cache = cache_of(vec![stale.clone()]);
    cache.disconnected();
    let (matcher, log) = listing_matcher(cache.clone(), vec![fresh.clone()], true);
    let claim = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.pod.key(), "ml/fresh", "the re-listed cache decides");
    assert_eq!(gets(&log), 1, "one list");
    assert!(cache.find("ml", "gone").is_none(), "the cache was replaced");
    // Without the flag, the cached pod still explains the request: no list.
    let cache = cache_of(vec![stale]);
    cache.disconnected();
    let (matcher, log) = listing_matcher(cache, vec![fresh], false);
    let claim = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.pod.key(), "ml/gone");
    assert_eq!(gets(&log), 0);
}

#[tokio::test]
async fn with_deal_watch_handler_a_connected_watch_is_trusted() {
    let cache = cache_of(vec![volcano_pod(
        NODE,
        "job",
        "Ascend910",
        "Ascend910-1",
        "100",
    )]);
    let (matcher, log) = listing_matcher(cache, Vec::new(), true);
    let claim = matcher
        .claim_chips("Ascend910", 1, &chips(8), |_| true)
        .await
        .unwrap();
    assert_eq!(claim.pod.key(), "ml/job");
    assert_eq!(gets(&log), 0, "no list while the watch is up");
}
