#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;
use crate::k8s::mock::{cache_of, volcano_pod};

fn pod(name: &str) -> Pod {
    volcano_pod("node-a", name, "Ascend910", "Ascend910-0", "1")
}

fn names(view: &View) -> Vec<String> {
    view.pods
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

#[test]
fn a_relist_replaces_the_contents_only_when_complete() {
    let cache = PodCache::new();
    assert!(!cache.view().synced);
    cache.apply(Event::Init);
    cache.apply(Event::InitApply(pod("a")));
    assert!(cache.view().pods.is_empty(), "half a listing is not served");
    assert!(!cache.view().synced);
    cache.apply(Event::InitDone);
    assert_eq!(names(&cache.view()), ["a"]);
    assert!(cache.view().synced);

    cache.apply(Event::Apply(pod("b")));
    cache.apply(Event::Delete(pod("a")));
    assert_eq!(names(&cache.view()), ["b"]);

    // A re-list after a desync drops what the server no longer has.
    cache.apply(Event::Init);
    cache.apply(Event::InitApply(pod("c")));
    assert_eq!(names(&cache.view()), ["b"], "old contents until InitDone");
    cache.apply(Event::InitDone);
    assert_eq!(names(&cache.view()), ["c"]);
    assert!(cache.find("ml", "c").is_some());
    assert!(cache.find("ml", "b").is_none());
}

#[test]
fn a_failed_watch_keeps_the_contents_and_reports_disconnected() {
    let cache = PodCache::new();
    cache.apply(Event::Init);
    cache.apply(Event::InitApply(pod("a")));
    cache.apply(Event::InitDone);
    cache.disconnected();
    let view = cache.view();
    assert!(!view.connected);
    assert!(view.synced);
    assert_eq!(names(&view), ["a"]);
    cache.apply(Event::Apply(pod("b")));
    assert!(cache.view().connected);
}

#[tokio::test]
async fn wait_for_wakes_on_the_change_that_answers() {
    let cache = PodCache::new();
    let feeder = cache.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        feeder.apply(Event::Apply(pod("late")));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = cache
        .wait_for(deadline, |view| {
            if view.pods.is_empty() {
                Err("not yet")
            } else {
                Ok(names(view))
            }
        })
        .await;
    assert_eq!(found, Ok(vec!["late".to_owned()]));
}

#[tokio::test]
async fn wait_for_gives_the_last_answer_at_the_deadline() {
    let cache = PodCache::new();
    let deadline = Instant::now() + Duration::from_millis(30);
    let mut calls = 0;
    let found: Result<(), usize> = cache
        .wait_for(deadline, |_| {
            calls += 1;
            Err(calls)
        })
        .await;
    assert!(Instant::now() >= deadline);
    assert!(matches!(found, Err(n) if n >= 2), "{found:?}");
}

#[test]
fn the_watch_is_limited_to_this_node() {
    assert_eq!(
        node_selector("node-a"),
        "spec.nodeName=node-a,status.phase!=Succeeded,status.phase!=Failed"
    );
}

#[test]
fn only_the_fields_the_plugin_reads_are_cached() {
    let mut pod = volcano_pod("node-a", "fat", "Ascend910", "Ascend910-3", "100");
    let big = "x".repeat(200 * 1024);
    pod.metadata.annotations.as_mut().unwrap().extend([
        (
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            big.clone(),
        ),
        ("huawei.com/huge".to_owned(), big.clone()),
    ]);
    pod.metadata.labels = Some([("app".to_owned(), big.clone())].into());
    pod.metadata.managed_fields = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry {
            manager: Some(big.clone()),
            ..Default::default()
        },
    ]);
    let spec = pod.spec.as_mut().unwrap();
    spec.containers[0].env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
        name: "BIG".into(),
        value: Some(big.clone()),
        ..Default::default()
    }]);
    spec.containers[0].command = Some(vec![big.clone()]);
    let whole = serde_json::to_vec(&pod).unwrap().len();
    let cache = cache_of(vec![pod]);
    let cached = cache.find("ml", "fat").unwrap();
    let kept = serde_json::to_vec(&*cached).unwrap().len();
    assert!(whole > 1_000_000, "{whole}");
    assert!(kept < 6 * 1024, "{kept} bytes kept");
    // What the plugin reads is all there.
    let annotations = cached.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["huawei.com/Ascend910"], "Ascend910-3");
    assert_eq!(annotations["predicate-time"], "100");
    assert!(
        annotations["huawei.com/huge"].len() > crate::cluster::chip_list::MAX_ANNOTATION_BYTES,
        "an oversized value stays oversized"
    );
    assert_eq!(cached.metadata.uid.as_deref(), Some("uid-fat"));
    let view = cache.view();
    let chosen = crate::cluster::volcano::choose_pod(
        view.pods.iter().map(AsRef::as_ref),
        "node-a",
        "Ascend910",
        1,
    )
    .unwrap();
    assert_eq!(chosen.phys, [3]);
}

#[test]
fn a_cut_list_is_still_too_long_and_counts_the_same_entries() {
    for entries in [400usize, 800, 5_000] {
        let list: Vec<String> = (0..entries).map(|i| format!("Ascend910-{i}")).collect();
        let cut = cut(list.join(","));
        assert!(cut.len() > crate::cluster::chip_list::MAX_ANNOTATION_BYTES);
        assert!(cut.len() < 6 * 1024, "{} bytes", cut.len());
        assert_eq!(
            cut.split(',').count(),
            entries.min(MAX_COUNTED_ENTRIES),
            "{entries}"
        );
    }
    assert_eq!(cut("Ascend910-1".into()), "Ascend910-1");
}

