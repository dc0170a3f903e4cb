//! The pod-cache flags and the inert flags through the binary on the
//! simulator: `-dealWatchHandler` makes the Volcano Allocate after a pod
//! watch error list the node's pods first (so a pod deleted behind the
//! broken watch is not chosen); without it that pod is still chosen; the
//! flags upstream never reads are accepted and named in a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::apiserver::FakeApi;
use support::node::{Node, eventually};

const PODS: &str = "/api/v1/namespaces/ml/pods";

fn volcano_pod(name: &str, chips: &str, predicate_time: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "ml", "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-11-29T10:00:00Z",
            "annotations": {"huawei.com/Ascend910": chips, "predicate-time": predicate_time},
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "main", "resources": {"limits": {"huawei.com/Ascend910": "1"}}}],
        },
        "status": {"phase": "Pending"},
    })
}

async fn start(extra: &[&str]) -> (FakeApi, Node, tempfile::TempDir) {
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {}}}),
    );
    api.put(PODS, volcano_pod("stale", "Ascend910-4", "100"));
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "tok-pods", "");
    let flags = [
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--state-dir={}", scratch.path().join("state").display()),
    ];
    let mut args: Vec<&str> = vec!["-volcanoType=true", "-listWatchPeriod=3"];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let node = Node::start("910-8", &args, &[("NODE_NAME", "node-a")]).await;
    (api, node, scratch)
}

fn log(node: &Node) -> String {
    std::fs::read_to_string(node.log_file()).unwrap_or_default()
}

/// Breaks the pod watch, deletes `stale` behind its back and adds `fresh`
/// (Volcano's newer choice), then waits for the plugin to see the error.
async fn pod_deleted_behind_a_broken_watch(api: &FakeApi, node: &Node) {
    eventually("the pod watch listed and watching", || {
        api.seen()
            .iter()
            .any(|s| s.uri.starts_with("/api/v1/pods?") && s.uri.contains("watch=true"))
            .then_some(())
    })
    .await;
    api.break_watches();
    api.remove_quietly(PODS, "stale");
    // This change ends every open watch; the new ones fail.
    api.put(PODS, volcano_pod("fresh", "Ascend910-6", "200"));
    eventually("the plugin sees the pod watch fail", || {
        log(node)
            .lines()
            .any(|l| l.contains("watch failed") && l.contains("pods on node node-a"))
            .then_some(())
    })
    .await;
}

async fn allocate_one(node: &mut Node) -> Result<String, String> {
    let (mut client, _watch, _) = node.watch().await;
    match client.allocate(vec![vec!["Ascend910-0".to_owned()]]).await {
        Ok(response) => Ok(response.container_responses[0]
            .devices
            .iter()
            .map(|d| d.host_path.clone())
            .filter(|p| {
                p.strip_prefix("/dev/davinci")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .collect::<Vec<_>>()
            .join(",")),
        Err(error) => Err(format!("{error:?}")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_deal_watch_handler_the_allocate_after_a_watch_error_lists_pods_first() {
    let (api, mut node, _scratch) = start(&["-dealWatchHandler=true"]).await;
    pod_deleted_behind_a_broken_watch(&api, &node).await;
    let devices = allocate_one(&mut node).await;
    assert_eq!(
        devices.as_deref(),
        Ok("/dev/davinci6"),
        "the pod Volcano placed since"
    );
    let fresh = api.get(PODS, "fresh").unwrap();
    assert_ne!(
        fresh["metadata"]["annotations"]["predicate-time"], "200",
        "claimed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_deal_watch_handler_the_cached_pod_is_chosen_and_the_allocate_fails() {
    let (api, mut node, _scratch) = start(&[]).await;
    pod_deleted_behind_a_broken_watch(&api, &node).await;
    let outcome = allocate_one(&mut node).await;
    assert!(
        outcome.is_err(),
        "the deleted pod cannot be marked used: {outcome:?}"
    );
    let fresh = api.get(PODS, "fresh").unwrap();
    assert_eq!(
        fresh["metadata"]["annotations"]["predicate-time"], "200",
        "not claimed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_upstream_never_reads_are_accepted_and_named_in_a_warning() {
    let (_api, mut node, _scratch) = start(&[
        "-linkdownTimeout=5",
        "-thirdPartyScanDelay=0",
        "-checkCachedPods=false",
    ])
    .await;
    let _ = node.watch().await;
    let text = log(&node);
    for flag in ["linkdownTimeout", "thirdPartyScanDelay", "checkCachedPods"] {
        assert!(
            text.lines()
                .any(|l| l.contains("it does nothing") && l.contains(&format!("{flag}:"))),
            "no warning names {flag}"
        );
    }
    assert!(
        !text.contains("not implemented"),
        "none is called unimplemented"
    );
}
