#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;
use crate::k8s::mock::volcano_pod;

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
    assert_eq!(node_selector("node-a"), "spec.nodeName=node-a");
}