#[test]
fn a_refresh_applies_only_while_the_watch_is_down() {
    let cache = cache_of(vec![pod("old")]);
    assert!(
        !cache.refresh(vec![pod("listed")]),
        "connected: the watch is newer"
    );
    assert_eq!(names(&cache.view()), ["old"]);
    cache.disconnected();
    assert!(cache.refresh(vec![pod("listed")]));
    let view = cache.view();
    assert_eq!(names(&view), ["listed"]);
    assert!(
        view.synced && !view.connected,
        "still waiting for the watch"
    );
}

/// A realistic fat pod: unread annotations, labels, managed fields, env,
/// command, and the fields the plugin reads.
fn fat_pod() -> Pod {
    let mut pod = volcano_pod("node-a", "fat", "Ascend910", "Ascend910-3", "100");
    let big = "x".repeat(64 * 1024);
    pod.metadata.annotations.as_mut().unwrap().extend([
        ("example.com/padding".to_owned(), big.clone()),
        ("huawei.com/kltDev".to_owned(), "Ascend910-0".to_owned()),
    ]);
    pod.metadata.resource_version = Some("42".into());
    pod.metadata.labels = Some([("app".to_owned(), "x".to_owned())].into());
    let spec = pod.spec.as_mut().unwrap();
    spec.containers[0].env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
        name: "BIG".into(),
        value: Some(big.clone()),
        ..Default::default()
    }]);
    let limits = spec.containers[0]
        .resources
        .as_mut()
        .unwrap()
        .limits
        .as_mut()
        .unwrap();
    limits.insert(
        "cpu".into(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("2".into()),
    );
    pod.status = Some(PodStatus {
        phase: Some("Running".into()),
        reason: Some("Evicted".into()),
        message: Some(big),
        ..PodStatus::default()
    });
    pod
}

#[test]
fn the_lean_decoding_keeps_exactly_what_slim_keeps() {
    let pod = fat_pod();
    let json = serde_json::to_vec(&pod).unwrap();
    let lean: LeanPod = serde_json::from_slice(&json).unwrap();
    // The watch resumes from the resource version: decoded, then dropped
    // by slim like everything else the plugin does not read.
    assert_eq!(lean.0.metadata.resource_version.as_deref(), Some("42"));
    let annotations = lean.0.metadata.annotations.as_ref().unwrap();
    assert!(!annotations.contains_key("example.com/padding"));
    assert_eq!(annotations["huawei.com/kltDev"], "Ascend910-0");
    let limits = lean.0.spec.as_ref().unwrap().containers[0]
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert!(!limits.contains_key("cpu"));
    assert!(
        lean.0.spec.as_ref().unwrap().containers[0].env.is_none(),
        "env is never decoded"
    );
    assert_eq!(slim(lean.0), slim(pod));
}

#[test]
fn the_lean_decoding_takes_absent_and_null_fields() {
    for json in [
        r#"{"metadata":{"name":"p","namespace":"ml","annotations":null}}"#,
        r#"{"metadata":{"name":"p","namespace":"ml"},"spec":{"containers":[{"name":"c","resources":{"limits":null}}]},"status":{}}"#,
        r#"{"metadata":{"name":"p","namespace":"ml","annotations":{}},"spec":{"containers":[]}}"#,
    ] {
        let lean: LeanPod = serde_json::from_str(json).unwrap();
        assert_eq!(lean.0.metadata.name.as_deref(), Some("p"), "{json}");
    }
    let refused: Result<LeanPod, _> =
        serde_json::from_str(r#"{"metadata":{"annotations":{"predicate-time":7}}}"#);
    assert!(refused.is_err(), "a non-string annotation is refused");
}

#[test]
fn a_key_given_twice_takes_its_last_value_as_the_full_decoder_does() {
    // Found by the pod_decoding fuzz target: serde's derive refused a
    // duplicate `uid` that Kubernetes' own Pod decoder accepts.
    let json = r#"{"metadata":{"name":"a","uid":"u-1","name":"b","uid":"u-2",
        "annotations":{"predicate-time":"1","predicate-time":"2"}},
        "status":{"phase":"Pending","phase":"Running"}}"#;
    let lean: LeanPod = serde_json::from_str(json).unwrap();
    let full: Pod = serde_json::from_str(json).unwrap();
    assert_eq!(lean.0.metadata.uid.as_deref(), Some("u-2"));
    assert_eq!(
        lean.0.metadata.annotations.as_ref().unwrap()["predicate-time"],
        "2"
    );
    assert_eq!(slim(lean.0), slim(full));
}

#[test]
fn a_kubelet_list_replaces_the_contents_and_wakes_readers_only_on_news() {
    // -checkCachedPods' work: a pod the source no longer lists is gone.
    let cache = PodCache::new();
    let mut changes = cache.subscribe();
    cache.replace(vec![pod("a"), pod("b")]);
    assert!(changes.has_changed().unwrap());
    changes.borrow_and_update();
    let view = cache.view();
    assert!(view.synced && view.connected);
    assert_eq!(names(&view), ["a", "b"]);
    cache.replace(vec![pod("a"), pod("b")]);
    assert!(!changes.has_changed().unwrap(), "the same list is no news");
    cache.disconnected();
    changes.borrow_and_update();
    cache.replace(vec![pod("b")]);
    assert!(changes.has_changed().unwrap());
    let view = cache.view();
    assert!(view.connected, "a good read reconnects");
    assert_eq!(names(&view), ["b"]);
}
