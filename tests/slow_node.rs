//! `-enableSlowNode` through the binary on the simulator: every container's
//! Allocate answer carries `PERF_DUMP_PATH` and `PERF_DUMP_CONFIG` from
//! ConfigMap `kube-system/steptime-dtpgroup`, read from a watch (an edit
//! reaches the next Allocate, and no Allocate sends a request), and nothing
//! is read or added without the flag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use serde_json::json;
use support::apiserver::FakeApi;
use support::node::{Node, eventually};

const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";

fn steptime(path: &str, config: &str) -> serde_json::Value {
    let value = json!({"data": {"PerfDumpPath": path, "PerfDumpConfig": config}}).to_string();
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "steptime-dtpgroup", "namespace": "kube-system"},
           "data": {"job-a": value}})
}

async fn start(args: &[&str]) -> (FakeApi, Node, tempfile::TempDir) {
    let api = FakeApi::start().await;
    api.put(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {}}}),
    );
    api.put(CONFIGMAPS, steptime("/var/log/perf", "step=5"));
    let scratch = support::private_dir();
    let kubeconfig = scratch.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "tok-slow", "");
    let flag = format!("--kubeconfig={}", kubeconfig.display());
    let mut all = vec![flag.as_str()];
    all.extend_from_slice(args);
    let node = Node::start("910-8", &all, &[("NODE_NAME", "node-a")]).await;
    (api, node, scratch)
}

async fn envs_of_an_allocate(node: &mut Node) -> HashMap<String, String> {
    let (mut client, _watch, _) = node.watch().await;
    let response = client
        .allocate(vec![vec!["Ascend910-0".into()], vec!["Ascend910-1".into()]])
        .await
        .unwrap();
    let first = response.container_responses[0].envs.clone();
    assert_eq!(
        response.container_responses[1].envs.get("PERF_DUMP_PATH"),
        first.get("PERF_DUMP_PATH"),
        "every container gets the same envs"
    );
    first
}

/// Requests that name the ConfigMap: a GET of it, or a list/watch for it.
fn steptime_requests(api: &FakeApi) -> Vec<String> {
    api.seen()
        .iter()
        .filter(|s| s.uri.contains("steptime-dtpgroup"))
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn allocate_adds_the_perf_dump_envs_from_the_watched_config_map() {
    let (api, mut node, _scratch) = start(&["-enableSlowNode=true"]).await;
    eventually("the plugin watches the ConfigMap", || {
        (!steptime_requests(&api).is_empty()).then_some(())
    })
    .await;
    // The watch's first listing may land just after the request is sent.
    let mut envs = envs_of_an_allocate(&mut node).await;
    for _ in 0..100 {
        if envs.contains_key("PERF_DUMP_PATH") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        envs = envs_of_an_allocate(&mut node).await;
    }
    assert_eq!(envs["PERF_DUMP_PATH"], "/var/log/perf");
    assert_eq!(envs["PERF_DUMP_CONFIG"], "step=5");
    let before = steptime_requests(&api);
    // An edit reaches the next Allocates through the watch.
    api.put(CONFIGMAPS, steptime("/data/perf", "step=9"));
    let mut envs = envs_of_an_allocate(&mut node).await;
    for _ in 0..300 {
        if envs["PERF_DUMP_PATH"] == "/data/perf" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        envs = envs_of_an_allocate(&mut node).await;
    }
    assert_eq!(envs["PERF_DUMP_PATH"], "/data/perf");
    assert_eq!(envs["PERF_DUMP_CONFIG"], "step=9");
    let after = steptime_requests(&api);
    assert!(
        after.iter().all(|r| r.contains("fieldSelector")),
        "only a list and a watch by name, never a GET: {after:?}"
    );
    assert_eq!(before, after, "no request per Allocate: {after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_nothing_is_read_or_added() {
    let (api, mut node, _scratch) = start(&[]).await;
    let envs = envs_of_an_allocate(&mut node).await;
    assert!(!envs.contains_key("PERF_DUMP_PATH"), "{envs:?}");
    assert!(steptime_requests(&api).is_empty());
}
